//===- ShardExperts.cpp - expert parallelism: exchanges around the experts ===//
#include "moec/Transforms/Passes.h"

namespace moec {
#define GEN_PASS_DEF_MOESHARDEXPERTS
#include "moec/Transforms/Passes.h.inc"
} // namespace moec

using namespace mlir;
using namespace moec;
using namespace moec::moe;

namespace {

struct MoeShardExpertsPass
    : moec::impl::MoeShardExpertsBase<MoeShardExpertsPass> {
  using moec::impl::MoeShardExpertsBase<MoeShardExpertsPass>::MoeShardExpertsBase;

  /// Why `ffn` cannot be sharded, or "" when it can; sets the dispatch and
  /// the permute that feed it.
  static std::string refusal(ExpertFfnOp ffn, DispatchOp &dispatch,
                             PermuteOp &permute) {
    if (ffn.getExpertMap())
      return "this moe.expert_ffn already runs on a rank's slots";
    if (isa_and_nonnull<ExpertChoiceOp>(ffn.getOffsets().getDefiningOp()))
      return "expert-choice routing is not supported (each expert picks its "
             "tokens among all ranks' tokens, which needs an all-gather)";
    dispatch = ffn.getOffsets().getDefiningOp<DispatchOp>();
    permute = ffn.getInput().getDefiningOp<PermuteOp>();
    if (!dispatch || !permute || permute.getRowToken() != dispatch.getRowToken())
      return "its rows and offsets must come from one moe.permute and "
             "moe.dispatch (run moe-expand-blocks first)";
    return "";
  }

  void runOnOperation() override {
    if (ranks < 1 || slots < 0 || recvRows < 0) {
      getOperation().emitError()
          << "moe-shard-experts: ranks must be at least 1 and slots and "
             "recv-rows not negative, got ranks="
          << ranks.getValue() << " slots=" << slots.getValue()
          << " recv-rows=" << recvRows.getValue();
      return signalPassFailure();
    }
    SmallVector<ExpertFfnOp> ffns;
    getOperation().walk([&](ExpertFfnOp op) { ffns.push_back(op); });
    for (ExpertFfnOp ffn : ffns) {
      DispatchOp dispatch;
      PermuteOp permute;
      if (std::string why = refusal(ffn, dispatch, permute); !why.empty()) {
        ffn.emitError() << "moe-shard-experts: cannot shard these experts: " << why;
        return signalPassFailure();
      }
      int64_t e = dispatch.getNumExperts();
      int64_t s = slots ? slots.getValue() : (e + ranks - 1) / ranks;
      if (ranks * s < e) {
        ffn.emitError() << "moe-shard-experts: " << ranks.getValue()
                        << " ranks of " << s << " slots cannot hold the " << e
                        << " experts";
        return signalPassFailure();
      }
      OpBuilder b(ffn);
      Location loc = ffn.getLoc();
      auto rowsType = cast<RankedTensorType>(ffn.getInput().getType());
      auto i32 = b.getI32Type();
      auto received = RankedTensorType::get(
          {ShapedType::kDynamic, rowsType.getDimSize(1)}, rowsType.getElementType());
      auto exchange = ExchangeOp::create(
          b, loc, received, RankedTensorType::get({s + 1}, i32),
          RankedTensorType::get({s}, i32), RankedTensorType::get({ranks * s}, i32),
          ffn.getInput(), dispatch.getOffsets(), ranks.getValue(), s,
          recvRows.getValue());
      auto outType = cast<RankedTensorType>(ffn.getResult().getType());
      auto local = ExpertFfnOp::create(
          b, loc, RankedTensorType::get({ShapedType::kDynamic, outType.getDimSize(1)},
                                        outType.getElementType()),
          exchange.getReceived(), exchange.getSlotOffsets(), exchange.getSlotExperts(),
          ffn.getGateWeight(), ffn.getUpWeight(), ffn.getDownWeight(), ffn.getUpBias(),
          ffn.getDownBias(), ffn.getGateBias(), ffn.getFfn());
      auto back = ExchangeBackOp::create(
          b, loc, outType, local.getResult(), dispatch.getOffsets(),
          exchange.getSlotOffsets(), exchange.getCounts(), dispatch.getRowToken(),
          ranks.getValue(), s);
      ffn.getResult().replaceAllUsesWith(back.getResult());
      ffn.erase();
    }
  }
};

} // namespace
