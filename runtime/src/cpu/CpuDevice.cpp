//===- CpuDevice.cpp ------------------------------------------------------===//
#include "cpu/CpuDevice.h"

#include "ExpertExchange.h"
#include "ExpertOffsets.h"
#include "cpu/CpuCommands.h"

#include <chrono>
#include <cstring>
#include <vector>

namespace moert::rt {

namespace {
/// moec's host code objects state each kernel's bounds as the constant
/// moec_bounds.<kernel> = {max_extent, writes, bytes...}: they must equal
/// the table's, so that a table edited to give a kernel another's name (or
/// other bounds) is refused. An object without the constant (one not made
/// by moec) has only the table's bounds.
Status checkStatedBounds(const LoadedCode &code, const KernelSpec &k) {
  const void *data = nullptr;
  uint64_t size = 0;
  if (!code.resolveConstant("moec_bounds." + k.name, &data, &size).ok())
    return Status();
  std::vector<int64_t> table{k.maxExtent, static_cast<int64_t>(k.writes)};
  for (uint64_t b : k.argBytes)
    table.push_back(static_cast<int64_t>(b));
  if (size != table.size() * sizeof(int64_t) ||
      std::memcmp(data, table.data(), size) != 0)
    return error(MOERT_INVALID_ARTIFACT, "kernel '", k.name,
                 "': the bounds in the table differ from those its code "
                 "states (moec_bounds.", k.name,
                 "): the table does not belong to this code");
  return Status();
}
} // namespace

Status CpuDevice::create(const Model &model, int32_t threads,
                         std::unique_ptr<Device> *out) {
  std::unique_ptr<CpuDevice> device(new CpuDevice(model));
  device->profiling_ = CommandProfile::requested("MOERT_CPU_PROFILE");
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
    if (!(s = code->resolve(k.name, &device->kernels_[i])) ||
        !(s = checkStatedBounds(*code, k)))
      return s;
  }
  *out = std::move(device);
  return Status();
}

Status CpuDevice::bind(uint8_t *hostArena) {
  size_t numOperands = 0;
  for (const FunctionSpec &f : model_.functions())
    for (const CommandSpec &c : f.commands) {
      numOperands += c.kind == CommandKind::Launch; // the fault word
      forEachOperand(c, [&](const Operand &, Access) { ++numOperands; });
    }
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
      auto address = [&](const Operand &op) -> void * {
        return op.isWeight ? const_cast<uint8_t *>(model_.weights()[op.index].data)
                           : hostArena + f.buffers[op.index].offset;
      };
      if (c.kind == CommandKind::Launch) {
        // The kernel's arguments, then args[n]: the session's fault word
        // (docs/artifact.md, "Host kernel ABI"), then the limit (runCommand's).
        for (const Operand &op : c.args)
          operands_.push_back(address(op));
        operands_.push_back(&fault_);
        if (c.hasLimit)
          operands_.push_back(address(c.limit));
      } else {
        forEachOperand(c, [&](const Operand &op, Access) { operands_.push_back(address(op)); });
      }
      if (c.kind == CommandKind::Gemm || c.kind == CommandKind::GroupedGemm) {
        cmds[ci].b = GemmB{operands_[cmds[ci].operandsBegin + 1], c.bPanels, nullptr,
                           c.b.isWeight ? model_.weights()[c.b.index].group : 0,
                           c.int8Activations};
        if (c.b.isWeight && model_.weights()[c.b.index].scales >= 0)
          cmds[ci].b.scales = reinterpret_cast<const float *>(
              model_.weights()[model_.weights()[c.b.index].scales].data);
      }
    }
  }
  return Status();
}

