// A candidate for quant-eval that ignores its input: at every position the
// logits are 3 * sin(0.01 * v) over a 4096-entry vocab, so NumPy can compute
// its perplexity and KL divergence independently (test/Tools/quant-eval).
#id = affine_map<(b, t, v) -> (b, t, v)>
func.func @main(%ids: tensor<1x32xi64> {onnx.name = "input_ids"})
    -> (tensor<1x32x4096xf32> {onnx.name = "logits"}) {
  %empty = tensor.empty() : tensor<1x32x4096xf32>
  %r = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", "parallel", "parallel"]}
      outs(%empty : tensor<1x32x4096xf32>) {
  ^bb0(%out: f32):
    %v = linalg.index 2 : index
    %i = arith.index_cast %v : index to i64
    %f = arith.sitofp %i : i64 to f32
    %c = arith.constant 0.01 : f32
    %three = arith.constant 3.0 : f32
    %x = arith.mulf %f, %c : f32
    %s = math.sin %x : f32
    %y = arith.mulf %s, %three : f32
    linalg.yield %y : f32
  } -> tensor<1x32x4096xf32>
  return %r : tensor<1x32x4096xf32>
}
