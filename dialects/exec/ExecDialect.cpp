//===- ExecDialect.cpp - the exec dialect ---------------------------------===//
#include "exec/ExecDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/LoopLikeInterface.h"

#include "llvm/ADT/StringExtras.h"
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
    if (!n || !n.getType().isSignlessInteger(64))
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
  if (name == KernelParamsAttrHelper::getNameStr()) {
    if (!isa<FunctionOpInterface>(op))
      return op->emitError() << "'" << name << "' belongs on a function";
    auto params = dyn_cast<DictionaryAttr>(value);
    if (!params)
      return op->emitError() << "'" << name << "' must be a dictionary";
    for (NamedAttribute p : params) {
      auto type = dyn_cast<TypeAttr>(p.getValue());
      Type t = type ? type.getValue() : Type();
      if (!t || !(t.isIndex() || t.isSignlessInteger(1) || t.isSignlessInteger(64) ||
                  t.isF32() || t.isF64() || isa<NoneType>(t)))
        return op->emitError() << "kernel parameter '" << p.getName().getValue()
                               << "' must have type index, i1, i64, f32, f64 "
                                  "or none (an element type), got "
                               << p.getValue();
    }
    return success();
  }
  if (name == KernelOneOfAttrHelper::getNameStr()) {
    auto groups = dyn_cast<ArrayAttr>(value);
    if (!groups || !isa<FunctionOpInterface>(op))
      return op->emitError() << "'" << name
                             << "' is an array of flag groups on a function";
    auto params = op->getAttrOfType<DictionaryAttr>(
        KernelParamsAttrHelper::getNameStr());
    for (Attribute g : groups) {
      auto group = dyn_cast<ArrayAttr>(g);
      if (!group || group.empty())
        return op->emitError() << "'" << name << "': " << g
                               << " is not a non-empty array of flag names";
      for (Attribute f : group) {
        auto flag = dyn_cast<StringAttr>(f);
        auto type = flag && params ? params.getAs<TypeAttr>(flag) : TypeAttr();
        if (!type || !type.getValue().isSignlessInteger(1))
          return op->emitError() << "'" << name << "': " << f
                                 << " is not an i1 parameter of the kernel";
      }
    }
    return success();
  }
  if (name == kFaultWordAttr) {
    auto fn = dyn_cast<FunctionOpInterface>(op);
    if (!isa<UnitAttr>(value) || !fn)
      return op->emitError() << "'" << name << "' is a unit attribute on a kernel";
    ArrayRef<Type> args = fn.getArgumentTypes();
    auto memrefs = llvm::make_filter_range(
        args, [](Type t) { return isa<MemRefType>(t); });
    Type last;
    for (Type t : memrefs)
      last = t;
    if (!last) // lowered to the LLVM dialect: the arguments are pointers
      return success();
    auto word = dyn_cast<MemRefType>(last);
    if ( word.getShape() != ArrayRef<int64_t>{1} ||
        !word.getElementType().isSignlessInteger(32))
      return op->emitError() << "'" << name << "': the kernel's last buffer "
                                "argument must be its fault word, memref<1xi32>";
    return success();
  }
  if (name == ShapeAttrHelper::getNameStr() || name == IfAttrHelper::getNameStr() ||
      name == ElementTypeAttrHelper::getNameStr())
    return op->emitError() << "'" << name << "' belongs on a kernel's argument";
  return op->emitError() << "unknown exec attribute '" << name
                         << "' (expected one of exec.target, exec.target_arch, "
                            "exec.max_tokens, exec.arena_bytes, exec.lanes, "
                            "exec.spread, exec.kernel_params, "
                            "exec.kernel_one_of, exec.fault_word)";
}

/// The type of kernel parameter `name` of `fn`, or null.
static Type paramType(Operation *fn, StringRef name) {
  auto params =
      fn->getAttrOfType<DictionaryAttr>(ExecDialect::KernelParamsAttrHelper::getNameStr());
  auto type = params ? params.getAs<TypeAttr>(name) : TypeAttr();
  return type ? type.getValue() : Type();
}

