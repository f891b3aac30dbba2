// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int8 group=3" -verify-diagnostics
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=int5" 2>&1 | FileCheck %s --check-prefix=FMT
// FMT: quantize-kv-cache: unknown format 'int5' (expected int8, int4, fp8-e4m3, fp8-e5m2 or nvfp4)
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=nvfp4 group=32" 2>&1 | FileCheck %s --check-prefix=NVG
// NVG: quantize-kv-cache: format=nvfp4 has blocks of 16 channels; got group=32
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=nvfp4 scales=static key-granularity=per-channel" 2>&1 | FileCheck %s --check-prefix=NVS
// NVS: quantize-kv-cache: format=nvfp4 computes its block scales on append; give scales=dynamic
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=nvfp4 value-granularity=per-head" 2>&1 | FileCheck %s --check-prefix=NVH
// NVH: quantize-kv-cache: value-granularity=per-head: format=nvfp4 has a scale per 16 channels
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=nvfp4 scale-type=f16" 2>&1 | FileCheck %s --check-prefix=NVF16
// NVF16: quantize-kv-cache: format=nvfp4 stores its block scales as E4M3; scale-type=f16 does not apply
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=int8 scale-type=bf16" 2>&1 | FileCheck %s --check-prefix=STY
// STY: quantize-kv-cache: unknown scale-type 'bf16' (expected f32 or f16)
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=int4 residual=-1" 2>&1 | FileCheck %s --check-prefix=RES
// RES: quantize-kv-cache: residual=-1 must be >= 0 (the number of recent tokens kept in float)
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=int8 value-granularity=per-group" 2>&1 | FileCheck %s --check-prefix=VGRAN
// VGRAN: quantize-kv-cache: unknown value-granularity 'per-group' (expected per-token, per-head or per-channel)
// A head dimension that blocks of 16 do not divide (8 here), named at the attention:
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=nvfp4" 2>&1 | FileCheck %s --check-prefix=NVD
// NVD: error: quantize-kv-cache: format=nvfp4 has blocks of 16 channels, which do not divide the head dimension 4
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=int4 group=1" 2>&1 | FileCheck %s --check-prefix=ODD
// ODD: quantize-kv-cache: int4 needs an even group

func.func @group(%q: tensor<1x1x1x4xf32>, %k: tensor<1x1x2x4xf32>) -> tensor<1x1x1x4xf32> {
  // expected-error @+1 {{'group' (3) must divide the head dimension 4}}
  %o = lq.attention %q, %k, %k : (tensor<1x1x1x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<1x1x1x4xf32>
  return %o : tensor<1x1x1x4xf32>
}

// -----

func.func @read_elsewhere(%q: tensor<1x1x1x6xf32>, %k: tensor<1x1x1x6xf32>,
                          %pk: tensor<1x1x1x6xf32>) -> (tensor<1x1x1x6xf32>, tensor<1x1x2x6xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x1x1x6xf32>, tensor<1x1x1x6xf32>) -> tensor<1x1x2x6xf32>
  %o = lq.attention %q, %kc, %kc : (tensor<1x1x1x6xf32>, tensor<1x1x2x6xf32>, tensor<1x1x2x6xf32>) -> tensor<1x1x1x6xf32>
  // expected-error @+1 {{a cache is read by 'arith.addf'}}
  %s = arith.addf %kc, %kc : tensor<1x1x2x6xf32>
  return %o, %s : tensor<1x1x1x6xf32>, tensor<1x1x2x6xf32>
}

// -----

func.func @dynamic(%q: tensor<1x1x1x6xf32>, %k: tensor<1x1x?x6xf32>) -> tensor<1x1x1x6xf32> {
  // expected-error @+1 {{keys and values must be static f32 [B, H, S, D] tensors}}
  %o = lq.attention %q, %k, %k : (tensor<1x1x1x6xf32>, tensor<1x1x?x6xf32>, tensor<1x1x?x6xf32>) -> tensor<1x1x1x6xf32>
  return %o : tensor<1x1x1x6xf32>
}
