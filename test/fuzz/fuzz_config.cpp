//===- fuzz_config.cpp - libFuzzer target: config.json → layer plans ------===//
#include "moec/Import/ModelConfig.h"

#include "llvm/Support/Error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto plan = moec::import::parseModelConfig(
      llvm::StringRef(reinterpret_cast<const char *>(data), size), "config.json");
  if (!plan)
    llvm::consumeError(plan.takeError());
  return 0;
}
