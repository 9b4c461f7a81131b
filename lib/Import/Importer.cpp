//===- Importer.cpp - Hugging Face checkpoints → moe graphs ---------------===//
#include "moec/Import/Importer.h"

#include "moec/Import/ModelConfig.h"

#include "moert/fp8.h"
#include "moert/mxfp4.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace moec;
using namespace moec::import;

namespace {

llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// Emits moe.weight ops after checking each named tensor against the shape
/// the config implies.
class WeightEmitter {
public:
  WeightEmitter(OpBuilder &builder, const SafetensorsCheckpoint &checkpoint,
                StringRef source, Quantization quantization)
      : builder(builder), checkpoint(checkpoint), source(source),
        quantization(quantization) {}

  /// Rows start, start + step, ... of dimension 1 of a stored tensor.
  struct RowSelection {
    int64_t start, step;
  };

  /// A weight whose tensor (or, with "{e}" in the name, each of the
  /// `numExperts` tensors) has shape `shape`. The result has element type
  /// `elementType` and shape `shape`, with E prepended when stacked. With
  /// `rows`, the weight is those rows of a tensor whose dimension 1 is
  /// `step` times shape's. In an MXFP4 checkpoint a tensor `<name>` may be
  /// stored as `<name>_blocks` and `<name>_scales`.
  FailureOr<Value> emit(StringRef name, ArrayRef<int64_t> shape,
                        Type elementType, int64_t numExperts = -1,
                        std::optional<RowSelection> rows = std::nullopt) {
    bool stacked = name.contains("{e}");
    assert(stacked == (numExperts >= 0) && "stacking needs an expert count");
    assert(!(stacked && rows) && "rows select from one tensor");
    SmallVector<int64_t> stored(shape);
    if (rows)
      stored[1] *= rows->step;
    std::string firstFile;
    bool fp8 = false, mxfp4 = false;
    for (int64_t e = 0; e < (stacked ? numExperts : 1); ++e) {
      std::string tensorName = name.str();
      if (stacked)
        for (size_t pos; (pos = tensorName.find("{e}")) != std::string::npos;)
          tensorName.replace(pos, 3, std::to_string(e));
      bool isMxfp4 = quantization == Quantization::Mxfp4 &&
                     !checkpoint.find(tensorName) &&
                     checkpoint.find(tensorName + kBlocksSuffix);
      if (e > 0 && isMxfp4 != mxfp4)
        return fail(llvm::Twine(checkpoint.getSourcePath()) + ": tensor '" +
                    tensorName + "' is " + (isMxfp4 ? "" : "not ") +
                    "stored as MXFP4 blocks, but expert 0's is" +
                    (mxfp4 ? "" : " not") +
                    " (a stacked weight's experts share one format)");
      mxfp4 = isMxfp4;
      if (mxfp4) {
        if (failed(checkMxfp4(tensorName, stored)))
          return failure();
        if (e == 0)
          firstFile = checkpoint.find(tensorName + kBlocksSuffix)->file;
        continue;
      }
      if (failed(check(tensorName, stored)))
        return failure();
      const SafetensorsTensor *t = checkpoint.find(tensorName);
      bool isFp8 = t->dtype == SafetensorsDType::F8_E4M3;
      if (e == 0) {
        firstFile = t->file;
        fp8 = isFp8;
      } else if (isFp8 != fp8) {
        return fail(llvm::Twine(t->file) + ": tensor '" + tensorName +
                    "' has dtype " + stringifySafetensorsDType(t->dtype).str() +
                    ", but expert 0's is " + (fp8 ? "F8_E4M3" : "not F8_E4M3") +
                    " (a stacked weight's experts share one format)");
      }
      if (isFp8 && failed(checkScales(tensorName, shape)))
        return failure();
    }
    SmallVector<int64_t> resultShape;
    if (stacked)
      resultShape.push_back(numExperts);
    resultShape.append(shape.begin(), shape.end());
    auto type = RankedTensorType::get(resultShape, elementType);
    // Where the weight comes from: its name, in the (first) safetensors file
    // that holds it (line 0: a file, not a line of it).
    Location loc = NameLoc::get(
        builder.getStringAttr(name),
        FileLineColLoc::get(builder.getContext(), firstFile, 0, 0));
    MLIRContext *ctx = builder.getContext();
    moe::WeightFormatAttr format;
    StringAttr scales;
    std::string tensorName = name.str();
    if (fp8) {
      format = moe::WeightFormatAttr::get(ctx, moe::WeightFormat::fp8_e4m3);
      scales = builder.getStringAttr(name.str() + kScaleSuffix);
    } else if (mxfp4) {
      format = moe::WeightFormatAttr::get(ctx, moe::WeightFormat::mxfp4);
      scales = builder.getStringAttr(name.str() + kMxfp4ScalesSuffix);
      tensorName += kBlocksSuffix;
    }
    auto op = moe::WeightOp::create(
        builder, loc, type, builder.getStringAttr(tensorName),
        builder.getStringAttr(source),
        /*value=*/nullptr, /*random_seed=*/nullptr, format, scales,
        rows ? builder.getI64IntegerAttr(rows->start) : nullptr,
        rows ? builder.getI64IntegerAttr(rows->step) : nullptr);
    return op.getResult();
  }

