//===- ExportArtifact.cpp - exec plans → .moeb ----------------------------===//
//
// Writes docs/artifact.md's layout: a 128-byte header, the FlatBuffers table,
// then the blob section (weights and code objects, 64-byte aligned), with the
// header, table and blob checksums. Weights are read from the safetensors
// checkpoints the exec.weight ops name, stacked per expert ("{e}") and
// converted to f32.
//
//===----------------------------------------------------------------------===//
#include "moec/Target/Passes.h"

#include "moec/Support/Safetensors.h"

#include "moeb_generated.h"
#include "moert/format.h"
#include "moert/half.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

#include <cassert>
#include <chrono>
#include <cstring>

namespace moec {
#define GEN_PASS_DEF_MOEEXPORTARTIFACT
#include "moec/Target/Passes.h.inc"
} // namespace moec

using namespace mlir;
using namespace moec;
namespace fb = moert::fb;

namespace {

/// Bytes of an element of `elem` (f32, bf16 or f16).
size_t elementBytes(Type elem) { return elem.getIntOrFloatBitWidth() / 8; }

/// Writes `f` at `dst` as an element of `elem` (the 16-bit types rounded to
/// nearest even), little-endian (the host's order).
void storeElement(float f, Type elem, char *dst) {
  if (elem.isF32()) {
    std::memcpy(dst, &f, 4);
    return;
  }
  uint16_t h = elem.isBF16() ? moert::floatToBf16(f) : moert::floatToHalf(f);
  std::memcpy(dst, &h, 2);
}

/// Appends `f` to `out` as an element of `elem`.
void appendElement(float f, Type elem, std::vector<char> &out) {
  size_t at = out.size();
  out.resize(at + elementBytes(elem));
  storeElement(f, elem, out.data() + at);
}

/// Appends `t`'s elements to `out` as elements of `elem`: the bytes as they
/// are when the checkpoint holds that type, else each value converted (one
/// rounding from the stored value).
void appendAs(const SafetensorsTensor &t, Type elem, std::vector<char> &out) {
  size_t n = static_cast<size_t>(t.getNumElements());
  const uint8_t *src = t.data.data();
  if ((elem.isF32() && t.dtype == SafetensorsDType::F32) ||
      (elem.isBF16() && t.dtype == SafetensorsDType::BF16) ||
      (elem.isF16() && t.dtype == SafetensorsDType::F16)) {
    out.insert(out.end(), reinterpret_cast<const char *>(src),
               reinterpret_cast<const char *>(src) + t.data.size());
    return;
  }
  // Sized once, then written in place (one element at a time through
  // push_back was the packing's bottleneck).
  size_t size = elementBytes(elem), at = out.size();
  out.resize(at + n * size);
  char *dst = out.data() + at;
  for (size_t i = 0; i < n; ++i) {
    float f;
    switch (t.dtype) {
    case SafetensorsDType::F32:
      std::memcpy(&f, src + 4 * i, 4);
      break;
    case SafetensorsDType::BF16:
      f = moert::bf16ToFloat(uint16_t(src[2 * i] | (src[2 * i + 1] << 8)));
      break;
    case SafetensorsDType::F16:
      f = moert::halfToFloat(uint16_t(src[2 * i] | (src[2 * i + 1] << 8)));
      break;
    default:
      llvm_unreachable("checked by the caller");
    }
    storeElement(f, elem, dst + size * i);
  }
}

fb::DType dtypeOf(Type t) {
  if (t.isF32())
    return fb::DType_F32;
  if (t.isInteger(32))
    return fb::DType_I32;
  if (t.isBF16())
    return fb::DType_BF16;
  return fb::DType_F16;
}

/// A GEMM command's operand dtype: the element type of its B buffer.
fb::DType gemmDType(Value b) {
  return dtypeOf(cast<exec::BufferType>(b.getType()).getElementType());
}

class Writer {
public:
  Writer(ModuleOp module, bool progress) : module(module), progress(progress) {}
  LogicalResult write(StringRef path);

private:
  LogicalResult packWeight(exec::WeightOp op);
  FailureOr<const SafetensorsCheckpoint *> checkpoint(StringRef file,
                                                      Operation *op);
  fb::Ref ref(Value v);
  flatbuffers::Offset<fb::Function> function(func::FuncOp fn);

