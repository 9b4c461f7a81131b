//===- ExportArtifact.cpp - exec plans → .moeb ----------------------------===//
//
// Writes docs/artifact.md's layout: a 128-byte header, the blob section
// (code objects and weights, 64-byte aligned), then the FlatBuffers table,
// with the header's and table's checksums and each blob's chunk checksums.
// Weights are read from the safetensors checkpoints the exec.weight ops name,
// stacked per expert ("{e}"), converted to the weight's type and packed in
// the kernels' layout one checkpoint tensor at a time, on all cores, and
// streamed to the file as they are packed: the compiler's memory does not
// grow with the model (a scratch buffer of the largest tensor, and the
// checkpoint's pages released once read). The table and the header are
// written last.
//
//===----------------------------------------------------------------------===//
#include "moec/Target/Passes.h"

#include "moec/Support/Files.h"
#include "moec/Support/Safetensors.h"

#include "moeb_generated.h"
#include "moert/format.h"
#include "moert/fp8.h"
#include "moert/intq.h"
#include "moert/mxfp4.h"
#include "moert/half.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

#include "llvm/Support/Parallel.h"

#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <array>
#include <atomic>
#include <map>
#include <set>
#include <sodium.h>
#include <unistd.h>

namespace moec {
#define GEN_PASS_DEF_MOEEXPORTARTIFACT
#include "moec/Target/Passes.h.inc"
} // namespace moec

using namespace mlir;
using namespace moec;
namespace fb = moert::fb;

namespace {

/// The element types weights are stored as, and how to read and write them.
enum class Elem { F32, BF16, F16 };

template <Elem E> struct Codec;
template <> struct Codec<Elem::F32> {
  using Bits = uint32_t;
  static float toFloat(Bits b) { float f; std::memcpy(&f, &b, 4); return f; }
  static Bits fromFloat(float f) { Bits b; std::memcpy(&b, &f, 4); return b; }
};
template <> struct Codec<Elem::BF16> {
  using Bits = uint16_t;
  static float toFloat(Bits b) { return moert::bf16ToFloat(b); }
  static Bits fromFloat(float f) { return moert::floatToBf16(f); }
};
template <> struct Codec<Elem::F16> {
  using Bits = uint16_t;
  static float toFloat(Bits b) { return moert::halfToFloat(b); }
  static Bits fromFloat(float f) { return moert::floatToHalf(f); }
};

/// Source element i converted to a destination element: the bits as they are
/// for the same type, else one rounding (to nearest even) from the value.
template <Elem S, Elem D>
typename Codec<D>::Bits convertElement(const uint8_t *src, size_t i) {
  typename Codec<S>::Bits b;
  std::memcpy(&b, src + i * sizeof b, sizeof b); // little-endian, the host's
  if constexpr (S == D)
    return b;
  else
    return Codec<D>::fromFloat(Codec<S>::toFloat(b));
}

std::optional<Elem> elemOf(Type t) {
  if (t.isF32())
    return Elem::F32;
  if (t.isBF16())
    return Elem::BF16;
  if (t.isF16())
    return Elem::F16;
  return std::nullopt;
}

std::optional<Elem> elemOf(SafetensorsDType d) {
  switch (d) {
  case SafetensorsDType::F32: return Elem::F32;
  case SafetensorsDType::BF16: return Elem::BF16;
  case SafetensorsDType::F16: return Elem::F16;
  default: return std::nullopt;
  }
}

size_t elemBytes(Elem e) { return e == Elem::F32 ? 4 : 2; }

/// Converts `count` elements at `src` to `dst`, row-major, on all cores.
template <Elem S, Elem D>
void convertRows(const uint8_t *src, size_t count, uint8_t *dst) {
  using Out = typename Codec<D>::Bits;
  constexpr size_t kBlock = size_t(1) << 16;
  llvm::parallelFor(0, (count + kBlock - 1) / kBlock, [&](size_t blk) {
    size_t end = std::min(count, (blk + 1) * kBlock);
    for (size_t i = blk * kBlock; i < end; ++i) {
      Out v = convertElement<S, D>(src, i);
      std::memcpy(dst + i * sizeof(Out), &v, sizeof v);
    }
  });
}

/// Packs the row-major [n, k] matrix at `src` into panels at `dst`
/// (WeightLayout::Panels32, moert/format.h: panelElements(n, k, depth)
/// elements, the padding zero), converting each element; one panel per task,
/// on all cores.
template <Elem S, Elem D>
void packPanels(const uint8_t *src, int64_t n, int64_t k, uint8_t *dst) {
  using Out = typename Codec<D>::Bits;
  const int64_t depth = moert::panelDepthFor(D == Elem::BF16);
  const int64_t steps = (k + depth - 1) / depth, step = moert::kPanelWidth * depth;
  const int64_t panels = (n + moert::kPanelWidth - 1) / moert::kPanelWidth;
  llvm::parallelFor(0, static_cast<size_t>(panels), [&](size_t p) {
    Out *panel = reinterpret_cast<Out *>(dst) + p * steps * step;
    std::memset(panel, 0, steps * step * sizeof(Out));
    int64_t first = static_cast<int64_t>(p) * moert::kPanelWidth;
    int64_t width = std::min<int64_t>(moert::kPanelWidth, n - first);
    constexpr int64_t kStep = 64; // 64 values of k at a time, for each row
    for (int64_t c0 = 0; c0 < k; c0 += kStep) {
      int64_t c1 = std::min(c0 + kStep, k);
      for (int64_t j = 0; j < width; ++j) {
        size_t row = static_cast<size_t>((first + j) * k);
        for (int64_t c = c0; c < c1; ++c)
          panel[c / depth * step + j * depth + c % depth] =
              convertElement<S, D>(src, row + c);
      }
    }
  });
}

/// Calls F<S, D>::run(args...) for the runtime pair (s, d).
template <template <Elem, Elem> class F, class... Args>
void dispatch(Elem s, Elem d, Args &&...args) {
  auto to = [&](auto src) {
    constexpr Elem S = decltype(src)::value;
    switch (d) {
    case Elem::F32: return F<S, Elem::F32>::run(args...);
    case Elem::BF16: return F<S, Elem::BF16>::run(args...);
    case Elem::F16: return F<S, Elem::F16>::run(args...);
    }
  };
  switch (s) {
  case Elem::F32: return to(std::integral_constant<Elem, Elem::F32>());
  case Elem::BF16: return to(std::integral_constant<Elem, Elem::BF16>());
  case Elem::F16: return to(std::integral_constant<Elem, Elem::F16>());
  }
}

template <Elem S, Elem D> struct ConvertRows {
  static void run(const uint8_t *src, size_t count, uint8_t *dst) {
    convertRows<S, D>(src, count, dst);
  }
};
template <Elem S, Elem D> struct PackPanels {
  static void run(const uint8_t *src, int64_t n, int64_t k, uint8_t *dst) {
    packPanels<S, D>(src, n, k, dst);
  }
};

/// The tensor name of expert `e` of a weight whose name may stack per
/// expert ("{e}").
std::string expertTensorName(StringRef pattern, int64_t e) {
  std::string name = pattern.str();
  for (size_t pos; (pos = name.find("{e}")) != std::string::npos;)
    name.replace(pos, 3, std::to_string(e));
  return name;
}

/// A weight's name in the artifact: its tensor's, with its row selection.
std::string artifactName(exec::WeightOp op) {
  std::string name = op.getTensorName().str();
  if (auto start = op.getRowStart())
    name += "[rows " + std::to_string(*start) + "::" +
            std::to_string(*op.getRowStep()) + "]";
  return name;
}

/// The stored shape of a weight read with rows(start, step): dimension 1
/// `step` times the weight's.
SmallVector<int64_t> storedShape(exec::WeightOp op, ArrayRef<int64_t> each) {
  SmallVector<int64_t> out(each);
  if (auto step = op.getRowStep())
    out[1] *= *step;
  return out;
}

/// The shape of the scales of an fp8 weight `shape` ([..., n, k]).
SmallVector<int64_t> fp8ScaleShape(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> out(shape.drop_back(2));
  out.push_back(moert::fp8Blocks(shape[shape.size() - 2]));
  out.push_back(moert::fp8Blocks(shape.back()));
  return out;
}

/// A growable buffer whose allocation failure is an error, not an abort.
class Scratch {
public:
  ~Scratch() { std::free(data_); }
  /// At least `bytes` bytes; nullptr when the memory is not there.
  uint8_t *get(size_t bytes) {
    if (bytes > capacity_) {
      std::free(data_);
      data_ = static_cast<uint8_t *>(std::malloc(bytes));
      capacity_ = data_ ? bytes : 0;
    }
    return data_;
  }

private:
  uint8_t *data_ = nullptr;
  size_t capacity_ = 0;
};

std::string formatBytes(uint64_t bytes) {
  std::string out;
  llvm::raw_string_ostream os(out);
  if (bytes >= (uint64_t(1) << 30))
    os << llvm::format("%.2f GiB", bytes / double(uint64_t(1) << 30));
  else
    os << llvm::format("%.1f MiB", bytes / double(1 << 20));
  return out;
}

/// The artifact being written: a file that grows at its end, a header
/// written last. Written under a temporary name in the same folder and
/// renamed when complete, so that a failed compile leaves no partial
/// artifact behind.
class OutputFile {
public:
  ~OutputFile() {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(temp_.c_str());
    }
  }

  /// Creates the file and reserves `expected` bytes of disk for it.
  std::optional<std::string> open(StringRef path, uint64_t expected) {
    path_ = path.str();
    temp_ = path_ + ".partial";
    fd_ = ::open(temp_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644); // read back to hash
    if (fd_ < 0)
      return "cannot write " + path_ + ": " + std::strerror(errno);
    // Reserve the space up front: a full disk is one clear error now, not
    // after minutes of packing (where the file system supports it).
    if (int e = ::posix_fallocate(fd_, 0, static_cast<off_t>(expected));
        e == ENOSPC || e == EFBIG)
      return "cannot reserve " + formatBytes(expected) + " (" +
             std::to_string(expected) + " bytes) for " + path_ + ": " +
             std::strerror(e);
    return std::nullopt;
  }

  uint64_t size() const { return size_; }

  std::optional<std::string> append(const void *data, size_t bytes) {
    const char *p = static_cast<const char *>(data);
    while (bytes) {
      ssize_t n = ::pwrite(fd_, p, std::min<size_t>(bytes, size_t(1) << 30),
                           static_cast<off_t>(size_));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return "writing " + path_ + " failed at byte " + std::to_string(size_) +
               ": " + std::strerror(n < 0 ? errno : EIO);
      p += n;
      bytes -= static_cast<size_t>(n);
      size_ += static_cast<uint64_t>(n);
    }
    return std::nullopt;
  }

