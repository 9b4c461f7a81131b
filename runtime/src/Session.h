//===- Session.h - a model bound to the CPU, ready to run -------------------===//
//
// A session on "cuda[:N]" runs a CUDA artifact through cuda::CudaDevice
// (cuda/CudaDevice.h); the rest of this comment is about the CPU.
// Everything a run needs is prepared when the session is created: the arena
// (the largest function's arena_bytes, 64-byte aligned, zero-filled), the
// thread pool, the loaded code objects, every kernel's address, and each
// command's operand addresses. A run checks its inputs, copies them into the
// arena, interprets the commands, and copies the outputs out; it allocates
// nothing and starts no thread.
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_SESSION_H
#define MOERT_SRC_SESSION_H

#include "CodeObject.h"
#include "Model.h"
#include "ThreadPool.h"
#include "cuda/CudaDevice.h"

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
  int32_t threads() const { return pool_->size(); }

  Status run(size_t function, const moert_tensor_t *inputs, size_t numInputs,
             moert_tensor_t *outputs, size_t numOutputs);
  /// A view of output (or aux output) `index` of the last successful run.
  Status view(bool aux, size_t index, moert_tensor_t *out) const;
  bool lastRun(size_t *function, int64_t *tokens) const;
  /// A run that failed before reaching the session still ends the last one's
  /// outputs.
  void forgetLastRun() { hasRun_ = false; }

private:
  Session() = default;

  struct Prepared {
    const CommandSpec *spec = nullptr;
    KernelFn kernel = nullptr;
    size_t argsBegin = 0; // into args_
    uint8_t *a = nullptr, *b = nullptr, *c = nullptr, *offsets = nullptr;
    uint8_t *src = nullptr, *dst = nullptr;
  };

  Status allocateArena(uint64_t bytes, bool populate);
  uint8_t *address(const FunctionSpec &fn, const Operand &op) const;
  Status prepare();
  /// Interprets function `function`'s commands on the CPU at T tokens.
  Status runCommands(size_t function, int64_t T);
  Status checkInputs(const FunctionSpec &fn, const moert_tensor_t *inputs,
                     size_t numInputs, int64_t *tokens) const;
  void fillView(const FunctionSpec &fn, const TensorSpec &t, int64_t tokens,
                moert_tensor_t *out) const;

  std::shared_ptr<const Model> model_;
  uint8_t *arena_ = nullptr; // 64-byte aligned, inside mapping_
  size_t arenaBytes_ = 0;
  uint8_t *mapping_ = nullptr;
  size_t mappingBytes_ = 0;
  std::unique_ptr<ThreadPool> pool_;
  std::vector<std::shared_ptr<LoadedCode>> code_; // by code object index
  std::vector<KernelFn> kernels_;                 // by kernel index
  std::vector<std::vector<Prepared>> prepared_;   // by function, by command
  std::vector<void *> args_;                      // every Launch's argument addresses

  /// Set for a session on a GPU: it runs the commands; the host arena above
  /// stages the inputs and receives the outputs.
  std::unique_ptr<cuda::CudaDevice> cuda_;

  bool hasRun_ = false;
  size_t lastFunction_ = 0;
  int64_t lastTokens_ = 0;
};

} // namespace moert::rt

#endif // MOERT_SRC_SESSION_H
