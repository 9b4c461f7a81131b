//===- MoeOps.cpp - verifiers of the moe dialect's ops --------------------===//
//
// Every verifier names the operand, the dimension and the value it expected,
// so an error points at the exact inconsistency (see test/Dialect/moe/invalid.mlir).
//
//===----------------------------------------------------------------------===//
#include "moe/MoeDialect.h"

#include "llvm/ADT/StringExtras.h"

using namespace mlir;
using namespace moec::moe;

#define GET_OP_CLASSES
#include "moe/MoeOps.cpp.inc"

namespace {
constexpr int64_t kDyn = ShapedType::kDynamic;

std::string dimStr(int64_t d) {
  return ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d);
}

/// Checks of operand and result shapes, with messages of the form
/// "weight dim 1 is 64, expected H = 72".
class ShapeCheck {
public:
  explicit ShapeCheck(Operation *op) : op(op) {}

  /// `v` has rank `rank`; `layout` describes the expected shape ("[E, H]").
  FailureOr<RankedTensorType> rank(Value v, StringRef name, int64_t rank,
                                   StringRef layout) {
    auto type = cast<RankedTensorType>(v.getType());
    if (type.getRank() != rank)
      return op->emitOpError() << name << " must have rank " << rank << " ("
                               << layout << "), got " << type;
    return type;
  }

  /// Dim `i` of `type` equals `expected` (a dynamic size matches only a
  /// dynamic size); `symbol` names the expected quantity ("H").
  LogicalResult dim(RankedTensorType type, StringRef name, unsigned i,
                    int64_t expected, StringRef symbol) {
    if (type.getDimSize(i) == expected)
      return success();
    return op->emitOpError() << name << " dim " << i << " is "
                             << dimStr(type.getDimSize(i)) << ", expected "
                             << symbol << " = " << dimStr(expected);
  }

  /// A weight's shape is known at compile time.
  LogicalResult isStatic(RankedTensorType type, StringRef name) {
    if (type.hasStaticShape())
      return success();
    return op->emitOpError() << name << " must have a static shape, got "
                             << type;
  }

  /// Two values have the same element type (activations and their results).
  LogicalResult sameElementType(Type a, StringRef aName, Type b,
                                StringRef bName) {
    Type ea = cast<ShapedType>(a).getElementType();
    Type eb = cast<ShapedType>(b).getElementType();
    if (ea == eb)
      return success();
    return op->emitOpError() << bName << " element type " << eb
                             << " must match " << aName << " element type "
                             << ea;
  }

  /// A 2-D activation [T, X]: returns it.
  FailureOr<RankedTensorType> matrix(Value v, StringRef name,
                                     StringRef layout) {
    return rank(v, name, 2, layout);
  }

  /// A static weight of the given rank.
  FailureOr<RankedTensorType> weight(Value v, StringRef name, int64_t r,
                                     StringRef layout) {
    auto type = rank(v, name, r, layout);
    if (failed(type) || failed(isStatic(*type, name)))
      return failure();
    return type;
  }

private:
  Operation *op;
};

/// Expert (or shared-expert) FFN weights: gate and up [prefix.., F, H], down
/// [prefix.., H, F]; `numExperts` < 0 means no leading expert dimension.
/// The gate weight is present iff `ffn` is gated. Returns F.
FailureOr<int64_t> verifyFfnWeights(ShapeCheck &check, Operation *op,
                                    FfnAttr ffn, Value gate, Value up,
                                    Value down, int64_t numExperts,
                                    int64_t hidden, StringRef prefix) {
  bool perExpert = numExperts >= 0;
  int64_t r = perExpert ? 3 : 2;
  unsigned fDim = perExpert ? 1 : 0;
  std::string upName = (prefix + "up weight").str();
  std::string gateName = (prefix + "gate weight").str();
  std::string downName = (prefix + "down weight").str();
  StringRef fhLayout = perExpert ? "[E, F, H]" : "[F, H]";
  StringRef hfLayout = perExpert ? "[E, H, F]" : "[H, F]";

  if (ffn.getGated() && !gate)
    return op->emitOpError() << "ffn is gated (" << ffn << ") but no "
                             << gateName << " is given";
  if (!ffn.getGated() && gate)
    return op->emitOpError() << "ffn is not gated (" << ffn << ") but a "
                             << gateName << " is given";

  auto upType = check.weight(up, upName, r, fhLayout);
  if (failed(upType))
    return failure();
  int64_t f = upType->getDimSize(fDim);
  if (f > kMaxDimension || hidden > kMaxDimension ||
      (perExpert && numExperts > kMaxExperts))
    return op->emitOpError() << upName << " " << *upType
                             << " is larger than moec supports (E at most "
                             << kMaxExperts << ", F and H at most "
                             << kMaxDimension << ")";
  if (perExpert && failed(check.dim(*upType, upName, 0, numExperts, "E")))
    return failure();
  if (failed(check.dim(*upType, upName, fDim + 1, hidden, "H")))
    return failure();
  if (gate) {
    auto gateType = check.weight(gate, gateName, r, fhLayout);
    if (failed(gateType))
      return failure();
    if (gateType->getShape() != upType->getShape())
      return op->emitOpError() << gateName << " shape " << *gateType
                               << " must equal " << upName << " shape "
                               << *upType;
  }
  auto downType = check.weight(down, downName, r, hfLayout);
  if (failed(downType))
    return failure();
  if (perExpert && failed(check.dim(*downType, downName, 0, numExperts, "E")))
    return failure();
  if (failed(check.dim(*downType, downName, fDim, hidden, "H")) ||
      failed(check.dim(*downType, downName, fDim + 1, f, "F")))
    return failure();
  return f;
}

