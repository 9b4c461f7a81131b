//===- Verification.cpp - the blobs' checksums -------------------------------===//
//
// Step 5 of docs/artifact.md, "What the loader checks": each weight and code
// object carries a checksum per kChecksumChunk bytes (moert/format.h). With
// Verify::Full every chunk is checked at load, in parallel, and the padding
// between blobs must be zero, so a flipped bit anywhere in the file is
// detected before a session exists. With Verify::Lazy the code objects are
// checked at load and each weight before its first use (a session's first
// run of a function that reads it, or a GPU session's upload), so loading
// reads only the header and the table.
//
//===----------------------------------------------------------------------===//
#include "Model.h"
#include "ThreadPool.h"

#include "moert/format.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <sodium.h>

namespace moert::rt {

namespace {

constexpr uint64_t kHeaderBytes = sizeof(FileHeader);

/// One chunk to check: bytes [begin, end) of a blob whose chunk checksum is
/// `expected`.
struct Chunk {
  const uint8_t *data;
  uint64_t bytes;
  uint64_t expected;
  size_t owner; // index into the caller's list of blobs
  uint64_t begin;
  const uint8_t *hash; // a signed artifact's BLAKE2b-256 of the chunk, or null
};

bool hashMatches(const Chunk &c) {
  if (!c.hash)
    return true;
  uint8_t h[kBlobHashBytes];
  crypto_generichash(h, sizeof h, c.data, c.bytes, nullptr, 0);
  return std::memcmp(h, c.hash, sizeof h) == 0;
}

/// Checks every chunk (on up to availableCpus() threads); returns the index
/// (into `chunks`) of the first bad chunk in order, or chunks.size().
size_t checkChunks(const std::vector<Chunk> &chunks) {
  std::vector<uint8_t> bad(chunks.size(), 0);
  auto one = [&](int64_t i) {
    const Chunk &c = chunks[static_cast<size_t>(i)];
    bad[static_cast<size_t>(i)] =
        checksum64(c.data, c.bytes) != c.expected || !hashMatches(c);
  };
  std::unique_ptr<ThreadPool> pool;
  int32_t threads = std::min<int64_t>(
      std::min<int32_t>(ThreadPool::availableCpus(), 16),
      static_cast<int64_t>(chunks.size()));
  if (threads > 1 && ThreadPool::create(threads, &pool).ok())
    pool->parallelFor(static_cast<int64_t>(chunks.size()), one);
  else
    for (size_t i = 0; i < chunks.size(); ++i)
      one(static_cast<int64_t>(i));
  return static_cast<size_t>(std::find(bad.begin(), bad.end(), 1) - bad.begin());
}

ChunkLayout layoutOf(const WeightSpec &w) { return w.layout(); }
ChunkLayout layoutOf(const CodeObjectSpec &c) { return ChunkLayout{c.bytes, 1}; }

/// Chunks [first, end) of a blob (all of them by default).
template <class Spec>
void addChunks(const Spec &spec, size_t owner, std::vector<Chunk> *out, uint64_t first = 0,
               uint64_t end = UINT64_MAX) {
  ChunkLayout layout = layoutOf(spec);
  for (uint64_t i = first; i < std::min<uint64_t>(end, spec.checksums.size()); ++i) {
    uint64_t begin = layout.begin(i);
    out->push_back({spec.data + begin, layout.size(i), spec.checksums[i], owner, begin,
                    spec.hashes ? spec.hashes + i * kBlobHashBytes : nullptr});
  }
}

Status corrupted(const std::string &what, const Chunk &c) {
  return error(MOERT_INVALID_ARTIFACT, what,
               c.hash ? ": checksum or signed hash mismatch in its bytes ["
                      : ": checksum mismatch in its bytes [",
               c.begin, ", ", c.begin + c.bytes,
               "): the artifact is corrupted (or was changed after it was ",
               c.hash ? "signed)" : "written)");
}

} // namespace

Status Model::verifyCodeObjects() {
  std::vector<Chunk> chunks;
  for (size_t i = 0; i < codeObjects_.size(); ++i)
    addChunks(codeObjects_[i], i, &chunks);
  size_t bad = checkChunks(chunks);
  if (bad == chunks.size())
    return Status();
  return corrupted("code object " + std::to_string(chunks[bad].owner), chunks[bad]);
}

Status Model::verifyWeights(const std::vector<uint32_t> &indices) const {
  return verifyWeightExperts(indices, {}, /*whole=*/true);
}

Status Model::verifyWeightExperts(const std::vector<uint32_t> &indices,
                                  const std::vector<int32_t> &experts, bool whole) const {
  std::lock_guard<std::mutex> lock(verifyMutex_);
  std::vector<Chunk> chunks;
  std::vector<uint32_t> checking;                    // whole weights
  std::vector<std::pair<uint32_t, uint64_t>> slices; // (weight, expert)
  for (uint32_t w : indices) {
    if (w >= weights_.size())
      return error(MOERT_INTERNAL, "weight ", w, " does not exist");
    if (weightChecked_[w] == 2)
      return error(MOERT_INVALID_ARTIFACT, "weight ", w, " ('", weights_[w].name,
                   "') failed its checksum earlier: the artifact is corrupted");
    if (weightChecked_[w] != 0)
      continue;
    const WeightSpec &spec = weights_[w];
    if (whole || spec.slices <= 1) {
      checking.push_back(w);
      addChunks(spec, w, &chunks);
      continue;
    }
    // Only the experts asked for: each slice's chunks.
    std::vector<uint8_t> &done = sliceChecked_[w];
    done.resize(spec.slices, 0);
    uint64_t per = spec.layout().perSlice();
    for (int32_t e : experts)
      if (e >= 0 && static_cast<uint64_t>(e) < spec.slices && !done[static_cast<size_t>(e)]) {
        slices.push_back({w, static_cast<uint64_t>(e)});
        addChunks(spec, w, &chunks, e * per, (e + 1) * per);
      }
  }
  size_t bad = checkChunks(chunks);
  if (bad == chunks.size()) {
    for (uint32_t w : checking)
      weightChecked_[w] = 1;
    for (auto [w, e] : slices)
      sliceChecked_[w][static_cast<size_t>(e)] = 1;
    return Status();
  }
  size_t w = chunks[bad].owner;
  weightChecked_[w] = 2;
  return corrupted("weight " + std::to_string(w) + " ('" + weights_[w].name + "')",
                   chunks[bad]);
}

Status Model::checkPadding() const {
  // Every byte of the blob section that no weight or code object holds, and
  // the bytes between the blob section and the table, must be zero.
  std::vector<std::pair<uint64_t, uint64_t>> used; // [begin, end) in the blobs
  for (const WeightSpec &w : weights_)
    if (!w.synthetic && w.bytes)
      used.push_back({w.offset, w.offset + w.bytes});
  for (const CodeObjectSpec &c : codeObjects_)
    if (c.bytes)
      used.push_back({c.offset, c.offset + c.bytes});
  used.push_back({tableOffset_ - kHeaderBytes, tableOffset_ - kHeaderBytes});
  std::sort(used.begin(), used.end());
  const uint8_t *blob = map_ + kHeaderBytes;
  uint64_t at = 0;
  for (const auto &[begin, end] : used) {
    for (uint64_t i = at; i < begin; ++i)
      if (blob[i] != 0)
        return error(MOERT_INVALID_ARTIFACT, "byte ", kHeaderBytes + i,
                     " lies between blobs and is not zero: the artifact is "
                     "corrupted");
    at = std::max(at, end);
  }
  return Status();
}

} // namespace moert::rt
