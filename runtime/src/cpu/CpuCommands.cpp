//===- CpuCommands.cpp - the artifact's commands on the CPU ---------------===//
#include "cpu/CpuCommands.h"
#include "ExpertOffsets.h"
#include "cpu/PanelGemm.h"
#include "cpu/SmallGemm.h"
#include "moert/format.h"
#include "moert/fp8.h"
#include "moert/half.h"
#include "moert/intq.h"
#include "moert/mxfp4.h"

#include <algorithm>
#include <cassert>
#include <cblas.h>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace moert::rt {

namespace {

/// Below this many multiply-adds a GEMM runs on the calling thread: splitting
/// it costs more than it saves.
constexpr double kParallelMacs = 1 << 17;

int64_t ceilDiv(int64_t a, int64_t b) { return a / b + (a % b != 0); }

/// How a GEMM of M x N (x K) is cut into tiles for `threads` threads: column
/// blocks of B (each thread packs only its slice of B, the larger operand in
/// MoE layers), then row blocks when there are too few column blocks.
struct GemmSplit {
  int64_t mStep, nStep, mParts, nParts;
  int64_t tasks() const { return mParts * nParts; }
};

/// Column blocks of a GEMM longer than this are rounded up to a multiple of
/// it: 16, or a panel's 32 columns when B is in panels (where every block is
/// rounded, so that each starts at a panel).
int64_t columnQuantum(bool bPanels) { return bPanels ? kPanelWidth : 16; }

GemmSplit splitGemm(int64_t M, int64_t N, int64_t K, int32_t threads,
                    bool bPanels) {
  GemmSplit s{M, N, 1, 1};
  if (threads <= 1 || M <= 0 ||
      static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K) <
          kParallelMacs)
    return s;
  int64_t q = columnQuantum(bPanels);
  int64_t nParts = std::min<int64_t>(threads, std::max<int64_t>(1, N / 16));
  int64_t nStep = ceilDiv(N, nParts);
  if ((nStep >= 16 || bPanels) && nStep < N)
    nStep = std::min<int64_t>(N, ceilDiv(nStep, q) * q);
  nParts = ceilDiv(N, nStep);
  int64_t mParts = std::min<int64_t>(ceilDiv(threads, nParts),
                                     std::max<int64_t>(1, M / 4));
  int64_t mStep = ceilDiv(M, mParts);
  mParts = ceilDiv(M, mStep);
  return GemmSplit{mStep, nStep, mParts, nParts};
}

/// One tile of C = A·Bᵀ: the runtime's own kernel up to kSmallGemmMaxRows
/// rows (a weight-streaming product, where BLAS's packing of B costs more than
/// it saves), BLAS above. The crossover was measured with moe-bench (mixtral-s
/// and olmoe, T = 16..256; docs/runtime.md).
/// BLAS's C = A·Bᵀ (+ beta·C), A [m, K] and B [n, K] row-major.
inline void blasTile(int64_t m, int64_t n, int64_t K, const float *A,
                     const float *B, float *C, int64_t ldc, float beta) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(K), 1.0f, A,
              static_cast<int>(K), B, static_cast<int>(K), beta, C,
              static_cast<int>(ldc));
}

inline void sgemmTile(int64_t m, int64_t n, int64_t K, const float *A,
                      const float *B, float *C, int64_t ldc, float beta) {
  if (m <= kSmallGemmMaxRows && smallGemmAvailable()) {
    smallGemm(m, n, K, A, B, C, ldc, beta != 0.0f);
    return;
  }
  blasTile(m, n, K, A, B, C, ldc, beta);
}

