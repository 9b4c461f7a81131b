//===- fuzz_npy.cpp - libFuzzer target: the .npy reader -------------------===//
#include "Npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  moert::npy::Array array;
  std::string error;
  if (moert::npy::parse(data, size, &array, &error)) {
    // A parsed array must be serializable back (same dtype and shape).
    (void)moert::npy::serialize(array.dtype, array.data.data(), array.shape);
  }
  return 0;
}