  /// The first error met, if any.
  llvm::Error takeError() {
    return firstError.empty() ? llvm::Error::success() : makeError(firstError);
  }

private:
  LogicalResult check(const std::string &tensorName, ArrayRef<int64_t> shape) {
    const SafetensorsTensor *t = checkpoint.find(tensorName);
    std::string expected = formatShape(shape);
    if (!t && checkpoint.find(tensorName + kBlocksSuffix))
      return fail(llvm::Twine(checkpoint.getSourcePath()) + ": tensor '" +
                  tensorName + "' is stored as MXFP4 blocks ('" + tensorName +
                  kBlocksSuffix + "'), but config.json has no mxfp4 "
                  "quantization_config (quant_method \"mxfp4\")");
    if (!t)
      return fail(llvm::Twine(checkpoint.getSourcePath()) + ": missing tensor '" +
                  tensorName + "' (expected shape " + expected +
                  (quantization == Quantization::Mxfp4
                       ? ", or MXFP4 '" + tensorName + kBlocksSuffix + "' and '" +
                             tensorName + kMxfp4ScalesSuffix + "')"
                       : std::string(")")));
    bool fp8 = t->dtype == SafetensorsDType::F8_E4M3;
    if (!isSupportedWeightDType(t->dtype) && !fp8)
      return fail(llvm::Twine(t->file) + ": tensor '" + tensorName + "' has dtype " +
                  stringifySafetensorsDType(t->dtype).str() +
                  ", which is not supported yet (supported: F32, F16, BF16, "
                  "and F8_E4M3 with block scales)");
    if (ArrayRef<int64_t>(t->shape) != shape) {
      SmallVector<int64_t> transposed(shape);
      if (shape.size() >= 2)
        std::swap(transposed[shape.size() - 2], transposed.back());
      bool isTransposed = ArrayRef<int64_t>(t->shape) == ArrayRef<int64_t>(transposed);
      return fail(llvm::Twine(t->file) + ": tensor '" + tensorName + "' has shape " +
                  t->getShapeString() + ", expected " + expected +
                  (isTransposed ? " (it is stored transposed, [..., in, out]; "
                                  "moe-import reads [..., out, in] matrices)"
                                : ""));
    }
    if (fp8 && quantization != Quantization::Fp8Block128)
      return fail(llvm::Twine(t->file) + ": tensor '" + tensorName +
                  "' has dtype F8_E4M3, but config.json has no fp8 "
                  "quantization_config (quant_method \"fp8\", "
                  "weight_block_size [128, 128]) to say how it is scaled");
    if (fp8 && shape.size() < 2)
      return fail(llvm::Twine(t->file) + ": tensor '" + tensorName +
                  "' has dtype F8_E4M3 but shape " + expected +
                  "; fp8 block scales apply to matrices only");
    return success();
  }

