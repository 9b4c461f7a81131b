//===- PanelGemm.cpp - f32 / bf16 / fp8 / MXFP4 GEMMs on weights in panels ===//
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
#include "moert/fp8.h"
#include "moert/half.h"
#include "moert/intq.h"
#include "moert/mxfp4.h"

#include <algorithm>
#include <cmath>
#include <cpuid.h>
#include <cstring>
#include <vector>

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

/// An AVX2 tile covers W columns (16 for f32 and bf16, 32 for fp8); one
/// narrower than that (the last panel) works on a local copy: stage returns
/// where the tile reads and writes C (C itself, or `tmp` holding C's columns,
/// or zeros), unstage copies the valid columns back.
template <int W, int MR>
inline float *stage(float (&tmp)[MR][W], float *C, int64_t ldc, int width,
                    bool load, int64_t *ldo) {
  if (width >= W) {
    *ldo = ldc;
    return C;
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < W; ++j)
      tmp[i][j] = load && j < width ? C[i * ldc + j] : 0.0f;
  *ldo = W;
  return &tmp[0][0];
}
template <int W, int MR>
inline void unstage(const float (&tmp)[MR][W], float *C, int64_t ldc, int width) {
  if (width >= W)
    return;
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < width; ++j)
      C[i * ldc + j] = tmp[i][j];
}
/// An MR x 8J tile of C in J registers of 8 lanes per row (J = 2: 16
/// columns; J = 4: a panel's 32), loaded (or zeros, unless `load`) and
/// stored back.
template <int MR, int J = 2>
__attribute__((target("avx2"))) inline void
loadTile256(__m256 (&acc)[MR][J], const float *C, int64_t ldc, bool load) {
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < J; ++j)
      acc[i][j] = load ? _mm256_loadu_ps(C + i * ldc + 8 * j) : _mm256_setzero_ps();
}
template <int MR, int J = 2>
__attribute__((target("avx2"))) inline void
storeTile256(__m256 (&acc)[MR][J], float *C, int64_t ldc) {
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < J; ++j)
      _mm256_storeu_ps(C + i * ldc + 8 * j, acc[i][j]);
}

/// A panel's values as f32: f32 panels as they are, f16 panels (depth 1,
/// as f32's) widened exactly by F16C's vcvtph2ps.
__attribute__((target("avx512f"))) inline __m512 loadPanel16(const float *p) {
  return _mm512_loadu_ps(p);
}
__attribute__((target("avx512f"))) inline __m512 loadPanel16(const uint16_t *p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
}
__attribute__((target("avx2"))) inline __m256 loadPanel8(const float *p) {
  return _mm256_loadu_ps(p);
}
__attribute__((target("avx2,f16c"))) inline __m256 loadPanel8(const uint16_t *p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
}
inline float panelValue(float v) { return v; }
inline float panelValue(uint16_t v) { return halfToFloat(v); }

/// A tile of MR rows x 32 columns over k in [0, kc): `panel` points at the
/// slice's first k; B is f32 or f16 (loadPanel16). Columns >= `width` (the last panel's padding) are neither
/// loaded nor stored.
template <class B, int MR>
__attribute__((target("avx512f"))) void
tileAvx512(int64_t kc, bool /*tail*/, const float *A, int64_t lda,
           const B *panel, float *C, int64_t ldc, int width, bool load) {
  ColumnMasks masks = columnMasks(width);
  __m512 acc[MR][2];
  loadTile512<MR>(acc, C, ldc, masks, load);
  for (int64_t k = 0; k < kc; ++k) {
    __m512 b0 = loadPanel16(panel + k * kPanelWidth);
    __m512 b1 = loadPanel16(panel + k * kPanelWidth + 16);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      __m512 a = _mm512_set1_ps(A[i * lda + k]);
      acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
    }
  }
  storeTile512<MR>(acc, C, ldc, masks);
}

/// One k step of a tile over two panels: A[i][0] (row stride lda) times
/// the step's weights of the first panel (b00, b01: columns 0..15, 16..31)
/// into acc0[i] and of the second (b10, b11) into acc1[i].
template <int MR>
__attribute__((target("avx512f"))) inline void
fmaPanelPair(__m512 (&acc0)[MR][2], __m512 (&acc1)[MR][2], const float *A, int64_t lda,
             __m512 b00, __m512 b01, __m512 b10, __m512 b11) {
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i) {
    __m512 a = _mm512_set1_ps(A[i * lda]);
    acc0[i][0] = _mm512_fmadd_ps(a, b00, acc0[i][0]);
    acc0[i][1] = _mm512_fmadd_ps(a, b01, acc0[i][1]);
    acc1[i][0] = _mm512_fmadd_ps(a, b10, acc1[i][0]);
    acc1[i][1] = _mm512_fmadd_ps(a, b11, acc1[i][1]);
  }
}

/// Two full panels at once (64 columns: panel0 and panel1) for MR rows, B
/// f32 or f16: each column's FMA chain is tileAvx512's, but a row has four
/// independent chains instead of two. At one or two rows tileAvx512 is bound
/// by the FMAs' latency (one k per 4 cycles per chain), which keeps too few
/// of the panel's loads in flight to stream it from memory (AMD EPYC (Zen 5)
/// VM, 2 threads, 2816 x 1024 f16 weights from DRAM, M = 1: 52 GB/s against
/// 56-57 here and 57-60 for a plain read of the same bytes).
template <class B, int MR>
__attribute__((target("avx512f"))) void
tilePairAvx512(int64_t kc, const float *A, int64_t lda, const B *panel0, const B *panel1,
               float *C, int64_t ldc, bool load) {
  const ColumnMasks masks = columnMasks(kPanelWidth);
  __m512 acc0[MR][2], acc1[MR][2];
  loadTile512<MR>(acc0, C, ldc, masks, load);
  loadTile512<MR>(acc1, C + kPanelWidth, ldc, masks, load);
  for (int64_t k = 0; k < kc; ++k) {
    const B *row0 = panel0 + k * kPanelWidth, *row1 = panel1 + k * kPanelWidth;
    fmaPanelPair<MR>(acc0, acc1, A + k, lda, loadPanel16(row0), loadPanel16(row0 + 16),
                     loadPanel16(row1), loadPanel16(row1 + 16));
  }
  storeTile512<MR>(acc0, C, ldc, masks);
  storeTile512<MR>(acc1, C + kPanelWidth, ldc, masks);
}

/// A few rows (decode) with AVX2 over all 32 columns of the panel: 4 x MR
/// accumulators, so that each k reads the panel's whole 128-byte row and
/// the panel streams once (the 16-column tiles below read half of every
/// row per pass). Used for at most kAvx2WideRows rows; the same FMA chains.
template <class B, int MR>
__attribute__((target("avx2,fma,f16c"))) void
tileAvx2Wide(int64_t kc, bool /*tail*/, const float *A, int64_t lda,
             const B *panel, float *C, int64_t ldc, int width, bool load) {
  alignas(32) float tmp[MR][32];
  int64_t ldo;
  float *out = stage<32, MR>(tmp, C, ldc, width, load, &ldo);
  __m256 acc[MR][4];
  loadTile256<MR, 4>(acc, out, ldo, load || width < 32);
  for (int64_t k = 0; k < kc; ++k) {
    const B *row = panel + k * kPanelWidth;
#pragma GCC unroll 3
    for (int i = 0; i < MR; ++i) {
      __m256 a = _mm256_broadcast_ss(A + i * lda + k);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j)
        acc[i][j] = _mm256_fmadd_ps(a, loadPanel8(row + 8 * j), acc[i][j]);
    }
  }
  storeTile256<MR, 4>(acc, out, ldo);
  unstage<32, MR>(tmp, C, ldc, width);
}

/// The same over 16 of the panel's 32 columns (`panel` points at the first
/// of them) with AVX2: 2 x MR accumulators of 8 lanes. A partial tile goes
/// through a local copy.
template <class B, int MR>
__attribute__((target("avx2,fma,f16c"))) void
tileAvx2(int64_t kc, bool /*tail*/, const float *A, int64_t lda,
         const B *panel, float *C, int64_t ldc, int width, bool load) {
  alignas(32) float tmp[MR][16];
  int64_t ldo;
  float *out = stage<16, MR>(tmp, C, ldc, width, load, &ldo);
  __m256 acc[MR][2];
  loadTile256<MR>(acc, out, ldo, load || width < 16);
  for (int64_t k = 0; k < kc; ++k) {
    __m256 b0 = loadPanel8(panel + k * kPanelWidth);
    __m256 b1 = loadPanel8(panel + k * kPanelWidth + 8);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      __m256 a = _mm256_broadcast_ss(A + i * lda + k);
      acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
    }
  }
  storeTile256<MR>(acc, out, ldo);
  unstage<16, MR>(tmp, C, ldc, width);
}

/// Portable C++ (whatever the compiler vectorizes for the baseline).
template <class B, int MR>
void tileGeneric(int64_t kc, bool /*tail*/, const float *A, int64_t lda,
                 const B *panel, float *C, int64_t ldc, int width, bool load) {
  float acc[MR][kPanelWidth];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < kPanelWidth; ++j)
      acc[i][j] = load && j < width ? C[i * ldc + j] : 0.0f;
  for (int64_t k = 0; k < kc; ++k)
    for (int i = 0; i < MR; ++i) {
      float a = A[i * lda + k];
      for (int j = 0; j < kPanelWidth; ++j)
        acc[i][j] += a * panelValue(panel[k * kPanelWidth + j]);
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

/// A few rows (decode) with AVX2 over all 32 columns of the panel: each
/// step reads the panel's whole 128-byte row (see tileAvx2Wide). Up to
/// kBf16Avx2WideRows rows (8 accumulators, the broadcasts and the decoded
/// pair fill the 16 registers); the same FMA chains as tileBf16Avx2.
template <int MR>
__attribute__((target("avx2,fma"))) void
tileBf16Avx2Wide(int64_t steps, bool tail, const uint16_t *A, int64_t lda,
                 const uint16_t *panel, float *C, int64_t ldc, int width, bool load) {
  alignas(32) float tmp[MR][32];
  int64_t ldo;
  float *out = stage<32, MR>(tmp, C, ldc, width, load, &ldo);
  const __m256i high = _mm256_set1_epi32(static_cast<int>(0xFFFF0000u));
  __m256 acc[MR][4];
  loadTile256<MR, 4>(acc, out, ldo, load || width < 32);
  for (int64_t s = 0; s < steps; ++s) {
    bool half = tail && s == steps - 1;
    const uint16_t *p = panel + s * 2 * kPanelWidth;
    __m256 ae[MR], ao[MR];
#pragma GCC unroll 2
    for (int i = 0; i < MR; ++i) {
      ae[i] = _mm256_set1_ps(bf16ToFloat(A[i * lda + 2 * s]));
      ao[i] = _mm256_set1_ps(half ? 0.0f : bf16ToFloat(A[i * lda + 2 * s + 1]));
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + 16 * j));
      __m256 e = _mm256_castsi256_ps(_mm256_slli_epi32(b, 16));
      __m256 o = _mm256_castsi256_ps(_mm256_and_si256(b, high));
#pragma GCC unroll 2
      for (int i = 0; i < MR; ++i)
        acc[i][j] = _mm256_fmadd_ps(ao[i], o, _mm256_fmadd_ps(ae[i], e, acc[i][j]));
    }
  }
  storeTile256<MR, 4>(acc, out, ldo);
  unstage<32, MR>(tmp, C, ldc, width);
}

