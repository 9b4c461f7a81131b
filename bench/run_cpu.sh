#!/bin/sh
# make bench: the standard CPU sweep. Writes bench/results/cpu.csv (moe-bench),
# cpu-torch.csv (the eager PyTorch peer, when python3-torch is installed),
# cpu-ggml.csv (llama.cpp's ggml, when MOEC_GGML_DIR names a ggml checkout
# built with cmake into its build/ folder, or MOEC_GGML_BUILD elsewhere),
# cpu.md and cpu.svg. Usage: bench/run_cpu.sh [BUILD_DIR] (default build).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
OUT=$ROOT/bench/results
BENCH=$BUILD/bin/moe-bench
THREADS=${BENCH_THREADS:-2}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
mkdir -p "$OUT"
[ -x "$BENCH" ] || { echo "error: $BENCH not found: run 'make' first" >&2; exit 1; }

HAVE_TORCH=0
if "$PY" -c "import torch" 2>/dev/null; then HAVE_TORCH=1; fi

# PyTorch's BLAS is OpenBLAS (through libblas): give it its fastest kernels
# for this CPU, chosen by timing an f32 GEMM under each core type OpenBLAS may
# pick. moec runs with OpenBLAS's own choice (it calls BLAS only above 32 rows
# per expert), unless OPENBLAS_CORETYPE is set for both by the caller.
TORCH_CORE="${OPENBLAS_CORETYPE:-}"
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ "$HAVE_TORCH" = 1 ]; then
  bestt=999
  for c in "" Haswell SkylakeX Cooperlake Zen; do
    t=$(OPENBLAS_CORETYPE=$c "$PY" -c "
import time, torch
torch.set_num_threads($THREADS)
a = torch.rand(1024, 1024); b = torch.rand(1024, 1024)
for _ in range(3): a @ b
ts = []
for _ in range(10):
    t0 = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t0)
print(min(ts))" 2>/dev/null || echo 999)
    if "$PY" -c "import sys; sys.exit(0 if $t < $bestt else 1)"; then TORCH_CORE=$c; bestt=$t; fi
  done
fi
echo "bench: $THREADS threads; OPENBLAS_CORETYPE: moec ${OPENBLAS_CORETYPE:-<OpenBLAS's own choice>}, PyTorch ${TORCH_CORE:-<OpenBLAS's own choice>}" >&2

# The ggml peer (bench/ggml_peer.cpp), built here against the user's ggml.
GGML_PEER=""
if [ -n "${MOEC_GGML_DIR:-}" ]; then
  GB=${MOEC_GGML_BUILD:-$MOEC_GGML_DIR/build}
  if c++ -O2 -std=c++17 -I"$MOEC_GGML_DIR/include" -I"$ROOT/tools/moe-bench" "$ROOT/bench/ggml_peer.cpp" \
       "$GB/src/libggml.a" "$GB/src/libggml-cpu.a" "$GB/src/libggml-base.a" \
       -lpthread -fopenmp -o "$OUT/ggml_peer"; then
    GGML_PEER="$OUT/ggml_peer"
  else
    echo "warning: bench/ggml_peer.cpp did not build against $MOEC_GGML_DIR ($GB): no ggml column" >&2
  fi
fi
# ggml_at SHAPE TYPE...: the peer on moe-bench's shape, plain, and repacked
# for the types ggml repacks on x86 (Q4_0, Q4_K; its CPU_REPACK buffer takes
# no other of these types).
ggml_at() {
  shape=$1; shift
  dims=$("$BENCH" --list-shapes | awk -v s="$shape" '$1 == s {
    for (i = 2; i <= 5; ++i) { split($i, kv, "="); printf "%s ", kv[2] } }')
  set -- $dims "$@"
  h=$1; f=$2; e=$3; k=$4; shift 4
  for t in "$@"; do
    modes=""
    case $t in q4_0|q4_k) modes=--repack ;; esac
    for mode in "" $modes; do
      "$GGML_PEER" --shape "$shape" --hidden "$h" --ffn "$f" --experts "$e" --topk "$k" \
        --type "$t" --tokens 1,16,256,1024 --threads "$THREADS" $mode 2>/dev/null |
        grep -v '^shape,' || true
    done
  done
}

COMMON="--num-threads $THREADS --warmup 2 --reps 7 --min-time 0.5 --format csv --no-probes"
PROBE="$BENCH --probe-only --num-threads $THREADS --format csv --quiet"
# The probes run before and after the sweep; the ratios use the best of each
# (on a shared machine a probe can catch a neighbour's load).
{
  $PROBE
  "$BENCH" $COMMON --shape mixtral-s,olmoe,qwen3,switch --tokens 1,16,64,256,1024
  "$BENCH" $COMMON --shape mixtral --tokens 1,16,256 | grep -v '^shape,'
  "$BENCH" $COMMON --weight-type bf16 --shape mixtral-s,olmoe --tokens 1,16,64,256,1024 | grep -v '^shape,'
  "$BENCH" $COMMON --shape deepseek-v3 --tokens 1,16 | grep -v '^shape,' || true
  "$BENCH" $COMMON --weight-type int8 --shape mixtral-s,olmoe --tokens 1,16,256,1024 | grep -v '^shape,'
  "$BENCH" $COMMON --weight-type int4 --shape mixtral-s,olmoe --tokens 1,16,256,1024 | grep -v '^shape,'
  $PROBE
} > "$OUT/cpu.csv.tmp"
# ggml right after moec, on the same shapes and threads: f32, bf16, and its
# int8 / int4 counterparts (Q8_0; Q4_0 and Q4_K), each plain and repacked.
if [ -n "$GGML_PEER" ]; then
  {
    echo "shape,type,threads,T,runs,median_ms,min_ms"
    for s in mixtral-s olmoe; do ggml_at "$s" f32 bf16 q8_0 q4_0 q4_k; done
  } > "$OUT/cpu-ggml.csv"
