//===- moe-run.cpp - run a .moeb artifact on .npy inputs -------------------===//
//
//   moe-run model.moeb --input x.npy [--input ...] [--output y.npy]
//           [--function NAME] [--device cpu|cuda:N] [--threads N] [--bench N]
//           [--router-stats] [--save-aux DIR] [--quiet]
//   moe-run --version
//
// Every error is one line on stderr starting with "error: " and exit code 1.
//
//===----------------------------------------------------------------------===//
#include "InputFile.h"
#include "Npy.h"
#include "RouterStats.h"
#include "common/ParseInt.h"
#include "common/SingleThreadedBlas.h"
#include "moert/format.h"
#include "moert/moert.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#ifdef MOE_RUN_WITH_MPI
#include "moert/moert_mpi.h" // <mpi.h>, its C API only
#endif

namespace {

#ifdef MOE_RUN_WITH_MPI
/// --mpi: this process's rank (MPI initialized); fail() tells the others.
moert_mpi_communicator_t *gMpi = nullptr;
#endif

const char *kUsage =
    "usage: moe-run model.moeb --input x.npy [--input ...] [--output y.npy]\n"
    "               [--function NAME | --layer N] [--device cpu|cuda:N]\n"
    "               [--threads N] [--verify full|lazy] [--bench N]\n"
    "               [--router-stats] [--save-aux DIR] [--quiet]\n"
    "               [--trusted-key KEY.pub ...] [--require-signature]\n"
    "               [--memory-budget BYTES] [--router-noise-seed N]\n"
    "               [--ranks N [--rank-tokens T0,T1,...] | --mpi] [--nccl]\n"
    "               [--placement E,E,...] [--exchange-timeout-ms MS]\n"
    "       moe-run --version\n"
    "\n"
    "Runs a function of a .moeb artifact (moe-compile's output) on .npy inputs\n"
    "('<f4', '<f2' or '<i4', C order), one --input per function input, in order.\n"
    "A float32 .npy given for a bf16 or f16 input (NumPy has no bf16) is rounded\n"
    "to it (to nearest even), as a framework's conversion does.\n"
    "\n"
    "  --output FILE     write the first output as a float32 .npy\n"
    "  --function NAME   the function to run (needed when there are several)\n"
    "  --layer N         the function of model layer N (moe-import names it\n"
    "                    layer_N), in an artifact of several layers\n"
    "  --verify MODE     full (default): check every byte of the artifact at\n"
    "                    load; lazy (the default under --mpi, where each rank\n"
    "                    then checks only the weights it reads, its experts'\n"
    "                    slices of the experts' weights): check the header,\n"
    "                    table and code at load and each weight before its\n"
    "                    first use\n"
    "  --device DEV      cpu, or cuda[:N] for an artifact compiled with\n"
    "                    --target=cuda (default: the artifact's target, cuda:0)\n"
    "  --threads N       threads of the session (0, the default: all cores)\n"
    "  --bench N         after the run, one warm-up run then N timed runs\n"
    "  --router-stats    print the router statistics (router_stats.<i> outputs)\n"
    "  --save-aux DIR    write every auxiliary output (router_stats.<i>,\n"
    "                    router_indices.<i>, router_logits.<i>) as\n"
    "                    DIR/<name>.npy (DIR is created if missing)\n"
    "  --quiet           print no output summary, no time_ms and no load time\n"
    "  --trusted-key F   trust the Ed25519 public key in F (moe-compile\n"
    "                    --generate-key writes NAME.pub); a signed artifact\n"
    "                    must then be signed by a trusted key (repeatable)\n"
    "  --require-signature  refuse an artifact that is not signed by a\n"
    "                    trusted key, before anything in it is used\n"
    "  --memory-budget B the most bytes the model may make the session\n"
    "                    allocate (synthetic weights, the arena); default:\n"
    "                    the machine's memory\n"
    "  --router-noise-seed N  evaluate noisy routers (noisy top-k gating: a\n"
    "                    router noise weight) with their noise, drawn from\n"
    "                    seed N by a counter-based generator (the same at any\n"
    "                    thread count); without it the noise is ignored, as\n"
    "                    at inference\n"
    "  --ranks N         an artifact compiled with --shard-experts=N: run its N\n"
    "                    ranks in this process (a thread and a session each, a\n"
    "                    local communicator), each on its own rows of the inputs\n"
    "                    (their token dimension); the outputs are the ranks'\n"
    "                    concatenated, time_ms the slowest rank's (--bench:\n"
    "                    median_ms, the slowest rank's median)\n"
    "  --rank-tokens L   the tokens of each rank, comma-separated (0 allowed),\n"
    "                    summing to the inputs' T (default: T split evenly, the\n"
    "                    first ranks taking one more)\n"
    "  --mpi             run as one rank of such an artifact under mpirun (one\n"
    "                    process per rank): '%r' in --input, --output and\n"
    "                    --save-aux paths is replaced by the rank; each rank\n"
    "                    prints its outputs as 'rank R: output ...'; on GPUs\n"
    "                    each process runs on cuda:N+L for --device cuda:N, L\n"
    "                    its rank among those on its machine\n"
    "                    (--router-stats with --ranks, or on rank 0 with --mpi:\n"
    "                    the whole run's statistics; --save-aux with --ranks:\n"
    "                    the whole run's auxiliary outputs, with --mpi: each\n"
    "                    rank's own, '%r' required)\n"
    "  --placement L     the expert in each slot, rank by rank, comma-separated,\n"
    "                    or @FILE (moe-placement --output's)\n"
    "                    (-1: empty; default: slot s of rank r holds r * S + s)\n"
    "  --nccl            with --ranks or --mpi on GPUs: the ranks exchange over\n"
    "                    NCCL (libnccl.so.2, opened at run time; the rows move\n"
    "                    from GPU to GPU); with --ranks rank r runs on cuda:N+r\n"
    "                    for --device cuda:N\n"
    "  --exchange-timeout-ms MS  how long a rank waits for the others in an\n"
    "                    exchange before the run fails (default 60000)\n"
    "\n"
    "The artifact is mapped read-only and shared: processes that serve the same\n"
    "file share its pages. After the outputs, time_ms is the run's time, and\n"
    "load_s and session_s the times to load the artifact and create the session.\n"
    "With MOERT_CPU_PROFILE=1 (MOERT_CUDA_PROFILE=1 on a GPU) in the environment,\n"
    "each command's time per run is printed when the session ends (with --bench N\n"
    "for a steady state; docs/runtime.md).\n";

[[noreturn]] void fail(const std::string &message) {
#ifdef MOE_RUN_WITH_MPI
  if (gMpi) {
    // The other ranks may wait for this one in an exchange: they fail too.
    std::fprintf(stderr, "error: rank %d: %s\n", gMpi->base.rank, message.c_str());
    std::fflush(stderr);
    gMpi->base.abort(gMpi->base.context, message.c_str()); // once: a no-op if sent
    moert_mpi_communicator_destroy(gMpi);
    MPI_Finalize();
    std::exit(1);
  }
#endif
  std::fprintf(stderr, "error: %s\n", message.c_str());
  std::exit(1);
}

struct Options {
  std::string model;
  std::vector<std::string> inputs;
  std::string output;
  std::string function;
  std::string device; // empty: the artifact's target
  int32_t threads = 0;
  int64_t bench = 0;
  bool routerStats = false;
  bool quiet = false;
  std::optional<moert_verify_t> verify; // default: full, lazy under --mpi
  std::string saveAux;
  std::vector<uint8_t> trustedKeys; // 32 bytes each
  bool requireSignature = false;
  uint64_t memoryBudget = 0;
  std::optional<uint64_t> routerNoiseSeed;
  int32_t ranks = 0; // 0: no local ranks
  std::vector<int64_t> rankTokens;
  std::vector<int32_t> placement;
  int32_t exchangeTimeoutMs = 60000;
  bool mpi = false;
  bool nccl = false; // --ranks over NCCL, one GPU per rank
};

/// `path` with every "%r" replaced by `rank` (--mpi's per-rank files).
std::string forRank(const std::string &path, int rank) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 1 < path.size() && path[i + 1] == 'r') {
      out += std::to_string(rank);
      ++i;
    } else {
      out += path[i];
    }
  }
  return out;
}