/// The same with AVX2 over 16 of the panel's 32 columns (`panel` points at
/// the first of them); a partial tile goes through a local copy.
template <int MR>
__attribute__((target("avx2,fma"))) void
tileBf16Avx2(int64_t steps, bool tail, const uint16_t *A, int64_t lda,
             const uint16_t *panel, float *C, int64_t ldc, int width, bool load) {
  alignas(32) float tmp[MR][16];
  int64_t ldo;
  float *out = stage<16, MR>(tmp, C, ldc, width, load, &ldo);
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
  unstage<16, MR>(tmp, C, ldc, width);
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
template <class T, class TB = T>
using TileFn = void (*)(int64_t steps, bool tail, const T *A, int64_t lda,
                        const TB *panel, float *C, int64_t ldc, int width,
                        bool load);

/// A tile over two full panels (tilePairAvx512): kc values of k, the
/// panels' slices at panel0 and panel1, C's 64 columns.
template <class TB>
using PairTileFn = void (*)(int64_t kc, const float *A, int64_t lda, const TB *panel0,
                            const TB *panel1, float *C, int64_t ldc, bool load);

/// A kernel family: its tiles for 1..maxRows rows (tiles[r - 1]) and the
/// columns one call covers (32, or 16 for AVX2's half panels); tiles over
/// pairs of full panels for 1..pairRows rows (none: pairRows = 0; only
/// gemmOnWidenedRows runs them, where the panels are read in place).
template <class T, class TB = T> struct Family {
  const TileFn<T, TB> *tiles;
  int maxRows, cols;
  const PairTileFn<TB> *pairs = nullptr;
  int pairRows = 0;
};

/// The f32 tiles, for B f32 or f16 panels (A f32).
template <class B>
constexpr TileFn<float, B> kAvx512TilesOf[] = {
    tileAvx512<B, 1>, tileAvx512<B, 2>, tileAvx512<B, 3>, tileAvx512<B, 4>,
    tileAvx512<B, 5>, tileAvx512<B, 6>, tileAvx512<B, 7>, tileAvx512<B, 8>};
template <class B>
constexpr TileFn<float, B> kAvx2TilesOf[] = {tileAvx2<B, 1>, tileAvx2<B, 2>, tileAvx2<B, 3>,
                                             tileAvx2<B, 4>, tileAvx2<B, 5>, tileAvx2<B, 6>};
/// At most this many rows run the whole-panel AVX2 tiles.
constexpr int kAvx2WideRows = 3;
template <class B>
constexpr TileFn<float, B> kAvx2WideTilesOf[] = {tileAvx2Wide<B, 1>, tileAvx2Wide<B, 2>,
                                                 tileAvx2Wide<B, 3>};
template <class B>
constexpr TileFn<float, B> kGenericTilesOf[] = {tileGeneric<B, 1>, tileGeneric<B, 2>,
                                                tileGeneric<B, 3>, tileGeneric<B, 4>};
template <class B>
constexpr PairTileFn<B> kAvx512PairTilesOf[] = {tilePairAvx512<B, 1>, tilePairAvx512<B, 2>};
constexpr const TileFn<float> *kAvx512Tiles = kAvx512TilesOf<float>;
constexpr const TileFn<float> *kAvx2Tiles = kAvx2TilesOf<float>;
constexpr const TileFn<float> *kAvx2WideTiles = kAvx2WideTilesOf<float>;
constexpr const TileFn<float> *kGenericTiles = kGenericTilesOf<float>;
constexpr TileFn<uint16_t> kBf16DotTiles[] = {
    tileBf16Dot<1>, tileBf16Dot<2>, tileBf16Dot<3>, tileBf16Dot<4>,
    tileBf16Dot<5>, tileBf16Dot<6>, tileBf16Dot<7>, tileBf16Dot<8>};
constexpr TileFn<uint16_t> kBf16Avx512Tiles[] = {
    tileBf16Avx512<1>, tileBf16Avx512<2>, tileBf16Avx512<3>, tileBf16Avx512<4>,
    tileBf16Avx512<5>, tileBf16Avx512<6>, tileBf16Avx512<7>, tileBf16Avx512<8>};
constexpr TileFn<uint16_t> kBf16Avx2Tiles[] = {tileBf16Avx2<1>, tileBf16Avx2<2>,
                                               tileBf16Avx2<3>, tileBf16Avx2<4>};
/// At most this many rows run the whole-panel AVX2 bf16 tiles.
constexpr int kBf16Avx2WideRows = 2;
constexpr TileFn<uint16_t> kBf16Avx2WideTiles[] = {tileBf16Avx2Wide<1>,
                                                   tileBf16Avx2Wide<2>};
constexpr TileFn<uint16_t> kBf16GenericTiles[] = {
    tileBf16Generic<1>, tileBf16Generic<2>, tileBf16Generic<3>, tileBf16Generic<4>};

/// Family f's register tiles over one slice of panel p (`slice`: its first
/// step) for rows [0, mc) of A (row stride lda, at the slice's first k) and
/// of C (row stride ldc), over `steps` steps of `depth` values of k.
template <class T, class TB>
inline void tilesOverSlice(const Family<T, TB> &f, int64_t p, int64_t N, int64_t mc,
                           int64_t steps, bool tail, int64_t depth, const T *A, int64_t lda,
                           const TB *slice, float *C, int64_t ldc, bool load) {
  for (int64_t c0 = 0; c0 < kPanelWidth; c0 += f.cols) {
    int64_t n0 = p * kPanelWidth + c0;
    if (n0 >= N)
      break;
    int width = static_cast<int>(std::min<int64_t>(f.cols, N - n0));
    for (int64_t i = 0; i < mc; i += f.maxRows) {
      int rows = static_cast<int>(std::min<int64_t>(f.maxRows, mc - i));
      f.tiles[rows - 1](steps, tail, A + i * lda, lda, slice + c0 * depth,
                        C + i * ldc + n0, ldc, width, load);
    }
  }
}

/// The blocking above for panels of T (f32: depth 1; bf16: pairs of k). k
/// slices are a multiple of the depth; only the last may end in a partial
/// step.
template <class T>
void gemmOf(const Family<T> &f, int64_t M, int64_t N, int64_t K, const T *A,
            const T *panels, float *C, int64_t ldc, bool accumulate) {
  // T is float or bf16 (f16 panels, of depth 1, run gemmF16Of).
  constexpr int64_t depth = panelDepthFor(sizeof(T) == 2);
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
        tilesOverSlice(f, p, N, mc, steps, tail, depth, A + m0 * K + k0, K,
                       panel + k0 / depth * stepSize, C + m0 * ldc, ldc, load);
        if (K == 0)
          break;
      }
    }
  }
}

/// Scratch buffer `slot` of the calling thread (0: rows of A scaled, widened
/// or quantized; 1: a panel slice decoded or widened), at least `bytes` long
/// and 64-byte aligned; grown, never shrunk.
void *threadScratch(int slot, size_t bytes) {
  thread_local std::vector<float> buffers[2];
  std::vector<float> &b = buffers[slot];
  size_t need = (bytes + 63) / sizeof(float) + 16;
  if (b.size() < need)
    b.resize(need);
  uintptr_t p = reinterpret_cast<uintptr_t>(b.data());
  return reinterpret_cast<void *>((p + 63) & ~uintptr_t(63));
}

/// bf16 panels for many rows with AVX2 (no AVX512_BF16): the widening tiles
/// spend more instructions widening each pair and converting each of A's
/// values than on their FMAs. Instead, per block of
/// rows and k slice, the rows' slice of A is widened to f32 once, and per
/// panel the panel's slice is widened once into an f32 panel slice (32 x
/// kSlice floats, 64 KiB), which the f32 tiles of `f` run over; both
/// widenings are exact. A pair's odd value past an odd K is widened too
/// (A's as 0), so each element's sum is the widening tiles' FMA chain, bit
/// for bit.
__attribute__((target("avx2"))) void widenBf16(const uint16_t *src, int64_t n, float *dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i *>(src + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(dst + i),
                        _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  for (; i < n; ++i)
    dst[i] = bf16ToFloat(src[i]);
}

/// `steps` pairs of a bf16 panel (per step 32 columns' (even, odd) k pairs)
/// as 2 * steps rows of an f32 panel (per k, 32 columns).
__attribute__((target("avx2"))) void widenBf16Panel(const uint16_t *panel, int64_t steps,
                                                    float *out) {
  const __m256i high = _mm256_set1_epi32(static_cast<int>(0xFFFF0000u));
  for (int64_t s = 0; s < steps; ++s) {
    const uint16_t *p = panel + s * 2 * kPanelWidth;
    float *even = out + 2 * s * kPanelWidth, *odd = even + kPanelWidth;
    for (int j = 0; j < 4; ++j) { // 8 columns' pairs per 256 bits
      __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + 16 * j));
      _mm256_storeu_si256(reinterpret_cast<__m256i *>(even + 8 * j), _mm256_slli_epi32(b, 16));
      _mm256_storeu_si256(reinterpret_cast<__m256i *>(odd + 8 * j), _mm256_and_si256(b, high));
    }
  }
}

/// The blocking of the 16-bit GEMMs that run the f32 tiles: per block of
/// rows and k slice of `slice` values, the rows' slice of A (16-bit, row
/// stride K) is widened to f32 once by widenRow (the values from K up to
/// kHeld, the panels' k, as 0), and per panel the tiles run over
/// sliceOf(p, k0, kc), panel p's slice at k0 as they read it (a family with
/// pair tiles takes two full panels at once, so sliceOf(p + 1, ...) must not
/// overwrite what sliceOf(p, ...) returned).
template <class TB, class WidenRow, class SliceOf>
void gemmOnWidenedRows(const Family<float, TB> &f, WidenRow widenRow, SliceOf sliceOf,
                       int64_t M, int64_t N, int64_t K, int64_t kHeld, int64_t slice,
                       const uint16_t *A, float *C, int64_t ldc, bool accumulate) {
  if (kHeld == 0) {
    if (!accumulate)
      for (int64_t m = 0; m < M; ++m)
        std::fill(C + m * ldc, C + m * ldc + N, 0.0f);
    return;
  }
  int64_t numPanels = (N + kPanelWidth - 1) / kPanelWidth;
  float *a = static_cast<float *>(
      threadScratch(0, sizeof(float) * std::min(kRowBlock, M) * slice));
  for (int64_t m0 = 0; m0 < M; m0 += kRowBlock) {
    int64_t mc = std::min(kRowBlock, M - m0);
    for (int64_t k0 = 0; k0 < kHeld; k0 += slice) {
      int64_t kc = std::min(slice, kHeld - k0);
      int64_t valid = std::min(kc, K - k0); // A's values in this slice
      for (int64_t i = 0; i < mc; ++i) {
        widenRow(A + (m0 + i) * K + k0, valid, a + i * kc);
        std::fill(a + i * kc + valid, a + (i + 1) * kc, 0.0f);
      }
      bool load = accumulate || k0 > 0;
      for (int64_t p = 0; p < numPanels; ++p) {
        if (mc <= f.pairRows && N - p * kPanelWidth >= 2 * kPanelWidth) {
          f.pairs[mc - 1](kc, a, kc, sliceOf(p, k0, kc), sliceOf(p + 1, k0, kc),
                          C + m0 * ldc + p * kPanelWidth, ldc, load);
          ++p;
          continue;
        }
        tilesOverSlice(f, p, N, mc, kc, false, 1, a, kc, sliceOf(p, k0, kc), C + m0 * ldc, ldc,
                       load);
      }
    }
  }
}

/// bf16 panels through gemmOnWidenedRows: each panel's slice is widened
/// into scratch buffer 1 (32 x kSlice floats, 64 KiB); k runs to the
/// panels' pairs, so a half pair's odd value is multiplied by 0.
void gemmBf16Widened(const Family<float> &f, int64_t M, int64_t N, int64_t K,
                     const uint16_t *A, const uint16_t *panels, float *C, int64_t ldc,
                     bool accumulate) {
  static_assert(kSlice % 2 == 0, "k slices hold whole pairs");
  int64_t kPairs = (K + 1) / 2 * 2;
  int64_t slice = std::min(kSlice, kPairs);
  int64_t panelSize = static_cast<int64_t>(panelElements(kPanelWidth, K, 2));
  float *w = static_cast<float *>(threadScratch(1, sizeof(float) * kPanelWidth * slice));
  auto sliceOf = [&](int64_t p, int64_t k0, int64_t kc) -> const float * {
    widenBf16Panel(panels + p * panelSize + k0 * kPanelWidth, kc / 2, w);
    return w;
  };
  gemmOnWidenedRows(f, widenBf16, sliceOf, M, N, K, kPairs, slice, A, C, ldc, accumulate);
}

/// f16 panels (depth 1, as f32's) through gemmOnWidenedRows: the f32 tiles
/// widen B as they load it (vcvtph2ps), so they read the panels in place.
/// Few rows (at most one register tile) take all of k as one slice, so that
/// each panel streams once (decode); with AVX-512 one or two rows take two
/// full panels per tile (tilePairAvx512). Each element's sum is the f32
/// tiles' FMA chain in k order on the widened values.
template <class Widen>
void gemmF16Of(const Family<float, uint16_t> &f, Widen widenRow, int64_t M, int64_t N,
               int64_t K, const uint16_t *A, const uint16_t *panels, float *C, int64_t ldc,
               bool accumulate) {
  int64_t panelSize = static_cast<int64_t>(panelElements(kPanelWidth, K));
  auto sliceOf = [&](int64_t p, int64_t k0, int64_t) {
    return panels + p * panelSize + k0 * kPanelWidth;
  };
  gemmOnWidenedRows(f, widenRow, sliceOf, M, N, K, K,
                    M <= f.maxRows ? K : std::min(kSlice, K), A, C, ldc, accumulate);
}

__attribute__((target("avx2,f16c"))) void widenHalvesF16c(const uint16_t *src, int64_t n,
                                                          float *dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(
                                  reinterpret_cast<const __m128i *>(src + i))));
  for (; i < n; ++i)
    dst[i] = halfToFloat(src[i]);
}

void widenHalves(const uint16_t *src, int64_t n, float *dst) {
  for (int64_t i = 0; i < n; ++i)
    dst[i] = halfToFloat(src[i]);
}

