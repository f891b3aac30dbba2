// A model with a 100-entry vocab: a vocab mismatch for pd-llama-6m's tokenizer
// and reference (4096).
func.func @main(%ids: tensor<1x32xi64> {onnx.name = "input_ids"})
    -> (tensor<1x32x100xf32> {onnx.name = "logits"}) {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<1x32x100xf32>
  %c = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x32x100xf32>) -> tensor<1x32x100xf32>
  return %c : tensor<1x32x100xf32>
}
