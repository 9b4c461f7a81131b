//===- EvictCaches.h - a layer's weights come from memory -------*- C++ -*-===//
//
// moe-bench reads a 128 MiB buffer before each timed CPU run, as in a model
// whose other layers run in between; bench/ggml_peer.cpp does the same, so
// both are timed alike. Header-only: the peer is built outside the project.
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_TOOLS_MOE_BENCH_EVICTCACHES_H
#define MOEC_TOOLS_MOE_BENCH_EVICTCACHES_H

#include <cstddef>
#include <vector>

namespace moebench {

/// Reads a buffer larger than the last-level cache, so the next run finds
/// none of the model's weights there; the sum keeps the reads.
inline float evictCaches() {
  static std::vector<float> buffer(size_t(32) << 20, 1.0f);
  float sum = 0;
  for (size_t i = 0; i < buffer.size(); i += 16)
    sum += buffer[i];
  return sum;
}

} // namespace moebench

#endif // MOEC_TOOLS_MOE_BENCH_EVICTCACHES_H
