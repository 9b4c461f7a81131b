//===- FakeDriver.cpp - a stand-in libcuda.so.1 for tests (see FakeCuda.h) ---===//
#include "FakeCuda.h"

#include "cuda/CudaApi.h" // the signatures libmoert binds

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <type_traits>
#include <vector>

using moert::rt::cuda::CUcontext;
using moert::rt::cuda::CUdevice;
using moert::rt::cuda::CUdeviceptr;
using moert::rt::cuda::CUevent;
using moert::rt::cuda::CUfunction;
using moert::rt::cuda::CUgraph;
using moert::rt::cuda::CUgraphExec;
using moert::rt::cuda::CUmodule;
using moert::rt::cuda::CUresult;
using moert::rt::cuda::CUstream;

namespace fakecuda {
namespace {

constexpr CUresult kSuccess = 0, kInvalidValue = 1, kOutOfMemory = 2,
                   kNotInitialized = 3, kInvalidDevice = 101, kInvalidImage = 200,
                   kInvalidHandle = 400, kIllegalState = 401, kNotFound = 500,
                   kNotReady = 600, kCaptureUnsupported = 900,
                   kCaptureInvalidated = 901;

struct Op {
  std::string what;
  std::function<void()> run;
  bool takesTime = true; // an event's record takes none
  /// Whether it can run yet (null: always): an NCCL receive waits for its
  /// sender (FakeNccl.cpp).
  std::function<bool()> ready;
};
struct Stream {
  bool capturing = false, invalidated = false;
  std::vector<Op> captured, pending;
  double clockMs = 0; // each operation takes 1 µs of "device" time
};
struct Graph {
  int id;
  std::vector<Op> ops;
};
struct Stream;
struct Event {
  bool recorded = false, done = false;
  double ms = 0;
  Stream *stream = nullptr; // where it was last recorded
};
struct Param {
  bool pointer;
  unsigned bytes;
};
struct Function {
  std::string name;
  bool known = false; // parameters read from PTX (a cubin's are not)
  std::vector<Param> params;
};
struct Module {
  std::map<std::string, std::vector<Param>> entries;
  bool ptx = false;
  std::vector<std::unique_ptr<Function>> functions;
};

void report();

/// Never destroyed: calls made while the process exits still find it.
struct State {
  std::mutex mu;
  FILE *trace = nullptr;
  std::map<std::string, int> calls;         // per entry point, for FAKECUDA_FAIL
  std::map<uint64_t, uint64_t> allocations; // address → bytes
  std::map<uint64_t, int> devices;          // address → the GPU it is on
  std::map<uint64_t, int> ordinals;         // address → its allocation's number
  int allocated = 0, graphsMade = 0, blasHandles = 0, contexts = 0;
  std::set<Stream *> streams;
  std::set<Graph *> graphs, execs;
  std::set<Event *> events;
  std::set<Module *> modules;
  std::map<void *, size_t> registered;
  std::map<void *, size_t> pinned; // cuMemAllocHost
  /// The stream each thread captures (the runtime captures in
  /// CU_STREAM_CAPTURE_MODE_THREAD_LOCAL). Not a thread_local: this library
  /// is dlopen'd, and the sanitizer runtime of GCC <= 13 can misread a
  /// dlopen'd library's dynamic TLS block and crash LeakSanitizer at exit.
  std::map<std::thread::id, Stream *> capturing;
  bool initialized = false;

  State() {
    if (const char *path = std::getenv("FAKECUDA_TRACE"); path && *path)
      trace = std::fopen(path, "a");
    std::atexit(report);
  }
  void line(const std::string &s) {
    if (trace) {
      std::fprintf(trace, "fakecuda: %s\n", s.c_str());
      std::fflush(trace);
    }
  }
};

State &state() {
  static State *s = new State;
  return *s;
}

/// Whatever the process did not give back, then "exit".
void report() {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  for (const auto &[at, bytes] : s.allocations)
    s.line("leak: " + std::to_string(bytes) + " bytes of device memory");
  auto count = [&](size_t n, const char *what) {
    if (n)
      s.line("leak: " + std::to_string(n) + " " + what);
  };
  count(s.streams.size(), "stream(s)");
  count(s.graphs.size() + s.execs.size(), "graph(s)");
  count(s.events.size(), "event(s)");
  count(s.pinned.size(), "page-locked host allocation(s)");
  count(s.modules.size(), "module(s)");
  count(s.registered.size(), "page-locked range(s)");
  count(static_cast<size_t>(s.contexts), "retain(s) of the primary context");
  count(static_cast<size_t>(s.blasHandles), "cuBLAS handle(s)");
  s.line("exit");
}

/// The stream this thread captures, if any.
Stream *capturingHere() {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.capturing.find(std::this_thread::get_id());
  return it == s.capturing.end() ? nullptr : it->second;
}

void setCapturingHere(Stream *st) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (st)
    s.capturing[std::this_thread::get_id()] = st;
  else
    s.capturing.erase(std::this_thread::get_id());
}

[[noreturn]] void malformed(const char *variable, const std::string &value) {
  std::fprintf(stderr, "fakecuda: malformed %s '%s'\n", variable, value.c_str());
  std::abort();
}

long long number(const char *variable, const std::string &text) {
  errno = 0;
  char *end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end || errno)
    malformed(variable, text);
  return v;
}

