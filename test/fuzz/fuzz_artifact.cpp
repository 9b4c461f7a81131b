//===- fuzz_artifact.cpp - libFuzzer target: the artifact loader ----------===//
//
// Any byte string is given to moert_model_load_memory, as is and, for inputs
// whose last byte is odd, "re-sealed": the three checksums recomputed from the
// header's own offsets so that mutations of the table and the blobs reach the
// FlatBuffers verifier and the semantic checks behind the checksums. Whatever
// loads is queried. Nothing may crash, hang or read out of bounds; a bad
// artifact must come back as a status.
//
//===----------------------------------------------------------------------===//
#include "moert/format.h"
#include "moert/moert.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {
void reseal(std::vector<uint8_t> &file) {
  moert::FileHeader h;
  std::memcpy(&h, file.data(), sizeof(h));
  uint64_t tableEnd = h.table_offset + h.table_size;
  if (h.table_offset <= file.size() && h.table_size <= file.size() &&
      tableEnd <= file.size()) {
    h.table_checksum =
        moert::checksum64(file.data() + h.table_offset, h.table_size);
    h.blob_checksum =
        moert::checksum64(file.data() + tableEnd, file.size() - tableEnd);
  }
  std::memcpy(file.data(), &h, sizeof(h));
  h.header_checksum = moert::checksum64(file.data(), 120);
  std::memcpy(file.data(), &h, sizeof(h));
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size) {
  std::vector<uint8_t> file(input, input + size);
  if (size >= sizeof(moert::FileHeader) && (input[size - 1] & 1))
    reseal(file);
  const uint8_t *data = file.data();
  moert_model_t *model = nullptr;
  moert_status_t *status = moert_model_load_memory(data, size, &model);
  if (status) {
    (void)moert_status_message(status);
    moert_status_free(status);
    return 0;
  }
  (void)moert_model_max_tokens(model);
  size_t functions = moert_model_num_functions(model);
  for (size_t i = 0; i < functions; ++i)
    (void)moert_model_function_name(model, i);
  moert_model_free(model);
  return 0;
}
