//===- moert/moert.hpp - a thin C++17 wrapper over moert.h -----------------===//
//
// RAII handles and errors as values: calls return moert::Status or
// moert::Expected<T>; nothing throws (beyond std::bad_alloc from building an
// error message). Header-only; every call goes through the C API.
//
//   auto model = moert::Model::load("model.moeb");
//   if (!model) { std::cerr << model.status().message() << "\n"; return 1; }
//   auto session = moert::Session::create(*model, "cpu");
//   ...
//   moert::Status st = session->run("forward", inputs, outputs);
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_MOERT_HPP
#define MOERT_MOERT_HPP

#include "moert/moert.h"

#include <cstdint>
#include <array>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace moert {

/// A status code and message; ok() when the call succeeded.
class Status {
public:
  Status() = default;
  Status(moert_status_code_t code, std::string message)
      : code_(code), message_(std::move(message)) {}
  /// Takes ownership of a C status (and frees it).
  static Status adopt(moert_status_t *status) {
    if (!status)
      return Status();
    Status s(moert_status_code(status), moert_status_message(status));
    moert_status_free(status);
    return s;
  }
  bool ok() const { return code_ == MOERT_OK; }
  explicit operator bool() const { return ok(); }
  moert_status_code_t code() const { return code_; }
  const std::string &message() const { return message_; }
  const char *codeName() const { return moert_status_code_name(code_); }

private:
  moert_status_code_t code_ = MOERT_OK;
  std::string message_;
};

