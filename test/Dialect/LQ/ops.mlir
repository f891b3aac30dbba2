// RUN: quant-opt %s | quant-opt | FileCheck %s
// RUN: quant-opt %s --mlir-print-op-generic | quant-opt | FileCheck %s

// Every format of #lq.scheme round-trips, and quantize/dequantize accept the
// scale operands each one needs.

// CHECK-LABEL: func.func @int4_group_asym
// CHECK: lq.quantize %{{.+}}, %{{.+}} zero_point %{{.+}} : (tensor<4x256xf32>, tensor<4x2xf16>, tensor<4x2xi8>) -> tensor<4x256xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 128, symmetric = false>>
// CHECK: lq.dequantize
func.func @int4_group_asym(%x: tensor<4x256xf32>, %s: tensor<4x2xf16>, %zp: tensor<4x2xi8>) -> tensor<4x256xf32> {
  %q = lq.quantize %x, %s zero_point %zp : (tensor<4x256xf32>, tensor<4x2xf16>, tensor<4x2xi8>) -> tensor<4x256xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 128, symmetric = false>>
  %d = lq.dequantize %q, %s zero_point %zp : (tensor<4x256xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 128, symmetric = false>>, tensor<4x2xf16>, tensor<4x2xi8>) -> tensor<4x256xf32>
  return %d : tensor<4x256xf32>
}

// CHECK-LABEL: func.func @int8_per_channel
// CHECK: tensor<16x8xi8, #lq.scheme<format = int, bits = 8, axis = 0>>
func.func @int8_per_channel(%x: tensor<16x8xf32>, %s: tensor<16x1xf32>) -> tensor<16x8xi8, #lq.scheme<format = int, bits = 8, axis = 0>> {
  %q = lq.quantize %x, %s : (tensor<16x8xf32>, tensor<16x1xf32>) -> tensor<16x8xi8, #lq.scheme<format = int, bits = 8, axis = 0>>
  return %q : tensor<16x8xi8, #lq.scheme<format = int, bits = 8, axis = 0>>
}

// CHECK-LABEL: func.func @int2_per_tensor_rank0_scale
// CHECK: tensor<8xi2, #lq.scheme<format = int, bits = 2>>
func.func @int2_per_tensor_rank0_scale(%x: tensor<8xf32>, %s: tensor<f32>) -> tensor<8xi2, #lq.scheme<format = int, bits = 2>> {
  %q = lq.quantize %x, %s : (tensor<8xf32>, tensor<f32>) -> tensor<8xi2, #lq.scheme<format = int, bits = 2>>
  return %q : tensor<8xi2, #lq.scheme<format = int, bits = 2>>
}

