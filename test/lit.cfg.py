# lit configuration of moec's regression suite.
import os
import shutil

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
tools = ["moe-opt", "moe-import", "moe-compile", "moe-run", "moe-bench", "moert-stress"]
llvm_config.add_tool_substitutions(tools, [config.moec_tools_dir])
config.substitutions.append(("%moe_run", os.path.join(config.moec_tools_dir, "moe-run")))

if config.cuda_enabled:
    config.available_features.add("cuda")
if shutil.which("ptxas") or os.path.exists("/usr/local/cuda/bin/ptxas"):
    config.available_features.add("ptxas")
