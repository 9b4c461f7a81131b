//===- TestArtifact.h - building .moeb files for the runtime tests ---------===//
//
// Writes valid artifacts (header, aligned blobs, table, checksums: the layout
// of runtime/include/moert/format.h and docs/artifact.md) for hand-made
// programs, through the FlatBuffers object API, so a test can also break any
// one field on purpose and still produce a file whose checksums match.
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_TEST_TESTARTIFACT_H
#define MOERT_TEST_TESTARTIFACT_H

#include "moert/format.h"
#include "moert/moeb_generated.h"

#include <cstdint>
#include <string>
#include <vector>

namespace moert::test {

using Bytes = std::vector<uint8_t>;

Bytes readBinaryFile(const std::string &path);
bool writeBinaryFile(const std::string &path, const Bytes &bytes);

/// The bytes of the test kernels' shared object (test_kernels.c).
const Bytes &testKernelsObject();

inline fb::Ref buf(uint32_t index) { return fb::Ref(fb::RefKind::Buffer, index); }
inline fb::Ref wt(uint32_t index) { return fb::Ref(fb::RefKind::Weight, index); }
inline fb::Affine aff(int64_t perToken, int64_t fixed) { return fb::Affine(perToken, fixed); }

/// Recomputes the table's and the header's checksums of a file from its
/// header's table_offset and table_size (after a test changed the header or
/// the table on purpose; a blob's checksums live in the table).
void rehash(Bytes &file);

/// Signs a built artifact with an Ed25519 secret key (libsodium's 64 bytes),
/// as moe-compile --sign does: the BLAKE2b-256 of every checksum chunk of the
/// code objects and then the weights in the blob section, the signature over
/// header, table and hashes; a signature section already there is replaced.
void sign(Bytes &file, const uint8_t *secretKey);

/// The header of a file (a copy).
FileHeader header(const Bytes &file);
void setHeader(Bytes &file, const FileHeader &h);

class FunctionBuilder;

class ArtifactBuilder {
public:
  explicit ArtifactBuilder(int64_t maxTokens = 16);

  fb::ModelT model; // edit freely before build()

  uint32_t addWeight(const std::string &name, fb::DType dtype,
                     std::vector<int64_t> shape, const void *data, size_t bytes);
  uint32_t addWeightF32(const std::string &name, std::vector<int64_t> shape,
                        const std::vector<float> &values);
  /// An f32 weight [..., n, k] stored in panels (WeightLayout::Panels32,
  /// moert::packPanels per [n, k] matrix) from its row-major `values`.
  uint32_t addWeightPanels(const std::string &name, std::vector<int64_t> shape,
                           const std::vector<float> &values);
  uint32_t addWeightI32(const std::string &name, std::vector<int64_t> shape,
                        const std::vector<int32_t> &values);
  uint32_t addCodeObject(Bytes bytes, fb::CodeFormat format = fb::CodeFormat::HostSharedObject);
  uint32_t addKernel(const std::string &name, uint32_t codeObject, uint32_t numArgs);
  /// A kernel of test_kernels.c (its code object is added once).
  uint32_t testKernel(const std::string &name, uint32_t numArgs);
  /// The kernel's bounds (docs/artifact.md, "Kernel bounds"); addKernel's
  /// defaults accept any launch.
  void setKernelBounds(uint32_t kernel, int64_t maxExtent, uint64_t writes,
                       std::vector<uint64_t> argBytes);
  FunctionBuilder function(const std::string &name);

  struct Options {
    uint32_t formatVersion = kFormatVersion;
    /// Keep the weights' and code objects' offset/bytes fields as they are
    /// (to test bad ones); otherwise build() sets them from the layout.
    bool keepOffsets = false;
  };
  Bytes build() { return build(Options()); }
  Bytes build(const Options &options);

private:
  std::vector<Bytes> weightData_, codeData_;
  int64_t testCode_ = -1;
};

/// Adds buffers, tensors and commands to one function of a model.
class FunctionBuilder {
public:
  FunctionBuilder(fb::ModelT &model, fb::FunctionT &function)
      : model_(model), f(function) {}

  /// A buffer of bytes(T) = perToken * T + fixed at the next free 64-byte
  /// aligned offset; grows arena_bytes to hold it at max_tokens.
  uint32_t buffer(int64_t perToken, int64_t fixed);
  /// A buffer at a given offset (arena_bytes grows to hold it).
  uint32_t bufferAt(uint64_t offset, int64_t perToken, int64_t fixed);

  void input(const std::string &name, fb::DType dtype, std::vector<int64_t> shape,
             uint32_t buffer);
  void output(const std::string &name, fb::DType dtype, std::vector<int64_t> shape,
              uint32_t buffer);
  void auxOutput(const std::string &name, fb::DType dtype,
                 std::vector<int64_t> shape, uint32_t buffer);

  void launch(uint32_t kernel, std::vector<fb::Ref> args, fb::Affine extent,
              int64_t grain);
  void gemm(fb::Ref a, fb::Ref b, fb::Ref c, fb::Affine rows, int64_t n,
            int64_t k, bool accumulate = false);
  void groupedGemm(fb::Ref a, fb::Ref b, fb::Ref c, fb::Ref offsets,
                   fb::Affine rows, int64_t experts, int64_t n, int64_t k);
  /// A grouped GEMM over a rank's slots: group g multiplies by B's matrix
  /// map[g] (map: i32 [experts]).
  void groupedGemmMapped(fb::Ref a, fb::Ref b, fb::Ref c, fb::Ref offsets, fb::Ref map,
                         fb::Affine rows, int64_t experts, int64_t n, int64_t k);
  /// An Exchange command (expert parallelism).
  struct Exchange {
    fb::Ref src, offsets, slotOffsets, slotExperts, counts, dst;
    fb::Affine rows;
    int64_t rowBytes = 0, recvRows = 0, ranks = 0, slots = 0, experts = 0;
    bool back = false;
  };
  void exchange(const Exchange &x);
  void fill(fb::Ref dst, fb::Affine bytes, uint32_t value);
  void copy(fb::Ref src, fb::Ref dst, fb::Affine bytes);

private:
  fb::ModelT &model_;

public:
  fb::FunctionT &f;
};

} // namespace moert::test

#endif // MOERT_TEST_TESTARTIFACT_H
