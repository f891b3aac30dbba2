//===- kernel_switch.h - An optional kernel's on/off switch --------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// A faster kernel that needs an ISA extension (vdpbf16ps, VNNI) runs where
// the CPU has it, unless an environment variable starting with '0' or the
// C API turned it off (tests and benchmarks compare it with the kernel it
// replaces).
//
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_SRC_CPU_KERNEL_SWITCH_H
#define LQ_RT_SRC_CPU_KERNEL_SWITCH_H

#include <atomic>
#include <cstdlib>

namespace lq_rt {

class KernelSwitch {
public:
  KernelSwitch(const char *env, bool (*cpuHas)())
      : has(cpuHas()), wanted([env] {
          const char *e = std::getenv(env);
          return !(e && e[0] == '0');
        }()) {}
  bool enabled() const { return has && wanted.load(std::memory_order_relaxed); }
  /// Turns it on (where the CPU has it) or off; returns enabled().
  bool set(bool on) {
    wanted.store(on, std::memory_order_relaxed);
    return enabled();
  }

private:
  const bool has;
  std::atomic<bool> wanted;
};

} // namespace lq_rt

#endif // LQ_RT_SRC_CPU_KERNEL_SWITCH_H
