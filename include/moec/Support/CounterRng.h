//===- CounterRng.h - a counter-based random number generator ---*- C++ -*-===//
//
// Random numbers that depend only on (seed, stream, index), never on the
// order in which they are drawn: the same values at any thread count or
// chunking. The definition (docs/import.md, "Upcycling") is what the NumPy
// reference reimplements:
//
//   mix(z)            = splitmix64's finalizer of z + 0x9E3779B97F4A7C15
//   bits(s, t, i)     = mix(mix(mix(s) ^ t) ^ i)                (64 bits)
//   uniform(s, t, i)  = ((bits >> 11) + 0.5) / 2^53             in (0, 1)
//   normal(s, t, i)   = sqrt(-2 ln uniform(s, t, 2i)) · cos(2π uniform(s, t, 2i + 1))
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_SUPPORT_COUNTERRNG_H
#define MOEC_SUPPORT_COUNTERRNG_H

#include <cmath>
#include <cstdint>

namespace moec {

inline uint64_t counterMix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline uint64_t counterBits(uint64_t seed, uint64_t stream, uint64_t index) {
  return counterMix(counterMix(counterMix(seed) ^ stream) ^ index);
}

/// Uniform in the open interval (0, 1), 53 bits.
inline double counterUniform(uint64_t seed, uint64_t stream, uint64_t index) {
  return (static_cast<double>(counterBits(seed, stream, index) >> 11) + 0.5) *
         (1.0 / 9007199254740992.0);
}

/// Standard normal (Box-Muller on draws 2·index and 2·index + 1).
inline double counterNormal(uint64_t seed, uint64_t stream, uint64_t index) {
  double u1 = counterUniform(seed, stream, 2 * index);
  double u2 = counterUniform(seed, stream, 2 * index + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

} // namespace moec

#endif // MOEC_SUPPORT_COUNTERRNG_H
