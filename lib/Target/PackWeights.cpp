//===- PackWeights.cpp - CPU GEMM weights in panels -----------------------===//
#include "moec/Target/Passes.h"

#include "mlir/IR/BuiltinOps.h"

namespace moec {
#define GEN_PASS_DEF_MOEPACKWEIGHTS
#include "moec/Target/Passes.h.inc"
} // namespace moec

using namespace mlir;
using namespace moec;

namespace {

/// Whether `weight` is used, and only as the B operand of GEMMs.
bool onlyGemmB(exec::WeightOp weight) {
  Value w = weight.getResult();
  return !w.use_empty() && llvm::all_of(w.getUses(), [](OpOperand &use) {
           return exec::isGemmB(use);
         });
}

struct PackWeights : moec::impl::MoePackWeightsBase<PackWeights> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (auto target = module->getAttrOfType<StringAttr>(
            exec::ExecDialect::TargetAttrHelper::getNameStr());
        target && target.getValue() != "cpu") {
      module.emitError() << "moe-pack-weights: panels are the CPU GEMM's "
                            "layout; this module's target is '"
                         << target.getValue() << "'";
      return signalPassFailure();
    }
    module.walk([&](exec::WeightOp weight) {
      auto type = cast<exec::BufferType>(weight.getType());
      Type elem = type.getElementType();
      if ((elem.isF32() || elem.isBF16() || elem.isF16() ||
           exec::isQuantizedWeightType(elem)) &&
          type.getShape().size() >= 2 &&
          onlyGemmB(weight))
        weight.setPanels(true);
    });
  }
};

} // namespace