/// The comma-separated integers of `text` in [lo, hi].
std::vector<int64_t> parseList(const std::string &flag, const std::string &text, int64_t lo,
                               int64_t hi) {
  std::vector<int64_t> out;
  size_t at = 0;
  while (true) {
    size_t comma = text.find(',', at);
    out.push_back(moetools::parseInt(flag, text.substr(at, comma - at), lo, hi, fail));
    if (comma == std::string::npos)
      return out;
    at = comma + 1;
  }
}

/// The public key in the file `path` (moe-compile --generate-key's NAME.pub).
void readTrustedKey(const std::string &path, std::vector<uint8_t> *keys) {
  std::string text, why;
  if (!moert::rt::readRegularFile(path.c_str(), 4096, &text, &why))
    fail("--trusted-key: '" + path + "': " + why);
  uint8_t key[32];
  if (!moert::parseKeyText(text, moert::kPublicKeyLabel, key, sizeof key, &why))
    fail("--trusted-key: '" + path + "': " + why);
  keys->insert(keys->end(), key, key + sizeof key);
}


Options parseArgs(int argc, char **argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    std::string value;
    bool hasInline = false;
    if (a.rfind("--", 0) == 0) {
      size_t eq = a.find('=');
      if (eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
        hasInline = true;
      }
    }
    auto next = [&]() -> std::string {
      if (hasInline)
        return value;
      if (i + 1 >= args.size())
        fail(a + " needs a value (see moe-run --help)");
      return args[++i];
    };
    auto noValue = [&] {
      if (hasInline)
        fail(a + " takes no value");
    };
    if (a == "--version") {
      noValue();
      std::printf("moe-run (moec) %s\nbackends: %s\n", moert::version().c_str(),
                  moert::backends().c_str());
      std::exit(0);
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--input" || a == "-i") {
      o.inputs.push_back(next());
    } else if (a == "--output" || a == "-o") {
      o.output = next();
    } else if (a == "--function") {
      if (!o.function.empty())
        fail("give --function or --layer, not both");
      o.function = next();
      if (o.function.empty())
        fail("--function needs a name");
    } else if (a == "--layer") {
      if (!o.function.empty())
        fail("give --function or --layer, not both");
      o.function = "layer_" + std::to_string(moetools::parseInt(
                                  "--layer", next(), 0, int64_t(1) << 40, fail));
    } else if (a == "--verify") {
      std::string v = next();
      if (v == "full")
        o.verify = MOERT_VERIFY_FULL;
      else if (v == "lazy")
        o.verify = MOERT_VERIFY_LAZY;
      else
        fail("--verify must be full or lazy, got '" + v + "'");
    } else if (a == "--trusted-key") {
      readTrustedKey(next(), &o.trustedKeys);
    } else if (a == "--require-signature") {
      o.requireSignature = true;
    } else if (a == "--memory-budget") {
      o.memoryBudget = static_cast<uint64_t>(moetools::parseInt(
          "--memory-budget", next(), 1, INT64_MAX, fail));
    } else if (a == "--router-noise-seed") {
      o.routerNoiseSeed = static_cast<uint64_t>(moetools::parseInt(
          "--router-noise-seed", next(), 0, INT64_MAX, fail));
    } else if (a == "--ranks") {
      o.ranks = static_cast<int32_t>(moetools::parseInt("--ranks", next(), 1, 1024, fail));
    } else if (a == "--rank-tokens") {
      o.rankTokens = parseList("--rank-tokens", next(), 0, int64_t(1) << 40);
    } else if (a == "--placement") {
      std::string list = next();
      if (!list.empty() && list[0] == '@') { // moe-placement --output's file
        std::string path = list.substr(1), why;
        if (!moert::rt::readRegularFile(path.c_str(), 64 << 20, &list, &why))
          fail("--placement: '" + path + "': " + why);
        while (!list.empty() && std::isspace(static_cast<unsigned char>(list.back())))
          list.pop_back();
      }
      for (int64_t e : parseList("--placement", list, -1, INT32_MAX))
        o.placement.push_back(static_cast<int32_t>(e));
    } else if (a == "--exchange-timeout-ms") {
      o.exchangeTimeoutMs = static_cast<int32_t>(
          moetools::parseInt("--exchange-timeout-ms", next(), 1, INT32_MAX, fail));
    } else if (a == "--mpi") {
      noValue();
      o.mpi = true;
    } else if (a == "--nccl") {
      noValue();
      o.nccl = true;
    } else if (a == "--device") {
      o.device = next();
    } else if (a == "--threads") {
      o.threads =
          static_cast<int32_t>(moetools::parseInt("--threads", next(), 0, 1024, fail));
    } else if (a == "--bench") {
      o.bench = moetools::parseInt("--bench", next(), 1, 1000000, fail);
    } else if (a == "--save-aux") {
      o.saveAux = next();
      if (o.saveAux.empty())
        fail("--save-aux needs a directory");
    } else if (a == "--router-stats") {
      noValue();
      o.routerStats = true;
    } else if (a == "--quiet" || a == "-q") {
      noValue();
      o.quiet = true;
    } else if (!a.empty() && a[0] == '-' && a != "-") {
      fail("unknown option '" + a + "' (see moe-run --help)");
    } else if (o.model.empty()) {
      o.model = a;
    } else {
      fail("more than one artifact given ('" + o.model + "' and '" + a + "')");
    }
  }
  if (o.model.empty())
    fail("no artifact given (usage: moe-run model.moeb --input x.npy ...; see --help)");
  if (o.mpi && o.ranks)
    fail("give --ranks (threads of this process) or --mpi (MPI processes), not both");
