/*===- moert/intq.h - int8 and int4 weights, a scale per group ------------===*
 *
 * Integer weights quantized per row and group of G values along K (G = 32,
 * 64 or 128; K a multiple of G):
 * - int8, symmetric (as llama.cpp's Q8_0): w = q · d, q in [-127, 127], d an
 *   f16 scale per group;
 * - int4, asymmetric with an integer zero point (as GPTQ / AWQ): w = (q - z)
 *   · d, q and z in [0, 15], d an f16 scale per group.
 * Both products are exact in f32 (at most 5 + 11 significant bits), so a
 * weight's value is the same everywhere: the kernels, the loader's checks
 * and test/reference/quant.py.
 *
 * Quantization (from f32 values; everything in f32, rounding to nearest
 * even):
 * - int8: d = f16(amax / 127); q = clamp(rint(v / d), -127, 127);
 * - int4: lo = min(0, min v), hi = max(0, max v) (so that 0 is exact: q =
 *   z); d = f16((hi - lo) / 15); z = clamp(rint(-lo / d), 0, 15); q =
 *   clamp(rint(v / d) + z, 0, 15).
 * A group whose d is 0 gets q = z = 0. A value that is not finite, or a d
 * past f16's range (|v| above about 8.3e6 for int8, a range above about
 * 9.8e5 for int4), is refused.
 *
 * The CPU kernels read them in integer panels: per panel of 32 columns (the
 * last one padded with d = 0, codes 0) and group, k in order:
 * - the 32 columns' f16 scales (64 bytes); for int4 then their zero points,
 *   one byte each (32 bytes);
 * - G / 4 quads of 4 steps of k. int8: 128 bytes, byte 4j + s holding
 *   column j's code at the quad's step s and byte 64 + 4j + s column 16 +
 *   j's; int4: 64 bytes, byte 4j + s holding column j's code in its low
 *   nibble and column 16 + j's in its high one.
 * So each 32-bit lane of a quad holds 4 consecutive k of one column (what
 * an integer dot product takes), a shift and a mask give one k of 16
 * columns, and a panel streams once, in order.
 *
 * A GEMM on such a weight takes its f32 activations A as they are (each
 * product A · w in f32), or, with int8 activations (llama.cpp's Q8 dot),
 * quantizes each row of A per group of the weight's G values along K:
 * s = amax / 127, a = clamp(rint(A / s), -127, 127) (f32, to nearest even;
 * s = 0 and a = 0 for a group of zeros), then per group the exact integer
 * sum t = Σ (q - z) · a (z = 0 for int8) and C = fma(f32(t), f32(d · s), C),
 * group after group in k order (quantizeActivationGroup).
 * Shared by the compiler and the runtime; plain C++17.
 *===---------------------------------------------------------------------===*/
#ifndef MOERT_INTQ_H
#define MOERT_INTQ_H

#include "moert/half.h"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace moert {

/// The group sizes (values along K per scale) the formats take.
constexpr bool validIntGroup(int64_t g) { return g == 32 || g == 64 || g == 128; }

/// The steps of k in a quad (the depth of an integer panel).
constexpr int64_t kIntQuad = 4;

/// The header of one group of one integer panel: scales (and zero points).
constexpr int64_t intGroupHeader(int bits) { return bits == 8 ? 64 : 96; }

/// The bytes of one quad of one integer panel.
constexpr int64_t intQuadBytes(int bits) { return bits == 8 ? 128 : 64; }

/// The bytes of one group of `g` values of one integer panel.
constexpr int64_t intGroupBytes(int bits, int64_t g) {
  return intGroupHeader(bits) + g / kIntQuad * intQuadBytes(bits);
}

/// The bytes of an [n, k] matrix in integer panels (k a multiple of g).
constexpr uint64_t intPanelBytes(int bits, int64_t n, int64_t k, int64_t g) {
  return static_cast<uint64_t>((n + 31) / 32) * static_cast<uint64_t>(k / g) *
         static_cast<uint64_t>(intGroupBytes(bits, g));
}

/// Where the group holding element (c, kk) of an [N, K] matrix starts.
constexpr uint64_t intGroupOffset(int bits, int64_t c, int64_t kk, int64_t K, int64_t g) {
  return (static_cast<uint64_t>(c / 32) * static_cast<uint64_t>(K / g) +
          static_cast<uint64_t>(kk / g)) *
         static_cast<uint64_t>(intGroupBytes(bits, g));
}

/// The value of element (c, kk) of an [N, K] matrix in integer panels.
inline float intPanelValue(int bits, const uint8_t *panels, int64_t c, int64_t kk,
                           int64_t K, int64_t g) {
  const uint8_t *group = panels + intGroupOffset(bits, c, kk, K, g);
  int j = static_cast<int>(c % 32);
  uint16_t h;
  std::memcpy(&h, group + 2 * j, 2);
  float d = halfToFloat(h);
  int64_t in = kk % g;
  const uint8_t *quad = group + intGroupHeader(bits) + in / kIntQuad * intQuadBytes(bits);
  int s = static_cast<int>(in % kIntQuad);
  if (bits == 8) {
    int8_t q;
    std::memcpy(&q, quad + (j / 16) * 64 + 4 * (j % 16) + s, 1);
    return static_cast<float>(q) * d;
  }
  uint8_t b = quad[4 * (j % 16) + s];
  int q = (j < 16 ? b : b >> 4) & 15, z = group[64 + j];
  return static_cast<float>(q - z) * d;
}

