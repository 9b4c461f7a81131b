//===- moe-import.cpp - Hugging Face MoE checkpoints to moe graphs --------===//
#include "moec/Import/Importer.h"
#include "moec/Import/ModelConfig.h"
#include "moec/Support/Files.h"

#include "moe/MoeDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

using namespace llvm;

static cl::OptionCategory importCategory("moe-import options");
static cl::opt<std::string> checkpointDir(cl::Positional, cl::Required,
                                          cl::desc("<checkpoint directory>"),
                                          cl::cat(importCategory));
static cl::opt<std::string> outputFile("o", cl::init("-"), cl::cat(importCategory),
                                       cl::desc("Output file (default: stdout)"),
                                       cl::value_desc("graph.mlir"));
static cl::opt<std::string>
    layersOpt("layers", cl::init("all"), cl::cat(importCategory),
              cl::desc("Layers to import: 'all', or indices and ranges such as "
                       "'0,3' or '0-2' (default: all)"));
static cl::opt<std::string>
    dtypeOpt("dtype", cl::init("f32"), cl::cat(importCategory),
             cl::desc("Compute dtype of activations and weights: f32, bf16 or "
                      "f16 (default: f32); router math is f32 regardless"));
static cl::opt<bool> debugInfo(
    "debug-info", cl::init(false), cl::cat(importCategory),
    cl::desc("Print locations: each moe.weight's tensor name and the "
             "safetensors file that holds it"));
enum class Progress { Auto, Always, Never };
static cl::opt<Progress> progressOpt(
    "progress", cl::init(Progress::Auto), cl::cat(importCategory),
    cl::desc("A line on stderr per checkpoint shard read"),
    cl::values(clEnumValN(Progress::Auto, "auto", "when stderr is a terminal (default)"),
               clEnumValN(Progress::Always, "always", "always"),
               clEnumValN(Progress::Never, "never", "never")));

/// Symbolic links in the checkpoint folder are followed (a Hugging Face cache
/// links every file of a snapshot to its blob store); one that leads outside
/// the folder gets a note, so that what is read is never a surprise.
static void noteSymlinks(StringRef dir) {
  SmallString<256> root;
  if (sys::fs::real_path(dir, root))
    return;
  std::error_code ec;
  for (sys::fs::directory_iterator it(dir, ec, /*follow_symlinks=*/false), end;
       it != end && !ec; it.increment(ec)) {
    if (it->type() != sys::fs::file_type::symlink_file)
      continue;
    StringRef name = sys::path::filename(it->path());
    if (!(name == "config.json" || name.ends_with(".safetensors") ||
          name.ends_with(".safetensors.index.json")))
      continue;
    SmallString<256> target;
    if (sys::fs::real_path(it->path(), target))
      continue;
    if (!StringRef(target).starts_with((root + "/").str()))
      WithColor::note(errs(), "moe-import")
          << it->path() << " is a symbolic link to " << target
          << ", outside the checkpoint folder; reading it there\n";
  }
}

static int fail(const Twine &message) {
  WithColor::error(errs(), "moe-import") << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  std::string overview =
      "moe-import: turn a Hugging Face MoE checkpoint into a moe graph\n\n"
      "  moe-import CKPT_DIR -o graph.mlir [--layers 0,3|all] [--dtype "
      "f32|bf16|f16] [--debug-info]\n\n"
      "CKPT_DIR holds config.json and model.safetensors or a sharded "
      "model.safetensors.index.json.\nThe graph has one function "
      "@layer_<i>(%x: tensor<?xHxdtype>) per layer: the layer's sparse MoE\n"
      "block (or dense FFN) as the Hugging Face block computes it, without "
      "residual or norm.\nWeights stay in the safetensors files (moe.weight "
      "names them).\n\nSupported model_type: " +
      join(moec::import::getSupportedModelTypes(), ", ") + "\n";
  cl::HideUnrelatedOptions(importCategory);
  cl::ParseCommandLineOptions(argc, argv, overview);

  mlir::MLIRContext context;
  moec::import::ImportOptions options;
  options.checkpointDir = checkpointDir;
  if (dtypeOpt == "f32")
    options.computeType = mlir::Float32Type::get(&context);
  else if (dtypeOpt == "bf16")
    options.computeType = mlir::BFloat16Type::get(&context);
  else if (dtypeOpt == "f16")
    options.computeType = mlir::Float16Type::get(&context);
  else
    return fail("--dtype must be f32, bf16 or f16, got '" + dtypeOpt + "'");
  auto layers = moec::import::parseLayerList(layersOpt);
  if (!layers)
    return fail(toString(layers.takeError()));
  options.layers = *layers;
  if (progressOpt == Progress::Always ||
      (progressOpt == Progress::Auto && sys::Process::StandardErrIsDisplayed()))
    options.progress = [](size_t i, size_t n, StringRef path, uint64_t bytes) {
      errs() << "moe-import: reading shard " << i << "/" << n << " "
             << sys::path::filename(path) << " ("
             << format("%.1f", bytes / 1048576.0) << " MiB)\n";
    };

  noteSymlinks(checkpointDir);
  auto module = moec::import::importCheckpoint(context, options);
  if (!module)
    return fail(toString(module.takeError()));

  std::error_code ec;
  auto out = std::make_unique<ToolOutputFile>(outputFile, ec, sys::fs::OF_None);
  if (ec)
    return fail(outputFile + ": " + ec.message());
  mlir::OpPrintingFlags flags;
  if (debugInfo)
    flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false);
  (*module)->print(out->os(), flags);
  out->os() << "\n";
  if (Error e = moec::finishOutput(*out))
    return fail(toString(std::move(e)));
  return 0;
}
