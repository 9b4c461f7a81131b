//===- FakeDriver.cpp - a stand-in libcuda.so.1 for tests (see FakeCuda.h) ---===//
#include "FakeCuda.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

using CUresult = int;
using CUdeviceptr = unsigned long long;

namespace fakecuda {
namespace {

constexpr CUresult kSuccess = 0, kInvalidValue = 1, kOutOfMemory = 2,
                   kNotInitialized = 3, kInvalidDevice = 101, kInvalidImage = 200,
                   kInvalidHandle = 400, kNotFound = 500,
                   kCaptureUnsupported = 900, kCaptureInvalidated = 901;

struct Op {
  std::string what;
  std::function<void()> run;
};
struct Stream {
  bool capturing = false, invalidated = false;
  std::vector<Op> captured;
  double clockMs = 0; // each operation takes 1 µs of "device" time
};
struct Graph {
  std::vector<Op> ops;
};
struct Event {
  double ms = 0;
};
struct Param {
  bool pointer;
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

struct State {
  std::mutex mu;
  FILE *trace = nullptr;
  std::map<std::string, int> calls; // per entry point, for FAKECUDA_FAIL
  std::map<uint64_t, uint64_t> allocations; // address → bytes
  std::map<uint64_t, int> ordinals;         // address → its allocation's number
  int allocated = 0;
  std::set<Stream *> streams;
  std::set<Graph *> graphs, execs;
  std::set<Event *> events;
  std::set<Module *> modules;
  std::map<void *, size_t> registered;
  int contexts = 0;
  bool initialized = false;