  /// Reads `bytes` bytes at `offset` of what was written (for hashing).
  bool readAt(uint64_t offset, uint8_t *data, size_t bytes) const {
    while (bytes) {
      ssize_t n = ::pread(fd_, data, bytes, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return false;
      data += n;
      offset += static_cast<uint64_t>(n);
      bytes -= static_cast<size_t>(n);
    }
    return true;
  }

  /// Zeros up to the next multiple of moert::kAlignment.
  std::optional<std::string> align() {
    static const char zeros[moert::kAlignment] = {};
    return append(zeros, moert::alignUp(size_) - size_);
  }

  /// Writes the header at offset 0, trims the reservation, and renames the
  /// file into place.
  std::optional<std::string> finish(const moert::FileHeader &header) {
    if (::pwrite(fd_, &header, sizeof header, 0) != sizeof header)
      return "writing the header of " + path_ + " failed: " + std::strerror(errno);
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0)
      return "truncating " + path_ + " failed: " + std::strerror(errno);
    if (::close(fd_) != 0) {
      fd_ = -1;
      ::unlink(temp_.c_str());
      return "writing " + path_ + " failed: " + std::strerror(errno);
    }
    fd_ = -1;
    if (::rename(temp_.c_str(), path_.c_str()) != 0) {
      int e = errno;
      ::unlink(temp_.c_str());
      return "cannot rename " + temp_ + " to " + path_ + ": " + std::strerror(e);
    }
    return std::nullopt;
  }

private:
  std::string path_, temp_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

fb::DType dtypeOf(Type t) {
  if (isa<Float8E4M3FNType>(t))
    return fb::DType_F8E4M3;
  if (isa<Float4E2M1FNType>(t))
    return fb::DType_MXFP4;
  if (t.isSignlessInteger(8))
    return fb::DType_INT8;
  if (t.isSignlessInteger(4))
    return fb::DType_INT4;
  if (t.isF32())
    return fb::DType_F32;
  if (t.isInteger(32))
    return fb::DType_I32;
  if (t.isBF16())
    return fb::DType_BF16;
  return fb::DType_F16;
}

/// The dtype of a buffer's elements: a GEMM command's dtype is its B's, its
/// c_dtype its C's.
fb::DType bufferDType(Value b) {
  return dtypeOf(cast<exec::BufferType>(b.getType()).getElementType());
}

using BlobHash = std::array<uint8_t, moert::kBlobHashBytes>;

/// The experts of a weight of `shape` (the leading dimension of an [E, n, k]
/// weight, or of fp8 scales [E, nb, kb]), or 0.
uint32_t expertsOf(ArrayRef<int64_t> shape) {
  return shape.size() >= 3 && shape[0] > 1 ? static_cast<uint32_t>(shape[0]) : 0;
}

class Writer {
public:
  Writer(ModuleOp module, bool progress) : module(module), progress(progress) {}
  /// Signs the artifact with the Ed25519 secret key in `keyFile`.
  LogicalResult setSigningKey(StringRef keyFile);
  LogicalResult write(StringRef path);

private:
  LogicalResult packWeight(exec::WeightOp op);
  /// Stacked weights (exec.concat_weights): each matrix the rows of its two
  /// parts' matrices.
  LogicalResult packConcat(exec::ConcatWeightsOp op);
  /// Writes the weight `at` defines, `name` of `type`, one [n, k] matrix at
  /// a time: matrix m of each of `parts` in turn (one part: the weight
  /// itself; two: stacked), each as a weight of its own would store it
  /// (fp8, MXFP4 and integer ones in the target's layout, the fp8 scales in
  /// a second weight); a synthetic weight's seeds instead. Records it as
  /// `key`.
  LogicalResult packMatrices(Operation *at, ArrayRef<exec::WeightOp> parts,
                             exec::BufferType type, StringRef name, const std::string &key);
  /// A weight's stored bytes, one [n, k] matrix at a time (the layout of its
  /// element type and target): pack(m, fp8Scales) returns matrix m's
  /// `matrixBytes` bytes, valid until the next call (in the Writer's
  /// scratch or the checkpoint's mapping), and for an fp8 weight writes the
  /// matrix's block scales to fp8Scales; done(m) releases the checkpoint
  /// pages of matrix m's tensors after their last matrix.
  struct MatrixPacker {
    uint64_t matrices = 0, matrixBytes = 0;
    std::function<FailureOr<const uint8_t *>(uint64_t m, float *fp8Scales)> pack;
    std::function<void(uint64_t m)> done;
  };
  FailureOr<MatrixPacker> matrixPacker(exec::WeightOp op, std::set<std::string> &shards,
                                       Scratch &inlineBuffer);
  LogicalResult checkQuantizedLayout(exec::WeightOp op, StringRef type);
  /// Whether `op` is stored in panels: int8 / int4 always (their only
  /// layout), fp8 and MXFP4 on the cpu target (rows on cuda), f32 / bf16 /
  /// f16 where moe-pack-weights marked it.
  bool storedInPanels(exec::WeightOp op) const {
    Type elem = cast<exec::BufferType>(op.getType()).getElementType();
    if (elem.isSignlessInteger(8) || elem.isSignlessInteger(4))
      return true;
    return !cuda && (op.getPanels() || exec::isQuantizedWeightType(elem));
  }
  /// Matrix `m` ([n, k]) of weight `op` read from MXFP4 blocks, its rows'
  /// checkpoint blocks into `blocks` (n · k / 2 bytes) and e8m0 scales into
  /// `scales` (n · k / 32), as they are; an NaN scale is an error.
  LogicalResult readMxfp4Matrix(exec::WeightOp op, const SafetensorsTensor &t,
                                const SafetensorsTensor &scales, uint64_t m,
                                int64_t n, int64_t k, uint8_t *blocks,
                                uint8_t *scalesOut);
  /// The checkpoint tensors of `pattern` (one, or `count` with "{e}"), each
  /// of shape `each`; an error names a missing one or a wrong shape.
  FailureOr<std::vector<const SafetensorsTensor *>>
  findTensors(exec::WeightOp op, const SafetensorsCheckpoint &ckpt,
              StringRef pattern, int64_t count, ArrayRef<int64_t> each);
  /// The checkpoint tensors weight `op` reads, checked before anything is
  /// written: its values (F32, BF16 or F16), or with `scales` its fp8
  /// codes (F8_E4M3) and their scales (F32 or BF16), one per expert when
  /// stacked. Adds their files to `shards`.
  struct WeightTensors {
    std::vector<const SafetensorsTensor *> values, scales;
    int64_t count = 1;        // tensors (experts when stacked)
    ArrayRef<int64_t> each;   // the shape of each
  };
  FailureOr<WeightTensors> weightTensors(exec::WeightOp op,
                                         std::set<std::string> &shards);
  /// Where a quantized weight's [n, k] matrices come from: its inline
  /// value (as f32), or its checkpoint tensors, `perTensor` matrices each.
  struct MatrixSource {
    const float *inlineValues = nullptr;
    WeightTensors tensors;
    uint64_t perTensor = 1;
    /// What matrix m's values are called in an error.
    std::string what(exec::WeightOp op, uint64_t m) const;
    /// Releases the checkpoint pages of matrix m's tensors once it is the
    /// last matrix of them.
    void done(uint64_t m) const;
  };
  /// (An inline value is read into `inlineBuffer`.)
  FailureOr<MatrixSource> matrixSource(exec::WeightOp op, uint64_t matrices,
                                       std::set<std::string> &shards, Scratch &inlineBuffer);
  /// Matrix m ([n, k]) of `src` as f32, whatever the source holds: in an
  /// inline value (returned as it is), or read into `values` from f32 /
  /// bf16 / f16 values, selected rows, MXFP4 blocks, or fp8 codes (their
  /// scales checked into `fp8Scales`, fp8Blocks(n) · fp8Blocks(k) floats).
  FailureOr<const float *> readMatrixF32(exec::WeightOp op, const MatrixSource &src,
                                         uint64_t m, int64_t n, int64_t k,
                                         float *values, float *fp8Scales);
  /// Matrix `m` of the fp8 tensor `codes` [..., n, k] (row-major codes)
  /// and its scales from `scales`: the codes checked (no NaN) and, with
  /// `values`, decoded and scaled to f32 there; the matrix's scales checked
  /// (finite) and written to `scalesOut`.
  LogicalResult readFp8Matrix(exec::WeightOp op, const SafetensorsTensor &codes,
                              const SafetensorsTensor &scales, uint64_t m,
                              int64_t n, int64_t k, float *scalesOut,
                              float *values);
  /// Matrix `m` ([n, k], the last two dimensions of `logical`) of a weight
  /// read with a row selection or from MXFP4 blocks, from its checkpoint
  /// tensor `t` (and `scales`, the e8m0 scales of MXFP4 blocks), as f32 in
  /// `values`; an NaN scale is an error.
  LogicalResult readSelectedMatrix(exec::WeightOp op, const SafetensorsTensor &t,
                                   const SafetensorsTensor *scales,
                                   ArrayRef<int64_t> logical, uint64_t m,
                                   float *values);
  void reportPacked(StringRef name, exec::BufferType type, uint64_t bytes,
                    const std::set<std::string> &shards,
                    std::chrono::steady_clock::time_point start);
  FailureOr<const SafetensorsCheckpoint *> checkpoint(StringRef file,
                                                      Operation *op);
  /// Appends a blob (64-byte aligned) from `produce`, which calls its
  /// argument with the blob's bytes in pieces; returns its offset in the
  /// blob section and its chunk checksums: with `slices` > 1 (a weight's
  /// experts: Weight.expert_slices), chunks restart at each slice.
  LogicalResult appendBlob(Operation *op,
                           llvm::function_ref<LogicalResult(
                               llvm::function_ref<LogicalResult(const uint8_t *, size_t)>)>
                               produce,
                           uint64_t *offset, uint64_t *bytes,
                           std::vector<uint64_t> *checksums, uint32_t slices = 0);
  /// At least `bytes` of `buffer`; an error on `op` (a weight) when the
  /// memory is not there.
  uint8_t *scratch(Scratch &buffer, exec::WeightOp op, size_t bytes);
  /// The inline value of weight `op` as f32 (each element rounded to nearest
  /// even once), in `buffer`; nullptr after an error on `op`.
  float *inlineValues(exec::WeightOp op, Scratch &buffer);
  fb::Ref ref(Value v);
  flatbuffers::Offset<fb::Function> function(func::FuncOp fn);

