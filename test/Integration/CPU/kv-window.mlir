// KIVI's float window ops (--quantize-kv-cache residual=R) through their
// linalg lowering (what --lower-to-cuda and any attention the fused CPU
// kernel does not take run): values worked out by hand below.

// RUN: quant-opt %s --lower-to-cpu="runtime-kernels=false" | %mlir_runner -e main -entry-point-result=void %runner_libs | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)

func.func @print(%t: tensor<?x?x?x?xf32>) {
  %u = tensor.cast %t : tensor<?x?x?x?xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}

// A ring of R = 4 slots holding 100 + slot (channel d adds d / 2).
func.func @ring() -> tensor<1x1x4x2xf32> {
  %r = arith.constant dense<[[[[100.0, 100.5], [101.0, 101.5], [102.0, 102.5], [103.0, 103.5]]]]> : tensor<1x1x4x2xf32>
  return %r : tensor<1x1x4x2xf32>
}

func.func @main() {
  // Three rows at positions 6, 7, 8 -> slots 2, 3, 0; slot 1 keeps 101.
  %ring0 = call @ring() : () -> tensor<1x1x4x2xf32>
  %rows = arith.constant dense<[[[[10.0, 10.5], [20.0, 20.5], [30.0, 30.5]]]]> : tensor<1x1x3x2xf32>
  %p6 = arith.constant 6 : i64
  %w = lq.kv_window_append %ring0, %rows, %p6 : tensor<1x1x4x2xf32>, tensor<1x1x3x2xf32>
  // Reading a cache of 10 positions (all -1) with end = 9: positions 5..8
  // come from slots 1, 2, 3, 0; the others stay -1.
  %cache = arith.constant dense<-1.0> : tensor<1x1x10x2xf32>
  %e9 = arith.constant 9 : i64
  %r = lq.kv_window_read %cache, %w, %e9 : tensor<1x1x10x2xf32>, tensor<1x1x4x2xf32>
  // More rows than slots: six rows at positions 1..6 map to slots
  // 1, 2, 3, 0, 1, 2; the latest row wins each slot.
  %ring1 = call @ring() : () -> tensor<1x1x4x2xf32>
  %six = arith.constant dense<[[[[1.0, 1.5], [2.0, 2.5], [3.0, 3.5], [4.0, 4.5], [5.0, 5.5], [6.0, 6.5]]]]> : tensor<1x1x6x2xf32>
  %p1 = arith.constant 1 : i64
  %w2 = lq.kv_window_append %ring1, %six, %p1 : tensor<1x1x4x2xf32>, tensor<1x1x6x2xf32>
  // Early in a sequence (end = 2 < R): positions 0 and 1 come from the
  // ring (slots 0, 1), position 2 from the cache.
  %ring2 = call @ring() : () -> tensor<1x1x4x2xf32>
  %c3 = arith.constant dense<-1.0> : tensor<1x1x3x2xf32>
  %e2 = arith.constant 2 : i64
  %r2 = lq.kv_window_read %c3, %ring2, %e2 : tensor<1x1x3x2xf32>, tensor<1x1x4x2xf32>

  // CHECK: sizes = [1, 1, 4, 2]
  // CHECK-NEXT: {{\[\[\[\[}}30, 30.5],
  // CHECK-NEXT: [101, 101.5],
  // CHECK-NEXT: [10, 10.5],
  // CHECK-NEXT: [20, 20.5]]]]
  %a = tensor.cast %w : tensor<1x1x4x2xf32> to tensor<?x?x?x?xf32>
  call @print(%a) : (tensor<?x?x?x?xf32>) -> ()
  // CHECK: sizes = [1, 1, 10, 2]
  // CHECK-NEXT: {{\[\[\[\[}}-1, -1],
  // CHECK-NEXT: [-1, -1],
  // CHECK-NEXT: [-1, -1],
  // CHECK-NEXT: [-1, -1],
  // CHECK-NEXT: [-1, -1],
  // CHECK-NEXT: [101, 101.5],
  // CHECK-NEXT: [10, 10.5],
  // CHECK-NEXT: [20, 20.5],
  // CHECK-NEXT: [30, 30.5],
  // CHECK-NEXT: [-1, -1]]]]
  %b = tensor.cast %r : tensor<1x1x10x2xf32> to tensor<?x?x?x?xf32>
  call @print(%b) : (tensor<?x?x?x?xf32>) -> ()
  // CHECK: sizes = [1, 1, 4, 2]
  // CHECK-NEXT: {{\[\[\[\[}}4, 4.5],
  // CHECK-NEXT: [5, 5.5],
  // CHECK-NEXT: [6, 6.5],
  // CHECK-NEXT: [3, 3.5]]]]
  %c = tensor.cast %w2 : tensor<1x1x4x2xf32> to tensor<?x?x?x?xf32>
  call @print(%c) : (tensor<?x?x?x?xf32>) -> ()
  // CHECK: sizes = [1, 1, 3, 2]
  // CHECK-NEXT: {{\[\[\[\[}}100, 100.5],
  // CHECK-NEXT: [101, 101.5],
  // CHECK-NEXT: [-1, -1]]]]
  %d = tensor.cast %r2 : tensor<1x1x3x2xf32> to tensor<?x?x?x?xf32>
  call @print(%d) : (tensor<?x?x?x?xf32>) -> ()
  return
}
