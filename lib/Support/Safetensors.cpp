//===- Safetensors.cpp - validated, memory-mapped safetensors -------------===//
#include "moec/Support/Safetensors.h"
#include "moert/half.h"

#include "llvm/Support/Process.h"

#include <cstring>
#include <sys/mman.h>

#include "moec/Support/Files.h"
#include "moec/Support/JsonError.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>

using namespace llvm;
using namespace moec;

namespace {
struct DTypeInfo {
  SafetensorsDType dtype;
  const char *name;
  unsigned size;
};
constexpr DTypeInfo kDTypes[] = {
    {SafetensorsDType::F64, "F64", 8},   {SafetensorsDType::F32, "F32", 4},
    {SafetensorsDType::F16, "F16", 2},   {SafetensorsDType::BF16, "BF16", 2},
    {SafetensorsDType::F8_E4M3, "F8_E4M3", 1},
    {SafetensorsDType::F8_E5M2, "F8_E5M2", 1},
    {SafetensorsDType::I64, "I64", 8},   {SafetensorsDType::I32, "I32", 4},
    {SafetensorsDType::I16, "I16", 2},   {SafetensorsDType::I8, "I8", 1},
    {SafetensorsDType::U8, "U8", 1},     {SafetensorsDType::BOOL, "BOOL", 1},
};

Error fileError(StringRef file, const Twine &message) {
  return createStringError(inconvertibleErrorCode(), file + ": " + message);
}

Error tensorError(StringRef file, StringRef tensor, const Twine &message) {
  return createStringError(inconvertibleErrorCode(),
                           file + ": tensor '" + tensor + "': " + message);
}

uint64_t readLE64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

/// A non-negative JSON integer, or std::nullopt.
std::optional<uint64_t> getUnsigned(const json::Value &v) {
  if (auto i = v.getAsInteger(); i && *i >= 0)
    return static_cast<uint64_t>(*i);
  if (auto u = v.getAsUINT64())
    return *u;
  return std::nullopt;
}
} // namespace

std::optional<SafetensorsDType> moec::parseSafetensorsDType(StringRef name) {
  for (const DTypeInfo &info : kDTypes)
    if (name == info.name)
      return info.dtype;
  return std::nullopt;
}

StringRef moec::stringifySafetensorsDType(SafetensorsDType dtype) {
  for (const DTypeInfo &info : kDTypes)
    if (info.dtype == dtype)
      return info.name;
  llvm_unreachable("unknown dtype");
}

unsigned moec::getSafetensorsDTypeSize(SafetensorsDType dtype) {
  for (const DTypeInfo &info : kDTypes)
    if (info.dtype == dtype)
      return info.size;
  llvm_unreachable("unknown dtype");
}

bool moec::isSupportedWeightDType(SafetensorsDType dtype) {
  return dtype == SafetensorsDType::F32 || dtype == SafetensorsDType::F16 ||
         dtype == SafetensorsDType::BF16;
}

std::string moec::formatShape(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape))
    s += (i ? ", " : "") + std::to_string(d);
  return s + "]";
}

int64_t SafetensorsTensor::getNumElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

float SafetensorsTensor::getFloat(uint64_t i) const {
  if (dtype == SafetensorsDType::BF16 || dtype == SafetensorsDType::F16) {
    uint16_t b;
    std::memcpy(&b, data.data() + 2 * i, 2);
    return dtype == SafetensorsDType::BF16 ? moert::bf16ToFloat(b) : moert::halfToFloat(b);
  }
  float f;
  std::memcpy(&f, data.data() + 4 * i, 4);
  return f;
}

std::string SafetensorsTensor::getShapeString() const {
  return formatShape(shape);
}

void SafetensorsTensor::releasePages() const {
  if (!mapped || data.empty())
    return;
  // Only the pages that lie wholly inside the tensor: a neighbour's bytes
  // on a shared page would be read again anyway.
  uintptr_t page = static_cast<uintptr_t>(llvm::sys::Process::getPageSizeEstimate());
  uintptr_t begin = reinterpret_cast<uintptr_t>(data.data());
  uintptr_t end = begin + data.size();
  begin = (begin + page - 1) / page * page;
  end = end / page * page;
  if (end > begin)
    ::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED);
}

//===----------------------------------------------------------------------===//
// SafetensorsFile
//===----------------------------------------------------------------------===//

Expected<std::unique_ptr<SafetensorsFile>>
SafetensorsFile::open(StringRef path) {
  auto buffer = openInputFile(path, UINT64_MAX, /*map=*/true);
  if (!buffer)
    return buffer.takeError();
  auto guard = std::make_unique<MappedFileGuard>(
      (*buffer)->getBufferStart(), (*buffer)->getBufferSize(), path);
  auto file = parse(std::move(*buffer), path);
  if (file)
    (*file)->guard = std::move(guard);
  return file;
}

