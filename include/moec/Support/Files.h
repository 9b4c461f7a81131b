//===- Files.h - hostile-proof input files, checked output --*- C++ -*-===//
//
// Every file the compiler tools read goes through here (docs/reliability.md,
// "Threat model"): it is opened without blocking (a FIFO cannot hang the
// open), must be a regular file (a directory, FIFO, socket or device is
// refused with its kind named), and may be at most a given size. A mapped
// file is guarded: if it shrinks while mapped (SIGBUS on the next access),
// the process ends with one error line naming it instead of a crash.
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_SUPPORT_FILES_H
#define MOEC_SUPPORT_FILES_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

namespace llvm {
class ToolOutputFile;
}

#include <cstdint>
#include <memory>

namespace moec {

/// "a directory", "a FIFO", "a character device", ... for a st_mode.
const char *describeFileKind(unsigned mode);

/// Sizes beyond which inputs are refused.
constexpr uint64_t kMaxTextInputBytes = 1ull << 30;  // IR, JSON
constexpr uint64_t kMaxJsonConfigBytes = 64ull << 20; // config.json, index

/// Reads (or, with `map`, maps and guards) the regular file `path`, at most
/// `maxBytes` bytes. "-" reads standard input (bounded as well). Errors are
/// "PATH: ..." messages.
llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
openInputFile(llvm::StringRef path, uint64_t maxBytes, bool map = false);

/// While a guard is alive, a SIGBUS on an address in [data, data + size)
/// (the file under a mapping was truncated) prints
/// "error: PATH: the file shrank while it was being read (SIGBUS)" and exits
/// with status 1. At most 4096 guards at once; more are not guarded.
class MappedFileGuard {
public:
  MappedFileGuard(const void *data, uint64_t size, llvm::StringRef path);
  ~MappedFileGuard();
  MappedFileGuard(const MappedFileGuard &) = delete;
  MappedFileGuard &operator=(const MappedFileGuard &) = delete;

private:
  int slot_ = -1;
};

/// How deep JSON and MLIR inputs may nest (their parsers recurse).
constexpr unsigned kMaxJsonDepth = 128;
constexpr unsigned kMaxMlirDepth = 256;

/// The deepest nesting of [ ] and { } outside strings, stopping early once
/// it exceeds `limit`.
unsigned jsonNestingDepth(llvm::StringRef text, unsigned limit);

/// Checks textual MLIR before it is parsed: refuses MLIR bytecode (its
/// reader is not hardened against hostile files) and nesting of { } ( ) [ ]
/// < > deeper than kMaxMlirDepth. `name` is used in messages.
llvm::Error checkMlirInput(llvm::StringRef text, llvm::StringRef name);

/// Flushes and closes `out` and keeps it, or returns "FILE: writing
/// failed: REASON" (a full disk, /dev/full, a closed pipe) and leaves it to
/// be removed. Never lets the stream abort the process.
llvm::Error finishOutput(llvm::ToolOutputFile &out);

} // namespace moec

#endif // MOEC_SUPPORT_FILES_H