  State() {
    if (const char *path = std::getenv("FAKECUDA_TRACE"); path && *path)
      trace = std::fopen(path, "a");
  }
  // Whatever the process did not give back.
  ~State() {
    for (const auto &[at, bytes] : allocations)
      line("leak: " + std::to_string(bytes) + " bytes of device memory");
    if (!streams.empty())
      line("leak: " + std::to_string(streams.size()) + " stream(s)");
    if (!graphs.empty() || !execs.empty())
      line("leak: " + std::to_string(graphs.size() + execs.size()) + " graph(s)");
    if (!events.empty())
      line("leak: " + std::to_string(events.size()) + " event(s)");
    if (!modules.empty())
      line("leak: " + std::to_string(modules.size()) + " module(s)");
    if (!registered.empty())
      line("leak: " + std::to_string(registered.size()) + " page-locked range(s)");
    if (contexts)
      line("leak: the primary context is retained " + std::to_string(contexts) +
           " more time(s) than released");
    if (trace)
      std::fclose(trace);
  }
  void line(const std::string &s) {
    if (trace) {
      std::fprintf(trace, "fakecuda: %s\n", s.c_str());
      std::fflush(trace);
    }
  }
};

State &state() {
  static State s;
  return s;
}

int envInt(const char *name, int fallback) {
  const char *v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

bool insideLocked(State &s, uint64_t address, uint64_t bytes) {
  auto it = s.allocations.upper_bound(address);
  if (it == s.allocations.begin())
    return false;
  --it;
  return address >= it->first && address - it->first <= it->second &&
         bytes <= it->second - (address - it->first);
}

/// The result of a call that FAKECUDA_FAIL makes fail, traced.
#define FAKE_ENTRY(name)                                                       \
  if (int injectedCode = fakecuda::injected(name)) {                           \
    fakecuda::trace(std::string(name) + " fails with " +                       \
                    std::to_string(injectedCode) + " (FAKECUDA_FAIL)");        \
    return injectedCode;                                                       \
  }

/// ".visible .entry NAME( .param .u64 .ptr ... NAME_param_0, ... )" → NAME's
/// parameters, pointer or not.
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
      params.push_back({one.find(".ptr") != std::string::npos});
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
  if (!spec)
    return -1;
  std::string text = spec;
  size_t c1 = text.find(':'), c2 = c1 == std::string::npos ? c1 : text.find(':', c1 + 1);
  if (c2 == std::string::npos || text.substr(0, c1) != name)
    return -1;
  values->clear();
  for (size_t at = c2 + 1; at < text.size();) {
    size_t comma = text.find(',', at);
    values->push_back(static_cast<int32_t>(std::atol(text.substr(at, comma - at).c_str())));
    at = comma == std::string::npos ? text.size() : comma + 1;
  }
  return std::atoi(text.substr(c1 + 1, c2 - c1 - 1).c_str());
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
  if (eq == std::string::npos || text.substr(0, eq) != entry)
    return 0;
  size_t atSign = text.find('@', eq);
  int code = std::atoi(text.substr(eq + 1, atSign == std::string::npos
                                                ? std::string::npos
                                                : atSign - eq - 1)
                           .c_str());
  int nth = atSign == std::string::npos ? 1 : std::atoi(text.c_str() + atSign + 1);
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

void enqueue(void *stream, const std::string &what, std::function<void()> op) {
  State &s = state();
  auto *st = static_cast<Stream *>(stream);
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (st->capturing) {
      s.line(what + " (captured)");
      st->captured.push_back({what, std::move(op)});
      return;
    }
    s.line(what);
  }
  op();
  st->clockMs += 0.001;
}

} // namespace fakecuda

using namespace fakecuda;

namespace {

Stream *asStream(void *p) { return static_cast<Stream *>(p); }

/// Copies `bytes` between device addresses checked to be inside allocations
/// (and host addresses taken on trust), on `stream`.
CUresult copy(const char *entry, void *dst, uint64_t dstDevice, const void *src,
              uint64_t srcDevice, size_t bytes, void *stream, bool async) {
  FAKE_ENTRY(entry);
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
  FAKE_ENTRY("cuInit");
  state().initialized = true;
  return kSuccess;
}

CUresult cuDriverGetVersion(int *v) {
  *v = 13000;
  return kSuccess;
}

CUresult cuDeviceGetCount(int *count) {
  FAKE_ENTRY("cuDeviceGetCount");
  if (!state().initialized)
    return kNotInitialized;
  *count = envInt("FAKECUDA_DEVICES", 1);
  return kSuccess;
}

CUresult cuDeviceGet(int *device, int ordinal) {
  FAKE_ENTRY("cuDeviceGet");
  if (ordinal < 0 || ordinal >= envInt("FAKECUDA_DEVICES", 1))
    return kInvalidDevice;
  *device = ordinal;
  return kSuccess;
}

CUresult cuDeviceGetName(char *name, int len, int) {
  std::snprintf(name, static_cast<size_t>(len), "moec fake GPU");
  return kSuccess;
}

CUresult cuDeviceGetAttribute(int *value, int attribute, int) {
  int sm = envInt("FAKECUDA_SM", 90);
  if (attribute == 75)
    *value = sm / 10;
  else if (attribute == 76)
    *value = sm % 10;
  else
    return kInvalidValue;
  return kSuccess;
}

CUresult cuDevicePrimaryCtxRetain(void **context, int) {
  FAKE_ENTRY("cuDevicePrimaryCtxRetain");
  std::lock_guard<std::mutex> lock(state().mu);
  ++state().contexts;
  static int primary;
  *context = &primary;
  return kSuccess;
}

CUresult cuDevicePrimaryCtxRelease_v2(int) {
  std::lock_guard<std::mutex> lock(state().mu);
  if (state().contexts == 0)
    return kInvalidValue;
  --state().contexts;
  return kSuccess;
}

CUresult cuCtxSetCurrent(void *context) {
  FAKE_ENTRY("cuCtxSetCurrent");
  return context ? kSuccess : kInvalidValue;
}

CUresult cuModuleLoadDataEx(void **module, const void *image, unsigned, int *, void **) {
  FAKE_ENTRY("cuModuleLoadDataEx");
  auto m = std::make_unique<Module>();
  const char *bytes = static_cast<const char *>(image);
  if (std::memcmp(bytes, "\x7f" "ELF", 4) != 0) {
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
  *module = m.get();
  s.modules.insert(m.release());
  return kSuccess;
}

CUresult cuModuleGetFunction(void **function, void *module, const char *name) {
  FAKE_ENTRY("cuModuleGetFunction");
  auto *m = static_cast<Module *>(module);
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
  *function = f.get();
  m->functions.push_back(std::move(f));
  return kSuccess;
}

CUresult cuModuleUnload(void *module) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  auto *m = static_cast<Module *>(module);
  if (!s.modules.erase(m))
    return kInvalidHandle;
  delete m;
  return kSuccess;
}

CUresult cuMemAlloc_v2(CUdeviceptr *out, size_t bytes) {
  FAKE_ENTRY("cuMemAlloc_v2");
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
  s.line("cuMemAlloc_v2 " + std::to_string(bytes) + " bytes: mem" +
         std::to_string(s.allocated++));
  return kSuccess;
}

CUresult cuMemFree_v2(CUdeviceptr p) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.allocations.erase(p))
    return kInvalidValue;
  s.ordinals.erase(p);
  std::free(reinterpret_cast<void *>(p));
  return kSuccess;
}

CUresult cuMemGetInfo_v2(size_t *free, size_t *total) {
  *free = size_t(64) << 30;
  *total = size_t(80) << 30;
  return kSuccess;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t bytes) {
  return copy("cuMemcpyHtoD_v2", nullptr, dst, src, 0, bytes, nullptr, false);
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t bytes, void *stream) {
  return copy("cuMemcpyHtoDAsync_v2", nullptr, dst, src, 0, bytes, stream, true);
}

CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t bytes, void *stream) {
  return copy("cuMemcpyDtoHAsync_v2", dst, 0, nullptr, src, bytes, stream, true);
}

CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes, void *stream) {
  return copy("cuMemcpyDtoDAsync_v2", nullptr, dst, nullptr, src, bytes, stream, true);
}

CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t words, void *stream) {
  FAKE_ENTRY("cuMemsetD32Async");
  if (!inside(dst, words * 4)) {
    trace("cuMemsetD32Async: " + std::to_string(words * 4) + " bytes outside any allocation");
    return kInvalidValue;
  }
  enqueue(stream, "cuMemsetD32Async " + std::to_string(words * 4) + " bytes at " + where(dst),
          [=] {
    auto *w = reinterpret_cast<uint32_t *>(dst);
    for (size_t i = 0; i < words; ++i)
      w[i] = value;
  });
  return kSuccess;
}

CUresult cuStreamCreate(void **stream, unsigned) {
  FAKE_ENTRY("cuStreamCreate");
  auto *st = new Stream;
  std::lock_guard<std::mutex> lock(state().mu);
  state().streams.insert(st);
  *stream = st;
  return kSuccess;
}

CUresult cuStreamDestroy_v2(void *stream) {
  std::lock_guard<std::mutex> lock(state().mu);
  if (!state().streams.erase(asStream(stream)))
    return kInvalidHandle;
  delete asStream(stream);
  return kSuccess;
}

CUresult cuStreamSynchronize(void *stream) {
  FAKE_ENTRY("cuStreamSynchronize");
  Stream *st = asStream(stream);
  if (st->capturing) {
    // As the driver does: the call fails and the capture is lost.
    st->invalidated = true;
    trace("cuStreamSynchronize: the stream is being captured");
    return kCaptureUnsupported;
  }
  trace("cuStreamSynchronize");
  return kSuccess;
}