/// One tile of C = A·Bᵀ with A and B in bf16 (`bf16`) or f16: the runtime's
/// 16-bit kernel for any number of rows when it has AVX512_BF16's dot
/// products (bf16 only; faster than the alternatives at every T measured,
/// docs/runtime.md) or for few rows, else panels of A and B widened to f32
/// (exactly) and BLAS's sgemm. (Debian's OpenBLAS is built without its bf16
/// GEMM, cblas_sbgemm.)
void gemmTile16(bool bf16, int64_t m, int64_t n, int64_t K, const uint16_t *A,
                const uint16_t *B, float *C, int64_t ldc, float beta) {
  if ((bf16 && hasBf16Dot()) ||
      (m <= kSmallGemm16MaxRows && smallGemmAvailable())) {
    smallGemm16(bf16, m, n, K, A, B, C, ldc, beta != 0.0f);
    return;
  }
  // Panels: B in chunks of about 4 MiB of f32, each widened once, against A
  // in chunks of 256 rows.
  int64_t nStep = std::max<int64_t>(16, (int64_t(1) << 20) / std::max<int64_t>(K, 1));
  constexpr int64_t mStep = 256;
  for (int64_t n0 = 0; n0 < n; n0 += nStep) {
    int64_t nc = std::min(nStep, n - n0);
    const float *b = widenRows(bf16, nc, K, B + n0 * K, /*slot=*/1);
    for (int64_t m0 = 0; m0 < m; m0 += mStep) {
      int64_t mc = std::min(mStep, m - m0);
      const float *a = widenRows(bf16, mc, K, A + m0 * K, /*slot=*/0);
      blasTile(mc, nc, K, a, b, C + m0 * ldc + n0, ldc, beta);
    }
  }
}

/// The panel kernels' instruction set: the best this CPU has, or a lower one
/// named by MOERT_PANEL_ISA (avx2, generic), for tests and comparisons on
/// one machine. A name the CPU cannot run, or an unknown one, keeps the best.
PanelIsa panelIsa() {
  static const PanelIsa isa = [] {
    PanelIsa best = bestPanelIsa();
    const char *v = std::getenv("MOERT_PANEL_ISA");
    if (v && std::strcmp(v, "generic") == 0)
      return PanelIsa::Generic;
    if (v && std::strcmp(v, "avx2") == 0 && best != PanelIsa::Generic)
      return PanelIsa::Avx2;
    return best;
  }();
  return isa;
}

/// The same cap for the bf16 panel kernels (whose best may be AVX512_BF16's
/// dot products): MOERT_PANEL_ISA=avx2 runs their AVX2 tiles.
Bf16PanelIsa bf16PanelIsa() {
  static const Bf16PanelIsa isa = [] {
    switch (panelIsa()) {
    case PanelIsa::Generic: return Bf16PanelIsa::Generic;
    case PanelIsa::Avx2: return Bf16PanelIsa::Avx2;
    case PanelIsa::Avx512: break;
    }
    return bestBf16PanelIsa();
  }();
  return isa;
}

