// RUN: quant-opt %s --lq-gpu-device-buffers=stream-ordered=true -split-input-file | FileCheck %s

// Every step of the entry block is one chain of tokens: allocation, input
// copy, launch, result copy. The host waits once, for the result it reads;
// the frees after it start a new chain that nobody waits for.
// CHECK-LABEL: func.func @copy_in_out
// CHECK-SAME: (%[[ARG:.+]]: memref<4xf32>)
// CHECK: %[[T0:.+]] = gpu.wait async
// CHECK-NEXT: %[[IN:.+]], %[[T1:.+]] = gpu.alloc async [%[[T0]]] () : memref<4xf32>
// CHECK-NEXT: %[[T2:.+]] = gpu.memcpy async [%[[T1]]] %[[IN]], %[[ARG]]
// CHECK-NOT: gpu.wait
// CHECK: %[[OUT:.+]], %[[T3:.+]] = gpu.alloc async [%[[T2]]] () : memref<4xf32>
// CHECK-NOT: gpu.wait
// CHECK: %[[T4:.+]] = gpu.launch async [%[[T3]]]
// CHECK: memref.load %[[IN]]
// CHECK: memref.store %{{.+}}, %[[OUT]]
// CHECK: %[[HOST:.+]] = memref.alloc() : memref<4xf32>
// CHECK-NEXT: %[[T5:.+]] = gpu.memcpy async [%[[T4]]] %[[HOST]], %[[OUT]]
// CHECK-NEXT: gpu.wait [%[[T5]]]
// CHECK-NOT: lq.host_wait
// CHECK-NEXT: %[[T6:.+]] = gpu.wait async
// CHECK-NEXT: %[[T7:.+]] = gpu.dealloc async [%[[T6]]] %[[OUT]]
// CHECK-NEXT: %{{.+}} = gpu.dealloc async [%[[T7]]] %[[IN]]
// CHECK-NEXT: return %[[HOST]]
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

// A runtime kernel between two launches: no synchronization after it (it
// runs on the stream the chain's gpu.wait async returns), and the second
// launch continues the chain of the first.
// CHECK-LABEL: func.func private @work
// CHECK: %[[T1:.+]] = gpu.launch async
// CHECK: call @lq_rt_cuda_scale
// CHECK-NOT: mgpuStreamSynchronize
// CHECK-NOT: gpu.wait
// CHECK: gpu.launch async [%[[T1]]]
// CHECK-NOT: mgpuStreamSynchronize
// CHECK-LABEL: func.func @runtime_call
// CHECK: gpu.alloc async
// CHECK-NEXT: call @work
// CHECK-NEXT: gpu.dealloc async
// CHECK-NOT: gpu.wait
// CHECK: return
func.func private @lq_rt_cuda_scale(memref<4xf32>)
func.func private @work(%y: memref<4xf32>) {
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %f = arith.constant 2.0 : f32
  gpu.launch blocks(%b0, %b1, %b2) in (%g0 = %c1, %g1 = %c1, %g2 = %c1) threads(%t0, %t1, %t2) in (%s0 = %c4, %s1 = %c1, %s2 = %c1) {
    memref.store %f, %y[%t0] : memref<4xf32>
    gpu.terminator
  }
  func.call @lq_rt_cuda_scale(%y) : (memref<4xf32>) -> ()
  gpu.launch blocks(%b0, %b1, %b2) in (%g0 = %c1, %g1 = %c1, %g2 = %c1) threads(%t0, %t1, %t2) in (%s0 = %c4, %s1 = %c1, %s2 = %c1) {
    %v = memref.load %y[%t0] : memref<4xf32>
    %w = arith.addf %v, %v : f32
    memref.store %w, %y[%t0] : memref<4xf32>
    gpu.terminator
  }
  return
}
func.func @runtime_call() {
  %y = memref.alloc() : memref<4xf32>
  func.call @work(%y) : (memref<4xf32>) -> ()
  memref.dealloc %y : memref<4xf32>
  return
}

// -----

// A scalar the device wrote and the host reads: the one wait of the call,
// right before the read; the chain starts again after it.
// CHECK-LABEL: func.func @device_scalar
// CHECK: %[[T1:.+]] = gpu.launch async
// CHECK: %[[HOST:.+]] = memref.alloc() : memref<i64>
// CHECK-NEXT: %[[T2:.+]] = gpu.memcpy async [%[[T1]]] %[[HOST]]
// CHECK-NEXT: gpu.wait [%[[T2]]]
// CHECK-NEXT: %[[P:.+]] = memref.load %[[HOST]][] : memref<i64>
// CHECK: call @lq_rt_cuda_use(%[[P]])
// CHECK: %[[T3:.+]] = gpu.wait async
// CHECK-NEXT: gpu.dealloc async [%[[T3]]]
// CHECK-NOT: gpu.wait
// CHECK: return
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

// A step inside a nested region keeps its own stream and wait; the entry
// block's chain goes on around it.
// CHECK-LABEL: func.func @nested
// CHECK: gpu.alloc async
// CHECK: scf.if
// CHECK: %[[T:.+]] = gpu.wait async
// CHECK-NEXT: %[[C:.+]] = gpu.memcpy async [%[[T]]]
// CHECK-NEXT: gpu.wait [%[[C]]]
// CHECK: }
// CHECK: gpu.dealloc async
func.func @nested(%c: i1) {
  %a = memref.alloc() : memref<4xf32>
  %b = memref.alloc() : memref<4xf32>
  scf.if %c {
    memref.copy %a, %b : memref<4xf32> to memref<4xf32>
  }
  memref.dealloc %a : memref<4xf32>
  memref.dealloc %b : memref<4xf32>
  return
}
