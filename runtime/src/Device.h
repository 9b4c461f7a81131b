//===- Device.h - the backends a session runs on --------------------------===//
//
// A session holds a model, its host arena and one Device: the CPU
// (cpu/CpuDevice.h) or an NVIDIA GPU (cuda/CudaDevice.h), peers behind this
// interface, each executing the artifact's commands its own way. Device::create
// is the one place that maps a device name to a backend.
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_DEVICE_H
#define MOERT_SRC_DEVICE_H

#include "Model.h"

#include <memory>
#include <string>

namespace moert::rt {

class ExpertExchange;

class Device {
public:
  /// The backend for `device` ("cpu", "cpu:0" or NULL; "cuda" or "cuda:N")
  /// that runs `model`, which must be compiled for that target.
  static Status create(const Model &model, const char *device,
                       const moert_session_options_t *options,
                       std::unique_ptr<Device> *out);
  virtual ~Device();
  /// The device memory a session of `model` uses besides the weights (a
  /// CUDA artifact's workspace; 0 for the CPU).
  static uint64_t workspaceBytes(const Model &model);

  /// Binds the session's host arena, once, before the first run.
  virtual Status bind(uint8_t *hostArena) = 0;
  /// Runs function `function` (`fn`) at T tokens: its inputs are in the host
  /// arena at their buffers' offsets, and its outputs and auxiliary outputs
  /// are left there. Errors name the function, the command and T.
  virtual Status run(const FunctionSpec &fn, size_t function, int64_t T) = 0;
  /// Runs the artifact's Exchange commands through `exchange` (the
  /// session's, which outlives the device). Only the CPU has them.
  virtual Status attachExchange(ExpertExchange *exchange);
  /// The threads a run uses on the host.
  virtual int32_t threads() const = 0;
  /// Enqueues a run of `fn` at T on the caller's `stream`, its inputs and
  /// outputs in device memory (moert_session_enqueue; the session checked
  /// their count, dtypes, shapes and strides). Only a GPU has it.
  /// `aux`: NULL, or one tensor per auxiliary output (NULL data: not
  /// wanted), checked by the session too.
  virtual Status enqueue(const FunctionSpec &fn, size_t function, int64_t T,
                         const moert_device_tensor_t *inputs,
                         const moert_device_tensor_t *outputs,
                         const moert_device_tensor_t *aux, void *stream);
  /// Reads and clears the fault word of enqueued runs after `stream`'s work
  /// (moert_session_device_error). Only a GPU has it.
  virtual Status deviceError(void *stream);

protected:
  /// The error of a run whose kernel set the fault word (a data-derived
  /// index out of range: exec-guard-kernel-indices); `where`, when given,
  /// says which command.
  static Status kernelFault(const std::string &where = "");
};

} // namespace moert::rt

#endif // MOERT_SRC_DEVICE_H