// fp8 e4m3 panels with 128 x 128 block scales (panelGemmFp8). Per block of
// rows, per group of panels that share a row of scales (the up to 4 panels of
// one 128-column block), per k slice of kFp8Slice values (a multiple of 128;
// kFp8StreamSlice for rows few enough for the fused tiles below),
// the rows' slice of A is multiplied by its block scales and by 2^8 into a
// scratch buffer of the thread: a'' = f32(A · s) · 2^8 (the second product
// is exact: a power of two). The codes become IEEE halves equal to their
// values · 2^-8, exactly (decodeFp8x32), which vcvtph2ps widens to f32 in
// registers: a'' · (w · 2^-8) = a' · w exactly, so each element's sum is the
// contract's FMA chain, bit for bit. Then, per panel of the group:
// - a few rows (at most fusedRows: one register tile) decode the codes in
//   the tile, as they stream from memory (the "fused" tiles);
// - more rows decode the panel's slice once into a second buffer (L1) and
//   run their tiles on the halves (vcvtph2ps from memory: no shuffle), which
//   takes the integer work out of every tile but the first.
//
// Measured on an Intel Xeon (Emerald Rapids: AVX-512, 2 MiB of L2 per core),
// one thread, a 2048 x 7168 weight (medians; runs vary by about 10%):
// decoding in every tile reached about 97 GFLOP/s at M = 256, decoding once
// per slice 119 with MR = 8 and 124-127 with MR = 12 (f32 panelGemm:
// 129-142); at M = 1..8 the fused tiles were as fast or faster (M = 1: 16.5
// against 12 GB/s of codes with the weight in L3: for a single tile, a
// separate decoding pass costs more than it saves). At M = 1 a weight in
// DRAM streams at 12-15 GB/s (f32 panelGemm: 15) with the software prefetch
// 4 KiB ahead, 7.6 without it. Slices of 128 to 1024 were within the noise
// of 256.

/// The fp8 k slice: a panel's decoded slice (32 x kFp8Slice halves, 16 KiB)
/// and a register tile's rows of a'' stay in L1, the group's a'' (kRowBlock x
/// kFp8Slice floats, 256 KiB) in L2.
constexpr int64_t kFp8Slice = 256;

/// The k slice of the rows that decode in their register tiles (at most
/// fusedRows): a multiple of the block, and at most 8 x 16384 floats (512
/// KiB) of scaled A.
constexpr int64_t kFp8StreamSlice = 16384;
static_assert(kFp8StreamSlice % kFp8Block == 0 && kFp8Slice % kFp8Block == 0,
              "slices hold whole scale blocks");

/// How far ahead of their decoding the codes are prefetched (bytes): the
/// hardware prefetchers alone let a panel stream at about half the machine's
/// read bandwidth once the kernel does more than stream.
constexpr int64_t kFp8Prefetch = 4096;

/// An fp8 register tile over kc values of k: `A` the scaled rows (row stride
/// lda), `B` the panel's slice (raw codes for a fused tile, else as the
/// family's Fp8DecodeFn wrote it), C as for TileFn.
using Fp8TileFn = void (*)(int64_t kc, const float *A, int64_t lda,
                           const void *B, float *C, int64_t ldc, int width,
                           bool load);

/// Decodes kc steps of a panel (32 codes each) into `out` for the family's
/// tiles, 32 values of decodedBytes per step.
using Fp8DecodeFn = void (*)(int64_t kc, const uint8_t *panel, void *out);

/// `rows` rows of kc values of A (row stride lda) times their block scales
/// (s[b] for k in [128b, 128b + 128)) and 2^8, into `out` (row stride kc).
using Fp8ScaleFn = void (*)(int64_t rows, int64_t kc, const float *A,
                            int64_t lda, const float *s, float *out);

/// A fused tile over two full panels (the one at B and the one panelBytes
/// further; 64 columns of C).
using Fp8PairTileFn = void (*)(int64_t kc, const float *A, int64_t lda, const uint8_t *B,
                               int64_t panelBytes, float *C, int64_t ldc, bool load);

/// An fp8 kernel family: tiles on decoded slices for 1..maxRows rows, fused
/// tiles for 1..fusedRows rows (none: fusedRows = 0), the scaling of A and
/// the decoding of panels; fused tiles over pairs of full panels for
/// 1..pairRows rows (none: pairRows = 0).
struct Fp8Family {
  const Fp8TileFn *tiles;
  int maxRows;
  const Fp8TileFn *fused;
  int fusedRows;
  Fp8ScaleFn scale;
  Fp8DecodeFn decode;
  int decodedBytes;
  const Fp8PairTileFn *pairs = nullptr;
  int pairRows = 0;
};

/// 32 codes (one panel step) as IEEE halves equal to their values · 2^-8,
/// exactly. e4m3 is s eeee mmm (bias 7, subnormal m/8 · 2^-6 at e = 0), a
/// half s eeeee mmmmmmmmmm (bias 15, subnormal m/1024 · 2^-14): the code
/// sign-extended to 16 bits and shifted left by 7 has the sign in bit 15, a
/// copy of it in bit 14 (cleared by the mask) and eeee mmm in the exponent's
/// low 4 bits and the mantissa's top 3, so the exponent is (e - 7) - 8 and a
/// subnormal m/8 · 2^-14: both 2^-8 times the e4m3 value. (The NaN codes
/// become 480 · 2^-8.)
constexpr short kFp8HalfMask = static_cast<short>(0xBF80);
__attribute__((target("avx512f,avx512bw"))) inline __m512i
decodeFp8x32(const uint8_t *codes, __m512i keep) {
  __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(codes));
  return _mm512_and_si512(_mm512_slli_epi16(_mm512_cvtepi8_epi16(c), 7), keep);
}
/// The same for 16 codes with AVX2.
__attribute__((target("avx2"))) inline __m256i
decodeFp8x16(const uint8_t *codes, __m256i keep) {
  __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i *>(codes));
  return _mm256_and_si256(_mm256_slli_epi16(_mm256_cvtepi8_epi16(c), 7), keep);
}

/// Prefetches the codes kFp8Prefetch bytes ahead (into L1; past the end of
/// the weight it is harmless).
inline void prefetchCodes(const uint8_t *codes) {
  __builtin_prefetch(codes + kFp8Prefetch, 0, 3);
}

/// A fused tile of MR rows x 32 columns: per k, the panel's 32 codes decoded
/// to two registers of 16 floats, then 2 x MR FMAs.
template <int MR>
__attribute__((target("avx512f,avx512bw"))) void
tileFp8FusedAvx512(int64_t kc, const float *A, int64_t lda, const void *B,
                   float *C, int64_t ldc, int width, bool load) {
  const uint8_t *panel = static_cast<const uint8_t *>(B);
  ColumnMasks masks = columnMasks(width);
  const __m512i keep = _mm512_set1_epi16(kFp8HalfMask);
  __m512 acc[MR][2];
  loadTile512<MR>(acc, C, ldc, masks, load);
  for (int64_t k = 0; k < kc; ++k) {
    prefetchCodes(panel + k * kPanelWidth);
    __m512i h = decodeFp8x32(panel + k * kPanelWidth, keep);
    __m512 b0 = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
    __m512 b1 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      __m512 a = _mm512_set1_ps(A[i * lda + k]);
      acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
    }
  }
  storeTile512<MR>(acc, C, ldc, masks);
}

/// Two full panels at once (64 columns: the panel at B and the next one,
/// panelBytes further) for MR rows: each column's FMA chain is the one
/// tileFp8FusedAvx512 computes, but a row has four independent chains
/// instead of two. At one or two rows the fused tile is bound by the FMAs'
/// latency (one k step per 4 cycles: 32 codes; measured on an AMD EPYC
/// (Zen 5) VM, one thread, weights in L2: 27 G codes/s, less than one
/// thread can stream from memory there).
template <int MR>
__attribute__((target("avx512f,avx512bw"))) void
tileFp8FusedPairAvx512(int64_t kc, const float *A, int64_t lda, const uint8_t *B,
                       int64_t panelBytes, float *C, int64_t ldc, bool load) {
  const uint8_t *panel0 = B, *panel1 = B + panelBytes;
  const ColumnMasks masks = columnMasks(kPanelWidth);
  const __m512i keep = _mm512_set1_epi16(kFp8HalfMask);
  __m512 acc0[MR][2], acc1[MR][2];
  loadTile512<MR>(acc0, C, ldc, masks, load);
  loadTile512<MR>(acc1, C + kPanelWidth, ldc, masks, load);
  for (int64_t k = 0; k < kc; ++k) {
    prefetchCodes(panel0 + k * kPanelWidth);
    prefetchCodes(panel1 + k * kPanelWidth);
    __m512i h0 = decodeFp8x32(panel0 + k * kPanelWidth, keep);
    __m512i h1 = decodeFp8x32(panel1 + k * kPanelWidth, keep);
    __m512 b00 = _mm512_cvtph_ps(_mm512_castsi512_si256(h0));
    __m512 b01 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h0, 1));
    __m512 b10 = _mm512_cvtph_ps(_mm512_castsi512_si256(h1));
    __m512 b11 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h1, 1));
    fmaPanelPair<MR>(acc0, acc1, A + k, lda, b00, b01, b10, b11);
  }
  storeTile512<MR>(acc0, C, ldc, masks);
  storeTile512<MR>(acc1, C + kPanelWidth, ldc, masks);
}

/// The same on a decoded slice (32 halves per k).
template <int MR>
__attribute__((target("avx512f"))) void
tileFp8Avx512(int64_t kc, const float *A, int64_t lda, const void *B,
              float *C, int64_t ldc, int width, bool load) {
  const __m256i *h = static_cast<const __m256i *>(B);
  ColumnMasks masks = columnMasks(width);
  __m512 acc[MR][2];
  loadTile512<MR>(acc, C, ldc, masks, load);
  for (int64_t k = 0; k < kc; ++k) {
    __m512 b0 = _mm512_cvtph_ps(_mm256_loadu_si256(h + 2 * k));
    __m512 b1 = _mm512_cvtph_ps(_mm256_loadu_si256(h + 2 * k + 1));
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      __m512 a = _mm512_set1_ps(A[i * lda + k]);
      acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
    }
  }
  storeTile512<MR>(acc, C, ldc, masks);
}

__attribute__((target("avx512f,avx512bw"))) void
decodeFp8Avx512(int64_t kc, const uint8_t *panel, void *out) {
  const __m512i keep = _mm512_set1_epi16(kFp8HalfMask);
  __m512i *h = static_cast<__m512i *>(out);
  int64_t k = 0;
  for (; k + 2 <= kc; k += 2) { // one prefetch per 64-byte line
    prefetchCodes(panel + k * kPanelWidth);
    _mm512_storeu_si512(h + k, decodeFp8x32(panel + k * kPanelWidth, keep));
    _mm512_storeu_si512(h + k + 1, decodeFp8x32(panel + (k + 1) * kPanelWidth, keep));
  }
  if (k < kc)
    _mm512_storeu_si512(h + k, decodeFp8x32(panel + k * kPanelWidth, keep));
}

/// A fused tile with AVX2 + F16C: all 32 columns per pass (4 x MR
/// accumulators of 8 lanes), so that each k reads the panel's whole 32-byte
/// row, decoded 16 codes at a time. A partial tile goes through a local
/// copy.
template <int MR>
__attribute__((target("avx2,fma,f16c"))) void
tileFp8FusedAvx2(int64_t kc, const float *A, int64_t lda, const void *B,
                 float *C, int64_t ldc, int width, bool load) {
  const uint8_t *panel = static_cast<const uint8_t *>(B);
  alignas(32) float tmp[MR][kPanelWidth];
  int64_t ldo;
  float *out = stage<kPanelWidth, MR>(tmp, C, ldc, width, load, &ldo);
  const __m256i keep = _mm256_set1_epi16(kFp8HalfMask);
  __m256 acc[MR][4];
  loadTile256<MR, 4>(acc, out, ldo, load || width < kPanelWidth);
  for (int64_t k = 0; k < kc; ++k) {
    const uint8_t *p = panel + k * kPanelWidth;
    prefetchCodes(p);
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      __m256i x = decodeFp8x16(p + 16 * h, keep);
      __m256 b0 = _mm256_cvtph_ps(_mm256_castsi256_si128(x));
      __m256 b1 = _mm256_cvtph_ps(_mm256_extracti128_si256(x, 1));
#pragma GCC unroll 4
      for (int i = 0; i < MR; ++i) {
        __m256 a = _mm256_broadcast_ss(A + i * lda + k);
        acc[i][2 * h] = _mm256_fmadd_ps(a, b0, acc[i][2 * h]);
        acc[i][2 * h + 1] = _mm256_fmadd_ps(a, b1, acc[i][2 * h + 1]);
      }
    }
  }
  storeTile256<MR, 4>(acc, out, ldo);
  unstage<kPanelWidth, MR>(tmp, C, ldc, width);
}

/// The same on a decoded slice (32 halves per k).
template <int MR>
__attribute__((target("avx2,fma,f16c"))) void
tileFp8Avx2(int64_t kc, const float *A, int64_t lda, const void *B, float *C,
            int64_t ldc, int width, bool load) {
  const __m128i *h = static_cast<const __m128i *>(B);
  alignas(32) float tmp[MR][kPanelWidth];
  int64_t ldo;
  float *out = stage<kPanelWidth, MR>(tmp, C, ldc, width, load, &ldo);
  __m256 acc[MR][4];
  loadTile256<MR, 4>(acc, out, ldo, load || width < kPanelWidth);
  for (int64_t k = 0; k < kc; ++k) {
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      __m256 b = _mm256_cvtph_ps(_mm_loadu_si128(h + 4 * k + j));
#pragma GCC unroll 4
      for (int i = 0; i < MR; ++i)
        acc[i][j] = _mm256_fmadd_ps(_mm256_broadcast_ss(A + i * lda + k), b, acc[i][j]);
    }
  }
  storeTile256<MR, 4>(acc, out, ldo);
  unstage<kPanelWidth, MR>(tmp, C, ldc, width);
}

