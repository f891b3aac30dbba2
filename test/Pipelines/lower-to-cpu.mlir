// RUN: quant-opt %s --lower-to-cpu | FileCheck %s --implicit-check-not=lq. --implicit-check-not=linalg. --implicit-check-not=tensor.
// RUN: quant-opt %s --lower-to-cpu="c-wrappers=true" | FileCheck %s --check-prefix=CWRAP

// A weight-only int4 linear goes all the way to the LLVM dialect.
// CHECK-LABEL: llvm.func @int4_linear
// CHECK: llvm.intr.sqrt
// CHECK: llvm.fmul
// CHECK: llvm.return
// CWRAP: llvm.func @_mlir_ciface_int4_linear
func.func @int4_linear(%x: tensor<2x64xf32>, %g: tensor<64xf32>, %s: tensor<8x2xf16>) -> tensor<2x8xf32> {
  %n = lq.rms_norm %x, %g {epsilon = 1.0e-05 : f32} : tensor<2x64xf32>, tensor<64xf32>
  %q = arith.constant dense<3> : tensor<8x64xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 32>>
  %w = lq.dequantize %q, %s : (tensor<8x64xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 32>>, tensor<8x2xf16>) -> tensor<8x64xf32>
  %y = lq.linear %n, %w : (tensor<2x64xf32>, tensor<8x64xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}
