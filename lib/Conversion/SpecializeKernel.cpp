//===- SpecializeKernel.cpp - exec-specialize-kernel ----------------------===//
#include "moec/Conversion/Passes.h"

#include "moec/Conversion/KernelSpecialization.h"

#include "exec/ExecDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"

namespace moec {
#define GEN_PASS_DEF_EXECSPECIALIZEKERNEL
#include "moec/Conversion/Passes.h.inc"
} // namespace moec

using namespace mlir;
using namespace moec;

namespace {

/// "NAME=VALUE": an integer, true/false, or a float.
FailureOr<std::pair<std::string, Attribute>> parseBinding(StringRef text,
                                                          MLIRContext *ctx) {
  auto [name, value] = text.split('=');
  name = name.trim();
  value = value.trim();
  if (name.empty() || value.empty())
    return failure();
  Builder b(ctx);
  int64_t i;
  double d;
  if (value == "f32" || value == "bf16" || value == "f16") {
    Type t = value == "f32"    ? Type(b.getF32Type())
             : value == "bf16" ? Type(b.getBF16Type())
                               : Type(b.getF16Type());
    return std::make_pair(name.str(), Attribute(TypeAttr::get(t)));
  }
  if (value == "true" || value == "false")
    return std::make_pair(name.str(), Attribute(b.getBoolAttr(value == "true")));
  if (!value.getAsInteger(10, i))
    return std::make_pair(name.str(), Attribute(b.getI64IntegerAttr(i)));
  if (!value.getAsDouble(d))
    return std::make_pair(name.str(), Attribute(b.getF64FloatAttr(d)));
  return failure();
}

struct ExecSpecializeKernelPass
    : moec::impl::ExecSpecializeKernelBase<ExecSpecializeKernelPass> {
  using ExecSpecializeKernelBase::ExecSpecializeKernelBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto generic = module.lookupSymbol<func::FuncOp>(kernel);
    if (!generic) {
      module.emitError() << "exec-specialize-kernel: no kernel @" << kernel
                         << " in this module";
      return signalPassFailure();
    }
    KernelBindings values;
    for (const std::string &text : bindings) {
      auto binding = parseBinding(text, &getContext());
      if (failed(binding)) {
        module.emitError() << "exec-specialize-kernel: '" << text
                           << "' is not NAME=VALUE (an integer, true, false, "
                              "a float, or f32, bf16 or f16)";
        return signalPassFailure();
      }
      values[binding->first] = binding->second;
    }
    std::string as = name.empty() ? kernel + "_0" : name.getValue();
    if (module.lookupSymbol(as)) {
      module.emitError() << "exec-specialize-kernel: @" << as
                         << " already exists";
      return signalPassFailure();
    }
    FrozenRewritePatternSet folding = getKernelFoldingPatterns(&getContext());
    if (failed(specializeKernel(generic, as, values, module, folding,
                                generic.getLoc())))
      return signalPassFailure();
  }
};

} // namespace
