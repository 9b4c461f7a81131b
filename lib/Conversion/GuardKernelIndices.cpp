//===- GuardKernelIndices.cpp - exec-guard-kernel-indices -----------------===//
#include "moec/Conversion/Passes.h"

#include "exec/ExecDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

namespace moec {
#define GEN_PASS_DEF_EXECGUARDKERNELINDICES
#include "moec/Conversion/Passes.h.inc"
} // namespace moec

using namespace mlir;
using namespace moec;

namespace {

/// The values of `fn` derived from data it read from memory: load results,
/// and everything computed from them (a select only when a chosen value is;
/// a loop's counter when its bounds are; a loop-carried value when its
/// initial or yielded value is).
DenseSet<Value> dataDerived(func::FuncOp fn) {
  DenseSet<Value> tainted;
  bool changed = true;
  auto mark = [&](Value v) { changed |= tainted.insert(v).second; };
  auto any = [&](ValueRange vs) {
    return llvm::any_of(vs, [&](Value v) { return tainted.contains(v); });
  };
  while (changed) {
    changed = false;
    fn.walk([&](Operation *op) {
      if (isa<memref::LoadOp, gpu::ShuffleOp>(op)) {
        for (Value r : op->getResults())
          mark(r);
      } else if (isa<arith::MinUIOp, arith::MinSIOp>(op)) {
        // A clamp to a bound the compiler computed is as trusted as the
        // bound: min_u(x, B), and min_s(max_s(x, L), B) with L and B not
        // data-derived (the grouped GEMV kernel clamps its offsets so).
        Value a = op->getOperand(0), b = op->getOperand(1);
        auto bounded = [&](Value v, Value bound) {
          if (tainted.contains(bound))
            return false;
          if (isa<arith::MinUIOp>(op) || !tainted.contains(v))
            return true;
          auto lower = v.getDefiningOp<arith::MaxSIOp>();
          return lower && (!tainted.contains(lower.getLhs()) ||
                           !tainted.contains(lower.getRhs()));
        };
        if (any({a, b}) && !bounded(a, b) && !bounded(b, a))
          mark(op->getResult(0));
      } else if (auto sel = dyn_cast<arith::SelectOp>(op)) {
        if (any({sel.getTrueValue(), sel.getFalseValue()}))
          mark(sel.getResult());
      } else if (auto loop = dyn_cast<scf::ForOp>(op)) {
        if (any({loop.getLowerBound(), loop.getUpperBound(), loop.getStep()}))
          mark(loop.getInductionVar());
        auto yield = cast<scf::YieldOp>(loop.getBody()->getTerminator());
        for (unsigned i = 0; i < loop.getNumResults(); ++i)
          if (tainted.contains(loop.getInitArgs()[i]) ||
              tainted.contains(yield.getOperand(i))) {
            mark(loop.getRegionIterArgs()[i]);
            mark(loop.getResult(i));
          }
      } else if (auto branch = dyn_cast<scf::IfOp>(op)) {
        for (unsigned i = 0; i < branch.getNumResults(); ++i) {
          bool t = tainted.contains(branch.thenYield().getOperand(i)) ||
                   (branch.elseBlock() &&
                    tainted.contains(branch.elseYield().getOperand(i)));
          if (t)
            mark(branch.getResult(i));
        }
      } else if (op == fn.getOperation()) {
        return;
      } else if (op->getNumRegions() > 0) {
        // Any other region op (scf.while): everything it carries, when
        // anything flowing into it or through its own terminators is.
        bool t = any(op->getOperands());
        for (Region &r : op->getRegions())
          for (Block &b : r)
            if (!b.empty() && b.back().hasTrait<OpTrait::IsTerminator>())
              t |= any(b.back().getOperands());
        if (t) {
          for (Region &r : op->getRegions())
            for (Block &b : r)
              for (BlockArgument a : b.getArguments())
                mark(a);
          for (Value r : op->getResults())
            mark(r);
        }
      } else if (any(op->getOperands())) {
        for (Value r : op->getResults())
          mark(r);
      }
    });
  }
  return tainted;
}

/// `indices` of `memref` that are data-derived, checked: true when all are
/// within the memref's dimensions.
Value inBounds(OpBuilder &b, Location loc, Value memref, ValueRange indices,
               const DenseSet<Value> &tainted) {
  Value ok;
  for (auto [d, index] : llvm::enumerate(indices)) {
    if (!tainted.contains(index))
      continue;
    Value dim = memref::DimOp::create(b, loc, memref, d);
    Value fits = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                       index, dim);
    ok = ok ? arith::AndIOp::create(b, loc, ok, fits).getResult() : fits;
  }
  return ok;
}

