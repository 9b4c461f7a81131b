//===- SafetensorsWriter.h - writing safetensors checkpoints ----*- C++ -*-===//
//
// Writes Hugging Face safetensors files tensor by tensor, so that a
// checkpoint of any size is streamed to disk in bounded memory: the header is
// laid out from the tensors' dtypes and shapes first, then each tensor's
// bytes come from a callback. Sharded checkpoints get their
// model.safetensors.index.json.
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_SUPPORT_SAFETENSORSWRITER_H
#define MOEC_SUPPORT_SAFETENSORSWRITER_H

#include "moec/Support/Safetensors.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <string>
#include <vector>

namespace moec {

/// One tensor to write: its name, dtype and shape (bytes follow from them).
struct SafetensorsEntry {
  std::string name;
  SafetensorsDType dtype;
  std::vector<int64_t> shape;
  uint64_t getNumBytes() const;
};

/// Writes `entries` to the safetensors file `path` (replaced atomically:
/// written to a temporary file, renamed when complete): the header, then
/// each entry's bytes as `write(index, out)` appends them, which must be
/// exactly the entry's byte count (an error otherwise). Errors name the file.
llvm::Error writeSafetensorsFile(
    llvm::StringRef path, llvm::ArrayRef<SafetensorsEntry> entries,
    llvm::function_ref<llvm::Error(size_t, llvm::raw_ostream &)> write);

/// Splits `entries` (in order) into shards of at most `maxShardBytes` of
/// tensor data each (a larger tensor gets a shard of its own); returns each
/// entry's shard index.
std::vector<size_t> assignSafetensorsShards(llvm::ArrayRef<SafetensorsEntry> entries,
                                            uint64_t maxShardBytes, size_t &numShards);

/// "model.safetensors" for one shard, else "model-0000I-of-0000N.safetensors"
/// (I from 1), as Hugging Face names them.
std::string safetensorsShardName(size_t index, size_t numShards);

/// Writes model.safetensors.index.json into `dir`: total_size and each
/// tensor's shard file.
llvm::Error writeSafetensorsIndex(llvm::StringRef dir, llvm::ArrayRef<SafetensorsEntry> entries,
                                  llvm::ArrayRef<size_t> shardOf, size_t numShards);

} // namespace moec

#endif // MOEC_SUPPORT_SAFETENSORSWRITER_H