/// A tile of a GEMM whose operands hold `dtype`, at element offsets `a` (rows
/// of A) and `b` (rows of B) from A and B; with B in panels, B is an f32,
/// bf16, f16, f8e4m3, mxfp4, int8 or int4 weight of [N, K] matrices in panels
/// (format.h, mxfp4.h, intq.h), `b` is
/// e * N + n0 for columns [n0, n0 + n) of matrix e, and n0 is a multiple of 32.
inline void gemmTile(moert_dtype_t dtype, int64_t m, int64_t n, int64_t K,
                     const void *A, int64_t a, GemmB gb, int64_t b, int64_t N,
                     float *C, int64_t ldc, float beta) {
  const void *B = gb.data;
  if (gb.panels) {
    int64_t e = b / N, n0 = b % N;
    assert(n0 % kPanelWidth == 0 && "column blocks start at a panel");
    if (dtype == MOERT_MXFP4) { // MXFP4 panels (mxfp4.h), K a multiple of 32
      panelGemmMxfp4(m, n, K, static_cast<const float *>(A) + a * K,
                     static_cast<const uint8_t *>(B) +
                         static_cast<uint64_t>(e) * mxfp4PanelBytes(N, K) +
                         mxfp4GroupOffset(n0, 0, K),
                     C, ldc, beta != 0.0f, panelIsa());
      return;
    }
    if (dtype == MOERT_INT8 || dtype == MOERT_INT4) { // integer panels (intq.h)
      int bits = dtype == MOERT_INT8 ? 8 : 4;
      panelGemmInt(bits, gb.group, m, n, K, static_cast<const float *>(A) + a * K,
                   static_cast<const uint8_t *>(B) +
                       static_cast<uint64_t>(e) * intPanelBytes(bits, N, K, gb.group) +
                       intGroupOffset(bits, n0, 0, K, gb.group),
                   C, ldc, beta != 0.0f, panelIsa(), gb.int8Activations);
      return;
    }
    // f32, bf16, f16 or f8e4m3 (the loader checks)
    int64_t depth = panelDepthFor(dtype == MOERT_BF16);
    uint64_t at = e * panelElements(N, K, depth) +
                  n0 / kPanelWidth * panelElements(kPanelWidth, K, depth);
    if (dtype == MOERT_F8E4M3)
      panelGemmFp8(m, n, K, static_cast<const float *>(A) + a * K,
                   static_cast<const uint8_t *>(B) + at,
                   gb.scales + e * fp8Blocks(N) * fp8Blocks(K), n0, C, ldc,
                   beta != 0.0f, panelIsa());
    else if (dtype == MOERT_F32)
      panelGemm(m, n, K, static_cast<const float *>(A) + a * K,
                static_cast<const float *>(B) + at, C, ldc, beta != 0.0f,
                panelIsa());
    else if (dtype == MOERT_F16)
      panelGemmF16(m, n, K, static_cast<const uint16_t *>(A) + a * K,
                   static_cast<const uint16_t *>(B) + at, C, ldc, beta != 0.0f, panelIsa());
    else
      panelGemmBf16(m, n, K, static_cast<const uint16_t *>(A) + a * K,
                    static_cast<const uint16_t *>(B) + at, C, ldc, beta != 0.0f,
                    bf16PanelIsa());
    return;
  }
  if (dtype == MOERT_F32) {
    sgemmTile(m, n, K, static_cast<const float *>(A) + a * K,
              static_cast<const float *>(B) + b * K, C, ldc, beta);
    return;
  }
  gemmTile16(dtype == MOERT_BF16, m, n, K, static_cast<const uint16_t *>(A) + a * K,
             static_cast<const uint16_t *>(B) + b * K, C, ldc, beta);
}

} // namespace

void initBlasThreading() {
#if defined(MOERT_HAVE_OPENBLAS_SET_NUM_THREADS)
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
#endif
}

void runLaunch(ThreadPool &pool, KernelFn kernel, void *const *args,
               int64_t tokens, int64_t extent, int64_t grain) {
  if (extent <= 0)
    return;
  int64_t chunks = ceilDiv(extent, grain);
  auto chunk = [&](int64_t i) {
    int64_t begin = i * grain;
    int64_t end = begin + std::min(grain, extent - begin);
    kernel(args, tokens, begin, end);
  };
  pool.parallelFor(chunks, chunk);
}

