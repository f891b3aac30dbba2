// RUN: quant-opt %s --split-input-file --verify-diagnostics

// expected-error @+1 {{'bits' must be in [2, 8] for format 'int', got 9}}
func.func private @bits9() -> tensor<4xi8, #lq.scheme<format = int, bits = 9>>

// -----

// expected-error @+1 {{'bits' must be in [2, 8] for format 'int', got 0}}
func.func private @int_needs_bits() -> tensor<4xi8, #lq.scheme<format = int>>

// -----

// expected-error @+1 {{'bits' is implied by format 'mxfp4' (4), got 8}}
func.func private @mx_bits() -> tensor<4x32xf4E2M1FN, #lq.scheme<format = mxfp4, bits = 8, axis = 1, group = 32>>

// -----

// expected-error @+1 {{format 'mxfp4' needs 'group = 32', got 64}}
func.func private @mx_group64() -> tensor<4x64xf4E2M1FN, #lq.scheme<format = mxfp4, axis = 1, group = 64>>

// -----

// expected-error @+1 {{format 'nvfp4' needs 'group = 16', got 32}}
func.func private @nvfp4_group() -> tensor<4x64xf4E2M1FN, #lq.scheme<format = nvfp4, axis = 1, group = 32>>

// -----

// expected-error @+1 {{'symmetric = false' needs format 'int', got 'fp8_e4m3'}}
func.func private @asym_fp8() -> tensor<4xf8E4M3FN, #lq.scheme<format = fp8_e4m3, symmetric = false>>

// -----

// expected-error @+1 {{'axis' must be >= 0, got -2}}
func.func private @neg_axis() -> tensor<4xi8, #lq.scheme<format = int, bits = 8, axis = -2>>

// -----

// expected-error @+1 {{'group' must be positive, got -4}}
func.func private @neg_group() -> tensor<4xi8, #lq.scheme<format = int, bits = 8, axis = 0, group = -4>>

// -----

// expected-error @+1 {{'group' needs an 'axis' to group along}}
func.func private @group_no_axis() -> tensor<4xi8, #lq.scheme<format = int, bits = 8, group = 4>>

// -----

// expected-error @+1 {{'block' excludes 'group' and 'axis'}}
func.func private @block_and_axis() -> tensor<4x4xi8, #lq.scheme<format = int, bits = 8, axis = 0, block = [2, 2]>>

// -----

// expected-error @+1 {{'block' sizes must be positive (or 0: the whole dimension), got -1}}
func.func private @block_negative() -> tensor<4x4xi8, #lq.scheme<format = int, bits = 8, block = [-1, 2]>>

// -----

// expected-error @+1 {{element type 'i8' does not match the storage type 'i4' of format 'int'}}
func.func private @storage_mismatch() -> tensor<4xi8, #lq.scheme<format = int, bits = 4>>

// -----

// expected-error @+1 {{element type 'f8E5M2' does not match the storage type 'f8E4M3FN' of format 'fp8_e4m3'}}
func.func private @fp8_storage() -> tensor<4xf8E5M2, #lq.scheme<format = fp8_e4m3>>

// -----

// expected-error @+1 {{'axis' 2 is out of range for a tensor of rank 2}}
func.func private @axis_range() -> tensor<4x4xi8, #lq.scheme<format = int, bits = 8, axis = 2>>

// -----

// expected-error @+1 {{'group' 64 does not divide dimension 1 (100)}}
func.func private @group_divides() -> tensor<4x100xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 64>>

// -----

// expected-error @+1 {{'block' has 1 sizes for a tensor of rank 2}}
func.func private @block_rank() -> tensor<4x4xi8, #lq.scheme<format = int, bits = 8, block = [2]>>

// -----

// expected-error @+1 {{'block' size 3 does not divide dimension 1 (4)}}
func.func private @block_divides() -> tensor<4x4xi8, #lq.scheme<format = int, bits = 8, block = [2, 3]>>

// -----

// expected-error @+2 {{expected ::mlir::lq::Format to be one of: int, nf4, fp8_e4m3, fp8_e5m2, mxfp4, mxfp6_e2m3, mxfp6_e3m2, mxfp8_e4m3, mxfp8_e5m2, nvfp4}}
// expected-error @+1 {{failed to parse LQ_SchemeAttr parameter 'format'}}
func.func private @unknown_format() -> tensor<4xi8, #lq.scheme<format = int3>>

// -----

