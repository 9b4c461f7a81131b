//===- Safetensors.h - validated, memory-mapped safetensors ----*- C++ -*-===//
//
// Reads Hugging Face safetensors checkpoints, single files and sharded ones
// (model.safetensors.index.json). Everything in a file's header is validated
// before any tensor is handed out: the header length lies within the file, the
// JSON is well formed, every tensor's dtype is known and its byte range lies
// inside the data section, ranges do not overlap, and dtype size × shape equals
// the byte count. Every failure is an llvm::Error whose message names the file
// and, where there is one, the tensor.
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_SUPPORT_SAFETENSORS_H
#define MOEC_SUPPORT_SAFETENSORS_H

#include "moec/Support/Files.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace moec {

/// The dtypes of the safetensors format. Only F32, F16 and BF16 are
/// converted by moec; the others are recognised so that their sizes can be
/// validated and a clear "not supported" message given when they are used.
enum class SafetensorsDType {
  F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I64, I32, I16, I8, U8, BOOL
};

/// Parses a dtype name ("BF16"); std::nullopt for an unknown one.
std::optional<SafetensorsDType> parseSafetensorsDType(llvm::StringRef name);
llvm::StringRef stringifySafetensorsDType(SafetensorsDType dtype);
/// Bytes per element.
unsigned getSafetensorsDTypeSize(SafetensorsDType dtype);
/// True for the dtypes moec converts (F32, F16, BF16).
bool isSupportedWeightDType(SafetensorsDType dtype);

/// One tensor of a safetensors file: its name, dtype, shape and bytes.
struct SafetensorsTensor {
  std::string name;
  SafetensorsDType dtype;
  std::vector<int64_t> shape;
  /// The tensor's bytes inside the mapped file.
  llvm::ArrayRef<uint8_t> data;
  /// The file it lives in (for messages).
  std::string file;
  /// Whether `data` lies in a read-only mapping of the file (not in a copy).
  bool mapped = false;

  int64_t getNumElements() const;
  /// Element i (row-major) of an F32, BF16 or F16 tensor as f32.
  float getFloat(uint64_t i) const;
  /// Drops the pages of a mapped tensor from this process's memory once it
  /// has been read (they stay in the page cache, and are read again if the
  /// tensor is touched again), so that streaming a checkpoint of any size
  /// through a mapping keeps the process's resident memory bounded. Nothing
  /// for a tensor held in a copy.
  void releasePages() const;
  /// "[12, 72]".
  std::string getShapeString() const;
};

/// "[12, 72]" for a shape.
std::string formatShape(llvm::ArrayRef<int64_t> shape);

/// A single validated, memory-mapped .safetensors file.
class SafetensorsFile {
public:
  /// Maps and validates `path`. The header may be at most `maxHeaderBytes`.
  static llvm::Expected<std::unique_ptr<SafetensorsFile>>
  open(llvm::StringRef path);
  /// Validates a file image already in memory (used by tests and fuzzers);
  /// `name` is used in messages.
  static llvm::Expected<std::unique_ptr<SafetensorsFile>>
  parse(std::unique_ptr<llvm::MemoryBuffer> buffer, llvm::StringRef name);

  /// The tensor named `name`, or nullptr.
  const SafetensorsTensor *find(llvm::StringRef name) const;
  /// All tensors, in order of their data offsets.
  const std::vector<SafetensorsTensor> &getTensors() const { return tensors; }
  llvm::StringRef getPath() const { return path; }
  uint64_t getSize() const { return buffer->getBufferSize(); }

  /// The largest header accepted (the reference implementation's limit).
  static constexpr uint64_t maxHeaderBytes = 100ull << 20;

private:
  SafetensorsFile() = default;
  std::unique_ptr<llvm::MemoryBuffer> buffer;
  std::unique_ptr<MappedFileGuard> guard; // after buffer: released first
  std::string path;
  std::vector<SafetensorsTensor> tensors;
  llvm::StringMap<size_t> byName;
};

/// A checkpoint: one .safetensors file, or the shards named by a
/// model.safetensors.index.json. Tensors are looked up by name across shards.
class SafetensorsCheckpoint {
public:
  /// Called once per shard as it is opened: (index from 1, count, path, bytes).
  using ProgressFn =
      std::function<void(size_t, size_t, llvm::StringRef, uint64_t)>;

  /// Opens `path`: a .safetensors file, an index .json, or a directory holding
  /// model.safetensors or model.safetensors.index.json.
  static llvm::Expected<std::unique_ptr<SafetensorsCheckpoint>>
  open(llvm::StringRef path, const ProgressFn &progress = nullptr);

  /// The tensor named `name`; an error naming the checkpoint when absent.
  llvm::Expected<const SafetensorsTensor *> lookup(llvm::StringRef name) const;
  /// The tensor named `name`, or nullptr.
  const SafetensorsTensor *find(llvm::StringRef name) const;
  /// What a moe.weight op names as its source: the single file or the index.
  llvm::StringRef getSourcePath() const { return sourcePath; }
  size_t getNumShards() const { return shards.size(); }
  /// Every tensor: shard by shard, each shard's in order of data offsets.
  std::vector<const SafetensorsTensor *> getTensors() const;

private:
  std::string sourcePath;
  std::vector<std::unique_ptr<SafetensorsFile>> shards;
  llvm::StringMap<const SafetensorsTensor *> byName;
};

} // namespace moec

#endif // MOEC_SUPPORT_SAFETENSORS_H