  /// The scale tensor of an fp8 tensor [..., N, K]: F32 (or BF16)
  /// [..., ceil(N / 128), ceil(K / 128)].
  LogicalResult checkScales(const std::string &tensorName,
                            ArrayRef<int64_t> shape) {
    std::string name = tensorName + kScaleSuffix;
    SmallVector<int64_t> blocks(shape.drop_back(2));
    blocks.push_back(moert::fp8Blocks(shape[shape.size() - 2]));
    blocks.push_back(moert::fp8Blocks(shape.back()));
    std::string expected = formatShape(blocks);
    const SafetensorsTensor *s = checkpoint.find(name);
    if (!s)
      return fail(llvm::Twine(checkpoint.getSourcePath()) +
                  ": missing tensor '" + name + "', the block scales of the "
                  "F8_E4M3 tensor '" + tensorName + "' (expected F32 " +
                  expected + ")");
    if (s->dtype != SafetensorsDType::F32 && s->dtype != SafetensorsDType::BF16)
      return fail(llvm::Twine(s->file) + ": scale tensor '" + name +
                  "' has dtype " + stringifySafetensorsDType(s->dtype).str() +
                  ", expected F32 (or BF16)");
    if (ArrayRef<int64_t>(s->shape) != ArrayRef<int64_t>(blocks))
      return fail(llvm::Twine(s->file) + ": scale tensor '" + name +
                  "' has shape " + s->getShapeString() + ", expected " +
                  expected + " (one scale per 128 x 128 block of '" +
                  tensorName + "' " + formatShape(shape) + ")");
    return success();
  }

  /// The MXFP4 tensors of a weight [..., N, K]: U8 blocks [..., N, K / 32,
  /// 16] and U8 e8m0 scales [..., N, K / 32] that agree with them.
  LogicalResult checkMxfp4(const std::string &tensorName,
                           ArrayRef<int64_t> shape) {
    std::string blocksName = tensorName + kBlocksSuffix,
                scalesName = tensorName + kMxfp4ScalesSuffix;
    const SafetensorsTensor *b = checkpoint.find(blocksName);
    const SafetensorsTensor *s = checkpoint.find(scalesName);
    if (shape.size() < 2 || shape.back() % moert::kMxfp4Group != 0)
      return fail(llvm::Twine(b->file) + ": tensor '" + blocksName +
                  "' holds MXFP4 blocks, but its weight has shape " +
                  formatShape(shape) + " (MXFP4 needs a matrix whose rows "
                  "are whole groups of 32)");
    SmallVector<int64_t> groups(shape);
    groups.back() /= moert::kMxfp4Group;
    SmallVector<int64_t> blocks(groups);
    blocks.push_back(moert::kMxfp4Group / 2);
    if (b->dtype != SafetensorsDType::U8 ||
        ArrayRef<int64_t>(b->shape) != ArrayRef<int64_t>(blocks))
      return fail(llvm::Twine(b->file) + ": MXFP4 tensor '" + blocksName +
                  "' is " + stringifySafetensorsDType(b->dtype).str() + " " +
                  b->getShapeString() + ", expected U8 " + formatShape(blocks) +
                  " (two e2m1 values per byte for a weight " +
                  formatShape(shape) + ")");
    if (!s)
      return fail(llvm::Twine(checkpoint.getSourcePath()) +
                  ": missing tensor '" + scalesName + "', the e8m0 scales of "
                  "the MXFP4 blocks '" + blocksName + "' (expected U8 " +
                  formatShape(groups) + ")");
    if (s->dtype != SafetensorsDType::U8 ||
        ArrayRef<int64_t>(s->shape) != ArrayRef<int64_t>(groups))
      return fail(llvm::Twine(s->file) + ": MXFP4 scales '" + scalesName +
                  "' are " + stringifySafetensorsDType(s->dtype).str() + " " +
                  s->getShapeString() + ", but the blocks '" + blocksName +
                  "' " + b->getShapeString() + " need U8 " +
                  formatShape(groups) + " (one scale per 32 values)");
    return success();
  }

