# SPDX-License-Identifier: Apache-2.0
# Fails if any source or header under LQ_RT_DIR includes an MLIR or LLVM
# header: lq_rt ships without the compiler's dependencies.
file(GLOB_RECURSE _files
  "${LQ_RT_DIR}/include/*" "${LQ_RT_DIR}/src/*" "${LQ_RT_DIR}/tests/*")
set(_bad "")
foreach(_f IN LISTS _files)
  file(STRINGS "${_f}" _hits REGEX "#[ \t]*include[ \t]*[<\"](mlir|llvm)/")
  if(_hits)
    list(APPEND _bad "${_f}: ${_hits}")
  endif()
endforeach()
if(_bad)
  list(JOIN _bad "\n" _msg)
  message(FATAL_ERROR "lq_rt must not include MLIR/LLVM headers:\n${_msg}")
endif()
message(STATUS "lq_rt: no MLIR/LLVM includes")
