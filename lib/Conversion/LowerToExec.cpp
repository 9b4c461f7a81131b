//===- LowerToExec.cpp - moe graphs → exec plans for the CPU --------------===//
//
// Bufferization, the static memory plan, and the choice of a library GEMM or
// a generated kernel for every op (see Passes.td). The buffers' sizes are
// affine in the run's token count T: T-row values (x, logits, routing
// weights, outputs) have T rows; expert-ordered values have R(T) rows, R being
// the dispatch's row count or an affine upper bound of it where it depends on
// the data (a capacity factor, expert choice). Rows past the ones the dispatch
// fills carry the token -1 and stay zero through the expert computation.
//
//===----------------------------------------------------------------------===//
#include "moec/Conversion/Passes.h"

#include "moec/Conversion/KernelLibrary.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

#include "moert/format.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

namespace moec {
#define GEN_PASS_DEF_MOELOWERTOEXEC
#include "moec/Conversion/Passes.h.inc"
} // namespace moec

using namespace mlir;
using namespace moec;
using exec::Affine;

namespace {

constexpr int64_t kWord = 4; // f32 and i32
/// Tokens per item of the chunked kernels (router_stats' PARTIAL and
/// dispatch_chunked's COUNT / PLACE): each chunk's sums run in token order.
constexpr int64_t kTokenChunk = 64;

int64_t bytesOf(Type elem) { return elem.getIntOrFloatBitWidth() / 8; }

int64_t roundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

DenseI64ArrayAttr affineAttr(OpBuilder &b, Affine a) {
  return b.getDenseI64ArrayAttr({a.perToken, a.fixed});
}

Affine scale(Affine a, int64_t f) { return {a.perToken * f, a.fixed * f}; }

const char *scoringFlag(moe::ScoringFunc s) {
  switch (s) {
  case moe::ScoringFunc::softmax:
    return "SOFTMAX";
  case moe::ScoringFunc::sigmoid:
    return "SIGMOID";
  case moe::ScoringFunc::none:
    return "NONE";
  }
  llvm_unreachable("scoring");
}

const char *activationFlag(moe::Activation a) {
  switch (a) {
  case moe::Activation::silu:
    return "SILU";
  case moe::Activation::gelu:
    return "GELU";
  case moe::Activation::gelu_tanh:
    return "GELU_TANH";
  case moe::Activation::relu:
    return "RELU";
  case moe::Activation::clamped_swiglu:
    return "CLAMPED";
  }
  llvm_unreachable("activation");
}

/// Lowers one function on tensors to an exec plan in place.
class FunctionLowering {
public:
  FunctionLowering(func::FuncOp fn, KernelLibrary &kernels, int64_t maxTokens,
                   bool cuda, Type ffnType, int64_t gemvMaxTokens)
      : fn(fn), kernels(kernels), maxTokens(maxTokens), cuda(cuda),
        b(fn.getContext()), f32(b.getF32Type()), i32(b.getI32Type()),
        ffnType(ffnType), gemvMaxTokens(gemvMaxTokens) {}

  LogicalResult run();

private:
  // Buffers ------------------------------------------------------------------

  /// A new arena buffer of rows(T) × `trailing` elements of `elem`.
  Value alloc(Affine rowsOf, ArrayRef<int64_t> trailing, Type elem) {
    int64_t perRow = bytesOf(elem);
    for (int64_t d : trailing)
      perRow *= d;
    SmallVector<int64_t> shape{rowsOf.perToken ? ShapedType::kDynamic
                                               : rowsOf.fixed};
    shape.append(trailing.begin(), trailing.end());
    auto type = exec::BufferType::get(b.getContext(), shape, elem);
    return exec::AllocOp::create(b, loc, type, b.getI64IntegerAttr(0),
                                 affineAttr(b, scale(rowsOf, perRow)));
  }

  /// A buffer for tensor value `v` (rows `rowsOf`, element type of `v`).
  Value allocFor(Value v, Affine rowsOf) {
    auto type = cast<RankedTensorType>(v.getType());
    Value buffer =
        alloc(rowsOf, type.getShape().drop_front(), type.getElementType());
    buffers[v] = buffer;
    rows[v] = rowsOf;
    return buffer;
  }

  /// The buffer holding `v` (a weight becomes an exec.weight on first use,
  /// with elements of `weightType`, f32 unless given).
  FailureOr<Value> bufferOf(Value v, Type weightType = {}) {
    auto it = buffers.find(v);
    if (it != buffers.end())
      return it->second;
    if (auto w = v.getDefiningOp<moe::WeightOp>()) {
      auto type = cast<RankedTensorType>(w.getType());
      auto bufferType = exec::BufferType::get(
          b.getContext(), type.getShape(), weightType ? weightType : f32);
      Value buffer = exec::WeightOp::create(
          b, w.getLoc(), bufferType, w.getTensorNameAttr(), w.getFileAttr(),
          w.getValueAttr(), w.getRandomSeedAttr());
      buffers[v] = buffer;
      return buffer;
    }
    return emitError(loc) << "moe-lower-to-exec: no buffer for a value "
                             "defined by "
                          << (v.getDefiningOp()
                                  ? v.getDefiningOp()->getName().getStringRef()
                                  : StringRef("a block argument"));
  }