// CHECK-LABEL: func.func @nf4
// CHECK: tensor<2x128xi4, #lq.scheme<format = nf4, axis = 1, group = 64>>
func.func @nf4(%q: tensor<2x128xi4, #lq.scheme<format = nf4, axis = 1, group = 64>>, %s: tensor<2x2xbf16>) -> tensor<2x128xf32> {
  %d = lq.dequantize %q, %s : (tensor<2x128xi4, #lq.scheme<format = nf4, axis = 1, group = 64>>, tensor<2x2xbf16>) -> tensor<2x128xf32>
  return %d : tensor<2x128xf32>
}

// CHECK-LABEL: func.func @fp8_blocks
// CHECK: tensor<256x256xf8E4M3FN, #lq.scheme<format = fp8_e4m3, block = [128, 128]>>
// CHECK: tensor<8x8xf8E5M2, #lq.scheme<format = fp8_e5m2, axis = 0>>
func.func @fp8_blocks(%a: tensor<256x256xf8E4M3FN, #lq.scheme<format = fp8_e4m3, block = [128, 128]>>, %sa: tensor<2x2xf32>,
                      %b: tensor<8x8xf8E5M2, #lq.scheme<format = fp8_e5m2, axis = 0>>, %sb: tensor<8x1xf32>) -> (tensor<256x256xf32>, tensor<8x8xf16>) {
  %da = lq.dequantize %a, %sa : (tensor<256x256xf8E4M3FN, #lq.scheme<format = fp8_e4m3, block = [128, 128]>>, tensor<2x2xf32>) -> tensor<256x256xf32>
  %db = lq.dequantize %b, %sb : (tensor<8x8xf8E5M2, #lq.scheme<format = fp8_e5m2, axis = 0>>, tensor<8x1xf32>) -> tensor<8x8xf16>
  return %da, %db : tensor<256x256xf32>, tensor<8x8xf16>
}

// CHECK-LABEL: func.func @mx_formats
// CHECK-SAME: tensor<4x64xf4E2M1FN, #lq.scheme<format = mxfp4, axis = 1, group = 32>>
// CHECK-SAME: tensor<4x64xf6E2M3FN, #lq.scheme<format = mxfp6_e2m3, axis = 1, group = 32>>
// CHECK-SAME: tensor<4x64xf6E3M2FN, #lq.scheme<format = mxfp6_e3m2, axis = 1, group = 32>>
// CHECK-SAME: tensor<4x64xf8E4M3FN, #lq.scheme<format = mxfp8_e4m3, axis = 1, group = 32>>
// CHECK-SAME: tensor<4x64xf8E5M2, #lq.scheme<format = mxfp8_e5m2, axis = 1, group = 32>>
func.func @mx_formats(%a: tensor<4x64xf4E2M1FN, #lq.scheme<format = mxfp4, axis = 1, group = 32>>,
                      %b: tensor<4x64xf6E2M3FN, #lq.scheme<format = mxfp6_e2m3, axis = 1, group = 32>>,
                      %c: tensor<4x64xf6E3M2FN, #lq.scheme<format = mxfp6_e3m2, axis = 1, group = 32>>,
                      %d: tensor<4x64xf8E4M3FN, #lq.scheme<format = mxfp8_e4m3, axis = 1, group = 32>>,
                      %e: tensor<4x64xf8E5M2, #lq.scheme<format = mxfp8_e5m2, axis = 1, group = 32>>,
                      %s: tensor<4x2xf8E8M0FNU>) -> tensor<4x64xf32> {
  %0 = lq.dequantize %a, %s : (tensor<4x64xf4E2M1FN, #lq.scheme<format = mxfp4, axis = 1, group = 32>>, tensor<4x2xf8E8M0FNU>) -> tensor<4x64xf32>
  %1 = lq.dequantize %b, %s : (tensor<4x64xf6E2M3FN, #lq.scheme<format = mxfp6_e2m3, axis = 1, group = 32>>, tensor<4x2xf8E8M0FNU>) -> tensor<4x64xf32>
  %2 = lq.dequantize %c, %s : (tensor<4x64xf6E3M2FN, #lq.scheme<format = mxfp6_e3m2, axis = 1, group = 32>>, tensor<4x2xf8E8M0FNU>) -> tensor<4x64xf32>
  %3 = lq.dequantize %d, %s : (tensor<4x64xf8E4M3FN, #lq.scheme<format = mxfp8_e4m3, axis = 1, group = 32>>, tensor<4x2xf8E8M0FNU>) -> tensor<4x64xf32>
  %4 = lq.dequantize %e, %s : (tensor<4x64xf8E5M2, #lq.scheme<format = mxfp8_e5m2, axis = 1, group = 32>>, tensor<4x2xf8E8M0FNU>) -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// CHECK-LABEL: func.func @nvfp4
// CHECK: lq.dequantize %{{.+}}, %{{.+}} global_scale %{{.+}} : (tensor<4x64xf4E2M1FN, #lq.scheme<format = nvfp4, axis = 1, group = 16>>, tensor<4x4xf8E4M3FN>, tensor<f32>) -> tensor<4x64xf32>
func.func @nvfp4(%q: tensor<4x64xf4E2M1FN, #lq.scheme<format = nvfp4, axis = 1, group = 16>>, %s: tensor<4x4xf8E4M3FN>, %g: tensor<f32>) -> tensor<4x64xf32> {
  %d = lq.dequantize %q, %s global_scale %g : (tensor<4x64xf4E2M1FN, #lq.scheme<format = nvfp4, axis = 1, group = 16>>, tensor<4x4xf8E4M3FN>, tensor<f32>) -> tensor<4x64xf32>
  return %d : tensor<4x64xf32>
}

// CHECK-LABEL: func.func @graph_ops
// CHECK: %[[E:.+]] = lq.embedding %{{.+}}, %{{.+}} : (tensor<64x32xf32>, tensor<1x8xi64>) -> tensor<1x8x32xf32>
// CHECK: %[[N:.+]] = lq.rms_norm %[[E]], %{{.+}} {epsilon = 9.99999974E-6 : f32} : tensor<1x8x32xf32>, tensor<32xf32>
// CHECK: lq.layer_norm %[[E]], %{{.+}} bias %{{.+}} {epsilon = 9.99999974E-6 : f32} : tensor<1x8x32xf32>, tensor<32xf32>, tensor<32xf32>
// CHECK: %[[L:.+]] = lq.linear %[[N]], %{{.+}} : (tensor<1x8x32xf32>, tensor<48x32xf32>) -> tensor<1x8x48xf32>
// CHECK: lq.linear %[[N]], %{{.+}} bias %{{.+}} : (tensor<1x8x32xf32>, tensor<48x32xf32>, tensor<48xf32>) -> tensor<1x8x48xf32>
// CHECK: lq.rotary %{{.+}}, %{{.+}}, %{{.+}} : tensor<1x2x8x16xf32>, tensor<8x8xf32>
// CHECK: lq.rotary %{{.+}}, %{{.+}}, %{{.+}} {interleaved} : tensor<1x2x8x16xf32>, tensor<8x4xf32>
// CHECK: lq.attention %{{.+}}, %{{.+}}, %{{.+}} {causal} : (tensor<1x2x8x16xf32>, tensor<1x1x12x16xf32>, tensor<1x1x12x16xf32>) -> tensor<1x2x8x16xf32>
// CHECK: lq.attention %{{.+}}, %{{.+}}, %{{.+}} mask %{{.+}} {scale = 1.250000e-01 : f32} : (tensor<1x2x8x16xf32>, tensor<1x1x12x16xf32>, tensor<1x1x12x16xf32>, tensor<1x1x8x12xi1>) -> tensor<1x2x8x16xf32>
func.func @graph_ops(%table: tensor<64x32xf32>, %ids: tensor<1x8xi64>, %g: tensor<32xf32>, %w: tensor<48x32xf32>, %b: tensor<48xf32>,
                     %q: tensor<1x2x8x16xf32>, %cos: tensor<8x8xf32>, %sin: tensor<8x8xf32>, %cos4: tensor<8x4xf32>,
                     %k: tensor<1x1x12x16xf32>, %v: tensor<1x1x12x16xf32>, %m: tensor<1x1x8x12xi1>) -> tensor<1x2x8x16xf32> {
  %e = lq.embedding %table, %ids : (tensor<64x32xf32>, tensor<1x8xi64>) -> tensor<1x8x32xf32>
  %n = lq.rms_norm %e, %g {epsilon = 1.0e-5 : f32} : tensor<1x8x32xf32>, tensor<32xf32>
  %ln = lq.layer_norm %e, %g bias %g {epsilon = 1.0e-5 : f32} : tensor<1x8x32xf32>, tensor<32xf32>, tensor<32xf32>
  %l = lq.linear %n, %w : (tensor<1x8x32xf32>, tensor<48x32xf32>) -> tensor<1x8x48xf32>
  %lb = lq.linear %n, %w bias %b : (tensor<1x8x32xf32>, tensor<48x32xf32>, tensor<48xf32>) -> tensor<1x8x48xf32>
  %r = lq.rotary %q, %cos, %sin : tensor<1x2x8x16xf32>, tensor<8x8xf32>
  %ri = lq.rotary %q, %cos4, %cos4 {interleaved} : tensor<1x2x8x16xf32>, tensor<8x4xf32>
  %a = lq.attention %r, %k, %v {causal} : (tensor<1x2x8x16xf32>, tensor<1x1x12x16xf32>, tensor<1x1x12x16xf32>) -> tensor<1x2x8x16xf32>
  %am = lq.attention %r, %k, %v mask %m {scale = 0.125 : f32} : (tensor<1x2x8x16xf32>, tensor<1x1x12x16xf32>, tensor<1x1x12x16xf32>, tensor<1x1x8x12xi1>) -> tensor<1x2x8x16xf32>
  return %a : tensor<1x2x8x16xf32>
}

// CHECK-LABEL: func.func @dynamic_dims
// CHECK: lq.linear %{{.+}}, %{{.+}} : (tensor<?x?x256xf32>, tensor<768x256xf32>) -> tensor<?x?x768xf32>
func.func @dynamic_dims(%x: tensor<?x?x256xf32>, %w: tensor<768x256xf32>) -> tensor<?x?x768xf32> {
  %y = lq.linear %x, %w : (tensor<?x?x256xf32>, tensor<768x256xf32>) -> tensor<?x?x768xf32>
  return %y : tensor<?x?x768xf32>
}

// CHECK-LABEL: func.func @hadamard
// CHECK: lq.hadamard %{{.*}} : tensor<1x8x768xf32>
// CHECK: lq.hadamard %{{.*}} {block = 64 : i64} : tensor<1x8x512xf32>
func.func @hadamard(%x: tensor<1x8x768xf32>, %y: tensor<1x8x512xf32>) -> (tensor<1x8x768xf32>, tensor<1x8x512xf32>) {
  %a = lq.hadamard %x : tensor<1x8x768xf32>
  %b = lq.hadamard %y {block = 64} : tensor<1x8x512xf32>
  return %a, %b : tensor<1x8x768xf32>, tensor<1x8x512xf32>
}

// A block size of 0 spans the whole dimension: one scheme, scales
// [1, H, 1, D], for [B, H, T, D] rows and a [B, H, C, D] cache alike.
// CHECK-LABEL: func.func @block_whole_dim
// CHECK: tensor<2x4x3x8xi8, #lq.scheme<format = int, bits = 8, block = [0, 1, 0, 1]>>
// CHECK: tensor<2x4x16x8xi8, #lq.scheme<format = int, bits = 8, block = [0, 1, 0, 1]>>
func.func @block_whole_dim(%x: tensor<2x4x3x8xf32>, %c: tensor<2x4x16x8xi8, #lq.scheme<format = int, bits = 8, block = [0, 1, 0, 1]>>, %s: tensor<1x4x1x8xf32>) -> (tensor<2x4x3x8xi8, #lq.scheme<format = int, bits = 8, block = [0, 1, 0, 1]>>, tensor<2x4x16x8xf32>) {
  %q = lq.quantize %x, %s : (tensor<2x4x3x8xf32>, tensor<1x4x1x8xf32>) -> tensor<2x4x3x8xi8, #lq.scheme<format = int, bits = 8, block = [0, 1, 0, 1]>>
  %d = lq.dequantize %c, %s : (tensor<2x4x16x8xi8, #lq.scheme<format = int, bits = 8, block = [0, 1, 0, 1]>>, tensor<1x4x1x8xf32>) -> tensor<2x4x16x8xf32>
  return %q, %d : tensor<2x4x3x8xi8, #lq.scheme<format = int, bits = 8, block = [0, 1, 0, 1]>>, tensor<2x4x16x8xf32>
}
