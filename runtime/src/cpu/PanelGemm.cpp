//===- PanelGemm.cpp - f32 / bf16 GEMMs against weights in panels ---------===//
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

#include "Intrinsics.h"
#include "SmallGemm.h" // hasBf16Dot
#include "moert/format.h"
#include "moert/half.h"

#include <algorithm>
#include <cstring>

namespace moert::rt {
namespace {

constexpr int64_t kRowBlock = 256;
constexpr int64_t kSlice = 512;

/// The lanes of C's first `width` columns in a 32-column tile's two
/// AVX-512 registers.
struct ColumnMasks {
  __mmask16 lo, hi;
};
inline ColumnMasks columnMasks(int width) {
  return {width >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << width) - 1),
          width >= 32   ? __mmask16(0xffff)
          : width > 16 ? static_cast<__mmask16>((1u << (width - 16)) - 1)
                       : __mmask16(0)};
}

/// An MR x 32 tile of C into accumulators (or zeros, unless `load`), and
/// back; only the masked columns are read and written.
template <int MR>
__attribute__((target("avx512f"))) inline void
loadTile512(__m512 (&acc)[MR][2], const float *C, int64_t ldc, ColumnMasks m, bool load) {
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    acc[i][0] = load ? _mm512_maskz_loadu_ps(m.lo, C + i * ldc) : _mm512_setzero_ps();
    acc[i][1] = load ? _mm512_maskz_loadu_ps(m.hi, C + i * ldc + 16) : _mm512_setzero_ps();
  }
}
template <int MR>
__attribute__((target("avx512f"))) inline void
storeTile512(__m512 (&acc)[MR][2], float *C, int64_t ldc, ColumnMasks m) {
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    _mm512_mask_storeu_ps(C + i * ldc, m.lo, acc[i][0]);
    _mm512_mask_storeu_ps(C + i * ldc + 16, m.hi, acc[i][1]);
  }
}

/// An AVX2 tile covers 16 columns; one narrower than that (the last panel)
/// works on a local copy: stage16 returns where the tile reads and writes C
/// (C itself, or `tmp` holding C's columns, or zeros), unstage16 copies the
/// valid columns back.
template <int MR>
inline float *stage16(float (&tmp)[MR][16], float *C, int64_t ldc, int width,
                      bool load, int64_t *ldo) {
  if (width >= 16) {
    *ldo = ldc;
    return C;
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < 16; ++j)
      tmp[i][j] = load && j < width ? C[i * ldc + j] : 0.0f;
  *ldo = 16;
  return &tmp[0][0];
}
template <int MR>
inline void unstage16(const float (&tmp)[MR][16], float *C, int64_t ldc, int width) {
  if (width >= 16)
    return;
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < width; ++j)
      C[i * ldc + j] = tmp[i][j];
}
template <int MR>
__attribute__((target("avx2"))) inline void
loadTile256(__m256 (&acc)[MR][2], const float *C, int64_t ldc, bool load) {
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    acc[i][0] = load ? _mm256_loadu_ps(C + i * ldc) : _mm256_setzero_ps();
    acc[i][1] = load ? _mm256_loadu_ps(C + i * ldc + 8) : _mm256_setzero_ps();
  }
}
template <int MR>
__attribute__((target("avx2"))) inline void
storeTile256(__m256 (&acc)[MR][2], float *C, int64_t ldc) {
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    _mm256_storeu_ps(C + i * ldc, acc[i][0]);
    _mm256_storeu_ps(C + i * ldc + 8, acc[i][1]);
  }
}

/// A tile of MR rows x 32 columns over k in [0, kc): `panel` points at the
/// slice's first k. Columns >= `width` (the last panel's padding) are neither
/// loaded nor stored.
template <int MR>
__attribute__((target("avx512f"))) void
tileAvx512(int64_t kc, bool /*tail*/, const float *A, int64_t lda,
           const float *panel, float *C, int64_t ldc, int width, bool load) {
  ColumnMasks masks = columnMasks(width);
  __m512 acc[MR][2];
  loadTile512<MR>(acc, C, ldc, masks, load);
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
  storeTile512<MR>(acc, C, ldc, masks);
}

/// The same over 16 of the panel's 32 columns (`panel` points at the first
/// of them) with AVX2: 2 x MR accumulators of 8 lanes. A partial tile goes
/// through a local copy.
template <int MR>
__attribute__((target("avx2,fma"))) void
tileAvx2(int64_t kc, bool /*tail*/, const float *A, int64_t lda,
         const float *panel, float *C, int64_t ldc, int width, bool load) {
  alignas(32) float tmp[MR][16];
  int64_t ldo;
  float *out = stage16<MR>(tmp, C, ldc, width, load, &ldo);
  __m256 acc[MR][2];
  loadTile256<MR>(acc, out, ldo, load || width < 16);
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
  storeTile256<MR>(acc, out, ldo);
  unstage16<MR>(tmp, C, ldc, width);
}