CpuDevice::~CpuDevice() {
  if (!profiling_ || !pool_) // no pool: creation failed, nothing ran
    return;
  std::string device = std::to_string(pool_->size()) +
                       (pool_->size() == 1 ? " thread" : " threads");
  profile_.print(model_, "CPU", device, "the first at each T touches the arena's pages",
                 [&](const FunctionSpec &fn, int64_t, size_t i) {
                   const CommandSpec &c = fn.commands[i];
                   std::string what = CommandProfile::what(model_, c);
                   // How the weight is laid out (cpu/CpuCommands.h).
                   if ((c.kind == CommandKind::Gemm ||
                        c.kind == CommandKind::GroupedGemm) && c.b.isWeight)
                     what += c.bPanels ? " panels" : " rows";
                   return CommandProfile::Line{std::to_string(i),
                                               commandKindName(c.kind), what};
                 });
}

Status CpuDevice::run(const FunctionSpec &fn, size_t function, int64_t T) {
  // Workers that slept since the last run start spinning now, while the
  // first commands (routing) run on this thread.
  pool_->prepare();
  const std::vector<Prepared> &cmds = prepared_[function];
  double *profile = profiling_ ? profile_.begin(function, T, cmds.size()) : nullptr;
  for (size_t ci = 0; ci < cmds.size(); ++ci) {
    auto start = profile ? std::chrono::steady_clock::now()
                         : std::chrono::steady_clock::time_point();
    if (Status s = runCommand(fn, ci, cmds[ci], T); !s)
      return s;
    if (profile)
      profile[ci] += std::chrono::duration<double, std::milli>(
                         std::chrono::steady_clock::now() - start)
                         .count();
  }
  if (profiling_)
    profile_.commit(function, T);
  return Status();
}

Status CpuDevice::runCommand(const FunctionSpec &fn, size_t ci, const Prepared &p,
                             int64_t T) {
  ThreadPool &pool = *pool_;
  const CommandSpec &c = fn.commands[ci];
  // forEachOperand's order; a launch's: its arguments, the fault word, its limit.
  void *const *op = operands_.data() + p.operandsBegin;
  auto bytes = [&](size_t i) { return static_cast<uint8_t *>(op[i]); };
  switch (c.kind) {
  case CommandKind::Launch: {
    int64_t extent = c.extent.at(T);
    if (c.hasLimit) // the rows a rank received (an i32 of the arena)
      extent = std::min(extent, std::max<int64_t>(
                                    0, loadOffset(bytes(c.args.size() + 1), c.limitIndex)));
    runLaunch(pool, p.kernel, op, T, extent, c.grain);
    if (fault_ != 0) {
      fault_ = 0;
      return kernelFault("run '" + fn.name + "': command " + std::to_string(ci) +
                         " (Launch of kernel '" + model_.kernels()[c.kernel].name +
                         "'), T = " + std::to_string(T));
    }
    break;
  }
  case CommandKind::Gemm: // A, B, C
    runGemm(pool, c.dtype, c.rows.at(T), c.n, c.k, op[0], p.b, op[2], c.accumulate, c.cDtype);
    break;
  case CommandKind::GroupedGemm: // A, B, offsets, C
    if (Status s = runGroupedGemm(pool, c.dtype, c.rows.at(T), c.experts, c.n, c.k,
                                  op[0], p.b, op[3], bytes(2),
                                  c.hasMap ? bytes(4) : nullptr, c.mapExperts, c.cDtype);
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
  case CommandKind::Exchange:     // src, offsets, slot offsets, slot experts, counts, dst
  case CommandKind::ExpertChoice: // scores, row weight, row token, offsets
    if (!exchange_)
      return error(MOERT_INTERNAL, "run '", fn.name, "': command ", ci, " (",
                   commandKindName(c.kind), ") without the session's exchange");
    if (Status s = c.kind == CommandKind::Exchange ? exchange_->run(c, T, op)
                                                   : exchange_->choose(c, T, op);
        !s)
      return s.prefixed("run '" + fn.name + "': command " + std::to_string(ci) + " (" +
                        commandKindName(c.kind) + "), T = " + std::to_string(T) + ": ");
    break;
  }
  return Status();
}

} // namespace moert::rt
