//===- FakeNccl.cpp - a stand-in libnccl.so.2 for tests (FakeCuda.h) ------===//
//
// The NCCL entry points libmoert opens (runtime/src/cuda/Nccl.cpp), for ranks
// that are threads of one process on the stand-in driver's "GPUs":
//
// - ncclCommInitRank joins the ranks of one unique id (each waits for the
//   others, as NCCL does);
// - between ncclGroupStart and ncclGroupEnd, ncclSend and ncclRecv are
//   checked (the buffer inside a device allocation, the peer in range) and
//   collected; ncclGroupEnd queues them on their stream: the sends first,
//   each copying its bytes into the mailbox of (this rank, peer), then each
//   receive, which runs once its sender's message is there (cuStreamQuery
//   says CUDA_ERROR_NOT_READY until then) and copies it out; messages
//   between two ranks are matched in order, and a size that differs is an
//   asynchronous error (ncclCommGetAsyncError);
// - ncclCommAbort lets the rank's waiting receives end without data.
//
// Each call is traced as the driver's are.
//
//===----------------------------------------------------------------------===//
#include "FakeCuda.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace {

using ncclResult_t = int;
constexpr ncclResult_t kSuccess = 0, kSystemError = 2, kInvalidArgument = 4, kInvalidUsage = 5;

struct UniqueId {
  char internal[128];
};

struct Group {
  int size = 0;
  std::mutex mu;
  std::condition_variable joined;
  int members = 0;
  /// Messages in flight from rank a to rank b, in order.
  std::map<std::pair<int, int>, std::deque<std::vector<uint8_t>>> box;
};

struct Comm {
  std::shared_ptr<Group> group;
  int rank = 0;
  bool aborted = false;   // under group->mu
  ncclResult_t error = 0; // under group->mu
};

struct P2p {
  bool send;
  uint64_t buffer, bytes;
  int peer;
  std::shared_ptr<Comm> comm;
  void *stream;
};

std::mutex registryMu;
std::map<std::string, std::shared_ptr<Group>> *groups =
    new std::map<std::string, std::shared_ptr<Group>>; // never destroyed
std::map<Comm *, std::shared_ptr<Comm>> *comms = new std::map<Comm *, std::shared_ptr<Comm>>;
int idsMade = 0;

thread_local int depth = 0;
thread_local std::vector<P2p> collected;

std::shared_ptr<Comm> find(void *comm) {
  std::lock_guard<std::mutex> lock(registryMu);
  auto it = comms->find(static_cast<Comm *>(comm));
  return it == comms->end() ? nullptr : it->second;
}

std::string name(const Comm &c) { return "rank " + std::to_string(c.rank); }

/// Queues the collected operations on their streams: sends, then receives.
void flush() {
  std::vector<P2p> ops;
  ops.swap(collected);
  for (int pass = 0; pass < 2; ++pass)
    for (const P2p &op : ops) {
      if (op.send != (pass == 0))
        continue;
      std::shared_ptr<Comm> c = op.comm;
      std::pair<int, int> key = op.send ? std::make_pair(c->rank, op.peer)
                                        : std::make_pair(op.peer, c->rank);
      if (op.send) {
        fakecuda::enqueue(op.stream,
                          "ncclSend " + std::to_string(op.bytes) + " bytes from " +
                              fakecuda::where(op.buffer) + ", " + name(*c) + " to rank " +
                              std::to_string(op.peer),
                          [c, key, op] {
                            const auto *p = reinterpret_cast<const uint8_t *>(op.buffer);
                            std::lock_guard<std::mutex> lock(c->group->mu);
                            c->group->box[key].emplace_back(p, p + op.bytes);
                          });
        continue;
      }
      fakecuda::enqueueWhen(
          op.stream,
          "ncclRecv " + std::to_string(op.bytes) + " bytes to " + fakecuda::where(op.buffer) +
              ", " + name(*c) + " from rank " + std::to_string(op.peer),
          [c, key] {
            std::lock_guard<std::mutex> lock(c->group->mu);
            return c->aborted || !c->group->box[key].empty();
          },
          [c, key, op] {
            std::lock_guard<std::mutex> lock(c->group->mu);
            auto &queue = c->group->box[key];
            if (c->aborted || queue.empty())
              return;
            std::vector<uint8_t> m = std::move(queue.front());
            queue.pop_front();
            if (m.size() != op.bytes) {
              fakecuda::trace("ncclRecv: " + name(*c) + " expected " + std::to_string(op.bytes) +
                              " bytes from rank " + std::to_string(op.peer) + ", got " +
                              std::to_string(m.size()));
              c->error = kInvalidUsage;
            }
            std::memcpy(reinterpret_cast<void *>(op.buffer), m.data(),
                        std::min<size_t>(m.size(), op.bytes));
          });
    }
}

