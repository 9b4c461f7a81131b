//===- Pipeline.cpp - the moe-compile pass pipeline -----------------------===//
#include "moec/Target/Pipeline.h"

#include "moec/Conversion/Passes.h"
#include "moec/Target/Passes.h"
#include "moec/Transforms/Passes.h"

#include "exec/ExecDialect.h"
#include "moe/MoeDialect.h"
#include "moec/Support/Safetensors.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Path.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace moec;

namespace {
constexpr llvm::StringRef kStages[] = {"input", "expand",
                                       "exec",  "codegen", "artifact"};
} // namespace

llvm::ArrayRef<llvm::StringRef> moec::getStageNames() { return kStages; }

std::optional<Stage> moec::parseStage(llvm::StringRef name) {
  for (auto [i, s] : llvm::enumerate(kStages))
    if (s == name)
      return static_cast<Stage>(i);
  return std::nullopt;
}

void moec::loadCompileDialects(MLIRContext &context) {
  context.loadDialect<moe::MoeDialect, exec::ExecDialect, func::FuncDialect,
                      arith::ArithDialect, tensor::TensorDialect,
                      scf::SCFDialect, math::MathDialect, memref::MemRefDialect,
                      LLVM::LLVMDialect, gpu::GPUDialect>();
}

bool moec::parseTarget(llvm::StringRef text, CompileOptions &options,
                       std::string &error) {
  if (text == "cpu") {
    options.target = ExecTarget::Cpu;
    return true;
  }
  if (text == "cuda" || text.starts_with("cuda:")) {
    options.target = ExecTarget::Cuda;
    if (text.consume_front("cuda:")) {
      if (!isCudaChip(text)) {
        error = "unknown GPU architecture '" + text.str() +
                "' in --target (expected cuda:sm_NN with NN >= 75 that "
                "this LLVM's NVPTX backend knows, e.g. cuda:sm_80, cuda:sm_90 "
                "or cuda:sm_90a)";
        return false;
      }
      options.chip = text.str();
    }
    return true;
  }
  error = "unknown target '" + text.str() + "' (expected cpu or cuda[:sm_NN])";
  return false;
}

void moec::buildCompilePipeline(OpPassManager &pm,
                                const CompileOptions &options, Stage last) {
  if (last < Stage::Expand)
    return;
  pm.addPass(createMoeExpandBlocks());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  if (options.shardRanks > 0)
    pm.addPass(createMoeShardExperts(MoeShardExpertsOptions{
        options.shardRanks, options.shardSlots, options.shardRecvRows}));
  if (last < Stage::Exec)
    return;
  pm.addPass(createMoeLowerToExec(
      MoeLowerToExecOptions{options.maxTokens, options.target,
                            options.weightType, options.groupSize,
                            options.int8Activations, options.cudaGemvMaxTokens,
                            options.fuseGateUp.value_or(options.target == ExecTarget::Cuda),
                            options.cudaFp8Cublaslt}));
  pm.addPass(createExecPlanMemory());
  if (options.target == ExecTarget::Cpu && options.packWeights)
    pm.addPass(createMoePackWeights());
  if (last < Stage::Codegen)
    return;
  // Data-derived indices checked in every kernel, reported through the
  // kernel's fault word.
  pm.addPass(createExecGuardKernelIndices());
  if (options.target == ExecTarget::Cuda)
    pm.addPass(createMoeCodegenCuda(MoeCodegenCudaOptions{
        options.chip, options.cudaBinary, options.cudaPath}));
  else
    pm.addPass(createMoeCodegenHost(MoeCodegenHostOptions{options.cpu}));
  if (last < Stage::Artifact)
    return;
  pm.addPass(createMoeExportArtifact(
      MoeExportArtifactOptions{options.output, options.progress,
                               options.signKey}));
}