  ModuleOp module;
  bool progress;
  bool cuda = false; // the module's exec.target
  flatbuffers::FlatBufferBuilder fbb{1 << 16};
  OutputFile out;
  Scratch packed, gathered, decoded, inlined, inlinedSecond;
  llvm::StringMap<std::unique_ptr<SafetensorsCheckpoint>> checkpoints;
  std::map<std::string, uint32_t> weightIndex; // by identity key
  // Progress of packing weights from checkpoints.
  using Clock = std::chrono::steady_clock;
  Clock::time_point packStart = Clock::now();
  int64_t weightsFromFiles = 0, packedFromFiles = 0;
  uint64_t expectedBytes = 0;
  DenseMap<Value, fb::Ref> refs;      // per function: buffer/weight values
  std::vector<flatbuffers::Offset<fb::Weight>> weights;
  llvm::StringMap<uint32_t> kernelIndex;
  bool failedAny = false;
  // Signing: the secret key, and each blob's chunk hashes by blob offset;
  // the blobs of the code objects and weights in table order (UINT64_MAX:
  // a synthetic weight, which has none).
  bool signing = false;
  /// The module shards its experts (exec.exchange): its weights of experts
  /// are written in expert slices, each checked alone by the rank that holds
  /// it (Weight.expert_slices; an artifact that is not sharded keeps the
  /// layout every runtime of this format reads).
  bool sharded = false;
  uint32_t expertSlices(ArrayRef<int64_t> shape) const { return sharded ? expertsOf(shape) : 0; }
  uint8_t secretKey[crypto_sign_SECRETKEYBYTES];
  std::map<uint64_t, std::vector<BlobHash>> blobHashes;
  std::vector<uint64_t> codeBlobs, weightBlobs;
};

LogicalResult Writer::setSigningKey(StringRef keyFile) {
  auto text = openInputFile(keyFile, 4096);
  if (!text)
    return module.emitError() << "moe-export-artifact: --sign: "
                              << llvm::toString(text.takeError());
  std::string why;
  if (!moert::parseKeyText((*text)->getBuffer().str(), moert::kSecretKeyLabel,
                           secretKey, sizeof secretKey, &why))
    return module.emitError() << "moe-export-artifact: --sign: " << keyFile
                              << ": " << why;
  if (sodium_init() < 0)
    return module.emitError() << "moe-export-artifact: libsodium failed to "
                                 "initialize";
  signing = true;
  return success();
}

constexpr uint64_t kHeaderBytes = sizeof(moert::FileHeader);


LogicalResult Writer::appendBlob(
    Operation *op,
    llvm::function_ref<LogicalResult(
        llvm::function_ref<LogicalResult(const uint8_t *, size_t)>)>
        produce,
    uint64_t *offset, uint64_t *bytes, std::vector<uint64_t> *checksums,
    uint32_t slices) {
  if (auto e = out.align())
    return op->emitError() << "moe-export-artifact: " << *e;
  uint64_t start = out.size();
  moert::ChunkChecksums sums;
  auto sink = [&](const uint8_t *data, size_t size) -> LogicalResult {
    if (slices <= 1) // sliced: checksummed from the file below
      sums.update(data, size);
    if (auto e = out.append(data, size))
      return op->emitError() << "moe-export-artifact: " << *e;
    return success();
  };
  if (failed(produce(sink)))
    return failure();
  *offset = start - kHeaderBytes;
  *bytes = out.size() - start;
  if (slices > 1 && *bytes % slices != 0)
    return op->emitError() << "moe-export-artifact: internal error: a blob of " << *bytes
                           << " bytes is not " << slices << " equal slices";
  moert::ChunkLayout layout{*bytes, slices > 1 ? slices : 1};
  // f(c, bytes, n) for each chunk c, read back from the file just written
  // (still in the page cache), on all cores.
  auto eachChunk = [&](auto f) -> LogicalResult {
    std::atomic<bool> readFailed{false};
    llvm::parallelFor(0, static_cast<size_t>(layout.count()), [&](size_t c) {
      size_t n = static_cast<size_t>(layout.size(c));
      std::vector<uint8_t> chunk(n);
      if (!out.readAt(start + layout.begin(c), chunk.data(), n)) {
        readFailed = true;
        return;
      }
      f(c, chunk.data(), n);
    });
    if (readFailed)
      return op->emitError() << "moe-export-artifact: reading back a blob of "
                                "the artifact to check or hash it failed";
    return success();
  };
  // Sliced, each expert's chunks of their own are checksummed from the
  // file; signed, each chunk is hashed: one read of each chunk for both.
  bool sliced = layout.slices > 1;
  if (sliced)
    checksums->assign(layout.count(), 0);
  else
    sums.finish(*checksums);
  std::vector<BlobHash> *hashes = signing ? &blobHashes[*offset] : nullptr;
  if (hashes)
    hashes->resize(layout.count());
  if ((sliced || hashes) && failed(eachChunk([&](size_t c, const uint8_t *data, size_t n) {
        if (sliced)
          (*checksums)[c] = moert::checksum64(data, n);
        if (hashes)
          crypto_generichash((*hashes)[c].data(), (*hashes)[c].size(), data, n, nullptr, 0);
      })))
    return failure();
  return success();
}

uint8_t *Writer::scratch(Scratch &buffer, exec::WeightOp op, size_t bytes) {
  uint8_t *p = buffer.get(bytes);
  if (!p)
    op.emitError() << "moe-export-artifact: out of memory: cannot allocate "
                   << formatBytes(bytes) << " (" << bytes
                   << " bytes) to pack weight '" << op.getTensorName() << "'";
  return p;
}

float *Writer::inlineValues(exec::WeightOp op, Scratch &buffer) {
  ElementsAttr value = op.getValueAttr();
  auto values = value.tryGetValues<APFloat>();
  if (!values) {
    op.emitError() << "moe-export-artifact: cannot read the inline value of "
                      "weight '"
                   << op.getTensorName() << "'";
    return nullptr;
  }
  uint64_t count = static_cast<uint64_t>(value.getNumElements());
  auto *out = reinterpret_cast<float *>(scratch(buffer, op, count * sizeof(float)));
  if (!out)
    return nullptr;
  uint64_t i = 0;
  for (APFloat v : *values) {
    bool lost;
    v.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &lost);
    out[i++] = v.convertToFloat();
  }
  return out;
}

FailureOr<const SafetensorsCheckpoint *> Writer::checkpoint(StringRef file,
                                                            Operation *op) {
  auto it = checkpoints.find(file);
  if (it != checkpoints.end())
    return it->second.get();
  auto opened = SafetensorsCheckpoint::open(file);
  if (!opened)
    return op->emitError() << "moe-export-artifact: "
                           << llvm::toString(opened.takeError());
  if (progress)
    llvm::errs() << "moe-compile: packing weights from " << file << " ("
                 << (*opened)->getNumShards() << " shard"
                 << ((*opened)->getNumShards() == 1 ? "" : "s") << ")\n";
  auto *ptr = opened->get();
  checkpoints[file] = std::move(*opened);
  return ptr;
}

/// The bytes of `shape` of `elem` in the artifact (in panels or not).
uint64_t weightBytes(ArrayRef<int64_t> shape, Elem elem, bool panels) {
  uint64_t elems =
      panels ? static_cast<uint64_t>(ShapedType::getNumElements(shape.drop_back(2))) *
                   moert::panelElements(shape[shape.size() - 2], shape.back(),
                                        moert::panelDepthFor(elem == Elem::BF16))
             : static_cast<uint64_t>(ShapedType::getNumElements(shape));
  return elems * elemBytes(elem);
}

/// The codes of an fp8 weight `shape` (in panels or not).
uint64_t fp8Bytes(ArrayRef<int64_t> shape, bool panels) {
  return panels ? static_cast<uint64_t>(ShapedType::getNumElements(shape.drop_back(2))) *
                      moert::panelElements(shape[shape.size() - 2], shape.back())
                : static_cast<uint64_t>(ShapedType::getNumElements(shape));
}

/// A quantized weight (`type`: fp8, mxfp4, int8 or int4) is in panels on
/// the cpu target, whose kernels read those only, and not in panels on the
/// cuda target, whose kernels read fp8 codes row-major and MXFP4 rows (int8
/// and int4 never reach it: moe-lower-to-exec refuses them there).
LogicalResult Writer::checkQuantizedLayout(exec::WeightOp op, StringRef type) {
  if (cuda && op.getPanels())
    return op.emitError() << "moe-export-artifact: " << type << " weight '"
                          << op.getTensorName()
                          << "' is in panels, which the cuda target does not read";
  if (cuda || op.getPanels())
    return success();
  return op.emitError() << "moe-export-artifact: " << type << " weight '"
                        << op.getTensorName()
                        << "' must be in panels for the cpu target (its " << type
                        << " kernels read panels only; --pack-weights=false keeps "
                           "f32, bf16 and f16 weights row-major, not "
                        << type << " ones)";
}

std::string weightKey(exec::WeightOp op);