int envInt(const char *name, int fallback) {
  const char *v = std::getenv(name);
  return v && *v ? static_cast<int>(number(name, v)) : fallback;
}

bool insideLocked(State &s, uint64_t address, uint64_t bytes) {
  auto it = s.allocations.upper_bound(address);
  if (it == s.allocations.begin())
    return false;
  --it;
  return address >= it->first && address - it->first <= it->second &&
         bytes <= it->second - (address - it->first);
}

/// A call the driver refuses while this thread captures: the capture is
/// spoilt, as it is by the driver.
bool refusedInCapture(const char *entry) {
  Stream *st = capturingHere();
  if (!st)
    return false;
  st->invalidated = true;
  trace(std::string(entry) + ": refused while the thread captures a stream");
  return true;
}

/// ".visible .entry NAME( .param .u64 .ptr ... NAME_param_0, ... )" → NAME's
/// parameters, pointer or not, and their sizes.
std::map<std::string, std::vector<Param>> parsePtx(const std::string &ptx) {
  std::map<std::string, std::vector<Param>> out;
  size_t at = 0;
  while ((at = ptx.find(".entry ", at)) != std::string::npos) {
    size_t name0 = at + 7, open = ptx.find('(', name0);
    size_t close = open == std::string::npos ? open : ptx.find(')', open);
    if (close == std::string::npos)
      break;
    std::string name = ptx.substr(name0, open - name0);
    std::vector<Param> params;
    std::string list = ptx.substr(open + 1, close - open - 1);
    size_t p = 0;
    while ((p = list.find(".param", p)) != std::string::npos) {
      size_t end = list.find(',', p);
      std::string one = list.substr(p, end == std::string::npos ? std::string::npos : end - p);
      bool wide = one.find("64 ") != std::string::npos;
      params.push_back({one.find(".ptr") != std::string::npos, wide ? 8u : 4u});
      p += 6;
    }
    out[name] = params;
    at = close;
  }
  return out;
}

/// FAKECUDA_WRITE for kernel `name`: the parameter and the values, or -1.
int writeSpec(const std::string &name, std::vector<int32_t> *values) {
  const char *spec = std::getenv("FAKECUDA_WRITE");
  if (!spec || !*spec)
    return -1;
  std::string text = spec;
  size_t c1 = text.find(':'), c2 = c1 == std::string::npos ? c1 : text.find(':', c1 + 1);
  if (c2 == std::string::npos || c2 + 1 == text.size())
    malformed("FAKECUDA_WRITE", text);
  if (text.substr(0, c1) != name)
    return -1;
  values->clear();
  for (size_t at = c2 + 1; at <= text.size();) {
    size_t comma = std::min(text.find(',', at), text.size());
    values->push_back(static_cast<int32_t>(
        number("FAKECUDA_WRITE", text.substr(at, comma - at))));
    at = comma + 1;
  }
  return static_cast<int>(number("FAKECUDA_WRITE", text.substr(c1 + 1, c2 - c1 - 1)));
}

std::string hex(uint64_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

} // namespace

void trace(const std::string &line) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.line(line);
}

int injected(const char *entry) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  int n = ++s.calls[entry];
  const char *spec = std::getenv("FAKECUDA_FAIL");
  if (!spec || !*spec)
    return 0;
  std::string text = spec;
  size_t eq = text.find('=');
  if (eq == std::string::npos)
    malformed("FAKECUDA_FAIL", text);
  if (text.substr(0, eq) != entry)
    return 0;
  size_t atSign = text.find('@', eq);
  int code = static_cast<int>(number(
      "FAKECUDA_FAIL",
      text.substr(eq + 1, atSign == std::string::npos ? std::string::npos : atSign - eq - 1)));
  long long nth =
      atSign == std::string::npos ? 1 : number("FAKECUDA_FAIL", text.substr(atSign + 1));
  return n == nth ? code : 0;
}

bool inside(uint64_t address, uint64_t bytes) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  return insideLocked(s, address, bytes);
}

std::string where(uint64_t address) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!insideLocked(s, address, 0))
    return "outside";
  auto it = --s.allocations.upper_bound(address);
  return "mem" + std::to_string(s.ordinals[it->first]) + "+" +
         std::to_string(address - it->first);
}

bool capturing(void *stream) { return static_cast<Stream *>(stream)->capturing; }

/// Runs the work queued on `st`, in order (a synchronization, `entry`).
/// Runs the stream's queued work in order; an operation that is not ready
/// yet is waited for, or with `wait` false ends the call, leaving it and
/// the rest queued (cuStreamQuery). Returns whether the queue emptied.
bool runPending(Stream *st, const char *entry, bool wait = true) {
  std::vector<Op> work;
  {
    std::lock_guard<std::mutex> lock(state().mu);
    work.swap(st->pending);
  }
  size_t i = 0;
  for (; i < work.size(); ++i) {
    Op &op = work[i];
    if (op.ready && !op.ready()) {
      if (!wait)
        break;
      while (!op.ready())
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    op.run();
    if (op.takesTime)
      st->clockMs += 0.001;
  }
  if (i < work.size()) {
    // Not ready: back to the front of the queue (nothing else enqueues on
    // a stream that one thread queries).
    std::lock_guard<std::mutex> lock(state().mu);
    st->pending.insert(st->pending.begin(), std::make_move_iterator(work.begin() + i),
                       std::make_move_iterator(work.end()));
  }
  if (wait || i > 0)
    trace(std::string(entry) + ": " + std::to_string(i) + " operations run");
  return i == work.size();
}

void enqueue(void *stream, const std::string &what, std::function<void()> op) {
  enqueueWhen(stream, what, nullptr, std::move(op));
}

void enqueueWhen(void *stream, const std::string &what, std::function<bool()> ready,
                 std::function<void()> op) {
  State &s = state();
  auto *st = static_cast<Stream *>(stream);
  std::lock_guard<std::mutex> lock(s.mu);
  Op o{what, std::move(op), true, std::move(ready)};
  if (st->capturing) {
    s.line(what + " (captured)");
    st->captured.push_back(std::move(o));
  } else {
    s.line(what);
    st->pending.push_back(std::move(o));
  }
}

void noteBlasHandles(int handles) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.blasHandles = handles;
}

} // namespace fakecuda

