//===- ExternalTool.cpp - running a tool of the toolchain on bytes --------===//
#include "moec/Target/ExternalTool.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

FailureOr<std::vector<char>>
moec::runExternalTool(llvm::StringRef program, llvm::ArrayRef<std::string> args,
                      llvm::StringRef input, llvm::StringRef inExt,
                      llvm::StringRef outExt, llvm::StringRef what,
                      unsigned seconds, std::string &error) {
  llvm::SmallString<128> inPath, outPath, logPath;
  llvm::scope_exit cleanup([&] {
    for (const auto &path : {inPath, outPath, logPath})
      if (!path.empty())
        llvm::sys::fs::remove(path);
  });
  for (auto [path, ext] : {std::pair{&inPath, inExt}, std::pair{&outPath, outExt},
                           std::pair{&logPath, llvm::StringRef("log")}})
    if (auto ec = llvm::sys::fs::createTemporaryFile("moec-kernels", ext, *path)) {
      error = "cannot create a temporary file: " + ec.message();
      return failure();
    }
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(inPath, ec);
    if (ec) {
      error = "cannot write " + inPath.str().str() + ": " + ec.message();
      return failure();
    }
    os << input;
  }
  std::vector<std::string> expanded;
  for (const std::string &arg : args)
    expanded.push_back(arg == "{in}"    ? inPath.str().str()
                       : arg == "{out}" ? outPath.str().str()
                                        : arg);
  llvm::SmallVector<llvm::StringRef> argv(expanded.begin(), expanded.end());
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, logPath, logPath};
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(program, argv, std::nullopt, redirects,
                                     seconds, 0, &message);
  if (rc != 0) {
    auto log = llvm::MemoryBuffer::getFile(logPath);
    llvm::StringRef printed = log ? (*log)->getBuffer().trim() : "";
    error = (what + " (" + program + ") failed").str() +
            (message.empty() ? "" : ": " + message) +
            (printed.empty() ? "" : ":\n" + printed.str());
    return failure();
  }
  auto output = llvm::MemoryBuffer::getFile(outPath, false, false);
  if (!output) {
    error = (what + "'s output cannot be read: " + output.getError().message()).str();
    return failure();
  }
  return std::vector<char>((*output)->getBufferStart(), (*output)->getBufferEnd());
}
