# liblq_rt_cuda: lq_rt's CUDA kernels and the mgpu* host ABI, built with nvcc
# when a CUDA toolkit is found (a separate library, so liblq_rt never
# depends on CUDA). Also the gpu_check program (bench/gpu-check.sh).
if(NOT LQ_RT_ENABLE_CUDA)
  message(STATUS "lq_rt: LQ_RT_ENABLE_CUDA is OFF, not building lq_rt_cuda")
  return()
endif()

if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX}
   AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  message(STATUS "lq_rt: no CUDA compiler found (nvcc), skipping lq_rt_cuda "
                 "and the GPU kernels")
  return()
endif()
find_package(CUDAToolkit QUIET)
if(NOT CUDAToolkit_FOUND OR NOT TARGET CUDA::cublasLt)
  message(STATUS "lq_rt: CUDA toolkit (cudart, cuBLASLt) not found, skipping "
                 "lq_rt_cuda")
  return()
endif()
if(NOT CMAKE_CUDA_ARCHITECTURES)
  # No GPU on the build machines: never "native". sm_80 (A100), sm_89
  # (L40/Ada, first FP8), sm_90a (H100/H200).
  set(CMAKE_CUDA_ARCHITECTURES "80;89;90a")
endif()
find_program(LQ_RT_CCACHE ccache)
if(LQ_RT_CCACHE)
  set(CMAKE_CUDA_COMPILER_LAUNCHER "${LQ_RT_CCACHE}")
endif()
enable_language(CUDA)
message(STATUS "lq_rt: building lq_rt_cuda with ${CMAKE_CUDA_COMPILER} "
               "(CUDA ${CUDAToolkit_VERSION}, archs ${CMAKE_CUDA_ARCHITECTURES})")

set(_lq_cuda_dir ${CMAKE_CURRENT_SOURCE_DIR}/src/cuda)
add_library(lq_rt_cuda SHARED
  ${_lq_cuda_dir}/attention.cu
  ${_lq_cuda_dir}/device.cpp
  ${_lq_cuda_dir}/hadamard.cu
  ${_lq_cuda_dir}/lt_gemm.cpp
  ${_lq_cuda_dir}/mgpu.cpp
  ${_lq_cuda_dir}/misc.cu
  ${_lq_cuda_dir}/mlir_abi.cpp
  ${_lq_cuda_dir}/qgemm_tc.cu
  ${_lq_cuda_dir}/qgemv.cu)
set_target_properties(lq_rt_cuda PROPERTIES
  CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}"
  CUDA_STANDARD 17
  CUDA_STANDARD_REQUIRED ON
  CXX_EXTENSIONS OFF
  POSITION_INDEPENDENT_CODE ON)
target_compile_features(lq_rt_cuda PRIVATE cxx_std_17)
target_link_libraries(lq_rt_cuda
  PUBLIC lq_rt_headers CUDA::cudart
  PRIVATE CUDA::cublasLt)
target_compile_options(lq_rt_cuda PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -lineinfo>
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra>)

# The GPU check/benchmark program (CUDA C++; needs neither gtest nor MLIR).
add_executable(gpu_check ${CMAKE_CURRENT_SOURCE_DIR}/tools/gpu_check.cu)
set_target_properties(gpu_check PROPERTIES
  CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}"
  CUDA_STANDARD 17)
target_link_libraries(gpu_check PRIVATE lq_rt_cuda lq_rt CUDA::cudart
  CUDA::cublasLt)