#ifndef MOE_RUN_WITH_MPI
  if (o.mpi)
    fail("--mpi: this moe-run was built without MPI (configure with an MPI installed, "
         "MOEC_ENABLE_MPI)");
#endif
  if (o.mpi && !o.rankTokens.empty())
    fail("--rank-tokens is for --ranks: under --mpi each rank reads its own inputs");
  if (!o.ranks && !o.mpi && (!o.rankTokens.empty() || !o.placement.empty()))
    fail("--rank-tokens and --placement go with --ranks (or --mpi)");
  if (o.ranks && !o.rankTokens.empty() && o.rankTokens.size() != size_t(o.ranks))
    fail("--rank-tokens lists " + std::to_string(o.rankTokens.size()) + " ranks, --ranks is " +
         std::to_string(o.ranks));
  if (o.nccl && !o.ranks && !o.mpi)
    fail("--nccl goes with --ranks or --mpi");
  if (o.mpi && !o.saveAux.empty() && o.saveAux.find("%r") == std::string::npos)
    fail("--save-aux under --mpi: put %r in DIR (each rank writes its own auxiliary outputs)");
  return o;
}

std::string shapeText(const std::vector<int64_t> &shape, bool symbolic) {
  std::string s = "[";
  for (size_t d = 0; d < shape.size(); ++d) {
    if (d)
      s += ", ";
    s += symbolic && shape[d] == -1 ? std::string("T") : std::to_string(shape[d]);
  }
  return s + "]";
}

std::string specText(const moert::TensorInfo &t) {
  return t.name + ": " + moert_dtype_name(t.dtype) + " " + shapeText(t.shape, true);
}

std::vector<int64_t> viewShape(const moert_tensor_t &t) {
  return std::vector<int64_t>(t.shape, t.shape + t.rank);
}

size_t elementCount(const moert_tensor_t &t) {
  size_t n = 1;
  for (int32_t d = 0; d < t.rank; ++d)
    n *= static_cast<size_t>(t.shape[d]);
  return n;
}

double element(const moert_tensor_t &t, size_t i) {
  const uint8_t *p = static_cast<const uint8_t *>(t.data);
  switch (t.dtype) {
  case MOERT_F32: {
    float v;
    std::memcpy(&v, p + 4 * i, 4);
    return v;
  }
  case MOERT_F16: {
    uint16_t v;
    std::memcpy(&v, p + 2 * i, 2);
    return moert::npy::halfToFloat(v);
  }
  case MOERT_BF16: {
    uint16_t v;
    std::memcpy(&v, p + 2 * i, 2);
    return moert::npy::bf16ToFloat(v);
  }
  case MOERT_I32: {
    int32_t v;
    std::memcpy(&v, p + 4 * i, 4);
    return v;
  }
  case MOERT_F8E4M3: // weights only: never a function's output
  case MOERT_MXFP4:
  case MOERT_INT8:
  case MOERT_INT4:
    break;
  }
  return 0;
}

void printSummary(const std::string &name, const moert_tensor_t &t) {
  size_t n = elementCount(t);
  double mn = INFINITY, mx = -INFINITY, sum = 0, absmax = 0;
  bool nan = false;
  for (size_t i = 0; i < n; ++i) {
    double v = element(t, i);
    if (std::isnan(v)) {
      nan = true;
      continue;
    }
    mn = std::min(mn, v);
    mx = std::max(mx, v);
    absmax = std::max(absmax, std::fabs(v));
    sum += v;
  }
  std::string shape = shapeText(viewShape(t), false);
  if (n == 0) {
    std::printf("output %s: %s %s (empty)\n", name.c_str(), moert_dtype_name(t.dtype),
                shape.c_str());
    return;
  }
  if (nan) {
    std::printf("output %s: %s %s min=nan max=nan mean=nan absmax=nan\n", name.c_str(),
                moert_dtype_name(t.dtype), shape.c_str());
    return;
  }
  std::printf("output %s: %s %s min=%.6g max=%.6g mean=%.6g absmax=%.6g\n",
              name.c_str(), moert_dtype_name(t.dtype), shape.c_str(), mn, mx,
              sum / static_cast<double>(n), absmax);
}

/// A tensor's values as f32 (f16, bf16 and i32 converted).
std::vector<float> asF32(const moert_tensor_t &t) {
  std::vector<float> values(elementCount(t));
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>(element(t, i));
  return values;
}