__attribute__((target("avx2"))) void
decodeFp8Avx2(int64_t kc, const uint8_t *panel, void *out) {
  const __m256i keep = _mm256_set1_epi16(kFp8HalfMask);
  __m256i *h = static_cast<__m256i *>(out);
  for (int64_t k = 0; k < kc; ++k) {
    const uint8_t *p = panel + k * kPanelWidth;
    if (k % 2 == 0) // one prefetch per 64-byte line
      prefetchCodes(p);
    _mm256_storeu_si256(h + 2 * k, decodeFp8x16(p, keep));
    _mm256_storeu_si256(h + 2 * k + 1, decodeFp8x16(p + 16, keep));
  }
}

/// Each code's value · 2^-8 (exact), NaN for the NaN codes.
const float *fp8Table() {
  static const struct Table {
    float v[256];
    Table() {
      for (int c = 0; c < 256; ++c)
        v[c] = std::ldexp(fp8ToFloat(static_cast<uint8_t>(c)), -8);
    }
  } table;
  return table.v;
}

/// Portable C++: a decoded slice of floats (fp8Table), std::fma.
template <int MR>
void tileFp8Generic(int64_t kc, const float *A, int64_t lda, const void *B,
                    float *C, int64_t ldc, int width, bool load) {
  const float *w = static_cast<const float *>(B);
  float acc[MR][kPanelWidth];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < kPanelWidth; ++j)
      acc[i][j] = load && j < width ? C[i * ldc + j] : 0.0f;
  for (int64_t k = 0; k < kc; ++k)
    for (int i = 0; i < MR; ++i) {
      float a = A[i * lda + k];
      for (int j = 0; j < kPanelWidth; ++j)
        acc[i][j] = std::fma(a, w[k * kPanelWidth + j], acc[i][j]);
    }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < width; ++j)
      C[i * ldc + j] = acc[i][j];
}

void decodeFp8Generic(int64_t kc, const uint8_t *panel, void *out) {
  const float *table = fp8Table();
  float *w = static_cast<float *>(out);
  for (int64_t i = 0; i < kc * kPanelWidth; ++i)
    w[i] = table[panel[i]];
}

/// The scaling of A's slice, 16 (AVX-512), 8 (AVX2) or 1 lane at a time:
/// two roundings, f32(a · s) then the exact · 2^8.
__attribute__((target("avx512f"))) void
scaleFp8Avx512(int64_t rows, int64_t kc, const float *A, int64_t lda,
               const float *s, float *out) {
  const __m512 two8 = _mm512_set1_ps(256.0f);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t b0 = 0; b0 < kc; b0 += kFp8Block) {
      __m512 sb = _mm512_set1_ps(s[b0 / kFp8Block]);
      int64_t b1 = std::min(kc, b0 + kFp8Block);
      for (int64_t k = b0; k < b1; k += 16) {
        __mmask16 m = b1 - k >= 16 ? __mmask16(0xffff)
                                   : static_cast<__mmask16>((1u << (b1 - k)) - 1);
        __m512 a = _mm512_maskz_loadu_ps(m, A + i * lda + k);
        _mm512_mask_storeu_ps(out + i * kc + k, m,
                              _mm512_mul_ps(_mm512_mul_ps(a, sb), two8));
      }
    }
}
__attribute__((target("avx2"))) void
scaleFp8Avx2(int64_t rows, int64_t kc, const float *A, int64_t lda,
             const float *s, float *out) {
  const __m256 two8 = _mm256_set1_ps(256.0f);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t b0 = 0; b0 < kc; b0 += kFp8Block) {
      float sf = s[b0 / kFp8Block];
      __m256 sb = _mm256_set1_ps(sf);
      int64_t b1 = std::min(kc, b0 + kFp8Block), k = b0;
      for (; k + 8 <= b1; k += 8) {
        __m256 a = _mm256_loadu_ps(A + i * lda + k);
        _mm256_storeu_ps(out + i * kc + k, _mm256_mul_ps(_mm256_mul_ps(a, sb), two8));
      }
      for (; k < b1; ++k)
        out[i * kc + k] = A[i * lda + k] * sf * 256.0f;
    }
}
void scaleFp8Generic(int64_t rows, int64_t kc, const float *A, int64_t lda,
                     const float *s, float *out) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t k = 0; k < kc; ++k)
      out[i * kc + k] = A[i * lda + k] * s[k / kFp8Block] * 256.0f;
}

constexpr Fp8TileFn kFp8Avx512Tiles[] = {
    tileFp8Avx512<1>, tileFp8Avx512<2>,  tileFp8Avx512<3>,  tileFp8Avx512<4>,
    tileFp8Avx512<5>, tileFp8Avx512<6>,  tileFp8Avx512<7>,  tileFp8Avx512<8>,
    tileFp8Avx512<9>, tileFp8Avx512<10>, tileFp8Avx512<11>, tileFp8Avx512<12>};
constexpr Fp8TileFn kFp8FusedAvx512Tiles[] = {
    tileFp8FusedAvx512<1>, tileFp8FusedAvx512<2>, tileFp8FusedAvx512<3>,
    tileFp8FusedAvx512<4>, tileFp8FusedAvx512<5>, tileFp8FusedAvx512<6>,
    tileFp8FusedAvx512<7>, tileFp8FusedAvx512<8>};
constexpr Fp8TileFn kFp8Avx2Tiles[] = {tileFp8Avx2<1>, tileFp8Avx2<2>, tileFp8Avx2<3>};
constexpr Fp8TileFn kFp8FusedAvx2Tiles[] = {tileFp8FusedAvx2<1>, tileFp8FusedAvx2<2>,
                                            tileFp8FusedAvx2<3>};
constexpr Fp8TileFn kFp8GenericTiles[] = {tileFp8Generic<1>, tileFp8Generic<2>,
                                          tileFp8Generic<3>, tileFp8Generic<4>};

constexpr Fp8PairTileFn kFp8PairAvx512Tiles[] = {tileFp8FusedPairAvx512<1>,
                                                 tileFp8FusedPairAvx512<2>};
constexpr Fp8Family kFp8Avx512 = {kFp8Avx512Tiles, 12, kFp8FusedAvx512Tiles, 8,
                                  scaleFp8Avx512, decodeFp8Avx512, 2,
                                  kFp8PairAvx512Tiles, 2};
constexpr Fp8Family kFp8Avx2 = {kFp8Avx2Tiles, 3, kFp8FusedAvx2Tiles, 3,
                                scaleFp8Avx2, decodeFp8Avx2, 2};
constexpr Fp8Family kFp8Generic = {kFp8GenericTiles, 4, nullptr, 0,
                                   scaleFp8Generic, decodeFp8Generic, 4};

bool hasAvx512Bw() {
  static const bool has = __builtin_cpu_supports("avx512bw");
  return has;
}

bool hasF16c() { // CPUID.1:ECX (clang's __builtin_cpu_supports lacks "f16c")
  static const bool has = [] {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
  }();
  return has;
}

/// The blocking above for fp8 panels with the kernels of family `f`.
void gemmFp8Of(const Fp8Family &f, int64_t M, int64_t N, int64_t K,
               const float *A, const uint8_t *panels, const float *scales,
               int64_t n0, float *C, int64_t ldc, bool accumulate) {
  // A few rows (fused tiles) take up to kFp8StreamSlice values of K as one
  // slice: each panel then streams from start to end, one sequential stream
  // per thread (measured: 5-10% faster at M = 1 than slices of 256 over the
  // block's panels in turn).
  int64_t slice = std::min(M <= f.fusedRows ? kFp8StreamSlice : kFp8Slice, K);
  float *scaled = static_cast<float *>(
      threadScratch(0, sizeof(float) * std::min(kRowBlock, M) * slice));
  void *decoded = nullptr;
  int64_t numPanels = (N + kPanelWidth - 1) / kPanelWidth;
  int64_t panelSize = kPanelWidth * K, kBlocks = fp8Blocks(K);
  for (int64_t m0 = 0; m0 < M; m0 += kRowBlock) {
    int64_t mc = std::min(kRowBlock, M - m0);
    bool fused = mc <= f.fusedRows;
    if (!fused && !decoded)
      decoded = threadScratch(1, f.decodedBytes * kPanelWidth * slice);
    // ceil(mc / maxRows) tiles of q or q + 1 rows (the first r of them).
    int64_t tiles = (mc + f.maxRows - 1) / f.maxRows;
    int64_t q = mc / tiles, r = mc % tiles;
    for (int64_t p0 = 0, p1; p0 < numPanels; p0 = p1) {
      int64_t block = (n0 + p0 * kPanelWidth) / kFp8Block;
      for (p1 = p0 + 1; p1 < numPanels && (n0 + p1 * kPanelWidth) / kFp8Block == block;)
        ++p1;
      for (int64_t k0 = 0; k0 < K || k0 == 0; k0 += slice) {
        int64_t kc = std::min(slice, K - k0);
        f.scale(mc, kc, A + m0 * K + k0, K, scales + block * kBlocks + k0 / kFp8Block,
                scaled);
        bool load = accumulate || k0 > 0;
        for (int64_t p = p0; p < p1; ++p) {
          int64_t c0 = p * kPanelWidth;
          int width = static_cast<int>(std::min<int64_t>(kPanelWidth, N - c0));
          const uint8_t *codes = panels + p * panelSize + k0 * kPanelWidth;
          if (mc <= f.pairRows && p + 1 < p1 && N - c0 >= 2 * kPanelWidth) {
            f.pairs[mc - 1](kc, scaled, kc, codes, panelSize, C + m0 * ldc + c0, ldc, load);
            ++p;
            continue;
          }
          if (fused) {
            f.fused[mc - 1](kc, scaled, kc, codes, C + m0 * ldc + c0, ldc, width, load);
            continue;
          }
          f.decode(kc, codes, decoded);
          for (int64_t t = 0, i = 0; t < tiles; ++t) {
            int64_t rows = q + (t < r);
            f.tiles[rows - 1](kc, scaled + i * kc, kc, decoded,
                              C + (m0 + i) * ldc + c0, ldc, width, load);
            i += rows;
          }
        }
        if (K == 0)
          break;
      }
    }
  }
}

// MXFP4 panels (panelGemmMxfp4, moert/mxfp4.h): e2m1 codes with one e8m0
// scale per 32 values of k. A weight w = e2m1(code) · 2^(e - 127) is exact
// in f32 (one product of two exact floats, the scale a power of two), so
// the kernels decode it to f32 in registers (a lookup of the code's value,
// times its column's scale: the same product as mxfp4PanelValue) and run
// the f32 FMA chain on A as it is: no scaling of A, bit-identical to
// panelGemm on the dequantized weight. Per block of rows, per panel, per k
// slice (mxfp4Slice: whole groups):
// - a few rows (at most fusedRows) decode in the register tile, as the
//   codes stream from memory;
// - more rows decode the panel's slice once into a buffer of f32 laid out as
//   f32 panels (L1) and run panelGemm's own f32 tiles on it.
//
// Measured on an Intel Xeon VM (AVX-512, 2 vCPUs), one thread, 2880 x 2880
// weights cycled through more than the caches hold: the fused tiles beat
// decoding once per slice at every M <= 8 with AVX-512 (M = 1: 35 against
// 22 GFLOP/s; M = 8: 133 against 106) and at M <= 3 with AVX2. At M = 1 the
// codes stream at about 9.5 GB/s (a plain read: 14), bound by the decoding's
// shuffles and multiplies rather than by memory; from M = 16 on, the decoded
// slices run at 125-140 GFLOP/s (f32 panelGemm on the same shapes: 55-115).

/// The MXFP4 k slice for a block of `rows` rows: a panel's decoded slice,
/// 32 x 256 floats (32 KiB), stays in L1 next to the rows of A of a register
/// tile; past 128 rows, 512 values (64 KiB, L2) measured faster.
constexpr int64_t mxfp4Slice(int64_t rows) { return rows > 128 ? 512 : 256; }

static_assert(kMxfp4Group == kPanelWidth, "an MXFP4 group's scales fill a panel row");

/// A fused tile over kc values of k (whole groups of g values, from the
/// slice's first group in the panel); the decoding of kc values (whole
/// groups) to 32 floats per k. For panels whose groups hold their scales:
/// MXFP4 (g = 32) and the integer panels.
using GroupTileFn = void (*)(int64_t kc, int64_t g, const float *A, int64_t lda,
                             const uint8_t *groups, float *C, int64_t ldc, int width,
                             bool load);
using GroupDecodeFn = void (*)(int64_t kc, int64_t g, const uint8_t *groups, float *out);

/// A kernel family for such panels: fused tiles for 1..fusedRows rows (none:
/// fusedRows = 0), the decoding of a slice, and tiles on decoded slices for
/// 1..maxRows rows; fused tiles over pairs of full panels for 1..pairRows
/// rows (none: pairRows = 0; MXFP4's own group layout only).
struct GroupFamily {
  const GroupTileFn *fused;
  int fusedRows;
  GroupDecodeFn decode;
  const Fp8TileFn *tiles; // on decoded slices
  int maxRows;
  const Fp8PairTileFn *pairs = nullptr;
  int pairRows = 0;
};

/// Where a panel's groups are: g values of k per group, groupBytes each,
/// panelBytes per panel; `streamWhole`: the fused tiles take all of k as
/// one slice (else slices of mxfp4Slice values, as the decoded ones).
struct GroupLayout {
  int64_t g, groupBytes, panelBytes;
  bool streamWhole;
};

