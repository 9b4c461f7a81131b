//===- DeviceWeights.h - a model's weights on one GPU, shared ---------------===//
//
// The weights of one model on one GPU, uploaded by the first CUDA session of
// that model there and shared by every later one while any of them lives
// (reference-counted: the last session to end frees them). Sessions of the
// same model on the same GPU so hold one copy of the weights between them,
// and only the first pays for the upload.
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_CUDA_DEVICEWEIGHTS_H
#define MOERT_SRC_CUDA_DEVICEWEIGHTS_H

#include "../Model.h"
#include "../Status.h"
#include "CudaApi.h"

#include <memory>
#include <tuple>
#include <vector>

namespace moert::rt::cuda {

/// Device buffers (weights, arena) start at multiples of this many bytes.
constexpr uint64_t kDeviceAlign = 256;
inline uint64_t alignDevice(uint64_t v) {
  return (v + kDeviceAlign - 1) / kDeviceAlign * kDeviceAlign;
}

/// A rank of a sharded model (expert parallelism) holds only its slots of
/// the experts' weights: `slotOnly[w]` marks the weights that only its
/// slots' grouped GEMMs read, which are uploaded as [slots, ...] with slot
/// s holding expert `experts[s]`'s matrix (nothing for -1). Empty: every
/// weight whole.
struct SlotLayout {
  std::vector<uint8_t> slotOnly;
  std::vector<int32_t> experts;
  bool operator<(const SlotLayout &o) const {
    return std::tie(slotOnly, experts) < std::tie(o.slotOnly, o.experts);
  }
};

class DeviceWeights {
public:
  /// The weights of `model` on `device` laid out as `slots` says: those a
  /// live session already uploaded there with that layout, or else uploaded
  /// now, through `stream` (of `device`'s primary context, which is
  /// current), and complete when this returns. Only the bytes uploaded are
  /// verified (Verify::Lazy) and read.
  static Status acquire(const Api &api, const Model &model, CUdevice device, CUstream stream,
                        const SlotLayout &slots, std::shared_ptr<const DeviceWeights> *out);
  ~DeviceWeights();
  DeviceWeights(const DeviceWeights &) = delete;
  DeviceWeights &operator=(const DeviceWeights &) = delete;

  /// The device address of the model's weight `index` (a slot-only
  /// weight's: its slot 0).
  CUdeviceptr address(size_t index) const { return address_[index]; }

private:
  DeviceWeights(const Api &api, CUdevice device) : api_(api), device_(device) {}
  /// Retains the primary context, allocates and fills the weights.
  Status upload(const Model &model, const SlotLayout &slots, CUstream stream);
  Status copy(const Model &model, const SlotLayout &slots, CUstream stream);

  const Api &api_;
  CUdevice device_;
  CUcontext context_ = nullptr; // the primary context, retained
  CUdeviceptr base_ = 0;
  std::vector<CUdeviceptr> address_;
};

} // namespace moert::rt::cuda

#endif // MOERT_SRC_CUDA_DEVICEWEIGHTS_H
