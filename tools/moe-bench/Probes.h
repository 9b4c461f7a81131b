//===- Probes.h - this machine's limits, measured ---------------*- C++ -*-===//
//
// moe-bench reports every point against limits it measures itself in the same
// run: the peak rate of fused multiply-adds and the bandwidth of streaming
// reads from memory, each on the same number of threads as the benchmark.
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_TOOLS_MOE_BENCH_PROBES_H
#define MOEC_TOOLS_MOE_BENCH_PROBES_H

#include <cstddef>
#include <string>

namespace moebench {

struct ProbeResult {
  double value = 0; // GFLOP/s or GB/s (1e9 bytes)
  std::string how;  // the instruction set or the buffer size it used
};

/// Best f32 FMA rate over a few trials, `threads` threads at once, with the
/// widest vector FMA the CPU has (AVX-512, else AVX2 + FMA, else scalar).
ProbeResult measureFmaPeak(int threads);

/// Best read bandwidth over a few passes of `threads` threads summing disjoint
/// slices of a `bytes`-byte buffer (larger than the last-level cache).
ProbeResult measureStreamRead(int threads, size_t bytes);

} // namespace moebench

#endif // MOEC_TOOLS_MOE_BENCH_PROBES_H
