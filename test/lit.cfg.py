# lit configuration of moec's regression suite.
import os
import shutil
import subprocess

import lit.formats
from lit.llvm import llvm_config

config.name = "moec"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".test"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "reference", "unit", "Inputs", "fuzz"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.moec_obj_root, "test")

llvm_config.use_default_substitutions()
config.substitutions.append(("%python", config.python))
config.substitutions.append(("%moec_src", config.moec_src_root))

# Our tools first, then LLVM's (FileCheck, not, count).
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.moec_tools_dir, append_path=True)
tools = ["moe-opt", "moe-import", "moe-compile", "moe-upcycle", "moe-run", "moe-placement", "moe-bench", "moert-stress",
         "moert-enqueue", "moert-nccl"]
llvm_config.add_tool_substitutions(tools, [config.moec_tools_dir])
config.substitutions.append(("%moe_run", os.path.join(config.moec_tools_dir, "moe-run")))

if config.cuda_enabled:
    config.available_features.add("cuda")
# sanitized: the tools were built with a sanitizer (make test-sanitize), whose
# shadow memory needs more address space than `ulimit -v` tests allow, and
# under which each process is slower: tampered-artifact.test flips fewer
# bytes, cuda_ptxas.test compiles one configuration of three, and the e2e
# runs with MOERT_PANEL_ISA (each ISA's kernels: moert-kernel-tests checks
# them exactly there) are left out.
if getattr(config, "sanitized", False):
    config.available_features.add("sanitized")
# mpi: moe-run was built with MPI (MOEC_ENABLE_MPI) and mpirun is here.
if getattr(config, "mpi_enabled", False) and shutil.which("mpirun"):
    config.available_features.add("mpi")
if shutil.which("ptxas") or os.path.exists("/usr/local/cuda/bin/ptxas"):
    config.available_features.add("ptxas")
config.substitutions.append(("%moec_bin", config.moec_tools_dir))

# mlir-runner: LLVM's JIT runner with its runtime libraries, to run a generic
# kernel on the CPU (test/Conversion/Kernels/fp8.mlir); %mlir_runner_libs
# is its -shared-libs value.
_llvm_lib = os.path.join(os.path.dirname(config.llvm_tools_dir), "lib")
_runner_libs = [os.path.join(_llvm_lib, "lib%s.so" % n)
                for n in ("mlir_runner_utils", "mlir_c_runner_utils")]
if os.path.exists(os.path.join(config.llvm_tools_dir, "mlir-runner")) and all(
        os.path.exists(p) for p in _runner_libs):
    config.available_features.add("mlir-runner")
    config.substitutions.append(("%mlir_runner_libs", ",".join(_runner_libs)))

# fake-cuda: the stand-in CUDA driver and cuBLAS of test/unit/runtime/fakecuda
# (built with the runtime's tests), in %fakecuda.
_fakecuda = os.path.join(config.moec_obj_root, "test", "unit", "runtime", "fakecuda")
if os.path.exists(os.path.join(_fakecuda, "libcuda.so.1")):
    config.available_features.add("fake-cuda")
    config.substitutions.append(("%fakecuda", _fakecuda))

# cuda-gpu: a GPU the driver reports (nvidia-smi), e.g. for test/e2e/cuda_gpu.test;
# %cuda_arch is its architecture (sm_90 for compute capability 9.0).
def _gpu_arch():
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=compute_cap", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return "sm_" + out[0].replace(".", "") if out else None

_arch = _gpu_arch()
if _arch:
    config.available_features.add("cuda-gpu")
    config.substitutions.append(("%cuda_arch", _arch))