namespace {

/// `n` f32 values rounded to bf16 (to nearest even, a NaN to the quiet NaN
/// 0x7FC0, as the kernels' round_to_bf16) or f16 (moert/half.h).
void roundTo16(const float *in, int64_t n, uint16_t *out, bool f16) {
  if (f16) {
    for (int64_t i = 0; i < n; ++i)
      out[i] = floatToHalf(in[i]);
    return;
  }
  for (int64_t i = 0; i < n; ++i) { // branch-free, so that it vectorizes
    uint32_t bits;
    std::memcpy(&bits, &in[i], 4);
    uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
    out[i] = (bits & 0x7fffffffu) > 0x7f800000u ? uint16_t(0x7fc0)
                                                : static_cast<uint16_t>(rounded);
  }
}

/// gemmTile into a 16-bit C: blocks of rows (of all n columns, up to
/// kCScratchCols) summed into the calling thread's f32 scratch of at most
/// kCScratchFloats, then rounded. The rows of a block are whole panel row
/// blocks (256) when more fit, so the panel kernels traverse B as they do
/// for an f32 C; otherwise the blocks are of equal size, so that none is
/// short where m is not (the row-major kernels pick their algorithm by the
/// rows). The scratch grows once per thread, not per run.
void gemmTile16C(moert_dtype_t dtype, int64_t m, int64_t n, int64_t K, const void *A,
                 int64_t a, GemmB B, int64_t b, int64_t ldb, uint16_t *C, int64_t ldc,
                 bool f16) {
  constexpr int64_t kRowBlock = 256;
  int64_t cols = std::min(n, kCScratchCols); // a multiple of a panel's 32 columns
  int64_t rows = std::min(m, std::max<int64_t>(1, kCScratchFloats / cols));
  if (rows > kRowBlock && rows < m)
    rows = rows / kRowBlock * kRowBlock;
  else if (rows < m)
    rows = ceilDiv(m, ceilDiv(m, rows));
  thread_local std::vector<float> scratch;
  if (scratch.size() < static_cast<size_t>(rows * cols))
    scratch.resize(static_cast<size_t>(rows * cols));
  for (int64_t j = 0; j < n; j += cols)
    for (int64_t i = 0; i < m; i += rows) {
      int64_t mm = std::min(rows, m - i), nn = std::min(cols, n - j);
      gemmTile(dtype, mm, nn, K, A, a + i, B, b + j, ldb, scratch.data(), nn, 0.0f);
      for (int64_t r = 0; r < mm; ++r)
        roundTo16(scratch.data() + r * nn, nn, C + (i + r) * ldc + j, f16);
    }
}

} // namespace

void runGemm(ThreadPool &pool, moert_dtype_t dtype, int64_t M, int64_t N,
             int64_t K, const void *A, GemmB B, void *C, bool accumulate,
             moert_dtype_t cType) {
  if (M <= 0)
    return;
  assert((cType == MOERT_F32 || !accumulate) && "a 16-bit C is written, not accumulated");
  float beta = accumulate ? 1.0f : 0.0f;
  GemmSplit s = splitGemm(M, N, K, pool.size(), B.panels);
  auto tile = [&](int64_t m0, int64_t n0, int64_t m, int64_t n) {
    if (cType == MOERT_F32)
      gemmTile(dtype, m, n, K, A, m0, B, n0, N, static_cast<float *>(C) + m0 * N + n0, N, beta);
    else
      gemmTile16C(dtype, m, n, K, A, m0, B, n0, N, static_cast<uint16_t *>(C) + m0 * N + n0,
                  N, cType == MOERT_F16);
  };
  if (s.tasks() == 1) {
    tile(0, 0, M, N);
    return;
  }
  auto part = [&](int64_t i) {
    int64_t m0 = (i / s.nParts) * s.mStep, n0 = (i % s.nParts) * s.nStep;
    int64_t m = std::min(s.mStep, M - m0), n = std::min(s.nStep, N - n0);
    if (m > 0 && n > 0)
      tile(m0, n0, m, n);
  };
  pool.parallelFor(s.tasks(), part);
}


