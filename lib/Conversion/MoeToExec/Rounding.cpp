//===- Rounding.cpp - 16-bit A operands of GEMMs over 16-bit weights ------===//
//
// A GEMM whose weights are bf16 or f16 reads its A operand in the same type
// (the exact products accumulate in f32), as does one over fp8 or mxfp4
// weights on the CUDA target (read as bf16 values there). The f32 activations are rounded to
// that type (round to nearest even) once per buffer: by the GLU that produces
// them when it can write its result rounded (its ROUND16 variant, so no f32
// copy is written and read again), otherwise by an elementwise kernel (the
// gate and up projections share one rounded copy of their input).
//
//===----------------------------------------------------------------------===//
#include "moec/Conversion/MoeToExec.h"

using namespace mlir;
using namespace moec;
using exec::Affine;

/// The flags of a kernel's rounded variant (Kernels/rows.mlir's round16) for
/// `elem`, bf16 or f16.
static void setRound16(KernelSpecialization &spec, Type elem) {
  spec.flag("ROUND16").flag("TO_F16", elem.isF16());
}

Type ExecBuilder::operandType(Type elem) {
  if (options().cuda && isa<Float8E4M3FNType, Float4E2M1FNType>(elem))
    return rewriter.getBF16Type();
  return exec::isQuantizedWeightType(elem) ? f32() : elem;
}

FailureOr<Value> ExecBuilder::operandFor(Value a, Value w, Affine rows,
                                         int64_t k) {
  Type elem = operandType(cast<exec::BufferType>(w.getType()).getElementType());
  if (elem.isF32())
    return a;
  if (Value done = lowering.rounded.lookup(a))
    return done;
  Value out = alloc(rows, {k}, elem);
  KernelSpecialization spec{"elementwise_round16"};
  spec.set("ROWS", maxRows(rows)).set("COLS", k).flag("TO_F16", elem.isF16());
  if (failed(launch(spec, {a, out}, rows, 16)))
    return failure();
  lowering.rounded[a] = out;
  return out;
}

void ExecBuilder::roundGluOutput(KernelSpecialization &spec, SmallVectorImpl<Value> &args,
                                 Value result, Value next, Affine rows,
                                 int64_t width) {
  Type elem = next ? operandType(cast<exec::BufferType>(next.getType()).getElementType())
                   : f32();
  if (elem.isF32())
    return;
  Value out = alloc(rows, {width}, elem);
  setRound16(spec, elem);
  args.push_back(out);
  lowering.rounded[result] = out;
}