using namespace fakecuda;

namespace {

Stream *asStream(CUstream p) { return reinterpret_cast<Stream *>(p); }

/// Copies `bytes` between device addresses checked to be inside allocations
/// (and host addresses taken on trust): now, or queued on `stream`.
/// Whether [p, p + bytes) lies in page-locked host memory (registered or
/// allocated by cuMemAllocHost).
bool pageLocked(const void *p, size_t bytes) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  auto in = [&](const auto &ranges) {
    auto it = ranges.upper_bound(const_cast<void *>(p));
    if (it == ranges.begin())
      return false;
    --it;
    auto *b = static_cast<const char *>(it->first);
    return static_cast<const char *>(p) >= b &&
           static_cast<const char *>(p) + bytes <= b + it->second;
  };
  return in(s.registered) || in(s.pinned);
}

/// Whether an operation queued on `stream` is not ready to run yet.
bool waitsOnStream(CUstream stream) {
  std::vector<std::function<bool()>> ready; // asked outside the lock
  {
    std::lock_guard<std::mutex> lock(state().mu);
    for (const Op &op : asStream(stream)->pending)
      if (op.ready)
        ready.push_back(op.ready);
  }
  for (const auto &r : ready)
    if (!r())
      return true;
  return false;
}

CUresult copy(const char *entry, void *dst, uint64_t dstDevice, const void *src,
              uint64_t srcDevice, size_t bytes, CUstream stream, bool async) {
  FAKECUDA_ENTRY(entry);
  if (async ? !stream : refusedInCapture(entry))
    return async ? kInvalidHandle : kCaptureUnsupported;
  State &s = state();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if ((dstDevice && !insideLocked(s, dstDevice, bytes)) ||
        (srcDevice && !insideLocked(s, srcDevice, bytes))) {
      s.line(std::string(entry) + ": " + std::to_string(bytes) +
             " bytes outside any allocation");
      return kInvalidValue;
    }
  }
  std::string what = std::string(entry) + " " + std::to_string(bytes) + " bytes";
  if (dstDevice)
    what += " to " + where(dstDevice);
  if (srcDevice)
    what += " from " + where(srcDevice);
  void *to = dstDevice ? reinterpret_cast<void *>(dstDevice) : dst;
  const void *from = srcDevice ? reinterpret_cast<const void *>(srcDevice) : src;
  // An asynchronous copy into pageable host memory returns only when it is
  // done, as the driver's does: behind an operation that waits (an NCCL
  // receive for its sender) it would block the caller, which the stand-in
  // refuses to do (the caller must wait for that operation first).
  if (async && !dstDevice && !pageLocked(dst, bytes) && waitsOnStream(stream)) {
    trace(std::string(entry) + ": a copy into pageable memory queued behind an operation "
          "that waits: it would block");
    return kInvalidValue;
  }
  if (!async) {
    trace(what);
    std::memcpy(to, from, bytes);
    return kSuccess;
  }
  enqueue(stream, what, [=] { std::memcpy(to, from, bytes); });
  return kSuccess;
}

} // namespace

