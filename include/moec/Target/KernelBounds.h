//===- KernelBounds.h - what each kernel reads and writes -------*- C++ -*-===//
//
// The bounds the runtime checks every launch against (docs/artifact.md,
// "Kernel bounds"): for each kernel of a kernels module, the largest launch
// extent it was specialized for, which of its buffer arguments it writes,
// and how many bytes it may touch through each (its memref's size: kernels
// are specialized at max_tokens, so the sizes are static).
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_TARGET_KERNELBOUNDS_H
#define MOEC_TARGET_KERNELBOUNDS_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

namespace moec {

/// name → [max_extent, writes (bit i: argument i), bytes_0, ..., bytes_n-1]
/// (a DenseI64ArrayAttr) for every kernel function of `kernels`, with
/// max_extent the largest extent(max_tokens) of the exec.launch ops of
/// `module` that call it. Fails (with a diagnostic) on a buffer argument
/// whose size is not static or on more than 63 buffer arguments.
mlir::FailureOr<mlir::DictionaryAttr> computeKernelBounds(mlir::ModuleOp module,
                                                          mlir::ModuleOp kernels);

/// The buffer arguments of kernel `fn` that the table lists: its memref
/// arguments but the fault word (exec-guard-kernel-indices).
int64_t kernelTableArguments(mlir::func::FuncOp fn);

/// The name of the constant through which a host code object states a
/// kernel's bounds itself: "moec_bounds.<kernel>" (see CodeObject.cpp).
std::string kernelBoundsSymbol(llvm::StringRef kernel);

} // namespace moec

#endif // MOEC_TARGET_KERNELBOUNDS_H
