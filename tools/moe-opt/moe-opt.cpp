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
#include "moec/Target/Passes.h"
#include "moec/Target/Pipeline.h"
#include "moec/Transforms/Passes.h"
#include "exec/ExecDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

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

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "moe-opt: the moec optimizer driver\n", registry));
}
