//===- ExecDialect.cpp - the exec dialect ---------------------------------===//
#include "exec/ExecDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/LoopLikeInterface.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace moec::exec;

#include "exec/ExecDialect.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "exec/ExecTypes.cpp.inc"

#define GET_OP_CLASSES
#include "exec/ExecOps.cpp.inc"

void ExecDialect::initialize() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "exec/ExecTypes.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "exec/ExecOps.cpp.inc"
      >();
}

Type BufferType::parse(AsmParser &parser) {
  SmallVector<int64_t> shape;
  Type elementType;
  if (parser.parseLess() ||
      parser.parseDimensionList(shape, /*allowDynamic=*/true) ||
      parser.parseType(elementType) || parser.parseGreater())
    return Type();
  return BufferType::get(parser.getContext(), shape, elementType);
}

void BufferType::print(AsmPrinter &printer) const {
  printer << "<";
  printer.printDimensionList(getShape());
  if (!getShape().empty())
    printer << "x";
  printer << getElementType() << ">";
}

/// The contract of the exec attributes (ExecOps.td): each on the ops it
/// belongs to, with a value of its kind; any other exec.* name is an error.
LogicalResult ExecDialect::verifyOperationAttribute(Operation *op,
                                                    NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  Attribute value = attr.getValue();
  auto onModule = [&]() -> LogicalResult {
    if (!isa<ModuleOp>(op))
      return op->emitError() << "'" << name << "' belongs on a builtin.module";
    if (!isa<StringAttr>(value))
      return op->emitError() << "'" << name << "' must be a string";
    return success();
  };
  auto positiveOnFunction = [&](int64_t least) -> LogicalResult {
    if (!isa<FunctionOpInterface>(op))
      return op->emitError() << "'" << name << "' belongs on a function";
    auto n = dyn_cast<IntegerAttr>(value);
    if (!n || !n.getType().isInteger(64))
      return op->emitError() << "'" << name << "' must be an i64";
    if (n.getInt() < least)
      return op->emitError() << "'" << name << "' must be at least " << least
                             << ", got " << n.getInt();
    return success();
  };

  if (name == TargetAttrHelper::getNameStr()) {
    if (failed(onModule()))
      return failure();
    StringRef target = cast<StringAttr>(value).getValue();
    if (target != "cpu" && target != "cuda")
      return op->emitError() << "'" << name << "' must be \"cpu\" or \"cuda\", got \""
                             << target << "\"";
    return success();
  }
  if (name == TargetArchAttrHelper::getNameStr()) {
    if (failed(onModule()))
      return failure();
    StringRef arch = cast<StringAttr>(value).getValue();
    StringRef digits = arch;
    unsigned sm;
    if (!digits.consume_front("sm_") || digits.consumeInteger(10, sm) ||
        !(digits.empty() || digits == "a"))
      return op->emitError() << "'" << name << "' must be a GPU architecture "
                                "sm_NN (or sm_NNa), got \""
                             << arch << "\"";
    if (auto target = op->getAttrOfType<StringAttr>(TargetAttrHelper::getNameStr());
        target && target.getValue() != "cuda")
      return op->emitError() << "'" << name << "' needs the cuda target, "
                             << "this module's is \"" << target.getValue() << "\"";
    return success();
  }
  if (name == MaxTokensAttrHelper::getNameStr())
    return positiveOnFunction(1);
  if (name == ArenaBytesAttrHelper::getNameStr()) {
    if (failed(positiveOnFunction(0)))
      return failure();
    if (!op->hasAttr(MaxTokensAttrHelper::getNameStr()))
      return op->emitError() << "'" << name << "' needs '"
                             << MaxTokensAttrHelper::getNameStr()
                             << "', the T that it is planned for";
    return success();
  }
  if (name == LanesAttrHelper::getNameStr()) {
    if (failed(positiveOnFunction(1)))
      return failure();
    int64_t lanes = cast<IntegerAttr>(value).getInt();
    if (lanes != 1 && lanes != 32)
      return op->emitError() << "'" << name
                             << "' must be 1 or 32 (a warp per item), got "
                             << lanes;
    return success();
  }
  if (name == SpreadAttrHelper::getNameStr()) {
    if (!isa<UnitAttr>(value))
      return op->emitError() << "'" << name << "' is a unit attribute";
    if (!isa<LoopLikeOpInterface>(op))
      return op->emitError() << "'" << name << "' belongs on a loop";
    return success();
  }
  return op->emitError() << "unknown exec attribute '" << name
                         << "' (expected one of exec.target, exec.target_arch, "
                            "exec.max_tokens, exec.arena_bytes, exec.lanes, "
                            "exec.spread)";
}
