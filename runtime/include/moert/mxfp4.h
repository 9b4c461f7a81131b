/*===- moert/mxfp4.h - MXFP4: e2m1 values with e8m0 scales per 32 --------===*
 *
 * The MXFP4 weights of gpt-oss (OCP microscaling): each value a 4-bit e2m1
 * code, each run of 32 values along K one e8m0 scale; value = e2m1(code) ·
 * 2^(scale - 127), exact in f32. Checkpoints store a matrix [N, K] as blocks
 * [N, K / 32, 16] (two codes per byte, even k in the low nibble) and scales
 * [N, K / 32]. The CPU kernels read it repacked in MXFP4 panels
 * (packMxfp4Panels). Shared by the compiler and the runtime; plain C++17.
 *===---------------------------------------------------------------------===*/
#ifndef MOERT_MXFP4_H
#define MOERT_MXFP4_H

#include <cmath>
#include <cstdint>
#include <cstring>

namespace moert {

/// The values that share one scale (along K).
constexpr int64_t kMxfp4Group = 32;

/// The bytes of one group of one MXFP4 panel: 32 scales, then 32 steps of k
/// of 16 bytes (32 codes).
constexpr int64_t kMxfp4GroupBytes = 32 + 32 * 16; // 544

/// An e2m1 code's value (the low 4 bits): sign (bit 3), 2 exponent bits
/// (bias 1) and 1 mantissa bit; exponent 0 is subnormal (m · 0.5). The
/// values are ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}.
inline float e2m1ToFloat(uint8_t code) {
  int e = (code >> 1) & 3, m = code & 1;
  float v = e == 0 ? 0.5f * static_cast<float>(m)
                   : std::ldexp(1.0f + 0.5f * static_cast<float>(m), e - 1);
  return (code & 8) ? -v : v;
}

/// The e8m0 scale 255 is NaN.
constexpr bool isE8m0NaN(uint8_t e) { return e == 255; }

/// An e8m0 scale's value: 2^(e - 127), exactly (e = 0 gives 2^-127, a
/// subnormal); NaN for 255.
inline float e8m0ToFloat(uint8_t e) {
  return isE8m0NaN(e) ? std::nanf("") : std::ldexp(1.0f, static_cast<int>(e) - 127);
}

/// A finite float to the nearest e2m1 code (ties to the even code, i.e. the
/// even mantissa), saturating at ±6; the sign is kept (-0 gives code 8).
inline uint8_t floatToE2m1(float f) {
  // The code of |f| counts the midpoints between neighbouring values that
  // |f| lies above, a tie going to the even code: above 0.25 (0 | 1), at or
  // above 0.75 (1 | 2), above 1.25, at or above 1.75, above 2.5, at or above
  // 3.5, above 5 (6 | 7). Infinity gives 7, and so does NaN.
  float a = std::fabs(f);
  int code = (a > 0.25f) + (a >= 0.75f) + (a > 1.25f) + (a >= 1.75f) + (a > 2.5f) +
             (a >= 3.5f) + (a > 5.0f);
  if (a != a)
    code = 7;
  return static_cast<uint8_t>(code | (std::signbit(f) ? 8 : 0));
}

/// Quantizes the `k` values of one row (k a multiple of 32) as a checkpoint
/// stores them: `blocks` k / 2 bytes (even k in the low nibble), `scales` k
/// / 32 e8m0 bytes. Per group of 32 the scale is the smallest power of two
/// 2^X with amax / 2^X <= 6 (X = floor(log2 amax) - 2, plus 1 when amax
/// exceeds 6 · 2^X; 0 for a group of zeros; clamped to [-127, 127]), so no
/// value saturates; each code is value / 2^X rounded to nearest even. False
/// (nothing meaningful written) when a value is not finite.
inline bool quantizeMxfp4Row(const float *values, int64_t k, uint8_t *blocks,
                             uint8_t *scales) {
  for (int64_t g = 0; g * kMxfp4Group < k; ++g) {
    const float *v = values + g * kMxfp4Group;
    double amax = 0.0;
    for (int64_t i = 0; i < kMxfp4Group; ++i) {
      if (!std::isfinite(v[i]))
        return false;
      amax = std::fmax(amax, std::fabs(static_cast<double>(v[i])));
    }
    int x = 0;
    if (amax > 0.0) {
      int ex;
      std::frexp(amax, &ex); // amax = f · 2^ex, f in [0.5, 1)
      x = ex - 1 - 2;
      if (amax > std::ldexp(6.0, x))
        ++x;
      x = x < -127 ? -127 : x > 127 ? 127 : x;
    }
    scales[g] = static_cast<uint8_t>(x + 127);
    uint8_t *out = blocks + g * (kMxfp4Group / 2);
    // Exact in double: a power-of-two scaling (2^-x, |x| <= 127) of an f32
    // value stays far inside double's range.
    const double inv = std::ldexp(1.0, -x);
    for (int64_t i = 0; i < kMxfp4Group; i += 2) {
      uint8_t lo = floatToE2m1(static_cast<float>(static_cast<double>(v[i]) * inv));
      uint8_t hi = floatToE2m1(static_cast<float>(static_cast<double>(v[i + 1]) * inv));
      out[i / 2] = static_cast<uint8_t>(lo | hi << 4);
    }
  }
  return true;
}

// MXFP4 panels: a matrix [N, K] (K a multiple of 32) as the panels of 32
// columns of moert/format.h (the last one padded), each as K / 32 groups of
// kMxfp4GroupBytes, k in order: the e8m0 scales of the panel's 32 columns
// for the group's k, then per k of the group (a step) 16 bytes, byte j
// holding column j's code in its low nibble and column 16 + j's in its high
// one. A step's codes are 16 contiguous bytes and a group's scales sit just
// before them, so the weight streams once, in order. The padding columns
// have code 0 and scale 127 (the value +0).

/// The bytes of an [n, k] matrix in MXFP4 panels.
constexpr uint64_t mxfp4PanelBytes(int64_t n, int64_t k) {
  return static_cast<uint64_t>((n + 31) / 32) * static_cast<uint64_t>(k / kMxfp4Group) *
         static_cast<uint64_t>(kMxfp4GroupBytes);
}

/// Where the group holding element (c, kk) of an [N, K] matrix starts in its
/// MXFP4 panels.
constexpr uint64_t mxfp4GroupOffset(int64_t c, int64_t kk, int64_t K) {
  return (static_cast<uint64_t>(c / 32) * static_cast<uint64_t>(K / kMxfp4Group) +
          static_cast<uint64_t>(kk / kMxfp4Group)) *
         static_cast<uint64_t>(kMxfp4GroupBytes);
}

/// The e8m0 scale of element (c, kk) of an [N, K] matrix in MXFP4 panels.
inline uint8_t mxfp4PanelScale(const uint8_t *panels, int64_t c, int64_t kk, int64_t K) {
  return panels[mxfp4GroupOffset(c, kk, K) + static_cast<uint64_t>(c % 32)];
}

/// The e2m1 code of element (c, kk) of an [N, K] matrix in MXFP4 panels.
inline uint8_t mxfp4PanelCode(const uint8_t *panels, int64_t c, int64_t kk, int64_t K) {
  uint8_t b = panels[mxfp4GroupOffset(c, kk, K) + 32 +
                     static_cast<uint64_t>(kk % kMxfp4Group * 16 + c % 16)];
  return static_cast<uint8_t>((c % 32 < 16 ? b : b >> 4) & 15);
}

/// The value of element (c, kk): exact in f32 (±infinity past its range,
/// which takes a scale of 253 or more).
inline float mxfp4PanelValue(const uint8_t *panels, int64_t c, int64_t kk, int64_t K) {
  return e2m1ToFloat(mxfp4PanelCode(panels, c, kk, K)) *
         e8m0ToFloat(mxfp4PanelScale(panels, c, kk, K));
}

/// Packs one [n, k] matrix as checkpoints store it (`blocks` row-major [n, k
/// / 2] bytes, even k in the low nibble; `scales` row-major [n, k / 32])
/// into MXFP4 panels `out` (mxfp4PanelBytes(n, k) bytes). k must be a
/// multiple of 32.
inline void packMxfp4Panels(const uint8_t *blocks, const uint8_t *scales, int64_t n,
                            int64_t k, uint8_t *out) {
  int64_t groups = k / kMxfp4Group;
  for (int64_t p = 0; p * 32 < n; ++p)
    for (int64_t g = 0; g < groups; ++g) {
      uint8_t *group = out + (p * groups + g) * kMxfp4GroupBytes, *steps = group + 32;
      std::memset(steps, 0, 32 * 16);
      for (int64_t j = 0; j < 32; ++j) {
        int64_t c = p * 32 + j;
        group[j] = c < n ? scales[c * groups + g] : 127;
        if (c >= n)
          continue;
        const uint8_t *row = blocks + c * (k / 2) + g * (kMxfp4Group / 2);
        for (int64_t s = 0; s < kMxfp4Group; ++s) {
          int code = (row[s / 2] >> (s % 2 * 4)) & 15;
          steps[s * 16 + j % 16] |= static_cast<uint8_t>(code << (j / 16 * 4));
        }
      }
    }
}

/// MXFP4 rows, the CUDA target's layout: each row of an [n, k] matrix is
/// its k / 2 code bytes as checkpoints store them (even k in the low
/// nibble), then its k / 32 e8m0 scales.
constexpr uint64_t mxfp4RowBytes(int64_t k) {
  return static_cast<uint64_t>(k / 2 + k / kMxfp4Group);
}

/// The bytes of an [n, k] matrix in MXFP4 panels or, without `panels`, in
/// MXFP4 rows.
constexpr uint64_t mxfp4MatrixBytes(int64_t n, int64_t k, bool panels) {
  return panels ? mxfp4PanelBytes(n, k) : static_cast<uint64_t>(n) * mxfp4RowBytes(k);
}

/// Packs one [n, k] matrix as checkpoints store it (as packMxfp4Panels
/// takes it) into MXFP4 rows `out` (n · mxfp4RowBytes(k) bytes).
inline void packMxfp4Rows(const uint8_t *blocks, const uint8_t *scales, int64_t n,
                          int64_t k, uint8_t *out) {
  size_t codes = static_cast<size_t>(k / 2), groups = static_cast<size_t>(k / kMxfp4Group);
  for (int64_t r = 0; r < n; ++r) {
    uint8_t *row = out + static_cast<uint64_t>(r) * mxfp4RowBytes(k);
    std::memcpy(row, blocks + static_cast<size_t>(r) * codes, codes);
    std::memcpy(row + codes, scales + static_cast<size_t>(r) * groups, groups);
  }
}

/// Packs one [n, k] matrix (blocks and scales as checkpoints store them) in
/// MXFP4 panels or, without `panels`, MXFP4 rows.
inline void packMxfp4(const uint8_t *blocks, const uint8_t *scales, int64_t n, int64_t k,
                      bool panels, uint8_t *out) {
  if (panels)
    packMxfp4Panels(blocks, scales, n, k, out);
  else
    packMxfp4Rows(blocks, scales, n, k, out);
}

} // namespace moert

#endif // MOERT_MXFP4_H
