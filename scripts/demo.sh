#!/usr/bin/env bash
# make demo: import the bundled tiny checkpoint, compile it, run it, and
# compare with the reference output. BUILD is the build directory.
set -euo pipefail
BUILD=${1:-build}
bin=$BUILD/bin
out=$BUILD/demo
ckpt=examples/tiny-mixtral
mkdir -p "$out"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f s", b - a }'; }

echo "== 1. moe-import $ckpt"
t0=$(now)
"$bin/moe-import" "$ckpt" -o "$out/tiny-mixtral.mlir"
t1=$(now)
echo "   $(grep -c 'moe.weight' "$out/tiny-mixtral.mlir") weights referenced, $(wc -c < "$out/tiny-mixtral.mlir") bytes of IR ($(elapsed "$t0" "$t1"))"
grep -o 'moe.block .*ffn <[^>]*>' "$out/tiny-mixtral.mlir" | sed 's/^/   /'

# The checkpoint is bf16: by default (--weight-type=native) moe-compile keeps
# bf16 weights and rounds the GEMMs' activations to bf16; f32 here, so that
# step 4 can compare with the f32 reference at 1e-5.
echo "== 2. moe-compile --target=cpu --max-tokens 256 --weight-type=f32"
t0=$(now)
"$bin/moe-compile" "$out/tiny-mixtral.mlir" -o "$out/tiny-mixtral.moeb" --max-tokens 256 --weight-type=f32
t1=$(now)
echo "   $out/tiny-mixtral.moeb: $(wc -c < "$out/tiny-mixtral.moeb") bytes ($(elapsed "$t0" "$t1"))"

echo "== 3. moe-run on 16 tokens"
"$bin/moe-run" "$out/tiny-mixtral.moeb" --input "$ckpt/ref/layer_0/x_T16.npy" \
  --output "$out/y.npy" --router-stats
"$bin/moe-run" "$out/tiny-mixtral.moeb" --input "$ckpt/ref/layer_0/x_T16.npy" \
  --bench 50 --quiet

echo "== 4. against the NumPy reference"
/usr/bin/python3 - "$out/y.npy" "$ckpt/ref/layer_0/y_T16.npy" <<'PY'
import sys
import numpy as np
y, ref = np.load(sys.argv[1]), np.load(sys.argv[2])
err = float(np.abs(y - ref).max() / np.abs(ref).max())
print("   max |y - ref| / max |ref| = %.3g (%s)" % (err, "ok" if err <= 1e-5 else "TOO LARGE"))
sys.exit(0 if err <= 1e-5 else 1)
PY
