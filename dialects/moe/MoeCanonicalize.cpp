//===- MoeCanonicalize.cpp - exact rewrites of moe ops --------------------===//
//
// Only rewrites that keep the op's value are here (see each pattern for the
// argument); they run under -canonicalize.
//
//===----------------------------------------------------------------------===//
#include "moe/MoeDialect.h"

#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace moec::moe;

namespace {

/// True when every use of `v` is by an op that reads its slots as an unordered
/// set: moe.combine (sums in expert order), moe.router_stats (counts), and
/// moe.dispatch without capacity (groups by expert, then by token).
bool onlySlotOrderInvariantUsers(Value v) {
  for (Operation *user : v.getUsers()) {
    if (isa<CombineOp, RouterStatsOp>(user))
      continue;
    if (auto dispatch = dyn_cast<DispatchOp>(user))
      if (!dispatch.getCapacityAttr())
        continue;
    return false;
  }
  return true;
}

/// moe.topk with k == E and no renormalization keeps every expert with its
/// score: it is the dense mixture `moe.mixture`, whose slots are in expert
/// order instead of score order. Every consumer must be order-invariant.
/// Group limits cannot remove an expert (k == E forces topk_group == n_group)
/// and the correction bias only orders the selection, so both drop out.
struct TopKAllExpertsToMixture : OpRewritePattern<TopKOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(TopKOp op,
                                PatternRewriter &rewriter) const override {
    RoutingAttr routing = op.getRouting();
    int64_t numExperts = op.getLogits().getType().getDimSize(1);
    if (routing.getK() != numExperts || routing.getRenormalize() ||
        routing.getSoftmaxAfterTopk())
      return rewriter.notifyMatchFailure(op, "not an unnormalized k == E top-k");
    if (!onlySlotOrderInvariantUsers(op.getWeights()) ||
        !onlySlotOrderInvariantUsers(op.getIndices()))
      return rewriter.notifyMatchFailure(op, "a user depends on slot order");
    auto mixture = MixtureOp::create(
        rewriter, op.getLoc(), op.getWeights().getType(),
        op.getIndices().getType(),
        routing.getScoring(),
        op.getLogits(), rewriter.getF64FloatAttr(routing.getScalingFactor().convertToDouble()));
    rewriter.replaceOp(op, mixture.getResults());
    return success();
  }
};

// softmax → top-k → renormalize is deliberately NOT rewritten into top-k on
// the logits → softmax over the k winners. In real arithmetic the two agree,
// but in f32 two logits that differ by less than half an ulp of the largest
// probability give equal probabilities, and the documented tie rule (the
// lower expert index wins) then picks a different expert than the larger
// logit does (test/e2e: near-tie routing).

/// A shared expert of width 0 adds exactly 0 (an empty sum): drop its operands
/// (and its sigmoid gate, whose factor multiplies that 0).
struct DropEmptySharedExpert : OpRewritePattern<BlockOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(BlockOp op,
                                PatternRewriter &rewriter) const override {
    Value up = op.getSharedUpWeight();
    if (!up || cast<RankedTensorType>(up.getType()).getDimSize(0) != 0)
      return rewriter.notifyMatchFailure(op, "no empty shared expert");
    rewriter.modifyOpInPlace(op, [&] {
      op.getSharedGateWeightMutable().clear();
      op.getSharedUpWeightMutable().clear();
      op.getSharedDownWeightMutable().clear();
      op.getSharedExpertGateMutable().clear();
    });
    return success();
  }
};

} // namespace

void TopKOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                         MLIRContext *context) {
  results.add<TopKAllExpertsToMixture>(context);
}

void BlockOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                          MLIRContext *context) {
  results.add<DropEmptySharedExpert>(context);
}
