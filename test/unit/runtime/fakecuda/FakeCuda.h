//===- FakeCuda.h - a stand-in CUDA driver, cuBLAS and NCCL for tests -----===//
//
// libmoert opens the CUDA driver (libcuda.so.1), cuBLAS (libcublas.so.13)
// and NCCL (libnccl.so.2) with dlopen. These stand-ins, put first on
// LD_LIBRARY_PATH, let the CUDA backend's host side run on a machine
// without a GPU (FakeNccl.cpp: NCCL ranks, threads or processes, meeting
// in a directory):
//
// - "device" memory is host memory, each allocation on the GPU whose
//   primary context the thread made current; copies and fills are carried
//   out;
// - a stream queues its work and runs it at cuStreamSynchronize, so a result
//   read before the synchronization is stale, as on a GPU; cuStreamQuery
//   runs what is ready (an NCCL receive waits for its sender), and an
//   asynchronous copy into pageable memory behind such a wait is refused;
// - a captured stream records its work into a graph, and each graph launch
//   queues it again; while a thread captures, the calls the driver refuses
//   then (allocation, synchronous copies, synchronization) fail with
//   CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED and spoil the capture, and cuBLAS
//   refuses a GEMM on a handle without a workspace;
// - kernels and GEMMs are checked and traced, not computed. A GEMM's
//   operands must lie inside device allocations; so must the start of a
//   kernel's pointer parameters, which are read from the PTX (a cubin's are
//   not checked).
//
// The trace names device addresses "memI+OFFSET" (the I-th allocation of the
// process) and graphs "graph N".
//
// Environment (a malformed value aborts):
//   FAKECUDA_TRACE=FILE   append one line per call of interest to FILE
//   FAKECUDA_DEVICES=N    the GPUs the driver reports (default 1)
//   FAKECUDA_SM=NN        their compute capability (default 90)
//   FAKECUDA_FILL=B       the byte new device allocations are filled with
//                         (default 0; real device memory is not cleared)
//   FAKECUDA_FAIL=NAME=CODE[@N]
//                         the N-th call (default the first) of entry point
//                         NAME (any but those that release something)
//                         returns CODE instead of doing anything
//   FAKECUDA_WRITE=KERNEL:I:V0,V1,...
//                         whenever kernel KERNEL runs, the 32-bit integers
//                         V0, V1, ... are written where its pointer
//                         parameter I points (what a kernel would have
//                         computed, e.g. a dispatch's expert offsets)
//
// When the process exits, whatever was not released (memory, streams,
// graphs, events, modules, page locks, the primary context, cuBLAS handles)
// is traced as "leak: ...", then "exit".
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
/// Whether `stream` is being captured into a graph.
bool capturing(void *stream);
/// Queues `op` on `stream` (run at its next synchronization), or records it
/// when the stream is being captured. `what` names it in the trace;
/// capturing adds " (captured)".
void enqueue(void *stream, const std::string &what, std::function<void()> op);
/// As enqueue, for an operation that runs only once `ready` says so: a
/// synchronization waits for it, cuStreamQuery leaves it queued and says
/// CUDA_ERROR_NOT_READY.
void enqueueWhen(void *stream, const std::string &what, std::function<bool()> ready,
                 std::function<void()> op);
/// Called by the cuBLAS stand-in: `handles` cuBLAS handles are live (for
/// the report at exit).
void noteBlasHandles(int handles);

} // namespace fakecuda

/// The stand-ins' FAKECUDA_FAIL check at the top of an entry point.
#define FAKECUDA_ENTRY(name)                                                   \
  do {                                                                         \
    if (int injectedCode = fakecuda::injected(name)) {                         \
      fakecuda::trace(std::string(name) + " fails with " +                     \
                      std::to_string(injectedCode) + " (FAKECUDA_FAIL)");      \
      return injectedCode;                                                     \
    }                                                                          \
  } while (0)

/// Fails to compile unless stand-in `function` has the type of the entry
/// point libmoert binds to Api::`member` (runtime/src/cuda/CudaApi.h, which
/// the including file includes, with <type_traits>).
#define FAKECUDA_SAME_TYPE(member, function)                                   \
  static_assert(std::is_same_v<decltype(moert::rt::cuda::Api::member),         \
                               decltype(&function)>,                           \
                #function " does not have the type of Api::" #member)

#endif // MOEC_TEST_FAKECUDA_FAKECUDA_H
