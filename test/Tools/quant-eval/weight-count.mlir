// quant-compile writes `params` and `weight_bytes` into the model's signature
// (and header), which quant-eval turns into bits per weight. Weights are the
// constants that feed weight operands of lq ops; a quantized weight counts
// its storage bits (i4: half a byte), its scales add bytes but no parameters,
// and the rotary tables are not weights.
//
// params = 8x64 (embedding) + 64 (norm) + 8x64 (int4 linear) = 1088
// bits   = 512*32 + 64*32 + 512*4 + 8x2 f16 scales * 16 = 20736 -> 2592 bytes

// RUN: quant-compile -q %s -o %t.so
// RUN: FileCheck %s < %t.h
// CHECK: params 1088
// CHECK: weight_bytes 2592

func.func @main(%ids: tensor<1x2xi64> {onnx.name = "input_ids"})
    -> (tensor<1x2x8xf32> {onnx.name = "logits"}, tensor<1x2x8xf32> {onnx.name = "tied"},
        tensor<1x2x64xf32> {onnx.name = "rotated"}) {
  %table = arith.constant dense<0.5> : tensor<8x64xf32>
  %norm = arith.constant dense<1.0> : tensor<64xf32>
  %q = arith.constant dense<3> : tensor<8x64xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 32>>
  %s = arith.constant dense<0.25> : tensor<8x2xf16>
  %cos = arith.constant dense<1.0> : tensor<2x32xf32>
  %sin = arith.constant dense<0.0> : tensor<2x32xf32>
  %e = lq.embedding %table, %ids : (tensor<8x64xf32>, tensor<1x2xi64>) -> tensor<1x2x64xf32>
  %n = lq.rms_norm %e, %norm {epsilon = 1.0e-5 : f32} : tensor<1x2x64xf32>, tensor<64xf32>
  %w = lq.dequantize %q, %s : (tensor<8x64xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 32>>, tensor<8x2xf16>) -> tensor<8x64xf32>
  %y = lq.linear %n, %w : (tensor<1x2x64xf32>, tensor<8x64xf32>) -> tensor<1x2x8xf32>
  // A tied output head: the embedding table again.
  %t = lq.linear %n, %table : (tensor<1x2x64xf32>, tensor<8x64xf32>) -> tensor<1x2x8xf32>
  %r = lq.rotary %n, %cos, %sin : tensor<1x2x64xf32>, tensor<2x32xf32>
  return %y, %t, %r : tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x64xf32>
}
