//===- SmallGemm.cpp - GEMMs with few rows, at memory speed ---------------===//
//
// Each kernel walks NR rows of B at once (NR weight streams) against all M
// rows of A: per step of 16 (8) floats of k, NR loads of B, M loads of A (from
// L1/L2) and M x NR FMAs into M x NR accumulators (<= 16 registers). The tail
// of k is a masked load (AVX-512) or a scalar loop (AVX2). With bf16 / f16
// operands (smallGemm16) A is widened to f32 once per call, into a scratch
// buffer of the calling thread, and B's elements are widened as they are
// loaded (exactly: bf16 by a 16-bit shift, f16 by vcvtph2ps), so a 16-bit
// weight is streamed at half the bytes and the f32 sums are the same.
//
//===----------------------------------------------------------------------===//
#include "SmallGemm.h"

#include "Intrinsics.h"
#include "moert/half.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace moert::rt {
namespace {

/// Rows of B per step for M rows of A, so that the M x NR accumulators and
/// the NR + 1 loaded vectors fit the register file (32 zmm, 16 ymm).
constexpr int rowsOfB512(int M) { return M <= 2 ? 8 : M <= 4 ? 6 : M <= 6 ? 4 : 3; }
constexpr int rowsOfB256(int M) { return M <= 2 ? 4 : M <= 4 ? 2 : 1; }

/// How the kernels read B: 16 (AVX-512) or 8 (AVX2) elements at once as f32,
/// a masked tail of 16, and one element.
struct LoadF32 {
  using T = float;
  __attribute__((target("avx512f"))) static __m512 v16(const float *p) {
    return _mm512_loadu_ps(p);
  }
  __attribute__((target("avx512f"))) static __m512 v16(__mmask16 m, const float *p) {
    return _mm512_maskz_loadu_ps(m, p);
  }
  __attribute__((target("avx2,fma"))) static __m256 v8(const float *p) {
    return _mm256_loadu_ps(p);
  }
  static float one(const float *p) { return *p; }
};

struct LoadBF16 {
  using T = uint16_t;
  __attribute__((target("avx512f"))) static __m512 widen(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  __attribute__((target("avx512f"))) static __m512 v16(const uint16_t *p) {
    return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
  }
  __attribute__((target("avx512f,avx512bw,avx512vl"))) static __m512 v16(__mmask16 m,
                                                                        const uint16_t *p) {
    return widen(_mm256_maskz_loadu_epi16(m, p));
  }
  __attribute__((target("avx2,fma"))) static __m256 v8(const uint16_t *p) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static float one(const uint16_t *p) { return bf16ToFloat(*p); }
};

struct LoadF16 {
  using T = uint16_t;
  __attribute__((target("avx512f"))) static __m512 v16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
  }
  __attribute__((target("avx512f,avx512bw,avx512vl"))) static __m512 v16(__mmask16 m,
                                                                        const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
  }
  __attribute__((target("avx2,fma,f16c"))) static __m256 v8(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
  }
  static float one(const uint16_t *p) { return halfToFloat(*p); }
};

template <int M, int NR, class L>
__attribute__((target("avx512f,avx512bw,avx512vl"))) void
blockAvx512(int64_t K, const float *A, const typename L::T *B, float *C,
            int64_t ldc, bool accumulate) {
  __m512 acc[M][NR];
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < NR; ++r)
      acc[m][r] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 b[NR];
    for (int r = 0; r < NR; ++r)
      b[r] = L::v16(B + r * K + k);
    for (int m = 0; m < M; ++m) {
      __m512 a = _mm512_loadu_ps(A + m * K + k);
      for (int r = 0; r < NR; ++r)
        acc[m][r] = _mm512_fmadd_ps(a, b[r], acc[m][r]);
    }
  }
  if (k < K) {
    __mmask16 mask = static_cast<__mmask16>((1u << (K - k)) - 1);
    __m512 b[NR];
    for (int r = 0; r < NR; ++r)
      b[r] = L::v16(mask, B + r * K + k);
    for (int m = 0; m < M; ++m) {
      __m512 a = _mm512_maskz_loadu_ps(mask, A + m * K + k);
      for (int r = 0; r < NR; ++r)
        acc[m][r] = _mm512_fmadd_ps(a, b[r], acc[m][r]);
    }
  }
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < NR; ++r) {
      float v = _mm512_reduce_add_ps(acc[m][r]);
      C[m * ldc + r] = accumulate ? C[m * ldc + r] + v : v;
    }
}

