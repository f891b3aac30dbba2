// A model with a second, non-empty input quant-eval has nothing to feed.
func.func @main(%ids: tensor<1x32xi64> {onnx.name = "input_ids"},
                %x: tensor<1x4xf32> {onnx.name = "state"})
    -> (tensor<1x32x4096xf32> {onnx.name = "logits"}) {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<1x32x4096xf32>
  %c = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x32x4096xf32>) -> tensor<1x32x4096xf32>
  return %c : tensor<1x32x4096xf32>
}
