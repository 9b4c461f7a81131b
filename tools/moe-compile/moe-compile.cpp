//===- moe-compile.cpp - moe graphs → .moeb artifacts ---------------------===//
#include "moe/MoeDialect.h"
#include "moec/Support/Files.h"
#include "moec/Target/Pipeline.h"


#include "exec/ExecDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <sodium.h>
#include <unistd.h>

#include "moert/format.h"

using namespace llvm;

static cl::OptionCategory category("moe-compile options");
static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<graph.mlir>"),
                                      cl::cat(category));
static cl::opt<std::string> outputFile(
    "o", cl::cat(category), cl::value_desc("model.moeb"),
    cl::desc("Output: the artifact, or the IR with --compile-to/--emit "
             "(default: stdout for IR)"));
static cl::opt<std::string> target(
    "target", cl::init("cpu"), cl::cat(category),
    cl::desc("cpu (default), or cuda[:sm_NN] for NVIDIA GPUs (default sm_90)"));
static cl::opt<std::string> cudaBinary(
    "cuda-binary", cl::init("auto"), cl::cat(category),
    cl::desc("The CUDA target's code object: ptx (compiled by the driver at "
             "load), cubin (assembled by ptxas), or auto (cubin when ptxas is "
             "found; default)"));
static cl::opt<std::string> cudaPath(
    "cuda-path", cl::init(""), cl::cat(category),
    cl::desc("The CUDA toolkit whose ptxas assembles cubins (default "
             "/usr/local/cuda when present, else ptxas on PATH)"));
static cl::opt<int64_t> maxTokens(
    "max-tokens", cl::init(4096), cl::cat(category),
    cl::desc("The largest token count T a run may have (default 4096); the "
             "arena is planned for it; at most 1048576"));
static cl::opt<std::string> weightType(
    "weight-type", cl::init("native"), cl::cat(category),
    cl::desc("The expert FFN weights' type in the artifact and of their GEMMs' "
             "operands: native (default: fp8 for an fp8 checkpoint, mxfp4 for "
             "an MXFP4 one; the checkpoint's type when all its weights are "
             "bf16, or all f16; else f32), f32, bf16, f16, fp8, mxfp4, int8 or "
             "int4. With "
             "bf16/f16 the activations "
             "a GEMM reads are rounded to that type and the products are "
             "summed in f32. fp8: e4m3 codes with a scale per "
             "128 x 128 block (an fp8 checkpoint's as shipped, other weights "
             "quantized here: scale = amax / 448, round to nearest even) "
             "against f32 activations on the cpu target; on the cuda target "
             "each value is read as bf16(code x scale) against bf16 "
             "activations. mxfp4 (K a multiple of "
             "32): e2m1 codes with an e8m0 scale per 32 values along K (an "
             "MXFP4 checkpoint's as shipped, other weights quantized here: "
             "the smallest power-of-two scale with amax / scale <= 6, round "
             "to nearest even) against f32 activations on the cpu target, "
             "bf16 ones on the cuda target (the values are exact in bf16). "
             "int8 / int4 "
             "(--target=cpu, K a multiple of --group-size): quantized here per "
             "row and group of --group-size values along K, int8 symmetric "
             "(an f16 scale amax / 127), int4 with an f16 scale and an integer "
             "zero point (range / 15), round to nearest even, against int8 "
             "or f32 activations (--int-activations; moert/intq.h). The "
             "router stays f32"));
static cl::opt<std::string> intActivations(
    "int-activations", cl::init("int8"), cl::cat(category),
    cl::desc("--weight-type=int8|int4: int8 (default: each GEMM quantizes its "
             "activations per row and group to int8, s = amax / 127, and sums "
             "each group's products in integers, as llama.cpp's Q8 dot; the "
             "faster) or f32 (the activations as they are, against the "
             "dequantized weights; exact to them)"));
static cl::opt<int64_t> groupSize(
    "group-size", cl::init(32), cl::cat(category),
    cl::desc("--weight-type=int8|int4: the values along K that share a scale: "
             "32 (default), 64 or 128 (fewer bytes, larger error)"));
