//===- CodeObject.h - host code objects loaded from memory ------------------===//
//
// A HostSharedObject code object is an x86-64 ELF shared object inside the
// artifact. It is loaded without touching the file system where possible: the
// bytes go into a memfd and dlopen opens /proc/self/fd/N (a temporary file,
// unlinked right after dlopen, when memfd or /proc is unavailable).
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_CODEOBJECT_H
#define MOERT_SRC_CODEOBJECT_H

#include "Status.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace moert::rt {

/// The host kernel ABI (docs/artifact.md).
using KernelFn = void (*)(void *const *args, int64_t tokens, int64_t begin,
                          int64_t end);

/// Checks that `data` starts with the ELF header of a 64-bit little-endian
/// x86-64 shared object (no read past `size`).
Status checkHostElfHeader(const uint8_t *data, size_t size);

/// Checks that this CPU has every instruction-set feature a host code
/// object's `arch` ("cpu+feature+feature...", docs/artifact.md) names.
Status checkHostCpuFeatures(const std::string &arch, uint32_t index);

class LoadedCode {
public:
  /// Loads `size` bytes at `data` (code object `index`, for messages).
  static Status load(const uint8_t *data, size_t size, uint32_t index,
                     std::shared_ptr<LoadedCode> *out);
  ~LoadedCode(); // dlclose, then release the memfd
  LoadedCode(const LoadedCode &) = delete;
  LoadedCode &operator=(const LoadedCode &) = delete;

  /// Resolves kernel `name`; it must be defined in this object itself.
  Status resolve(const std::string &name, KernelFn *fn) const;

  /// How the object was loaded: "memfd" or "tempfile".
  const char *method() const { return method_; }

private:
  LoadedCode() = default;

  void *handle_ = nullptr;
  int fd_ = -1; // kept open while loaded so /proc/self/fd/N names only it
  uint32_t index_ = 0;
  const char *method_ = "";
};

} // namespace moert::rt

#endif // MOERT_SRC_CODEOBJECT_H
