//===- DeviceIo.cpp - moe-bench's runs on a stream with device tensors ----===//
#include "DeviceIo.h"

#include "cuda/CudaApi.h"
#include "moert/moert.hpp"

namespace moebench {

using namespace moert::rt::cuda;

namespace {
constexpr int kL2CacheSizeAttribute = 38; // CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE
} // namespace

struct DeviceIo::State {
  const Api *api = nullptr;
  int ordinal = 0;
  CUdevice device = 0;
  CUcontext context = nullptr;
  CUstream stream = nullptr;
  CUevent start = nullptr, end = nullptr;
  CUdeviceptr x = 0, flush = 0;
  size_t flushWords = 0;
  std::vector<CUdeviceptr> outputs;
  std::vector<size_t> outputBytes;
  moert_device_tensor_t input = {};
  std::vector<moert_device_tensor_t> outputTensors;

  std::string check(CUresult r, const char *what) const {
    return r == CUDA_SUCCESS ? "" : std::string(what) + ": " + resultName(*api, r);
  }
  moert_device_tensor_t tensor(CUdeviceptr p, size_t bytes, const moert_tensor_info_t &info,
                               int64_t T) const {
    return moert::deviceTensor(info, T, reinterpret_cast<void *>(static_cast<uintptr_t>(p)),
                               bytes, ordinal);
  }
};

std::string DeviceIo::open(int ordinal, size_t inputBytes, const std::vector<size_t> &outputBytes,
                           std::unique_ptr<DeviceIo> *out) {
  std::unique_ptr<DeviceIo> io(new DeviceIo());
  io->state_ = std::make_unique<State>();
  State &s = *io->state_;
  s.ordinal = ordinal;
  if (moert::rt::Status st = load(&s.api); !st)
    return st.message();
  const Api &api = *s.api;
  if (!api.cuEventCreate || !api.cuEventRecord || !api.cuEventSynchronize ||
      !api.cuEventElapsedTime)
    return "--io device times runs with CUDA events, which this driver lacks";
  std::string e;
  if (!(e = s.check(api.cuDeviceGet(&s.device, ordinal), "cuDeviceGet")).empty() ||
      !(e = s.check(api.cuDevicePrimaryCtxRetain(&s.context, s.device),
                    "cuDevicePrimaryCtxRetain"))
           .empty())
    return e;
  if (!(e = s.check(api.cuCtxSetCurrent(s.context), "cuCtxSetCurrent")).empty() ||
      !(e = s.check(api.cuStreamCreate(&s.stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate"))
           .empty() ||
      !(e = s.check(api.cuEventCreate(&s.start, 0), "cuEventCreate")).empty() ||
      !(e = s.check(api.cuEventCreate(&s.end, 0), "cuEventCreate")).empty() ||
      !(e = s.check(api.cuMemAlloc(&s.x, inputBytes ? inputBytes : 4), "cuMemAlloc of x"))
           .empty())
    return e;
  for (size_t bytes : outputBytes) {
    CUdeviceptr p = 0;
    if (!(e = s.check(api.cuMemAlloc(&p, bytes ? bytes : 4), "cuMemAlloc of an output")).empty())
      return e;
    s.outputs.push_back(p);
  }
  s.outputBytes = outputBytes;
  int l2 = 0;
  if (api.cuDeviceGetAttribute(&l2, kL2CacheSizeAttribute, s.device) != CUDA_SUCCESS || l2 <= 0)
    l2 = 64 << 20;
  s.flushWords = 2 * static_cast<size_t>(l2) / 4;
  if (!(e = s.check(api.cuMemAlloc(&s.flush, s.flushWords * 4), "cuMemAlloc of the L2 flush"))
           .empty())
    return e;
  *out = std::move(io);
  return "";
}

DeviceIo::~DeviceIo() {
  State &s = *state_;
  if (!s.api || !s.context)
    return;
  const Api &api = *s.api;
  api.cuCtxSetCurrent(s.context);
  if (s.stream)
    api.cuStreamSynchronize(s.stream);
  for (CUdeviceptr p : s.outputs)
    api.cuMemFree(p);
  if (s.x)
    api.cuMemFree(s.x);
  if (s.flush)
    api.cuMemFree(s.flush);
  for (CUevent e : {s.start, s.end})
    if (e)
      api.cuEventDestroy(e);
  if (s.stream)
    api.cuStreamDestroy(s.stream);
  api.cuDevicePrimaryCtxRelease(s.device);
}

std::string DeviceIo::setInput(const void *x, size_t bytes, int64_t T,
                               const moert_tensor_info_t &input,
                               const std::vector<moert_tensor_info_t> &outputs) {
  State &s = *state_;
  if (std::string e = s.check(s.api->cuMemcpyHtoD(s.x, x, bytes), "cuMemcpyHtoD of x");
      !e.empty())
    return e;
  s.input = s.tensor(s.x, bytes, input, T);
  s.outputTensors.clear();
  for (size_t i = 0; i < outputs.size(); ++i)
    s.outputTensors.push_back(s.tensor(s.outputs[i], s.outputBytes[i], outputs[i], T));
  return "";
}

std::string DeviceIo::run(moert_session_t *session, double *ms, bool flush) {
  State &s = *state_;
  const Api &api = *s.api;
  std::string e;
  if (flush && !(e = s.check(api.cuMemsetD32Async(s.flush, 0, s.flushWords, s.stream),
                             "cuMemsetD32Async (the L2 flush)"))
                    .empty())
    return e;
  if (ms && !(e = s.check(api.cuEventRecord(s.start, s.stream), "cuEventRecord")).empty())
    return e;
  int runs = ms && !flush ? kWarmRuns : 1;
  for (int r = 0; r < runs; ++r)
    if (moert::Status st = moert::Status::adopt(moert_session_enqueue(
            session, nullptr, &s.input, 1, s.outputTensors.data(), s.outputTensors.size(),
            s.stream));
        !st)
      return st.message();
  if (!ms) // untimed: wait, and read the fault word
    return checkFault(session);
  float elapsed = 0;
  if (!(e = s.check(api.cuEventRecord(s.end, s.stream), "cuEventRecord")).empty() ||
      !(e = s.check(api.cuEventSynchronize(s.end), "cuEventSynchronize")).empty() ||
      !(e = s.check(api.cuEventElapsedTime(&elapsed, s.start, s.end), "cuEventElapsedTime"))
           .empty())
    return e;
  *ms = elapsed / runs;
  return "";
}

std::string DeviceIo::checkFault(moert_session_t *session) {
  moert::Status st = moert::Status::adopt(moert_session_device_error(session, state_->stream));
  return st ? "" : st.message();
}

} // namespace moebench
