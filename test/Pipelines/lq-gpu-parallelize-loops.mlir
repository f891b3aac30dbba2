// RUN: quant-opt %s --pass-pipeline='builtin.module(func.func(lq-gpu-parallelize-loops{block-size=128}))' | FileCheck %s

// A 2-D parallel loop of 3 x 100 = 300 iterations becomes ceil(300 / 128) = 3
// blocks of 128 threads; the original indices come back from the linear
// index under an in-bounds guard.
// CHECK-LABEL: func.func @nest
// CHECK: %[[N0:.+]] = arith.ceildivui
// CHECK: %[[N1:.+]] = arith.ceildivui
// CHECK: %[[TOTAL:.+]] = arith.muli %[[N0]], %[[N1]]
// CHECK: %[[C128:.+]] = arith.constant 128 : index
// CHECK: %[[BLOCKS:.+]] = arith.ceildivui %[[TOTAL]], %[[C128]]
// CHECK: scf.parallel (%[[B:.+]]) = (%{{.+}}) to (%[[BLOCKS]])
// CHECK: scf.parallel (%[[T:.+]]) = (%{{.+}}) to (%[[C128]])
// CHECK: %[[BB:.+]] = arith.muli %[[B]], %[[C128]]
// CHECK: %[[LIN:.+]] = arith.addi %[[BB]], %[[T]]
// CHECK: %[[IN:.+]] = arith.cmpi ult, %[[LIN]], %[[TOTAL]]
// CHECK: scf.if %[[IN]]
// CHECK: %[[J:.+]] = arith.remui %[[LIN]], %[[N1]]
// CHECK: %[[I:.+]] = arith.divui %[[LIN]], %[[N1]]
// CHECK: memref.store
func.func @nest(%m: memref<3x100xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c100 = arith.constant 100 : index
  %z = arith.constant 0.0 : f32
  scf.parallel (%i, %j) = (%c0, %c0) to (%c3, %c100) step (%c1, %c1) {
    memref.store %z, %m[%i, %j] : memref<3x100xf32>
    scf.reduce
  }
  return
}

// A sequential loop (a reduction with no parallel dimension) runs on one
// device thread: a 1 x 1 nest around the loop.
// CHECK-LABEL: func.func @sequential
// CHECK: scf.parallel
// CHECK: scf.parallel
// CHECK: scf.if
// CHECK: scf.for
func.func @sequential(%m: memref<8xf32>, %acc: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  scf.for %k = %c0 to %c8 step %c1 {
    %a = memref.load %m[%k] : memref<8xf32>
    %s = memref.load %acc[] : memref<f32>
    %t = arith.addf %a, %s : f32
    memref.store %t, %acc[] : memref<f32>
  }
  return
}

// A reduction over 256 values (a decode step's RMS norm) becomes one block
// whose threads each sum a strided share in a register; gpu.all_reduce adds
// the shares and thread 0 adds the total to the accumulator.
// CHECK-LABEL: func.func @block_reduction
// CHECK-SAME: (%[[X:.+]]: memref<1x256xf32>, %[[ACC:.+]]: memref<1xf32>)
// CHECK: gpu.launch blocks(%[[B:.+]], %{{.+}}, %{{.+}}) in (%{{.+}} = %c1{{.*}}, %{{.+}} = %c1{{.*}}, %{{.+}} = %c1{{.*}}) threads(%[[T:.+]], %{{.+}}, %{{.+}}) in (%{{.+}} = %c128{{.*}}, %{{.+}} = %c1{{.*}}, %{{.+}} = %c1{{.*}})
// CHECK: %[[START:.+]] = arith.addi %c0{{.*}}, %{{.+}} : index
// CHECK: %[[P:.+]] = scf.for %[[K:.+]] = %[[START]] to %c256{{.*}} step %{{.+}} iter_args(%[[S:.+]] = %cst{{.*}}) -> (f32)
// CHECK: memref.load %[[X]][%c0{{.*}}, %[[K]]]
// CHECK: arith.mulf
// CHECK: %[[N:.+]] = arith.addf %[[S]], %{{.+}} : f32
// CHECK: scf.yield %[[N]]
// CHECK: %[[TOT:.+]] = gpu.all_reduce add %[[P]] uniform {
// CHECK: arith.cmpi eq, %[[T]], %c0
// CHECK: scf.if
// CHECK: %[[OLD:.+]] = memref.load %[[ACC]][%c0{{.*}}]
// CHECK: %[[NEW:.+]] = arith.addf %[[OLD]], %[[TOT]] : f32
// CHECK: memref.store %[[NEW]], %[[ACC]][%c0{{.*}}]
// CHECK: gpu.terminator
// CHECK-NOT: scf.parallel
func.func @block_reduction(%x: memref<1x256xf32>, %acc: memref<1xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  scf.for %k = %c0 to %c256 step %c1 {
    %a = memref.load %x[%c0, %k] : memref<1x256xf32>
    %s = memref.load %acc[%c0] : memref<1xf32>
    %m = arith.mulf %a, %a : f32
    %t = arith.addf %s, %m : f32
    memref.store %t, %acc[%c0] : memref<1xf32>
  }
  return
}

