//===- Passes.h - code generation and serialization -------------*- C++ -*-===//
#ifndef MOEC_TARGET_PASSES_H
#define MOEC_TARGET_PASSES_H

#include "exec/ExecDialect.h"
#include "moec/Support/TargetOptions.h"

// The dialects the code generation passes depend on (LLVM, NVVM, GPU) are
// included by the files that define those passes: NVVM's header alone costs
// about 20 s of compile time in every file that includes it.
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

namespace moec {
#define GEN_PASS_DECL
#include "moec/Target/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "moec/Target/Passes.h.inc"

/// The `module @kernels` moe-lower-to-exec nests in `module`, or null.
mlir::ModuleOp getKernelsModule(mlir::ModuleOp module);

/// Whether `chip` names a GPU architecture the CUDA target compiles for:
/// sm_NN (or a suffixed sm_NNa / sm_NNf) with NN >= 75 that LLVM's NVPTX
/// backend knows.
bool isCudaChip(llvm::StringRef chip);

/// The passes that lower kernel functions (scf, arith, math, memref) to the
/// LLVM dialect with the bare-pointer memref calling convention.
void buildKernelToLLVMPipeline(mlir::OpPassManager &pm);
} // namespace moec

#endif // MOEC_TARGET_PASSES_H
