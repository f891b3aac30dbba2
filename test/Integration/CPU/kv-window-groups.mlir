// KIVI's per-channel key groups (--quantize-kv-cache key-granularity=per-channel
// scales=dynamic residual=R): lq.kv_window_groups through its linalg
// lowering (the path --lower-to-cuda takes), then the group's scales
// (one per channel over R positions), codes and dequantized values; worked
// out by hand below.

// RUN: quant-opt %s --lower-to-cpu="runtime-kernels=false" | %mlir_runner -e main -entry-point-result=void %runner_libs | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)

func.func @print(%t: tensor<?x?x?x?xf32>) {
  %u = tensor.cast %t : tensor<?x?x?x?xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}

func.func @main() {
  // R = 4, a step of T = 2 rows: a ring of R + T - 1 = 5 slots holding
  // positions 1..5 (position u in slot u mod 5, row [u, -2u]).
  %ring = arith.constant dense<[[[[5.0, -10.0], [1.0, -2.0], [2.0, -4.0], [3.0, -6.0], [4.0, -8.0]]]]> : tensor<1x1x5x2xf32>
  // Rows at positions 6, 7 (slots 1, 2) complete group 1 = positions 4..7.
  %rows = arith.constant dense<[[[[6.0, 0.5], [7.0, -1.0]]]]> : tensor<1x1x2x2xf32>
  %p6 = arith.constant 6 : i64
  %e8 = arith.constant 8 : i64
  %w = lq.kv_window_append %ring, %rows, %p6 : tensor<1x1x5x2xf32>, tensor<1x1x2x2xf32>
  %g = lq.kv_window_groups %w, %p6, %e8 group 4 : tensor<1x1x5x2xf32> -> tensor<1x1x4x2xf32>
  // int4 per channel over the group: channel 0 amax 7 -> scale 1, codes
  // 4..7 exact; channel 1 amax 10 -> scale 10/7, codes round(-5.6) = -6,
  // -7, round(0.35) = 0, round(-0.7) = -1 -> -8.57143, -10, 0, -1.42857.
  %s = lq.compute_scales %g for <format = int, bits = 4, block = [1, 1, 4, 1]> : (tensor<1x1x4x2xf32>) -> tensor<1x1x1x2xf32>
  %q = lq.quantize %g, %s : (tensor<1x1x4x2xf32>, tensor<1x1x1x2xf32>) -> tensor<1x1x4x2xi4, #lq.scheme<format = int, bits = 4, block = [1, 1, 4, 1]>>
  %d = lq.dequantize %q, %s : (tensor<1x1x4x2xi4, #lq.scheme<format = int, bits = 4, block = [1, 1, 4, 1]>>, tensor<1x1x1x2xf32>) -> tensor<1x1x4x2xf32>

  // CHECK: sizes = [1, 1, 4, 2]
  // CHECK-NEXT: {{\[\[\[\[}}4, -8],
  // CHECK-NEXT: [5, -10],
  // CHECK-NEXT: [6, 0.5],
  // CHECK-NEXT: [7, -1]]]]
  %a = tensor.cast %g : tensor<1x1x4x2xf32> to tensor<?x?x?x?xf32>
  call @print(%a) : (tensor<?x?x?x?xf32>) -> ()
  // CHECK: sizes = [1, 1, 1, 2]
  // CHECK-NEXT: {{\[\[\[\[}}1, 1.42857]]]]
  %b = tensor.cast %s : tensor<1x1x1x2xf32> to tensor<?x?x?x?xf32>
  call @print(%b) : (tensor<?x?x?x?xf32>) -> ()
  // CHECK: sizes = [1, 1, 4, 2]
  // CHECK-NEXT: {{\[\[\[\[}}4, -8.57143],
  // CHECK-NEXT: [5, -10],
  // CHECK-NEXT: [6, 0],
  // CHECK-NEXT: [7, -1.42857]]]]
  %c = tensor.cast %d : tensor<1x1x4x2xf32> to tensor<?x?x?x?xf32>
  call @print(%c) : (tensor<?x?x?x?xf32>) -> ()

  // A step at position 9 (end 11) of a ring whose slot s holds 100 + s:
  // the group holding 9 is positions 8..11; 8, 9, 10 come from slots
  // 3, 4, 0, and 11 (not yet written, the group incomplete) is 0. Two
  // groups (a result of 8 rows) reach positions 12..15: all 0.
  %ring2 = arith.constant dense<[[[[100.0, 100.5], [101.0, 101.5], [102.0, 102.5], [103.0, 103.5], [104.0, 104.5]]]]> : tensor<1x1x5x2xf32>
  %p9 = arith.constant 9 : i64
  %e11 = arith.constant 11 : i64
  %g2 = lq.kv_window_groups %ring2, %p9, %e11 group 4 : tensor<1x1x5x2xf32> -> tensor<1x1x8x2xf32>
  // CHECK: sizes = [1, 1, 8, 2]
  // CHECK-NEXT: {{\[\[\[\[}}103, 103.5],
  // CHECK-NEXT: [104, 104.5],
  // CHECK-NEXT: [100, 100.5],
  // CHECK-NEXT: [0, 0],
  // CHECK-NEXT: [0, 0],
  // CHECK-NEXT: [0, 0],
  // CHECK-NEXT: [0, 0],
  // CHECK-NEXT: [0, 0]]]]
  %e = tensor.cast %g2 : tensor<1x1x8x2xf32> to tensor<?x?x?x?xf32>
  call @print(%e) : (tensor<?x?x?x?xf32>) -> ()
  return
}
