//===- mgpu.cpp - The host ABI of MLIR's gpu-to-llvm lowering ------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Code lowered by `gpu-to-llvm` (gpu.binary + gpu.launch_func, gpu.alloc,
// gpu.memcpy, gpu.wait, ...) calls these `mgpu*` functions. Upstream
// implements them in mlir/lib/ExecutionEngine/CudaRuntimeWrappers.cpp
// (libmlir_cuda_runtime.so), which Debian does not ship; this is our own
// implementation with the same C signatures as MLIR 22 emits them (checked
// against `mlir-opt --gpu-to-llvm | mlir-translate --mlir-to-llvmir`):
//   ptr  mgpuModuleLoad(ptr data, i64 size)
//   void mgpuLaunchKernel(ptr fn, i64 gx, gy, gz, bx, by, bz, i32 smem,
//                         ptr stream, ptr params, ptr extra, i64 nparams)
//   ptr  mgpuMemAlloc(i64 bytes, ptr stream, i8 hostShared)  ...
//
// Modules and launches go through the CUDA driver API; its entry points
// are looked up at run time through cudart (cudaGetDriverEntryPointByVersion),
// so the library loads on machines without a driver. Memory, streams and
// events use cudart, which shares the device's primary context with the
// driver calls. Unlike upstream, which prints and carries on, every failure
// prints one clear line naming the call and aborts: generated code has no
// error path, and carrying on would crash later with less information.
//
// Streams: mgpuStreamCreate returns the legacy default stream (0), the one
// lq_rt_cuda's kernels are enqueued on, and mgpuStreamDestroy of it does
// nothing. A compiled model's launches, copies and lq_rt_cuda calls then run
// in program order without the host waiting between them
// (lq-gpu-device-buffers' stream-ordered mode); upstream's IR, which may use
// several streams, stays correct, only serialized. Device buffers come from
// the device's stream-ordered pool (cudaMallocAsync / cudaFreeAsync), which
// keeps up to 1 GiB of freed memory for the next call instead of returning
// it to the driver, so a decode step allocates without a cudaMalloc or the
// device synchronization of a cudaFree.
//
//===----------------------------------------------------------------------===//

#include "common.h"

#include <cuda.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_set>

namespace {

thread_local int32_t defaultDevice = 0;
/// The device this thread last entered (enter() does the full check once).
thread_local int32_t enteredDevice = -1;

[[noreturn]] void die(const char *fn, const char *msg) {
  std::fprintf(stderr, "lq_rt_cuda: %s: %s\n", fn, msg);
  std::abort();
}

/// Makes the default device's primary context current (through cudart), or
/// dies with "no CUDA device / driver not found".
void enter(const char *fn) {
  if (enteredDevice == defaultDevice) {
    // Cheap (thread state only), and another library may have switched.
    if (cudaError_t err = cudaSetDevice(defaultDevice)) {
      lq::cuda::failCuda(err, "cudaSetDevice");
      die(fn, lq_cuda_last_error());
    }
    return;
  }
  if (lq::cuda::ensureDevice() != LQ_CUDA_OK)
    die(fn, lq_cuda_last_error());
  if (cudaError_t err = cudaSetDevice(defaultDevice)) {
    lq::cuda::failCuda(err, "cudaSetDevice");
    die(fn, lq_cuda_last_error());
  }
  if (cudaError_t err = cudaFree(nullptr)) { // forces context creation
    lq::cuda::failCuda(err, "cudaFree(0)");
    die(fn, lq_cuda_last_error());
  }
  enteredDevice = defaultDevice;
}

/// Whether `device` has a stream-ordered memory pool; the first time, its
/// default pool is told to keep up to 1 GiB of freed memory (its release
/// threshold), so that steady-state calls never go back to the driver
/// while larger transient peaks (a long prefill) are returned at the next
/// synchronization for plain cudaMalloc users (weights, cuBLASLt).
bool usePool(int device) {
  static std::mutex m;
  static signed char state[64]; // 0 unknown, 1 pool, -1 no pool
  if (device < 0 || device >= 64)
    return false;
  std::lock_guard<std::mutex> lock(m);
  if (state[device] == 0) {
    int supported = 0;
    cudaMemPool_t pool = nullptr;
    uint64_t keep = uint64_t(1) << 30;
    if (cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported,
                               device) == cudaSuccess &&
        supported &&
        cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess &&
        cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold,
                                &keep) == cudaSuccess) {
      state[device] = 1;
    } else {
      (void)cudaGetLastError();
      state[device] = -1;
    }
  }
  return state[device] > 0;
}

/// Managed (host-shared) allocations: freed with cudaFree, not to the pool.
std::mutex managedMutex;
std::unordered_set<void *> managed;

