//===- JsonError.h - JSON parse errors as "line:column: message" -*- C++ -*-===//
#ifndef MOEC_SUPPORT_JSONERROR_H
#define MOEC_SUPPORT_JSONERROR_H

#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <string>

namespace moec {
/// Consumes an error from llvm::json::parse and formats it as
/// "line L, column C: message" (other errors: their message).
std::string formatJsonError(llvm::Error error);
/// llvm::json::parse with the nesting depth bounded first (kMaxJsonDepth in
/// moec/Support/Files.h): its parser recurses once per level, so deep
/// input would overflow the stack.
llvm::Expected<llvm::json::Value> parseJson(llvm::StringRef text);

} // namespace moec

#endif // MOEC_SUPPORT_JSONERROR_H
