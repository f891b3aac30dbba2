// A 5-token vocabulary, two linears: the second one's weights are large, so
// quantizing it to 2 bits costs more than quantizing the first.
func.func @main(%ids: tensor<1x4xi64>) -> tensor<1x4x5xf32> {
  %t = arith.constant dense<[[1.0, -2.0, 0.5, 0.25], [3.0, 4.0, -1.0, 0.5], [0.5, 0.5, 2.0, -1.5], [-1.0, 1.0, 0.75, 2.0], [2.0, 2.0, -0.5, 1.0]]> : tensor<5x4xf32>
  %e = lq.embedding %t, %ids : (tensor<5x4xf32>, tensor<1x4xi64>) -> tensor<1x4x4xf32>
  %w1 = arith.constant dense<[[0.11, -0.23, 0.37, 0.05], [0.3, 0.1, -0.2, 0.4], [-0.15, 0.25, 0.05, -0.35], [0.2, -0.1, 0.3, 0.1]]> : tensor<4x4xf32>
  %h = lq.linear %e, %w1 : (tensor<1x4x4xf32>, tensor<4x4xf32>) -> tensor<1x4x4xf32>
  %w2 = arith.constant dense<[[3.1, -2.3, 1.7, 0.9], [-1.3, 2.1, 3.2, -0.4], [2.5, 0.5, -3.5, 1.5], [0.2, -3.1, 1.3, 2.1], [1.1, 1.9, -0.7, -2.9]]> : tensor<5x4xf32>
  %l = lq.linear %h, %w2 : (tensor<1x4x4xf32>, tensor<5x4xf32>) -> tensor<1x4x5xf32>
  return %l : tensor<1x4x5xf32>
}