/// --output: the session's first output as a float32 .npy.
void writeFirstOutput(const Options &o, const moert::FunctionInfo &fn,
                      const moert::Session &session) {
  if (o.output.empty())
    return;
  if (fn.outputs.empty())
    fail("--output: function '" + fn.name + "' has no outputs");
  auto view = session.output(0);
  if (!view)
    fail(view.status().message());
  std::vector<float> values = asF32(*view);
  std::string err;
  if (!moert::npy::writeFile(o.output, moert::npy::serializeF32(values.data(), viewShape(*view)),
                             &err))
    fail(err);
}

bool isRouterStats(const std::string &name) {
  if (name == "router_stats")
    return true;
  const std::string prefix = "router_stats.";
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size())
    return false;
  return std::all_of(name.begin() + prefix.size(), name.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

void printRouterStats(const moert::FunctionInfo &fn, const moert::Session &session) {
  bool any = false;
  for (size_t i = 0; i < fn.auxOutputs.size(); ++i) {
    const moert::TensorInfo &info = fn.auxOutputs[i];
    if (!isRouterStats(info.name))
      continue;
    any = true;
    auto view = session.auxOutput(i);
    if (!view)
      fail(view.status().message());
    const moert_tensor_t &t = *view;
    if (t.dtype != MOERT_F32 || t.rank != 1 || t.shape[0] < 5)
      fail("aux output '" + info.name + "' is " + moert_dtype_name(t.dtype) + " " +
           shapeText(viewShape(t), false) +
           ", expected f32 [E + 4] with E >= 1 (docs/artifact.md)");
    moerun::printStats(info.name, static_cast<const float *>(t.data), t.shape[0] - 4);
  }
  if (!any)
    std::printf("router-stats: function '%s' has no router_stats outputs\n",
                fn.name.c_str());
}

double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                   start)
      .count();
}

/// The --input arrays, checked against the function's inputs (an f32 array
/// for a 16-bit input rounded to it).
std::vector<moert::npy::Array> readInputs(const Options &o, const moert::FunctionInfo &fn) {
  if (o.inputs.size() != fn.inputs.size()) {
    std::string list;
    for (const moert::TensorInfo &t : fn.inputs)
      list += (list.empty() ? "" : ", ") + specText(t);
    fail("function '" + fn.name + "' takes " + std::to_string(fn.inputs.size()) +
         " input(s) (" + list + "), got " + std::to_string(o.inputs.size()) +
         " --input");
  }
  std::vector<moert::npy::Array> arrays(o.inputs.size());
  for (size_t i = 0; i < o.inputs.size(); ++i) {
    std::string err;
    if (!moert::npy::readFile(o.inputs[i], &arrays[i], &err))
      fail(err);
    const moert::npy::Array &a = arrays[i];
    const moert::TensorInfo &spec = fn.inputs[i];
    bool shapeOk = a.shape.size() == spec.shape.size();
    for (size_t d = 0; shapeOk && d < a.shape.size(); ++d)
      shapeOk = spec.shape[d] == -1 || spec.shape[d] == a.shape[d];
    bool rounds = a.dtype == MOERT_F32 && (spec.dtype == MOERT_BF16 || spec.dtype == MOERT_F16);
    if ((a.dtype != spec.dtype && !rounds) || !shapeOk)
      fail("input " + std::to_string(i) + " ('" + spec.name + "') is " +
           moert_dtype_name(spec.dtype) + " " + shapeText(spec.shape, true) + ", but " +
           o.inputs[i] + " holds " + moert_dtype_name(a.dtype) + " " +
           shapeText(a.shape, false));
    if (rounds)
      arrays[i] = moert::npy::roundedTo16(a, spec.dtype);
  }

  return arrays;
}