/// Portable C++ (whatever the compiler vectorizes for the baseline).
template <int MR>
void tileGeneric(int64_t kc, bool /*tail*/, const float *A, int64_t lda,
                 const float *panel, float *C, int64_t ldc, int width, bool load) {
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

/// bf16 panels (depth 2): per step, 32 columns x a pair of k, as 32-bit
/// lanes (low half the even k). The pair of A at `a` as such a lane; `half`:
/// only a[0] exists (the last step of an odd K), the odd value is zero.
inline uint32_t pairOf(const uint16_t *a, bool half) {
  if (half)
    return a[0];
  uint32_t v;
  std::memcpy(&v, a, 4);
  return v;
}

/// A tile of MR rows x 32 columns over `steps` pairs of k with AVX512_BF16:
/// vdpbf16ps adds both products of a pair per lane (exact products, f32
/// sums; subnormal inputs and results are flushed to zero).
template <int MR>
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void
tileBf16Dot(int64_t steps, bool tail, const uint16_t *A, int64_t lda,
            const uint16_t *panel, float *C, int64_t ldc, int width, bool load) {
  ColumnMasks masks = columnMasks(width);
  __m512 acc[MR][2];
  loadTile512<MR>(acc, C, ldc, masks, load);
  for (int64_t s = 0; s < steps; ++s) {
    bool half = tail && s == steps - 1;
    __m512i b0 = _mm512_loadu_si512(panel + s * 2 * kPanelWidth);
    __m512i b1 = _mm512_loadu_si512(panel + s * 2 * kPanelWidth + kPanelWidth);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      __m512i a = _mm512_set1_epi32(static_cast<int>(pairOf(A + i * lda + 2 * s, half)));
      acc[i][0] = _mm512_dpbf16_ps(acc[i][0], (__m512bh)a, (__m512bh)b0);
      acc[i][1] = _mm512_dpbf16_ps(acc[i][1], (__m512bh)a, (__m512bh)b1);
    }
  }
  storeTile512<MR>(acc, C, ldc, masks);
}

/// The same with AVX-512F only: each lane's pair widened exactly (the even
/// value by a 16-bit shift, the odd one by masking) and two f32 FMAs, even k
/// first.
template <int MR>
__attribute__((target("avx512f"))) void
tileBf16Avx512(int64_t steps, bool tail, const uint16_t *A, int64_t lda,
               const uint16_t *panel, float *C, int64_t ldc, int width, bool load) {
  ColumnMasks masks = columnMasks(width);
  const __m512i high = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  __m512 acc[MR][2];
  loadTile512<MR>(acc, C, ldc, masks, load);
  for (int64_t s = 0; s < steps; ++s) {
    bool half = tail && s == steps - 1;
    __m512i b0 = _mm512_loadu_si512(panel + s * 2 * kPanelWidth);
    __m512i b1 = _mm512_loadu_si512(panel + s * 2 * kPanelWidth + kPanelWidth);
    __m512 e0 = _mm512_castsi512_ps(_mm512_slli_epi32(b0, 16));
    __m512 o0 = _mm512_castsi512_ps(_mm512_and_si512(b0, high));
    __m512 e1 = _mm512_castsi512_ps(_mm512_slli_epi32(b1, 16));
    __m512 o1 = _mm512_castsi512_ps(_mm512_and_si512(b1, high));
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      __m512 ae = _mm512_set1_ps(bf16ToFloat(A[i * lda + 2 * s]));
      __m512 ao = _mm512_set1_ps(half ? 0.0f : bf16ToFloat(A[i * lda + 2 * s + 1]));
      acc[i][0] = _mm512_fmadd_ps(ao, o0, _mm512_fmadd_ps(ae, e0, acc[i][0]));
      acc[i][1] = _mm512_fmadd_ps(ao, o1, _mm512_fmadd_ps(ae, e1, acc[i][1]));
    }
  }
  storeTile512<MR>(acc, C, ldc, masks);
}

