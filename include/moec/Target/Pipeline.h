//===- Pipeline.h - the moe-compile pass pipeline ---------------*- C++ -*-===//
#ifndef MOEC_TARGET_PIPELINE_H
#define MOEC_TARGET_PIPELINE_H

#include "moec/Support/TargetOptions.h"

#include "mlir/Pass/PassManager.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

#include "mlir/IR/BuiltinOps.h"

namespace moec {

/// The stages moe-compile can stop after, in order.
/// (moe-plan-dispatch, which pads each expert's rows to a block, is not
/// among them: every target's GEMMs take any row count, so the padding
/// would cost rows and buy nothing.)
enum class Stage { Input, Expand, Exec, Codegen, Artifact };
llvm::ArrayRef<llvm::StringRef> getStageNames();
std::optional<Stage> parseStage(llvm::StringRef name);

struct CompileOptions {
  int64_t maxTokens = 4096;
  ExecTarget target = ExecTarget::Cpu;
  std::string cpu = "x86-64-v3";
  /// The FFN weights' element type and their GEMMs' operand type
  /// (moe-lower-to-exec's weight-type).
  WeightType weightType = WeightType::F32;
  /// int8 / int4: the values along k that share a scale (32, 64 or 128).
  int64_t groupSize = 32;
  /// int8 / int4: their GEMMs quantize the activations per group to int8
  /// (false: f32 activations against the dequantized weights).
  bool int8Activations = true;
  /// An FFN's gate and up projections as one GEMM over their stacked
  /// weights (moe-lower-to-exec's fuse-gate-up); unset: on for cuda, off
  /// for cpu.
  std::optional<bool> fuseGateUp;
  /// The CPU target: f32 and bf16 GEMM weights pre-packed in panels
  /// (moe-pack-weights); false keeps them row-major.
  bool packWeights = true;
  /// The CUDA target: the GPU architecture, the code object's form (auto,
  /// ptx or cubin) and the toolkit (for ptxas; empty: /usr/local/cuda).
  std::string chip = "sm_90";
  /// Grouped GEMMs run the generated grouped_gemv_warp kernel instead of
  /// cuBLAS when T <= this (0: cuBLAS at every T; moe-lower-to-exec's
  /// gemv-max-tokens).
  int64_t cudaGemvMaxTokens = 0;
  /// fp8 GEMMs also get cuBLASLt's block-scaled engine where their shapes
  /// fit (moe-lower-to-exec's fp8-cublaslt).
  bool cudaFp8Cublaslt = true;
  CudaBinary cudaBinary = CudaBinary::Auto;
  std::string cudaPath;
  /// Expert parallelism (moe-shard-experts): the ranks that hold the
  /// experts (0: none, one device), the slots per rank (0: ceil(E / ranks))
  /// and the receive bound (0: the pass's default).
  int64_t shardRanks = 0;
  int64_t shardSlots = 0;
  int64_t shardRecvRows = 0;
  std::string output; // the artifact, for Stage::Artifact
  /// A file with an Ed25519 secret key: the artifact is signed with it.
  std::string signKey;
  bool progress = false;
};

/// Loads every dialect a graph given to the pipeline may hold (moe, exec,
/// func, arith, tensor) and the ones its stages create (scf, math, memref,
/// llvm), as moe-compile and moe-bench need before parsing.
void loadCompileDialects(mlir::MLIRContext &context);

/// Parses "cpu", "cuda" or "cuda:sm_NN" into options.target / options.chip;
/// false (with a message in `error`) for anything else.
bool parseTarget(llvm::StringRef text, CompileOptions &options,
                 std::string &error);

/// Adds the passes of every stage up to and including `last`.
void buildCompilePipeline(mlir::OpPassManager &pm, const CompileOptions &options,
                          Stage last = Stage::Artifact);

/// Makes the relative checkpoint paths (`moe.weight ... from "PATH"`) of
/// `module` relative to `base`, the folder of the IR file they were read
/// from, so that a module compiles from any working directory.
void resolveWeightFiles(mlir::ModuleOp module, llvm::StringRef base);

/// The type a checkpoint's weights are stored in, when every moe.weight of
/// `module` read from a checkpoint is BF16 (or every one F16): the default
/// weight type of moe-compile. F32 otherwise (mixed types, f32 checkpoints,
/// no checkpoint).
WeightType nativeWeightType(mlir::ModuleOp module);

/// Registers --moe-compile-pipeline with moe-opt.
void registerCompilePipeline();

} // namespace moec

#endif // MOEC_TARGET_PIPELINE_H
