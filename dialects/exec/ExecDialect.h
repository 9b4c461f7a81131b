//===- ExecDialect.h - the exec dialect -------------------------*- C++ -*-===//
#ifndef MOEC_DIALECT_EXEC_EXECDIALECT_H
#define MOEC_DIALECT_EXEC_EXECDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "exec/ExecDialect.h.inc"

#define GET_TYPEDEF_CLASSES
#include "exec/ExecTypes.h.inc"

#define GET_OP_CLASSES
#include "exec/ExecOps.h.inc"

namespace moec::exec {
/// Marks a kernel whose last buffer argument is its fault word
/// (exec-guard-kernel-indices): not one of the table's arguments; the
/// runtime passes it after them.
constexpr llvm::StringLiteral kFaultWordAttr = "exec.fault_word";

/// a·T + b, as stored in the [a, b] arrays of the dialect.
struct Affine {
  int64_t perToken = 0, fixed = 0;
  int64_t at(int64_t tokens) const { return perToken * tokens + fixed; }
};
inline Affine toAffine(llvm::ArrayRef<int64_t> a) { return {a[0], a[1]}; }

/// One dimension of `exec.shape`: `scale * param + offset` (param empty for
/// a plain integer), parsed from "N", "NAME", "NAME+B" or "A*NAME+B".
struct ShapeDim {
  std::string param;
  int64_t scale = 1, offset = 0;
};
mlir::FailureOr<ShapeDim> parseShapeDim(mlir::Attribute entry);

/// A quantized weight's element type (f8E4M3FN, f4E2M1FN, i8, i4): its
/// GEMMs take f32 activations.
bool isQuantizedWeightType(mlir::Type t);

/// Whether `use` is the B operand of an exec.gemm or exec.grouped_gemm (the
/// only reader a weight in panels may have).
bool isGemmB(mlir::OpOperand &use);

/// What the rows of the first of two stacked weights (exec.concat_weights)
/// of element type `elem` must be a multiple of, so that every panel,
/// quantization group and scale block lies in one part: 32, the panel
/// width; 128 for fp8, its scale blocks.
int64_t stackedRowsMultiple(mlir::Type elem);
} // namespace moec::exec

#endif // MOEC_DIALECT_EXEC_EXECDIALECT_H