extern "C" {

CUresult cuInit(unsigned) {
  FAKECUDA_ENTRY("cuInit");
  state().initialized = true;
  return kSuccess;
}

CUresult cuDriverGetVersion(int *v) {
  FAKECUDA_ENTRY("cuDriverGetVersion");
  *v = 13000;
  return kSuccess;
}

CUresult cuDeviceGetCount(int *count) {
  FAKECUDA_ENTRY("cuDeviceGetCount");
  if (!state().initialized)
    return kNotInitialized;
  *count = envInt("FAKECUDA_DEVICES", 1);
  return kSuccess;
}

CUresult cuDeviceGet(CUdevice *device, int ordinal) {
  FAKECUDA_ENTRY("cuDeviceGet");
  if (ordinal < 0 || ordinal >= envInt("FAKECUDA_DEVICES", 1))
    return kInvalidDevice;
  *device = ordinal;
  return kSuccess;
}

CUresult cuDeviceGetName(char *name, int len, CUdevice) {
  FAKECUDA_ENTRY("cuDeviceGetName");
  std::snprintf(name, static_cast<size_t>(len), "moec fake GPU");
  return kSuccess;
}

CUresult cuDeviceGetAttribute(int *value, int attribute, CUdevice) {
  FAKECUDA_ENTRY("cuDeviceGetAttribute");
  int sm = envInt("FAKECUDA_SM", 90);
  if (attribute == moert::rt::cuda::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
    *value = sm / 10;
  else if (attribute == moert::rt::cuda::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)
    *value = sm % 10;
  else
    return kInvalidValue;
  return kSuccess;
}

/// Each GPU's primary context; the calling thread's current one's GPU
/// (allocations are on it).
int primary[64];
thread_local int currentDevice = 0;

CUresult cuDevicePrimaryCtxRetain(CUcontext *context, CUdevice device) {
  FAKECUDA_ENTRY("cuDevicePrimaryCtxRetain");
  if (device < 0 || device >= 64)
    return kInvalidValue;
  std::lock_guard<std::mutex> lock(state().mu);
  ++state().contexts;
  *context = reinterpret_cast<CUcontext>(&primary[device]);
  return kSuccess;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice) {
  std::lock_guard<std::mutex> lock(state().mu);
  if (state().contexts == 0)
    return kInvalidValue;
  --state().contexts;
  return kSuccess;
}

CUresult cuCtxSetCurrent(CUcontext context) {
  FAKECUDA_ENTRY("cuCtxSetCurrent");
  auto *p = reinterpret_cast<int *>(context);
  if (p < primary || p >= primary + 64)
    return kInvalidValue;
  currentDevice = static_cast<int>(p - primary);
  return kSuccess;
}

CUresult cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned, int *, void **) {
  FAKECUDA_ENTRY("cuModuleLoadDataEx");
  if (refusedInCapture("cuModuleLoadDataEx"))
    return kCaptureUnsupported;
  auto m = std::make_unique<Module>();
  const char *bytes = static_cast<const char *>(image);
  if (std::strncmp(bytes, "\x7f" "ELF", 4) != 0) {
    std::string ptx(bytes); // PTX is NUL-terminated
    if (ptx.find(".version") == std::string::npos || ptx.find(".target") == std::string::npos)
      return kInvalidImage;
    m->entries = parsePtx(ptx);
    m->ptx = true;
  }
  trace(std::string("cuModuleLoadDataEx: ") +
        (m->ptx ? "PTX, " + std::to_string(m->entries.size()) + " entries" : "cubin"));
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  *module = reinterpret_cast<CUmodule>(m.get());
  s.modules.insert(m.release());
  return kSuccess;
}

CUresult cuModuleGetFunction(CUfunction *function, CUmodule module, const char *name) {
  FAKECUDA_ENTRY("cuModuleGetFunction");
  auto *m = reinterpret_cast<Module *>(module);
  if (!m)
    return kInvalidHandle;
  auto f = std::make_unique<Function>();
  f->name = name;
  if (m->ptx) {
    auto it = m->entries.find(name);
    if (it == m->entries.end())
      return kNotFound;
    f->known = true;
    f->params = it->second;
  }
  *function = reinterpret_cast<CUfunction>(f.get());
  m->functions.push_back(std::move(f));
  return kSuccess;
}

CUresult cuModuleUnload(CUmodule module) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  auto *m = reinterpret_cast<Module *>(module);
  if (!s.modules.erase(m))
    return kInvalidHandle;
  delete m;
  return kSuccess;
}

CUresult cuMemAlloc_v2(CUdeviceptr *out, size_t bytes) {
  FAKECUDA_ENTRY("cuMemAlloc_v2");
  if (refusedInCapture("cuMemAlloc_v2"))
    return kCaptureUnsupported;
  if (bytes == 0)
    return kInvalidValue;
  void *p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!p)
    return kOutOfMemory;
  std::memset(p, envInt("FAKECUDA_FILL", 0), bytes);
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  *out = reinterpret_cast<uintptr_t>(p);
  s.allocations[*out] = bytes;
  s.ordinals[*out] = s.allocated;
  s.devices[*out] = currentDevice;
  s.line("cuMemAlloc_v2 " + std::to_string(bytes) + " bytes: mem" +
         std::to_string(s.allocated++));
  return kSuccess;
}

CUresult cuMemFree_v2(CUdeviceptr p) {
  if (refusedInCapture("cuMemFree_v2"))
    return kCaptureUnsupported;
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.allocations.erase(p))
    return kInvalidValue;
  s.ordinals.erase(p);
  s.devices.erase(p);
  std::free(reinterpret_cast<void *>(p));
  return kSuccess;
}

CUresult cuMemGetInfo_v2(size_t *free, size_t *total) {
  FAKECUDA_ENTRY("cuMemGetInfo_v2");
  *free = size_t(64) << 30;
  *total = size_t(80) << 30;
  return kSuccess;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t bytes) {
  return copy("cuMemcpyHtoD_v2", nullptr, dst, src, 0, bytes, nullptr, false);
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t bytes,
                              CUstream stream) {
  return copy("cuMemcpyHtoDAsync_v2", nullptr, dst, src, 0, bytes, stream, true);
}

CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t bytes, CUstream stream) {
  return copy("cuMemcpyDtoHAsync_v2", dst, 0, nullptr, src, bytes, stream, true);
}

CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes,
                              CUstream stream) {
  return copy("cuMemcpyDtoDAsync_v2", nullptr, dst, nullptr, src, bytes, stream, true);
}

CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char value, size_t bytes, CUstream stream) {
  FAKECUDA_ENTRY("cuMemsetD8Async");
  if (!stream)
    return kInvalidHandle;
  if (!inside(dst, bytes)) {
    trace("cuMemsetD8Async: " + std::to_string(bytes) + " bytes at " + hex(dst) +
          " are outside any allocation");
    return kInvalidValue;
  }
  enqueue(stream, "cuMemsetD8Async " + std::to_string(bytes) + " bytes at " + where(dst),
          [=] { std::memset(reinterpret_cast<void *>(dst), value, bytes); });
  return kSuccess;
}

CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t words, CUstream stream) {
  FAKECUDA_ENTRY("cuMemsetD32Async");
  if (!stream)
    return kInvalidHandle;
  if (dst % 4 || !inside(dst, words * 4)) {
    trace("cuMemsetD32Async: " + std::to_string(words * 4) + " bytes at " + hex(dst) +
          " are misaligned or outside any allocation");
    return kInvalidValue;
  }
  // One word set to a value (a run's T): the value too.
  enqueue(stream,
          "cuMemsetD32Async " + std::to_string(words * 4) + " bytes at " + where(dst) +
              (words == 1 && value ? " = " + std::to_string(value) : ""),
          [=] {
            auto *w = reinterpret_cast<uint32_t *>(dst);
            for (size_t i = 0; i < words; ++i)
              w[i] = value;
          });
  return kSuccess;
}

CUresult cuStreamCreate(CUstream *stream, unsigned) {
  FAKECUDA_ENTRY("cuStreamCreate");
  auto *st = new Stream;
  std::lock_guard<std::mutex> lock(state().mu);
  state().streams.insert(st);
  *stream = reinterpret_cast<CUstream>(st);
  return kSuccess;
}

CUresult cuStreamDestroy_v2(CUstream stream) {
  std::lock_guard<std::mutex> lock(state().mu);
  if (!state().streams.erase(asStream(stream)))
    return kInvalidHandle;
  delete asStream(stream);
  return kSuccess;
}

CUresult cuStreamSynchronize(CUstream stream) {
  FAKECUDA_ENTRY("cuStreamSynchronize");
  Stream *st = asStream(stream);
  if (!st)
    return kInvalidHandle;
  if (refusedInCapture("cuStreamSynchronize"))
    return kCaptureUnsupported;
  runPending(st, "cuStreamSynchronize");
  return kSuccess;
}

/// Runs what is ready of the stream's work: CUDA_ERROR_NOT_READY while an
/// operation waits (an NCCL receive for its sender).
CUresult cuStreamQuery(CUstream stream) {
  FAKECUDA_ENTRY("cuStreamQuery");
  Stream *st = asStream(stream);
  if (!st)
    return kInvalidHandle;
  if (refusedInCapture("cuStreamQuery"))
    return kCaptureUnsupported;
  return runPending(st, "cuStreamQuery", /*wait=*/false) ? kSuccess
                                                          : moert::rt::cuda::CUDA_ERROR_NOT_READY;
}

/// Every stream's queued work, one stream after the other.
CUresult cuCtxSynchronize() {
  FAKECUDA_ENTRY("cuCtxSynchronize");
  if (refusedInCapture("cuCtxSynchronize"))
    return kCaptureUnsupported;
  std::vector<Stream *> streams;
  {
    std::lock_guard<std::mutex> lock(state().mu);
    streams.assign(state().streams.begin(), state().streams.end());
  }
  for (Stream *st : streams)
    runPending(st, "cuCtxSynchronize");
  return kSuccess;
}

CUresult cuLaunchKernel(CUfunction function, unsigned gx, unsigned gy, unsigned gz,
                        unsigned bx, unsigned by, unsigned bz, unsigned shared,
                        CUstream stream, void **params, void **extra) {
  FAKECUDA_ENTRY("cuLaunchKernel");
  auto *f = reinterpret_cast<Function *>(function);
  if (!f || !stream || extra || gx == 0 || gy != 1 || gz != 1 || bx == 0 || bx > 1024 ||
      by != 1 || bz != 1 || shared)
    return kInvalidValue;
  std::string what = "cuLaunchKernel " + f->name + " grid " + std::to_string(gx) + "x" +
                     std::to_string(bx);
  auto value = [&](size_t i) -> uint64_t {
    if (f->params[i].bytes == 8)
      return *static_cast<uint64_t *>(params[i]);
    return *static_cast<uint32_t *>(params[i]);
  };
  if (f->known) {
    for (size_t i = 0; i < f->params.size(); ++i) {
      uint64_t v = value(i);
      if (f->params[i].pointer) {
        // The kernel's extent is not known here: the address must at least
        // be inside an allocation.
        if (!inside(v, 1)) {
          trace(f->name + ": parameter " + std::to_string(i) + " (" + hex(v) +
                ") is outside any allocation");
          return kInvalidValue;
        }
        what += " " + where(v);
      } else {
        what += " " + std::to_string(static_cast<int64_t>(v));
      }
    }
  }
  std::vector<int32_t> values;
  int target = f->known ? writeSpec(f->name, &values) : -1;
  uint64_t at = 0;
  if (target >= 0) {
    if (static_cast<size_t>(target) >= f->params.size() || !f->params[target].pointer)
      malformed("FAKECUDA_WRITE", std::getenv("FAKECUDA_WRITE"));
    at = value(static_cast<size_t>(target));
    if (!inside(at, values.size() * 4)) {
      trace("FAKECUDA_WRITE: " + std::to_string(values.size()) + " values do not fit at " +
            f->name + "'s parameter " + std::to_string(target));
      return kInvalidValue;
    }
    what += " (writes " + std::to_string(values.size()) + " values)";
  }
  enqueue(stream, what, [at, values] {
    if (at)
      std::memcpy(reinterpret_cast<void *>(at), values.data(), values.size() * 4);
  });
  return kSuccess;
}

