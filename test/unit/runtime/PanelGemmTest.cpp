//===- PanelGemmTest.cpp - the panel GEMM kernels of every ISA ------------===//
//
// panelGemm (runtime/src/cpu/PanelGemm.cpp) against a plain triple loop, for
// each kernel family this CPU can run (AVX-512, AVX2, portable). Integer-valued
// inputs keep every partial sum exact in f32, so the results must be equal.
// panelGemmFp8 promises the loop's own FMA chain (std::fma in k order on the
// activations times their block scale), and panelGemmMxfp4 the one on the
// dequantized weight, so their results must be bit-identical for any inputs;
// so must panelGemmInt's (int8 and int4).
//
//===----------------------------------------------------------------------===//
#include "cpu/PanelGemm.h"
#include "cpu/SmallGemm.h"
#include "moert/format.h"
#include "moert/fp8.h"
#include "moert/half.h"
#include "moert/intq.h"
#include "moert/mxfp4.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using moert::rt::PanelIsa;

namespace {

std::vector<PanelIsa> isasOfThisCpu() {
  std::vector<PanelIsa> isas = {PanelIsa::Generic};
  if (moert::rt::bestPanelIsa() != PanelIsa::Generic)
    isas.push_back(PanelIsa::Avx2);
  if (moert::rt::bestPanelIsa() == PanelIsa::Avx512)
    isas.push_back(PanelIsa::Avx512);
  return isas;
}

const char *name(PanelIsa isa) {
  return isa == PanelIsa::Avx512 ? "avx512" : isa == PanelIsa::Avx2 ? "avx2" : "generic";
}

} // namespace

// packPanels puts element (n, k) where panelIndex says, and zeros the
// padding rows of the last panel.
TEST(PanelGemm, PackingFollowsPanelIndex) {
  constexpr int64_t N = 45, K = 7;
  std::vector<float> B(N * K), P(moert::panelElements(N, K), -1.0f);
  for (int64_t i = 0; i < N * K; ++i)
    B[i] = float(i + 1);
  moert::packPanels(B.data(), N, K, P.data());
  ASSERT_EQ(P.size(), size_t(64 * K));
  std::vector<bool> seen(P.size(), false);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      uint64_t at = moert::panelIndex(n, k, K);
      EXPECT_EQ(P[at], B[n * K + k]) << n << " " << k;
      seen[at] = true;
    }
  for (size_t i = 0; i < P.size(); ++i) {
    if (!seen[i]) {
      EXPECT_EQ(P[i], 0.0f) << i;
    }
  }
  EXPECT_EQ(moert::panelIndex(33, 2, K), uint64_t((1 * K + 2) * 32 + 1));
}

// M crosses the register tiles (8 / 6 / 4 rows) and the 256-row block, K the
// 512-deep k-slice, N partial and padded panels (and AVX2's half panels);
// C has a wider row stride whose extra columns must stay untouched.
TEST(PanelGemm, EveryIsaMatchesTheLoopExactly) {
  std::mt19937 rng(3);
  for (PanelIsa isa : isasOfThisCpu())
    for (int64_t M : {1, 2, 3, 5, 8, 9, 263})
      for (int64_t N : {1, 16, 31, 32, 33, 70})
        for (int64_t K : {1, 7, 512, 1030})
          for (bool accumulate : {false, true}) {
            int64_t ldc = N + 3;
            std::vector<float> A(M * K), B(N * K), P(moert::panelElements(N, K));
            std::vector<float> C(M * ldc), want(M * ldc);
            for (float &v : A) v = float(int(rng() % 7) - 3);
            for (float &v : B) v = float(int(rng() % 5) - 2);
            for (size_t i = 0; i < C.size(); ++i)
              C[i] = want[i] = float(int(rng() % 9) - 4);
            moert::packPanels(B.data(), N, K, P.data());
            for (int64_t m = 0; m < M; ++m)
              for (int64_t n = 0; n < N; ++n) {
                float s = accumulate ? want[m * ldc + n] : 0.0f;
                for (int64_t k = 0; k < K; ++k)
                  s += A[m * K + k] * B[n * K + k];
                want[m * ldc + n] = s;
              }
            moert::rt::panelGemm(M, N, K, A.data(), P.data(), C.data(), ldc,
                                 accumulate, isa);
            ASSERT_EQ(C, want) << name(isa) << " M = " << M << " N = " << N
                               << " K = " << K << " accumulate " << accumulate;
          }
}

namespace {

std::vector<moert::rt::Bf16PanelIsa> bf16IsasOfThisCpu() {
  using moert::rt::Bf16PanelIsa;
  std::vector<Bf16PanelIsa> isas = {Bf16PanelIsa::Generic};
  Bf16PanelIsa best = moert::rt::bestBf16PanelIsa();
  if (best != Bf16PanelIsa::Generic)
    isas.push_back(Bf16PanelIsa::Avx2);
  if (best == Bf16PanelIsa::Avx512 || best == Bf16PanelIsa::Avx512Bf16)
    isas.push_back(Bf16PanelIsa::Avx512);
  if (best == Bf16PanelIsa::Avx512Bf16)
    isas.push_back(Bf16PanelIsa::Avx512Bf16);
  return isas;
}

} // namespace

// bf16 panels hold pairs of k: odd K ends in a half pair (its odd value is
// padding), K = 1031 crosses the 512-value k-slice with an odd tail. bf16
// holds these small integers exactly, so every kernel's f32 sums are exact.
TEST(PanelGemm, Bf16EveryIsaMatchesTheLoopExactly) {
  std::mt19937 rng(4);
  for (auto isa : bf16IsasOfThisCpu())
    for (int64_t M : {1, 2, 3, 5, 9, 17, 40, 263})
      for (int64_t N : {1, 17, 32, 70})
        for (int64_t K : {1, 2, 7, 512, 1031})
          for (bool accumulate : {false, true}) {
            int64_t ldc = N + 3;
            std::vector<uint16_t> A(M * K), B(N * K), P(moert::panelElements(N, K, 2));
            std::vector<float> C(M * ldc), want(M * ldc);
            for (uint16_t &v : A) v = moert::floatToBf16(float(int(rng() % 7) - 3));
            for (uint16_t &v : B) v = moert::floatToBf16(float(int(rng() % 5) - 2));
            for (size_t i = 0; i < C.size(); ++i)
              C[i] = want[i] = float(int(rng() % 9) - 4);
            moert::packPanels(B.data(), N, K, P.data(), 2);
            for (int64_t m = 0; m < M; ++m)
              for (int64_t n = 0; n < N; ++n) {
                float s = accumulate ? want[m * ldc + n] : 0.0f;
                for (int64_t k = 0; k < K; ++k)
                  s += moert::bf16ToFloat(A[m * K + k]) * moert::bf16ToFloat(B[n * K + k]);
                want[m * ldc + n] = s;
              }
            moert::rt::panelGemmBf16(M, N, K, A.data(), P.data(), C.data(), ldc,
                                     accumulate, isa);
            ASSERT_EQ(C, want) << "bf16 isa " << int(isa) << " M = " << M << " N = " << N
                               << " K = " << K << " accumulate " << accumulate;
          }
}

