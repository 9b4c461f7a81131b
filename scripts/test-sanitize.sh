#!/usr/bin/env bash
# make test-sanitize:
#  1. build-asan: everything built with ASan + UBSan (gcc); runs every test
#     (lit with the e2e suite, the compiler's and the runtime's unit tests)
#     but the install test and the NumPy-only reference self-check.
#  2. build-tsan: the runtime alone built with ThreadSanitizer; runs the
#     concurrency stress test (8 threads, then 2 sessions of 2 threads for
#     the thread pool) on an artifact compiled by (1).
set -euo pipefail
JOBS=${1:-2}
asan_flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# Debian's LLVM/MLIR libraries are not instrumented, but LLVM's headers poison
# allocator memory by hand under ASan; ignore manual poisoning (moec does none).
export ASAN_OPTIONS=allow_user_poisoning=0:detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$(pwd)/scripts/lsan.supp:print_suppressions=0

# -O1 -g1 (line tables and function names, enough for ASan's reports): the
# build takes about 40% less time than RelWithDebInfo's -O2 -g. No MPI: its
# library is not ours to instrument, and the mpirun test is left out here.
# No Python package: an instrumented module cannot load into an
# uninstrumented interpreter.
if [ ! -f build-asan/build.ninja ]; then
  cmake -G Ninja -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
    -DMOEC_ENABLE_CUDA=OFF -DMOEC_ENABLE_MPI=OFF -DMOEC_ENABLE_PYTHON=OFF -DCMAKE_CXX_FLAGS="$asan_flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined"
fi
cmake --build build-asan -j "$JOBS"
# The install test builds examples/embed without the sanitizer flags; the
# reference's self-check runs only NumPy (nothing instrumented).
(cd build-asan && ctest -j "$JOBS" --output-on-failure -E 'install-and-embed|reference-selfcheck')

if [ ! -f build-tsan/build.ninja ]; then
  cmake -G Ninja -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMOEC_ENABLE_COMPILER=OFF -DMOEC_ENABLE_CUDA=OFF -DMOERT_BUILD_TESTS=OFF \
    -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread"
fi
cmake --build build-tsan -j "$JOBS" --target moert-stress
work=build-tsan/stress
rm -rf "$work" && mkdir -p "$work"
/usr/bin/python3 test/reference/make_checkpoint.py --arch qwen2_moe --out "$work/ckpt" --tokens 64 -q
build-asan/bin/moe-import "$work/ckpt" -o "$work/g.mlir"
build-asan/bin/moe-compile "$work/g.mlir" -o "$work/g.moeb" --max-tokens 64
TSAN_OPTIONS=halt_on_error=1 build-tsan/bin/moert-stress "$work/g.moeb" \
  "$work/ckpt/ref/layer_0/x_T64.npy" --threads 8 --runs 250
TSAN_OPTIONS=halt_on_error=1 build-tsan/bin/moert-stress "$work/g.moeb" \
  "$work/ckpt/ref/layer_0/x_T64.npy" --threads 2 --session-threads 2 --runs 150
echo "test-sanitize: ASan/UBSan suite and TSan stress test passed"