  Affine rowsOf(Value v) { return rows.lookup(v); }
  int64_t maxRows(Affine r) { return r.at(maxTokens); }
  /// The kTokenChunk-token chunks of t's rows at max_tokens (at least one).
  int64_t tokenChunks(Affine t) {
    return std::max<int64_t>((maxRows(t) + kTokenChunk - 1) / kTokenChunk, 1);
  }
  static int64_t dim(Value v, unsigned i) {
    return cast<ShapedType>(v.getType()).getDimSize(i);
  }

  LogicalResult launch(KernelSpec spec, ArrayRef<Value> args, Affine extent,
                       int64_t grain) {
    auto kernel = kernels.get(spec, loc);
    if (failed(kernel))
      return failure();
    exec::LaunchOp::create(b, loc, FlatSymbolRefAttr::get(*kernel), args,
                           affineAttr(b, extent), b.getI64IntegerAttr(grain));
    return success();
  }

  /// The buffer of an expert (or shared expert) FFN weight: elements of the
  /// FFN GEMMs' operand type (--weight-type).
  FailureOr<Value> ffnWeight(Value v) { return bufferOf(v, ffnType); }

  /// The flags of a kernel's ROUND16 variant (round16.mlir) for `elem`, bf16
  /// or f16.
  static void round16(KernelSpec &spec, Type elem) {
    spec.flag("ROUND16").flag(elem.isBF16() ? "TO_BF16" : "TO_F16");
  }

  /// A GEMM's A operand for weights `w`: `a` itself when `w` is f32, else
  /// `a` rounded to w's 16-bit type by an elementwise ROUND16 kernel (once
  /// per buffer: the gate and up projections share theirs; a GLU that
  /// rounded its own output has recorded it).
  FailureOr<Value> operandFor(Value a, Value w, Affine rowsOf, int64_t k) {
    Type elem = cast<exec::BufferType>(w.getType()).getElementType();
    if (elem.isF32())
      return a;
    if (Value done = rounded.lookup(a))
      return done;
    Value out = alloc(rowsOf, {k}, elem);
    KernelSpec spec{"elementwise"};
    spec.set("ROWS", maxRows(rowsOf)).set("COLS", k);
    round16(spec, elem);
    if (failed(launch(spec, {a, out}, rowsOf, 16)))
      return failure();
    rounded[a] = out;
    return out;
  }

  LogicalResult gemm(Value a, Value w, Value c, Affine rowsOf, int64_t n,
                     int64_t k) {
    auto in = operandFor(a, w, rowsOf, k);
    if (failed(in))
      return failure();
    exec::GemmOp::create(b, loc, *in, w, c, affineAttr(b, rowsOf),
                         b.getI64IntegerAttr(n), b.getI64IntegerAttr(k),
                         /*accumulate=*/nullptr);
    return success();
  }

  LogicalResult groupedGemm(Value a, Value w, Value offsets, Value c,
                            Affine rowsOf, int64_t experts, int64_t n,
                            int64_t k) {
    auto in = operandFor(a, w, rowsOf, k);
    if (failed(in))
      return failure();
    auto op = exec::GroupedGemmOp::create(
        b, loc, *in, w, offsets, c, affineAttr(b, rowsOf),
        b.getI64IntegerAttr(experts), b.getI64IntegerAttr(n),
        b.getI64IntegerAttr(k), /*gemv=*/nullptr, /*gemv_max_tokens=*/nullptr);
    if (gemvMaxTokens < 1)
      return success();
    // The CUDA target's engine for T <= gemvMaxTokens: the generated kernel.
    Type elem = cast<exec::BufferType>(w.getType()).getElementType();
    KernelSpec spec{"grouped_gemv_warp"};
    spec.set("E", experts).set("E1", experts + 1).set("N", n).set("K", k);
    spec.set("MR", maxRows(rowsOf));
    spec.params["DT"] = elem.isBF16() ? "bf16" : elem.isF16() ? "f16" : "f32";
    spec.flag("WIDEN", !elem.isF32());
    auto kernel = kernels.get(spec, loc);
    if (failed(kernel))
      return failure();
    op.setGemvAttr(FlatSymbolRefAttr::get(*kernel));
    // No run has more than maxTokens tokens: a larger bound means "every T".
    op.setGemvMaxTokensAttr(b.getI64IntegerAttr(std::min(gemvMaxTokens, maxTokens)));
    return success();
  }

  /// act(gate) ⊙ up in place in `gate` (or act(up) in place when ungated).
  /// When `next` (the weight of the GEMM that reads the result) is 16-bit,
  /// the GLU writes the result rounded to that type into a new buffer
  /// instead, which that GEMM's operandFor then finds.
  LogicalResult glu(Value gate, Value up, Affine rowsOf, int64_t width,
                    moe::Activation act, double alpha, double limit,
                    Value next = nullptr) {
    KernelSpec spec{"glu"};
    spec.set("ROWS", maxRows(rowsOf)).set("F", width);
    spec.setF32("ALPHA", alpha).setF32("LIMIT", limit).setF32("NLIMIT", -limit);
    spec.flag(activationFlag(act)).flag("GATED", bool(gate));
    SmallVector<Value> args;
    if (gate)
      args.push_back(gate);
    args.push_back(up);
    Type elem = next ? cast<exec::BufferType>(next.getType()).getElementType() : f32;
    if (!elem.isF32()) {
      Value out = alloc(rowsOf, {width}, elem);
      round16(spec, elem);
      args.push_back(out);
      rounded[gate ? gate : up] = out;
    }
    return launch(spec, args, rowsOf, 32);
  }

