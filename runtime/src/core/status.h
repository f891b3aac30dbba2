//===- status.h - lq_rt's per-thread error message -----------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_SRC_CORE_STATUS_H
#define LQ_RT_SRC_CORE_STATUS_H

#include "lq_rt/lq_rt.h"

/// Records a printf-style message for lq_rt_last_error() and returns `status`.
lq_rt_status_t lq_rt_fail(lq_rt_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif // LQ_RT_SRC_CORE_STATUS_H
