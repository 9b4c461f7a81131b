//===- DeviceWeights.cpp - a model's weights on one GPU, shared -------------===//
#include "DeviceWeights.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>

namespace moert::rt::cuda {

namespace {

Status check(const Api &api, CUresult r, const std::string &what) {
  if (r == CUDA_SUCCESS)
    return Status();
  return driverError(api, r, what);
}

/// The uploaded weights of each (model, GPU), while a session holds them.
/// The registry's lock covers only the lookup; each entry's lock is held
/// while a session looks its weights up or uploads them, so that sessions of
/// one model on one GPU created at once upload one copy, while other models
/// and other GPUs upload in parallel.
struct Entry {
  std::mutex mutex;
  std::weak_ptr<const DeviceWeights> weights;
};
std::mutex registryMutex;
std::map<std::tuple<const Model *, CUdevice, SlotLayout>, std::shared_ptr<Entry>> registry;

bool slotOnly(const SlotLayout &slots, size_t w) {
  return w < slots.slotOnly.size() && slots.slotOnly[w];
}

/// The bytes a weight takes on the device.
uint64_t deviceBytes(const WeightSpec &w, const SlotLayout &slots, size_t index) {
  return slotOnly(slots, index) ? w.layout().sliceBytes() * slots.experts.size() : w.bytes;
}

} // namespace

Status DeviceWeights::acquire(const Api &api, const Model &model, CUdevice device,
                              CUstream stream, const SlotLayout &slots,
                              std::shared_ptr<const DeviceWeights> *out) {
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard<std::mutex> lock(registryMutex);
    // Entries no session holds and no creation is using go (their models
    // may be gone).
    for (auto it = registry.begin(); it != registry.end();)
      it = it->second.use_count() == 1 && it->second->weights.expired() ? registry.erase(it)
                                                                         : std::next(it);
    std::shared_ptr<Entry> &slot = registry[{&model, device, slots}];
    if (!slot)
      slot = std::make_shared<Entry>();
    entry = slot;
  }
  std::lock_guard<std::mutex> lock(entry->mutex);
  if (auto live = entry->weights.lock()) {
    *out = std::move(live);
    return Status();
  }
  std::shared_ptr<DeviceWeights> w(new DeviceWeights(api, device));
  if (Status s = w->upload(model, slots, stream); !s)
    return s;
  entry->weights = w;
  *out = std::move(w);
  return Status();
}

Status DeviceWeights::upload(const Model &model, const SlotLayout &slots, CUstream stream) {
  const Api &api = api_;
  // The weights outlive the session that uploads them, so they hold the
  // primary context too (it is current: the session retained it).
  if (Status s = check(api, api.cuDevicePrimaryCtxRetain(&context_, device_),
                       "cuDevicePrimaryCtxRetain");
      !s)
    return s;
  uint64_t total = 0;
  for (size_t i = 0; i < model.weights().size(); ++i)
    total += alignDevice(deviceBytes(model.weights()[i], slots, i));
  if (total) {
    if (Status s = check(api, api.cuMemAlloc(&base_, total),
                         "cuMemAlloc of " + std::to_string(total) + " bytes of weights");
        !s)
      return s;
  }
  // Verify::Lazy: the upload is every weight's first use (a slot-only
  // weight's: its slots' experts).
  std::vector<uint32_t> whole, sliced;
  for (uint32_t i = 0; i < model.weights().size(); ++i)
    (slotOnly(slots, i) ? sliced : whole).push_back(i);
  if (Status s = model.verifyWeights(whole); !s)
    return s;
  if (Status s = model.verifyWeightExperts(sliced, slots.experts); !s)
    return s;
  return copy(model, slots, stream);
}

DeviceWeights::~DeviceWeights() {
  if (!context_)
    return;
  api_.cuCtxSetCurrent(context_);
  if (base_)
    api_.cuMemFree(base_);
  api_.cuDevicePrimaryCtxRelease(device_);
}

