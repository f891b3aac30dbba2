// RUN: quant-opt %s --lq-gpu-device-buffers -split-input-file -verify-diagnostics | FileCheck %s
// RUN: quant-opt %s --lq-gpu-device-buffers=resident-constants=false -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=COPY

// Public function: the argument is copied to a device buffer, the launch
// reads that copy, the result goes back to a fresh host buffer; every device
// buffer is freed before the return.
// CHECK-LABEL: func.func @copy_in_out
// CHECK-SAME: (%[[ARG:.+]]: memref<4xf32>)
// CHECK: %[[T0:.+]] = gpu.wait async
// CHECK: %[[IN:.+]], %{{.+}} = gpu.alloc async [%[[T0]]] () : memref<4xf32>
// CHECK: gpu.memcpy async [%{{.+}}] %[[IN]], %[[ARG]]
// CHECK: %[[OUT:.+]], %{{.+}} = gpu.alloc async
// CHECK: gpu.launch
// CHECK: memref.load %[[IN]]
// CHECK: memref.store %{{.+}}, %[[OUT]]
// CHECK: %[[HOST:.+]] = memref.alloc() : memref<4xf32>
// CHECK: gpu.memcpy async [%{{.+}}] %[[HOST]], %[[OUT]]
// CHECK: gpu.dealloc async [%{{.+}}] %[[OUT]]
// CHECK: gpu.dealloc async [%{{.+}}] %[[IN]]
// CHECK: return %[[HOST]]
func.func @copy_in_out(%x: memref<4xf32>) -> memref<4xf32> {
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %y = memref.alloc() : memref<4xf32>
  gpu.launch blocks(%b0, %b1, %b2) in (%g0 = %c1, %g1 = %c1, %g2 = %c1) threads(%t0, %t1, %t2) in (%s0 = %c4, %s1 = %c1, %s2 = %c1) {
    %v = memref.load %x[%t0] : memref<4xf32>
    %w = arith.addf %v, %v : f32
    memref.store %w, %y[%t0] : memref<4xf32>
    gpu.terminator
  }
  return %y : memref<4xf32>
}

// -----

// Host code reading a device buffer (other than a small static one) cannot
// run once buffers live on the device.
func.func @host_load(%n: index) -> f32 {
  %c0 = arith.constant 0 : index
  %x = memref.alloc(%n) : memref<?xf32>
  // expected-error @+1 {{lq-gpu-device-buffers: host code would access device memory here ('memref.load' outside gpu.launch)}}
  %v = memref.load %x[%c0] : memref<?xf32>
  memref.dealloc %x : memref<?xf32>
  return %v : f32
}

// -----

// A CPU kernel cannot take device buffers.
func.func private @lq_rt_linear_f32(memref<2x2xf32>)
func.func @cpu_kernel(%x: memref<2x2xf32>) {
  // expected-error @+1 {{lq-gpu-device-buffers: 'lq_rt_linear_f32' is a host function but its buffers are on the device}}
  func.call @lq_rt_linear_f32(%x) : (memref<2x2xf32>) -> ()
  return
}

// -----

// A scalar the host reads from an argument (a KV cache position for the
// attention kernel) is read from the caller's buffer: no device copy.
// CHECK-LABEL: func.func @host_scalar
// CHECK-SAME: (%[[POS:.+]]: memref<i64>)
// CHECK-NOT: gpu.
// CHECK: %[[P:.+]] = memref.load %[[POS]][] : memref<i64>
// CHECK-NOT: lq.host_read
// CHECK: call @lq_rt_cuda_use(%[[P]])
func.func private @lq_rt_cuda_use(i64)
func.func @host_scalar(%pos: memref<i64>) {
  %p = memref.load %pos[] : memref<i64>
  func.call @lq_rt_cuda_use(%p) : (i64) -> ()
  return
}

// -----

