//===- Passes.h - lowering of moe graphs to exec plans ----------*- C++ -*-===//
#ifndef MOEC_CONVERSION_PASSES_H
#define MOEC_CONVERSION_PASSES_H

// The passes' declarations need no dialect: each pass's file includes the
// dialects it depends on (the GPU dialect alone costs seconds of parsing).
#include "moec/Support/TargetOptions.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace moec {
#define GEN_PASS_DECL
#include "moec/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "moec/Conversion/Passes.h.inc"
} // namespace moec

#endif // MOEC_CONVERSION_PASSES_H