/// The quantization of one group of `g` values (see the file comment):
/// codes in `q` (int8: as int8_t values stored in bytes), the f16 scale,
/// and for int4 the zero point. False when a value is not finite or d
/// overflows f16.
inline bool quantizeIntGroup(int bits, const float *v, int64_t g, uint8_t *q,
                             uint16_t *scale, uint8_t *zero) {
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < g; ++i) {
    if (!std::isfinite(v[i]))
      return false;
    lo = v[i] < lo ? v[i] : lo;
    hi = v[i] > hi ? v[i] : hi;
  }
  float range = bits == 8 ? (-lo > hi ? -lo : hi) / 127.0f : (hi - lo) / 15.0f;
  uint16_t h = floatToHalf(range);
  if ((h & 0x7c00) == 0x7c00)
    return false;
  float d = halfToFloat(h);
  *scale = h;
  int z = 0;
  if (bits == 4 && d > 0.0f) {
    float zf = std::nearbyint(-lo / d);
    z = zf < 0.0f ? 0 : zf > 15.0f ? 15 : static_cast<int>(zf);
  }
  if (zero)
    *zero = static_cast<uint8_t>(z);
  int qmin = bits == 8 ? -127 : 0, qmax = bits == 8 ? 127 : 15;
  for (int64_t i = 0; i < g; ++i) {
    int c = 0;
    if (d > 0.0f) {
      float r = std::nearbyint(v[i] / d) + static_cast<float>(z);
      c = r < qmin ? qmin : r > qmax ? qmax : static_cast<int>(r);
    }
    q[i] = static_cast<uint8_t>(static_cast<int8_t>(c));
  }
  return true;
}

/// Quantizes the row-major [n, k] matrix `values` (k a multiple of g) into
/// integer panels `out` (intPanelBytes(bits, n, k, g) bytes). False (with
/// `*badRow` the first row that failed) when quantizeIntGroup refuses a
/// group.
inline bool packIntPanels(int bits, const float *values, int64_t n, int64_t k, int64_t g,
                          uint8_t *out, int64_t *badRow = nullptr) {
  int64_t groups = k / g, gb = intGroupBytes(bits, g), qb = intQuadBytes(bits);
  uint8_t codes[128];
  for (int64_t p = 0; p * 32 < n; ++p)
    for (int64_t gi = 0; gi < groups; ++gi) {
      uint8_t *group = out + (p * groups + gi) * gb;
      std::memset(group, 0, static_cast<size_t>(gb));
      for (int64_t j = 0; j < 32 && p * 32 + j < n; ++j) {
        int64_t c = p * 32 + j;
        uint16_t scale;
        uint8_t zero = 0;
        if (!quantizeIntGroup(bits, values + c * k + gi * g, g, codes, &scale,
                              bits == 4 ? &zero : nullptr)) {
          if (badRow)
            *badRow = c;
          return false;
        }
        std::memcpy(group + 2 * j, &scale, 2);
        if (bits == 4)
          group[64 + j] = zero;
        uint8_t *quads = group + intGroupHeader(bits);
        for (int64_t i = 0; i < g; ++i) {
          uint8_t *quad = quads + i / kIntQuad * qb;
          int64_t s = i % kIntQuad;
          if (bits == 8)
            quad[(j / 16) * 64 + 4 * (j % 16) + s] = codes[i];
          else
            quad[4 * (j % 16) + s] |= static_cast<uint8_t>(codes[i] << (j / 16 * 4));
        }
      }
    }
  return true;
}

/// The int8 quantization of one group of `g` activations (see the file
/// comment): the codes into `q`, their sum into `*sum`; returns the scale s.
/// A group that holds a value that is not finite gets s = NaN (and codes 0),
/// so the outputs it reaches are NaN, as with f32 activations.
inline float quantizeActivationGroup(const float *a, int64_t g, int8_t *q, int32_t *sum) {
  float amax = 0.0f;
  bool finite = true;
  for (int64_t i = 0; i < g; ++i) {
    finite &= std::isfinite(a[i]);
    float m = std::fabs(a[i]);
    amax = m > amax ? m : amax;
  }
  float s = finite ? amax / 127.0f : std::nanf("");
  int32_t total = 0;
  for (int64_t i = 0; i < g; ++i) {
    int c = 0;
    if (finite && s > 0.0f) {
      float r = std::nearbyint(a[i] / s);
      c = r < -127.0f ? -127 : r > 127.0f ? 127 : static_cast<int>(r);
    }
    q[i] = static_cast<int8_t>(c);
    total += c;
  }
  *sum = total;
  return s;
}

} // namespace moert

#endif // MOERT_INTQ_H
