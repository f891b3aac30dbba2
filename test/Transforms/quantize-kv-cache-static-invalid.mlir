// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int8 scales=static key-granularity=per-channel" -verify-diagnostics
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=int8 scales=static" 2>&1 | FileCheck %s --check-prefix=KEYS
// KEYS: quantize-kv-cache: scales=static quantizes keys per channel; give key-granularity=per-channel
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=int8 key-granularity=per-channel" 2>&1 | FileCheck %s --check-prefix=DYN
// DYN: quantize-kv-cache: key-granularity=per-channel scales=dynamic (KIVI) quantizes keys in groups of R tokens held in float until complete; give residual=R > 0 (got residual=0)
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=int8 scales=static key-granularity=per-block" 2>&1 | FileCheck %s --check-prefix=GRAN
// GRAN: quantize-kv-cache: unknown key-granularity 'per-block' (expected per-token, per-head or per-channel)
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=int8 scales=static key-granularity=per-head" 2>&1 | FileCheck %s --check-prefix=KEYS
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=int8 scales=calibrated" 2>&1 | FileCheck %s --check-prefix=SCALES
// SCALES: quantize-kv-cache: unknown scales 'calibrated' (expected dynamic or static)

func.func @uncalibrated(%q: tensor<1x1x1x4xf32>, %k: tensor<1x1x2x4xf32>) -> tensor<1x1x1x4xf32> {
  // expected-error @+1 {{scales=static needs the per-channel calibration 'lq.k_absmax' of shape [1, 4] on this attention; run --calibrate first}}
  %o = lq.attention %q, %k, %k : (tensor<1x1x1x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<1x1x1x4xf32>
  return %o : tensor<1x1x1x4xf32>
}

// -----

// The per-head ranges of an older calibration ([H]) are not per channel.
func.func @per_head(%q: tensor<1x2x1x4xf32>, %k: tensor<1x2x2x4xf32>) -> tensor<1x2x1x4xf32> {
  // expected-error @+1 {{'lq.k_absmax' of shape [2, 4] on this attention; got 'tensor<2xf32>' (run --calibrate first)}}
  %o = lq.attention %q, %k, %k {lq.k_absmax = dense<1.0> : tensor<2xf32>} : (tensor<1x2x1x4xf32>, tensor<1x2x2x4xf32>, tensor<1x2x2x4xf32>) -> tensor<1x2x1x4xf32>
  return %o : tensor<1x2x1x4xf32>
}
