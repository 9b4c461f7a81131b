//===- LowerToExec.cpp - moe graphs → exec plans (cpu and cuda) -----------===//
//
// The pass: checks its options and each function, then converts the function
// with the patterns of MoeToExec.h (one file per op family, under
// MoeToExec/), and turns the function's tensor arguments into exec.input
// buffers. Rows past the ones the dispatch fills carry the token -1 and stay
// zero through the expert computation. Offsets are exec-plan-memory's.
//
//===----------------------------------------------------------------------===//
#include "moec/Conversion/Passes.h"

#include "moec/Conversion/MoeToExec.h"
#include "moe/MoeDialect.h"
#include "moert/intq.h"

#include "exec/ExecDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

#include "llvm/ADT/StringSwitch.h"

namespace moec {
#define GEN_PASS_DEF_MOELOWERTOEXEC
#include "moec/Conversion/Passes.h.inc"
} // namespace moec

using namespace mlir;
using namespace moec;
using exec::Affine;

namespace {

/// The FFN weights (of ffnType) that `op` reads as GEMM operands.
SmallVector<Value, 3> ffnWeights(Operation *op) {
  if (auto e = dyn_cast<moe::ExpertFfnOp>(op))
    return {e.getGateWeight(), e.getUpWeight(), e.getDownWeight()};
  if (auto s = dyn_cast<moe::SharedExpertOp>(op))
    return {s.getGateWeight(), s.getUpWeight(), s.getDownWeight()};
  if (auto g = dyn_cast<moe::GroupedMatmulOp>(op))
    return {g.getWeight()};
  return {};
}

/// What the patterns assume of a function: activations [T, H] in and out
/// of one type (f32, bf16 or f16; the function's activation type, returned),
/// and only ops that the conversion target leaves or a pattern lowers
/// (casts are the conversion's own, not the program's).
FailureOr<Type> checkLowerable(func::FuncOp fn, const ConversionTarget &legal,
                               const FrozenRewritePatternSet &patterns,
                               WeightType weightType, int64_t groupSize) {
  FunctionType type = fn.getFunctionType();
  Type act;
  for (Type t : llvm::concat<const Type>(type.getInputs(), type.getResults())) {
    auto tensor = dyn_cast<RankedTensorType>(t);
    Type elem = tensor ? tensor.getElementType() : Type();
    if (!tensor || tensor.getRank() != 2 || !tensor.isDynamicDim(0) ||
        !(elem.isF32() || elem.isBF16() || elem.isF16()) || (act && elem != act)) {
      InFlightDiagnostic diag =
          fn.emitError() << "moe-lower-to-exec: the plan compiles functions of "
                            "tensors with a dynamic token dimension, "
                            "tensor<?xHxf32> (or bf16, or f16), of one element "
                            "type in and out; @"
                         << fn.getSymName() << " has " << t;
      if (act && elem && elem != act)
        diag << " besides " << act;
      return diag;
    }
    act = elem;
  }
  if (!act)
    return fn.emitError() << "moe-lower-to-exec: @" << fn.getSymName()
                          << " takes and returns no tensor";
  for (Operation &op : fn.getBody().front()) {
    // MXFP4 shares a scale among 32 values along K, int8 and int4 among
    // group-size values: K must hold whole groups.
    bool mxfp4 = weightType == WeightType::MXFP4;
    int64_t group = mxfp4 ? 32 : isIntWeightType(weightType) ? groupSize : 0;
    if (group > 0)
      for (Value w : ffnWeights(&op)) {
        auto t = w ? dyn_cast<RankedTensorType>(w.getType()) : nullptr;
        if (!t || (t.getRank() >= 2 && t.getShape().back() % group == 0))
          continue;
        if (mxfp4)
          return op.emitError()
                 << "moe-lower-to-exec: weight-type mxfp4 shares a scale among "
                    "32 values along K, so K (the last dimension of each FFN "
                    "weight) must be a multiple of 32; this op's weight is "
                 << t << " (weight-type fp8, bf16 or f32 takes any K)";
        return op.emitError()
               << "moe-lower-to-exec: weight-type " << stringify(weightType)
               << " shares a scale among group-size = " << group
               << " values along K, so K (the last dimension of each FFN "
                  "weight) must be a multiple of it; this op's weight is "
               << t << (group > 32 ? " (try group-size 32)" : "");
      }
    bool lowered = !isa<UnrealizedConversionCastOp>(op) &&
                   (legal.isLegal(&op) ||
                    patterns.getOpSpecificNativePatterns().count(op.getName()));
    if (!lowered)
      return op.emitError() << "moe-lower-to-exec: '" << op.getName()
                            << "' is not supported (run moe-expand-blocks "
                               "first for moe.block)";
    for (Value v : llvm::concat<Value>(op.getOperands(), op.getResults()))
      if (auto t = dyn_cast<RankedTensorType>(v.getType());
          t && !isa<moe::WeightOp>(op) && !v.getDefiningOp<moe::WeightOp>() &&
          !t.getElementType().isF32() && !t.getElementType().isInteger(32) &&
          t.getElementType() != act)
        return op.emitError() << "moe-lower-to-exec: activations are "
                              << act << " in @" << fn.getSymName()
                              << " (its inputs' type; router values f32); this value is "
                              << t;
  }
  return act;
}

/// After the conversion: the function's inputs become exec.input buffers
/// (T rows each; 16-bit ones widened to f32 for the plan), what is left of
/// the tensor program goes, and the function takes and returns nothing (its
/// outputs are exec.output ops).
LogicalResult finishPlan(func::FuncOp fn, ExecLowering &lowering) {
  Block &body = fn.getBody().front();
  IRRewriter rewriter(fn.getContext());
  ExecBuilder b(lowering, rewriter, fn.getLoc());
  for (BlockArgument arg : body.getArguments()) {
    Value in = b.input(arg);
    if (!lowering.activations().isF32() && !arg.use_empty()) {
      rewriter.setInsertionPointAfter(in.getDefiningOp());
      auto widened = b.widenInput(
          in, {1, 0}, cast<exec::BufferType>(in.getType()).getShape()[1]);
      if (failed(widened))
        return failure();
      in = *widened;
    }
    arg.replaceAllUsesWith(in);
  }
  // Inputs in the order of the arguments (ExecBuilder::input makes them at
  // the block's start, first use first).
  for (BlockArgument arg : llvm::reverse(body.getArguments()))
    lowering.inputFor(arg).getDefiningOp()->moveBefore(&body.front());
  for (Operation &op : llvm::make_early_inc_range(llvm::reverse(body))) {
    if (isa<exec::ExecDialect>(op.getDialect()) || isa<func::ReturnOp>(op))
      continue;
    op.dropAllUses();
    op.erase();
  }
  body.eraseArguments(0, body.getNumArguments());
  // The f32 buffers that stood for values held in 16 bits only (hold16):
  // nothing reads or writes them.
  for (auto &[placeholder, held] : lowering.held16Buffers()) {
    if (!placeholder.use_empty())
      return placeholder.getDefiningOp()->emitError()
             << "moe-lower-to-exec: an activation held in 16 bits is still read in f32";
    rewriter.eraseOp(placeholder.getDefiningOp());
  }
  fn.setFunctionType(FunctionType::get(fn.getContext(), {}, {}));
  return success();
}

struct MoeLowerToExecPass
    : moec::impl::MoeLowerToExecBase<MoeLowerToExecPass> {
  using moec::impl::MoeLowerToExecBase<MoeLowerToExecPass>::MoeLowerToExecBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (maxTokens < 1 || maxTokens > moe::kMaxTokensLimit) {
      module.emitError() << "moe-lower-to-exec: max-tokens must be in [1, "
                         << moe::kMaxTokensLimit << "], got "
                         << maxTokens.getValue();
      return signalPassFailure();
    }
    Type ffnType = weightType == WeightType::BF16
                       ? Type(BFloat16Type::get(&getContext()))
                   : weightType == WeightType::F16
                       ? Type(Float16Type::get(&getContext()))
                   : weightType == WeightType::FP8
                       ? Type(Float8E4M3FNType::get(&getContext()))
                   : weightType == WeightType::MXFP4
                       ? Type(Float4E2M1FNType::get(&getContext()))
                   : weightType == WeightType::INT8
                       ? Type(IntegerType::get(&getContext(), 8))
                   : weightType == WeightType::INT4
                       ? Type(IntegerType::get(&getContext(), 4))
                       : Type(Float32Type::get(&getContext()));
    bool cuda = target == ExecTarget::Cuda;
    if (isIntWeightType(weightType) && !moert::validIntGroup(groupSize)) {
      module.emitError() << "moe-lower-to-exec: group-size must be 32, 64 or 128, got "
                         << groupSize.getValue();
      return signalPassFailure();
    }
    if (cuda && isIntWeightType(weightType)) {
      module.emitError() << "moe-lower-to-exec: " << stringify(weightType.getValue())
                         << " weights run on the cpu target only (the cuda target has "
                            "no integer GEMM kernels yet; weight-type bf16 or f32 runs "
                            "there)";
      return signalPassFailure();
    }
    if (gemvMaxTokens < 0 || (gemvMaxTokens > 0 && !cuda)) {
      module.emitError() << "moe-lower-to-exec: gemv-max-tokens is a T >= 0 "
                            "for the cuda target, got "
                         << gemvMaxTokens.getValue() << " for target '"
                         << stringify(target) << "'";
      return signalPassFailure();
    }
    getContext().getLoadedDialect<exec::ExecDialect>()->getTargetAttrHelper().setAttr(
        module, StringAttr::get(&getContext(), stringify(target)));
    OpBuilder b(&getContext());
    b.setInsertionPointToEnd(module.getBody());
    auto kernels = ModuleOp::create(b, module.getLoc(), StringRef("kernels"));
    KernelLibrary library(kernels);
    ExecLowering lowering(&getContext(), library,
                          {maxTokens, cuda, gemvMaxTokens, ffnType,
                           isIntWeightType(weightType) ? int64_t(groupSize) : 0,
                           int8Activations,
                           // Not given: the target's default (docs/compiler.md).
                           fuseGateUp.hasValue() ? bool(fuseGateUp) : cuda,
                           bool(fp8Cublaslt)});
    ExecTypeConverter &types = lowering.getTypeConverter();
    RewritePatternSet patterns(&getContext());
    populateMoeToExecPatterns(lowering, patterns);
    populateFunctionOpInterfaceTypeConversionPattern<func::FuncOp>(patterns,
                                                                   types);
    FrozenRewritePatternSet frozen(std::move(patterns));

    ConversionTarget legal(getContext());
    legal.addLegalDialect<exec::ExecDialect>();
    legal.addIllegalDialect<moe::MoeDialect>();
    // Weights become exec.weights at their first use; dims of T are the
    // runtime's. Both go with the tensor program afterwards (finishPlan).
    legal.addLegalOp<moe::WeightOp, tensor::DimOp, UnrealizedConversionCastOp>();
    legal.addDynamicallyLegalOp<arith::ConstantOp>(
        [](arith::ConstantOp c) { return c.getType().isIndex(); });
    legal.addDynamicallyLegalOp<func::FuncOp>([&](func::FuncOp fn) {
      return types.isSignatureLegal(fn.getFunctionType());
    });
    legal.addDynamicallyLegalOp<func::ReturnOp>(
        [](func::ReturnOp op) { return op.getNumOperands() == 0; });
    legal.addDynamicallyLegalOp<arith::AddFOp>(
        [](arith::AddFOp op) { return !isa<TensorType>(op.getType()); });

    auto *dialect = getContext().getLoadedDialect<exec::ExecDialect>();
    for (auto fn : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (fn.isExternal())
        continue;
      auto act = checkLowerable(fn, legal, frozen, weightType, groupSize);
      if (failed(act))
        return signalPassFailure();
      lowering.beginFunction(*act);
      if (failed(applyPartialConversion(fn.getOperation(), legal, frozen)) ||
          failed(finishPlan(fn, lowering)))
        return signalPassFailure();
      dialect->getMaxTokensAttrHelper().setAttr(
          fn, b.getI64IntegerAttr(maxTokens));
    }
  }
};

} // namespace