  // Ops ----------------------------------------------------------------------
  LogicalResult lower(Operation *op);
  LogicalResult lowerRouter(moe::RouterOp op);
  LogicalResult lowerTopK(moe::TopKOp op);
  LogicalResult lowerMixture(moe::MixtureOp op);
  LogicalResult lowerDispatch(moe::DispatchOp op);
  /// moe.dispatch without a capacity: dispatch_chunked's four kernels.
  LogicalResult dispatchChunked(moe::DispatchOp op, Value idx, Affine t,
                                Affine r, int64_t e, int64_t k, int64_t block);
  LogicalResult lowerPermute(moe::PermuteOp op);
  LogicalResult lowerExpertFfn(moe::ExpertFfnOp op);
  LogicalResult lowerGroupedMatmul(moe::GroupedMatmulOp op);
  LogicalResult lowerGlu(moe::GluOp op);
  LogicalResult lowerCombine(moe::CombineOp op);
  LogicalResult lowerSharedExpert(moe::SharedExpertOp op);
  LogicalResult lowerExpertChoice(moe::ExpertChoiceOp op);
  LogicalResult lowerUnpermute(moe::UnpermuteOp op);
  LogicalResult lowerAdd(arith::AddFOp op);
  LogicalResult lowerReturn(func::ReturnOp op);

  LogicalResult planMemory();