Status runGroupedGemm(ThreadPool &pool, moert_dtype_t dtype, int64_t rows,
                      int64_t experts, int64_t N, int64_t K, const void *A,
                      GemmB B, void *Cv, const uint8_t *offsets,
                      const uint8_t *map, int64_t mapExperts, moert_dtype_t cType) {
  if (Status s = checkExpertOffsets(offsets, experts, rows); !s)
    return s;
  // A rank's slots: each group with rows names a matrix of B.
  if (map)
    for (int64_t g = 0; g < experts; ++g) {
      int32_t m = loadOffset(map, g);
      if (loadOffset(offsets, g + 1) > loadOffset(offsets, g) && (m < 0 || m >= mapExperts))
        return error(MOERT_EXECUTION_ERROR, "slot ", g, " has rows but names expert ", m,
                     ", not one of the ", mapExperts);
    }
  auto matrix = [&](int64_t g) -> int64_t { return map ? loadOffset(map, g) : g; };
  int64_t nonEmpty = 0;
  for (int64_t e = 0; e < experts; ++e)
    nonEmpty += loadOffset(offsets, e + 1) > loadOffset(offsets, e);
  int64_t used = loadOffset(offsets, experts);
  size_t cSize = moert_dtype_size(cType);
  // A rank's slots (map): the rows past the received ones are never read
  // (the launches over them stop there), so they are left as they are.
  if (used < rows && !map)
    std::memset(static_cast<uint8_t *>(Cv) + used * N * cSize, 0,
                static_cast<size_t>((rows - used) * N) * cSize);
  if (used == 0)
    return Status();

  // Tiles: (expert, column block) pairs; an expert with no rows is a no-op.
  double macs = static_cast<double>(used) * static_cast<double>(N) * static_cast<double>(K);
  // About 2 tiles per thread; 8 for int8 / int4 weights, whose tiles are
  // short: a worker that joins late still takes its share (measured on a
  // 2-vCPU VM, 2 threads: mixtral-s int4 T = 1 0.92-0.99 -> 0.75-0.82 ms,
  // olmoe 2.1-2.2 -> 1.8 ms; f32 and bf16 unchanged within noise).
  int64_t perThread = dtype == MOERT_INT8 || dtype == MOERT_INT4 ? 8 : 2;
  int64_t nParts = 1;
  if (pool.size() > 1 && macs >= kParallelMacs)
    nParts = std::min<int64_t>(std::max<int64_t>(1, N / 16),
                               ceilDiv(perThread * pool.size(), std::max<int64_t>(1, nonEmpty)));
  int64_t nStep = ceilDiv(N, nParts);
  if (B.panels)
    nStep = ceilDiv(nStep, kPanelWidth) * kPanelWidth;
  nParts = ceilDiv(N, nStep);
  auto tile = [&](int64_t i) {
    int64_t e = i / nParts, n0 = (i % nParts) * nStep;
    int64_t r0 = loadOffset(offsets, e), r1 = loadOffset(offsets, e + 1);
    int64_t n = std::min(nStep, N - n0);
    if (r1 <= r0 || n <= 0)
      return;
    if (cType == MOERT_F32)
      gemmTile(dtype, r1 - r0, n, K, A, r0, B, matrix(e) * N + n0, N,
               static_cast<float *>(Cv) + r0 * N + n0, N, 0.0f);
    else
      gemmTile16C(dtype, r1 - r0, n, K, A, r0, B, matrix(e) * N + n0, N,
                  static_cast<uint16_t *>(Cv) + r0 * N + n0, N, cType == MOERT_F16);
  };
  if (pool.size() == 1 || macs < kParallelMacs) {
    for (int64_t i = 0; i < experts * nParts; ++i)
      tile(i);
  } else {
    pool.parallelFor(experts * nParts, tile);
  }
  return Status();
}

void runFill(uint8_t *dst, int64_t bytes, uint32_t value) {
  if (bytes <= 0)
    return;
  uint8_t pattern[4];
  std::memcpy(pattern, &value, 4); // little-endian host
  if (pattern[0] == pattern[1] && pattern[1] == pattern[2] &&
      pattern[2] == pattern[3]) {
    std::memset(dst, pattern[0], static_cast<size_t>(bytes));
    return;
  }
  int64_t words = bytes / 4;
  for (int64_t i = 0; i < words; ++i)
    std::memcpy(dst + 4 * i, pattern, 4);
  std::memcpy(dst + 4 * words, pattern, static_cast<size_t>(bytes % 4));
}

void runCopy(uint8_t *dst, const uint8_t *src, int64_t bytes) {
  if (bytes > 0)
    std::memcpy(dst, src, static_cast<size_t>(bytes));
}

} // namespace moert::rt