/// An f32 panel tile (`Tile`, covering `Cols` columns) over the 32 columns
/// of a decoded slice, as an Fp8TileFn.
template <TileFn<float> Tile, int Cols>
void onDecodedSlice(int64_t kc, const float *A, int64_t lda, const void *B, float *C,
                    int64_t ldc, int width, bool load) {
  const float *panel = static_cast<const float *>(B);
  for (int c0 = 0; c0 < width; c0 += Cols)
    Tile(kc, false, A, lda, panel + c0, C + c0, ldc, std::min(Cols, width - c0), load);
}

/// The e2m1 values by code: vpermps takes the low 4 bits of each lane.
__attribute__((target("avx512f"))) inline __m512 e2m1Values512() {
  return _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f,
                        -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f);
}

/// The f32 bits of 2^(e - 127) for e in [1, 254] are e << 23; 2^-127 (e = 0)
/// is subnormal: 0x00400000. (255, NaN, becomes infinity.)
constexpr int kE8m0Zero = 0x00400000;

/// 16 e8m0 scales as floats.
__attribute__((target("avx512f"))) inline __m512 e8m0x16(const uint8_t *e) {
  __m512i x = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(e)));
  return _mm512_castsi512_ps(_mm512_mask_mov_epi32(
      _mm512_slli_epi32(x, 23), _mm512_testn_epi32_mask(x, x), _mm512_set1_epi32(kE8m0Zero)));
}

/// One step of a group (16 bytes: 32 codes) as the weights of the panel's
/// columns 0..15 (the low nibbles) and 16..31 (the high ones), given their
/// scales s0 and s1.
__attribute__((target("avx512f"))) inline void
decodeMxfp4x32(const uint8_t *step, __m512 values, __m512 s0, __m512 s1, __m512 &b0,
               __m512 &b1) {
  __m512i x = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(step)));
  b0 = _mm512_mul_ps(_mm512_permutexvar_ps(x, values), s0);
  b1 = _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(x, 4), values), s1);
}

/// A fused tile of MR rows x 32 columns over kc values of k (whole groups):
/// per group the 32 scales, per k the step's 32 weights in two registers,
/// then 2 x MR FMAs. The codes are prefetched once per 64 bytes.
template <int MR>
__attribute__((target("avx512f"))) void
tileMxfp4FusedAvx512(int64_t kc, int64_t /*g*/, const float *A, int64_t lda,
                     const uint8_t *group, float *C, int64_t ldc, int width, bool load) {
  ColumnMasks masks = columnMasks(width);
  const __m512 values = e2m1Values512();
  __m512 acc[MR][2];
  loadTile512<MR>(acc, C, ldc, masks, load);
  for (int64_t k0 = 0; k0 < kc; k0 += kMxfp4Group, group += kMxfp4GroupBytes) {
    prefetchCodes(group);
    __m512 s0 = e8m0x16(group), s1 = e8m0x16(group + 16);
    const uint8_t *steps = group + kPanelWidth;
#pragma GCC unroll 4
    for (int s = 0; s < kMxfp4Group; ++s) {
      if (s % 4 == 0)
        prefetchCodes(steps + 16 * s);
      __m512 b0, b1;
      decodeMxfp4x32(steps + 16 * s, values, s0, s1, b0, b1);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        __m512 a = _mm512_set1_ps(A[i * lda + k0 + s]);
        acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
      }
    }
  }
  storeTile512<MR>(acc, C, ldc, masks);
}

/// Two full panels at once (the one at `group` and the one panelBytes
/// further; 64 columns of C) for MR rows: each column's chain is
/// tileMxfp4FusedAvx512's, with four independent chains per row instead of
/// two, which bound one row by the FMAs' latency (as for fp8, above).
template <int MR>
__attribute__((target("avx512f"))) void
tileMxfp4FusedPairAvx512(int64_t kc, const float *A, int64_t lda, const uint8_t *group,
                         int64_t panelBytes, float *C, int64_t ldc, bool load) {
  const ColumnMasks masks = columnMasks(kPanelWidth);
  const __m512 values = e2m1Values512();
  const uint8_t *group1 = group + panelBytes;
  __m512 acc0[MR][2], acc1[MR][2];
  loadTile512<MR>(acc0, C, ldc, masks, load);
  loadTile512<MR>(acc1, C + kPanelWidth, ldc, masks, load);
  for (int64_t k0 = 0; k0 < kc;
       k0 += kMxfp4Group, group += kMxfp4GroupBytes, group1 += kMxfp4GroupBytes) {
    prefetchCodes(group);
    prefetchCodes(group1);
    __m512 s00 = e8m0x16(group), s01 = e8m0x16(group + 16);
    __m512 s10 = e8m0x16(group1), s11 = e8m0x16(group1 + 16);
    const uint8_t *steps0 = group + kPanelWidth, *steps1 = group1 + kPanelWidth;
#pragma GCC unroll 4
    for (int s = 0; s < kMxfp4Group; ++s) {
      if (s % 4 == 0) {
        prefetchCodes(steps0 + 16 * s);
        prefetchCodes(steps1 + 16 * s);
      }
      __m512 b00, b01, b10, b11;
      decodeMxfp4x32(steps0 + 16 * s, values, s00, s01, b00, b01);
      decodeMxfp4x32(steps1 + 16 * s, values, s10, s11, b10, b11);
      fmaPanelPair<MR>(acc0, acc1, A + k0 + s, lda, b00, b01, b10, b11);
    }
  }
  storeTile512<MR>(acc0, C, ldc, masks);
  storeTile512<MR>(acc1, C + kPanelWidth, ldc, masks);
}

__attribute__((target("avx512f"))) void
decodeMxfp4Avx512(int64_t kc, int64_t /*g*/, const uint8_t *group, float *w) {
  const __m512 values = e2m1Values512();
  for (int64_t k0 = 0; k0 < kc; k0 += kMxfp4Group, group += kMxfp4GroupBytes) {
    prefetchCodes(group);
    __m512 s0 = e8m0x16(group), s1 = e8m0x16(group + 16);
    const uint8_t *steps = group + kPanelWidth;
    for (int s = 0; s < kMxfp4Group; ++s) {
      if (s % 4 == 0)
        prefetchCodes(steps + 16 * s);
      __m512 b0, b1;
      decodeMxfp4x32(steps + 16 * s, values, s0, s1, b0, b1);
      _mm512_storeu_ps(w + (k0 + s) * kPanelWidth, b0);
      _mm512_storeu_ps(w + (k0 + s) * kPanelWidth + 16, b1);
    }
  }
}

/// The e2m1 values by the low 3 bits i of a code (AVX2's vpermps takes 3),
/// each XOR-ed with i << 28: XOR-ing a lane's code << 28 back (the code's
/// sign, bit 3, lands in bit 31) gives the code's value, -0 included.
__attribute__((target("avx2"))) inline __m256 e2m1Values256() {
  return _mm256_castsi256_ps(_mm256_setr_epi32(
      0x00000000, 0x3F000000 ^ 0x10000000, 0x3F800000 ^ 0x20000000,
      0x3FC00000 ^ 0x30000000, 0x40000000 ^ 0x40000000, 0x40400000 ^ 0x50000000,
      0x40800000 ^ 0x60000000, 0x40C00000 ^ 0x70000000));
}

/// 8 e8m0 scales as floats.
__attribute__((target("avx2"))) inline __m256 e8m0x8(const uint8_t *e) {
  __m256i x = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(e)));
  __m256i zero = _mm256_cmpeq_epi32(x, _mm256_setzero_si256());
  return _mm256_castsi256_ps(
      _mm256_blendv_epi8(_mm256_slli_epi32(x, 23), _mm256_set1_epi32(kE8m0Zero), zero));
}

/// The weights of 8 bytes of a step (bytes j..j + 7: columns j..j + 7 in the
/// low nibbles, 16 + j..16 + j + 7 in the high ones), given those columns'
/// scales.
__attribute__((target("avx2"))) inline void
decodeMxfp4x8(const uint8_t *codes, __m256 values, __m256 slo, __m256 shi, __m256 &lo,
              __m256 &hi) {
  __m256i x = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(codes)));
  __m256i h = _mm256_srli_epi32(x, 4);
  lo = _mm256_mul_ps(_mm256_xor_ps(_mm256_permutevar8x32_ps(values, x),
                                   _mm256_castsi256_ps(_mm256_slli_epi32(x, 28))),
                     slo);
  hi = _mm256_mul_ps(_mm256_xor_ps(_mm256_permutevar8x32_ps(values, h),
                                   _mm256_castsi256_ps(_mm256_slli_epi32(h, 28))),
                     shi);
}

/// A fused tile with AVX2 + FMA: all 32 columns per pass (4 x MR
/// accumulators of 8 lanes: columns 0..7, 8..15, 16..23, 24..31), so that
/// each k reads the step's 16 bytes, 8 at a time. A partial tile goes
/// through a local copy.
template <int MR>
__attribute__((target("avx2,fma"))) void
tileMxfp4FusedAvx2(int64_t kc, int64_t /*g*/, const float *A, int64_t lda,
                   const uint8_t *group, float *C, int64_t ldc, int width, bool load) {
  alignas(32) float tmp[MR][kPanelWidth];
  int64_t ldo;
  float *out = stage<kPanelWidth, MR>(tmp, C, ldc, width, load, &ldo);
  const __m256 values = e2m1Values256();
  __m256 acc[MR][4];
  loadTile256<MR, 4>(acc, out, ldo, load || width < kPanelWidth);
  for (int64_t k0 = 0; k0 < kc; k0 += kMxfp4Group, group += kMxfp4GroupBytes) {
    prefetchCodes(group);
    __m256 scale[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j)
      scale[j] = e8m0x8(group + 8 * j);
    const uint8_t *steps = group + kPanelWidth;
#pragma GCC unroll 4
    for (int s = 0; s < kMxfp4Group; ++s) {
      if (s % 4 == 0)
        prefetchCodes(steps + 16 * s);
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        __m256 lo, hi;
        decodeMxfp4x8(steps + 16 * s + 8 * h, values, scale[h], scale[2 + h], lo, hi);
#pragma GCC unroll 4
        for (int i = 0; i < MR; ++i) {
          __m256 a = _mm256_broadcast_ss(A + i * lda + k0 + s);
          acc[i][h] = _mm256_fmadd_ps(a, lo, acc[i][h]);
          acc[i][2 + h] = _mm256_fmadd_ps(a, hi, acc[i][2 + h]);
        }
      }
    }
  }
  storeTile256<MR, 4>(acc, out, ldo);
  unstage<kPanelWidth, MR>(tmp, C, ldc, width);
}

__attribute__((target("avx2"))) void
decodeMxfp4Avx2(int64_t kc, int64_t /*g*/, const uint8_t *group, float *w) {
  const __m256 values = e2m1Values256();
  for (int64_t k0 = 0; k0 < kc; k0 += kMxfp4Group, group += kMxfp4GroupBytes) {
    prefetchCodes(group);
    __m256 scale[4];
    for (int j = 0; j < 4; ++j)
      scale[j] = e8m0x8(group + 8 * j);
    const uint8_t *steps = group + kPanelWidth;
    for (int s = 0; s < kMxfp4Group; ++s) {
      if (s % 4 == 0)
        prefetchCodes(steps + 16 * s);
      float *row = w + (k0 + s) * kPanelWidth;
      for (int h = 0; h < 2; ++h) {
        __m256 lo, hi;
        decodeMxfp4x8(steps + 16 * s + 8 * h, values, scale[h], scale[2 + h], lo, hi);
        _mm256_storeu_ps(row + 8 * h, lo);
        _mm256_storeu_ps(row + 16 + 8 * h, hi);
      }
    }
  }
}

/// Portable C++: a decoded slice of floats (tileFp8Generic runs on it).
void decodeMxfp4Generic(int64_t kc, int64_t /*g*/, const uint8_t *group, float *w) {
  static const struct Table {
    float v[16];
    Table() {
      for (int c = 0; c < 16; ++c)
        v[c] = e2m1ToFloat(static_cast<uint8_t>(c));
    }
  } table;
  for (int64_t k0 = 0; k0 < kc; k0 += kMxfp4Group, group += kMxfp4GroupBytes) {
    float scale[kPanelWidth];
    for (int j = 0; j < kPanelWidth; ++j)
      scale[j] = e8m0ToFloat(group[j]);
    const uint8_t *steps = group + kPanelWidth;
    for (int s = 0; s < kMxfp4Group; ++s)
      for (int j = 0; j < 16; ++j) {
        uint8_t b = steps[16 * s + j];
        w[(k0 + s) * kPanelWidth + j] = table.v[b & 15] * scale[j];
        w[(k0 + s) * kPanelWidth + 16 + j] = table.v[b >> 4] * scale[16 + j];
      }
  }
}

constexpr Fp8TileFn kMxfp4Avx512Tiles[] = {
    onDecodedSlice<tileAvx512<float, 1>, 32>, onDecodedSlice<tileAvx512<float, 2>, 32>,
    onDecodedSlice<tileAvx512<float, 3>, 32>, onDecodedSlice<tileAvx512<float, 4>, 32>,
    onDecodedSlice<tileAvx512<float, 5>, 32>, onDecodedSlice<tileAvx512<float, 6>, 32>,
    onDecodedSlice<tileAvx512<float, 7>, 32>, onDecodedSlice<tileAvx512<float, 8>, 32>};