  func::FuncOp fn;
  KernelLibrary &kernels;
  int64_t maxTokens;
  bool cuda; // the CUDA target: warp-per-token routing where it applies
  OpBuilder b;
  Type f32, i32;
  Type ffnType; // the FFN weights' element type: f32, bf16 or f16
  int64_t gemvMaxTokens; // cuda: grouped GEMMs' generated kernel up to this T
  Location loc = UnknownLoc::get(b.getContext());
  DenseMap<Value, Value> buffers;
  DenseMap<Value, Affine> rows;
  DenseMap<Value, Value> rounded; // f32 buffer -> its 16-bit copy
  int statsCount = 0;
};

LogicalResult FunctionLowering::lowerRouter(moe::RouterOp op) {
  auto x = bufferOf(op.getInput()), w = bufferOf(op.getWeight());
  if (failed(x) || failed(w))
    return failure();
  Affine t = rowsOf(op.getInput());
  int64_t e = dim(op.getWeight(), 0), h = dim(op.getWeight(), 1);
  Value logits = allocFor(op.getLogits(), t);
  if (failed(gemm(*x, *w, logits, t, e, h)))
    return failure();
  if (Value bias = op.getBias()) {
    auto bb = bufferOf(bias);
    if (failed(bb))
      return failure();
    KernelSpec spec{"elementwise"};
    spec.set("ROWS", maxRows(t)).set("COLS", e).flag("BIAS");
    return launch(spec, {logits, *bb}, t, 64);
  }
  return success();
}

LogicalResult FunctionLowering::lowerTopK(moe::TopKOp op) {
  auto logits = bufferOf(op.getLogits());
  if (failed(logits))
    return failure();
  Affine t = rowsOf(op.getLogits());
  moe::RoutingAttr r = op.getRouting();
  int64_t e = dim(op.getLogits(), 1), k = r.getK();
  double scaleFactor = r.getScalingFactor().convertToDouble();
  // On the GPU a warp routes a token (shuffle reductions); group-limited
  // routing keeps the one-thread-per-token kernel.
  bool warp = cuda && !r.isGroupLimited();
  KernelSpec spec{warp ? "route_warp" : "route"};
  spec.set("E", e).set("K", k).set("MT", maxRows(t));
  spec.set("EPL", (e + 31) / 32);
  spec.setF32("EPS", r.getEpsilon().convertToDouble());
  spec.setF32("SCALE", scaleFactor);
  spec.set("NG", r.getNGroup()).set("GS", e / r.getNGroup());
  spec.set("TG", r.getTopkGroup());
  spec.flag(scoringFlag(r.getScoring()));
  spec.flag("HAS_BIAS", bool(op.getCorrectionBias()));
  spec.flag("GROUPED", r.isGroupLimited());
  spec.flag("TOP2", r.getGroupScore() == moe::GroupScore::top2_sum);
  spec.flag("RENORM", r.getRenormalize());
  spec.flag("SOFTMAX_AFTER", r.getSoftmaxAfterTopk());
  spec.flag("SCALED", scaleFactor != 1.0);
  SmallVector<Value> args{*logits};
  if (Value bias = op.getCorrectionBias()) {
    auto bb = bufferOf(bias);
    if (failed(bb))
      return failure();
    args.push_back(*bb);
  }
  Value w = allocFor(op.getWeights(), t);
  Value idx = allocFor(op.getIndices(), t);
  args.append({w, idx});
  if (failed(launch(spec, args, t, 16)))
    return failure();

  // Router statistics of this top-k, an auxiliary output: per-chunk sums
  // over tokens (in parallel), then their total in chunk order.
  int64_t chunks = tokenChunks(t);
  Value part = alloc({0, chunks}, {2 * e + 1}, f32);
  Value stats = alloc({0, e + 4}, {}, f32);
  KernelSpec st{"router_stats"};
  st.set("MT", maxRows(t)).set("E", e).set("E4", e + 4).set("K", k);
  st.set("E_1", e + 1).set("E_2", e + 2).set("E_3", e + 3);
  st.set("CH", kTokenChunk).set("CHM1", kTokenChunk - 1);
  st.set("NC", chunks).set("W", 2 * e + 1).set("E2", 2 * e);
  st.setF32("EF", static_cast<double>(e));
  KernelSpec partial = st;
  partial.flag("PARTIAL");
  if (failed(launch(partial, {*logits, idx, part}, t, kTokenChunk)) ||
      failed(launch(st, {part, stats}, {0, 1}, 1)))
    return failure();
  std::string index = std::to_string(statsCount++);
  exec::OutputOp::create(b, loc, b.getStringAttr("router_stats." + index),
                         stats, b.getUnitAttr());
  exec::OutputOp::create(b, loc, b.getStringAttr("router_indices." + index),
                         idx, b.getUnitAttr());
  return success();
}

LogicalResult FunctionLowering::lowerMixture(moe::MixtureOp op) {
  auto logits = bufferOf(op.getLogits());
  if (failed(logits))
    return failure();
  Affine t = rowsOf(op.getLogits());
  int64_t e = dim(op.getLogits(), 1);
  double s = op.getScalingFactor().convertToDouble();
  KernelSpec spec{"scores"};
  spec.set("MT", maxRows(t)).set("E", e).setF32("SCALE", s);
  spec.flag(scoringFlag(op.getScoring())).flag("INDICES").flag("SCALED", s != 1.0);
  Value w = allocFor(op.getWeights(), t);
  Value idx = allocFor(op.getIndices(), t);
  return launch(spec, {*logits, w, idx}, t, 16);
}

LogicalResult FunctionLowering::lowerDispatch(moe::DispatchOp op) {
  auto idx = bufferOf(op.getIndices());
  if (failed(idx))
    return failure();
  Affine t = rowsOf(op.getIndices());
  int64_t e = op.getNumExperts(), k = dim(op.getIndices(), 1);
  int64_t block = op.getBlock();
  moe::CapacityAttr cap = op.getCapacityAttr();
  Affine r{k, e * (block - 1)};
  if (cap && cap.getTokens() > 0)
    r = {0, e * roundUp(cap.getTokens(), block)};
  else if (cap) // C(T) <= f·T·k/E + 1, so E·roundup(C, block) <= f·k·T + E·block
    r = {static_cast<int64_t>(
             std::ceil(cap.getFactor().convertToDouble() * k)),
         e * block};
  if (!cap && !op.getProbs())
    return dispatchChunked(op, *idx, t, r, e, k, block);
  KernelSpec spec{"dispatch"};
  spec.set("E", e).set("E1", e + 1).set("K", k).set("MT", maxRows(t));
  spec.set("RMAX", maxRows(r)).set("RPT", r.perToken).set("RFIX", r.fixed);
  spec.set("BLOCK", block).set("BLOCKM1", block - 1);
  spec.setF64("EF64", static_cast<double>(e));
  spec.setF64("CAPF", cap ? cap.getFactor().convertToDouble() : 1.0);
  spec.set("CAPT", cap ? cap.getTokens() : 0);
  spec.flag("CAPACITY", bool(cap)).flag("FIXED_CAP", cap && cap.getTokens() > 0);
  spec.flag("REROUTE", cap && cap.getOverflow() == moe::OverflowPolicy::reroute);
  SmallVector<Value> args{*idx};
  if (Value probs = op.getProbs()) {
    auto p = bufferOf(probs);
    if (failed(p))
      return failure();
    args.push_back(*p);
  }
  Value counts = allocFor(op.getCounts(), {0, e});
  Value offsets = allocFor(op.getOffsets(), {0, e + 1});
  Value rowToken = allocFor(op.getRowToken(), r);
  Value slotRow = allocFor(op.getSlotRow(), t);
  args.append({counts, offsets, rowToken, slotRow});
  return launch(spec, args, {0, 1}, 1);
}

LogicalResult FunctionLowering::dispatchChunked(moe::DispatchOp op, Value idx,
                                                Affine t, Affine r, int64_t e,
                                                int64_t k, int64_t block) {
  // Counts per chunk of tokens (parallel), their prefix per expert (parallel
  // over experts), the padded offsets, then the rows (parallel over chunks).
  int64_t chunks = tokenChunks(t);
  KernelSpec spec{"dispatch_chunked"};
  spec.set("E", e).set("E1", e + 1).set("K", k).set("MT", maxRows(t));
  spec.set("RMAX", maxRows(r)).set("CH", kTokenChunk).set("CHM1", kTokenChunk - 1);
  spec.set("NC", chunks).set("BLOCK", block).set("BLOCKM1", block - 1);
  Value part = alloc({0, chunks}, {e}, i32);
  Value counts = allocFor(op.getCounts(), {0, e});
  Value offsets = allocFor(op.getOffsets(), {0, e + 1});
  Value rowToken = allocFor(op.getRowToken(), r);
  Value slotRow = allocFor(op.getSlotRow(), t);
  KernelSpec count = spec, scan = spec, offs = spec, place = spec;
  if (failed(launch(count.flag("COUNT"), {idx, part}, t, kTokenChunk)) ||
      failed(launch(scan.flag("SCAN"), {part, counts}, {0, e}, 8)) ||
      failed(launch(offs.flag("OFFSETS"), {counts, offsets}, {0, 1}, 1)))
    return failure();
  // Every row of this run starts as padding (-1).
  exec::FillOp::create(b, loc, rowToken, affineAttr(b, scale(r, kWord)),
                       b.getI32IntegerAttr(-1));
  return launch(place.flag("PLACE"), {idx, part, offsets, rowToken, slotRow}, t,
                kTokenChunk);
}

LogicalResult FunctionLowering::lowerPermute(moe::PermuteOp op) {
  auto x = bufferOf(op.getInput()), rt = bufferOf(op.getRowToken());
  if (failed(x) || failed(rt))
    return failure();
  Affine r = rowsOf(op.getRowToken());
  int64_t h = dim(op.getInput(), 1);
  KernelSpec spec{"permute"};
  spec.set("MT", maxRows(rowsOf(op.getInput()))).set("RMAX", maxRows(r)).set("H", h);
  Value out = allocFor(op.getResult(), r);
  return launch(spec, {*x, *rt, out}, r, 64);
}

LogicalResult FunctionLowering::lowerExpertFfn(moe::ExpertFfnOp op) {
  auto xp = bufferOf(op.getInput()), off = bufferOf(op.getOffsets());
  auto up = ffnWeight(op.getUpWeight()), down = ffnWeight(op.getDownWeight());
  if (failed(xp) || failed(off) || failed(up) || failed(down))
    return failure();
  Affine r = rowsOf(op.getInput());
  int64_t e = dim(op.getUpWeight(), 0), f = dim(op.getUpWeight(), 1),
          h = dim(op.getUpWeight(), 2);
  moe::FfnAttr ffn = op.getFfn();
  Value gate;
  if (op.getGateWeight()) {
    auto g = ffnWeight(op.getGateWeight());
    if (failed(g))
      return failure();
    gate = alloc(r, {f}, f32);
    if (failed(groupedGemm(*xp, *g, *off, gate, r, e, f, h)))
      return failure();
  }
  Value u = alloc(r, {f}, f32);
  if (failed(groupedGemm(*xp, *up, *off, u, r, e, f, h)))
    return failure();
  if (failed(glu(gate, u, r, f, ffn.getActivation(),
                 ffn.getAlpha().convertToDouble(),
                 ffn.getLimit().convertToDouble(), *down)))
    return failure();
  Value y = allocFor(op.getResult(), r);
  return groupedGemm(gate ? gate : u, *down, *off, y, r, e, h, f);
}

LogicalResult FunctionLowering::lowerGroupedMatmul(moe::GroupedMatmulOp op) {
  auto x = bufferOf(op.getInput()), w = ffnWeight(op.getWeight()),
       off = bufferOf(op.getOffsets());
  if (failed(x) || failed(w) || failed(off))
    return failure();
  Affine r = rowsOf(op.getInput());
  Value y = allocFor(op.getResult(), r);
  return groupedGemm(*x, *w, *off, y, r, dim(op.getWeight(), 0),
                     dim(op.getWeight(), 1), dim(op.getWeight(), 2));
}

LogicalResult FunctionLowering::lowerGlu(moe::GluOp op) {
  if (!op.getUp())
    return op.emitError() << "moe-lower-to-exec: the fused one-operand "
                             "moe.glu is not supported by the CPU target";
  if (cast<RankedTensorType>(op.getGate().getType()).getRank() != 2)
    return op.emitError() << "moe-lower-to-exec: moe.glu must be 2-D here";
  auto g = bufferOf(op.getGate()), u = bufferOf(op.getUp());
  if (failed(g) || failed(u))
    return failure();
  Affine r = rowsOf(op.getGate());
  int64_t f = dim(op.getGate(), 1);
  Value out = allocFor(op.getResult(), r);
  exec::CopyOp::create(b, loc, *g, out, affineAttr(b, scale(r, f * kWord)));
  return glu(out, *u, r, f, op.getActivation(),
             op.getAlpha().convertToDouble(), op.getLimit().convertToDouble());
}

LogicalResult FunctionLowering::lowerCombine(moe::CombineOp op) {
  auto y = bufferOf(op.getExpertOut()), w = bufferOf(op.getWeights()),
       sr = bufferOf(op.getSlotRow());
  if (failed(y) || failed(w) || failed(sr))
    return failure();
  Affine t = rowsOf(op.getWeights());
  int64_t h = dim(op.getExpertOut(), 1), k = dim(op.getWeights(), 1);
  KernelSpec spec{"combine"};
  spec.set("MT", maxRows(t)).set("RMAX", maxRows(rowsOf(op.getExpertOut())));
  spec.set("H", h).set("K", k);
  spec.flag("PASSTHROUGH", bool(op.getPassthrough()));
  spec.flag("ADDEND", bool(op.getAddend()));
  SmallVector<Value> args{*y, *w, *sr};
  for (Value v : {op.getPassthrough(), op.getAddend()}) {
    if (!v)
      continue;
    auto bv = bufferOf(v);
    if (failed(bv))
      return failure();
    args.push_back(*bv);
  }
  args.push_back(allocFor(op.getResult(), t));
  return launch(spec, args, t, 8);
}

LogicalResult FunctionLowering::lowerSharedExpert(moe::SharedExpertOp op) {
  auto x = bufferOf(op.getInput());
  if (failed(x))
    return failure();
  Affine t = rowsOf(op.getInput());
  int64_t f = dim(op.getUpWeight(), 0), h = dim(op.getUpWeight(), 1);
  Value y = allocFor(op.getResult(), t);
  if (f == 0) { // an empty FFN adds exactly 0
    exec::FillOp::create(b, loc, y, affineAttr(b, scale(t, h * kWord)),
                         b.getI32IntegerAttr(0));
    return success();
  }
  auto up = ffnWeight(op.getUpWeight()), down = ffnWeight(op.getDownWeight());
  if (failed(up) || failed(down))
    return failure();
  moe::FfnAttr ffn = op.getFfn();
  Value gate;
  if (op.getGateWeight()) {
    auto g = ffnWeight(op.getGateWeight());
    if (failed(g))
      return failure();
    gate = alloc(t, {f}, f32);
    if (failed(gemm(*x, *g, gate, t, f, h)))
      return failure();
  }
  Value u = alloc(t, {f}, f32);
  if (failed(gemm(*x, *up, u, t, f, h)))
    return failure();
  if (failed(glu(gate, u, t, f, ffn.getActivation(),
                 ffn.getAlpha().convertToDouble(),
                 ffn.getLimit().convertToDouble(), *down)))
    return failure();
  if (failed(gemm(gate ? gate : u, *down, y, t, h, f)))
    return failure();
  if (Value sg = op.getSigmoidGate()) {
    auto g = bufferOf(sg);
    if (failed(g))
      return failure();
    KernelSpec spec{"elementwise"};
    spec.set("ROWS", maxRows(t)).set("COLS", h).set("H", h).flag("SIGMOID_SCALE");
    return launch(spec, {*x, *g, y}, t, 16);
  }
  return success();
}

LogicalResult FunctionLowering::lowerExpertChoice(moe::ExpertChoiceOp op) {
  auto logits = bufferOf(op.getLogits());
  if (failed(logits))
    return failure();
  Affine t = rowsOf(op.getLogits());
  int64_t e = dim(op.getLogits(), 1);
  moe::ExpertChoiceAttr config = op.getConfig();
  double cf = config.getCapacityFactor().convertToDouble();
  Value scores = alloc(t, {e}, f32);
  KernelSpec sc{"scores"};
  sc.set("MT", maxRows(t)).set("E", e).setF32("SCALE", 1.0);
  sc.flag(scoringFlag(config.getScoring()));
  if (failed(launch(sc, {*logits, scores}, t, 16)))
    return failure();
  // E · min(T, ceil(cf · T / E)) <= cf · T + E.
  Affine r{static_cast<int64_t>(std::ceil(cf)), e};
  KernelSpec spec{"expert_choice"};
  spec.set("MT", maxRows(t)).set("E", e).set("E1", e + 1);
  spec.set("RMAX", maxRows(r)).set("RPT", r.perToken).set("RFIX", r.fixed);
  spec.setF64("CF", cf).setF64("EF64", static_cast<double>(e));
  Value rw = allocFor(op.getRowWeight(), r);
  Value rt = allocFor(op.getRowToken(), r);
  Value off = allocFor(op.getOffsets(), {0, e + 1});
  return launch(spec, {scores, rw, rt, off}, {0, e}, 1);
}

LogicalResult FunctionLowering::lowerUnpermute(moe::UnpermuteOp op) {
  auto y = bufferOf(op.getInput()), rt = bufferOf(op.getRowToken());
  if (failed(y) || failed(rt))
    return failure();
  Affine r = rowsOf(op.getInput());
  int64_t h = dim(op.getInput(), 1);
  int64_t resultRows = dim(op.getResult(), 0);
  Affine t = ShapedType::isDynamic(resultRows) ? Affine{1, 0}
                                               : Affine{0, resultRows};
  KernelSpec spec{"unpermute"};
  spec.set("MT", maxRows(t)).set("RMAX", maxRows(r)).set("H", h);
  spec.set("RPT", r.perToken).set("RFIX", r.fixed);
  spec.flag("WEIGHTED", bool(op.getRowWeight()));
  SmallVector<Value> args{*y, *rt};
  if (Value w = op.getRowWeight()) {
    auto bw = bufferOf(w);
    if (failed(bw))
      return failure();
    args.push_back(*bw);
  }
  args.push_back(allocFor(op.getResult(), t));
  return launch(spec, args, {0, h}, 16);
}

LogicalResult FunctionLowering::lowerAdd(arith::AddFOp op) {
  auto type = dyn_cast<RankedTensorType>(op.getType());
  if (!type || type.getRank() != 2)
    return op.emitError() << "moe-lower-to-exec: arith.addf is supported on "
                             "2-D tensors only";
  auto lhs = bufferOf(op.getLhs()), rhs = bufferOf(op.getRhs());
  if (failed(lhs) || failed(rhs))
    return failure();
  Affine r = rowsOf(op.getLhs());
  KernelSpec spec{"elementwise"};
  spec.set("ROWS", maxRows(r)).set("COLS", type.getDimSize(1)).flag("ADD");
  Value out = allocFor(op.getResult(), r);
  return launch(spec, {*lhs, *rhs, out}, r, 64);
}

LogicalResult FunctionLowering::lowerReturn(func::ReturnOp op) {
  for (auto [i, v] : llvm::enumerate(op.getOperands())) {
    auto buffer = bufferOf(v);
    if (failed(buffer))
      return failure();
    std::string name =
        op.getNumOperands() == 1 ? "y" : "y" + std::to_string(i);
    exec::OutputOp::create(b, loc, b.getStringAttr(name), *buffer,
                           /*aux=*/nullptr);
  }
  return success();
}

LogicalResult FunctionLowering::lower(Operation *op) {
  loc = op->getLoc();
  return TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](moe::WeightOp) { return success(); }) // on first use
      .Case([&](moe::RouterOp o) { return lowerRouter(o); })
      .Case([&](moe::TopKOp o) { return lowerTopK(o); })
      .Case([&](moe::MixtureOp o) { return lowerMixture(o); })
      .Case([&](moe::DispatchOp o) { return lowerDispatch(o); })
      .Case([&](moe::PermuteOp o) { return lowerPermute(o); })
      .Case([&](moe::ExpertFfnOp o) { return lowerExpertFfn(o); })
      .Case([&](moe::GroupedMatmulOp o) { return lowerGroupedMatmul(o); })
      .Case([&](moe::GluOp o) { return lowerGlu(o); })
      .Case([&](moe::CombineOp o) { return lowerCombine(o); })
      .Case([&](moe::SharedExpertOp o) { return lowerSharedExpert(o); })
      .Case([&](moe::ExpertChoiceOp o) { return lowerExpertChoice(o); })
      .Case([&](moe::UnpermuteOp o) { return lowerUnpermute(o); })
      .Case([&](arith::AddFOp o) { return lowerAdd(o); })
      .Case([&](func::ReturnOp o) { return lowerReturn(o); })
      .Case<tensor::DimOp, arith::ConstantIndexOp>(
          [&](Operation *) { return success(); }) // T is the runtime's
      .Default([&](Operation *other) {
        return other->emitError()
               << "moe-lower-to-exec: '" << other->getName()
               << "' is not supported by the CPU target (run "
                  "moe-expand-blocks first for moe.block)";
      });
}