__attribute__((target("avx2,fma"))) inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <int M, int NR, class L>
__attribute__((target("avx2,fma,f16c"))) void
blockAvx2(int64_t K, const float *A, const typename L::T *B, float *C,
          int64_t ldc, bool accumulate) {
  __m256 acc[M][NR];
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < NR; ++r)
      acc[m][r] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 b[NR];
    for (int r = 0; r < NR; ++r)
      b[r] = L::v8(B + r * K + k);
    for (int m = 0; m < M; ++m) {
      __m256 a = _mm256_loadu_ps(A + m * K + k);
      for (int r = 0; r < NR; ++r)
        acc[m][r] = _mm256_fmadd_ps(a, b[r], acc[m][r]);
    }
  }
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < NR; ++r) {
      float v = hsum256(acc[m][r]);
      for (int64_t j = k; j < K; ++j)
        v += A[m * K + j] * L::one(B + r * K + j);
      C[m * ldc + r] = accumulate ? C[m * ldc + r] + v : v;
    }
}

template <int M, class L>
void rows(bool avx512, int64_t N, int64_t K, const float *A,
          const typename L::T *B, float *C, int64_t ldc, bool accumulate) {
  int64_t n = 0;
  if (avx512) {
    constexpr int NR = rowsOfB512(M);
    for (; n + NR <= N; n += NR)
      blockAvx512<M, NR, L>(K, A, B + n * K, C + n, ldc, accumulate);
    for (; n < N; ++n)
      blockAvx512<M, 1, L>(K, A, B + n * K, C + n, ldc, accumulate);
  } else {
    constexpr int NR = rowsOfB256(M);
    for (; n + NR <= N; n += NR)
      blockAvx2<M, NR, L>(K, A, B + n * K, C + n, ldc, accumulate);
    for (; n < N; ++n)
      blockAvx2<M, 1, L>(K, A, B + n * K, C + n, ldc, accumulate);
  }
}

/// The AVX-512 kernels' masked 16-bit loads need AVX512BW and VL too (every
/// AVX-512 CPU since Skylake-SP has them).
bool hasAvx512() {
  static const bool has = __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl");
  return has;
}

} // namespace

bool smallGemmAvailable() {
  static const bool has =
      hasAvx512() || (__builtin_cpu_supports("avx2") &&
                      __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"));
  return has;
}

namespace {

/// bf16 x bf16 with AVX512_BF16: each vdpbf16ps adds 16 lanes of
/// a[2i]·b[2i] + a[2i+1]·b[2i+1] (exact products, f32 sums; the instruction
/// treats subnormal inputs and results as zero) for 32 values of k, A read
/// as bf16 without widening. The tail of k is a masked load of zeros.
template <int M, int NR>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void
blockBf16Dot(int64_t K, const uint16_t *A, const uint16_t *B, float *C,
             int64_t ldc, bool accumulate) {
  __m512 acc[M][NR];
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < NR; ++r)
      acc[m][r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 32) {
    __mmask32 mask = K - k >= 32 ? ~__mmask32(0) : (__mmask32(1) << (K - k)) - 1;
    __m512i b[NR];
    for (int r = 0; r < NR; ++r)
      b[r] = _mm512_maskz_loadu_epi16(mask, B + r * K + k);
    for (int m = 0; m < M; ++m) {
      __m512i a = _mm512_maskz_loadu_epi16(mask, A + m * K + k);
      for (int r = 0; r < NR; ++r)
        acc[m][r] = _mm512_dpbf16_ps(acc[m][r], (__m512bh)a, (__m512bh)b[r]);
    }
  }
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < NR; ++r) {
      float v = _mm512_reduce_add_ps(acc[m][r]);
      C[m * ldc + r] = accumulate ? C[m * ldc + r] + v : v;
    }
}

/// The kernel families the driver below runs: the element types of A and B,
/// and rows<M>(...) for M (<= 8) rows of A against all N rows of B.
template <class L> struct Widening { // A in f32, B widened by L as it streams
  using AT = float;
  using BT = typename L::T;
  template <int M>
  static void rows(int64_t N, int64_t K, const AT *A, const BT *B, float *C,
                   int64_t ldc, bool accumulate) {
    moert::rt::rows<M, L>(hasAvx512(), N, K, A, B, C, ldc, accumulate);
  }
};