CUresult cuStreamBeginCapture_v2(CUstream stream, int mode) {
  FAKECUDA_ENTRY("cuStreamBeginCapture_v2");
  Stream *st = asStream(stream);
  if (!st)
    return kInvalidHandle;
  if (st->capturing || capturingHere() ||
      mode != moert::rt::cuda::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
    return kIllegalState;
  st->capturing = true;
  st->invalidated = false;
  st->captured.clear();
  setCapturingHere(st);
  trace("capture begins");
  return kSuccess;
}

CUresult cuStreamEndCapture(CUstream stream, CUgraph *graph) {
  FAKECUDA_ENTRY("cuStreamEndCapture");
  Stream *st = asStream(stream);
  if (!st || !st->capturing)
    return kIllegalState;
  st->capturing = false;
  setCapturingHere(nullptr);
  *graph = nullptr;
  if (st->invalidated) {
    st->captured.clear();
    trace("capture ends: invalidated");
    return kCaptureInvalidated;
  }
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  auto *g = new Graph{s.graphsMade++, std::move(st->captured)};
  st->captured.clear();
  s.line("capture ends: graph " + std::to_string(g->id) + ", " +
         std::to_string(g->ops.size()) + " operations");
  s.graphs.insert(g);
  *graph = reinterpret_cast<CUgraph>(g);
  return kSuccess;
}

CUresult cuGraphInstantiateWithFlags(CUgraphExec *exec, CUgraph graph, unsigned long long) {
  FAKECUDA_ENTRY("cuGraphInstantiateWithFlags");
  std::lock_guard<std::mutex> lock(state().mu);
  auto *g = reinterpret_cast<Graph *>(graph);
  if (!state().graphs.count(g))
    return kInvalidHandle;
  auto *e = new Graph(*g);
  state().execs.insert(e);
  *exec = reinterpret_cast<CUgraphExec>(e);
  return kSuccess;
}

CUresult cuGraphLaunch(CUgraphExec exec, CUstream stream) {
  FAKECUDA_ENTRY("cuGraphLaunch");
  auto *e = reinterpret_cast<Graph *>(exec);
  Stream *st = asStream(stream);
  if (!st)
    return kInvalidHandle;
  {
    std::lock_guard<std::mutex> lock(state().mu);
    if (!state().execs.count(e))
      return kInvalidHandle;
  }
  if (st->capturing)
    return kCaptureUnsupported;
  enqueue(stream,
          "cuGraphLaunch: graph " + std::to_string(e->id) + ", " +
              std::to_string(e->ops.size()) + " operations",
          [ops = e->ops] {
            for (const Op &op : ops)
              op.run();
          });
  return kSuccess;
}

CUresult cuGraphExecDestroy(CUgraphExec exec) {
  std::lock_guard<std::mutex> lock(state().mu);
  auto *e = reinterpret_cast<Graph *>(exec);
  if (!state().execs.erase(e))
    return kInvalidHandle;
  delete e;
  return kSuccess;
}

CUresult cuGraphDestroy(CUgraph graph) {
  std::lock_guard<std::mutex> lock(state().mu);
  auto *g = reinterpret_cast<Graph *>(graph);
  if (!state().graphs.erase(g))
    return kInvalidHandle;
  delete g;
  return kSuccess;
}

CUresult cuGetErrorName(CUresult r, const char **name) {
  static const std::map<int, const char *> names = {
      {kSuccess, "CUDA_SUCCESS"},
      {kInvalidValue, "CUDA_ERROR_INVALID_VALUE"},
      {kOutOfMemory, "CUDA_ERROR_OUT_OF_MEMORY"},
      {kNotInitialized, "CUDA_ERROR_NOT_INITIALIZED"},
      {kInvalidDevice, "CUDA_ERROR_INVALID_DEVICE"},
      {kInvalidImage, "CUDA_ERROR_INVALID_IMAGE"},
      {kInvalidHandle, "CUDA_ERROR_INVALID_HANDLE"},
      {kIllegalState, "CUDA_ERROR_ILLEGAL_STATE"},
      {kNotFound, "CUDA_ERROR_NOT_FOUND"},
      {kNotReady, "CUDA_ERROR_NOT_READY"},
      {700, "CUDA_ERROR_ILLEGAL_ADDRESS"},
      {kCaptureUnsupported, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"},
      {kCaptureInvalidated, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"}};
  auto it = names.find(r);
  *name = it == names.end() ? nullptr : it->second;
  return it == names.end() ? kInvalidValue : kSuccess;
}

CUresult cuGetErrorString(CUresult r, const char **text) {
  static const std::map<int, const char *> texts = {
      {kOutOfMemory, "out of memory"},
      {700, "an illegal memory access was encountered"},
      {kCaptureUnsupported, "operation not permitted when stream is capturing"},
      {kCaptureInvalidated, "operation failed due to a previous error during capture"}};
  auto it = texts.find(r);
  *text = it == texts.end() ? nullptr : it->second;
  return it == texts.end() ? kInvalidValue : kSuccess;
}

CUresult cuMemHostRegister_v2(void *p, size_t bytes, unsigned) {
  FAKECUDA_ENTRY("cuMemHostRegister_v2");
  if (refusedInCapture("cuMemHostRegister_v2"))
    return kCaptureUnsupported;
  std::lock_guard<std::mutex> lock(state().mu);
  if (reinterpret_cast<uintptr_t>(p) % 4096 || bytes % 4096 || !bytes ||
      !state().registered.emplace(p, bytes).second)
    return kInvalidValue;
  // What is pinned is touched, as the driver does.
  volatile char *c = static_cast<char *>(p);
  for (size_t i = 0; i < bytes; i += 4096)
    (void)c[i];
  state().line("cuMemHostRegister_v2 " + std::to_string(bytes) + " bytes");
  return kSuccess;
}

CUresult cuMemHostUnregister(void *p) {
  std::lock_guard<std::mutex> lock(state().mu);
  return state().registered.erase(p) ? kSuccess : kInvalidValue;
}

CUresult cuEventCreate(CUevent *event, unsigned) {
  FAKECUDA_ENTRY("cuEventCreate");
  auto *e = new Event;
  std::lock_guard<std::mutex> lock(state().mu);
  state().events.insert(e);
  *event = reinterpret_cast<CUevent>(e);
  return kSuccess;
}

CUresult cuEventDestroy_v2(CUevent event) {
  std::lock_guard<std::mutex> lock(state().mu);
  auto *e = reinterpret_cast<Event *>(event);
  if (!state().events.erase(e))
    return kInvalidHandle;
  delete e;
  return kSuccess;
}

CUresult cuEventRecord(CUevent event, CUstream stream) {
  FAKECUDA_ENTRY("cuEventRecord");
  auto *e = reinterpret_cast<Event *>(event);
  Stream *st = asStream(stream);
  if (!e || !st)
    return kInvalidHandle;
  if (st->capturing)
    return kCaptureUnsupported; // the runtime profiles without graphs
  e->recorded = true;
  e->done = false;
  e->stream = st;
  std::lock_guard<std::mutex> lock(state().mu);
  st->pending.push_back({"event",
                         [e, st] {
                           e->ms = st->clockMs;
                           e->done = true;
                         },
                         false});
  return kSuccess;
}

// Runs the work queued on the event's stream up to now (the fake runs a
// stream's work in order, so this includes everything before the event).
CUresult cuEventSynchronize(CUevent event) {
  FAKECUDA_ENTRY("cuEventSynchronize");
  auto *e = reinterpret_cast<Event *>(event);
  if (!e)
    return kInvalidHandle;
  if (!e->recorded || e->done)
    return kSuccess;
  runPending(e->stream, "cuEventSynchronize");
  return kSuccess;
}

CUresult cuMemAllocHost_v2(void **out, size_t bytes) {
  FAKECUDA_ENTRY("cuMemAllocHost_v2");
  if (refusedInCapture("cuMemAllocHost_v2"))
    return kCaptureUnsupported;
  if (bytes == 0)
    return kInvalidValue;
  void *p = std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
  if (!p)
    return kOutOfMemory;
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.pinned[p] = bytes;
  s.line("cuMemAllocHost_v2 " + std::to_string(bytes) + " bytes");
  *out = p;
  return kSuccess;
}

CUresult cuMemFreeHost(void *p) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.pinned.erase(p))
    return kInvalidValue;
  std::free(p);
  return kSuccess;
}

CUresult cuEventElapsedTime_v2(float *ms, CUevent start, CUevent end) {
  FAKECUDA_ENTRY("cuEventElapsedTime_v2");
  auto *a = reinterpret_cast<Event *>(start), *b = reinterpret_cast<Event *>(end);
  if (!a || !b || !a->recorded || !b->recorded)
    return kInvalidHandle;
  if (!a->done || !b->done)
    return kNotReady;
  *ms = static_cast<float>(b->ms - a->ms);
  return kSuccess;
}

/// The allocation that holds `p` (its start and size) and its GPU (the one
/// whose primary context was current when it was made);
/// CUDA_ERROR_INVALID_VALUE outside
/// every allocation, as the driver says of memory it did not allocate.
CUresult cuPointerGetAttribute(void *data, int attribute, CUdeviceptr p) {
  FAKECUDA_ENTRY("cuPointerGetAttribute");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!data || !insideLocked(s, p, 0))
    return kInvalidValue;
  auto it = --s.allocations.upper_bound(p);
  switch (attribute) {
  case moert::rt::cuda::CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
    *static_cast<unsigned *>(data) = moert::rt::cuda::CU_MEMORYTYPE_DEVICE;
    return kSuccess;
  case moert::rt::cuda::CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
    *static_cast<int *>(data) = s.devices[it->first];
    return kSuccess;
  case moert::rt::cuda::CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
    *static_cast<CUdeviceptr *>(data) = it->first;
    return kSuccess;
  case moert::rt::cuda::CU_POINTER_ATTRIBUTE_RANGE_SIZE:
    *static_cast<size_t *>(data) = it->second;
    return kSuccess;
  default:
    return kInvalidValue;
  }
}

CUresult cuStreamIsCapturing(CUstream stream, int *status) {
  FAKECUDA_ENTRY("cuStreamIsCapturing");
  Stream *st = asStream(stream);
  if (!st || !status)
    return kInvalidHandle;
  std::lock_guard<std::mutex> lock(state().mu);
  *status = st->capturing ? 1 : moert::rt::cuda::CU_STREAM_CAPTURE_STATUS_NONE;
  return kSuccess;
}

} // extern "C"