void checkRt(const char *fn, cudaError_t err, const char *what) {
  if (err != cudaSuccess) {
    lq::cuda::failCuda(err, what);
    die(fn, lq_cuda_last_error());
  }
}

struct Driver {
  CUresult (*getErrorName)(CUresult, const char **) = nullptr;
  CUresult (*moduleLoadData)(CUmodule *, const void *) = nullptr;
  CUresult (*moduleUnload)(CUmodule) = nullptr;
  CUresult (*moduleGetFunction)(CUfunction *, CUmodule, const char *) =
      nullptr;
  CUresult (*launchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                           unsigned, unsigned, unsigned, CUstream, void **,
                           void **) = nullptr;
  CUresult (*memsetD16Async)(CUdeviceptr, unsigned short, size_t,
                             CUstream) = nullptr;
  CUresult (*memsetD32Async)(CUdeviceptr, unsigned, size_t, CUstream) =
      nullptr;
};

template <typename F> void lookup(const char *fn, const char *sym, F &out) {
  void *p = nullptr;
  cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
  cudaError_t err =
      cudaGetDriverEntryPointByVersion(sym, &p, 12000, cudaEnableDefault, &q);
  if (err != cudaSuccess || q != cudaDriverEntryPointSuccess || !p) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "the CUDA driver has no entry point %s (%s)", sym,
                  cudaGetErrorString(err));
    die(fn, buf);
  }
  out = reinterpret_cast<F>(p);
}

const Driver &driver(const char *fn) {
  enter(fn);
  static Driver d = [fn] {
    Driver r;
    lookup(fn, "cuGetErrorName", r.getErrorName);
    lookup(fn, "cuModuleLoadData", r.moduleLoadData);
    lookup(fn, "cuModuleUnload", r.moduleUnload);
    lookup(fn, "cuModuleGetFunction", r.moduleGetFunction);
    lookup(fn, "cuLaunchKernel", r.launchKernel);
    lookup(fn, "cuMemsetD16Async", r.memsetD16Async);
    lookup(fn, "cuMemsetD32Async", r.memsetD32Async);
    return r;
  }();
  return d;
}

void checkDrv(const char *fn, CUresult r, const char *what) {
  if (r == CUDA_SUCCESS)
    return;
  const char *name = nullptr;
  if (driver(fn).getErrorName)
    driver(fn).getErrorName(r, &name);
  char buf[512];
  std::snprintf(buf, sizeof buf, "%s failed with %s", what,
                name ? name : "an unknown error");
  die(fn, buf);
}

/// "sm_90 (NVIDIA H100 80GB HBM3)" for the default device.
void describeDevice(char *buf, size_t n) {
  cudaDeviceProp p;
  if (cudaGetDeviceProperties(&p, defaultDevice) == cudaSuccess)
    std::snprintf(buf, n, "sm_%d%d (%s)", p.major, p.minor, p.name);
  else
    std::snprintf(buf, n, "device %d", defaultDevice);
}

/// The SM a cubin (ELF) was built for, from e_flags; 0 if unknown. Newer
/// toolkits keep it in bits 8..15, older ones in bits 0..7.
int cubinArch(const void *data, size_t size) {
  const auto *b = static_cast<const unsigned char *>(data);
  if (!b || size < 52 || std::memcmp(b, "\x7f" "ELF", 4) != 0 || b[4] != 2)
    return 0;
  uint32_t flags;
  std::memcpy(&flags, b + 48, 4);
  int lo = int(flags & 0xff), hi = int((flags >> 8) & 0xff);
  if (lo >= 50 && lo <= 130)
    return lo;
  if (hi >= 50 && hi <= 130)
    return hi;
  return 0;
}

} // namespace

