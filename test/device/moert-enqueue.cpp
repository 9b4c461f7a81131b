//===- moert-enqueue.cpp - runs enqueued on a caller's CUDA stream ---------===//
//
//   moert-enqueue model.moeb x.npy [--device cuda:N] [--function NAME]
//                 [--runs N] [--capture] [--pool] [--one-rank] [--out y.npy]
//                 [--bad host-input|past-end-output|wrong-device|
//                        wrong-dtype|short-pool|misaligned-pool]
//
// What a server embedding the runtime does with moert_session_enqueue: it
// owns the device memory and the stream. The tool allocates the function's
// input (x [T, H]; an f32 .npy is rounded for a bf16 or f16 input) and
// outputs on the GPU through the driver, copies x
// up, then enqueues --runs runs on its own stream (with --capture: into its
// own stream capture, then launches the captured graph once), reads the
// session's fault word with moert_session_device_error (the one wait), copies
// the first output back and writes it to --out. --bad passes a tensor the
// session must refuse: a host address as the input, an output buffer 4 bytes
// too short for its allocation, or the input marked as on another GPU.
// --pool gives the session its workspace from the tool's own allocation of
// moert_model_device_workspace_bytes (moert_session_options_t's
// device_workspace), as a server's memory pool would; short-pool makes that
// allocation 256 bytes short, misaligned-pool passes it 4 bytes in.
// --one-rank gives the session the communicator of a one-rank local group,
// for an artifact sharded over one rank (moe-compile --shard-experts=1).
//
// Under the stand-in driver (FAKECUDA_TRACE) it writes "moert-enqueue: ..."
// lines into the trace around the enqueued runs, so that a test can check
// what happens between them (test/e2e/cuda_enqueue.test).
//
//===----------------------------------------------------------------------===//
#include "Npy.h"
#include "cuda/CudaApi.h"
#include "moert/moert.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using namespace moert::rt::cuda;

[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  std::exit(1);
}

void ok(moert_status_t *s, const std::string &what) {
  if (!s)
    return;
  std::string m = what + ": " + moert_status_message(s);
  moert_status_free(s);
  fail(m);
}

void ok(const Api &api, CUresult r, const std::string &what) {
  if (r != CUDA_SUCCESS)
    fail(what + ": " + resultName(api, r));
}

