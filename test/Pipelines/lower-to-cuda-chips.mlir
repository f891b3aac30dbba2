// RUN: quant-opt %s --lower-to-cuda="chip=sm_80 cubin-format=isa" | FileCheck %s --check-prefix=SM80
// RUN: quant-opt %s --lower-to-cuda="chip=sm_89 cubin-format=isa" | FileCheck %s --check-prefix=SM89
// RUN: quant-opt %s --lower-to-cuda="chip=sm_100a cubin-format=isa" | FileCheck %s --check-prefix=SM100A
// RUN: quant-opt %s --lower-to-cuda="chip=sm_90a cubin-features=+ptx88 cubin-format=isa" | FileCheck %s --check-prefix=PTX88

// Each chip gets the oldest PTX ISA LLVM accepts for it unless
// cubin-features says otherwise (upstream's default, +ptx60, aborts on all
// of them).
// SM80: gpu.binary @relu_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx70">
// SM80-SAME: .version 7.0
// SM80-SAME: .target sm_80
// SM80-SAME: max.f32
// SM89: features = "+ptx78"
// SM89-SAME: .version 7.8
// SM89-SAME: .target sm_89
// SM100A: features = "+ptx86"
// SM100A-SAME: .version 8.6
// SM100A-SAME: .target sm_100a
// PTX88: features = "+ptx88"
// PTX88-SAME: .version 8.8
// PTX88-SAME: .target sm_90a
func.func @relu(%x: tensor<64xf32>) -> tensor<64xf32> {
  %e = tensor.empty() : tensor<64xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%x : tensor<64xf32>) outs(%e : tensor<64xf32>) {
  ^bb0(%a: f32, %o: f32):
    %z = arith.constant 0.0 : f32
    %r = arith.maxnumf %a, %z : f32
    linalg.yield %r : f32
  } -> tensor<64xf32>
  return %y : tensor<64xf32>
}