CUresult cuLaunchKernel(void *function, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                        unsigned by, unsigned bz, unsigned shared, void *stream,
                        void **params, void **extra) {
  FAKE_ENTRY("cuLaunchKernel");
  auto *f = static_cast<Function *>(function);
  if (!f || extra || gx == 0 || gy != 1 || gz != 1 || bx == 0 || bx > 1024 || by != 1 ||
      bz != 1 || shared)
    return kInvalidValue;
  std::string what = "cuLaunchKernel " + f->name + " grid " + std::to_string(gx) + "x" +
                     std::to_string(bx);
  if (f->known) {
    for (size_t i = 0; i < f->params.size(); ++i) {
      uint64_t v = *static_cast<uint64_t *>(params[i]);
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
  if (target >= 0) {
    if (static_cast<size_t>(target) >= f->params.size() || !f->params[target].pointer)
      return kInvalidValue;
    uint64_t at = *static_cast<uint64_t *>(params[target]);
    if (!inside(at, values.size() * 4)) {
      trace("FAKECUDA_WRITE: " + std::to_string(values.size()) + " values do not fit at " +
            f->name + "'s parameter " + std::to_string(target));
      return kInvalidValue;
    }
    what += " (writes " + std::to_string(values.size()) + " values)";
  }
  enqueue(stream, what, [at = target >= 0 ? *static_cast<uint64_t *>(params[target]) : 0,
                         values] {
    if (at)
      std::memcpy(reinterpret_cast<void *>(at), values.data(), values.size() * 4);
  });
  return kSuccess;
}

CUresult cuStreamBeginCapture_v2(void *stream, int) {
  FAKE_ENTRY("cuStreamBeginCapture_v2");
  Stream *st = asStream(stream);
  if (st->capturing)
    return kInvalidValue;
  st->capturing = true;
  st->invalidated = false;
  st->captured.clear();
  trace("capture begins");
  return kSuccess;
}

CUresult cuStreamEndCapture(void *stream, void **graph) {
  Stream *st = asStream(stream);
  if (!st->capturing)
    return kInvalidValue;
  st->capturing = false;
  *graph = nullptr;
  if (st->invalidated)
    return kCaptureInvalidated;
  auto *g = new Graph{std::move(st->captured)};
  st->captured.clear();
  trace("capture ends: " + std::to_string(g->ops.size()) + " operations");
  std::lock_guard<std::mutex> lock(state().mu);
  state().graphs.insert(g);
  *graph = g;
  return kSuccess;
}

CUresult cuGraphInstantiateWithFlags(void **exec, void *graph, unsigned long long) {
  FAKE_ENTRY("cuGraphInstantiateWithFlags");
  auto *e = new Graph{static_cast<Graph *>(graph)->ops};
  std::lock_guard<std::mutex> lock(state().mu);
  state().execs.insert(e);
  *exec = e;
  return kSuccess;
}

CUresult cuGraphLaunch(void *exec, void *stream) {
  FAKE_ENTRY("cuGraphLaunch");
  auto *e = static_cast<Graph *>(exec);
  Stream *st = asStream(stream);
  if (st->capturing)
    return kCaptureUnsupported;
  trace("cuGraphLaunch: " + std::to_string(e->ops.size()) + " operations");
  for (const Op &op : e->ops) {
    op.run();
    st->clockMs += 0.001;
  }
  return kSuccess;
}

CUresult cuGraphExecDestroy(void *exec) {
  std::lock_guard<std::mutex> lock(state().mu);
  if (!state().execs.erase(static_cast<Graph *>(exec)))
    return kInvalidHandle;
  delete static_cast<Graph *>(exec);
  return kSuccess;
}

CUresult cuGraphDestroy(void *graph) {
  std::lock_guard<std::mutex> lock(state().mu);
  if (!state().graphs.erase(static_cast<Graph *>(graph)))
    return kInvalidHandle;
  delete static_cast<Graph *>(graph);
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
      {kNotFound, "CUDA_ERROR_NOT_FOUND"},
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
      {kCaptureUnsupported, "operation not permitted when stream is capturing"}};
  auto it = texts.find(r);
  *text = it == texts.end() ? nullptr : it->second;
  return it == texts.end() ? kInvalidValue : kSuccess;
}

CUresult cuMemHostRegister_v2(void *p, size_t bytes, unsigned) {
  FAKE_ENTRY("cuMemHostRegister_v2");
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

CUresult cuEventCreate(void **event, unsigned) {
  FAKE_ENTRY("cuEventCreate");
  auto *e = new Event;
  std::lock_guard<std::mutex> lock(state().mu);
  state().events.insert(e);
  *event = e;
  return kSuccess;
}

CUresult cuEventDestroy_v2(void *event) {
  std::lock_guard<std::mutex> lock(state().mu);
  if (!state().events.erase(static_cast<Event *>(event)))
    return kInvalidHandle;
  delete static_cast<Event *>(event);
  return kSuccess;
}

CUresult cuEventRecord(void *event, void *stream) {
  FAKE_ENTRY("cuEventRecord");
  auto *e = static_cast<Event *>(event);
  Stream *st = asStream(stream);
  if (st->capturing)
    return kCaptureUnsupported;
  e->ms = st->clockMs; // the stream's work so far has already run
  return kSuccess;
}

CUresult cuEventElapsedTime_v2(float *ms, void *start, void *end) {
  FAKE_ENTRY("cuEventElapsedTime_v2");
  *ms = static_cast<float>(static_cast<Event *>(end)->ms - static_cast<Event *>(start)->ms);
  return kSuccess;
}

} // extern "C"
