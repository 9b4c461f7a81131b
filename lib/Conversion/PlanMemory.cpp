//===- PlanMemory.cpp - arena offsets of exec plans -----------------------===//
//
// First fit over lifetimes (Passes.td): sizes at max_tokens, 64-byte aligned;
// each buffer, in program order, goes to the lowest offset (0 or the end of a
// placed buffer whose lifetime overlaps its own) where it overlaps no such
// buffer.
//
//===----------------------------------------------------------------------===//
#include "moec/Conversion/Passes.h"

#include "exec/ExecDialect.h"
#include "moert/format.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace moec {
#define GEN_PASS_DEF_EXECPLANMEMORY
#include "moec/Conversion/Passes.h.inc"
} // namespace moec

using namespace mlir;
using namespace moec;

namespace {

struct Live {
  Operation *op;
  int64_t begin, end, bytes, offset = 0;
  bool overlaps(const Live &o) const {
    return o.begin <= end && begin <= o.end;
  }
};

/// The arena bytes of one plan; sets each buffer's offset.
int64_t planFunction(func::FuncOp fn, int64_t maxTokens) {
  Block &body = fn.getBody().front();
  DenseMap<Operation *, int64_t> position;
  int64_t n = 0;
  for (Operation &op : body)
    position[&op] = n++;
  std::vector<Live> live;
  for (Operation &op : body) {
    std::optional<exec::Affine> bytes;
    if (auto a = dyn_cast<exec::AllocOp>(op))
      bytes = exec::toAffine(a.getBytes());
    else if (auto in = dyn_cast<exec::InputOp>(op))
      bytes = exec::toAffine(in.getBytes());
    else if (isa<exec::RunParamsOp>(op))
      bytes = exec::Affine{0, 16};
    if (!bytes)
      continue;
    // Inputs and the run's parameters are written before the run starts.
    int64_t begin = isa<exec::InputOp, exec::RunParamsOp>(op) ? 0 : position[&op];
    int64_t end = begin;
    // The run's parameters stay for the whole run, never shared: the bytes
    // the runtime writes are the only ones there.
    if (isa<exec::RunParamsOp>(op))
      end = n;
    for (Operation *user : op.getResult(0).getUsers()) {
      // A use nested in an op of the plan counts at that op.
      Operation *at = body.findAncestorOpInBlock(*user);
      end = std::max(end, !at || isa<exec::OutputOp>(at) ? n : position[at]);
    }
    live.push_back({&op, begin, end,
                    static_cast<int64_t>(moert::alignUp(bytes->at(maxTokens)))});
  }
  int64_t arena = 0;
  for (size_t i = 0; i < live.size(); ++i) {
    SmallVector<int64_t> candidates{0};
    for (size_t j = 0; j < i; ++j)
      if (live[j].overlaps(live[i]))
        candidates.push_back(live[j].offset + live[j].bytes);
    llvm::sort(candidates);
    for (int64_t c : candidates) {
      bool fits = true;
      for (size_t j = 0; j < i && fits; ++j)
        if (live[j].overlaps(live[i]) && c < live[j].offset + live[j].bytes &&
            live[j].offset < c + std::max<int64_t>(live[i].bytes, 1))
          fits = false;
      if (fits) {
        live[i].offset = c;
        break;
      }
    }
    live[i].op->setAttr("offset",
                        IntegerAttr::get(IntegerType::get(fn.getContext(), 64),
                                         live[i].offset));
    arena = std::max(arena, live[i].offset + live[i].bytes);
  }
  return arena;
}

struct ExecPlanMemoryPass
    : moec::impl::ExecPlanMemoryBase<ExecPlanMemoryPass> {
  void runOnOperation() override {
    auto *dialect = getContext().getLoadedDialect<exec::ExecDialect>();
    for (auto fn : getOperation().getOps<func::FuncOp>()) {
      if (fn.isExternal())
        continue;
      IntegerAttr maxTokens = dialect->getMaxTokensAttrHelper().getAttr(fn);
      if (!maxTokens) {
        fn.emitError() << "exec-plan-memory: @" << fn.getSymName()
                       << " is not an exec plan (no exec.max_tokens; run "
                          "moe-lower-to-exec first)";
        return signalPassFailure();
      }
      // A stale arena would make the verifier check new offsets against it.
      dialect->getArenaBytesAttrHelper().setAttr(
          fn, IntegerAttr::get(IntegerType::get(&getContext(), 64),
                               planFunction(fn, maxTokens.getInt())));
    }
  }
};

} // namespace