// Without AVX512_BF16 every bf16 kernel (the widening tiles at few rows, the
// widened slices under the f32 tiles at more) is one FMA chain in k order on
// the widened values: bit for bit the loop's, on values whose sums round.
TEST(PanelGemm, Bf16WideningKernelsAreTheLoopsFmaChain) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto isa : bf16IsasOfThisCpu()) {
    if (isa != moert::rt::Bf16PanelIsa::Avx2 && isa != moert::rt::Bf16PanelIsa::Avx512)
      continue;
    for (int64_t M : {2, 3, 17, 263})
      for (int64_t K : {7, 1031})
        for (bool accumulate : {false, true}) {
          int64_t N = 70, ldc = N;
          std::vector<uint16_t> A(M * K), B(N * K), P(moert::panelElements(N, K, 2));
          std::vector<float> C(M * ldc), want(M * ldc);
          for (uint16_t &v : A) v = moert::floatToBf16(u(rng));
          for (uint16_t &v : B) v = moert::floatToBf16(u(rng));
          for (size_t i = 0; i < C.size(); ++i)
            C[i] = want[i] = u(rng);
          moert::packPanels(B.data(), N, K, P.data(), 2);
          for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) {
              float s = accumulate ? want[m * ldc + n] : 0.0f;
              for (int64_t k = 0; k < K; ++k)
                s = std::fma(moert::bf16ToFloat(A[m * K + k]), moert::bf16ToFloat(B[n * K + k]), s);
              want[m * ldc + n] = s;
            }
          moert::rt::panelGemmBf16(M, N, K, A.data(), P.data(), C.data(), ldc, accumulate, isa);
          ASSERT_EQ(C, want) << "bf16 isa " << int(isa) << " M = " << M << " K = " << K
                             << " accumulate " << accumulate;
        }
  }
}

// f16 panels (depth 1, as f32's) under the f32 tiles: M crosses the register
// tiles, the one-slice decode path (at most one tile of rows; AVX-512's
// two-panel tiles for one or two), the 256-row block (258: two rows in the
// second block, the two-panel tiles over several k slices); K the 512-deep k
// slice. Every ISA is exact on small integers (f16
// holds them exactly) and, except the portable one, the loop's FMA chain on
// random values.
TEST(PanelGemm, F16EveryIsaMatchesTheLoopExactly) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (PanelIsa isa : isasOfThisCpu())
    for (bool integers : {true, false}) {
      if (!integers && isa == PanelIsa::Generic)
        continue;
      for (int64_t M : {1, 2, 3, 4, 8, 9, 40, 258, 263})
        for (int64_t N : {1, 17, 32, 70})
          for (int64_t K : {0, 1, 7, 512, 1031})
            for (bool accumulate : {false, true}) {
              int64_t ldc = N + 3;
              std::vector<uint16_t> A(M * K), B(N * K), P(moert::panelElements(N, K));
              std::vector<float> C(M * ldc), want(M * ldc);
              auto value = [&](int range) {
                return moert::floatToHalf(integers ? float(int(rng() % range) - range / 2)
                                                   : u(rng));
              };
              for (uint16_t &v : A) v = value(7);
              for (uint16_t &v : B) v = value(5);
              for (size_t i = 0; i < C.size(); ++i)
                C[i] = want[i] = integers ? float(int(rng() % 9) - 4) : u(rng);
              moert::packPanels(B.data(), N, K, P.data());
              for (int64_t m = 0; m < M; ++m)
                for (int64_t n = 0; n < N; ++n) {
                  float s = accumulate ? want[m * ldc + n] : 0.0f;
                  for (int64_t k = 0; k < K; ++k)
                    s = std::fma(moert::halfToFloat(A[m * K + k]),
                                 moert::halfToFloat(B[n * K + k]), s);
                  want[m * ldc + n] = s;
                }
              moert::rt::panelGemmF16(M, N, K, A.data(), P.data(), C.data(), ldc, accumulate,
                                      isa);
              ASSERT_EQ(C, want) << name(isa) << (integers ? " integers" : " random")
                                 << " M = " << M << " N = " << N << " K = " << K
                                 << " accumulate " << accumulate;
            }
    }
}

// The pair layout: element (n, k) where panelIndex(depth 2) says, the odd
// value after an odd K and the rows past N zero.
TEST(PanelGemm, Bf16PackingFollowsPanelIndex) {
  constexpr int64_t N = 35, K = 5;
  std::vector<uint16_t> B(N * K), P(moert::panelElements(N, K, 2), 0xFFFF);
  for (int64_t i = 0; i < N * K; ++i)
    B[i] = static_cast<uint16_t>(i + 1);
  moert::packPanels(B.data(), N, K, P.data(), 2);
  ASSERT_EQ(P.size(), size_t(64 * 6));
  std::vector<bool> seen(P.size(), false);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      uint64_t at = moert::panelIndex(n, k, K, 2);
      EXPECT_EQ(P[at], B[n * K + k]) << n << " " << k;
      seen[at] = true;
    }
  for (size_t i = 0; i < P.size(); ++i) {
    if (!seen[i]) {
      EXPECT_EQ(P[i], 0) << i;
    }
  }
  // Panel 1, pair 1 (k = 2, 3), column 2, odd value: ((1 * 3 + 1) * 32 + 2) * 2 + 1.
  EXPECT_EQ(moert::panelIndex(34, 3, K, 2), uint64_t(((1 * 3 + 1) * 32 + 2) * 2 + 1));
}

// Columns [32p, 32p + n) of C from panel p on: the offset the runtime's
// thread split uses.
TEST(PanelGemm, AColumnRangeStartsAtItsPanel) {
  constexpr int64_t M = 3, N = 100, K = 9;
  std::vector<float> A(M * K, 1.0f), B(N * K), P(moert::panelElements(N, K));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      B[n * K + k] = float(n);
  moert::packPanels(B.data(), N, K, P.data());
  for (PanelIsa isa : isasOfThisCpu()) {
    std::vector<float> C(M * N, -1.0f);
    moert::rt::panelGemm(M, N - 64, K, A.data(), P.data() + 2 * K * 32,
                         C.data() + 64, N, false, isa);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n)
        EXPECT_EQ(C[m * N + n], n < 64 ? -1.0f : float(K * n)) << name(isa);
  }
}

