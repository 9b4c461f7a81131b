//===- moert-stress.cpp - one artifact, many threads, bit-exact results ---===//
//
//   moert-stress model.moeb x.npy [--threads 8] [--runs 400] [--seed 1]
//                [--session-threads 1] [--device cpu]
//
// Loads the artifact once and shares it. For every function and every token
// count T in 1..rows(x) it first computes the output alone, on one session,
// as the reference. Then each of --threads threads creates its own session and
// performs --runs runs of (function, T) drawn at random, each on the first T
// rows of x, and compares every output byte with the reference, and the
// router_indices / router_stats aux outputs too. Prints
// "runs=N mismatches=M" and exits 1 on any mismatch or error. Each session
// runs on --session-threads threads (default 1: the concurrency is that of
// the sessions; more puts each session's thread pool under the same test,
// since results do not depend on the thread count). Every session is on
// --device (cpu, or cuda[:N] for a CUDA artifact). The reference's session
// ends once every thread has created its own, before their runs: on a GPU
// they share the weights it uploaded, which must outlive it.
//
//===----------------------------------------------------------------------===//
#include "Npy.h"
#include "moert/moert.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  std::exit(1);
}

struct Snapshot {
  std::vector<std::vector<uint8_t>> tensors; // outputs, then aux outputs
};

moert_tensor_t input(const std::vector<float> &x, int64_t t, int64_t h) {
  return moert::tensor(MOERT_F32, {t, h}, const_cast<float *>(x.data()),
                           size_t(t * h) * sizeof(float));
}

/// Runs (function, T) on `session` and copies every output and aux output.
std::string runOnce(moert::Session &session, const moert::FunctionInfo &fn,
                    const std::vector<float> &x, int64_t t, int64_t h,
                    Snapshot *out) {
  moert::Status s = session.run(fn.index, {input(x, t, h)});
  if (!s)
    return s.message();
  out->tensors.clear();
  for (size_t i = 0; i < fn.outputs.size() + fn.auxOutputs.size(); ++i) {
    bool aux = i >= fn.outputs.size();
    auto view = aux ? session.auxOutput(i - fn.outputs.size()) : session.output(i);
    if (!view)
      return view.status().message();
    const uint8_t *p = static_cast<const uint8_t *>(view->data);
    out->tensors.emplace_back(p, p + view->bytes);
  }
  return "";
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3)
    fail("usage: moert-stress model.moeb x.npy [--threads N] [--runs N] [--seed N] "
         "[--session-threads N] [--device DEV]");
  int threads = 8, runs = 400, sessionThreads = 1;
  unsigned seed = 1;
  std::string device = "cpu";
  for (int i = 3; i < argc; i += 2) {
    std::string flag = argv[i];
    if (i + 1 == argc)
      fail("option " + flag + " needs a value");
    int v = std::atoi(argv[i + 1]);
    if (flag == "--device")
      device = argv[i + 1];
    else if (flag == "--threads")
      threads = v;
    else if (flag == "--runs")
      runs = v;
    else if (flag == "--session-threads")
      sessionThreads = v;
    else if (flag == "--seed")
      seed = unsigned(v);
    else
      fail("unknown option " + flag);
  }
  if (threads < 1 || runs < 1 || sessionThreads < 1)
    fail("--threads, --runs and --session-threads must be at least 1");

  auto model = moert::Model::load(argv[1]);
  if (!model)
    fail(model.status().message());
  moert::npy::Array x;
  std::string err;
  if (!moert::npy::readTokens(argv[2], &x, &err))
    fail(err);
  int64_t rows = std::min<int64_t>(x.shape[0], model->maxTokens());
  int64_t h = x.shape[1];
  std::vector<float> xs(size_t(x.shape[0] * h));
  std::memcpy(xs.data(), x.data.data(), xs.size() * sizeof(float));

  std::vector<moert::FunctionInfo> functions;
  for (const std::string &name : model->functionNames()) {
    auto fn = model->function(name);
    if (!fn)
      fail(fn.status().message());
    functions.push_back(*fn);
  }

  // References, computed alone.
  std::map<std::pair<size_t, int64_t>, Snapshot> reference;
  std::optional<moert::Session> alone;
  {
    auto session = moert::Session::create(*model, device.c_str(), 1);
    if (!session)
      fail(session.status().message());
    alone.emplace(std::move(*session));
  }
  for (size_t f = 0; f < functions.size(); ++f)
    for (int64_t t = 1; t <= rows; ++t) {
      std::string e = runOnce(*alone, functions[f], xs, t, h, &reference[{f, t}]);
      if (!e.empty())
        fail(e);
    }

  std::atomic<long> done{0}, mismatches{0}, errors{0};
  std::atomic<int> created{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int w = 0; w < threads; ++w)
    pool.emplace_back([&, w] {
      auto session = moert::Session::create(*model, device.c_str(), sessionThreads);
      ++created;
      while (!go.load())
        std::this_thread::yield();
      if (!session) {
        ++errors;
        return;
      }
      std::mt19937 rng(seed * 1000 + unsigned(w));
      std::uniform_int_distribution<size_t> pickF(0, functions.size() - 1);
      std::uniform_int_distribution<int64_t> pickT(1, rows);
      Snapshot got;
      for (int r = 0; r < runs; ++r) {
        size_t f = pickF(rng);
        int64_t t = pickT(rng);
        if (!runOnce(*session, functions[f], xs, t, h, &got).empty()) {
          ++errors;
          continue;
        }
        if (got.tensors != reference.at({f, t}).tensors)
          ++mismatches;
        ++done;
      }
    });
  while (created.load() < threads)
    std::this_thread::yield();
  alone.reset();
  go = true;
  for (std::thread &t : pool)
    t.join();
  std::printf("threads=%d session_threads=%d runs=%ld functions=%zu tokens=1..%lld "
              "mismatches=%ld errors=%ld\n",
              threads, sessionThreads, done.load(), functions.size(), (long long)rows,
              mismatches.load(), errors.load());
  return mismatches || errors ? 1 : 0;
}