// Rows of a prefill: one block per row (the parallel loop's 6 x 4 = 24
// outputs, delinearized from the block id), a max over 4096 values with 128
// threads (the block size) starting from -inf.
// CHECK-LABEL: func.func @rows_max
// CHECK: %[[N0:.+]] = arith.muli %c1{{.*}}, %{{.+}} : index
// CHECK: %[[N:.+]] = arith.muli %[[N0]], %{{.+}} : index
// CHECK: gpu.launch blocks(%[[B:.+]], %{{.+}}, %{{.+}}) in (%{{.+}} = %[[N]]
// CHECK-DAG: arith.remui %[[B]]
// CHECK-DAG: arith.divui %[[B]]
// CHECK: %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK: scf.for {{.*}} iter_args(%{{.+}} = %[[NEGINF]]) -> (f32)
// CHECK: arith.maximumf
// CHECK: gpu.all_reduce maximumf
func.func @rows_max(%x: memref<6x4x4096xf32>, %out: memref<6x4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c6 = arith.constant 6 : index
  %c4096 = arith.constant 4096 : index
  scf.parallel (%i, %j) = (%c0, %c0) to (%c6, %c4) step (%c1, %c1) {
    scf.for %k = %c0 to %c4096 step %c1 {
      %a = memref.load %x[%i, %j, %k] : memref<6x4x4096xf32>
      %s = memref.load %out[%i, %j] : memref<6x4xf32>
      %t = arith.maximumf %s, %a : f32
      memref.store %t, %out[%i, %j] : memref<6x4xf32>
    }
    scf.reduce
  }
  return
}

// Not block reductions: an accumulator indexed by the loop (a prefix sum),
// and an f64 sum (gpu.all_reduce's shuffles carry 32 bits): one thread per
// output, as before.
// CHECK-LABEL: func.func @moving_accumulator
// CHECK-NOT: gpu.all_reduce
// CHECK: scf.parallel
// CHECK-LABEL: func.func @f64_sum
// CHECK-NOT: gpu.all_reduce
// CHECK: scf.parallel
func.func @moving_accumulator(%x: memref<256xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  scf.for %k = %c1 to %c256 step %c1 {
    %p = arith.subi %k, %c1 : index
    %a = memref.load %x[%p] : memref<256xf32>
    %s = memref.load %x[%k] : memref<256xf32>
    %t = arith.addf %s, %a : f32
    memref.store %t, %x[%k] : memref<256xf32>
  }
  return
}
func.func @f64_sum(%x: memref<256xf64>, %acc: memref<f64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  scf.for %k = %c0 to %c256 step %c1 {
    %a = memref.load %x[%k] : memref<256xf64>
    %s = memref.load %acc[] : memref<f64>
    %t = arith.addf %s, %a : f64
    memref.store %t, %acc[] : memref<f64>
  }
  return
}