namespace {

/// Codes of a random [n, k] fp8 matrix: any code but the NaN ones.
std::vector<uint8_t> randomFp8Codes(std::mt19937 &rng, int64_t n, int64_t k) {
  std::vector<uint8_t> codes(n * k);
  for (uint8_t &c : codes)
    do
      c = static_cast<uint8_t>(rng());
    while (moert::isFp8NaN(c));
  return codes;
}

/// panelGemmFp8's contract as a loop: for columns [n0, n0 + N) of the weight
/// `codes` [*, K] (row-major) with `scales` [*, fp8Blocks(K)], each element
/// one std::fma chain in k order on f32(A · scale).
void fp8Loop(int64_t M, int64_t N, int64_t K, const std::vector<float> &A,
             const std::vector<uint8_t> &codes, const std::vector<float> &scales,
             int64_t n0, std::vector<float> &C, int64_t ldc, bool accumulate) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      int64_t col = n0 + n;
      float acc = accumulate ? C[m * ldc + n] : 0.0f;
      for (int64_t k = 0; k < K; ++k) {
        float a = A[m * K + k] *
                  scales[col / moert::kFp8Block * moert::fp8Blocks(K) + k / moert::kFp8Block];
        acc = std::fma(a, moert::fp8ToFloat(codes[col * K + k]), acc);
      }
      C[m * ldc + n] = acc;
    }
}

/// The first element whose bits differ, or -1.
int64_t firstBitDifference(const std::vector<float> &a, const std::vector<float> &b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0)
      return static_cast<int64_t>(i);
  return -1;
}

/// The contracts' loop on a dequantized weight W [Ntotal, K]: C0 (row
/// stride ldc) with C[m, n] = one std::fma chain in k order of A[m, k] ·
/// W[n0 + n, k], on C0[m, n] when `accumulate`, else on 0.
std::vector<float> fmaLoop(int64_t M, int64_t N, int64_t K, const std::vector<float> &A,
                           const std::vector<float> &W, int64_t n0, std::vector<float> C,
                           int64_t ldc, bool accumulate) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      float acc = accumulate ? C[m * ldc + n] : 0.0f;
      for (int64_t k = 0; k < K; ++k)
        acc = std::fma(A[m * K + k], W[(n0 + n) * K + k], acc);
      C[m * ldc + n] = acc;
    }
  return C;
}

} // namespace

// The kernels' decoding: a code sign-extended to 16 bits, shifted left by 7
// and masked with 0xBF80 is an IEEE half of the e4m3 value times 2^-8, for
// every finite code (subnormals and both zeros included). Then each kernel,
// with A = 1, scale 1 and C = -0 accumulated (so that fma(1, w, -0) = w, also
// for w = -0), gives back every code's value: M = 1 decodes in the register
// tile, M = 13 once per panel slice.
TEST(PanelGemm, Fp8DecodeIsExactForEveryFiniteCode) {
  int finite = 0;
  for (int c = 0; c < 256; ++c) {
    uint8_t code = static_cast<uint8_t>(c);
    if (moert::isFp8NaN(code))
      continue;
    ++finite;
    uint16_t extended = static_cast<uint16_t>(static_cast<int8_t>(code)); // vpmovsxbw
    uint16_t half = static_cast<uint16_t>((extended << 7) & 0xBF80);
    float value = std::ldexp(moert::halfToFloat(half), 8);
    float want = moert::fp8ToFloat(code);
    EXPECT_EQ(value, want) << "code " << c;
    EXPECT_EQ(std::signbit(value), std::signbit(want)) << "code " << c;
  }
  EXPECT_EQ(finite, 254);

  constexpr int64_t N = 256, K = 1;
  std::vector<uint8_t> codes(N), P(moert::panelElements(N, K));
  for (int64_t c = 0; c < N; ++c)
    codes[c] = moert::isFp8NaN(static_cast<uint8_t>(c)) ? 0 : static_cast<uint8_t>(c);
  moert::packPanels<uint8_t>(codes.data(), N, K, P.data());
  std::vector<float> scales(moert::fp8Blocks(N) * moert::fp8Blocks(K), 1.0f);
  for (PanelIsa isa : isasOfThisCpu())
    for (int64_t M : {1, 13}) {
      std::vector<float> A(M * K, 1.0f), C(M * N, -0.0f);
      moert::rt::panelGemmFp8(M, N, K, A.data(), P.data(), scales.data(), 0,
                              C.data(), N, true, isa);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t c = 0; c < N; ++c) {
          float want = moert::fp8ToFloat(codes[c]), got = C[m * N + c];
          ASSERT_TRUE(got == want && std::signbit(got) == std::signbit(want))
              << name(isa) << " M = " << M << " code " << c << ": " << got
              << " != " << want;
        }
    }
}

// Rows that decode in their tiles stream k in slices of 16384: a K past
// one slice (ragged last scale block) gives the loop's bits too.
TEST(PanelGemm, Fp8FewRowsAcrossStreamSlicesMatchTheLoopExactly) {
  std::mt19937 rng(16);
  std::uniform_real_distribution<float> activation(-2.0f, 2.0f);
  std::uniform_real_distribution<float> scale(1.0f / 4096, 1.0f / 64);
  const int64_t N = 40, K = 16384 + 300;
  std::vector<uint8_t> codes = randomFp8Codes(rng, N, K);
  std::vector<uint8_t> P(moert::panelElements(N, K));
  moert::packPanels<uint8_t>(codes.data(), N, K, P.data());
  std::vector<float> scales(moert::fp8Blocks(N) * moert::fp8Blocks(K));
  for (float &s : scales)
    s = scale(rng);
  for (int64_t M : {1, 2, 8}) {
    std::vector<float> A(M * K), C0(M * N, 0.0f);
    for (float &v : A)
      v = activation(rng);
    std::vector<float> want = C0;
    fp8Loop(M, N, K, A, codes, scales, 0, want, N, false);
    for (PanelIsa isa : isasOfThisCpu()) {
      std::vector<float> C = C0;
      moert::rt::panelGemmFp8(M, N, K, A.data(), P.data(), scales.data(), 0, C.data(), N,
                              false, isa);
      EXPECT_EQ(firstBitDifference(C, want), -1) << name(isa) << " M = " << M;
    }
  }
}

