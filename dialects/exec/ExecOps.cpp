//===- ExecOps.cpp - verifiers of the exec dialect's ops ------------------===//
//
// The plan must be something the runtime can execute: sizes non-negative,
// arena offsets 64-byte aligned, and every command's operands shaped as the
// command reads them (the runtime checks the same again at load, in bytes).
//
//===----------------------------------------------------------------------===//
#include "exec/ExecDialect.h"
#include "moert/format.h"
#include "moert/fp8.h"

#include "mlir/Interfaces/FunctionInterfaces.h"

#include <cmath>

using namespace mlir;
using namespace moec::exec;

namespace {

LogicalResult verifyAffine(Operation *op, StringRef what,
                           ArrayRef<int64_t> a) {
  if (a[0] < 0 || a[1] < 0)
    return op->emitOpError() << what << " [" << a[0] << ", " << a[1]
                             << "] must be non-negative";
  return success();
}

LogicalResult verifyOffset(Operation *op, int64_t offset) {
  if (offset < 0 || offset % 64 != 0)
    return op->emitOpError() << "offset " << offset
                             << " must be a non-negative multiple of 64";
  return success();
}

/// `v` is a buffer of `rank` dimensions of element type `elem`; dims given as
/// non-negative values must match (a negative value matches anything).
LogicalResult verifyBuffer(Operation *op, StringRef name, Value v,
                           ArrayRef<int64_t> dims, Type elem) {
  auto type = cast<BufferType>(v.getType());
  if (type.getShape().size() != dims.size())
    return op->emitOpError() << name << " must have rank " << dims.size()
                             << ", got " << type;
  if (type.getElementType() != elem)
    return op->emitOpError() << name << " must hold " << elem << ", got "
                             << type;
  for (auto [i, d] : llvm::enumerate(dims))
    if (d >= 0 && type.getShape()[i] != d)
      return op->emitOpError()
             << name << " dim " << i << " is "
             << (ShapedType::isDynamic(type.getShape()[i])
                     ? std::string("?")
                     : std::to_string(type.getShape()[i]))
             << ", expected " << d;
  return success();
}

/// The element type of a GEMM's A operand: B's (f32, bf16 or f16), or f32
/// for quantized weights (fp8, mxfp4, int8, int4), or bf16 for an fp8 or
/// mxfp4 B read through a `dequant` kernel (the CUDA target's).
FailureOr<Type> gemmOperandType(Operation *op, Value b, bool dequant) {
  Type t = cast<BufferType>(b.getType()).getElementType();
  if (dequant) {
    if (!isa<Float8E4M3FNType, Float4E2M1FNType>(t))
      return op->emitOpError() << "dequant is for an fp8 or mxfp4 (f8E4M3FN, "
                                  "f4E2M1FN) B, got "
                               << b.getType();
    return Type(BFloat16Type::get(op->getContext()));
  }
  if (isQuantizedWeightType(t))
    return Type(Float32Type::get(op->getContext()));
  if (!t.isF32() && !t.isBF16() && !t.isF16())
    return op->emitOpError() << "B must hold f32, bf16, f16, f8E4M3FN, f4E2M1FN, i8 "
                                "or i4, got "
                             << b.getType();
  return t;
}

/// B's element type: A's, or fp8 against f32 activations.
Type gemmWeightType(Value b) {
  return cast<BufferType>(b.getType()).getElementType();
}

/// `act_quant` (cuBLASLt's block-scaled fp8 GEMM) needs an fp8 B with its
/// `dequant` kernel, for GPUs without it, and shapes that fit.
LogicalResult verifyActQuant(Operation *op, bool set, bool dequant, Value b,
                             int64_t n, int64_t k) {
  if (!set)
    return success();
  if (!dequant || !isa<Float8E4M3FNType>(gemmWeightType(b)))
    return op->emitOpError() << "act_quant goes with an fp8 (f8E4M3FN) B and its "
                                "dequant kernel, got "
                             << b.getType() << (dequant ? "" : " without dequant");
  if (!moert::fp8BlockScaledGemmFits(n, k))
    return op->emitOpError() << "act_quant needs n and k multiples of 16 and "
                                "ceil(k / 128) a multiple of 4, got n = "
                             << n << ", k = " << k;
  return success();
}

/// `int8_activations` needs an int8 / int4 B.
LogicalResult verifyInt8Activations(Operation *op, bool set, Value b) {
  Type t = gemmWeightType(b);
  if (set && !t.isSignlessInteger(8) && !t.isSignlessInteger(4))
    return op->emitOpError() << "int8_activations is for an int8 / int4 (i8 / i4) B, got "
                             << b.getType();
  return success();
}

/// An arena range [offset, offset + bytes(max_tokens)) lies inside its
/// function's planned arena (exec.arena_bytes, once the memory plan ran).
LogicalResult verifyInArena(Operation *op, int64_t offset,
                            ArrayRef<int64_t> bytes) {
  auto fn = op->getParentOfType<FunctionOpInterface>();
  if (!fn)
    return success();
  auto *dialect = cast<ExecDialect>(op->getDialect());
  IntegerAttr arena = dialect->getArenaBytesAttrHelper().getAttr(fn);
  IntegerAttr maxTokens = dialect->getMaxTokensAttrHelper().getAttr(fn);
  if (!arena || !maxTokens)
    return success();
  Affine size = toAffine(bytes);
  // Overflow-safe: the range's end as a·T + b + offset, in 128 bits.
  __int128 end = static_cast<__int128>(size.perToken) * maxTokens.getInt() +
                 size.fixed + offset;
  if (end > arena.getInt())
    return op->emitOpError()
           << "range [" << offset << ", " << static_cast<int64_t>(end)
           << ") at max_tokens = " << maxTokens.getInt()
           << " does not fit the function's arena of " << arena.getInt()
           << " bytes";
  return success();
}

} // namespace

