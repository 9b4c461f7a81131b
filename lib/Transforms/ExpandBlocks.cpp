//===- ExpandBlocks.cpp - moe.block → primitives --------------------------===//
//
// Each moe.block becomes the primitives its definition names (see the op's
// description in MoeOps.td); nothing is approximated on the way.
//
//===----------------------------------------------------------------------===//
#include "moec/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace moec {
#define GEN_PASS_DEF_MOEEXPANDBLOCKS
#include "moec/Transforms/Passes.h.inc"
} // namespace moec

using namespace mlir;
using namespace moec;
using namespace moec::moe;

namespace {

/// The rows × width tensor type of an expert-ordered buffer.
RankedTensorType rowsType(int64_t rows, int64_t width, Type elementType) {
  return RankedTensorType::get({rows, width}, elementType);
}

struct ExpandBlock : OpRewritePattern<BlockOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(BlockOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto xType = cast<RankedTensorType>(x.getType());
    int64_t t = xType.getDimSize(0), h = xType.getDimSize(1);
    auto router = cast<RankedTensorType>(op.getRouterWeight().getType());
    int64_t e = router.getDimSize(0);
    Type f32 = rewriter.getF32Type(), i32 = rewriter.getI32Type();

    Value logits =
        RouterOp::create(rewriter, loc, RankedTensorType::get({t, e}, f32), x,
                         op.getRouterWeight(), op.getRouterBias(), op.getRouterNoise());

    Value shared;
    if (op.hasSharedExpert())
      shared = SharedExpertOp::create(rewriter, loc, xType, x,
                                      op.getSharedGateWeight(),
                                      op.getSharedUpWeight(),
                                      op.getSharedDownWeight(),
                                      op.getSharedExpertGate(), op.getFfn());

    Value result;
    if (auto routing = dyn_cast<RoutingAttr>(op.getRouting())) {
      int64_t k = routing.getK();
      auto topk = TopKOp::create(
          rewriter, loc, RankedTensorType::get({t, k}, f32),
          RankedTensorType::get({t, k}, i32), logits, op.getCorrectionBias(),
          routing);
      CapacityAttr capacity = op.getCapacityAttr();
      Value probs;
      if (capacity && capacity.getOverflow() == OverflowPolicy::reroute)
        probs = MixtureOp::create(rewriter, loc,
                                  RankedTensorType::get({t, e}, f32),
                                  RankedTensorType::get({t, e}, i32),
                                  routing.getScoring(), logits,
                                  rewriter.getF64FloatAttr(1.0))
                    .getWeights();
      auto indicesType = cast<RankedTensorType>(topk.getIndices().getType());
      auto dispatch = DispatchOp::create(
          rewriter, loc,
          DispatchOp::inferResultTypes(indicesType, e, capacity, /*block=*/1),
          topk.getIndices(), probs, e, capacity, /*block=*/1);
      int64_t rows =
          cast<RankedTensorType>(dispatch.getRowToken().getType()).getDimSize(0);
      Value xp = PermuteOp::create(rewriter, loc,
                                   rowsType(rows, h, xType.getElementType()), x,
                                   dispatch.getRowToken());
      Value y = ExpertFfnOp::create(
          rewriter, loc, xp.getType(), xp, dispatch.getOffsets(),
          /*expert_map=*/Value(), op.getGateWeight(), op.getUpWeight(), op.getDownWeight(),
          op.getUpBias(), op.getDownBias(), op.getGateBias(), op.getFfn());
      Value passthrough =
          op.getDropped() == DroppedPolicy::passthrough ? x : Value();
      result = CombineOp::create(rewriter, loc, xType, y, topk.getWeights(),
                                 dispatch.getSlotRow(), passthrough, shared);
    } else {
      auto config = cast<ExpertChoiceAttr>(op.getRouting());
      int64_t rows = ExpertChoiceOp::getNumRows(t, e, config);
      auto choice = ExpertChoiceOp::create(
          rewriter, loc, RankedTensorType::get({rows}, f32),
          RankedTensorType::get({rows}, i32),
          RankedTensorType::get({e + 1}, i32), logits, config, /*ranks=*/nullptr);
      Value xp = PermuteOp::create(rewriter, loc,
                                   rowsType(rows, h, xType.getElementType()), x,
                                   choice.getRowToken());
      Value y = ExpertFfnOp::create(rewriter, loc, xp.getType(), xp,
                                    choice.getOffsets(), /*expert_map=*/Value(),
                                    op.getGateWeight(),
                                    op.getUpWeight(), op.getDownWeight(),
                                    op.getUpBias(), op.getDownBias(),
                                    op.getGateBias(), op.getFfn());
      Value numTokens;
      if (ShapedType::isDynamic(t))
        numTokens = tensor::DimOp::create(rewriter, loc, x, 0);
      result = UnpermuteOp::create(rewriter, loc, xType, y,
                                   choice.getRowToken(), choice.getRowWeight(),
                                   numTokens);
      if (shared)
        result = arith::AddFOp::create(rewriter, loc, result, shared);
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct MoeExpandBlocksPass
    : moec::impl::MoeExpandBlocksBase<MoeExpandBlocksPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<ExpandBlock>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
