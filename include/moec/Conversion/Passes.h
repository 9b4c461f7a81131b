//===- Passes.h - lowering of moe graphs to exec plans ----------*- C++ -*-===//
#ifndef MOEC_CONVERSION_PASSES_H
#define MOEC_CONVERSION_PASSES_H

#include "exec/ExecDialect.h"
#include "moe/MoeDialect.h"
#include "moec/Support/TargetOptions.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Pass/Pass.h"

namespace moec {
#define GEN_PASS_DECL
#include "moec/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "moec/Conversion/Passes.h.inc"
} // namespace moec

#endif // MOEC_CONVERSION_PASSES_H
