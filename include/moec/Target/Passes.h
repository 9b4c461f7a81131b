//===- Passes.h - code generation and serialization -------------*- C++ -*-===//
#ifndef MOEC_TARGET_PASSES_H
#define MOEC_TARGET_PASSES_H

#include "exec/ExecDialect.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Pass/Pass.h"

namespace moec {
#define GEN_PASS_DECL
#include "moec/Target/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "moec/Target/Passes.h.inc"
} // namespace moec

#endif // MOEC_TARGET_PASSES_H