extern "C" {

CUmodule mgpuModuleLoad(void *data, size_t gpuBlobSize) {
  const char *fn = "mgpuModuleLoad";
  const Driver &d = driver(fn);
  if (!data)
    die(fn, "null module image");
  CUmodule module = nullptr;
  CUresult r = d.moduleLoadData(&module, data);
  if (r == CUDA_ERROR_NO_BINARY_FOR_GPU || r == CUDA_ERROR_INVALID_IMAGE ||
      r == CUDA_ERROR_UNSUPPORTED_PTX_VERSION ||
      r == CUDA_ERROR_INVALID_PTX) {
    char dev[300], buf[700];
    describeDevice(dev, sizeof dev);
    const int arch = cubinArch(data, gpuBlobSize);
    if (arch)
      std::snprintf(buf, sizeof buf,
                    "the model's GPU code was compiled for sm_%d and cannot "
                    "run on this GPU, %s; recompile it for this chip",
                    arch, dev);
    else
      std::snprintf(buf, sizeof buf,
                    "the model's GPU code holds no binary this GPU, %s, can "
                    "load (it was compiled for another chip); recompile it "
                    "for this chip",
                    dev);
    die(fn, buf);
  }
  checkDrv(fn, r, "cuModuleLoadData");
  return module;
}

CUmodule mgpuModuleLoadJIT(void *data, int optLevel, size_t assemblySize) {
  (void)data;
  (void)optLevel;
  (void)assemblySize;
  die("mgpuModuleLoadJIT",
      "PTX JIT is not supported by lq_rt_cuda; compile the model with "
      "cubin or fatbin output (gpu-module-to-binary format=bin or fatbin)");
}

void mgpuModuleUnload(CUmodule module) {
  const char *fn = "mgpuModuleUnload";
  checkDrv(fn, driver(fn).moduleUnload(module), "cuModuleUnload");
}

CUfunction mgpuModuleGetFunction(CUmodule module, const char *name) {
  const char *fn = "mgpuModuleGetFunction";
  CUfunction f = nullptr;
  CUresult r = driver(fn).moduleGetFunction(&f, module, name);
  if (r != CUDA_SUCCESS) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "no kernel named '%s' in the module",
                  name ? name : "(null)");
    if (r == CUDA_ERROR_NOT_FOUND)
      die(fn, buf);
    checkDrv(fn, r, "cuModuleGetFunction");
  }
  return f;
}

void mgpuLaunchKernel(CUfunction function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, CUstream stream,
                      void **params, void **extra, size_t /*paramsCount*/) {
  const char *fn = "mgpuLaunchKernel";
  const Driver &d = driver(fn);
  if (gridX <= 0 || gridY <= 0 || gridZ <= 0 || blockX <= 0 || blockY <= 0 ||
      blockZ <= 0) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "invalid launch grid (%ld, %ld, %ld) x block (%ld, %ld, %ld)",
                  long(gridX), long(gridY), long(gridZ), long(blockX),
                  long(blockY), long(blockZ));
    die(fn, buf);
  }
  checkDrv(fn,
           d.launchKernel(function, unsigned(gridX), unsigned(gridY),
                          unsigned(gridZ), unsigned(blockX), unsigned(blockY),
                          unsigned(blockZ), unsigned(smem), stream, params,
                          extra),
           "cuLaunchKernel");
}

/// The legacy default stream (see the file comment): every compiled-model
/// step and every lq_rt_cuda kernel in one order.
CUstream mgpuStreamCreate() {
  enter("mgpuStreamCreate");
  return nullptr;
}

void mgpuStreamDestroy(CUstream stream) {
  const char *fn = "mgpuStreamDestroy";
  enter(fn);
  if (stream) // a stream this library did not create; not ours to keep
    checkRt(fn, cudaStreamDestroy(reinterpret_cast<cudaStream_t>(stream)),
            "cudaStreamDestroy");
}

void mgpuStreamSynchronize(CUstream stream) {
  const char *fn = "mgpuStreamSynchronize";
  enter(fn);
  checkRt(fn, cudaStreamSynchronize(reinterpret_cast<cudaStream_t>(stream)),
          "cudaStreamSynchronize");
}

void mgpuStreamWaitEvent(CUstream stream, CUevent event) {
  const char *fn = "mgpuStreamWaitEvent";
  enter(fn);
  checkRt(fn,
          cudaStreamWaitEvent(reinterpret_cast<cudaStream_t>(stream),
                              reinterpret_cast<cudaEvent_t>(event), 0),
          "cudaStreamWaitEvent");
}

CUevent mgpuEventCreate() {
  const char *fn = "mgpuEventCreate";
  enter(fn);
  cudaEvent_t e = nullptr;
  checkRt(fn, cudaEventCreateWithFlags(&e, cudaEventDisableTiming),
          "cudaEventCreateWithFlags");
  return reinterpret_cast<CUevent>(e);
}

void mgpuEventDestroy(CUevent event) {
  const char *fn = "mgpuEventDestroy";
  enter(fn);
  checkRt(fn, cudaEventDestroy(reinterpret_cast<cudaEvent_t>(event)),
          "cudaEventDestroy");
}

void mgpuEventSynchronize(CUevent event) {
  const char *fn = "mgpuEventSynchronize";
  enter(fn);
  checkRt(fn, cudaEventSynchronize(reinterpret_cast<cudaEvent_t>(event)),
          "cudaEventSynchronize");
}

void mgpuEventRecord(CUevent event, CUstream stream) {
  const char *fn = "mgpuEventRecord";
  enter(fn);
  checkRt(fn,
          cudaEventRecord(reinterpret_cast<cudaEvent_t>(event),
                          reinterpret_cast<cudaStream_t>(stream)),
          "cudaEventRecord");
}

