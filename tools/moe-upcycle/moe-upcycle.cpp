//===- moe-upcycle.cpp - sparse upcycling of dense checkpoints ------------===//
#include "moec/Import/Upcycle.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/WithColor.h"

using namespace llvm;

static cl::OptionCategory category("moe-upcycle options");
static cl::opt<std::string> input(cl::Positional, cl::Required,
                                  cl::desc("<dense checkpoint directory>"), cl::cat(category));
static cl::opt<std::string> output("o", cl::Required, cl::cat(category),
                                   cl::desc("The MoE checkpoint folder to write (new or empty)"),
                                   cl::value_desc("dir"));
static cl::opt<int64_t> experts("experts", cl::Required, cl::cat(category),
                                cl::desc("Experts per layer (E copies of each dense FFN)"));
static cl::opt<int64_t> topK("top-k", cl::init(2), cl::cat(category),
                             cl::desc("Experts per token, num_experts_per_tok (default 2)"));
static cl::opt<double> noiseStd(
    "noise-std", cl::init(0.0), cl::cat(category),
    cl::desc("Perturb each expert's copy of a weight w by noise-std x rms(w) x N(0,1) per "
             "element (default 0: exact copies)"));
static cl::opt<double> routerStd(
    "router-std", cl::init(0.02), cl::cat(category),
    cl::desc("The router's weights are uniform with mean 0 and this standard deviation "
             "(default 0.02)"));
static cl::opt<uint64_t> seed("seed", cl::init(0), cl::cat(category),
                              cl::desc("Seed of the noise and the router (default 0)"));
static cl::opt<uint64_t> maxShard(
    "max-shard-size", cl::init(5000000000ull), cl::cat(category),
    cl::desc("Tensor bytes per safetensors shard (default 5000000000, as Hugging Face)"));
enum class Progress { Auto, Always, Never };
static cl::opt<Progress> progressOpt(
    "progress", cl::init(Progress::Auto), cl::cat(category),
    cl::desc("A line on stderr per layer written"),
    cl::values(clEnumValN(Progress::Auto, "auto", "when stderr is a terminal (default)"),
               clEnumValN(Progress::Always, "always", "always"),
               clEnumValN(Progress::Never, "never", "never")));

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  const char *overview =
      "moe-upcycle: a dense checkpoint's FFNs copied into the experts of an MoE checkpoint\n\n"
      "  moe-upcycle DENSE_DIR -o MOE_DIR --experts E [--top-k K] [--noise-std S]\n"
      "              [--router-std R] [--seed N] [--max-shard-size BYTES]\n\n"
      "Sparse upcycling (Komatsuzaki et al., 2022). DENSE_DIR is a Hugging Face\n"
      "checkpoint of a Llama/Mistral-style model (config.json with hidden_size,\n"
      "intermediate_size, num_hidden_layers, hidden_act silu; safetensors with\n"
      "model.layers.<i>.mlp.gate_proj, up_proj and down_proj weights). MOE_DIR\n"
      "gets a Mixtral checkpoint: each layer's MLP becomes E experts\n"
      "(block_sparse_moe.experts.<e>.w1/w3/w2, copies of gate/up/down) and a\n"
      "router (block_sparse_moe.gate, [E, hidden_size]) drawn uniformly around 0;\n"
      "every other tensor and file is copied, and config.json becomes model_type\n"
      "mixtral with num_local_experts E and num_experts_per_tok K. With exact\n"
      "copies, each layer computes the dense FFN whatever the router picks\n"
      "(Mixtral renormalizes the top-k weights). moe-import reads the result.\n";
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, overview);

  moec::UpcycleOptions options;
  options.input = input;
  options.output = output;
  options.experts = experts;
  options.topK = topK;
  options.noiseStd = noiseStd;
  options.routerStd = routerStd;
  options.seed = seed;
  options.maxShardBytes = maxShard;
  bool progress = progressOpt == Progress::Always ||
                  (progressOpt == Progress::Auto && sys::Process::StandardErrIsDisplayed());
  if (progress)
    options.progress = [](const std::string &line) { errs() << "moe-upcycle: " << line << "\n"; };
  if (Error e = moec::upcycleCheckpoint(options)) {
    WithColor::error(errs(), "moe-upcycle") << toString(std::move(e)) << "\n";
    return 1;
  }
  return 0;
}