  LogicalResult fail(const llvm::Twine &twine) {
    std::string message = twine.str();
    if (firstError.empty())
      firstError = message;
    return failure();
  }

  OpBuilder &builder;
  const SafetensorsCheckpoint &checkpoint;
  std::string source;
  Quantization quantization;
  std::string firstError;
  /// An fp8 tensor's scales, as DeepSeek-V3 and Qwen3-FP8 name them.
  static constexpr const char *kScaleSuffix = "_scale_inv";
  /// An MXFP4 tensor's parts, as gpt-oss names them.
  static constexpr const char *kBlocksSuffix = "_blocks";
  static constexpr const char *kMxfp4ScalesSuffix = "_scales";
};

FailureOr<Value> emitDenseFfn(WeightEmitter &weights, OpBuilder &b, Value x,
                              const FfnTensors &ffn, int64_t hidden,
                              Type elementType, moe::FfnAttr ffnAttr) {
  int64_t f = ffn.width;
  Value gate;
  if (!ffn.gate.empty()) {
    auto g = weights.emit(ffn.gate, {f, hidden}, elementType);
    if (failed(g))
      return failure();
    gate = *g;
  }
  auto up = weights.emit(ffn.up, {f, hidden}, elementType);
  if (failed(up))
    return failure();
  auto down = weights.emit(ffn.down, {hidden, f}, elementType);
  if (failed(down))
    return failure();
  return moe::SharedExpertOp::create(b, b.getUnknownLoc(), x.getType(), x,
                                     gate, *up, *down, /*sigmoid_gate=*/Value(),
                                     ffnAttr)
      .getResult();
}

FailureOr<Value> emitSparseBlock(WeightEmitter &weights, OpBuilder &b, Value x,
                                 const LayerPlan &layer, const ModelPlan &model,
                                 Type elementType, moe::FfnAttr ffnAttr) {
  MLIRContext *ctx = b.getContext();
  int64_t h = model.hidden, e = layer.numExperts, f = layer.experts.width;
  Type f32 = b.getF32Type();
  auto router = weights.emit(layer.router, {e, h}, elementType);
  if (failed(router))
    return failure();
  Value routerBias, correction, routerNoise;
  if (!layer.routerNoise.empty()) {
    auto v = weights.emit(layer.routerNoise, {e, h}, elementType);
    if (failed(v))
      return failure();
    routerNoise = *v;
  }
  if (!layer.routerBias.empty()) {
    auto v = weights.emit(layer.routerBias, {e}, f32);
    if (failed(v))
      return failure();
    routerBias = *v;
  }
  if (!layer.correctionBias.empty()) {
    auto v = weights.emit(layer.correctionBias, {e}, f32);
    if (failed(v))
      return failure();
    correction = *v;
  }
  // Per-expert tensors ("{e}") or one stacked [E, ...] tensor; gpt-oss's
  // gate and up (and their biases) alternate rows of one tensor.
  bool interleaved = layer.experts.interleavedGateUp;
  using Rows = std::optional<WeightEmitter::RowSelection>;
  auto gateRows = interleaved ? Rows({0, 2}) : Rows(),
       upRows = interleaved ? Rows({1, 2}) : Rows();
  auto experts = [&](StringRef name, int64_t rows, int64_t cols,
                     Rows select = std::nullopt) {
    if (name.contains("{e}"))
      return weights.emit(name, {rows, cols}, elementType, e);
    return weights.emit(name, {e, rows, cols}, elementType, -1, select);
  };
  auto up = experts(layer.experts.up, f, h, upRows);
  auto down = experts(layer.experts.down, h, f);
  if (failed(up) || failed(down))
    return failure();
  Value gate;
  if (!layer.experts.gate.empty()) {
    auto g = experts(layer.experts.gate, f, h, gateRows);
    if (failed(g))
      return failure();
    gate = *g;
  }
  Value upBias, downBias, gateBias;
  if (!layer.experts.upBias.empty()) {
    auto ub = weights.emit(layer.experts.upBias, {e, f}, f32, -1, upRows);
    auto db = weights.emit(layer.experts.downBias, {e, h}, f32);
    if (failed(ub) || failed(db))
      return failure();
    upBias = *ub;
    downBias = *db;
    if (gate) {
      auto gb = weights.emit(layer.experts.gateBias, {e, f}, f32, -1, gateRows);
      if (failed(gb))
        return failure();
      gateBias = *gb;
    }
  }
  Value sharedUp, sharedDown, sharedGate, sharedExpertGate;
  if (layer.shared) {
    int64_t fs = layer.shared->width;
    auto su = weights.emit(layer.shared->up, {fs, h}, elementType);
    auto sd = weights.emit(layer.shared->down, {h, fs}, elementType);
    if (failed(su) || failed(sd))
      return failure();
    sharedUp = *su;
    sharedDown = *sd;
    if (!layer.shared->gate.empty()) {
      auto sg = weights.emit(layer.shared->gate, {fs, h}, elementType);
      if (failed(sg))
        return failure();
      sharedGate = *sg;
    }
    if (!layer.sharedExpertGate.empty()) {
      auto g = weights.emit(layer.sharedExpertGate, {1, h}, elementType);
      if (failed(g))
        return failure();
      sharedExpertGate = *g;
    }
  }
  Attribute routing = moe::RoutingAttr::get(
      ctx, layer.k, layer.scoring, layer.renormalize,
      llvm::APFloat(layer.epsilon), llvm::APFloat(layer.scalingFactor),
      layer.nGroup, layer.topkGroup, layer.groupScore,
      layer.softmaxAfterTopk);
  if (layer.expertChoice)
    routing = moe::ExpertChoiceAttr::get(ctx, llvm::APFloat(*layer.expertChoice),
                                         moe::ScoringFunc::softmax);
  moe::CapacityAttr capacity;
  if (layer.capacityTokens > 0)
    capacity = moe::CapacityAttr::get(ctx, llvm::APFloat(1.0),
                                      layer.capacityTokens,
                                      moe::OverflowPolicy::drop);
  else if (layer.capacityFactor > 0.0)
    capacity = moe::CapacityAttr::get(ctx, llvm::APFloat(layer.capacityFactor),
                                      0, layer.overflow);
  return moe::BlockOp::create(
             b, b.getUnknownLoc(), x.getType(), x, *router, routerBias,
             routerNoise, correction, *up, *down, gate, upBias, downBias, gateBias, sharedUp,
             sharedDown, sharedGate,
             sharedExpertGate, routing, ffnAttr, capacity,
             layer.droppedPassthrough ? moe::DroppedPolicy::passthrough
                                      : moe::DroppedPolicy::zero)
      .getResult();
}

} // namespace

