//===- Exchange.cpp - expert parallelism's exchanges to exec --------------===//
//
// moe.exchange and moe.exchange_back: one exec.exchange each, the runtime's
// collective over the session's communicator. The received rows get a
// buffer of the op's bound (recv_rows, or ranks times the dispatch's rows at
// max_tokens): the rows a rank receives depend on the other ranks' tokens,
// not on its own T.
//
//===----------------------------------------------------------------------===//
#include "moec/Conversion/MoeToExec.h"

using namespace mlir;
using namespace moec;
using exec::Affine;

namespace {

struct ExchangeLowering : ExecPattern<moe::ExchangeOp> {
  using ExecPattern::ExecPattern;
  LogicalResult
  matchAndRewrite(moe::ExchangeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ExecBuilder b = builder(rewriter, op);
    Value xp = adaptor.getInput();
    Affine rows = b.rowsOf(xp);
    int64_t ranks = op.getRanks(), slots = op.getSlots(),
            experts = dimOf(op.getOffsets(), 0) - 1;
    int64_t bound = op.getRecvRows() ? op.getRecvRows() : ranks * b.maxRows(rows);
    Value received = b.allocFor(op.getReceived(), {0, bound});
    Value slotOffsets = b.allocFor(op.getSlotOffsets(), {0, slots + 1});
    Value slotExperts = b.allocFor(op.getSlotExperts(), {0, slots});
    Value counts = b.allocFor(op.getCounts(), {0, ranks * slots});
    exec::ExchangeOp::create(rewriter, op.getLoc(), xp, adaptor.getOffsets(),
                             slotOffsets, slotExperts, counts, received,
                             b.affine(rows), bound, ranks, slots, experts,
                             /*back=*/false);
    rewriter.replaceOp(op, {received, slotOffsets, slotExperts, counts});
    return success();
  }
};

struct ExchangeBackLowering : ExecPattern<moe::ExchangeBackOp> {
  using ExecPattern::ExecPattern;
  LogicalResult
  matchAndRewrite(moe::ExchangeBackOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ExecBuilder b = builder(rewriter, op);
    Value results = adaptor.getInput();
    Affine recv = b.rowsOf(results), rows = b.rowsOf(adaptor.getRowToken());
    if (recv.perToken != 0)
      return op.emitError() << "moe-lower-to-exec: moe.exchange_back's input "
                               "must be the rows of a moe.exchange";
    // The forward exchange's slot_experts: the same buffer, read again.
    auto forward = op.getSlotOffsets().getDefiningOp<moe::ExchangeOp>();
    if (!forward)
      return op.emitError() << "moe-lower-to-exec: moe.exchange_back's "
                               "slot_offsets must come from a moe.exchange";
    auto slotExperts = rewriter.getRemappedValue(forward.getSlotExperts());
    if (!slotExperts)
      return failure();
    Value out = b.allocFor(op.getResult(), rows);
    exec::ExchangeOp::create(rewriter, op.getLoc(), results, adaptor.getOffsets(),
                             adaptor.getSlotOffsets(), slotExperts,
                             adaptor.getCounts(), out, b.affine(rows), recv.fixed,
                             op.getRanks(), op.getSlots(),
                             dimOf(op.getOffsets(), 0) - 1, /*back=*/true);
    rewriter.replaceOp(op, out);
    return success();
  }
};

} // namespace

void moec::populateExchangeToExecPatterns(ExecLowering &lowering,
                                          RewritePatternSet &patterns) {
  patterns.add<ExchangeLowering, ExchangeBackLowering>(lowering);
}