// Not reductions either: the accumulator read once before the loop (the
// loop keeps only the last term), a call in the body (side effects), a
// load of the accumulator through a view of its buffer, and a matmul-like
// nest with 256 x 256 outputs (a block per output would idle most threads).
// CHECK-LABEL: func.func @load_before_loop
// CHECK-NOT: gpu.all_reduce
// CHECK-LABEL: func.func @call_in_body
// CHECK-NOT: gpu.all_reduce
// CHECK-LABEL: func.func @aliased_accumulator
// CHECK-NOT: gpu.all_reduce
// CHECK-LABEL: func.func @many_outputs
// CHECK-NOT: gpu.all_reduce
// A thread per output, which folds into a register: one load and one store
// of the accumulator instead of one per iteration.
// CHECK: scf.if
// CHECK: %[[INIT:.+]] = memref.load %arg2
// CHECK-NEXT: %[[SUM:.+]] = scf.for {{.*}} iter_args(%[[A:.+]] = %[[INIT]]) -> (f32)
// CHECK-NOT: memref.load %arg2
// CHECK: arith.addf %[[A]]
// CHECK: memref.store %[[SUM]], %arg2
// CHECK: return
func.func @load_before_loop(%x: memref<256xf32>, %acc: memref<1xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  %s = memref.load %acc[%c0] : memref<1xf32>
  scf.for %k = %c0 to %c256 step %c1 {
    %a = memref.load %x[%k] : memref<256xf32>
    %t = arith.addf %s, %a : f32
    memref.store %t, %acc[%c0] : memref<1xf32>
  }
  return
}
func.func private @observe(f32)
func.func @call_in_body(%x: memref<256xf32>, %acc: memref<1xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  scf.for %k = %c0 to %c256 step %c1 {
    %a = memref.load %x[%k] : memref<256xf32>
    func.call @observe(%a) : (f32) -> ()
    %s = memref.load %acc[%c0] : memref<1xf32>
    %t = arith.addf %s, %a : f32
    memref.store %t, %acc[%c0] : memref<1xf32>
  }
  return
}
func.func @aliased_accumulator(%buf: memref<257xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  %view = memref.subview %buf[1] [256] [1] : memref<257xf32> to memref<256xf32, strided<[1], offset: 1>>
  scf.for %k = %c0 to %c256 step %c1 {
    %a = memref.load %view[%k] : memref<256xf32, strided<[1], offset: 1>>
    %s = memref.load %buf[%c0] : memref<257xf32>
    %t = arith.addf %s, %a : f32
    memref.store %t, %buf[%c0] : memref<257xf32>
  }
  return
}
func.func @many_outputs(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  scf.parallel (%i, %j) = (%c0, %c0) to (%c256, %c256) step (%c1, %c1) {
    scf.for %k = %c0 to %c256 step %c1 {
      %x = memref.load %a[%i, %k] : memref<256x256xf32>
      %y = memref.load %b[%k, %j] : memref<256x256xf32>
      %m = arith.mulf %x, %y : f32
      %s = memref.load %c[%i, %j] : memref<256x256xf32>
      %t = arith.addf %s, %m : f32
      memref.store %t, %c[%i, %j] : memref<256x256xf32>
    }
    scf.reduce
  }
  return
}

// A zero-fill of the accumulator right before its block reduction (a decode
// step's RMSNorm: fill, then the sum) is folded into the reduction: thread 0
// adds the total to the constant, and no one-thread kernel stores the zero.
// CHECK-LABEL: func.func @fill_then_reduce
// CHECK-SAME: (%[[X:.+]]: memref<256xf32>, %[[ACC:.+]]: memref<1xf32>)
// CHECK: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NOT: scf.parallel
// CHECK: gpu.launch
// CHECK: %[[TOT:.+]] = gpu.all_reduce add
// CHECK: scf.if
// CHECK-NOT: memref.load %[[ACC]]
// CHECK: %[[NEW:.+]] = arith.addf %[[ZERO]], %[[TOT]] : f32
// CHECK: memref.store %[[NEW]], %[[ACC]]
// CHECK-NOT: scf.parallel
// CHECK: return
func.func @fill_then_reduce(%x: memref<256xf32>, %acc: memref<1xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  %zero = arith.constant 0.0 : f32
  memref.store %zero, %acc[%c0] : memref<1xf32>
  scf.for %k = %c0 to %c256 step %c1 {
    %a = memref.load %x[%k] : memref<256xf32>
    %s = memref.load %acc[%c0] : memref<1xf32>
    %t = arith.addf %s, %a : f32
    memref.store %t, %acc[%c0] : memref<1xf32>
  }
  return
}