/// The offsets operand of a grouped op: i32 [E + 1]; returns E.
FailureOr<int64_t> verifyOffsets(ShapeCheck &check, Operation *op,
                                 Value offsets, int64_t numExperts) {
  auto type = check.rank(offsets, "offsets", 1, "[E + 1]");
  if (failed(type))
    return failure();
  if (failed(check.dim(*type, "offsets", 0, numExperts + 1, "E + 1")))
    return failure();
  return numExperts;
}

/// The experts' biases: all absent, or up [E, F] and down [E, H] with gate
/// [E, F] exactly when the FFN is gated.
LogicalResult verifyExpertBiases(ShapeCheck &check, Operation *op, FfnAttr ffn,
                                 Value gate, Value up, Value down,
                                 int64_t numExperts, int64_t f, int64_t hidden) {
  if (!up) {
    if (gate || down)
      return op->emitOpError() << "expert biases come as up and down (and gate) "
                                  "together: a gate or down bias without an up bias";
    return success();
  }
  if (ffn.getGated() != bool(gate))
    return op->emitOpError() << "expert biases need a gate bias exactly when "
                                "the ffn is gated ("
                             << ffn << ")";
  for (auto [v, name, width, symbol] :
       {std::tuple{gate, "gate bias", f, "F"}, std::tuple{up, "up bias", f, "F"},
        std::tuple{down, "down bias", hidden, "H"}}) {
    if (!v)
      continue;
    auto type = check.rank(v, name, 2, symbol == StringRef("F") ? "[E, F]" : "[E, H]");
    if (failed(type) || failed(check.dim(*type, name, 0, numExperts, "E")) ||
        failed(check.dim(*type, name, 1, width, symbol)))
      return failure();
  }
  return success();
}

int64_t roundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }
} // namespace

//===----------------------------------------------------------------------===//
// WeightOp
//===----------------------------------------------------------------------===//

std::string WeightOp::getTensorNameForExpert(int64_t e) {
  std::string name = getTensorName().str();
  std::string index = std::to_string(e);
  for (size_t pos = name.find("{e}"); pos != std::string::npos;
       pos = name.find("{e}", pos + index.size()))
    name.replace(pos, 3, index);
  return name;
}