FailureOr<Writer::MatrixPacker> Writer::matrixPacker(exec::WeightOp op,
                                                     std::set<std::string> &shards,
                                                     Scratch &inlineBuffer) {
  auto type = cast<exec::BufferType>(op.getType());
  ArrayRef<int64_t> shape = type.getShape();
  Type elemType = type.getElementType();
  int64_t n = shape[shape.size() - 2], k = shape.back();
  uint64_t perMatrix = static_cast<uint64_t>(n * k);
  MatrixPacker p;
  p.matrices = static_cast<uint64_t>(ShapedType::getNumElements(shape.drop_back(2)));
  auto found = matrixSource(op, p.matrices, shards, inlineBuffer);
  if (failed(found))
    return failure();
  if (!found->inlineValues && found->perTensor == 0)
    return op.emitError() << "moe-export-artifact: weight '" << op.getTensorName()
                          << "' stacks tensors of rank below 2, which are not read "
                             "matrix by matrix";
  auto src = std::make_shared<MatrixSource>(std::move(*found));
  p.done = [src](uint64_t m) { src->done(m); };
  // The f32 values of matrix m (fp8 codes' scales checked into a buffer of
  // their own), in the `decoded` scratch.
  auto fp8Scales = std::make_shared<std::vector<float>>(
      static_cast<size_t>(moert::fp8Blocks(n) * moert::fp8Blocks(k)));
  auto valuesOf = [=, this](uint64_t m) mutable -> FailureOr<const float *> {
    float *values = reinterpret_cast<float *>(scratch(decoded, op, perMatrix * 4));
    if (!values)
      return failure();
    return readMatrixF32(op, *src, m, n, k, values, fp8Scales->data());
  };
  bool panels = storedInPanels(op);
  if (isa<Float8E4M3FNType>(elemType)) {
    // The checkpoint's codes as they are, or values quantized per 128 x 128
    // block (moert/fp8.h); in panels on the cpu target, row-major on cuda.
    bool fromCodes = op.getScales() && !op.getMxfp4() && !op.getRowStart();
    uint64_t bytes = p.matrixBytes = panels ? moert::panelElements(n, k) : perMatrix;
    p.pack = [=, this](uint64_t m, float *scales) mutable -> FailureOr<const uint8_t *> {
      const uint8_t *codes;
      if (fromCodes) {
        const SafetensorsTensor &t = *src->tensors.values[m / src->perTensor];
        uint64_t local = m % src->perTensor;
        if (failed(readFp8Matrix(op, t, *src->tensors.scales[m / src->perTensor], local, n,
                                 k, scales, /*values=*/nullptr)))
          return failure();
        codes = t.data.data() + local * perMatrix;
      } else {
        auto from = valuesOf(m);
        uint8_t *rows = scratch(gathered, op, perMatrix);
        if (failed(from) || !rows)
          return failure();
        if (!moert::quantizeFp8Matrix(*from, n, k, rows, scales))
          return op.emitError() << "moe-export-artifact: " << src->what(op, m)
                                << " holds a value that is not finite; fp8 "
                                   "quantization needs finite values";
        codes = rows;
      }
      if (!panels)
        return codes;
      uint8_t *out = scratch(packed, op, bytes);
      if (!out)
        return failure();
      moert::packPanels(codes, n, k, out);
      return static_cast<const uint8_t *>(out);
    };
    return p;
  }
  if (isa<Float4E2M1FNType>(elemType)) {
    // A checkpoint's MXFP4 blocks and scales as they are (the rows of a row
    // selection gathered), or values quantized per row and group of 32
    // (quantizeMxfp4Row); in MXFP4 panels, or MXFP4 rows on cuda.
    uint64_t bytes = p.matrixBytes = moert::mxfp4MatrixBytes(n, k, panels);
    p.pack = [=, this](uint64_t m, float *) mutable -> FailureOr<const uint8_t *> {
      uint8_t *blocks = scratch(gathered, op, perMatrix / 2 + perMatrix / moert::kMxfp4Group);
      uint8_t *out = scratch(packed, op, bytes);
      if (!blocks || !out)
        return failure();
      uint8_t *scales = blocks + perMatrix / 2;
      if (op.getMxfp4()) {
        uint64_t t = m / src->perTensor;
        if (failed(readMxfp4Matrix(op, *src->tensors.values[t], *src->tensors.scales[t],
                                   m % src->perTensor, n, k, blocks, scales)))
          return failure();
      } else {
        auto from = valuesOf(m);
        if (failed(from))
          return failure();
        std::atomic<bool> finite{true};
        llvm::parallelFor(0, static_cast<size_t>(n), [&](size_t r) {
          if (!moert::quantizeMxfp4Row(*from + r * k, k, blocks + r * (k / 2),
                                       scales + r * (k / moert::kMxfp4Group)))
            finite = false;
        });
        if (!finite)
          return op.emitError() << "moe-export-artifact: " << src->what(op, m)
                                << " holds a value that is not finite; mxfp4 "
                                   "quantization needs finite values";
      }
      moert::packMxfp4(blocks, scales, n, k, panels, out);
      return static_cast<const uint8_t *>(out);
    };
    return p;
  }
  if (elemType.isSignlessInteger(8) || elemType.isSignlessInteger(4)) {
    // Values of any source quantized per row and group (packIntPanels).
    int bits = elemType.isSignlessInteger(8) ? 8 : 4;
    int64_t g = *op.getGroupSize();
    uint64_t bytes = p.matrixBytes = moert::intPanelBytes(bits, n, k, g);
    p.pack = [=, this](uint64_t m, float *) mutable -> FailureOr<const uint8_t *> {
      auto from = valuesOf(m);
      uint8_t *out = scratch(packed, op, bytes);
      if (failed(from) || !out)
        return failure();
      int64_t badRow = 0;
      if (!moert::packIntPanels(bits, *from, n, k, g, out, &badRow))
        return op.emitError() << "moe-export-artifact: " << src->what(op, m) << " row "
                              << badRow << " holds a value that is not finite, or one whose "
                              << (bits == 8 ? "int8" : "int4")
                              << " scale overflows f16 (|value| above "
                              << (bits == 8 ? "8.3e6" : "a range of 9.8e5") << ")";
      return static_cast<const uint8_t *>(out);
    };
    return p;
  }
  // f32, bf16 or f16, packed into panels or kept row-major: a checkpoint's
  // f32 / bf16 / f16 values converted from their own type (row-major in
  // their type: as they are, from the checkpoint's mapping), any other
  // source from f32 (exact for every source type that is not wider).
  Elem elem = *elemOf(elemType);
  size_t eb = elemBytes(elem);
  uint64_t bytes = p.matrixBytes =
      (panels ? moert::panelElements(n, k, moert::panelDepthFor(elem == Elem::BF16))
              : perMatrix) * eb;
  bool plainValues = !src->inlineValues && !op.getMxfp4() && !op.getRowStart() && !op.getScales();
  p.pack = [=, this](uint64_t m, float *) mutable -> FailureOr<const uint8_t *> {
    Elem from = Elem::F32;
    const uint8_t *values;
    if (plainValues) {
      const SafetensorsTensor &t = *src->tensors.values[m / src->perTensor];
      from = *elemOf(t.dtype);
      values = t.data.data() + (m % src->perTensor) * perMatrix * elemBytes(from);
      if (!panels && from == elem)
        return values;
    } else {
      auto f32 = valuesOf(m);
      if (failed(f32))
        return failure();
      values = reinterpret_cast<const uint8_t *>(*f32);
    }
    uint8_t *out = scratch(packed, op, bytes);
    if (!out)
      return failure();
    if (panels)
      dispatch<PackPanels>(from, elem, values, n, k, out);
    else
      dispatch<ConvertRows>(from, elem, values, perMatrix, out);
    return static_cast<const uint8_t *>(out);
  };
  return p;
}

LogicalResult Writer::packMatrices(Operation *at, ArrayRef<exec::WeightOp> parts,
                                   exec::BufferType type, StringRef name,
                                   const std::string &key) {
  ArrayRef<int64_t> shape = type.getShape();
  Type elemType = type.getElementType();
  exec::WeightOp op = parts.front(), second = parts.back();
  bool fp8 = isa<Float8E4M3FNType>(elemType);
  StringRef what = fp8 ? "fp8" : isa<Float4E2M1FNType>(elemType) ? "mxfp4"
                   : elemType.isSignlessInteger(8)               ? "int8"
                   : elemType.isSignlessInteger(4)               ? "int4"
                                                                 : "";
  bool quantized = !what.empty();
  for (exec::WeightOp part : parts) {
    if (quantized && failed(checkQuantizedLayout(part, what)))
      return failure();
    if (!quantized && part.getPanels() && cuda)
      return part.emitError() << "moe-export-artifact: weight '" << part.getTensorName()
                              << "' is in panels, the CPU target's layout, but the "
                                 "module is for cuda";
  }
  bool panels = storedInPanels(op);
  uint64_t matrices = static_cast<uint64_t>(ShapedType::getNumElements(shape.drop_back(2)));
  // Each matrix's fp8 scales: per part, its blocks of rows in turn.
  SmallVector<uint64_t> partScales;
  uint64_t perScales = 0;
  for (exec::WeightOp part : parts) {
    ArrayRef<int64_t> s = cast<exec::BufferType>(part.getType()).getShape();
    partScales.push_back(static_cast<uint64_t>(moert::fp8Blocks(s[s.size() - 2]) *
                                               moert::fp8Blocks(s.back())));
    perScales += partScales.back();
  }
  SmallVector<int64_t> scaleShape = fp8ScaleShape(shape);
  std::vector<float> scales(fp8 ? matrices * perScales : 0);
  std::optional<int64_t> seed = op.getRandomSeed();
  uint64_t offset = 0, bytes = 0, scaleOffset = 0, scaleBytes = 0;
  std::vector<uint64_t> checksums, scaleChecksums;
  std::set<std::string> shards;
  auto start = Clock::now();
  if (!seed) {
    // The packers of the parts, reading one matrix of each in turn (each
    // part's inline value in a buffer of its own).
    SmallVector<MatrixPacker, 2> packers;
    Scratch *inlineBuffers[] = {&inlined, &inlinedSecond};
    for (auto [i, part] : llvm::enumerate(parts)) {
      auto packer = matrixPacker(part, shards, *inlineBuffers[i]);
      if (failed(packer))
        return failure();
      packers.push_back(std::move(*packer));
    }
    auto produce = [&](auto sink) -> LogicalResult {
      for (uint64_t m = 0; m < matrices; ++m) {
        float *s = fp8 ? scales.data() + m * perScales : nullptr;
        for (auto [i, packer] : llvm::enumerate(packers)) {
          auto data = packer.pack(m, s);
          if (failed(data))
            return failure();
          LogicalResult written = sink(*data, packer.matrixBytes);
          packer.done(m);
          if (failed(written))
            return failure();
          if (s)
            s += partScales[i];
        }
      }
      return success();
    };
    if (failed(appendBlob(at, produce, &offset, &bytes, &checksums, expertSlices(shape))))
      return failure();
    if (fp8 && failed(appendBlob(
                   at,
                   [&](auto sink) {
                     return sink(reinterpret_cast<const uint8_t *>(scales.data()),
                                 scales.size() * sizeof(float));
                   },
                   &scaleOffset, &scaleBytes, &scaleChecksums, expertSlices(scaleShape))))
      return failure();
    if (op.getFile())
      reportPacked(name, type, bytes + scaleBytes, shards, start);
  }
  // A synthetic weight stacked from two: the second's seed from the first
  // part's rows on (Weight.seed_split).
  auto init = seed ? fb::WeightInit_RandomUniform : fb::WeightInit_Blob;
  uint64_t seedValue = static_cast<uint64_t>(seed.value_or(0)), seed2 = 0;
  int64_t split = 0;
  if (seed && parts.size() == 2) {
    ArrayRef<int64_t> first = cast<exec::BufferType>(op.getType()).getShape();
    split = first[first.size() - 2];
    seed2 = static_cast<uint64_t>(*second.getRandomSeed());
  }
  int32_t scaleIndex = -1;
  if (fp8) { // the scales first, so the codes can name them
    std::string scaleName = parts.size() == 1 && op.getScales() && !op.getMxfp4() &&
                                    !op.getRowStart()
                                ? op.getScales()->str()
                                : name.str() + "_scale_inv";
    std::vector<int64_t> scaleVec(scaleShape.begin(), scaleShape.end());
    scaleIndex = static_cast<int32_t>(weights.size());
    weightBlobs.push_back(seed ? UINT64_MAX : scaleOffset);
    weights.push_back(fb::CreateWeightDirect(
        fbb, scaleName.c_str(), fb::DType_F32, &scaleVec, scaleOffset, scaleBytes, init,
        seedValue, fb::WeightLayout_RowMajor, &scaleChecksums, /*scales=*/-1,
        /*group_size=*/0, seed ? 0 : expertSlices(scaleShape)));
  }
  std::vector<int64_t> shapeVec(shape.begin(), shape.end());
  uint32_t index = weights.size();
  weightBlobs.push_back(seed ? UINT64_MAX : offset);
  weights.push_back(fb::CreateWeightDirect(
      fbb, name.str().c_str(), dtypeOf(elemType), &shapeVec, offset, bytes, init, seedValue,
      panels ? fb::WeightLayout_Panels32 : fb::WeightLayout_RowMajor, &checksums,
      scaleIndex, static_cast<int32_t>(op.getGroupSize().value_or(0)),
      seed ? 0 : expertSlices(shape), split, seed2));
  weightIndex[key] = index;
  refs[at->getResult(0)] = fb::Ref(fb::RefKind_Weight, index);
  return success();
}

LogicalResult Writer::packConcat(exec::ConcatWeightsOp op) {
  auto first = op.getFirst().getDefiningOp<exec::WeightOp>(),
       second = op.getSecond().getDefiningOp<exec::WeightOp>();
  std::string key = "stack(" + weightKey(first) + ", " + weightKey(second) + ")";
  if (auto it = weightIndex.find(key); it != weightIndex.end()) {
    refs[op.getResult()] = fb::Ref(fb::RefKind_Weight, it->second);
    return success();
  }
  return packMatrices(op, {first, second}, cast<exec::BufferType>(op.getType()),
                      artifactName(first) + "+" + artifactName(second), key);
}

/// What identifies a weight's stored bytes: two ops with the same key are
/// written once.
std::string weightKey(exec::WeightOp op) {
  std::string key = op.getTensorName().str() + "|" + op.getFile().value_or("").str() + "|";
  llvm::raw_string_ostream(key) << op.getType();
  if (op.getValue())
    key += "|inline@" + std::to_string(reinterpret_cast<uintptr_t>(
                            op.getValueAttr().getAsOpaquePointer()));
  if (auto seed = op.getRandomSeed())
    key += "|random@" + std::to_string(*seed);
  if (op.getPanels())
    key += "|panels";
  if (auto g = op.getGroupSize())
    key += "|group@" + std::to_string(*g);
  if (auto start = op.getRowStart())
    key += "|rows@" + std::to_string(*start) + "/" + std::to_string(*op.getRowStep());
  return key;
}