namespace {
/// A pipeline builder cannot fail: a bad option of --moe-compile-pipeline
/// becomes this pass, which reports it on the module and fails.
struct PipelineOptionError
    : PassWrapper<PipelineOptionError, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(PipelineOptionError)
  explicit PipelineOptionError(std::string message)
      : message(std::move(message)) {}
  StringRef getArgument() const override { return "moe-compile-pipeline-error"; }
  void runOnOperation() override {
    getOperation().emitError() << "moe-compile-pipeline: " << message;
    signalPassFailure();
  }
  std::string message;
};

struct PipelineOptions : PassPipelineOptions<PipelineOptions> {
  Option<int64_t> maxTokens{*this, "max-tokens", llvm::cl::init(4096),
                            llvm::cl::desc("the largest token count of a run")};
  Option<std::string> target{*this, "target", llvm::cl::init("cpu"),
                             llvm::cl::desc("cpu or cuda[:sm_NN]")};
  Option<WeightType> weightType{
      *this, "weight-type", llvm::cl::init(WeightType::F32),
      llvm::cl::desc("f32, bf16, f16, fp8, mxfp4, int8 or int4: the FFN weights and their GEMMs"),
      llvm::cl::values(clEnumValN(WeightType::F32, "f32", "f32"),
                       clEnumValN(WeightType::BF16, "bf16", "bfloat16"),
                       clEnumValN(WeightType::F16, "f16", "IEEE half"),
                       clEnumValN(WeightType::FP8, "fp8",
                                  "e4m3, 128 x 128 block scales"),
                       clEnumValN(WeightType::MXFP4, "mxfp4",
                                  "e2m1, an e8m0 scale per 32 values"),
                       clEnumValN(WeightType::INT8, "int8", "symmetric, an f16 scale per group"),
                       clEnumValN(WeightType::INT4, "int4",
                                  "an f16 scale and a zero point per group"))};
  Option<int64_t> groupSize{
      *this, "group-size", llvm::cl::init(32),
      llvm::cl::desc("int8 / int4: values along k per scale (32, 64 or 128)")};
  Option<bool> int8Activations{
      *this, "int8-activations", llvm::cl::init(true),
      llvm::cl::desc("int8 / int4: GEMMs quantize the activations per group")};
  Option<bool> fuseGateUp{
      *this, "fuse-gate-up", llvm::cl::init(false),
      llvm::cl::desc("an FFN's gate and up projections as one GEMM (not given: "
                     "on for cuda, off for cpu)")};
  Option<bool> packWeights{
      *this, "pack-weights", llvm::cl::init(true),
      llvm::cl::desc("cpu: GEMM weights pre-packed in panels")};
  Option<int64_t> cudaGemvMaxTokens{
      *this, "cuda-gemv-max-tokens", llvm::cl::init(0),
      llvm::cl::desc("cuda: grouped GEMMs run the generated kernel at T <= N")};
  Option<bool> cudaFp8Cublaslt{
      *this, "cuda-fp8-cublaslt", llvm::cl::init(true),
      llvm::cl::desc("cuda: fp8 GEMMs also record cuBLASLt's block-scaled engine")};
  Option<std::string> cpu{*this, "cpu", llvm::cl::init("x86-64-v3"),
                          llvm::cl::desc("the CPU the kernels are tuned for")};
  Option<int64_t> shardRanks{
      *this, "shard-ranks", llvm::cl::init(0),
      llvm::cl::desc("expert parallelism over N ranks (0: one device)")};
  Option<int64_t> shardSlots{
      *this, "shard-slots", llvm::cl::init(0),
      llvm::cl::desc("expert slots per rank (0: ceil(E / ranks))")};
  Option<int64_t> shardRecvRows{
      *this, "shard-recv-rows", llvm::cl::init(0),
      llvm::cl::desc("the most rows a rank receives per exchange (0: never overflows)")};
  Option<std::string> output{*this, "output", llvm::cl::init(""),
                             llvm::cl::desc("the .moeb to write")};
  Option<std::string> signKey{
      *this, "sign-key", llvm::cl::init(""),
      llvm::cl::desc("sign the .moeb with the Ed25519 secret key in this file")};
  Option<std::string> stopAfter{
      *this, "stop-after", llvm::cl::init("artifact"),
      llvm::cl::desc("input|expand|exec|codegen|artifact")};
};
} // namespace

