//===- Device.cpp - from a device name to a backend -----------------------===//
#include "Device.h"

#include "ThreadPool.h"
#include "cpu/CpuDevice.h"
#include "cuda/CudaDevice.h"

#include <cctype>
#include <cstdlib>
#include <string>

namespace moert::rt {

namespace {

constexpr int32_t kMaxThreads = 1024;

bool allDigits(const std::string &s) {
  if (s.empty())
    return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c)))
      return false;
  return true;
}

/// Parses the device: -1 for the CPU, N for "cuda:N" ("cuda" is cuda:0).
Status parseDevice(const char *device, int *cudaOrdinal) {
  std::string d = device ? device : "cpu";
  *cudaOrdinal = -1;
  if (d == "cpu" || d == "cpu:0")
    return Status();
  if (d.rfind("cpu:", 0) == 0)
    return error(MOERT_INVALID_ARGUMENT, "unknown device '", d,
                 "': the cpu backend has one device, 'cpu' (or 'cpu:0')");
  if (d == "cuda") {
    *cudaOrdinal = 0;
    return Status();
  }
  if (d.rfind("cuda:", 0) == 0 && allDigits(d.substr(5)) && d.size() <= 12) {
    *cudaOrdinal = std::atoi(d.c_str() + 5);
    return Status();
  }
  return error(MOERT_INVALID_ARGUMENT, "unknown device '", d,
               "' (expected 'cpu' or 'cuda[:N]')");
}

} // namespace

Device::~Device() = default;

uint64_t Device::workspaceBytes(const Model &model) {
  return model.target() == MOERT_TARGET_CUDA ? cuda::CudaDevice::workspace(model).total : 0;
}

Status Device::kernelFault(const std::string &where) {
  return error(MOERT_EXECUTION_ERROR, where, where.empty() ? "" : ": ",
               "a kernel met an index out of range in the data it read (the "
               "artifact's plan is inconsistent); the run's outputs are not "
               "valid");
}

Status Device::enqueue(const FunctionSpec &, size_t, int64_t, const moert_device_tensor_t *,
                       const moert_device_tensor_t *, const moert_device_tensor_t *, void *) {
  return error(MOERT_UNSUPPORTED, "a CPU session runs on host memory: runs on a "
               "stream with device tensors need a CUDA session (use moert_session_run)");
}

Status Device::attachExchange(ExpertExchange *) {
  return error(MOERT_UNSUPPORTED, "this device does not run expert parallelism (exchanges)");
}

Status Device::deviceError(void *) {
  return error(MOERT_UNSUPPORTED, "a CPU session has no device fault word: its runs "
               "report kernel faults themselves");
}

Status Device::create(const Model &model, const char *device,
                      const moert_session_options_t *options,
                      std::unique_ptr<Device> *out) {
  int cudaOrdinal = -1;
  if (Status s = parseDevice(device, &cudaOrdinal); !s)
    return s;
  bool cudaModel = model.target() == MOERT_TARGET_CUDA;
  if (cudaModel && cudaOrdinal < 0)
    return error(MOERT_INVALID_ARGUMENT, "the artifact is compiled for the cuda "
                 "target (", model.targetArch(), "): create its session on "
                 "device 'cuda' or 'cuda:N', not '", device ? device : "cpu", "'");
  if (!cudaModel && cudaOrdinal >= 0)
    return error(MOERT_INVALID_ARGUMENT, "the artifact is compiled for the cpu "
                 "target: device '", device, "' cannot run it (compile with "
                 "moe-compile --target=cuda:sm_NN)");
  int32_t threads = options ? options->threads : 0;
  if (threads < 0 || threads > kMaxThreads)
    return error(MOERT_INVALID_ARGUMENT, "threads is ", threads,
                 ", expected 0 (one per available CPU) to ", kMaxThreads);
  if (!cudaModel && options && options->device_workspace)
    return error(MOERT_INVALID_ARGUMENT, "device_workspace is for a CUDA session: a CPU "
                 "session's arena is host memory it allocates itself");
  if (cudaModel) {
    if (Status s = cuda::CudaDevice::create(model, cudaOrdinal, options, out); !s)
      return s.prefixed("device 'cuda:" + std::to_string(cudaOrdinal) + "': ");
    return Status();
  }
  if (threads == 0)
    threads = std::min(ThreadPool::availableCpus(), kMaxThreads);
  return CpuDevice::create(model, threads, out);
}

} // namespace moert::rt
