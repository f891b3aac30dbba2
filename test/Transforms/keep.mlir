// The keep option (regexes of ONNX node names left in float) means the same
// in the three weight-quantization passes; the kept linear needs no
// statistics. The output projection is --quantize-weights' (lm-head, int8
// per channel by default); --gptq and --awq leave it to it.
// RUN: quant-opt %s --quantize-weights="bits=4 group=4 keep=.*q_proj.*" | FileCheck %s
// RUN: quant-opt %s --gptq="bits=4 group=4 keep=.*q_proj.*" | FileCheck %s
// RUN: quant-opt %s --awq="bits=4 group=4 grid=2 keep=.*q_proj.*" | FileCheck %s
// RUN: not quant-opt %s --gptq="keep=(" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not quant-opt %s --awq="keep=(" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not quant-opt %s --quantize-weights="keep=(" 2>&1 | FileCheck %s --check-prefix=BAD

// CHECK-LABEL: func.func @keep
// CHECK: %[[WQ:.+]] = arith.constant dense<1.000000e+00> : tensor<2x8xf32>
// CHECK: lq.linear %{{.+}}, %[[WQ]]
// CHECK: %[[D:.+]] = lq.dequantize
// CHECK: lq.linear %{{.+}}, %[[D]]
// BAD: error: bad 'keep' regex '(':
func.func @keep(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %wq = arith.constant dense<1.0> : tensor<2x8xf32>
  %wk = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]]> : tensor<2x8xf32>
  %q = lq.linear %x, %wq : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32> loc("/model/layers.0/self_attn/q_proj/MatMul")
  %k = lq.linear %x, %wk {lq.hessian = dense<[[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]> : tensor<8x8xf32>, lq.act_meansq = dense<1.0> : tensor<8xf32>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32> loc("/model/layers.0/self_attn/k_proj/MatMul")
  %z = arith.addf %q, %k : tensor<3x2xf32>
  %y = arith.addf %z, %z : tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}
