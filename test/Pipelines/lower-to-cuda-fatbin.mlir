// REQUIRES: ptxas
// RUN: quant-opt %s --lower-to-cuda="chip=sm_90a" | FileCheck %s
// RUN: quant-opt %s --lower-to-cuda="chip=sm_80 cubin-format=bin" | FileCheck %s --check-prefix=CUBIN

// The default output: ptxas and fatbinary from the CUDA toolkit turn each
// kernel into a fatbin (magic 0xBA55ED50) embedded in a gpu.binary, with the
// sm_90a cubin (an ELF image) inside; cubin-format=bin embeds the cubin.
// CHECK: llvm.func @scale
// CHECK: gpu.launch_func @scale_kernel::@scale_kernel
// CHECK: gpu.binary @scale_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, properties = {{.*}}, "P\EDU\BA
// CHECK-SAME: \7FELF
// CUBIN: gpu.binary @scale_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx70">, properties = {{.*}}, bin = "\7FELF
func.func @scale(%x: tensor<1000xf32>) -> tensor<1000xf32> {
  %e = tensor.empty() : tensor<1000xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%x : tensor<1000xf32>) outs(%e : tensor<1000xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.rsqrt %a : f32
    linalg.yield %r : f32
  } -> tensor<1000xf32>
  return %y : tensor<1000xf32>
}
