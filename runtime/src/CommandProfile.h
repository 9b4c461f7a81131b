//===- CommandProfile.h - per-command times of runs -------------*- C++ -*-===//
//
// MOERT_CPU_PROFILE and MOERT_CUDA_PROFILE: each command's time summed over
// a session's runs, per (function, T), printed to stderr when the session
// ends. The first run at each (function, T) is seen, not counted (it pays
// for first touches: the arena's pages on the CPU, cuBLAS's kernels on a
// GPU).
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_COMMANDPROFILE_H
#define MOERT_SRC_COMMANDPROFILE_H

#include "Model.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace moert::rt {

class CommandProfile {
public:
  /// The `slots` milliseconds a run at (function, T) adds its times to, or
  /// null for the first run there (which is not counted). Allocates only at
  /// that first run.
  double *slots(size_t function, int64_t T, size_t slots);

  /// One line of a table: the command's index ("-" for a slot that is no
  /// command), its kind, and what it runs.
  struct Line {
    std::string index, kind, what;
  };
  /// Prints one table per (function, T): "moert: <backend> profile of
  /// function 'f' at T = n on <device>: ...". `describe` names slot i.
  void print(const Model &model, const char *backend, const std::string &device,
             const char *firstRun,
             const std::function<Line(const FunctionSpec &, int64_t T, size_t slot)>
                 &describe) const;

  /// "n x k dtype" for a GEMM command, the kernel's name for a launch, ""
  /// for the rest.
  static std::string what(const Model &model, const CommandSpec &c);

private:
  struct Entry {
    std::vector<double> ms;
    int64_t runs = 0; // counted runs
    bool seen = false;
  };
  std::map<std::pair<size_t, int64_t>, Entry> entries_;
};

} // namespace moert::rt

#endif // MOERT_SRC_COMMANDPROFILE_H
