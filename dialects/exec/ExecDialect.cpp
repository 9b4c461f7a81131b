//===- ExecDialect.cpp - the exec dialect ---------------------------------===//
#include "exec/ExecDialect.h"

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