struct Bf16Dot { // A and B in bf16, vdpbf16ps
  using AT = uint16_t;
  using BT = uint16_t;
  template <int M>
  static void rows(int64_t N, int64_t K, const AT *A, const BT *B, float *C,
                   int64_t ldc, bool accumulate) {
    constexpr int NR = rowsOfB512(M);
    int64_t n = 0;
    for (; n + NR <= N; n += NR)
      blockBf16Dot<M, NR>(K, A, B + n * K, C + n, ldc, accumulate);
    for (; n < N; ++n)
      blockBf16Dot<M, 1>(K, A, B + n * K, C + n, ldc, accumulate);
  }
};

template <class Kernel>
void rowGroup(int64_t M, int64_t N, int64_t K, const typename Kernel::AT *A,
              const typename Kernel::BT *B, float *C, int64_t ldc, bool accumulate) {
  switch (M) {
  case 1: return Kernel::template rows<1>(N, K, A, B, C, ldc, accumulate);
  case 2: return Kernel::template rows<2>(N, K, A, B, C, ldc, accumulate);
  case 3: return Kernel::template rows<3>(N, K, A, B, C, ldc, accumulate);
  case 4: return Kernel::template rows<4>(N, K, A, B, C, ldc, accumulate);
  case 5: return Kernel::template rows<5>(N, K, A, B, C, ldc, accumulate);
  case 6: return Kernel::template rows<6>(N, K, A, B, C, ldc, accumulate);
  case 7: return Kernel::template rows<7>(N, K, A, B, C, ldc, accumulate);
  default: return Kernel::template rows<8>(N, K, A, B, C, ldc, accumulate);
  }
}

/// C (+)= A·Bᵀ with `Kernel`: up to 8 rows of A at once against all of B, or
/// groups of 8 rows of A against a chunk of B small enough to stay in L2
/// (about 256 KiB) while every group passes over it.
template <class Kernel>
void smallGemmOf(int64_t M, int64_t N, int64_t K, const typename Kernel::AT *A,
                 const typename Kernel::BT *B, float *C, int64_t ldc,
                 bool accumulate) {
  if (M <= 8)
    return rowGroup<Kernel>(M, N, K, A, B, C, ldc, accumulate);
  int64_t chunk = std::max<int64_t>(
      8, (256 << 10) / (int64_t(sizeof(typename Kernel::BT)) * std::max<int64_t>(K, 1)) / 8 * 8);
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    int64_t n = std::min(chunk, N - n0);
    for (int64_t m0 = 0; m0 < M; m0 += 8)
      rowGroup<Kernel>(std::min<int64_t>(8, M - m0), n, K, A + m0 * K,
                       B + n0 * K, C + m0 * ldc + n0, ldc, accumulate);
  }
}

} // namespace

void smallGemm(int64_t M, int64_t N, int64_t K, const float *A, const float *B,
               float *C, int64_t ldc, bool accumulate) {
  smallGemmOf<Widening<LoadF32>>(M, N, K, A, B, C, ldc, accumulate);
}

bool hasBf16Dot() {
  static const bool has = hasAvx512() && __builtin_cpu_supports("avx512bf16") &&
                          !std::getenv("MOERT_NO_AVX512_BF16");
  return has;
}

const float *widenRows(bool bf16, int64_t rows, int64_t K, const uint16_t *A,
                       int slot) {
  thread_local std::vector<float> scratches[2];
  std::vector<float> &scratch = scratches[slot];
  size_t need = static_cast<size_t>(rows * K);
  if (scratch.size() < need)
    scratch.resize(need);
  for (size_t i = 0; i < need; ++i)
    scratch[i] = bf16 ? bf16ToFloat(A[i]) : halfToFloat(A[i]);
  return scratch.data();
}

void smallGemm16(bool bf16, int64_t M, int64_t N, int64_t K, const uint16_t *A,
                 const uint16_t *B, float *C, int64_t ldc, bool accumulate) {
  if (bf16 && hasBf16Dot())
    return smallGemmOf<Bf16Dot>(M, N, K, A, B, C, ldc, accumulate);
  const float *wide = widenRows(bf16, M, K, A);
  if (bf16)
    smallGemmOf<Widening<LoadBF16>>(M, N, K, wide, B, C, ldc, accumulate);
  else
    smallGemmOf<Widening<LoadF16>>(M, N, K, wide, B, C, ldc, accumulate);
}

} // namespace moert::rt