// A small buffer the device wrote is copied back to a host buffer and read
// there, after a wait.
// CHECK-LABEL: func.func @device_scalar
// CHECK: %[[DEV:.+]], %{{.+}} = gpu.alloc async
// CHECK: gpu.launch
// CHECK: %[[HOST:.+]] = memref.alloc() : memref<i64>
// CHECK: %[[T:.+]] = gpu.memcpy async [%{{.+}}] %[[HOST]], %[[DEV]]
// CHECK-NEXT: gpu.wait [%[[T]]]
// CHECK-NOT: lq.host_wait
// CHECK: %[[P:.+]] = memref.load %[[HOST]][] : memref<i64>
// CHECK-NOT: lq.host_read
// CHECK: memref.dealloc %[[HOST]]
// CHECK: call @lq_rt_cuda_use(%[[P]])
func.func private @lq_rt_cuda_use(i64)
func.func @device_scalar() {
  %c1 = arith.constant 1 : index
  %c7 = arith.constant 7 : i64
  %pos = memref.alloc() : memref<i64>
  gpu.launch blocks(%b0, %b1, %b2) in (%g0 = %c1, %g1 = %c1, %g2 = %c1) threads(%t0, %t1, %t2) in (%s0 = %c1, %s1 = %c1, %s2 = %c1) {
    memref.store %c7, %pos[] : memref<i64>
    gpu.terminator
  }
  %p = memref.load %pos[] : memref<i64>
  func.call @lq_rt_cuda_use(%p) : (i64) -> ()
  memref.dealloc %pos : memref<i64>
  return
}

// -----

// A constant (a weight) is copied to the device once, by the runtime, on the
// first call: lq_rt_cuda_resident caches the pointer in the module's slot
// @w__lq_device. The launch reads that device copy; nothing is freed per
// call, and the second function reuses the same slot.
// CHECK-DAG: memref.global "private" @w__lq_device : memref<1xi64> = dense<0>
// CHECK-DAG: func.func private @lq_rt_cuda_resident(i64, i64, i64) -> i64 attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @weights
// CHECK: %[[W:.+]] = memref.get_global @w : memref<2x3xf32>
// CHECK: %[[SLOT:.+]] = memref.get_global @w__lq_device : memref<1xi64>
// CHECK-NOT: lq.host_slot
// CHECK: %[[SP:.+]] = memref.extract_aligned_pointer_as_index %[[SLOT]]
// CHECK: %[[SPI:.+]] = arith.index_cast %[[SP]] : index to i64
// CHECK: %[[BYTES:.+]] = arith.constant 24 : i64
// CHECK: %[[WP:.+]] = memref.extract_aligned_pointer_as_index %[[W]]
// CHECK: %[[WPI:.+]] = arith.index_cast %[[WP]] : index to i64
// CHECK: %[[DEV:.+]] = call @lq_rt_cuda_resident(%[[SPI]], %[[WPI]], %[[BYTES]])
// CHECK-NOT: mgpuStreamSynchronize
// CHECK: llvm.inttoptr %[[DEV]]
// CHECK: %[[D:.+]] = builtin.unrealized_conversion_cast %{{.+}} : !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)> to memref<2x3xf32>
// CHECK-NOT: gpu.memcpy async [%{{.+}}] %{{.+}}, %[[W]]
// CHECK: gpu.launch
// CHECK: memref.load %[[D]]
// CHECK-NOT: gpu.dealloc async [%{{.+}}] %[[D]]
// CHECK: return
// CHECK-LABEL: func.func @weights_again
// CHECK: memref.get_global @w__lq_device
// CHECK: call @lq_rt_cuda_resident
// resident-constants=false (the baseline): a device copy per call, freed at
// the return.
// COPY-LABEL: func.func @weights(
// COPY-NOT: lq_rt_cuda_resident
// COPY: %[[W:.+]] = memref.get_global @w : memref<2x3xf32>
// COPY: %[[D:.+]], %{{.+}} = gpu.alloc async
// COPY: gpu.memcpy async [%{{.+}}] %[[D]], %[[W]]
// COPY: gpu.dealloc async [%{{.+}}] %[[D]]
// COPY: return
memref.global "private" constant @w : memref<2x3xf32> = dense<1.0>
func.func @weights(%x: memref<6xf32>) -> memref<6xf32> {
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %w = memref.get_global @w : memref<2x3xf32>
  %y = memref.alloc() : memref<6xf32>
  gpu.launch blocks(%b0, %b1, %b2) in (%g0 = %c1, %g1 = %c1, %g2 = %c1) threads(%t0, %t1, %t2) in (%s0 = %c2, %s1 = %c3, %s2 = %c1) {
    %v = memref.load %w[%t0, %t1] : memref<2x3xf32>
    %i = arith.muli %t0, %c3 : index
    %j = arith.addi %i, %t1 : index
    memref.store %v, %y[%j] : memref<6xf32>
    gpu.terminator
  }
  return %y : memref<6xf32>
}
func.func @weights_again() -> f32 {
  %w = memref.get_global @w : memref<2x3xf32>
  %c0 = arith.constant 0 : index
  %v = memref.load %w[%c0, %c0] : memref<2x3xf32>
  return %v : f32
}
