/*===- moert/format.h - the .moeb file layout around the table ----------===*
 *
 * Shared by the compiler (which writes artifacts) and the runtime (which
 * reads them); plain C++17, no dependency. A .moeb file is:
 *
 *   [0, 128)                FileHeader (little-endian)
 *   [128, 128 + table_size) the FlatBuffers table (runtime/schema/moeb.fbs)
 *   [blob_offset, file_size) weights and code objects, each 64-byte aligned
 *                            (blob_offset = alignUp(128 + table_size))
 *
 * and nothing else. Three checksums cover every byte: header_checksum covers
 * header bytes [0, 120); table_checksum the table; blob_checksum every byte
 * from the table's end to the end of the file (the padding before and between
 * blobs included), so a flipped bit anywhere is detected at load.
 *===---------------------------------------------------------------------===*/
#ifndef MOERT_FORMAT_H
#define MOERT_FORMAT_H

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace moert {

constexpr char kMagic[8] = {'M', 'O', 'E', 'B', 'A', 'R', 'T', '\0'};
/// Incremented on every incompatible change of the header or the schema.
constexpr uint32_t kFormatVersion = 2; // 2: Weight.layout (panels)
constexpr uint64_t kAlignment = 64;

struct FileHeader {
  char magic[8];
  uint32_t format_version;
  uint32_t header_size;     // sizeof(FileHeader) == 128
  uint64_t file_size;
  uint64_t table_offset;    // == 128
  uint64_t table_size;
  uint64_t blob_offset;     // alignUp(table_offset + table_size)
  uint64_t blob_size;       // file_size - blob_offset
  uint64_t table_checksum;  // checksum64 of the table's bytes
  uint64_t blob_checksum;   // checksum64 of [table_offset + table_size, file_size)
  uint64_t reserved[6];     // zero
  uint64_t header_checksum; // checksum64 of bytes [0, 120) of this header
};
static_assert(sizeof(FileHeader) == 128, "the header is 128 bytes");

/// The checksum of every section: a 64-bit hash over the bytes, processed as
/// little-endian 64-bit words (the tail zero-padded), in 4 lanes. Not
/// cryptographic; it detects corruption (any flipped bit changes it).
inline uint64_t checksum64(const void *data, size_t size, uint64_t seed = 0) {
  constexpr uint64_t P1 = 0x9E3779B185EBCA87ull, P2 = 0xC2B2AE3D27D4EB4Full,
                     P3 = 0x165667B19E3779F9ull, P4 = 0x85EBCA77C2B2AE63ull;
  auto rotl = [](uint64_t x, int r) { return (x << r) | (x >> (64 - r)); };
  auto round = [&](uint64_t acc, uint64_t input) {
    acc += input * P2;
    acc = rotl(acc, 31);
    return acc * P1;
  };
  const unsigned char *p = static_cast<const unsigned char *>(data);
  uint64_t v[4] = {seed + P1 + P2, seed + P2, seed, seed - P1};
  size_t i = 0;
  for (; i + 32 <= size; i += 32)
    for (int lane = 0; lane < 4; ++lane) {
      uint64_t w;
      std::memcpy(&w, p + i + 8 * lane, 8);
      v[lane] = round(v[lane], w);
    }
  uint64_t h = rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18);
  h ^= static_cast<uint64_t>(size) * P3;
  for (; i < size; i += 8) {
    uint64_t w = 0;
    std::memcpy(&w, p + i, size - i < 8 ? size - i : 8);
    h ^= round(0, w);
    h = rotl(h, 27) * P1 + P4;
  }
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

/// Round `v` up to a multiple of kAlignment.
constexpr uint64_t alignUp(uint64_t v) {
  return (v + kAlignment - 1) / kAlignment * kAlignment;
}

/// SplitMix64's output function: a bijective 64-bit mix.
constexpr uint64_t splitmix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// The bound of a synthetic weight whose last dimension is K: 1/sqrt(K) in
/// f32 (nn.Linear's default initialization range for K inputs).
inline float randomUniformBound(int64_t lastDim) {
  return 1.0f / std::sqrt(static_cast<float>(lastDim > 0 ? lastDim : 1));
}

/// Element i (row-major) of a synthetic weight (WeightInit::RandomUniform)
/// with `seed`: u = top 24 bits of splitmix64(seed * 0x9E3779B97F4A7C15 + i)
/// as a fraction in [0, 1), value = f32(2u - 1) * bound (one f32 rounding).
/// Counter-based, so any range of elements can be generated independently.
inline float randomUniformWeight(uint64_t seed, uint64_t i, float bound) {
  uint64_t h = splitmix64(seed * 0x9E3779B97F4A7C15ull + i);
  float u = static_cast<float>(h >> 40) * (1.0f / 16777216.0f);
  return (2.0f * u - 1.0f) * bound;
}

/// The width of a weight panel (WeightLayout::Panels32): the CPU GEMM's B
/// operand, pre-packed by the compiler. A matrix B [N, K] (row n = output n)
/// is stored as ceil(N / 32) panels; panel p holds, for each step of `depth`
/// values of k, the 32 columns' values B[32p + j, k..k+depth) (j < 32)
/// contiguously, with zeros for rows 32p + j >= N and for k >= K. depth is 1
/// for f32 and 2 for bf16 (the pairs AVX512_BF16's vdpbf16ps multiplies). A
/// weight [..., N, K] stores each of its Π(leading dims) matrices that way,
/// one after the other.
constexpr int64_t kPanelWidth = 32;

/// The depth of a panel of elements of `elementBytes` (4: f32, 2: bf16).
constexpr int64_t panelDepth(int64_t elementBytes) { return elementBytes == 2 ? 2 : 1; }

/// Elements of one [N, K] matrix stored in panels (N rounded up to 32, K to
/// the depth).
constexpr uint64_t panelElements(int64_t n, int64_t k, int64_t depth = 1) {
  return static_cast<uint64_t>((n + kPanelWidth - 1) / kPanelWidth) *
         static_cast<uint64_t>(kPanelWidth) *
         static_cast<uint64_t>((k + depth - 1) / depth * depth);
}

/// Where element (n, k) of an [N, K] matrix lies in its panels.
constexpr uint64_t panelIndex(int64_t n, int64_t k, int64_t K, int64_t depth = 1) {
  return (static_cast<uint64_t>(n / kPanelWidth) *
              static_cast<uint64_t>((K + depth - 1) / depth) +
          static_cast<uint64_t>(k / depth)) *
             static_cast<uint64_t>(kPanelWidth * depth) +
         static_cast<uint64_t>(n % kPanelWidth * depth + k % depth);
}

/// Packs row-major `rows` [N, K] into panels `out` (panelElements(N, K,
/// depth) elements; the padding is zero). T is float or a 16-bit pattern.
template <class T>
void packPanels(const T *rows, int64_t n, int64_t k, T *out, int64_t depth = 1) {
  std::memset(out, 0, panelElements(n, k, depth) * sizeof(T));
  int64_t steps = (k + depth - 1) / depth, step = kPanelWidth * depth;
  constexpr int64_t kStep = 64; // 64 values of k at a time, for each row
  for (int64_t p = 0; p * kPanelWidth < n; ++p) {
    int64_t width = n - p * kPanelWidth < kPanelWidth ? n - p * kPanelWidth : kPanelWidth;
    T *panel = out + static_cast<uint64_t>(p) * static_cast<uint64_t>(steps * step);
    for (int64_t c0 = 0; c0 < k; c0 += kStep) {
      int64_t c1 = c0 + kStep < k ? c0 + kStep : k;
      for (int64_t j = 0; j < width; ++j) {
        const T *row = rows + (p * kPanelWidth + j) * k;
        for (int64_t c = c0; c < c1; ++c)
          panel[c / depth * step + j * depth + c % depth] = row[c];
      }
    }
  }
}

} // namespace moert

#endif // MOERT_FORMAT_H
