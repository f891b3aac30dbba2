//===- alloc.cpp - Buffer allocation for compiled models ----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// A compiled model allocates every intermediate tensor with memref.alloc and
// frees it after its last use. With glibc, blocks of a few hundred KB and more
// are mmap'ed and unmapped again on free, so every call of a model faulted in
// and zeroed its buffers anew: about 12% of a 128-token prefill of pd-llama-6m
// went to page faults. `--lower-to-cpu` (with lq_rt's kernels) lowers
// allocation to MLIR's generic functions (finalize-memref-to-llvm
// use-generic-functions=true), and lq_rt implements them here with a
// per-thread cache of freed blocks. A model that runs again allocates the
// same sizes in the same order, so after its first call nothing reaches the
// system allocator.
//
// Every block is 64-byte aligned (a cache line, and what AVX-512 loads like)
// and carries a header just before the pointer: the raw malloc pointer, the
// usable size and a magic word, so a foreign pointer handed to the free
// function is caught instead of corrupting the heap.
//
//===----------------------------------------------------------------------===//

#include "output_blocks.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <mutex>
#include <unordered_set>

namespace {

constexpr uint64_t kMagic = 0x636f6c6c615f716cull; // "lq_alloc"
constexpr size_t kAlign = 64;
/// Bytes a thread keeps in freed blocks; beyond it the largest are released.
constexpr size_t kCacheBytes = size_t(512) << 20;

struct Header {
  void *raw;
  size_t capacity;
  uint64_t magic;
};

Header *headerOf(void *p) { return static_cast<Header *>(p) - 1; }

/// Usable sizes come in steps (64 B below 4 KiB, pages above), so requests
/// that differ by a few bytes share blocks.
size_t roundedSize(size_t size) {
  size_t step = size < 4096 ? 64 : 4096;
  return (size + step - 1) / step * step;
}

/// Freed blocks by usable size (a decode step frees a few hundred buffers;
/// lookups stay logarithmic).
struct BlockCache {
  std::multimap<size_t, void *> blocks;
  size_t bytes = 0;
  ~BlockCache() {
    for (auto &[capacity, p] : blocks)
      std::free(headerOf(p)->raw);
  }

  /// The smallest cached block that holds `size` bytes (and is not more than
  /// twice as large) at `align`, removed from the cache; null if none.
  void *take(size_t size, size_t align) {
    for (auto it = blocks.lower_bound(size);
         it != blocks.end() && it->first <= 2 * size + 4096; ++it) {
      if (reinterpret_cast<uintptr_t>(it->second) % align)
        continue;
      void *p = it->second;
      bytes -= it->first;
      blocks.erase(it);
      return p;
    }
    return nullptr;
  }

  /// Keeps `p` for reuse; beyond kCacheBytes the largest blocks go first.
  void put(void *p) {
    size_t c = headerOf(p)->capacity;
    if (c > kCacheBytes / 2) {
      std::free(headerOf(p)->raw);
      return;
    }
    blocks.emplace(c, p);
    bytes += c;
    while (bytes > kCacheBytes) {
      auto largest = std::prev(blocks.end());
      bytes -= largest->first;
      std::free(headerOf(largest->second)->raw);
      blocks.erase(largest);
    }
  }
};

thread_local BlockCache cache;

void *allocate(size_t align, size_t size) {
  if (align < kAlign)
    align = kAlign;
  size_t capacity = roundedSize(size ? size : 1);
  if (void *p = cache.take(capacity, align))
    return p;
  void *raw = std::malloc(capacity + sizeof(Header) + align);
  if (!raw)
    return nullptr;
  uintptr_t user = (reinterpret_cast<uintptr_t>(raw) + sizeof(Header) + align - 1) /
                   align * align;
  void *p = reinterpret_cast<void *>(user);
  *headerOf(p) = Header{raw, capacity, kMagic};
  return p;
}

} // namespace

extern "C" {

/// MLIR's generic allocation functions, which compiled models call for
/// memref.alloc / memref.dealloc (and lq_model_run for their outputs).
void *_mlir_memref_to_llvm_alloc(size_t size) { return allocate(kAlign, size); }

void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t size) {
  // A power of two by the memref lowering's construction; anything else is
  // served at the default alignment, which every smaller power divides.
  if (alignment == 0 || (alignment & (alignment - 1)))
    alignment = kAlign;
  return allocate(alignment, size);
}

void _mlir_memref_to_llvm_free(void *p) {
  if (!p)
    return;
  if (headerOf(p)->magic != kMagic) {
    std::fprintf(stderr, "lq_rt: _mlir_memref_to_llvm_free(%p): not a block "
                         "of lq_rt's allocator\n", p);
    std::abort();
  }
  cache.put(p);
}

} // extern "C"

// Output blocks (output_blocks.h): a registry, so lq_tensor_free can tell
// them from malloc'ed data without reading memory before a foreign pointer.
namespace lq_rt {
namespace {
std::mutex outputMutex;
std::unordered_set<void *> &outputBlocks() {
  static auto *blocks = new std::unordered_set<void *>; // outlives exit-time frees
  return *blocks;
}
} // namespace

void *allocateOutput(size_t bytes) {
  void *p = allocate(kAlign, bytes);
  if (p)
    adoptOutput(p);
  return p;
}

void adoptOutput(void *block) {
  std::lock_guard<std::mutex> lock(outputMutex);
  outputBlocks().insert(block);
}

bool releaseOutput(void *p) {
  {
    std::lock_guard<std::mutex> lock(outputMutex);
    if (!p || outputBlocks().erase(p) == 0)
      return false;
  }
  _mlir_memref_to_llvm_free(p);
  return true;
}

void freeTensorData(void *p) {
  if (!releaseOutput(p))
    std::free(p);
}

} // namespace lq_rt