constexpr GroupTileFn kMxfp4FusedAvx512Tiles[] = {
    tileMxfp4FusedAvx512<1>, tileMxfp4FusedAvx512<2>, tileMxfp4FusedAvx512<3>,
    tileMxfp4FusedAvx512<4>, tileMxfp4FusedAvx512<5>, tileMxfp4FusedAvx512<6>,
    tileMxfp4FusedAvx512<7>, tileMxfp4FusedAvx512<8>};
constexpr Fp8TileFn kMxfp4Avx2Tiles[] = {
    onDecodedSlice<tileAvx2<float, 1>, 16>, onDecodedSlice<tileAvx2<float, 2>, 16>,
    onDecodedSlice<tileAvx2<float, 3>, 16>, onDecodedSlice<tileAvx2<float, 4>, 16>,
    onDecodedSlice<tileAvx2<float, 5>, 16>, onDecodedSlice<tileAvx2<float, 6>, 16>};
constexpr GroupTileFn kMxfp4FusedAvx2Tiles[] = {
    tileMxfp4FusedAvx2<1>, tileMxfp4FusedAvx2<2>, tileMxfp4FusedAvx2<3>};

constexpr Fp8PairTileFn kMxfp4PairAvx512Tiles[] = {tileMxfp4FusedPairAvx512<1>,
                                                   tileMxfp4FusedPairAvx512<2>};
constexpr GroupFamily kMxfp4Avx512 = {kMxfp4FusedAvx512Tiles, 8, decodeMxfp4Avx512,
                                      kMxfp4Avx512Tiles, 8, kMxfp4PairAvx512Tiles, 2};
constexpr GroupFamily kMxfp4Avx2 = {kMxfp4FusedAvx2Tiles, 3, decodeMxfp4Avx2,
                                    kMxfp4Avx2Tiles, 6};
constexpr GroupFamily kMxfp4Generic = {nullptr, 0, decodeMxfp4Generic, kFp8GenericTiles, 4};


// Integer panels (panelGemmInt, moert/intq.h): int8 codes q with an f16
// scale d per group (w = q · d), or int4 codes with a scale and an integer
// zero point (w = (q - z) · d). Both products are exact in f32, so, as for
// MXFP4, the kernels decode each weight to f32 in registers and run the f32
// FMA chain on A as it is: bit-identical to panelGemm on the dequantized
// weight. A quad's 32-bit lane holds 4 consecutive k of one column, so step
// s of 16 columns is a shift and a mask (int4) or two shifts (int8, sign
// extended) of one register. Blocking as for MXFP4: a few rows decode in the
// register tile over the whole of K (one sequential stream per panel, as
// fp8's few-rows path measured best); more rows decode each slice of whole
// groups once into f32 panels and run panelGemm's f32 tiles on it.

/// The decoded group header for 16 columns (AVX-512): the scales and, for
/// int4, the zero points and -z · d (exact), so that w = fma(q, d, -z · d).
struct IntScales512 {
  __m512 d[2], z[2], mz[2];
};

template <int Bits>
__attribute__((target("avx512f"))) inline IntScales512 intScales512(const uint8_t *group) {
  IntScales512 s;
  for (int h = 0; h < 2; ++h) {
    s.d[h] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(group) + h));
    if (Bits == 4) {
      s.z[h] = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
          _mm_loadu_si128(reinterpret_cast<const __m128i *>(group + 64 + 16 * h))));
      s.mz[h] = _mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(s.z[h], s.d[h]));
    }
  }
  return s;
}

/// Step s (0..3) of a quad as the weights of columns 0..15 (b0) and 16..31
/// (b1): int8, x0 and x1 the quad's two halves; int4, x0 the quad.
template <int Bits>
__attribute__((target("avx512f"))) inline void
intStep512(__m512i x0, __m512i x1, int s, const IntScales512 &sc, __m512 &b0, __m512 &b1) {
  if (Bits == 8) {
    __m512i q0 = _mm512_srai_epi32(_mm512_sllv_epi32(x0, _mm512_set1_epi32(24 - 8 * s)), 24);
    __m512i q1 = _mm512_srai_epi32(_mm512_sllv_epi32(x1, _mm512_set1_epi32(24 - 8 * s)), 24);
    b0 = _mm512_mul_ps(_mm512_cvtepi32_ps(q0), sc.d[0]);
    b1 = _mm512_mul_ps(_mm512_cvtepi32_ps(q1), sc.d[1]);
  } else {
    const __m512i nibble = _mm512_set1_epi32(15);
    __m512i t = _mm512_srlv_epi32(x0, _mm512_set1_epi32(8 * s));
    __m512i q0 = _mm512_and_si512(t, nibble);
    __m512i q1 = _mm512_and_si512(_mm512_srli_epi32(t, 4), nibble);
    b0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(q0), sc.d[0], sc.mz[0]);
    b1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(q1), sc.d[1], sc.mz[1]);
  }
}

template <int Bits, int MR>
__attribute__((target("avx512f"))) void
tileIntFusedAvx512(int64_t kc, int64_t g, const float *A, int64_t lda, const uint8_t *group,
                   float *C, int64_t ldc, int width, bool load) {
  ColumnMasks masks = columnMasks(width);
  __m512 acc[MR][2];
  loadTile512<MR>(acc, C, ldc, masks, load);
  const int64_t header = intGroupHeader(Bits), qb = intQuadBytes(Bits);
  for (int64_t k0 = 0; k0 < kc; k0 += g, group += intGroupBytes(Bits, g)) {
    IntScales512 sc = intScales512<Bits>(group);
    const uint8_t *quad = group + header;
    for (int64_t k = k0; k < k0 + g; k += kIntQuad, quad += qb) {
      prefetchCodes(quad);
      if (Bits == 8)
        prefetchCodes(quad + 64);
      __m512i x0 = _mm512_loadu_si512(quad);
      __m512i x1 = Bits == 8 ? _mm512_loadu_si512(quad + 64) : x0;
#pragma GCC unroll 4
      for (int s = 0; s < kIntQuad; ++s) {
        __m512 b0, b1;
        intStep512<Bits>(x0, x1, s, sc, b0, b1);
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) {
          __m512 a = _mm512_set1_ps(A[i * lda + k + s]);
          acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
          acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
        }
      }
    }
  }
  storeTile512<MR>(acc, C, ldc, masks);
}

template <int Bits>
__attribute__((target("avx512f"))) void
decodeIntAvx512(int64_t kc, int64_t g, const uint8_t *group, float *w) {
  const int64_t header = intGroupHeader(Bits), qb = intQuadBytes(Bits);
  for (int64_t k0 = 0; k0 < kc; k0 += g, group += intGroupBytes(Bits, g)) {
    IntScales512 sc = intScales512<Bits>(group);
    const uint8_t *quad = group + header;
    for (int64_t k = k0; k < k0 + g; k += kIntQuad, quad += qb) {
      prefetchCodes(quad);
      __m512i x0 = _mm512_loadu_si512(quad);
      __m512i x1 = Bits == 8 ? _mm512_loadu_si512(quad + 64) : x0;
      for (int s = 0; s < kIntQuad; ++s) {
        __m512 b0, b1;
        intStep512<Bits>(x0, x1, s, sc, b0, b1);
        _mm512_storeu_ps(w + (k + s) * kPanelWidth, b0);
        _mm512_storeu_ps(w + (k + s) * kPanelWidth + 16, b1);
      }
    }
  }
}

/// The decoded group header for AVX2: per 8 columns j (0..7, 8..15,
/// 16..23, 24..31) the scales and, for int4, the zero points and -z · d.
struct IntScales256 {
  __m256 d[4], z[4], mz[4];
};

template <int Bits>
__attribute__((target("avx2,fma,f16c"))) inline IntScales256
intScales256(const uint8_t *group) {
  IntScales256 s;
  for (int j = 0; j < 4; ++j) {
    s.d[j] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(group) + j));
    if (Bits == 4) {
      s.z[j] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
          _mm_loadl_epi64(reinterpret_cast<const __m128i *>(group + 64 + 8 * j))));
      s.mz[j] = _mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(s.z[j], s.d[j]));
    }
  }
  return s;
}

/// Step s of a quad as the weights of the 4 groups of 8 columns: int8, x[j]
/// the quad's 32 bytes of columns 8j..8j + 7; int4, x[0] and x[1] the
/// quad's halves (columns 0..7 and 16..23, 8..15 and 24..31).
template <int Bits>
__attribute__((target("avx2,fma"))) inline void
intStep256(const __m256i (&x)[4], int s, const IntScales256 &sc, __m256 (&b)[4]) {
  if (Bits == 8) {
    __m128i left = _mm_cvtsi32_si128(24 - 8 * s);
    for (int j = 0; j < 4; ++j)
      b[j] = _mm256_mul_ps(
          _mm256_cvtepi32_ps(_mm256_srai_epi32(_mm256_sll_epi32(x[j], left), 24)), sc.d[j]);
  } else {
    const __m256i nibble = _mm256_set1_epi32(15);
    __m128i right = _mm_cvtsi32_si128(8 * s);
    for (int h = 0; h < 2; ++h) {
      __m256i t = _mm256_srl_epi32(x[h], right);
      __m256i lo = _mm256_and_si256(t, nibble);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi32(t, 4), nibble);
      b[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo), sc.d[h], sc.mz[h]);
      b[2 + h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi), sc.d[2 + h], sc.mz[2 + h]);
    }
  }
}

template <int Bits>
__attribute__((target("avx2"))) inline void loadQuad256(const uint8_t *quad, __m256i (&x)[4]) {
  for (int j = 0; j < (Bits == 8 ? 4 : 2); ++j)
    x[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(quad) + j);
  if (Bits == 4)
    x[2] = x[3] = x[0];
}

/// A fused tile with AVX2: all 32 columns per pass (4 x MR accumulators),
/// each quad read whole. A partial tile goes through a local copy.
template <int Bits, int MR>
__attribute__((target("avx2,fma,f16c"))) void
tileIntFusedAvx2(int64_t kc, int64_t g, const float *A, int64_t lda, const uint8_t *group,
                 float *C, int64_t ldc, int width, bool load) {
  alignas(32) float tmp[MR][kPanelWidth];
  int64_t ldo;
  float *out = stage<kPanelWidth, MR>(tmp, C, ldc, width, load, &ldo);
  __m256 acc[MR][4];
  loadTile256<MR, 4>(acc, out, ldo, load || width < kPanelWidth);
  const int64_t header = intGroupHeader(Bits), qb = intQuadBytes(Bits);
  for (int64_t k0 = 0; k0 < kc; k0 += g, group += intGroupBytes(Bits, g)) {
    IntScales256 sc = intScales256<Bits>(group);
    const uint8_t *quad = group + header;
    for (int64_t k = k0; k < k0 + g; k += kIntQuad, quad += qb) {
      prefetchCodes(quad);
      if (Bits == 8)
        prefetchCodes(quad + 64);
      __m256i x[4];
      loadQuad256<Bits>(quad, x);
#pragma GCC unroll 4
      for (int s = 0; s < kIntQuad; ++s) {
        __m256 b[4];
        intStep256<Bits>(x, s, sc, b);
#pragma GCC unroll 4
        for (int i = 0; i < MR; ++i) {
          __m256 a = _mm256_broadcast_ss(A + i * lda + k + s);
#pragma GCC unroll 4
          for (int j = 0; j < 4; ++j)
            acc[i][j] = _mm256_fmadd_ps(a, b[j], acc[i][j]);
        }
      }
    }
  }
  storeTile256<MR, 4>(acc, out, ldo);
  unstage<kPanelWidth, MR>(tmp, C, ldc, width);
}

template <int Bits>
__attribute__((target("avx2,fma,f16c"))) void
decodeIntAvx2(int64_t kc, int64_t g, const uint8_t *group, float *w) {
  const int64_t header = intGroupHeader(Bits), qb = intQuadBytes(Bits);
  for (int64_t k0 = 0; k0 < kc; k0 += g, group += intGroupBytes(Bits, g)) {
    IntScales256 sc = intScales256<Bits>(group);
    const uint8_t *quad = group + header;
    for (int64_t k = k0; k < k0 + g; k += kIntQuad, quad += qb) {
      prefetchCodes(quad);
      __m256i x[4];
      loadQuad256<Bits>(quad, x);
      for (int s = 0; s < kIntQuad; ++s) {
        __m256 b[4];
        intStep256<Bits>(x, s, sc, b);
        for (int j = 0; j < 4; ++j)
          _mm256_storeu_ps(w + (k + s) * kPanelWidth + 8 * j, b[j]);
      }
    }
  }
}

/// Portable C++: a decoded slice of floats, element by element
/// (tileFp8Generic runs on it).
template <int Bits>
void decodeIntGeneric(int64_t kc, int64_t g, const uint8_t *groups, float *w) {
  for (int64_t k = 0; k < kc; ++k)
    for (int j = 0; j < kPanelWidth; ++j)
      w[k * kPanelWidth + j] = intPanelValue(Bits, groups, j, k, kc, g);
}

