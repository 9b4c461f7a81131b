//===- fuzz_safetensors.cpp - libFuzzer target: the safetensors reader ----===//
#include "moec/Support/Safetensors.h"

#include "llvm/Support/MemoryBuffer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(
      llvm::StringRef(reinterpret_cast<const char *>(data), size), "fuzz");
  auto file = moec::SafetensorsFile::parse(std::move(buffer), "fuzz");
  if (!file) {
    llvm::consumeError(file.takeError());
    return 0;
  }
  // Every tensor handed out must lie inside the file and match its shape.
  uint64_t sum = 0;
  for (const moec::SafetensorsTensor &t : (*file)->getTensors()) {
    if (t.data.size() != uint64_t(t.getNumElements()) *
                             moec::getSafetensorsDTypeSize(t.dtype))
      __builtin_trap();
    for (uint8_t b : t.data)
      sum += b;
  }
  return sum == 42 ? 0 : 0;
}
