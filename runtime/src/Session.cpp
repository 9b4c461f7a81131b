//===- Session.cpp ----------------------------------------------------------===//
#include "Session.h"

#include "moert/format.h"

#include <algorithm>
#include <iterator>
#include <cerrno>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace moert::rt {

namespace {

std::string specString(const TensorSpec &t) {
  std::string s = std::string(moert_dtype_name(t.dtype)) + " [";
  for (int32_t d = 0; d < t.rank; ++d) {
    if (d)
      s += ", ";
    s += t.shape[d] == -1 ? std::string("T") : std::to_string(t.shape[d]);
  }
  return s + "]";
}

std::string tensorString(const moert_tensor_t &t, bool withDType = true) {
  std::string s = withDType ? std::string(moert_dtype_name(t.dtype)) + " [" : "[";
  for (int32_t d = 0; d < t.rank && d < MOERT_MAX_RANK; ++d) {
    if (d)
      s += ", ";
    s += std::to_string(t.shape[d]);
  }
  return s + "]";
}

} // namespace

Session::~Session() {
  // The device goes first: the CPU's threads may point into the arena, and a
  // GPU unregisters the arena's page-locked ranges.
  device_.reset();
  if (mapping_)
    ::munmap(mapping_, mappingBytes_);
}

// The arena is its own mapping: zero-filled and committed as runs touch it
// (a buffer's offset is planned at max_tokens, but a run with T tokens
// touches only its first bytes(T) bytes, so a session that runs at T = 1
// commits memory in proportion to T = 1, whatever max_tokens is; the pages a
// run touched stay for the next run). It is placed so that it ends exactly
// at a PROT_NONE guard page (another guards its start): an access past either
// end faults at once instead of corrupting other memory.
Status Session::allocateArena(uint64_t bytes) {
  long pageSize = ::sysconf(_SC_PAGESIZE);
  uint64_t page = pageSize > 0 ? static_cast<uint64_t>(pageSize) : 4096;
  if (bytes > (uint64_t(1) << 56))
    return error(MOERT_OUT_OF_MEMORY, "the session's arena needs ", bytes,
                 " bytes, more than any machine's address space");
  uint64_t arena = alignUp(std::max<uint64_t>(bytes, 1));
  uint64_t body = (arena + page - 1) / page * page;
  size_t total = static_cast<size_t>(body + 2 * page);
  void *base = ::mmap(nullptr, total, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
  if (base == MAP_FAILED)
    return error(MOERT_OUT_OF_MEMORY, "the session's arena needs ", arena,
                 " bytes, which cannot be reserved: ", std::strerror(errno));
  mapping_ = static_cast<uint8_t *>(base);
  mappingBytes_ = total;
  if (::mprotect(mapping_, page, PROT_NONE) != 0 ||
      ::mprotect(mapping_ + page + body, page, PROT_NONE) != 0)
    return error(MOERT_INTERNAL, "cannot protect the arena's guard pages: ",
                 std::strerror(errno));
  arenaBytes_ = static_cast<size_t>(arena);
  arena_ = mapping_ + page + (body - arena);
  return Status();
}

Status Session::create(std::shared_ptr<const Model> model, const char *device,
                       const moert_session_options_t *options,
                       std::unique_ptr<Session> *out) {
  if (!model)
    return error(MOERT_INVALID_ARGUMENT, "the model is NULL");
  std::unique_ptr<Session> session(new Session());
  session->model_ = std::move(model);
  const Model &m = *session->model_;
  session->weightsChecked_.assign(m.functions().size(), 0);
  size_t staged = 0;
  for (const FunctionSpec &f : m.functions())
    staged = std::max(staged, f.inputs.size() + f.outputs.size());
  session->staged_.resize(staged);
  // A sharded artifact: the exchange first, whose creation is a collective
  // that every rank reaches.
  Status s = ExpertExchange::create(m, options, &session->exchange_);
  if (!s)
    return s;
  if (session->exchange_) {
    try {
      session->splitSlotWeights();
    } catch (const std::bad_alloc &) {
      s = error(MOERT_OUT_OF_MEMORY, "out of memory creating the session");
      session->runFailed(s.message());
      return s;
    }
  }
  if (!(s = Device::create(m, device, options, &session->device_)) ||
      (session->exchange_ && !(s = session->device_->attachExchange(session->exchange_.get())))) {
    if (session->exchange_)
      session->exchange_->runFailed(s.message());
    return s;
  }
  uint64_t arena = 0;
  for (const FunctionSpec &f : m.functions())
    arena = std::max(arena, f.arenaBytes);
  if (!(s = session->allocateArena(arena)) ||
      !(s = session->device_->bind(session->arena_))) {
    session->runFailed(s.message());
    return s;
  }
  *out = std::move(session);
  return Status();
}

Status Session::checkTensors(const FunctionSpec &fn, bool outputs,
                             const moert_tensor_t *tensors, size_t count,
                             int64_t *tokens) const {
  const std::vector<TensorSpec> &specs = outputs ? fn.outputs : fn.inputs;
  const char *kind = outputs ? "output" : "input";
  if (count != specs.size()) {
    std::string list;
    for (const TensorSpec &t : specs)
      list += (list.empty() ? "" : ", ") + t.name + ": " + specString(t);
    return error(MOERT_INVALID_ARGUMENT, "function '", fn.name, outputs ? "' has " : "' takes ",
                 specs.size(), " ", kind, "(s) (", list, "), got ", count);
  }
  if (count > 0 && !tensors)
    return error(MOERT_INVALID_ARGUMENT, kind, "s is NULL");
  int64_t T = outputs ? *tokens : -1;
  size_t tokenInput = 0;
  for (size_t i = 0; i < count; ++i) {
    const TensorSpec &spec = specs[i];
    const moert_tensor_t &in = tensors[i];
    // Built only for an error: a run allocates nothing.
    auto what = [&] { return kind + (" " + std::to_string(i)) + " ('" + spec.name + "')"; };
    if (in.dtype != spec.dtype)
      return error(MOERT_INVALID_ARGUMENT, what(), ": dtype ",
                   moert_dtype_name(in.dtype), ", expected ", specString(spec));
    if (in.rank != spec.rank)
      return error(MOERT_INVALID_ARGUMENT, what(), ": rank ", in.rank,
                   ", expected ", specString(spec));
    for (int32_t d = 0; d < spec.rank; ++d) {
      if (d == spec.tokenDim) {
        if (in.shape[d] < 0)
          return error(MOERT_INVALID_ARGUMENT, what(), ": shape ",
                       tensorString(in, false), " has a negative dimension");
        continue;
      }
      if (in.shape[d] != spec.shape[d])
        return error(MOERT_INVALID_ARGUMENT, what(), ": shape ",
                     tensorString(in, false), ", expected ", specString(spec));
    }
    if (spec.tokenDim >= 0) {
      int64_t t = in.shape[spec.tokenDim];
      if (outputs && t != T)
        return error(MOERT_INVALID_ARGUMENT, what(), " has ", t, " tokens, the run has ", T);
      if (T < 0) {
        T = t;
        tokenInput = i;
      } else if (t != T) {
        return error(MOERT_INVALID_ARGUMENT, what(), " has ", t,
                     " tokens, but input ", tokenInput, " ('",
                     fn.inputs[tokenInput].name, "') has ", T);
      }
    }
  }
  if (T < 0)
    T = 1; // no input has a token dimension
  int64_t maxT = model_->maxTokens();
  // A rank of a sharded artifact may have no tokens: it still takes part
  // in the exchanges.
  int64_t minT = exchange_ ? 0 : 1;
  if (T < minT || T > maxT)
    return error(MOERT_INVALID_ARGUMENT, "T = ", T, " tokens is out of range: a run takes ",
                 minT, " <= T <= max_tokens = ", maxT);
  for (size_t i = 0; i < count; ++i) {
    const TensorSpec &spec = specs[i];
    uint64_t need = static_cast<uint64_t>(spec.bytes.at(T));
    if (need > 0 && !tensors[i].data)
      return error(MOERT_INVALID_ARGUMENT, kind, " ", i, " ('", spec.name,
                   "'): data is NULL");
    if (tensors[i].bytes < need)
      return error(MOERT_INVALID_ARGUMENT, kind, " ", i, " ('", spec.name,
                   "'): bytes is ", tensors[i].bytes, ", less than the ", need,
                   " bytes of ", tensorString(tensors[i]));
  }
  *tokens = T;
  return Status();
}

void Session::fillView(const FunctionSpec &fn, const TensorSpec &t,
                       int64_t tokens, moert_tensor_t *out) const {
  out->dtype = t.dtype;
  out->rank = t.rank;
  for (int32_t d = 0; d < MOERT_MAX_RANK; ++d)
    out->shape[d] = d < t.rank ? (t.shape[d] == -1 ? tokens : t.shape[d]) : 0;
  out->data = arena_ + fn.buffers[t.buffer].offset;
  out->bytes = static_cast<size_t>(t.bytes.at(tokens));
}

void Session::splitSlotWeights() {
  const Model &m = *model_;
  slotWeights_.assign(m.functions().size(), {});
  for (size_t f = 0; f < m.functions().size(); ++f) {
    std::vector<uint8_t> only = slotOnlyWeights(m, f);
    for (size_t w = 0; w < only.size(); ++w)
      if (only[w] && m.weights()[w].slices > 1)
        slotWeights_[f].push_back(static_cast<uint32_t>(w));
  }
}

Status Session::setRouterNoise(bool on, uint64_t seed) {
  if (on && std::none_of(model_->functions().begin(), model_->functions().end(),
                         [](const FunctionSpec &f) { return f.runParams >= 0; }))
    return error(MOERT_INVALID_ARGUMENT,
                 "the artifact has no noisy router (a router noise weight, compiled for the "
                 "cpu target): there is no noise to evaluate");
  routerNoise_ = on;
  routerNoiseSeed_ = seed;
  return Status();
}

void Session::runFailed(const std::string &why) {
  if (exchange_)
    exchange_->runFailed(why);
}

Status Session::run(size_t function, const moert_tensor_t *inputs,
                    size_t numInputs, moert_tensor_t *outputs, size_t numOutputs) {
  const Model &m = *model_;
  hasRun_ = false; // a run, failed or not, replaces the last run's outputs
  if (function >= m.functions().size())
    return error(MOERT_NOT_FOUND, "function index ", function,
                 " is out of range (the artifact has ", m.functions().size(),
                 " functions)");
  const FunctionSpec &fn = m.functions()[function];
  int64_t T = 0;
  Status s = checkTensors(fn, false, inputs, numInputs, &T);
  if (!s)
    return s.prefixed("run '" + fn.name + "': ");
  if (numOutputs != 0) {
    if (numOutputs != fn.outputs.size())
      return error(MOERT_INVALID_ARGUMENT, "run '", fn.name, "': ", numOutputs,
                   " output buffers given, the function has ", fn.outputs.size(),
                   " outputs (or pass none and read views)");
    if (!outputs)
      return error(MOERT_INVALID_ARGUMENT, "run '", fn.name, "': outputs is NULL");
    for (size_t i = 0; i < numOutputs; ++i) {
      const TensorSpec &spec = fn.outputs[i];
      uint64_t need = static_cast<uint64_t>(spec.bytes.at(T));
      if ((need > 0 && !outputs[i].data) || outputs[i].bytes < need)
        return error(MOERT_INVALID_ARGUMENT, "run '", fn.name, "': output ", i,
                     " ('", spec.name, "') needs ", need, " bytes at T = ", T,
                     ", the buffer given holds ",
                     outputs[i].data ? outputs[i].bytes : 0);
    }
  }

  // Verify::Lazy: the weights this function reads, before its first run; a
  // rank of a sharded artifact only its own experts' slices of the weights
  // its slots' GEMMs read.
  if (!weightsChecked_[function]) {
    const std::vector<uint32_t> &all = m.functionWeights(function); // sorted, as slotWeights_
    std::vector<uint32_t> whole;
    if (exchange_)
      std::set_difference(all.begin(), all.end(), slotWeights_[function].begin(),
                          slotWeights_[function].end(), std::back_inserter(whole));
    if (!(s = m.verifyWeights(exchange_ ? whole : all)) ||
        (exchange_ &&
         !(s = m.verifyWeightExperts(slotWeights_[function], exchange_->localExperts()))))
      return s.prefixed("run '" + fn.name + "': ");
    weightsChecked_[function] = 1;
  }

  for (size_t i = 0; i < numInputs; ++i) {
    const TensorSpec &spec = fn.inputs[i];
    size_t bytes = static_cast<size_t>(spec.bytes.at(T));
    if (bytes) // memmove: the caller may pass a view of this arena
      std::memmove(arena_ + fn.buffers[spec.buffer].offset, inputs[i].data, bytes);
  }

  if (fn.runParams >= 0) {
    // params[3]: the row of this run's first token among all the tokens of
    // the run, which on a rank is after the ranks before it.
    int32_t params[4] = {routerNoise_ ? 1 : 0, static_cast<int32_t>(routerNoiseSeed_ & 0xffffffffu),
                         static_cast<int32_t>(routerNoiseSeed_ >> 32), 0};
    if (exchange_) {
      int64_t base = 0;
      if (!(s = exchange_->runStart(T, params, &base)))
        return s.prefixed("run '" + fn.name + "': ");
      params[3] = static_cast<int32_t>(base);
    }
    std::memcpy(arena_ + fn.buffers[fn.runParams].offset, params, sizeof params);
  }

  if (!(s = device_->run(fn, function, T)))
    return s;

  for (size_t i = 0; i < numOutputs; ++i) {
    const TensorSpec &spec = fn.outputs[i];
    moert_tensor_t view;
    fillView(fn, spec, T, &view);
    if (view.bytes)
      std::memmove(outputs[i].data, view.data, view.bytes);
    outputs[i].dtype = view.dtype;
    outputs[i].rank = view.rank;
    std::memcpy(outputs[i].shape, view.shape, sizeof view.shape);
  }
  hasRun_ = true;
  lastFunction_ = function;
  lastTokens_ = T;
  return Status();
}

/// The first dimension (from the last) whose stride is not a compact
/// row-major tensor's, with that stride in *expected; -1 when there is none
/// (NULL strides are row-major's; a dimension of size 1 may have any).
static int32_t notRowMajor(const moert_device_tensor_t &d, int64_t *expected) {
  int64_t step = 1;
  for (int32_t k = d.rank - 1; d.strides && k >= 0; --k) {
    if (d.shape[k] > 1 && d.strides[k] != step) {
      *expected = step;
      return k;
    }
    step *= std::max<int64_t>(d.shape[k], 1);
  }
  return -1;
}

Status Session::enqueue(size_t function, const moert_device_tensor_t *inputs,
                        size_t numInputs, const moert_device_tensor_t *outputs,
                        size_t numOutputs, const moert_device_tensor_t *aux, size_t numAux,
                        void *stream) {
  const Model &m = *model_;
  hasRun_ = false; // an enqueued run leaves no outputs in the host arena
  if (function >= m.functions().size())
    return error(MOERT_NOT_FOUND, "function index ", function,
                 " is out of range (the artifact has ", m.functions().size(),
                 " functions)");
  const FunctionSpec &fn = m.functions()[function];
  auto prefixed = [&](const Status &s) { return s.prefixed("enqueue '" + fn.name + "': "); };
  int64_t T = 0;
  // The counts first (staged_ holds the function's tensors, no more):
  // checkTensors reports a wrong count or a NULL array before it reads one.
  if (numInputs != fn.inputs.size() || (numInputs && !inputs))
    return prefixed(checkTensors(fn, false, inputs ? staged_.data() : nullptr, numInputs, &T));
  if (numOutputs != fn.outputs.size() || (numOutputs && !outputs))
    return prefixed(checkTensors(fn, true, outputs ? staged_.data() : nullptr, numOutputs, &T));
  // Tensor i: the inputs, then the outputs; its name for an error.
  auto tensor = [&](size_t i) -> const moert_device_tensor_t & {
    return i < numInputs ? inputs[i] : outputs[i - numInputs];
  };
  auto what = [&](size_t i) {
    bool isOutput = i >= numInputs;
    size_t index = isOutput ? i - numInputs : i;
    const TensorSpec &spec = isOutput ? fn.outputs[index] : fn.inputs[index];
    return std::string(isOutput ? "output " : "input ") + std::to_string(index) + " ('" +
           spec.name + "')";
  };
  for (size_t i = 0; i < numInputs + numOutputs; ++i) {
    const moert_device_tensor_t &d = tensor(i);
    if (d.device_type != MOERT_DEVICE_CUDA)
      return prefixed(error(MOERT_INVALID_ARGUMENT, what(i), ": device type ",
                            static_cast<int>(d.device_type),
                            ", expected MOERT_DEVICE_CUDA (2): its data must be in GPU memory"));
    moert_tensor_t &t = staged_[i];
    t.dtype = d.dtype;
    t.rank = d.rank;
    std::memcpy(t.shape, d.shape, sizeof t.shape);
    t.data = d.data;
    t.bytes = d.bytes;
  }
  Status s = checkTensors(fn, false, staged_.data(), numInputs, &T);
  if (s)
    s = checkTensors(fn, true, staged_.data() + numInputs, numOutputs, &T);
  if (!s)
    return prefixed(s);
  // The shapes are the function's now (no overflow): strides must be
  // row-major's.
  for (size_t i = 0; i < numInputs + numOutputs; ++i) {
    const moert_device_tensor_t &d = tensor(i);
    int64_t step = 0;
    if (int32_t k = notRowMajor(d, &step); k >= 0)
      return prefixed(error(MOERT_INVALID_ARGUMENT, what(i), ": stride ", d.strides[k],
                            " of dimension ", k, " is not row-major's (", step,
                            "): only compact tensors are taken"));
  }
  // The auxiliary outputs wanted: each the aux output's dtype and shape at T.
  if (numAux != 0 && (numAux != fn.auxOutputs.size() || !aux))
    return prefixed(error(MOERT_INVALID_ARGUMENT, numAux, " aux output tensors given, the "
                          "function has ", fn.auxOutputs.size(), " (or give none)"));
  for (size_t i = 0; i < numAux; ++i) {
    const moert_device_tensor_t &d = aux[i];
    if (!d.data)
      continue;
    const TensorSpec &spec = fn.auxOutputs[i];
    bool shapeOk = d.rank == spec.rank;
    for (int32_t k = 0; shapeOk && k < spec.rank; ++k)
      shapeOk = d.shape[k] == (spec.shape[k] < 0 ? T : spec.shape[k]);
    int64_t step = 0;
    shapeOk = shapeOk && notRowMajor(d, &step) < 0;
    if (d.device_type != MOERT_DEVICE_CUDA || d.dtype != spec.dtype || !shapeOk)
      return prefixed(error(MOERT_INVALID_ARGUMENT, "aux output ", i, " ('", spec.name,
                            "'): expected a compact ", moert_dtype_name(spec.dtype), " tensor of its "
                            "shape at T = ", T, " in GPU memory"));
  }
  return device_->enqueue(fn, function, T, inputs, outputs, numAux ? aux : nullptr, stream);
}

Status Session::view(bool aux, size_t index, moert_tensor_t *out) const {
  if (!out)
    return error(MOERT_INVALID_ARGUMENT, "the view pointer is NULL");
  if (!hasRun_)
    return error(MOERT_FAILED_PRECONDITION,
                 "no successful run yet: outputs exist only after one");
  const FunctionSpec &fn = model_->functions()[lastFunction_];
  const std::vector<TensorSpec> &list = aux ? fn.auxOutputs : fn.outputs;
  if (index >= list.size())
    return error(MOERT_NOT_FOUND, aux ? "aux output " : "output ", index,
                 " does not exist (function '", fn.name, "' has ", list.size(), ")");
  fillView(fn, list[index], lastTokens_, out);
  return Status();
}

bool Session::lastRun(size_t *function, int64_t *tokens) const {
  if (!hasRun_)
    return false;
  if (function)
    *function = lastFunction_;
  if (tokens)
    *tokens = lastTokens_;
  return true;
}

} // namespace moert::rt
