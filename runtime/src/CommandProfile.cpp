//===- CommandProfile.cpp -------------------------------------------------===//
#include "CommandProfile.h"

#include "moert/moert.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace moert::rt {

bool CommandProfile::requested(const char *variable) {
  const char *v = std::getenv(variable);
  return v && *v && std::strcmp(v, "0") != 0;
}

double *CommandProfile::begin(size_t function, int64_t T, size_t n) {
  Entry &e = entries_[{function, T}];
  if (!e.seen) {
    e.ms.assign(n, 0.0);
    e.pending.assign(n, 0.0);
    return nullptr;
  }
  std::fill(e.pending.begin(), e.pending.end(), 0.0);
  return e.pending.data();
}

void CommandProfile::commit(size_t function, int64_t T) {
  Entry &e = entries_[{function, T}];
  if (!e.seen) {
    e.seen = true;
    return;
  }
  for (size_t i = 0; i < e.ms.size(); ++i)
    e.ms[i] += e.pending[i];
  ++e.runs;
}

int64_t CommandProfile::runs(size_t function, int64_t T) const {
  auto it = entries_.find({function, T});
  return it == entries_.end() ? 0 : it->second.runs;
}

double CommandProfile::sum(size_t function, int64_t T, size_t slot) const {
  auto it = entries_.find({function, T});
  return it == entries_.end() || slot >= it->second.ms.size() ? 0.0 : it->second.ms[slot];
}

std::string CommandProfile::what(const Model &model, const CommandSpec &c) {
  if (c.kind == CommandKind::Launch)
    return model.kernels()[c.kernel].name;
  if (c.kind == CommandKind::Gemm || c.kind == CommandKind::GroupedGemm)
    return std::to_string(c.n) + " x " + std::to_string(c.k) + " " +
           moert_dtype_name(c.dtype);
  return "";
}

void CommandProfile::print(
    const Model &model, const char *backend, const std::string &device,
    const char *firstRun,
    const std::function<Line(const FunctionSpec &, int64_t, size_t)> &describe) const {
  for (const auto &[key, e] : entries_) {
    const auto &[function, T] = key;
    const FunctionSpec &fn = model.functions()[function];
    if (!e.seen)
      continue; // no run there succeeded
    if (e.runs == 0) {
      std::fprintf(stderr,
                   "moert: %s profile of function '%s' at T = %lld: one run, which "
                   "is not counted (%s)\n",
                   backend, fn.name.c_str(), static_cast<long long>(T), firstRun);
      continue;
    }
    double total = 0;
    for (double ms : e.ms)
      total += ms;
    std::fprintf(stderr,
                 "moert: %s profile of function '%s' at T = %lld on %s: %lld runs "
                 "(the first not counted), %.4f ms per run\n"
                 "     #  command       kernel / GEMM (n x k)         ms per run      %%\n",
                 backend, fn.name.c_str(), static_cast<long long>(T), device.c_str(),
                 static_cast<long long>(e.runs), total / e.runs);
    for (size_t i = 0; i < e.ms.size(); ++i) {
      Line l = describe(fn, T, i);
      std::fprintf(stderr, "  %4s  %-12s  %-28s %10.4f  %5.1f\n", l.index.c_str(),
                   l.kind.c_str(), l.what.c_str(), e.ms[i] / e.runs,
                   total > 0 ? 100.0 * e.ms[i] / total : 0.0);
    }
  }
}

} // namespace moert::rt