llvm::Expected<std::optional<std::vector<int64_t>>>
moec::import::parseLayerList(StringRef text) {
  // As ModelConfig's kMaxLayers: no config may declare more layers.
  constexpr int64_t kMaxLayerIndex = 10000;
  if (text == "all")
    return std::optional<std::vector<int64_t>>();
  std::vector<int64_t> layers;
  SmallVector<StringRef> parts;
  text.split(parts, ',');
  for (StringRef part : parts) {
    part = part.trim();
    auto [lo, hi] = part.split('-');
    int64_t first, last;
    if (lo.getAsInteger(10, first) || first < 0 ||
        (hi.empty() ? (last = first, false)
                    : (hi.getAsInteger(10, last) || last < first)))
      return makeError("--layers: '" + part +
                       "' is not a layer index or range (expected 'all', "
                       "'0,3' or '0-2')");
    // Checked against the model's layer count later; bounded here so that
    // '0-99999999999' is an error, not a loop over 10^11 indices.
    if (last >= kMaxLayerIndex)
      return makeError("--layers: '" + part + "' goes beyond layer " +
                       llvm::Twine(kMaxLayerIndex - 1) +
                       " (moe-import reads at most " + llvm::Twine(kMaxLayerIndex) +
                       " layers)");
    for (int64_t i = first; i <= last; ++i)
      if (!llvm::is_contained(layers, i))
        layers.push_back(i);
  }
  if (layers.empty())
    return makeError("--layers: no layer given");
  return std::optional<std::vector<int64_t>>(std::move(layers));
}

