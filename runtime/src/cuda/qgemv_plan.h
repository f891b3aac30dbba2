//===- qgemv_plan.h - Launch shape of the batch-1 int4 GEMV -------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Host-only arithmetic of qgemvI4K's launch (qgemv.cu), kept apart so that
// lq_rt_cuda_tests checks it without a GPU. A block of `warps` warps splits
// a row's `chunks` 16-byte chunks (32 int4 codes each) over its threads, one
// chunk per thread per slice of 32 x warps chunks, and walks rowsPerBlock =
// R x groups rows, R at a time; the warps' partial sums meet in
// warps x rowsPerBlock floats of shared memory.
//
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_SRC_CUDA_QGEMV_PLAN_H
#define LQ_RT_SRC_CUDA_QGEMV_PLAN_H

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace lq::cuda {

constexpr int kI4KMaxWarps = 16; // qgemvI4K's __launch_bounds__ / 32
constexpr int kI4KAutoWarps = 8; // the most the automatic shape uses

/// Warps per block for `chunks` chunks per row: as few slices of at most
/// kI4KAutoWarps warps as cover the row, the warps evened out over the
/// slices (a slice costs no extra activation traffic, and small blocks
/// leave room for more of them per multiprocessor).
inline int i4kWarps(int64_t chunks) {
  const int64_t perSlice = 32 * kI4KAutoWarps;
  const int64_t slices =
      std::max<int64_t>(1, (chunks + perSlice - 1) / perSlice);
  return int(std::max<int64_t>(1, (chunks + 32 * slices - 1) / (32 * slices)));
}

struct I4KPlan {
  int warps, rowsPerBlock, blocks;
  size_t smem; // bytes of dynamic shared memory
};

/// The launch of N rows, R rows per round, `warps` warps per block and
/// `groups` rounds of R rows per block (<= 0: the fewest that make the grid
/// one wave of blocksPerSM x sms resident blocks), at most 64 rounds and 48
/// KB of shared memory.
inline I4KPlan planI4K(int64_t N, int R, int warps, int groups,
                       int blocksPerSM, int sms) {
  warps = std::max(1, std::min(warps, kI4KMaxWarps));
  const int64_t rowGroups = (N + R - 1) / R;
  const int maxGroups = std::max(1, std::min(64, 12288 / (warps * R)));
  if (groups <= 0) {
    const int64_t wave = int64_t(std::max(1, blocksPerSM)) * std::max(1, sms);
    groups = int(std::min<int64_t>(maxGroups, (rowGroups + wave - 1) / wave));
  }
  groups = std::max(1, std::min(groups, maxGroups));
  I4KPlan p;
  p.warps = warps;
  p.rowsPerBlock = R * groups;
  p.blocks = int((N + p.rowsPerBlock - 1) / p.rowsPerBlock);
  p.smem = size_t(warps) * size_t(p.rowsPerBlock) * sizeof(float);
  return p;
}

} // namespace lq::cuda

#endif // LQ_RT_SRC_CUDA_QGEMV_PLAN_H