// Columns [n0, n0 + N) of weights whose Ntotal and K are not multiples of 32
// or 128 (partial panels, partial scale blocks, the 256-deep k slice crossed
// with a tail), n0 at a panel inside a scale block (32, 160) or at one (0,
// 128), N to the end of the weight or ending inside a panel; M crosses the
// register tiles (fused up to 8 rows with AVX-512, 3 with AVX2) and the
// 256-row block. C has a wider row stride whose extra columns must stay
// untouched. Random activations, codes and scales: bit-identical results.
TEST(PanelGemm, Fp8EveryIsaMatchesTheLoopExactly) {
  struct Shape {
    int64_t Ntotal, K;
  };
  std::mt19937 rng(6);
  std::uniform_real_distribution<float> activation(-2.0f, 2.0f);
  std::uniform_real_distribution<float> scale(1.0f / 4096, 1.0f / 64);
  for (Shape shape : {Shape{200, 300}, Shape{33, 129}, Shape{200, 1}, Shape{160, 0}}) {
    int64_t Ntotal = shape.Ntotal, K = shape.K;
    std::vector<uint8_t> codes = randomFp8Codes(rng, Ntotal, K);
    // (At least 1 byte and 1 scale: K = 0 has none, and memset rejects null.)
    std::vector<uint8_t> P(std::max<uint64_t>(moert::panelElements(Ntotal, K), 1));
    moert::packPanels<uint8_t>(codes.data(), Ntotal, K, P.data());
    std::vector<float> scales(
        std::max<int64_t>(moert::fp8Blocks(Ntotal) * moert::fp8Blocks(K), 1));
    for (float &s : scales)
      s = scale(rng);
    for (int64_t n0 : {0, 32, 128, 160})
      for (int64_t N : {Ntotal - n0, std::min<int64_t>(Ntotal - n0, 45)}) {
        if (N <= 0)
          continue;
        for (int64_t M : {0, 1, 2, 3, 7, 8, 9, 13, 17, 300})
          for (bool accumulate : {false, true}) {
            int64_t ldc = N + 3;
            std::vector<float> A(M * K), C0(M * ldc);
            for (float &v : A)
              v = activation(rng);
            for (float &v : C0)
              v = activation(rng);
            std::vector<float> want = C0;
            fp8Loop(M, N, K, A, codes, scales, n0, want, ldc, accumulate);
            const uint8_t *panels =
                P.data() + n0 / moert::kPanelWidth * moert::panelElements(moert::kPanelWidth, K);
            for (PanelIsa isa : isasOfThisCpu()) {
              std::vector<float> C = C0;
              moert::rt::panelGemmFp8(M, N, K, A.data(), panels, scales.data(), n0,
                                      C.data(), ldc, accumulate, isa);
              int64_t at = firstBitDifference(C, want);
              ASSERT_EQ(at, -1) << name(isa) << " Ntotal = " << Ntotal << " K = " << K
                                << " n0 = " << n0 << " N = " << N << " M = " << M
                                << " accumulate " << accumulate << ": C[" << at / ldc
                                << ", " << at % ldc << "] = " << C[at]
                                << " != " << want[at];
            }
          }
      }
  }
}

// Block scales so small that A · scale is an f32 subnormal (rounded there
// once, as the contract says) and the products and sums are subnormal: still
// the loop's bits, in the fused and the decoded-slice tiles.
TEST(PanelGemm, Fp8SubnormalScaledActivationsStayExact) {
  constexpr int64_t Ntotal = 200, K = 300;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> activation(-2.0f, 2.0f), scale(1e-40f, 1e-38f);
  std::vector<uint8_t> codes = randomFp8Codes(rng, Ntotal, K);
  std::vector<uint8_t> P(moert::panelElements(Ntotal, K));
  moert::packPanels<uint8_t>(codes.data(), Ntotal, K, P.data());
  std::vector<float> scales(moert::fp8Blocks(Ntotal) * moert::fp8Blocks(K));
  for (float &s : scales)
    s = scale(rng);
  for (int64_t M : {1, 13}) {
    std::vector<float> A(M * K), C(M * Ntotal);
    for (float &v : A)
      v = activation(rng);
    std::vector<float> want = C;
    fp8Loop(M, Ntotal, K, A, codes, scales, 0, want, Ntotal, false);
    for (PanelIsa isa : isasOfThisCpu()) {
      moert::rt::panelGemmFp8(M, Ntotal, K, A.data(), P.data(), scales.data(), 0,
                              C.data(), Ntotal, false, isa);
      int64_t at = firstBitDifference(C, want);
      ASSERT_EQ(at, -1) << name(isa) << " M = " << M << ": " << C[at]
                        << " != " << want[at];
    }
  }
}