LogicalResult ExecDialect::verifyRegionArgAttribute(Operation *op,
                                                    unsigned region,
                                                    unsigned index,
                                                    NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  auto fn = dyn_cast<FunctionOpInterface>(op);
  if (!fn || region != 0)
    return op->emitError() << "'" << name << "' belongs on a function's argument";
  // From the type, not the block: a declaration has no entry block.
  Type argType = fn.getArgumentTypes()[index];
  if (name == IfAttrHelper::getNameStr()) {
    auto flag = dyn_cast<StringAttr>(attr.getValue());
    if (!flag)
      return op->emitError() << "'" << name << "' of argument " << index
                             << " must name a flag";
    Type t = paramType(op, flag.getValue());
    if (!t || !t.isSignlessInteger(1))
      return op->emitError() << "'" << name << "' of argument " << index
                             << ": '" << flag.getValue()
                             << "' is not an i1 parameter of the kernel";
    return success();
  }
  if (name == ShapeAttrHelper::getNameStr()) {
    auto shape = dyn_cast<ArrayAttr>(attr.getValue());
    auto memref = dyn_cast<MemRefType>(argType);
    if (!shape || !memref)
      return op->emitError() << "'" << name << "' of argument " << index
                             << " must be an array, on a memref";
    if (static_cast<int64_t>(shape.size()) != memref.getRank())
      return op->emitError() << "'" << name << "' of argument " << index
                             << " has " << shape.size()
                             << " dimensions, the memref " << memref.getRank();
    for (Attribute entry : shape) {
      FailureOr<ShapeDim> dim = parseShapeDim(entry);
      if (failed(dim))
        return op->emitError() << "'" << name << "' of argument " << index
                               << ": " << entry
                               << " is not N, NAME, NAME+B or A*NAME+B";
      if (dim->param.empty())
        continue;
      Type t = paramType(op, dim->param);
      if (!t || !t.isIndex())
        return op->emitError() << "'" << name << "' of argument " << index
                               << ": '" << dim->param
                               << "' is not an index parameter of the kernel";
    }
    return success();
  }
  if (name == ElementTypeAttrHelper::getNameStr()) {
    auto param = dyn_cast<StringAttr>(attr.getValue());
    auto memref = dyn_cast<MemRefType>(argType);
    if (!param || !memref || !memref.getElementType().isF32())
      return op->emitError() << "'" << name << "' of argument " << index
                             << " must name a type parameter, on an f32 memref";
    Type t = paramType(op, param.getValue());
    if (!t || !isa<NoneType>(t))
      return op->emitError() << "'" << name << "' of argument " << index
                             << ": '" << param.getValue()
                             << "' is not a type parameter (none) of the kernel";
    return success();
  }
  return op->emitError() << "unknown exec argument attribute '" << name
                         << "' (expected exec.shape, exec.if or "
                            "exec.element_type)";
}

FailureOr<ShapeDim> moec::exec::parseShapeDim(Attribute entry) {
  ShapeDim dim;
  if (auto n = dyn_cast<IntegerAttr>(entry)) {
    if (!n.getType().isSignlessInteger() ||
        n.getType().getIntOrFloatBitWidth() > 64)
      return failure();
    dim.scale = 0;
    dim.offset = n.getInt();
    return dim;
  }
  auto text = dyn_cast<StringAttr>(entry);
  if (!text)
    return failure();
  StringRef s = text.getValue().trim();
  auto [head, tail] = s.split('+');
  if (!tail.empty() && tail.trim().getAsInteger(10, dim.offset))
    return failure();
  if (head.contains('*')) {
    auto [a, n] = head.split('*');
    if (a.trim().getAsInteger(10, dim.scale))
      return failure();
    head = n;
  }
  head = head.trim();
  if (head.empty() || !llvm::all_of(head, [](char c) {
        return llvm::isAlnum(c) || c == '_';
      }) || llvm::isDigit(head.front()))
    return failure();
  dim.param = head.str();
  return dim;
}
