//===- moe-placement.cpp - a balanced expert placement from router stats ---===//
//
//   moe-placement --stats S.npy [--stats ...] --ranks R --slots S
//                 [--replicas N] [--output FILE]
//
// Expert parallelism (docs/parallelism.md): from the per-expert loads that
// router statistics recorded (moe-run --save-aux: router_stats.<i>.npy, f32
// [E + 4], the first E the load; or any f32 / i32 [E] of loads), summed over
// every file given, a placement for R ranks of S slots each, in DeepSeek's
// EPLB manner: first the hottest experts get replicas (each spare slot to
// the expert with the most load per copy, at most one copy per rank), then
// the copies, heaviest first, go to the rank with the least load that has a
// free slot and not yet that expert. Each copy is counted as taking an equal
// share of its expert's load. Prints the largest and mean load per rank
// before (the default placement, slot s of rank r holding expert r·S + s) and
// after, and the placement, which --output writes for moe-run --placement
// @FILE. Errors: one "error: " line, exit 1.
//
//===----------------------------------------------------------------------===//
#include "Npy.h"
#include "common/ParseInt.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

const char *kUsage =
    "usage: moe-placement --stats S.npy [--stats ...] --ranks R --slots S\n"
    "                     [--replicas N] [--output FILE]\n"
    "\n"
    "A balanced placement of E experts over R ranks of S slots (R * S >= E) from\n"
    "router statistics (moe-run --save-aux's router_stats.<i>.npy, f32 [E + 4]:\n"
    "a file whose name holds 'router_stats' loses its last 4 entries; any other\n"
    "is f32 / i32 [E] loads), summed over every --stats file: the hottest experts\n"
    "get replicas in the spare slots, then every copy goes to the least loaded\n"
    "rank with room (DeepSeek's EPLB). Prints the load per rank before (the\n"
    "default placement) and after, and the placement.\n"
    "\n"
    "  --replicas N   extra copies to make (default: every spare slot, R * S - E)\n"
    "  --output FILE  write the placement (comma-separated, rank by rank) to FILE,\n"
    "                 for moe-run --placement @FILE\n";

[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  std::exit(1);
}

/// The loads of an array: f32 [E + 4] router statistics, or [E] loads.
std::vector<double> loadsOf(const std::string &path, const moert::npy::Array &a) {
  bool f32 = a.dtype == MOERT_F32, i32 = a.dtype == MOERT_I32;
  if (a.shape.size() != 1 || (!f32 && !i32) || a.shape[0] < 1)
    fail("--stats: " + path + " is not a 1-D f32 or i32 array");
  size_t n = static_cast<size_t>(a.shape[0]);
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) {
    if (f32) {
      float x;
      std::memcpy(&x, a.data.data() + 4 * i, 4);
      v[i] = x;
    } else {
      int32_t x;
      std::memcpy(&x, a.data.data() + 4 * i, 4);
      v[i] = x;
    }
    if (!(v[i] >= 0) || v[i] > 1e18)
      fail("--stats: " + path + ": element " + std::to_string(i) + " is not a load (" +
           std::to_string(v[i]) + ")");
  }
  return v;
}

/// The largest and the mean load per rank of `placement` ([ranks * slots],
/// -1 empty), each copy of an expert taking an equal share of its load.
std::pair<double, double> rankLoads(const std::vector<int32_t> &placement,
                                    const std::vector<double> &load, int64_t ranks,
                                    int64_t slots) {
  std::vector<int64_t> copies(load.size(), 0);
  for (int32_t e : placement)
    if (e >= 0)
      ++copies[static_cast<size_t>(e)];
  double most = 0, total = 0;
  for (int64_t r = 0; r < ranks; ++r) {
    double sum = 0;
    for (int64_t s = 0; s < slots; ++s)
      if (int32_t e = placement[static_cast<size_t>(r * slots + s)]; e >= 0)
        sum += load[static_cast<size_t>(e)] / static_cast<double>(copies[static_cast<size_t>(e)]);
    most = std::max(most, sum);
    total += sum;
  }
  return {most, total / static_cast<double>(ranks)};
}

