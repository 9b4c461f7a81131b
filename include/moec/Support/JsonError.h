//===- JsonError.h - JSON parse errors as "line:column: message" -*- C++ -*-===//
#ifndef MOEC_SUPPORT_JSONERROR_H
#define MOEC_SUPPORT_JSONERROR_H

#include "llvm/Support/Error.h"

#include <string>

namespace moec {
/// Consumes an error from llvm::json::parse and formats it as
/// "line L, column C: message" (other errors: their message).
std::string formatJsonError(llvm::Error error);
} // namespace moec

#endif // MOEC_SUPPORT_JSONERROR_H
