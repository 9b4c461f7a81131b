/*===- moert/format.h - the .moeb file layout around the table ----------===*
 *
 * Shared by the compiler (which writes artifacts) and the runtime (which
 * reads them); plain C++17, no dependency. A .moeb file is:
 *
 *   [0, 128)                  FileHeader (little-endian)
 *   [128, 128 + blob_size)    the blob section: weights and code objects, each
 *                             64-byte aligned, zeros between and after them
 *                             (blob_size is a multiple of 64)
 *   [table_offset, +table_size) the FlatBuffers table (runtime/schema/moeb.fbs),
 *                             table_offset = 128 + blob_size
 *   [signature_offset, file_size) a signed artifact's signature section
 *                             (SignatureHead, then one kBlobHashBytes hash
 *                             per checksum chunk), right after the table;
 *                             absent (signature_offset = signature_size = 0,
 *                             table_offset + table_size = file_size) when
 *                             the artifact is not signed
 *
 * and nothing else. The table comes last so that a compiler can stream the
 * blobs to the file as it packs them and write the table when it knows it.
 * header_checksum covers header bytes [0, 120) and table_checksum the table;
 * each weight and code object carries its own checksums, one per
 * kChecksumChunk bytes (Weight.checksums, CodeObject.checksums), so that a
 * loader can verify them in parallel, or lazily when a weight is first used,
 * without reading the whole file up front (docs/artifact.md, "Verification").
 *===---------------------------------------------------------------------===*/
