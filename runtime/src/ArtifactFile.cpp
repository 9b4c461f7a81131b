//===- ArtifactFile.cpp - reading a .moeb artifact, its header and checksums ===//
//
// Steps 1 and 2 of docs/artifact.md, "What the loader checks": the file
// mapped read-only (or the caller's bytes copied into a private mapping, made
// read-only), then the header's fields and the table's checksum.
// Model::checkTable (TableChecker.cpp) follows, then the blobs' checksums
// (Verification.cpp).
//
//===----------------------------------------------------------------------===//
#include "InputFile.h"
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
  ::madvise(p, want, MADV_HUGEPAGE); // as synthetic weights (SyntheticWeights.cpp)
  *map = static_cast<uint8_t *>(p);
  *mapSize = want;
  return Status();
}

} // namespace

Status Model::loadMemory(const void *data, size_t size, const LoadPolicy &policy,
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
  // Weights and code are read-only from here on: a kernel that writes a
  // weight faults instead of silently changing the model for other sessions.
  if (::mprotect(map, mapSize, PROT_READ) != 0) {
    int e = errno;
    ::munmap(map, mapSize);
    return error(MOERT_INTERNAL, "mprotect of the artifact failed: ",
                 std::strerror(e));
  }
  std::shared_ptr<Model> model(new Model());
  if (!(s = model->adopt(map, mapSize, size, policy)))
    return s;
  *out = std::move(model);
  return Status();
}

// The file is mapped read-only and shared: its pages are the page cache's,
// so every process that serves the same artifact shares them, and a page is
// read from disk when it is first touched (by verification or by a run).
Status Model::loadFile(const char *path, const LoadPolicy &policy,
                       std::shared_ptr<const Model> *out) {
  if (!path)
    return error(MOERT_INVALID_ARGUMENT, "the artifact path is NULL");
  uint64_t fileSize = 0;
  std::string why;
  int err = 0;
  int fd = openRegularFile(path, &fileSize, &why, &err);
  if (fd < 0)
    return error(err == ENOENT ? MOERT_NOT_FOUND : MOERT_IO_ERROR, "'", path,
                 "': ", why);
  size_t size = static_cast<size_t>(fileSize);
  if (size < kHeaderSize) {
    ::close(fd);
    return error(MOERT_INVALID_ARTIFACT, "'", path, "': the artifact is ", size,
                 " bytes, smaller than the ", kHeaderSize,
                 "-byte header (truncated, or not a .moeb file)");
  }
  void *p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  int e = errno;
  ::close(fd); // the mapping keeps the file
  if (p == MAP_FAILED)
    return error(e == ENOMEM ? MOERT_OUT_OF_MEMORY : MOERT_IO_ERROR,
                 "cannot map '", path, "' (", size, " bytes): ", std::strerror(e));
  // Readahead in 2 MiB folios where the kernel and filesystem have them, so
  // that weights stream without a page walk per 4 KiB (docs/runtime.md,
  // "Pages"); an error only means small pages.
  ::madvise(p, size, MADV_HUGEPAGE);
  size_t ps = pageSize();
  std::shared_ptr<Model> model(new Model());
  model->fileBacked_ = true;
  if (Status s = model->adopt(static_cast<uint8_t *>(p), (size + ps - 1) / ps * ps,
                              size, policy);
      !s)
    return s.prefixed("'" + std::string(path) + "': ");
  *out = std::move(model);
  return Status();
}

uint64_t Model::memoryBudget() const {
  if (policy_.memoryBudget)
    return policy_.memoryBudget;
  long pages = ::sysconf(_SC_PHYS_PAGES);
  return pages > 0 ? static_cast<uint64_t>(pages) * pageSize() : UINT64_MAX;
}

const char *Model::memoryBudgetName() const {
  return policy_.memoryBudget ? "the memory budget" : "this machine's memory";
}

