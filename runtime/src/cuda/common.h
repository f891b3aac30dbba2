//===- common.h - Shared helpers of lq_rt's CUDA side -------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Internal to liblq_rt_cuda: error reporting (per-thread message + status),
// the lazily checked device, and launch checking. Included by both the
// host-only .cpp files (compiled by the C++ compiler) and the .cu files.
//
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_SRC_CUDA_COMMON_H
#define LQ_RT_SRC_CUDA_COMMON_H

#include "lq_rt/cuda.h"

#include <cuda_runtime_api.h>

namespace lq::cuda {

/// Records `fmt` as this thread's last error and returns `status`.
lq_cuda_status_t fail(lq_cuda_status_t status, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/// Maps a CUDA runtime error of `what` to a status and records a message.
/// cudaErrorInsufficientDriver / NoDevice / InitializationError become
/// LQ_CUDA_ERROR_NO_DEVICE ("no CUDA device / driver not found").
lq_cuda_status_t failCuda(cudaError_t err, const char *what);

/// LQ_CUDA_OK when a device is usable (checked once per process, then
/// cached); otherwise records why and returns LQ_CUDA_ERROR_NO_DEVICE.
lq_cuda_status_t ensureDevice();

/// Compute capability (major * 10 + minor) of the current device.
int computeCapability();

/// cudaGetLastError() after a launch of `what`.
lq_cuda_status_t checkLaunch(const char *what);

/// Opt-in shared memory per block of the current device.
size_t sharedPerBlockOptin();

inline cudaStream_t asStream(void *s) { return static_cast<cudaStream_t>(s); }

inline bool isFloatDtype(lq_dtype_t t) {
  return t == LQ_DTYPE_F32 || t == LQ_DTYPE_F16;
}

/// Validates the qgemm weight description shared by every quantized kernel
/// (format/bits/group/pointers/sizes). Returns LQ_CUDA_OK or records why.
lq_cuda_status_t validateQGemm(const char *fn, int64_t M, int64_t N, int64_t K,
                               const void *A, lq_dtype_t a_dtype, int64_t lda,
                               const uint8_t *codes, const float *scales,
                               lq_format_t format, int32_t bits,
                               int64_t group, const void *C,
                               lq_dtype_t c_dtype, int64_t ldc);

} // namespace lq::cuda

#endif // LQ_RT_SRC_CUDA_COMMON_H
