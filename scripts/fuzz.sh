#!/usr/bin/env bash
# make fuzz: runs every libFuzzer target of test/fuzz for SECONDS each, JOBS
# at a time, on a copy of its checked-in seed corpus (new inputs stay in the
# build directory). A crash fails the run: the reproducer is saved as
# BUILD/fuzz/<target>/crash-* and should become a regression input in
# test/fuzz/corpus/<target>/.
# Usage: fuzz.sh [BUILD] [SECONDS] [TARGET or ""] [JOBS]
set -euo pipefail
BUILD=${1:-build-fuzz}
SECONDS_EACH=${2:-60}
ONLY=${3:-}
src=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$BUILD/bin" && pwd)
targets="fuzz_artifact fuzz_elf fuzz_npy fuzz_safetensors fuzz_config fuzz_moe_opt"
declare -A maxlen=([fuzz_artifact]=65536 [fuzz_elf]=65536 [fuzz_npy]=4096 [fuzz_safetensors]=4096
                   [fuzz_config]=4096 [fuzz_moe_opt]=8192)
# Targets run JOBS at a time (each libFuzzer process is single-threaded); the
# reports are printed in the order of the list once all have finished.
JOBS=${4:-1}
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "error: JOBS must be a positive integer, not '$JOBS'" >&2; exit 2; }
run_one() {
  local t=$1 work=$BUILD/fuzz/$1
  mkdir -p "$work/corpus"
  cp -n "$src/test/fuzz/corpus/$t/"* "$work/corpus/" 2>/dev/null || true
  if (cd "$work" && "$bin/$t" -max_total_time="$SECONDS_EACH" \
        -max_len="${maxlen[$t]}" -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 corpus > log.txt 2>&1); then
    echo ok > "$work/status"
  else
    echo failed > "$work/status"
  fi
}
selected=""
for t in $targets; do
  [ -n "$ONLY" ] && [ "$ONLY" != "$t" ] && continue
  selected="$selected $t"
done
[ -n "$selected" ] || { echo "error: no fuzz target named '$ONLY' (targets:$targets)" >&2; exit 2; }
echo "fuzzing${selected}: ${SECONDS_EACH}s each, $JOBS at a time"
running=0
for t in $selected; do
  rm -f "$BUILD/fuzz/$t/status"
  if [ "$running" -ge "$JOBS" ]; then wait -n || true; running=$((running - 1)); fi
  run_one "$t" &
  running=$((running + 1))
done
wait || true
status=0
for t in $selected; do
  work=$BUILD/fuzz/$t
  echo "== $t: ${SECONDS_EACH}s"
  if [ "$(cat "$work/status" 2>/dev/null)" != ok ]; then
    echo "   CRASH or failure; see $work/log.txt and $work/crash-*"
    tail -30 "$work/log.txt" || true
    status=1
    continue
  fi
  grep -E "stat::number_of_executed_units|stat::new_units_added" "$work/log.txt" | sed 's/^/   /' || true
  echo "   corpus: $(ls "$work/corpus" | wc -l) inputs"
done
exit $status
