// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int8 group=3" -verify-diagnostics
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=int5" 2>&1 | FileCheck %s --check-prefix=FMT
// FMT: quantize-kv-cache: unknown format 'int5' (expected int8, int4, fp8-e4m3 or fp8-e5m2)
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
