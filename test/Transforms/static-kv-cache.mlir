// RUN: quant-opt %s --static-kv-cache="capacity=16" | FileCheck %s

// A decode step as model_kv.onnx imports it (past length 1, one new token,
// rotary rows of position 1 with θ = [1, 0.01]) becomes a step over a
// 16-token cache written at `position`.

// CHECK-LABEL: func.func @step
// CHECK-SAME: %[[PK:[a-z0-9]+]]: tensor<1x1x16x4xf32> {lq.kv_cache = 1 : i64, onnx.name = "past_key.0"}
// CHECK-SAME: %[[PV:[a-z0-9]+]]: tensor<1x1x16x4xf32> {lq.kv_cache = 2 : i64, onnx.name = "past_value.0"}
// CHECK-SAME: %[[POS:[a-z0-9]+]]: tensor<i64> {lq.range = array<i64: 0, 16>, onnx.name = "position"}
// CHECK-SAME: -> (tensor<1x2x1x4xf32>, tensor<1x1x16x4xf32>, tensor<1x1x16x4xf32>)
// CHECK-DAG: %[[P:.*]] = tensor.extract %[[POS]][] : tensor<i64>
// CHECK-DAG: %[[I:.*]] = arith.index_cast %[[P]] : i64 to index
// The recomputed tables: row 0 is cos(0) = 1, sin(0) = 0; row 2 is 2θ.
// CHECK-DAG: %[[COS:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 1.000000e+00], [0.540302277, 0.999949991], [-0.416146845, 9.998000e-01]{{.*}}tensor<16x2xf32>
// CHECK-DAG: %[[SIN:.*]] = arith.constant dense<{{\[}}[0.000000e+00, 0.000000e+00], [0.841470957, 0.00999983306], [0.909297406, 0.0199986659]{{.*}}tensor<16x2xf32>
// CHECK: %[[C:.*]] = tensor.extract_slice %[[COS]][%[[I]], 0] [1, 2] [1, 1] : tensor<16x2xf32> to tensor<1x2xf32>
// CHECK: %[[S:.*]] = tensor.extract_slice %[[SIN]][%[[I]], 0] [1, 2] [1, 1] : tensor<16x2xf32> to tensor<1x2xf32>
// CHECK: %[[QR:.*]] = lq.rotary %{{.*}}, %[[C]], %[[S]]
// CHECK: %[[KR:.*]] = lq.rotary %{{.*}}, %{{.*}}, %{{.*}}
// CHECK: %[[KC:.*]] = tensor.insert_slice %[[KR]] into %[[PK]][0, 0, %[[I]], 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x1x1x4xf32> into tensor<1x1x16x4xf32>
// CHECK: %[[VC:.*]] = tensor.insert_slice %{{.*}} into %[[PV]][0, 0, %[[I]], 0] [1, 1, 1, 4] [1, 1, 1, 1]
// CHECK: %[[O:.*]] = lq.attention %[[QR]], %[[KC]], %[[VC]] position %[[POS]]
// CHECK: return %[[O]], %[[KC]], %[[VC]]
func.func @step(%q: tensor<1x2x1x4xf32>, %k: tensor<1x1x1x4xf32>,
                %v: tensor<1x1x1x4xf32>,
                %pk: tensor<1x1x1x4xf32> {onnx.name = "past_key.0"},
                %pv: tensor<1x1x1x4xf32> {onnx.name = "past_value.0"})
    -> (tensor<1x2x1x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) {
  %cos = arith.constant dense<[[0.540302306, 0.99995]]> : tensor<1x2xf32>
  %sin = arith.constant dense<[[0.841470957, 0.00999983307]]> : tensor<1x2xf32>
  %qr = lq.rotary %q, %cos, %sin : tensor<1x2x1x4xf32>, tensor<1x2xf32>
  %kr = lq.rotary %k, %cos, %sin : tensor<1x1x1x4xf32>, tensor<1x2xf32>
  %kc = tensor.concat dim(2) %pk, %kr : (tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x2x4xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x2x4xf32>
  %o = lq.attention %qr, %kc, %vc : (tensor<1x2x1x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<1x2x1x4xf32>
  return %o, %kc, %vc : tensor<1x2x1x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>
}
