// RUN: quant-opt %s --lq-gpu-device-buffers=device-kv-caches=true | FileCheck %s
// RUN: quant-opt %s --lq-gpu-device-buffers | FileCheck %s --check-prefix=BACK

// device-kv-caches: a cache updated in place is the device buffer that
// lq_rt_cuda_kv_shadow keeps for the caller's buffer (a {host, device,
// bytes} slot per cache); it is uploaded when the step starts at position 0
// (refresh = 1) and never copied back. The position is read on the host.
// CHECK-DAG: memref.global "private" @step__lq_kv1 : memref<3xi64> = dense<0>
// CHECK-DAG: func.func private @lq_rt_cuda_kv_shadow(i64, i64, i64, i32) -> i64 attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @step
// CHECK-SAME: (%[[X:.+]]: memref<4xf32>, %[[K:.+]]: memref<1x2x8x4xf32>, %[[POS:.+]]: memref<i64> {onnx.name = "position"})
// CHECK: %[[P:.+]] = memref.load %[[POS]][] : memref<i64>
// CHECK: %[[IS0:.+]] = arith.cmpi eq, %[[P]], %c0_i64
// CHECK: %[[REFRESH:.+]] = arith.extui %[[IS0]] : i1 to i32
// CHECK: %[[SLOT:.+]] = memref.get_global @step__lq_kv1
// CHECK: %[[BYTES:.+]] = arith.constant 256 : i64
// CHECK: %{{.+}}, %[[OFF:.+]], %{{.+}}:4, %{{.+}}:4 = memref.extract_strided_metadata %[[K]]
// CHECK: %[[HP:.+]] = memref.extract_aligned_pointer_as_index %[[K]]
// CHECK: %[[HPI:.+]] = arith.index_cast %[[HP]]
// CHECK: %[[HOST:.+]] = arith.addi %[[HPI]], %{{.+}} : i64
// CHECK: %[[DEV:.+]] = call @lq_rt_cuda_kv_shadow(%{{.+}}, %[[HOST]], %[[BYTES]], %[[REFRESH]])
// CHECK: %[[D:.+]] = builtin.unrealized_conversion_cast %{{.+}} : !llvm.struct<(ptr, ptr, i64, array<4 x i64>, array<4 x i64>)> to memref<1x2x8x4xf32>
// CHECK-NOT: gpu.memcpy async [%{{.+}}] %{{.+}}, %[[K]]
// CHECK: gpu.launch
// CHECK: memref.store %{{.+}}, %[[D]]
// CHECK-NOT: gpu.memcpy async [%{{.+}}] %[[K]]
// CHECK-NOT: gpu.dealloc async [%{{.+}}] %[[D]]
// CHECK: return
// CHECK-NOT: lq.kv_cache_in_place
// Without device-kv-caches: a device copy per call, copied back into the
// caller's buffer (its contents are the cache) before the return.
// BACK-LABEL: func.func @step
// BACK-SAME: (%[[X:.+]]: memref<4xf32>, %[[K:.+]]: memref<1x2x8x4xf32>, %[[POS:.+]]: memref<i64> {onnx.name = "position"})
// BACK-NOT: lq_rt_cuda_kv_shadow
// BACK: %[[KD:.+]], %{{.+}} = gpu.alloc async {{.*}} : memref<1x2x8x4xf32>
// BACK: gpu.memcpy async [%{{.+}}] %[[KD]], %[[K]]
// BACK: gpu.launch
// BACK: %[[T:.+]] = gpu.memcpy async [%{{.+}}] %[[K]], %[[KD]]
// BACK-NEXT: gpu.wait [%[[T]]]
// BACK: gpu.dealloc async [%{{.+}}] %[[KD]]
// BACK: return
func.func @step(%x: memref<4xf32>, %k: memref<1x2x8x4xf32> {lq.kv_cache_in_place}, %pos: memref<i64> {onnx.name = "position"}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %p = memref.load %pos[] : memref<i64>
  %pi = arith.index_cast %p : i64 to index
  gpu.launch blocks(%b0, %b1, %b2) in (%g0 = %c1, %g1 = %c1, %g2 = %c1) threads(%t0, %t1, %t2) in (%s0 = %c4, %s1 = %c1, %s2 = %c1) {
    %v = memref.load %x[%t0] : memref<4xf32>
    memref.store %v, %k[%c0, %c0, %pi, %t0] : memref<1x2x8x4xf32>
    gpu.terminator
  }
  return
}

