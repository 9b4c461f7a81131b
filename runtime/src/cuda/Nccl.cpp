//===- Nccl.cpp - the NCCL communicator (moert_nccl_t) ----------------------===//
//
// The few NCCL types, constants and entry points used are declared here with
// the values of nccl.h, which the build does not need: libmoert links no
// NCCL (docs/parallelism.md, "Communicators").
//
//===----------------------------------------------------------------------===//
#include "Nccl.h"

#include "CudaApi.h"
#include "DeviceWeights.h" // alignDevice

#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace moert::rt::cuda {

namespace {

using ncclResult_t = int;
using ncclComm_t = struct ncclComm *;
struct ncclUniqueId {
  char internal[MOERT_NCCL_UNIQUE_ID_BYTES];
};
constexpr ncclResult_t ncclSuccess = 0;
constexpr ncclResult_t ncclInProgress = 7;
constexpr int ncclUint8 = 1;

struct NcclApi {
  ncclResult_t (*ncclGetUniqueId)(ncclUniqueId *);
  ncclResult_t (*ncclCommInitRank)(ncclComm_t *, int, ncclUniqueId, int);
  ncclResult_t (*ncclCommDestroy)(ncclComm_t);
  ncclResult_t (*ncclCommAbort)(ncclComm_t);
  ncclResult_t (*ncclCommGetAsyncError)(ncclComm_t, ncclResult_t *);
  const char *(*ncclGetErrorString)(ncclResult_t);
  ncclResult_t (*ncclCommCount)(ncclComm_t, int *);
  ncclResult_t (*ncclCommUserRank)(ncclComm_t, int *);
  ncclResult_t (*ncclCommCuDevice)(ncclComm_t, int *);
  ncclResult_t (*ncclSend)(const void *, size_t, int, int, ncclComm_t, CUstream);
  ncclResult_t (*ncclRecv)(void *, size_t, int, int, ncclComm_t, CUstream);
  ncclResult_t (*ncclGroupStart)();
  ncclResult_t (*ncclGroupEnd)();
};

Status loadNcclOnce(NcclApi *api) {
  // The process's own NCCL first (PyTorch loads one), then the system's.
  void *lib = ::dlopen("libnccl.so.2", RTLD_NOW | RTLD_NOLOAD);
  std::string tried;
  if (!lib)
    lib = openFirst({"libnccl.so.2", "libnccl.so"}, &tried);
  if (!lib)
    return error(MOERT_UNSUPPORTED, "cannot open NCCL (", tried,
                 "); install NCCL (libnccl2) or put libnccl.so.2 on LD_LIBRARY_PATH");
  std::string missing;
  bind(lib, "ncclGetUniqueId", api->ncclGetUniqueId, &missing);
  bind(lib, "ncclCommInitRank", api->ncclCommInitRank, &missing);
  bind(lib, "ncclCommDestroy", api->ncclCommDestroy, &missing);
  bind(lib, "ncclCommAbort", api->ncclCommAbort, &missing);
  bind(lib, "ncclCommGetAsyncError", api->ncclCommGetAsyncError, &missing);
  bind(lib, "ncclGetErrorString", api->ncclGetErrorString, &missing);
  bind(lib, "ncclCommCount", api->ncclCommCount, &missing);
  bind(lib, "ncclCommUserRank", api->ncclCommUserRank, &missing);
  bind(lib, "ncclCommCuDevice", api->ncclCommCuDevice, &missing);
  bind(lib, "ncclSend", api->ncclSend, &missing);
  bind(lib, "ncclRecv", api->ncclRecv, &missing);
  bind(lib, "ncclGroupStart", api->ncclGroupStart, &missing);
  bind(lib, "ncclGroupEnd", api->ncclGroupEnd, &missing);
  if (!missing.empty())
    return error(MOERT_UNSUPPORTED, "NCCL lacks ", missing, " (NCCL 2.7 or newer is needed)");
  return Status();
}

/// NCCL, and the CUDA driver with the entry points a round needs.
Status load(const Api **cuda, const NcclApi **nccl) {
  static NcclApi api;
  static Status outcome;
  static std::once_flag once;
  std::call_once(once, [] { outcome = loadNcclOnce(&api); });
  if (!outcome)
    return outcome;
  if (Status s = load(cuda); !s)
    return s;
  if (!(*cuda)->cuStreamQuery || !(*cuda)->cuPointerGetAttribute)
    return error(MOERT_UNSUPPORTED, "the CUDA driver lacks cuStreamQuery or "
                 "cuPointerGetAttribute, which the NCCL communicator needs");
  *nccl = &api;
  return Status();
}

std::string ncclName(const NcclApi &api, ncclResult_t r) {
  const char *text = api.ncclGetErrorString ? api.ncclGetErrorString(r) : nullptr;
  return std::string(text ? text : "NCCL error") + " (" + std::to_string(r) + ")";
}

Status ncclError(const NcclApi &api, ncclResult_t r, const std::string &what) {
  return error(MOERT_EXECUTION_ERROR, what, " failed: ", ncclName(api, r));
}

int ncclExchange(void *context, const moert_message_t *sends, size_t numSends,
                 const moert_message_t *recvs, size_t numRecvs, char *error,
                 size_t errorBytes);
void ncclAbort(void *context, const char *reason);

} // namespace

} // namespace moert::rt::cuda