bool moec::exec::isQuantizedWeightType(Type t) {
  return isa<Float8E4M3FNType, Float4E2M1FNType>(t) || t.isSignlessInteger(8) ||
         t.isSignlessInteger(4);
}

int64_t moec::exec::stackedRowsMultiple(Type elem) {
  return isa<Float8E4M3FNType>(elem) ? 128 : 32;
}

bool moec::exec::isGemmB(OpOperand &use) {
  if (auto g = dyn_cast<GemmOp>(use.getOwner()))
    return &use == &g.getBMutable();
  if (auto g = dyn_cast<GroupedGemmOp>(use.getOwner()))
    return &use == &g.getBMutable();
  // A part of stacked weights that are read as a GEMM's B.
  if (auto c = dyn_cast<ConcatWeightsOp>(use.getOwner()))
    return llvm::all_of(c.getResult().getUses(), [](OpOperand &u) { return isGemmB(u); });
  return false;
}

LogicalResult InputOp::verify() {
  if (getName().empty())
    return emitOpError() << "an input needs a name";
  if (failed(verifyOffset(*this, getOffset())) ||
      failed(verifyAffine(*this, "bytes", getBytes())))
    return failure();
  return verifyInArena(*this, getOffset(), getBytes());
}

LogicalResult AllocOp::verify() {
  if (failed(verifyOffset(*this, getOffset())) ||
      failed(verifyAffine(*this, "bytes", getBytes())))
    return failure();
  return verifyInArena(*this, getOffset(), getBytes());
}

LogicalResult RunParamsOp::verify() {
  auto type = cast<BufferType>(getResult().getType());
  if (type.getShape() != ArrayRef<int64_t>{4} || !type.getElementType().isInteger(32))
    return emitOpError() << "the run's parameters are !exec.buffer<4xi32>, not " << type;
  if (failed(verifyOffset(*this, getOffset())))
    return failure();
  for (Operation &other : (*this)->getBlock()->getOperations()) {
    if (&other == getOperation())
      break;
    if (isa<RunParamsOp>(other))
      return emitOpError() << "a function has at most one exec.run_params";
  }
  return verifyInArena(*this, getOffset(), {0, 16});
}