/// First fit over lifetimes: two buffers may share bytes when no command uses
/// both; inputs live from the start and outputs to the end.
LogicalResult FunctionLowering::planMemory() {
  Block &body = fn.getBody().front();
  DenseMap<Operation *, int64_t> position;
  int64_t n = 0;
  for (Operation &op : body)
    position[&op] = n++;
  struct Live {
    Operation *op;
    int64_t begin, end, bytes, offset = 0;
  };
  std::vector<Live> live;
  for (Operation &op : body) {
    std::optional<Affine> bytes;
    if (auto a = dyn_cast<exec::AllocOp>(op))
      bytes = exec::toAffine(a.getBytes());
    else if (auto in = dyn_cast<exec::InputOp>(op))
      bytes = exec::toAffine(in.getBytes());
    if (!bytes)
      continue;
    int64_t begin = isa<exec::InputOp>(op) ? 0 : position[&op];
    int64_t end = begin;
    for (Operation *user : op.getResult(0).getUsers())
      end = std::max(end, isa<exec::OutputOp>(user) ? n : position[user]);
    live.push_back({&op, begin, end, static_cast<int64_t>(moert::alignUp(bytes->at(maxTokens)))});
  }
  int64_t arena = 0;
  for (size_t i = 0; i < live.size(); ++i) {
    // Candidate offsets: 0 and the end of every overlapping placed buffer.
    SmallVector<int64_t> candidates{0};
    for (size_t j = 0; j < i; ++j)
      if (live[j].begin <= live[i].end && live[i].begin <= live[j].end)
        candidates.push_back(live[j].offset + live[j].bytes);
    llvm::sort(candidates);
    for (int64_t c : candidates) {
      bool fits = true;
      for (size_t j = 0; j < i && fits; ++j)
        if (live[j].begin <= live[i].end && live[i].begin <= live[j].end &&
            c < live[j].offset + live[j].bytes &&
            live[j].offset < c + std::max<int64_t>(live[i].bytes, 1))
          fits = false;
      if (fits) {
        live[i].offset = c;
        break;
      }
    }
    live[i].op->setAttr("offset", b.getI64IntegerAttr(live[i].offset));
    arena = std::max(arena, live[i].offset + live[i].bytes);
  }
  auto *dialect = b.getContext()->getLoadedDialect<exec::ExecDialect>();
  dialect->getMaxTokensAttrHelper().setAttr(fn, b.getI64IntegerAttr(maxTokens));
  dialect->getArenaBytesAttrHelper().setAttr(fn, b.getI64IntegerAttr(arena));
  return success();
}

