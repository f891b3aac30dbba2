// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4 key-granularity=per-channel residual=4" -verify-diagnostics
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=int4 key-granularity=per-channel" 2>&1 | FileCheck %s --check-prefix=NORES
// NORES: quantize-kv-cache: key-granularity=per-channel scales=dynamic (KIVI) quantizes keys in groups of R tokens held in float until complete; give residual=R > 0 (got residual=0)
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=nvfp4 key-granularity=per-channel residual=4" 2>&1 | FileCheck %s --check-prefix=NVFP4
// NVFP4: quantize-kv-cache: key-granularity=per-channel: format=nvfp4 has a scale per 16 channels
// RUN: not quant-opt %s --split-input-file --quantize-kv-cache="format=int4 value-granularity=per-channel residual=4" 2>&1 | FileCheck %s --check-prefix=VALUES
// VALUES: quantize-kv-cache: value-granularity=per-channel needs scales=static

// KIVI (key-granularity=per-channel scales=dynamic residual=R): the capacity
// of a runtime-managed cache must be a multiple of R.
func.func @capacity(%q: tensor<1x1x1x4xf32>, %k: tensor<1x1x1x4xf32>,
                    %pk: tensor<1x1x10x4xf32> {lq.kv_cache = 1 : i64},
                    %pos: tensor<i64>) -> (tensor<1x1x1x4xf32>, tensor<1x1x10x4xf32>) {
  %p = tensor.extract %pos[] : tensor<i64>
  %i = arith.index_cast %p : i64 to index
  // expected-error @+1 {{quantize-kv-cache: key-granularity=per-channel scales=dynamic stores a key scale per group of residual=4 positions; the cache capacity 10 must be a multiple of it}}
  %kc = tensor.insert_slice %k into %pk[0, 0, %i, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x1x1x4xf32> into tensor<1x1x10x4xf32>
  %o = lq.attention %q, %kc, %kc position %pos {causal} : (tensor<1x1x1x4xf32>, tensor<1x1x10x4xf32>, tensor<1x1x10x4xf32>, tensor<i64>) -> tensor<1x1x1x4xf32>
  return %o, %kc : tensor<1x1x1x4xf32>, tensor<1x1x10x4xf32>
}

// -----

// A graph-level cache: past and step lengths must be multiples of R.
func.func @graph(%q: tensor<1x1x1x4xf32>, %k: tensor<1x1x1x4xf32>, %v: tensor<1x1x9x4xf32>,
                 %pk: tensor<1x1x8x4xf32>) -> (tensor<1x1x1x4xf32>, tensor<1x1x9x4xf32>) {
  // expected-error @+1 {{a graph-level cache needs past (8) and new (1) lengths that are multiples of it (or a runtime-managed cache, --kv-cache)}}
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x1x8x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x9x4xf32>
  %o = lq.attention %q, %kc, %v {causal} : (tensor<1x1x1x4xf32>, tensor<1x1x9x4xf32>, tensor<1x1x9x4xf32>) -> tensor<1x1x1x4xf32>
  return %o, %kc : tensor<1x1x1x4xf32>, tensor<1x1x9x4xf32>
}

// -----

// int4 packs two channels per byte: an odd head dimension is an error.
func.func @odd(%q: tensor<1x1x4x3xf32>, %k: tensor<1x1x4x3xf32>) -> tensor<1x1x4x3xf32> {
  // expected-error @+1 {{quantize-kv-cache: int4 needs an even head dimension, got 3}}
  %o = lq.attention %q, %k, %k {causal} : (tensor<1x1x4x3xf32>, tensor<1x1x4x3xf32>, tensor<1x1x4x3xf32>) -> tensor<1x1x4x3xf32>
  return %o : tensor<1x1x4x3xf32>
}