LogicalResult WeightOp::verify() {
  ShapeCheck check(*this);
  auto type = cast<RankedTensorType>(getType());
  if (getTensorName().empty())
    return emitOpError() << "tensor name must not be empty";
  if (int(getFile().has_value()) + int(getValue().has_value()) +
          int(getRandomSeed().has_value()) !=
      1)
    return emitOpError() << "needs exactly one of 'from \"file\"' (a "
                            "checkpoint), '= value' (inline data) and "
                            "'random(seed)' (synthetic)";
  if (failed(check.isStatic(type, "result")))
    return failure();
  if (getFile() && getFile()->empty())
    return emitOpError() << "checkpoint file name must not be empty";
  if (auto value = getValue()) {
    if (value->getType() != type)
      return emitOpError() << "inline value type " << value->getType()
                           << " must equal the result type " << type;
    if (isStackedPerExpert())
      return emitOpError() << "'{e}' stacks checkpoint tensors; it cannot be "
                              "used with an inline value";
  }
  if (getRandomSeed() && type.getRank() < 1)
    return emitOpError() << "random values are scaled by the last dimension; "
                            "a rank-0 weight has none";
  if (isStackedPerExpert() && type.getRank() < 1)
    return emitOpError() << "a per-expert weight ('{e}' in the name) needs a "
                            "leading expert dimension, got "
                         << type;
  if (getFormat().has_value() != getScales().has_value())
    return emitOpError() << "a stored format needs its scale tensor and the "
                            "other way round ('format fp8_e4m3 scales \"NAME\"')";
  if (getFormat()) {
    if (!getFile())
      return emitOpError() << "a stored format describes checkpoint tensors; "
                              "it needs 'from \"file\"'";
    bool fp8 = *getFormat() == WeightFormat::fp8_e4m3;
    if (type.getRank() < 2)
      return emitOpError() << (fp8 ? "fp8_e4m3 scales [N, K] matrices in 128 "
                                     "x 128 blocks"
                                   : "mxfp4 scales the rows of [N, K] "
                                     "matrices in groups of 32")
                           << "; the weight must have rank >= 2, got " << type;
    if (!fp8 && type.getShape().back() % 32 != 0)
      return emitOpError() << "mxfp4 stores each row in groups of 32 values; "
                              "K (the last dimension) must be a multiple of "
                              "32, got "
                           << type;
    if (getScales()->empty() ||
        getScales()->contains("{e}") != isStackedPerExpert())
      return emitOpError() << "the scale tensor name '" << *getScales()
                           << "' must be non-empty and stack per expert ('{e}') "
                              "exactly when the weight does";
  }
  if (getRowStart().has_value() != getRowStep().has_value())
    return emitOpError() << "'rows' needs a start and a step";
  if (getRowStart()) {
    int64_t start = *getRowStart(), step = *getRowStep();
    if (!getFile())
      return emitOpError() << "'rows' selects rows of a checkpoint tensor; "
                              "it needs 'from \"file\"'";
    if (type.getRank() < 2 || type.getRank() > 3 || isStackedPerExpert())
      return emitOpError() << "'rows' selects along dimension 1 of one "
                              "checkpoint tensor (no '{e}'); the weight must "
                              "have rank 2 or 3, got "
                           << type;
    if (getFormat() == WeightFormat::fp8_e4m3)
      return emitOpError() << "'rows' does not select fp8 codes (their "
                              "128 x 128 scale blocks span rows)";
    if (getFormat() == WeightFormat::mxfp4 && type.getRank() != 3)
      return emitOpError() << "'rows' selects whole mxfp4 rows of an [E, N, K] "
                              "tensor; on a rank-2 weight it would split K's "
                              "groups of 32, got "
                           << type;
    if (step < 1 || start < 0 || start >= step)
      return emitOpError() << "rows(" << start << ", " << step
                           << ") must have step >= 1 and 0 <= start < step";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Routing
//===----------------------------------------------------------------------===//

LogicalResult RouterOp::verify() {
  ShapeCheck check(*this);
  auto x = check.matrix(getInput(), "input", "[T, H]");
  auto w = check.weight(getWeight(), "weight", 2, "[E, H]");
  auto out = check.matrix(getLogits(), "logits", "[T, E]");
  if (failed(x) || failed(w) || failed(out))
    return failure();
  int64_t t = x->getDimSize(0), h = x->getDimSize(1), e = w->getDimSize(0);
  if (failed(check.dim(*w, "weight", 1, h, "H")) ||
      failed(check.dim(*out, "logits", 0, t, "T")) ||
      failed(check.dim(*out, "logits", 1, e, "E")))
    return failure();
  if (getBias()) {
    auto b = check.rank(getBias(), "bias", 1, "[E]");
    if (failed(b) || failed(check.dim(*b, "bias", 0, e, "E")))
      return failure();
  }
  if (getNoiseWeight()) {
    auto n = check.weight(getNoiseWeight(), "noise weight", 2, "[E, H]");
    if (failed(n) || failed(check.dim(*n, "noise weight", 0, e, "E")) ||
        failed(check.dim(*n, "noise weight", 1, h, "H")))
      return failure();
  }
  return success();
}

/// Checks the [T, k] weights and indices results of a routing op.
static LogicalResult verifyRoutingResults(ShapeCheck &check, Value weights,
                                          Value indices, int64_t t,
                                          int64_t k) {
  auto w = check.matrix(weights, "weights", "[T, k]");
  auto i = check.matrix(indices, "indices", "[T, k]");
  if (failed(w) || failed(i) || failed(check.dim(*w, "weights", 0, t, "T")) ||
      failed(check.dim(*w, "weights", 1, k, "k")) ||
      failed(check.dim(*i, "indices", 0, t, "T")) ||
      failed(check.dim(*i, "indices", 1, k, "k")))
    return failure();
  return success();
}

/// The logits operand of a routing op: f32 [T, E] with E static. Returns E.
static FailureOr<int64_t> verifyLogits(ShapeCheck &check, Operation *op,
                                       Value logits) {
  auto type = check.matrix(logits, "logits", "[T, E]");
  if (failed(type))
    return failure();
  if (type->isDynamicDim(1))
    return op->emitOpError() << "the number of experts (logits dim 1) must be "
                                "static, got "
                             << *type;
  if (type->getDimSize(1) > kMaxExperts)
    return op->emitOpError() << "has " << type->getDimSize(1)
                             << " experts, more than moec supports ("
                             << kMaxExperts << ")";
  return type->getDimSize(1);
}

LogicalResult TopKOp::verify() {
  ShapeCheck check(*this);
  auto e = verifyLogits(check, *this, getLogits());
  if (failed(e))
    return failure();
  int64_t t = getLogits().getType().getDimSize(0);
  RoutingAttr routing = getRouting();
  if (failed(routing.verifyForExperts([&] { return emitOpError(); }, *e)))
    return failure();
  if (getCorrectionBias()) {
    auto b = check.rank(getCorrectionBias(), "correction bias", 1, "[E]");
    if (failed(b) || failed(check.dim(*b, "correction bias", 0, *e, "E")))
      return failure();
  }
  return verifyRoutingResults(check, getWeights(), getIndices(), t,
                              routing.getK());
}

LogicalResult MixtureOp::verify() {
  ShapeCheck check(*this);
  auto e = verifyLogits(check, *this, getLogits());
  if (failed(e))
    return failure();
  double scale = getScalingFactor().convertToDouble();
  if (!(std::isfinite(scale) && scale > 0.0))
    return emitOpError() << "scaling_factor must be finite and > 0, got "
                         << scale;
  int64_t t = getLogits().getType().getDimSize(0);
  return verifyRoutingResults(check, getWeights(), getIndices(), t, *e);
}

LogicalResult ExpertChoiceOp::verify() {
  ShapeCheck check(*this);
  auto e = verifyLogits(check, *this, getLogits());
  if (failed(e))
    return failure();
  if (getRanks() && *getRanks() < 1)
    return emitOpError() << "ranks must be at least 1, got " << *getRanks();
  int64_t t = getLogits().getType().getDimSize(0);
  // Over ranks: this rank's rows of the experts' choices, a count known at
  // run time.
  int64_t rows = getRanks() ? kDyn : getNumRows(t, *e, getConfig());
  auto w = check.rank(getRowWeight(), "row_weight", 1, "[E * C]");
  auto tok = check.rank(getRowToken(), "row_token", 1, "[E * C]");
  if (failed(w) || failed(tok) ||
      failed(check.dim(*w, "row_weight", 0, rows, "E * C")) ||
      failed(check.dim(*tok, "row_token", 0, rows, "E * C")) ||
      failed(verifyOffsets(check, *this, getOffsets(), *e)))
    return failure();
  return success();
}

int64_t ExpertChoiceOp::getNumRows(int64_t numTokens, int64_t numExperts,
                                   ExpertChoiceAttr config) {
  if (ShapedType::isDynamic(numTokens))
    return kDyn;
  return numExperts * config.getCapacity(numTokens, numExperts);
}

int64_t DispatchOp::getNumRows(int64_t numTokens, int64_t k,
                               int64_t numExperts, CapacityAttr capacity,
                               int64_t block) {
  if (capacity && (capacity.getTokens() > 0 || !ShapedType::isDynamic(numTokens)))
    return numExperts *
           roundUp(capacity.getCapacity(numTokens, k, numExperts), block);
  if (!capacity && !ShapedType::isDynamic(numTokens))
    return numTokens * k + numExperts * (block - 1);
  return kDyn;
}

SmallVector<Type, 4> DispatchOp::inferResultTypes(RankedTensorType indices,
                                                  int64_t numExperts,
                                                  CapacityAttr capacity,
                                                  int64_t block) {
  Type i32 = IntegerType::get(indices.getContext(), 32);
  int64_t t = indices.getDimSize(0), k = indices.getDimSize(1);
  return {RankedTensorType::get({numExperts}, i32),
          RankedTensorType::get({numExperts + 1}, i32),
          RankedTensorType::get({getNumRows(t, k, numExperts, capacity, block)},
                                i32),
          RankedTensorType::get({t, k}, i32)};
}

LogicalResult DispatchOp::verify() {
  ShapeCheck check(*this);
  auto idx = check.matrix(getIndices(), "indices", "[T, k]");
  if (failed(idx))
    return failure();
  int64_t t = idx->getDimSize(0), k = idx->getDimSize(1);
  int64_t e = getNumExperts();
  int64_t block = getBlock();
  if (e < 1)
    return emitOpError() << "experts must be at least 1, got " << e;
  if (ShapedType::isDynamic(k))
    return emitOpError() << "k (indices dim 1) must be static";
  if (k > e)
    return emitOpError() << "k = " << k << " exceeds the number of experts E = "
                         << e;
  if (block < 1)
    return emitOpError() << "block must be at least 1, got " << block;

  CapacityAttr capacity = getCapacityAttr();
  bool reroute =
      capacity && capacity.getOverflow() == OverflowPolicy::reroute;
  if (reroute && !getProbs())
    return emitOpError() << "overflow = reroute needs the router "
                            "probabilities: add 'probs %p'";
  if (!reroute && getProbs())
    return emitOpError() << "probs are used only by overflow = reroute";
  if (getProbs()) {
    auto p = check.matrix(getProbs(), "probs", "[T, E]");
    if (failed(p) || failed(check.dim(*p, "probs", 0, t, "T")) ||
        failed(check.dim(*p, "probs", 1, e, "E")))
      return failure();
  }

  int64_t rows = getNumRows(t, k, e, capacity, block);

  auto counts = check.rank(getCounts(), "counts", 1, "[E]");
  auto offsets = check.rank(getOffsets(), "offsets", 1, "[E + 1]");
  auto rowToken = check.rank(getRowToken(), "row_token", 1, "[R]");
  auto slotRow = check.matrix(getSlotRow(), "slot_row", "[T, k]");
  if (failed(counts) || failed(offsets) || failed(rowToken) ||
      failed(slotRow) || failed(check.dim(*counts, "counts", 0, e, "E")) ||
      failed(check.dim(*offsets, "offsets", 0, e + 1, "E + 1")) ||
      failed(check.dim(*rowToken, "row_token", 0, rows, "R")) ||
      failed(check.dim(*slotRow, "slot_row", 0, t, "T")) ||
      failed(check.dim(*slotRow, "slot_row", 1, k, "k")))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

LogicalResult PermuteOp::verify() {
  ShapeCheck check(*this);
  auto x = check.matrix(getInput(), "input", "[T, H]");
  auto rows = check.rank(getRowToken(), "row_token", 1, "[R]");
  auto out = check.matrix(getResult(), "result", "[R, H]");
  if (failed(x) || failed(rows) || failed(out) ||
      failed(check.dim(*out, "result", 0, rows->getDimSize(0), "R")) ||
      failed(check.dim(*out, "result", 1, x->getDimSize(1), "H")))
    return failure();
  return check.sameElementType(getInput().getType(), "input",
                               getResult().getType(), "result");
}

LogicalResult UnpermuteOp::verify() {
  ShapeCheck check(*this);
  auto y = check.matrix(getInput(), "input", "[R, H]");
  auto rows = check.rank(getRowToken(), "row_token", 1, "[R]");
  auto out = check.matrix(getResult(), "result", "[T, H]");
  if (failed(y) || failed(rows) || failed(out))
    return failure();
  int64_t r = y->getDimSize(0);
  if (failed(check.dim(*rows, "row_token", 0, r, "R")) ||
      failed(check.dim(*out, "result", 1, y->getDimSize(1), "H")))
    return failure();
  if (getRowWeight()) {
    auto w = check.rank(getRowWeight(), "row_weight", 1, "[R]");
    if (failed(w) || failed(check.dim(*w, "row_weight", 0, r, "R")))
      return failure();
  }
  size_t wanted = out->isDynamicDim(0) ? 1 : 0;
  size_t given = getNumTokens() ? 1 : 0;
  if (given != wanted)
    return emitOpError() << (wanted ? "a result with dynamic T needs the "
                                      "token count: add 'tokens(%t)'"
                                    : "a result with static T takes no "
                                      "'tokens' operand");
  return check.sameElementType(getInput().getType(), "input",
                               getResult().getType(), "result");
}

//===----------------------------------------------------------------------===//
// Expert computation
//===----------------------------------------------------------------------===//

LogicalResult GroupedMatmulOp::verify() {
  ShapeCheck check(*this);
  auto x = check.matrix(getInput(), "input", "[R, K]");
  auto w = check.weight(getWeight(), "weight", 3, "[E, N, K]");
  auto out = check.matrix(getResult(), "result", "[R, N]");
  if (failed(x) || failed(w) || failed(out))
    return failure();
  if (failed(verifyOffsets(check, *this, getOffsets(), w->getDimSize(0))) ||
      failed(check.dim(*w, "weight", 2, x->getDimSize(1), "K")) ||
      failed(check.dim(*out, "result", 0, x->getDimSize(0), "R")) ||
      failed(check.dim(*out, "result", 1, w->getDimSize(1), "N")))
    return failure();
  return check.sameElementType(getInput().getType(), "input",
                               getResult().getType(), "result");
}

LogicalResult GluOp::verify() {
  ShapeCheck check(*this);
  auto gate = cast<RankedTensorType>(getGate().getType());
  auto out = cast<RankedTensorType>(getResult().getType());
  if (gate.getRank() < 1)
    return emitOpError() << "gate must have rank >= 1, got " << gate;
  if (out.getRank() != gate.getRank())
    return emitOpError() << "result rank " << out.getRank()
                         << " must equal the gate rank " << gate.getRank();
  if (getActivation() != Activation::clamped_swiglu &&
      (getAlpha().convertToDouble() != 1.702 ||
       getLimit().convertToDouble() != 7.0))
    return emitOpError() << "alpha and limit apply only to clamped_swiglu";
  for (double v : {getAlpha().convertToDouble(), getLimit().convertToDouble()})
    if (!(std::isfinite(v) && v > 0.0))
      return emitOpError() << "alpha and limit must be finite and > 0";
  unsigned last = gate.getRank() - 1;
  for (unsigned i = 0; i < last; ++i)
    if (failed(check.dim(out, "result", i, gate.getDimSize(i), "gate dim")))
      return failure();
  if (Value up = getUp()) {
    if (up.getType() != gate)
      return emitOpError() << "up type " << up.getType()
                           << " must equal the gate type " << gate;
    if (failed(check.dim(out, "result", last, gate.getDimSize(last), "F")))
      return failure();
  } else {
    int64_t twoF = gate.getDimSize(last);
    if (ShapedType::isDynamic(twoF) || twoF % 2 != 0)
      return emitOpError() << "the fused gate/up operand needs a static, even "
                              "last dimension (2F), got "
                           << dimStr(twoF);
    if (failed(check.dim(out, "result", last, twoF / 2, "F")))
      return failure();
  }
  return check.sameElementType(gate, "gate", out, "result");
}

LogicalResult ExpertFfnOp::verify() {
  ShapeCheck check(*this);
  auto x = check.matrix(getInput(), "input", "[R, H]");
  auto out = check.matrix(getResult(), "result", "[R, H]");
  auto up = check.weight(getUpWeight(), "up weight", 3, "[E, F, H]");
  if (failed(x) || failed(out) || failed(up))
    return failure();
  int64_t e = up->getDimSize(0), h = x->getDimSize(1);
  int64_t groups = e;
  if (Value map = getExpertMap()) {
    auto m = check.rank(map, "expert_map", 1, "[G]");
    if (failed(m) || failed(check.isStatic(*m, "expert_map")))
      return failure();
    groups = m->getDimSize(0);
  }
  if (failed(verifyOffsets(check, *this, getOffsets(), groups)))
    return failure();
  auto f = verifyFfnWeights(check, *this, getFfn(), getGateWeight(),
                            getUpWeight(), getDownWeight(), e, h, "");
  if (failed(f) ||
      failed(verifyExpertBiases(check, *this, getFfn(), getGateBias(),
                                getUpBias(), getDownBias(), e, *f, h)) ||
      failed(check.dim(*out, "result", 0, x->getDimSize(0), "R")) ||
      failed(check.dim(*out, "result", 1, x->getDimSize(1), "H")))
    return failure();
  return check.sameElementType(getInput().getType(), "input",
                               getResult().getType(), "result");
}

/// The rank and slot counts of an exchange: at least one each, and enough
/// slots for every expert.
static LogicalResult verifyShards(Operation *op, int64_t ranks, int64_t slots,
                                  int64_t experts) {
  if (ranks < 1 || slots < 1)
    return op->emitOpError() << "ranks (" << ranks << ") and slots (" << slots
                             << ") must be at least 1";
  if (ranks * slots < experts)
    return op->emitOpError() << "ranks · slots = " << ranks * slots
                             << " cannot hold the " << experts << " experts";
  return success();
}

LogicalResult ExchangeOp::verify() {
  ShapeCheck check(*this);
  auto x = check.matrix(getInput(), "input", "[R, H]");
  auto recv = check.matrix(getReceived(), "received", "[B, H]");
  auto off = check.rank(getOffsets(), "offsets", 1, "[E + 1]");
  if (failed(x) || failed(recv) || failed(off) || failed(check.isStatic(*off, "offsets")))
    return failure();
  int64_t e = off->getDimSize(0) - 1, s = getSlots(), ranks = getRanks();
  if (failed(verifyShards(*this, ranks, s, e)))
    return failure();
  if (static_cast<int64_t>(getRecvRows()) < 0)
    return emitOpError() << "recv_rows must not be negative, got " << static_cast<int64_t>(getRecvRows());
  auto soff = check.rank(getSlotOffsets(), "slot_offsets", 1, "[S + 1]");
  auto smap = check.rank(getSlotExperts(), "slot_experts", 1, "[S]");
  auto counts = check.rank(getCounts(), "counts", 1, "[ranks · S]");
  if (failed(soff) || failed(smap) || failed(counts) ||
      failed(check.dim(*soff, "slot_offsets", 0, s + 1, "S + 1")) ||
      failed(check.dim(*smap, "slot_experts", 0, s, "S")) ||
      failed(check.dim(*counts, "counts", 0, ranks * s, "ranks · S")) ||
      failed(check.dim(*recv, "received", 1, x->getDimSize(1), "H")))
    return failure();
  return check.sameElementType(getInput().getType(), "input",
                               getReceived().getType(), "received");
}

LogicalResult ExchangeBackOp::verify() {
  ShapeCheck check(*this);
  auto y = check.matrix(getInput(), "input", "[B, N]");
  auto out = check.matrix(getResult(), "result", "[R, N]");
  auto off = check.rank(getOffsets(), "offsets", 1, "[E + 1]");
  auto rt = check.rank(getRowToken(), "row_token", 1, "[R]");
  if (failed(y) || failed(out) || failed(off) || failed(rt) ||
      failed(check.isStatic(*off, "offsets")))
    return failure();
  int64_t e = off->getDimSize(0) - 1, s = getSlots(), ranks = getRanks();
  if (failed(verifyShards(*this, ranks, s, e)))
    return failure();
  auto soff = check.rank(getSlotOffsets(), "slot_offsets", 1, "[S + 1]");
  auto counts = check.rank(getCounts(), "counts", 1, "[ranks · S]");
  if (failed(soff) || failed(counts) ||
      failed(check.dim(*soff, "slot_offsets", 0, s + 1, "S + 1")) ||
      failed(check.dim(*counts, "counts", 0, ranks * s, "ranks · S")) ||
      failed(check.dim(*out, "result", 0, rt->getDimSize(0), "R")) ||
      failed(check.dim(*out, "result", 1, y->getDimSize(1), "N")))
    return failure();
  return check.sameElementType(getInput().getType(), "input",
                               getResult().getType(), "result");
}

LogicalResult CombineOp::verify() {
  ShapeCheck check(*this);
  auto y = check.matrix(getExpertOut(), "expert_out", "[R, H]");
  auto w = check.matrix(getWeights(), "weights", "[T, k]");
  auto slots = check.matrix(getSlotRow(), "slot_row", "[T, k]");
  auto out = check.matrix(getResult(), "result", "[T, H]");
  if (failed(y) || failed(w) || failed(slots) || failed(out))
    return failure();
  int64_t t = w->getDimSize(0), h = y->getDimSize(1);
  if (failed(check.dim(*slots, "slot_row", 0, t, "T")) ||
      failed(check.dim(*slots, "slot_row", 1, w->getDimSize(1), "k")) ||
      failed(check.dim(*out, "result", 0, t, "T")) ||
      failed(check.dim(*out, "result", 1, h, "H")))
    return failure();
  for (auto [v, name] : {std::pair{getPassthrough(), "passthrough"},
                         std::pair{getAddend(), "addend"}}) {
    if (!v)
      continue;
    if (v.getType() != Type(*out))
      return emitOpError() << name << " type " << v.getType()
                           << " must equal the result type " << *out;
  }
  return check.sameElementType(getExpertOut().getType(), "expert_out",
                               getResult().getType(), "result");
}

LogicalResult SharedExpertOp::verify() {
  ShapeCheck check(*this);
  auto x = check.matrix(getInput(), "input", "[T, H]");
  auto out = check.matrix(getResult(), "result", "[T, H]");
  if (failed(x) || failed(out))
    return failure();
  int64_t h = x->getDimSize(1);
  if (failed(verifyFfnWeights(check, *this, getFfn(), getGateWeight(),
                              getUpWeight(), getDownWeight(), -1, h, "")))
    return failure();
  if (getSigmoidGate()) {
    auto g = check.weight(getSigmoidGate(), "sigmoid_gate", 2, "[1, H]");
    if (failed(g) || failed(check.dim(*g, "sigmoid_gate", 0, 1, "1")) ||
        failed(check.dim(*g, "sigmoid_gate", 1, h, "H")))
      return failure();
  }
  if (out->getShape() != x->getShape())
    return emitOpError() << "result shape " << *out
                         << " must equal the input shape " << *x;
  return check.sameElementType(getInput().getType(), "input",
                               getResult().getType(), "result");
}

LogicalResult BlockOp::verify() {
  ShapeCheck check(*this);
  auto x = check.matrix(getInput(), "input", "[T, H]");
  auto out = check.matrix(getResult(), "result", "[T, H]");
  auto router = check.weight(getRouterWeight(), "router weight", 2, "[E, H]");
  if (failed(x) || failed(out) || failed(router))
    return failure();
  int64_t h = x->getDimSize(1), e = router->getDimSize(0);
  if (failed(check.dim(*router, "router weight", 1, h, "H")))
    return failure();
  if (getRouterNoise()) {
    auto n = check.weight(getRouterNoise(), "router noise", 2, "[E, H]");
    if (failed(n) || failed(check.dim(*n, "router noise", 0, e, "E")) ||
        failed(check.dim(*n, "router noise", 1, h, "H")))
      return failure();
    if (!isa<RoutingAttr>(getRouting()))
      return emitOpError() << "router noise (noisy top-k gating) applies only to "
                              "token-choice routing";
  }
  for (auto [v, name] : {std::pair{getRouterBias(), "router bias"},
                         std::pair{getCorrectionBias(), "correction bias"}}) {
    if (!v)
      continue;
    auto b = check.rank(v, name, 1, "[E]");
    if (failed(b) || failed(check.dim(*b, name, 0, e, "E")))
      return failure();
  }
  auto f = verifyFfnWeights(check, *this, getFfn(), getGateWeight(),
                            getUpWeight(), getDownWeight(), e, h, "");
  if (failed(f) ||
      failed(verifyExpertBiases(check, *this, getFfn(), getGateBias(),
                                getUpBias(), getDownBias(), e, *f, h)))
    return failure();

  if (getSharedUpWeight()) {
    if (failed(verifyFfnWeights(check, *this, getFfn(), getSharedGateWeight(),
                                getSharedUpWeight(), getSharedDownWeight(), -1,
                                h, "shared ")))
      return failure();
  } else if (getSharedExpertGate()) {
    return emitOpError() << "shared_expert_gate needs a shared expert";
  }
  if (getSharedExpertGate()) {
    auto g = check.weight(getSharedExpertGate(), "shared_expert_gate", 2,
                          "[1, H]");
    if (failed(g) || failed(check.dim(*g, "shared_expert_gate", 0, 1, "1")) ||
        failed(check.dim(*g, "shared_expert_gate", 1, h, "H")))
      return failure();
  }

  if (auto routing = dyn_cast<RoutingAttr>(getRouting())) {
    if (failed(routing.verifyForExperts([&] { return emitOpError(); }, e)))
      return failure();
    if (getDropped() == DroppedPolicy::passthrough && !getCapacityAttr())
      return emitOpError() << "dropped = passthrough needs a capacity (without "
                              "one no token is dropped)";
  } else {
    if (getCapacityAttr())
      return emitOpError() << "expert-choice routing has its own capacity; "
                              "remove 'capacity'";
    if (getCorrectionBias())
      return emitOpError() << "a correction bias applies only to token-choice "
                              "routing";
    if (getDropped() != DroppedPolicy::zero)
      return emitOpError() << "dropped = passthrough applies only to "
                              "token-choice routing";
  }
  if (out->getShape() != x->getShape())
    return emitOpError() << "result shape " << *out
                         << " must equal the input shape " << *x;
  return check.sameElementType(getInput().getType(), "input",
                               getResult().getType(), "result");
}

//===----------------------------------------------------------------------===//
// Monitoring
//===----------------------------------------------------------------------===//

LogicalResult RouterStatsOp::verify() {
  ShapeCheck check(*this);
  auto e = verifyLogits(check, *this, getLogits());
  if (failed(e))
    return failure();
  int64_t t = getLogits().getType().getDimSize(0);
  auto idx = check.matrix(getIndices(), "indices", "[T, k]");
  auto counts = check.rank(getCounts(), "counts", 1, "[E]");
  if (failed(idx) || failed(counts) ||
      failed(check.dim(*idx, "indices", 0, t, "T")) ||
      failed(check.dim(*counts, "counts", 0, *e, "E")))
    return failure();
  if (idx->getDimSize(1) > *e)
    return emitOpError() << "k = " << idx->getDimSize(1)
                         << " exceeds the number of experts E = " << *e;
  for (auto [v, name] : {std::pair{getCv(), "cv"},
                         std::pair{getLoadBalancingLoss(), "load_balancing_loss"},
                         std::pair{getZLoss(), "z_loss"}})
    if (failed(check.rank(v, name, 0, "a scalar")))
      return failure();
  return success();
}