LogicalResult WeightOp::verify() {
  if (getTensorName().empty())
    return emitOpError() << "tensor name must not be empty";
  if (int(getFile().has_value()) + int(getValue().has_value()) +
          int(getRandomSeed().has_value()) !=
      1)
    return emitOpError() << "needs exactly one of 'from \"file\"', '= value' "
                            "and 'random(seed)'";
  auto type = cast<BufferType>(getType());
  if (llvm::any_of(type.getShape(), ShapedType::isDynamic))
    return emitOpError() << "a weight has a static shape, got " << type;
  if (auto value = getValue())
    if (cast<ShapedType>(value->getType()).getShape() != type.getShape())
      return emitOpError() << "inline value of type " << value->getType()
                           << " does not have the buffer's shape " << type;
  Type elem = type.getElementType();
  bool fp8 = isa<Float8E4M3FNType>(elem);
  bool fp4 = isa<Float4E2M1FNType>(elem);
  bool intq = elem.isSignlessInteger(8) || elem.isSignlessInteger(4);
  if (!fp8 && !fp4 && !intq && !elem.isF32() && !elem.isBF16() && !elem.isF16())
    return emitOpError() << "a weight holds f32, bf16, f16, f8E4M3FN, "
                            "f4E2M1FN, i8 or i4, got "
                         << type;
  if (intq && !getGroupSize())
    return emitOpError() << "an int8 / int4 weight needs 'group(G)', the values "
                            "along k that share a scale, got "
                         << type;
  if (!intq && getGroupSize())
    return emitOpError() << "'group(G)' is for int8 / int4 (i8 / i4) weights "
                            "only, got "
                         << type;
  if (intq) {
    int64_t g = *getGroupSize();
    if (g != 32 && g != 64 && g != 128)
      return emitOpError() << "group(" << g << ") must be 32, 64 or 128";
    if (type.getShape().size() < 2 || type.getShape().back() % g != 0)
      return emitOpError() << "an int8 / int4 weight is [..., n, k] with k a "
                              "multiple of its group "
                           << g << ", got " << type;
  }
  if (fp4 && (type.getShape().size() < 2 || type.getShape().back() % 32 != 0))
    return emitOpError() << "an mxfp4 weight (f4E2M1FN) is [..., n, k] with k "
                            "a multiple of 32 (the values that share a scale), "
                            "got "
                         << type;
  if ((fp8 || getScales()) && type.getShape().size() < 2)
    return emitOpError() << "an fp8 weight (or one read from fp8 codes with "
                            "'scales') has rank >= 2, got "
                         << type;
  if (getScales() && !getFile())
    return emitOpError() << "'scales' names a checkpoint tensor; the weight "
                            "needs 'from \"file\"'";
  if (getMxfp4() && !getScales())
    return emitOpError() << "an mxfp4 weight needs its scale tensor "
                            "('mxfp4 scales \"NAME\"')";
  if (getMxfp4() && type.getShape().back() % 32 != 0)
    return emitOpError() << "mxfp4 blocks hold rows of whole groups of 32 "
                            "values: K (the last dimension) must be a "
                            "multiple of 32, got "
                         << type;
  if (getRowStart().has_value() != getRowStep().has_value())
    return emitOpError() << "'rows' needs a start and a step";
  if (getRowStart()) {
    int64_t start = *getRowStart(), step = *getRowStep();
    if (!getFile() || getTensorName().contains("{e}") ||
        type.getShape().size() < 2 || type.getShape().size() > 3)
      return emitOpError() << "'rows' selects along dimension 1 of one "
                              "checkpoint tensor (no '{e}') of rank 2 or 3";
    if (step < 1 || start < 0 || start >= step)
      return emitOpError() << "rows(" << start << ", " << step
                           << ") must have step >= 1 and 0 <= start < step";
    if (getScales() && !getMxfp4())
      return emitOpError() << "'rows' does not select fp8 codes (their "
                              "128 x 128 scale blocks span rows)";
    if (getMxfp4() && type.getShape().size() != 3)
      return emitOpError() << "'rows' selects whole mxfp4 rows of an [E, N, K] "
                              "tensor; on a rank-2 weight it would split K's "
                              "groups of 32, got "
                           << type;
  }
  if (getPanels()) {
    // (Every element type a weight holds has panels.)
    if (type.getShape().size() < 2)
      return emitOpError() << "a weight in panels has rank >= 2 (its [n, k] "
                              "matrices are packed), got "
                           << type;
    for (OpOperand &use : getResult().getUses())
      if (!isGemmB(use))
        return emitOpError()
               << "a weight in panels is read only as the B operand of "
                  "exec.gemm or exec.grouped_gemm; '"
               << use.getOwner()->getName() << "' uses it as operand "
               << use.getOperandNumber();
  }
  if (fp8 || fp4 || intq)
    for (OpOperand &use : getResult().getUses())
      if (!isGemmB(use))
        return emitOpError() << "an " << (fp8 ? "fp8" : fp4 ? "mxfp4" : "int8 / int4")
                             << " weight is read only as the B operand "
                                "of exec.gemm or exec.grouped_gemm; '"
                             << use.getOwner()->getName()
                             << "' uses it as operand " << use.getOperandNumber();
  return success();
}

