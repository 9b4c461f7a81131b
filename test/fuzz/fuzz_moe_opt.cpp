//===- fuzz_moe_opt.cpp - libFuzzer target: parsing and verifying moe IR --===//
//
// Arbitrary text through the check the tools run first (moec::checkMlirInput:
// no bytecode, bounded nesting), then the MLIR parser with the moe and exec
// dialects registered, then the verifier; what verifies is printed again.
// MLIR bytecode is refused by the tools (its reader is not hardened), so it
// has no fuzz target.
//
//===----------------------------------------------------------------------===//
#include "exec/ExecDialect.h"
#include "moe/MoeDialect.h"
#include "moec/Support/Files.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include "llvm/Support/raw_ostream.h"

#include <string>

// Debian's LLVM/MLIR libraries are not instrumented, but LLVM's headers poison
// allocator memory by hand when compiled with ASan; mixing the two reports
// false use-after-poison errors inside MLIR. Ignore manual poisoning (our own
// code does none); every other check stays on.
extern "C" const char *__asan_default_options() {
  return "allow_user_poisoning=0";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mlir::DialectRegistry *registry = [] {
    auto *r = new mlir::DialectRegistry();
    r->insert<moec::moe::MoeDialect, moec::exec::ExecDialect,
              mlir::func::FuncDialect, mlir::arith::ArithDialect,
              mlir::tensor::TensorDialect>();
    return r;
  }();
  mlir::MLIRContext context(*registry, mlir::MLIRContext::Threading::DISABLED);
  context.loadAllAvailableDialects();
  mlir::ScopedDiagnosticHandler quiet(&context, [](mlir::Diagnostic &) {
    return mlir::success();
  });
  // MLIR's lexer relies on a NUL after the text (as moe-opt's files have:
  // MemoryBuffer terminates them); it reads past a bare buffer's end.
  std::string text(reinterpret_cast<const char *>(data), size);
  if (llvm::Error e = moec::checkMlirInput(text, "input")) {
    llvm::consumeError(std::move(e));
    return 0;
  }
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  if (module && mlir::succeeded(mlir::verify(*module))) {
    std::string text;
    llvm::raw_string_ostream os(text);
    module->print(os);
  }
  return 0;
}
