//===- python/src/module.cpp - the moec._moec extension module -------------===//
//
// Python bindings of libmoert's C API (moert.h): models, sessions, runs on
// NumPy arrays and DLPack tensors (torch) without copies on the CPU, the
// auxiliary outputs (router statistics) as arrays, and every failure as a
// moec.Error carrying the runtime's message and status code. The Python side
// (python/moec/__init__.py) adds the conveniences; this file only crosses the
// boundary.
//
//===----------------------------------------------------------------------===//

#include "moert/moert.h"

#include <dlpack/dlpack.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace py = pybind11;

namespace {

/// moec.Error: the runtime's status as a Python exception (set in the module).
PyObject *gErrorType = nullptr;

struct StatusError {
  std::string code;
  std::string message;
};

/// Raises moec.Error(message) with .code = the status code's name, freeing the
/// status; does nothing for NULL (success).
void check(moert_status_t *status) {
  if (!status)
    return;
  StatusError error{moert_status_code_name(moert_status_code(status)),
                    moert_status_message(status)};
  moert_status_free(status);
  throw error;
}

/// Raises moec.Error for a failure found here, before the runtime is called.
[[noreturn]] void fail(moert_status_code_t code, const std::string &message) {
  throw StatusError{moert_status_code_name(code), message};
}

struct ModelHandle {
  moert_model_t *model = nullptr;
  explicit ModelHandle(moert_model_t *m) : model(m) {}
  ModelHandle(const ModelHandle &) = delete;
  ~ModelHandle() { moert_model_free(model); }
};

/// A communicator's owner (a local group or an NCCL rank), which every
/// session over it keeps alive.
struct CommOwner {
  moert_local_group_t *group = nullptr;
  moert_nccl_t *nccl = nullptr;
  CommOwner() = default;
  CommOwner(const CommOwner &) = delete;
  ~CommOwner() {
    moert_local_group_free(group);
    moert_nccl_free(nccl);
  }
};

/// One rank's communicator of an owner.
struct CommHandle {
  std::shared_ptr<CommOwner> owner;
  const moert_communicator_t *comm = nullptr;
};

struct SessionHandle {
  std::shared_ptr<ModelHandle> model;
  moert_session_t *session = nullptr;
  std::shared_ptr<CommOwner> comm; // outlives the session (freed after it)
  SessionHandle(std::shared_ptr<ModelHandle> m, moert_session_t *s,
                std::shared_ptr<CommOwner> c = nullptr)
      : model(std::move(m)), session(s), comm(std::move(c)) {}
  SessionHandle(const SessionHandle &) = delete;
  ~SessionHandle() { moert_session_free(session); }
};

const char *dtypeName(moert_dtype_t dtype) { return moert_dtype_name(dtype); }

py::dict tensorInfo(const moert_tensor_info_t &info) {
  py::dict d;
  d["name"] = info.name;
  d["dtype"] = dtypeName(info.dtype);
  py::list shape;
  for (int32_t i = 0; i < info.rank; ++i) {
    if (info.shape[i] < 0)
      shape.append(py::none());
    else
      shape.append(info.shape[i]);
  }
  d["shape"] = py::tuple(shape);
  return d;
}

/// An exception an array or tensor raises to refuse an export (BufferError,
/// ValueError, TypeError, RuntimeError), as opposed to an interrupt.
bool refusal(py::error_already_set &e) {
  return e.matches(PyExc_BufferError) || e.matches(PyExc_ValueError) ||
         e.matches(PyExc_TypeError) || e.matches(PyExc_RuntimeError);
}

/// A DLPack tensor this module consumed: released through its deleter when
/// the run is over (DLPack's protocol).
struct Managed {
  DLManagedTensor *p = nullptr;
  Managed() = default;
  Managed(const Managed &) = delete;
  Managed(Managed &&other) noexcept : p(other.p) { other.p = nullptr; }
  Managed &operator=(Managed &&other) noexcept {
    std::swap(p, other.p);
    return *this;
  }
  ~Managed() {
    if (p && p->deleter)
      p->deleter(p);
  }
};

/// Takes the tensor out of the capsule `__dlpack__` returned: the consumer
/// owns it from here, so the capsule is renamed and its destructor leaves
/// it alone.
Managed consume(const py::object &capsule, const std::string &what) {
  PyObject *cap = capsule.ptr();
  if (!PyCapsule_IsValid(cap, "dltensor"))
    fail(MOERT_INVALID_ARGUMENT, what + ": __dlpack__() did not return an unused DLPack capsule");
  auto *managed = static_cast<DLManagedTensor *>(PyCapsule_GetPointer(cap, "dltensor"));
  if (!managed)
    throw py::error_already_set();
  PyCapsule_SetName(cap, "used_dltensor");
  Managed m;
  m.p = managed;
  return m;
}

/// A tensor the caller passed, seen as a moert_tensor_t over its memory (no
/// copy). Keeps what must stay alive until the run is over: the NumPy buffer
/// or the DLPack tensor.
struct Borrowed {
  moert_tensor_t tensor{};
  std::optional<py::buffer_info> buffer;
  Managed managed;
};

std::string describe(const std::string &what, size_t index) {
  return what + " " + std::to_string(index);
}

void setShape(Borrowed &b, const std::string &what, size_t ndim, const int64_t *shape) {
  if (ndim > MOERT_MAX_RANK)
    fail(MOERT_INVALID_ARGUMENT, what + " has rank " + std::to_string(ndim) + " (at most " +
                                 std::to_string(MOERT_MAX_RANK) + ")");
  b.tensor.rank = static_cast<int32_t>(ndim);
  for (size_t i = 0; i < ndim; ++i)
    b.tensor.shape[i] = shape[i];
}

size_t elementCount(const moert_tensor_t &t) {
  size_t n = 1;
  for (int32_t i = 0; i < t.rank; ++i)
    n *= static_cast<size_t>(t.shape[i]);
  return n;
}

/// Checks that `strides` (in elements; NULL = compact) describe a row-major
/// compact tensor of `shape` (a dimension of size 1 may have any stride).
bool rowMajor(size_t ndim, const int64_t *shape, const int64_t *strides) {
  if (!strides)
    return true;
  int64_t expected = 1;
  for (size_t i = ndim; i-- > 0;) {
    if (shape[i] != 1 && strides[i] != expected)
      return false;
    expected *= shape[i];
  }
  return true;
}

moert_dtype_t dtypeOfDl(DLDataType t, const std::string &what) {
  if (t.lanes == 1) {
    if (t.code == kDLFloat && t.bits == 32)
      return MOERT_F32;
    if (t.code == kDLFloat && t.bits == 16)
      return MOERT_F16;
    if (t.code == kDLBfloat && t.bits == 16)
      return MOERT_BF16;
    if (t.code == kDLInt && t.bits == 32)
      return MOERT_I32;
  }
  fail(MOERT_INVALID_ARGUMENT, what + " has a DLPack dtype (code " + std::to_string(t.code) +
                               ", " + std::to_string(t.bits) + " bits, " +
                               std::to_string(t.lanes) +
                               " lanes) that moec does not take (float32, float16, "
                               "bfloat16 or int32)");
}

/// A DLPack tensor's dtype, shape, data and bytes (in place), checked: a
/// dtype moec takes, a rank it takes, row-major and compact.
moert_tensor_t viewOf(const DLTensor &t, const std::string &what) {
  Borrowed b;
  b.tensor.dtype = dtypeOfDl(t.dtype, what);
  setShape(b, what, static_cast<size_t>(t.ndim), t.shape);
  if (!rowMajor(static_cast<size_t>(t.ndim), t.shape, t.strides))
    fail(MOERT_INVALID_ARGUMENT,
         what + " is not row-major and contiguous (call .contiguous() on a torch tensor or "
                "numpy.ascontiguousarray on an array): moec reads tensors in place");
  b.tensor.data = static_cast<char *>(t.data) + t.byte_offset;
  b.tensor.bytes = elementCount(b.tensor) * moert_dtype_size(b.tensor.dtype);
  return b.tensor;
}

Borrowed borrowDlpack(py::handle obj, const std::string &what, bool writable) {
  (void)writable; // DLPack 0.6 carries no read-only flag
  Borrowed b;
  b.managed = consume(obj.attr("__dlpack__")(), what);
  const DLTensor &t = b.managed.p->dl_tensor;
  if (t.device.device_type != kDLCPU)
    fail(MOERT_INVALID_ARGUMENT,
         what + " is on device type " + std::to_string(t.device.device_type) +
             ", not the CPU: give every input and output on the CPU (Session.run), or every "
             "one on the GPU (CUDA tensors: Session.enqueue)");
  b.tensor = viewOf(t, what);
  return b;
}

Borrowed borrowBuffer(py::handle obj, const std::string &what, bool writable) {
  py::buffer buf = py::reinterpret_borrow<py::buffer>(obj);
  py::buffer_info info = buf.request(writable);
  Borrowed b;
  const std::string &f = info.format;
  if (f == "f" && info.itemsize == 4)
    b.tensor.dtype = MOERT_F32;
  else if (f == "e" && info.itemsize == 2)
    b.tensor.dtype = MOERT_F16;
  else if ((f == "i" || f == "l") && info.itemsize == 4)
    b.tensor.dtype = MOERT_I32;
  else
    fail(MOERT_INVALID_ARGUMENT,
         what + " has element format '" + f + "' (" + std::to_string(info.itemsize) +
             " bytes); moec takes float32, float16 and int32 arrays (bfloat16 as a torch "
             "tensor), as the function declares: convert with .astype(...)");
  std::vector<int64_t> shape(info.shape.begin(), info.shape.end());
  std::vector<int64_t> strides;
  for (size_t i = 0; i < info.strides.size(); ++i) {
    if (info.strides[i] % info.itemsize != 0)
      fail(MOERT_INVALID_ARGUMENT, what + " has strides that are not whole elements");
    strides.push_back(info.strides[i] / info.itemsize);
  }
  setShape(b, what, shape.size(), shape.data());
  if (!rowMajor(shape.size(), shape.data(), strides.data()))
    fail(MOERT_INVALID_ARGUMENT, what + " is not C-contiguous (numpy.ascontiguousarray makes "
                                    "it so): moec reads arrays in place");
  b.tensor.data = info.ptr;
  b.tensor.bytes = elementCount(b.tensor) * moert_dtype_size(b.tensor.dtype);
  b.buffer = std::move(info);
  return b;
}

/// `take()`, with an array's own refusal to export (a read-only output, a
/// tensor that requires grad) raised as moec.Error naming the tensor.
/// Anything else (an interrupt, memory) goes on as it is.
template <typename Take>
auto refusalsAsErrors(const std::string &what, Take take) -> decltype(take()) {
  try {
    return take();
  } catch (py::error_already_set &e) {
    if (!refusal(e))
      throw;
    fail(MOERT_INVALID_ARGUMENT, what + ": " + e.what());
  }
}

/// The caller's tensor: the buffer protocol for NumPy arrays and the like (it
/// says whether an array is read-only), DLPack for the rest (torch tensors).
Borrowed borrow(py::handle obj, const std::string &what, bool writable) {
  if (PyObject_CheckBuffer(obj.ptr()))
    return refusalsAsErrors(what, [&] { return borrowBuffer(obj, what, writable); });
  if (py::hasattr(obj, "__dlpack__"))
    return refusalsAsErrors(what, [&] { return borrowDlpack(obj, what, writable); });
  fail(MOERT_INVALID_ARGUMENT, what + " is a " +
                               std::string(py::str(py::type::handle_of(obj).attr("__name__"))) +
                               ", neither an array (buffer protocol) nor a DLPack tensor");
}

/// A CUDA tensor the caller passed (DLPack), seen as a moert_device_tensor_t
/// over its device memory; the managed tensor is released when done.
struct BorrowedDevice {
  moert_device_tensor_t tensor{};
  Managed managed;
};

BorrowedDevice takeDevice(py::handle obj, const std::string &what, uintptr_t stream) {
  if (!py::hasattr(obj, "__dlpack__") || !py::hasattr(obj, "__dlpack_device__"))
    fail(MOERT_INVALID_ARGUMENT, what + " is not a DLPack tensor (a CUDA torch tensor, say)");
  py::tuple device = obj.attr("__dlpack_device__")();
  if (device.size() != 2 || device[0].cast<int>() != kDLCUDA)
    fail(MOERT_INVALID_ARGUMENT, what + " is not in a GPU's memory (DLPack device type " +
                                     std::string(py::str(device[0])) +
                                     "): enqueue takes CUDA tensors; run takes CPU ones");
  // DLPack's stream argument: the consumer's stream, on which the producer
  // orders its pending work (1: the legacy default stream).
  BorrowedDevice b;
  b.managed = consume(obj.attr("__dlpack__")(py::arg("stream") = stream ? stream : 1), what);
  const DLTensor &t = b.managed.p->dl_tensor;
  moert_tensor_t v = viewOf(t, what);
  b.tensor.device_type = MOERT_DEVICE_CUDA;
  b.tensor.device_id = t.device.device_id;
  b.tensor.dtype = v.dtype;
  b.tensor.rank = v.rank;
  std::copy(v.shape, v.shape + v.rank, b.tensor.shape);
  b.tensor.data = v.data;
  b.tensor.bytes = v.bytes;
  b.tensor.strides = nullptr; // row-major, checked by viewOf
  return b;
}

BorrowedDevice borrowDevice(py::handle obj, const std::string &what, uintptr_t stream) {
  return refusalsAsErrors(what, [&] { return takeDevice(obj, what, stream); });
}

/// Enqueues `function` on the caller's CUDA stream with device tensors
/// (moert_session_enqueue): no synchronization, nothing copied to the host.
void enqueue(SessionHandle &s, const std::optional<std::string> &function,
             const py::sequence &inputs, const py::sequence &outputs, const py::sequence &aux,
             uintptr_t stream) {
  std::vector<BorrowedDevice> in, out, auxB;
  std::vector<moert_device_tensor_t> inT, outT, auxT;
  // Auxiliary outputs: one per aux output of the function, None where not
  // wanted (NULL data), or none at all.
  for (size_t i = 0; i < aux.size(); ++i) {
    if (aux[i].is_none()) {
      auxT.push_back(moert_device_tensor_t{});
      continue;
    }
    auxB.push_back(borrowDevice(aux[i], describe("aux output", i), stream));
    auxT.push_back(auxB.back().tensor);
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    in.push_back(borrowDevice(inputs[i], describe("input", i), stream));
    inT.push_back(in.back().tensor);
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    out.push_back(borrowDevice(outputs[i], describe("output", i), stream));
    outT.push_back(out.back().tensor);
  }
  moert_status_t *status;
  {
    py::gil_scoped_release release;
    status = moert_session_enqueue_aux(s.session, function ? function->c_str() : nullptr,
                                       inT.data(), inT.size(), outT.data(), outT.size(),
                                       auxT.data(), auxT.size(), reinterpret_cast<void *>(stream));
  }
  check(status);
}

/// A copy of a runtime view as a NumPy array (f32, f16, i32; bf16 as uint16 bits).
py::array copyToNumpy(const moert_tensor_t &view) {
  std::vector<py::ssize_t> shape(view.shape, view.shape + view.rank);
  py::dtype dt = view.dtype == MOERT_F32   ? py::dtype("float32")
                 : view.dtype == MOERT_F16 ? py::dtype("float16")
                 : view.dtype == MOERT_I32 ? py::dtype("int32")
                                           : py::dtype("uint16");
  py::array out(dt, shape);
  std::memcpy(out.mutable_data(), view.data, elementCount(view) * moert_dtype_size(view.dtype));
  return out;
}

std::string shapeText(const int64_t *shape, int32_t rank) {
  std::string s = "[";
  for (int32_t i = 0; i < rank; ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// Checks the caller's outputs against the function's, at the T of the
/// inputs (the first input with a token dimension), before the run writes
/// into them: the runtime itself checks only that each holds enough bytes.
void checkOutputs(moert_model_t *model, size_t function, const std::vector<moert_tensor_t> &inputs,
                  const std::vector<moert_tensor_t> &outputs) {
  size_t n = moert_model_num_tensors(model, function, MOERT_TENSOR_OUTPUT);
  if (outputs.size() != n)
    fail(MOERT_INVALID_ARGUMENT, std::to_string(outputs.size()) + " outputs given, the function has " +
                                     std::to_string(n));
  int64_t T = -1;
  size_t numInputs = moert_model_num_tensors(model, function, MOERT_TENSOR_INPUT);
  for (size_t i = 0; i < numInputs && i < inputs.size() && T < 0; ++i) {
    moert_tensor_info_t info;
    check(moert_model_tensor_info(model, function, MOERT_TENSOR_INPUT, i, &info));
    for (int32_t d = 0; d < info.rank && d < inputs[i].rank; ++d)
      if (info.shape[d] < 0) {
        T = inputs[i].shape[d];
        break;
      }
  }
  if (T < 0)
    T = 1; // no input has a token dimension
  for (size_t i = 0; i < n; ++i) {
    moert_tensor_info_t info;
    check(moert_model_tensor_info(model, function, MOERT_TENSOR_OUTPUT, i, &info));
    int64_t want[MOERT_MAX_RANK];
    for (int32_t d = 0; d < info.rank; ++d)
      want[d] = info.shape[d] < 0 ? T : info.shape[d];
    const moert_tensor_t &got = outputs[i];
    if (got.dtype != info.dtype || got.rank != info.rank ||
        !std::equal(want, want + info.rank, got.shape))
      fail(MOERT_INVALID_ARGUMENT,
           describe("output", i) + " ('" + info.name + "') is " + dtypeName(got.dtype) + " " +
               shapeText(got.shape, got.rank) + "; the function writes " + dtypeName(info.dtype) +
               " " + shapeText(want, info.rank) + " at T = " + std::to_string(T));
  }
}

size_t findFunction(moert_model_t *model, const std::optional<std::string> &name) {
  size_t index = 0;
  check(moert_model_find_function(model, name ? name->c_str() : nullptr, &index));
  return index;
}

py::list tensorInfos(moert_model_t *model, size_t function, moert_tensor_kind_t kind) {
  py::list out;
  size_t n = moert_model_num_tensors(model, function, kind);
  for (size_t i = 0; i < n; ++i) {
    moert_tensor_info_t info;
    check(moert_model_tensor_info(model, function, kind, i, &info));
    out.append(tensorInfo(info));
  }
  return out;
}

std::shared_ptr<ModelHandle> loadModel(const std::string &path, const std::string &verify,
                                       uint64_t memoryBudget) {
  moert_load_options_t options;
  moert_load_options_init(&options);
  if (verify == "full")
    options.verify = MOERT_VERIFY_FULL;
  else if (verify == "lazy")
    options.verify = MOERT_VERIFY_LAZY;
  else
    fail(MOERT_INVALID_ARGUMENT, "verify must be 'full' or 'lazy', not '" + verify + "'");
  options.memory_budget = memoryBudget;
  moert_model_t *model = nullptr;
  moert_status_t *status;
  {
    py::gil_scoped_release release;
    status = moert_model_load_file_with(path.c_str(), &options, &model);
  }
  check(status);
  return std::make_shared<ModelHandle>(model);
}

std::shared_ptr<SessionHandle> createSession(std::shared_ptr<ModelHandle> model,
                                             const std::string &device, int32_t threads,
                                             std::shared_ptr<CommHandle> comm,
                                             const std::optional<std::vector<int32_t>> &placement) {
  moert_session_options_t options;
  moert_session_options_init(&options);
  options.threads = threads;
  if (comm)
    options.communicator = comm->comm;
  if (placement) {
    options.placement = placement->data();
    options.placement_size = placement->size();
  }
  moert_session_t *session = nullptr;
  moert_status_t *status;
  {
    // A rank's creation is a collective: the other ranks' threads must run.
    py::gil_scoped_release release;
    status = moert_session_create(model->model, device.c_str(), &options, &session);
  }
  check(status);
  return std::make_shared<SessionHandle>(std::move(model), session,
                                         comm ? comm->owner : nullptr);
}

std::shared_ptr<CommOwner> localGroup(int32_t ranks, int32_t timeoutMs) {
  auto owner = std::make_shared<CommOwner>();
  check(moert_local_group_create(ranks, timeoutMs, &owner->group));
  return owner;
}

std::shared_ptr<CommHandle> localCommunicator(std::shared_ptr<CommOwner> owner, int32_t rank) {
  const moert_communicator_t *c =
      owner->group ? moert_local_group_communicator(owner->group, rank) : nullptr;
  if (!c)
    fail(MOERT_INVALID_ARGUMENT, "rank " + std::to_string(rank) + " is not a rank of the group");
  return std::make_shared<CommHandle>(CommHandle{std::move(owner), c});
}

py::bytes ncclUniqueId() {
  uint8_t id[MOERT_NCCL_UNIQUE_ID_BYTES];
  check(moert_nccl_unique_id(id));
  return py::bytes(reinterpret_cast<const char *>(id), sizeof id);
}

std::shared_ptr<CommHandle> ncclRank(const py::bytes &id, int32_t rank, int32_t ranks,
                                     int32_t device, int32_t timeoutMs) {
  std::string bytes = id;
  if (bytes.size() != MOERT_NCCL_UNIQUE_ID_BYTES)
    fail(MOERT_INVALID_ARGUMENT, "an NCCL unique id has " +
                                     std::to_string(MOERT_NCCL_UNIQUE_ID_BYTES) +
                                     " bytes, got " + std::to_string(bytes.size()));
  auto owner = std::make_shared<CommOwner>();
  moert_status_t *status;
  {
    // A collective: every rank's thread must get there.
    py::gil_scoped_release release;
    status = moert_nccl_create(reinterpret_cast<const uint8_t *>(bytes.data()), rank, ranks,
                               device, timeoutMs, &owner->nccl);
  }
  check(status);
  const moert_communicator_t *c = moert_nccl_communicator(owner->nccl);
  return std::make_shared<CommHandle>(CommHandle{std::move(owner), c});
}

/// Runs `function` on `inputs`, writing into `outputs` (the caller's tensors,
/// in place) when given; returns None then, else copies of the outputs.
py::object run(SessionHandle &s, const std::optional<std::string> &function,
               const py::sequence &inputs, const std::optional<py::sequence> &outputs) {
  size_t index = findFunction(s.model->model, function);
  std::vector<Borrowed> in;
  in.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i)
    in.push_back(borrow(inputs[i], describe("input", i), /*writable=*/false));
  std::vector<moert_tensor_t> inTensors;
  for (auto &b : in)
    inTensors.push_back(b.tensor);
  std::vector<Borrowed> out;
  std::vector<moert_tensor_t> outTensors;
  if (outputs) {
    for (size_t i = 0; i < outputs->size(); ++i) {
      out.push_back(borrow((*outputs)[i], describe("output", i), /*writable=*/true));
      outTensors.push_back(out.back().tensor);
    }
    checkOutputs(s.model->model, index, inTensors, outTensors);
  }
  moert_status_t *status;
  {
    py::gil_scoped_release release;
    status = moert_session_run_index(s.session, index, inTensors.data(), inTensors.size(),
                                     outputs ? outTensors.data() : nullptr, outTensors.size());
  }
  check(status);
  if (outputs)
    return py::none();
  py::list result;
  size_t n = moert_model_num_tensors(s.model->model, index, MOERT_TENSOR_OUTPUT);
  for (size_t i = 0; i < n; ++i) {
    moert_tensor_t view;
    check(moert_session_output(s.session, i, &view));
    if (view.dtype == MOERT_BF16)
      fail(MOERT_UNSUPPORTED, describe("output", i) +
                              " is bf16, which NumPy has no type for: pass out= (a torch "
                              "bfloat16 tensor) to run");
    result.append(copyToNumpy(view));
  }
  return std::move(result);
}

py::dict auxOutputs(SessionHandle &s) {
  size_t function = 0;
  if (!moert_session_last_run(s.session, &function, nullptr))
    fail(MOERT_FAILED_PRECONDITION, "the session has no successful run yet");
  py::dict out;
  size_t n = moert_model_num_tensors(s.model->model, function, MOERT_TENSOR_AUX_OUTPUT);
  for (size_t i = 0; i < n; ++i) {
    moert_tensor_info_t info;
    check(moert_model_tensor_info(s.model->model, function, MOERT_TENSOR_AUX_OUTPUT, i, &info));
    moert_tensor_t view;
    check(moert_session_aux_output(s.session, i, &view));
    out[info.name] = copyToNumpy(view);
  }
  return out;
}

} // namespace

PYBIND11_MODULE(_moec, m) {
  m.doc() = "moec's runtime (libmoert) from Python: see the package moec";
  static py::exception<StatusError> error(m, "Error", PyExc_RuntimeError);
  gErrorType = error.ptr();
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p)
        std::rethrow_exception(p);
    } catch (const StatusError &e) {
      py::object exc = py::reinterpret_borrow<py::object>(gErrorType)(e.message);
      exc.attr("code") = e.code;
      PyErr_SetObject(gErrorType, exc.ptr());
    }
  });

  m.def("version", [] { return std::string(moert_version()); });
  m.def("backends", [] { return std::string(moert_backends()); });
  m.def("format_version", [] { return moert_format_version(); });

  py::class_<ModelHandle, std::shared_ptr<ModelHandle>>(m, "_Model")
      .def_property_readonly("max_tokens",
                             [](ModelHandle &h) { return moert_model_max_tokens(h.model); })
      .def_property_readonly("producer",
                             [](ModelHandle &h) { return std::string(moert_model_producer(h.model)); })
      .def_property_readonly("target",
                             [](ModelHandle &h) { return std::string(moert_model_target(h.model)); })
      .def_property_readonly("functions",
                             [](ModelHandle &h) {
                               std::vector<std::string> names;
                               size_t n = moert_model_num_functions(h.model);
                               for (size_t i = 0; i < n; ++i)
                                 names.emplace_back(moert_model_function_name(h.model, i));
                               return names;
                             })
      .def("tensors", [](ModelHandle &h, const std::optional<std::string> &function,
                         const std::string &kind) {
        moert_tensor_kind_t k;
        if (kind == "input")
          k = MOERT_TENSOR_INPUT;
        else if (kind == "output")
          k = MOERT_TENSOR_OUTPUT;
        else if (kind == "aux")
          k = MOERT_TENSOR_AUX_OUTPUT;
        else
          fail(MOERT_INVALID_ARGUMENT, "kind must be 'input', 'output' or 'aux'");
        return tensorInfos(h.model, findFunction(h.model, function), k);
      });
  m.def("load", &loadModel, py::arg("path"), py::arg("verify") = "full",
        py::arg("memory_budget") = 0);

  py::class_<SessionHandle, std::shared_ptr<SessionHandle>>(m, "_Session")
      .def_property_readonly("threads",
                             [](SessionHandle &s) { return moert_session_num_threads(s.session); })
      .def("run", &run, py::arg("function"), py::arg("inputs"), py::arg("outputs"))
      .def("aux_outputs", &auxOutputs)
      .def("enqueue", &enqueue, py::arg("function"), py::arg("inputs"), py::arg("outputs"),
           py::arg("aux"), py::arg("stream"))
      .def("device_error",
           [](SessionHandle &s, uintptr_t stream) {
             moert_status_t *status;
             {
               py::gil_scoped_release release;
               status = moert_session_device_error(s.session, reinterpret_cast<void *>(stream));
             }
             check(status);
           })
      .def("set_router_noise",
           [](SessionHandle &s, bool enabled, uint64_t seed) {
             check(moert_session_set_router_noise(s.session, enabled ? 1 : 0, seed));
           })
      .def("last_run", [](SessionHandle &s) -> py::object {
        size_t function = 0;
        int64_t tokens = 0;
        if (!moert_session_last_run(s.session, &function, &tokens))
          return py::none();
        return py::make_tuple(
            std::string(moert_model_function_name(s.model->model, function)), tokens);
      });
  m.def("create_session", &createSession, py::arg("model"), py::arg("device") = "cpu",
        py::arg("threads") = 0, py::arg("communicator") = nullptr,
        py::arg("placement") = std::nullopt);

  py::class_<CommOwner, std::shared_ptr<CommOwner>>(m, "_CommOwner");
  py::class_<CommHandle, std::shared_ptr<CommHandle>>(m, "_Communicator")
      .def_property_readonly("rank", [](const CommHandle &c) { return c.comm->rank; })
      .def_property_readonly("size", [](const CommHandle &c) { return c.comm->size; });
  m.def("local_group", &localGroup, py::arg("ranks"), py::arg("timeout_ms"));
  m.def("local_communicator", &localCommunicator, py::arg("group"), py::arg("rank"));
  m.def("nccl_unique_id", &ncclUniqueId);
  m.def("nccl_rank", &ncclRank, py::arg("id"), py::arg("rank"), py::arg("ranks"),
        py::arg("device"), py::arg("timeout_ms"));
}
