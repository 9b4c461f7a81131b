//===- KernelSpecialization.h - generic kernels made concrete ---*- C++ -*-===//
//
// A generic kernel (lib/Conversion/Kernels/*.mlir) is a func.func on
// dynamically shaped memrefs that declares its compile-time parameters
// (exec.kernel_params) and reads them with exec.param. Specializing it:
//   1. checks the bindings: every name is a declared parameter, of its type;
//      every parameter but a flag (i1, false when not given) is bound;
//   2. clones it under a new name and inlines the private helpers it calls
//      (single-block functions of the same module, such as round_to_bf16);
//   3. replaces each exec.param by its constant;
//   4. folds (every canonicalization pattern: scf.if on a constant flag
//      keeps one branch);
//   5. drops the arguments whose exec.if flag is off (an error if one is
//      still used), gives the memrefs their exec.shape (a dimension outside
//      [0, 2^31) is an error), and turns the loads of an exec.element_type
//      buffer into loads of that type widened to f32 and its stores into
//      stores of the value rounded to it (to nearest even; any other use
//      of such a buffer is an error);
//   6. folds again and verifies the result.
// exec-specialize-kernel (SpecializeKernel.cpp) runs it from moe-opt; the
// lowering's KernelLibrary runs it for every kernel it launches.
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_CONVERSION_KERNELSPECIALIZATION_H
#define MOEC_CONVERSION_KERNELSPECIALIZATION_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Rewrite/FrozenRewritePatternSet.h"

#include "llvm/ADT/StringMap.h"

namespace moec {

/// Parameter values by name: IntegerAttr for index, i64 and i1 parameters
/// (BoolAttr too for i1), FloatAttr for f32 and f64 (rounded to the
/// parameter's type to nearest even).
using KernelBindings = llvm::StringMap<mlir::Attribute>;

/// Every canonicalization pattern of the context's dialects and ops (what
/// specialization folds with), built once per caller.
mlir::FrozenRewritePatternSet getKernelFoldingPatterns(mlir::MLIRContext *ctx);

/// The specialization of `generic` named `name` at the end of `into`; errors
/// are reported at `loc` (and name the kernel).
mlir::FailureOr<mlir::func::FuncOp>
specializeKernel(mlir::func::FuncOp generic, llvm::StringRef name,
                 const KernelBindings &bindings, mlir::ModuleOp into,
                 const mlir::FrozenRewritePatternSet &folding,
                 mlir::Location loc);

} // namespace moec

#endif // MOEC_CONVERSION_KERNELSPECIALIZATION_H
