// RUN: quant-opt %s --lq-gpu-device-buffers=device-kv-caches=true -verify-diagnostics

// The refresh needs the step's position: without one, an error.
// expected-error @+1 {{lq-gpu-device-buffers: device-kv-caches needs the model's 'position' argument}}
func.func @no_position(%x: memref<4xf32>, %k: memref<1x2x8x4xf32> {lq.kv_cache_in_place}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  gpu.launch blocks(%b0, %b1, %b2) in (%g0 = %c1, %g1 = %c1, %g2 = %c1) threads(%t0, %t1, %t2) in (%s0 = %c4, %s1 = %c1, %s2 = %c1) {
    %v = memref.load %x[%t0] : memref<4xf32>
    memref.store %v, %k[%c0, %c0, %c0, %t0] : memref<1x2x8x4xf32>
    gpu.terminator
  }
  return
}
