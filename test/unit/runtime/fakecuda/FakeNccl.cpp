//===- FakeNccl.cpp - a stand-in libnccl.so.2 for tests (FakeCuda.h) ------===//
//
// The NCCL entry points libmoert opens (runtime/src/cuda/Nccl.cpp), for ranks
// that are threads of one process or processes of one machine (mpirun), on
// the stand-in driver's "GPUs". A unique id names a fresh directory (under
// $TMPDIR, else /tmp), through which the ranks meet:
//
// - ncclCommInitRank leaves a file for its rank there and waits for the
//   others' (as NCCL waits for every rank);
// - between ncclGroupStart and ncclGroupEnd, ncclSend and ncclRecv are
//   checked (the buffer inside a device allocation, the peer in range) and
//   collected; ncclGroupEnd queues them on their stream: the sends first,
//   each writing its bytes to the file of (this rank, peer, its number
//   between the two), then each receive, which runs once its sender's file
//   is there (cuStreamQuery says CUDA_ERROR_NOT_READY until then) and reads
//   and removes it; a size that differs is an asynchronous error
//   (ncclCommGetAsyncError);
// - ncclCommAbort lets the rank's waiting receives end without data;
// - sends complete without waiting for their receiver (NCCL's wait for it).
// The directories stay behind, under TMPDIR (tests point it at their own).
//
// Each call is traced as the driver's are.
//
//===----------------------------------------------------------------------===//
#include "FakeCuda.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using ncclResult_t = int;
constexpr ncclResult_t kSuccess = 0, kSystemError = 2, kInvalidArgument = 4, kInvalidUsage = 5;

struct UniqueId {
  char internal[128];
};

struct Comm {
  std::string dir; // the unique id's
  int rank = 0, size = 0;
  std::mutex mu;
  bool aborted = false;   // under mu
  ncclResult_t error = 0; // under mu
  /// The next message's number to and from each peer (posting order).
  std::vector<uint64_t> sent, received;
};

struct P2p {
  bool send;
  uint64_t buffer, bytes;
  int peer;
  std::shared_ptr<Comm> comm;
  void *stream;
};

std::mutex registryMu;
std::map<Comm *, std::shared_ptr<Comm>> *comms = new std::map<Comm *, std::shared_ptr<Comm>>;

thread_local int depth = 0;
thread_local std::vector<P2p> collected;

std::shared_ptr<Comm> find(void *comm) {
  std::lock_guard<std::mutex> lock(registryMu);
  auto it = comms->find(static_cast<Comm *>(comm));
  return it == comms->end() ? nullptr : it->second;
}

std::string name(const Comm &c) { return "rank " + std::to_string(c.rank); }