LogicalResult FunctionLowering::run() {
  FunctionType type = fn.getFunctionType();
  for (Type t : llvm::concat<const Type>(type.getInputs(), type.getResults())) {
    auto tensor = dyn_cast<RankedTensorType>(t);
    if (!tensor || tensor.getRank() != 2 || !tensor.isDynamicDim(0) ||
        !tensor.getElementType().isF32())
      return fn.emitError()
             << "moe-lower-to-exec: the plan compiles functions of "
                "f32 tensors with a dynamic token dimension, "
                "tensor<?xHxf32>; @"
             << fn.getSymName() << " has " << t
             << (tensor && !tensor.getElementType().isF32()
                     ? " (import with --dtype f32; weights may stay bf16)"
                     : "");
  }
  for (Operation &op : fn.getBody().front())
    for (Value v : llvm::concat<Value>(op.getOperands(), op.getResults()))
      if (auto t = dyn_cast<RankedTensorType>(v.getType());
          t && !isa<moe::WeightOp>(op) && !v.getDefiningOp<moe::WeightOp>() &&
          !t.getElementType().isF32() && !t.getElementType().isInteger(32))
        return op.emitError() << "moe-lower-to-exec: the CPU target computes "
                                 "in f32; this value is "
                              << t;

  Block &body = fn.getBody().front();
  auto ops = llvm::map_to_vector(body, [](Operation &op) { return &op; });
  b.setInsertionPointToStart(&body);
  for (auto [i, arg] : llvm::enumerate(body.getArguments())) {
    int64_t h = cast<RankedTensorType>(arg.getType()).getDimSize(1);
    std::string name =
        body.getNumArguments() == 1 ? "x" : "x" + std::to_string(i);
    auto bufferType = exec::BufferType::get(
        b.getContext(), {ShapedType::kDynamic, h}, f32);
    Value in = exec::InputOp::create(b, fn.getLoc(), bufferType,
                                     b.getStringAttr(name),
                                     b.getI64IntegerAttr(0),
                                     affineAttr(b, {h * kWord, 0}));
    buffers[arg] = in;
    rows[arg] = {1, 0};
  }
  for (Operation *op : ops) {
    b.setInsertionPoint(op);
    if (failed(lower(op)))
      return failure();
  }
  // The tensor program is now dead: drop it and the signature's tensors.
  b.setInsertionPointToEnd(&body);
  func::ReturnOp::create(b, fn.getLoc());
  for (Operation *op : llvm::reverse(ops)) {
    op->dropAllUses();
    op->erase();
  }
  body.eraseArguments(0, body.getNumArguments());
  fn.setFunctionType(b.getFunctionType({}, {}));
  return planMemory();
}

