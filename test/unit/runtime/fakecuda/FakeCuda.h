//===- FakeCuda.h - a stand-in CUDA driver and cuBLAS for tests -------------===//
//
// libmoert opens the CUDA driver (libcuda.so.1) and cuBLAS (libcublas.so.13)
// with dlopen. These stand-ins, put first on LD_LIBRARY_PATH, let the CUDA
// backend's host side run on a machine without a GPU: "device" memory is host
// memory, copies and fills are carried out, streams run their work at once
// (or record it while captured into a graph, and replay it at each launch),
// and kernels and GEMMs are checked and traced but not computed; the trace
// names device addresses as "memI+OFFSET" (the I-th allocation). Every
// address a call is given must lie inside a live allocation, so a wrong
// offset in the runtime is an error here, not silent corruption.
//
// Environment:
//   FAKECUDA_TRACE=FILE   append one line per call of interest to FILE
//   FAKECUDA_DEVICES=N    the GPUs the driver reports (default 1)
//   FAKECUDA_SM=NN        their compute capability (default 90)
//   FAKECUDA_FILL=B       the byte new device allocations are filled with
//                         (default 0; real device memory is not cleared)
//   FAKECUDA_FAIL=NAME=CODE[@N]
//                         the N-th call (default the first) of entry point
//                         NAME returns CODE instead of doing anything
//   FAKECUDA_WRITE=KERNEL:I:V0,V1,...
//                         whenever kernel KERNEL runs, the 32-bit integers
//                         V0, V1, ... are written where its pointer
//                         parameter I points (what a kernel would have
//                         computed, e.g. a dispatch's expert offsets)
//
// At exit, whatever was not released (memory, streams, graphs, events, page
// locks, the primary context) is traced as "leak: ...".
//
// This header is the driver's interface to the cuBLAS stand-in, which links
// against it.
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_TEST_FAKECUDA_FAKECUDA_H
#define MOEC_TEST_FAKECUDA_FAKECUDA_H

#include <cstdint>
#include <functional>
#include <string>

namespace fakecuda {

/// Appends `line` to the trace (FAKECUDA_TRACE), if one is kept.
void trace(const std::string &line);
/// The code FAKECUDA_FAIL asks this call of `entry` to return, or 0.
int injected(const char *entry);
/// Whether [address, address + bytes) lies inside one live allocation.
bool inside(uint64_t address, uint64_t bytes);
/// "memI+OFFSET": the I-th allocation of the process (from 0) and the
/// offset in it, or "outside" when `address` is in none.
std::string where(uint64_t address);
/// Runs `op` on `stream` now, or records it when the stream is being
/// captured. `what` names it in the trace; capturing adds " (captured)".
void enqueue(void *stream, const std::string &what, std::function<void()> op);

} // namespace fakecuda

#endif // MOEC_TEST_FAKECUDA_FAKECUDA_H
