// RUN: quant-opt %s --lq-expand-strided-copies=runtime-copy-bytes=60000 -verify-diagnostics

// A symbol of that name that is not lq_rt's copy is an error, not a call.
// expected-error @+1 {{'lq_rt_copy_f32' must be lq_rt's strided copy}}
func.func private @lq_rt_copy_f32(memref<?xf32>)
func.func @clash(%a: memref<1x4x127x32xf32>, %b: memref<1x4x128x32xf32>) {
  %s = memref.subview %b[0, 0, 0, 0] [1, 4, 127, 32] [1, 1, 1, 1] : memref<1x4x128x32xf32> to memref<1x4x127x32xf32, strided<[16384, 4096, 32, 1]>>
  memref.copy %a, %s : memref<1x4x127x32xf32> to memref<1x4x127x32xf32, strided<[16384, 4096, 32, 1]>>
  return
}
