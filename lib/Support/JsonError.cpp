//===- JsonError.cpp - JSON parse errors as "line:column: message" --------===//
#include "moec/Support/JsonError.h"
#include "moec/Support/Files.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/Regex.h"

using namespace llvm;

std::string moec::formatJsonError(Error error) {
  std::string text = toString(std::move(error));
  // llvm::json::ParseError logs as "[line:column, byte=N]: message".
  Regex pattern("^\\[([0-9]+):([0-9]+), byte=[0-9]+\\]: (.*)$");
  SmallVector<StringRef, 4> m;
  if (pattern.match(text, &m))
    return ("line " + m[1] + ", column " + m[2] + ": " + m[3]).str();
  return text;
}

Expected<json::Value> moec::parseJson(StringRef text) {
  if (unsigned depth = jsonNestingDepth(text, kMaxJsonDepth);
      depth > kMaxJsonDepth)
    return createStringError(inconvertibleErrorCode(),
                             "nested more than " + Twine(kMaxJsonDepth) +
                                 " levels deep; refused");
  return json::parse(text);
}