  ModuleOp module;
  bool progress;
  bool cuda = false; // the module's exec.target
  flatbuffers::FlatBufferBuilder fbb{1 << 16};
  std::vector<char> blobs;            // the blob section
  llvm::StringMap<std::unique_ptr<SafetensorsCheckpoint>> checkpoints;
  std::map<std::string, uint32_t> weightIndex; // by identity key
  // Progress of packing weights from checkpoints.
  using Clock = std::chrono::steady_clock;
  Clock::time_point packStart = Clock::now();
  int64_t weightsFromFiles = 0, packedFromFiles = 0;
  uint64_t packedBytes = 0;
  DenseMap<Value, fb::Ref> refs;      // per function: buffer/weight values
  std::vector<flatbuffers::Offset<fb::Weight>> weights;
  llvm::StringMap<uint32_t> kernelIndex;
  bool failedAny = false;
};

/// Reorders blobs[start, end) -- `matrices` row-major [n, k] matrices of T
/// (float, or a bf16 pattern) -- into panels (WeightLayout::Panels32,
/// moert/format.h), growing it by the padding.
template <class T>
void packRegionInPanelsOf(std::vector<char> &blobs, size_t start,
                          int64_t matrices, int64_t n, int64_t k) {
  assert(blobs.size() - start == size_t(matrices * n * k) * sizeof(T) &&
         "the region holds exactly the matrices");
  int64_t depth = moert::panelDepth(sizeof(T));
  std::vector<T> rows((blobs.size() - start) / sizeof(T));
  std::memcpy(rows.data(), blobs.data() + start, rows.size() * sizeof(T));
  uint64_t each = moert::panelElements(n, k, depth);
  blobs.resize(start + matrices * each * sizeof(T));
  // The vector's storage (operator new) is aligned for T, and `start` is a
  // multiple of sizeof(T).
  T *out = reinterpret_cast<T *>(blobs.data() + start);
  for (int64_t m = 0; m < matrices; ++m)
    moert::packPanels(rows.data() + m * n * k, n, k, out + m * each, depth);
}

void packRegionInPanels(Type elem, std::vector<char> &blobs, size_t start,
                        int64_t matrices, int64_t n, int64_t k) {
  if (elem.isF32())
    packRegionInPanelsOf<float>(blobs, start, matrices, n, k);
  else
    packRegionInPanelsOf<uint16_t>(blobs, start, matrices, n, k);
}

/// Pads the blob section to the artifact's alignment; returns the offset.
uint64_t alignBlobs(std::vector<char> &blobs) {
  blobs.resize(moert::alignUp(blobs.size()), 0);
  return blobs.size();
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
    llvm::errs() << "moe-compile: packing weights from "
                 << llvm::sys::path::filename(file) << "\n";
  auto *ptr = opened->get();
  checkpoints[file] = std::move(*opened);
  return ptr;
}

LogicalResult Writer::packWeight(exec::WeightOp op) {
  auto type = cast<exec::BufferType>(op.getType());
  std::string key = op.getTensorName().str() + "|" +
                    op.getFile().value_or("").str() + "|";
  llvm::raw_string_ostream(key) << type;
  if (op.getValue())
    key += "|inline@" + std::to_string(reinterpret_cast<uintptr_t>(
                            op.getValueAttr().getAsOpaquePointer()));
  if (auto seed = op.getRandomSeed())
    key += "|random@" + std::to_string(*seed);
  if (op.getPanels())
    key += "|panels";
  if (auto it = weightIndex.find(key); it != weightIndex.end()) {
    refs[op.getResult()] = fb::Ref(fb::RefKind_Weight, it->second);
    return success();
  }
  Type elem = type.getElementType();
  if (!elem.isF32() && !elem.isBF16() && !elem.isF16())
    return op.emitError() << "moe-export-artifact: weights are packed as f32, "
                             "bf16 or f16, not "
                          << elem;
  ArrayRef<int64_t> shape = type.getShape();
  bool panels = op.getPanels();
  if (panels && cuda)
    return op.emitError() << "moe-export-artifact: weight '"
                          << op.getTensorName()
                          << "' is in panels, the CPU target's layout, but "
                             "the module is for cuda";
  // In panels: each [n, k] matrix is reordered once it is appended.
  int64_t n = panels ? shape[shape.size() - 2] : 0, k = shape.back();
  int64_t matrices = panels ? ShapedType::getNumElements(shape.drop_back(2)) : 0;
  std::optional<int64_t> seed = op.getRandomSeed();
  uint64_t offset = seed ? 0 : alignBlobs(blobs);
  if (seed) {
    // Generated by the runtime at load time: no bytes in the artifact.
  } else if (auto value = op.getValueAttr()) {
    auto values = value.tryGetValues<APFloat>();
    if (!values)
      return op.emitError() << "moe-export-artifact: cannot read the inline "
                               "value of weight '"
                            << op.getTensorName() << "'";
    for (APFloat v : *values) {
      bool lost;
      v.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &lost);
      appendElement(v.convertToFloat(), elem, blobs);
    }
    if (panels)
      packRegionInPanels(elem, blobs, offset, matrices, n, k);
  } else {
    auto ckpt = checkpoint(*op.getFile(), op);
    if (failed(ckpt))
      return failure();
    bool stacked = op.getTensorName().contains("{e}");
    ArrayRef<int64_t> each = stacked ? shape.drop_front() : shape;
    int64_t count = stacked ? shape.front() : 1;
    // In panels, each file's tensor is packed as it is appended when it
    // holds whole [n, k] matrices (a stacked [E, ..., n, k]); else (a
    // stacked [E, k]: each file one row) the whole weight once at the end.
    bool packEach = panels && each.size() >= 2;
    for (int64_t e = 0; e < count; ++e) {
      std::string name = op.getTensorName().str();
      if (stacked)
        for (size_t pos; (pos = name.find("{e}")) != std::string::npos;)
          name.replace(pos, 3, std::to_string(e));
      const SafetensorsTensor *t = (*ckpt)->find(name);
      if (!t)
        return op.emitError() << "moe-export-artifact: " << *op.getFile()
                              << ": missing tensor '" << name << "'";
      if (!isSupportedWeightDType(t->dtype))
        return op.emitError() << "moe-export-artifact: tensor '" << name
                              << "' has dtype "
                              << stringifySafetensorsDType(t->dtype)
                              << ", which is not supported yet";
      if (ArrayRef<int64_t>(t->shape) != each)
        return op.emitError() << "moe-export-artifact: tensor '" << name
                              << "' has shape " << t->getShapeString()
                              << ", expected " << formatShape(each)
                              << " (the checkpoint changed since import?)";
      size_t start = blobs.size();
      appendAs(*t, elem, blobs);
      if (packEach)
        packRegionInPanels(elem, blobs, start, matrices / count, n, k);
    }
    if (panels && !packEach)
      packRegionInPanels(elem, blobs, offset, matrices, n, k);
    packedFromFiles += 1;
    packedBytes += blobs.size() - offset;
    if (progress) {
      double seconds =
          std::chrono::duration<double>(Clock::now() - packStart).count();
      double mib = packedBytes / double(1 << 20);
      llvm::errs() << "moe-compile: packed '" << op.getTensorName() << "' "
                   << formatShape(shape) << " " << elem << ", " << packedFromFiles << "/"
                   << weightsFromFiles << " weights, "
                   << llvm::format("%.1f MiB in %.2f s (%.0f MiB/s)", mib,
                                   seconds, seconds > 0 ? mib / seconds : 0.0)
                   << "\n";
    }
  }
  uint64_t bytes = seed ? 0 : blobs.size() - offset;
  std::vector<int64_t> shapeVec(shape.begin(), shape.end());
  uint32_t index = weights.size();
  weights.push_back(fb::CreateWeightDirect(
      fbb, op.getTensorName().str().c_str(), dtypeOf(elem), &shapeVec, offset,
      bytes, seed ? fb::WeightInit_RandomUniform : fb::WeightInit_Blob,
      static_cast<uint64_t>(seed.value_or(0)),
      panels ? fb::WeightLayout_Panels32 : fb::WeightLayout_RowMajor));
  weightIndex[key] = index;
  refs[op.getResult()] = fb::Ref(fb::RefKind_Weight, index);
  return success();
}

