/*===- moert/mxfp4.h - MXFP4: e2m1 values with e8m0 scales per 32 --------===*
 *
 * The MXFP4 weights of gpt-oss (OCP microscaling): each value a 4-bit e2m1
 * code, each run of 32 values along K one e8m0 scale; value = e2m1(code) ·
 * 2^(scale - 127), exact in f32. Checkpoints store a matrix [N, K] as blocks
 * [N, K / 32, 16] (two codes per byte, even k in the low nibble) and scales
 * [N, K / 32]. Shared by the compiler and the runtime; plain C++17.
 *===---------------------------------------------------------------------===*/
#ifndef MOERT_MXFP4_H
#define MOERT_MXFP4_H

#include <cmath>
#include <cstdint>

namespace moert {

/// The values that share one scale (along K).
constexpr int64_t kMxfp4Group = 32;

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

} // namespace moert

#endif // MOERT_MXFP4_H
