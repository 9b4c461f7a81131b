//===- CodeObject.cpp -------------------------------------------------------===//
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "CodeObject.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <mutex>
#include <string>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace moert::rt {

namespace {

// dlerror() is per-thread in glibc, but dlopen's messages may mention the
// path; serializing load/unload also keeps the name checks below atomic.
std::mutex &dlMutex() {
  static std::mutex m;
  return m;
}

bool writeAll(int fd, const uint8_t *data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

int makeMemfd() {
#if defined(SYS_memfd_create)
  // MFD_CLOEXEC (1) | MFD_EXEC (0x10): kernels with vm.memfd_noexec make a
  // memfd non-executable unless asked; older kernels reject MFD_EXEC (EINVAL).
  long fd = ::syscall(SYS_memfd_create, "moert-code", 0x1u | 0x10u);
  if (fd < 0 && errno == EINVAL)
    fd = ::syscall(SYS_memfd_create, "moert-code", 0x1u);
  return static_cast<int>(fd);
#else
  errno = ENOSYS;
  return -1;
#endif
}

std::string lastDlError() {
  const char *e = ::dlerror();
  return e ? e : "unknown dlopen error";
}

/// dlopen matches an already-loaded object by the name it was opened under.
/// A name like /proc/self/fd/5 can come back after an earlier object opened
/// under it was unloaded but kept (RTLD_NODELETE); pick a spelling of the path
/// that no loaded object uses ("/proc/self/fd/./5", ...).
bool pickUnusedName(const std::string &dir, const std::string &leaf,
                    std::string *path) {
  std::string prefix = dir;
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::string candidate = prefix + "/" + leaf;
    void *stale = ::dlopen(candidate.c_str(), RTLD_LAZY | RTLD_NOLOAD);
    if (!stale) {
      *path = candidate;
      return true;
    }
    ::dlclose(stale);
    prefix += "/.";
  }
  return false;
}

} // namespace

Status checkHostElfHeader(const uint8_t *data, size_t size) {
  if (size < 64)
    return error(MOERT_INVALID_ARTIFACT, "is ", size,
                 " bytes, too small for an ELF header");
  if (!(data[0] == 0x7f && data[1] == 'E' && data[2] == 'L' && data[3] == 'F'))
    return error(MOERT_INVALID_ARTIFACT, "is not an ELF object (bad ELF magic)");
  if (data[4] != 2 /*ELFCLASS64*/ || data[5] != 1 /*ELFDATA2LSB*/)
    return error(MOERT_INVALID_ARTIFACT,
                 "is not a 64-bit little-endian ELF object");
  uint16_t type = static_cast<uint16_t>(data[16] | (data[17] << 8));
  uint16_t machine = static_cast<uint16_t>(data[18] | (data[19] << 8));
  if (type != 3 /*ET_DYN*/)
    return error(MOERT_INVALID_ARTIFACT,
                 "is not an ELF shared object (e_type ", type, ")");
  if (machine != 62 /*EM_X86_64*/)
    return error(MOERT_INVALID_ARTIFACT, "is not an x86-64 ELF object (e_machine ",
                 machine, ")");
  return Status();
}

Status checkHostCpuFeatures(const std::string &arch, uint32_t index) {
  // __builtin_cpu_supports takes only string literals: one entry per feature.
  struct Feature {
    const char *name;
    bool present;
  };
  __builtin_cpu_init();
  const Feature known[] = {
      {"sse4.2", bool(__builtin_cpu_supports("sse4.2"))},
      {"popcnt", bool(__builtin_cpu_supports("popcnt"))},
      {"avx", bool(__builtin_cpu_supports("avx"))},
      {"avx2", bool(__builtin_cpu_supports("avx2"))},
      {"fma", bool(__builtin_cpu_supports("fma"))},
      {"bmi", bool(__builtin_cpu_supports("bmi"))},
      {"bmi2", bool(__builtin_cpu_supports("bmi2"))},
      {"avx512f", bool(__builtin_cpu_supports("avx512f"))},
      {"avx512bw", bool(__builtin_cpu_supports("avx512bw"))},
      {"avx512dq", bool(__builtin_cpu_supports("avx512dq"))},
      {"avx512vl", bool(__builtin_cpu_supports("avx512vl"))},
      {"avx512vnni", bool(__builtin_cpu_supports("avx512vnni"))},
      {"avx512bf16", bool(__builtin_cpu_supports("avx512bf16"))},
  };
  size_t plus = arch.find('+');
  std::string cpu = arch.substr(0, plus);
  while (plus != std::string::npos) {
    size_t next = arch.find('+', plus + 1);
    std::string name = arch.substr(plus + 1, next == std::string::npos
                                                 ? std::string::npos
                                                 : next - plus - 1);
    plus = next;
    const Feature *f = nullptr;
    for (const Feature &k : known)
      if (name == k.name)
        f = &k;
    if (!f)
      return error(MOERT_UNSUPPORTED, "code object ", index,
                   ": its kernels need the CPU feature '", name,
                   "', which this runtime cannot check");
    if (!f->present)
      return error(MOERT_UNSUPPORTED, "code object ", index,
                   ": its kernels were compiled for ", cpu, " and need ",
                   name, ", which this CPU lacks; recompile with "
                   "moe-compile --cpu=x86-64 (or --cpu=native on this machine)");
  }
  return Status();
}