/// The same with AVX2 over 16 of the panel's 32 columns (`panel` points at
/// the first of them); a partial tile goes through a local copy.
template <int MR>
__attribute__((target("avx2,fma"))) void
tileBf16Avx2(int64_t steps, bool tail, const uint16_t *A, int64_t lda,
             const uint16_t *panel, float *C, int64_t ldc, int width, bool load) {
  alignas(32) float tmp[MR][16];
  int64_t ldo;
  float *out = stage16<MR>(tmp, C, ldc, width, load, &ldo);
  const __m256i high = _mm256_set1_epi32(static_cast<int>(0xFFFF0000u));
  __m256 acc[MR][2];
  loadTile256<MR>(acc, out, ldo, load || width < 16);
  for (int64_t s = 0; s < steps; ++s) {
    bool half = tail && s == steps - 1;
    const uint16_t *p = panel + s * 2 * kPanelWidth;
    __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p));
    __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + 16));
    __m256 e0 = _mm256_castsi256_ps(_mm256_slli_epi32(b0, 16));
    __m256 o0 = _mm256_castsi256_ps(_mm256_and_si256(b0, high));
    __m256 e1 = _mm256_castsi256_ps(_mm256_slli_epi32(b1, 16));
    __m256 o1 = _mm256_castsi256_ps(_mm256_and_si256(b1, high));
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      __m256 ae = _mm256_set1_ps(bf16ToFloat(A[i * lda + 2 * s]));
      __m256 ao = _mm256_set1_ps(half ? 0.0f : bf16ToFloat(A[i * lda + 2 * s + 1]));
      acc[i][0] = _mm256_fmadd_ps(ao, o0, _mm256_fmadd_ps(ae, e0, acc[i][0]));
      acc[i][1] = _mm256_fmadd_ps(ao, o1, _mm256_fmadd_ps(ae, e1, acc[i][1]));
    }
  }
  storeTile256<MR>(acc, out, ldo);
  unstage16<MR>(tmp, C, ldc, width);
}

/// Portable C++ for bf16 panels.
template <int MR>
void tileBf16Generic(int64_t steps, bool tail, const uint16_t *A, int64_t lda,
                     const uint16_t *panel, float *C, int64_t ldc, int width,
                     bool load) {
  float acc[MR][kPanelWidth];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < kPanelWidth; ++j)
      acc[i][j] = load && j < width ? C[i * ldc + j] : 0.0f;
  for (int64_t s = 0; s < steps; ++s) {
    bool half = tail && s == steps - 1;
    const uint16_t *p = panel + s * 2 * kPanelWidth;
    for (int i = 0; i < MR; ++i) {
      float ae = bf16ToFloat(A[i * lda + 2 * s]);
      float ao = half ? 0.0f : bf16ToFloat(A[i * lda + 2 * s + 1]);
      for (int j = 0; j < kPanelWidth; ++j) {
        acc[i][j] += ae * bf16ToFloat(p[2 * j]);
        acc[i][j] += ao * bf16ToFloat(p[2 * j + 1]);
      }
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < width; ++j)
      C[i * ldc + j] = acc[i][j];
}

/// A register tile of some kernel family for a fixed number of rows: over
/// `steps` steps of the panel's depth (1 value of k for f32, a pair for
/// bf16; `tail`: the last pair has only its even value).
template <class T>
using TileFn = void (*)(int64_t steps, bool tail, const T *A, int64_t lda,
                        const T *panel, float *C, int64_t ldc, int width,
                        bool load);

/// A kernel family: its tiles for 1..maxRows rows (tiles[r - 1]) and the
/// columns one call covers (32, or 16 for AVX2's half panels).
template <class T> struct Family {
  const TileFn<T> *tiles;
  int maxRows, cols;
};

constexpr TileFn<float> kAvx512Tiles[] = {
    tileAvx512<1>, tileAvx512<2>, tileAvx512<3>, tileAvx512<4>,
    tileAvx512<5>, tileAvx512<6>, tileAvx512<7>, tileAvx512<8>};
constexpr TileFn<float> kAvx2Tiles[] = {tileAvx2<1>, tileAvx2<2>, tileAvx2<3>,
                                        tileAvx2<4>, tileAvx2<5>, tileAvx2<6>};
constexpr TileFn<float> kGenericTiles[] = {tileGeneric<1>, tileGeneric<2>,
                                           tileGeneric<3>, tileGeneric<4>};
constexpr TileFn<uint16_t> kBf16DotTiles[] = {
    tileBf16Dot<1>, tileBf16Dot<2>, tileBf16Dot<3>, tileBf16Dot<4>,
    tileBf16Dot<5>, tileBf16Dot<6>, tileBf16Dot<7>, tileBf16Dot<8>};
