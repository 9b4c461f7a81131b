//===- MoeDialect.h - the moe dialect ---------------------------*- C++ -*-===//
//
// The `moe` dialect: Mixture-of-Experts routing, dispatch, expert FFNs and
// combine on tensors. See MoeOps.td for each op's exact semantics.
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_DIALECT_MOE_MOEDIALECT_H
#define MOEC_DIALECT_MOE_MOEDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "moe/MoeDialect.h.inc"
#include "moe/MoeEnums.h.inc"

namespace moec::moe {
/// Limits on sizes, checked by the verifiers so that no size a graph states
/// can overflow the compiler's 64-bit arithmetic or a kernel's stack
/// (docs/reliability.md, "Threat model"): the routing kernels keep a few
/// bytes per expert on the stack, and products such as max_tokens · k · H ·
/// 4 bytes or E · F · H stay far below 2^63.
constexpr int64_t kMaxExperts = 4096;       // E
constexpr int64_t kMaxDimension = 1 << 20;  // H, F and a capacity in tokens
constexpr int64_t kMaxTokensLimit = 1 << 20; // moe-compile --max-tokens

/// Parses a double attribute parameter (`1.25`, `1.0e-20`, `7`).
mlir::FailureOr<llvm::APFloat> parseF64Param(mlir::AsmParser &parser);
/// Prints a double attribute parameter in the shortest form that parses back
/// to the same value.
void printF64Param(mlir::AsmPrinter &printer, const llvm::APFloat &value);
} // namespace moec::moe

#define GET_ATTRDEF_CLASSES
#include "moe/MoeAttrs.h.inc"

#define GET_OP_CLASSES
#include "moe/MoeOps.h.inc"

#endif // MOEC_DIALECT_MOE_MOEDIALECT_H
