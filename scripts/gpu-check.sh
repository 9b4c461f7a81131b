#!/usr/bin/env bash
# The GPU suite, from prebuilt files (scripts/gpu-prepare.sh), on a machine
# with an NVIDIA GPU and driver, cuBLAS, Python 3 and NumPy; no LLVM needed.
#
#   scripts/gpu-check.sh [PREP] [--device cuda:N] [--bench-only] [--no-bench]
#                        [--profile]
#
# PREP defaults to build/gpu-prep; when it does not exist and the compiler is
# built here, gpu-prepare.sh makes it first (for this GPU's architecture).
#  1. Every architecture's artifact runs on the GPU at T = 1, 7, 64, 333
#     against test/reference (f32 at 1e-5, the bf16 checkpoint at 2e-2, the
#     bf16 / f16 FFN GEMM artifacts (--weight-type) at 1e-3 against references
#     with the same rounding), once with CUDA graphs and once without
#     (MOERT_CUDA_GRAPHS=0).
#  2. The Mixtral-shape block (H 4096, F 14336, E 8, k 2), with f32 and with
#     bf16 expert weights, at T = 1, 16, 256, 4096: median time, weight bytes
#     touched per second (HBM GB/s) and TFLOP/s. With --profile, each point
#     is then run again under MOERT_CUDA_PROFILE=1 and its per-command times
#     are printed.
# Exits 1 when a check fails.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
unpack_libs() { # moe-run's libraries shipped by gpu-prepare.sh
  for z in "$1"/lib/*.xz; do [ -e "$z" ] && xz -dkf "$z"; done
  [ -d "$1/lib" ] && export LD_LIBRARY_PATH="$1/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  return 0
}
prep=""
device=cuda:0
bench=1
suite=1
profile=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift ;;
    --bench-only) suite=0 ;;
    --no-bench) bench=0 ;;
    --profile) profile=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) prep=$1 ;;
  esac
  shift
done
prep=${prep:-$root/build/gpu-prep}
py=$(command -v python3 || true)
[ -n "$py" ] || { echo "error: python3 is needed" >&2; exit 1; }
"$py" -c 'import numpy' 2>/dev/null || { echo "error: NumPy is needed (python3 -c 'import numpy' failed)" >&2; exit 1; }

if [ "${device%%:*}" = cuda ]; then
  if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "error: no NVIDIA GPU here (nvidia-smi -L failed); this suite needs one" >&2
    exit 1
  fi
  nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader
fi
if [ ! -d "$prep" ]; then
  if [ -x "$root/build/bin/moe-compile" ]; then
    arch=sm_$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')
    "$root/scripts/gpu-prepare.sh" "$prep" "$arch" || exit 1
  else
    echo "error: $prep does not exist and the compiler is not built here; run" \
         "scripts/gpu-prepare.sh where it is and bring its output" >&2
    exit 1
  fi
fi
unpack_libs "$prep"
run="$prep/bin/moe-run"
echo "gpu-check: $(cat "$prep/target" 2>/dev/null) artifacts from $prep on $device"

failed=0
if [ $suite = 1 ]; then
  for graphs in 1 0; do
    for artifact in "$prep"/ckpt/*.moeb; do
      name=$(basename "$artifact" .moeb)
      tol=1e-5
      case "$name" in *_bf16) tol=2e-2 ;; *_wbf16 | *_wf16) tol=1e-3 ;; esac
      if log=$(MOERT_CUDA_GRAPHS=$graphs "$py" "$prep/tools/check_e2e.py" --moe-run "$run" \
               --artifact "$artifact" --checkpoint "$prep/ckpt/$name" --tol $tol --device "$device" 2>&1); then
        echo "ok    $name (graphs=$graphs, tol $tol): $(echo "$log" | tail -1)"
      else
        echo "FAIL  $name (graphs=$graphs, tol $tol):"
        echo "$log" | grep -v " ok" | tail -20
        failed=$((failed + 1))
      fi
    done
  done
fi

if [ $bench = 1 ]; then
  for artifact in "$prep"/bench/*.moeb; do
    base=$(basename "$artifact" .moeb)
    "$py" - "$run" "$artifact" "$prep/bench/${base%%.*}.shape" "$device" "$profile" <<'PY' || failed=$((failed + 1))
import os, re, subprocess, sys, tempfile
import numpy as np
run, artifact, shape_file, device, profile = sys.argv[1:6]
fields = dict(re.findall(r"(\w)=(\d+)", open(shape_file).read()))
H, F, E, k = (int(fields[c]) for c in "HFEk")
ffn_bytes = 2 if artifact.endswith(".bf16.moeb") else 4
print(f"\nbench: {os.path.basename(artifact)} H={H} F={F} E={E} k={k}, "
      f"{'bf16' if ffn_bytes == 2 else 'f32'} expert weights, on {device}")
print(f"{'T':>6} {'median ms':>10} {'min ms':>9} {'experts':>8} {'weight GB/s':>12} {'TFLOP/s':>8}")
status = 0
profiles = []
with tempfile.TemporaryDirectory() as tmp:
    for T in (1, 16, 256, 4096):
        x = os.path.join(tmp, "x.npy")
        np.save(x, np.random.default_rng(T).uniform(-1, 1, (T, H)).astype(np.float32))
        aux = os.path.join(tmp, "aux")
        os.makedirs(aux, exist_ok=True)
        r = subprocess.run([run, artifact, "--input", x, "--device", device, "--quiet",
                            "--save-aux", aux, "--bench", "20"], capture_output=True, text=True)
        m = re.search(r"median_ms=([0-9.]+) min_ms=([0-9.]+)", r.stdout)
        if r.returncode != 0 or not m:
            print(f"{T:>6} FAIL: {r.stderr.strip() or r.stdout.strip()}")
            status = 1
            continue
        median, best = float(m.group(1)), float(m.group(2))
        stats = [f for f in os.listdir(aux) if f.startswith("router_stats")]
        load = np.load(os.path.join(aux, stats[0]))[:E] if stats else np.ones(E)
        touched = int((load > 0).sum())
        weight_bytes = 4 * E * H + ffn_bytes * touched * 3 * H * F
        flops = 2 * T * E * H + 2 * T * k * 3 * H * F
        print(f"{T:>6} {median:>10.3f} {best:>9.3f} {touched:>8} "
              f"{weight_bytes / median / 1e6:>12.1f} {flops / median / 1e9:>8.2f}")
        if profile == "1":
            p = subprocess.run([run, artifact, "--input", x, "--device", device, "--quiet",
                                "--bench", "10"], capture_output=True, text=True,
                               env=dict(os.environ, MOERT_CUDA_PROFILE="1"))
            profiles.append(f"T = {T}:\n" + (p.stderr.strip() or f"(no profile, exit {p.returncode})"))
for p in profiles:
    print(p)
sys.exit(status)
PY
  done
fi
if [ $failed -gt 0 ]; then
  echo "gpu-check: $failed check(s) FAILED"
  exit 1
fi
echo "gpu-check: all checks passed"
