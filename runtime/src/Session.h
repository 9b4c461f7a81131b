//===- Session.h - a model bound to a device, ready to run ------------------===//
//
// A session holds a model, its host arena (the largest function's
// arena_bytes, 64-byte aligned, zero-filled) and its Device (Device.h: the
// CPU or a GPU), all made when the session is created. A run checks its
// inputs, copies them into the host arena, has the device run the commands,
// and copies the outputs out; the session itself has no backend branches.
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_SESSION_H
#define MOERT_SRC_SESSION_H

#include "Device.h"
#include "ExpertExchange.h"
#include "Model.h"

#include <memory>
#include <vector>

namespace moert::rt {

class Session {
public:
  static Status create(std::shared_ptr<const Model> model, const char *device,
                       const moert_session_options_t *options,
                       std::unique_ptr<Session> *out);
  ~Session();
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  const Model &model() const { return *model_; }
  int32_t threads() const { return device_->threads(); }

  Status run(size_t function, const moert_tensor_t *inputs, size_t numInputs,
             moert_tensor_t *outputs, size_t numOutputs);
  /// After a run of a sharded artifact failed for any reason: unless every
  /// rank failed alike (ExpertExchange::runFailed), the other ranks, which
  /// may wait for this one in an exchange, are told so. Nothing otherwise.
  void runFailed(const std::string &why);
  /// moert_session_enqueue(_aux): checks the device tensors as run checks
  /// host ones (and their strides), then has the device enqueue the run;
  /// `aux` (numAux 0, or one per auxiliary output, NULL data: not wanted).
  Status enqueue(size_t function, const moert_device_tensor_t *inputs, size_t numInputs,
                 const moert_device_tensor_t *outputs, size_t numOutputs,
                 const moert_device_tensor_t *aux, size_t numAux, void *stream);
  Status deviceError(void *stream) { return device_->deviceError(stream); }
  /// A view of output (or aux output) `index` of the last successful run.
  Status view(bool aux, size_t index, moert_tensor_t *out) const;
  bool lastRun(size_t *function, int64_t *tokens) const;
  /// Noisy routers' noise on later runs (moert_session_set_router_noise).
  Status setRouterNoise(bool on, uint64_t seed);
  /// A run that failed before reaching the session still ends the last one's
  /// outputs.
  void forgetLastRun() { hasRun_ = false; }

private:
  Session() = default;

  Status allocateArena(uint64_t bytes);
  /// Checks the function's inputs (`outputs` false: T, from their token
  /// dimension, into *tokens) or its outputs at T = *tokens: their count,
  /// dtypes, ranks, shapes and bytes.
  Status checkTensors(const FunctionSpec &fn, bool outputs, const moert_tensor_t *tensors,
                      size_t count, int64_t *tokens) const;
  void fillView(const FunctionSpec &fn, const TensorSpec &t, int64_t tokens,
                moert_tensor_t *out) const;

  std::shared_ptr<const Model> model_;
  uint8_t *arena_ = nullptr; // 64-byte aligned, inside mapping_
  size_t arenaBytes_ = 0;
  uint8_t *mapping_ = nullptr;
  size_t mappingBytes_ = 0;
  /// A sharded artifact's exchanges (before device_: the device points at it).
  std::unique_ptr<ExpertExchange> exchange_;
  std::unique_ptr<Device> device_;

  // enqueue's inputs then outputs as host tensors, for checkTensors (sized
  // for the function with the most at creation: enqueue allocates nothing).
  std::vector<moert_tensor_t> staged_;
  // Per function: its weights' checksums are known to be good.
  std::vector<uint8_t> weightsChecked_;
  /// A sharded artifact, per function: the weights in expert slices that
  /// only its slots' GEMMs read (checked for this rank's experts alone; the
  /// function's other weights are checked whole), in ascending order.
  void splitSlotWeights();
  std::vector<std::vector<uint32_t>> slotWeights_;
  bool hasRun_ = false;
  bool routerNoise_ = false;
  uint64_t routerNoiseSeed_ = 0;
  size_t lastFunction_ = 0;
  int64_t lastTokens_ = 0;
};

} // namespace moert::rt

#endif // MOERT_SRC_SESSION_H