/// The median of `times` (the mean of the middle two for an even count).
double median(std::vector<double> times) {
  std::sort(times.begin(), times.end());
  size_t n = times.size();
  return n % 2 ? times[n / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
}

/// The session options of a rank of a sharded artifact (--ranks, --mpi).
moert_session_options_t rankOptions(const Options &o, const moert_communicator_t *comm) {
  moert_session_options_t options;
  moert_session_options_init(&options);
  options.threads = o.threads;
  options.communicator = comm;
  if (!o.placement.empty()) {
    options.placement = o.placement.data();
    options.placement_size = o.placement.size();
  }
  return options;
}

/// A rank's runs (--ranks, --mpi): one, then with --bench N a warm-up and N
/// timed ones, every rank alike; *ms is the first run's time, or the timed
/// runs' median.
moert::Status rankRuns(const Options &o, moert::Session &session, size_t function,
                       const std::vector<moert_tensor_t> &inputs, double *ms) {
  // Every rank alike: a token's noise is its row's among all the ranks'.
  if (o.routerNoiseSeed)
    if (moert::Status st = session.setRouterNoise(true, *o.routerNoiseSeed); !st)
      return moert::Status(st.code(), "--router-noise-seed: " + st.message());
  std::vector<double> timed;
  for (int64_t k = 0; k < 1 + (o.bench > 0 ? 1 + o.bench : 0); ++k) {
    auto t0 = std::chrono::steady_clock::now();
    moert::Status st = session.run(function, inputs);
    double t = msSince(t0);
    if (!st)
      return st;
    if (k == 0)
      *ms = t;
    else if (k > 1)
      timed.push_back(t);
  }
  if (!timed.empty())
    *ms = median(timed);
  return moert::Status();
}

/// N of --device cuda[:N] (the first rank's GPU), or -1 for another device,
/// which --nccl refuses.
int32_t firstGpuOf(const Options &o) {
  if (o.device.rfind("cuda", 0) != 0) {
    if (o.nccl)
      fail("--nccl: the ranks run on GPUs (a cuda artifact, --device cuda[:N]), not '" +
           o.device + "'");
    return -1;
  }
  return o.device.size() > 5 ? static_cast<int32_t>(moetools::parseInt(
                                   "--device", o.device.substr(5), 0, 1023, fail))
                             : 0;
}

/// --ranks: the artifact's ranks as threads of this process, each with its
/// session and its rows of `inputs`; returns the outputs of every rank
/// concatenated (the first output only) and the slowest rank's time.
struct RankResult {
  std::vector<float> output;
  std::vector<int64_t> shape;
  double ms = 0;
  std::vector<int64_t> tokens;                     // each rank's
  std::vector<std::vector<moerun::AuxCopy>> aux;   // each rank's (--router-stats, --save-aux)
};

RankResult runRanks(const Options &o, const moert::Model &model, const moert::FunctionInfo &fn,
                    const std::vector<moert::npy::Array> &arrays) {
  int64_t T = 0;
  for (size_t i = 0; i < fn.inputs.size(); ++i)
    if (!fn.inputs[i].shape.empty() && fn.inputs[i].shape[0] == -1) {
      T = arrays[i].shape[0];
      break;
    }
  std::vector<int64_t> tokens = o.rankTokens;
  if (tokens.empty())
    for (int32_t r = 0; r < o.ranks; ++r)
      tokens.push_back(T / o.ranks + (r < T % o.ranks ? 1 : 0));
  int64_t sum = 0;
  for (int64_t t : tokens)
    sum += t;
  if (sum != T)
    fail("--rank-tokens sums to " + std::to_string(sum) + ", but the inputs have T = " +
         std::to_string(T));
  // The ranks' communicator: a local group, or NCCL (each rank's made in
  // its thread: ncclCommInitRank waits for every rank).
  std::optional<moert::LocalGroup> group;
  moert::NcclRank::Id ncclId{};
  int32_t firstGpu = 0;
  if (!o.nccl) {
    auto g = moert::LocalGroup::create(o.ranks, o.exchangeTimeoutMs);
    if (!g)
      fail(g.status().message());
    group.emplace(std::move(*g));
  } else {
    firstGpu = firstGpuOf(o);
    // Every rank's GPU first: a rank that fails before ncclCommInitRank
    // would leave the others waiting there.
    if (int32_t gpus = moert_cuda_device_count(); firstGpu + o.ranks > gpus)
      fail("--nccl: " + std::to_string(o.ranks) + " ranks from cuda:" + std::to_string(firstGpu) +
           " need " + std::to_string(firstGpu + o.ranks) + " GPUs, this machine has " +
           std::to_string(gpus));
    auto id = moert::NcclRank::uniqueId();
    if (!id)
      fail("--nccl: " + id.status().message());
    ncclId = *id;
  }
  int32_t ranks = o.ranks;
  std::vector<std::string> errors(static_cast<size_t>(ranks));
  std::vector<double> times(static_cast<size_t>(ranks), 0);
  std::vector<std::vector<float>> outs(static_cast<size_t>(ranks));
  std::vector<std::vector<moerun::AuxCopy>> aux(static_cast<size_t>(ranks));
  bool wantAux = o.routerStats || !o.saveAux.empty();
  std::vector<int64_t> rowShape;
  std::vector<std::thread> threads;
  for (int32_t r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      std::string &err = errors[static_cast<size_t>(r)];
      const moert_communicator_t *comm = nullptr;
      std::string device = o.device;
      std::optional<moert::NcclRank> nccl; // outlives the session
      if (group) {
        comm = group->communicator(r);
      } else {
        auto n = moert::NcclRank::create(ncclId, r, o.ranks, firstGpu + r, o.exchangeTimeoutMs);
        if (!n) {
          err = n.status().message();
          return;
        }
        nccl.emplace(std::move(*n));
        comm = nccl->communicator();
        device = "cuda:" + std::to_string(firstGpu + r);
      }
      auto session = moert::Session::create(model, device, rankOptions(o, comm));
      if (!session) {
        err = session.status().message();
        return;
      }
      int64_t first = 0;
      for (int32_t q = 0; q < r; ++q)
        first += tokens[static_cast<size_t>(q)];
      int64_t mine = tokens[static_cast<size_t>(r)];
      std::vector<moert_tensor_t> in;
      for (size_t i = 0; i < arrays.size(); ++i) {
        const moert::npy::Array &a = arrays[i];
        std::vector<int64_t> shape = a.shape;
        size_t offset = 0, bytes = a.data.size();
        if (!fn.inputs[i].shape.empty() && fn.inputs[i].shape[0] == -1 && T > 0) {
          size_t row = a.data.size() / static_cast<size_t>(T);
          shape[0] = mine;
          offset = row * static_cast<size_t>(first);
          bytes = row * static_cast<size_t>(mine);
        }
        in.push_back(moert::tensor(a.dtype, shape,
                                   const_cast<uint8_t *>(a.data.data()) + offset, bytes));
      }
      if (moert::Status st = rankRuns(o, *session, fn.index, in, &times[static_cast<size_t>(r)]);
          !st) {
        err = st.message();
        return;
      }
      if (wantAux && !moerun::copyAux(fn, *session, &aux[static_cast<size_t>(r)], &err))
        return;
      if (fn.outputs.empty())
        return;
      auto view = session->output(0);
      if (!view) {
        err = view.status().message();
        return;
      }
      outs[static_cast<size_t>(r)] = asF32(*view);
      if (r == 0)
        rowShape = viewShape(*view);
    });
  for (std::thread &t : threads)
    t.join();
  for (int32_t r = 0; r < ranks; ++r)
    if (!errors[static_cast<size_t>(r)].empty())
      fail("rank " + std::to_string(r) + ": " + errors[static_cast<size_t>(r)]);
  RankResult result;
  for (int32_t r = 0; r < ranks; ++r) {
    const std::vector<float> &out = outs[static_cast<size_t>(r)];
    result.output.insert(result.output.end(), out.begin(), out.end());
    result.ms = std::max(result.ms, times[static_cast<size_t>(r)]);
  }
  result.shape = rowShape;
  if (!result.shape.empty())
    result.shape[0] = T;
  result.tokens = tokens;
  result.aux = std::move(aux);
  return result;
}

/// --save-aux: DIR/<name>.npy (DIR and its parents created when missing).
/// The artifact names the files; the loader accepts only plain names for
/// aux outputs, so none writes outside DIR.
void writeAux(const std::string &dir, const std::string &name, moert_dtype_t dtype,
              const void *data, const std::vector<int64_t> &shape) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    fail("--save-aux: cannot create the directory '" + dir + "'" +
         (ec ? ": " + ec.message() : std::string(": not a directory")));
  std::string err;
  if (!moert::npy::writeFile(dir + "/" + name + ".npy", moert::npy::serialize(dtype, data, shape),
                             &err))
    fail(err);
}