Expected<std::unique_ptr<SafetensorsFile>>
SafetensorsFile::parse(std::unique_ptr<MemoryBuffer> buffer, StringRef name) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path = name.str();
  const uint64_t size = buffer->getBufferSize();
  const auto *bytes =
      reinterpret_cast<const uint8_t *>(buffer->getBufferStart());
  if (size < 8)
    return fileError(name, "file is " + Twine(size) +
                               " bytes, too short for the 8-byte header length "
                               "(truncated or not a safetensors file)");
  uint64_t headerLen = readLE64(bytes);
  // The first 8 bytes of any file read as some length: say what is wrong
  // without echoing them as if they were one.
  if (headerLen > maxHeaderBytes)
    return fileError(name, "not a safetensors file: its first 8 bytes are not "
                           "a header length (more than the " +
                               Twine(maxHeaderBytes) + "-byte limit)");
  if (headerLen > size - 8)
    return fileError(name, "truncated or not a safetensors file: the header "
                           "length in its first 8 bytes runs past the end of "
                           "the file (" +
                               Twine(size) + " bytes)");
  const uint64_t dataStart = 8 + headerLen;
  const uint64_t dataSize = size - dataStart;
  StringRef headerText(reinterpret_cast<const char *>(bytes + 8), headerLen);

  Expected<json::Value> header = parseJson(headerText);
  if (!header)
    return fileError(name, "malformed JSON header: " +
                               formatJsonError(header.takeError()));
  const json::Object *root = header->getAsObject();
  if (!root)
    return fileError(name, "the JSON header is not an object");

  for (const auto &[key, value] : *root) {
    StringRef tensorName = key;
    if (tensorName == "__metadata__") {
      if (!value.getAsObject())
        return fileError(name, "__metadata__ is not an object");
      continue;
    }
    const json::Object *entry = value.getAsObject();
    if (!entry)
      return tensorError(name, tensorName, "entry is not an object");
    auto dtypeName = entry->getString("dtype");
    if (!dtypeName)
      return tensorError(name, tensorName, "missing string 'dtype'");
    auto dtype = parseSafetensorsDType(*dtypeName);
    if (!dtype)
      return tensorError(name, tensorName,
                         "unknown dtype '" + *dtypeName + "'");
    const json::Array *shapeArray = entry->getArray("shape");
    if (!shapeArray)
      return tensorError(name, tensorName, "missing array 'shape'");
    const json::Array *offsets = entry->getArray("data_offsets");
    if (!offsets || offsets->size() != 2)
      return tensorError(name, tensorName,
                         "'data_offsets' must be an array of two integers");

    SafetensorsTensor tensor;
    tensor.name = tensorName.str();
    tensor.dtype = *dtype;
    tensor.file = name.str();
    uint64_t elements = 1;
    bool overflow = false;
    for (const json::Value &d : *shapeArray) {
      auto dim = getUnsigned(d);
      if (!dim || *dim > static_cast<uint64_t>(INT64_MAX))
        return tensorError(name, tensorName,
                           "shape entries must be non-negative integers");
      tensor.shape.push_back(static_cast<int64_t>(*dim));
      overflow |= __builtin_mul_overflow(elements, *dim, &elements);
    }
    uint64_t byteCount = 0;
    overflow |= __builtin_mul_overflow(
        elements, uint64_t(getSafetensorsDTypeSize(*dtype)), &byteCount);
    if (overflow || elements > static_cast<uint64_t>(INT64_MAX))
      return tensorError(name, tensorName,
                         "shape " + tensor.getShapeString() +
                             " overflows a 64-bit byte count");
    auto begin = getUnsigned((*offsets)[0]);
    auto end = getUnsigned((*offsets)[1]);
    if (!begin || !end)
      return tensorError(name, tensorName,
                         "'data_offsets' must be non-negative integers");
    if (*begin > *end)
      return tensorError(name, tensorName,
                         "data_offsets [" + Twine(*begin) + ", " + Twine(*end) +
                             "] are reversed");
    if (*end > dataSize)
      return tensorError(name, tensorName,
                         "data_offsets [" + Twine(*begin) + ", " + Twine(*end) +
                             "] run past the data section of " +
                             Twine(dataSize) + " bytes: truncated?");
    if (*end - *begin != byteCount)
      return tensorError(name, tensorName,
                         Twine(stringifySafetensorsDType(*dtype)) + " " +
                             tensor.getShapeString() + " needs " +
                             Twine(byteCount) + " bytes but data_offsets [" +
                             Twine(*begin) + ", " + Twine(*end) + "] hold " +
                             Twine(*end - *begin));
    tensor.data = ArrayRef<uint8_t>(bytes + dataStart + *begin, byteCount);
    tensor.mapped = buffer->getBufferKind() == MemoryBuffer::MemoryBuffer_MMap;
    file->tensors.push_back(std::move(tensor));
  }

  llvm::sort(file->tensors, [](const SafetensorsTensor &a,
                               const SafetensorsTensor &b) {
    return a.data.data() < b.data.data() ||
           (a.data.data() == b.data.data() && a.data.size() < b.data.size());
  });
  for (size_t i = 1; i < file->tensors.size(); ++i) {
    const SafetensorsTensor &prev = file->tensors[i - 1];
    const SafetensorsTensor &cur = file->tensors[i];
    if (cur.data.data() < prev.data.data() + prev.data.size())
      return tensorError(name, cur.name,
                         "bytes overlap those of tensor '" + prev.name + "'");
  }
  for (auto [i, tensor] : llvm::enumerate(file->tensors))
    file->byName[tensor.name] = i;
  file->buffer = std::move(buffer);
  return file;
}