template <int Bits>
constexpr GroupTileFn kIntFusedAvx512Tiles[] = {
    tileIntFusedAvx512<Bits, 1>, tileIntFusedAvx512<Bits, 2>, tileIntFusedAvx512<Bits, 3>,
    tileIntFusedAvx512<Bits, 4>, tileIntFusedAvx512<Bits, 5>, tileIntFusedAvx512<Bits, 6>,
    tileIntFusedAvx512<Bits, 7>, tileIntFusedAvx512<Bits, 8>};
template <int Bits>
constexpr GroupTileFn kIntFusedAvx2Tiles[] = {
    tileIntFusedAvx2<Bits, 1>, tileIntFusedAvx2<Bits, 2>, tileIntFusedAvx2<Bits, 3>};

template <int Bits>
constexpr GroupFamily kIntAvx512 = {kIntFusedAvx512Tiles<Bits>, 8, decodeIntAvx512<Bits>,
                                  kMxfp4Avx512Tiles, 8};
template <int Bits>
constexpr GroupFamily kIntAvx2 = {kIntFusedAvx2Tiles<Bits>, 3, decodeIntAvx2<Bits>,
                                kMxfp4Avx2Tiles, 6};
template <int Bits>
constexpr GroupFamily kIntGeneric = {nullptr, 0, decodeIntGeneric<Bits>, kFp8GenericTiles, 4};

/// The blocking for panels whose groups hold their scales (MXFP4, int8,
/// int4) with the kernels of family `f`: per block of rows, per panel, per
/// k slice (whole groups; at least one pass, so that K = 0 still writes C),
/// the fused tiles, or the slice decoded once and the f32 tiles on it.
void gemmGroupsOf(const GroupFamily &f, const GroupLayout &l, int64_t M, int64_t N, int64_t K,
                  const float *A, const uint8_t *panels, float *C, int64_t ldc,
                  bool accumulate) {
  int64_t numPanels = (N + kPanelWidth - 1) / kPanelWidth;
  for (int64_t m0 = 0; m0 < M; m0 += kRowBlock) {
    int64_t mc = std::min(kRowBlock, M - m0);
    bool fused = mc <= f.fusedRows;
    // mxfp4Slice is a multiple of every group size.
    int64_t slice = fused && l.streamWhole ? K : mxfp4Slice(mc);
    float *decoded = fused ? nullptr
                           : static_cast<float *>(threadScratch(
                                 1, sizeof(float) * kPanelWidth * std::min(slice, K)));
    // ceil(mc / maxRows) tiles of q or q + 1 rows (the first r of them).
    int64_t tiles = (mc + f.maxRows - 1) / f.maxRows;
    int64_t q = mc / tiles, r = mc % tiles;
    for (int64_t p = 0; p < numPanels; ++p) {
      int64_t c0 = p * kPanelWidth;
      int width = static_cast<int>(std::min<int64_t>(kPanelWidth, N - c0));
      // One or two rows: two full panels per tile where the family has it.
      bool pair = mc <= f.pairRows && N - c0 >= 2 * kPanelWidth;
      for (int64_t k0 = 0; k0 < K || k0 == 0; k0 += slice) {
        int64_t kc = std::min(slice, K - k0);
        bool load = accumulate || k0 > 0;
        const uint8_t *groups = panels + p * l.panelBytes + k0 / l.g * l.groupBytes;
        if (pair) {
          f.pairs[mc - 1](kc, A + m0 * K + k0, K, groups, l.panelBytes, C + m0 * ldc + c0,
                          ldc, load);
        } else if (fused) {
          f.fused[mc - 1](kc, l.g, A + m0 * K + k0, K, groups, C + m0 * ldc + c0, ldc,
                          width, load);
        } else {
          f.decode(kc, l.g, groups, decoded);
          for (int64_t t = 0, i = 0; t < tiles; ++t) {
            int64_t rows = q + (t < r);
            f.tiles[rows - 1](kc, A + (m0 + i) * K + k0, K, decoded,
                              C + (m0 + i) * ldc + c0, ldc, width, load);
            i += rows;
          }
        }
        if (K == 0)
          break;
      }
      p += pair;
    }
  }
}

// Integer dot products (panelGemmInt with int8 activations): each row of A
// quantized per group of g values to int8 (quantizeActivationGroup) into a
// thread-local buffer, then per group the exact integer sum of codes times
// codes and one f32 FMA (moert/intq.h). A quad's 32-bit lane holds 4
// consecutive k of one column, which is what vpdpbusd (AVX512_VNNI: 64
// products of u8 by s8, summed per 4 into 16 lanes) and AVX2's vpmaddubsw +
// vpmaddwd take. int4 codes (0..15) are the unsigned operand as they are;
// int8 codes are the signed one, against the activations + 128 (XOR 0x80),
// corrected by 128 · Σ codes (VNNI), or |code| against the activation with
// the code's sign (AVX2: no product pair reaches the int16 saturation). The
// integer sums are exact (at most 128 · 255 · 127 < 2^24), as is their f32
// conversion and the corrections, so every ISA gives the loop's bits.

/// Row i's quantized activations: codes [rows, K], and per group of g the
/// scale and the sum of the codes.
struct QuantRows {
  const int8_t *q;
  const float *scale;
  const int32_t *sum;
  int64_t K, groups; // row strides of q and of scale / sum
};

using IntDotTileFn = void (*)(int64_t kc, int64_t g, const QuantRows &a, const uint8_t *groups,
                              float *C, int64_t ldc, int width, bool load);

/// The VNNI tile: MR rows x 32 columns over kc values of k (whole groups),
/// the integer sums in 2 x MR registers per group, C in 2 x MR.
template <int Bits, int MR>
__attribute__((target("avx512f,avx512bw,avx512vnni,avx512vl"))) void
tileIntDotVnni(int64_t kc, int64_t g, const QuantRows &a, const uint8_t *group, float *C,
               int64_t ldc, int width, bool load) {
  ColumnMasks masks = columnMasks(width);
  __m512 acc[MR][2];
  loadTile512<MR>(acc, C, ldc, masks, load);
  const __m512i low = _mm512_set1_epi8(0x0F), ones = _mm512_set1_epi8(1),
                flip = _mm512_set1_epi8(static_cast<char>(0x80));
  const int64_t header = intGroupHeader(Bits), qb = intQuadBytes(Bits);
  for (int64_t k0 = 0; k0 < kc; k0 += g, group += intGroupBytes(Bits, g)) {
    int64_t gi = k0 / g;
    __m512i isum[MR][2], wsum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    for (int i = 0; i < MR; ++i)
      isum[i][0] = isum[i][1] = _mm512_setzero_si512();
    const uint8_t *quad = group + header;
    for (int64_t k = k0; k < k0 + g; k += kIntQuad, quad += qb) {
      prefetchCodes(quad);
      __m512i w0, w1;
      if (Bits == 4) {
        __m512i x = _mm512_loadu_si512(quad);
        w0 = _mm512_and_si512(x, low);
        w1 = _mm512_and_si512(_mm512_srli_epi16(x, 4), low);
      } else {
        prefetchCodes(quad + 64);
        w0 = _mm512_loadu_si512(quad);
        w1 = _mm512_loadu_si512(quad + 64);
        wsum[0] = _mm512_dpbusd_epi32(wsum[0], ones, w0);
        wsum[1] = _mm512_dpbusd_epi32(wsum[1], ones, w1);
      }
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        int32_t four;
        std::memcpy(&four, a.q + i * a.K + k, 4);
        __m512i x = _mm512_set1_epi32(four);
        if (Bits == 4) {
          isum[i][0] = _mm512_dpbusd_epi32(isum[i][0], w0, x);
          isum[i][1] = _mm512_dpbusd_epi32(isum[i][1], w1, x);
        } else {
          x = _mm512_xor_si512(x, flip); // + 128: unsigned
          isum[i][0] = _mm512_dpbusd_epi32(isum[i][0], x, w0);
          isum[i][1] = _mm512_dpbusd_epi32(isum[i][1], x, w1);
        }
      }
    }
    IntScales512 sc = intScales512<Bits>(group);
    __m512 corr[2] = {}; // int8: 128 · Σ codes
    for (int h = 0; Bits == 8 && h < 2; ++h)
      corr[h] = _mm512_mul_ps(_mm512_set1_ps(128.0f), _mm512_cvtepi32_ps(wsum[h]));
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      __m512 s = _mm512_set1_ps(a.scale[i * a.groups + gi]);
      __m512 asum = _mm512_set1_ps(static_cast<float>(a.sum[i * a.groups + gi]));
      for (int h = 0; h < 2; ++h) {
        __m512 t = _mm512_cvtepi32_ps(isum[i][h]);
        t = Bits == 4 ? _mm512_fnmadd_ps(sc.z[h], asum, t) : _mm512_sub_ps(t, corr[h]); // exact
        acc[i][h] = _mm512_fmadd_ps(t, _mm512_mul_ps(sc.d[h], s), acc[i][h]);
      }
    }
  }
  storeTile512<MR>(acc, C, ldc, masks);
}

/// The AVX2 tile (MR <= 2: 4 x MR sums, 4 weight registers and 3
/// constants fill the 16): per quad the codes of the 4 groups of 8 columns
/// (int4: the masked nibbles, once), then per row vpmaddubsw pairs and
/// vpmaddwd to 32 bits; per group the f32 update of the rows' 32 values of
/// C in a local copy.
template <int Bits, int MR>
__attribute__((target("avx2,fma,f16c"))) void
tileIntDotAvx2(int64_t kc, int64_t g, const QuantRows &a, const uint8_t *group, float *C,
               int64_t ldc, int width, bool load) {
  alignas(32) float acc[MR][kPanelWidth];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < kPanelWidth; ++j)
      acc[i][j] = load && j < width ? C[i * ldc + j] : 0.0f;
  const __m256i low = _mm256_set1_epi8(0x0F), pairs = _mm256_set1_epi16(1);
  const int64_t header = intGroupHeader(Bits), qb = intQuadBytes(Bits);
  for (int64_t k0 = 0; k0 < kc; k0 += g, group += intGroupBytes(Bits, g)) {
    int64_t gi = k0 / g;
    __m256i isum[MR][4];
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < 4; ++j)
        isum[i][j] = _mm256_setzero_si256();
    const uint8_t *quad = group + header;
    for (int64_t k = k0; k < k0 + g; k += kIntQuad, quad += qb) {
      prefetchCodes(quad);
      const __m256i *v = reinterpret_cast<const __m256i *>(quad);
      __m256i w[4];
      if (Bits == 4) {
        __m256i x0 = _mm256_loadu_si256(v), x1 = _mm256_loadu_si256(v + 1);
        w[0] = _mm256_and_si256(x0, low);
        w[1] = _mm256_and_si256(x1, low);
        w[2] = _mm256_and_si256(_mm256_srli_epi16(x0, 4), low);
        w[3] = _mm256_and_si256(_mm256_srli_epi16(x1, 4), low);
      } else {
        prefetchCodes(quad + 64);
      }
#pragma GCC unroll 2
      for (int i = 0; i < MR; ++i) {
        int32_t four;
        std::memcpy(&four, a.q + i * a.K + k, 4);
        __m256i x = _mm256_set1_epi32(four);
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) {
          __m256i p;
          if (Bits == 4) {
            p = _mm256_maddubs_epi16(w[j], x);
          } else { // |code| against the activation with the code's sign, per row
            __m256i c = _mm256_loadu_si256(v + j); // measured faster than keeping them
            p = _mm256_maddubs_epi16(_mm256_abs_epi8(c), _mm256_sign_epi8(x, c));
          }
          isum[i][j] = _mm256_add_epi32(isum[i][j], _mm256_madd_epi16(p, pairs));
        }
      }
    }
    IntScales256 sc = intScales256<Bits>(group);
    for (int j = 0; j < 4; ++j) {
      // isum[i][j] holds columns 8j..8j + 7 (int4: 0-7, 8-15, 16-23, 24-31 too)
      for (int i = 0; i < MR; ++i) {
        __m256 t = _mm256_cvtepi32_ps(isum[i][j]);
        if (Bits == 4) // exact
          t = _mm256_fnmadd_ps(sc.z[j], _mm256_set1_ps(static_cast<float>(a.sum[i * a.groups + gi])),
                               t);
        __m256 ds = _mm256_mul_ps(sc.d[j], _mm256_set1_ps(a.scale[i * a.groups + gi]));
        float *c = acc[i] + 8 * j;
        _mm256_store_ps(c, _mm256_fmadd_ps(t, ds, _mm256_load_ps(c)));
      }
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < width; ++j)
      C[i * ldc + j] = acc[i][j];
}

/// Portable C++: the loop of the contract, element by element.
template <int Bits>
void tileIntDotGeneric(int64_t kc, int64_t g, const QuantRows &a, const uint8_t *groups,
                       float *C, int64_t /*ldc*/, int width, bool load) {
  for (int j = 0; j < width; ++j) {
    const uint8_t *group = groups;
    float acc = load ? C[j] : 0.0f;
    for (int64_t k0 = 0; k0 < kc; k0 += g, group += intGroupBytes(Bits, g)) {
      uint16_t h;
      std::memcpy(&h, group + 2 * j, 2);
      int z = Bits == 4 ? group[64 + j] : 0;
      const uint8_t *quads = group + intGroupHeader(Bits);
      int32_t t = 0;
      for (int64_t i = 0; i < g; ++i) {
        const uint8_t *quad = quads + i / kIntQuad * intQuadBytes(Bits);
        int s = static_cast<int>(i % kIntQuad), q;
        if (Bits == 8) {
          q = static_cast<int8_t>(quad[(j / 16) * 64 + 4 * (j % 16) + s]);
        } else {
          uint8_t b = quad[4 * (j % 16) + s];
          q = ((j < 16 ? b : b >> 4) & 15) - z;
        }
        t += q * a.q[k0 + i];
      }
      acc = std::fma(static_cast<float>(t), halfToFloat(h) * a.scale[k0 / g], acc);
    }
    C[j] = acc;
  }
}

