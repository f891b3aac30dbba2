//===- Registration.cpp - Anchor for lq's pass library -------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
