//===- PlanDispatch.cpp - row padding of dispatches -----------------------===//
#include "moec/Transforms/Passes.h"

namespace moec {
#define GEN_PASS_DEF_MOEPLANDISPATCH
#include "moec/Transforms/Passes.h.inc"
} // namespace moec

using namespace mlir;
using namespace moec;
using namespace moec::moe;

namespace {

/// The users through which a dispatch's row count flows: the ops whose result
/// rows are those of their operand (permute, expert_ffn, grouped_matmul, glu)
/// or that consume rows (unpermute, combine). Returns the first other user.
Operation *findForeignRowUser(Value v) {
  for (Operation *user : v.getUsers()) {
    if (isa<CombineOp>(user))
      continue;
    if (auto u = dyn_cast<UnpermuteOp>(user);
        u && (u.getInput() == v || u.getRowToken() == v))
      continue;
    Value next;
    if (auto p = dyn_cast<PermuteOp>(user); p && p.getRowToken() == v)
      next = p.getResult();
    else if (auto f = dyn_cast<ExpertFfnOp>(user); f && f.getInput() == v)
      next = f.getResult();
    else if (auto g = dyn_cast<GroupedMatmulOp>(user); g && g.getInput() == v)
      next = g.getResult();
    else if (auto glu = dyn_cast<GluOp>(user);
             glu && (glu.getGate() == v || glu.getUp() == v))
      next = glu.getResult();
    else
      return user;
    if (Operation *foreign = findForeignRowUser(next))
      return foreign;
  }
  return nullptr;
}

/// Gives `v` (and what follows it, as above) the row count `rows` in dim 0.
void retypeRows(Value v, int64_t rows) {
  auto type = cast<RankedTensorType>(v.getType());
  if (type.getDimSize(0) == rows)
    return;
  SmallVector<int64_t> shape(type.getShape());
  shape[0] = rows;
  v.setType(type.clone(shape));
  for (Operation *user : v.getUsers()) {
    if (auto p = dyn_cast<PermuteOp>(user); p && p.getRowToken() == v)
      retypeRows(p.getResult(), rows);
    else if (auto f = dyn_cast<ExpertFfnOp>(user); f && f.getInput() == v)
      retypeRows(f.getResult(), rows);
    else if (auto g = dyn_cast<GroupedMatmulOp>(user); g && g.getInput() == v)
      retypeRows(g.getResult(), rows);
    else if (auto glu = dyn_cast<GluOp>(user); glu && glu.getGate() == v)
      retypeRows(glu.getResult(), rows);
  }
}

struct MoePlanDispatchPass
    : moec::impl::MoePlanDispatchBase<MoePlanDispatchPass> {
  using moec::impl::MoePlanDispatchBase<MoePlanDispatchPass>::MoePlanDispatchBase;

  void runOnOperation() override {
    if (blockSize < 1) {
      getOperation().emitError() << "moe-plan-dispatch: block-size must be "
                                    "at least 1, got "
                                 << blockSize.getValue();
      return signalPassFailure();
    }
    WalkResult result = getOperation().walk([&](DispatchOp op) {
      auto indices = cast<RankedTensorType>(op.getIndices().getType());
      int64_t rows = DispatchOp::getNumRows(
          indices.getDimSize(0), indices.getDimSize(1), op.getNumExperts(),
          op.getCapacityAttr(), blockSize);
      auto current = cast<RankedTensorType>(op.getRowToken().getType());
      if (current.getDimSize(0) != rows)
        if (Operation *user = findForeignRowUser(op.getRowToken())) {
          op.emitError() << "moe-plan-dispatch: cannot pad the rows of this "
                            "dispatch to "
                         << blockSize.getValue() << ": they are used by '"
                         << user->getName()
                         << "', which is not an expert computation";
          return WalkResult::interrupt();
        }
      op.setBlock(blockSize);
      retypeRows(op.getRowToken(), rows);
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
