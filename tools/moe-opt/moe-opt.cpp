//===- moe-opt.cpp - mlir-opt for the moe dialect -------------------------===//
//
// Parses, verifies, transforms and prints IR of the moe dialect together with
// the upstream dialects a graph uses (func, arith, tensor) and MLIR's generic
// passes (-canonicalize, -cse, ...), and the kernels' dialects (scf, math,
// memref, gpu) so that lib/Conversion/Kernels parses as it stands.
//
//===----------------------------------------------------------------------===//
#include "moe/MoeDialect.h"
#include "moec/Conversion/Passes.h"
#include "moec/Support/Files.h"
#include "moec/Target/Passes.h"
#include "moec/Target/Pipeline.h"
#include "moec/Transforms/Passes.h"
#include "exec/ExecDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

int main(int argc, char **argv) {
  mlir::registerTransformsPasses();
  moec::registerMoecTransformsPasses();
  moec::registerMoecConversionPasses();
  moec::registerMoecTargetPasses();
  moec::registerCompilePipeline();

  mlir::DialectRegistry registry;
  registry.insert<moec::moe::MoeDialect, moec::exec::ExecDialect,
                  mlir::LLVM::LLVMDialect, mlir::gpu::GPUDialect,
                  mlir::func::FuncDialect, mlir::scf::SCFDialect,
                  mlir::math::MathDialect, mlir::memref::MemRefDialect,
                  mlir::arith::ArithDialect, mlir::tensor::TensorDialect>();

  // As MlirOptMain(argc, argv, ...), but the input is read as every moec
  // tool reads one (a regular file, bounded, not bytecode, nesting bounded:
  // moec/Support/Files.h) and a failed write is an error, not an abort.
  auto [inputFile, outputFile] = mlir::registerAndParseCLIOptions(
      argc, argv, "moe-opt: the moec optimizer driver\n", registry);
  auto fail = [](const llvm::Twine &message) {
    llvm::WithColor::error(llvm::errs(), "moe-opt") << message << "\n";
    return 1;
  };
  auto input = moec::openInputFile(inputFile, moec::kMaxTextInputBytes);
  if (!input)
    return fail(llvm::toString(input.takeError()));
  if (llvm::Error e = moec::checkMlirInput((*input)->getBuffer(), inputFile))
    return fail(llvm::toString(std::move(e)));
  std::string error;
  auto output = mlir::openOutputFile(outputFile, &error);
  if (!output)
    return fail(error);
  if (mlir::failed(mlir::MlirOptMain(output->os(), std::move(*input), registry,
                                     mlir::MlirOptMainConfig::createFromCLOptions())))
    return 1;
  if (llvm::Error e = moec::finishOutput(*output))
    return fail(llvm::toString(std::move(e)));
  return 0;
}