LogicalResult ConcatWeightsOp::verify() {
  auto first = getFirst().getDefiningOp<WeightOp>(),
       second = getSecond().getDefiningOp<WeightOp>();
  if (!first || !second)
    return emitOpError() << "stacks the matrices of two exec.weight results";
  auto a = cast<BufferType>(getFirst().getType()), b = cast<BufferType>(getSecond().getType()),
       r = cast<BufferType>(getResult().getType());
  ArrayRef<int64_t> sa = a.getShape(), sb = b.getShape(), sr = r.getShape();
  Type elem = a.getElementType();
  if (sa.size() < 2 || sb.size() != sa.size() || sr.size() != sa.size() ||
      sa.drop_back(2) != sb.drop_back(2) || sa.drop_back(2) != sr.drop_back(2) ||
      sa.back() != sb.back() || sr.back() != sa.back() ||
      sr[sr.size() - 2] != sa[sa.size() - 2] + sb[sb.size() - 2])
    return emitOpError() << "stacks [..., n1, k] and [..., n2, k] into [..., n1 + n2, k], got "
                         << a << ", " << b << " -> " << r;
  if (b.getElementType() != elem || r.getElementType() != elem)
    return emitOpError() << "stacks weights of one element type, got " << a << ", " << b
                         << " -> " << r;
  if (first.getGroupSize() != second.getGroupSize() ||
      first.getPanels() != second.getPanels())
    return emitOpError() << "stacks weights of one group size and layout (panels or not)";
  if (first.getRandomSeed().has_value() != second.getRandomSeed().has_value())
    return emitOpError() << "stacks two synthetic weights ('random') or none";
  int64_t n1 = sa[sa.size() - 2], align = stackedRowsMultiple(elem);
  if (n1 % align != 0)
    return emitOpError() << "the first weight's rows (" << n1 << ") must be a multiple of "
                         << align
                         << (align == 128 ? " (the fp8 scale blocks)" : " (the panel width)");
  for (OpOperand &use : getResult().getUses())
    if (!isGemmB(use))
      return emitOpError() << "stacked weights are read only as the B operand of exec.gemm or "
                              "exec.grouped_gemm; '"
                           << use.getOwner()->getName() << "' uses them as operand "
                           << use.getOperandNumber();
  return success();
}

LogicalResult OutputOp::verify() {
  if (getName().empty())
    return emitOpError() << "an output needs a name";
  return success();
}

LogicalResult LaunchOp::verify() {
  if (getGrain() < 1)
    return emitOpError() << "grain must be at least 1, got " << getGrain();
  if (bool(getLimit()) != getLimitIndex().has_value())
    return emitOpError() << "limit and limit_index go together";
  if (Value limit = getLimit()) {
    int64_t i = static_cast<int64_t>(*getLimitIndex());
    auto type = cast<BufferType>(limit.getType());
    if (!type.getElementType().isInteger(32) || type.getShape().size() != 1 ||
        i < 0 || (!ShapedType::isDynamic(type.getShape()[0]) && i >= type.getShape()[0]))
      return emitOpError() << "the limit must be an element of a 1-D i32 buffer, got index "
                           << i << " of " << type;
  }
  return verifyAffine(*this, "extent", getExtent());
}

