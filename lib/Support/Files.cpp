//===- Files.cpp - hostile-proof input files, checked output --------------===//
#include "moec/Support/Files.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/ToolOutputFile.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <sys/stat.h>
#include <unistd.h>

using namespace llvm;

const char *moec::describeFileKind(unsigned mode) {
  switch (mode & S_IFMT) {
  case S_IFREG:
    return "a regular file";
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

namespace {
Error fileError(StringRef path, const Twine &message) {
  return createStringError(inconvertibleErrorCode(), path + ": " + message);
}

Expected<std::unique_ptr<MemoryBuffer>> readStdin(uint64_t maxBytes) {
  std::string data;
  char chunk[65536];
  for (;;) {
    ssize_t n = ::read(0, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fileError("<stdin>", Twine("read failed: ") + std::strerror(errno));
    if (n == 0)
      break;
    if (data.size() + static_cast<uint64_t>(n) > maxBytes)
      return fileError("<stdin>", "more than " + Twine(maxBytes) +
                                      " bytes, the most this input may have");
    data.append(chunk, static_cast<size_t>(n));
  }
  return MemoryBuffer::getMemBufferCopy(data, "<stdin>");
}
} // namespace

Expected<std::unique_ptr<MemoryBuffer>>
moec::openInputFile(StringRef path, uint64_t maxBytes, bool map) {
  if (path == "-")
    return readStdin(maxBytes);
  std::string p = path.str();
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
  // below anyway. (For a regular file the flag changes nothing.)
  int fd = ::open(p.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return fileError(path, Twine("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return fileError(path, Twine("cannot stat: ") + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fileError(path, Twine("is ") + describeFileKind(st.st_mode) +
                               ", not a regular file");
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > maxBytes) {
    ::close(fd);
    return fileError(path, "is " + Twine(size) + " bytes, more than the " +
                               Twine(maxBytes) + " this input may have");
  }
  auto buffer = MemoryBuffer::getOpenFile(
      sys::fs::convertFDToNativeFile(fd), path, size,
      /*RequiresNullTerminator=*/!map, /*IsVolatile=*/!map);
  ::close(fd);
  if (!buffer)
    return fileError(path, "cannot read: " + buffer.getError().message());
  if ((*buffer)->getBufferSize() != size)
    return fileError(path, "changed size while it was being read");
  return std::move(*buffer);
}

//===----------------------------------------------------------------------===//
// MappedFileGuard
//===----------------------------------------------------------------------===//

namespace {
constexpr int kGuardSlots = 4096;
struct GuardSlot {
  std::atomic<int> state{0}; // 0 free, 1 being filled, 2 active
  uintptr_t begin = 0, end = 0;
  char message[320];
  size_t length = 0;
};
GuardSlot gSlots[kGuardSlots];
struct sigaction gPrevious;

void onSigbus(int sig, siginfo_t *info, void *) {
  uintptr_t addr = reinterpret_cast<uintptr_t>(info ? info->si_addr : nullptr);
  for (GuardSlot &s : gSlots) {
    if (s.state.load(std::memory_order_acquire) == 2 && addr >= s.begin &&
        addr < s.end) {
      ssize_t ignored = ::write(2, s.message, s.length);
      (void)ignored;
      ::_exit(1);
    }
  }
  // Not a guarded mapping: let the previous handler (or the default action)
  // take the re-raised fault.
  ::sigaction(sig, &gPrevious, nullptr);
}

void installSigbusHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action;
    std::memset(&action, 0, sizeof action);
    action.sa_sigaction = onSigbus;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGBUS, &action, &gPrevious);
  });
}
} // namespace

moec::MappedFileGuard::MappedFileGuard(const void *data, uint64_t size,
                                       StringRef path) {
  if (!data || size == 0)
    return;
  installSigbusHandler();
  for (int i = 0; i < kGuardSlots; ++i) {
    int expected = 0;
    if (!gSlots[i].state.compare_exchange_strong(expected, 1))
      continue;
    GuardSlot &s = gSlots[i];
    s.begin = reinterpret_cast<uintptr_t>(data);
    s.end = s.begin + size;
    std::string text = ("error: " + path +
                        ": the file shrank while it was being read (SIGBUS); "
                        "do not change a checkpoint while moec reads it\n")
                           .str();
    if (text.size() > sizeof s.message) {
      text.resize(sizeof s.message - 1);
      text.back() = '\n';
    }
    std::memcpy(s.message, text.data(), text.size());
    s.length = text.size();
    s.state.store(2, std::memory_order_release);
    slot_ = i;
    return;
  }
}

moec::MappedFileGuard::~MappedFileGuard() {
  if (slot_ >= 0)
    gSlots[slot_].state.store(0, std::memory_order_release);
}

//===----------------------------------------------------------------------===//
// Nesting depth
//===----------------------------------------------------------------------===//

namespace {
/// The index of the '"' that closes the string opened at `open` (backslash
/// escapes skipped), or text.size() when it is not closed.
size_t stringEnd(StringRef text, size_t open) {
  for (size_t i = open + 1; i < text.size(); ++i) {
    if (text[i] == '\\')
      ++i;
    else if (text[i] == '"')
      return i;
  }
  return text.size();
}
} // namespace

unsigned moec::jsonNestingDepth(StringRef text, unsigned limit) {
  unsigned depth = 0, deepest = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"') {
      i = stringEnd(text, i);
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit)
        return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

Error moec::checkMlirInput(StringRef text, StringRef name) {
  if (text.starts_with(StringRef("ML\xef\x52", 4)))
    return fileError(name, "is MLIR bytecode, which moec does not read (its "
                           "reader is not hardened against hostile files); "
                           "convert it to text first (mlir-opt FILE -o "
                           "FILE.mlir)");
  unsigned depth = 0;
  unsigned line = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    switch (c) {
    case '\n':
      ++line;
      break;
    case '"': {
      size_t end = stringEnd(text, i);
      line += text.slice(i, end).count('\n');
      i = end;
      break;
    }
    case '/':
      if (i + 1 < text.size() && text[i + 1] == '/') { // a comment
        size_t eol = text.find('\n', i);
        i = (eol == StringRef::npos ? text.size() : eol) - 1;
      }
      break;
    case '-':
      if (i + 1 < text.size() && text[i + 1] == '>') // "->", not a bracket
        ++i;
      break;
    case '{':
    case '(':
    case '[':
    case '<':
      if (++depth > kMaxMlirDepth)
        return fileError(name, "line " + Twine(line) +
                                   ": nested more than " +
                                   Twine(kMaxMlirDepth) +
                                   " levels deep (regions, attributes or "
                                   "types); moec refuses such input");
      break;
    case '}':
    case ')':
    case ']':
    case '>':
      if (depth > 0)
        --depth;
      break;
    default:
      break;
    }
  }
  return Error::success();
}

//===----------------------------------------------------------------------===//
// Output
//===----------------------------------------------------------------------===//

Error moec::finishOutput(ToolOutputFile &out) {
  raw_fd_ostream &os = out.os();
  os.flush();
  if (!os.has_error() && out.getFilename() != "-")
    os.close(); // errors a file system reports only at close count too
  if (os.has_error()) {
    std::error_code ec = os.error();
    os.clear_error(); // else raw_fd_ostream's destructor aborts the process
    return createStringError(ec, out.getFilename() +
                                     ": writing failed: " + ec.message());
  }
  out.keep();
  return Error::success();
}