struct ExecGuardKernelIndicesPass
    : moec::impl::ExecGuardKernelIndicesBase<ExecGuardKernelIndicesPass> {
  using moec::impl::ExecGuardKernelIndicesBase<
      ExecGuardKernelIndicesPass>::ExecGuardKernelIndicesBase;

  void runOnOperation() override {
    ModuleOp kernels;
    for (auto nested : getOperation().getOps<ModuleOp>())
      if (nested.getSymName() == "kernels")
        kernels = nested;
    if (!kernels)
      return;
    for (auto fn : kernels.getOps<func::FuncOp>())
      if (!fn.isExternal())
        guard(fn);
  }

  void guard(func::FuncOp fn) {
    DenseSet<Value> tainted = dataDerived(fn);
    SmallVector<Operation *> accesses;
    fn.walk([&](Operation *op) {
      ValueRange indices;
      if (auto load = dyn_cast<memref::LoadOp>(op))
        indices = load.getIndices();
      else if (auto store = dyn_cast<memref::StoreOp>(op))
        indices = store.getIndices();
      if (llvm::any_of(indices, [&](Value v) { return tainted.contains(v); }))
        accesses.push_back(op);
    });
    if (accesses.empty())
      return;
    // The fault word: a buffer argument after the others (public kernels).
    Value fault;
    if (faultWord && fn.isPublic()) {
      MLIRContext *ctx = fn.getContext();
      unsigned buffers = llvm::count_if(fn.getArgumentTypes(), [](Type t) {
        return isa<MemRefType>(t);
      });
      if (failed(fn.insertArgument(buffers,
                                   MemRefType::get({1}, IntegerType::get(ctx, 32)),
                                   {}, fn.getLoc())))
        return signalPassFailure();
      fn->setAttr(exec::kFaultWordAttr, UnitAttr::get(ctx));
      fault = fn.getArgument(buffers);
    }
    for (Operation *op : accesses) {
      OpBuilder b(op);
      Location loc = op->getLoc();
      auto reportFault = [&](OpBuilder &eb) {
        if (!fault)
          return;
        Value one = arith::ConstantIntOp::create(eb, loc, 1, 32);
        Value zero = arith::ConstantIndexOp::create(eb, loc, 0);
        memref::StoreOp::create(eb, loc, one, fault, ValueRange{zero});
      };
      if (auto load = dyn_cast<memref::LoadOp>(op)) {
        Value ok = inBounds(b, loc, load.getMemRef(), load.getIndices(), tainted);
        Type type = load.getType();
        auto branch = scf::IfOp::create(b, loc, TypeRange{type}, ok,
                                        /*withElse=*/true);
        OpBuilder tb = branch.getThenBodyBuilder();
        Value value = memref::LoadOp::create(tb, loc, load.getMemRef(),
                                             load.getIndices());
        scf::YieldOp::create(tb, loc, value);
        OpBuilder eb = branch.getElseBodyBuilder();
        reportFault(eb);
        Value zero = arith::ConstantOp::create(
            eb, loc, cast<TypedAttr>(eb.getZeroAttr(type)));
        scf::YieldOp::create(eb, loc, zero);
        load.replaceAllUsesWith(branch.getResult(0));
        load.erase();
      } else {
        auto store = cast<memref::StoreOp>(op);
        Value ok = inBounds(b, loc, store.getMemRef(), store.getIndices(), tainted);
        auto branch = scf::IfOp::create(b, loc, TypeRange{}, ok,
                                        /*withElse=*/fault != nullptr);
        store->moveBefore(branch.thenBlock()->getTerminator());
        if (fault) {
          OpBuilder eb = branch.getElseBodyBuilder();
          reportFault(eb);
        }
      }
    }
  }
};

} // namespace
