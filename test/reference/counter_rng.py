"""moec's counter-based random values, from their definition (docs/import.md
"Upcycling", docs/compiler.md "Noisy top-k gating"), in NumPy: a function of
(seed, stream, index) alone.

  mix(z)           = splitmix64's finalizer of z + 0x9E3779B97F4A7C15 (mod 2^64)
  bits(s, t, i)    = mix(mix(mix(s) ^ t) ^ i)
  uniform(s, t, i) = ((bits >> 11) + 0.5) / 2^53
  normal(s, t, i)  = sqrt(-2 ln uniform(s, t, 2i)) * cos(2 pi uniform(s, t, 2i + 1))

Streams: a noisy router's is fnv1a32(function name) * 256 + its index in the
function (noise_stream); moe-upcycle's are layer << 32 | proj << 24 | expert
and layer << 32 | 3 << 24 (the router).
"""
import numpy as np


def mix(z):
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def bits(seed, stream, index):
    return mix(mix(mix(np.uint64(seed)) ^ np.uint64(stream)) ^ np.asarray(index, np.uint64))


def uniform(seed, stream, index):
    return ((bits(seed, stream, index) >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0 ** 53


def normal(seed, stream, index):
    index = np.asarray(index, np.uint64)
    u1 = uniform(seed, stream, np.uint64(2) * index)
    u2 = uniform(seed, stream, np.uint64(2) * index + np.uint64(1))
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def fnv1a32(text):
    h = 2166136261
    for c in text.encode():
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h


def noise_stream(function, index=0):
    """The stream of the index-th noisy router of function `function`."""
    return fnv1a32(function) * 256 + index
