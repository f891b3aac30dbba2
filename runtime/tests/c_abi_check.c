//===- c_abi_check.c - Compile formats.h as C and call through it -*- C -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Built as C99 into lq_rt_tests so that a header change that is only valid
// C++ breaks the build, and so that the C linkage of every symbol is tested.
//
//===----------------------------------------------------------------------===//

#include "lq_rt/formats.h"
#include "lq_rt/lq_rt.h"

/// Returns 0 when a handful of calls made from C give the expected results.
int lq_rt_c_abi_check(void) {
  uint8_t codes[3] = {1, 2, 3};
  uint8_t packed[2];
  lq_format_t f = LQ_FORMAT_NVFP4;
  if (lq_fp4_e2m1_from_f32(6.0f) != 0x7)
    return 1;
  if (lq_fp8_e4m3fn_to_f32(0x7E) != 448.0f)
    return 2;
  if (lq_format_required_group(f) != 16)
    return 3;
  if (lq_packed_size(3, 4) != 2)
    return 4;
  lq_pack_bits(codes, 3, 4, packed);
  if (packed[0] != 0x21 || packed[1] != 0x03)
    return 5;
  if (lq_nf4_codebook[15] != 1.0f)
    return 6;
  return 0;
}
