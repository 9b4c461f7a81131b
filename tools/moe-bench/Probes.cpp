//===- Probes.cpp - FMA peak and streaming-read bandwidth -----------------===//
#include "Probes.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include "cpu/Intrinsics.h" // <immintrin.h>, without GCC 12's false warnings
#include <sys/mman.h>
#include <thread>
#include <vector>

namespace moebench {
namespace {

using Clock = std::chrono::steady_clock;

/// Runs body(thread) on `threads` threads released together; returns the
/// seconds from the release until the last one finished.
double timeParallel(int threads, const std::function<void(int)> &body) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire))
        std::this_thread::yield();
      body(t);
    });
  while (ready.load() < threads)
    std::this_thread::yield();
  auto start = Clock::now();
  go.store(true, std::memory_order_release);
  for (std::thread &t : pool)
    t.join();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Independent chains cover the FMA latency x throughput of current cores
// (4 cycles x 2 pipes = 8 in flight); each iteration is `Chains` vector
// FMAs. The chains and the two operands must stay in registers: AVX-512 has
// 32 (16 chains), AVX2 and SSE 16 (12 chains: 16 + 2 spilled, and such a
// loop was reported at 114 GFLOP/s on a Zen 3 where 12 chains gave 188).
constexpr int kChainsAvx512 = 16;
constexpr int kChainsAvx2 = 12;

__attribute__((target("avx512f"))) float fmaLoopAvx512(long iters) {
  __m512 acc[kChainsAvx512];
  for (int j = 0; j < kChainsAvx512; ++j)
    acc[j] = _mm512_set1_ps(static_cast<float>(j));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
  for (long i = 0; i < iters; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < kChainsAvx512; ++j)
      acc[j] = _mm512_fmadd_ps(acc[j], a, b);
  __m512 s = acc[0];
  for (int j = 1; j < kChainsAvx512; ++j)
    s = _mm512_add_ps(s, acc[j]);
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) float fmaLoopAvx2(long iters) {
  __m256 acc[kChainsAvx2];
  for (int j = 0; j < kChainsAvx2; ++j)
    acc[j] = _mm256_set1_ps(static_cast<float>(j));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
  for (long i = 0; i < iters; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < kChainsAvx2; ++j)
      acc[j] = _mm256_fmadd_ps(acc[j], a, b);
  float out[8];
  __m256 s = acc[0];
  for (int j = 1; j < kChainsAvx2; ++j)
    s = _mm256_add_ps(s, acc[j]);
  _mm256_storeu_ps(out, s);
  return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

float fmaLoopScalar(long iters) {
  float acc[kChainsAvx2];
  for (int j = 0; j < kChainsAvx2; ++j)
    acc[j] = static_cast<float>(j);
  for (long i = 0; i < iters; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < kChainsAvx2; ++j)
      acc[j] = std::fma(acc[j], 0.999999f, 1e-6f);
  float s = 0;
  for (float v : acc)
    s += v;
  return s;
}

__attribute__((target("avx512f"))) float sumAvx512(const float *p, size_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
  }
  float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1),
                                               _mm512_add_ps(a2, a3)));
  for (; i < n; ++i)
    s += p[i];
  return s;
}

__attribute__((target("avx2"))) float sumAvx2(const float *p, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
  }
  float out[8];
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  float s = 0;
  for (float v : out)
    s += v;
  for (; i < n; ++i)
    s += p[i];
  return s;
}

float sumScalar(const float *p, size_t n) {
  float s = 0;
  for (size_t i = 0; i < n; ++i)
    s += p[i];
  return s;
}

volatile float sink;

} // namespace

ProbeResult measureFmaPeak(int threads) {
  threads = std::max(1, threads);
  int lanes = 1, chains = kChainsAvx2;
  float (*loop)(long) = fmaLoopScalar;
  std::string how = "scalar fma";
  if (__builtin_cpu_supports("avx512f")) {
    loop = fmaLoopAvx512, lanes = 16, chains = kChainsAvx512, how = "avx512 fma";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    loop = fmaLoopAvx2, lanes = 8, how = "avx2 fma";
  }
  // Calibrate to about 0.1 s per trial.
  long iters = 1 << 16;
  for (;;) {
    auto t0 = Clock::now();
    sink = loop(iters);
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s > 0.02 || iters > (1L << 34))
      break;
    iters *= 4;
  }
  iters *= 5;
  double best = 0;
  for (int trial = 0; trial < 5; ++trial) {
    double s = timeParallel(threads, [&](int) { sink = loop(iters); });
    double flops = 2.0 * chains * lanes * static_cast<double>(iters) * threads;
    best = std::max(best, flops / s / 1e9);
  }
  return {best, how + ", " + std::to_string(threads) + " thread" +
                    (threads == 1 ? "" : "s")};
}

ProbeResult measureStreamRead(int threads, size_t bytes) {
  threads = std::max(1, threads);
  size_t n = bytes / sizeof(float);
  n -= n % (64 * static_cast<size_t>(threads));
  float (*sum)(const float *, size_t) = sumScalar;
  if (__builtin_cpu_supports("avx512f"))
    sum = sumAvx512;
  else if (__builtin_cpu_supports("avx2"))
    sum = sumAvx2;
  // The best of 4 KiB pages and 2 MiB ones (MADV_HUGEPAGE; the runtime asks
  // for them too), so that "% read" is against what the machine can do.
  double best = 0;
  bool bestHuge = false;
  for (bool huge : {false, true}) {
    void *map = ::mmap(nullptr, n * sizeof(float), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
      return {0, "could not allocate the probe's buffer"};
    if (huge)
      ::madvise(map, n * sizeof(float), MADV_HUGEPAGE);
    float *data = static_cast<float *>(map);
    size_t slice = n / threads;
    // Each thread touches (and so places) its own slice first.
    timeParallel(threads, [&](int t) {
      for (size_t i = t * slice; i < (t + 1) * slice; ++i)
        data[i] = 1.0f;
    });
    for (int pass = 0; pass < 5; ++pass) {
      double s = timeParallel(threads, [&](int t) { sink = sum(data + t * slice, slice); });
      double gbps = static_cast<double>(n * sizeof(float)) / s / 1e9;
      if (gbps > best) {
        best = gbps;
        bestHuge = huge;
      }
    }
    ::munmap(map, n * sizeof(float));
  }
  return {best, std::to_string(n * sizeof(float) >> 20) + " MiB, " +
                    std::to_string(threads) + " thread" + (threads == 1 ? "" : "s") +
                    (bestHuge ? ", 2 MiB pages" : ", 4 KiB pages")};
}

} // namespace moebench