// e2m1: sign, 2 exponent bits (bias 1), 1 mantissa bit; e8m0: 2^(e - 127).
TEST(PanelGemm, Mxfp4ScalarDecoding) {
  const float values[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                            -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
  for (int c = 0; c < 16; ++c) {
    float v = moert::e2m1ToFloat(static_cast<uint8_t>(c));
    EXPECT_EQ(v, values[c]) << "code " << c;
    EXPECT_EQ(std::signbit(v), std::signbit(values[c])) << "code " << c;
  }
  uint32_t bits;
  float tiny = moert::e8m0ToFloat(0); // 2^-127: a subnormal
  std::memcpy(&bits, &tiny, 4);
  EXPECT_EQ(bits, 0x00400000u);
  EXPECT_EQ(moert::e8m0ToFloat(1), 0x1p-126f);
  EXPECT_EQ(moert::e8m0ToFloat(127), 1.0f);
  EXPECT_EQ(moert::e8m0ToFloat(254), 0x1p127f);
  EXPECT_TRUE(std::isnan(moert::e8m0ToFloat(255)));
  EXPECT_TRUE(moert::isE8m0NaN(255));
  EXPECT_FALSE(moert::isE8m0NaN(254));
}

// The quantizer (--weight-type=mxfp4, synthetic weights), against values
// worked out from the e2m1 grid {0, 0.5, 1, 1.5, 2, 3, 4, 6}: midpoints go
// to the even code, magnitudes past 5 to 6 (code 7), the sign is kept.
TEST(PanelGemm, Mxfp4Quantization) {
  const std::pair<float, uint8_t> cases[] = {
      {0.0f, 0},    {0.24f, 0},  {0.25f, 0},  {0.26f, 1},  {0.75f, 2},  {1.25f, 2},
      {1.3f, 3},    {1.75f, 4},  {2.5f, 4},   {2.6f, 5},   {3.5f, 6},   {5.0f, 6},
      {5.1f, 7},    {6.0f, 7},   {1e30f, 7},  {-0.0f, 8},  {-0.75f, 10}, {-5.0f, 14},
      {-1e30f, 15}};
  for (auto [v, code] : cases)
    EXPECT_EQ(moert::floatToE2m1(v), code) << v;
  // One row of three groups: amax 6 (scale 2^0), amax 6.5 (2^1: 6.5 / 2 =
  // 3.25 -> 3), amax 2^-3 (2^-5: 0.125 / 2^-5 = 4); zeros elsewhere.
  float row[96] = {};
  row[0] = 6.0f, row[1] = -1.25f, row[2] = 0.3f;
  row[32] = 6.5f, row[33] = 1.0f;
  row[64] = 0.125f, row[95] = -0.0390625f; // 1.25 · 2^-5 -> 1
  uint8_t blocks[48], scales[3];
  ASSERT_TRUE(moert::quantizeMxfp4Row(row, 96, blocks, scales));
  EXPECT_EQ(scales[0], 127);
  EXPECT_EQ(scales[1], 128);
  EXPECT_EQ(scales[2], 122);
  EXPECT_EQ(blocks[0], 7 | 10 << 4);  // 6, -1.25 -> -1
  EXPECT_EQ(blocks[1], 1);            // 0.3 -> 0.5, 0
  EXPECT_EQ(blocks[16], 5 | 1 << 4);  // 3.25 -> 3, 0.5
  EXPECT_EQ(blocks[32], 6);           // 4
  EXPECT_EQ(blocks[47], 10 << 4);     // -1.25 -> -1 (high nibble: k = 95)
  // A group of zeros has scale 2^0; a non-finite value is refused.
  float zeros[32] = {};
  ASSERT_TRUE(moert::quantizeMxfp4Row(zeros, 32, blocks, scales));
  EXPECT_EQ(scales[0], 127);
  EXPECT_EQ(blocks[0], 0);
  zeros[5] = std::nanf("");
  EXPECT_FALSE(moert::quantizeMxfp4Row(zeros, 32, blocks, scales));
}

// packMxfp4Panels against the checkpoint's row-major layout (even k in the
// low nibble): every element's code and scale where the accessors say, the
// padding columns code 0 with scale 127, and one element's byte by hand.
TEST(PanelGemm, Mxfp4PackingFollowsTheLayout) {
  constexpr int64_t N = 45, K = 96, G = K / 32;
  std::mt19937 rng(8);
  std::vector<uint8_t> blocks(N * K / 2), scales(N * G);
  for (uint8_t &b : blocks)
    b = static_cast<uint8_t>(rng());
  for (uint8_t &e : scales)
    e = static_cast<uint8_t>(rng());
  ASSERT_EQ(moert::mxfp4PanelBytes(N, K), uint64_t(2 * G * 544));
  std::vector<uint8_t> P(moert::mxfp4PanelBytes(N, K), 0xEE);
  moert::packMxfp4Panels(blocks.data(), scales.data(), N, K, P.data());
  for (int64_t n = 0; n < 64; ++n)
    for (int64_t k = 0; k < K; ++k) {
      uint8_t byte = n < N ? blocks[n * K / 2 + k / 2] : 0;
      uint8_t code = k % 2 == 0 ? byte & 15 : byte >> 4;
      uint8_t scale = n < N ? scales[n * G + k / 32] : 127;
      ASSERT_EQ(moert::mxfp4PanelCode(P.data(), n, k, K), code) << n << " " << k;
      ASSERT_EQ(moert::mxfp4PanelScale(P.data(), n, k, K), scale) << n << " " << k;
    }
  // Column 33 = panel 1, column 1 (low nibble), k = 70 = group 2, step 6.
  size_t at = (1 * G + 2) * 544 + 32 + 6 * 16 + 1;
  EXPECT_EQ(P[at] & 15, (blocks[33 * K / 2 + 35] & 15));
  // Column 20 = panel 0, column 20 (high nibble of byte 4), k = 33.
  EXPECT_EQ(P[(0 * G + 1) * 544 + 32 + 1 * 16 + 4] >> 4, blocks[20 * K / 2 + 16] >> 4);
  EXPECT_EQ(P[(1 * G + 0) * 544 + 31], 127); // column 63's scale: padding
}

namespace {

/// A random e8m0 scale: half of them from the edges (the subnormal 2^-127,
/// the smallest normals, around 1, the largest), half around 1.
uint8_t randomScale(std::mt19937 &rng) {
  static const uint8_t edges[] = {0, 1, 2, 126, 127, 128, 200, 254};
  return rng() % 2 ? edges[rng() % 8] : static_cast<uint8_t>(110 + rng() % 31);
}

/// A random [Ntotal, K] MXFP4 matrix in panels: any code, the edge scales
/// included; with scale 254 the codes stay below 2 (finite weights).
std::vector<uint8_t> randomMxfp4Panels(std::mt19937 &rng, int64_t Ntotal, int64_t K) {
  int64_t G = K / moert::kMxfp4Group;
  std::vector<uint8_t> blocks(Ntotal * K / 2), scales(Ntotal * G);
  for (uint8_t &e : scales)
    e = randomScale(rng);
  for (int64_t n = 0; n < Ntotal; ++n)
    for (int64_t i = 0; i < K / 2; ++i) {
      uint8_t b = static_cast<uint8_t>(rng());
      if (scales[n * G + 2 * i / moert::kMxfp4Group] == 254)
        b &= 0xBB; // |value| <= 1.5
      blocks[n * K / 2 + i] = b;
    }
  std::vector<uint8_t> P(std::max<uint64_t>(moert::mxfp4PanelBytes(Ntotal, K), 1));
  moert::packMxfp4Panels(blocks.data(), scales.data(), Ntotal, K, P.data());
  return P;
}

} // namespace

// Every code at every edge scale, through each kernel's decoding: column c
// holds code c % 16 with scale edges[c / 16] at k = c % 32 and -0 (code 8)
// elsewhere; with A = 1 and C = -0 accumulated, each fma(1, -0, acc) keeps
// acc, so C gets back that weight bit for bit (-0 and infinity included).
// M = 1 decodes in the register tile, M = 13 once per panel slice.
TEST(PanelGemm, Mxfp4DecodeIsExactForEveryCodeAndScale) {
  const uint8_t edges[] = {0, 1, 2, 126, 127, 128, 200, 254};
  constexpr int64_t N = 128, K = 32;
  std::vector<uint8_t> blocks(N * K / 2, 0x88), scales(N);
  for (int64_t c = 0; c < N; ++c) {
    scales[c] = edges[c / 16];
    uint8_t &b = blocks[c * K / 2 + c % 32 / 2];
    b = c % 2 == 0 ? static_cast<uint8_t>(0x80 | c % 16) : static_cast<uint8_t>(c % 16 << 4 | 8);
  }
  std::vector<uint8_t> P(moert::mxfp4PanelBytes(N, K));
  moert::packMxfp4Panels(blocks.data(), scales.data(), N, K, P.data());
  for (PanelIsa isa : isasOfThisCpu())
    for (int64_t M : {1, 13}) {
      std::vector<float> A(M * K, 1.0f), C(M * N, -0.0f);
      moert::rt::panelGemmMxfp4(M, N, K, A.data(), P.data(), C.data(), N, true, isa);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t c = 0; c < N; ++c) {
          float want = moert::e2m1ToFloat(static_cast<uint8_t>(c % 16)) *
                       moert::e8m0ToFloat(edges[c / 16]);
          float got = C[m * N + c];
          ASSERT_EQ(std::memcmp(&got, &want, 4), 0)
              << name(isa) << " M = " << M << " column " << c << ": " << got
              << " != " << want;
        }
    }
}

