/*===- moert/fp8.h - fp8 e4m3 with 128x128 block scales ------------------===*
 *
 * The block-scaled fp8 weights of DeepSeek-V3 and Qwen3-*-FP8 (OCP fp8
 * e4m3, "fn": no infinities, one NaN pattern per sign), as moec stores them:
 * a weight [..., N, K] as one byte per value and, per [N, K] matrix, f32
 * scales [ceil(N / 128), ceil(K / 128)]: value(n, k) = decode(code(n, k)) ·
 * scale[n / 128][k / 128] (the checkpoints' `weight_scale_inv`). Shared by
 * the compiler (import checks, --weight-type=fp8) and the runtime (kernels,
 * synthetic weights); plain C++17, no dependency.
 *===---------------------------------------------------------------------===*/
#ifndef MOERT_FP8_H
#define MOERT_FP8_H

#include <cmath>
#include <cstdint>
#include <cstring>

namespace moert {

/// The block of values that share one scale, in both dimensions.
constexpr int64_t kFp8Block = 128;
/// The largest finite e4m3 value.
constexpr float kFp8Max = 448.0f;

/// The number of blocks along a dimension of `size` values.
constexpr int64_t fp8Blocks(int64_t size) {
  return (size + kFp8Block - 1) / kFp8Block;
}

/// Whether an fp8 GEMM C[m, n] = A[m, k] · B[n, k]ᵀ fits cuBLASLt's
/// block-scaled fp8 GEMM as the CUDA target runs it (docs/runtime.md, "fp8
/// GEMMs on cuBLASLt"): every row of B's codes and of A's quantized codes
/// 16-byte aligned (k a multiple of 16), C's rows too (n a multiple of 16),
/// and B's [fp8Blocks(n), fp8Blocks(k)] scales usable as they are stored,
/// since cuBLASLt wants the stride between their rows a multiple of 4.
constexpr bool fp8BlockScaledGemmFits(int64_t n, int64_t k) {
  return n > 0 && k > 0 && n % 16 == 0 && k % 16 == 0 && fp8Blocks(k) % 4 == 0;
}

/// The quantized activations of a cuBLASLt fp8 GEMM (quantize_fp8_act,
/// lib/Conversion/Kernels/fp8.mlir, computes the same): group `group`'s
/// rows, the first at row `first` of A, start at this row of the copy, and
/// are padded to a multiple of 8 (fp8ActPaddedRows). The regions never
/// overlap: the next group's starts at least 16 rows further than this
/// one's first row plus its rows, less 7.
constexpr int64_t fp8ActGroupRow(int64_t first, int64_t group) {
  return (first + 7) / 8 * 8 + 16 * group;
}
constexpr int64_t fp8ActPaddedRows(int64_t rows) { return (rows + 7) / 8 * 8; }
/// The copy's rows for `rows` rows of A in `groups` groups (experts; 1 for
/// a GEMM): room for every group's region.
constexpr int64_t fp8ActRows(int64_t rows, int64_t groups) {
  return rows + 16 * groups + 8;
}

/// The e4m3 NaN codes: 0x7F and 0xFF (all exponent and mantissa bits set).
constexpr bool isFp8NaN(uint8_t code) { return (code & 0x7F) == 0x7F; }

/// An e4m3 code's value, exactly: sign, 4 exponent bits (bias 7) and 3
/// mantissa bits; exponent 0 is subnormal (m / 8 · 2^-6). NaN for the NaN
/// codes.
inline float fp8ToFloat(uint8_t code) {
  int e = (code >> 3) & 15, m = code & 7;
  float v = e == 0 ? std::ldexp(static_cast<float>(m), -9)
                   : std::ldexp(static_cast<float>(8 + m), e - 10);
  if (isFp8NaN(code))
    v = std::nanf("");
  return code & 0x80 ? -v : v;
}

/// A finite float to the nearest e4m3 code (ties to even), saturating at
/// ±448 (the format has no infinity).
inline uint8_t floatToFp8(float f) {
  uint8_t sign = std::signbit(f) ? 0x80 : 0;
  float a = std::fabs(f);
  if (!(a < kFp8Max)) // also NaN, which callers exclude
    return sign | 0x7E;
  if (a < 0.015625f) { // below 2^-6: a multiple of 2^-9 (8 rounds up to 0x08)
    float q = std::nearbyint(a * 512.0f); // exact scaling; ties to even
    return sign | static_cast<uint8_t>(q);
  }
  uint32_t bits;
  std::memcpy(&bits, &a, 4);
  bits += 0x7FFFF + ((bits >> 20) & 1); // round the mantissa to 3 bits
  int e = static_cast<int>(bits >> 23) - 127 + 7;
  int m = static_cast<int>(bits >> 20) & 7;
  if (e > 15 || (e == 15 && m == 7)) // rounded past 448
    return sign | 0x7E;
  return sign | static_cast<uint8_t>(e << 3 | m);
}

/// Quantizes the row-major [n, k] matrix `values` to e4m3 `codes` (row-major,
/// n · k bytes) and `scales` (row-major [fp8Blocks(n), fp8Blocks(k)]): each
/// block's scale is its largest magnitude / 448 (1 for a block of zeros),
/// each code the value / scale rounded to nearest even. False (nothing
/// meaningful written) when a value is not finite.
inline bool quantizeFp8Matrix(const float *values, int64_t n, int64_t k,
                              uint8_t *codes, float *scales) {
  int64_t kb = fp8Blocks(k);
  for (int64_t bn = 0; bn * kFp8Block < n; ++bn) {
    int64_t r0 = bn * kFp8Block, r1 = r0 + kFp8Block < n ? r0 + kFp8Block : n;
    for (int64_t bk = 0; bk < kb; ++bk) {
      int64_t c0 = bk * kFp8Block, c1 = c0 + kFp8Block < k ? c0 + kFp8Block : k;
      float amax = 0.0f;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) {
          float v = values[r * k + c];
          if (!std::isfinite(v))
            return false;
          amax = std::fabs(v) > amax ? std::fabs(v) : amax;
        }
      float scale = amax > 0.0f ? amax / kFp8Max : 1.0f;
      scales[bn * kb + bk] = scale;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c)
          codes[r * k + c] = floatToFp8(values[r * k + c] / scale);
    }
  }
  return true;
}

} // namespace moert

#endif // MOERT_FP8_H
