//===- device.cpp - Status, errors and device queries of lq_rt_cuda -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "common.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

namespace lq::cuda {

namespace {
thread_local std::string lastError;

struct DeviceState {
  lq_cuda_status_t status = LQ_CUDA_OK;
  std::string message;
};

const DeviceState &deviceState() {
  static DeviceState state;
  static std::once_flag once;
  std::call_once(once, [] {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      state.status = failCuda(err, "cudaGetDeviceCount");
      state.message = lastError;
    } else if (count == 0) {
      state.status = LQ_CUDA_ERROR_NO_DEVICE;
      state.message = "no CUDA device / driver not found: the driver reports "
                      "0 devices";
    }
  });
  return state;
}
} // namespace

lq_cuda_status_t fail(lq_cuda_status_t status, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  lastError = buf;
  return status;
}

lq_cuda_status_t failCuda(cudaError_t err, const char *what) {
  const char *name = cudaGetErrorName(err);
  const char *text = cudaGetErrorString(err);
  switch (err) {
  case cudaErrorInsufficientDriver:
  case cudaErrorNoDevice:
  case cudaErrorInitializationError:
  case cudaErrorStubLibrary:
  case cudaErrorDevicesUnavailable:
    return fail(LQ_CUDA_ERROR_NO_DEVICE,
                "no CUDA device / driver not found (%s: %s, %s)", what, name,
                text);
  case cudaErrorMemoryAllocation:
    return fail(LQ_CUDA_ERROR_OUT_OF_MEMORY, "%s: out of device memory (%s)",
                what, name);
  case cudaErrorNoKernelImageForDevice:
  case cudaErrorUnsupportedPtxVersion:
    return fail(LQ_CUDA_ERROR_UNSUPPORTED,
                "%s: lq_rt_cuda was built for sm_80/sm_89/sm_90a and has no "
                "code for this GPU (sm_%d): %s",
                what, computeCapability(), text);
  default:
    return fail(LQ_CUDA_ERROR_LAUNCH, "%s failed: %s (%s)", what, name, text);
  }
}

lq_cuda_status_t ensureDevice() {
  const DeviceState &s = deviceState();
  if (s.status != LQ_CUDA_OK)
    lastError = s.message;
  return s.status;
}

int computeCapability() {
  int dev = 0, major = 0, minor = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) !=
          cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) !=
          cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return major * 10 + minor;
}

size_t sharedPerBlockOptin() {
  int dev = 0, v = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin,
                             dev) != cudaSuccess) {
    (void)cudaGetLastError();
    return 48 * 1024;
  }
  return size_t(v);
}

lq_cuda_status_t checkLaunch(const char *what) {
  cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? LQ_CUDA_OK : failCuda(err, what);
}

namespace {
/// lq_format_name's names (liblq_rt_cuda does not link liblq_rt).
const char *formatName(lq_format_t f) {
  static const char *const names[] = {
      "int",        "nf4",        "fp8_e4m3",   "fp8_e5m2",   "mxfp4",
      "mxfp6_e2m3", "mxfp6_e3m2", "mxfp8_e4m3", "mxfp8_e5m2", "nvfp4"};
  return unsigned(f) < sizeof names / sizeof *names ? names[f] : "unknown";
}
} // namespace

