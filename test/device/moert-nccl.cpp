//===- moert-nccl.cpp - the NCCL communicator's rounds, checked ----------===//
//
//   moert-nccl --ranks N [--wrap] [--fail-rank R] [--timeout-ms MS]
//
// N ranks as threads, rank r on GPU cuda:r, each with a moert_nccl_t: made by
// moert_nccl_create, or with --wrap from an NCCL communicator the tool makes
// itself (libnccl.so.2's ncclCommInitRank) and hands to moert_nccl_wrap.
// One round through moert_communicator_t: every rank sends every rank
// (itself included) two messages, 64 bytes from device memory and 16 from
// host memory, plus an empty one, and receives theirs into device and host
// buffers; the bytes say who sent them to whom, and each rank checks what
// it received ("rank r: 3N messages ok"). With --fail-rank R, rank R never
// enters the round: every other rank's round must fail within the timeout,
// and its next round at once ("rank r: ... | later: ...").
//
// On the stand-in driver and NCCL (test/e2e/cuda_expert_parallel.test) and,
// where there are N GPUs and NCCL, on them.
//
//===----------------------------------------------------------------------===//
#include "cuda/CudaApi.h"
#include "moert/moert.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace moert::rt::cuda;

[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  std::exit(1);
}

std::string take(moert_status_t *s) {
  if (!s)
    return "";
  std::string m = moert_status_message(s);
  moert_status_free(s);
  return m;
}

uint8_t pattern(int from, int to, int i) { return static_cast<uint8_t>(from * 31 + to * 7 + i); }

struct Options {
  int ranks = 0, failRank = -1, timeoutMs = 10000;
  bool wrap = false;
};