else
  rm -f "$OUT/cpu-ggml.csv"
fi
"$PY" - "$OUT/cpu.csv.tmp" "$OUT/cpu.csv" <<'PYEOF'
import csv, re, sys
src, dst = sys.argv[1], sys.argv[2]
lines = [l for l in open(src) if l.strip()]
probes = {"fma peak": [], "stream read": []}
comments = []
for l in lines:
    if not l.startswith("#"):
        continue
    m = re.match(r"# (fma peak|stream read): ([0-9.]+) (\S+) \((.*)\)", l)
    if m:
        probes[m.group(1)].append((float(m.group(2)), m.group(3), m.group(4)))
    else:
        comments.append(l)
g = max(p[0] for p in probes["fma peak"])
b = max(p[0] for p in probes["stream read"])
for name, best in (("fma peak", g), ("stream read", b)):
    unit, how = probes[name][0][1], probes[name][0][2]
    seen = ", ".join(f"{p[0]:.1f}" for p in probes[name])
    comments.insert(0, f"# {name}: {best:.1f} {unit} ({how}; best of the probes before and after the sweep: {seen})\n")
comments.sort(key=lambda c: not (c.startswith("# fma") or c.startswith("# stream")))
rows = list(csv.DictReader(l for l in lines if not l.startswith("#")))
with open(dst, "w") as f:
    f.writelines(comments)
    if rows:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()), lineterminator="\n")
        w.writeheader()
        for r in rows:
            sec = float(r["median_ms"]) * 1e-3
            fl = float(r["gflops"]) * sec * 1e9
            by = float(r["weight_gbps"]) * sec * 1e9
            r["fma_peak_gflops"], r["stream_read_gbps"] = f"{g:.2f}", f"{b:.2f}"
            r["pct_fma_peak"] = f"{100 * float(r['gflops']) / g:.1f}"
            r["pct_stream_read"] = f"{100 * float(r['weight_gbps']) / b:.1f}"
            r["pct_roofline"] = f"{100 * max(fl / (g * 1e9), by / (b * 1e9)) / sec:.1f}"
            w.writerow(r)
PYEOF
rm -f "$OUT/cpu.csv.tmp"

TORCH_ARG=""
if [ "$HAVE_TORCH" = 1 ]; then
  OPENBLAS_CORETYPE=$TORCH_CORE "$PY" "$ROOT/bench/torch_peer.py" --threads "$THREADS" --warmup 2 --reps 7 --min-time 0.5 \
    --shapes mixtral-s,olmoe,qwen3,switch --tokens 1,16,64,256,1024 > "$OUT/cpu-torch.csv"
  OPENBLAS_CORETYPE=$TORCH_CORE "$PY" "$ROOT/bench/torch_peer.py" --threads "$THREADS" --warmup 1 --reps 3 --min-time 0 \
    --shapes mixtral --tokens 1,16,256 | grep -v '^shape,' >> "$OUT/cpu-torch.csv"
  TORCH_ARG="--torch $OUT/cpu-torch.csv"
  NOTE="PyTorch $("$PY" -c 'import torch; print(torch.__version__)') eager with OPENBLAS_CORETYPE=${TORCH_CORE:-default} (the fastest for it); moec with OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-default}"
else
  rm -f "$OUT/cpu-torch.csv"
  NOTE="python3-torch is not installed: no PyTorch column (apt-get install python3-torch)"
fi
GGML_ARG=""
GGML_NOTE="no ggml column (set MOEC_GGML_DIR to a ggml checkout built with cmake)"
if [ -n "$GGML_PEER" ]; then
  GGML_ARG="--ggml $OUT/cpu-ggml.csv"
  GGML_NOTE="ggml from $MOEC_GGML_DIR ($(git -C "$MOEC_GGML_DIR" log -1 --format=%h 2>/dev/null || echo 'no git')): bench/ggml_peer.cpp"
fi
"$PY" "$ROOT/bench/report.py" --moec "$OUT/cpu.csv" $TORCH_ARG $GGML_ARG \
  --md "$OUT/cpu.md" --svg "$OUT/cpu.svg" --note "$NOTE" --note "$GGML_NOTE"
echo "bench: wrote $OUT/cpu.md and $OUT/cpu.svg" >&2
