//===- ExecBuilder.cpp - buffers, weights and launches of the lowering ----===//
#include "moec/Conversion/MoeToExec.h"

using namespace mlir;
using namespace moec;
using exec::Affine;

ExecTypeConverter::ExecTypeConverter() {
  addConversion([](Type t) { return t; });
  // 16-bit activations live in f32 buffers (Rounding.cpp); weights are not
  // converted here (ExecBuilder::weight).
  addConversion([](RankedTensorType t) -> Type {
    return exec::BufferType::get(t.getContext(), t.getShape(),
                                 storageType(t.getElementType()));
  });
  // A tensor that ops left to the end still read (tensor.dim of an input:
  // T is the runtime's) stays a cast of its buffer; the lowering erases both
  // with the rest of the tensor program.
  addSourceMaterialization([](OpBuilder &b, Type type, ValueRange inputs,
                              Location loc) -> Value {
    return UnrealizedConversionCastOp::create(b, loc, type, inputs).getResult(0);
  });
}

void ExecLowering::beginFunction(Type activations) {
  rows.clear();
  weights.clear();
  rounded.clear();
  stored16.clear();
  inputs.clear();
  routerStats = 0;
  noisyRouters = 0;
  runParams = {};
  activationType = activations;
}

Value ExecBuilder::alloc(Affine rowsOf, ArrayRef<int64_t> trailing,
                         Type elem, bool dynamicRows) {
  int64_t perRow = bytesOf(elem);
  for (int64_t d : trailing)
    perRow *= d;
  SmallVector<int64_t> shape{rowsOf.perToken || dynamicRows ? ShapedType::kDynamic
                                                            : rowsOf.fixed};
  shape.append(trailing.begin(), trailing.end());
  auto type = exec::BufferType::get(rewriter.getContext(), shape, elem);
  Value buffer = exec::AllocOp::create(rewriter, loc, type,
                                       rewriter.getI64IntegerAttr(0),
                                       affine(scale(rowsOf, perRow)));
  lowering.rows[buffer] = rowsOf;
  return buffer;
}

Value ExecBuilder::allocFor(Value v, Affine rowsOf) {
  auto type = cast<RankedTensorType>(v.getType());
  return alloc(rowsOf, type.getShape().drop_front(),
               storageType(type.getElementType()), type.isDynamicDim(0));
}

Value ExecBuilder::runParams(Block *body) {
  Value &params = lowering.runParams;
  if (params)
    return params;
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointToStart(body);
  params = exec::RunParamsOp::create(
      rewriter, loc, exec::BufferType::get(rewriter.getContext(), {4}, i32()),
      rewriter.getI64IntegerAttr(0));
  lowering.rows[params] = {0, 4};
  return params;
}

Value ExecBuilder::input(BlockArgument arg) {
  Value &in = lowering.inputs[arg];
  if (in)
    return in;
  Block *body = arg.getOwner();
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointToStart(body);
  // The argument is a tensor, or once converted an f32 buffer whatever the
  // activation type.
  Type act = lowering.activationType;
  auto buffer = dyn_cast<exec::BufferType>(arg.getType());
  int64_t h = buffer ? buffer.getShape()[1]
                     : cast<RankedTensorType>(arg.getType()).getShape()[1];
  std::string name = body->getNumArguments() == 1
                         ? "x"
                         : "x" + std::to_string(arg.getArgNumber());
  in = exec::InputOp::create(
      rewriter, arg.getLoc(),
      exec::BufferType::get(rewriter.getContext(), {ShapedType::kDynamic, h}, act),
      rewriter.getStringAttr(name), rewriter.getI64IntegerAttr(0),
      rewriter.getDenseI64ArrayAttr({h * bytesOf(act), 0}));
  lowering.rows[in] = {1, 0};
  return in;
}

Affine ExecBuilder::rowsOf(Value buffer) {
  if (isa<BlockArgument>(buffer)) // a function input: T rows
    return {1, 0};
  auto it = lowering.rows.find(buffer);
  if (it != lowering.rows.end())
    return it->second;
  // A weight: its first dimension.
  ArrayRef<int64_t> shape = cast<exec::BufferType>(buffer.getType()).getShape();
  return {0, shape.empty() ? 1 : shape.front()};
}

FailureOr<Value> ExecBuilder::weight(Value v, Type elem, int64_t groupSize) {
  auto w = v.getDefiningOp<moe::WeightOp>();
  if (!w)
    return emitError(loc) << "moe-lower-to-exec: a weight operand must be a "
                             "moe.weight, got a value defined by "
                          << (v.getDefiningOp()
                                  ? v.getDefiningOp()->getName().getStringRef()
                                  : StringRef("a block argument"));
  if (!elem)
    elem = f32();
  Value &buffer = lowering.weights[{v, elem}];
  if (!buffer) {
    auto type = cast<RankedTensorType>(w.getType());
    buffer = exec::WeightOp::create(
        rewriter, w.getLoc(),
        exec::BufferType::get(rewriter.getContext(), type.getShape(), elem),
        w.getTensorNameAttr(), w.getFileAttr(), w.getValueAttr(),
        w.getRandomSeedAttr(), /*panels=*/nullptr, w.getScalesAttr(),
        w.getFormat() == moe::WeightFormat::mxfp4 ? rewriter.getUnitAttr()
                                                   : nullptr,
        w.getRowStartAttr(), w.getRowStepAttr(),
        isa<IntegerType>(elem) ? rewriter.getI64IntegerAttr(groupSize) : nullptr);
  }
  return buffer;
}

LogicalResult ExecBuilder::launch(const KernelSpecialization &spec, ArrayRef<Value> args,
                                  Affine extent, int64_t grain) {
  auto kernel = lowering.kernels.get(spec, loc);
  if (failed(kernel))
    return failure();
  // Over a rank's received rows (limitRows): up to the rows received. The
  // CUDA target's launches cover the whole bound (a launch's extent is fixed
  // in the graph that replays it).
  bool limited = !options().cuda && rowLimit && extent.perToken == 0 &&
                 extent.fixed == rowLimitRows;
  exec::LaunchOp::create(rewriter, loc, FlatSymbolRefAttr::get(*kernel), args,
                         limited ? rowLimit : Value(), affine(extent),
                         rewriter.getI64IntegerAttr(grain),
                         limited ? rewriter.getI64IntegerAttr(rowLimitIndex) : nullptr);
  return success();
}

FailureOr<Value> ExecBuilder::bufferOf(Value original, Value adapted) {
  if (original.getDefiningOp<moe::WeightOp>())
    return weight(original);
  if (!isa<exec::BufferType>(adapted.getType()))
    return emitError(loc) << "moe-lower-to-exec: no buffer for a value of type "
                          << original.getType();
  return adapted;
}