// Columns [n0, n0 + N) of MXFP4 weights against (a) the contract's loop
// (std::fma in k order on mxfp4PanelValue) and (b) panelGemm on the
// dequantized weight in f32 panels (its AVX2 or AVX-512 kernels: the
// portable f32 tile does not fuse its multiply-adds). M crosses the fused
// tiles (up to 8 rows with AVX-512, 3 with AVX2), the decoded-slice tiles
// and the 256-row block, K the k slice (256 values, 512 past 128 rows), N
// partial panels; C has a wider row stride whose extra columns must stay
// untouched. The activations' 2^-8 keeps the sums finite with scales up to
// 2^127 and makes products with 2^-127 subnormal: all bits must match.
TEST(PanelGemm, Mxfp4EveryIsaMatchesTheLoopExactly) {
  struct Shape {
    int64_t Ntotal, K;
    std::vector<int64_t> Ms;
  };
  const std::vector<int64_t> allMs = {0, 1, 2, 3, 7, 8, 9, 13, 64, 257};
  const Shape shapes[] = {{1, 32, allMs},         {17, 64, allMs},     {32, 96, allMs},
                          {33, 32, allMs},        {100, 96, allMs},    {100, 2880, {3, 257}},
                          {2880, 2880, {1, 9}},   {2890, 64, {2, 64}}, {64, 0, {1, 13}}};
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> activation(-0x1p-8f, 0x1p-8f);
  PanelIsa best = moert::rt::bestPanelIsa();
  for (const Shape &shape : shapes) {
    int64_t Ntotal = shape.Ntotal, K = shape.K;
    std::vector<uint8_t> P = randomMxfp4Panels(rng, Ntotal, K);
    std::vector<float> W(Ntotal * K), F(std::max<uint64_t>(moert::panelElements(Ntotal, K), 1));
    for (int64_t n = 0; n < Ntotal; ++n)
      for (int64_t k = 0; k < K; ++k)
        W[n * K + k] = moert::mxfp4PanelValue(P.data(), n, k, K);
    moert::packPanels(W.data(), Ntotal, K, F.data());
    for (int64_t n0 : {0, 32, 64})
      for (int64_t N : {Ntotal - n0, std::min<int64_t>(Ntotal - n0, 17)}) {
        if (N <= 0 || (n0 > 0 && Ntotal * K > 100 * 96))
          continue;
        for (int64_t M : shape.Ms)
          for (bool accumulate : {false, true}) {
            int64_t ldc = N + 3;
            std::vector<float> A(M * K), C0(M * ldc);
            for (float &v : A)
              v = activation(rng);
            for (float &v : C0)
              v = activation(rng);
            std::vector<float> want = fmaLoop(M, N, K, A, W, n0, C0, ldc, accumulate);
            const uint8_t *panels =
                P.data() + n0 / moert::kPanelWidth * moert::mxfp4PanelBytes(moert::kPanelWidth, K);
            const float *f32Panels =
                F.data() + n0 / moert::kPanelWidth * moert::panelElements(moert::kPanelWidth, K);
            for (PanelIsa isa : isasOfThisCpu()) {
              std::vector<float> C = C0;
              moert::rt::panelGemmMxfp4(M, N, K, A.data(), panels, C.data(), ldc, accumulate,
                                        isa);
              int64_t at = firstBitDifference(C, want);
              ASSERT_EQ(at, -1) << name(isa) << " Ntotal = " << Ntotal << " K = " << K
                                << " n0 = " << n0 << " N = " << N << " M = " << M
                                << " accumulate " << accumulate << ": C[" << at / ldc
                                << ", " << at % ldc << "] = " << C[at] << " != " << want[at];
              if (best == PanelIsa::Generic)
                continue;
              std::vector<float> viaF32 = C0;
              moert::rt::panelGemm(M, N, K, A.data(), f32Panels, viaF32.data(), ldc,
                                   accumulate, isa == PanelIsa::Generic ? best : isa);
              at = firstBitDifference(C, viaF32);
              ASSERT_EQ(at, -1) << name(isa) << " against panelGemm: Ntotal = " << Ntotal
                                << " K = " << K << " n0 = " << n0 << " N = " << N
                                << " M = " << M << " accumulate " << accumulate << ": C["
                                << at / ldc << ", " << at % ldc << "] = " << C[at]
                                << " != " << viaF32[at];
            }
          }
      }
  }
}

// int8 and int4 quantization (moert/intq.h) on values whose results are
// known: the scale, the zero point, the rounding to nearest even, the clamp.
TEST(PanelGemm, IntQuantization) {
  float v[32] = {};
  v[0] = 127.0f; // amax: d = 1
  v[1] = -2.5f;  // a tie: rounds to the even -2
  v[2] = 3.5f;   // 4
  v[3] = -127.0f;
  uint8_t q[32];
  uint16_t d;
  ASSERT_TRUE(moert::quantizeIntGroup(8, v, 32, q, &d, nullptr));
  EXPECT_EQ(moert::halfToFloat(d), 1.0f);
  EXPECT_EQ(static_cast<int8_t>(q[0]), 127);
  EXPECT_EQ(static_cast<int8_t>(q[1]), -2);
  EXPECT_EQ(static_cast<int8_t>(q[2]), 4);
  EXPECT_EQ(static_cast<int8_t>(q[3]), -127);
  EXPECT_EQ(q[4], 0);
  // int4: lo = -5, hi = 10: d = 1, z = 5; v = 2.5 -> rint(2.5) + 5 = 7.
  float w[32] = {};
  w[0] = -5.0f;
  w[1] = 10.0f;
  w[2] = 2.5f;
  uint8_t z;
  ASSERT_TRUE(moert::quantizeIntGroup(4, w, 32, q, &d, &z));
  EXPECT_EQ(moert::halfToFloat(d), 1.0f);
  EXPECT_EQ(z, 5);
  EXPECT_EQ(q[0], 0);
  EXPECT_EQ(q[1], 15);
  EXPECT_EQ(q[2], 7);
  EXPECT_EQ(q[3], 5); // 0 is exact: q = z
  // All positive: lo = 0, so z = 0.
  for (float &x : w)
    x = 1.5f;
  ASSERT_TRUE(moert::quantizeIntGroup(4, w, 32, q, &d, &z));
  EXPECT_EQ(z, 0);
  EXPECT_EQ(q[0], 15); // d = f16(1.5 / 15) = 0.09998
  EXPECT_LE(std::fabs(static_cast<float>(q[0]) * moert::halfToFloat(d) - 1.5f),
            moert::halfToFloat(d) / 2);
  // A group of zeros: d = 0, codes 0.
  float zeros[32] = {};
  ASSERT_TRUE(moert::quantizeIntGroup(4, zeros, 32, q, &d, &z));
  EXPECT_EQ(d, 0);
  EXPECT_EQ(z, 0);
  // Refused: not finite, or a scale past f16.
  zeros[7] = NAN;
  EXPECT_FALSE(moert::quantizeIntGroup(8, zeros, 32, q, &d, nullptr));
  zeros[7] = 1e7f; // 1e7 / 127 > 65504
  EXPECT_FALSE(moert::quantizeIntGroup(8, zeros, 32, q, &d, nullptr));
  zeros[7] = 1e6f; // int8: fine; int4: (1e6 - 0) / 15 > 65504
  EXPECT_TRUE(moert::quantizeIntGroup(8, zeros, 32, q, &d, nullptr));
  EXPECT_FALSE(moert::quantizeIntGroup(4, zeros, 32, q, &d, &z));
}