/// router_stats.<i> and its [E + 4] values, for each router.
using CombinedStats = std::vector<std::pair<std::string, std::vector<float>>>;

/// The router statistics of the whole run from every rank's partial sums.
CombinedStats combinedStats(const moert::FunctionInfo &fn,
                            const std::vector<std::vector<moerun::AuxCopy>> &aux) {
  CombinedStats out;
  for (const auto &[index, experts] : moerun::statsRouters(fn)) {
    moerun::StatsPartial sum;
    for (size_t r = 0; r < aux.size(); ++r) {
      moerun::StatsPartial part;
      std::string why;
      if (!moerun::partialStats(aux[r], index, &part, &why))
        fail("rank " + std::to_string(r) + ": " + why);
      if (sum.empty())
        sum.assign(part.size(), 0.0);
      if (part.size() != sum.size())
        fail("rank " + std::to_string(r) + ": router " + index + " has another expert count");
      for (size_t j = 0; j < sum.size(); ++j)
        sum[j] += part[j];
    }
    out.emplace_back("router_stats." + index, moerun::finishStats(sum));
  }
  return out;
}

/// --ranks --router-stats: the whole run's statistics (as one device prints
/// them), then each rank's load.
void printRankStats(const moert::FunctionInfo &fn, const RankResult &r,
                    const CombinedStats &combined) {
  if (combined.empty()) {
    std::printf("router-stats: function '%s' has no router_stats outputs\n", fn.name.c_str());
    return;
  }
  for (const auto &[name, stats] : combined) {
    int64_t experts = static_cast<int64_t>(stats.size()) - 4;
    moerun::printStats(name, stats.data(), experts);
    for (size_t q = 0; q < r.aux.size(); ++q)
      for (const moerun::AuxCopy &a : r.aux[q])
        if (a.name == name && a.dtype == MOERT_F32 && a.shape.size() == 1 &&
            a.shape[0] == experts + 4) {
          std::vector<float> v(a.data.size() / sizeof(float));
          std::memcpy(v.data(), a.data.data(), a.data.size());
          std::printf("  rank %zu: tokens=%lld load:", q, static_cast<long long>(r.tokens[q]));
          for (int64_t e = 0; e < experts; ++e)
            std::printf(" %.6g", static_cast<double>(v[static_cast<size_t>(e)]));
          std::printf("\n");
        }
  }
}

/// --ranks --save-aux: the whole run's auxiliary outputs, as one device
/// writes them: those with a token dimension concatenated over the ranks,
/// router_stats.<i> combined; any other, each rank's in DIR/rank<r>/.
void saveRankAux(const Options &o, const moert::FunctionInfo &fn, const RankResult &r,
                 const CombinedStats &combined) {
  for (size_t i = 0; i < fn.auxOutputs.size(); ++i) {
    const moert::TensorInfo &info = fn.auxOutputs[i];
    auto stats = std::find_if(combined.begin(), combined.end(),
                              [&](const auto &c) { return c.first == info.name; });
    if (stats != combined.end()) {
      writeAux(o.saveAux, info.name, MOERT_F32, stats->second.data(),
            {static_cast<int64_t>(stats->second.size())});
    } else if (!info.shape.empty() && info.shape[0] == -1) {
      std::vector<uint8_t> all;
      std::vector<int64_t> shape;
      for (const auto &rank : r.aux) {
        const moerun::AuxCopy &a = rank[i];
        all.insert(all.end(), a.data.begin(), a.data.end());
        if (shape.empty())
          shape = a.shape;
        else
          shape[0] += a.shape[0];
      }
      writeAux(o.saveAux, info.name, r.aux[0][i].dtype, all.data(), shape);
    } else {
      for (size_t q = 0; q < r.aux.size(); ++q)
        writeAux(o.saveAux + "/rank" + std::to_string(q), info.name, r.aux[q][i].dtype,
              r.aux[q][i].data.data(), r.aux[q][i].shape);
    }
  }
}

int runRanksMain(const Options &o, const moert::Model &model, const moert::FunctionInfo &fn) {
  RankResult r = runRanks(o, model, fn, readInputs(o, fn));
  if (fn.outputs.empty())
    fail("--ranks: function '" + fn.name + "' has no outputs");
  if (!o.quiet) {
    moert_tensor_t t = moert::tensor(MOERT_F32, r.shape, r.output.data(),
                                     r.output.size() * sizeof(float));
    printSummary(fn.outputs[0].name, t);
    if (o.bench == 0)
      std::printf("time_ms=%.3f ranks=%d\n", r.ms, o.ranks);
  }
  // As without --ranks, the --bench line is printed even with --quiet.
  if (o.bench > 0)
    std::printf("median_ms=%.4f runs=%lld ranks=%d\n", r.ms, static_cast<long long>(o.bench),
                o.ranks);
  std::string err;
  if (!o.output.empty() &&
      !moert::npy::writeFile(o.output, moert::npy::serializeF32(r.output.data(), r.shape), &err))
    fail(err);
  if (o.routerStats || !o.saveAux.empty()) {
    CombinedStats combined = combinedStats(fn, r.aux);
    if (o.routerStats)
      printRankStats(fn, r, combined);
    if (!o.saveAux.empty())
      saveRankAux(o, fn, r, combined);
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    fail(std::string("writing to standard output failed: ") + std::strerror(errno));
  return 0;
}

} // namespace

#ifdef MOE_RUN_WITH_MPI
/// --mpi: MPI initialized and this rank's communicator made before anything
/// can fail, so that every later failure reaches the other ranks.
void startMpi(Options &o, int *argc, char ***argv) {
  if (MPI_Init(argc, argv) != MPI_SUCCESS)
    fail("--mpi: MPI_Init failed");
  static moert_mpi_communicator_t comm;
  char error[512] = {0};
  if (moert_mpi_communicator_init(&comm, MPI_COMM_WORLD, o.exchangeTimeoutMs / 1000.0, error,
                                  sizeof error)) {
    std::fprintf(stderr, "error: --mpi: %s\n", error);
    MPI_Finalize();
    std::exit(1);
  }
  gMpi = &comm;
  for (std::string &in : o.inputs)
    in = forRank(in, comm.base.rank);
  o.output = forRank(o.output, comm.base.rank);
  o.saveAux = forRank(o.saveAux, comm.base.rank);
}