static cl::opt<bool> packWeights(
    "pack-weights", cl::init(true), cl::cat(category),
    cl::desc("--target=cpu: write the f32, bf16, f16, fp8, mxfp4, int8 and int4 GEMM "
             "weights pre-packed in panels of 32 rows for the runtime's CPU GEMM "
             "(default true; false keeps f32, bf16 and f16 ones row-major, read "
             "by the row-major kernels and BLAS; the quantized types need "
             "panels)"));
static cl::opt<bool> fuseGateUp(
    "fuse-gate-up", cl::init(false), cl::cat(category),
    cl::desc("Compute an FFN's gate and up projections as one GEMM of N = 2F "
             "over their weights stacked in the artifact (per expert: the gate's "
             "F rows, then the up's), the GLU reading both halves of its "
             "result, where the FFN has no gate or up biases and F is a "
             "multiple of 32 (128 for fp8). Default: true for --target=cuda "
             "(one vendor GEMM or gemv launch per expert instead of two), false "
             "for cpu (measured no faster there: docs/compiler.md). The results "
             "are the same either way (bit for bit on the cpu's panel kernels)"));
static cl::opt<int64_t> cudaGemvMaxTokens(
    "cuda-gemv-max-tokens", cl::init(0), cl::cat(category),
    cl::desc("--target=cuda: each grouped GEMM (the experts' projections) "
             "runs the generated grouped_gemv_warp kernel (grouped_gemv_fp8_warp "
             "/ _mxfp4_warp for fp8 / mxfp4 weights), which reads the "
             "experts' row ranges on the GPU (no host synchronization), "
             "instead of cuBLAS when a run's T <= N; the choice is recorded "
             "in the artifact (default 0: cuBLAS at every T)"));
static cl::opt<bool> cudaFp8Cublaslt(
    "cuda-fp8-cublaslt", cl::init(true), cl::cat(category),
    cl::desc("--target=cuda: fp8 GEMMs whose shapes fit (n and k multiples of 16, "
             "ceil(k / 128) a multiple of 4) also record cuBLASLt's block-scaled "
             "fp8 engine, which a GPU of compute capability 9.0 runs above "
             "--cuda-gemv-max-tokens: the activations quantized to e4m3 per row "
             "and block of 128, the weights' codes and scales read as stored "
             "(docs/compiler.md, \"fp8 weights\"). Other GPUs, and false, "
             "dequantize each matrix to bf16 for cuBLAS (default true)"));
static cl::opt<int64_t> shardRanks(
    "shard-experts", cl::init(0), cl::cat(category), cl::value_desc("RANKS"),
    cl::desc("expert parallelism over RANKS ranks (pass moe-shard-experts): "
             "each rank runs the artifact on its own tokens and computes the "
             "experts of its slots, which the session's placement names "
             "(docs/parallelism.md); 0 (default): one device"));
static cl::opt<int64_t> shardSlots(
    "shard-slots", cl::init(0), cl::cat(category),
    cl::desc("--shard-experts: expert slots per rank (default ceil(E / RANKS); "
             "more leave room for replicas of hot experts)"));
static cl::opt<int64_t> shardRecvRows(
    "shard-recv-rows", cl::init(0), cl::cat(category),
    cl::desc("--shard-experts: the most rows one rank receives per exchange "
             "(default: RANKS times a rank's rows at --max-tokens, which never "
             "overflows); a run that would receive more fails with an error"));
static cl::opt<std::string> compileTo(
    "compile-to", cl::init("artifact"), cl::cat(category),
    cl::desc("Stop after a stage and print the IR: input, expand, exec, "
             "codegen, artifact (default: write the artifact)"));
static cl::opt<std::string> emit(
    "emit", cl::init(""), cl::cat(category),
    cl::desc("mlir: print the final IR (after codegen) instead of writing an "
             "artifact; ptx: print the CUDA target's PTX"));