void report(const char *what, std::pair<double, double> maxMean) {
  std::printf("%s: max=%.6g mean=%.6g max/mean=%.4f\n", what, maxMean.first, maxMean.second,
              maxMean.second > 0 ? maxMean.first / maxMean.second : 1.0);
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> stats;
  int64_t ranks = 0, slots = 0, replicas = -1;
  std::string output;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], value;
    size_t eq = a.find('=');
    bool inlineValue = a.rfind("--", 0) == 0 && eq != std::string::npos;
    if (inlineValue) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    auto next = [&]() -> std::string {
      if (inlineValue)
        return value;
      if (i + 1 >= argc)
        fail(a + " needs a value (see moe-placement --help)");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--stats") {
      stats.push_back(next());
    } else if (a == "--ranks") {
      ranks = moetools::parseInt("--ranks", next(), 1, 65536, fail);
    } else if (a == "--slots") {
      slots = moetools::parseInt("--slots", next(), 1, 1 << 20, fail);
    } else if (a == "--replicas") {
      replicas = moetools::parseInt("--replicas", next(), 0, int64_t(1) << 40, fail);
    } else if (a == "--output" || a == "-o") {
      output = next();
    } else {
      fail("unknown argument '" + a + "' (see moe-placement --help)");
    }
  }
  if (stats.empty() || !ranks || !slots)
    fail("give --stats, --ranks and --slots (see moe-placement --help)");

  std::vector<double> load;
  for (const std::string &path : stats) {
    moert::npy::Array a;
    std::string err;
    if (!moert::npy::readFile(path, &a, &err))
      fail(err);
    std::vector<double> v = loadsOf(path, a);
    // Router statistics: E loads then cv, the two losses and T.
    if (a.dtype == MOERT_F32 && path.find("router_stats") != std::string::npos && v.size() > 4)
      v.resize(v.size() - 4);
    if (load.empty())
      load.assign(v.size(), 0.0);
    if (v.size() != load.size())
      fail("--stats: " + path + " has " + std::to_string(v.size()) + " experts, the first " +
           std::to_string(load.size()));
    for (size_t e = 0; e < v.size(); ++e)
      load[e] += v[e];
  }
  int64_t experts = static_cast<int64_t>(load.size());
  int64_t cells = ranks * slots;
  if (cells > (int64_t(1) << 24))
    fail(std::to_string(ranks) + " ranks of " + std::to_string(slots) + " slots are " +
         std::to_string(cells) + " slots, more than the 2^24 this tool places");
  if (cells < experts)
    fail(std::to_string(ranks) + " ranks of " + std::to_string(slots) +
         " slots cannot hold the " + std::to_string(experts) + " experts");
  int64_t spare = cells - experts;
  if (replicas < 0)
    replicas = spare;
  if (replicas > spare)
    fail("--replicas " + std::to_string(replicas) + ": only " + std::to_string(spare) +
         " slots are spare");

  // Replicas: each to the expert with the most load per copy (at most one
  // copy per rank).
  std::vector<int64_t> copies(static_cast<size_t>(experts), 1);
  for (int64_t i = 0; i < replicas; ++i) {
    int64_t best = -1;
    for (int64_t e = 0; e < experts; ++e)
      if (copies[static_cast<size_t>(e)] < ranks &&
          (best < 0 || load[static_cast<size_t>(e)] / copies[static_cast<size_t>(e)] >
                           load[static_cast<size_t>(best)] / copies[static_cast<size_t>(best)]))
        best = e;
    if (best < 0)
      break; // every expert on every rank
    ++copies[static_cast<size_t>(best)];
  }
  // The copies, heaviest first, each to the least loaded rank with room
  // that does not hold the expert yet.
  struct Copy {
    double load;
    int32_t expert;
  };
  std::vector<Copy> items;
  for (int64_t e = 0; e < experts; ++e)
    for (int64_t c = 0; c < copies[static_cast<size_t>(e)]; ++c)
      items.push_back({load[static_cast<size_t>(e)] / copies[static_cast<size_t>(e)],
                       static_cast<int32_t>(e)});
  std::stable_sort(items.begin(), items.end(),
                   [](const Copy &a, const Copy &b) { return a.load > b.load; });
  std::vector<int32_t> placement(static_cast<size_t>(cells), -1);
  std::vector<int64_t> used(static_cast<size_t>(ranks), 0);
  std::vector<double> rankLoad(static_cast<size_t>(ranks), 0.0);
  for (const Copy &c : items) {
    int64_t best = -1;
    for (int64_t r = 0; r < ranks; ++r) {
      if (used[static_cast<size_t>(r)] == slots)
        continue;
      bool holds = false;
      for (int64_t s = 0; s < used[static_cast<size_t>(r)]; ++s)
        holds |= placement[static_cast<size_t>(r * slots + s)] == c.expert;
      if (!holds && (best < 0 || rankLoad[static_cast<size_t>(r)] < rankLoad[static_cast<size_t>(best)]))
        best = r;
    }
    if (best < 0)
      fail("no rank has room for a copy of expert " + std::to_string(c.expert) +
           " that it does not hold already (try fewer --replicas)");
    placement[static_cast<size_t>(best * slots + used[static_cast<size_t>(best)]++)] = c.expert;
    rankLoad[static_cast<size_t>(best)] += c.load;
  }

  std::vector<int32_t> initial(static_cast<size_t>(cells), -1);
  for (int64_t i = 0; i < experts; ++i)
    initial[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  int64_t made = 0;
  for (int64_t e = 0; e < experts; ++e)
    made += copies[static_cast<size_t>(e)] - 1;
  std::printf("experts=%lld ranks=%lld slots=%lld replicas=%lld\n",
              static_cast<long long>(experts), static_cast<long long>(ranks),
              static_cast<long long>(slots), static_cast<long long>(made));
  report("load per rank, default placement", rankLoads(initial, load, ranks, slots));
  report("load per rank, this placement", rankLoads(placement, load, ranks, slots));
  std::string list;
  for (size_t i = 0; i < placement.size(); ++i)
    list += (i ? "," : "") + std::to_string(placement[i]);
  std::printf("placement=%s\n", list.c_str());
  if (!output.empty()) {
    std::ofstream f(output);
    f << list << "\n";
    f.close();
    if (!f)
      fail("--output: cannot write '" + output + "'");
  }
  if (std::fflush(stdout) != 0)
    fail("writing to standard output failed");
  return 0;
}
