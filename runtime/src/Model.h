//===- Model.h - a loaded, checked artifact ---------------------------------===//
//
// The loader (ArtifactFile.cpp: the file, header and checksums;
// TableChecker.cpp: the table; SyntheticWeights.cpp) checks the whole
// artifact once and converts its FlatBuffers table into the plain structures
// below, so nothing after loading reads the table or trusts an unchecked
// number. The file's bytes stay in one
// read-only mapping that the weights and code objects point into.
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_MODEL_H
#define MOERT_SRC_MODEL_H

#include "Status.h"
#include "moert/format.h"
#include "moert/moert.h"

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace moert::rt {

class LoadedCode;

/// per_token * T + fixed; the loader guarantees it does not overflow for
/// 1 <= T <= max_tokens.
struct Affine {
  int64_t perToken = 0;
  int64_t fixed = 0;
  int64_t at(int64_t tokens) const { return perToken * tokens + fixed; }
};

struct TensorSpec {
  std::string name;
  moert_dtype_t dtype = MOERT_F32;
  int32_t rank = 0;
  int64_t shape[MOERT_MAX_RANK] = {}; // -1 marks the token dimension
  int32_t tokenDim = -1;              // index of the -1, or -1 when none
  /// Bytes of the tensor at T tokens = bytes.at(T).
  Affine bytes;
  uint32_t buffer = 0;
};

struct BufferSpec {
  uint64_t offset = 0; // from the arena's start, a multiple of 64
  Affine bytes;
};

/// A command operand: an arena buffer of the function, or a weight.
struct Operand {
  bool isWeight = false;
  uint32_t index = 0;
};

enum class CommandKind : uint8_t { Launch, Gemm, GroupedGemm, Fill, Copy, Exchange, ExpertChoice };

const char *commandKindName(CommandKind kind);

struct CommandSpec {
  CommandKind kind = CommandKind::Fill;
  // Launch
  uint32_t kernel = 0;
  std::vector<Operand> args;
  Affine extent;
  int64_t grain = 0;
  // Launch over a rank's received rows: extent(T) limited by the i32 at
  // index limitIndex of buffer `limit`.
  bool hasLimit = false;
  Operand limit;
  int64_t limitIndex = 0;
  // Gemm, GroupedGemm
  Operand a, b, c, offsets;
  Affine rows;
  int64_t n = 0, k = 0, experts = 0;
  bool accumulate = false;
  bool bPanels = false;            // B is a weight in panels (Panels32)
  moert_dtype_t dtype = MOERT_F32; // of A and B
  moert_dtype_t cDtype = MOERT_F32; // of C: f32, or bf16 / f16 (not accumulated)
  bool int8Activations = false;    // an int8 / int4 GEMM's A quantized per group
  // GroupedGemm on the CUDA target: at T <= gemvMaxTokens, kernel gemvKernel
  // (buffers a, b, offsets, c; extent experts * n) instead of cuBLAS.
  int64_t gemvKernel = -1;
  int64_t gemvMaxTokens = 0;
  // Gemm and GroupedGemm of f8e4m3 weights on the CUDA target: the kernel
  // that writes one [n, k] matrix of B as bf16 for the vendor GEMM.
  int64_t dequantKernel = -1;
  // ... and on GPUs of compute capability 9.0, cuBLASLt's block-scaled fp8
  // GEMM after this kernel quantizes A (buffers a, the groups' offsets, the
  // session's e4m3 copy of A and its scales; extent rows(T)); -1: none.
  int64_t actQuantKernel = -1;
  // GroupedGemm of a rank's slots (expert parallelism): group g multiplies
  // by B's matrix map[g] of mapExperts.
  bool hasMap = false;
  Operand map;
  int64_t mapExperts = 0;
  // Fill, Copy, Exchange (src, dst; and its offsets, rows and experts above)
  Operand src, dst;
  // Exchange
  Operand slotOffsets, slotExperts, counts;
  int64_t rowBytes = 0, recvRows = 0, ranks = 0, slots = 0;
  bool back = false;
  // ExpertChoice (src: the scores, rows: tokens(T); offsets, experts and
  // ranks above)
  Operand rowWeight, rowToken;
  int64_t maxTokens = 0, maxRows = 0;
  double capacityFactor = 0;
  Affine bytes;
  uint32_t value = 0;
};

/// How a command uses an operand.
enum class Access : uint8_t { Read, Write, ReadWrite };

/// f(operand, access) for each operand of `c`, in the artifact's order
/// (docs/artifact.md, "Commands"): a launch's arguments (a kernel may read
/// and write each) and its limit (read), a GEMM's A and B (read) and C (written; read too when it
/// accumulates), a grouped GEMM's A, B and offsets (read) and C (written)
/// and its map (read), a fill's destination, a copy's source and
/// destination, an exchange's source and offsets (read), its slot offsets,
/// slot experts and counts (written forward, read back) and destination, an
/// expert choice's scores (read), row weights, row tokens and offsets
/// (written). The one place that
/// knows which operands each kind of command has.
template <typename F> void forEachOperand(const CommandSpec &c, F &&f) {
  switch (c.kind) {
  case CommandKind::Launch:
    for (const Operand &op : c.args)
      f(op, Access::ReadWrite);
    if (c.hasLimit)
      f(c.limit, Access::Read);
    return;
  case CommandKind::Gemm:
    f(c.a, Access::Read);
    f(c.b, Access::Read);
    f(c.c, c.accumulate ? Access::ReadWrite : Access::Write);
    return;
  case CommandKind::GroupedGemm:
    f(c.a, Access::Read);
    f(c.b, Access::Read);
    f(c.offsets, Access::Read);
    f(c.c, Access::Write);
    if (c.hasMap)
      f(c.map, Access::Read);
    return;
  case CommandKind::Fill:
    f(c.dst, Access::Write);
    return;
  case CommandKind::Copy:
    f(c.src, Access::Read);
    f(c.dst, Access::Write);
    return;
  case CommandKind::Exchange: {
    Access plan = c.back ? Access::Read : Access::Write;
    f(c.src, Access::Read);
    f(c.offsets, Access::Read);
    f(c.slotOffsets, plan);
    f(c.slotExperts, plan);
    f(c.counts, plan);
    f(c.dst, Access::Write);
    return;
  }
  case CommandKind::ExpertChoice:
    f(c.src, Access::Read);
    f(c.rowWeight, Access::Write);
    f(c.rowToken, Access::Write);
    f(c.offsets, Access::Write);
    return;
  }
}

struct FunctionSpec {
  std::string name;
  std::vector<TensorSpec> inputs, outputs, auxOutputs;
  std::vector<BufferSpec> buffers;
  std::vector<CommandSpec> commands;
  uint64_t arenaBytes = 0;
  /// The buffer of the run's parameters (router noise), or -1.
  int32_t runParams = -1;
};

struct WeightSpec {
  std::string name;
  moert_dtype_t dtype = MOERT_F32;
  std::vector<int64_t> shape;
  const uint8_t *data = nullptr; // inside the model's read-only mapping
  uint64_t offset = 0;           // in the blob section
  uint64_t bytes = 0;
  std::vector<uint64_t> checksums; // per chunk of layout() (moert/format.h)
  /// The experts whose bytes are checksummed apart (Weight.expert_slices),
  /// or 1: the blob is one slice.
  uint64_t slices = 1;
  /// A signed artifact: the chunks' BLAKE2b-256 hashes (kBlobHashBytes each,
  /// inside the signature section), checked with the checksums; else null.
  const uint8_t *hashes = nullptr;
  /// Generated at load time (WeightInit::RandomUniform) from `seed`; with
  /// seedSplit > 0 (Weight.seed_split), rows [seedSplit, n) of each [n, k]
  /// matrix from `seed2`, as a weight of their own.
  bool synthetic = false;
  uint64_t seed = 0, seed2 = 0;
  int64_t seedSplit = 0;
  /// A synthetic weight's value at (row, col) of [n, k] matrix m, before
  /// any rounding or quantization (moert/format.h's randomUniformWeight).
  float syntheticValue(uint64_t m, uint64_t row, uint64_t col, float bound) const {
    uint64_t n = static_cast<uint64_t>(shape[shape.size() - 2]);
    uint64_t k = static_cast<uint64_t>(shape.back());
    uint64_t split = static_cast<uint64_t>(seedSplit);
    if (split == 0)
      return randomUniformWeight(seed, (m * n + row) * k + col, bound);
    if (row < split)
      return randomUniformWeight(seed, (m * split + row) * k + col, bound);
    return randomUniformWeight(seed2, (m * (n - split) + row - split) * k + col, bound);
  }
  /// WeightLayout::Panels32 (f32, bf16, f16, f8e4m3, mxfp4, int8 or int4
  /// [..., n, k] in panels; moert/format.h).
  bool panels = false;
  /// An f8e4m3 weight: the index of its f32 block scales (moert/fp8.h);
  /// on that weight, scalesOf is the fp8 weight's index. -1: none.
  int64_t scales = -1, scalesOf = -1;
  /// An int8 / int4 weight: the values along k per scale (moert/intq.h).
  int64_t group = 0;
  /// Its bytes in checksum chunks, one slice per expert when `slices` > 1.
  ChunkLayout layout() const { return ChunkLayout{bytes, slices}; }
};

struct CodeObjectSpec {
  uint8_t format = 0; // moert::fb::CodeFormat
  std::string arch;
  const uint8_t *data = nullptr;
  uint64_t offset = 0; // in the blob section
  uint64_t bytes = 0;
  std::vector<uint64_t> checksums;
  const uint8_t *hashes = nullptr; // as WeightSpec::hashes
};

struct KernelSpec {
  std::string name;
  uint32_t codeObject = 0;
  uint32_t numArgs = 0;
  uint32_t lanes = 1; // CUDA threads per item (1, or 32 to 1024)
  /// Its bounds (docs/artifact.md, "Kernel bounds"): the largest extent a
  /// launch may have, the arguments it writes (bit i: argument i) and the
  /// bytes it may touch through each argument.
  int64_t maxExtent = 0;
  uint64_t writes = 0;
  std::vector<uint64_t> argBytes;
};

/// Which backend an artifact's code runs on.
enum ModelTarget { MOERT_TARGET_CPU = 0, MOERT_TARGET_CUDA = 1 };

/// When the blobs' checksums are checked (docs/artifact.md, "Verification").
enum class Verify : uint8_t {
  /// At load: every weight and code object, and the padding between them.
  Full,
  /// At load: the code objects; a weight before its first use.
  Lazy,
};

using PublicKey = std::array<uint8_t, 32>;

/// How an artifact is loaded (moert_load_options_t).
struct LoadPolicy {
  Verify verify = Verify::Full;
  /// Ed25519 public keys whose signatures are trusted (docs/artifact.md,
  /// "Signatures"); with any, a signed artifact must be signed by one.
  std::vector<PublicKey> trustedKeys;
  /// Refuse an artifact that is not signed by a trusted key.
  bool requireSignature = false;
  /// The most memory a model may make its sessions allocate (synthetic
  /// weights, a function's arena); 0: the machine's physical memory.
  uint64_t memoryBudget = 0;
};

class Model {
public:
  /// Loads from memory; the bytes are copied.
  static Status loadMemory(const void *data, size_t size,
                           const LoadPolicy &policy,
                           std::shared_ptr<const Model> *out);
  /// Loads the file at `path`, mapped read-only and shared.
  static Status loadFile(const char *path, const LoadPolicy &policy,
                         std::shared_ptr<const Model> *out);

  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;
  ~Model();

  int64_t maxTokens() const { return maxTokens_; }
  /// The header's format_version (moert/format.h).
  uint32_t formatVersion() const { return formatVersion_; }
  ModelTarget target() const { return target_; }
  const std::string &producer() const { return producer_; }
  const std::string &targetArch() const { return targetArch_; }
  const std::vector<FunctionSpec> &functions() const { return functions_; }
  const std::vector<KernelSpec> &kernels() const { return kernels_; }
  const std::vector<CodeObjectSpec> &codeObjects() const { return codeObjects_; }
  const std::vector<WeightSpec> &weights() const { return weights_; }

  /// Finds a function; a null name picks the only one.
  Status findFunction(const char *name, size_t *index) const;

  /// Checks the checksums of the weights `indices` not checked yet (in
  /// parallel); an error names the first corrupted one, and stays: a weight
  /// that failed fails every later call. Thread-safe.
  Status verifyWeights(const std::vector<uint32_t> &indices) const;
  /// The same for only the slices `experts` of each weight of `indices`
  /// whose bytes are in expert slices (WeightSpec::slices > 1; the others,
  /// and all with `whole`, are checked whole): a rank of a sharded artifact
  /// checks the experts it holds. Thread-safe.
  Status verifyWeightExperts(const std::vector<uint32_t> &indices,
                             const std::vector<int32_t> &experts, bool whole = false) const;
  /// The indices of the weights function `index` reads.
  const std::vector<uint32_t> &functionWeights(size_t index) const {
    return functionWeights_[index];
  }
  /// Drops the pages of [data, data + bytes) (inside a file-mapped artifact)
  /// from this process's resident memory; they stay in the page cache and
  /// are read again if touched. Nothing for an artifact loaded from memory.
  void releasePages(const uint8_t *data, uint64_t bytes) const;
  /// The size of the artifact in bytes.
  size_t fileBytes() const { return size_; }
  /// The header's checksum of the table (which holds every blob's
  /// checksums): what tells two artifacts apart.
  uint64_t tableChecksum() const;
  /// The signing key when the artifact is signed (and the signature was
  /// checked), else null.
  const PublicKey *signer() const { return signed_ ? &signer_ : nullptr; }

  /// The loaded form of code object `index`, shared by every session of this
  /// model that holds it; loaded on first use, unloaded when the last holder
  /// lets go. Thread-safe.
  Status acquireCode(uint32_t index, std::shared_ptr<LoadedCode> *out) const;

private:
  Model() = default;
  /// Takes ownership of a mapping of `mapSize` bytes holding `size` file bytes.
  Status adopt(uint8_t *map, size_t mapSize, size_t size,
               const LoadPolicy &policy);
  Status checkHeader();
  Status checkTable();
  Status generateSyntheticWeights();
  Status generateFp8(const WeightSpec &w, uint8_t *scales);
  Status generateMxfp4(const WeightSpec &w);
  Status generateInt(const WeightSpec &w);
  uint64_t memoryBudget() const;
  /// "the memory budget" or "this machine's memory", for messages.
  const char *memoryBudgetName() const;
  // Signature.cpp
  Status checkSignature();
  Status attachBlobHashes();
  // Verification.cpp
  Status verifyCodeObjects();
  Status checkPadding() const;

  uint8_t *map_ = nullptr;
  size_t mapSize_ = 0;
  size_t size_ = 0;
  uint64_t blobSize_ = 0, tableOffset_ = 0, tableSize_ = 0;
  uint64_t signatureOffset_ = 0, signatureSize_ = 0;
  LoadPolicy policy_;
  Verify verify_ = Verify::Full;
  bool signed_ = false;
  PublicKey signer_{};
  bool fileBacked_ = false;

  int64_t maxTokens_ = 0;
  uint32_t formatVersion_ = 0;
  ModelTarget target_ = MOERT_TARGET_CPU;
  std::string producer_, targetArch_;
  std::vector<FunctionSpec> functions_;
  std::vector<KernelSpec> kernels_;
  std::vector<CodeObjectSpec> codeObjects_;
  std::vector<WeightSpec> weights_;
  std::vector<std::vector<uint32_t>> functionWeights_;

  // Per weight: 0 not checked yet, 1 good, 2 corrupted (verifyMutex_).
  mutable std::mutex verifyMutex_;
  mutable std::vector<uint8_t> weightChecked_;
  // Per weight in expert slices: 1 for each expert checked (verifyMutex_).
  mutable std::map<uint32_t, std::vector<uint8_t>> sliceChecked_;

  mutable std::mutex codeMutex_;
  mutable std::vector<std::weak_ptr<LoadedCode>> codeCache_;
};

/// Expert parallelism: the weights that only the grouped GEMMs of a rank's
/// slots read (B of a GroupedGemm with a map, with an fp8 one's scales) in
/// function `function`, or in any function when it is SIZE_MAX; 1 for
/// those, 0 for every other weight.
std::vector<uint8_t> slotOnlyWeights(const Model &m, size_t function = SIZE_MAX);

} // namespace moert::rt

#endif // MOERT_SRC_MODEL_H
