// RUN: quant-opt %s --lower-to-cuda="chip=sm_70 cubin-format=isa" -verify-diagnostics
// RUN: not quant-opt %s --lower-to-cuda="chip=sm_90a cubin-features=+ptx70" 2>&1 | FileCheck %s --check-prefix=OLDPTX
// RUN: not quant-opt %s --lower-to-cuda="chip=sm_100a cubin-features=+ptx95" 2>&1 | FileCheck %s --check-prefix=NEWPTX
// RUN: not quant-opt %s --lower-to-cuda="chip=sm_90a cubin-features=ptx80" 2>&1 | FileCheck %s --check-prefix=BADFEAT
// RUN: not quant-opt %s --lower-to-cuda="chip=sm_90a cubin-format=isa block-size=0" 2>&1 | FileCheck %s --check-prefix=BLOCK
// RUN: not quant-opt %s --lower-to-cuda="chip=sm_90a cubin-format=isa block-size=2048" 2>&1 | FileCheck %s --check-prefix=BLOCK

// Bad --lower-to-cuda options fail before any lowering, on the module, with
// the supported values; CUDA 13 has no sm_7x and LLVM aborts on a PTX ISA
// older than the chip's, so neither reaches codegen.

// expected-error @below {{--lower-to-cuda: unknown chip 'sm_70' (supported: sm_80, sm_86, sm_89, sm_90, sm_90a, sm_100, sm_100a, sm_120, sm_120a)}}
module {
  func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// NEWPTX: error: --lower-to-cuda: +ptx95 cannot target sm_100a (PTX ISA 8.6 to 9.0: use +ptx86 or newer)
// OLDPTX: error: --lower-to-cuda: +ptx70 cannot target sm_90a (PTX ISA 8.0 to 9.0: use +ptx80 or newer)
// BADFEAT: error: --lower-to-cuda: cubin-features must be '+ptxNN', got 'ptx80'
// BLOCK: error: lq-gpu-parallelize-loops: 'block-size' must be in [1, 1024], got
