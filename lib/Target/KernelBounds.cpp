//===- KernelBounds.cpp - what each kernel reads and writes ---------------===//
#include "moec/Target/KernelBounds.h"

#include "exec/ExecDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

using namespace mlir;

namespace {

/// The function argument a memref value is a view of, or null.
BlockArgument rootArgument(Value v) {
  while (v) {
    if (auto arg = dyn_cast<BlockArgument>(v))
      return arg;
    auto view = v.getDefiningOp<ViewLikeOpInterface>();
    if (!view)
      return {};
    v = view.getViewSource();
  }
  return {};
}

/// Bit i set: the kernel may write argument i. An op that does not state its
/// effects (a call, say) is taken to write every memref it is given.
uint64_t writtenArguments(func::FuncOp fn) {
  uint64_t mask = 0;
  auto mark = [&](Value v) {
    BlockArgument arg = rootArgument(v);
    if (arg && arg.getOwner() == &fn.getBody().front() && arg.getArgNumber() < 64)
      mask |= uint64_t(1) << arg.getArgNumber();
  };
  fn.walk([&](Operation *op) {
    auto effects = dyn_cast<MemoryEffectOpInterface>(op);
    if (!effects) {
      if (op->hasTrait<OpTrait::HasRecursiveMemoryEffects>() ||
          op->getNumRegions() > 0 || isa<func::ReturnOp>(op))
        return;
      for (Value operand : op->getOperands())
        if (isa<MemRefType>(operand.getType()))
          mark(operand);
      return;
    }
    SmallVector<MemoryEffects::EffectInstance> list;
    effects.getEffects(list);
    for (const auto &e : list)
      if (isa<MemoryEffects::Write>(e.getEffect()) && e.getValue())
        mark(e.getValue());
  });
  return mask;
}

} // namespace

int64_t moec::kernelTableArguments(func::FuncOp fn) {
  int64_t buffers = llvm::count_if(fn.getArgumentTypes(), [](Type t) {
    return isa<MemRefType>(t);
  });
  // The fault word is the runtime's, not the table's.
  return fn->hasAttr(exec::kFaultWordAttr) ? buffers - 1 : buffers;
}

std::string moec::kernelBoundsSymbol(StringRef kernel) {
  return ("moec_bounds." + kernel).str();
}

FailureOr<DictionaryAttr> moec::computeKernelBounds(ModuleOp module,
                                                    ModuleOp kernels) {
  llvm::StringMap<int64_t> maxExtent;
  for (auto fn : module.getOps<func::FuncOp>()) {
    auto mt = fn->getAttrOfType<IntegerAttr>(
        exec::ExecDialect::MaxTokensAttrHelper::getNameStr());
    int64_t maxTokens = mt ? mt.getInt() : 1;
    auto note = [&](StringRef kernel, int64_t extent) {
      int64_t &m = maxExtent[kernel];
      m = std::max(m, extent);
    };
    fn.walk([&](exec::LaunchOp launch) {
      exec::Affine extent = exec::toAffine(launch.getExtent());
      note(launch.getKernel(), std::max(extent.at(maxTokens), extent.at(1)));
    });
    // A grouped GEMM's generated kernel runs over experts · n items, a
    // GEMM's dequant kernel over the n rows of one matrix, its act_quant
    // kernel over its rows.
    auto noteRows = [&](std::optional<StringRef> kernel, ArrayRef<int64_t> rows) {
      exec::Affine r = exec::toAffine(rows);
      if (kernel)
        note(*kernel, std::max(r.at(maxTokens), r.at(1)));
    };
    fn.walk([&](exec::GroupedGemmOp gemm) {
      if (auto gemv = gemm.getGemv())
        note(*gemv, gemm.getExperts() * gemm.getN());
      if (auto dequant = gemm.getDequant())
        note(*dequant, gemm.getN());
      noteRows(gemm.getActQuant(), gemm.getRows());
    });
    fn.walk([&](exec::GemmOp gemm) {
      if (auto dequant = gemm.getDequant())
        note(*dequant, gemm.getN());
      noteRows(gemm.getActQuant(), gemm.getRows());
    });
  }
  Builder b(kernels.getContext());
  SmallVector<NamedAttribute> entries;
  for (auto fn : kernels.getOps<func::FuncOp>()) {
    // The table's buffers come first (then the fault word, T, begin, end).
    int64_t buffers = kernelTableArguments(fn);
    if (buffers > 63)
      return fn.emitError() << "kernel " << fn.getSymName()
                            << " takes more than 63 buffers";
    uint64_t writes = writtenArguments(fn) & ((uint64_t(1) << buffers) - 1);
    SmallVector<int64_t> bounds{maxExtent.lookup(fn.getSymName()),
                                static_cast<int64_t>(writes)};
    for (Type t : fn.getArgumentTypes().take_front(buffers)) {
      auto memref = dyn_cast<MemRefType>(t);
      if (!memref || !memref.hasStaticShape())
        return fn.emitError() << "kernel " << fn.getSymName()
                              << ": buffer argument " << t
                              << " has no static size, so its bounds cannot "
                                 "be recorded";
      unsigned bits = memref.getElementTypeBitWidth();
      bounds.push_back(memref.getNumElements() * ((bits + 7) / 8));
    }
    entries.push_back(
        b.getNamedAttr(fn.getSymName(), b.getDenseI64ArrayAttr(bounds)));
  }
  return b.getDictionaryAttr(entries);
}