LogicalResult GemmOp::verify() {
  Type f32 = Float32Type::get(getContext());
  int64_t n = getN(), k = getK();
  if (n < 1 || k < 1)
    return emitOpError() << "n and k must be at least 1, got n = " << n
                         << ", k = " << k;
  FailureOr<Type> ab = gemmOperandType(*this, getB(), getDequant().has_value());
  if (failed(ab) || failed(verifyAffine(*this, "rows", getRows())) ||
      failed(verifyBuffer(*this, "A", getA(), {-1, k}, *ab)) ||
      failed(verifyBuffer(*this, "B", getB(), {n, k}, gemmWeightType(getB()))))
    return failure();
  // C holds f32, or bf16 / f16 (the sums rounded to nearest even), which is
  // written, not accumulated.
  Type c = cast<BufferType>(getC().getType()).getElementType();
  bool c16 = c.isBF16() || c.isF16();
  if (failed(verifyBuffer(*this, "C", getC(), {-1, n}, c16 ? c : f32)))
    return failure();
  if (c16 && getAccumulate())
    return emitOpError() << "a " << c << " C is written, not accumulated";
  if (getC() == getA() || getC() == getB())
    return emitOpError() << "C must not be an operand";
  if (getActQuant() && getAccumulate())
    return emitOpError() << "act_quant's GEMM is written, not accumulated";
  if (failed(verifyActQuant(*this, getActQuant().has_value(), getDequant().has_value(),
                            getB(), n, k)))
    return failure();
  return verifyInt8Activations(*this, getInt8Activations(), getB());
}

LogicalResult GroupedGemmOp::verify() {
  Type f32 = Float32Type::get(getContext());
  Type i32 = IntegerType::get(getContext(), 32);
  int64_t e = getExperts(), n = getN(), k = getK();
  if (e < 1 || n < 1 || k < 1)
    return emitOpError() << "experts, n and k must be at least 1, got "
                         << e << ", " << n << ", " << k;
  FailureOr<Type> ab = gemmOperandType(*this, getB(), getDequant().has_value());
  if (failed(ab) || failed(verifyAffine(*this, "rows", getRows())) ||
      failed(verifyBuffer(*this, "A", getA(), {-1, k}, *ab)) ||
      failed(verifyBuffer(*this, "B", getB(), {getMap() ? -1 : e, n, k},
                          gemmWeightType(getB()))) ||
      failed(verifyBuffer(*this, "offsets", getOffsets(), {e + 1}, i32)) ||
      (getMap() && failed(verifyBuffer(*this, "map", getMap(), {e}, i32))))
    return failure();
  // C holds f32, or bf16 / f16: the sums rounded to nearest even.
  Type c = cast<BufferType>(getC().getType()).getElementType();
  if (failed(verifyBuffer(*this, "C", getC(), {-1, n}, c.isBF16() || c.isF16() ? c : f32)))
    return failure();
  if (getMap() && getGemv())
    return emitOpError() << "a map is not supported with a gemv kernel";
  if (getC() == getA())
    return emitOpError() << "C must not be A";
  if (getGemv().has_value() != getGemvMaxTokens().has_value())
    return emitOpError() << "gemv and gemv_max_tokens go together";
  if (getGemvMaxTokens() && *getGemvMaxTokens() < 1)
    return emitOpError() << "gemv_max_tokens must be at least 1, got "
                         << *getGemvMaxTokens();
  if (failed(verifyActQuant(*this, getActQuant().has_value(), getDequant().has_value(),
                            getB(), n, k)))
    return failure();
  return verifyInt8Activations(*this, getInt8Activations(), getB());
}

LogicalResult ExchangeOp::verify() {
  Type i32 = IntegerType::get(getContext(), 32);
  int64_t ranks = getRanks(), slots = getSlots(), e = getExperts();
  if (ranks < 1 || slots < 1 || e < 1 || static_cast<int64_t>(getRecvRows()) < 0)
    return emitOpError() << "ranks, slots and experts must be at least 1 and "
                            "recv_rows not negative, got "
                         << ranks << ", " << slots << ", " << e << ", " << static_cast<int64_t>(getRecvRows());
  auto src = cast<BufferType>(getSrc().getType());
  if (src.getShape().size() != 2)
    return emitOpError() << "src must have rank 2, got " << src;
  if (failed(verifyAffine(*this, "rows", getRows())) ||
      failed(verifyBuffer(*this, "dst", getDst(), {-1, src.getShape()[1]},
                          src.getElementType())) ||
      failed(verifyBuffer(*this, "offsets", getOffsets(), {e + 1}, i32)) ||
      failed(verifyBuffer(*this, "slot_offsets", getSlotOffsets(), {slots + 1}, i32)) ||
      failed(verifyBuffer(*this, "slot_experts", getSlotExperts(), {slots}, i32)) ||
      failed(verifyBuffer(*this, "counts", getCounts(), {ranks * slots}, i32)))
    return failure();
  if (getSrc() == getDst())
    return emitOpError() << "src and dst are the same buffer";
  return success();
}

