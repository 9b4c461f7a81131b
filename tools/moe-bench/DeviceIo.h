//===- DeviceIo.h - moe-bench's runs on a stream with device tensors ------===//
//
// `moe-bench --io device` times what a server embedding the runtime sees:
// x and the outputs stay in GPU memory the caller allocated, each run is
// moert_session_enqueue on the caller's stream, and the time is measured with
// CUDA events around it (no host copy, no synchronization inside). Unless
// --warm-cache, the GPU's L2 is flushed before each timed run (a write of
// twice its size), so the weights come from HBM, as in a model whose other
// layers run in between. The driver is reached through the runtime's own
// loader (runtime/src/cuda/CudaApi.h).
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_TOOLS_MOE_BENCH_DEVICEIO_H
#define MOEC_TOOLS_MOE_BENCH_DEVICEIO_H

#include "moert/moert.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace moebench {

class DeviceIo {
public:
  /// Buffers on GPU `ordinal` for one input of up to `inputBytes` and the
  /// outputs `outputBytes` (at the largest T); "" or an error message.
  static std::string open(int ordinal, size_t inputBytes, const std::vector<size_t> &outputBytes,
                          std::unique_ptr<DeviceIo> *out);
  ~DeviceIo();

  /// Copies x (T rows) to the device input; its device tensor, the outputs'
  /// at T (`outputs` describes them from the model, shape -1 = T).
  std::string setInput(const void *x, size_t bytes, int64_t T, const moert_tensor_info_t &input,
                       const std::vector<moert_tensor_info_t> &outputs);
  /// One run enqueued on the stream: untimed (then its fault word read), or
  /// timed by events (`ms`). With `flush` the L2 is flushed first (which
  /// also keeps the GPU busy while the host enqueues, so the events time the
  /// run alone); without it the events time kWarmRuns runs enqueued back to
  /// back and *ms is their mean, so that the host's enqueueing is not timed.
  std::string run(moert_session_t *session, double *ms, bool flush);
  /// Reads the fault word of the runs so far (moert_session_device_error).
  std::string checkFault(moert_session_t *session);
  static constexpr int kWarmRuns = 8;

private:
  DeviceIo() = default;
  struct State;
  std::unique_ptr<State> state_;
};

} // namespace moebench

#endif // MOEC_TOOLS_MOE_BENCH_DEVICEIO_H