static cl::opt<std::string> cpu(
    "cpu", cl::init("x86-64-v3"), cl::cat(category),
    cl::desc("The CPU the host kernels are compiled for: an LLVM CPU name "
             "(default x86-64-v3) or 'native'"));

static cl::opt<std::string> signKey(
    "sign", cl::cat(category), cl::value_desc("KEY"),
    cl::desc("Sign the artifact with the Ed25519 secret key in the file KEY "
             "(written by --generate-key); moe-run --trusted-key checks the "
             "signature (docs/artifact.md, \"Signatures\")"));
static cl::opt<std::string> generateKey(
    "generate-key", cl::cat(category), cl::value_desc("NAME"),
    cl::desc("Write a new signing key pair, NAME.key (the secret key, mode "
             "0600) and NAME.pub (the public key), then exit; an existing "
             "file is not overwritten"));

enum class Progress { Auto, Always, Never };
static cl::opt<Progress> progressOpt(
    "progress", cl::init(Progress::Auto), cl::cat(category),
    cl::desc("Progress lines on stderr while weights are packed (per "
             "checkpoint file and per weight, with MiB/s)"),
    cl::values(clEnumValN(Progress::Auto, "auto", "when stderr is a terminal (default)"),
               clEnumValN(Progress::Always, "always", "always"),
               clEnumValN(Progress::Never, "never", "never")));

static int fail(const Twine &message) {
  WithColor::error(errs(), "moe-compile") << message << "\n";
  return 1;
}

/// Writes `text` to a new file `path` (never over an existing one).
static std::optional<std::string> writeNewFile(const std::string &path,
                                               const std::string &text,
                                               mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0)
    return path + ": " + std::strerror(errno);
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size());
  int e = errno;
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    ::unlink(path.c_str());
    return path + ": writing failed: " + std::strerror(e);
  }
  return std::nullopt;
}

