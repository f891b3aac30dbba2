// RUN: quant-opt %s --one-shot-bufferize=bufferize-function-boundaries --buffer-deallocation-pipeline --convert-bufferization-to-memref --convert-linalg-to-parallel-loops --canonicalize \
// RUN:   | quant-opt --pass-pipeline='builtin.module(func.func(lq-gpu-parallelize-loops{block-size=16}))' \
// RUN:   | quant-opt --convert-scf-to-cf --expand-strided-metadata --lower-affine --convert-to-llvm --reconcile-unrealized-casts \
// RUN:   | %mlir_runner -e main -entry-point-result=void %runner_libs | FileCheck %s

// The blocks x threads nest of lq-gpu-parallelize-loops, run sequentially on
// the CPU: a 3x5x7 iota (105 = 6 blocks of 16 threads + a partial one) and a
// sum of squares over the middle dimension (21 threads, each a sequential
// loop, its accumulator in a register) give exactly the values of the
// untransformed loops:
// s[i][k] = sum_j (i*j + k)^2.
// CHECK: [0,   5,   20,   45,   80,   125,   180],
// CHECK: [30,   55,   90,   135,   190,   255,   330],
// CHECK: [120,   165,   220,   285,   360,   445,   540]]
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#red = affine_map<(d0, d1, d2) -> (d0, d2)>
func.func private @printMemrefF32(memref<*xf32>)
func.func @main() {
  %x0 = tensor.empty() : tensor<3x5x7xf32>
  %x = linalg.generic {indexing_maps = [#id3], iterator_types = ["parallel", "parallel", "parallel"]} outs(%x0 : tensor<3x5x7xf32>) {
  ^bb0(%o: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %k = linalg.index 2 : index
    %a = arith.muli %i, %j : index
    %b = arith.addi %a, %k : index
    %c = arith.index_cast %b : index to i64
    %f = arith.sitofp %c : i64 to f32
    linalg.yield %f : f32
  } -> tensor<3x5x7xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<3x7xf32>
  %acc = linalg.fill ins(%z : f32) outs(%e : tensor<3x7xf32>) -> tensor<3x7xf32>
  %s = linalg.generic {indexing_maps = [#id3, #red], iterator_types = ["parallel", "reduction", "parallel"]} ins(%x : tensor<3x5x7xf32>) outs(%acc : tensor<3x7xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %a : f32
    %r = arith.addf %o, %m : f32
    linalg.yield %r : f32
  } -> tensor<3x7xf32>
  %u = bufferization.to_buffer %s : tensor<3x7xf32> to memref<3x7xf32>
  %c = memref.cast %u : memref<3x7xf32> to memref<*xf32>
  call @printMemrefF32(%c) : (memref<*xf32>) -> ()
  return
}