void *mgpuMemAlloc(uint64_t sizeBytes, CUstream stream, bool isHostShared) {
  const char *fn = "mgpuMemAlloc";
  enter(fn);
  void *p = nullptr;
  if (sizeBytes == 0)
    return nullptr;
  if (isHostShared) {
    checkRt(fn, cudaMallocManaged(&p, sizeBytes, cudaMemAttachGlobal),
            "cudaMallocManaged");
    std::lock_guard<std::mutex> lock(managedMutex);
    managed.insert(p);
  } else if (usePool(defaultDevice)) {
    checkRt(fn,
            cudaMallocAsync(&p, sizeBytes,
                            reinterpret_cast<cudaStream_t>(stream)),
            "cudaMallocAsync");
  } else {
    checkRt(fn, cudaMalloc(&p, sizeBytes), "cudaMalloc");
  }
  return p;
}

void mgpuMemFree(void *ptr, CUstream stream) {
  const char *fn = "mgpuMemFree";
  enter(fn);
  if (!ptr)
    return;
  {
    std::lock_guard<std::mutex> lock(managedMutex);
    if (managed.erase(ptr)) {
      checkRt(fn, cudaFree(ptr), "cudaFree");
      return;
    }
  }
  if (usePool(defaultDevice))
    checkRt(fn, cudaFreeAsync(ptr, reinterpret_cast<cudaStream_t>(stream)),
            "cudaFreeAsync");
  else
    checkRt(fn, cudaFree(ptr), "cudaFree");
}

void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, CUstream stream) {
  const char *fn = "mgpuMemcpy";
  enter(fn);
  checkRt(fn,
          cudaMemcpyAsync(dst, src, sizeBytes, cudaMemcpyDefault,
                          reinterpret_cast<cudaStream_t>(stream)),
          "cudaMemcpyAsync");
}

void mgpuMemset32(void *dst, unsigned int value, size_t count,
                  CUstream stream) {
  const char *fn = "mgpuMemset32";
  checkDrv(fn,
           driver(fn).memsetD32Async(reinterpret_cast<CUdeviceptr>(dst), value,
                                     count, stream),
           "cuMemsetD32Async");
}

void mgpuMemset16(void *dst, unsigned short value, size_t count,
                  CUstream stream) {
  const char *fn = "mgpuMemset16";
  checkDrv(fn,
           driver(fn).memsetD16Async(reinterpret_cast<CUdeviceptr>(dst), value,
                                     count, stream),
           "cuMemsetD16Async");
}

/// A ranked memref descriptor: {allocated, aligned, offset, sizes[rank],
/// strides[rank]} (MLIR's StridedMemRefType<char, rank>).
struct AnyMemRef {
  char *allocated;
  char *aligned;
  int64_t offset;
  int64_t sizesAndStrides[1];
};

static void memrefSpan(const char *fn, int64_t rank, AnyMemRef *d,
                       int64_t elementSize, void *&ptr, size_t &bytes) {
  if (!d || rank < 0)
    die(fn, "null memref descriptor");
  int64_t n = 1, expect = 1;
  const int64_t *sizes = d->sizesAndStrides, *strides = sizes + rank;
  for (int64_t i = rank - 1; i >= 0; --i) {
    if (sizes[i] > 1 && strides[i] != expect)
      die(fn, "only densely packed memrefs can be registered");
    expect *= sizes[i];
    n *= sizes[i];
  }
  ptr = d->aligned + d->offset * elementSize;
  bytes = size_t(n) * size_t(elementSize);
}

void mgpuMemHostRegisterMemRef(int64_t rank, AnyMemRef *descriptor,
                               int64_t elementSizeBytes) {
  const char *fn = "mgpuMemHostRegisterMemRef";
  enter(fn);
  void *p;
  size_t bytes;
  memrefSpan(fn, rank, descriptor, elementSizeBytes, p, bytes);
  if (bytes)
    checkRt(fn, cudaHostRegister(p, bytes, cudaHostRegisterDefault),
            "cudaHostRegister");
}

void mgpuMemHostUnregisterMemRef(int64_t rank, AnyMemRef *descriptor,
                                 int64_t elementSizeBytes) {
  const char *fn = "mgpuMemHostUnregisterMemRef";
  enter(fn);
  void *p;
  size_t bytes;
  memrefSpan(fn, rank, descriptor, elementSizeBytes, p, bytes);
  if (bytes)
    checkRt(fn, cudaHostUnregister(p), "cudaHostUnregister");
}

void mgpuSetDefaultDevice(int32_t device) { defaultDevice = device; }

} // extern "C"
