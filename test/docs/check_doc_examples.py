#!/usr/bin/python3
"""Checks that the examples in the docs work: MLIR parses and verifies, and
the marked shell commands run.

  check_doc_examples.py --moe-opt BIN [--bin DIR --src DIR] FILE.md...

Shell blocks (```sh) right after a `<!-- doc-test -->` line run with --bin
and --src: each file's marked blocks in order, in one temporary folder (so a
block can use what an earlier one wrote), with build/bin/ read as DIR (and
build/python as DIR's sibling python, the Python package),
examples/ and test/reference/ as the source tree's, /tmp/ as the temporary
folder, and `set -e`; a command that fails fails the example.

Every ```mlir block of each file is given to moe-opt as it stands. An example
is usually a fragment: its operands (%x, %wg, ...) are defined elsewhere. The
block is then checked at the top level of a module (a graph region, where a
value may be used before it is defined) with each undefined operand given a
definition of the type its use expects: first as i1, then, from moe-opt's
"previously used here with type T", as T. Anything else moe-opt reports
(an unknown op, a bad attribute, operand types that do not match, a verifier
error) fails the example. A block that is not MLIR should be fenced as
```text. Prints one line per example and 'N passed, N failed'.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

UNDECLARED = re.compile(r"<stdin>:(\d+):(\d+): error: use of undeclared SSA value name")
RETYPE = re.compile(r"error: definition of SSA value '(%[\w.$-]+)#0' has type 'i1'\n.*?"
                    r"note: previously used here with type '(.+?)'\n", re.S)


def run(moe_opt, text):
    p = subprocess.run([moe_opt, "--allow-unregistered-dialect", "-"], input=text,
                       capture_output=True, text=True)
    return p.returncode, p.stderr


def check(moe_opt, block):
    """None when the block parses and verifies, else moe-opt's first error."""
    code, err = run(moe_opt, block)
    if code == 0:
        return None
    lines = block.split("\n")
    defs = {}  # undefined operand -> its type
    for _ in range(64):
        m = UNDECLARED.search(err)
        if m:
            line, col = int(m.group(1)), int(m.group(2))
            name = re.match(r"%[\w.$-]+", lines[line - 1][col - 1:]).group(0)
            if name in defs:
                break
            defs[name] = "i1"
        else:
            m = RETYPE.search(err)
            if not m or m.group(1) not in defs:
                break
            defs[m.group(1)] = m.group(2)
        text = block + "".join('\n%s = "doc.value"() : () -> %s' % (n, t)
                               for n, t in defs.items()) + "\n"
        code, err = run(moe_opt, text)
        if code == 0:
            return None
    return err.strip().split("\n")[0]


def run_shell(block, bin_dir, src, tmp):
    """None when the block's commands succeed, else the failure."""
    # Each path of the text is replaced once, where a word (or a variable's
    # value, after "=") starts with it (the replacements themselves may start
    # with /tmp/).
    places = {"build/bin/": bin_dir + "/", "examples/": os.path.join(src, "examples/"),
              "build/python": os.path.join(os.path.dirname(bin_dir), "python"),
              "test/reference/": os.path.join(src, "test/reference/"), "/tmp/": tmp + "/"}
    pattern = r"(^|\s|=)(" + "|".join(re.escape(k) for k in places) + ")"
    script = re.sub(pattern, lambda m: m.group(1) + places[m.group(2)], block, flags=re.M)
    p = subprocess.run(["bash", "-ec", script], cwd=tmp, capture_output=True, text=True)
    if p.returncode != 0:
        out = p.stderr + p.stdout
        errors = [l for l in out.splitlines() if "error" in l]
        return "exit %d: %s" % (p.returncode, (errors[0] if errors else out.strip())[:300])
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--moe-opt", required=True)
    p.add_argument("--bin", help="the tools of the shell examples (build/bin)")
    p.add_argument("--src", help="the source tree (for examples/ and test/reference/)")
    p.add_argument("files", nargs="+")
    a = p.parse_args()
    if a.bin and a.src:
        a.bin, a.src = os.path.abspath(a.bin), os.path.abspath(a.src)
    passed = failed = 0
    for path in a.files:
        text = open(path).read()
        if a.bin and a.src:
            with tempfile.TemporaryDirectory() as tmp:
                for m in re.finditer(r"^<!-- doc-test -->\n```sh\n(.*?)^```", text, re.S | re.M):
                    where = "%s:%d" % (path, text[:m.start()].count("\n") + 2)
                    error = run_shell(m.group(1), a.bin, a.src, tmp)
                    if error:
                        print("FAIL %s: %s" % (where, error))
                        failed += 1
                    else:
                        print("ok   %s (shell)" % where)
                        passed += 1
        for m in re.finditer(r"^```mlir\n(.*?)^```", text, re.S | re.M):
            where = "%s:%d" % (path, text[:m.start()].count("\n") + 1)
            error = check(a.moe_opt, m.group(1))
            if error:
                print("FAIL %s: %s" % (where, error))
                failed += 1
            else:
                print("ok   %s" % where)
                passed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