// packIntPanels puts each code, scale and zero point where moert/intq.h's
// layout says (checked byte by byte for one element of each kind), and
// intPanelValue reads back the quantization of each row's group.
TEST(PanelGemm, IntPackingFollowsTheLayout) {
  std::mt19937 rng(21);
  std::uniform_real_distribution<float> value(-2.0f, 3.0f);
  for (int bits : {8, 4})
    for (int64_t g : {32, 64, 128}) {
      const int64_t N = 45, K = 2 * g;
      std::vector<float> W(N * K);
      for (float &x : W)
        x = value(rng);
      std::vector<uint8_t> P(moert::intPanelBytes(bits, N, K, g), 0xAB);
      ASSERT_TRUE(moert::packIntPanels(bits, W.data(), N, K, g, P.data()));
      for (int64_t n = 0; n < 64; ++n) // the padding columns read 0
        for (int64_t gi = 0; gi < K / g; ++gi) {
          uint8_t q[128], z = 0;
          uint16_t d = 0;
          if (n < N) {
            ASSERT_TRUE(moert::quantizeIntGroup(bits, W.data() + n * K + gi * g, g, q, &d,
                                                bits == 4 ? &z : nullptr));
          }
          for (int64_t i = 0; i < g; ++i) {
            float want = n >= N      ? 0.0f
                         : bits == 8 ? static_cast<float>(static_cast<int8_t>(q[i])) *
                                           moert::halfToFloat(d)
                                     : static_cast<float>(q[i] - z) * moert::halfToFloat(d);
            ASSERT_EQ(moert::intPanelValue(bits, P.data(), n, gi * g + i, K, g), want)
                << bits << " bits, g = " << g << ", (" << n << ", " << gi * g + i << ")";
          }
        }
      // Column 17 (panel 0, j = 17), k = g + 6 (group 1, quad 1, step 2).
      uint8_t q[128], z = 0;
      uint16_t d;
      ASSERT_TRUE(moert::quantizeIntGroup(bits, W.data() + 17 * K + g, g, q, &d,
                                          bits == 4 ? &z : nullptr));
      const uint8_t *group = P.data() + moert::intGroupBytes(bits, g);
      uint16_t stored;
      std::memcpy(&stored, group + 2 * 17, 2);
      EXPECT_EQ(stored, d);
      const uint8_t *quad = group + moert::intGroupHeader(bits) + moert::intQuadBytes(bits);
      if (bits == 8) {
        EXPECT_EQ(quad[64 + 4 * 1 + 2], q[6]);
      } else {
        EXPECT_EQ(group[64 + 17], z);
        EXPECT_EQ(quad[4 * 1 + 2] >> 4, q[6]);
      }
    }
}

namespace {

/// Random integer panels of `bits` with group g: codes of every value and
/// scales of several magnitudes (subnormal f16 included).
std::vector<uint8_t> randomIntPanels(std::mt19937 &rng, int bits, int64_t Ntotal, int64_t K,
                                     int64_t g) {
  std::vector<uint8_t> P(std::max<uint64_t>(moert::intPanelBytes(bits, Ntotal, K, g), 1));
  std::uniform_int_distribution<int> byte(0, 255), exponent(-20, 4);
  std::uniform_real_distribution<float> mantissa(1.0f, 2.0f);
  int64_t gb = moert::intGroupBytes(bits, g), header = moert::intGroupHeader(bits);
  for (int64_t at = 0; at + gb <= static_cast<int64_t>(P.size()); at += gb) {
    for (int64_t j = 0; j < 32; ++j) {
      uint16_t h = moert::floatToHalf(std::ldexp(mantissa(rng), exponent(rng)));
      std::memcpy(&P[at + 2 * j], &h, 2);
      if (bits == 4)
        P[at + 64 + j] = static_cast<uint8_t>(byte(rng) % 16);
    }
    for (int64_t i = header; i < gb; ++i)
      P[at + i] = static_cast<uint8_t>(byte(rng));
  }
  // The padding columns of the last panel: d = 0 as packIntPanels writes.
  for (int64_t p = Ntotal / 32; p < (Ntotal + 31) / 32; ++p)
    for (int64_t gi = 0; gi < K / g; ++gi)
      for (int64_t j = Ntotal % 32; j < 32; ++j)
        std::memset(&P[(p * (K / g) + gi) * gb + 2 * j], 0, 2);
  return P;
}

} // namespace

// Columns [n0, n0 + N) of int8 and int4 weights of each group size against
// (a) the contract's loop (std::fma in k order on intPanelValue) and (b)
// panelGemm on the dequantized weight in f32 panels. M crosses the fused
// tiles (8 rows with AVX-512, 3 with AVX2), the decoded-slice tiles and
// the 256-row block, K the decoded slice (256, 512 past 128 rows); C's
// extra columns must stay untouched. All bits must match.
TEST(PanelGemm, IntEveryIsaMatchesTheLoopExactly) {
  struct Shape {
    int64_t Ntotal, K;
    std::vector<int64_t> Ms;
  };
  const std::vector<int64_t> allMs = {0, 1, 2, 3, 4, 8, 9, 64, 257};
  const Shape shapes[] = {{1, 128, allMs}, {33, 256, allMs}, {100, 384, {1, 3, 9, 257}},
                          {96, 1152, {1, 2, 130}}};
  std::mt19937 rng(23);
  std::uniform_real_distribution<float> activation(-1.0f, 1.0f);
  PanelIsa best = moert::rt::bestPanelIsa();
  for (int bits : {8, 4})
    for (int64_t g : {32, 64, 128})
      for (const Shape &shape : shapes) {
        int64_t Ntotal = shape.Ntotal, K = shape.K;
        std::vector<uint8_t> P = randomIntPanels(rng, bits, Ntotal, K, g);
        std::vector<float> W(Ntotal * K), F(moert::panelElements(Ntotal, K));
        for (int64_t n = 0; n < Ntotal; ++n)
          for (int64_t k = 0; k < K; ++k)
            W[n * K + k] = moert::intPanelValue(bits, P.data(), n, k, K, g);
        moert::packPanels(W.data(), Ntotal, K, F.data());
        for (int64_t n0 : {0, 32})
          for (int64_t N : {Ntotal - n0, std::min<int64_t>(Ntotal - n0, 17)}) {
            if (N <= 0)
              continue;
            for (int64_t M : shape.Ms)
              for (bool accumulate : {false, true}) {
                int64_t ldc = N + 3;
                std::vector<float> A(M * K), C0(M * ldc);
                for (float &v : A)
                  v = activation(rng);
                for (float &v : C0)
                  v = activation(rng);
                std::vector<float> want = fmaLoop(M, N, K, A, W, n0, C0, ldc, accumulate);
                const uint8_t *panels = P.data() + n0 / moert::kPanelWidth *
                                                       moert::intPanelBytes(bits, 32, K, g);
                const float *f32Panels = F.data() + n0 / moert::kPanelWidth *
                                                        moert::panelElements(32, K);
                for (PanelIsa isa : isasOfThisCpu()) {
                  std::vector<float> C = C0;
                  moert::rt::panelGemmInt(bits, g, M, N, K, A.data(), panels, C.data(), ldc,
                                          accumulate, isa);
                  int64_t at = firstBitDifference(C, want);
                  ASSERT_EQ(at, -1) << name(isa) << " int" << bits << " g = " << g
                                    << " Ntotal = " << Ntotal << " K = " << K << " n0 = " << n0
                                    << " N = " << N << " M = " << M << " accumulate "
                                    << accumulate << ": C[" << at / ldc << ", " << at % ldc
                                    << "] = " << C[at] << " != " << want[at];
                  if (best == PanelIsa::Generic)
                    continue;
                  std::vector<float> viaF32 = C0;
                  moert::rt::panelGemm(M, N, K, A.data(), f32Panels, viaF32.data(), ldc,
                                       accumulate, isa == PanelIsa::Generic ? best : isa);
                  ASSERT_EQ(firstBitDifference(C, viaF32), -1)
                      << name(isa) << " int" << bits << " against panelGemm, M = " << M;
                }
              }
          }
      }
}

