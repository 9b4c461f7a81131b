//===- CpuDevice.h - the CPU backend ----------------------------*- C++ -*-===//
//
// Everything a CPU run needs is prepared when the session is created: the
// thread pool, the loaded code objects, every kernel's address, and each
// command's operand addresses in the session's host arena (where the
// commands run). A run interprets the commands (cpu/CpuCommands.h); it
// allocates nothing (with MOERT_CPU_PROFILE, but the first run at each
// function and T) and starts no thread.
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_CPU_CPUDEVICE_H
#define MOERT_SRC_CPU_CPUDEVICE_H

#include "../CodeObject.h"
#include "../CommandProfile.h"
#include "../Device.h"
#include "../ThreadPool.h"
#include "CpuCommands.h"

#include <vector>

namespace moert::rt {

class CpuDevice : public Device {
public:
  /// `threads` >= 1.
  static Status create(const Model &model, int32_t threads,
                       std::unique_ptr<Device> *out);

  Status bind(uint8_t *hostArena) override;
  Status run(const FunctionSpec &fn, size_t function, int64_t T) override;
  int32_t threads() const override { return pool_->size(); }
  Status attachExchange(ExpertExchange *exchange) override {
    exchange_ = exchange;
    return Status();
  }
  ~CpuDevice() override;

private:
  explicit CpuDevice(const Model &model) : model_(model) {}

  /// A command with its operands' addresses (forEachOperand's order; a
  /// launch's: its arguments, the fault word, then its limit) and, for a
  /// launch, its kernel.
  struct Prepared {
    KernelFn kernel = nullptr;
    size_t operandsBegin = 0; // into operands_
    GemmB b;                  // a GEMM's B (its data is operand 1)
  };
  Status runCommand(const FunctionSpec &fn, size_t ci, const Prepared &p, int64_t T);

  const Model &model_;
  std::unique_ptr<ThreadPool> pool_;
  std::vector<std::shared_ptr<LoadedCode>> code_; // by code object index
  std::vector<KernelFn> kernels_;                 // by kernel index
  std::vector<std::vector<Prepared>> prepared_;   // by function, by command
  std::vector<void *> operands_;                  // every command's operands
  /// Set to nonzero by a kernel that met a data-derived index out of range
  /// (exec-guard-kernel-indices); checked after each launch.
  int32_t fault_ = 0;
  /// A sharded artifact's exchanges (the session's), else null.
  ExpertExchange *exchange_ = nullptr;
  /// MOERT_CPU_PROFILE: each command's wall time (the thread pool's
  /// hand-offs included), printed when the session ends.
  bool profiling_ = false;
  CommandProfile profile_;
};

} // namespace moert::rt

#endif // MOERT_SRC_CPU_CPUDEVICE_H