using namespace moert::rt;
using namespace moert::rt::cuda;

struct moert_nccl {
  const Api *cuda = nullptr;
  const NcclApi *nccl = nullptr;
  ncclComm_t comm = nullptr;
  bool owned = true; // moert_nccl_create's, destroyed by moert_nccl_free
  int32_t rank = 0, size = 0, device = 0;
  CUdevice dev = 0;
  CUcontext context = nullptr; // the GPU's primary context, retained
  CUstream stream = nullptr;
  // Host messages' bytes on the device, each at a multiple of kDeviceAlign.
  CUdeviceptr bounce = 0;
  size_t bounceBytes = 0;
  std::chrono::milliseconds timeout{0};
  bool broken = false;
  std::string cause;
  moert_communicator_t base{};
  std::vector<size_t> staged; // per message: its offset in bounce, or SIZE_MAX

  ~moert_nccl() {
    if (context)
      cuda->cuCtxSetCurrent(context);
    if (comm && owned)
      nccl->ncclCommDestroy(comm);
    if (stream)
      cuda->cuStreamDestroy(stream);
    if (bounce)
      cuda->cuMemFree(bounce);
    if (context)
      cuda->cuDevicePrimaryCtxRelease(dev);
  }

  /// The stream and the base communicator, once comm, rank, size and device
  /// are set.
  Status open() {
    if (!context) { // moert_nccl_create retained it already
      if (Status s = check(cuda->cuDeviceGet(&dev, device), "cuDeviceGet"); !s)
        return s;
      if (Status s = check(cuda->cuDevicePrimaryCtxRetain(&context, dev),
                           "cuDevicePrimaryCtxRetain");
          !s)
        return s;
    }
    if (Status s = check(cuda->cuCtxSetCurrent(context), "cuCtxSetCurrent"); !s)
      return s;
    if (Status s = check(cuda->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
        !s)
      return s;
    base = moert_communicator_t{rank, size, this, ncclExchange, ncclAbort};
    return Status();
  }

  Status check(CUresult r, const std::string &what) const {
    return r == CUDA_SUCCESS ? Status() : driverError(*cuda, r, what);
  }

  /// After a failure: no later round runs on this NCCL communicator.
  void breakWith(const std::string &why) {
    if (!broken)
      cause = why;
    broken = true;
    if (comm) {
      nccl->ncclCommAbort(comm); // frees it, a wrapped one too
      comm = nullptr;
    }
  }

  Status round(const moert_message_t *sends, size_t numSends, const moert_message_t *recvs,
               size_t numRecvs) {
    if (broken)
      return error(MOERT_EXECUTION_ERROR, "the NCCL communicator failed earlier: ", cause);
    if (Status s = check(cuda->cuCtxSetCurrent(context), "cuCtxSetCurrent"); !s)
      return s;
    // Where each message lies: this GPU's memory as it is, host memory
    // through the bounce buffer.
    size_t n = numSends + numRecvs, total = 0;
    staged.assign(n, SIZE_MAX);
    for (size_t i = 0; i < n; ++i) {
      const moert_message_t &m = i < numSends ? sends[i] : recvs[i - numSends];
      if (m.peer < 0 || m.peer >= size)
        return error(MOERT_INVALID_ARGUMENT, "a message names rank ", m.peer, " of ", size);
      if (m.bytes == 0)
        continue;
      // Device memory (not page-locked host memory, which the driver knows
      // too: the host arena's staging ranges are registered).
      unsigned type = 0;
      int ordinal = -1;
      CUdeviceptr p = reinterpret_cast<uintptr_t>(m.data);
      if (cuda->cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, p) ==
              CUDA_SUCCESS &&
          type == CU_MEMORYTYPE_DEVICE) {
        if (cuda->cuPointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, p) !=
                CUDA_SUCCESS ||
            ordinal != device)
          return error(MOERT_INVALID_ARGUMENT, "a message's data lies on cuda:", ordinal,
                       ", this NCCL rank's GPU is cuda:", device);
        continue;
      }
      staged[i] = total;
      total += alignDevice(m.bytes);
    }
    if (total > bounceBytes) {
      if (bounce)
        cuda->cuMemFree(bounce);
      bounce = 0;
      bounceBytes = 0;
      if (Status s = check(cuda->cuMemAlloc(&bounce, total),
                           "cuMemAlloc of the NCCL communicator's " + std::to_string(total) +
                               "-byte buffer for host messages");
          !s)
        return s;
      bounceBytes = total;
    }
    auto at = [&](size_t i, const moert_message_t &m) -> void * {
      return staged[i] == SIZE_MAX ? m.data : reinterpret_cast<void *>(bounce + staged[i]);
    };
    for (size_t i = 0; i < numSends; ++i)
      if (staged[i] != SIZE_MAX)
        if (Status s = check(cuda->cuMemcpyHtoDAsync(bounce + staged[i], sends[i].data,
                                                      sends[i].bytes, stream),
                             "cuMemcpyHtoDAsync of a host message");
            !s)
          return s;
    // One group: NCCL matches the i-th send to a peer with that peer's i-th
    // receive from this rank.
    if (ncclResult_t r = nccl->ncclGroupStart(); r != ncclSuccess)
      return ncclError(*nccl, r, "ncclGroupStart");
    Status posted;
    for (size_t i = 0; i < numSends && posted; ++i)
      if (sends[i].bytes)
        if (ncclResult_t r = nccl->ncclSend(at(i, sends[i]), sends[i].bytes, ncclUint8,
                                            sends[i].peer, comm, stream);
            r != ncclSuccess)
          posted = ncclError(*nccl, r, "ncclSend to rank " + std::to_string(sends[i].peer));
    for (size_t i = 0; i < numRecvs && posted; ++i)
      if (recvs[i].bytes)
        if (ncclResult_t r = nccl->ncclRecv(at(numSends + i, recvs[i]), recvs[i].bytes,
                                            ncclUint8, recvs[i].peer, comm, stream);
            r != ncclSuccess)
          posted = ncclError(*nccl, r, "ncclRecv from rank " + std::to_string(recvs[i].peer));
    ncclResult_t ended = nccl->ncclGroupEnd();
    if (!posted) {
      breakWith(posted.message());
      return posted;
    }
    if (ended != ncclSuccess && ended != ncclInProgress) {
      Status s = ncclError(*nccl, ended, "ncclGroupEnd");
      breakWith(s.message());
      return s;
    }
    // The wait, with a deadline: NCCL waits forever for a peer that never
    // comes. The host receives are copied out only after it (a copy into
    // pageable memory blocks until it is done, and this one would wait for
    // the peer).
    if (Status s = wait(); !s)
      return s;
    bool copied = false;
    for (size_t i = 0; i < numRecvs; ++i)
      if (staged[numSends + i] != SIZE_MAX) {
        copied = true;
        if (Status s = check(cuda->cuMemcpyDtoHAsync(recvs[i].data, bounce + staged[numSends + i],
                                                      recvs[i].bytes, stream),
                             "cuMemcpyDtoHAsync of a host message");
            !s) {
          breakWith(s.message());
          return s;
        }
      }
    if (copied)
      if (Status s = check(cuda->cuStreamSynchronize(stream),
                           "cuStreamSynchronize (the host messages of an NCCL round)");
          !s) {
        breakWith(s.message());
        return s;
      }
    return Status();
  }

  /// Until the round's work on the stream is done, NCCL reports an error,
  /// or the deadline passes.
  Status wait() {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      CUresult r = cuda->cuStreamQuery(stream);
      if (r != CUDA_SUCCESS && r != CUDA_ERROR_NOT_READY) {
        Status s = driverError(*cuda, r, "cuStreamQuery (an NCCL round)");
        breakWith(s.message());
        return s;
      }
      ncclResult_t async = ncclSuccess;
      if (nccl->ncclCommGetAsyncError(comm, &async) == ncclSuccess && async != ncclSuccess &&
          async != ncclInProgress) {
        Status s = error(MOERT_EXECUTION_ERROR, "rank ", rank, ": NCCL failed in a round: ",
                         ncclName(*nccl, async));
        breakWith(s.message());
        return s;
      }
      if (r == CUDA_SUCCESS)
        return Status();
      if (std::chrono::steady_clock::now() >= deadline) {
        Status s = error(MOERT_EXECUTION_ERROR, "rank ", rank, " waited ", timeout.count(),
                         " ms in an NCCL round for ranks that never came (NCCL communicator "
                         "aborted)");
        breakWith(s.message());
        return s;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
};

namespace moert::rt::cuda {

namespace {

int ncclExchange(void *context, const moert_message_t *sends, size_t numSends,
                 const moert_message_t *recvs, size_t numRecvs, char *error,
                 size_t errorBytes) {
  Status s;
  try {
    s = static_cast<moert_nccl *>(context)->round(sends, numSends, recvs, numRecvs);
  } catch (const std::bad_alloc &) {
    s = moert::rt::error(MOERT_OUT_OF_MEMORY, "out of memory in an NCCL round");
  } catch (...) {
    s = moert::rt::error(MOERT_INTERNAL, "unexpected exception in an NCCL round");
  }
  if (s)
    return 0;
  if (error && errorBytes)
    std::snprintf(error, errorBytes, "%s", s.message().c_str());
  return 1;
}

void ncclAbort(void *context, const char *reason) {
  static_cast<moert_nccl *>(context)->breakWith(std::string("aborted: ") +
                                                (reason ? reason : "no reason given"));
}

} // namespace

int32_t ncclDeviceOf(const moert_communicator_t &c) {
  return c.exchange == ncclExchange ? static_cast<const moert_nccl *>(c.context)->device : -1;
}

} // namespace moert::rt::cuda

namespace {

/// A communicator to be opened: the timeout checked, NCCL and the driver
/// loaded.
Status start(int32_t timeoutMs, std::unique_ptr<moert_nccl> *out) {
  if (timeoutMs < 1)
    return error(MOERT_INVALID_ARGUMENT, "the NCCL communicator's timeout must be at least "
                 "1 ms, got ", timeoutMs);
  auto nccl = std::make_unique<moert_nccl>();
  if (Status s = load(&nccl->cuda, &nccl->nccl); !s)
    return s;
  nccl->timeout = std::chrono::milliseconds(timeoutMs);
  *out = std::move(nccl);
  return Status();
}

/// `nccl` (comm, rank, size, device set) opened and handed out.
moert_status_t *finish(std::unique_ptr<moert_nccl> nccl, moert_nccl_t **out) {
  if (Status s = nccl->open(); !s)
    return toC(s);
  *out = nccl.release();
  return nullptr;
}

} // namespace

moert_status_t *moert_nccl_unique_id(uint8_t id[MOERT_NCCL_UNIQUE_ID_BYTES]) {
  if (!id)
    return toC(MOERT_INVALID_ARGUMENT, "id is NULL");
  const Api *cuda = nullptr;
  const NcclApi *nccl = nullptr;
  if (Status s = load(&cuda, &nccl); !s)
    return toC(s);
  ncclUniqueId u;
  if (ncclResult_t r = nccl->ncclGetUniqueId(&u); r != ncclSuccess)
    return toC(ncclError(*nccl, r, "ncclGetUniqueId"));
  std::memcpy(id, u.internal, sizeof u.internal);
  return nullptr;
}

moert_status_t *moert_nccl_create(const uint8_t id[MOERT_NCCL_UNIQUE_ID_BYTES], int32_t rank,
                                  int32_t ranks, int32_t device, int32_t timeoutMs,
                                  moert_nccl_t **out) {
  if (!out || !id)
    return toC(MOERT_INVALID_ARGUMENT, "id or out is NULL");
  *out = nullptr;
  if (ranks < 1 || rank < 0 || rank >= ranks || device < 0)
    return toC(error(MOERT_INVALID_ARGUMENT, "an NCCL rank needs 0 <= rank < ranks and a GPU, "
                     "got rank ", rank, " of ", ranks, " on cuda:", device));
  try {
    std::unique_ptr<moert_nccl> nccl;
    if (Status s = start(timeoutMs, &nccl); !s)
      return toC(s);
    nccl->rank = rank;
    nccl->size = ranks;
    nccl->device = device;
    // ncclCommInitRank runs on the rank's GPU: its primary context (held
    // by the communicator from here on) current.
    const Api &cuda = *nccl->cuda;
    if (Status s = nccl->check(cuda.cuDeviceGet(&nccl->dev, device),
                               "cuDeviceGet on cuda:" + std::to_string(device));
        !s)
      return toC(s);
    if (Status s = nccl->check(cuda.cuDevicePrimaryCtxRetain(&nccl->context, nccl->dev),
                               "cuDevicePrimaryCtxRetain");
        !s) {
      nccl->context = nullptr;
      return toC(s);
    }
    if (Status s = nccl->check(cuda.cuCtxSetCurrent(nccl->context), "cuCtxSetCurrent"); !s)
      return toC(s);
    ncclUniqueId u;
    std::memcpy(u.internal, id, sizeof u.internal);
    if (ncclResult_t r = nccl->nccl->ncclCommInitRank(&nccl->comm, ranks, u, rank);
        r != ncclSuccess) {
      nccl->comm = nullptr;
      return toC(ncclError(*nccl->nccl, r, "ncclCommInitRank (rank " + std::to_string(rank) +
                                               " of " + std::to_string(ranks) + ")"));
    }
    return finish(std::move(nccl), out);
  } catch (const std::bad_alloc &) {
    return toC(MOERT_OUT_OF_MEMORY, "cannot allocate the NCCL communicator");
  } catch (...) {
    return toC(MOERT_INTERNAL, "unexpected exception creating the NCCL communicator");
  }
}

moert_status_t *moert_nccl_wrap(void *ncclComm, int32_t timeoutMs, moert_nccl_t **out) {
  if (!out || !ncclComm)
    return toC(MOERT_INVALID_ARGUMENT, "nccl_comm or out is NULL");
  *out = nullptr;
  try {
    std::unique_ptr<moert_nccl> nccl;
    if (Status s = start(timeoutMs, &nccl); !s)
      return toC(s);
    nccl->comm = static_cast<ncclComm_t>(ncclComm);
    nccl->owned = false;
    int count = 0, rank = 0, device = 0;
    const NcclApi &api = *nccl->nccl;
    if (ncclResult_t r = api.ncclCommCount(nccl->comm, &count); r != ncclSuccess)
      return toC(ncclError(api, r, "ncclCommCount"));
    if (ncclResult_t r = api.ncclCommUserRank(nccl->comm, &rank); r != ncclSuccess)
      return toC(ncclError(api, r, "ncclCommUserRank"));
    if (ncclResult_t r = api.ncclCommCuDevice(nccl->comm, &device); r != ncclSuccess)
      return toC(ncclError(api, r, "ncclCommCuDevice"));
    nccl->rank = rank;
    nccl->size = count;
    nccl->device = device;
    return finish(std::move(nccl), out);
  } catch (const std::bad_alloc &) {
    return toC(MOERT_OUT_OF_MEMORY, "cannot allocate the NCCL communicator");
  } catch (...) {
    return toC(MOERT_INTERNAL, "unexpected exception creating the NCCL communicator");
  }
}

const moert_communicator_t *moert_nccl_communicator(moert_nccl_t *nccl) {
  return nccl ? &nccl->base : nullptr;
}

int32_t moert_nccl_device(const moert_nccl_t *nccl) { return nccl ? nccl->device : -1; }

void moert_nccl_free(moert_nccl_t *nccl) { delete nccl; }
