# -*- Python -*-
# lit configuration for lq's regression tests.
import os

import lit.formats
from lit.llvm import llvm_config

config.name = "LQ"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".onnxtext", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.lq_obj_root, "test")

config.environment["FILECHECK_OPTS"] = "-enable-var-scope --allow-unused-prefixes=false"
config.substitutions.append(("%lq_src_root", config.lq_src_root))
config.substitutions.append(("%python", "/usr/bin/python3"))
config.substitutions.append(("%models", os.path.join(config.lq_src_root, "models")))
config.substitutions.append(("%lq_rt_lib", os.path.join(config.lq_obj_root, "lib", "liblq_rt.so")))

llvm_config.with_system_environment(["HOME", "TMP", "TEMP"])
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.use_default_substitutions()

tool_dirs = [config.lq_tools_dir, config.llvm_tools_dir]
tools = ["quant-opt", "quant-import", "quant-compile", "quant-run", "quant-eval", "quant-tokenize",
         "lq_rt_tests"]
llvm_config.add_tool_substitutions(tools, tool_dirs)
# lq_rt's CUDA side is built only where a CUDA toolkit was found.
if os.path.exists(os.path.join(config.lq_tools_dir, "lq_rt_cuda_tests")):
    config.available_features.add("lq-rt-cuda")
    llvm_config.add_tool_substitutions(["lq_rt_cuda_tests"], tool_dirs)

# --spinquant rotations=learn's libtorch plugin is built only where libtorch is.
if os.path.exists(os.path.join(config.lq_obj_root, "lib", "liblq_spinquant.so")):
    config.available_features.add("spinquant-learn")

# --lower-to-cuda's default output (a fatbin) runs the CUDA toolkit's ptxas
# and fatbinary; PTX-only tests (cubin-format=isa) need neither.
# The toolkit is looked up as --lower-to-cuda does (lq::cudaToolkitPath), and
# the variables reach the tests so quant-opt finds the same one.
_cuda_vars = ["CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"]
llvm_config.with_system_environment(_cuda_vars)
_cuda = next((os.environ[v] for v in _cuda_vars if os.environ.get(v)),
             "/usr/local/cuda")
if os.path.exists(os.path.join(_cuda, "bin", "ptxas")) and os.path.exists(
        os.path.join(_cuda, "bin", "fatbinary")):
    config.available_features.add("ptxas")

# Running lowered IR (test/Integration/CPU): mlir-runner and its support libs.
llvm_lib_dir = os.path.join(os.path.dirname(config.llvm_tools_dir), "lib")
config.substitutions.append(
    ("%mlir_runner", os.path.join(config.llvm_tools_dir, "mlir-runner")))
config.substitutions.append(
    ("%runner_libs", "-shared-libs=%s,%s" % (
        os.path.join(llvm_lib_dir, "libmlir_runner_utils.so"),
        os.path.join(llvm_lib_dir, "libmlir_c_runner_utils.so"))))
# The same plus lq_rt, for IR lowered with lq_rt's kernels (the default).
config.substitutions.append(
    ("%lq_runner_libs", "-shared-libs=%s,%s,%s" % (
        os.path.join(llvm_lib_dir, "libmlir_runner_utils.so"),
        os.path.join(llvm_lib_dir, "libmlir_c_runner_utils.so"),
        os.path.join(config.lq_obj_root, "lib", "liblq_rt.so"))))
