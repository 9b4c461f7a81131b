//===- ExpertFfn.cpp - expert FFNs and GEMMs to exec ----------------------===//
//
// moe.expert_ffn, moe.grouped_matmul, moe.glu and moe.shared_expert: their
// projections become library GEMM commands (exec.gemm, exec.grouped_gemm; on
// the CUDA target a grouped GEMM may also carry the generated
// grouped_gemv_warp kernel for small T), the experts' biases launches of the
// expert_bias kernel, and the activation a launch of the glu kernel, in place.
//
//===----------------------------------------------------------------------===//
#include "moec/Conversion/MoeToExec.h"

#include "moert/fp8.h"
#include "moert/mxfp4.h"

using namespace mlir;
using namespace moec;
using exec::Affine;

static const char *activationFlag(moe::Activation a) {
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

/// Set on a GEMM of an int8 / int4 weight when the lowering quantizes its
/// activations (ExecLoweringOptions::int8Activations).
UnitAttr ExecBuilder::int8Activations(Value w) {
  Type t = cast<exec::BufferType>(w.getType()).getElementType();
  bool intq = t.isSignlessInteger(8) || t.isSignlessInteger(4);
  return intq && options().int8Activations ? rewriter.getUnitAttr() : nullptr;
}

/// The quantized kernels' sizes besides n and k: the fp8 scales' block
/// counts, or an MXFP4 row's code bytes and bytes.
static void setQuantizedSizes(KernelSpecialization &spec, Type elem, int64_t n,
                              int64_t k) {
  if (isa<Float8E4M3FNType>(elem))
    spec.set("NB", moert::fp8Blocks(n)).set("KB", moert::fp8Blocks(k));
  else
    spec.set("KH", k / 2).set("RB", static_cast<int64_t>(moert::mxfp4RowBytes(k)));
}

FailureOr<FlatSymbolRefAttr> ExecBuilder::dequantKernel(Value w, int64_t n,
                                                        int64_t k) {
  Type elem = cast<exec::BufferType>(w.getType()).getElementType();
  if (!options().cuda || !isa<Float8E4M3FNType, Float4E2M1FNType>(elem))
    return FlatSymbolRefAttr();
  KernelSpecialization spec{isa<Float8E4M3FNType>(elem) ? "dequant_fp8" : "dequant_mxfp4"};
  spec.set("N", n).set("K", k);
  setQuantizedSizes(spec, elem, n, k);
  auto kernel = lowering.kernels.get(spec, loc);
  if (failed(kernel))
    return failure();
  return FlatSymbolRefAttr::get(*kernel);
}

FailureOr<FlatSymbolRefAttr> ExecBuilder::actQuantKernel(Value a, Value w, Value c,
                                                         Affine rows, int64_t groups,
                                                         int64_t n, int64_t k) {
  Type elem = cast<exec::BufferType>(w.getType()).getElementType();
  // cuBLASLt's GEMMs write each group's rows rounded up to a multiple of 8
  // (quantize_fp8_act's pad rows, whose results are 0): C, the lowering's
  // own buffer, gets room for 8 more rows than it holds. A C that is not
  // one (a function's input or output) keeps the dequant engine.
  auto alloc = c.getDefiningOp<exec::AllocOp>();
  if (!options().cuda || !options().cudaFp8BlockScaled || !isa<Float8E4M3FNType>(elem) ||
      !moert::fp8BlockScaledGemmFits(n, k) || !alloc)
    return FlatSymbolRefAttr();
  Affine bytes = exec::toAffine(alloc.getBytes());
  bytes.fixed += 8 * n * bytesOf(cast<exec::BufferType>(c.getType()).getElementType());
  alloc.setBytesAttr(affine(bytes));
  int64_t kb = moert::fp8Blocks(k), mr = maxRows(rows);
  int64_t qr = moert::fp8ActRows(mr, groups);
  KernelSpecialization spec{"quantize_fp8_act"};
  spec.set("E", groups).set("K", k).set("KB", kb).set("MR", mr).set("QR", qr).set("QS", kb * qr);
  spec.setElementType("AT", cast<exec::BufferType>(a.getType()).getElementType());
  auto kernel = lowering.kernels.get(spec, loc);
  if (failed(kernel))
    return failure();
  return FlatSymbolRefAttr::get(*kernel);
}

LogicalResult ExecBuilder::gemm(Value a, Value w, Value c, Affine rows,
                                int64_t n, int64_t k) {
  auto in = operandFor(a, w, rows, k);
  auto dequant = dequantKernel(w, n, k);
  if (failed(in) || failed(dequant))
    return failure();
  auto actQuant = actQuantKernel(*in, w, c, rows, 1, n, k);
  if (failed(actQuant))
    return failure();
  exec::GemmOp::create(rewriter, loc, *in, w, c, affine(rows),
                       rewriter.getI64IntegerAttr(n),
                       rewriter.getI64IntegerAttr(k), /*accumulate=*/nullptr,
                       int8Activations(w), *dequant, *actQuant);
  return success();
}

LogicalResult ExecBuilder::groupedGemm(Value a, Value w, Value offsets, Value c,
                                       Affine rows, int64_t experts, int64_t n,
                                       int64_t k, Value map) {
  auto in = operandFor(a, w, rows, k);
  auto dequant = dequantKernel(w, n, k);
  if (failed(in) || failed(dequant))
    return failure();
  auto actQuant = actQuantKernel(*in, w, c, rows, experts, n, k);
  if (failed(actQuant))
    return failure();
  auto op = exec::GroupedGemmOp::create(
      rewriter, loc, *in, w, offsets, map, c, affine(rows),
      rewriter.getI64IntegerAttr(experts), rewriter.getI64IntegerAttr(n),
      rewriter.getI64IntegerAttr(k), /*gemv=*/nullptr,
      /*gemv_max_tokens=*/nullptr, int8Activations(w), *dequant, *actQuant);
  // A rank's slots (map) run on cuBLAS, which the exchange before them
  // already synchronizes for: the generated kernel takes no map.
  int64_t gemvMaxTokens = options().gemvMaxTokens;
  if (gemvMaxTokens < 1 || map)
    return success();
  // The CUDA target's engine for T <= gemvMaxTokens: the generated kernel.
  Type elem = cast<exec::BufferType>(w.getType()).getElementType();
  bool fp8 = isa<Float8E4M3FNType>(elem), mxfp4 = isa<Float4E2M1FNType>(elem);
  KernelSpecialization spec{fp8     ? "grouped_gemv_fp8_warp"
                            : mxfp4 ? "grouped_gemv_mxfp4_warp"
                                    : "grouped_gemv_warp"};
  spec.set("E", experts).set("N", n).set("K", k).set("MR", maxRows(rows));
  if (fp8 || mxfp4)
    setQuantizedSizes(spec, elem, n, k);
  else
    spec.setElementType("DT", elem);
  spec.setElementType("CT", cast<exec::BufferType>(c.getType()).getElementType());
  auto kernel = lowering.kernels.get(spec, loc);
  if (failed(kernel))
    return failure();
  op.setGemvAttr(FlatSymbolRefAttr::get(*kernel));
  // No run has more than maxTokens tokens: a larger bound means "every T".
  op.setGemvMaxTokensAttr(rewriter.getI64IntegerAttr(
      std::min(gemvMaxTokens, options().maxTokens)));
  return success();
}

Value ExecBuilder::gateUpWeight(Value gate, Value up) {
  if (!options().fuseGateUp || !gate)
    return Value();
  auto g = gate.getDefiningOp<exec::WeightOp>(), u = up.getDefiningOp<exec::WeightOp>();
  auto type = cast<exec::BufferType>(gate.getType());
  ArrayRef<int64_t> shape = type.getShape();
  int64_t f = shape[shape.size() - 2];
  // The stacked matrices are stored as one weight of their shape would be:
  // the gate's rows end at a panel (for fp8, a scale block) boundary.
  if (!g || !u || up.getType() != gate.getType() ||
      f % exec::stackedRowsMultiple(type.getElementType()) != 0 ||
      g.getRandomSeed().has_value() != u.getRandomSeed().has_value())
    return Value();
  SmallVector<int64_t> stacked(shape);
  stacked[stacked.size() - 2] = 2 * f;
  return exec::ConcatWeightsOp::create(
      rewriter, loc,
      exec::BufferType::get(rewriter.getContext(), stacked, type.getElementType()), gate, up);
}

FailureOr<Value> ExecBuilder::glu(Value gate, Value up, Affine rows, int64_t width,
                                  moe::Activation act, double alpha, double limit,
                                  Value next, bool fused) {
  KernelSpecialization spec{"glu"};
  spec.set("ROWS", maxRows(rows)).set("F", width);
  spec.set("LD", fused ? 2 * width : width).set("UOFF", fused ? width : 0);
  spec.setF32("ALPHA", alpha).setF32("LIMIT", limit);
  spec.flag(activationFlag(act)).flag("GATED", bool(gate));
  // gate and up: f32, or the projections' 16-bit results (ffnHolds16).
  spec.setElementType("GT", cast<exec::BufferType>(up.getType()).getElementType());
  spec.setElementType("OT", f32()); // (unless it writes `out`: its type)
  SmallVector<Value> args;
  if (gate)
    args.push_back(gate);
  args.push_back(up);
  // With 16-bit activations (ACT16) the kernel rounds gate and up as it
  // reads them and its result to their type.
  if (rounds16())
    spec.flag("ACT16").flag("TO_F16", lowering.activationType.isF16());
  Value result = gate ? gate : up;
  if (fused) {
    // One GEMM's [gate | up]: the result goes to a buffer of its own, of
    // the type the next GEMM reads (rounded as it is stored).
    Type elem = next ? operandType(cast<exec::BufferType>(next.getType()).getElementType())
                     : f32();
    result = alloc(rows, {width}, elem);
    spec.flag("OUT").setElementType("OT", elem);
    args.push_back(result);
  } else {
    // In place; the rounded copy for a next GEMM that reads 16 bits.
    bool copy = next && (!rounds16() ||
                         operandType(cast<exec::BufferType>(next.getType())
                                         .getElementType()) == lowering.activationType);
    result = roundGluOutput(spec, args, result, copy ? next : Value(), rows, width);
  }
  if (failed(launch(spec, args, rows, 32)))
    return failure();
  return result;
}

FailureOr<Value> ExecBuilder::ffnHidden(
    Value gate, Value up, Value down, Affine rows, int64_t f, Type inner, moe::FfnAttr ffn,
    bool stack, function_ref<LogicalResult(Value, Value, int64_t, int)> project) {
  double alpha = ffn.getAlpha().convertToDouble(), limit = ffn.getLimit().convertToDouble();
  if (Value gateUp = stack ? gateUpWeight(gate, up) : Value()) {
    Value c = alloc(rows, {2 * f}, inner);
    if (failed(project(gateUp, c, 2 * f, /*part=*/-1)))
      return failure();
    return glu(c, c, rows, f, ffn.getActivation(), alpha, limit, down, /*fused=*/true);
  }
  Value gateOut;
  if (gate) {
    gateOut = alloc(rows, {f}, inner);
    if (failed(project(gate, gateOut, f, /*part=*/0)))
      return failure();
  }
  Value u = alloc(rows, {f}, inner);
  if (failed(project(up, u, f, /*part=*/1)))
    return failure();
  return glu(gateOut, u, rows, f, ffn.getActivation(), alpha, limit, down);
}

LogicalResult ExecBuilder::expertBias(Value c, Value bias, Value offsets,
                                      Affine rows, int64_t experts,
                                      int64_t width, Value map) {
  if (!bias)
    return success();
  auto b = weight(bias);
  if (failed(b))
    return failure();
  if (map) { // a rank's slots: group g adds the bias of expert map[g]
    KernelSpecialization spec{"expert_bias_mapped"};
    spec.set("ROWS", maxRows(rows)).set("COLS", width).set("G", experts)
        .set("EW", dimOf(bias, 0));
    return launch(spec, {c, *b, offsets, map}, rows, 16);
  }
  KernelSpecialization spec{"expert_bias"};
  spec.set("ROWS", maxRows(rows)).set("COLS", width).set("E", experts);
  return launch(spec, {c, *b, offsets}, rows, 16);
}

namespace {

struct ExpertFfnLowering : ExecPattern<moe::ExpertFfnOp> {
  using ExecPattern::ExecPattern;
  LogicalResult
  matchAndRewrite(moe::ExpertFfnOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ExecBuilder b = builder(rewriter, op);
    Value xp = adaptor.getInput(), off = adaptor.getOffsets();
    auto up = b.ffnWeight(op.getUpWeight()),
         down = b.ffnWeight(op.getDownWeight());
    if (failed(up) || failed(down))
      return failure();
    Affine r = b.rowsOf(xp);
    // With an expert map, the groups are a rank's slots (moe.exchange).
    Value map = adaptor.getExpertMap();
    int64_t e = map ? dimOf(op.getExpertMap(), 0) : dimOf(op.getUpWeight(), 0),
            f = dimOf(op.getUpWeight(), 1), h = dimOf(op.getUpWeight(), 2);
    // A rank's slots: its kernels run over the rows received (offsets[e]),
    // not the whole receive bound.
    if (map && r.perToken == 0)
      b.limitRows(off, e, r.fixed);
    moe::FfnAttr ffn = op.getFfn();
    // Activations held in the function's 16-bit type (Rounding.cpp): the
    // projections write their results rounded, the GLU reads them.
    bool holds16 = b.ffnHolds16(op);
    Type inner = holds16 ? b.activationType() : b.f32();
    Value gate;
    if (op.getGateWeight()) {
      auto g = b.ffnWeight(op.getGateWeight());
      if (failed(g))
        return failure();
      gate = *g;
    }
    // Gate and up as one GEMM over their stacked weights (no biases to add
    // between the GEMM and the GLU), or one GEMM each.
    Value biases[] = {op.getGateBias(), op.getUpBias()};
    auto glued = b.ffnHidden(
        gate, *up, *down, r, f, inner, ffn, !biases[0] && !biases[1],
        [&](Value w, Value c, int64_t n, int part) -> LogicalResult {
          if (failed(b.groupedGemm(xp, w, off, c, r, e, n, h, map)))
            return failure();
          return part < 0 ? success() : b.expertBias(c, biases[part], off, r, e, n, map);
        });
    if (failed(glued))
      return failure();
    // The experts' outputs in the activation type too when only combines
    // read them (written rounded): y stands for them, unwritten.
    Value y = b.allocFor(op.getResult(), r), out = y;
    if (holds16 && b.combinedOnly(op.getResult())) {
      out = b.alloc(r, {h}, inner);
      b.hold16(y, out);
    }
    if (failed(b.groupedGemm(*glued, *down, off, out, r, e, h, f, map)) ||
        failed(b.expertBias(out, op.getDownBias(), off, r, e, h, map)) ||
        (out == y && failed(b.roundResult(op.getResult(), y, r, h))))
      return failure();
    rewriter.replaceOp(op, y);
    return success();
  }
};

struct GroupedMatmulLowering : ExecPattern<moe::GroupedMatmulOp> {
  using ExecPattern::ExecPattern;
  LogicalResult
  matchAndRewrite(moe::GroupedMatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ExecBuilder b = builder(rewriter, op);
    auto w = b.ffnWeight(op.getWeight());
    if (failed(w))
      return failure();
    Affine r = b.rowsOf(adaptor.getInput());
    Value y = b.allocFor(op.getResult(), r);
    int64_t n = dimOf(op.getWeight(), 1);
    if (failed(b.groupedGemm(adaptor.getInput(), *w, adaptor.getOffsets(), y, r,
                             dimOf(op.getWeight(), 0), n,
                             dimOf(op.getWeight(), 2))) ||
        failed(b.roundResult(op.getResult(), y, r, n)))
      return failure();
    rewriter.replaceOp(op, y);
    return success();
  }
};

struct GluLowering : ExecPattern<moe::GluOp> {
  using ExecPattern::ExecPattern;
  LogicalResult
  matchAndRewrite(moe::GluOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (!op.getUp())
      return op.emitError() << "moe-lower-to-exec: the fused one-operand "
                               "moe.glu is not supported yet";
    if (cast<RankedTensorType>(op.getGate().getType()).getRank() != 2)
      return op.emitError() << "moe-lower-to-exec: moe.glu must be 2-D here";
    ExecBuilder b = builder(rewriter, op);
    Value g = adaptor.getGate(), u = adaptor.getUp();
    Affine r = b.rowsOf(g);
    int64_t f = dimOf(op.getGate(), 1);
    Value out = b.allocFor(op.getResult(), r);
    exec::CopyOp::create(rewriter, op.getLoc(), g, out,
                         b.affine(scale(r, f * kWord)));
    if (failed(b.glu(out, u, r, f, op.getActivation(),
                     op.getAlpha().convertToDouble(),
                     op.getLimit().convertToDouble())))
      return failure();
    rewriter.replaceOp(op, out);
    return success();
  }
};

struct SharedExpertLowering : ExecPattern<moe::SharedExpertOp> {
  using ExecPattern::ExecPattern;
  LogicalResult
  matchAndRewrite(moe::SharedExpertOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ExecBuilder b = builder(rewriter, op);
    Value x = adaptor.getInput();
    Affine t = b.rowsOf(x);
    int64_t f = dimOf(op.getUpWeight(), 0), h = dimOf(op.getUpWeight(), 1);
    Value y = b.allocFor(op.getResult(), t);
    if (f == 0) { // an empty FFN adds exactly 0
      exec::FillOp::create(rewriter, op.getLoc(), y,
                           b.affine(scale(t, h * kWord)),
                           rewriter.getI32IntegerAttr(0));
      rewriter.replaceOp(op, y);
      return success();
    }
    auto up = b.ffnWeight(op.getUpWeight()),
         down = b.ffnWeight(op.getDownWeight());
    if (failed(up) || failed(down))
      return failure();
    moe::FfnAttr ffn = op.getFfn();
    // A 16-bit function whose FFN GEMMs read its activation type holds the
    // FFN's activations in that type (Rounding.cpp): the GEMMs write them
    // rounded; the result too when only combines read it (y stands for it).
    bool holds16 = b.ffnGemmsRead16();
    Type inner = holds16 ? b.activationType() : b.f32();
    Value gate;
    if (op.getGateWeight()) {
      auto g = b.ffnWeight(op.getGateWeight());
      if (failed(g))
        return failure();
      gate = *g;
    }
    Value out = y;
    if (holds16 && b.combinedOnly(op.getResult())) {
      out = b.alloc(t, {h}, inner);
      b.hold16(y, out);
    }
    // Gate and up as one GEMM over their stacked weights, or one GEMM each.
    auto glued = b.ffnHidden(gate, *up, *down, t, f, inner, ffn, /*stack=*/true,
                             [&](Value w, Value c, int64_t n, int) {
                               return b.gemm(x, w, c, t, n, h);
                             });
    if (failed(glued) || failed(b.gemm(*glued, *down, out, t, h, f)))
      return failure();
    // With 16-bit activations: the FFN's result rounded (written so when it
    // is held in 16 bits), then its product with the sigmoid gate.
    if (Value sg = op.getSigmoidGate()) {
      auto g = b.bufferOf(sg, adaptor.getSigmoidGate());
      if (failed(g) || (out == y && failed(b.roundActivation(y, t, h))))
        return failure();
      KernelSpecialization spec{"elementwise_sigmoid_scale"};
      spec.set("ROWS", b.maxRows(t)).set("COLS", h).set("H", h);
      spec.setElementType("YT", cast<exec::BufferType>(out.getType()).getElementType());
      if (failed(b.launch(spec, {x, *g, out}, t, 16)))
        return failure();
    }
    if (out != y) {
      rewriter.replaceOp(op, y);
      return success();
    }
    if (failed(b.roundResult(op.getResult(), y, t, h)))
      return failure();
    rewriter.replaceOp(op, y);
    return success();
  }
};

} // namespace

void moec::populateExpertFfnToExecPatterns(ExecLowering &lowering,
                                           RewritePatternSet &patterns) {
  patterns.add<ExpertFfnLowering, GroupedMatmulLowering, GluLowering,
               SharedExpertLowering>(lowering);
}
