//===- ArtifactFile.cpp - reading a .moeb artifact, its header and checksums ===//
//
// Steps 1 and 2 of docs/artifact.md, "What the loader checks": the file (or
// the caller's bytes) into one private mapping, made read-only, then the
// header's fields and the three checksums. Model::checkTable (TableChecker.cpp)
// follows.
//
//===----------------------------------------------------------------------===//
#include "Model.h"

#include "moert/format.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace moert::rt {

namespace {

constexpr size_t kHeaderSize = sizeof(FileHeader);

size_t pageSize() {
  long p = ::sysconf(_SC_PAGESIZE);
  return p > 0 ? static_cast<size_t>(p) : 4096;
}

/// An anonymous, page-aligned mapping of at least `size` bytes (one page for 0).
Status allocMapping(size_t size, uint8_t **map, size_t *mapSize) {
  size_t ps = pageSize();
  if (size > SIZE_MAX - ps)
    return error(MOERT_OUT_OF_MEMORY, "cannot allocate ", size,
                 " bytes for the artifact");
  size_t want = (std::max<size_t>(size, 1) + ps - 1) / ps * ps;
  void *p = ::mmap(nullptr, want, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return error(MOERT_OUT_OF_MEMORY, "cannot allocate ", size,
                 " bytes for the artifact: ", std::strerror(errno));
  *map = static_cast<uint8_t *>(p);
  *mapSize = want;
  return Status();
}

} // namespace

Status Model::loadMemory(const void *data, size_t size,
                         std::shared_ptr<const Model> *out) {
  if (!data && size > 0)
    return error(MOERT_INVALID_ARGUMENT, "the artifact's data pointer is NULL");
  uint8_t *map = nullptr;
  size_t mapSize = 0;
  Status s = allocMapping(size, &map, &mapSize);
  if (!s)
    return s;
  if (size)
    std::memcpy(map, data, size);
  std::shared_ptr<Model> model(new Model());
  if (!(s = model->adopt(map, mapSize, size)))
    return s;
  *out = std::move(model);
  return Status();
}

Status Model::loadFile(const char *path, std::shared_ptr<const Model> *out) {
  if (!path)
    return error(MOERT_INVALID_ARGUMENT, "the artifact path is NULL");
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return error(e == ENOENT ? MOERT_NOT_FOUND : MOERT_IO_ERROR, "cannot open '",
                 path, "': ", std::strerror(e));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return error(MOERT_IO_ERROR, "cannot read '", path, "': not a regular file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  uint8_t *map = nullptr;
  size_t mapSize = 0;
  Status s = allocMapping(size, &map, &mapSize);
  if (!s) {
    ::close(fd);
    return s.prefixed("'" + std::string(path) + "': ");
  }
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, map + done, size - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int e = n < 0 ? errno : 0;
      ::close(fd);
      ::munmap(map, mapSize);
      return error(MOERT_IO_ERROR, "cannot read '", path, "': ",
                   e ? std::strerror(e) : "the file shrank while being read");
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  std::shared_ptr<Model> model(new Model());
  if (!(s = model->adopt(map, mapSize, size)))
    return s.prefixed("'" + std::string(path) + "': ");
  *out = std::move(model);
  return Status();
}

Status Model::adopt(uint8_t *map, size_t mapSize, size_t size) {
  map_ = map;
  mapSize_ = mapSize;
  size_ = size;
  codeCache_.clear();
  // Weights and code are read-only from here on: a kernel that writes a
  // weight faults instead of silently changing the model for other sessions.
  if (::mprotect(map_, mapSize_, PROT_READ) != 0)
    return error(MOERT_INTERNAL, "mprotect of the artifact failed: ",
                 std::strerror(errno));
  Status s = checkHeader();
  if (!s)
    return s;
  return checkTable();
}

// Steps 1 and 2.
Status Model::checkHeader() {
  if (size_ < kHeaderSize)
    return error(MOERT_INVALID_ARTIFACT, "the artifact is ", size_,
                 " bytes, smaller than the ", kHeaderSize,
                 "-byte header (truncated, or not a .moeb file)");
  FileHeader h;
  std::memcpy(&h, map_, sizeof h);
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0)
    return error(MOERT_INVALID_ARTIFACT,
                 "bad magic: not a .moeb artifact (expected \"MOEBART\\0\")");
  if (h.format_version != kFormatVersion)
    return error(MOERT_UNSUPPORTED, "the artifact has format version ",
                 h.format_version, "; this runtime reads format version ",
                 kFormatVersion, " only");
  if (h.header_size != kHeaderSize)
    return error(MOERT_INVALID_ARTIFACT, "header_size is ", h.header_size,
                 ", expected ", kHeaderSize);
  if (checksum64(map_, offsetof(FileHeader, header_checksum)) != h.header_checksum)
    return error(MOERT_INVALID_ARTIFACT,
                 "header checksum mismatch: the header is corrupted");
  if (h.file_size != size_)
    return error(MOERT_INVALID_ARTIFACT, "the header says file_size = ",
                 h.file_size, ", but the artifact is ", size_,
                 " bytes (truncated or extended)");
  if (h.table_offset != kHeaderSize)
    return error(MOERT_INVALID_ARTIFACT, "table_offset is ", h.table_offset,
                 ", expected ", kHeaderSize);
  if (h.table_size > size_ - kHeaderSize)
    return error(MOERT_INVALID_ARTIFACT, "table_size ", h.table_size,
                 " runs past the end of the ", size_, "-byte artifact");
  uint64_t tableEnd = kHeaderSize + h.table_size;
  if (h.blob_offset != alignUp(tableEnd))
    return error(MOERT_INVALID_ARTIFACT, "blob_offset is ", h.blob_offset,
                 ", expected alignUp(128 + table_size) = ", alignUp(tableEnd));
  if (h.blob_offset > h.file_size || h.blob_size != h.file_size - h.blob_offset)
    return error(MOERT_INVALID_ARTIFACT, "blob_offset + blob_size = ",
                 h.blob_offset, " + ", h.blob_size, ", expected file_size = ",
                 h.file_size);
  for (size_t i = 0; i < sizeof h.reserved / sizeof h.reserved[0]; ++i)
    if (h.reserved[i] != 0)
      return error(MOERT_INVALID_ARTIFACT, "reserved header word ", i, " is ",
                   h.reserved[i], ", expected 0");
  if (checksum64(map_ + kHeaderSize, h.table_size) != h.table_checksum)
    return error(MOERT_INVALID_ARTIFACT,
                 "table checksum mismatch: the table is corrupted");
  if (checksum64(map_ + tableEnd, size_ - tableEnd) != h.blob_checksum)
    return error(MOERT_INVALID_ARTIFACT, "blob checksum mismatch: the weights, "
                 "code objects or padding are corrupted");
  return Status();
}

} // namespace moert::rt
