//===- RouterStats.cpp - router statistics over the ranks of a run ---------===//
#include "RouterStats.h"

#include <cmath>
#include <cstdio>
#include <cstring>

namespace moerun {

bool copyAux(const moert::FunctionInfo &fn, const moert::Session &session,
             std::vector<AuxCopy> *out, std::string *why) {
  out->clear();
  for (size_t i = 0; i < fn.auxOutputs.size(); ++i) {
    auto view = session.auxOutput(i);
    if (!view) {
      *why = view.status().message();
      return false;
    }
    AuxCopy c;
    c.name = fn.auxOutputs[i].name;
    c.dtype = view->dtype;
    c.shape.assign(view->shape, view->shape + view->rank);
    const uint8_t *p = static_cast<const uint8_t *>(view->data);
    c.data.assign(p, p + view->bytes);
    out->push_back(std::move(c));
  }
  return true;
}

namespace {

const AuxCopy *find(const std::vector<AuxCopy> &aux, const std::string &name) {
  for (const AuxCopy &a : aux)
    if (a.name == name)
      return &a;
  return nullptr;
}

} // namespace

std::vector<std::pair<std::string, int64_t>> statsRouters(const moert::FunctionInfo &fn) {
  std::vector<std::pair<std::string, int64_t>> out;
  const std::string prefix = "router_stats.";
  auto has = [&](const std::string &name) {
    for (const moert::TensorInfo &t : fn.auxOutputs)
      if (t.name == name)
        return true;
    return false;
  };
  for (const moert::TensorInfo &t : fn.auxOutputs)
    if (t.name.compare(0, prefix.size(), prefix) == 0 && t.shape.size() == 1 &&
        t.shape[0] >= 5) {
      std::string index = t.name.substr(prefix.size());
      if (has("router_logits." + index) && has("router_indices." + index))
        out.emplace_back(index, t.shape[0] - 4);
    }
  return out;
}

bool partialStats(const std::vector<AuxCopy> &aux, const std::string &index,
                  StatsPartial *out, std::string *why) {
  const AuxCopy *logits = find(aux, "router_logits." + index);
  const AuxCopy *indices = find(aux, "router_indices." + index);
  if (!logits || !indices || logits->dtype != MOERT_F32 || logits->shape.size() != 2 ||
      indices->dtype != MOERT_I32 || indices->shape.size() != 2 ||
      logits->shape[0] != indices->shape[0] || logits->shape[1] < 1) {
    *why = "router " + index + ": no f32 [T, E] router_logits and i32 [T, k] router_indices";
    return false;
  }
  int64_t T = logits->shape[0], E = logits->shape[1], k = indices->shape[1];
  out->assign(static_cast<size_t>(2 * E + 2), 0.0);
  std::vector<float> l(static_cast<size_t>(T * E));
  std::vector<int32_t> idx(static_cast<size_t>(T * k));
  std::memcpy(l.data(), logits->data.data(), l.size() * sizeof(float));
  std::memcpy(idx.data(), indices->data.data(), idx.size() * sizeof(int32_t));
  double *counts = out->data(), *probs = counts + E;
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t j = 0; j < k; ++j) {
      int32_t e = idx[static_cast<size_t>(t * k + j)];
      if (e >= 0 && e < E)
        counts[e] += 1;
    }
    const float *row = l.data() + t * E;
    double m = row[0];
    for (int64_t e = 1; e < E; ++e)
      m = std::max(m, double(row[e]));
    double sum = 0;
    for (int64_t e = 0; e < E; ++e)
      sum += std::exp(double(row[e]) - m);
    for (int64_t e = 0; e < E; ++e)
      probs[e] += std::exp(double(row[e]) - m) / sum;
    double z = m + std::log(sum);
    (*out)[static_cast<size_t>(2 * E)] += z * z;
  }
  (*out)[static_cast<size_t>(2 * E + 1)] += double(T);
  return true;
}

std::vector<float> finishStats(const StatsPartial &sums) {
  int64_t E = static_cast<int64_t>(sums.size() - 2) / 2;
  const double *counts = sums.data(), *probs = counts + E;
  double z2 = sums[static_cast<size_t>(2 * E)], T = sums[static_cast<size_t>(2 * E + 1)];
  std::vector<float> out(static_cast<size_t>(E + 4));
  double total = 0;
  for (int64_t e = 0; e < E; ++e) {
    out[static_cast<size_t>(e)] = static_cast<float>(counts[e]);
    total += counts[e];
  }
  double mean = total / double(E), var = 0, lb = 0;
  // As the kernel: no guard for T = 0 (NaN then, as on one device).
  for (int64_t e = 0; e < E; ++e) {
    var += (counts[e] - mean) * (counts[e] - mean);
    lb += (counts[e] / T) * (probs[e] / T);
  }
  out[static_cast<size_t>(E)] = static_cast<float>(std::sqrt(var / double(E)) / mean);
  out[static_cast<size_t>(E + 1)] = static_cast<float>(double(E) * lb);
  out[static_cast<size_t>(E + 2)] = static_cast<float>(z2 / T);
  out[static_cast<size_t>(E + 3)] = static_cast<float>(T);
  return out;
}

void printStats(const std::string &name, const float *v, int64_t experts) {
  std::printf("%s: experts=%lld tokens=%.6g\n", name.c_str(), static_cast<long long>(experts),
              static_cast<double>(v[experts + 3]));
  std::printf("  load:");
  for (int64_t e = 0; e < experts; ++e)
    std::printf(" %.6g", static_cast<double>(v[e]));
  std::printf("\n  cv=%.6g load_balancing_loss=%.6g z_loss=%.6g\n",
              static_cast<double>(v[experts]), static_cast<double>(v[experts + 1]),
              static_cast<double>(v[experts + 2]));
}

} // namespace moerun
