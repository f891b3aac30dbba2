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

/// qgemvI4K's automatic batch-1 choice (i4Config in qgemv.cu): kernel 7
/// (ld.global.nc.L1::no_allocate weight loads) or 8 (the same with the next
/// round's loads issued before this round's math), R rows per round and
/// warps per block; the rounds per block stay automatic (planI4K, groups 0).
struct I4KChoice {
  int kernel, R, warps;
};

/// Fitted to gpu_check's sweep in run 5 (H200, 132 SMs, graph replays, group
/// 128, % of the 4212 GB/s device-to-device copy; bench/results/gpu-check.md),
/// the only three shapes timed so far:
///
///  - warps: a block covers the whole row in one slice when it can (chunks
///    <= 32 x kI4KMaxWarps = 512, K <= 16384), the warp count rounded up to a
///    power of two; longer rows take the fewest slices of at most 16 warps,
///    evened out. 4096 x 14336 (448 chunks): 16 warps, one slice, 62% (R = 4)
///    and 57% (R = 8) against 55% / 50% with i4kWarps' two slices of 7
///    warps (14 warps, one slice without the idle lanes, was not timed; the
///    power of two reproduces the measured block). K = 4096 (128 chunks): 4
///    warps (16 warps leave 3/4 of the lanes idle: 20-22%).
///  - kernel and R, by rows per multiprocessor N / sms:
///    * >= 64 (N >= 8448 on 132 SMs): kernel 8, R = 4. Every resident block
///      walks several rounds, and the prefetch keeps the next round's loads in
///      flight during this round's dequantization; 4 rows x 2 rounds in
///      flight match R = 8 without prefetch in registers. 14336 x 4096: 66%,
///      against 63% (kernel 7, R = 8: run 5's automatic choice), 59%
///      (kernel 8, R = 8), 56% (kernel 7, R = 4), 53% (kernel 8, R = 4, one
///      round per block: the rounds are what the prefetch overlaps).
///    * fewer: each SM holds all its rows' blocks at once, nothing is left to
///      overlap and the prefetch only costs (4096 x 4096, kernel 8, R = 4:
///      40%); kernel 7 with R = 8 for blocks of <= 4 warps (4096 x 4096: 47%,
///      R = 4 46%) and R = 4 for bigger ones (4096 x 14336 at 16 warps: 62%,
///      R = 8 57%; presumably R = 8's registers let fewer 16-warp blocks
///      reside, not measured).
///    The threshold sits between the measured 31 (N = 4096) and 109 (N =
///    14336) rows per SM, near their geometric mean (58); shapes in between,
///    and large N with long rows (kernel 8 at 16 warps), are untimed.
/// Expected from the sweep: 47% / 62% / 66% for 4096 x 4096 / 4096 x 14336 /
/// 14336 x 4096 (run 5's choice, kernel 7 R = 8 automatic warps: 47 / 50 /
/// 63%).
inline I4KChoice i4kChoose(int64_t N, int64_t chunks, int sms) {
  const int64_t perBlock = 32 * int64_t(kI4KMaxWarps);
  const int64_t slices =
      std::max<int64_t>(1, (chunks + perBlock - 1) / perBlock);
  int warps =
      int(std::max<int64_t>(1, (chunks + 32 * slices - 1) / (32 * slices)));
  if (slices == 1) {
    int p = 1;
    while (p < warps)
      p *= 2;
    warps = std::min(p, kI4KMaxWarps);
  }
  I4KChoice c;
  c.warps = warps;
  if (N >= 64 * int64_t(std::max(1, sms))) {
    c.kernel = 8;
    c.R = 4;
  } else {
    c.kernel = 7;
    c.R = warps <= 4 ? 8 : 4;
  }
  return c;
}

} // namespace lq::cuda

#endif // LQ_RT_SRC_CUDA_QGEMV_PLAN_H