// The stand-ins have the types libmoert calls them with.
namespace {
FAKECUDA_SAME_TYPE(cuInit, cuInit);
FAKECUDA_SAME_TYPE(cuDriverGetVersion, cuDriverGetVersion);
FAKECUDA_SAME_TYPE(cuDeviceGetCount, cuDeviceGetCount);
FAKECUDA_SAME_TYPE(cuDeviceGet, cuDeviceGet);
FAKECUDA_SAME_TYPE(cuDeviceGetName, cuDeviceGetName);
FAKECUDA_SAME_TYPE(cuDeviceGetAttribute, cuDeviceGetAttribute);
FAKECUDA_SAME_TYPE(cuDevicePrimaryCtxRetain, cuDevicePrimaryCtxRetain);
FAKECUDA_SAME_TYPE(cuDevicePrimaryCtxRelease, cuDevicePrimaryCtxRelease_v2);
FAKECUDA_SAME_TYPE(cuCtxSetCurrent, cuCtxSetCurrent);
FAKECUDA_SAME_TYPE(cuModuleLoadDataEx, cuModuleLoadDataEx);
FAKECUDA_SAME_TYPE(cuModuleGetFunction, cuModuleGetFunction);
FAKECUDA_SAME_TYPE(cuModuleUnload, cuModuleUnload);
FAKECUDA_SAME_TYPE(cuMemAlloc, cuMemAlloc_v2);
FAKECUDA_SAME_TYPE(cuMemFree, cuMemFree_v2);
FAKECUDA_SAME_TYPE(cuMemGetInfo, cuMemGetInfo_v2);
FAKECUDA_SAME_TYPE(cuMemcpyHtoD, cuMemcpyHtoD_v2);
FAKECUDA_SAME_TYPE(cuMemcpyHtoDAsync, cuMemcpyHtoDAsync_v2);
FAKECUDA_SAME_TYPE(cuMemcpyDtoHAsync, cuMemcpyDtoHAsync_v2);
FAKECUDA_SAME_TYPE(cuMemcpyDtoDAsync, cuMemcpyDtoDAsync_v2);
FAKECUDA_SAME_TYPE(cuMemsetD32Async, cuMemsetD32Async);
FAKECUDA_SAME_TYPE(cuMemsetD8Async, cuMemsetD8Async);
FAKECUDA_SAME_TYPE(cuStreamQuery, cuStreamQuery);
FAKECUDA_SAME_TYPE(cuStreamCreate, cuStreamCreate);
FAKECUDA_SAME_TYPE(cuStreamDestroy, cuStreamDestroy_v2);
FAKECUDA_SAME_TYPE(cuStreamSynchronize, cuStreamSynchronize);
FAKECUDA_SAME_TYPE(cuLaunchKernel, cuLaunchKernel);
FAKECUDA_SAME_TYPE(cuStreamBeginCapture, cuStreamBeginCapture_v2);
FAKECUDA_SAME_TYPE(cuStreamEndCapture, cuStreamEndCapture);
FAKECUDA_SAME_TYPE(cuGraphInstantiateWithFlags, cuGraphInstantiateWithFlags);
FAKECUDA_SAME_TYPE(cuGraphLaunch, cuGraphLaunch);
FAKECUDA_SAME_TYPE(cuGraphExecDestroy, cuGraphExecDestroy);
FAKECUDA_SAME_TYPE(cuGraphDestroy, cuGraphDestroy);
FAKECUDA_SAME_TYPE(cuGetErrorName, cuGetErrorName);
FAKECUDA_SAME_TYPE(cuGetErrorString, cuGetErrorString);
FAKECUDA_SAME_TYPE(cuMemHostRegister, cuMemHostRegister_v2);
FAKECUDA_SAME_TYPE(cuMemHostUnregister, cuMemHostUnregister);
FAKECUDA_SAME_TYPE(cuEventCreate, cuEventCreate);
FAKECUDA_SAME_TYPE(cuEventDestroy, cuEventDestroy_v2);
FAKECUDA_SAME_TYPE(cuEventRecord, cuEventRecord);
FAKECUDA_SAME_TYPE(cuEventSynchronize, cuEventSynchronize);
FAKECUDA_SAME_TYPE(cuMemAllocHost, cuMemAllocHost_v2);
FAKECUDA_SAME_TYPE(cuMemFreeHost, cuMemFreeHost);
FAKECUDA_SAME_TYPE(cuEventElapsedTime, cuEventElapsedTime_v2);
FAKECUDA_SAME_TYPE(cuPointerGetAttribute, cuPointerGetAttribute);
FAKECUDA_SAME_TYPE(cuStreamIsCapturing, cuStreamIsCapturing);
FAKECUDA_SAME_TYPE(cuCtxSynchronize, cuCtxSynchronize);
} // namespace
