#!/usr/bin/env bash
# The GPU suite, from prebuilt files (scripts/gpu-prepare.sh), on a machine
# with an NVIDIA GPU and driver, cuBLAS, Python 3 and NumPy; no LLVM needed.
#
#   scripts/gpu-check.sh [PREP] [--device cuda:N] [--bench-only] [--no-bench]
#                        [--profile] [--results DIR]
#
# PREP defaults to build/gpu-prep; when it does not exist and the compiler is
# built here, gpu-prepare.sh makes it first (for this GPU's architecture).
#  1. Every architecture's artifact runs on the GPU at T = 1, 7, 64, 333
#     against test/reference (f32 at 1e-5, the bf16 checkpoint at 2e-2, the
#     bf16 / f16 FFN GEMM artifacts (--weight-type) and the fp8 and MXFP4 ones at 1e-3
#     (deepseek_v3_wfp8lt, whose fp8 GEMMs run on cuBLASLt with e4m3
#     activations on a GPU of compute capability 9.0, at 1e-2 against
#     --ffn-dtype fp8act: an e4m3 rounding that flips moves an output by
#     about 5e-3; the bf16 reading is 4e-2 away)
#     against references with the same rounding, the bf16-activation one (_a16) at
#     1e-2 with at most 2% of its output elements not bit-identical to the
#     reference's), once with CUDA graphs and once without
#     (MOERT_CUDA_GRAPHS=0); the PREP/ckpt-gemv artifacts run the same checks
#     with the grouped GEMMs' generated kernel at T = 1 and 7 (cuBLAS above).
#     Then moert-stress: 4 threads, each with its own session of the Mixtral
#     artifact (the weights uploaded once and shared), 50 runs each at random
#     T in 1..64, every output byte for byte equal to one session's alone.
#     Then moert-enqueue: the Mixtral layer with the generated grouped kernel
#     enqueued 3 times on a stream of the tool's with device tensors, then
#     inside the tool's own stream capture; its output at T = 7 against the
#     reference (1e-5). Then expert parallelism: Mixtral over 2 ranks on
#     this GPU (through the host) against one device (1e-5), and where
#     libnccl.so.2 loads, moert-nccl with one rank and Mixtral as one rank
#     over NCCL against one device.
#  2. moe-bench --target cuda --artifacts PREP/bench: the Mixtral-shape block
#     (H 4096, F 14336, E 8, k 2; gpu-prepare.sh's BENCH_SHAPE), with f32 and
#     with bf16 expert weights, and the DeepSeek-V3-shape block (H 7168, F 2048,
#     E 256, k 8, a shared expert; BENCH_FP8_SHAPE) with fp8 expert weights
#     and the gpt-oss-20b-shape block (H 2880, F 2880, E 32, k 4;
#     BENCH_MXFP4_SHAPE) with MXFP4 ones (no PyTorch column; MXFP4 read as
#     bf16 values, against the bf16 GEMM rate; fp8 above the gemv kernel's T
#     on cuBLASLt's block-scaled fp8 GEMM where the GPU has compute
#     capability 9.0, against the fp8 GEMM rate the peer measures),
#     at T = 1, 16, 256, 4096 (BENCH_TOKENS): median
#     time, weight bytes touched per second (HBM GB/s) and TFLOP/s. Where
#     PyTorch sees the GPU, it also measures the GPU's copy bandwidth and GEMM
#     rates (the % columns are against them) and times the same block in eager
#     PyTorch (bench/torch_peer.py; f32, and bf16 throughout) for the
#     "x torch" column. With --profile, each point is then run again under
#     MOERT_CUDA_PROFILE=1 and its per-command times are printed.
#     The generated grouped-GEMM kernel's artifacts (gpu-prepare.sh's
#     BENCH_GEMV) are timed too, at the T it covers, against the same T
#     with cuBLAS, and with bf16 weights once more with --io device (x and
#     the outputs in GPU memory, moert_session_enqueue, CUDA events). --results DIR keeps the CSVs there.
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
results=""
while [ $# -gt 0 ]; do
  case "$1" in
    --device) [ $# -ge 2 ] || { echo "error: --device needs a value" >&2; exit 1; }; device=$2; shift ;;
    --bench-only) suite=0 ;;
    --no-bench) bench=0 ;;
    --profile) profile=1 ;;
    --results) [ $# -ge 2 ] || { echo "error: --results needs a directory" >&2; exit 1; }; results=$2; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
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
    for artifact in "$prep"/ckpt/*.moeb "$prep"/ckpt-gemv/*.moeb; do
      [ -e "$artifact" ] || continue
      name=$(basename "$artifact" .moeb)
      engine=""
      [ "$(basename "$(dirname "$artifact")")" = ckpt-gemv ] &&
        engine=", gemv T <= $(cat "$prep/ckpt-gemv/max_tokens" 2>/dev/null || echo '?')"
      tol=1e-5 exact=""
      case "$name" in *_bf16) tol=2e-2 ;; *_wbf16 | *_wf16 | *_wfp8 | *_wmxfp4) tol=1e-3 ;;
        *_wfp8lt) tol=1e-2 ;;
        *_a16) tol=1e-2 exact="--max-mismatch 0.02" ;; esac
      if log=$(MOERT_CUDA_GRAPHS=$graphs "$py" "$prep/tools/check_e2e.py" --moe-run "$run" \
               --artifact "$artifact" --checkpoint "$prep/ckpt/$name" --tol $tol $exact --device "$device" 2>&1); then
        echo "ok    $name (graphs=$graphs, tol $tol$engine): $(echo "$log" | tail -1)"
      else
        echo "FAIL  $name (graphs=$graphs, tol $tol$engine):"
        echo "$log" | grep -v " ok" | tail -20
        failed=$((failed + 1))
      fi
    done
  done
  stress="$prep/bin/moert-stress"
  if [ -x "$stress" ] && [ -e "$prep/ckpt/mixtral.moeb" ]; then
    if log=$("$stress" "$prep/ckpt/mixtral.moeb" "$prep/ckpt/mixtral/ref/layer_0/x_T64.npy" \
             --device "$device" --threads 4 --runs 50 2>&1); then
      echo "ok    moert-stress (4 sessions, shared weights): $log"
    else
      echo "FAIL  moert-stress (4 sessions, shared weights): $log"
      failed=$((failed + 1))
    fi
  fi
  # Runs enqueued on the caller's stream with device tensors, alone and
  # inside the caller's capture, against the reference.
  enqueue="$prep/bin/moert-enqueue" ref="$prep/ckpt/mixtral/ref/layer_0"
  if [ -x "$enqueue" ] && [ -e "$prep/ckpt-gemv/mixtral.moeb" ]; then
    out=$(mktemp -d)
    for mode in stream capture; do
      flag=""
      [ $mode = capture ] && flag=--capture
      if log=$("$enqueue" "$prep/ckpt-gemv/mixtral.moeb" "$ref/x_T7.npy" --function layer_0 \
               --device "$device" --runs 3 $flag --out "$out/y.npy" 2>&1) &&
         log="$log; $("$py" -c 'import sys, numpy as np
y, r = np.load(sys.argv[1]), np.load(sys.argv[2])
d = float(np.abs(y - r).max() / max(1.0, float(np.abs(r).max())))
print("max relative difference %.2e" % d); sys.exit(0 if d <= 1e-5 else 1)' "$out/y.npy" "$ref/y_T7.npy" 2>&1)"; then
        echo "ok    moert-enqueue ($mode, T = 7): $log"
      else
        echo "FAIL  moert-enqueue ($mode, T = 7): $log"
        failed=$((failed + 1))
      fi
    done
    rm -rf "$out"
  fi
  # Expert parallelism: Mixtral over 2 ranks (threads, both on this GPU),
  # split evenly and skewed, against one device (cuBLAS may sum a GEMM of
  # other row counts in another order: within 1e-5).
  # check_ranks LABEL R [OPTION...]: Mixtral compiled for R ranks
  # (PREP/ckpt-rR) against one device.
  check_ranks() {
    local label=$1 r=$2 log
    shift 2
    if log=$("$py" "$prep/tools/check_ranks.py" --moe-run "$run" --checkpoint "$prep/ckpt/mixtral" \
             --single "$prep/ckpt/mixtral.moeb" --sharded "$r=$prep/ckpt-r$r/mixtral.moeb" \
             --tol 1e-5 --device "$device" "$@" 2>&1); then
      echo "ok    expert parallelism, $label on $device: $(echo "$log" | tail -1)"
    else
      echo "FAIL  expert parallelism, $label on $device:"
      echo "$log" | grep -E "FAIL|failed|rror" | tail -20
      failed=$((failed + 1))
    fi
  }
  [ -e "$prep/ckpt-r2/mixtral.moeb" ] && check_ranks "2 ranks" 2
  # NCCL (where libnccl.so.2 loads): the communicator's rounds on one GPU,
  # then Mixtral as one rank over NCCL against one device.
  if [ -x "$prep/bin/moert-nccl" ] && "$py" -c 'import ctypes; ctypes.CDLL("libnccl.so.2")' 2>/dev/null; then
    if log=$("$prep/bin/moert-nccl" --ranks 1 2>&1); then
      echo "ok    moert-nccl (1 rank, real NCCL): $log"
    else
      echo "FAIL  moert-nccl (1 rank, real NCCL): $log"
      failed=$((failed + 1))
    fi
    [ -e "$prep/ckpt-r1/mixtral.moeb" ] && [ "${device%%:*}" = cuda ] &&
      check_ranks "1 rank over NCCL" 1 --nccl
  else
    echo "skip  NCCL: no libnccl.so.2 here (or moert-nccl not built)"
  fi
fi

if [ $bench = 1 ]; then
  shape=mixtral fp8_shape="" mxfp4_shape="" tokens=1,16,256,4096 gemv=""
  # shellcheck disable=SC1091
  [ -f "$prep/bench/config" ] && . "$prep/bench/config"
  kind=${device%%:*}
  tmp=$(mktemp -d)
  limits=""
  if [ "$kind" = cuda ] && "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu-check: measuring the GPU's copy bandwidth and GEMM rates with PyTorch"
    limits=$("$py" "$prep/tools/torch_peer.py" --device "$device" --device-limits) || limits=""
    echo "$limits" | sed 's/^/  /'
  else
    echo "gpu-check: PyTorch does not see a GPU here: no limits measured and no PyTorch column"
  fi
  limit() { echo "$limits" | sed -n "s/^$1=//p"; }
  runs=("f32" "bf16")
  # fp8 twice: as the artifact chooses (cuBLASLt's block-scaled GEMM on a GPU
  # of compute capability 9.0), and with MOERT_CUDA_FP8_GEMM=dequant (bf16
  # copies for cuBLAS): the A/B that decides which engine should be the
  # default.
  [ -n "$fp8_shape" ] && runs+=("fp8" "fp8:dequant")
  [ -n "$mxfp4_shape" ] && runs+=("mxfp4")
  if [ -n "$gemv" ]; then
    # The generated kernel's T: those of the sweep it covers.
    gemv_tokens=$(echo "$tokens" | tr ',' '\n' | awk -v g="$gemv" '$1 <= g' | paste -sd, -)
    # bf16 with the generated kernel also with device I/O (moert_session_enqueue).
    [ -n "$gemv_tokens" ] && runs+=("f32:gemv" "bf16:gemv" "bf16:gemv:device")
    [ -n "$gemv_tokens" ] && [ -n "$fp8_shape" ] && runs+=("fp8:gemv")
    [ -n "$gemv_tokens" ] && [ -n "$mxfp4_shape" ] && runs+=("mxfp4:gemv")
  fi
  for run_name in "${runs[@]}"; do
    wt=${run_name%%:*}
    label=$wt run_tokens=$tokens engine=() run_shape=$shape io=() envs=()
    [ "$wt" = fp8 ] && run_shape=$fp8_shape
    [ "$wt" = mxfp4 ] && run_shape=$mxfp4_shape
    if [ "$run_name" = fp8:dequant ]; then
      label="fp8-dequant" envs=(MOERT_CUDA_FP8_GEMM=dequant)
    elif [ "$run_name" != "$wt" ]; then
      label="$wt-gemv$gemv" run_tokens=$gemv_tokens engine=(--cuda-gemv-max-tokens "$gemv")
    fi
    case "$run_name" in *:device) label="$label-device" io=(--io device) ;; esac
    peaks=(--no-probes)
    # mxfp4 weights are read as bf16 values: the bf16 GEMM rate is their
    # limit; fp8 ones too, except on cuBLASLt's block-scaled engine
    # (compute capability 9.0, above the gemv kernel's T), whose limit is
    # the fp8 GEMM rate where the PyTorch peer measured one.
    rate=$wt
    case "$label" in mxfp4*|fp8-dequant) rate=bf16 ;; fp8*) rate=bf16; [ -n "$(limit fp8_tflops)" ] && rate=fp8 ;; esac
    gbps=$(limit copy_gbps) tflops=$(limit "${rate}_tflops")
    if [ -n "$gbps" ] && [ -n "$tflops" ]; then
      peaks=(--peak-gbps "$gbps" --peak-gflops "$(awk "BEGIN { print $tflops * 1000 }")")
    fi
    bench_args=(--artifacts "$prep/bench" --target "$kind" --device "$device" --shape "$run_shape"
                --weight-type "$wt" ${engine[@]+"${engine[@]}"} ${io[@]+"${io[@]}"}
                --warmup 3 --reps 20 --min-time 0 --quiet)
    if ! env ${envs[@]+"${envs[@]}"} "$prep/bin/moe-bench" "${bench_args[@]}" --tokens "$run_tokens" "${peaks[@]}" --format csv \
         > "$tmp/moec-$label.csv"; then
      echo "FAIL  moe-bench $run_shape $label"
      failed=$((failed + 1))
      continue
    fi
    if [ -n "$limits" ] && [ "$wt" != fp8 ] && [ "$wt" != mxfp4 ] && [ ! -e "$tmp/torch-$wt.csv" ]; then
      "$py" "$prep/tools/torch_peer.py" --device "$device" --dtype "$wt" --shapes "$shape" \
        --tokens "$tokens" --warmup 2 --reps 10 --min-time 0 > "$tmp/torch-$wt.csv" ||
        { echo "gpu-check: the PyTorch peer failed ($wt); no PyTorch column"; rm -f "$tmp/torch-$wt.csv"; }
    fi
    "$py" - "$tmp/moec-$label.csv" "$tmp/torch-$wt.csv" "$label" "$device" "$rate" <<'PY' || failed=$((failed + 1))
import csv, os, sys
moec, peer, wt, device, rate = sys.argv[1:6]
rows = [r for r in csv.DictReader(l for l in open(moec) if not l.startswith("#"))]
if not rows:
    sys.exit(f"FAIL  moe-bench wrote no rows for {wt} ({moec})")
torch = {}
if os.path.exists(peer):
    torch = {int(r["T"]): float(r["median_ms"])
             for r in csv.DictReader(l for l in open(peer) if not l.startswith("#"))}
r0 = rows[0]
print(f"\nbench: {r0['shape']} H={r0['H']} F={r0['F']} E={r0['E']} k={r0['k']}, "
      f"{wt.split('-')[0]} expert weights, on {device} (moe-bench --artifacts"
      + ("; fp8 GEMMs dequantized to bf16 for cuBLAS (MOERT_CUDA_FP8_GEMM=dequant)"
         if wt == "fp8-dequant"
         else f"; grouped GEMMs: the generated kernel, {wt.split('-')[1]}" if "-" in wt
         else "; fp8 GEMMs: cuBLASLt's block-scaled GEMM on compute capability 9.0, else cuBLAS"
         if wt == "fp8" and device.startswith("cuda")
         else "; grouped GEMMs: cuBLAS" if device.startswith("cuda") else "")
      + ("; device I/O, runs enqueued on a stream, timed by events, L2 flushed)"
         if wt.endswith("-device") else ")"))
if float(r0["stream_read_gbps"] or 0) > 0:
    print(f"limits measured by PyTorch: copy {float(r0['stream_read_gbps']):.0f} GB/s, "
          f"{rate} GEMM {float(r0['fma_peak_gflops']) / 1000:.0f} TFLOP/s")
print(f"{'T':>6} {'median ms':>10} {'min ms':>9} {'experts':>8} {'HBM GB/s':>9} {'TFLOP/s':>8} "
      f"{'% copy':>7} {'% GEMM':>7} {'% roof':>7} {'torch ms':>9} {'x torch':>8}")
for r in rows:
    T = int(r["T"])
    t = torch.get(T)
    print(f"{T:>6} {float(r['median_ms']):>10.3f} {float(r['min_ms']):>9.3f} {r['experts_touched']:>8} "
          f"{float(r['weight_gbps']):>9.0f} {float(r['gflops']) / 1000:>8.2f} "
          + (f"{float(r['pct_stream_read']):>7.1f} {float(r['pct_fma_peak']):>7.1f} {float(r['pct_roofline']):>7.1f} "
             if float(r['stream_read_gbps'] or 0) > 0 else f"{'-':>7} {'-':>7} {'-':>7} ")
          + (f"{t:>9.3f} {t / float(r['median_ms']):>7.2f}x" if t else f"{'-':>9} {'-':>8}"))
PY
    if [ $profile = 1 ]; then
      for T in ${run_tokens//,/ }; do
        echo "T = $T:"
        env ${envs[@]+"${envs[@]}"} MOERT_CUDA_PROFILE=1 "$prep/bin/moe-bench" "${bench_args[@]}" --tokens "$T" --no-probes \
          --warmup 1 --reps 10 --format csv 2>&1 >/dev/null
      done
    fi
  done
  if [ -n "$results" ]; then
    mkdir -p "$results" && cp "$tmp"/*.csv "$results/" && echo "gpu-check: CSVs in $results"
  fi
  rm -rf "$tmp"
fi
if [ $failed -gt 0 ]; then
  echo "gpu-check: $failed check(s) FAILED"
  exit 1
fi
echo "gpu-check: all checks passed"
