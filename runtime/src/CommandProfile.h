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
  /// Whether the environment variable `variable` (MOERT_CPU_PROFILE,
  /// MOERT_CUDA_PROFILE) asks for a profile: set, not empty and not "0".
  static bool requested(const char *variable);

  /// The `slots` milliseconds (zeroed) a run at (function, T) times its
  /// commands into, or null while no run there has succeeded yet (the first
  /// is not counted). Allocates only then.
  double *begin(size_t function, int64_t T, size_t slots);
  /// The run begun at (function, T) succeeded: its times count (or, for the
  /// first, it was seen). A run that fails is never committed.
  void commit(size_t function, int64_t T);

  /// The counted runs at (function, T), and slot i's milliseconds summed
  /// over them (0 where nothing was counted).
  int64_t runs(size_t function, int64_t T) const;
  double sum(size_t function, int64_t T, size_t slot) const;

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
    std::vector<double> ms;      // summed over the counted runs
    std::vector<double> pending; // the run in progress
    int64_t runs = 0;            // counted runs
    bool seen = false;           // a first run succeeded
  };
  std::map<std::pair<size_t, int64_t>, Entry> entries_;
};

} // namespace moert::rt

#endif // MOERT_SRC_COMMANDPROFILE_H
