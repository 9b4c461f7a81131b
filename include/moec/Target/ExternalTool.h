//===- ExternalTool.h - running a tool of the toolchain on bytes -*- C++ -*-===//
//
// The system linker (host code objects) and ptxas (cubins) turn bytes made in
// memory into other bytes through temporary files.
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_TARGET_EXTERNALTOOL_H
#define MOEC_TARGET_EXTERNALTOOL_H

#include "mlir/Support/LLVM.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <string>
#include <vector>

namespace moec {

/// Writes `input` to a temporary file with extension `inExt`, runs `program`
/// with `args` (argv[0] first; "{in}" and "{out}" stand for the input file and
/// a temporary output file with extension `outExt`) for at most `seconds`,
/// and returns the output file's bytes. On failure `error` says
/// "`what` (program) failed: ...", with what the tool printed; the temporary
/// files are removed either way.
mlir::FailureOr<std::vector<char>>
runExternalTool(llvm::StringRef program, llvm::ArrayRef<std::string> args,
                llvm::StringRef input, llvm::StringRef inExt,
                llvm::StringRef outExt, llvm::StringRef what, unsigned seconds,
                std::string &error);

} // namespace moec

#endif // MOEC_TARGET_EXTERNALTOOL_H