void moec::registerCompilePipeline() {
  PassPipelineRegistration<PipelineOptions>(
      "moe-compile-pipeline",
      "The whole pipeline of moe-compile: expand, canonicalize, "
      "dispatch, lower to exec, codegen, export",
      [](OpPassManager &pm, const PipelineOptions &o) {
        CompileOptions options;
        options.maxTokens = o.maxTokens;
        options.cpu = o.cpu;
        options.weightType = o.weightType;
        options.groupSize = o.groupSize;
        options.int8Activations = o.int8Activations;
        options.packWeights = o.packWeights;
        if (o.fuseGateUp.hasValue())
          options.fuseGateUp = o.fuseGateUp;
        options.cudaGemvMaxTokens = o.cudaGemvMaxTokens;
        options.cudaFp8Cublaslt = o.cudaFp8Cublaslt;
        options.shardRanks = o.shardRanks;
        options.shardSlots = o.shardSlots;
        options.shardRecvRows = o.shardRecvRows;
        options.output = o.output;
        options.signKey = o.signKey;
        std::string error;
        if (!parseTarget(o.target, options, error))
          return pm.addPass(std::make_unique<PipelineOptionError>(error));
        std::optional<Stage> last = parseStage(o.stopAfter);
        if (!last)
          return pm.addPass(std::make_unique<PipelineOptionError>(
              "stop-after must be one of " +
              llvm::join(getStageNames(), ", ") + ", got '" + o.stopAfter +
              "'"));
        buildCompilePipeline(pm, options, *last);
      });
}

void moec::resolveWeightFiles(mlir::ModuleOp module, llvm::StringRef base) {
  module.walk([&](moe::WeightOp w) {
    std::optional<llvm::StringRef> file = w.getFile();
    if (!file || llvm::sys::path::is_absolute(*file))
      return;
    llvm::SmallString<256> path(base);
    llvm::sys::path::append(path, *file);
    llvm::sys::path::remove_dots(path, /*remove_dot_dot=*/true);
    w.setFileAttr(mlir::StringAttr::get(module.getContext(), path));
  });
}

moec::WeightType moec::nativeWeightType(mlir::ModuleOp module) {
  llvm::StringMap<std::unique_ptr<SafetensorsCheckpoint>> opened;
  bool any = false, allBf16 = true, allF16 = true, anyFp8 = false, anyMxfp4 = false;
  module.walk([&](moe::WeightOp w) {
    anyFp8 |= w.getFormat() == moe::WeightFormat::fp8_e4m3;
    anyMxfp4 |= w.getFormat() == moe::WeightFormat::mxfp4;
    std::optional<llvm::StringRef> file = w.getFile();
    if (!file)
      return;
    auto &ckpt = opened[*file];
    if (!ckpt) {
      auto o = SafetensorsCheckpoint::open(*file);
      if (!o) {
        llvm::consumeError(o.takeError()); // the exporter reports it
        allBf16 = allF16 = false;
        return;
      }
      ckpt = std::move(*o);
    }
    std::string name = w.getTensorName().str();
    for (size_t pos; (pos = name.find("{e}")) != std::string::npos;)
      name.replace(pos, 3, "0");
    const SafetensorsTensor *t = ckpt->find(name);
    any = true;
    allBf16 &= t && t->dtype == SafetensorsDType::BF16;
    allF16 &= t && t->dtype == SafetensorsDType::F16;
  });
  if (anyFp8) // as shipped: the FFN weights stay fp8
    return WeightType::FP8;
  if (anyMxfp4) // as shipped: the FFN weights stay MXFP4
    return WeightType::MXFP4;
  if (any && allBf16)
    return WeightType::BF16;
  if (any && allF16)
    return WeightType::F16;
  return WeightType::F32;
}
