//===- fuzz_artifact.cpp - libFuzzer target: the artifact loader ----------===//
//
// Any byte string is given to moert_model_load_memory, as is and, for inputs
// whose last byte is odd, "re-sealed": the checksums (header, table, each
// blob's chunks) recomputed from the header's and the table's own offsets so
// that mutations of the table and the blobs reach the FlatBuffers verifier
// and the semantic checks behind the checksums (with full verification, each
// weight's chunk checksums at load). Inputs whose second-to-last byte is odd
// load with lazy verification instead. Whatever loads is queried. Nothing may crash, hang or read out of bounds; a bad artifact
// must come back as a status.
//
//===----------------------------------------------------------------------===//
#include "moert/format.h"
#include "moert/moeb_generated.h"
#include "moert/moert.h"

#include <algorithm>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {
/// Recomputes the table's and header's checksums from the header's own
/// offsets, and each weight's and code object's chunk checksums where the
/// table is well-formed enough to say where they are (in place: the
/// FlatBuffers vectors keep their length), so that mutations of the blobs and
/// the table reach the checks behind the checksums.
void reseal(std::vector<uint8_t> &file) {
  moert::FileHeader h;
  std::memcpy(&h, file.data(), sizeof(h));
  uint64_t size = file.size();
  if (h.table_offset <= size && h.table_size <= size - h.table_offset &&
      h.blob_offset <= size && h.blob_size <= size - h.blob_offset) {
    uint8_t *table = file.data() + h.table_offset;
    flatbuffers::Verifier verifier(table, h.table_size);
    if (h.table_offset % 8 == 0 && moert::fb::VerifyModelBuffer(verifier)) {
      auto *m = moert::fb::GetMutableModel(table);
      auto seal = [&](auto *blobs) {
        if (!blobs)
          return;
        for (flatbuffers::uoffset_t i = 0; i < blobs->size(); ++i) {
          auto *b = blobs->GetMutableObject(i);
          auto *sums = b ? b->mutable_checksums() : nullptr;
          if (!sums || b->offset() > h.blob_size || b->bytes() > h.blob_size - b->offset())
            continue;
          const uint8_t *data = file.data() + h.blob_offset + b->offset();
          for (flatbuffers::uoffset_t c = 0; c < sums->size(); ++c) {
            uint64_t at = uint64_t(c) * moert::kChecksumChunk;
            if (at >= b->bytes())
              break;
            uint64_t n = std::min<uint64_t>(moert::kChecksumChunk, b->bytes() - at);
            sums->Mutate(c, moert::checksum64(data + at, n));
          }
        }
      };
      seal(m->mutable_weights());
      seal(m->mutable_code_objects());
    }
    h.table_checksum = moert::checksum64(table, h.table_size);
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
  moert_load_options_t options;
  moert_load_options_init(&options);
  if (size >= 2 && (input[size - 2] & 1))
    options.verify = MOERT_VERIFY_LAZY;
  moert_model_t *model = nullptr;
  moert_status_t *status = moert_model_load_memory_with(data, size, &options, &model);
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
