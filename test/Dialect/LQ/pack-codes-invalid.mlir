// RUN: quant-opt %s --split-input-file -verify-diagnostics

#s4 = #lq.scheme<format = int, bits = 4>
func.func @odd(%q: tensor<2x5xi4, #s4>) -> tensor<2x2xi8> {
  // expected-error @+1 {{bytes must have the codes' shape with the last dimension halved}}
  %p = lq.pack_codes %q : tensor<2x5xi4, #s4> -> tensor<2x2xi8>
  return %p : tensor<2x2xi8>
}

// -----

#s8 = #lq.scheme<format = int, bits = 8, axis = 1, group = 4>
func.func @eight_bits(%q: tensor<2x4xi8, #s8>) -> tensor<2x2xi8> {
  // expected-error @+1 {{packs 4-bit codes, got 'i8'}}
  %p = lq.pack_codes %q : tensor<2x4xi8, #s8> -> tensor<2x2xi8>
  return %p : tensor<2x2xi8>
}

// -----

#s4 = #lq.scheme<format = int, bits = 4, axis = 1, group = 4>
func.func @rows(%p: tensor<3x2xi8>) -> tensor<2x4xi4, #s4> {
  // expected-error @+1 {{bytes must have the codes' shape}}
  %q = lq.unpack_codes %p : tensor<3x2xi8> -> tensor<2x4xi4, #s4>
  return %q : tensor<2x4xi4, #s4>
}