fb::Ref Writer::ref(Value v) { return refs.lookup(v); }

fb::Affine affine(ArrayRef<int64_t> a) { return fb::Affine(a[0], a[1]); }

flatbuffers::Offset<fb::Function> Writer::function(func::FuncOp fn) {
  refs.clear();
  std::vector<flatbuffers::Offset<fb::BufferDesc>> buffers;
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
  for (Operation &op : fn.getBody().front()) {
    if (failedAny)
      break;
    if (auto in = dyn_cast<exec::InputOp>(op)) {
      addBuffer(in.getResult(), in.getOffset(), in.getBytes());
      inputs.push_back(tensorDesc(in.getName(), in.getResult()));
    } else if (auto a = dyn_cast<exec::AllocOp>(op)) {
      addBuffer(a.getResult(), a.getOffset(), a.getBytes());
    } else if (auto w = dyn_cast<exec::WeightOp>(op)) {
      if (failed(packWeight(w)))
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
      auto launch = fb::CreateLaunchDirect(fbb, *kernel, &args, &extent,
                                           l.getGrain());
      commands.push_back(
          fb::CreateCommandEntry(fbb, fb::Command_Launch, launch.Union()));
    } else if (auto g = dyn_cast<exec::GemmOp>(op)) {
      fb::Ref a = ref(g.getA()), b = ref(g.getB()), c = ref(g.getC());
      fb::Affine rows = affine(g.getRows());
      auto gemm = fb::CreateGemm(fbb, &a, &b, &c, &rows, g.getN(), g.getK(),
                                 g.getAccumulate(), gemmDType(g.getB()));
      commands.push_back(
          fb::CreateCommandEntry(fbb, fb::Command_Gemm, gemm.Union()));
    } else if (auto g = dyn_cast<exec::GroupedGemmOp>(op)) {
      fb::Ref a = ref(g.getA()), b = ref(g.getB()), c = ref(g.getC()),
              o = ref(g.getOffsets());
      fb::Affine rows = affine(g.getRows());
      int32_t gemvKernel = -1;
      if (auto gemv = g.getGemv()) {
        std::optional<uint32_t> kernel = kernelOf(op, *gemv);
        if (!kernel)
          break;
        gemvKernel = static_cast<int32_t>(*kernel);
      }
      auto gemm = fb::CreateGroupedGemm(fbb, &a, &b, &c, &o, &rows,
                                        g.getExperts(), g.getN(), g.getK(),
                                        gemmDType(g.getB()), gemvKernel,
                                        g.getGemvMaxTokens().value_or(0));
      commands.push_back(
          fb::CreateCommandEntry(fbb, fb::Command_GroupedGemm, gemm.Union()));
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
                                  arena ? arena.getInt() : 0);
}

LogicalResult Writer::write(StringRef path) {
  // The blob section is built in memory: reserve it once (weights counted
  // twice when shared are only an over-estimate), so packing a checkpoint of
  // gigabytes does not copy it at every growth of the vector.
  uint64_t expected = 1 << 20;
  module.walk([&](exec::WeightOp w) {
    weightsFromFiles += w.getFile().has_value();
    ArrayRef<int64_t> shape = cast<exec::BufferType>(w.getType()).getShape();
    if (!w.getRandomSeed())
      expected += moert::alignUp(
          4 * (w.getPanels()
                   ? static_cast<uint64_t>(ShapedType::getNumElements(shape.drop_back(2))) *
                         moert::panelElements(shape[shape.size() - 2], shape.back(), 2)
                   : static_cast<uint64_t>(ShapedType::getNumElements(shape))));
  });
  blobs.reserve(expected);
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
    uint64_t offset = alignBlobs(blobs);
    blobs.insert(blobs.end(), bytes.begin(), bytes.end());
    uint32_t index = codeObjects.size();
    codeObjects.push_back(fb::CreateCodeObjectDirect(
        fbb, format, co.getArch().str().c_str(), offset, bytes.size()));
    std::optional<DictionaryAttr> lanes = co.getLanes();
    for (NamedAttribute k : co.getKernels()) {
      uint32_t laneCount = 1;
      if (lanes)
        if (auto l = lanes->getAs<IntegerAttr>(k.getName()))
          laneCount = l.getInt();
      kernelIndex[k.getName()] = kernels.size();
      kernels.push_back(fb::CreateKernelDirect(
          fbb, k.getName().str().c_str(), index,
          cast<IntegerAttr>(k.getValue()).getInt(), laneCount));
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

  auto model = fb::CreateModelDirect(fbb, "moec 0.1.0",
                                     cuda ? fb::Target_Cuda : fb::Target_CpuX86_64,
                                     arch.c_str(),
                                     maxTokens, &functions, &kernels,
                                     &codeObjects, &weights);
  fbb.Finish(model, fb::ModelIdentifier());

  const char *table = reinterpret_cast<const char *>(fbb.GetBufferPointer());
  uint64_t tableSize = fbb.GetSize();
  moert::FileHeader header{};
  std::memcpy(header.magic, moert::kMagic, 8);
  header.format_version = moert::kFormatVersion;
  header.header_size = sizeof(moert::FileHeader);
  header.table_offset = sizeof(moert::FileHeader);
  header.table_size = tableSize;
  header.blob_offset = moert::alignUp(header.table_offset + tableSize);
  header.blob_size = alignBlobs(blobs);
  header.file_size = header.blob_offset + header.blob_size;
  header.table_checksum = moert::checksum64(table, tableSize);
  // The blob checksum covers the padding after the table too (zeros).
  std::vector<char> tail(header.blob_offset - header.table_offset - tableSize,
                         0);
  tail.insert(tail.end(), blobs.begin(), blobs.end());
  header.blob_checksum = moert::checksum64(tail.data(), tail.size());
  header.header_checksum = moert::checksum64(&header, 120);

  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return module.emitError() << "moe-export-artifact: cannot write " << path
                              << ": " << ec.message();
  os.write(reinterpret_cast<const char *>(&header), sizeof(header));
  os.write(table, tableSize);
  os.write(tail.data(), tail.size());
  os.close();
  if (os.has_error())
    return module.emitError() << "moe-export-artifact: writing " << path
                              << " failed: " << os.error().message();
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
    if (failed(writer.write(output)))
      signalPassFailure();
  }
};

} // namespace