/// --mpi --router-stats: every rank's partial sums added on rank 0, which
/// prints the whole run's statistics. Every rank takes part in every reduction (the routers and their sizes come
/// from the function, the same on every rank), whatever failed on it: its
/// failures travel as a count with the sums, and each rank fails only after
/// the last reduction, so that no rank waits for one that gave up. Returns
/// this rank's error, or rank 0's about another rank's ("" when none).
std::string reduceRouterStats(const moert::FunctionInfo &fn, const std::vector<moerun::AuxCopy> &aux,
                              bool auxOk, int rank) {
  auto routers = moerun::statsRouters(fn);
  if (routers.empty() && rank == 0)
    std::printf("router-stats: function '%s' has no router_stats outputs\n", fn.name.c_str());
  std::string error;
  for (const auto &[index, experts] : routers) {
    size_t n = static_cast<size_t>(2 * experts + 2);
    moerun::StatsPartial part;
    std::string why = "the auxiliary outputs could not be read";
    bool ok = auxOk && moerun::partialStats(aux, index, &part, &why) && part.size() == n;
    if (!ok) {
      part.assign(n, 0.0);
      if (error.empty())
        error = "--router-stats: router " + index + ": " + why;
    }
    part.push_back(ok ? 0.0 : 1.0);
    std::vector<double> sum(part.size(), 0.0);
    if (MPI_Reduce(part.data(), sum.data(), static_cast<int>(part.size()), MPI_DOUBLE, MPI_SUM,
                   0, MPI_COMM_WORLD) != MPI_SUCCESS && error.empty())
      error = "--router-stats: MPI_Reduce failed";
    if (rank != 0 || !error.empty())
      continue;
    if (sum.back() != 0) {
      error = "--router-stats: router " + index + ": " + std::to_string(int(sum.back())) +
              " rank(s) could not take their partial sums (each says why)";
      continue;
    }
    sum.pop_back();
    std::vector<float> all = moerun::finishStats(sum);
    moerun::printStats("router_stats." + index, all.data(), experts);
  }
  return error;
}

/// --mpi on GPUs: cuda:N+L for --device cuda:N, L this process's rank among
/// those on its machine; and with --nccl, its NCCL rank there (the unique id
/// made on rank 0 and broadcast).
std::optional<moert::NcclRank> mpiGpu(Options &o) {
  int32_t first = firstGpuOf(o);
  if (first < 0)
    return std::nullopt;
  MPI_Comm node;
  int local = 0;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) !=
          MPI_SUCCESS ||
      MPI_Comm_rank(node, &local) != MPI_SUCCESS || MPI_Comm_free(&node) != MPI_SUCCESS)
    fail("--mpi: cannot find this process's rank on its machine (MPI_Comm_split_type)");
  o.device = "cuda:" + std::to_string(first + local);
  if (!o.nccl)
    return std::nullopt;
  // Every rank's GPU first, together: a rank that fails before
  // ncclCommInitRank would leave the others waiting there.
  int32_t gpus = moert_cuda_device_count();
  int mine = first + local < gpus ? 1 : 0, all = 0;
  if (MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
    fail("--nccl: MPI_Allreduce failed");
  if (!mine)
    fail("--nccl: this rank's GPU cuda:" + std::to_string(first + local) +
         " does not exist (the machine has " + std::to_string(gpus) + ")");
  if (!all)
    fail("--nccl: a rank has no GPU of its own (see its error)");
  // [0]: whether rank 0 made an id, then the id.
  std::vector<uint8_t> msg(1 + MOERT_NCCL_UNIQUE_ID_BYTES, 0);
  std::string why;
  if (gMpi->base.rank == 0) {
    auto id = moert::NcclRank::uniqueId();
    if (id) {
      msg[0] = 1;
      std::copy(id->begin(), id->end(), msg.begin() + 1);
    } else {
      why = id.status().message();
    }
  }
  if (MPI_Bcast(msg.data(), static_cast<int>(msg.size()), MPI_BYTE, 0, MPI_COMM_WORLD) !=
      MPI_SUCCESS)
    fail("--nccl: MPI_Bcast of the NCCL unique id failed");
  if (!msg[0])
    fail("--nccl: " + (why.empty() ? "rank 0 could not make an NCCL unique id" : why));
  moert::NcclRank::Id id;
  std::copy(msg.begin() + 1, msg.end(), id.begin());
  auto n = moert::NcclRank::create(id, gMpi->base.rank, gMpi->base.size, first + local,
                                   o.exchangeTimeoutMs);
  if (!n)
    fail("--nccl: " + n.status().message());
  return std::move(*n);
}

int runMpiMain(Options &o, const moert::Model &model, const moert::FunctionInfo &fn) {
  int rank = gMpi->base.rank;
  std::vector<moert::npy::Array> arrays = readInputs(o, fn);
  std::vector<moert_tensor_t> inputs;
  for (moert::npy::Array &a : arrays)
    inputs.push_back(moert::tensor(a.dtype, a.shape, a.data.data(), a.data.size()));
  std::optional<moert::NcclRank> nccl = mpiGpu(o); // outlives the session
  auto session = moert::Session::create(
      model, o.device, rankOptions(o, nccl ? nccl->communicator() : &gMpi->base));
  if (!session)
    fail(session.status().message());
  double ms = 0;
  if (moert::Status st = rankRuns(o, *session, fn.index, inputs, &ms); !st)
    fail(st.message());
  if (!o.quiet)
    for (size_t i = 0; i < fn.outputs.size(); ++i) {
      auto view = session->output(i);
      if (!view)
        fail(view.status().message());
      std::printf("rank %d: ", rank);
      printSummary(fn.outputs[i].name, *view);
    }
  if (!o.quiet && o.bench == 0)
    std::printf("rank %d: time_ms=%.3f verify=%s\n", rank, ms,
                o.verify == MOERT_VERIFY_LAZY ? "lazy" : "full");
  if (o.bench > 0)
    std::printf("rank %d: median_ms=%.4f runs=%lld\n", rank, ms, static_cast<long long>(o.bench));
  // The collectives first (no rank may give up while another waits in one),
  // then the files.
  std::vector<moerun::AuxCopy> aux;
  std::string why;
  bool auxOk = !(o.routerStats || !o.saveAux.empty()) || moerun::copyAux(fn, *session, &aux, &why);
  if (o.routerStats)
    if (std::string error = reduceRouterStats(fn, aux, auxOk, rank); !error.empty())
      fail(auxOk ? error : error + " (" + why + ")");
  if (!auxOk)
    fail(why);
  writeFirstOutput(o, fn, *session);
  if (!o.saveAux.empty()) // each rank its own, in DIR with %r
    for (const moerun::AuxCopy &a : aux)
      writeAux(o.saveAux, a.name, a.dtype, a.data.data(), a.shape);
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    fail(std::string("writing to standard output failed: ") + std::strerror(errno));
  // Every rank's session first: a rank that finalizes while another still
  // exchanges would leave it waiting.
  session = moert::Status();
  moert_mpi_communicator_destroy(gMpi);
  gMpi = nullptr;
  MPI_Finalize();
  return 0;
}
#endif