ncclResult_t post(bool send, uint64_t buffer, size_t count, int type, int peer, void *comm,
                  void *stream) {
  const char *entry = send ? "ncclSend" : "ncclRecv";
  std::shared_ptr<Comm> c = find(comm);
  if (!c || !stream)
    return kInvalidArgument;
  if (type != 0 && type != 1) { // ncclInt8 / ncclUint8: what libmoert sends
    fakecuda::trace(std::string(entry) + ": data type " + std::to_string(type) +
                    " (the stand-in takes bytes)");
    return kInvalidArgument;
  }
  if (peer < 0 || peer >= c->group->size || !fakecuda::inside(buffer, count)) {
    fakecuda::trace(std::string(entry) + ": peer " + std::to_string(peer) + " or " +
                    std::to_string(count) + " bytes at " + fakecuda::where(buffer) +
                    " not in device memory");
    return kInvalidArgument;
  }
  collected.push_back({send, buffer, count, peer, c, stream});
  if (depth == 0)
    flush();
  return kSuccess;
}

} // namespace

extern "C" {

ncclResult_t ncclGetUniqueId(UniqueId *id) {
  if (!id)
    return kInvalidArgument;
  std::memset(id->internal, 0, sizeof id->internal);
  std::lock_guard<std::mutex> lock(registryMu);
  std::snprintf(id->internal, sizeof id->internal, "fakenccl-%d", idsMade++);
  fakecuda::trace(std::string("ncclGetUniqueId: ") + id->internal);
  return kSuccess;
}

ncclResult_t ncclCommInitRank(void **comm, int ranks, UniqueId id, int rank) {
  if (!comm || ranks < 1 || rank < 0 || rank >= ranks)
    return kInvalidArgument;
  std::string key(id.internal, strnlen(id.internal, sizeof id.internal));
  std::shared_ptr<Group> g;
  {
    std::lock_guard<std::mutex> lock(registryMu);
    std::shared_ptr<Group> &slot = (*groups)[key];
    if (!slot) {
      slot = std::make_shared<Group>();
      slot->size = ranks;
    }
    g = slot;
  }
  if (g->size != ranks)
    return kInvalidUsage;
  {
    std::unique_lock<std::mutex> lock(g->mu);
    ++g->members;
    g->joined.notify_all();
    if (!g->joined.wait_for(lock, std::chrono::seconds(30),
                            [&] { return g->members >= g->size; })) {
      fakecuda::trace("ncclCommInitRank: rank " + std::to_string(rank) +
                      " waited 30 s for the others");
      return kSystemError;
    }
  }
  auto c = std::make_shared<Comm>();
  c->group = g;
  c->rank = rank;
  {
    std::lock_guard<std::mutex> lock(registryMu);
    (*comms)[c.get()] = c;
  }
  *comm = c.get();
  fakecuda::trace("ncclCommInitRank: rank " + std::to_string(rank) + " of " +
                  std::to_string(ranks) + " (" + key + ")");
  return kSuccess;
}

static ncclResult_t release(void *comm, const char *entry) {
  std::shared_ptr<Comm> c = find(comm);
  if (!c)
    return kInvalidArgument;
  {
    std::lock_guard<std::mutex> lock(c->group->mu);
    c->aborted = true;
  }
  {
    std::lock_guard<std::mutex> lock(registryMu);
    comms->erase(c.get());
  }
  fakecuda::trace(std::string(entry) + ": " + name(*c));
  return kSuccess;
}

ncclResult_t ncclCommDestroy(void *comm) { return release(comm, "ncclCommDestroy"); }
ncclResult_t ncclCommAbort(void *comm) { return release(comm, "ncclCommAbort"); }

ncclResult_t ncclCommGetAsyncError(void *comm, ncclResult_t *error) {
  std::shared_ptr<Comm> c = find(comm);
  if (!c || !error)
    return kInvalidArgument;
  std::lock_guard<std::mutex> lock(c->group->mu);
  *error = c->error;
  return kSuccess;
}

const char *ncclGetErrorString(ncclResult_t r) {
  switch (r) {
  case kSuccess: return "no error";
  case kSystemError: return "unhandled system error";
  case kInvalidArgument: return "invalid argument";
  case kInvalidUsage: return "invalid usage";
  default: return "unknown result code";
  }
}

ncclResult_t ncclCommCount(void *comm, int *count) {
  std::shared_ptr<Comm> c = find(comm);
  if (!c || !count)
    return kInvalidArgument;
  *count = c->group->size;
  return kSuccess;
}

ncclResult_t ncclCommUserRank(void *comm, int *rank) {
  std::shared_ptr<Comm> c = find(comm);
  if (!c || !rank)
    return kInvalidArgument;
  *rank = c->rank;
  return kSuccess;
}

ncclResult_t ncclCommCuDevice(void *comm, int *device) {
  std::shared_ptr<Comm> c = find(comm);
  if (!c || !device)
    return kInvalidArgument;
  *device = c->rank; // the stand-in's rank r is on GPU r
  return kSuccess;
}

ncclResult_t ncclSend(const void *buffer, size_t count, int type, int peer, void *comm,
                      void *stream) {
  return post(true, reinterpret_cast<uintptr_t>(buffer), count, type, peer, comm, stream);
}

ncclResult_t ncclRecv(void *buffer, size_t count, int type, int peer, void *comm,
                      void *stream) {
  return post(false, reinterpret_cast<uintptr_t>(buffer), count, type, peer, comm, stream);
}

ncclResult_t ncclGroupStart() {
  ++depth;
  return kSuccess;
}

ncclResult_t ncclGroupEnd() {
  if (depth == 0)
    return kInvalidUsage;
  if (--depth == 0)
    flush();
  return kSuccess;
}

} // extern "C"
