//===- Elementwise.cpp - additions and the plan's outputs to exec ---------===//
//
// arith.addf on 2-D tensors (a residual) becomes the elementwise kernel's
// ADD; func.return names its operands' buffers as the function's outputs
// ("y", or "y0", "y1", ... for several).
//
//===----------------------------------------------------------------------===//
#include "moec/Conversion/MoeToExec.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

using namespace mlir;
using namespace moec;
using exec::Affine;

namespace {

struct AddLowering : ExecPattern<arith::AddFOp> {
  using ExecPattern::ExecPattern;
  LogicalResult
  matchAndRewrite(arith::AddFOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = dyn_cast<RankedTensorType>(op.getType());
    if (!type)
      return failure(); // scalars are not this conversion's
    if (type.getRank() != 2)
      return op.emitError() << "moe-lower-to-exec: arith.addf is supported on "
                               "2-D tensors only";
    ExecBuilder b = builder(rewriter, op);
    auto lhs = b.bufferOf(op.getLhs(), adaptor.getLhs()),
         rhs = b.bufferOf(op.getRhs(), adaptor.getRhs());
    if (failed(lhs) || failed(rhs))
      return failure();
    Affine r = b.rowsOf(*lhs);
    KernelSpecialization spec{"elementwise_add"};
    spec.set("ROWS", b.maxRows(r)).set("COLS", type.getDimSize(1));
    Value out = b.allocFor(op.getResult(), r);
    if (failed(b.launch(spec, {*lhs, *rhs, out}, r, 64)) ||
        failed(b.roundResult(op.getResult(), out, r, type.getDimSize(1))))
      return failure();
    rewriter.replaceOp(op, out);
    return success();
  }
};

struct ReturnLowering : ExecPattern<func::ReturnOp> {
  using ExecPattern::ExecPattern;
  LogicalResult
  matchAndRewrite(func::ReturnOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ExecBuilder b = builder(rewriter, op);
    for (auto [i, v] : llvm::enumerate(op.getOperands())) {
      auto buffer = b.bufferOf(v, adaptor.getOperands()[i]);
      if (succeeded(buffer) && b.activations16()) // written rounded
        buffer = b.roundOutput(*buffer, b.rowsOf(*buffer),
                               cast<RankedTensorType>(v.getType()).getDimSize(1));
      if (failed(buffer))
        return failure();
      std::string name =
          op.getNumOperands() == 1 ? "y" : "y" + std::to_string(i);
      exec::OutputOp::create(rewriter, op.getLoc(),
                             rewriter.getStringAttr(name), *buffer,
                             /*aux=*/nullptr);
    }
    rewriter.replaceOpWithNewOp<func::ReturnOp>(op);
    return success();
  }
};

} // namespace

void moec::populateElementwiseToExecPatterns(ExecLowering &lowering,
                                             RewritePatternSet &patterns) {
  patterns.add<AddLowering, ReturnLowering>(lowering);
}

void moec::populateMoeToExecPatterns(ExecLowering &lowering,
                                     RewritePatternSet &patterns) {
  populateRoutingToExecPatterns(lowering, patterns);
  populateDispatchToExecPatterns(lowering, patterns);
  populateExpertFfnToExecPatterns(lowering, patterns);
  populateCombineToExecPatterns(lowering, patterns);
  populateExchangeToExecPatterns(lowering, patterns);
  populateElementwiseToExecPatterns(lowering, patterns);
}