llvm::Expected<OwningOpRef<ModuleOp>>
moec::import::importCheckpoint(MLIRContext &context,
                               const ImportOptions &options) {
  context.loadDialect<moe::MoeDialect, func::FuncDialect>();
  llvm::SmallString<256> dir(options.checkpointDir);
  if (!llvm::sys::fs::is_directory(dir))
    return makeError(options.checkpointDir +
                     ": not a directory (expected a checkpoint directory with "
                     "config.json and *.safetensors)");
  if (std::error_code ec = llvm::sys::fs::make_absolute(dir))
    return makeError(options.checkpointDir + ": " + ec.message());
  llvm::sys::path::remove_dots(dir, /*remove_dot_dot=*/true);

  llvm::SmallString<256> configPath(dir);
  llvm::sys::path::append(configPath, "config.json");
  auto plan = readModelConfig(configPath);
  if (!plan)
    return plan.takeError();

  std::vector<const LayerPlan *> selected;
  if (options.layers) {
    int64_t count = plan->layers.size();
    for (int64_t i : *options.layers) {
      if (i >= count)
        return makeError("layer " + llvm::Twine(i) +
                         " does not exist: the model has " +
                         llvm::Twine(count) + " layers (0-" +
                         llvm::Twine(count - 1) + ")");
      selected.push_back(&plan->layers[i]);
    }
  } else {
    for (const LayerPlan &l : plan->layers)
      selected.push_back(&l);
  }

  auto checkpoint = SafetensorsCheckpoint::open(dir, options.progress);
  if (!checkpoint)
    return checkpoint.takeError();

  OpBuilder b(&context);
  OwningOpRef<ModuleOp> module = ModuleOp::create(b, b.getUnknownLoc());
  (*module)->setAttr("moe.model_type", b.getStringAttr(plan->modelType));
  b.setInsertionPointToEnd(module->getBody());
  Type elementType = options.computeType;
  auto actType = RankedTensorType::get({ShapedType::kDynamic, plan->hidden},
                                       elementType);
  auto ffnAttr = moe::FfnAttr::get(&context, plan->activation, plan->gated,
                                   llvm::APFloat(plan->alpha),
                                   llvm::APFloat(plan->limit));
  WeightEmitter weights(b, **checkpoint, (*checkpoint)->getSourcePath(),
                        plan->quantization);

  for (const LayerPlan *layer : selected) {
    OpBuilder::InsertionGuard guard(b);
    auto func = func::FuncOp::create(
        b, b.getUnknownLoc(), "layer_" + std::to_string(layer->index),
        b.getFunctionType({actType}, {actType}));
    func->setAttr("moe.layer", b.getI64IntegerAttr(layer->index));
    func->setAttr("moe.ffn", b.getStringAttr(layer->sparse ? "sparse" : "dense"));
    Block *entry = func.addEntryBlock();
    b.setInsertionPointToStart(entry);
    Value x = entry->getArgument(0);
    FailureOr<Value> out =
        layer->sparse
            ? emitSparseBlock(weights, b, x, *layer, *plan, elementType, ffnAttr)
            : emitDenseFfn(weights, b, x, layer->dense, plan->hidden,
                           elementType, ffnAttr);
    if (failed(out))
      return weights.takeError();
    func::ReturnOp::create(b, b.getUnknownLoc(), *out);
  }

  // The importer only builds what the verifier accepts; a failure here is a
  // config that describes an impossible block (k > E, ...).
  std::string diagnostics;
  {
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
      diagnostics += (diagnostics.empty() ? "" : "; ") + d.str();
      return success();
    });
    if (failed(verify(*module)))
      return makeError(configPath + ": the configuration does not describe a "
                                    "valid block: " + diagnostics);
  }
  return module;
}
