//===- output_blocks.h - Buffers lq_model_run hands out -------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// lq_model_run's outputs come from lq_rt's block allocator (alloc.cpp), not
// malloc: a decode step that returns the whole KV cache (past/present
// models) allocated and freed megabytes per call, and glibc unmapped and
// faulted them in again every step (~19-28% of the wide model's decode
// step). A model whose buffers already come from that allocator hands its
// output blocks over without a copy. lq_tensor_free releases either kind:
// it asks this registry first, so tensors filled by malloc (lq_npy_read,
// callers' own) keep being freed with free().
//
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_SRC_CORE_OUTPUT_BLOCKS_H
#define LQ_RT_SRC_CORE_OUTPUT_BLOCKS_H

#include <cstddef>

namespace lq_rt {

/// A block of lq_rt's allocator for an output, registered as handed out.
void *allocateOutput(size_t bytes);
/// Registers `block` (from lq_rt's allocator) as handed out.
void adoptOutput(void *block);
/// Releases `p` if it was handed out as an output; false otherwise.
bool releaseOutput(void *p);
/// Releases `p` whichever way it was allocated (an output, or malloc).
void freeTensorData(void *p);

} // namespace lq_rt

#endif // LQ_RT_SRC_CORE_OUTPUT_BLOCKS_H