int64_t ExpertChoiceOp::getMaxRows(int64_t maxTokens, int64_t experts, int64_t ranks,
                                   double capacityFactor) {
  return moert::expertChoiceMaxRows(capacityFactor, maxTokens, experts, ranks);
}

LogicalResult ExpertChoiceOp::verify() {
  Type i32 = IntegerType::get(getContext(), 32), f32 = Float32Type::get(getContext());
  int64_t e = getExperts(), ranks = getRanks(), mt = getMaxTokens();
  double cf = getCapacityFactor().convertToDouble();
  if (e < 1 || ranks < 1 || mt < 1 || !(cf > 0.0) || !std::isfinite(cf))
    return emitOpError() << "experts, ranks and max_tokens must be at least 1 and "
                            "capacity_factor finite and > 0, got "
                         << e << ", " << ranks << ", " << mt << ", " << cf;
  int64_t need = getMaxRows(mt, e, ranks, cf), rows = getMaxRows();
  if (rows < need)
    return emitOpError() << "max_rows must be at least " << need
                         << " (experts x min(C, max_tokens)), got " << rows;
  // A static row count is the bound's.
  auto shape = cast<BufferType>(getRowWeight().getType()).getShape();
  int64_t expect = shape.size() == 1 && !ShapedType::isDynamic(shape[0]) ? rows : -1;
  if (failed(verifyAffine(*this, "tokens", getTokens())) ||
      failed(verifyBuffer(*this, "scores", getScores(), {-1, e}, f32)) ||
      failed(verifyBuffer(*this, "row_weight", getRowWeight(), {expect}, f32)) ||
      failed(verifyBuffer(*this, "row_token", getRowToken(), {-1}, i32)) ||
      failed(verifyBuffer(*this, "offsets", getOffsets(), {e + 1}, i32)))
    return failure();
  return success();
}

LogicalResult FillOp::verify() {
  return verifyAffine(*this, "bytes", getBytes());
}

LogicalResult CopyOp::verify() {
  if (getSrc() == getDst())
    return emitOpError() << "source and destination are the same buffer";
  return verifyAffine(*this, "bytes", getBytes());
}

LogicalResult ParamOp::verify() {
  auto fn = (*this)->getParentOfType<FunctionOpInterface>();
  auto params = fn ? cast<ExecDialect>((*this)->getDialect())
                         ->getKernelParamsAttrHelper()
                         .getAttr(fn)
                   : DictionaryAttr();
  if (!params)
    return emitOpError() << "is not in a kernel that declares its parameters "
                            "(exec.kernel_params)";
  auto type = params.getAs<TypeAttr>(getName());
  if (!type) {
    std::string declared;
    for (NamedAttribute p : params)
      declared += (declared.empty() ? "" : ", ") + p.getName().str();
    return emitOpError() << "'" << getName() << "' is not a parameter of @"
                         << fn.getName() << " (declared: " << declared << ")";
  }
  if (type.getValue() != getType())
    return emitOpError() << "'" << getName() << "' is declared " << type.getValue()
                         << ", read as " << getType();
  return success();
}

LogicalResult CodeObjectOp::verify() {
  if (getFormat() != "host-so" && getFormat() != "ptx" &&
      getFormat() != "cubin")
    return emitOpError() << "format must be host-so, ptx or cubin, got '"
                         << getFormat() << "'";
  for (NamedAttribute k : getKernels()) {
    auto n = dyn_cast<IntegerAttr>(k.getValue());
    if (!n || n.getInt() < 0)
      return emitOpError() << "kernel '" << k.getName().getValue()
                           << "' needs a non-negative argument count";
  }
  if (std::optional<DictionaryAttr> lanes = getLanes())
    for (NamedAttribute l : *lanes) {
      if (!getKernels().contains(l.getName()))
        return emitOpError() << "lanes of '" << l.getName().getValue()
                             << "', which is not one of its kernels";
      auto n = dyn_cast<IntegerAttr>(l.getValue());
      if (!n || n.getInt() < 1 || n.getInt() > 1024 ||
          !llvm::isPowerOf2_64(n.getInt()))
        return emitOpError() << "lanes of '" << l.getName().getValue()
                             << "' must be a power of two from 1 to 1024";
    }
  return success();
}
