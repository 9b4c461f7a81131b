//===- ParseInt.h - integer option values of the runtime-only tools -*- C++ -*-===//
//
// moe-run and moe-bench link only libmoert (no LLVM): they read their
// command lines themselves, and both take integer option values this way.
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_TOOLS_COMMON_PARSEINT_H
#define MOEC_TOOLS_COMMON_PARSEINT_H

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace moetools {

/// `text`, the value given to `flag`, when it is a whole decimal integer in
/// [lo, hi]; otherwise `fail` (the tool's usage error, which does not return)
/// gets a message saying what was expected.
inline int64_t parseInt(const std::string &flag, const std::string &text, int64_t lo,
                        int64_t hi, void (*fail)(const std::string &)) {
  errno = 0;
  char *end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < lo || v > hi) {
    fail(flag + " expects an integer in [" + std::to_string(lo) + ", " +
         std::to_string(hi) + "], got '" + text + "'");
    std::abort(); // `fail` returned
  }
  return v;
}

} // namespace moetools

#endif // MOEC_TOOLS_COMMON_PARSEINT_H