// panelGemmInt with int8 activations against the contract's loop: each row
// of A quantized per group (quantizeActivationGroup), per group the exact
// integer sum of (q - z) · a, then fma(f32(sum), f32(d · s), C) in k order.
// Every ISA (VNNI, AVX2's vpmaddubsw, portable) must give its bits, for
// int8 and int4 at every group size, across the 4-row tiles, partial panels
// and the 256-row block. A zero group and an infinite activation are in
// the data (the infinity's group gives NaN, as with f32 activations).
TEST(PanelGemm, IntDotEveryIsaMatchesTheLoopExactly) {
  struct Shape {
    int64_t Ntotal, K;
    std::vector<int64_t> Ms;
  };
  const std::vector<int64_t> allMs = {1, 2, 3, 4, 5, 8, 9, 257};
  const Shape shapes[] = {{1, 128, allMs}, {33, 256, allMs}, {100, 384, {1, 3, 9}},
                          {96, 1152, {1, 2, 130}}};
  std::mt19937 rng(29);
  std::uniform_real_distribution<float> activation(-1.0f, 1.0f);
  for (int bits : {8, 4})
    for (int64_t g : {32, 64, 128})
      for (const Shape &shape : shapes) {
        int64_t Ntotal = shape.Ntotal, K = shape.K;
        std::vector<uint8_t> P = randomIntPanels(rng, bits, Ntotal, K, g);
        // (q - z) and d of each element, read back from the layout.
        std::vector<int32_t> code(Ntotal * K);
        std::vector<float> scaleOf(Ntotal * (K / g));
        for (int64_t n = 0; n < Ntotal; ++n)
          for (int64_t k = 0; k < K; ++k) {
            uint16_t h;
            std::memcpy(&h, P.data() + moert::intGroupOffset(bits, n, k, K, g) + 2 * (n % 32), 2);
            float d = moert::halfToFloat(h);
            scaleOf[n * (K / g) + k / g] = d;
            code[n * K + k] =
                static_cast<int32_t>(moert::intPanelValue(bits, P.data(), n, k, K, g) / d);
          }
        for (int64_t n0 : {0, 32})
          for (int64_t N : {Ntotal - n0, std::min<int64_t>(Ntotal - n0, 17)}) {
            if (N <= 0)
              continue;
            for (int64_t M : shape.Ms)
              for (bool accumulate : {false, true}) {
                int64_t ldc = N + 3;
                std::vector<float> A(M * K), C0(M * ldc);
                for (float &v : A)
                  v = activation(rng);
                for (float &v : C0)
                  v = activation(rng);
                std::fill(A.begin(), A.begin() + std::min<int64_t>(g, M * K), 0.0f);
                if (M > 2)
                  A[2 * K + 1] = INFINITY;
                std::vector<int8_t> q(M * K);
                std::vector<float> s(M * (K / g));
                for (int64_t m = 0; m < M; ++m)
                  for (int64_t gi = 0; gi < K / g; ++gi) {
                    int32_t unused;
                    s[m * (K / g) + gi] = moert::quantizeActivationGroup(
                        A.data() + m * K + gi * g, g, q.data() + m * K + gi * g, &unused);
                  }
                std::vector<float> want = C0;
                for (int64_t m = 0; m < M; ++m)
                  for (int64_t n = 0; n < N; ++n) {
                    float acc = accumulate ? want[m * ldc + n] : 0.0f;
                    for (int64_t gi = 0; gi < K / g; ++gi) {
                      int32_t t = 0;
                      for (int64_t k = gi * g; k < (gi + 1) * g; ++k)
                        t += code[(n0 + n) * K + k] * q[m * K + k];
                      acc = std::fma(static_cast<float>(t),
                                     scaleOf[(n0 + n) * (K / g) + gi] * s[m * (K / g) + gi], acc);
                    }
                    want[m * ldc + n] = acc;
                  }
                const uint8_t *panels = P.data() + n0 / moert::kPanelWidth *
                                                       moert::intPanelBytes(bits, 32, K, g);
                for (PanelIsa isa : isasOfThisCpu()) {
                  std::vector<float> C = C0;
                  moert::rt::panelGemmInt(bits, g, M, N, K, A.data(), panels, C.data(), ldc,
                                          accumulate, isa, /*int8Activations=*/true);
                  int64_t at = firstBitDifference(C, want);
                  ASSERT_EQ(at, -1) << name(isa) << " int" << bits << " g = " << g
                                    << " Ntotal = " << Ntotal << " K = " << K << " n0 = " << n0
                                    << " N = " << N << " M = " << M << " accumulate "
                                    << accumulate << ": C[" << at / ldc << ", " << at % ldc
                                    << "] = " << C[at] << " != " << want[at];
                }
              }
          }
      }
}

// int8 activations: the quantization of a group (scale, rounding to even,
// clamp, sum), a group of zeros and one that is not finite.
TEST(PanelGemm, IntActivationQuantization) {
  float a[32] = {};
  a[0] = 12.7f; // s = 0.1
  a[1] = -0.25f; // -2.5 -> -2 (to even)
  a[2] = 0.35f;  // 3.5 -> 4
  int8_t q[32];
  int32_t sum;
  float s = moert::quantizeActivationGroup(a, 32, q, &sum);
  EXPECT_EQ(s, 12.7f / 127.0f);
  EXPECT_EQ(q[0], 127);
  EXPECT_EQ(q[1], static_cast<int8_t>(std::nearbyint(-0.25f / s)));
  EXPECT_EQ(q[2], static_cast<int8_t>(std::nearbyint(0.35f / s)));
  EXPECT_EQ(sum, q[0] + q[1] + q[2]);
  float zeros[32] = {};
  EXPECT_EQ(moert::quantizeActivationGroup(zeros, 32, q, &sum), 0.0f);
  EXPECT_EQ(sum, 0);
  zeros[5] = -INFINITY;
  EXPECT_TRUE(std::isnan(moert::quantizeActivationGroup(zeros, 32, q, &sum)));
  EXPECT_EQ(q[5], 0);
}
