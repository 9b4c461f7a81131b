//===- SingleThreadedBlas.h - OpenBLAS without its own threads -*- C++ -*-===//
//
// libmoert calls OpenBLAS single-threaded from inside its own thread pool
// (openblas_set_num_threads(1)). But OpenBLAS starts its worker threads when
// it is loaded, before main, unless OPENBLAS_NUM_THREADS says otherwise; and
// under a tight address-space limit (ulimit -v of 80-150 MB) those threads
// loop forever trying to allocate their buffers, so the process hangs at
// exit. The runtime-only tools therefore re-execute themselves once with
// OPENBLAS_NUM_THREADS=1 when the variable is not set (docs/runtime.md,
// "OpenBLAS"); an embedder should set it too.
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_TOOLS_COMMON_SINGLETHREADEDBLAS_H
#define MOEC_TOOLS_COMMON_SINGLETHREADEDBLAS_H

#include <cstdlib>
#include <unistd.h>

namespace moetools {

/// Call first in main: returns only in a process whose OpenBLAS started
/// without worker threads (or when re-executing failed).
inline void reexecWithSingleThreadedBlas(char **argv) {
  if (std::getenv("OPENBLAS_NUM_THREADS"))
    return;
  if (::setenv("OPENBLAS_NUM_THREADS", "1", 1) != 0)
    return;
  ::execv("/proc/self/exe", argv);
  // Not re-executed (no /proc): go on with OpenBLAS's threads.
}

} // namespace moetools

#endif // MOEC_TOOLS_COMMON_SINGLETHREADEDBLAS_H