int main(int argc, char **argv) {
  moetools::reexecWithSingleThreadedBlas(argv);
  Options o = parseArgs(argc, argv);
#ifdef MOE_RUN_WITH_MPI
  if (o.mpi)
    startMpi(o, &argc, &argv);
#endif

  using Clock = std::chrono::steady_clock;
  auto loadStart = Clock::now();
  moert_load_options_t loadOptions;
  moert_load_options_init(&loadOptions);
  // Under --mpi each process loads the artifact: with full verification
  // every rank would read every byte of it, lazily only its own.
  o.verify = o.verify.value_or(o.mpi ? MOERT_VERIFY_LAZY : MOERT_VERIFY_FULL);
  loadOptions.verify = *o.verify;
  loadOptions.trusted_keys = o.trustedKeys.data();
  loadOptions.num_trusted_keys = o.trustedKeys.size() / 32;
  loadOptions.require_signature = o.requireSignature;
  loadOptions.memory_budget = o.memoryBudget;
  auto model = moert::Model::load(o.model, loadOptions);
  if (!model)
    fail(model.status().message());
  double loadSeconds = std::chrono::duration<double>(Clock::now() - loadStart).count();

  auto fnInfo = model->function(o.function);
  if (!fnInfo) {
    if (o.function.empty()) {
      std::string list;
      for (const std::string &n : model->functionNames())
        list += (list.empty() ? "" : ", ") + n;
      fail("the artifact has " + std::to_string(model->numFunctions()) +
           " functions (" + list + "); choose one with --function");
    }
    fail(fnInfo.status().message());
  }
  const moert::FunctionInfo &fn = *fnInfo;

  if (o.device.empty())
    o.device = model->target() == "cuda" ? "cuda:0" : "cpu";
  if (o.ranks)
    return runRanksMain(o, *model, fn);
#ifdef MOE_RUN_WITH_MPI
  if (o.mpi)
    return runMpiMain(o, *model, fn);
#endif
  auto sessionStart = Clock::now();
  auto session = moert::Session::create(*model, o.device, o.threads);
  if (!session)
    fail(session.status().message());
  if (o.routerNoiseSeed)
    if (moert::Status s = session->setRouterNoise(true, *o.routerNoiseSeed); !s)
      fail("--router-noise-seed: " + s.message());
  double sessionSeconds =
      std::chrono::duration<double>(Clock::now() - sessionStart).count();

  std::vector<moert::npy::Array> arrays = readInputs(o, fn);
  std::vector<moert_tensor_t> inputs;
  for (moert::npy::Array &a : arrays)
    inputs.push_back(moert::tensor(a.dtype, a.shape, a.data.data(), a.data.size()));

  auto start = std::chrono::steady_clock::now();
  moert::Status st = session->run(fn.index, inputs);
  double ms = msSince(start);
  if (!st)
    fail(st.message());

  if (!o.quiet) {
    for (size_t i = 0; i < fn.outputs.size(); ++i) {
      auto view = session->output(i);
      if (!view)
        fail(view.status().message());
      printSummary(fn.outputs[i].name, *view);
    }
    std::printf("time_ms=%.3f\n", ms);
    struct stat st {};
    ::stat(o.model.c_str(), &st);
    std::printf("load_s=%.3f session_s=%.3f artifact_mib=%.1f verify=%s\n",
                loadSeconds, sessionSeconds, st.st_size / double(1 << 20),
                loadOptions.verify == MOERT_VERIFY_LAZY ? "lazy" : "full");
  }

  writeFirstOutput(o, fn, *session);

  if (o.routerStats)
    printRouterStats(fn, *session);

  if (!o.saveAux.empty())
    for (size_t i = 0; i < fn.auxOutputs.size(); ++i) {
      auto view = session->auxOutput(i);
      if (!view)
        fail(view.status().message());
      writeAux(o.saveAux, fn.auxOutputs[i].name, view->dtype, view->data, viewShape(*view));
    }

  if (o.bench > 0) {
    size_t fi = 0;
    int64_t tokens = 0;
    moert_session_last_run(session->get(), &fi, &tokens);
    if (!(st = session->run(fn.index, inputs))) // warm-up
      fail(st.message());
    std::vector<double> times;
    times.reserve(static_cast<size_t>(o.bench));
    for (int64_t r = 0; r < o.bench; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      st = session->run(fn.index, inputs);
      times.push_back(msSince(t0));
      if (!st)
        fail(st.message());
    }
    std::printf("median_ms=%.4f min_ms=%.4f max_ms=%.4f runs=%lld tokens=%lld\n",
                median(times), *std::min_element(times.begin(), times.end()),
                *std::max_element(times.begin(), times.end()),
                static_cast<long long>(times.size()), static_cast<long long>(tokens));
  }
  // Standard output is the run's result: a failed write (a full disk,
  // /dev/full) is an error, not exit 0 with the output lost.
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    fail(std::string("writing to standard output failed: ") + std::strerror(errno));
  return 0;
}