func.func @scale_shape(%x: tensor<4x256xf32>, %s: tensor<4x4xf16>) {
  // expected-error @+1 {{'lq.quantize' op scales must have shape [4, 2], got [4, 4]}}
  %q = lq.quantize %x, %s : (tensor<4x256xf32>, tensor<4x4xf16>) -> tensor<4x256xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 128>>
  return
}

// -----

func.func @float_shape(%x: tensor<4x128xf32>, %s: tensor<4x2xf16>) {
  // expected-error @+1 {{'lq.quantize' op float shape [4, 128] differs from quantized shape [4, 256]}}
  %q = lq.quantize %x, %s : (tensor<4x128xf32>, tensor<4x2xf16>) -> tensor<4x256xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 128>>
  return
}

// -----

func.func @mx_scale_type(%q: tensor<4x64xf4E2M1FN, #lq.scheme<format = mxfp4, axis = 1, group = 32>>, %s: tensor<4x2xf16>) {
  // expected-error @+1 {{'lq.dequantize' op scales of format 'mxfp4' must be f8E8M0FNU, got 'f16'}}
  %d = lq.dequantize %q, %s : (tensor<4x64xf4E2M1FN, #lq.scheme<format = mxfp4, axis = 1, group = 32>>, tensor<4x2xf16>) -> tensor<4x64xf32>
  return
}

// -----

func.func @nvfp4_scale_type(%q: tensor<4x64xf4E2M1FN, #lq.scheme<format = nvfp4, axis = 1, group = 16>>, %s: tensor<4x4xf8E8M0FNU>, %g: tensor<f32>) {
  // expected-error @+1 {{'lq.dequantize' op scales of format 'nvfp4' must be f8E4M3FN, got 'f8E8M0FNU'}}
  %d = lq.dequantize %q, %s global_scale %g : (tensor<4x64xf4E2M1FN, #lq.scheme<format = nvfp4, axis = 1, group = 16>>, tensor<4x4xf8E8M0FNU>, tensor<f32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @int_scale_type(%q: tensor<4xi8, #lq.scheme<format = int, bits = 8>>, %s: tensor<f8E8M0FNU>) {
  // expected-error @+1 {{'lq.dequantize' op scales of format 'int' must be f16, bf16, f32 or f64, got 'f8E8M0FNU'}}
  %d = lq.dequantize %q, %s : (tensor<4xi8, #lq.scheme<format = int, bits = 8>>, tensor<f8E8M0FNU>) -> tensor<4xf32>
  return
}

// -----

func.func @nvfp4_needs_global(%q: tensor<4x64xf4E2M1FN, #lq.scheme<format = nvfp4, axis = 1, group = 16>>, %s: tensor<4x4xf8E4M3FN>) {
  // expected-error @+1 {{'lq.dequantize' op format 'nvfp4' needs a 'global_scale'}}
  %d = lq.dequantize %q, %s : (tensor<4x64xf4E2M1FN, #lq.scheme<format = nvfp4, axis = 1, group = 16>>, tensor<4x4xf8E4M3FN>) -> tensor<4x64xf32>
  return
}

// -----

func.func @global_only_nvfp4(%q: tensor<4xi8, #lq.scheme<format = int, bits = 8>>, %s: tensor<f32>, %g: tensor<f32>) {
  // expected-error @+1 {{'lq.dequantize' op only format 'nvfp4' takes a 'global_scale'}}
  %d = lq.dequantize %q, %s global_scale %g : (tensor<4xi8, #lq.scheme<format = int, bits = 8>>, tensor<f32>, tensor<f32>) -> tensor<4xf32>
  return
}

// -----

func.func @global_shape(%q: tensor<4x64xf4E2M1FN, #lq.scheme<format = nvfp4, axis = 1, group = 16>>, %s: tensor<4x4xf8E4M3FN>, %g: tensor<2xf32>) {
  // expected-error @+1 {{'lq.dequantize' op 'global_scale' must be one f32, got 'tensor<2xf32>'}}
  %d = lq.dequantize %q, %s global_scale %g : (tensor<4x64xf4E2M1FN, #lq.scheme<format = nvfp4, axis = 1, group = 16>>, tensor<4x4xf8E4M3FN>, tensor<2xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @asym_needs_zp(%x: tensor<4xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{'lq.quantize' op asymmetric scheme ('symmetric = false') needs a 'zero_point'}}
  %q = lq.quantize %x, %s : (tensor<4xf32>, tensor<f32>) -> tensor<4xi8, #lq.scheme<format = int, bits = 8, symmetric = false>>
  return
}

// -----

func.func @sym_no_zp(%x: tensor<4xf32>, %s: tensor<f32>, %zp: tensor<i8>) {
  // expected-error @+1 {{'lq.quantize' op symmetric scheme takes no 'zero_point'}}
  %q = lq.quantize %x, %s zero_point %zp : (tensor<4xf32>, tensor<f32>, tensor<i8>) -> tensor<4xi8, #lq.scheme<format = int, bits = 8>>
  return
}

// -----

func.func @zp_shape(%x: tensor<4x8xf32>, %s: tensor<4x1xf32>, %zp: tensor<4x2xi8>) {
  // expected-error @+1 {{'lq.quantize' op 'zero_point' shape [4, 2] differs from scales shape [4, 1]}}
  %q = lq.quantize %x, %s zero_point %zp : (tensor<4x8xf32>, tensor<4x1xf32>, tensor<4x2xi8>) -> tensor<4x8xi8, #lq.scheme<format = int, bits = 8, axis = 0, symmetric = false>>
  return
}

// -----

func.func @quantize_needs_scheme(%x: tensor<4xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{'lq.quantize' op result #0 must be ranked tensor with a #lq.scheme encoding}}
  %q = lq.quantize %x, %s : (tensor<4xf32>, tensor<f32>) -> tensor<4xi8>
  return
}

// -----

func.func @linear_k(%x: tensor<2x32xf32>, %w: tensor<16x31xf32>) {
  // expected-error @+1 {{'lq.linear' op input feature size 32 differs from weight K 31}}
  %y = lq.linear %x, %w : (tensor<2x32xf32>, tensor<16x31xf32>) -> tensor<2x16xf32>
  return
}

// -----

func.func @linear_weight_rank(%x: tensor<2x32xf32>, %w: tensor<32xf32>) {
  // expected-error @+1 {{'lq.linear' op weight must be [N, K], got rank 1}}
  %y = lq.linear %x, %w : (tensor<2x32xf32>, tensor<32xf32>) -> tensor<2x16xf32>
  return
}

// -----

func.func @linear_input_rank(%x: tensor<f32>, %w: tensor<16x32xf32>) {
  // expected-error @+1 {{'lq.linear' op input must have rank >= 1}}
  %y = lq.linear %x, %w : (tensor<f32>, tensor<16x32xf32>) -> tensor<16xf32>
  return
}

// -----

func.func @linear_bias(%x: tensor<2x32xf32>, %w: tensor<16x32xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'lq.linear' op bias must be [N] = [16], got [8]}}
  %y = lq.linear %x, %w bias %b : (tensor<2x32xf32>, tensor<16x32xf32>, tensor<8xf32>) -> tensor<2x16xf32>
  return
}

// -----

func.func @linear_result(%x: tensor<2x32xf32>, %w: tensor<16x32xf32>) {
  // expected-error @+1 {{'lq.linear' op result must have shape [2, 16], got [2, 8]}}
  %y = lq.linear %x, %w : (tensor<2x32xf32>, tensor<16x32xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @rms_weight(%x: tensor<2x32xf32>, %g: tensor<16xf32>) {
  // expected-error @+1 {{'lq.rms_norm' op 'weight' must be [32], got [16]}}
  %y = lq.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : tensor<2x32xf32>, tensor<16xf32>
  return
}

// -----

func.func @rms_eps(%x: tensor<2x32xf32>, %g: tensor<32xf32>) {
  // expected-error @+1 {{'lq.rms_norm' op 'epsilon' must be >= 0}}
  %y = lq.rms_norm %x, %g {epsilon = -1.0 : f32} : tensor<2x32xf32>, tensor<32xf32>
  return
}

// -----

func.func @rms_rank(%x: tensor<f32>, %g: tensor<1xf32>) {
  // expected-error @+1 {{'lq.rms_norm' op input must have rank >= 1}}
  %y = lq.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : tensor<f32>, tensor<1xf32>
  return
}

// -----

func.func @ln_eps(%x: tensor<2x32xf32>, %g: tensor<32xf32>) {
  // expected-error @+1 {{'lq.layer_norm' op 'epsilon' must be >= 0}}
  %y = lq.layer_norm %x, %g {epsilon = -1.0 : f32} : tensor<2x32xf32>, tensor<32xf32>
  return
}

// -----

func.func @ln_bias(%x: tensor<2x32xf32>, %g: tensor<32xf32>, %b: tensor<31xf32>) {
  // expected-error @+1 {{'lq.layer_norm' op 'bias' must be [32], got [31]}}
  %y = lq.layer_norm %x, %g bias %b {epsilon = 1.0e-5 : f32} : tensor<2x32xf32>, tensor<32xf32>, tensor<31xf32>
  return
}

// -----

func.func @rotary_rank(%x: tensor<16xf32>, %c: tensor<8x4xf32>) {
  // expected-error @+1 {{'lq.rotary' op input must be [..., T, D]}}
  %y = lq.rotary %x, %c, %c : tensor<16xf32>, tensor<8x4xf32>
  return
}

// -----

func.func @rotary_cos_rank(%x: tensor<1x8x16xf32>, %c: tensor<8xf32>) {
  // expected-error @+1 {{'lq.rotary' op cos and sin must be [T, R], got [8]}}
  %y = lq.rotary %x, %c, %c : tensor<1x8x16xf32>, tensor<8xf32>
  return
}

// -----

func.func @rotary_positions(%x: tensor<1x8x16xf32>, %c: tensor<4x8xf32>) {
  // expected-error @+1 {{'lq.rotary' op cos has 4 positions, input has 8}}
  %y = lq.rotary %x, %c, %c : tensor<1x8x16xf32>, tensor<4x8xf32>
  return
}

// -----

func.func @rotary_pairs(%x: tensor<1x8x16xf32>, %c: tensor<8x9xf32>) {
  // expected-error @+1 {{'lq.rotary' op rotary pairs 2*9 exceed the feature size 16}}
  %y = lq.rotary %x, %c, %c : tensor<1x8x16xf32>, tensor<8x9xf32>
  return
}

// -----

func.func @attn_rank(%q: tensor<2x8x16xf32>, %k: tensor<1x2x8x16xf32>) {
  // expected-error @+1 {{'lq.attention' op 'query' must be [B, H, T, D], got rank 3}}
  %o = lq.attention %q, %k, %k : (tensor<2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) -> tensor<2x8x16xf32>
  return
}

// -----

func.func @attn_batch(%q: tensor<1x4x8x16xf32>, %k: tensor<2x2x8x16xf32>) {
  // expected-error @+1 {{'lq.attention' op batch sizes of query, key and value differ}}
  %o = lq.attention %q, %k, %k : (tensor<1x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<1x4x8x16xf32>
  return
}

// -----

func.func @attn_kv_heads(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x1x8x16xf32>) {
  // expected-error @+1 {{'lq.attention' op key and value head counts differ}}
  %o = lq.attention %q, %k, %v : (tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x1x8x16xf32>) -> tensor<1x4x8x16xf32>
  return
}

// -----

func.func @attn_gqa(%q: tensor<1x4x8x16xf32>, %k: tensor<1x3x8x16xf32>) {
  // expected-error @+1 {{'lq.attention' op query heads (4) must be a multiple of key/value heads (3)}}
  %o = lq.attention %q, %k, %k : (tensor<1x4x8x16xf32>, tensor<1x3x8x16xf32>, tensor<1x3x8x16xf32>) -> tensor<1x4x8x16xf32>
  return
}

// -----

func.func @attn_head_dim(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x8xf32>) {
  // expected-error @+1 {{'lq.attention' op query and key head sizes differ (16 vs 8)}}
  %o = lq.attention %q, %k, %k : (tensor<1x4x8x16xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

func.func @attn_kv_len(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x9x16xf32>) {
  // expected-error @+1 {{'lq.attention' op key and value lengths differ}}
  %o = lq.attention %q, %k, %v : (tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x9x16xf32>) -> tensor<1x4x8x16xf32>
  return
}

// -----

func.func @attn_result(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>) {
  // expected-error @+1 {{'lq.attention' op result must have shape [1, 4, 8, 16], got [1, 2, 8, 16]}}
  %o = lq.attention %q, %k, %k : (tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32>
  return
}

// -----

func.func @attn_mask(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %m: tensor<8x7xi1>) {
  // expected-error @+1 {{'lq.attention' op mask shape [8, 7] does not broadcast to [1, 4, 8, 8]}}
  %o = lq.attention %q, %k, %k mask %m : (tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<8x7xi1>) -> tensor<1x4x8x16xf32>
  return
}

// -----

func.func @attn_mask_rank(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %m: tensor<1x1x1x8x8xi1>) {
  // expected-error @+1 {{'lq.attention' op mask rank must be <= 4}}
  %o = lq.attention %q, %k, %k mask %m : (tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x1x1x8x8xi1>) -> tensor<1x4x8x16xf32>
  return
}

// -----

func.func @attn_scale(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>) {
  // expected-error @+1 {{'lq.attention' op 'scale' must be positive}}
  %o = lq.attention %q, %k, %k {scale = 0.0 : f32} : (tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) -> tensor<1x4x8x16xf32>
  return
}

// -----

func.func @embed_table(%t: tensor<64xf32>, %ids: tensor<1x8xi64>) {
  // expected-error @+1 {{'lq.embedding' op table must be [V, D], got rank 1}}
  %e = lq.embedding %t, %ids : (tensor<64xf32>, tensor<1x8xi64>) -> tensor<1x8x1xf32>
  return
}

// -----

func.func @embed_type(%t: tensor<64x32xf32>, %ids: tensor<1x8xi64>) {
  // expected-error @+1 {{'lq.embedding' op result element type 'f16' differs from the table's 'f32'}}
  %e = lq.embedding %t, %ids : (tensor<64x32xf32>, tensor<1x8xi64>) -> tensor<1x8x32xf16>
  return
}

// -----

func.func @embed_shape(%t: tensor<64x32xf32>, %ids: tensor<1x8xi64>) {
  // expected-error @+1 {{'lq.embedding' op result must have shape [1, 8, 32], got [8, 32]}}
  %e = lq.embedding %t, %ids : (tensor<64x32xf32>, tensor<1x8xi64>) -> tensor<8x32xf32>
  return
}

// -----

func.func @hadamard_size(%x: tensor<2x44xf32>) -> tensor<2x44xf32> {
  // expected-error @+1 {{unsupported Hadamard size 44: must be 2^k * m with m in {1, 12, 20, 28, 36, 40, 52, 60, 108, 140, 156, 172}}}
  %y = lq.hadamard %x : tensor<2x44xf32>
  return %y : tensor<2x44xf32>
}

// -----

func.func @hadamard_block(%x: tensor<2x96xf32>) -> tensor<2x96xf32> {
  // expected-error @+1 {{'block' 64 does not divide the last dimension 96}}
  %y = lq.hadamard %x {block = 64} : tensor<2x96xf32>
  return %y : tensor<2x96xf32>
}

// -----

func.func @hadamard_dynamic(%x: tensor<2x?xf32>) -> tensor<2x?xf32> {
  // expected-error @+1 {{the transformed (last) dimension must be static}}
  %y = lq.hadamard %x : tensor<2x?xf32>
  return %y : tensor<2x?xf32>
}

// -----

// block = [0, 1, 0, 1] (0: the whole dimension) wants scales [1, H, 1, D].
func.func @block_whole_dim_scales(%x: tensor<2x4x3x8xf32>, %s: tensor<2x4x1x8xf32>) -> tensor<2x4x3x8xi8, #lq.scheme<format = int, bits = 8, block = [0, 1, 0, 1]>> {
  // expected-error @+1 {{scales must have shape [1, 4, 1, 8], got [2, 4, 1, 8]}}
  %q = lq.quantize %x, %s : (tensor<2x4x3x8xf32>, tensor<2x4x1x8xf32>) -> tensor<2x4x3x8xi8, #lq.scheme<format = int, bits = 8, block = [0, 1, 0, 1]>>
  return %q : tensor<2x4x3x8xi8, #lq.scheme<format = int, bits = 8, block = [0, 1, 0, 1]>>
}

// -----

// expected-error @+1 {{format 'bf16' is per tensor (one scale, 1.0 from RTN): it takes no 'axis', 'group' or 'block'}}
func.func private @bf16_group() -> tensor<4x64xbf16, #lq.scheme<format = bf16, axis = 1, group = 32>>

// -----

// expected-error @+1 {{format 'bf16' is per tensor (one scale, 1.0 from RTN): it takes no 'axis', 'group' or 'block'}}
func.func private @bf16_channel() -> tensor<4x64xbf16, #lq.scheme<format = bf16, axis = 0>>

// -----

// expected-error @+1 {{format 'bf16' is per tensor (one scale, 1.0 from RTN): it takes no 'axis', 'group' or 'block'}}
func.func private @bf16_block() -> tensor<4x64xbf16, #lq.scheme<format = bf16, block = [2, 32]>>

// -----

// expected-error @+1 {{'symmetric = false' needs format 'int', got 'bf16'}}
func.func private @bf16_asym() -> tensor<4xbf16, #lq.scheme<format = bf16, symmetric = false>>

// -----

// expected-error @+1 {{'bits' is implied by format 'bf16' (16), got 8}}
func.func private @bf16_bits() -> tensor<4xbf16, #lq.scheme<format = bf16, bits = 8>>

// -----

// expected-error @+1 {{element type 'f16' does not match the storage type 'bf16' of format 'bf16'}}
func.func private @bf16_storage() -> tensor<4xf16, #lq.scheme<format = bf16>>
