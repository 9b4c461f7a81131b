//===- CpuDevice.cpp ------------------------------------------------------===//
#include "cpu/CpuDevice.h"

#include "cpu/CpuCommands.h"

namespace moert::rt {

Status CpuDevice::create(const Model &model, int32_t threads,
                         std::unique_ptr<Device> *out) {
  std::unique_ptr<CpuDevice> device(new CpuDevice(model));
  initBlasThreading();
  Status s;
  if (!(s = ThreadPool::create(threads, &device->pool_)))
    return s;
  // Load the code objects the kernels live in, and resolve every kernel.
  device->code_.resize(model.codeObjects().size());
  device->kernels_.resize(model.kernels().size());
  for (size_t i = 0; i < model.kernels().size(); ++i) {
    const KernelSpec &k = model.kernels()[i];
    std::shared_ptr<LoadedCode> &code = device->code_[k.codeObject];
    if (!code && !(s = model.acquireCode(k.codeObject, &code)))
      return s;
    if (!(s = code->resolve(k.name, &device->kernels_[i])))
      return s;
  }
  *out = std::move(device);
  return Status();
}

Status CpuDevice::bind(uint8_t *hostArena) {
  size_t numOperands = 0;
  for (const FunctionSpec &f : model_.functions())
    for (const CommandSpec &c : f.commands)
      forEachOperand(c, [&](const Operand &, Access) { ++numOperands; });
  operands_.clear();
  operands_.reserve(numOperands);
  prepared_.assign(model_.functions().size(), {});
  for (size_t fi = 0; fi < model_.functions().size(); ++fi) {
    const FunctionSpec &f = model_.functions()[fi];
    std::vector<Prepared> &cmds = prepared_[fi];
    cmds.resize(f.commands.size());
    for (size_t ci = 0; ci < f.commands.size(); ++ci) {
      const CommandSpec &c = f.commands[ci];
      cmds[ci].operandsBegin = operands_.size();
      if (c.kind == CommandKind::Launch)
        cmds[ci].kernel = kernels_[c.kernel];
      forEachOperand(c, [&](const Operand &op, Access) {
        operands_.push_back(
            op.isWeight ? const_cast<uint8_t *>(model_.weights()[op.index].data)
                        : hostArena + f.buffers[op.index].offset);
      });
    }
  }
  return Status();
}

Status CpuDevice::run(const FunctionSpec &fn, size_t function, int64_t T) {
  ThreadPool &pool = *pool_;
  const std::vector<Prepared> &cmds = prepared_[function];
  for (size_t ci = 0; ci < cmds.size(); ++ci) {
    const Prepared &p = cmds[ci];
    const CommandSpec &c = fn.commands[ci];
    void *const *op = operands_.data() + p.operandsBegin; // forEachOperand's order
    auto bytes = [&](size_t i) { return static_cast<uint8_t *>(op[i]); };
    switch (c.kind) {
    case CommandKind::Launch:
      runLaunch(pool, p.kernel, op, T, c.extent.at(T), c.grain);
      break;
    case CommandKind::Gemm: // A, B, C
      runGemm(pool, c.dtype, c.rows.at(T), c.n, c.k, op[0], op[1], c.bPanels,
              static_cast<float *>(op[2]), c.accumulate);
      break;
    case CommandKind::GroupedGemm: // A, B, offsets, C
      if (Status s = runGroupedGemm(pool, c.dtype, c.rows.at(T), c.experts, c.n,
                                    c.k, op[0], op[1], c.bPanels,
                                    static_cast<float *>(op[3]), bytes(2));
          !s)
        return s.prefixed("run '" + fn.name + "': command " + std::to_string(ci) +
                          " (GroupedGemm), T = " + std::to_string(T) + ": ");
      break;
    case CommandKind::Fill: // dst
      runFill(bytes(0), c.bytes.at(T), c.value);
      break;
    case CommandKind::Copy: // src, dst
      runCopy(bytes(1), bytes(0), c.bytes.at(T));
      break;
    }
  }
  return Status();
}

} // namespace moert::rt
