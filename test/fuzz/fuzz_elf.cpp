//===- fuzz_elf.cpp - libFuzzer target: the runtime's ELF loader ----------===//
//
// Any byte string is given to LoadedCode::load (runtime/src/CodeObject.cpp),
// the loader of an artifact's CPU code object; what loads has a kernel and a
// bounds constant resolved (never called). Nothing may crash, hang or read
// out of bounds: a bad object must come back as a status. Seeds: objects as
// moe-compile links them, and the loader tests' fixtures.
//
//===----------------------------------------------------------------------===//
#include "CodeObject.h"

#include <cstddef>
#include <cstdint>
#include <memory>

using namespace moert::rt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::shared_ptr<LoadedCode> code;
  if (LoadedCode::load(data, size, 0, &code).ok()) {
    KernelFn fn;
    (void)code->resolve("k", &fn);
    (void)code->resolve("route_0", &fn);
    const void *bounds = nullptr;
    uint64_t bytes = 0;
    (void)code->resolveConstant("moec_bounds.route_0", &bounds, &bytes);
  }
  return 0;
}