struct MoeLowerToExecPass
    : moec::impl::MoeLowerToExecBase<MoeLowerToExecPass> {
  using moec::impl::MoeLowerToExecBase<MoeLowerToExecPass>::MoeLowerToExecBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (maxTokens < 1) {
      module.emitError() << "moe-lower-to-exec: max-tokens must be at least "
                            "1, got "
                         << maxTokens.getValue();
      return signalPassFailure();
    }
    if (target != "cpu" && target != "cuda") {
      module.emitError() << "moe-lower-to-exec: target must be cpu or cuda, "
                            "got '"
                         << target.getValue() << "'";
      return signalPassFailure();
    }
    Type ffnType = llvm::StringSwitch<Type>(weightType)
                       .Case("f32", Float32Type::get(&getContext()))
                       .Case("bf16", BFloat16Type::get(&getContext()))
                       .Case("f16", Float16Type::get(&getContext()))
                       .Default(Type());
    if (!ffnType) {
      module.emitError() << "moe-lower-to-exec: weight-type must be f32, bf16 "
                            "or f16, got '"
                         << weightType.getValue() << "'";
      return signalPassFailure();
    }
    if (gemvMaxTokens < 0 || (gemvMaxTokens > 0 && target != "cuda")) {
      module.emitError() << "moe-lower-to-exec: gemv-max-tokens is a T >= 0 "
                            "for the cuda target, got "
                         << gemvMaxTokens.getValue() << " for target '"
                         << target.getValue() << "'";
      return signalPassFailure();
    }
    getContext().getLoadedDialect<exec::ExecDialect>()->getTargetAttrHelper().setAttr(
        module, StringAttr::get(&getContext(), target));
    OpBuilder b(&getContext());
    b.setInsertionPointToEnd(module.getBody());
    auto kernels = ModuleOp::create(b, module.getLoc(), StringRef("kernels"));
    KernelLibrary library(kernels);
    for (auto fn : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (fn.isExternal())
        continue;
      FunctionLowering lowering(fn, library, maxTokens, target == "cuda",
                                ffnType, gemvMaxTokens);
      if (failed(lowering.run()))
        return signalPassFailure();
    }
  }
};

} // namespace
