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

} // namespace moert::rt

#endif // MOERT_SRC_INPUTFILE_H
