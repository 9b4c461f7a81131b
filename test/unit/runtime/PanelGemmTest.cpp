//===- PanelGemmTest.cpp - the panel GEMM kernels of every ISA ------------===//
//
// panelGemm (runtime/src/cpu/PanelGemm.cpp) against a plain triple loop, for
// each kernel family this CPU can run (AVX-512, AVX2, portable). Integer-valued
// inputs keep every partial sum exact in f32, so the results must be equal.
//
//===----------------------------------------------------------------------===//
#include "cpu/PanelGemm.h"
#include "cpu/SmallGemm.h"
#include "moert/format.h"
#include "moert/half.h"

#include <gtest/gtest.h>

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
    for (int64_t M : {1, 5, 8, 9, 263})
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
    for (int64_t M : {1, 5, 9, 263})
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