/// Whether `w` is read only as a part of stacked weights (which write its
/// bytes), so that it is not written on its own.
bool onlyStacked(exec::WeightOp w) {
  return !w.getResult().use_empty() && llvm::all_of(w.getResult().getUsers(), [](Operation *u) {
    return isa<exec::ConcatWeightsOp>(u);
  });
}

LogicalResult Writer::packWeight(exec::WeightOp op) {
  auto type = cast<exec::BufferType>(op.getType());
  std::string key = weightKey(op);
  if (auto it = weightIndex.find(key); it != weightIndex.end()) {
    refs[op.getResult()] = fb::Ref(fb::RefKind_Weight, it->second);
    return success();
  }
  Type elemType = type.getElementType();
  if (exec::isQuantizedWeightType(elemType))
    return packMatrices(op, {op}, type, artifactName(op), key);
  std::optional<Elem> elem = elemOf(elemType);
  if (!elem)
    return op.emitError() << "moe-export-artifact: weights are packed as f32, "
                             "bf16 or f16, not "
                          << elemType;
  ArrayRef<int64_t> shape = type.getShape();
  bool panels = op.getPanels();
  if (panels && cuda)
    return op.emitError() << "moe-export-artifact: weight '"
                          << op.getTensorName()
                          << "' is in panels, the CPU target's layout, but "
                             "the module is for cuda";
  // In panels: each [n, k] matrix is packed as it is written.
  int64_t n = panels ? shape[shape.size() - 2] : 0, k = shape.back();
  size_t eb = elemBytes(*elem);
  uint64_t matrixBytes =
      panels ? moert::panelElements(n, k, moert::panelDepthFor(*elem == Elem::BF16)) * eb : 0;
  std::optional<int64_t> seed = op.getRandomSeed();
  uint64_t offset = 0, bytes = 0;
  std::vector<uint64_t> checksums;
  auto start = Clock::now();
  std::set<std::string> shards;

  // Writes `count` row-major elements of `src` (of `from`) as the weight's
  // bytes: as they are, or packed one [n, k] matrix at a time.
  auto emitRows = [&](auto sink, const uint8_t *src, Elem from,
                      uint64_t count) -> LogicalResult {
    if (!panels) {
      if (from == *elem)
        return sink(src, count * eb);
      // Converted in pieces of at most 64 MiB of output.
      uint64_t piece = std::max<uint64_t>(1, (uint64_t(64) << 20) / eb);
      uint8_t *dst = scratch(packed, op, std::min(count, piece) * eb);
      if (!dst)
        return failure();
      for (uint64_t at = 0; at < count; at += piece) {
        uint64_t m = std::min(piece, count - at);
        dispatch<ConvertRows>(from, *elem, src + at * elemBytes(from), m, dst);
        if (failed(sink(dst, m * eb)))
          return failure();
      }
      return success();
    }
    uint64_t perMatrix = static_cast<uint64_t>(n * k);
    assert(count % perMatrix == 0 && "whole matrices");
    uint8_t *dst = scratch(packed, op, matrixBytes);
    if (!dst)
      return failure();
    for (uint64_t at = 0; at < count; at += perMatrix) {
      dispatch<PackPanels>(from, *elem, src + at * elemBytes(from), n, k, dst);
      if (failed(sink(dst, matrixBytes)))
        return failure();
    }
    return success();
  };

  if (seed) {
    // Generated by the runtime at load time: no bytes in the artifact.
  } else if (op.getValue()) {
    // As f32, converted to the weight's type as it is written.
    const float *values = inlineValues(op, gathered);
    if (!values)
      return failure();
    uint64_t count = static_cast<uint64_t>(op.getValueAttr().getNumElements());
    if (failed(appendBlob(
            op,
            [&](auto sink) {
              return emitRows(sink, reinterpret_cast<const uint8_t *>(values),
                              Elem::F32, count);
            },
            &offset, &bytes, &checksums, expertSlices(shape))))
      return failure();
  } else {
    // The tensors, checked before anything is written. With `scales`, fp8
    // codes dequantized here (to f32, then converted as any f32 tensor).
    auto found = weightTensors(op, shards);
    if (failed(found))
      return failure();
    std::vector<const SafetensorsTensor *> &tensors = found->values,
                                           &scaleTensors = found->scales;
    ArrayRef<int64_t> each = found->each;
    int64_t count = found->count;
    bool selected = op.getMxfp4() || op.getRowStart().has_value();
    bool fromCodes = op.getScales().has_value() && !selected;
    // Each tensor holds whole [n, k] matrices (or the weight is not in
    // panels): packed and written one tensor at a time. Else (a stacked
    // [E, k] in panels: each tensor one row) the rows are gathered first.
    bool gather = panels && each.size() < 2;
    uint64_t perTensor = static_cast<uint64_t>(ShapedType::getNumElements(each));
    uint8_t *rows = nullptr;
    if (gather && !(rows = scratch(gathered, op, perTensor * count * eb)))
      return failure();
    auto produce = [&](auto sink) -> LogicalResult {
      for (int64_t e = 0; e < count; ++e) {
        const SafetensorsTensor *t = tensors[e];
        const uint8_t *src = t->data.data();
        if (selected) { // selected rows or MXFP4, matrix by matrix in f32
          int64_t n = each[each.size() - 2], k = each.back();
          uint64_t perMatrix = static_cast<uint64_t>(n * k);
          float *values = reinterpret_cast<float *>(
              scratch(decoded, op, perMatrix * sizeof(float)));
          if (!values)
            return failure();
          for (uint64_t m = 0; m < perTensor / perMatrix; ++m)
            if (failed(readSelectedMatrix(
                    op, *t, scaleTensors.empty() ? nullptr : scaleTensors[e],
                    each, m, values)) ||
                failed(emitRows(sink, reinterpret_cast<const uint8_t *>(values),
                                Elem::F32, perMatrix)))
              return failure();
          t->releasePages();
          continue;
        }
        Elem from = fromCodes ? Elem::F32 : *elemOf(t->dtype);
        if (fromCodes) { // dequantized, matrix by matrix
          int64_t n = each[each.size() - 2], k = each.back();
          uint64_t perMatrix = static_cast<uint64_t>(n * k);
          uint64_t perScales = moert::fp8Blocks(n) * moert::fp8Blocks(k);
          float *values = reinterpret_cast<float *>(
              scratch(decoded, op, perTensor * sizeof(float)));
          std::vector<float> blockScales(perScales);
          if (!values)
            return failure();
          for (uint64_t m = 0; m < perTensor / perMatrix; ++m)
            if (failed(readFp8Matrix(op, *t, *scaleTensors[e], m, n, k,
                                     blockScales.data(), values + m * perMatrix)))
              return failure();
          src = reinterpret_cast<const uint8_t *>(values);
        }
        if (gather)
          dispatch<ConvertRows>(from, *elem, src, perTensor,
                                rows + e * perTensor * eb);
        else if (failed(emitRows(sink, src, from, perTensor)))
          return failure();
        t->releasePages();
      }
      if (gather)
        return emitRows(sink, rows, *elem, perTensor * count);
      return success();
    };
    if (failed(appendBlob(op, produce, &offset, &bytes, &checksums, expertSlices(shape))))
      return failure();
  }
  if (!seed && bytes != weightBytes(shape, *elem, panels))
    return op.emitError() << "moe-export-artifact: internal error: weight '"
                          << op.getTensorName() << "' packed to " << bytes
                          << " bytes, expected "
                          << weightBytes(shape, *elem, panels);
  if (op.getFile() && !seed)
    reportPacked(artifactName(op), type, bytes, shards, start);
  std::vector<int64_t> shapeVec(shape.begin(), shape.end());
  uint32_t index = weights.size();
  weightBlobs.push_back(seed ? UINT64_MAX : offset);
  weights.push_back(fb::CreateWeightDirect(
      fbb, artifactName(op).c_str(), dtypeOf(elemType), &shapeVec, offset,
      bytes, seed ? fb::WeightInit_RandomUniform : fb::WeightInit_Blob,
      static_cast<uint64_t>(seed.value_or(0)),
      panels ? fb::WeightLayout_Panels32 : fb::WeightLayout_RowMajor,
      &checksums, /*scales=*/-1, /*group_size=*/0, seed ? 0 : expertSlices(shape)));
  weightIndex[key] = index;
  refs[op.getResult()] = fb::Ref(fb::RefKind_Weight, index);
  return success();
}

/// A progress line for a weight packed from a checkpoint.
void Writer::reportPacked(StringRef name, exec::BufferType type, uint64_t bytes,
                          const std::set<std::string> &shards,
                          Clock::time_point start) {
  packedFromFiles += 1;
  if (!progress)
    return;
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  double total = std::chrono::duration<double>(Clock::now() - packStart).count();
  uint64_t done = out.size();
  std::string from;
  for (const std::string &shard : shards)
    from += (from.empty() ? "" : ", ") + shard;
  llvm::errs() << "moe-compile: packed " << packedFromFiles << "/"
               << weightsFromFiles << " '" << name << "' "
               << formatShape(type.getShape()) << " " << type.getElementType()
               << " from " << from << ": " << formatBytes(bytes)
               << llvm::format(" in %.2f s (%.0f MiB/s); ", seconds,
                               seconds > 0 ? bytes / double(1 << 20) / seconds
                                           : 0.0)
               << formatBytes(done) << " of about " << formatBytes(expectedBytes)
               << " written, "
               << llvm::format("%.0f MiB/s",
                               total > 0 ? done / double(1 << 20) / total : 0.0)
               << "\n";
}

FailureOr<std::vector<const SafetensorsTensor *>>
Writer::findTensors(exec::WeightOp op, const SafetensorsCheckpoint &ckpt,
                    StringRef pattern, int64_t count, ArrayRef<int64_t> each) {
  std::vector<const SafetensorsTensor *> tensors;
  for (int64_t e = 0; e < count; ++e) {
    std::string name = expertTensorName(pattern, e);
    const SafetensorsTensor *t = ckpt.find(name);
    if (!t)
      return op.emitError() << "moe-export-artifact: " << *op.getFile()
                            << ": missing tensor '" << name << "'";
    if (ArrayRef<int64_t>(t->shape) != each)
      return op.emitError() << "moe-export-artifact: tensor '" << name
                            << "' has shape " << t->getShapeString()
                            << ", expected " << formatShape(each)
                            << " (the checkpoint changed since import?)";
    tensors.push_back(t);
  }
  return tensors;
}

