//===- fuzz_artifact.cpp - libFuzzer target: the artifact loader ----------===//
//
// Any byte string is given to moert_model_load_memory, as is and, for inputs
// whose last byte is odd, "re-sealed": the checksums (header, table, each
// blob's chunks) recomputed from the header's and the table's own offsets so
// that mutations of the table and the blobs reach the FlatBuffers verifier
// and the semantic checks behind the checksums (with full verification, each
// weight's chunk checksums at load). Inputs whose second-to-last byte is odd
// load with lazy verification instead. Whatever loads is queried, and a CPU
// session runs each function at T = 1 and T = max_tokens (up to 64) on
// inputs made from the input's bytes: a re-sealed table reaches the kernels,
// whose bounds and guarded indices must hold. Nothing may crash, hang or
// read out of bounds; a bad artifact must come back as a status. A code
// object whose bytes were re-sealed still goes through the ELF loader, but
// its kernels are not called: an unsigned code object is arbitrary machine
// code, which no loader can confine (docs/reliability.md).
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
/// the table reach the checks behind the checksums. Returns whether a code
/// object's checksum changed (its machine code was mutated).
bool reseal(std::vector<uint8_t> &file) {
  bool codeChanged = false;
  moert::FileHeader h;
  std::memcpy(&h, file.data(), sizeof(h));
  uint64_t size = file.size();
  if (h.table_offset <= size && h.table_size <= size - h.table_offset &&
      h.blob_offset <= size && h.blob_size <= size - h.blob_offset) {
    uint8_t *table = file.data() + h.table_offset;
    flatbuffers::Verifier verifier(table, h.table_size);
    if (h.table_offset % 8 == 0 && moert::fb::VerifyModelBuffer(verifier)) {
      auto *m = moert::fb::GetMutableModel(table);
      auto seal = [&](auto *blobs, bool code) {
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
            uint64_t sum = moert::checksum64(data + at, n);
            codeChanged |= code && sums->Get(c) != sum;
            sums->Mutate(c, sum);
          }
        }
      };
      seal(m->mutable_weights(), false);
      seal(m->mutable_code_objects(), true);
    }
    h.table_checksum = moert::checksum64(table, h.table_size);
  }
  std::memcpy(file.data(), &h, sizeof(h));
  h.header_checksum = moert::checksum64(file.data(), 120);
  std::memcpy(file.data(), &h, sizeof(h));
  return codeChanged;
}
/// Runs every function of a CPU model at T = 1 and T = max_tokens (when at
/// most 64) on inputs filled from `seed`'s bytes; statuses are fine.
void runSessions(moert_model_t *model, int64_t maxTokens, const uint8_t *seed,
                 size_t seedSize) {
  moert_session_options_t so;
  moert_session_options_init(&so);
  so.threads = 1;
  moert_session_t *session = nullptr;
  if (moert_status_t *st = moert_session_create(model, "cpu", &so, &session)) {
    moert_status_free(st);
    return;
  }
  size_t functions = moert_model_num_functions(model);
  for (size_t f = 0; f < functions; ++f) {
    for (int64_t T : {int64_t(1), maxTokens}) {
      if (T > 64)
        continue;
      size_t n = moert_model_num_tensors(model, f, MOERT_TENSOR_INPUT);
      std::vector<std::vector<uint8_t>> data(n);
      std::vector<moert_tensor_t> inputs(n);
      bool ok = true;
      for (size_t i = 0; i < n && ok; ++i) {
        moert_tensor_info_t info;
        if (moert_status_t *st = moert_model_tensor_info(model, f, MOERT_TENSOR_INPUT, i, &info)) {
          moert_status_free(st);
          ok = false;
          break;
        }
        moert_tensor_t &t = inputs[i];
        t.dtype = info.dtype;
        t.rank = info.rank;
        size_t elems = 1;
        for (int32_t d = 0; d < info.rank; ++d) {
          t.shape[d] = info.shape[d] < 0 ? T : info.shape[d];
          elems *= static_cast<size_t>(t.shape[d]);
          ok = ok && elems <= (size_t(1) << 20);
        }
        if (!ok)
          break;
        data[i].resize(elems * moert_dtype_size(info.dtype));
        for (size_t b = 0; b < data[i].size(); ++b)
          data[i][b] = seedSize ? seed[(b * 131 + i) % seedSize] : 0;
        t.data = data[i].data();
        t.bytes = data[i].size();
      }
      if (!ok)
        continue;
      if (moert_status_t *st =
              moert_session_run_index(session, f, inputs.data(), n, nullptr, 0))
        moert_status_free(st);
    }
  }
  moert_session_free(session);
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size) {
  std::vector<uint8_t> file(input, input + size);
  bool codeChanged = false;
  if (size >= sizeof(moert::FileHeader) && (input[size - 1] & 1))
    codeChanged = reseal(file);
  const uint8_t *data = file.data();
  moert_load_options_t options;
  moert_load_options_init(&options);
  if (size >= 2 && (input[size - 2] & 1))
    options.verify = MOERT_VERIFY_LAZY;
  options.memory_budget = uint64_t(256) << 20; // arenas and synthetic weights
  moert_model_t *model = nullptr;
  moert_status_t *status = moert_model_load_memory_with(data, size, &options, &model);
  if (status) {
    (void)moert_status_message(status);
    moert_status_free(status);
    return 0;
  }
  int64_t maxTokens = moert_model_max_tokens(model);
  size_t functions = moert_model_num_functions(model);
  for (size_t i = 0; i < functions; ++i)
    (void)moert_model_function_name(model, i);
  if (!codeChanged)
    runSessions(model, maxTokens, input, size);
  moert_model_free(model);
  return 0;
}