/// A line in the stand-in driver's trace, when one is kept.
void mark(const std::string &line) {
  const char *path = std::getenv("FAKECUDA_TRACE");
  if (!path || !*path)
    return;
  int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0)
    return;
  std::string text = "moert-enqueue: " + line + "\n";
  (void)!::write(fd, text.data(), text.size());
  ::close(fd);
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3)
    fail("usage: moert-enqueue model.moeb x.npy [--device cuda:N] [--function NAME] "
         "[--runs N] [--capture] [--pool] [--one-rank] [--out y.npy] [--bad host-input|past-end-output|"
         "wrong-device|wrong-dtype|short-pool|misaligned-pool]");
  std::string device = "cuda:0", function, out, bad;
  int runs = 1;
  bool capture = false, pool = false, oneRank = false;
  for (int i = 3; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--capture" || flag == "--pool" || flag == "--one-rank") {
      (flag == "--pool" ? pool : flag == "--capture" ? capture : oneRank) = true;
      continue;
    }
    if (i + 1 == argc)
      fail("option " + flag + " needs a value");
    std::string v = argv[++i];
    if (flag == "--device")
      device = v;
    else if (flag == "--function")
      function = v;
    else if (flag == "--runs")
      runs = std::atoi(v.c_str());
    else if (flag == "--out")
      out = v;
    else if (flag == "--bad")
      bad = v;
    else
      fail("unknown option " + flag);
  }
  if (runs < 1)
    fail("--runs must be at least 1");
  if (!bad.empty() && bad != "host-input" && bad != "past-end-output" && bad != "wrong-device" &&
      bad != "wrong-dtype" && bad != "short-pool" && bad != "misaligned-pool")
    fail("--bad takes host-input, past-end-output, wrong-device, wrong-dtype, short-pool or "
         "misaligned-pool");
  pool = pool || bad == "short-pool" || bad == "misaligned-pool";
  int ordinal = device == "cuda" ? 0 : device.rfind("cuda:", 0) == 0 ? std::atoi(device.c_str() + 5) : -1;
  if (ordinal < 0)
    fail("--device must be cuda or cuda:N");

  moert_model_t *model = nullptr;
  ok(moert_model_load_file(argv[1], &model), "loading " + std::string(argv[1]));
  size_t fn = 0;
  ok(moert_model_find_function(model, function.empty() ? nullptr : function.c_str(), &fn),
     "the function");
  if (moert_model_num_tensors(model, fn, MOERT_TENSOR_INPUT) != 1)
    fail("the function must take one input (x)");
  moert::npy::Array x;
  std::string err;
  if (!moert::npy::readTokens(argv[2], &x, &err))
    fail(err);
  int64_t T = x.shape[0];

  const Api *api = nullptr;
  if (moert::rt::Status s = load(&api); !s)
    fail(s.message());
  CUdevice dev = 0;
  CUcontext context = nullptr;
  ok(*api, api->cuDeviceGet(&dev, ordinal), "cuDeviceGet");
  ok(*api, api->cuDevicePrimaryCtxRetain(&context, dev), "cuDevicePrimaryCtxRetain");
  ok(*api, api->cuCtxSetCurrent(context), "cuCtxSetCurrent");
  CUstream stream = nullptr;
  ok(*api, api->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");

  // The input and the outputs, in device memory the tool owns.
  auto deviceTensor = [&](const moert_tensor_info_t &info, size_t bytes, CUdeviceptr p) {
    return moert::deviceTensor(info, T, reinterpret_cast<void *>(static_cast<uintptr_t>(p)), bytes,
                               ordinal);
  };
  std::vector<CUdeviceptr> allocations;
  auto allocate = [&](size_t bytes) {
    CUdeviceptr p = 0;
    ok(*api, api->cuMemAlloc(&p, bytes ? bytes : 1), "cuMemAlloc");
    allocations.push_back(p);
    return p;
  };

  moert_session_options_t options;
  moert_session_options_init(&options);
  if (pool) {
    size_t need = moert_model_device_workspace_bytes(model);
    CUdeviceptr p = allocate(bad == "short-pool" ? need - 256 : need + 256);
    options.device_workspace = reinterpret_cast<void *>(
        static_cast<uintptr_t>(p + (bad == "misaligned-pool" ? 4 : 0)));
    options.device_workspace_bytes = bad == "short-pool" ? need - 256 : need;
    mark("the session's workspace: " + std::to_string(need) + " bytes of the tool's");
  }
  moert_local_group_t *group = nullptr;
  if (oneRank) {
    ok(moert_local_group_create(1, 10000, &group), "the local group");
    options.communicator = moert_local_group_communicator(group, 0);
  }
  moert_session_t *session = nullptr;
  ok(moert_session_create(model, device.c_str(), &options, &session), "the session");

  moert_tensor_info_t info;
  ok(moert_model_tensor_info(model, fn, MOERT_TENSOR_INPUT, 0, &info), "input 0");
  x = moert::npy::roundedTo16(x, info.dtype); // an f32 x for a 16-bit input, as moe-run does
  size_t xBytes = x.data.size();
  CUdeviceptr xDevice = allocate(xBytes);
  ok(*api, api->cuMemcpyHtoD(xDevice, x.data.data(), xBytes), "cuMemcpyHtoD of x");
  moert_device_tensor_t input = deviceTensor(info, xBytes, xDevice);
  if (bad == "host-input")
    input.data = x.data.data();
  if (bad == "wrong-device")
    input.device_id = ordinal + 1;
  if (bad == "wrong-dtype")
    input.dtype = info.dtype == MOERT_F32 ? MOERT_BF16 : MOERT_F32;
  std::vector<moert_device_tensor_t> outputs;
  std::vector<size_t> outBytes;
  for (size_t i = 0; i < moert_model_num_tensors(model, fn, MOERT_TENSOR_OUTPUT); ++i) {
    ok(moert_model_tensor_info(model, fn, MOERT_TENSOR_OUTPUT, i, &info), "output info");
    size_t bytes = moert::tensorBytes(info, T);
    // past-end-output: the allocation is 4 bytes short of the output.
    CUdeviceptr p = allocate(bad == "past-end-output" && i == 0 ? bytes - 4 : bytes);
    outputs.push_back(deviceTensor(info, bytes, p));
    outBytes.push_back(bytes);
  }

  auto enqueue = [&] {
    ok(moert_session_enqueue(session, moert_model_function_name(model, fn), &input, 1,
                             outputs.data(), outputs.size(), stream),
       "moert_session_enqueue");
  };
  if (capture) {
    mark("capture begins");
    ok(*api, api->cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
       "cuStreamBeginCapture");
    for (int r = 0; r < runs; ++r)
      enqueue();
    CUgraph graph = nullptr;
    ok(*api, api->cuStreamEndCapture(stream, &graph), "cuStreamEndCapture");
    CUgraphExec exec = nullptr;
    ok(*api, api->cuGraphInstantiateWithFlags(&exec, graph, 0), "cuGraphInstantiateWithFlags");
    api->cuGraphDestroy(graph);
    mark("capture ends, the caller's graph launched");
    ok(*api, api->cuGraphLaunch(exec, stream), "cuGraphLaunch");
    ok(moert_session_device_error(session, stream), "the device's fault word");
    api->cuGraphExecDestroy(exec);
  } else {
    mark("runs begin");
    for (int r = 0; r < runs; ++r)
      enqueue();
    mark("runs end");
    ok(moert_session_device_error(session, stream), "the device's fault word");
  }
  mark("fault word read");

  std::vector<uint8_t> y(outBytes[0]);
  ok(*api, api->cuMemcpyDtoHAsync(y.data(), reinterpret_cast<uintptr_t>(outputs[0].data),
                                  y.size(), stream),
     "cuMemcpyDtoHAsync of output 0");
  ok(*api, api->cuStreamSynchronize(stream), "cuStreamSynchronize");
  if (!out.empty()) {
    std::vector<int64_t> shape(outputs[0].shape, outputs[0].shape + outputs[0].rank);
    if (!moert::npy::writeFile(out, moert::npy::serialize(outputs[0].dtype, y.data(), shape),
                               &err))
      fail(err);
  }
  std::printf("enqueued %d run(s) of '%s' at T = %lld%s\n", runs,
              moert_model_function_name(model, fn), static_cast<long long>(T),
              capture ? " in the caller's capture" : "");
  moert_session_free(session);
  moert_local_group_free(group);
  // The session freed none of the tool's memory (its workspace included).
  for (CUdeviceptr p : allocations)
    ok(*api, api->cuMemFree(p), "cuMemFree of the tool's memory");
  api->cuStreamDestroy(stream);
  api->cuDevicePrimaryCtxRelease(dev);
  moert_model_free(model);
  return 0;
}