FailureOr<Writer::WeightTensors>
Writer::weightTensors(exec::WeightOp op, std::set<std::string> &shards) {
  auto ckpt = checkpoint(*op.getFile(), op);
  if (failed(ckpt))
    return failure();
  ArrayRef<int64_t> shape = cast<exec::BufferType>(op.getType()).getShape();
  WeightTensors out;
  bool stacked = op.getTensorName().contains("{e}");
  out.each = stacked ? shape.drop_front() : shape;
  out.count = stacked ? shape.front() : 1;
  SmallVector<int64_t> stored = storedShape(op, out.each);
  bool mxfp4 = op.getMxfp4();
  if (mxfp4) { // blocks [..., n, k / 32, 16] and scales [..., n, k / 32]
    stored.back() /= moert::kMxfp4Group;
    SmallVector<int64_t> blocks(stored);
    blocks.push_back(moert::kMxfp4Group / 2);
    auto values = findTensors(op, **ckpt, op.getTensorName(), out.count, blocks);
    if (failed(values))
      return failure();
    auto scales = findTensors(op, **ckpt, *op.getScales(), out.count, stored);
    if (failed(scales))
      return failure();
    out.values = std::move(*values);
    out.scales = std::move(*scales);
    for (size_t i = 0; i < out.values.size(); ++i) {
      for (const SafetensorsTensor *t : {out.values[i], out.scales[i]})
        if (t->dtype != SafetensorsDType::U8)
          return op.emitError()
                 << "moe-export-artifact: tensor '" << t->name << "' has dtype "
                 << stringifySafetensorsDType(t->dtype)
                 << ", expected U8 (MXFP4 blocks and their e8m0 scales)";
      shards.insert(llvm::sys::path::filename(out.values[i]->file).str());
    }
    return out;
  }
  auto values = findTensors(op, **ckpt, op.getTensorName(), out.count, stored);
  if (failed(values))
    return failure();
  out.values = std::move(*values);
  bool fromCodes = op.getScales().has_value();
  if (fromCodes) {
    auto scales = findTensors(op, **ckpt, *op.getScales(), out.count,
                              fp8ScaleShape(out.each));
    if (failed(scales))
      return failure();
    out.scales = std::move(*scales);
  }
  for (size_t i = 0; i < out.values.size(); ++i) {
    const SafetensorsTensor *t = out.values[i];
    bool ok = fromCodes ? t->dtype == SafetensorsDType::F8_E4M3 &&
                              (out.scales[i]->dtype == SafetensorsDType::F32 ||
                               out.scales[i]->dtype == SafetensorsDType::BF16)
                        : elemOf(t->dtype).has_value();
    if (!ok)
      return op.emitError()
             << "moe-export-artifact: tensor '" << t->name << "' has dtype "
             << stringifySafetensorsDType(t->dtype)
             << (fromCodes ? " (its scales " +
                                 stringifySafetensorsDType(out.scales[i]->dtype).str() + ")"
                           : "")
             << ", expected "
             << (fromCodes ? "F8_E4M3 codes with F32 or BF16 scales"
                           : "F32, BF16 or F16 values");
    shards.insert(llvm::sys::path::filename(t->file).str());
  }
  return out;
}

FailureOr<Writer::MatrixSource>
Writer::matrixSource(exec::WeightOp op, uint64_t matrices, std::set<std::string> &shards,
                     Scratch &inlineBuffer) {
  MatrixSource src;
  src.perTensor = matrices;
  if (op.getValue()) {
    src.inlineValues = inlineValues(op, inlineBuffer);
    if (!src.inlineValues)
      return failure();
    return src;
  }
  auto found = weightTensors(op, shards);
  if (failed(found))
    return failure();
  src.tensors = std::move(*found);
  src.perTensor = matrices / static_cast<uint64_t>(src.tensors.count);
  return src;
}

std::string Writer::MatrixSource::what(exec::WeightOp op, uint64_t m) const {
  if (inlineValues)
    return "the inline value of '" + op.getTensorName().str() + "'";
  return "tensor '" + tensors.values[m / perTensor]->name + "'";
}

void Writer::MatrixSource::done(uint64_t m) const {
  if (inlineValues || (m + 1) % perTensor != 0)
    return;
  tensors.values[m / perTensor]->releasePages();
  if (!tensors.scales.empty())
    tensors.scales[m / perTensor]->releasePages();
}

FailureOr<const float *> Writer::readMatrixF32(exec::WeightOp op, const MatrixSource &src,
                                               uint64_t m, int64_t n, int64_t k,
                                               float *values, float *fp8Scales) {
  uint64_t perMatrix = static_cast<uint64_t>(n * k);
  if (src.inlineValues)
    return src.inlineValues + m * perMatrix;
  const SafetensorsTensor &t = *src.tensors.values[m / src.perTensor];
  const SafetensorsTensor *scales =
      src.tensors.scales.empty() ? nullptr : src.tensors.scales[m / src.perTensor];
  uint64_t local = m % src.perTensor;
  if (op.getMxfp4() || op.getRowStart()) { // MXFP4 values or selected rows
    if (failed(readSelectedMatrix(op, t, op.getMxfp4() ? scales : nullptr,
                                  src.tensors.each, local, values)))
      return failure();
  } else if (scales) { // fp8 codes, decoded and scaled
    if (failed(readFp8Matrix(op, t, *scales, local, n, k, fp8Scales, values)))
      return failure();
  } else {
    Elem from = *elemOf(t.dtype);
    dispatch<ConvertRows>(from, Elem::F32, t.data.data() + local * perMatrix * elemBytes(from),
                          perMatrix, reinterpret_cast<uint8_t *>(values));
  }
  return static_cast<const float *>(values);
}

/// The stored row of row r of matrix m ([n, k]) of a weight read with
/// rows(start, step) along its rows (or without a selection).
uint64_t selectedRow(exec::WeightOp op, uint64_t m, int64_t n, int64_t r) {
  uint64_t row = m * static_cast<uint64_t>(n) + static_cast<uint64_t>(r);
  if (!op.getRowStart())
    return row;
  return row * static_cast<uint64_t>(*op.getRowStep()) +
         static_cast<uint64_t>(*op.getRowStart());
}

/// Records `at` (an index, say of a NaN) in `first` when it comes before the
/// one `first` holds (-1: none yet). Lock-free, for parallel rows.
void noteFirst(std::atomic<int64_t> &first, int64_t at) {
  int64_t seen = first.load();
  while ((seen < 0 || at < seen) && !first.compare_exchange_weak(seen, at)) {
  }
}

/// The error for the NaN e8m0 scale at `at` (row · groups + group).
LogicalResult nanScaleError(exec::WeightOp op, const SafetensorsTensor &scales,
                            int64_t at, int64_t groups) {
  return op.emitError() << "moe-export-artifact: scale tensor '" << scales.name
                        << "' holds the e8m0 NaN scale 0xFF at [" << at / groups
                        << ", " << at % groups
                        << "] (row, group of 32); a weight must be finite";
}

LogicalResult Writer::readMxfp4Matrix(exec::WeightOp op, const SafetensorsTensor &t,
                                      const SafetensorsTensor &scales, uint64_t m,
                                      int64_t n, int64_t k, uint8_t *blocks,
                                      uint8_t *scalesOut) {
  int64_t groups = k / moert::kMxfp4Group;
  std::atomic<int64_t> firstNaN{-1};
  llvm::parallelFor(0, static_cast<size_t>(n), [&](size_t r) {
    uint64_t row = selectedRow(op, m, n, static_cast<int64_t>(r));
    std::memcpy(blocks + r * (k / 2), t.data.data() + row * (k / 2), k / 2);
    const uint8_t *e = scales.data.data() + row * groups;
    std::memcpy(scalesOut + r * groups, e, groups);
    for (int64_t g = 0; g < groups; ++g)
      if (moert::isE8m0NaN(e[g])) {
        noteFirst(firstNaN, static_cast<int64_t>(row) * groups + g);
        return;
      }
  });
  if (int64_t at = firstNaN.load(); at >= 0)
    return nanScaleError(op, scales, at, groups);
  return success();
}

LogicalResult Writer::readSelectedMatrix(exec::WeightOp op,
                                         const SafetensorsTensor &t,
                                         const SafetensorsTensor *scales,
                                         ArrayRef<int64_t> logical, uint64_t m,
                                         float *values) {
  int64_t n = logical[logical.size() - 2], k = logical.back();
  int64_t start = op.getRowStart().value_or(0), step = op.getRowStep().value_or(1);
  bool columns = op.getRowStart() && logical.size() == 2; // [E, N]: dim 1
  // Element (r, c) of matrix m is element (row(r), start' + c · step') of
  // the stored tensor, whose rows hold rowLength values.
  int64_t rowLength = columns ? k * step : k;
  int64_t colStart = columns ? start : 0, colStep = columns ? step : 1;
  auto storedRow = [&](int64_t r) -> uint64_t {
    return columns ? m * static_cast<uint64_t>(n) + static_cast<uint64_t>(r)
                   : selectedRow(op, m, n, r);
  };
  int64_t groups = rowLength / moert::kMxfp4Group;
  std::atomic<int64_t> firstNaN{-1};
  llvm::parallelFor(0, static_cast<size_t>(n), [&](size_t r) {
    uint64_t row = storedRow(static_cast<int64_t>(r));
    float *out = values + r * static_cast<uint64_t>(k);
    if (!scales) {
      for (int64_t c = 0; c < k; ++c)
        out[c] = t.getFloat(row * rowLength + colStart + c * colStep);
      return;
    }
    const uint8_t *codes = t.data.data() + row * (rowLength / 2);
    const uint8_t *exps = scales->data.data() + row * groups;
    for (int64_t c = 0; c < k; ++c) {
      int64_t sc = colStart + c * colStep;
      uint8_t e = exps[sc / moert::kMxfp4Group];
      if (moert::isE8m0NaN(e)) {
        noteFirst(firstNaN, static_cast<int64_t>(row * groups) + sc / moert::kMxfp4Group);
        return;
      }
      uint8_t code = (sc & 1) ? codes[sc / 2] >> 4 : codes[sc / 2] & 15;
      out[c] = moert::e2m1ToFloat(code) * moert::e8m0ToFloat(e);
    }
  });
  if (int64_t at = firstNaN.load(); at >= 0)
    return nanScaleError(op, *scales, at, groups);
  return success();
}

LogicalResult Writer::readFp8Matrix(exec::WeightOp op,
                                    const SafetensorsTensor &codes,
                                    const SafetensorsTensor &scales, uint64_t m,
                                    int64_t n, int64_t k, float *scalesOut,
                                    float *values) {
  int64_t kb = moert::fp8Blocks(k);
  uint64_t perScales = static_cast<uint64_t>(moert::fp8Blocks(n) * kb);
  for (uint64_t i = 0; i < perScales; ++i) {
    // (an fp8 tensor's scales are F32 or BF16, checked at import and by
    // findTensors' callers)
    float s = scales.getFloat(m * perScales + i);
    if (!std::isfinite(s))
      return op.emitError() << "moe-export-artifact: scale tensor '"
                            << scales.name << "' holds " << s << " at index "
                            << m * perScales + i
                            << "; fp8 block scales must be finite";
    scalesOut[i] = s;
  }
  const uint8_t *c = codes.data.data() + m * static_cast<uint64_t>(n * k);
  std::atomic<int64_t> firstNaN{-1};
  llvm::parallelFor(0, static_cast<size_t>(n), [&](size_t r) {
    for (int64_t j = 0; j < k; ++j) {
      uint8_t code = c[r * k + j];
      if (moert::isFp8NaN(code)) {
        noteFirst(firstNaN, static_cast<int64_t>(r) * k + j);
        return;
      }
      if (values)
        values[r * k + j] = moert::fp8ToFloat(code) *
                            scalesOut[static_cast<int64_t>(r) / moert::kFp8Block * kb +
                                      j / moert::kFp8Block];
    }
  });
  if (int64_t at = firstNaN.load(); at >= 0)
    return op.emitError() << "moe-export-artifact: tensor '" << codes.name
                          << "' holds the fp8 NaN code 0x"
                          << llvm::utohexstr(c[at], /*LowerCase=*/false, 2) << " at ["
                          << m * n + at / k << ", " << at % k
                          << "] (matrix row, column); a weight must be finite";
  return success();
}