/// Rank r's round; "" or the reason it failed.
std::string rankMain(const Options &o, const Api &api, int r, const uint8_t *id,
                     std::string *later) {
  CUdevice dev = 0;
  CUcontext ctx = nullptr;
  if (api.cuDeviceGet(&dev, r) != CUDA_SUCCESS ||
      api.cuDevicePrimaryCtxRetain(&ctx, dev) != CUDA_SUCCESS ||
      api.cuCtxSetCurrent(ctx) != CUDA_SUCCESS)
    return "cannot make GPU " + std::to_string(r) + " current";
  moert_nccl_t *nccl = nullptr;
  void *own = nullptr;
  std::string err;
  if (!o.wrap) {
    err = take(moert_nccl_create(id, r, o.ranks, r, o.timeoutMs, &nccl));
  } else {
    void *lib = ::dlopen("libnccl.so.2", RTLD_NOW);
    auto init = lib ? reinterpret_cast<int (*)(void **, int, std::array<char, 128>, int)>(
                          ::dlsym(lib, "ncclCommInitRank"))
                    : nullptr;
    std::array<char, 128> u;
    std::memcpy(u.data(), id, u.size());
    if (!init || init(&own, o.ranks, u, r) != 0)
      return "ncclCommInitRank failed";
    err = take(moert_nccl_wrap(own, o.timeoutMs, &nccl));
  }
  if (!err.empty())
    return err;
  const moert_communicator_t *comm = moert_nccl_communicator(nccl);
  if (comm->rank != r || comm->size != o.ranks || moert_nccl_device(nccl) != r)
    err = "the communicator says rank " + std::to_string(comm->rank) + " of " +
          std::to_string(comm->size) + " on cuda:" + std::to_string(moert_nccl_device(nccl));
  size_t n = static_cast<size_t>(o.ranks);
  CUdeviceptr sendDev = 0, recvDev = 0;
  std::vector<uint8_t> sendHost(16 * n), recvHost(16 * n, 0), staged(64 * n);
  for (size_t p = 0; p < n; ++p)
    for (int i = 0; i < 64; ++i) {
      staged[p * 64 + static_cast<size_t>(i)] = pattern(r, static_cast<int>(p), i);
      if (i < 16)
        sendHost[p * 16 + static_cast<size_t>(i)] = pattern(r, static_cast<int>(p), 100 + i);
    }
  if (err.empty() && (api.cuMemAlloc(&sendDev, 64 * n) != CUDA_SUCCESS ||
                      api.cuMemAlloc(&recvDev, 64 * n) != CUDA_SUCCESS ||
                      api.cuMemcpyHtoD(sendDev, staged.data(), staged.size()) != CUDA_SUCCESS))
    err = "cannot set up the device buffers";
  std::vector<moert_message_t> sends, recvs;
  uint8_t nothing = 0;
  for (size_t p = 0; p < n; ++p) {
    int32_t peer = static_cast<int32_t>(p);
    sends.push_back({peer, reinterpret_cast<void *>(sendDev + 64 * p), 64});
    sends.push_back({peer, &sendHost[16 * p], 16});
    sends.push_back({peer, &nothing, 0});
    recvs.push_back({peer, reinterpret_cast<void *>(recvDev + 64 * p), 64});
    recvs.push_back({peer, &recvHost[16 * p], 16});
    recvs.push_back({peer, &nothing, 0});
  }
  char why[512] = {0};
  if (err.empty() && r != o.failRank) {
    if (comm->exchange(comm->context, sends.data(), sends.size(), recvs.data(), recvs.size(),
                       why, sizeof why)) {
      err = why;
      // A failed communicator fails every later round at once.
      if (comm->exchange(comm->context, sends.data(), sends.size(), recvs.data(), recvs.size(),
                         why, sizeof why))
        *later = why;
    } else {
      std::vector<uint8_t> got(64 * n);
      CUstream s = nullptr;
      if (api.cuStreamCreate(&s, 0) != CUDA_SUCCESS ||
          api.cuMemcpyDtoHAsync(got.data(), recvDev, got.size(), s) != CUDA_SUCCESS ||
          api.cuStreamSynchronize(s) != CUDA_SUCCESS)
        err = "cannot read the device buffer back";
      if (s)
        api.cuStreamDestroy(s);
      for (size_t p = 0; p < n && err.empty(); ++p)
        for (int i = 0; i < 64 && err.empty(); ++i)
          if (got[p * 64 + static_cast<size_t>(i)] != pattern(static_cast<int>(p), r, i) ||
              (i < 16 && recvHost[p * 16 + static_cast<size_t>(i)] !=
                             pattern(static_cast<int>(p), r, 100 + i)))
            err = "byte " + std::to_string(i) + " from rank " + std::to_string(p) + " is wrong";
    }
  }
  if (sendDev)
    api.cuMemFree(sendDev);
  if (recvDev)
    api.cuMemFree(recvDev);
  moert_nccl_free(nccl);
  if (own && o.wrap && err.empty()) { // still the tool's to destroy
    void *lib = ::dlopen("libnccl.so.2", RTLD_NOW);
    if (auto destroy = reinterpret_cast<int (*)(void *)>(::dlsym(lib, "ncclCommDestroy")))
      destroy(own);
  }
  api.cuDevicePrimaryCtxRelease(dev);
  return err;
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--wrap") {
      o.wrap = true;
      continue;
    }
    if (i + 1 == argc)
      fail("usage: moert-nccl --ranks N [--wrap] [--fail-rank R] [--timeout-ms MS]");
    int v = std::atoi(argv[++i]);
    if (a == "--ranks")
      o.ranks = v;
    else if (a == "--fail-rank")
      o.failRank = v;
    else if (a == "--timeout-ms")
      o.timeoutMs = v;
    else
      fail("unknown option " + a);
  }
  if (o.ranks < 1)
    fail("--ranks must be at least 1");
  const Api *api = nullptr;
  moert::rt::Status st = load(&api);
  if (!st)
    fail(st.message());
  uint8_t id[MOERT_NCCL_UNIQUE_ID_BYTES];
  if (std::string e = take(moert_nccl_unique_id(id)); !e.empty())
    fail(e);
  std::vector<std::string> errors(static_cast<size_t>(o.ranks)),
      later(static_cast<size_t>(o.ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < o.ranks; ++r)
    threads.emplace_back([&, r] {
      errors[static_cast<size_t>(r)] = rankMain(o, *api, r, id, &later[static_cast<size_t>(r)]);
    });
  for (std::thread &t : threads)
    t.join();
  int failed = 0;
  for (int r = 0; r < o.ranks; ++r) {
    const std::string &e = errors[static_cast<size_t>(r)];
    if (r == o.failRank)
      std::printf("rank %d: stayed out of the round\n", r);
    else if (e.empty())
      std::printf("rank %d: %d messages ok\n", r, 3 * o.ranks);
    else
      std::printf("rank %d: %s | later: %s\n", r, e.c_str(),
                  later[static_cast<size_t>(r)].c_str());
    failed += !e.empty();
  }
  return failed ? 1 : 0;
}
