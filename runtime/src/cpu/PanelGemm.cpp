//===- PanelGemm.cpp - f32 GEMMs against weights packed in panels ---------===//
//
// Blocking: rows of A in blocks of kRowBlock (their k-slice stays in L2), then
// per panel, k in slices of kSlice (the panel's slice, 32 x kSlice floats,
// stays in L1/L2 while every register tile of the row block passes over it),
// then register tiles of MR rows. A tile loads C (or zeros) at the start of a
// slice and stores it at the end, so each element's sum runs in k order.
//
// Measured on the development machine (AMD EPYC, AVX-512, one thread, f32):
// MR = 8 reached 92-97% of the FMA peak at M = 32..256 against mixtral-s and
// olmoe expert shapes, where MR = 12 and 14 (more accumulators, spills)
// reached 70-85% and OpenBLAS's sgemm on the row-major weight 43-81%; at
// M = 1 it streams the weight at the machine's read bandwidth.
//
//===----------------------------------------------------------------------===//
#include "PanelGemm.h"

#include "moert/format.h"

#include <algorithm>
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which its flow
// analysis reports as uninitialized where they are inlined (in this file's
// functions), so the warnings are off for the file, as in SmallGemm.cpp.
#if defined(__GNUC__) && !defined(__clang__) // clang has no such warning
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace moert::rt {
namespace {

constexpr int64_t kRowBlock = 256;
constexpr int64_t kSlice = 512;

/// A tile of MR rows x 32 columns over k in [0, kc): `panel` points at the
/// slice's first k. Columns >= `width` (the last panel's padding) are neither
/// loaded nor stored.
template <int MR>
__attribute__((target("avx512f"))) void
tileAvx512(int64_t kc, const float *A, int64_t lda, const float *panel,
           float *C, int64_t ldc, int width, bool load) {
  __mmask16 m0 = width >= 16 ? 0xffff : static_cast<__mmask16>((1u << width) - 1);
  __mmask16 m1 = width >= 32   ? 0xffff
                 : width > 16 ? static_cast<__mmask16>((1u << (width - 16)) - 1)
                              : 0;
  __m512 acc[MR][2];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    acc[i][0] = load ? _mm512_maskz_loadu_ps(m0, C + i * ldc) : _mm512_setzero_ps();
    acc[i][1] = load ? _mm512_maskz_loadu_ps(m1, C + i * ldc + 16) : _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < kc; ++k) {
    __m512 b0 = _mm512_loadu_ps(panel + k * kPanelWidth);
    __m512 b1 = _mm512_loadu_ps(panel + k * kPanelWidth + 16);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      __m512 a = _mm512_set1_ps(A[i * lda + k]);
      acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    _mm512_mask_storeu_ps(C + i * ldc, m0, acc[i][0]);
    _mm512_mask_storeu_ps(C + i * ldc + 16, m1, acc[i][1]);
  }
}

/// The same over 16 of the panel's 32 columns (`panel` points at the first
/// of them) with AVX2: 2 x MR accumulators of 8 lanes. A partial tile goes
/// through a local copy.
template <int MR>
__attribute__((target("avx2,fma"))) void
tileAvx2(int64_t kc, const float *A, int64_t lda, const float *panel,
         float *C, int64_t ldc, int width, bool load) {
  alignas(32) float tmp[MR][16];
  bool full = width >= 16;
  float *out = full ? C : &tmp[0][0];
  int64_t ldo = full ? ldc : 16;
  if (!full)
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < 16; ++j)
        tmp[i][j] = load && j < width ? C[i * ldc + j] : 0.0f;
  __m256 acc[MR][2];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    acc[i][0] = load || !full ? _mm256_loadu_ps(out + i * ldo) : _mm256_setzero_ps();
    acc[i][1] = load || !full ? _mm256_loadu_ps(out + i * ldo + 8) : _mm256_setzero_ps();
  }
  for (int64_t k = 0; k < kc; ++k) {
    __m256 b0 = _mm256_loadu_ps(panel + k * kPanelWidth);
    __m256 b1 = _mm256_loadu_ps(panel + k * kPanelWidth + 8);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      __m256 a = _mm256_broadcast_ss(A + i * lda + k);
      acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    _mm256_storeu_ps(out + i * ldo, acc[i][0]);
    _mm256_storeu_ps(out + i * ldo + 8, acc[i][1]);
  }
  if (!full)
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < width; ++j)
        C[i * ldc + j] = tmp[i][j];
}