template <int Bits>
constexpr IntDotTileFn kIntDotVnniTiles[] = {tileIntDotVnni<Bits, 1>, tileIntDotVnni<Bits, 2>,
                                             tileIntDotVnni<Bits, 3>, tileIntDotVnni<Bits, 4>};
template <int Bits>
constexpr IntDotTileFn kIntDotAvx2Tiles[] = {tileIntDotAvx2<Bits, 1>, tileIntDotAvx2<Bits, 2>};
template <int Bits>
constexpr IntDotTileFn kIntDotGenericTiles[] = {tileIntDotGeneric<Bits>};

/// The quantization of `rows` rows of A (K values each, groups of g) into
/// `out` (codes, then scales, then sums), with AVX-512 where the CPU has it
/// (the same bits as quantizeActivationGroup: a division and a rounding to
/// nearest even per value).
__attribute__((target("avx512f,avx512bw"))) void
quantizeRowsAvx512(int64_t rows, int64_t K, int64_t g, const float *A, int8_t *q, float *scale,
                   int32_t *sum) {
  int64_t groups = K / g;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t gi = 0; gi < groups; ++gi) {
      const float *v = A + r * K + gi * g;
      __m512 amax = _mm512_setzero_ps();
      __mmask16 bad = 0;
      for (int64_t i = 0; i < g; i += 16) {
        __m512 x = _mm512_loadu_ps(v + i);
        __m512 zero = _mm512_sub_ps(x, x); // NaN for inf and NaN
        bad |= _mm512_cmp_ps_mask(zero, zero, _CMP_UNORD_Q);
        amax = _mm512_max_ps(amax, _mm512_abs_ps(x));
      }
      float s = bad ? std::nanf("") : _mm512_reduce_max_ps(amax) / 127.0f;
      scale[r * groups + gi] = s;
      int8_t *out = q + r * K + gi * g;
      if (bad || !(s > 0.0f)) {
        std::memset(out, 0, static_cast<size_t>(g));
        sum[r * groups + gi] = 0;
        continue;
      }
      __m512 sv = _mm512_set1_ps(s), lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
      __m512i total = _mm512_setzero_si512();
      for (int64_t i = 0; i < g; i += 16) {
        __m512 x = _mm512_div_ps(_mm512_loadu_ps(v + i), sv);
        x = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512i c = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(x, lo), hi));
        total = _mm512_add_epi32(total, c);
        _mm_storeu_si128(reinterpret_cast<__m128i *>(out + i), _mm512_cvtepi32_epi8(c));
      }
      sum[r * groups + gi] = _mm512_reduce_add_epi32(total);
    }
}

void quantizeRowsGeneric(int64_t rows, int64_t K, int64_t g, const float *A, int8_t *q,
                         float *scale, int32_t *sum) {
  int64_t groups = K / g;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t gi = 0; gi < groups; ++gi)
      scale[r * groups + gi] = quantizeActivationGroup(A + r * K + gi * g, g,
                                                       q + r * K + gi * g, sum + r * groups + gi);
}

bool hasVnni() {
  static const bool has = __builtin_cpu_supports("avx512vnni") &&
                          __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl");
  return has;
}

/// The blocking for integer dot products: A's rows quantized once per call
/// (thread-local scratch), then per block of rows, per panel, tiles of up
/// to 4 rows over all of k (a panel's codes stay in L1/L2 while the block's
/// tiles pass over them).
void gemmIntDotOf(const IntDotTileFn *tiles, int maxRows, bool avx512Quantize, int bits,
                  int64_t g, int64_t M, int64_t N, int64_t K, const float *A,
                  const uint8_t *panels, float *C, int64_t ldc, bool accumulate) {
  int64_t groups = K / g;
  size_t codeBytes = static_cast<size_t>(M * K), scaleBytes = sizeof(float) * M * groups;
  uint8_t *scratch = static_cast<uint8_t *>(threadScratch(0, codeBytes + 2 * scaleBytes + 128));
  int8_t *q = reinterpret_cast<int8_t *>(scratch);
  float *scale = reinterpret_cast<float *>(scratch + alignUp(codeBytes));
  int32_t *sum = reinterpret_cast<int32_t *>(scratch + alignUp(codeBytes) + alignUp(scaleBytes));
  (avx512Quantize ? quantizeRowsAvx512 : quantizeRowsGeneric)(M, K, g, A, q, scale, sum);
  int64_t numPanels = (N + kPanelWidth - 1) / kPanelWidth;
  int64_t panelBytes = static_cast<int64_t>(intPanelBytes(bits, kPanelWidth, K, g));
  for (int64_t m0 = 0; m0 < M; m0 += kRowBlock) {
    int64_t mc = std::min(kRowBlock, M - m0);
    int64_t count = (mc + maxRows - 1) / maxRows;
    int64_t base = mc / count, extra = mc % count;
    for (int64_t p = 0; p < numPanels; ++p) {
      int64_t c0 = p * kPanelWidth;
      int width = static_cast<int>(std::min<int64_t>(kPanelWidth, N - c0));
      for (int64_t t = 0, i = m0; t < count; ++t) {
        int64_t rows = base + (t < extra);
        QuantRows a = {q + i * K, scale + i * groups, sum + i * groups, K, groups};
        tiles[rows - 1](K, g, a, panels + p * panelBytes, C + i * ldc + c0, ldc, width,
                        accumulate);
        i += rows;
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
    if (M <= kAvx2WideRows)
      return gemmOf<float>({kAvx2WideTiles, kAvx2WideRows, 32}, M, N, K, A, panels, C,
                           ldc, accumulate);
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

/// Above this many rows, AVX2 bf16 GEMMs widen their slices first
/// (gemmBf16Widened). One thread, 2816 x 1024 (AMD Zen 5 running the AVX2
/// kernels; GFLOP/s, widening tiles -> widened slices; f32 tiles 81-96):
/// M = 12 85 -> 82, 16 85 -> 84, 32 84 -> 90, 64 82 -> 95, 256 85 -> 101.
/// The AVX-512 widening tiles were as fast as the f32 ones there (M = 8..256:
/// 174-192 against 188-200), and widened slices no faster (133-188), so
/// they keep their tiles.
constexpr int64_t kBf16WidenedRows = 16;

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
    if (M <= kBf16Avx2WideRows)
      return gemmOf<uint16_t>({kBf16Avx2WideTiles, kBf16Avx2WideRows, 32}, M, N, K, A,
                              panels, C, ldc, accumulate);
    if (M > kBf16WidenedRows && K > 0)
      return gemmBf16Widened({kAvx2Tiles, 6, 16}, M, N, K, A, panels, C, ldc, accumulate);
    return gemmOf<uint16_t>({kBf16Avx2Tiles, 4, 16}, M, N, K, A, panels, C, ldc, accumulate);
  case Bf16PanelIsa::Generic:
    return gemmOf<uint16_t>({kBf16GenericTiles, 4, 32}, M, N, K, A, panels, C, ldc, accumulate);
  }
}

/// At most this many rows run the whole-panel AVX2 tiles on f16 panels: the
/// 3-row tile's 12 accumulators, A and the four widened loads need 17 of the
/// 16 registers. One thread, 2816 x 1024, the AVX2 kernels on the AMD EPYC
/// (Zen 5) VM: M = 3 ran at 50 GFLOP/s in the 3-row whole-panel tile, 79 in
/// the 6 x 16 tiles (f32: 81).
constexpr int kF16Avx2WideRows = 2;

void panelGemmF16(int64_t M, int64_t N, int64_t K, const uint16_t *A,
                  const uint16_t *panels, float *C, int64_t ldc, bool accumulate,
                  PanelIsa isa) {
  if (M <= 0 || N <= 0)
    return;
  if (isa == PanelIsa::Avx2 && !hasF16c())
    isa = PanelIsa::Generic;
  switch (isa) {
  case PanelIsa::Avx512:
    return gemmF16Of({kAvx512TilesOf<uint16_t>, 8, 32, kAvx512PairTilesOf<uint16_t>, 2},
                     widenHalvesF16c, M, N, K, A, panels, C, ldc, accumulate);
  case PanelIsa::Avx2:
    if (M <= kF16Avx2WideRows)
      return gemmF16Of({kAvx2WideTilesOf<uint16_t>, kF16Avx2WideRows, 32}, widenHalvesF16c, M,
                       N, K, A, panels, C, ldc, accumulate);
    return gemmF16Of({kAvx2TilesOf<uint16_t>, 6, 16}, widenHalvesF16c, M, N, K, A, panels, C,
                     ldc, accumulate);
  case PanelIsa::Generic:
    break;
  }
  gemmF16Of({kGenericTilesOf<uint16_t>, 4, 32}, widenHalves, M, N, K, A, panels, C, ldc,
            accumulate);
}

void panelGemmFp8(int64_t M, int64_t N, int64_t K, const float *A,
                  const uint8_t *panels, const float *scales, int64_t n0,
                  float *C, int64_t ldc, bool accumulate, PanelIsa isa) {
  if (M <= 0 || N <= 0)
    return;
  // AVX-512F without BW (Knights Landing) or AVX2 without F16C: the next
  // family down.
  if (isa == PanelIsa::Avx512 && !hasAvx512Bw())
    isa = PanelIsa::Avx2;
  if (isa == PanelIsa::Avx2 && !hasF16c())
    isa = PanelIsa::Generic;
  switch (isa) {
  case PanelIsa::Avx512:
    return gemmFp8Of(kFp8Avx512, M, N, K, A, panels, scales, n0, C, ldc, accumulate);
  case PanelIsa::Avx2:
    return gemmFp8Of(kFp8Avx2, M, N, K, A, panels, scales, n0, C, ldc, accumulate);
  case PanelIsa::Generic:
    return gemmFp8Of(kFp8Generic, M, N, K, A, panels, scales, n0, C, ldc, accumulate);
  }
}


void panelGemmMxfp4(int64_t M, int64_t N, int64_t K, const float *A,
                    const uint8_t *panels, float *C, int64_t ldc, bool accumulate,
                    PanelIsa isa) {
  if (M <= 0 || N <= 0)
    return;
  GroupLayout layout = {kMxfp4Group, kMxfp4GroupBytes,
                        static_cast<int64_t>(mxfp4PanelBytes(kPanelWidth, K)), false};
  const GroupFamily &f = isa == PanelIsa::Avx512 ? kMxfp4Avx512
                         : isa == PanelIsa::Avx2 ? kMxfp4Avx2
                                                 : kMxfp4Generic;
  gemmGroupsOf(f, layout, M, N, K, A, panels, C, ldc, accumulate);
}

void panelGemmInt(int bits, int64_t group, int64_t M, int64_t N, int64_t K, const float *A,
                  const uint8_t *panels, float *C, int64_t ldc, bool accumulate,
                  PanelIsa isa, bool int8Activations) {
  if (M <= 0 || N <= 0 || K <= 0)
    return; // K >= g > 0 for a checked weight
  if (isa == PanelIsa::Avx2 && !hasF16c())
    isa = PanelIsa::Generic;
  bool int8 = bits == 8;
  if (int8Activations) {
    bool vnni = isa == PanelIsa::Avx512 && hasVnni();
    if (isa == PanelIsa::Avx512 && !vnni) // AVX-512 without VNNI: the AVX2 tiles
      isa = hasF16c() ? PanelIsa::Avx2 : PanelIsa::Generic;
    const IntDotTileFn *tiles = vnni                      ? (int8 ? kIntDotVnniTiles<8> : kIntDotVnniTiles<4>)
                                : isa == PanelIsa::Avx2 ? (int8 ? kIntDotAvx2Tiles<8> : kIntDotAvx2Tiles<4>)
                                                        : (int8 ? kIntDotGenericTiles<8> : kIntDotGenericTiles<4>);
    int maxRows = vnni ? 4 : isa == PanelIsa::Avx2 ? 2 : 1;
    return gemmIntDotOf(tiles, maxRows, vnni || (isa != PanelIsa::Generic && hasAvx512Bw()),
                        bits, group, M, N, K, A, panels, C, ldc, accumulate);
  }
  GroupLayout layout = {group, intGroupBytes(bits, group),
                        static_cast<int64_t>(intPanelBytes(bits, kPanelWidth, K, group)), true};
  const GroupFamily &f = isa == PanelIsa::Avx512 ? (int8 ? kIntAvx512<8> : kIntAvx512<4>)
                         : isa == PanelIsa::Avx2 ? (int8 ? kIntAvx2<8> : kIntAvx2<4>)
                                                 : (int8 ? kIntGeneric<8> : kIntGeneric<4>);
  gemmGroupsOf(f, layout, M, N, K, A, panels, C, ldc, accumulate);
}

} // namespace moert::rt