// The weights go up through a ring of two page-locked staging buffers: the
// host copies a chunk of the artifact's mapping into one while the other's
// chunk is on its way to the device (an event says when a buffer is free
// again). Each weight's pages in the mapping are dropped from the process
// once copied (the page cache keeps them), so a CUDA session keeps no
// resident host copy of the weights. Without the driver's page-locked
// allocations or events, or when they fail, each weight is copied from the
// mapping directly.
Status DeviceWeights::copy(const Model &model, const SlotLayout &slots, CUstream stream) {
  const Api &api = api_;
  constexpr size_t kStage = size_t(16) << 20;
  void *stage[2] = {nullptr, nullptr};
  CUevent done[2] = {nullptr, nullptr};
  bool ring = api.cuMemAllocHost && api.cuMemFreeHost && api.cuEventCreate &&
              api.cuEventDestroy && api.cuEventRecord && api.cuEventSynchronize;
  for (int i = 0; ring && i < 2; ++i)
    ring = api.cuMemAllocHost(&stage[i], kStage) == CUDA_SUCCESS &&
           api.cuEventCreate(&done[i], 0) == CUDA_SUCCESS;
  bool used[2] = {false, false};
  // Waits for the copies in flight (unless `s` failed already), then frees
  // the ring; returns `s` or the wait's failure.
  auto finish = [&](Status s) {
    for (int i = 0; i < 2; ++i) {
      if (used[i] && s)
        s = check(api, api.cuEventSynchronize(done[i]), "cuEventSynchronize (the weights' upload)");
      else if (used[i])
        api.cuEventSynchronize(done[i]); // the copies read the ring: wait anyway
      if (stage[i])
        api.cuMemFreeHost(stage[i]);
      if (done[i])
        api.cuEventDestroy(done[i]);
    }
    return s;
  };
  int slot = 0;
  // `bytes` bytes from `src` in the mapping to `dst` on the device.
  auto put = [&](CUdeviceptr dst, const uint8_t *src, uint64_t bytes,
                 const std::string &what) -> Status {
    for (uint64_t off = 0; off < bytes;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(bytes - off, ring ? kStage : bytes));
      Status s;
      if (!ring) {
        s = check(api, api.cuMemcpyHtoD(dst + off, src + off, n), "cuMemcpyHtoD (" + what + ")");
      } else {
        if (used[slot])
          s = check(api, api.cuEventSynchronize(done[slot]), "cuEventSynchronize (" + what + ")");
        if (s) {
          std::memcpy(stage[slot], src + off, n);
          s = check(api, api.cuMemcpyHtoDAsync(dst + off, stage[slot], n, stream),
                    "cuMemcpyHtoDAsync (" + what + ")");
        }
        if (s)
          s = check(api, api.cuEventRecord(done[slot], stream), "cuEventRecord (" + what + ")");
        used[slot] = true;
        slot ^= 1;
      }
      if (!s)
        return s;
      off += n;
    }
    model.releasePages(src, bytes);
    return Status();
  };
  uint64_t at = 0;
  for (size_t i = 0; i < model.weights().size(); ++i) {
    const WeightSpec &w = model.weights()[i];
    address_.push_back(base_ + at);
    std::string what = "the upload of weight '" + w.name + "'";
    if (!slotOnly(slots, i)) {
      if (Status s = put(base_ + at, w.data, w.bytes, what); !s)
        return finish(s);
    } else {
      // Slot s: expert experts[s]'s matrix (an empty slot's rows are never
      // read).
      uint64_t per = w.layout().sliceBytes(); // one expert's matrix
      for (size_t s = 0; s < slots.experts.size(); ++s)
        if (int32_t e = slots.experts[s]; e >= 0)
          if (Status st = put(base_ + at + s * per, w.data + static_cast<uint64_t>(e) * per, per,
                              what + ", expert " + std::to_string(e));
              !st)
            return finish(st);
    }
    at += alignDevice(deviceBytes(w, slots, i));
  }
  return finish(Status());
}

} // namespace moert::rt::cuda