/// Portable C++ (whatever the compiler vectorizes for the baseline).
template <int MR>
void tileGeneric(int64_t kc, const float *A, int64_t lda, const float *panel,
                 float *C, int64_t ldc, int width, bool load) {
  float acc[MR][kPanelWidth];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < kPanelWidth; ++j)
      acc[i][j] = load && j < width ? C[i * ldc + j] : 0.0f;
  for (int64_t k = 0; k < kc; ++k)
    for (int i = 0; i < MR; ++i) {
      float a = A[i * lda + k];
      for (int j = 0; j < kPanelWidth; ++j)
        acc[i][j] += a * panel[k * kPanelWidth + j];
    }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < width; ++j)
      C[i * ldc + j] = acc[i][j];
}

/// A register tile of some kernel family for a fixed number of rows.
using TileFn = void (*)(int64_t kc, const float *A, int64_t lda,
                        const float *panel, float *C, int64_t ldc, int width,
                        bool load);

/// A kernel family: its tiles for 1..maxRows rows (tiles[r - 1]) and the
/// columns one call covers (32, or 16 for AVX2's half panels).
struct Family {
  const TileFn *tiles;
  int maxRows, cols;
};

constexpr TileFn kAvx512Tiles[] = {tileAvx512<1>, tileAvx512<2>, tileAvx512<3>,
                                   tileAvx512<4>, tileAvx512<5>, tileAvx512<6>,
                                   tileAvx512<7>, tileAvx512<8>};
constexpr TileFn kAvx2Tiles[] = {tileAvx2<1>, tileAvx2<2>, tileAvx2<3>,
                                 tileAvx2<4>, tileAvx2<5>, tileAvx2<6>};
constexpr TileFn kGenericTiles[] = {tileGeneric<1>, tileGeneric<2>,
                                    tileGeneric<3>, tileGeneric<4>};

void gemmOf(const Family &f, int64_t M, int64_t N, int64_t K, const float *A,
            const float *panels, float *C, int64_t ldc, bool accumulate) {
  int64_t numPanels = (N + kPanelWidth - 1) / kPanelWidth;
  for (int64_t m0 = 0; m0 < M; m0 += kRowBlock) {
    int64_t mc = std::min(kRowBlock, M - m0);
    for (int64_t p = 0; p < numPanels; ++p) {
      const float *panel = panels + p * K * kPanelWidth;
      for (int64_t k0 = 0; k0 < K || k0 == 0; k0 += kSlice) {
        int64_t kc = std::min(kSlice, K - k0);
        bool load = accumulate || k0 > 0;
        for (int64_t c0 = 0; c0 < kPanelWidth; c0 += f.cols) {
          int64_t n0 = p * kPanelWidth + c0;
          if (n0 >= N)
            break;
          int width = static_cast<int>(std::min<int64_t>(f.cols, N - n0));
          for (int64_t i = 0; i < mc; i += f.maxRows) {
            int rows = static_cast<int>(std::min<int64_t>(f.maxRows, mc - i));
            int64_t m = m0 + i;
            f.tiles[rows - 1](kc, A + m * K + k0, K, panel + k0 * kPanelWidth + c0,
                              C + m * ldc + n0, ldc, width, load);
          }
        }
        if (K == 0)
          break;
      }
    }
  }
}

} // namespace

PanelIsa bestPanelIsa() {
  static const PanelIsa isa =
      __builtin_cpu_supports("avx512f") ? PanelIsa::Avx512
      : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
          ? PanelIsa::Avx2
          : PanelIsa::Generic;
  return isa;
}

void panelGemm(int64_t M, int64_t N, int64_t K, const float *A,
               const float *panels, float *C, int64_t ldc, bool accumulate,
               PanelIsa isa) {
  if (M <= 0 || N <= 0)
    return;
  switch (isa) {
  case PanelIsa::Avx512:
    return gemmOf({kAvx512Tiles, 8, 32}, M, N, K, A, panels, C, ldc, accumulate);
  case PanelIsa::Avx2:
    return gemmOf({kAvx2Tiles, 6, 16}, M, N, K, A, panels, C, ldc, accumulate);
  case PanelIsa::Generic:
    return gemmOf({kGenericTiles, 4, 32}, M, N, K, A, panels, C, ldc, accumulate);
  }
}

} // namespace moert::rt
