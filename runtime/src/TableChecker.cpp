//===- TableChecker.cpp - checking an artifact's table ----------------------===//
//
// Steps 3 and 4 of docs/artifact.md, "What the loader checks": the
// FlatBuffers Verifier, then semantic bounds, converting the table into Model's
// plain structures. Every number read from the table is range-checked with
// overflow-safe arithmetic before it is used, so a bad artifact is a status,
// never an out-of-bounds access.
//
//===----------------------------------------------------------------------===//
#include "CodeObject.h"
#include "Model.h"

#include "moert/format.h"
#include "moert/fp8.h"
#include "moert/intq.h"
#include "moert/mxfp4.h"
#include "moert/half.h"
#include "moert/moeb_generated.h"

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <climits>
#include <cstring>
#include <set>
#include <sys/mman.h>
#include <unistd.h>

namespace moert::rt {

namespace {

constexpr size_t kHeaderSize = sizeof(FileHeader);
constexpr int64_t kBlasMax = INT32_MAX; // cblas_sgemm takes int dimensions
/// The most ranks an exchange may span.
constexpr int64_t kMaxRanks = 1 << 16;

bool validDType(uint8_t d) { return d <= static_cast<uint8_t>(fb::DType::INT4); }

/// A dtype's name; a byte that is no moert_dtype_t is never cast to one.
std::string dtypeName(uint8_t d) {
  if (!validDType(d))
    return "unknown dtype " + std::to_string(d);
  return moert_dtype_name(static_cast<moert_dtype_t>(d));
}

size_t dtypeBytes(uint8_t d) {
  return validDType(d) ? moert_dtype_size(static_cast<moert_dtype_t>(d)) : 0;
}

std::string shapeString(const flatbuffers::Vector<int64_t> *shape) {
  std::string s = "[";
  if (shape)
    for (flatbuffers::uoffset_t i = 0; i < shape->size(); ++i) {
      if (i)
        s += ", ";
      int64_t d = shape->Get(i);
      s += d == -1 ? std::string("T") : std::to_string(d);
    }
  return s + "]";
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// The Verifier checks a vector's length field, not that its 8-byte elements
/// are 8-byte aligned; a malformed table can misalign them.
template <class T> bool aligned64(const flatbuffers::Vector<T> *v) {
  static_assert(sizeof(T) == 8, "a vector of 64-bit elements");
  return !v || v->size() == 0 ||
         reinterpret_cast<uintptr_t>(v->data()) % alignof(T) == 0;
}

std::string str(const flatbuffers::String *s) {
  return s ? std::string(s->c_str(), s->size()) : std::string();
}

/// Values of an Affine at T = 1 and T = max_tokens. A linear function is
/// bounded by its values at the ends of [1, max_tokens], so checking both
/// ends checks every T in between (and that no intermediate overflows).
struct Ends {
  int64_t first = 0, last = 0;
  int64_t max() const { return std::max(first, last); }
};

/// One operand of a command: the bytes it needs and whether the command
/// writes it (TableChecker::uses).
struct OperandUse {
  const Operand *op;
  const char *name;
  const Ends *need;
  const char *text;
  bool written;
};

bool evalAffine(const Affine &a, int64_t maxTokens, Ends *ends) {
  int64_t p1, pm;
  if (__builtin_mul_overflow(a.perToken, int64_t(1), &p1) ||
      __builtin_mul_overflow(a.perToken, maxTokens, &pm))
    return false;
  return !__builtin_add_overflow(p1, a.fixed, &ends->first) &&
         !__builtin_add_overflow(pm, a.fixed, &ends->last);
}

/// A blob's chunk checksums: ChunkLayout{bytes, slices}.count() of them.
Status checksums(const flatbuffers::Vector<uint64_t> *v, uint64_t bytes,
                 std::vector<uint64_t> *out, uint64_t slices = 1) {
  if (!aligned64(v))
    return error(MOERT_INVALID_ARTIFACT,
                 "the checksums vector is misaligned (malformed table)");
  uint64_t want = ChunkLayout{bytes, slices}.count(), have = v ? v->size() : 0;
  if (have != want)
    return error(MOERT_INVALID_ARTIFACT, "has ", have, " checksums, expected ",
                 want, " (one per ", kChecksumChunk, " bytes of its ", bytes,
                 slices > 1 ? " in " + std::to_string(slices) + " slices" : std::string(), ")");
  out->clear();
  if (v)
    out->assign(v->begin(), v->end());
  return Status();
}

/// Semantic checks of one artifact (step 4) and the conversion to Model.
class TableChecker {
public:
  TableChecker(const fb::Model &table, const uint8_t *blob, uint64_t blobSize,
               int64_t maxTokens, uint32_t formatVersion)
      : table_(table), blob_(blob), blobSize_(blobSize), maxT_(maxTokens),
        version_(formatVersion) {}

  Status weights(std::vector<WeightSpec> *out);
  Status fp8Scales(std::vector<WeightSpec> *weights);
  Status codeObjects(std::vector<CodeObjectSpec> *out);
  Status kernels(std::vector<KernelSpec> *out);
  Status function(uint32_t index, const fb::Function &f, FunctionSpec *out);
  /// What functions refer to; set after weights() and kernels().
  void bind(const std::vector<WeightSpec> *weights,
            const std::vector<KernelSpec> *kernels) {
    weights_ = weights;
    kernels_ = kernels;
  }

private:
  Status affine(const fb::Affine *a, const std::string &what, Affine *out,
                Ends *ends, bool required = true);
  /// A weight in panels is an operand only where `panelsOk` (a GEMM's B).
  Status operand(const fb::Ref *ref, const std::string &what, Operand *out,
                 bool panelsOk = false);
  /// Checks `op` holds `need` bytes at both ends of [1, max_tokens]
  /// (`needText` says what they are, for the message); weights must be
  /// `weightDType` when it is given (< 0: any).
  Status fits(const Operand &op, const std::string &what, const Ends &need,
              const std::string &needText, int weightDType = -1);
  Status writable(const Operand &op, const std::string &what);
  Status disjoint(const Operand &x, const Ends &needX, const std::string &wx,
                  const Operand &y, const Ends &needY, const std::string &wy);
  /// An exchange's or an expert choice's operands: each a buffer that fits
  /// what it needs, those written writable, and none written overlapping
  /// another of the command's.
  Status uses(const std::string &where, std::initializer_list<OperandUse> list);
  Status product(const std::string &what, std::initializer_list<int64_t> factors,
                 const Ends &rowsOrOne, Ends *out);
  Status command(uint32_t index, const fb::CommandEntry *entry, CommandSpec *out);
  Status tensor(const fb::TensorDesc *t, const std::string &what, TensorSpec *out);

  const fb::Model &table_;
  const uint8_t *blob_;
  uint64_t blobSize_;
  int64_t maxT_;
  uint32_t version_; // the header's format_version
  // The function being checked.
  const FunctionSpec *fn_ = nullptr;
  const std::vector<WeightSpec> *weights_ = nullptr;
  const std::vector<KernelSpec> *kernels_ = nullptr;
};

Status TableChecker::affine(const fb::Affine *a, const std::string &what,
                            Affine *out, Ends *ends, bool required) {
  if (!a) {
    if (required)
      return error(MOERT_INVALID_ARTIFACT, what, " is missing");
    *out = Affine();
    *ends = Ends();
    return Status();
  }
  out->perToken = a->per_token();
  out->fixed = a->fixed();
  if (!evalAffine(*out, maxT_, ends))
    return error(MOERT_INVALID_ARTIFACT, what, " (", out->perToken, " * T + ",
                 out->fixed, ") overflows at max_tokens = ", maxT_);
  if (ends->first < 0 || ends->last < 0)
    return error(MOERT_INVALID_ARTIFACT, what, " (", out->perToken, " * T + ",
                 out->fixed, ") is negative for some 1 <= T <= ", maxT_);
  return Status();
}

Status TableChecker::weights(std::vector<WeightSpec> *out) {
  const auto *ws = table_.weights();
  if (!ws)
    return Status();
  out->reserve(ws->size());
  for (flatbuffers::uoffset_t i = 0; i < ws->size(); ++i) {
    const fb::Weight *w = ws->Get(i);
    WeightSpec spec;
    spec.name = w ? str(w->name()) : std::string();
    std::string what = "weight " + std::to_string(i) + " ('" + spec.name + "')";
    if (!w)
      return error(MOERT_INVALID_ARTIFACT, what, " is missing");
    uint64_t off = w->offset(), bytes = w->bytes();
    uint8_t init = static_cast<uint8_t>(w->init());
    if (init > static_cast<uint8_t>(fb::WeightInit::MAX))
      return error(MOERT_INVALID_ARTIFACT, what, ": unknown init ", int(init));
    bool synthetic = w->init() == fb::WeightInit::RandomUniform;
    if (synthetic && (off != 0 || bytes != 0))
      return error(MOERT_INVALID_ARTIFACT, what,
                   ": a RandomUniform weight has no bytes in the blob section "
                   "(offset ", off, ", bytes ", bytes, "; expected 0, 0)");
    if (synthetic && w->dtype() == fb::DType::I32)
      return error(MOERT_INVALID_ARTIFACT, what,
                   ": a RandomUniform weight is f32, bf16, f16, f8e4m3, mxfp4, int8 or int4, got ",
                   dtypeName(static_cast<uint8_t>(w->dtype())));
    if (off > blobSize_ || bytes > blobSize_ - off)
      return error(MOERT_INVALID_ARTIFACT, what, ": bytes [", off, ", ", off,
                   " + ", bytes, ") lie outside the ", blobSize_,
                   "-byte blob section");
    if (off % kAlignment != 0)
      return error(MOERT_INVALID_ARTIFACT, what, ": offset ", off,
                   " is not a multiple of ", kAlignment);
    uint8_t dt = static_cast<uint8_t>(w->dtype());
    if (!validDType(dt))
      return error(MOERT_INVALID_ARTIFACT, what, ": unknown dtype ", int(dt));
    if (!aligned64(w->shape()))
      return error(MOERT_INVALID_ARTIFACT, what, ": the shape vector is misaligned (malformed table)");
    uint64_t elems = 1;
    bool overflow = false;
    if (const auto *shape = w->shape()) {
      for (flatbuffers::uoffset_t d = 0; d < shape->size(); ++d) {
        int64_t dim = shape->Get(d);
        if (dim < 0)
          return error(MOERT_INVALID_ARTIFACT, what, ": dimension ", d, " is ",
                       dim, " (a weight's shape is static)");
        spec.shape.push_back(dim);
        overflow |= __builtin_mul_overflow(elems, static_cast<uint64_t>(dim), &elems);
      }
    }
    uint64_t expect = 0;
    overflow |= __builtin_mul_overflow(elems, dtypeBytes(dt), &expect);
    if (overflow)
      return error(MOERT_INVALID_ARTIFACT, what, ": ", dtypeName(dt), " ",
                   shapeString(w->shape()), " is too large");
    if (synthetic && spec.shape.empty())
      return error(MOERT_INVALID_ARTIFACT, what,
                   ": a RandomUniform weight needs a last dimension");
    uint8_t layout = static_cast<uint8_t>(w->layout());
    if (layout > static_cast<uint8_t>(fb::WeightLayout::MAX))
      return error(MOERT_INVALID_ARTIFACT, what, ": unknown layout ", int(layout));
    spec.panels = w->layout() == fb::WeightLayout::Panels32;
    if (spec.panels && table_.target() != fb::Target::CpuX86_64)
      return error(MOERT_INVALID_ARTIFACT, what,
                   ": layout Panels32 is the CPU target's, not this artifact's");
    bool mxfp4 = w->dtype() == fb::DType::MXFP4;
    bool intq = w->dtype() == fb::DType::INT8 || w->dtype() == fb::DType::INT4;
    int bits = w->dtype() == fb::DType::INT8 ? 8 : 4;
    int64_t group = intq ? w->group_size() : mxfp4 ? kMxfp4Group : 0;
    if (!intq && w->group_size() != 0)
      return error(MOERT_INVALID_ARTIFACT, what, ": only an int8 or int4 weight has a "
                   "group size (group_size is ", w->group_size(), ")");
    if (intq && !validIntGroup(group))
      return error(MOERT_INVALID_ARTIFACT, what, ": an ", dtypeName(dt),
                   " weight's group size is 32, 64 or 128, got ", group);
    // MXFP4 rows: the CUDA target's layout of an mxfp4 weight.
    bool mxfp4Rows = mxfp4 && !spec.panels && table_.target() == fb::Target::Cuda;
    if ((mxfp4 || intq) &&
        ((!spec.panels && !mxfp4Rows) || spec.shape.size() < 2 ||
         spec.shape.back() % group != 0))
      return error(MOERT_INVALID_ARTIFACT, what, ": an ", dtypeName(dt),
                   " weight is [..., n, k] with k a multiple of ", group,
                   mxfp4 && table_.target() == fb::Target::Cuda
                       ? " in layout RowMajor (MXFP4 rows) on the cuda target"
                       : " in layout Panels32",
                   ", got ", shapeString(w->shape()), spec.panels ? "" : " in layout RowMajor");
    if (mxfp4 || intq) {
      // Π(leading dims) matrices of ceil(n / 32) panels of k / group groups
      // (mxfp4PanelBytes, mxfp4.h; intPanelBytes, intq.h), or of n MXFP4
      // rows (mxfp4RowBytes).
      uint64_t n = static_cast<uint64_t>(spec.shape[spec.shape.size() - 2]);
      uint64_t groups = static_cast<uint64_t>(spec.shape.back() / group);
      uint64_t groupBytes =
          static_cast<uint64_t>(mxfp4 ? kMxfp4GroupBytes : intGroupBytes(bits, group));
      if (mxfp4Rows)
        overflow |= __builtin_mul_overflow(n, mxfp4RowBytes(spec.shape.back()), &expect);
      else
        overflow |= __builtin_mul_overflow(n / kPanelWidth + (n % kPanelWidth != 0), groups,
                                           &expect) ||
                    __builtin_mul_overflow(expect, groupBytes, &expect);
      for (size_t d = 0; d + 2 < spec.shape.size(); ++d)
        overflow |= __builtin_mul_overflow(expect, static_cast<uint64_t>(spec.shape[d]), &expect);
      if (overflow)
        return error(MOERT_INVALID_ARTIFACT, what, ": ", dtypeName(dt), " ",
                     shapeString(w->shape()), mxfp4Rows ? " in MXFP4 rows" : " in panels",
                     " is too large");
      spec.group = intq ? group : 0;
    } else if (spec.panels) {
      if ((w->dtype() != fb::DType::F32 && w->dtype() != fb::DType::BF16 &&
           w->dtype() != fb::DType::F16 && w->dtype() != fb::DType::F8E4M3) ||
          spec.shape.size() < 2)
        return error(MOERT_INVALID_ARTIFACT, what, ": layout Panels32 needs an "
                     "f32, bf16, f16, f8e4m3, mxfp4, int8 or int4 weight of rank >= 2, got ", dtypeName(dt), " ",
                     shapeString(w->shape()));
      // Π(leading dims) matrices of ceil(n / 32) x 32 rows of k values (k
      // rounded up to the panel depth: pairs for bf16).
      uint64_t n = static_cast<uint64_t>(spec.shape[spec.shape.size() - 2]);
      uint64_t k = static_cast<uint64_t>(spec.shape.back());
      uint64_t depth = static_cast<uint64_t>(panelDepthFor(w->dtype() == fb::DType::BF16));
      uint64_t padded = (n / kPanelWidth + (n % kPanelWidth != 0)) * kPanelWidth;
      overflow |= __builtin_mul_overflow(padded, (k / depth + (k % depth != 0)) * depth, &padded);
      for (size_t d = 0; d + 2 < spec.shape.size(); ++d)
        overflow |= __builtin_mul_overflow(padded, static_cast<uint64_t>(spec.shape[d]), &padded);
      overflow |= __builtin_mul_overflow(padded, dtypeBytes(dt), &expect);
      if (overflow)
        return error(MOERT_INVALID_ARTIFACT, what, ": ", dtypeName(dt), " ",
                     shapeString(w->shape()), " in panels is too large");
    }
    if (!synthetic && expect != bytes)
      return error(MOERT_INVALID_ARTIFACT, what, ": bytes is ", bytes, ", but ",
                   dtypeName(dt), " ", shapeString(w->shape()),
                   spec.panels ? " in panels" : mxfp4Rows ? " in MXFP4 rows" : "", " is ",
                   expect, " bytes");
    // One slice per expert (Weight.expert_slices): a blob's, of equal bytes.
    uint64_t slices = w->expert_slices();
    if (slices > 1 && (synthetic || spec.shape.size() < 3 ||
                       slices != static_cast<uint64_t>(spec.shape[0]) || bytes % slices != 0))
      return error(MOERT_INVALID_ARTIFACT, what, ": expert_slices is ", slices, ", but ",
                   dtypeName(dt), " ", shapeString(w->shape()),
                   synthetic ? " is synthetic" : " does not have that many experts of equal bytes");
    spec.slices = slices > 1 ? slices : 1;
    if (Status c = checksums(w->checksums(), synthetic ? 0 : bytes, &spec.checksums, spec.slices);
        !c)
      return c.prefixed(what + ": ");
    spec.dtype = static_cast<moert_dtype_t>(dt);
    spec.scales = w->scales();
    bool fp8 = w->dtype() == fb::DType::F8E4M3;
    if (fp8 && spec.scales == -1)
      return error(MOERT_INVALID_ARTIFACT, what,
                   ": an f8e4m3 weight needs its scales (Weight.scales)");
    if (!fp8 && spec.scales != -1)
      return error(MOERT_INVALID_ARTIFACT, what,
                   ": only an f8e4m3 weight has scales (Weight.scales is ",
                   spec.scales, ")");
    if (fp8 && spec.shape.size() < 2)
      return error(MOERT_INVALID_ARTIFACT, what,
                   ": an f8e4m3 weight has rank >= 2, got ", shapeString(w->shape()));
    spec.offset = off;
    spec.data = synthetic ? nullptr : blob_ + off; // generated after the checks
    spec.bytes = expect;
    spec.synthetic = synthetic;
    spec.seed = w->seed();
    // A synthetic weight stacked from two: its rows split between the seeds.
    int64_t split = w->seed_split();
    if (split != 0 && (!synthetic || spec.shape.size() < 2 || split < 0 ||
                       split >= spec.shape[spec.shape.size() - 2]))
      return error(MOERT_INVALID_ARTIFACT, what, ": seed_split is ", split, ", but ",
                   dtypeName(dt), " ", shapeString(w->shape()),
                   synthetic ? "" : " (not synthetic)",
                   " does not split its rows there (a synthetic weight [..., n, k] "
                   "splits them at 0 < seed_split < n)");
    // (A runtime that reads the format the header claims would ignore it.)
    if (split != 0 && version_ < kSeedSplitFormatVersion)
      return error(MOERT_INVALID_ARTIFACT, what, ": seed_split is ", split,
                   " in an artifact of format version ", version_, "; it needs ",
                   kSeedSplitFormatVersion);
    spec.seedSplit = split;
    spec.seed2 = w->seed2();
    out->push_back(std::move(spec));
  }
  return fp8Scales(out);
}

// Each f8e4m3 weight [..., n, k] names its own scales: an f32 row-major
// weight [..., ceil(n / 128), ceil(k / 128)], synthetic exactly when it is.
Status TableChecker::fp8Scales(std::vector<WeightSpec> *weights) {
  for (size_t i = 0; i < weights->size(); ++i) {
    WeightSpec &w = (*weights)[i];
    if (w.scales == -1)
      continue;
    std::string what = "weight " + std::to_string(i) + " ('" + w.name + "')";
    if (w.scales < 0 || static_cast<size_t>(w.scales) >= weights->size() ||
        static_cast<size_t>(w.scales) == i)
      return error(MOERT_INVALID_ARTIFACT, what, ": its scales are weight ",
                   w.scales, ", which does not exist or is itself");
    WeightSpec &s = (*weights)[w.scales];
    std::vector<int64_t> want(w.shape.begin(), w.shape.end() - 2);
    want.push_back(fp8Blocks(w.shape[w.shape.size() - 2]));
    want.push_back(fp8Blocks(w.shape.back()));
    if (s.dtype != MOERT_F32 || s.panels || s.shape != want ||
        s.synthetic != w.synthetic || s.scalesOf != -1)
      return error(MOERT_INVALID_ARTIFACT, what, ": its scales (weight ",
                   w.scales, " '", s.name, "') must be an f32 row-major weight ",
                   shapeString(want), " of no other weight, synthetic exactly "
                   "when this one is");
    s.scalesOf = static_cast<int64_t>(i);
  }
  return Status();
}

Status TableChecker::codeObjects(std::vector<CodeObjectSpec> *out) {
  const auto *cs = table_.code_objects();
  if (!cs)
    return Status();
  out->reserve(cs->size());
  for (flatbuffers::uoffset_t i = 0; i < cs->size(); ++i) {
    const fb::CodeObject *c = cs->Get(i);
    std::string what = "code object " + std::to_string(i);
    if (!c)
      return error(MOERT_INVALID_ARTIFACT, what, " is missing");
    uint64_t off = c->offset(), bytes = c->bytes();
    if (off > blobSize_ || bytes > blobSize_ - off)
      return error(MOERT_INVALID_ARTIFACT, what, ": bytes [", off, ", ", off,
                   " + ", bytes, ") lie outside the ", blobSize_,
                   "-byte blob section");
    if (off % kAlignment != 0)
      return error(MOERT_INVALID_ARTIFACT, what, ": offset ", off,
                   " is not a multiple of ", kAlignment);
    auto format = c->format();
    bool cuda = table_.target() == fb::Target::Cuda;
    bool fits = cuda ? (format == fb::CodeFormat::Ptx || format == fb::CodeFormat::Cubin)
                     : format == fb::CodeFormat::HostSharedObject;
    if (!fits) {
      const char *name = static_cast<uint8_t>(format) <=
                                 static_cast<uint8_t>(fb::CodeFormat::MAX)
                             ? fb::EnumNameCodeFormat(format)
                             : "unknown";
      return error(MOERT_INVALID_ARTIFACT, what, ": format ", name, " (",
                   int(format), ") cannot run on the ", cuda ? "cuda" : "cpu",
                   " target (expected ", cuda ? "Ptx or Cubin" : "HostSharedObject", ")");
    }
    if (format == fb::CodeFormat::HostSharedObject) {
      Status s = checkHostElfHeader(blob_ + off, bytes);
      if (!s.ok())
        return s.prefixed(what + " ");
    } else if (format == fb::CodeFormat::Ptx) {
      // The driver reads PTX as a NUL-terminated string: none inside.
      if (bytes == 0 || std::memchr(blob_ + off, 0, bytes) != nullptr)
        return error(MOERT_INVALID_ARTIFACT, what, ": PTX text is empty or contains NUL");
    } else if (bytes < 4 || std::memcmp(blob_ + off, "\x7f" "ELF", 4) != 0) {
      return error(MOERT_INVALID_ARTIFACT, what, ": a cubin must be an ELF image");
    }
    CodeObjectSpec spec;
    if (Status cs = checksums(c->checksums(), bytes, &spec.checksums); !cs)
      return cs.prefixed(what + ": ");
    spec.offset = off;
    spec.format = static_cast<uint8_t>(format);
    spec.arch = str(c->arch());
    spec.data = blob_ + off;
    spec.bytes = bytes;
    out->push_back(std::move(spec));
  }
  return Status();
}

Status TableChecker::kernels(std::vector<KernelSpec> *out) {
  const auto *ks = table_.kernels();
  if (!ks)
    return Status();
  size_t numCode = table_.code_objects() ? table_.code_objects()->size() : 0;
  out->reserve(ks->size());
  for (flatbuffers::uoffset_t i = 0; i < ks->size(); ++i) {
    const fb::Kernel *k = ks->Get(i);
    KernelSpec spec;
    spec.name = k ? str(k->name()) : std::string();
    std::string what = "kernel " + std::to_string(i) + " ('" + spec.name + "')";
    if (!k)
      return error(MOERT_INVALID_ARTIFACT, what, " is missing");
    if (spec.name.empty() || spec.name.find('\0') != std::string::npos)
      return error(MOERT_INVALID_ARTIFACT, what, ": the symbol name is empty or contains NUL");
    if (k->code_object() >= numCode)
      return error(MOERT_INVALID_ARTIFACT, what, ": code object ", k->code_object(),
                   " does not exist (the artifact has ", numCode, ")");
    spec.codeObject = k->code_object();
    spec.numArgs = k->num_args();
    // 1, or a power of two from 32 to 1024 (whole warps per item).
    uint32_t lanes = k->lanes();
    if (lanes != 1 && (lanes < 32 || lanes > 1024 || (lanes & (lanes - 1))))
      return error(MOERT_INVALID_ARTIFACT, what, ": lanes is ", lanes,
                   ", expected 1 or a power of two from 32 to 1024");
    spec.lanes = k->lanes();
    // The bounds the compiler recorded: one size per argument, a writes
    // mask within the arguments, an extent that T never makes negative.
    spec.maxExtent = k->max_extent();
    spec.writes = k->writes();
    const auto *argBytes = k->arg_bytes();
    if (!aligned64(argBytes))
      return error(MOERT_INVALID_ARTIFACT, what, ": arg_bytes is misaligned (malformed table)");
    size_t listed = argBytes ? argBytes->size() : 0;
    if (listed != spec.numArgs)
      return error(MOERT_INVALID_ARTIFACT, what, ": arg_bytes lists ", listed,
                   " sizes for ", spec.numArgs, " arguments");
    if (spec.numArgs > 63 || (spec.writes >> spec.numArgs) != 0)
      return error(MOERT_INVALID_ARTIFACT, what, ": writes mask ", spec.writes,
                   " names arguments beyond its ", spec.numArgs);
    if (spec.maxExtent < 0)
      return error(MOERT_INVALID_ARTIFACT, what, ": max_extent is ", spec.maxExtent);
    for (flatbuffers::uoffset_t a = 0; a < listed; ++a) {
      spec.argBytes.push_back(argBytes->Get(a));
      if (spec.argBytes.back() > static_cast<uint64_t>(INT64_MAX))
        return error(MOERT_INVALID_ARTIFACT, what, ": argument ", a, " has ",
                     spec.argBytes.back(), " bytes");
    }
    out->push_back(std::move(spec));
  }
  return Status();
}

Status TableChecker::operand(const fb::Ref *ref, const std::string &what,
                             Operand *out, bool panelsOk) {
  if (!ref)
    return error(MOERT_INVALID_ARTIFACT, what, " is missing");
  switch (ref->kind()) {
  case fb::RefKind::Buffer:
    if (ref->index() >= fn_->buffers.size())
      return error(MOERT_INVALID_ARTIFACT, what, ": buffer ", ref->index(),
                   " does not exist (the function has ", fn_->buffers.size(),
                   " buffers)");
    *out = Operand{false, ref->index()};
    return Status();
  case fb::RefKind::Weight:
    if (ref->index() >= weights_->size())
      return error(MOERT_INVALID_ARTIFACT, what, ": weight ", ref->index(),
                   " does not exist (the artifact has ", weights_->size(),
                   " weights)");
    if ((*weights_)[ref->index()].panels && !panelsOk)
      return error(MOERT_INVALID_ARTIFACT, what, ": weight ", ref->index(),
                   " ('", (*weights_)[ref->index()].name,
                   "') is in panels (Panels32), which only a Gemm's or "
                   "GroupedGemm's operand b reads");
    *out = Operand{true, ref->index()};
    return Status();
  }
  return error(MOERT_INVALID_ARTIFACT, what, ": unknown operand kind ",
               int(static_cast<uint8_t>(ref->kind())));
}

std::string operandName(const Operand &op) {
  return (op.isWeight ? "weight " : "buffer ") + std::to_string(op.index);
}

Status TableChecker::fits(const Operand &op, const std::string &what,
                          const Ends &need, const std::string &needText,
                          int weightDType) {
  if (op.isWeight) {
    const WeightSpec &w = (*weights_)[op.index];
    if (weightDType >= 0 && w.dtype != weightDType)
      return error(MOERT_INVALID_ARTIFACT, what, " (", operandName(op), " '",
                   w.name, "') is ", dtypeName(w.dtype), ", expected ",
                   dtypeName(static_cast<uint8_t>(weightDType)));
    uint64_t have = w.bytes;
    if (static_cast<uint64_t>(need.max()) > have)
      return error(MOERT_INVALID_ARTIFACT, what, " (", operandName(op), " '",
                   w.name, "') holds ", have, " bytes, but ", needText,
                   " needs ", need.max());
    return Status();
  }
  const BufferSpec &b = fn_->buffers[op.index];
  Ends have;
  evalAffine(b.bytes, maxT_, &have); // checked with the buffers
  if (need.first > have.first)
    return error(MOERT_INVALID_ARTIFACT, what, " (", operandName(op), ") holds ",
                 have.first, " bytes at T = 1, but ", needText, " needs ",
                 need.first);
  if (need.last > have.last)
    return error(MOERT_INVALID_ARTIFACT, what, " (", operandName(op), ") holds ",
                 have.last, " bytes at T = ", maxT_, ", but ", needText,
                 " needs ", need.last);
  return Status();
}

Status TableChecker::writable(const Operand &op, const std::string &what) {
  if (op.isWeight)
    return error(MOERT_INVALID_ARTIFACT, what, " is weight ", op.index,
                 ": weights are read-only, a command writes only buffers");
  return Status();
}

Status TableChecker::disjoint(const Operand &x, const Ends &needX,
                              const std::string &wx, const Operand &y,
                              const Ends &needY, const std::string &wy) {
  if (x.isWeight || y.isWeight)
    return Status(); // weights and the arena never overlap
  uint64_t x0 = fn_->buffers[x.index].offset, y0 = fn_->buffers[y.index].offset;
  uint64_t x1 = x0 + static_cast<uint64_t>(needX.max());
  uint64_t y1 = y0 + static_cast<uint64_t>(needY.max());
  if (x0 < y1 && y0 < x1)
    return error(MOERT_INVALID_ARTIFACT, wx, " (", operandName(x), ", arena [",
                 x0, ", ", x1, ")) overlaps ", wy, " (", operandName(y),
                 ", arena [", y0, ", ", y1, "))");
  return Status();
}

/// rowsOrOne × Π factors, at both ends; an error when it overflows.
Status TableChecker::product(const std::string &what,
                             std::initializer_list<int64_t> factors,
                             const Ends &rowsOrOne, Ends *out) {
  int64_t first = rowsOrOne.first, last = rowsOrOne.last;
  for (int64_t f : factors)
    if (__builtin_mul_overflow(first, f, &first) ||
        __builtin_mul_overflow(last, f, &last))
      return error(MOERT_INVALID_ARTIFACT, what, " overflows");
  *out = Ends{first, last};
  return Status();
}

Status TableChecker::command(uint32_t index, const fb::CommandEntry *entry,
                             CommandSpec *out) {
  std::string where = "command " + std::to_string(index);
  if (!entry)
    return error(MOERT_INVALID_ARTIFACT, where, " is missing");
  auto checkDim = [&](const char *name, int64_t v) -> Status {
    if (v < 1 || v > kBlasMax)
      return error(MOERT_INVALID_ARTIFACT, where, ": ", name, " is ", v,
                   ", expected 1 <= ", name, " <= ", kBlasMax);
    return Status();
  };
  const Ends one{1, 1};
  Status s;
  // A GEMM's own kernel (dequant, act_quant) touches at most `most[a]`
  // bytes through argument a, which `given` provides.
  auto argBounds = [&](const KernelSpec &k, const char *label,
                       const std::vector<uint64_t> &most, const std::string &given) -> Status {
    for (size_t a = 0; a < most.size(); ++a)
      if (k.argBytes[a] > most[a])
        return error(MOERT_INVALID_ARTIFACT, where, ": ", label, " kernel '", k.name,
                     "' may touch ", k.argBytes[a], " bytes through argument ", a, ", but ",
                     given, " gives it ", most[a]);
    return Status();
  };
  // What Gemm and GroupedGemm share (a Gemm is one expert): C[rows, n] =
  // A[rows, k] · B[experts, n, k]ᵀ, C written, A and B read, C disjoint from
  // both.
  auto matmul = [&](const auto *c, int64_t experts, const char *bLabel,
                    const char *bShape, Ends *needA, Ends *needB,
                    Ends *needC) -> Status {
    // C: f32, or a 16-bit function's bf16 / f16 activations.
    if (c->c_dtype() != fb::DType::F32 && c->c_dtype() != fb::DType::BF16 &&
        c->c_dtype() != fb::DType::F16) {
      uint8_t dt = static_cast<uint8_t>(c->c_dtype());
      return error(MOERT_INVALID_ARTIFACT, where, ": c_dtype is ",
                   validDType(dt) ? dtypeName(dt) : "unknown", " (", int(dt),
                   "), expected f32, bf16 or f16");
    }
    out->cDtype = static_cast<moert_dtype_t>(c->c_dtype());
    if (out->cDtype != MOERT_F32 && version_ < kGemm16FormatVersion)
      return error(MOERT_INVALID_ARTIFACT, where, ": c_dtype is ",
                   moert_dtype_name(out->cDtype), " in an artifact of format version ", version_,
                   "; a 16-bit C needs ", kGemm16FormatVersion);
    if (out->cDtype != MOERT_F32 && out->accumulate)
      return error(MOERT_INVALID_ARTIFACT, where, ": a ", moert_dtype_name(out->cDtype),
                   " C is written, not accumulated");
    int64_t cSize = static_cast<int64_t>(moert_dtype_size(out->cDtype));
    std::string cName = moert_dtype_name(out->cDtype);
    Status st;
    if (!(st = operand(c->a(), where + ": operand a", &out->a)) ||
        !(st = operand(c->b(), where + ": operand b", &out->b, /*panelsOk=*/true)) ||
        !(st = operand(c->c(), where + ": operand c", &out->c)))
      return st;
    uint8_t dt = static_cast<uint8_t>(c->dtype());
    if (!validDType(dt) || c->dtype() == fb::DType::I32)
      return error(MOERT_INVALID_ARTIFACT, where, ": dtype is ",
                   validDType(dt) ? dtypeName(dt) : "unknown", " (", int(dt),
                   "), expected f32, bf16, f16, f8e4m3, mxfp4, int8 or int4");
    out->dtype = static_cast<moert_dtype_t>(dt);
    // fp8, mxfp4, int8 and int4: A is f32, B the quantized weight (fp8's
    // scales come with it; the others' are inside their panels).
    bool intq = out->dtype == MOERT_INT8 || out->dtype == MOERT_INT4;
    out->int8Activations = c->int8_activations();
    if (out->int8Activations && !intq)
      return error(MOERT_INVALID_ARTIFACT, where, ": int8_activations is for int8 and int4 "
                   "GEMMs, not ", dtypeName(dt));
    bool mxfp4 = out->dtype == MOERT_MXFP4;
    bool fp8 = out->dtype == MOERT_F8E4M3 || mxfp4 || intq;
    // fp8 and mxfp4 on the CUDA target: A bf16, B row-major (fp8 codes,
    // MXFP4 rows), read through a dequant kernel (B's codes, fp8's scales, a
    // bf16 copy of one matrix).
    bool cuda = table_.target() == fb::Target::Cuda;
    bool cudaFp8 = cuda && (out->dtype == MOERT_F8E4M3 || mxfp4);
    moert_dtype_t aType = cudaFp8 ? MOERT_BF16 : fp8 ? MOERT_F32 : out->dtype;
    int64_t size = static_cast<int64_t>(dtypeBytes(dt));
    int64_t aSize = static_cast<int64_t>(moert_dtype_size(aType));
    std::string ab = std::string(dtypeName(dt));
    std::string aName = moert_dtype_name(aType);
    // cuBLAS writes a 16-bit C from A and B of that type only.
    if (cuda && out->cDtype != MOERT_F32 && out->cDtype != aType)
      return error(MOERT_INVALID_ARTIFACT, where, ": a ", cName,
                   " C needs A of that type on the cuda target, got ", aName);
    if (fp8 && !cudaFp8 && table_.target() != fb::Target::CpuX86_64)
      return error(MOERT_INVALID_ARTIFACT, where, ": ", ab,
                   " GEMMs run on the CPU target only (this runtime's "
                   "CUDA backend has none yet)");
    if (fp8 && !cudaFp8 && !(out->b.isWeight && (*weights_)[out->b.index].panels))
      return error(MOERT_INVALID_ARTIFACT, where, ": an ", ab,
                   " GEMM's operand b must be a weight in panels");
    if (cudaFp8 && !(out->b.isWeight && !(*weights_)[out->b.index].panels))
      return error(MOERT_INVALID_ARTIFACT, where, ": an ", ab,
                   " GEMM's operand b must be a row-major weight on the cuda target");
    int64_t dq = c->dequant_kernel();
    if (cudaFp8 != (dq != -1))
      return error(MOERT_INVALID_ARTIFACT, where, ": dequant kernel ", dq,
                   cudaFp8 ? ", but an " + ab + " GEMM on the cuda target needs one"
                           : std::string(", but only an f8e4m3 or mxfp4 GEMM on the "
                                         "cuda target has one"));
    if (cudaFp8) {
      if (dq < 0 || static_cast<uint64_t>(dq) >= kernels_->size())
        return error(MOERT_INVALID_ARTIFACT, where, ": dequant kernel ", dq,
                     " does not exist (the artifact has ", kernels_->size(),
                     " kernels)");
      const KernelSpec &k = (*kernels_)[static_cast<size_t>(dq)];
      size_t args = mxfp4 ? 2 : 3;
      if (k.numArgs != args || k.maxExtent < c->n())
        return error(MOERT_INVALID_ARTIFACT, where, ": dequant kernel '", k.name,
                     "' takes ", k.numArgs, " buffers over at most ", k.maxExtent,
                     " rows, expected ", args,
                     mxfp4 ? " (rows, copy)" : " (codes, scales, copy)", " over ", c->n());
      out->dequantKernel = dq;
    }
    Ends rows;
    if (!(st = affine(c->rows(), where + ": rows", &out->rows, &rows)))
      return st;
    if (rows.max() > kBlasMax)
      return error(MOERT_INVALID_ARTIFACT, where, ": rows reaches ", rows.max(),
                   ", more than ", kBlasMax);
    out->n = c->n();
    out->k = c->k();
    if (!(st = checkDim("n", out->n)) || !(st = checkDim("k", out->k)))
      return st;
    out->bPanels = out->b.isWeight && (*weights_)[out->b.index].panels;
    if (out->bPanels || (cudaFp8 && out->b.isWeight)) {
      // The weight's matrices must be [n, k] exactly: the panels' order, an
      // MXFP4 row's bytes and where each fp8 matrix's scales start depend
      // on both.
      const WeightSpec &w = (*weights_)[out->b.index];
      int64_t wn = w.shape[w.shape.size() - 2], wk = w.shape.back();
      if (wn != out->n || wk != out->k)
        return error(MOERT_INVALID_ARTIFACT, where, ": operand b (weight ",
                     out->b.index, " '", w.name, "') is in ",
                     out->bPanels ? "panels" : mxfp4 ? "MXFP4 rows" : "128 x 128 scale blocks",
                     " of [", wn, ", ", wk, "] matrices, but the command multiplies by [",
                     out->n, ", ", out->k, "]");
    }
    // n and k are at most kBlasMax each, so n x k (padded) fits an int64.
    // mxfp4, int8 and int4 (in panels, k a multiple of the group as the
    // weight's): bytes.
    int64_t bMatrix =
        mxfp4  ? static_cast<int64_t>(mxfp4MatrixBytes(out->n, out->k, out->bPanels))
        : intq ? static_cast<int64_t>(intPanelBytes(out->dtype == MOERT_INT8 ? 8 : 4, out->n,
                                                    out->k, (*weights_)[out->b.index].group))
        : out->bPanels
            ? static_cast<int64_t>(
                  panelElements(out->n, out->k, panelDepthFor(out->dtype == MOERT_BF16)))
            : out->n * out->k;
    if (mxfp4 || intq)
      size = 1;
    if (!(st = product(where + ": rows x k", {out->k, aSize}, rows, needA)) ||
        !(st = product(where + ": " + bLabel, {experts, bMatrix, size}, one, needB)) ||
        !(st = product(where + ": rows x n", {out->n, cSize}, rows, needC)))
      return st;
    if (!(st = writable(out->c, where + ": operand c")) ||
        !(st = fits(out->a, where + ": operand a", *needA, aName + " [rows, k]", aType)) ||
        !(st = fits(out->b, where + ": operand b", *needB, ab + " " + bShape, out->dtype)) ||
        !(st = fits(out->c, where + ": operand c", *needC, cName + " [rows, n]", out->cDtype)) ||
        !(st = disjoint(out->c, *needC, where + ": operand c", out->a, *needA, "operand a")) ||
        !(st = disjoint(out->c, *needC, where + ": operand c", out->b, *needB, "operand b")))
      return st;
    if (cudaFp8) {
      // The dequant kernel's bounds: it reads one matrix of B (and its
      // scales) and writes only the copy, n x k bf16 values.
      const KernelSpec &k = (*kernels_)[static_cast<size_t>(out->dequantKernel)];
      uint64_t copy = static_cast<uint64_t>(out->n * out->k) * 2;
      std::vector<uint64_t> most = {static_cast<uint64_t>(bMatrix)};
      if (!mxfp4)
        most.push_back(static_cast<uint64_t>(fp8Blocks(out->n) * fp8Blocks(out->k)) * 4);
      most.push_back(copy);
      if (k.writes & ~(uint64_t(1) << (most.size() - 1)))
        return error(MOERT_INVALID_ARTIFACT, where, ": dequant kernel '", k.name,
                     "' writes arguments other than its last (the copy)");
      if (!(st = argBounds(k, "dequant", most,
                           "one [" + std::to_string(out->n) + ", " + std::to_string(out->k) +
                               "] matrix")))
        return st;
    }
    int64_t aq = c->act_quant_kernel();
    if (aq != -1) {
      if (version_ < kActQuantFormatVersion)
        return error(MOERT_INVALID_ARTIFACT, where, ": act_quant kernel ", aq,
                     " in an artifact of format version ", version_, "; it needs ",
                     kActQuantFormatVersion);
      if (!cuda || out->dtype != MOERT_F8E4M3)
        return error(MOERT_INVALID_ARTIFACT, where, ": act_quant kernel ", aq,
                     ", but only an f8e4m3 GEMM on the cuda target has one");
      if (out->accumulate)
        return error(MOERT_INVALID_ARTIFACT, where,
                     ": an act_quant GEMM is written, not accumulated");
      if (!fp8BlockScaledGemmFits(out->n, out->k))
        return error(MOERT_INVALID_ARTIFACT, where, ": an act_quant GEMM needs n and k "
                     "multiples of 16 and ceil(k / 128) a multiple of 4, got n = ",
                     out->n, ", k = ", out->k);
      if (aq < 0 || static_cast<uint64_t>(aq) >= kernels_->size())
        return error(MOERT_INVALID_ARTIFACT, where, ": act_quant kernel ", aq,
                     " does not exist (the artifact has ", kernels_->size(), " kernels)");
      // Its bounds: it reads A's rows and the groups' offsets and writes
      // only the quantized copy and its scales (fp8ActRows rows).
      const KernelSpec &k = (*kernels_)[static_cast<size_t>(aq)];
      int64_t groups = out->kind == CommandKind::GroupedGemm ? out->experts : 1;
      uint64_t qRows = static_cast<uint64_t>(fp8ActRows(rows.max(), groups));
      std::vector<uint64_t> most = {
          static_cast<uint64_t>(needA->max()), static_cast<uint64_t>(groups + 1) * 4,
          qRows * static_cast<uint64_t>(out->k),
          qRows * static_cast<uint64_t>(fp8Blocks(out->k)) * 4};
      if (k.numArgs != most.size() || k.maxExtent < rows.max())
        return error(MOERT_INVALID_ARTIFACT, where, ": act_quant kernel '", k.name, "' takes ",
                     k.numArgs, " buffers over at most ", k.maxExtent,
                     " rows, expected 4 (a, offsets, codes, scales) over ", rows.max());
      if (k.writes & ~uint64_t(0b1100))
        return error(MOERT_INVALID_ARTIFACT, where, ": act_quant kernel '", k.name,
                     "' writes arguments other than the codes and the scales");
      if (!(st = argBounds(k, "act_quant", most, "the GEMM")))
        return st;
      // cuBLASLt writes each group's rows rounded up to 8: C has room for 8
      // more.
      Ends padded{rows.first + 8, rows.last + 8}, needPadded;
      if (!(st = product(where + ": (rows + 8) x n", {out->n, cSize}, padded, &needPadded)) ||
          !(st = fits(out->c, where + ": operand c", needPadded,
                      cName + " [rows + 8, n] (an act_quant GEMM's pad rows)", out->cDtype)))
        return st;
      out->actQuantKernel = aq;
    }
    return Status();
  };
  switch (entry->command_type()) {
  case fb::Command::Launch: {
    const fb::Launch *c = entry->command_as_Launch();
    out->kind = CommandKind::Launch;
    where += " (Launch)";
    if (!c)
      return error(MOERT_INVALID_ARTIFACT, where, " has no body");
    if (const auto *args = c->args())
      for (flatbuffers::uoffset_t i = 0; i < args->size(); ++i) {
        Operand op;
        if (!(s = operand(args->Get(i), where + ": argument " + std::to_string(i), &op)))
          return s;
        out->args.push_back(op);
      }
    Ends ext;
    if (!(s = affine(c->extent(), where + ": extent", &out->extent, &ext)))
      return s;
    out->grain = c->grain();
    if (out->grain < 1)
      return error(MOERT_INVALID_ARTIFACT, where, ": grain is ", out->grain,
                   ", expected >= 1");
    if (c->has_limit()) {
      if (table_.target() != fb::Target::CpuX86_64)
        return error(MOERT_INVALID_ARTIFACT, where, ": a limit is the cpu target's");
      out->hasLimit = true;
      out->limitIndex = c->limit_index();
      Ends need;
      if (!(s = operand(c->limit(), where + ": operand limit", &out->limit)))
        return s;
      if (out->limit.isWeight || out->limitIndex < 0 || out->limitIndex >= kBlasMax)
        return error(MOERT_INVALID_ARTIFACT, where, ": the limit must be an i32 of a buffer, "
                     "got index ", out->limitIndex, out->limit.isWeight ? " of a weight" : "");
      if (!(s = product(where + ": limit_index + 1", {out->limitIndex + 1, 4}, one, &need)) ||
          !(s = fits(out->limit, where + ": operand limit", need, "i32 [limit_index + 1]")))
        return s;
    }
    if (c->kernel() >= kernels_->size())
      return error(MOERT_INVALID_ARTIFACT, where, ": kernel ", c->kernel(),
                   " does not exist (the artifact has ", kernels_->size(),
                   " kernels)");
    out->kernel = c->kernel();
    const KernelSpec &k = (*kernels_)[out->kernel];
    if (k.numArgs != out->args.size())
      return error(MOERT_INVALID_ARTIFACT, where, ": kernel '", k.name,
                   "' takes ", k.numArgs, " arguments, the launch passes ",
                   out->args.size());
    // The kernel's bounds: no larger extent than it was compiled for, every
    // argument at least as large as the kernel may touch, and only buffers
    // where it writes.
    if (ext.max() > k.maxExtent)
      return error(MOERT_INVALID_ARTIFACT, where, ": extent reaches ", ext.max(),
                   " at max_tokens = ", maxT_, ", but kernel '", k.name,
                   "' handles at most ", k.maxExtent);
    for (size_t a = 0; a < out->args.size(); ++a) {
      std::string arg = where + ": argument " + std::to_string(a);
      // The kernel's memrefs are sized at max_tokens, as the arena plans
      // every buffer: compare at max_tokens.
      int64_t need = static_cast<int64_t>(k.argBytes[a]);
      if (!(s = fits(out->args[a], arg, Ends{0, need},
                     "kernel '" + k.name + "'")))
        return s;
      if ((k.writes >> a & 1) && !(s = writable(out->args[a], arg)))
        return s;
    }
    return Status();
  }
  case fb::Command::Gemm: {
    const fb::Gemm *c = entry->command_as_Gemm();
    out->kind = CommandKind::Gemm;
    where += " (Gemm)";
    if (!c)
      return error(MOERT_INVALID_ARTIFACT, where, " has no body");
    out->accumulate = c->accumulate();
    Ends needA, needB, needC;
    return matmul(c, 1, "n x k", "[n, k]", &needA, &needB, &needC);
  }
  case fb::Command::GroupedGemm: {
    const fb::GroupedGemm *c = entry->command_as_GroupedGemm();
    out->kind = CommandKind::GroupedGemm;
    where += " (GroupedGemm)";
    if (!c)
      return error(MOERT_INVALID_ARTIFACT, where, " has no body");
    if (!(s = operand(c->offsets(), where + ": operand offsets", &out->offsets)))
      return s;
    out->experts = c->experts();
    if (!(s = checkDim("experts", out->experts)))
      return s;
    Ends needA, needB, needC, needOff;
    // With a map (expert parallelism) the groups are slots that name
    // matrices of B, which holds the weight's leading dimension of them.
    int64_t bExperts = out->experts;
    if (c->has_map()) {
      if (!(s = operand(c->map(), where + ": operand map", &out->map)))
        return s;
      const fb::Ref *b = c->b();
      if (!b || b->kind() != fb::RefKind::Weight || b->index() >= weights_->size() ||
          (*weights_)[b->index()].shape.size() != 3)
        return error(MOERT_INVALID_ARTIFACT, where,
                     ": with a map, operand b must be a weight [E, n, k]");
      out->hasMap = true;
      out->mapExperts = bExperts = (*weights_)[b->index()].shape[0];
      if (!(s = checkDim("the weight's experts", bExperts)))
        return s;
    }
    if (!(s = matmul(c, bExperts, "experts x n x k", "[experts, n, k]",
                     &needA, &needB, &needC)) ||
        !(s = product(where + ": experts + 1", {out->experts + 1, 4}, one, &needOff)) ||
        !(s = fits(out->offsets, where + ": operand offsets", needOff, "i32 [experts + 1]", MOERT_I32)) ||
        !(s = disjoint(out->c, needC, where + ": operand c", out->offsets, needOff, "operand offsets")))
      return s;
    if (out->hasMap) {
      Ends needMap;
      if (!(s = product(where + ": experts", {out->experts, 4}, one, &needMap)) ||
          !(s = fits(out->map, where + ": operand map", needMap, "i32 [experts]", MOERT_I32)) ||
          !(s = disjoint(out->c, needC, where + ": operand c", out->map, needMap, "operand map")))
        return s;
      if (c->gemv_kernel() != -1 || c->gemv_max_tokens() != 0)
        return error(MOERT_INVALID_ARTIFACT, where, ": a map does not go with a gemv kernel");
    }
    // The generated engine for small T (CUDA): a kernel over (a, b, offsets,
    // c), one warp per (expert, column).
    int64_t gk = c->gemv_kernel(), gmax = c->gemv_max_tokens();
    if (gk == -1 && gmax == 0)
      return Status();
    if (table_.target() != fb::Target::Cuda)
      return error(MOERT_INVALID_ARTIFACT, where,
                   ": a gemv kernel is the cuda target's, not this artifact's");
    if (gk < 0 || static_cast<uint64_t>(gk) >= kernels_->size())
      return error(MOERT_INVALID_ARTIFACT, where, ": gemv kernel ", gk,
                   " does not exist (the artifact has ", kernels_->size(),
                   " kernels)");
    if (gmax < 1 || gmax > maxT_)
      return error(MOERT_INVALID_ARTIFACT, where, ": gemv_max_tokens is ", gmax,
                   ", expected 1 <= gemv_max_tokens <= max_tokens (", maxT_, ")");
    const KernelSpec &k = (*kernels_)[static_cast<size_t>(gk)];
    bool fp8Gemv = out->dtype == MOERT_F8E4M3;
    size_t gemvArgs = fp8Gemv ? 5 : 4;
    if (k.numArgs != gemvArgs || k.lanes != 32)
      return error(MOERT_INVALID_ARTIFACT, where, ": gemv kernel '", k.name,
                   "' takes ", k.numArgs, " buffers with ", k.lanes, " lanes, expected ",
                   gemvArgs, gemvArgs == 5 ? " (a, b, b's scales, offsets, c)"
                                           : " (a, b, offsets, c)",
                   " with 32");
    // Its bounds, as a launch's (compared at max_tokens): each argument at
    // least as large as the kernel may touch, and it writes only c.
    if (k.writes & ~(uint64_t(1) << (gemvArgs - 1)))
      return error(MOERT_INVALID_ARTIFACT, where, ": gemv kernel '", k.name,
                   "' writes arguments other than c");
    std::vector<const Operand *> gemvOps = {&out->a, &out->b, &out->offsets, &out->c};
    if (fp8Gemv)
      gemvOps.insert(gemvOps.begin() + 2, nullptr); // B's scales
    for (size_t a = 0; a < gemvOps.size(); ++a) {
      std::string arg = where + ": gemv kernel argument " + std::to_string(a);
      int64_t need = static_cast<int64_t>(k.argBytes[a]);
      if (gemvOps[a]) {
        if (!(s = fits(*gemvOps[a], arg, Ends{0, need}, "kernel '" + k.name + "'")))
          return s;
        continue;
      }
      const WeightSpec &w = (*weights_)[out->b.index];
      uint64_t have = w.scales >= 0 ? (*weights_)[static_cast<size_t>(w.scales)].bytes : 0;
      if (k.argBytes[a] > have)
        return error(MOERT_INVALID_ARTIFACT, arg, " (the scales of weight ", out->b.index,
                     " '", w.name, "') holds ", have, " bytes, but kernel '", k.name,
                     "' needs ", k.argBytes[a]);
    }
    out->gemvKernel = gk;
    out->gemvMaxTokens = gmax;
    return Status();
  }
  case fb::Command::Fill: {
    const fb::Fill *c = entry->command_as_Fill();
    out->kind = CommandKind::Fill;
    where += " (Fill)";
    if (!c)
      return error(MOERT_INVALID_ARTIFACT, where, " has no body");
    if (!(s = operand(c->dst(), where + ": operand dst", &out->dst)))
      return s;
    Ends bytes;
    if (!(s = affine(c->bytes(), where + ": bytes", &out->bytes, &bytes)))
      return s;
    out->value = c->value();
    if (!(s = writable(out->dst, where + ": operand dst")) ||
        !(s = fits(out->dst, where + ": operand dst", bytes, "bytes(T)")))
      return s;
    return Status();
  }
  case fb::Command::Copy: {
    const fb::Copy *c = entry->command_as_Copy();
    out->kind = CommandKind::Copy;
    where += " (Copy)";
    if (!c)
      return error(MOERT_INVALID_ARTIFACT, where, " has no body");
    if (!(s = operand(c->src(), where + ": operand src", &out->src)) ||
        !(s = operand(c->dst(), where + ": operand dst", &out->dst)))
      return s;
    Ends bytes;
    if (!(s = affine(c->bytes(), where + ": bytes", &out->bytes, &bytes)))
      return s;
    if (!(s = writable(out->dst, where + ": operand dst")) ||
        !(s = fits(out->src, where + ": operand src", bytes, "bytes(T)")) ||
        !(s = fits(out->dst, where + ": operand dst", bytes, "bytes(T)")) ||
        !(s = disjoint(out->dst, bytes, where + ": operand dst", out->src, bytes, "operand src")))
      return s;
    return Status();
  }
  case fb::Command::Exchange: {
    const fb::Exchange *c = entry->command_as_Exchange();
    out->kind = CommandKind::Exchange;
    where += " (Exchange)";
    if (!c)
      return error(MOERT_INVALID_ARTIFACT, where, " has no body");
    if (!(s = operand(c->src(), where + ": operand src", &out->src)) ||
        !(s = operand(c->offsets(), where + ": operand offsets", &out->offsets)) ||
        !(s = operand(c->slot_offsets(), where + ": operand slot_offsets", &out->slotOffsets)) ||
        !(s = operand(c->slot_experts(), where + ": operand slot_experts", &out->slotExperts)) ||
        !(s = operand(c->counts(), where + ": operand counts", &out->counts)) ||
        !(s = operand(c->dst(), where + ": operand dst", &out->dst)))
      return s;
    Ends rows;
    if (!(s = affine(c->rows(), where + ": rows", &out->rows, &rows)))
      return s;
    out->rowBytes = c->row_bytes();
    out->recvRows = c->recv_rows();
    out->ranks = c->ranks();
    out->slots = c->slots();
    out->experts = c->experts();
    out->back = c->back();
    if (!(s = checkDim("row_bytes", out->rowBytes)) ||
        !(s = checkDim("experts", out->experts)) ||
        !(s = checkDim("ranks", out->ranks)) || !(s = checkDim("slots", out->slots)))
      return s;
    if (out->recvRows < 0 || out->recvRows > kBlasMax || rows.max() > kBlasMax ||
        out->ranks > kMaxRanks || out->slots * out->ranks > kBlasMax)
      return error(MOERT_INVALID_ARTIFACT, where, ": recv_rows ", out->recvRows,
                   ", rows up to ", rows.max(), ", ranks ", out->ranks, " or slots ",
                   out->slots, " out of range (ranks <= ", kMaxRanks, ")");
    const Ends recv{out->recvRows, out->recvRows};
    Ends needLocal, needRecv, needOff, needSlotOff, needSlots, needCounts;
    if (!(s = product(where + ": rows x row_bytes", {out->rowBytes}, rows, &needLocal)) ||
        !(s = product(where + ": recv_rows x row_bytes", {out->rowBytes}, recv, &needRecv)) ||
        !(s = product(where + ": experts + 1", {out->experts + 1, 4}, one, &needOff)) ||
        !(s = product(where + ": slots + 1", {out->slots + 1, 4}, one, &needSlotOff)) ||
        !(s = product(where + ": slots", {out->slots, 4}, one, &needSlots)) ||
        !(s = product(where + ": ranks x slots", {out->ranks, out->slots, 4}, one,
                      &needCounts)))
      return s;
    const Ends &needSrc = out->back ? needRecv : needLocal;
    const Ends &needDst = out->back ? needLocal : needRecv;
    return uses(where,
                {{&out->src, "src", &needSrc, "rows x row_bytes", false},
                 {&out->offsets, "offsets", &needOff, "i32 [experts + 1]", false},
                 {&out->slotOffsets, "slot_offsets", &needSlotOff, "i32 [slots + 1]", !out->back},
                 {&out->slotExperts, "slot_experts", &needSlots, "i32 [slots]", !out->back},
                 {&out->counts, "counts", &needCounts, "i32 [ranks x slots]", !out->back},
                 {&out->dst, "dst", &needDst, "rows x row_bytes", true}});
  }
  case fb::Command::ExpertChoice: {
    const fb::ExpertChoice *c = entry->command_as_ExpertChoice();
    out->kind = CommandKind::ExpertChoice;
    where += " (ExpertChoice)";
    if (!c)
      return error(MOERT_INVALID_ARTIFACT, where, " has no body");
    if (!(s = operand(c->scores(), where + ": operand scores", &out->src)) ||
        !(s = operand(c->row_weight(), where + ": operand row_weight", &out->rowWeight)) ||
        !(s = operand(c->row_token(), where + ": operand row_token", &out->rowToken)) ||
        !(s = operand(c->offsets(), where + ": operand offsets", &out->offsets)))
      return s;
    Ends tokens;
    if (!(s = affine(c->tokens(), where + ": tokens", &out->rows, &tokens)))
      return s;
    // The scores are this rank's T rows: T is what the rank tells the others.
    if (out->rows.perToken != 1 || out->rows.fixed != 0)
      return error(MOERT_INVALID_ARTIFACT, where, ": tokens must be T (1 * T + 0), got ",
                   out->rows.perToken, " * T + ", out->rows.fixed);
    out->maxTokens = c->max_tokens();
    out->maxRows = c->max_rows();
    out->experts = c->experts();
    out->ranks = c->ranks();
    out->capacityFactor = c->capacity_factor();
    if (!(s = checkDim("experts", out->experts)) || !(s = checkDim("ranks", out->ranks)) ||
        !(s = checkDim("max_tokens", out->maxTokens)) || !(s = checkDim("max_rows", out->maxRows)))
      return s;
    double cf = out->capacityFactor;
    if (out->ranks > kMaxRanks || tokens.max() > out->maxTokens ||
        out->maxTokens * out->ranks > kBlasMax / out->experts || !(cf > 0.0) ||
        !std::isfinite(cf))
      return error(MOERT_INVALID_ARTIFACT, where, ": ranks ", out->ranks, ", tokens up to ",
                   tokens.max(), ", max_tokens ", out->maxTokens, " or capacity_factor ", cf,
                   " out of range (ranks <= ", kMaxRanks, ", tokens <= max_tokens, ranks x "
                   "max_tokens x experts <= ", kBlasMax, ")");
    // The most rows a rank can keep must fit.
    int64_t keep = expertChoiceMaxRows(cf, out->maxTokens, out->experts, out->ranks);
    if (out->maxRows < keep || out->maxRows > kBlasMax)
      return error(MOERT_INVALID_ARTIFACT, where, ": max_rows ", out->maxRows,
                   " cannot hold the ", keep, " rows a rank may keep (experts x min(C, max_tokens))");
    const Ends rowsE{out->maxRows, out->maxRows};
    Ends needScores, needRows, needOff;
    if (!(s = product(where + ": tokens x experts", {out->experts, 4}, tokens, &needScores)) ||
        !(s = product(where + ": max_rows", {4}, rowsE, &needRows)) ||
        !(s = product(where + ": experts + 1", {out->experts + 1, 4}, one, &needOff)))
      return s;
    return uses(where, {{&out->src, "scores", &needScores, "f32 [tokens, experts]", false},
                        {&out->rowWeight, "row_weight", &needRows, "f32 [max_rows]", true},
                        {&out->rowToken, "row_token", &needRows, "i32 [max_rows]", true},
                        {&out->offsets, "offsets", &needOff, "i32 [experts + 1]", true}});
  }
  case fb::Command::NONE:
    return error(MOERT_INVALID_ARTIFACT, where, " has no command");
  }
  return error(MOERT_INVALID_ARTIFACT, where, " has unknown command type ",
               int(static_cast<uint8_t>(entry->command_type())));
}

Status TableChecker::uses(const std::string &where, std::initializer_list<OperandUse> list) {
  Status s;
  for (const OperandUse &u : list) {
    std::string what = where + ": operand " + u.name;
    // The runtime copies these through the host arena (CUDA): buffers only.
    if (u.op->isWeight)
      return error(MOERT_INVALID_ARTIFACT, what, " must be a buffer, not a weight");
    if (!(s = fits(*u.op, what, *u.need, u.text)) || (u.written && !(s = writable(*u.op, what))))
      return s;
  }
  // What it writes overlaps nothing else it touches.
  for (const OperandUse &w : list)
    for (const OperandUse &o : list)
      if (w.written && &w != &o &&
          !(s = disjoint(*w.op, *w.need, where + ": operand " + w.name, *o.op, *o.need,
                         std::string("operand ") + o.name)))
        return s;
  return Status();
}

Status TableChecker::tensor(const fb::TensorDesc *t, const std::string &what,
                            TensorSpec *out) {
  if (!t)
    return error(MOERT_INVALID_ARTIFACT, what, " is missing");
  out->name = str(t->name());
  std::string w = what + " ('" + out->name + "')";
  if (out->name.empty() || out->name.find('\0') != std::string::npos)
    return error(MOERT_INVALID_ARTIFACT, what, ": the name is empty or contains NUL");
  uint8_t dt = static_cast<uint8_t>(t->dtype());
  if (!validDType(dt))
    return error(MOERT_INVALID_ARTIFACT, w, ": unknown dtype ", int(dt));
  if (t->dtype() == fb::DType::F8E4M3 || t->dtype() == fb::DType::MXFP4 ||
      t->dtype() == fb::DType::INT8 || t->dtype() == fb::DType::INT4)
    return error(MOERT_INVALID_ARTIFACT, w, ": dtype ", dtypeName(dt), " is for weights only");
  out->dtype = static_cast<moert_dtype_t>(dt);
  const auto *shape = t->shape();
  if (!aligned64(shape))
    return error(MOERT_INVALID_ARTIFACT, w, ": the shape vector is misaligned (malformed table)");
  size_t rank = shape ? shape->size() : 0;
  if (rank > MOERT_MAX_RANK)
    return error(MOERT_INVALID_ARTIFACT, w, ": rank ", rank,
                 " exceeds the runtime's maximum of ", MOERT_MAX_RANK);
  out->rank = static_cast<int32_t>(rank);
  int64_t elems = 1;
  bool overflow = false;
  for (size_t d = 0; d < rank; ++d) {
    int64_t dim = shape->Get(static_cast<flatbuffers::uoffset_t>(d));
    out->shape[d] = dim;
    if (dim == -1) {
      if (out->tokenDim >= 0)
        return error(MOERT_INVALID_ARTIFACT, w, ": shape ", shapeString(shape),
                     " has more than one token (-1) dimension");
      out->tokenDim = static_cast<int32_t>(d);
      continue;
    }
    if (dim < 0)
      return error(MOERT_INVALID_ARTIFACT, w, ": dimension ", d, " is ", dim);
    overflow |= __builtin_mul_overflow(elems, dim, &elems);
  }
  int64_t unit = 0;
  overflow |= __builtin_mul_overflow(elems, static_cast<int64_t>(dtypeBytes(dt)), &unit);
  Ends need;
  if (overflow ||
      (out->tokenDim >= 0 && __builtin_mul_overflow(unit, maxT_, &need.last)))
    return error(MOERT_INVALID_ARTIFACT, w, ": ", dtypeName(dt), " ",
                 shapeString(shape), " is too large");
  out->bytes = out->tokenDim >= 0 ? Affine{unit, 0} : Affine{0, unit};
  need.first = unit;
  if (out->tokenDim < 0)
    need.last = unit;
  if (t->buffer() >= fn_->buffers.size())
    return error(MOERT_INVALID_ARTIFACT, w, ": buffer ", t->buffer(),
                 " does not exist (the function has ", fn_->buffers.size(),
                 " buffers)");
  out->buffer = t->buffer();
  return fits(Operand{false, out->buffer}, w, need,
              std::string(dtypeName(dt)) + " " + shapeString(shape));
}

Status TableChecker::function(uint32_t index, const fb::Function &f,
                              FunctionSpec *out) {
  out->name = str(f.name());
  fn_ = out;
  if (out->name.empty() || out->name.find('\0') != std::string::npos)
    return error(MOERT_INVALID_ARTIFACT, "function ", index,
                 ": the name is empty or contains NUL");
  out->arenaBytes = f.arena_bytes();
  Status s;
  // Buffers: inside the arena at max_tokens, sizes non-negative and
  // non-decreasing in T.
  if (const auto *bufs = f.buffers()) {
    out->buffers.reserve(bufs->size());
    for (flatbuffers::uoffset_t i = 0; i < bufs->size(); ++i) {
      const fb::BufferDesc *b = bufs->Get(i);
      std::string what = "buffer " + std::to_string(i);
      if (!b)
        return error(MOERT_INVALID_ARTIFACT, what, " is missing");
      BufferSpec spec;
      spec.offset = b->offset();
      Ends ends;
      if (!(s = affine(b->bytes(), what + ": bytes", &spec.bytes, &ends, /*required=*/false)))
        return s;
      if (spec.bytes.perToken < 0)
        return error(MOERT_INVALID_ARTIFACT, what, ": bytes (", spec.bytes.perToken,
                     " * T + ", spec.bytes.fixed, ") decreases as T grows");
      if (spec.offset % kAlignment != 0)
        return error(MOERT_INVALID_ARTIFACT, what, ": offset ", spec.offset,
                     " is not a multiple of ", kAlignment);
      if (spec.offset > out->arenaBytes ||
          static_cast<uint64_t>(ends.last) > out->arenaBytes - spec.offset)
        return error(MOERT_INVALID_ARTIFACT, what, ": arena bytes [", spec.offset,
                     ", ", spec.offset, " + ", ends.last, ") at max_tokens = ", maxT_,
                     " exceed arena_bytes = ", out->arenaBytes);
      out->buffers.push_back(spec);
    }
  }
  // The run's parameters: a fixed 16-byte buffer the runtime writes before
  // each run, host memory only.
  if (f.run_params() != -1) {
    int32_t rp = f.run_params();
    if (rp < 0 || static_cast<size_t>(rp) >= out->buffers.size())
      return error(MOERT_INVALID_ARTIFACT, "run_params: buffer ", rp,
                   " is out of range (the function has ", out->buffers.size(), " buffers)");
    const BufferSpec &b = out->buffers[rp];
    if (b.bytes.perToken != 0 || b.bytes.fixed < 16)
      return error(MOERT_INVALID_ARTIFACT, "run_params: buffer ", rp, " holds ",
                   b.bytes.perToken, " * T + ", b.bytes.fixed,
                   " bytes, not a fixed 16 or more");
    if (table_.target() != fb::Target::CpuX86_64)
      return error(MOERT_INVALID_ARTIFACT,
                   "run_params (noisy routers) belong to the cpu target only");
    out->runParams = rp;
  }
  if (const auto *cmds = f.commands()) {
    out->commands.resize(cmds->size());
    for (flatbuffers::uoffset_t i = 0; i < cmds->size(); ++i)
      if (!(s = command(i, cmds->Get(i), &out->commands[i])))
        return s;
  }
  auto tensors = [&](const flatbuffers::Vector<flatbuffers::Offset<fb::TensorDesc>> *v,
                     const char *kind, std::vector<TensorSpec> *specs,
                     std::set<std::string> *names) -> Status {
    if (!v)
      return Status();
    specs->resize(v->size());
    for (flatbuffers::uoffset_t i = 0; i < v->size(); ++i) {
      Status st = tensor(v->Get(i), std::string(kind) + " " + std::to_string(i),
                         &(*specs)[i]);
      if (!st)
        return st;
      if (!names->insert((*specs)[i].name).second)
        return error(MOERT_INVALID_ARTIFACT, kind, " ", i, ": the name '",
                     (*specs)[i].name, "' is used twice");
      // Tools name files after aux outputs (moe-run --save-aux): a plain name
      // only, so that no artifact can make them write outside a folder.
      const std::string &name = (*specs)[i].name;
      if (specs == &out->auxOutputs &&
          (name[0] == '.' || name.size() > 128 ||
           name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789._-") != std::string::npos))
        return error(MOERT_INVALID_ARTIFACT, kind, " ", i, ": the name '", name,
                     "' is not a plain name (letters, digits, '.', '_', '-', "
                     "not starting with '.', at most 128 characters)");
    }
    return Status();
  };
  std::set<std::string> inputNames, outputNames;
  if (!(s = tensors(f.inputs(), "input", &out->inputs, &inputNames)) ||
      !(s = tensors(f.outputs(), "output", &out->outputs, &outputNames)) ||
      !(s = tensors(f.aux_outputs(), "aux output", &out->auxOutputs, &outputNames)))
    return s;
  // Each output holds what the plan computed for it: the last command that
  // writes any of its bytes writes its buffer (not another buffer over the
  // same bytes), so that an edited table cannot return a stale buffer.
  auto lastWrite = [&](const TensorSpec &t, const std::string &what) -> Status {
    const BufferSpec &ob = out->buffers[t.buffer];
    uint64_t begin = ob.offset, end = begin + static_cast<uint64_t>(ob.bytes.at(maxT_));
    int64_t last = -1;
    uint32_t writer = 0;
    for (size_t ci = 0; ci < out->commands.size(); ++ci) {
      const CommandSpec &c = out->commands[ci];
      size_t arg = 0;
      forEachOperand(c, [&](const Operand &op, Access access) {
        bool writes = c.kind == CommandKind::Launch
                          ? arg < c.args.size() && ((*kernels_)[c.kernel].writes >> arg & 1) != 0
                          : access != Access::Read;
        ++arg;
        if (!writes || op.isWeight)
          return;
        const BufferSpec &b = out->buffers[op.index];
        uint64_t b0 = b.offset, b1 = b0 + static_cast<uint64_t>(b.bytes.at(maxT_));
        if (b0 < end && begin < b1 && begin < end) {
          last = static_cast<int64_t>(ci);
          writer = op.index;
        }
      });
    }
    if (last >= 0 && writer != t.buffer)
      return error(MOERT_INVALID_ARTIFACT, what, " ('", t.name, "', buffer ",
                   t.buffer, "): command ", last, " writes buffer ", writer,
                   " over its bytes after it is computed");
    return Status();
  };
  for (size_t i = 0; i < out->outputs.size(); ++i)
    if (!(s = lastWrite(out->outputs[i], "output " + std::to_string(i))))
      return s;
  for (size_t i = 0; i < out->auxOutputs.size(); ++i)
    if (!(s = lastWrite(out->auxOutputs[i], "aux output " + std::to_string(i))))
      return s;
  return Status();
}

} // namespace

// Steps 3 and 4.
Status Model::checkTable() {
  FileHeader h;
  std::memcpy(&h, map_, sizeof h);
  const uint8_t *table = map_ + h.table_offset;
  size_t tableSize = static_cast<size_t>(h.table_size);
  if (tableSize >= FLATBUFFERS_MAX_BUFFER_SIZE)
    return error(MOERT_INVALID_ARTIFACT, "the table is ", tableSize,
                 " bytes, more than FlatBuffers allows");
  if (tableSize < 2 * sizeof(flatbuffers::uoffset_t))
    return error(MOERT_INVALID_ARTIFACT, "the table is ", tableSize,
                 " bytes, too small for a FlatBuffers table");
  if (!fb::ModelBufferHasIdentifier(table))
    return error(MOERT_INVALID_ARTIFACT,
                 "the table's file identifier is not \"MOEB\"");
  flatbuffers::Verifier verifier(table, tableSize);
  if (!fb::VerifyModelBuffer(verifier))
    return error(MOERT_INVALID_ARTIFACT,
                 "the table fails FlatBuffers verification (malformed table)");
  const fb::Model &m = *fb::GetModel(table);

  // 4. Semantic bounds.
  if (m.target() == fb::Target::Cuda) {
    target_ = MOERT_TARGET_CUDA;
  } else if (m.target() == fb::Target::CpuX86_64) {
#if !defined(__x86_64__)
    return error(MOERT_UNSUPPORTED,
                 "the artifact is for target CpuX86_64, but this host is not x86-64");
#endif
  } else {
    uint8_t t = static_cast<uint8_t>(m.target());
    return error(MOERT_UNSUPPORTED, "the artifact is for target ", int(t),
                 ", which this runtime does not know (backends: ",
                 moert_backends(), ")");
  }
  maxTokens_ = m.max_tokens();
  if (maxTokens_ < 1)
    return error(MOERT_INVALID_ARTIFACT, "max_tokens is ", maxTokens_,
                 ", expected >= 1");
  producer_ = str(m.producer());
  targetArch_ = str(m.target_arch());

  TableChecker check(m, map_ + h.blob_offset, h.blob_size, maxTokens_, h.format_version);
  Status s;
  if (!(s = check.weights(&weights_)) || !(s = check.codeObjects(&codeObjects_)) ||
      !(s = check.kernels(&kernels_)))
    return s;
  check.bind(&weights_, &kernels_);

  const auto *fns = m.functions();
  if (!fns || fns->size() == 0)
    return error(MOERT_INVALID_ARTIFACT, "the artifact has no functions");
  functions_.resize(fns->size());
  std::set<std::string> names;
  for (flatbuffers::uoffset_t i = 0; i < fns->size(); ++i) {
    const fb::Function *f = fns->Get(i);
    if (!f)
      return error(MOERT_INVALID_ARTIFACT, "function ", i, " is missing");
    if (!(s = check.function(i, *f, &functions_[i])))
      return functions_[i].name.empty()
                 ? s
                 : s.prefixed("function '" + functions_[i].name + "': ");
    if (!names.insert(functions_[i].name).second)
      return error(MOERT_INVALID_ARTIFACT, "function ", i, ": the name '",
                   functions_[i].name, "' is used twice");
  }
  codeCache_.resize(codeObjects_.size());
  functionWeights_.resize(functions_.size());
  for (size_t i = 0; i < functions_.size(); ++i) {
    std::vector<uint32_t> &used = functionWeights_[i];
    for (const CommandSpec &c : functions_[i].commands)
      forEachOperand(c, [&](const Operand &op, Access) {
        if (op.isWeight)
          used.push_back(op.index);
        if (op.isWeight && weights_[op.index].scales >= 0) // read with it
          used.push_back(static_cast<uint32_t>(weights_[op.index].scales));
      });
    std::sort(used.begin(), used.end());
    used.erase(std::unique(used.begin(), used.end()), used.end());
  }
  weightChecked_.assign(weights_.size(), 0);
  for (size_t i = 0; i < weights_.size(); ++i)
    if (weights_[i].synthetic) // generated here, not read from the file
      weightChecked_[i] = 1;
  // A session allocates a function's arena: refuse one that cannot fit.
  for (const FunctionSpec &f : functions_)
    if (f.arenaBytes > memoryBudget())
      return error(MOERT_OUT_OF_MEMORY, "function '", f.name, "' needs an arena of ",
                   f.arenaBytes, " bytes, more than ", memoryBudgetName(), " (",
                   memoryBudget(), " bytes)");
  return generateSyntheticWeights();
}

} // namespace moert::rt
