#!/usr/bin/python3
"""For each architecture given: writes a checkpoint (T = 1, 7, 64), imports
and compiles it for one device and for 2 and 4 ranks, and runs
check_ranks.py on them (two threads); prints '<arch>: <its last line>'.

  shard_check.py PYTHON MOEC_SRC WORKDIR ARCH...

moe-import, moe-compile and moe-run come from PATH (lit puts the build's
there). Exits 1 when a step fails.
"""
import os
import shutil
import subprocess
import sys


def main():
    python, src, work, arches = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    status = 0
    for arch in arches:
        ck = os.path.join(work, arch)
        art = lambda r: os.path.join(work, "%s.r%d.moeb" % (arch, r))
        steps = [[python, os.path.join(src, "test/reference/make_checkpoint.py"), "--arch", arch,
                  "--out", ck, "--tokens", "1,7,64", "-q"],
                 ["moe-import", ck, "-o", ck + ".mlir"],
                 ["moe-compile", ck + ".mlir", "-o", art(0), "--max-tokens", "64"]]
        for r in (2, 4):
            steps.append(["moe-compile", ck + ".mlir", "-o", art(r), "--max-tokens", "64",
                          "--shard-experts=%d" % r])
        steps.append([python, os.path.join(src, "test/e2e/Inputs/check_ranks.py"), "--moe-run",
                      shutil.which("moe-run"), "--checkpoint", ck, "--single", art(0),
                      "--sharded", "2=" + art(2), "--sharded", "4=" + art(4), "--threads", "2"])
        for cmd in steps:
            run = subprocess.run(cmd, capture_output=True, text=True)
            if run.returncode != 0:
                lines = (run.stdout + run.stderr).strip().splitlines()
                print("%s: %s failed: %s" % (arch, os.path.basename(cmd[1] if cmd[0] == python
                                                                     else cmd[0]),
                                               "\n".join(l for l in lines if "FAIL" in l or
                                                         "error" in l) or lines[-1:]))
                status = 1
                break
        else:
            print("%s: %s" % (arch, run.stdout.strip().splitlines()[-1]))
    return status


if __name__ == "__main__":
    sys.exit(main())