fb::Ref Writer::ref(Value v) { return refs.lookup(v); }

fb::Affine affine(ArrayRef<int64_t> a) { return fb::Affine(a[0], a[1]); }

flatbuffers::Offset<fb::Function> Writer::function(func::FuncOp fn) {
  refs.clear();
  std::vector<flatbuffers::Offset<fb::BufferDesc>> buffers;
  int32_t runParams = -1; // the buffer of exec.run_params, if any
  std::vector<flatbuffers::Offset<fb::TensorDesc>> inputs, outputs, aux;
  std::vector<flatbuffers::Offset<fb::CommandEntry>> commands;
  auto tensorDesc = [&](StringRef name, Value buffer) {
    auto type = cast<exec::BufferType>(buffer.getType());
    std::vector<int64_t> shape;
    for (int64_t d : type.getShape())
      shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
    return fb::CreateTensorDescDirect(fbb, name.str().c_str(),
                                      dtypeOf(type.getElementType()), &shape,
                                      ref(buffer).index());
  };
  auto addBuffer = [&](Value v, int64_t offset, ArrayRef<int64_t> bytes) {
    refs[v] = fb::Ref(fb::RefKind_Buffer, buffers.size());
    fb::Affine a = affine(bytes);
    buffers.push_back(fb::CreateBufferDesc(fbb, offset, &a));
  };
  // The artifact's index of kernel @sym, which `op` runs; an error on `op`
  // when no code object holds it (the codegen pass did not run).
  auto kernelOf = [&](Operation &op, StringRef sym) -> std::optional<uint32_t> {
    auto it = kernelIndex.find(sym);
    if (it != kernelIndex.end())
      return it->second;
    op.emitError() << "moe-export-artifact: kernel @" << sym
                   << " is in no code object (run moe-codegen-host or "
                      "moe-codegen-cuda first)";
    failedAny = true;
    return std::nullopt;
  };
  // A command's optional kernel (gemv, dequant): its index, or -1 without
  // one; nullopt after an error.
  auto optionalKernel = [&](Operation &op,
                            std::optional<StringRef> sym) -> std::optional<int32_t> {
    if (!sym)
      return -1;
    std::optional<uint32_t> kernel = kernelOf(op, *sym);
    if (!kernel)
      return std::nullopt;
    return static_cast<int32_t>(*kernel);
  };
  for (Operation &op : fn.getBody().front()) {
    if (failedAny)
      break;
    if (auto in = dyn_cast<exec::InputOp>(op)) {
      addBuffer(in.getResult(), in.getOffset(), in.getBytes());
      inputs.push_back(tensorDesc(in.getName(), in.getResult()));
    } else if (auto a = dyn_cast<exec::AllocOp>(op)) {
      addBuffer(a.getResult(), a.getOffset(), a.getBytes());
    } else if (auto p = dyn_cast<exec::RunParamsOp>(op)) {
      runParams = static_cast<int32_t>(buffers.size());
      addBuffer(p.getResult(), p.getOffset(), {0, 16});
    } else if (auto w = dyn_cast<exec::WeightOp>(op)) {
      if (!onlyStacked(w) && failed(packWeight(w)))
        failedAny = true;
    } else if (auto c = dyn_cast<exec::ConcatWeightsOp>(op)) {
      if (failed(packConcat(c)))
        failedAny = true;
    } else if (auto out = dyn_cast<exec::OutputOp>(op)) {
      (out.getAux() ? aux : outputs)
          .push_back(tensorDesc(out.getName(), out.getBuffer()));
    } else if (auto l = dyn_cast<exec::LaunchOp>(op)) {
      std::optional<uint32_t> kernel = kernelOf(op, l.getKernel());
      if (!kernel)
        break;
      std::vector<fb::Ref> args;
      for (Value v : l.getArgs())
        args.push_back(ref(v));
      fb::Affine extent = affine(l.getExtent());
      fb::Ref limit = l.getLimit() ? ref(l.getLimit()) : fb::Ref();
      auto launch = fb::CreateLaunchDirect(
          fbb, *kernel, &args, &extent, l.getGrain(), l.getLimit() ? &limit : nullptr,
          static_cast<int64_t>(l.getLimitIndex().value_or(0)), bool(l.getLimit()));
      commands.push_back(
          fb::CreateCommandEntry(fbb, fb::Command_Launch, launch.Union()));
    } else if (auto g = dyn_cast<exec::GemmOp>(op)) {
      fb::Ref a = ref(g.getA()), b = ref(g.getB()), c = ref(g.getC());
      fb::Affine rows = affine(g.getRows());
      std::optional<int32_t> dequant = optionalKernel(op, g.getDequant()),
                             actQuant = optionalKernel(op, g.getActQuant());
      if (!dequant || !actQuant)
        break;
      auto gemm = fb::CreateGemm(fbb, &a, &b, &c, &rows, g.getN(), g.getK(),
                                 g.getAccumulate(), bufferDType(g.getB()),
                                 g.getInt8Activations(), *dequant,
                                 bufferDType(g.getC()), *actQuant);
      commands.push_back(
          fb::CreateCommandEntry(fbb, fb::Command_Gemm, gemm.Union()));
    } else if (auto g = dyn_cast<exec::GroupedGemmOp>(op)) {
      fb::Ref a = ref(g.getA()), b = ref(g.getB()), c = ref(g.getC()),
              o = ref(g.getOffsets());
      fb::Affine rows = affine(g.getRows());
      std::optional<int32_t> gemv = optionalKernel(op, g.getGemv()),
                             dequant = optionalKernel(op, g.getDequant()),
                             actQuant = optionalKernel(op, g.getActQuant());
      if (!gemv || !dequant || !actQuant)
        break;
      fb::Ref map = g.getMap() ? ref(g.getMap()) : fb::Ref();
      auto gemm = fb::CreateGroupedGemm(fbb, &a, &b, &c, &o, &rows,
                                        g.getExperts(), g.getN(), g.getK(),
                                        bufferDType(g.getB()), *gemv,
                                        g.getGemvMaxTokens().value_or(0),
                                        g.getInt8Activations(), *dequant,
                                        g.getMap() ? &map : nullptr,
                                        bool(g.getMap()),
                                        bufferDType(g.getC()), *actQuant);
      commands.push_back(
          fb::CreateCommandEntry(fbb, fb::Command_GroupedGemm, gemm.Union()));
    } else if (auto x = dyn_cast<exec::ExchangeOp>(op)) {
      fb::Ref src = ref(x.getSrc()), off = ref(x.getOffsets()),
              soff = ref(x.getSlotOffsets()), smap = ref(x.getSlotExperts()),
              counts = ref(x.getCounts()), dst = ref(x.getDst());
      fb::Affine rows = affine(x.getRows());
      auto type = cast<exec::BufferType>(x.getSrc().getType());
      int64_t rowBytes = type.getShape()[1] *
                         type.getElementType().getIntOrFloatBitWidth() / 8;
      auto exchange = fb::CreateExchange(fbb, &src, &off, &soff, &smap, &counts,
                                         &dst, &rows, rowBytes, x.getRecvRows(),
                                         x.getRanks(), x.getSlots(),
                                         x.getExperts(), x.getBack());
      commands.push_back(
          fb::CreateCommandEntry(fbb, fb::Command_Exchange, exchange.Union()));
    } else if (auto x = dyn_cast<exec::ExpertChoiceOp>(op)) {
      fb::Ref scores = ref(x.getScores()), rw = ref(x.getRowWeight()),
              rt = ref(x.getRowToken()), off = ref(x.getOffsets());
      fb::Affine tokens = affine(x.getTokens());
      auto choice = fb::CreateExpertChoice(
          fbb, &scores, &rw, &rt, &off, &tokens, x.getMaxTokens(), x.getMaxRows(),
          x.getExperts(), x.getRanks(), x.getCapacityFactor().convertToDouble());
      commands.push_back(
          fb::CreateCommandEntry(fbb, fb::Command_ExpertChoice, choice.Union()));
    } else if (auto f = dyn_cast<exec::FillOp>(op)) {
      fb::Ref dst = ref(f.getDst());
      fb::Affine bytes = affine(f.getBytes());
      auto fill = fb::CreateFill(fbb, &dst, &bytes, f.getValue());
      commands.push_back(
          fb::CreateCommandEntry(fbb, fb::Command_Fill, fill.Union()));
    } else if (auto c = dyn_cast<exec::CopyOp>(op)) {
      fb::Ref src = ref(c.getSrc()), dst = ref(c.getDst());
      fb::Affine bytes = affine(c.getBytes());
      auto copy = fb::CreateCopy(fbb, &src, &dst, &bytes);
      commands.push_back(
          fb::CreateCommandEntry(fbb, fb::Command_Copy, copy.Union()));
    } else if (!isa<func::ReturnOp>(op)) {
      op.emitError() << "moe-export-artifact: '" << op.getName()
                     << "' is not an exec command";
      failedAny = true;
    }
  }
  auto arena = fn->getAttrOfType<IntegerAttr>(
      exec::ExecDialect::ArenaBytesAttrHelper::getNameStr());
  return fb::CreateFunctionDirect(fbb, fn.getSymName().str().c_str(), &inputs,
                                  &outputs, &aux, &buffers, &commands,
                                  arena ? arena.getInt() : 0, runParams);
}

