// Bad option combinations and inputs of --quantize-activations: each a clear
// error naming the function or linear.
// RUN: quant-opt %s --quantize-activations="format=nvfp4" --split-input-file --verify-diagnostics
// RUN: not quant-opt %s --quantize-activations="format=int8 mode=dynamic" --split-input-file 2>&1 | FileCheck %s --check-prefix=DYNSHAPE
// RUN: not quant-opt %s --quantize-activations="format=int3" 2>&1 | FileCheck %s --check-prefix=FORMAT
// RUN: not quant-opt %s --quantize-activations="format=int4 mode=static" 2>&1 | FileCheck %s --check-prefix=INT4
// RUN: not quant-opt %s --quantize-activations="format=int4 granularity=per-tensor mode=dynamic" 2>&1 | FileCheck %s --check-prefix=INT4
// RUN: not quant-opt %s --quantize-activations="granularity=per-channel" 2>&1 | FileCheck %s --check-prefix=GRAN
// RUN: not quant-opt %s --quantize-activations="mode=lazy" 2>&1 | FileCheck %s --check-prefix=MODE
// RUN: not quant-opt %s --quantize-activations="granularity=per-token mode=static" 2>&1 | FileCheck %s --check-prefix=TOKEN
// RUN: not quant-opt %s --quantize-activations="format=mxfp4 mode=static" 2>&1 | FileCheck %s --check-prefix=MX
// RUN: not quant-opt %s --quantize-activations="format=nvfp4 granularity=per-token" 2>&1 | FileCheck %s --check-prefix=NVGRAN
// RUN: not quant-opt %s --quantize-activations="mode=dynamic range=p99.9" 2>&1 | FileCheck %s --check-prefix=CLIP

// FORMAT: error: 'format' must be int8, int4, fp8-e4m3, mxfp4 or nvfp4, got 'int3'
// INT4: error: format=int4 activations need granularity=per-token mode=dynamic (one scale per token, amax / 7, at run time)
// GRAN: error: 'granularity' must be per-tensor or per-token, got 'per-channel'
// MODE: error: 'mode' must be static or dynamic, got 'lazy'
// TOKEN: error: per-token scales are computed at run time: use mode=dynamic (or granularity=per-tensor)
// MX: error: mxfp4 block scales are computed at run time: mode=static does not apply (use mode=dynamic)
// NVGRAN: error: format=nvfp4 scales each block of 16 elements along K; 'granularity' applies to int8 and fp8-e4m3 only
// DYNSHAPE: error: quantize-activations mode=dynamic needs a static input shape, got 'tensor<?x32xf32>'
// CLIP: error: range=p99.9 clips a calibrated range; it does not apply to mode=dynamic

// Static NVFP4 needs the calibrated range for its tensor scale (dynamic
// does not).
func.func @uncalibrated(%x: tensor<3x32xf32>) -> tensor<3x32xf32> {
  %w = arith.constant dense<1.0> : tensor<32x32xf32>
  // expected-error @+1 {{quantize-activations format=nvfp4 mode=static needs 'lq.act_range' for the tensor scale (run --calibrate first, or use mode=dynamic)}}
  %y = lq.linear %x, %w : (tensor<3x32xf32>, tensor<32x32xf32>) -> tensor<3x32xf32>
  %z = lq.linear %y, %w : (tensor<3x32xf32>, tensor<32x32xf32>) -> tensor<3x32xf32>
  return %z : tensor<3x32xf32>
}

// -----

// K not a multiple of the block.
func.func @odd_k(%x: tensor<3x24xf32>) -> tensor<3x24xf32> {
  %w = arith.constant dense<1.0> : tensor<24x24xf32>
  // expected-error @+1 {{quantize-activations format=nvfp4 needs K divisible by 16, got 24}}
  %y = lq.linear %x, %w {lq.act_range = array<f32: -1.0, 1.0>} : (tensor<3x24xf32>, tensor<24x24xf32>) -> tensor<3x24xf32>
  %z = lq.linear %y, %w : (tensor<3x24xf32>, tensor<24x24xf32>) -> tensor<3x24xf32>
  return %z : tensor<3x24xf32>
}

// -----

// Dynamic scales need static shapes (DYNSHAPE).
func.func @dynamic_shape(%x: tensor<?x32xf32>) -> tensor<?x32xf32> {
  %w = arith.constant dense<1.0> : tensor<32x32xf32>
  %y = lq.linear %x, %w {lq.act_range = array<f32: -1.0, 1.0>} : (tensor<?x32xf32>, tensor<32x32xf32>) -> tensor<?x32xf32>
  %z = lq.linear %y, %w : (tensor<?x32xf32>, tensor<32x32xf32>) -> tensor<?x32xf32>
  return %z : tensor<?x32xf32>
}