/// --generate-key NAME: NAME.key and NAME.pub.
static int generateKeyPair(const std::string &name) {
  if (sodium_init() < 0)
    return fail("libsodium failed to initialize");
  uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  std::string secret = moert::formatKeyText(moert::kSecretKeyLabel, sk, sizeof sk);
  sodium_memzero(sk, sizeof sk);
  if (auto e = writeNewFile(name + ".key", secret, 0600))
    return fail(*e);
  sodium_memzero(secret.data(), secret.size());
  if (auto e = writeNewFile(name + ".pub",
                            moert::formatKeyText(moert::kPublicKeyLabel, pk,
                                                 sizeof pk),
                            0644)) {
    ::unlink((name + ".key").c_str());
    return fail(*e);
  }
  outs() << "moe-compile: wrote " << name << ".key (secret: keep it private) "
         << "and " << name << ".pub (give it to moe-run --trusted-key)\n";
  return 0;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  // Memory that runs out inside the compiler (outside the exporter's own
  // buffers, which say how much they needed): one error line, not an LLVM
  // crash report.
  install_bad_alloc_error_handler([](void *, const char *reason, bool) {
    static const char head[] = "moe-compile: error: out of memory (";
    static const char tail[] = ")\n";
    ssize_t ignored = ::write(2, head, sizeof head - 1);
    ignored = ::write(2, reason, std::strlen(reason));
    ignored = ::write(2, tail, sizeof tail - 1);
    (void)ignored;
    ::_exit(1);
  });
  mlir::registerPassManagerCLOptions();
  mlir::registerDefaultTimingManagerCLOptions();
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "moe-compile: compile a moe graph into a .moeb artifact\n\n"
      "  moe-compile graph.mlir -o model.moeb [--target=cpu|cuda:sm_NN]\n"
      "              [--max-tokens N] [--compile-to=STAGE] [--emit=mlir|ptx]\n"
      "              [--weight-type=native|f32|bf16|f16|fp8|mxfp4|int8|int4]\n"
      "              [--group-size=32|64|128] [--int-activations=int8|f32]\n"
      "              [--pack-weights=true|false] [--fuse-gate-up=true|false]\n"
      "              [--cpu=NAME] [--sign KEY]\n"
      "              [--shard-experts=RANKS [--shard-slots=S] [--shard-recv-rows=N]]\n"
      "  moe-compile --generate-key NAME   (writes NAME.key and NAME.pub)\n"
      "              [--cuda-binary=auto|ptx|cubin] [--cuda-gemv-max-tokens=N]\n"
      "              [--cuda-fp8-cublaslt=true|false]\n\n"
      "Stages: input (parse and verify), expand (moe.block → primitives, "
      "canonicalized), exec\n(buffers, memory plan, "
      "kernels and GEMM calls), codegen (kernels\ncompiled to a host shared "
      "object, or to PTX/cubin for cuda), artifact (the .moeb file).\n");

  if (!generateKey.empty())
    return generateKeyPair(generateKey);
  if (inputFile.empty())
    return fail("no input graph: give graph.mlir (see --help)");

  moec::CompileOptions options;
  options.signKey = signKey;
  std::string targetError;
  if (!moec::parseTarget(target, options, targetError))
    return fail(targetError);
  std::optional<moec::CudaBinary> binary = moec::parseCudaBinary(cudaBinary);
  if (!binary)
    return fail("--cuda-binary must be auto, ptx or cubin, got '" + cudaBinary +
                "'");
  bool emitPtx = emit == "ptx";
  auto stage = moec::parseStage(compileTo);
  if (!stage)
    return fail("--compile-to must be one of " +
                join(moec::getStageNames(), ", ") + ", got '" + compileTo + "'");
  if (!emit.empty()) {
    if (emitPtx && options.target != moec::ExecTarget::Cuda)
      return fail("--emit=ptx needs --target=cuda[:sm_NN]");
    if (emitPtx && *stage != moec::Stage::Artifact)
      return fail("--emit=ptx prints the codegen stage's PTX; it does not "
                  "combine with --compile-to");
    if (!emitPtx && emit != "mlir")
      return fail("--emit must be mlir or ptx, got '" + emit + "'");
    if (*stage == moec::Stage::Artifact)
      stage = moec::Stage::Codegen;
  }
  if (maxTokens < 1 || maxTokens > moec::moe::kMaxTokensLimit)
    return fail("--max-tokens must be in [1, " +
                Twine(moec::moe::kMaxTokensLimit) + "], got " +
                Twine(maxTokens.getValue()));
  std::optional<moec::WeightType> ffnType;
  if (weightType != "native" && !(ffnType = moec::parseWeightType(weightType)))
    return fail("--weight-type must be native, f32, bf16, f16, fp8, mxfp4, int8 or int4, "
                "got '" + weightType + "'");
  bool intWeights = ffnType && moec::isIntWeightType(*ffnType);
  if (groupSize.getNumOccurrences() && !intWeights)
    return fail("--group-size is for --weight-type=int8 or int4");
  if (intActivations.getNumOccurrences() && !intWeights)
    return fail("--int-activations is for --weight-type=int8 or int4");
  if (intActivations != "int8" && intActivations != "f32")
    return fail("--int-activations must be int8 or f32, got '" + intActivations + "'");
  if (intWeights && groupSize != 32 && groupSize != 64 && groupSize != 128)
    return fail("--group-size must be 32, 64 or 128, got " + Twine(groupSize.getValue()));
  if (intWeights && options.target == moec::ExecTarget::Cuda)
    return fail("--weight-type=" + weightType + " is for --target=cpu (the cuda target "
                "has no integer kernels yet)");
  if (intWeights && !packWeights)
    return fail("--weight-type=" + weightType + " needs --pack-weights (its kernels read "
                "integer panels)");
  if (cudaGemvMaxTokens < 0)
    return fail("--cuda-gemv-max-tokens must be >= 0");
  if (cudaGemvMaxTokens > 0 && options.target != moec::ExecTarget::Cuda)
    return fail("--cuda-gemv-max-tokens is for --target=cuda");
  if (cudaFp8Cublaslt.getNumOccurrences() && options.target != moec::ExecTarget::Cuda)
    return fail("--cuda-fp8-cublaslt is for --target=cuda");
  if (shardRanks < 0 || shardSlots < 0 || shardRecvRows < 0)
    return fail("--shard-experts, --shard-slots and --shard-recv-rows must be >= 0");
  if ((shardSlots || shardRecvRows) && !shardRanks)
    return fail("--shard-slots and --shard-recv-rows go with --shard-experts");
  bool writeArtifact = *stage == moec::Stage::Artifact;
  if (!signKey.empty() && !writeArtifact)
    return fail("--sign signs the artifact; it does not go with --compile-to "
                "or --emit");
  if (writeArtifact && outputFile.empty())
    return fail("no output file: give -o model.moeb (or --compile-to=STAGE to "
                "print IR)");

  mlir::MLIRContext context;
  moec::loadCompileDialects(context);
  std::string error;
  auto input = moec::openInputFile(inputFile, moec::kMaxTextInputBytes);
  if (!input)
    return fail(toString(input.takeError()));
  if (Error e = moec::checkMlirInput((*input)->getBuffer(), inputFile))
    return fail(toString(std::move(e)));
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(*input), SMLoc());
  mlir::SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  auto module = mlir::parseSourceFile<mlir::ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1; // the diagnostic was printed
  // Relative checkpoint paths are relative to the IR file's folder.
  if (inputFile != "-") {
    SmallString<256> base(inputFile.getValue());
    if (!sys::fs::make_absolute(base)) {
      sys::path::remove_filename(base);
      moec::resolveWeightFiles(*module, base);
    }
  }
  bool native = !ffnType;
  if (native)
    ffnType = moec::nativeWeightType(*module);
  options.maxTokens = maxTokens;
  options.cpu = cpu;
  options.weightType = *ffnType;
  options.groupSize = groupSize;
  options.int8Activations = intActivations == "int8";
  options.packWeights = packWeights;
  if (fuseGateUp.getNumOccurrences()) // else the target's default
    options.fuseGateUp = fuseGateUp;
  options.cudaGemvMaxTokens = cudaGemvMaxTokens;
  options.cudaFp8Cublaslt = cudaFp8Cublaslt;
  options.cudaBinary = emitPtx ? moec::CudaBinary::Ptx : *binary;
  options.cudaPath = cudaPath;
  options.shardRanks = shardRanks;
  options.shardSlots = shardSlots;
  options.shardRecvRows = shardRecvRows;
  options.output = writeArtifact ? outputFile.getValue() : "";
  options.progress = progressOpt == Progress::Always ||
                     (progressOpt == Progress::Auto &&
                      sys::Process::StandardErrIsDisplayed());
  mlir::PassManager pm(&context);
  if (failed(mlir::applyPassManagerCLOptions(pm)))
    return 1;
  mlir::DefaultTimingManager tm;
  mlir::applyDefaultTimingManagerCLOptions(tm);
  mlir::TimingScope timing = tm.getRootScope();
  pm.enableTiming(timing);
  moec::buildCompilePipeline(pm, options, *stage);
  if (failed(pm.run(*module)))
    return 1;
  if (writeArtifact)
    return 0;

  std::string outPath = outputFile.empty() ? "-" : outputFile.getValue();
  auto out = mlir::openOutputFile(outPath, &error);
  if (!out)
    return fail(error);
  if (emitPtx) {
    bool found = false;
    for (auto code : module->getOps<moec::exec::CodeObjectOp>()) {
      auto data = llvm::dyn_cast<mlir::DenseResourceElementsAttr>(code.getData());
      auto blob = data ? data.getRawHandle().getBlob() : nullptr;
      if (!blob)
        return fail("the code object carries no data");
      ArrayRef<char> bytes = blob->getData();
      out->os() << StringRef(bytes.data(), bytes.size());
      found = true;
    }
    if (!found)
      return fail("the graph has no kernels, so there is no PTX to print");
  } else {
    module->print(out->os());
    out->os() << "\n";
  }
  if (Error e = moec::finishOutput(*out))
    return fail(toString(std::move(e)));
  return 0;
}
