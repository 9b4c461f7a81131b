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

  /// Why `ffn` cannot be sharded, or "" when it can; sets the offsets and
  /// the row_token of the moe.dispatch or moe.expert_choice that planned its
  /// rows (and the expert choice, to run it over the ranks).
  static std::string refusal(ExpertFfnOp ffn, Value *offsets, Value *rowToken,
                             ExpertChoiceOp *choice) {
    if (ffn.getExpertMap())
      return "this moe.expert_ffn already runs on a rank's slots";
    auto permute = ffn.getInput().getDefiningOp<PermuteOp>();
    if ((*choice = ffn.getOffsets().getDefiningOp<ExpertChoiceOp>())) {
      if (choice->getRanks())
        return "its moe.expert_choice already chooses over ranks";
      if (!permute || permute.getRowToken() != choice->getRowToken())
        return "its rows and offsets must come from one moe.permute and "
               "moe.expert_choice";
      if (!ShapedType::isDynamic(
              cast<RankedTensorType>(choice->getRowToken().getType()).getDimSize(0)))
        return "expert-choice routing over ranks needs a dynamic token count "
               "(its rows are known only at run time)";
      *offsets = choice->getOffsets();
      *rowToken = choice->getRowToken();
      return "";
    }
    auto dispatch = ffn.getOffsets().getDefiningOp<DispatchOp>();
    if (!dispatch || !permute || permute.getRowToken() != dispatch.getRowToken())
      return "its rows and offsets must come from one moe.permute and "
             "moe.dispatch (run moe-expand-blocks first)";
    *offsets = dispatch.getOffsets();
    *rowToken = dispatch.getRowToken();
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
      Value offsets, rowToken;
      ExpertChoiceOp choice;
      if (std::string why = refusal(ffn, &offsets, &rowToken, &choice); !why.empty()) {
        ffn.emitError() << "moe-shard-experts: cannot shard these experts: " << why;
        return signalPassFailure();
      }
      // Expert choice: each expert chooses among every rank's tokens (the
      // logits gathered), each rank keeping its own rows of the choice.
      if (choice)
        choice.setRanksAttr(OpBuilder(choice).getI64IntegerAttr(ranks));
      int64_t e = cast<RankedTensorType>(offsets.getType()).getDimSize(0) - 1;
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
          ffn.getInput(), offsets, ranks.getValue(), s, recvRows.getValue());
      auto outType = cast<RankedTensorType>(ffn.getResult().getType());
      auto local = ExpertFfnOp::create(
          b, loc, RankedTensorType::get({ShapedType::kDynamic, outType.getDimSize(1)},
                                        outType.getElementType()),
          exchange.getReceived(), exchange.getSlotOffsets(), exchange.getSlotExperts(),
          ffn.getGateWeight(), ffn.getUpWeight(), ffn.getDownWeight(), ffn.getUpBias(),
          ffn.getDownBias(), ffn.getGateBias(), ffn.getFfn());
      auto back = ExchangeBackOp::create(
          b, loc, outType, local.getResult(), offsets, exchange.getSlotOffsets(),
          exchange.getCounts(), rowToken, ranks.getValue(), s);
      ffn.getResult().replaceAllUsesWith(back.getResult());
      ffn.erase();
    }
  }
};

} // namespace
