//===- Combine.cpp - the weighted combine to exec -------------------------===//
//
// moe.combine: out[t] = Σ_j w[t, j] · y[slot_row[t, j]], with a dropped
// slot's passthrough (Switch) and an addend (shared expert, residual) fused
// into the same combine kernel.
//
//===----------------------------------------------------------------------===//
#include "moec/Conversion/MoeToExec.h"

using namespace mlir;
using namespace moec;
using exec::Affine;

namespace {

struct CombineLowering : ExecPattern<moe::CombineOp> {
  using ExecPattern::ExecPattern;
  LogicalResult
  matchAndRewrite(moe::CombineOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ExecBuilder b = builder(rewriter, op);
    auto y = b.bufferOf(op.getExpertOut(), adaptor.getExpertOut()),
         w = b.bufferOf(op.getWeights(), adaptor.getWeights()),
         sr = b.bufferOf(op.getSlotRow(), adaptor.getSlotRow());
    if (failed(y) || failed(w) || failed(sr))
      return failure();
    Affine t = b.rowsOf(*w);
    int64_t h = dimOf(op.getExpertOut(), 1), k = dimOf(op.getWeights(), 1);
    KernelSpecialization spec{"combine"};
    spec.set("MT", b.maxRows(t)).set("RMAX", b.maxRows(b.rowsOf(*y)));
    spec.set("H", h).set("K", k);
    spec.flag("PASSTHROUGH", bool(op.getPassthrough()));
    spec.flag("ADDEND", bool(op.getAddend()));
    // The experts' outputs, held in a 16-bit function's activation type.
    Value rows = *y;
    if (Value held = b.held16(*y))
      rows = held;
    spec.setElementType("YT", cast<exec::BufferType>(rows.getType()).getElementType());
    SmallVector<Value> args{rows, *w, *sr};
    Type addendType = b.f32();
    for (auto [v, adapted] : {std::pair(op.getPassthrough(), adaptor.getPassthrough()),
                              std::pair(op.getAddend(), adaptor.getAddend())}) {
      if (!v)
        continue;
      auto bv = b.bufferOf(v, adapted);
      if (failed(bv))
        return failure();
      // The addend (a shared expert's output) held in 16 bits.
      Value held = v == op.getAddend() ? b.held16(*bv) : Value();
      if (held)
        addendType = cast<exec::BufferType>(held.getType()).getElementType();
      args.push_back(held ? held : *bv);
    }
    spec.setElementType("AT", addendType);
    // A 16-bit function's output: the sums rounded once, as they are
    // stored, with no f32 copy (ReturnLowering outputs it as it is; out
    // stands for it, unwritten).
    Value out = b.allocFor(op.getResult(), t), dst = out;
    if (b.rounds16() && b.onlyReturned(op.getResult())) {
      dst = b.alloc(t, {h}, b.activationType());
      b.hold16(out, dst);
    }
    spec.setElementType("OT", cast<exec::BufferType>(dst.getType()).getElementType());
    args.push_back(dst);
    if (failed(b.launch(spec, args, t, 8)) ||
        failed(b.roundResult(op.getResult(), out, t, h)))
      return failure();
    rewriter.replaceOp(op, out);
    return success();
  }
};

} // namespace

void moec::populateCombineToExecPatterns(ExecLowering &lowering,
                                         RewritePatternSet &patterns) {
  patterns.add<CombineLowering>(lowering);
}