Status Model::adopt(uint8_t *map, size_t mapSize, size_t size,
                    const LoadPolicy &policy) {
  map_ = map;
  mapSize_ = mapSize;
  size_ = size;
  policy_ = policy;
  verify_ = policy.verify;
  codeCache_.clear();
  Status s = checkHeader();
  if (!s)
    return s;
  // A signature covers the header, the table and the blobs' hashes: checked
  // before anything in the table is read (Signature.cpp).
  if (!(s = checkSignature()))
    return s;
  if (!(s = checkTable()) || !(s = attachBlobHashes()))
    return s;
  // The code objects are small and loaded by every session: checked now in
  // both modes. The weights: all of them now (full), or each before its
  // first use (lazy, Model::verifyWeights).
  if (!(s = verifyCodeObjects()))
    return s;
  if (verify_ == Verify::Full) {
    std::vector<uint32_t> all(weights_.size());
    for (uint32_t i = 0; i < all.size(); ++i)
      all[i] = i;
    if (!(s = verifyWeights(all)) || !(s = checkPadding()))
      return s;
  }
  return Status();
}

void Model::releasePages(const uint8_t *data, uint64_t bytes) const {
  if (!fileBacked_ || !bytes || data < map_ || data + bytes > map_ + size_)
    return;
  uintptr_t ps = pageSize();
  uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + ps - 1) / ps * ps;
  uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) / ps * ps;
  if (end > begin)
    ::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED);
}

// Steps 1 and 2: the header and the table's checksum (the blobs' checksums
// are Verification.cpp's).
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
  if (h.format_version < kMinFormatVersion || h.format_version > kFormatVersion)
    return error(MOERT_UNSUPPORTED, "the artifact has format version ",
                 h.format_version, "; this runtime reads format versions ",
                 kMinFormatVersion, " to ", kFormatVersion);
  formatVersion_ = h.format_version;
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
  if (h.blob_offset != kHeaderSize)
    return error(MOERT_INVALID_ARTIFACT, "blob_offset is ", h.blob_offset,
                 ", expected ", kHeaderSize);
  if (h.blob_size % kAlignment != 0)
    return error(MOERT_INVALID_ARTIFACT, "blob_size ", h.blob_size,
                 " is not a multiple of ", kAlignment);
  if (h.blob_size > size_ - kHeaderSize)
    return error(MOERT_INVALID_ARTIFACT, "blob_size ", h.blob_size,
                 " runs past the end of the ", size_, "-byte artifact");
  if (h.table_offset != kHeaderSize + h.blob_size)
    return error(MOERT_INVALID_ARTIFACT, "table_offset is ", h.table_offset,
                 ", expected 128 + blob_size = ", kHeaderSize + h.blob_size);
  // The table ends where the signature section starts, or at the end.
  uint64_t tableEnd = h.signature_size ? h.signature_offset : size_;
  if (h.signature_size == 0 && h.signature_offset != 0)
    return error(MOERT_INVALID_ARTIFACT, "signature_offset is ",
                 h.signature_offset, " with signature_size 0");
  if (h.signature_size &&
      (h.signature_offset < h.table_offset ||
       h.signature_offset > size_ || h.signature_size != size_ - h.signature_offset))
    return error(MOERT_INVALID_ARTIFACT, "the signature section [",
                 h.signature_offset, ", +", h.signature_size,
                 ") does not end the ", size_, "-byte artifact");
  if (h.table_size != tableEnd - h.table_offset)
    return error(MOERT_INVALID_ARTIFACT, "table_offset + table_size = ",
                 h.table_offset, " + ", h.table_size,
                 " runs past the end of the ", size_,
                 "-byte artifact (or its signature section) or stops short of it");
  for (size_t i = 0; i < sizeof h.reserved / sizeof h.reserved[0]; ++i)
    if (h.reserved[i] != 0)
      return error(MOERT_INVALID_ARTIFACT, "reserved header word ", i, " is ",
                   h.reserved[i], ", expected 0");
  if (checksum64(map_ + h.table_offset, h.table_size) != h.table_checksum)
    return error(MOERT_INVALID_ARTIFACT,
                 "table checksum mismatch: the table is corrupted");
  blobSize_ = h.blob_size;
  tableOffset_ = h.table_offset;
  tableSize_ = h.table_size;
  signatureOffset_ = h.signature_offset;
  signatureSize_ = h.signature_size;
  return Status();
}

} // namespace moert::rt