const SafetensorsTensor *SafetensorsFile::find(StringRef name) const {
  auto it = byName.find(name);
  return it == byName.end() ? nullptr : &tensors[it->second];
}

//===----------------------------------------------------------------------===//
// SafetensorsCheckpoint
//===----------------------------------------------------------------------===//

Expected<std::unique_ptr<SafetensorsCheckpoint>>
SafetensorsCheckpoint::open(StringRef pathArg, const ProgressFn &progress) {
  SmallString<256> path(pathArg);
  if (sys::fs::is_directory(path)) {
    SmallString<256> index(path), single(path);
    sys::path::append(index, "model.safetensors.index.json");
    sys::path::append(single, "model.safetensors");
    if (sys::fs::exists(index))
      path = index;
    else if (sys::fs::exists(single))
      path = single;
    else
      return fileError(pathArg, "no model.safetensors or "
                                "model.safetensors.index.json in this "
                                "directory");
  }

  auto checkpoint = std::make_unique<SafetensorsCheckpoint>();
  checkpoint->sourcePath = path.str().str();

  if (!path.ends_with(".json")) {
    if (!sys::fs::exists(path))
      return fileError(path, "no such file");
    uint64_t bytes = 0;
    (void)sys::fs::file_size(path, bytes);
    if (progress)
      progress(1, 1, path, bytes);
    auto file = SafetensorsFile::open(path);
    if (!file)
      return file.takeError();
    for (const SafetensorsTensor &t : (*file)->getTensors())
      checkpoint->byName[t.name] = &t;
    checkpoint->shards.push_back(std::move(*file));
    return checkpoint;
  }

  // A sharded checkpoint: {"weight_map": {"tensor": "shard file", ...}}.
  auto text = openInputFile(path, kMaxJsonConfigBytes);
  if (!text)
    return text.takeError();
  Expected<json::Value> index = parseJson((*text)->getBuffer());
  if (!index)
    return fileError(path, "malformed JSON: " +
                               formatJsonError(index.takeError()));
  const json::Object *root = index->getAsObject();
  const json::Object *weightMap = root ? root->getObject("weight_map") : nullptr;
  if (!weightMap)
    return fileError(path, "missing object 'weight_map'");

  StringRef dir = sys::path::parent_path(path);
  std::vector<std::string> shardNames;
  StringMap<size_t> shardIndex;
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto &[key, value] : *weightMap) {
    auto shard = value.getAsString();
    if (!shard)
      return fileError(path, "weight_map entry '" + StringRef(key) +
                                 "' is not a string");
    if (shard->empty() || shard->contains('/') || shard->contains('\\') ||
        *shard == "." || *shard == "..")
      return fileError(path, "weight_map entry '" + StringRef(key) +
                                 "' names '" + *shard +
                                 "', which is not a file name in the "
                                 "checkpoint's directory");
    if (shardIndex.try_emplace(*shard, shardNames.size()).second)
      shardNames.push_back(shard->str());
    entries.emplace_back(StringRef(key).str(), shard->str());
  }
  llvm::sort(shardNames);
  for (auto [i, shardName] : llvm::enumerate(shardNames))
    shardIndex[shardName] = i;

  for (auto [i, shardName] : llvm::enumerate(shardNames)) {
    SmallString<256> shardPath(dir);
    sys::path::append(shardPath, shardName);
    uint64_t bytes = 0;
    (void)sys::fs::file_size(shardPath, bytes);
    if (progress)
      progress(i + 1, shardNames.size(), shardPath, bytes);
    auto file = SafetensorsFile::open(shardPath);
    if (!file)
      return file.takeError();
    checkpoint->shards.push_back(std::move(*file));
  }
  for (const auto &[tensorName, shardName] : entries) {
    const SafetensorsFile &shard = *checkpoint->shards[shardIndex[shardName]];
    const SafetensorsTensor *t = shard.find(tensorName);
    if (!t)
      return fileError(path, "weight_map puts tensor '" + tensorName +
                                 "' in " + shardName +
                                 ", which does not contain it");
    checkpoint->byName[tensorName] = t;
  }
  return checkpoint;
}

std::vector<const SafetensorsTensor *> SafetensorsCheckpoint::getTensors() const {
  std::vector<const SafetensorsTensor *> all;
  for (const auto &shard : shards)
    for (const SafetensorsTensor &t : shard->getTensors())
      all.push_back(&t);
  return all;
}

const SafetensorsTensor *
SafetensorsCheckpoint::find(StringRef name) const {
  auto it = byName.find(name);
  return it == byName.end() ? nullptr : it->second;
}

Expected<const SafetensorsTensor *>
SafetensorsCheckpoint::lookup(StringRef name) const {
  if (const SafetensorsTensor *t = find(name))
    return t;
  return createStringError(inconvertibleErrorCode(),
                           sourcePath + ": no tensor named '" + name + "'");
}