/// A value or the Status saying why there is none.
template <typename T> class Expected {
public:
  Expected(T value) : v_(std::move(value)) {}
  Expected(Status status) : v_(std::move(status)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  /// The error (an ok Status when there is a value).
  Status status() const { return ok() ? Status() : std::get<1>(v_); }
  /// The value; only when ok().
  T &value() & { return std::get<0>(v_); }
  const T &value() const & { return std::get<0>(v_); }
  T &&value() && { return std::get<0>(std::move(v_)); }
  T &operator*() & { return value(); }
  const T &operator*() const & { return value(); }
  T &&operator*() && { return std::move(*this).value(); }
  T *operator->() { return &std::get<0>(v_); }
  const T *operator->() const { return &std::get<0>(v_); }

private:
  std::variant<T, Status> v_;
};

/// What a function declares about one of its tensors (-1 marks T).
struct TensorInfo {
  std::string name;
  moert_dtype_t dtype = MOERT_F32;
  std::vector<int64_t> shape;
};

struct FunctionInfo {
  size_t index = 0;
  std::string name;
  std::vector<TensorInfo> inputs, outputs, auxOutputs;
};

/// A tensor to pass in or receive: builds moert_tensor_t values.
inline moert_tensor_t tensor(moert_dtype_t dtype, const std::vector<int64_t> &shape,
                             void *data, size_t bytes) {
  moert_tensor_t t{};
  t.dtype = dtype;
  t.rank = static_cast<int32_t>(shape.size() <= MOERT_MAX_RANK ? shape.size()
                                                               : MOERT_MAX_RANK + 1);
  for (size_t d = 0; d < shape.size() && d < MOERT_MAX_RANK; ++d)
    t.shape[d] = shape[d];
  t.data = data;
  t.bytes = bytes;
  return t;
}

/// The bytes of a tensor a function declares (`info`) at T tokens (0 for the
/// weight-only dtypes, which no function input or output has).
inline size_t tensorBytes(const moert_tensor_info_t &info, int64_t T) {
  size_t bytes = moert_dtype_size(info.dtype);
  for (int32_t d = 0; d < info.rank && d < MOERT_MAX_RANK; ++d)
    bytes *= static_cast<size_t>(info.shape[d] == -1 ? T : info.shape[d]);
  return bytes;
}

/// A tensor in the memory of GPU cuda:`device` (moert_session_enqueue) with
/// the dtype and shape a function declares for it (`info`), at T tokens.
inline moert_device_tensor_t deviceTensor(const moert_tensor_info_t &info, int64_t T,
                                          void *data, size_t bytes, int32_t device) {
  moert_device_tensor_t t{};
  t.data = data;
  t.bytes = bytes;
  t.device_type = MOERT_DEVICE_CUDA;
  t.device_id = device;
  t.dtype = info.dtype;
  t.rank = info.rank;
  for (int32_t d = 0; d < info.rank && d < MOERT_MAX_RANK; ++d)
    t.shape[d] = info.shape[d] == -1 ? T : info.shape[d];
  return t;
}

class Model {
public:
  static Expected<Model> load(const std::string &path,
                              moert_verify_t verify = MOERT_VERIFY_FULL) {
    moert_load_options_t options;
    moert_load_options_init(&options);
    options.verify = verify;
    return load(path, options);
  }
  /** With every load option (fill them with moert_load_options_init). */
  static Expected<Model> load(const std::string &path,
                              const moert_load_options_t &options) {
    moert_model_t *m = nullptr;
    Status s = Status::adopt(moert_model_load_file_with(path.c_str(), &options, &m));
    if (!s)
      return s;
    return Model(m);
  }
  static Expected<Model> fromMemory(const void *data, size_t size,
                                    moert_verify_t verify = MOERT_VERIFY_FULL) {
    moert_load_options_t options;
    moert_load_options_init(&options);
    options.verify = verify;
    return fromMemory(data, size, options);
  }
  static Expected<Model> fromMemory(const void *data, size_t size,
                                    const moert_load_options_t &options) {
    moert_model_t *m = nullptr;
    Status s = Status::adopt(moert_model_load_memory_with(data, size, &options, &m));
    if (!s)
      return s;
    return Model(m);
  }

  moert_model_t *get() const { return model_.get(); }
  int64_t maxTokens() const { return moert_model_max_tokens(get()); }
  std::string producer() const { return moert_model_producer(get()); }
  std::string target() const { return moert_model_target(get()); }
  std::string targetArch() const { return moert_model_target_arch(get()); }
  size_t numFunctions() const { return moert_model_num_functions(get()); }
  std::string functionName(size_t i) const {
    const char *n = moert_model_function_name(get(), i);
    return n ? n : "";
  }
  std::vector<std::string> functionNames() const {
    std::vector<std::string> names;
    for (size_t i = 0; i < numFunctions(); ++i)
      names.push_back(functionName(i));
    return names;
  }

  /// Describes a function; an empty name picks the only one.
  Expected<FunctionInfo> function(const std::string &name = "") const {
    FunctionInfo f;
    Status s = Status::adopt(moert_model_find_function(
        get(), name.empty() ? nullptr : name.c_str(), &f.index));
    if (!s)
      return s;
    f.name = functionName(f.index);
    const moert_tensor_kind_t kinds[3] = {MOERT_TENSOR_INPUT, MOERT_TENSOR_OUTPUT,
                                          MOERT_TENSOR_AUX_OUTPUT};
    std::vector<TensorInfo> *lists[3] = {&f.inputs, &f.outputs, &f.auxOutputs};
    for (int k = 0; k < 3; ++k) {
      size_t n = moert_model_num_tensors(get(), f.index, kinds[k]);
      for (size_t i = 0; i < n; ++i) {
        moert_tensor_info_t info;
        s = Status::adopt(moert_model_tensor_info(get(), f.index, kinds[k], i, &info));
        if (!s)
          return s;
        lists[k]->push_back(TensorInfo{
            info.name, info.dtype,
            std::vector<int64_t>(info.shape, info.shape + info.rank)});
      }
    }
    return f;
  }

private:
  struct Free {
    void operator()(moert_model_t *m) const { moert_model_free(m); }
  };
  explicit Model(moert_model_t *m) : model_(m) {}
  std::unique_ptr<moert_model_t, Free> model_;
};

/// N ranks in this process (moert_local_group_t): one communicator per rank.
class LocalGroup {
public:
  static Expected<LocalGroup> create(int32_t ranks, int32_t timeoutMs) {
    moert_local_group_t *g = nullptr;
    Status st = Status::adopt(moert_local_group_create(ranks, timeoutMs, &g));
    if (!st)
      return st;
    return LocalGroup(g);
  }
  const moert_communicator_t *communicator(int32_t rank) const {
    return moert_local_group_communicator(group_.get(), rank);
  }

private:
  explicit LocalGroup(moert_local_group_t *g) : group_(g, moert_local_group_free) {}
  std::unique_ptr<moert_local_group_t, void (*)(moert_local_group_t *)> group_;
};

/// One rank of an NCCL communicator (moert_nccl_*; CUDA sessions).
class NcclRank {
public:
  using Id = std::array<uint8_t, MOERT_NCCL_UNIQUE_ID_BYTES>;
  /// A new communicator's identity, for every rank's create.
  static Expected<Id> uniqueId() {
    Id id{};
    Status st = Status::adopt(moert_nccl_unique_id(id.data()));
    if (!st)
      return st;
    return id;
  }
  /// Rank `rank` of `ranks` on GPU cuda:`device` (a collective).
  static Expected<NcclRank> create(const Id &id, int32_t rank, int32_t ranks, int32_t device,
                                   int32_t timeoutMs) {
    moert_nccl_t *n = nullptr;
    Status st = Status::adopt(moert_nccl_create(id.data(), rank, ranks, device, timeoutMs, &n));
    if (!st)
      return st;
    return NcclRank(n);
  }
  const moert_communicator_t *communicator() const {
    return moert_nccl_communicator(nccl_.get());
  }
  int32_t device() const { return moert_nccl_device(nccl_.get()); }

private:
  explicit NcclRank(moert_nccl_t *n) : nccl_(n, moert_nccl_free) {}
  std::unique_ptr<moert_nccl_t, void (*)(moert_nccl_t *)> nccl_;
};

class Session {
public:
  /// threads: 0 = one per CPU the process may run on.
  static Expected<Session> create(const Model &model,
                                  const std::string &device = "cpu",
                                  int32_t threads = 0) {
    moert_session_options_t options;
    moert_session_options_init(&options);
    options.threads = threads;
    return create(model, device, options);
  }

  /// With every session option (fill them with moert_session_options_init).
  static Expected<Session> create(const Model &model, const std::string &device,
                                  const moert_session_options_t &options) {
    moert_session_t *s = nullptr;
    Status st = Status::adopt(
        moert_session_create(model.get(), device.c_str(), &options, &s));
    if (!st)
      return st;
    return Session(s);
  }

  moert_session_t *get() const { return session_.get(); }
  int32_t numThreads() const { return moert_session_num_threads(get()); }
  /// Noisy routers' noise on later runs (moert_session_set_router_noise).
  Status setRouterNoise(bool enabled, uint64_t seed) {
    return Status::adopt(moert_session_set_router_noise(get(), enabled ? 1 : 0, seed));
  }

  /// Runs `function` (empty: the only one). `outputs` may be empty: read
  /// the results with output() afterwards.
  Status run(const std::string &function, const std::vector<moert_tensor_t> &inputs,
             std::vector<moert_tensor_t> *outputs = nullptr) {
    return Status::adopt(moert_session_run(
        get(), function.empty() ? nullptr : function.c_str(), inputs.data(),
        inputs.size(), outputs ? outputs->data() : nullptr,
        outputs ? outputs->size() : 0));
  }
  Status run(size_t function, const std::vector<moert_tensor_t> &inputs,
             std::vector<moert_tensor_t> *outputs = nullptr) {
    return Status::adopt(moert_session_run_index(
        get(), function, inputs.data(), inputs.size(),
        outputs ? outputs->data() : nullptr, outputs ? outputs->size() : 0));
  }

  /// moert_session_enqueue: a run on the caller's CUDA `stream` with its
  /// tensors in device memory (deviceTensor); only enqueues.
  Status enqueue(const std::string &function, const std::vector<moert_device_tensor_t> &inputs,
                 const std::vector<moert_device_tensor_t> &outputs, void *stream) {
    return Status::adopt(moert_session_enqueue(
        get(), function.empty() ? nullptr : function.c_str(), inputs.data(), inputs.size(),
        outputs.data(), outputs.size(), stream));
  }
  /// moert_session_device_error: the enqueued runs' fault word, after `stream`.
  Status deviceError(void *stream) {
    return Status::adopt(moert_session_device_error(get(), stream));
  }

  /// A view of output `index` of the last run (valid until the next run).
  Expected<moert_tensor_t> output(size_t index) const {
    moert_tensor_t t{};
    Status s = Status::adopt(moert_session_output(get(), index, &t));
    if (!s)
      return s;
    return t;
  }
  Expected<moert_tensor_t> auxOutput(size_t index) const {
    moert_tensor_t t{};
    Status s = Status::adopt(moert_session_aux_output(get(), index, &t));
    if (!s)
      return s;
    return t;
  }

private:
  struct Free {
    void operator()(moert_session_t *s) const { moert_session_free(s); }
  };
  explicit Session(moert_session_t *s) : session_(s) {}
  std::unique_ptr<moert_session_t, Free> session_;
};

inline std::string version() { return moert_version(); }
inline std::string backends() { return moert_backends(); }

} // namespace moert

#endif // MOERT_MOERT_HPP
