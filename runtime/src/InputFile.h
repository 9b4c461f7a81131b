//===- InputFile.h - opening an input file that may be hostile --------------===//
//
// Every file the runtime and its tools read is opened here: without blocking
// (opening a FIFO must not wait for a writer), and only if it is a regular
// file; anything else is refused with its kind named ("is a FIFO, not a
// regular file"). docs/reliability.md, "Threat model".
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_INPUTFILE_H
#define MOERT_SRC_INPUTFILE_H

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace moert::rt {

inline const char *fileKindName(mode_t mode) {
  switch (mode & S_IFMT) {
  case S_IFDIR:
    return "a directory";
  case S_IFIFO:
    return "a FIFO";
  case S_IFCHR:
    return "a character device";
  case S_IFBLK:
    return "a block device";
  case S_IFSOCK:
    return "a socket";
  default:
    return "not a regular file";
  }
}

/// Opens `path` read-only. Returns the descriptor and its size, or -1 with
/// `*error` ("cannot open: REASON" or "is a FIFO, not a regular file") and
/// `*err` the errno (0 when the file exists but is not regular).
inline int openRegularFile(const char *path, uint64_t *size, std::string *error,
                           int *err) {
  int fd = ::open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    *err = errno;
    *error = std::string("cannot open: ") + std::strerror(*err);
    return -1;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    *err = errno;
    *error = std::string("cannot stat: ") + std::strerror(*err);
    ::close(fd);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    *err = 0;
    *error = std::string("is ") + fileKindName(st.st_mode) +
             ", not a regular file";
    ::close(fd);
    return -1;
  }
  *size = static_cast<uint64_t>(st.st_size);
  return fd;
}

/// Reads the regular file `path` whole into `*out`, if it is at most
/// `maxBytes`; false with `*error` ("cannot open: ...", "is a FIFO, not a
/// regular file", "is N bytes, more than M", "cannot read: ...") otherwise.
inline bool readRegularFile(const char *path, uint64_t maxBytes, std::string *out,
                            std::string *error) {
  uint64_t size = 0;
  int err = 0;
  int fd = openRegularFile(path, &size, error, &err);
  if (fd < 0)
    return false;
  if (size > maxBytes) {
    ::close(fd);
    *error = "is " + std::to_string(size) + " bytes, more than " +
             std::to_string(maxBytes);
    return false;
  }
  try {
    out->resize(static_cast<size_t>(size));
  } catch (const std::bad_alloc &) {
    ::close(fd);
    *error = std::to_string(size) + " bytes do not fit in memory";
    return false;
  }
  size_t have = 0;
  while (have < out->size()) {
    ssize_t n = ::read(fd, &(*out)[have], out->size() - have);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      *error = std::string("cannot read: ") +
               (n < 0 ? std::strerror(errno) : "the file shrank");
      ::close(fd);
      return false;
    }
    have += static_cast<size_t>(n);
  }
  ::close(fd);
  return true;
}

} // namespace moert::rt

#endif // MOERT_SRC_INPUTFILE_H