constexpr TileFn<uint16_t> kBf16Avx512Tiles[] = {
    tileBf16Avx512<1>, tileBf16Avx512<2>, tileBf16Avx512<3>, tileBf16Avx512<4>,
    tileBf16Avx512<5>, tileBf16Avx512<6>, tileBf16Avx512<7>, tileBf16Avx512<8>};
constexpr TileFn<uint16_t> kBf16Avx2Tiles[] = {tileBf16Avx2<1>, tileBf16Avx2<2>,
                                               tileBf16Avx2<3>, tileBf16Avx2<4>};
constexpr TileFn<uint16_t> kBf16GenericTiles[] = {
    tileBf16Generic<1>, tileBf16Generic<2>, tileBf16Generic<3>, tileBf16Generic<4>};

/// The blocking above for panels of T (f32: depth 1; bf16: pairs of k). k
/// slices are a multiple of the depth; only the last may end in a partial
/// step.
template <class T>
void gemmOf(const Family<T> &f, int64_t M, int64_t N, int64_t K, const T *A,
            const T *panels, float *C, int64_t ldc, bool accumulate) {
  constexpr int64_t depth = panelDepth(sizeof(T));
  int64_t numPanels = (N + kPanelWidth - 1) / kPanelWidth;
  int64_t stepSize = kPanelWidth * depth; // elements per step of a panel
  int64_t panelSize = static_cast<int64_t>(panelElements(kPanelWidth, K, depth));
  for (int64_t m0 = 0; m0 < M; m0 += kRowBlock) {
    int64_t mc = std::min(kRowBlock, M - m0);
    for (int64_t p = 0; p < numPanels; ++p) {
      const T *panel = panels + p * panelSize;
      for (int64_t k0 = 0; k0 < K || k0 == 0; k0 += kSlice) {
        int64_t kc = std::min(kSlice, K - k0);
        int64_t steps = (kc + depth - 1) / depth;
        bool tail = kc % depth != 0;
        bool load = accumulate || k0 > 0;
        for (int64_t c0 = 0; c0 < kPanelWidth; c0 += f.cols) {
          int64_t n0 = p * kPanelWidth + c0;
          if (n0 >= N)
            break;
          int width = static_cast<int>(std::min<int64_t>(f.cols, N - n0));
          for (int64_t i = 0; i < mc; i += f.maxRows) {
            int rows = static_cast<int>(std::min<int64_t>(f.maxRows, mc - i));
            int64_t m = m0 + i;
            f.tiles[rows - 1](steps, tail, A + m * K + k0, K,
                              panel + k0 / depth * stepSize + c0 * depth,
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
    return gemmOf<float>({kAvx512Tiles, 8, 32}, M, N, K, A, panels, C, ldc, accumulate);
  case PanelIsa::Avx2:
    return gemmOf<float>({kAvx2Tiles, 6, 16}, M, N, K, A, panels, C, ldc, accumulate);
  case PanelIsa::Generic:
    return gemmOf<float>({kGenericTiles, 4, 32}, M, N, K, A, panels, C, ldc, accumulate);
  }
}

Bf16PanelIsa bestBf16PanelIsa() {
  if (hasBf16Dot())
    return Bf16PanelIsa::Avx512Bf16;
  switch (bestPanelIsa()) {
  case PanelIsa::Avx512: return Bf16PanelIsa::Avx512;
  case PanelIsa::Avx2: return Bf16PanelIsa::Avx2;
  case PanelIsa::Generic: break;
  }
  return Bf16PanelIsa::Generic;
}

void panelGemmBf16(int64_t M, int64_t N, int64_t K, const uint16_t *A,
                   const uint16_t *panels, float *C, int64_t ldc,
                   bool accumulate, Bf16PanelIsa isa) {
  if (M <= 0 || N <= 0)
    return;
  switch (isa) {
  case Bf16PanelIsa::Avx512Bf16:
    return gemmOf<uint16_t>({kBf16DotTiles, 8, 32}, M, N, K, A, panels, C, ldc, accumulate);
  case Bf16PanelIsa::Avx512:
    return gemmOf<uint16_t>({kBf16Avx512Tiles, 8, 32}, M, N, K, A, panels, C, ldc, accumulate);
  case Bf16PanelIsa::Avx2:
    return gemmOf<uint16_t>({kBf16Avx2Tiles, 4, 16}, M, N, K, A, panels, C, ldc, accumulate);
  case Bf16PanelIsa::Generic:
    return gemmOf<uint16_t>({kBf16GenericTiles, 4, 32}, M, N, K, A, panels, C, ldc, accumulate);
  }
}

} // namespace moert::rt
