//===- CApi.cpp - the C API over Model and Session --------------------------===//
//
// Every entry point catches everything: no C++ exception crosses the API.
//
//===----------------------------------------------------------------------===//
#include "Device.h"
#include "Model.h"
#include "Session.h"
#include "Status.h"

#include "moert/format.h"
#include "moert/moert.h"

#include <atomic>
#include <cstring>

#include <exception>
#include <new>

#ifndef MOERT_VERSION_STRING
#error "MOERT_VERSION_STRING comes from the build (runtime/CMakeLists.txt)"
#endif

using moert::rt::Device;
using moert::rt::Model;
using moert::rt::Session;
using moert::rt::Status;
using moert::rt::TensorSpec;
using moert::rt::toC;

struct moert_model {
  std::shared_ptr<const Model> model;
};

struct moert_session {
  std::unique_ptr<Session> session;
  /// Set while a call uses the session: a second thread that enters at the
  /// same time gets an error instead of racing on the arena.
  mutable std::atomic<bool> busy{false};
};

namespace {

/// Claims `session` for the calling thread for one call (see moert_session).
template <typename Body>
moert_status_t *exclusive(const moert_session_t *session, Body &&body) {
  if (session->busy.exchange(true, std::memory_order_acquire))
    return toC(MOERT_FAILED_PRECONDITION,
               "the session is in use by another thread (a session is used by "
               "one thread at a time; create one session per thread)");
  moert_status_t *status = body();
  session->busy.store(false, std::memory_order_release);
  return status;
}

/// Runs `body` (returning Status), turning any exception into a status.
template <typename Body> moert_status_t *guarded(Body &&body) {
  try {
    return toC(body());
  } catch (const std::bad_alloc &) {
    return toC(MOERT_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception &e) {
    return toC(MOERT_INTERNAL, e.what());
  } catch (...) {
    return toC(MOERT_INTERNAL, "unknown internal error");
  }
}

moert_status_t *nullArgument(const char *what) {
  return toC(MOERT_INVALID_ARGUMENT, what);
}

/// A run's status, after telling the other ranks of a sharded artifact that
/// this one failed (whatever failed: a name, an input, a kernel, memory),
/// so that none waits for it in an exchange.
moert_status_t *ranRun(moert_session_t *session, moert_status_t *status) {
  if (status)
    session->session->runFailed(moert_status_message(status));
  return status;
}

/// `body(index)` for the function named `function` (NULL: the only one), with
/// the session held; a name that is not found ends the last run too. A
/// failed run (`isRun`) is reported to the other ranks (ranRun).
template <typename Body>
moert_status_t *onFunction(moert_session_t *session, const char *function, Body &&body,
                           bool isRun = false) {
  if (!session)
    return nullArgument("the session is NULL");
  return exclusive(session, [&] {
    moert_status_t *status = guarded([&]() -> Status {
      size_t index = 0;
      Status s = session->session->model().findFunction(function, &index);
      if (!s) {
        session->session->forgetLastRun();
        return s;
      }
      return body(index);
    });
    return isRun ? ranRun(session, status) : status;
  });
}

const std::vector<TensorSpec> *tensorList(const Model &m, size_t function,
                                          moert_tensor_kind_t kind) {
  if (function >= m.functions().size())
    return nullptr;
  const auto &f = m.functions()[function];
  switch (kind) {
  case MOERT_TENSOR_INPUT: return &f.inputs;
  case MOERT_TENSOR_OUTPUT: return &f.outputs;
  case MOERT_TENSOR_AUX_OUTPUT: return &f.auxOutputs;
  }
  return nullptr;
}

moert_status_t *loadCommon(moert_model_t **out, bool fromFile, const char *path,
                           const void *data, size_t size,
                           const moert_load_options_t *options) {
  if (!out)
    return nullArgument("the model out-pointer is NULL");
  *out = nullptr;
  // Read as an integer: a caller's value outside the enum is an error to
  // report, not one to load as the enum type.
  int32_t mode = MOERT_VERIFY_FULL;
  if (options) {
    static_assert(sizeof(options->verify) == sizeof(mode), "an int-sized enum");
    std::memcpy(&mode, &options->verify, sizeof mode);
  }
  if (mode != MOERT_VERIFY_FULL && mode != MOERT_VERIFY_LAZY)
    return toC(moert::rt::error(MOERT_INVALID_ARGUMENT, "unknown verify mode ",
                                mode, " (MOERT_VERIFY_FULL or MOERT_VERIFY_LAZY)"));
  using moert::rt::Verify;
  moert::rt::LoadPolicy policy;
  policy.verify = mode == MOERT_VERIFY_LAZY ? Verify::Lazy : Verify::Full;
  if (options) {
    if (options->num_trusted_keys && !options->trusted_keys)
      return nullArgument("num_trusted_keys is nonzero but trusted_keys is NULL");
    if (options->num_trusted_keys > 4096)
      return toC(moert::rt::error(MOERT_INVALID_ARGUMENT, "num_trusted_keys is ",
                                  options->num_trusted_keys, ", more than 4096"));
    for (size_t i = 0; i < options->num_trusted_keys; ++i) {
      moert::rt::PublicKey key;
      std::memcpy(key.data(), options->trusted_keys + 32 * i, key.size());
      policy.trustedKeys.push_back(key);
    }
    policy.requireSignature = options->require_signature != 0;
    policy.memoryBudget = options->memory_budget;
  }
  return guarded([&]() -> Status {
    std::shared_ptr<const Model> model;
    Status s = fromFile ? Model::loadFile(path, policy, &model)
                        : Model::loadMemory(data, size, policy, &model);
    if (!s)
      return s;
    *out = new moert_model{std::move(model)};
    return Status();
  });
}

} // namespace

extern "C" {

const char *moert_version(void) { return MOERT_VERSION_STRING; }

const char *moert_backends(void) { return "cpu,cuda"; }

uint32_t moert_format_version(void) { return moert::kFormatVersion; }

size_t moert_dtype_size(moert_dtype_t dtype) {
  switch (dtype) {
  case MOERT_F32: return 4;
  case MOERT_F16: return 2;
  case MOERT_BF16: return 2;
  case MOERT_I32: return 4;
  case MOERT_F8E4M3: return 1;
  case MOERT_MXFP4: return 0; // half a byte per code, plus the scales
  case MOERT_INT8: return 0;  // codes and scales in integer panels
  case MOERT_INT4: return 0;
  }
  return 0;
}

const char *moert_dtype_name(moert_dtype_t dtype) {
  switch (dtype) {
  case MOERT_F32: return "f32";
  case MOERT_F16: return "f16";
  case MOERT_BF16: return "bf16";
  case MOERT_I32: return "i32";
  case MOERT_F8E4M3: return "f8e4m3";
  case MOERT_MXFP4: return "mxfp4";
  case MOERT_INT8: return "int8";
  case MOERT_INT4: return "int4";
  }
  return "?";
}

void moert_load_options_init(moert_load_options_t *options) {
  if (options) {
    std::memset(options, 0, sizeof *options);
    options->verify = MOERT_VERIFY_FULL;
  }
}

moert_status_t *moert_model_load_file_with(const char *path,
                                           const moert_load_options_t *options,
                                           moert_model_t **model) {
  if (!path) {
    if (model)
      *model = nullptr;
    return nullArgument("the artifact path is NULL");
  }
  return loadCommon(model, true, path, nullptr, 0, options);
}

moert_status_t *moert_model_load_file(const char *path, moert_model_t **model) {
  return moert_model_load_file_with(path, nullptr, model);
}

moert_status_t *moert_model_load_memory_with(const void *data, size_t size,
                                             const moert_load_options_t *options,
                                             moert_model_t **model) {
  return loadCommon(model, false, nullptr, data, size, options);
}

moert_status_t *moert_model_load_memory(const void *data, size_t size,
                                        moert_model_t **model) {
  return moert_model_load_memory_with(data, size, nullptr, model);
}

void moert_model_free(moert_model_t *model) { delete model; }

int64_t moert_model_max_tokens(const moert_model_t *model) {
  return model ? model->model->maxTokens() : 0;
}

const char *moert_model_producer(const moert_model_t *model) {
  return model ? model->model->producer().c_str() : "";
}

const char *moert_model_target(const moert_model_t *model) {
  if (!model)
    return "";
  return model->model->target() == moert::rt::MOERT_TARGET_CUDA ? "cuda" : "cpu";
}

const char *moert_model_target_arch(const moert_model_t *model) {
  return model ? model->model->targetArch().c_str() : "";
}

size_t moert_model_num_functions(const moert_model_t *model) {
  return model ? model->model->functions().size() : 0;
}

const char *moert_model_function_name(const moert_model_t *model, size_t index) {
  if (!model || index >= model->model->functions().size())
    return nullptr;
  return model->model->functions()[index].name.c_str();
}

moert_status_t *moert_model_find_function(const moert_model_t *model,
                                          const char *name, size_t *index) {
  if (!model)
    return nullArgument("the model is NULL");
  if (!index)
    return nullArgument("the index out-pointer is NULL");
  return guarded([&] { return model->model->findFunction(name, index); });
}

size_t moert_model_num_tensors(const moert_model_t *model, size_t function,
                               moert_tensor_kind_t kind) {
  if (!model)
    return 0;
  const std::vector<TensorSpec> *list = tensorList(*model->model, function, kind);
  return list ? list->size() : 0;
}

moert_status_t *moert_model_tensor_info(const moert_model_t *model,
                                        size_t function, moert_tensor_kind_t kind,
                                        size_t index, moert_tensor_info_t *info) {
  if (!model)
    return nullArgument("the model is NULL");
  if (!info)
    return nullArgument("the info out-pointer is NULL");
  return guarded([&]() -> Status {
    const Model &m = *model->model;
    if (function >= m.functions().size())
      return moert::rt::error(MOERT_NOT_FOUND, "function index ", function,
                              " is out of range (the artifact has ",
                              m.functions().size(), ")");
    const std::vector<TensorSpec> *list = tensorList(m, function, kind);
    if (!list)
      return moert::rt::error(MOERT_INVALID_ARGUMENT, "unknown tensor kind ",
                              static_cast<int>(kind));
    if (index >= list->size())
      return moert::rt::error(MOERT_NOT_FOUND, "function '",
                              m.functions()[function].name, "' has ",
                              list->size(),
                              kind == MOERT_TENSOR_INPUT    ? " inputs"
                              : kind == MOERT_TENSOR_OUTPUT ? " outputs"
                                                            : " aux outputs",
                              ", index ", index, " is out of range");
    const TensorSpec &t = (*list)[index];
    info->name = t.name.c_str();
    info->dtype = t.dtype;
    info->rank = t.rank;
    for (int d = 0; d < MOERT_MAX_RANK; ++d)
      info->shape[d] = d < t.rank ? t.shape[d] : 0;
    return Status();
  });
}

void moert_session_options_init(moert_session_options_t *options) {
  if (options) {
    options->threads = 0;
    options->device_workspace = nullptr;
    options->device_workspace_bytes = 0;
    options->communicator = nullptr;
    options->placement = nullptr;
    options->placement_size = 0;
  }
}

uint64_t moert_model_device_workspace_bytes(const moert_model_t *model) {
  return model ? Device::workspaceBytes(*model->model) : 0;
}

moert_status_t *moert_session_create(moert_model_t *model, const char *device,
                                     const moert_session_options_t *options,
                                     moert_session_t **session) {
  if (!session)
    return nullArgument("the session out-pointer is NULL");
  *session = nullptr;
  if (!model)
    return nullArgument("the model is NULL");
  return guarded([&]() -> Status {
    std::unique_ptr<Session> s;
    Status st = Session::create(model->model, device, options, &s);
    if (!st)
      return st;
    *session = new moert_session{std::move(s)};
    return Status();
  });
}

void moert_session_free(moert_session_t *session) { delete session; }

int32_t moert_session_num_threads(const moert_session_t *session) {
  return session ? session->session->threads() : 0;
}

moert_status_t *moert_session_run_index(moert_session_t *session, size_t function,
                                        const moert_tensor_t *inputs,
                                        size_t num_inputs, moert_tensor_t *outputs,
                                        size_t num_outputs) {
  if (!session)
    return nullArgument("the session is NULL");
  return exclusive(session, [&] {
    return ranRun(session, guarded([&] {
      return session->session->run(function, inputs, num_inputs, outputs,
                                   num_outputs);
    }));
  });
}


moert_status_t *moert_session_run(moert_session_t *session, const char *function,
                                  const moert_tensor_t *inputs, size_t num_inputs,
                                  moert_tensor_t *outputs, size_t num_outputs) {
  return onFunction(
      session, function,
      [&](size_t index) {
        return session->session->run(index, inputs, num_inputs, outputs, num_outputs);
      },
      /*isRun=*/true);
}

moert_status_t *moert_session_enqueue(moert_session_t *session, const char *function,
                                      const moert_device_tensor_t *inputs, size_t num_inputs,
                                      const moert_device_tensor_t *outputs, size_t num_outputs,
                                      void *stream) {
  return onFunction(session, function, [&](size_t index) {
    return session->session->enqueue(index, inputs, num_inputs, outputs, num_outputs, nullptr, 0,
                                     stream);
  });
}

moert_status_t *moert_session_enqueue_aux(moert_session_t *session, const char *function,
                                          const moert_device_tensor_t *inputs, size_t num_inputs,
                                          const moert_device_tensor_t *outputs, size_t num_outputs,
                                          const moert_device_tensor_t *aux, size_t num_aux,
                                          void *stream) {
  return onFunction(session, function, [&](size_t index) {
    return session->session->enqueue(index, inputs, num_inputs, outputs, num_outputs, aux, num_aux,
                                     stream);
  });
}

moert_status_t *moert_session_device_error(moert_session_t *session, void *stream) {
  if (!session)
    return nullArgument("the session is NULL");
  return exclusive(session,
                   [&] { return guarded([&] { return session->session->deviceError(stream); }); });
}

moert_status_t *moert_session_output(const moert_session_t *session, size_t index,
                                     moert_tensor_t *view) {
  if (!session)
    return nullArgument("the session is NULL");
  return exclusive(session, [&] {
    return guarded([&] { return session->session->view(false, index, view); });
  });
}

moert_status_t *moert_session_aux_output(const moert_session_t *session,
                                         size_t index, moert_tensor_t *view) {
  if (!session)
    return nullArgument("the session is NULL");
  return exclusive(session, [&] {
    return guarded([&] { return session->session->view(true, index, view); });
  });
}

moert_status_t *moert_session_set_router_noise(moert_session_t *session, int32_t enabled,
                                              uint64_t seed) {
  if (!session)
    return nullArgument("the session is NULL");
  return exclusive(session, [&] {
    return guarded([&] { return session->session->setRouterNoise(enabled != 0, seed); });
  });
}

int moert_session_last_run(const moert_session_t *session, size_t *function,
                           int64_t *tokens) {
  return session && session->session->lastRun(function, tokens) ? 1 : 0;
}

} // extern "C"
