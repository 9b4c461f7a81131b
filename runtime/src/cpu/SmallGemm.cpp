//===- SmallGemm.cpp - GEMMs with few rows, at memory speed ---------------===//
//
// Each kernel walks NR rows of B at once (NR weight streams) against all M
// rows of A: per step of 16 (8) floats of k, NR loads of B, M loads of A (from
// L1/L2) and M x NR FMAs into M x NR accumulators (<= 16 registers). The tail
// of k is a masked load (AVX-512) or a scalar loop (AVX2).
//
//===----------------------------------------------------------------------===//
#include "SmallGemm.h"

#include <algorithm>
#include <immintrin.h>

namespace moert::rt {
namespace {

/// Rows of B per step for M rows of A, so that the M x NR accumulators and
/// the NR + 1 loaded vectors fit the register file (32 zmm, 16 ymm).
constexpr int rowsOfB512(int M) { return M <= 2 ? 8 : M <= 4 ? 6 : M <= 6 ? 4 : 3; }
constexpr int rowsOfB256(int M) { return M <= 2 ? 4 : M <= 4 ? 2 : 1; }

template <int M, int NR>
__attribute__((target("avx512f"))) void blockAvx512(int64_t K, const float *A,
                                                    const float *B, float *C,
                                                    int64_t ldc, bool accumulate) {
  __m512 acc[M][NR];
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < NR; ++r)
      acc[m][r] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 b[NR];
    for (int r = 0; r < NR; ++r)
      b[r] = _mm512_loadu_ps(B + r * K + k);
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
      b[r] = _mm512_maskz_loadu_ps(mask, B + r * K + k);
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

template <int M, int NR>
__attribute__((target("avx2,fma"))) void blockAvx2(int64_t K, const float *A,
                                                 const float *B, float *C,
                                                 int64_t ldc, bool accumulate) {
  __m256 acc[M][NR];
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < NR; ++r)
      acc[m][r] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 b[NR];
    for (int r = 0; r < NR; ++r)
      b[r] = _mm256_loadu_ps(B + r * K + k);
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
        v += A[m * K + j] * B[r * K + j];
      C[m * ldc + r] = accumulate ? C[m * ldc + r] + v : v;
    }
}

template <int M>
void rows(bool avx512, int64_t N, int64_t K, const float *A, const float *B,
          float *C, int64_t ldc, bool accumulate) {
  int64_t n = 0;
  if (avx512) {
    constexpr int NR = rowsOfB512(M);
    for (; n + NR <= N; n += NR)
      blockAvx512<M, NR>(K, A, B + n * K, C + n, ldc, accumulate);
    for (; n < N; ++n)
      blockAvx512<M, 1>(K, A, B + n * K, C + n, ldc, accumulate);
  } else {
    constexpr int NR = rowsOfB256(M);
    for (; n + NR <= N; n += NR)
      blockAvx2<M, NR>(K, A, B + n * K, C + n, ldc, accumulate);
    for (; n < N; ++n)
      blockAvx2<M, 1>(K, A, B + n * K, C + n, ldc, accumulate);
  }
}

bool hasAvx512() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}

} // namespace

bool smallGemmAvailable() {
  static const bool has = hasAvx512() || (__builtin_cpu_supports("avx2") &&
                                          __builtin_cpu_supports("fma"));
  return has;
}

namespace {
void rowGroup(bool avx512, int64_t M, int64_t N, int64_t K, const float *A,
              const float *B, float *C, int64_t ldc, bool accumulate) {
  switch (M) {
  case 1: return rows<1>(avx512, N, K, A, B, C, ldc, accumulate);
  case 2: return rows<2>(avx512, N, K, A, B, C, ldc, accumulate);
  case 3: return rows<3>(avx512, N, K, A, B, C, ldc, accumulate);
  case 4: return rows<4>(avx512, N, K, A, B, C, ldc, accumulate);
  case 5: return rows<5>(avx512, N, K, A, B, C, ldc, accumulate);
  case 6: return rows<6>(avx512, N, K, A, B, C, ldc, accumulate);
  case 7: return rows<7>(avx512, N, K, A, B, C, ldc, accumulate);
  default: return rows<8>(avx512, N, K, A, B, C, ldc, accumulate);
  }
}
} // namespace

void smallGemm(int64_t M, int64_t N, int64_t K, const float *A, const float *B,
               float *C, int64_t ldc, bool accumulate) {
  bool avx512 = hasAvx512();
  if (M <= 8)
    return rowGroup(avx512, M, N, K, A, B, C, ldc, accumulate);
  // More rows: groups of 8 rows of A against a chunk of B small enough to
  // stay in L2 (about 256 KiB) while every group passes over it.
  int64_t chunk = std::max<int64_t>(8, (256 << 10) / (4 * std::max<int64_t>(K, 1)) / 8 * 8);
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    int64_t n = std::min(chunk, N - n0);
    for (int64_t m0 = 0; m0 < M; m0 += 8)
      rowGroup(avx512, std::min<int64_t>(8, M - m0), n, K, A + m0 * K,
               B + n0 * K, C + m0 * ldc + n0, ldc, accumulate);
  }
}

} // namespace moert::rt
