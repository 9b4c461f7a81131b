//===- Rounding.cpp - 16-bit A operands of GEMMs over 16-bit weights ------===//
//
// A GEMM whose weights are bf16 or f16 reads its A operand in the same type
// (the exact products accumulate in f32), as does one over fp8 or mxfp4
// weights on the CUDA target (read as bf16 values there). The f32 activations are rounded to
// that type (round to nearest even) once per buffer: by the GLU that produces
// them when it can write its result rounded (its OUT variant, so no f32
// copy is written and read again), otherwise by an elementwise kernel (the
// gate and up projections share one rounded copy of their input).
//
// A function of bf16 or f16 activations (moe-import --dtype) keeps them in
// f32 buffers and rounds them in place where the moe dialect rounds to the
// dtype; its input is widened exactly once and its output written rounded.
// Where an expert FFN's GEMMs read the activation type (ffnHolds16), its
// activations are held in that type only: the permute copies the input's
// 16-bit rows, the projections write their results rounded (16-bit C), the
// GLU reads them, and the combine reads the experts' 16-bit outputs; the f32
// buffers that stand for those values in the conversion are never written
// and are erased.
//
//===----------------------------------------------------------------------===//
#include "moec/Conversion/MoeToExec.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

using namespace mlir;
using namespace moec;
using exec::Affine;

/// A row kernel of Kernels/rows.mlir over `cols` columns of `rows` rows (at
/// max_tokens) between f32 and `elem`, bf16 or f16 (its TO_F16).
static KernelSpecialization rowKernel16(const char *name, int64_t rows,
                                        int64_t cols, Type elem) {
  KernelSpecialization spec{name};
  spec.set("ROWS", rows).set("COLS", cols).flag("TO_F16", elem.isF16());
  return spec;
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
  if (Value held = held16(a); held && elem == lowering.activationType)
    return held;
  if (Value done = lowering.rounded.lookup(a))
    return done;
  if (cast<exec::BufferType>(a.getType()).getElementType() == elem)
    return a;
  // A 16-bit function's input, read in its own type.
  if (auto arg = dyn_cast<BlockArgument>(a); arg && elem == lowering.activationType)
    return input(arg);
  Value out = alloc(rows, {k}, elem);
  if (failed(launch(rowKernel16("elementwise_round16", maxRows(rows), k, elem),
                    {a, out}, rows, 16)))
    return failure();
  lowering.rounded[a] = out;
  return out;
}

Value ExecBuilder::roundGluOutput(KernelSpecialization &spec, SmallVectorImpl<Value> &args,
                                  Value result, Value next, Affine rows,
                                  int64_t width) {
  Type elem = next ? operandType(cast<exec::BufferType>(next.getType()).getElementType())
                   : f32();
  if (elem.isF32())
    return result;
  Value out = alloc(rows, {width}, elem);
  spec.flag("OUT").setElementType("OT", elem);
  args.push_back(out);
  lowering.rounded[result] = out;
  return out;
}

LogicalResult ExecBuilder::roundActivation(Value buffer, Affine rows,
                                           int64_t cols) {
  if (!rounds16())
    return success();
  return launch(rowKernel16("elementwise_round_in_place", maxRows(rows), cols,
                            lowering.activationType),
                {buffer}, rows, 16);
}

bool ExecBuilder::onlyReturned(Value result) {
  return !result.use_empty() && llvm::all_of(result.getUsers(), [](Operation *user) {
    return isa<func::ReturnOp>(user);
  });
}

LogicalResult ExecBuilder::roundResult(Value result, Value buffer, Affine rows,
                                       int64_t cols) {
  return onlyReturned(result) ? success() : roundActivation(buffer, rows, cols);
}

FailureOr<Value> ExecBuilder::widenInput(Value in, Affine rows, int64_t cols) {
  Value out = alloc(rows, {cols}, f32());
  if (failed(launch(rowKernel16("elementwise_widen16", maxRows(rows), cols,
                                lowering.activationType),
                    {in, out}, rows, 16)))
    return failure();
  return out;
}

FailureOr<Value> ExecBuilder::roundOutput(Value buffer, Affine rows,
                                          int64_t cols) {
  // Written in the activation type already (a combine's output).
  if (Value held = held16(buffer))
    return held;
  Value out = alloc(rows, {cols}, lowering.activationType);
  if (failed(launch(rowKernel16("elementwise_round16", maxRows(rows), cols,
                                lowering.activationType),
                    {buffer, out}, rows, 16)))
    return failure();
  return out;
}

bool ExecBuilder::ffnGemmsRead16() {
  return rounds16() && operandType(ffnWeightType()) == lowering.activationType;
}

bool ExecBuilder::ffnHolds16(moe::ExpertFfnOp op) {
  return ffnGemmsRead16() && !op.getExpertMap() && !op.getGateBias() && !op.getUpBias() &&
         !op.getDownBias();
}

bool ExecBuilder::permutedHolds16(Value permuted) {
  if (!activations16() || permuted.use_empty())
    return false;
  for (OpOperand &use : permuted.getUses()) {
    auto ffn = dyn_cast<moe::ExpertFfnOp>(use.getOwner());
    if (!ffn || use.get() != ffn.getInput() || !ffnHolds16(ffn))
      return false;
  }
  return true;
}

bool ExecBuilder::combinedOnly(Value result) {
  // As a combine's expert rows or its addend (which it reads held), never
  // as its passthrough.
  return !result.use_empty() && llvm::all_of(result.getUses(), [](OpOperand &use) {
    auto combine = dyn_cast<moe::CombineOp>(use.getOwner());
    return combine && use.get() != combine.getPassthrough() &&
           (use.get() == combine.getExpertOut() || use.get() == combine.getAddend());
  });
}
