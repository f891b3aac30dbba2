// RUN: quant-opt %s --split-input-file -verify-diagnostics | FileCheck %s

// lq.kv_window_groups: the ceil(T / R) groups of R positions from the one
// holding `position`, read from the ring (see --quantize-kv-cache's KIVI
// keys). Round trip:
// CHECK-LABEL: func.func @ok
// CHECK: lq.kv_window_groups %arg0, %arg1, %arg2 group 32 : tensor<1x4x79x64xf32> -> tensor<1x4x64x64xf32>
func.func @ok(%w: tensor<1x4x79x64xf32>, %p: i64, %e: i64) -> tensor<1x4x64x64xf32> {
  %g = lq.kv_window_groups %w, %p, %e group 32 : tensor<1x4x79x64xf32> -> tensor<1x4x64x64xf32>
  return %g : tensor<1x4x64x64xf32>
}

// -----

func.func @small_ring(%w: tensor<1x4x16x64xf32>, %p: i64, %e: i64) -> tensor<1x4x32x64xf32> {
  // expected-error @+1 {{the window (16 slots) must hold a group of 32 positions}}
  %g = lq.kv_window_groups %w, %p, %e group 32 : tensor<1x4x16x64xf32> -> tensor<1x4x32x64xf32>
  return %g : tensor<1x4x32x64xf32>
}

// -----

func.func @partial_group(%w: tensor<1x4x32x64xf32>, %p: i64, %e: i64) -> tensor<1x4x40x64xf32> {
  // expected-error @+1 {{result must hold whole groups of 32 positions, got 40}}
  %g = lq.kv_window_groups %w, %p, %e group 32 : tensor<1x4x32x64xf32> -> tensor<1x4x40x64xf32>
  return %g : tensor<1x4x40x64xf32>
}

// -----

func.func @heads(%w: tensor<1x4x32x64xf32>, %p: i64, %e: i64) -> tensor<1x2x32x64xf32> {
  // expected-error @+1 {{differ in dimension 1}}
  %g = lq.kv_window_groups %w, %p, %e group 32 : tensor<1x4x32x64xf32> -> tensor<1x2x32x64xf32>
  return %g : tensor<1x2x32x64xf32>
}

// -----

func.func @zero_group(%w: tensor<1x4x32x64xf32>, %p: i64, %e: i64) -> tensor<1x4x32x64xf32> {
  // expected-error @+1 {{attribute 'group' failed to satisfy constraint}}
  %g = lq.kv_window_groups %w, %p, %e group 0 : tensor<1x4x32x64xf32> -> tensor<1x4x32x64xf32>
  return %g : tensor<1x4x32x64xf32>
}
