#!/usr/bin/python3
"""Prints each grouped GEMM's engine from an artifact's table as `flatc --json`
decodes it (independently of the compiler and runtime):
  grouped_gemm n N k K: cublas
  grouped_gemm n N k K: gemv KERNEL (args A, lanes L) up to T = M, else cublas
"""
import json
import sys

m = json.load(open(sys.argv[1]))
kernels = m.get("kernels", [])
print("target", m.get("target", "CpuX86_64"))
for f in m["functions"]:
    for c in f["commands"]:
        if c["command_type"] != "GroupedGemm":
            continue
        g = c["command"]
        line = f"grouped_gemm n {g['n']} k {g['k']}: "
        k = g.get("gemv_kernel", -1)
        if k < 0:
            print(line + "cublas")
        else:
            kd = kernels[k]
            print(line + f"gemv {kd['name']} (args {kd['num_args']}, lanes {kd.get('lanes', 1)}) "
                  f"up to T = {g.get('gemv_max_tokens', 0)}, else cublas")