Status LoadedCode::load(const uint8_t *data, size_t size, uint32_t index,
                        std::shared_ptr<LoadedCode> *out) {
  std::shared_ptr<LoadedCode> code(new LoadedCode());
  code->index_ = index;
  std::string where = "code object " + std::to_string(index) + ": ";
  std::lock_guard<std::mutex> lock(dlMutex());

  // 1. memfd + /proc/self/fd/N.
  std::string memfdError;
  int fd = makeMemfd();
  if (fd >= 0) {
    std::string path;
    if (!writeAll(fd, data, size)) {
      memfdError = std::string("writing the memfd failed: ") + std::strerror(errno);
    } else if (::access("/proc/self/fd", X_OK) != 0) {
      memfdError = "/proc/self/fd is not available";
    } else if (!pickUnusedName("/proc/self/fd", std::to_string(fd), &path)) {
      memfdError = "no unused name for /proc/self/fd/" + std::to_string(fd);
    } else {
      ::dlerror();
      void *handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle) {
        code->handle_ = handle;
        code->fd_ = fd;
        code->method_ = "memfd";
        *out = std::move(code);
        return Status();
      }
      // Perhaps memfds may not be executed here; try a temporary file (a bad
      // object fails there too, and the message gives both reasons).
      memfdError = "dlopen failed: " + lastDlError();
    }
    ::close(fd);
  } else {
    memfdError = std::string("memfd_create failed: ") + std::strerror(errno);
  }

  // 2. A temporary file, unlinked as soon as it is mapped.
  const char *tmpdir = std::getenv("TMPDIR");
  std::string dir = tmpdir && *tmpdir ? tmpdir : "/tmp";
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string templ = dir + "/moert-code-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    int tfd = ::mkstemp(buf.data());
    if (tfd < 0)
      return error(MOERT_LOAD_ERROR, where, "cannot load from memory (",
                   memfdError, ") nor create a temporary file in ", dir, ": ",
                   std::strerror(errno));
    std::string path(buf.data());
    bool written = writeAll(tfd, data, size);
    int writeErrno = errno;
    ::close(tfd);
    if (!written) {
      ::unlink(path.c_str());
      return error(MOERT_LOAD_ERROR, where, "writing ", path,
                   " failed: ", std::strerror(writeErrno));
    }
    void *stale = ::dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
    if (stale) { // a kept object was once loaded under this name
      ::dlclose(stale);
      ::unlink(path.c_str());
      continue;
    }
    ::dlerror();
    void *handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    std::string e = handle ? "" : lastDlError();
    ::unlink(path.c_str());
    if (!handle)
      return error(MOERT_LOAD_ERROR, where, "dlopen failed: ", e,
                   " (from memory: ", memfdError, ")");
    code->handle_ = handle;
    code->method_ = "tempfile";
    *out = std::move(code);
    return Status();
  }
  return error(MOERT_LOAD_ERROR, where, "no unused temporary file name in ", dir);
}

LoadedCode::~LoadedCode() {
  std::lock_guard<std::mutex> lock(dlMutex());
  if (handle_)
    ::dlclose(handle_);
  if (fd_ >= 0)
    ::close(fd_);
}

Status LoadedCode::resolve(const std::string &name, KernelFn *fn) const {
  ::dlerror();
  void *sym = ::dlsym(handle_, name.c_str());
  if (!sym)
    return error(MOERT_LOAD_ERROR, "kernel '", name,
                 "' is not defined in code object ", index_);
  // dlsym also searches the object's dependencies; a kernel must be the
  // object's own symbol.
  Dl_info info;
  struct link_map *map = nullptr;
  if (::dladdr(sym, &info) == 0 || !info.dli_fname ||
      ::dlinfo(handle_, RTLD_DI_LINKMAP, &map) != 0 || !map || !map->l_name ||
      std::strcmp(info.dli_fname, map->l_name) != 0)
    return error(MOERT_LOAD_ERROR, "kernel '", name,
                 "' resolves outside code object ", index_,
                 " (it is not defined there)");
  *fn = reinterpret_cast<KernelFn>(sym);
  return Status();
}

} // namespace moert::rt