#ifndef MOERT_FORMAT_H
#define MOERT_FORMAT_H

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace moert {

constexpr char kMagic[8] = {'M', 'O', 'E', 'B', 'A', 'R', 'T', '\0'};
/// Incremented on every incompatible change of the header or the schema.
/// 2: Weight.layout (panels). 3: the table after the blobs, per-chunk
/// checksums of each weight and code object instead of one blob checksum.
/// 4: kernel bounds (Kernel.max_extent, writes, arg_bytes) and the optional
/// signature section. 5: Function.run_params (noisy routers' parameters,
/// which a runtime must write before each run); a writer writes 5 only for
/// an artifact that has them, 4 otherwise, so that a runtime that reads 4
/// only reads every other artifact and refuses these. 6: Gemm.c_dtype and
/// GroupedGemm.c_dtype (a GEMM that writes a 16-bit C), written only where
/// one does. 7: the CUDA kernel ABI's run word (a cuda artifact's kernels
/// take the fault word, the run word holding T, per_token and fixed, where
/// 6's took the fault word, T and extent); every cuda artifact is 7. 8:
/// Weight.seed_split and seed2 (a synthetic weight stacked from two), written
/// only where a weight has them. 9: (Grouped)Gemm.act_quant_kernel (cuBLASLt's
/// block-scaled fp8 engine), written only where a GEMM has one.
constexpr uint32_t kFormatVersion = 9;
/// The oldest format version this runtime reads.
constexpr uint32_t kMinFormatVersion = 4;
/// The version an artifact with Function.run_params needs (a writer writes
/// the largest that the features it uses need).
constexpr uint32_t kRunParamsFormatVersion = 5;
/// The version an artifact with a (Grouped)Gemm.c_dtype other than F32 needs.
constexpr uint32_t kGemm16FormatVersion = 6;
/// The version of a cuda artifact whose kernels read T from the run word
/// (docs/artifact.md, "CUDA kernel ABI"); older cuda artifacts' kernels take
/// T and extent(T) as parameters.
constexpr uint32_t kRunWordFormatVersion = 7;
/// The version an artifact with a synthetic weight stacked from two
/// (Weight.seed_split) needs.
constexpr uint32_t kSeedSplitFormatVersion = 8;
/// The version an artifact with a (Grouped)Gemm.act_quant_kernel needs.
constexpr uint32_t kActQuantFormatVersion = 9;
constexpr uint64_t kAlignment = 64;

/// Expert-choice routing's capacity (moe.expert_choice): each of `experts`
/// experts takes C = min(T, ceil(capacity_factor · T / experts)) of T
/// tokens, in double as the expert_choice kernel and the runtime compute it.
inline int64_t expertChoiceCapacity(double capacityFactor, int64_t tokens, int64_t experts) {
  double c = std::ceil(capacityFactor * static_cast<double>(tokens) /
                       static_cast<double>(experts));
  return c >= static_cast<double>(tokens) ? tokens : static_cast<int64_t>(c);
}

/// The most rows one of `ranks` ranks (at most `maxTokens` tokens each) can
/// keep of an expert choice over all of them (exec.expert_choice's bound):
/// experts · min(C at ranks · maxTokens tokens, maxTokens).
inline int64_t expertChoiceMaxRows(double capacityFactor, int64_t maxTokens, int64_t experts,
                                   int64_t ranks) {
  int64_t c = expertChoiceCapacity(capacityFactor, ranks * maxTokens, experts);
  return experts * (c < maxTokens ? c : maxTokens);
}
/// A weight's or code object's bytes are checksummed in chunks of this many
/// bytes (the last may be shorter): chunk i covers [i * kChecksumChunk,
/// min(bytes, (i + 1) * kChecksumChunk)).
constexpr uint64_t kChecksumChunk = uint64_t(1) << 24;

struct FileHeader {
  char magic[8];
  uint32_t format_version;
  uint32_t header_size;     // sizeof(FileHeader) == 128
  uint64_t file_size;
  uint64_t table_offset;    // blob_offset + blob_size
  uint64_t table_size;      // (signature_offset or file_size) - table_offset
  uint64_t blob_offset;     // == 128
  uint64_t blob_size;       // a multiple of 64
  uint64_t table_checksum;  // checksum64 of the table's bytes
  uint64_t signature_offset; // table_offset + table_size, or 0: unsigned
  uint64_t signature_size;   // file_size - signature_offset, or 0
  uint64_t reserved[5];     // zero
  uint64_t header_checksum; // checksum64 of bytes [0, 120) of this header
};
static_assert(sizeof(FileHeader) == 128, "the header is 128 bytes");

/// A signed artifact (docs/artifact.md, "Signatures"): the signature section
/// is a SignatureHead followed by hash_count hashes of kBlobHashBytes: the
/// BLAKE2b-256 of every checksum chunk of every code object (in table
/// order), then of every weight stored in the blob section (in table order).
/// `signature` is the Ed25519 signature by `public_key` of the BLAKE2b-512
/// hash of kSignatureContext, the header's 128 bytes, the table's bytes and
/// the hash list, in this order.
constexpr char kSignatureMagic[8] = {'M', 'O', 'E', 'S', 'I', 'G', '0', '1'};
constexpr char kSignatureContext[] = "moec artifact signature, format 4";
constexpr size_t kBlobHashBytes = 32;
struct SignatureHead {
  char magic[8];
  uint8_t public_key[32];
  uint8_t signature[64];
  uint64_t hash_count;
};
static_assert(sizeof(SignatureHead) == 112, "the signature head is 112 bytes");

/// Calls f(data, bytes) with the pieces a signature's digest covers, in
/// order: kSignatureContext (without its NUL), the header, the table and
/// the hash list.
template <typename F>
void forEachSignedPiece(const FileHeader &header, const void *table,
                        uint64_t tableBytes, const void *hashes,
                        uint64_t hashBytes, F &&f) {
  f(static_cast<const void *>(kSignatureContext), uint64_t(sizeof kSignatureContext - 1));
  f(static_cast<const void *>(&header), uint64_t(sizeof header));
  f(table, tableBytes);
  f(hashes, hashBytes);
}

/// The checksum of the header, the table and each chunk of a blob: a 64-bit
/// hash over the bytes, processed as little-endian 64-bit words (the tail
/// zero-padded), in 4 lanes. Not cryptographic; it detects corruption (any
/// flipped bit changes it). Checksum64 computes it over bytes given in pieces
/// (the same value as over their concatenation).
class Checksum64 {
public:
  explicit Checksum64(uint64_t seed = 0)
      : v_{seed + P1 + P2, seed + P2, seed, seed - P1} {}

  void update(const void *data, size_t size) {
    const unsigned char *p = static_cast<const unsigned char *>(data);
    size_ += size;
    if (held_) { // complete the held block first
      size_t take = size < 32 - held_ ? size : 32 - held_;
      std::memcpy(block_ + held_, p, take);
      held_ += take;
      p += take;
      size -= take;
      if (held_ < 32)
        return;
      consume(block_);
      held_ = 0;
    }
    for (; size >= 32; p += 32, size -= 32)
      consume(p);
    std::memcpy(block_, p, size);
    held_ = size;
  }

  uint64_t finish() const {
    uint64_t h = rotl(v_[0], 1) + rotl(v_[1], 7) + rotl(v_[2], 12) + rotl(v_[3], 18);
    h ^= static_cast<uint64_t>(size_) * P3;
    for (size_t i = 0; i < held_; i += 8) {
      uint64_t w = 0;
      std::memcpy(&w, block_ + i, held_ - i < 8 ? held_ - i : 8);
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

private:
  static constexpr uint64_t P1 = 0x9E3779B185EBCA87ull, P2 = 0xC2B2AE3D27D4EB4Full,
                            P3 = 0x165667B19E3779F9ull, P4 = 0x85EBCA77C2B2AE63ull;
  static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
  static uint64_t round(uint64_t acc, uint64_t input) {
    acc += input * P2;
    acc = rotl(acc, 31);
    return acc * P1;
  }
  void consume(const unsigned char *p) {
    for (int lane = 0; lane < 4; ++lane) {
      uint64_t w;
      std::memcpy(&w, p + 8 * lane, 8);
      v_[lane] = round(v_[lane], w);
    }
  }

  uint64_t v_[4];
  unsigned char block_[32] = {};
  size_t held_ = 0;
  uint64_t size_ = 0;
};

inline uint64_t checksum64(const void *data, size_t size, uint64_t seed = 0) {
  Checksum64 c(seed);
  c.update(data, size);
  return c.finish();
}

/// The number of checksum chunks of a blob of `bytes` bytes.
constexpr uint64_t checksumChunks(uint64_t bytes) {
  return bytes / kChecksumChunk + (bytes % kChecksumChunk != 0);
}

/// Where the checksum chunks of a blob of `bytes` bytes lie when it is made
/// of `slices` equal slices (an expert's weights each: Weight.expert_slices;
/// 0 or 1: one slice): each slice in chunks of kChecksumChunk bytes, the
/// last of each shorter, so that no chunk spans two slices and one expert's
/// bytes can be checked alone. With one slice, chunk i covers
/// [i * kChecksumChunk, min(bytes, (i + 1) * kChecksumChunk)).
struct ChunkLayout {
  uint64_t bytes = 0;
  uint64_t slices = 1;

  uint64_t sliceBytes() const { return slices > 1 ? bytes / slices : bytes; }
  uint64_t perSlice() const { return checksumChunks(sliceBytes()); }
  uint64_t count() const { return (slices > 1 ? slices : 1) * perSlice(); }
  /// Chunk i's first byte and its size (i < count()).
  uint64_t begin(uint64_t i) const {
    return i / perSlice() * sliceBytes() + i % perSlice() * kChecksumChunk;
  }
  uint64_t size(uint64_t i) const {
    uint64_t in = i % perSlice() * kChecksumChunk;
    return sliceBytes() - in < kChecksumChunk ? sliceBytes() - in : kChecksumChunk;
  }
};

/// The chunk checksums of a blob whose bytes are given in pieces, in order.
class ChunkChecksums {
public:
  void update(const void *data, size_t size) {
    const unsigned char *p = static_cast<const unsigned char *>(data);
    while (size) {
      uint64_t room = kChecksumChunk - inChunk_;
      size_t take = size < room ? size : static_cast<size_t>(room);
      current_.update(p, take);
      inChunk_ += take;
      p += take;
      size -= take;
      if (inChunk_ == kChecksumChunk)
        flush();
    }
  }
  /// The checksums (checksumChunks(total bytes) of them); resets.
  template <class Vector> void finish(Vector &out) {
    if (inChunk_)
      flush();
    out.assign(done_.begin(), done_.end());
    done_.clear();
  }

private:
  void flush() {
    done_.push_back(current_.finish());
    current_ = Checksum64();
    inChunk_ = 0;
  }
  Checksum64 current_;
  uint64_t inChunk_ = 0;
  std::vector<uint64_t> done_;
};

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
/// contiguously, with zeros for rows 32p + j >= N and for k >= K. depth is 2
/// for bf16 (the pairs AVX512_BF16's vdpbf16ps multiplies) and 1 for every
/// other type (f32, f16, fp8). A weight [..., N, K] stores each of its
/// Π(leading dims) matrices that way, one after the other.
constexpr int64_t kPanelWidth = 32;

/// The depth of a panel: 2 for bf16 values, 1 for the others.
constexpr int64_t panelDepthFor(bool bf16) { return bf16 ? 2 : 1; }

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
  if (panelElements(n, k, depth) == 0) // n or k is 0: nothing (and `out` may be null)
    return;
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

/// Signing keys as text files (docs/artifact.md, "Signatures"): one line,
/// "<label> <hex bytes>", label kPublicKeyLabel (32 bytes) or
/// kSecretKeyLabel (64 bytes: libsodium's Ed25519 secret key, the seed then
/// the public key).
constexpr char kPublicKeyLabel[] = "moec-ed25519-public-key";
constexpr char kSecretKeyLabel[] = "moec-ed25519-secret-key";

inline std::string formatKeyText(const char *label, const uint8_t *key,
                                 size_t bytes) {
  static const char hex[] = "0123456789abcdef";
  std::string text = std::string(label) + " ";
  for (size_t i = 0; i < bytes; ++i) {
    text += hex[key[i] >> 4];
    text += hex[key[i] & 15];
  }
  return text + "\n";
}

/// Parses formatKeyText's output (surrounding whitespace allowed) into
/// `bytes` bytes at `key`; false with `*why` when it is not such a key.
inline bool parseKeyText(const std::string &text, const char *label,
                         uint8_t *key, size_t bytes, std::string *why) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  size_t end = text.find_last_not_of(" \t\r\n");
  std::string line = begin == std::string::npos
                         ? std::string()
                         : text.substr(begin, end - begin + 1);
  std::string prefix = std::string(label) + " ";
  if (line.compare(0, prefix.size(), prefix) != 0) {
    *why = std::string("not a key file: expected a line '") + label +
           " <hex>'";
    return false;
  }
  std::string digits = line.substr(prefix.size());
  if (digits.size() != 2 * bytes) {
    *why = "the key has " + std::to_string(digits.size()) +
           " hex digits, expected " + std::to_string(2 * bytes);
    return false;
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < bytes; ++i) {
    int hi = nibble(digits[2 * i]), lo = nibble(digits[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      *why = "the key has a character that is not a hex digit";
      return false;
    }
    key[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

} // namespace moert

#endif // MOERT_FORMAT_H