LogicalResult Writer::write(StringRef path) {
  // What the file will hold, for the disk reservation and the progress
  // lines (weights shared by several ops are counted once per op: an
  // over-estimate; the file is trimmed at the end).
  expectedBytes = kHeaderBytes + (1 << 20);
  module.walk([&](exec::ExchangeOp) { sharded = true; });
  module.walk([&](exec::ConcatWeightsOp c) {
    auto first = c.getFirst().getDefiningOp<exec::WeightOp>();
    weightsFromFiles += first.getFile().has_value() && !first.getRandomSeed();
  });
  module.walk([&](exec::WeightOp w) {
    // (The bytes of stacked weights are their parts'.)
    weightsFromFiles += w.getFile().has_value() && !w.getRandomSeed() && !onlyStacked(w);
    auto type = cast<exec::BufferType>(w.getType());
    std::optional<Elem> elem = elemOf(type.getElementType());
    if (!w.getRandomSeed() && elem)
      expectedBytes += moert::alignUp(
          weightBytes(type.getShape(), *elem, w.getPanels()));
    if (!w.getRandomSeed() && isa<Float4E2M1FNType>(type.getElementType()))
      expectedBytes += moert::alignUp(
          static_cast<uint64_t>(ShapedType::getNumElements(type.getShape().drop_back(2))) *
          moert::mxfp4MatrixBytes(type.getShape()[type.getShape().size() - 2],
                                  type.getShape().back(), w.getPanels()));
    if (!w.getRandomSeed() && w.getGroupSize())
      expectedBytes += moert::alignUp(
          static_cast<uint64_t>(ShapedType::getNumElements(type.getShape().drop_back(2))) *
          moert::intPanelBytes(type.getElementType().isSignlessInteger(8) ? 8 : 4,
                               type.getShape()[type.getShape().size() - 2],
                               type.getShape().back(), *w.getGroupSize()));
    if (!w.getRandomSeed() && isa<Float8E4M3FNType>(type.getElementType()))
      expectedBytes += moert::alignUp(fp8Bytes(type.getShape(), w.getPanels())) +
                       moert::alignUp(4 * static_cast<uint64_t>(ShapedType::getNumElements(
                                              fp8ScaleShape(type.getShape()))));
  });
  for (auto co : module.getOps<exec::CodeObjectOp>())
    if (auto data = dyn_cast<DenseResourceElementsAttr>(co.getData()))
      if (AsmResourceBlob *blob = data.getRawHandle().getBlob())
        expectedBytes += moert::alignUp(blob->getData().size());
  if (auto e = out.open(path, expectedBytes))
    return module.emitError() << "moe-export-artifact: " << *e;
  static const char zeros[kHeaderBytes] = {}; // the header, written last
  if (auto e = out.append(zeros, kHeaderBytes))
    return module.emitError() << "moe-export-artifact: " << *e;
  if (progress)
    llvm::errs() << "moe-compile: writing " << path << ": " << weightsFromFiles
                 << " weights from checkpoints, about "
                 << formatBytes(expectedBytes) << "\n";
  packStart = Clock::now();
  // Code objects first: kernels are referenced by index from launches.
  std::vector<flatbuffers::Offset<fb::CodeObject>> codeObjects;
  std::vector<flatbuffers::Offset<fb::Kernel>> kernels;
  auto targetAttr = module->getAttrOfType<StringAttr>(
      exec::ExecDialect::TargetAttrHelper::getNameStr());
  cuda = targetAttr && targetAttr.getValue() == "cuda";
  std::string arch = cuda ? "" : "x86-64";
  if (auto a = module->getAttrOfType<StringAttr>(
          exec::ExecDialect::TargetArchAttrHelper::getNameStr()))
    arch = a.getValue().str();
  for (auto co : module.getOps<exec::CodeObjectOp>()) {
    arch = co.getArch().str();
    fb::CodeFormat format;
    if (co.getFormat() == "host-so" && !cuda)
      format = fb::CodeFormat_HostSharedObject;
    else if (co.getFormat() == "ptx" && cuda)
      format = fb::CodeFormat_Ptx;
    else if (co.getFormat() == "cubin" && cuda)
      format = fb::CodeFormat_Cubin;
    else
      return co.emitError() << "moe-export-artifact: code object format '"
                            << co.getFormat() << "' does not belong to the "
                            << (cuda ? "cuda" : "cpu") << " target";
    auto data = dyn_cast<DenseResourceElementsAttr>(co.getData());
    AsmResourceBlob *blob = data ? data.getRawHandle().getBlob() : nullptr;
    if (!blob)
      return co.emitError() << "moe-export-artifact: the code object has no "
                               "data";
    ArrayRef<char> bytes = blob->getData();
    uint64_t offset = 0, size = 0;
    std::vector<uint64_t> checksums;
    if (failed(appendBlob(
            co,
            [&](auto sink) {
              return sink(reinterpret_cast<const uint8_t *>(bytes.data()),
                          bytes.size());
            },
            &offset, &size, &checksums)))
      return failure();
    uint32_t index = codeObjects.size();
    codeBlobs.push_back(offset);
    codeObjects.push_back(fb::CreateCodeObjectDirect(
        fbb, format, co.getArch().str().c_str(), offset, size, &checksums));
    std::optional<DictionaryAttr> lanes = co.getLanes();
    std::optional<DictionaryAttr> bounds = co.getBounds();
    for (NamedAttribute k : co.getKernels()) {
      uint32_t laneCount = 1;
      if (lanes)
        if (auto l = lanes->getAs<IntegerAttr>(k.getName()))
          laneCount = l.getInt();
      int64_t numArgs = cast<IntegerAttr>(k.getValue()).getInt();
      auto b = bounds ? bounds->getAs<DenseI64ArrayAttr>(k.getName())
                      : DenseI64ArrayAttr();
      if (!b || b.size() != numArgs + 2)
        return co.emitError() << "moe-export-artifact: the code object states "
                                 "no bounds for kernel '"
                              << k.getName() << "' (compile it with "
                                 "moe-codegen-host or moe-codegen-cuda)";
      std::vector<uint64_t> argBytes(b.asArrayRef().begin() + 2,
                                     b.asArrayRef().end());
      kernelIndex[k.getName()] = kernels.size();
      kernels.push_back(fb::CreateKernelDirect(
          fbb, k.getName().str().c_str(), index, numArgs, laneCount, b[0],
          static_cast<uint64_t>(b[1]), &argBytes));
    }
  }
  std::vector<flatbuffers::Offset<fb::Function>> functions;
  int64_t maxTokens = 0;
  for (auto fn : module.getOps<func::FuncOp>()) {
    auto mt = fn->getAttrOfType<IntegerAttr>(
        exec::ExecDialect::MaxTokensAttrHelper::getNameStr());
    if (!mt)
      return fn.emitError() << "moe-export-artifact: @" << fn.getSymName()
                            << " is not an exec plan (run moe-lower-to-exec "
                               "first)";
    maxTokens = mt.getInt();
    functions.push_back(function(fn));
    if (failedAny)
      return failure();
  }
  if (functions.empty())
    return module.emitError() << "moe-export-artifact: no function to export";

  auto model = fb::CreateModelDirect(fbb, "moec " MOEC_VERSION_STRING,
                                     cuda ? fb::Target_Cuda : fb::Target_CpuX86_64,
                                     arch.c_str(),
                                     maxTokens, &functions, &kernels,
                                     &codeObjects, &weights);
  fbb.Finish(model, fb::ModelIdentifier());

  // The table after the blobs, then the header.
  if (auto e = out.align())
    return module.emitError() << "moe-export-artifact: " << *e;
  const char *table = reinterpret_cast<const char *>(fbb.GetBufferPointer());
  uint64_t tableSize = fbb.GetSize();
  moert::FileHeader header{};
  std::memcpy(header.magic, moert::kMagic, 8);
  // Format 5 only where a function has run parameters (noisy routers): a
  // runtime that reads format 4 only must refuse those, and reads the rest.
  // Format 6 only where a GEMM writes a 16-bit C; 8 only where a synthetic
  // weight is stacked from two; 9 only where a GEMM has cuBLASLt's fp8 engine.
  bool runParams = false, c16 = false, seedSplit = false, actQuant = false;
  module.walk([&](exec::ConcatWeightsOp c) {
    seedSplit |= c.getFirst().getDefiningOp<exec::WeightOp>().getRandomSeed().has_value();
  });
  module.walk([&](exec::RunParamsOp) { runParams = true; });
  module.walk([&](exec::GemmOp g) {
    c16 |= bufferDType(g.getC()) != fb::DType_F32;
    actQuant |= g.getActQuant().has_value();
  });
  module.walk([&](exec::GroupedGemmOp g) {
    c16 |= bufferDType(g.getC()) != fb::DType_F32;
    actQuant |= g.getActQuant().has_value();
  });
  header.format_version = moert::kMinFormatVersion;
  if (runParams)
    header.format_version = std::max(header.format_version, moert::kRunParamsFormatVersion);
  if (c16)
    header.format_version = std::max(header.format_version, moert::kGemm16FormatVersion);
  if (cuda)
    header.format_version = std::max(header.format_version, moert::kRunWordFormatVersion);
  if (seedSplit)
    header.format_version = std::max(header.format_version, moert::kSeedSplitFormatVersion);
  if (actQuant)
    header.format_version = std::max(header.format_version, moert::kActQuantFormatVersion);
  header.header_size = kHeaderBytes;
  header.blob_offset = kHeaderBytes;
  header.table_offset = out.size();
  header.blob_size = header.table_offset - kHeaderBytes; // the padding too
  header.table_size = tableSize;
  header.file_size = header.table_offset + tableSize;
  header.table_checksum = moert::checksum64(table, tableSize);
  std::vector<BlobHash> hashList;
  if (signing) {
    for (const std::vector<uint64_t> *blobs : {&codeBlobs, &weightBlobs})
      for (uint64_t offset : *blobs)
        if (offset != UINT64_MAX)
          llvm::append_range(hashList, blobHashes[offset]);
    header.signature_offset = header.file_size;
    header.signature_size = sizeof(moert::SignatureHead) +
                            hashList.size() * moert::kBlobHashBytes;
    header.file_size += header.signature_size;
  }
  header.header_checksum =
      moert::checksum64(&header, offsetof(moert::FileHeader, header_checksum));
  if (auto e = out.append(table, tableSize))
    return module.emitError() << "moe-export-artifact: " << *e;
  if (signing) {
    moert::SignatureHead head{};
    std::memcpy(head.magic, moert::kSignatureMagic, sizeof head.magic);
    std::memcpy(head.public_key, secretKey + crypto_sign_SEEDBYTES,
                sizeof head.public_key);
    head.hash_count = hashList.size();
    uint8_t digest[crypto_generichash_BYTES_MAX];
    crypto_generichash_state state;
    crypto_generichash_init(&state, nullptr, 0, sizeof digest);
    moert::forEachSignedPiece(
        header, table, tableSize, hashList.data(),
        hashList.size() * moert::kBlobHashBytes, [&](const void *p, uint64_t n) {
          crypto_generichash_update(&state, static_cast<const uint8_t *>(p), n);
        });
    crypto_generichash_final(&state, digest, sizeof digest);
    crypto_sign_detached(head.signature, nullptr, digest, sizeof digest,
                         secretKey);
    if (auto e = out.append(reinterpret_cast<const char *>(&head), sizeof head))
      return module.emitError() << "moe-export-artifact: " << *e;
    for (const BlobHash &h : hashList)
      if (auto e = out.append(reinterpret_cast<const char *>(h.data()), h.size()))
        return module.emitError() << "moe-export-artifact: " << *e;
  }
  if (auto e = out.finish(header))
    return module.emitError() << "moe-export-artifact: " << *e;
  if (progress) {
    double seconds = std::chrono::duration<double>(Clock::now() - packStart).count();
    llvm::errs() << "moe-compile: wrote " << path << ": "
                 << formatBytes(header.file_size) << " ("
                 << weights.size() << " weights, " << codeObjects.size()
                 << " code objects) in "
                 << llvm::format("%.2f s (%.0f MiB/s)", seconds,
                                 seconds > 0 ? header.file_size / double(1 << 20) / seconds
                                             : 0.0)
                 << "\n";
  }
  return success();
}

struct MoeExportArtifactPass
    : moec::impl::MoeExportArtifactBase<MoeExportArtifactPass> {
  using moec::impl::MoeExportArtifactBase<
      MoeExportArtifactPass>::MoeExportArtifactBase;

  void runOnOperation() override {
    if (output.empty()) {
      getOperation().emitError()
          << "moe-export-artifact: no output file (option output=...)";
      return signalPassFailure();
    }
    Writer writer(getOperation(), progress);
    if ((!signKey.empty() && failed(writer.setSigningKey(signKey))) ||
        failed(writer.write(output)))
      signalPassFailure();
  }
};

} // namespace
