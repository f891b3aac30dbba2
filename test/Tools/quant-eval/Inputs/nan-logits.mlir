// Logits that are NaN at position 5, vocab entry 7 and 0 elsewhere: quant-eval
// must name the window and position instead of reporting a NaN perplexity.
#id = affine_map<(b, t, v) -> (b, t, v)>
func.func @main(%ids: tensor<1x32xi64> {onnx.name = "input_ids"})
    -> (tensor<1x32x4096xf32> {onnx.name = "logits"}) {
  %empty = tensor.empty() : tensor<1x32x4096xf32>
  %r = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", "parallel", "parallel"]}
      outs(%empty : tensor<1x32x4096xf32>) {
  ^bb0(%out: f32):
    %t = linalg.index 1 : index
    %v = linalg.index 2 : index
    %c5 = arith.constant 5 : index
    %c7 = arith.constant 7 : index
    %at = arith.cmpi eq, %t, %c5 : index
    %av = arith.cmpi eq, %v, %c7 : index
    %both = arith.andi %at, %av : i1
    %nan = arith.constant 0x7FC00000 : f32
    %zero = arith.constant 0.0 : f32
    %y = arith.select %both, %nan, %zero : f32
    linalg.yield %y : f32
  } -> tensor<1x32x4096xf32>
  return %r : tensor<1x32x4096xf32>
}
