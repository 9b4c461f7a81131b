//===- SafetensorsWriter.cpp - writing safetensors checkpoints ------------===//
#include "moec/Support/SafetensorsWriter.h"
#include "moec/Support/Files.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ToolOutputFile.h"

#include <cstdio>

using namespace llvm;
using namespace moec;

uint64_t SafetensorsEntry::getNumBytes() const {
  uint64_t n = getSafetensorsDTypeSize(dtype);
  for (int64_t d : shape)
    n *= static_cast<uint64_t>(d);
  return n;
}

Error moec::writeSafetensorsFile(StringRef path, ArrayRef<SafetensorsEntry> entries,
                                 function_ref<Error(size_t, raw_ostream &)> write) {
  json::Object header;
  header["__metadata__"] = json::Object{{"format", "pt"}};
  uint64_t offset = 0;
  for (const SafetensorsEntry &e : entries) {
    if (e.name == "__metadata__" || header.get(e.name))
      return createStringError(inconvertibleErrorCode(), "%s: tensor name '%s' is used twice",
                               path.str().c_str(), e.name.c_str());
    uint64_t bytes = e.getNumBytes();
    json::Array shape;
    for (int64_t d : e.shape)
      shape.push_back(d);
    header[e.name] = json::Object{{"dtype", stringifySafetensorsDType(e.dtype)},
                                  {"shape", std::move(shape)},
                                  {"data_offsets", json::Array{offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  raw_string_ostream(text) << json::Value(std::move(header));
  text.append((8 - text.size() % 8) % 8, ' ');

  std::string temp = (path + ".partial").str();
  std::error_code ec;
  ToolOutputFile out(temp, ec, sys::fs::OF_None);
  if (ec)
    return createStringError(ec, "%s: cannot write: %s", temp.c_str(), ec.message().c_str());
  raw_fd_ostream &os = out.os();
  uint64_t length = text.size();
  char prefix[8];
  for (int i = 0; i < 8; ++i)
    prefix[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  os.write(prefix, 8);
  os << text;
  uint64_t dataStart = 8 + text.size();
  offset = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (Error err = write(i, os)) {
      os.clear_error(); // the partial file is removed; do not abort on it
      return err;
    }
    uint64_t bytes = entries[i].getNumBytes();
    uint64_t wrote = os.tell() - dataStart - offset;
    if (wrote != bytes) {
      os.clear_error(); // the partial file is removed; do not abort on it
      return createStringError(inconvertibleErrorCode(),
                               "%s: tensor '%s': %llu bytes written, %llu expected",
                               path.str().c_str(), entries[i].name.c_str(),
                               (unsigned long long)wrote, (unsigned long long)bytes);
    }
    offset += bytes;
    if (os.has_error())
      break;
  }
  if (Error err = finishOutput(out))
    return err;
  if (std::error_code rc = sys::fs::rename(temp, path)) {
    sys::fs::remove(temp);
    return createStringError(rc, "%s: cannot rename to %s: %s", temp.c_str(),
                             path.str().c_str(), rc.message().c_str());
  }
  return Error::success();
}

std::vector<size_t> moec::assignSafetensorsShards(ArrayRef<SafetensorsEntry> entries,
                                                  uint64_t maxShardBytes, size_t &numShards) {
  std::vector<size_t> shardOf;
  size_t shard = 0;
  uint64_t inShard = 0;
  for (const SafetensorsEntry &e : entries) {
    uint64_t bytes = e.getNumBytes();
    if (inShard > 0 && inShard + bytes > maxShardBytes) {
      ++shard;
      inShard = 0;
    }
    inShard += bytes;
    shardOf.push_back(shard);
  }
  numShards = entries.empty() ? 1 : shard + 1;
  return shardOf;
}

std::string moec::safetensorsShardName(size_t index, size_t numShards) {
  if (numShards == 1)
    return "model.safetensors";
  char name[64];
  std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", index + 1, numShards);
  return name;
}

Error moec::writeSafetensorsIndex(StringRef dir, ArrayRef<SafetensorsEntry> entries,
                                  ArrayRef<size_t> shardOf, size_t numShards) {
  uint64_t total = 0;
  json::Object map;
  for (size_t i = 0; i < entries.size(); ++i) {
    total += entries[i].getNumBytes();
    map[entries[i].name] = safetensorsShardName(shardOf[i], numShards);
  }
  json::Object index{{"metadata", json::Object{{"total_size", total}}},
                     {"weight_map", std::move(map)}};
  SmallString<256> path(dir);
  sys::path::append(path, "model.safetensors.index.json");
  std::string temp = (path + ".partial").str();
  std::error_code ec;
  ToolOutputFile out(temp, ec, sys::fs::OF_Text);
  if (ec)
    return createStringError(ec, "%s: cannot write: %s", temp.c_str(), ec.message().c_str());
  out.os() << formatv("{0:2}", json::Value(std::move(index))) << "\n";
  if (Error e = finishOutput(out))
    return e;
  if (std::error_code rc = sys::fs::rename(temp, path)) {
    sys::fs::remove(temp);
    return createStringError(rc, "%s: cannot rename to %s: %s", temp.c_str(), path.c_str(),
                             rc.message().c_str());
  }
  return Error::success();
}
