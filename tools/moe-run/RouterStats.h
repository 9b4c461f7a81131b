//===- RouterStats.h - router statistics over the ranks of a run -----------===//
//
// moe-run --ranks / --mpi: each rank's session routes its own tokens, so each
// has its own router_stats.<i>. The statistics of the whole run (as one
// device computes them over all T tokens) come from each rank's partial
// sums, taken from its router_logits.<i> and router_indices.<i> the way the
// router_stats kernels take them (lib/Conversion/Kernels/router_stats.mlir):
// the tokens routed to each expert, each expert's softmax probability summed
// over tokens, the squared log-sum-exp summed over tokens, and T. Summed over
// ranks, they give the load (exactly), its coefficient of variation, the
// load-balancing loss and the z-loss (in double here, so within f32 rounding
// of one device's).
//
//===----------------------------------------------------------------------===//
#ifndef MOE_RUN_ROUTERSTATS_H
#define MOE_RUN_ROUTERSTATS_H

#include "moert/moert.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace moerun {

/// A copy of one auxiliary output of a run.
struct AuxCopy {
  std::string name;
  moert_dtype_t dtype = MOERT_F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

/// Every auxiliary output of the session's last run (function `fn`).
/// Returns false with `*why` on failure.
bool copyAux(const moert::FunctionInfo &fn, const moert::Session &session,
             std::vector<AuxCopy> *out, std::string *why);

/// The partial sums of one router over one rank's tokens: counts[E],
/// probs[E], then Σ z², then T (2E + 2 doubles, to be summed over ranks).
using StatsPartial = std::vector<double>;

/// The indices i of the routers with router_stats.<i>, router_logits.<i> and
/// router_indices.<i> among the function's auxiliary outputs, in order, with
/// each one's expert count E (from router_stats' [E + 4]).
std::vector<std::pair<std::string, int64_t>> statsRouters(const moert::FunctionInfo &fn);

/// Router `index`'s partial sums from `aux` (false, with `*why`, when its
/// logits or indices are missing or misshapen).
bool partialStats(const std::vector<AuxCopy> &aux, const std::string &index,
                  StatsPartial *out, std::string *why);

/// router_stats' [E + 4] (loads, cv, load-balancing loss, z-loss, T) from
/// partial sums added over ranks.
std::vector<float> finishStats(const StatsPartial &sums);

/// Prints `name: experts=E tokens=T`, the loads, and cv, the load-balancing
/// loss and z-loss, as moe-run --router-stats does for one device.
void printStats(const std::string &name, const float *stats, int64_t experts);

} // namespace moerun

#endif // MOE_RUN_ROUTERSTATS_H