bool exists(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string messagePath(const Comm &c, int from, int to, uint64_t n) {
  return c.dir + "/msg." + std::to_string(from) + "." + std::to_string(to) + "." +
         std::to_string(n);
}

/// Queues the collected operations on their streams: sends, then receives.
void flush() {
  std::vector<P2p> ops;
  ops.swap(collected);
  for (int pass = 0; pass < 2; ++pass)
    for (const P2p &op : ops) {
      if (op.send != (pass == 0))
        continue;
      std::shared_ptr<Comm> c = op.comm;
      if (op.send) {
        std::string path = messagePath(*c, c->rank, op.peer, c->sent[op.peer]++);
        fakecuda::enqueue(op.stream,
                          "ncclSend " + std::to_string(op.bytes) + " bytes from " +
                              fakecuda::where(op.buffer) + ", " + name(*c) + " to rank " +
                              std::to_string(op.peer),
                          [path, op] {
                            {
                              std::ofstream f(path + ".tmp", std::ios::binary);
                              f.write(reinterpret_cast<const char *>(op.buffer),
                                      static_cast<std::streamsize>(op.bytes));
                            }
                            std::rename((path + ".tmp").c_str(), path.c_str());
                          });
        continue;
      }
      std::string path = messagePath(*c, op.peer, c->rank, c->received[op.peer]++);
      fakecuda::enqueueWhen(
          op.stream,
          "ncclRecv " + std::to_string(op.bytes) + " bytes to " + fakecuda::where(op.buffer) +
              ", " + name(*c) + " from rank " + std::to_string(op.peer),
          [c, path] {
            {
              std::lock_guard<std::mutex> lock(c->mu);
              if (c->aborted)
                return true;
            }
            return exists(path);
          },
          [c, path, op] {
            std::ifstream f(path, std::ios::binary);
            if (!f)
              return; // aborted
            std::vector<char> m((std::istreambuf_iterator<char>(f)),
                                std::istreambuf_iterator<char>());
            f.close();
            std::remove(path.c_str());
            if (m.size() != op.bytes) {
              fakecuda::trace("ncclRecv: " + name(*c) + " expected " + std::to_string(op.bytes) +
                              " bytes from rank " + std::to_string(op.peer) + ", got " +
                              std::to_string(m.size()));
              std::lock_guard<std::mutex> lock(c->mu);
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
  if (peer < 0 || peer >= c->size || !fakecuda::inside(buffer, count)) {
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
  const char *tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/fakenccl.XXXXXX";
  if (pattern.size() >= sizeof id->internal || !::mkdtemp(pattern.data()))
    return kSystemError;
  std::memset(id->internal, 0, sizeof id->internal);
  std::memcpy(id->internal, pattern.data(), pattern.size());
  fakecuda::trace("ncclGetUniqueId");
  return kSuccess;
}

ncclResult_t ncclCommInitRank(void **comm, int ranks, UniqueId id, int rank) {
  if (!comm || ranks < 1 || rank < 0 || rank >= ranks)
    return kInvalidArgument;
  auto c = std::make_shared<Comm>();
  c->dir.assign(id.internal, strnlen(id.internal, sizeof id.internal));
  c->rank = rank;
  c->size = ranks;
  c->sent.assign(static_cast<size_t>(ranks), 0);
  c->received.assign(static_cast<size_t>(ranks), 0);
  std::ofstream(c->dir + "/joined." + std::to_string(rank)).put('1');
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (int r = 0; r < ranks; ++r)
    while (!exists(c->dir + "/joined." + std::to_string(r))) {
      if (std::chrono::steady_clock::now() > deadline) {
        fakecuda::trace("ncclCommInitRank: rank " + std::to_string(rank) +
                        " waited 30 s for the others");
        return kSystemError;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  {
    std::lock_guard<std::mutex> lock(registryMu);
    (*comms)[c.get()] = c;
  }
  *comm = c.get();
  fakecuda::trace("ncclCommInitRank: rank " + std::to_string(rank) + " of " +
                  std::to_string(ranks));
  return kSuccess;
}

static ncclResult_t release(void *comm, const char *entry) {
  std::shared_ptr<Comm> c = find(comm);
  if (!c)
    return kInvalidArgument;
  {
    std::lock_guard<std::mutex> lock(c->mu);
    c->aborted = true;
  }
  {
    std::lock_guard<std::mutex> lock(registryMu);
    comms->erase(c.get());
  }
  // The directory stays (a slow rank may still be joining): under TMPDIR.
  fakecuda::trace(std::string(entry) + ": " + name(*c));
  return kSuccess;
}

ncclResult_t ncclCommDestroy(void *comm) { return release(comm, "ncclCommDestroy"); }
ncclResult_t ncclCommAbort(void *comm) { return release(comm, "ncclCommAbort"); }

ncclResult_t ncclCommGetAsyncError(void *comm, ncclResult_t *error) {
  std::shared_ptr<Comm> c = find(comm);
  if (!c || !error)
    return kInvalidArgument;
  std::lock_guard<std::mutex> lock(c->mu);
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
  *count = c->size;
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