lq_cuda_status_t validateQGemm(const char *fn, int64_t M, int64_t N, int64_t K,
                               const void *A, lq_dtype_t a_dtype, int64_t lda,
                               const uint8_t *codes, const float *scales,
                               lq_format_t format, int32_t bits,
                               int64_t group, const void *C,
                               lq_dtype_t c_dtype, int64_t ldc) {
  if (M <= 0 || N <= 0 || K <= 0)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "%s: sizes must be positive (M=%lld N=%lld K=%lld)", fn,
                (long long)M, (long long)N, (long long)K);
  if (!A || !codes || !scales || !C)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT, "%s: null pointer argument",
                fn);
  if (!isFloatDtype(a_dtype) || !isFloatDtype(c_dtype))
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "%s: activations and outputs must be f16 or f32 (got dtypes "
                "%d and %d)",
                fn, int(a_dtype), int(c_dtype));
  if (lda < K || ldc < N)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "%s: row strides too small (lda=%lld < K=%lld or ldc=%lld < "
                "N=%lld)",
                fn, (long long)lda, (long long)K, (long long)ldc,
                (long long)N);
  bool ok = (format == LQ_FORMAT_INT && (bits == 4 || bits == 8)) ||
            ((format == LQ_FORMAT_NF4 || format == LQ_FORMAT_MXFP4 ||
              format == LQ_FORMAT_NVFP4) &&
             bits == 4) ||
            ((format == LQ_FORMAT_FP8_E4M3 || format == LQ_FORMAT_FP8_E5M2) &&
             bits == 8);
  if (!ok)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "%s: unsupported weight format %d (%s) with %d bits (int "
                "4/8 bits, nf4/mxfp4/nvfp4 4 bits and fp8_e4m3/fp8_e5m2 8 "
                "bits are supported)",
                fn, int(format), formatName(format), int(bits));
  int64_t g = group <= 0 ? K : group;
  if (K % g != 0)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "%s: group %lld does not divide K=%lld", fn, (long long)g,
                (long long)K);
  if (bits == 4 && g != K && g % 2 != 0)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "%s: 4-bit groups must be even (group %lld)", fn,
                (long long)g);
  return LQ_CUDA_OK;
}

} // namespace lq::cuda

using namespace lq::cuda;

extern "C" {

const char *lq_cuda_status_string(lq_cuda_status_t status) {
  switch (status) {
  case LQ_CUDA_OK:
    return "success";
  case LQ_CUDA_ERROR_NO_DEVICE:
    return "no CUDA device / driver not found";
  case LQ_CUDA_ERROR_INVALID_ARGUMENT:
    return "invalid argument";
  case LQ_CUDA_ERROR_UNSUPPORTED:
    return "unsupported on this GPU or build";
  case LQ_CUDA_ERROR_OUT_OF_MEMORY:
    return "out of device memory";
  case LQ_CUDA_ERROR_LAUNCH:
    return "CUDA call failed";
  case LQ_CUDA_ERROR_LIBRARY:
    return "cuBLASLt call failed";
  }
  return "unknown status";
}

const char *lq_cuda_last_error(void) { return lastError.c_str(); }

lq_cuda_status_t lq_cuda_device_count(int *count) {
  if (!count)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "lq_cuda_device_count: null count");
  *count = 0;
  if (lq_cuda_status_t s = ensureDevice())
    return s;
  if (cudaError_t err = cudaGetDeviceCount(count))
    return failCuda(err, "cudaGetDeviceCount");
  return LQ_CUDA_OK;
}

lq_cuda_status_t lq_cuda_device_info(int device, lq_cuda_device_info_t *info) {
  if (!info)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "lq_cuda_device_info: null info");
  std::memset(info, 0, sizeof *info);
  if (lq_cuda_status_t s = ensureDevice())
    return s;
  int count = 0;
  (void)cudaGetDeviceCount(&count);
  if (device < 0 || device >= count)
    return fail(LQ_CUDA_ERROR_INVALID_ARGUMENT,
                "lq_cuda_device_info: device %d out of range (%d devices)",
                device, count);
  cudaDeviceProp p;
  if (cudaError_t err = cudaGetDeviceProperties(&p, device))
    return failCuda(err, "cudaGetDeviceProperties");
  std::snprintf(info->name, sizeof info->name, "%s", p.name);
  info->major = p.major;
  info->minor = p.minor;
  info->multiprocessors = p.multiProcessorCount;
  info->global_memory = int64_t(p.totalGlobalMem);
  info->l2_cache = int64_t(p.l2CacheSize);
  info->shared_per_block_optin = int64_t(p.sharedMemPerBlockOptin);
  (void)cudaDriverGetVersion(&info->driver_version);
  (void)cudaRuntimeGetVersion(&info->runtime_version);
  return LQ_CUDA_OK;
}

lq_cuda_status_t lq_cuda_synchronize(void *stream) {
  if (lq_cuda_status_t s = ensureDevice())
    return s;
  if (cudaError_t err = cudaStreamSynchronize(asStream(stream)))
    return failCuda(err, "cudaStreamSynchronize");
  return LQ_CUDA_OK;
}

} // extern "C"
