//===- SessionTest.cpp - sessions, run-time checks, threads ----------------===//
#include "CodeObject.h"
#include "TestUtil.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <sched.h>
#include <thread>

using namespace moert::test;
namespace fb = moert::fb;

// GCC cannot see that the replacement operator new below uses malloc.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

// Counts every operator new in this process (libmoert is linked statically,
// so its allocations go through here too).
static std::atomic<long> gAllocations{0};
void *operator new(size_t n) {
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  if (void *p = std::malloc(n ? n : 1))
    return p;
  throw std::bad_alloc();
}
void *operator new[](size_t n) {
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  if (void *p = std::malloc(n ? n : 1))
    return p;
  throw std::bad_alloc();
}
void operator delete(void *p) noexcept { std::free(p); }
void operator delete[](void *p) noexcept { std::free(p); }
void operator delete(void *p, size_t) noexcept { std::free(p); }
void operator delete[](void *p, size_t) noexcept { std::free(p); }

namespace {

constexpr int64_t kMaxT = 16;

/// Two functions:
///   forward(x: f32 [T, 8], gate: f32 [T, 8]) -> y: f32 [T, 8] = x · W1ᵀ + bias
///     (through a kernel), plus aux router_stats.0: f32 [2 + 4] (a copied weight)
///   moe(x: f32 [T, 8]) -> y: f32 [T, 8], a top-1 routed layer
///     (route -> permute -> GroupedGemm -> unpermute), big enough to use threads.
struct TwoFunctions {
  std::vector<float> w1 = randomFloats(64, 1), bias = randomFloats(8, 2),
                     experts = randomFloats(4 * 8 * 8, 3);
  std::vector<float> stats = {3, 5, 0.25f, 1.5f, 2.5f, 8};
  Bytes bytes;
  TwoFunctions() {
    ArtifactBuilder b(kMaxT);
    uint32_t W1 = b.addWeightF32("w1", {8, 8}, w1);
    uint32_t B = b.addWeightF32("bias", {8}, bias);
    uint32_t E = b.addWeightF32("experts", {4, 8, 8}, experts);
    uint32_t S = b.addWeightF32("stats", {6}, stats);
    uint32_t addBias = b.testKernel("moert_test_add_bias8", 3);
    uint32_t route = b.testKernel("moert_test_route4", 3);
    uint32_t perm = b.testKernel("moert_test_permute8", 3);
    uint32_t unperm = b.testKernel("moert_test_unpermute8", 3);
    {
      FunctionBuilder f = b.function("forward");
      uint32_t x = f.buffer(32, 0), g = f.buffer(32, 0), h = f.buffer(32, 0),
               y = f.buffer(32, 0), st = f.buffer(0, 24);
      f.input("x", fb::DType::F32, {-1, 8}, x);
      f.input("gate", fb::DType::F32, {-1, 8}, g);
      f.output("y", fb::DType::F32, {-1, 8}, y);
      f.auxOutput("router_stats.0", fb::DType::F32, {6}, st);
      f.gemm(buf(x), wt(W1), buf(h), aff(1, 0), 8, 8);
      f.launch(addBias, {buf(h), wt(B), buf(y)}, aff(1, 0), 3);
      f.copy(wt(S), buf(st), aff(0, 24));
    }
    {
      FunctionBuilder f = b.function("moe");
      uint32_t x = f.buffer(32, 0), off = f.buffer(0, 20), p = f.buffer(4, 0),
               xp = f.buffer(32, 0), yp = f.buffer(32, 0), y = f.buffer(32, 0);
      f.input("x", fb::DType::F32, {-1, 8}, x);
      f.output("y", fb::DType::F32, {-1, 8}, y);
      f.launch(route, {buf(x), buf(off), buf(p)}, aff(0, 1), 1);
      f.launch(perm, {buf(x), buf(p), buf(xp)}, aff(1, 0), 2);
      f.groupedGemm(buf(xp), wt(E), buf(yp), buf(off), aff(1, 0), 4, 8, 8);
      f.launch(unperm, {buf(yp), buf(p), buf(y)}, aff(1, 0), 2);
    }
    bytes = b.build();
  }
  std::vector<float> forwardReference(const std::vector<float> &x, int64_t T) const {
    std::vector<float> y = refGemmBt(x, w1.data(), T, 8, 8);
    for (int64_t t = 0; t < T; ++t)
      for (int h = 0; h < 8; ++h)
        y[t * 8 + h] += bias[h];
    return y;
  }
};

const TwoFunctions &model() {
  static TwoFunctions m;
  return m;
}

moert::Status runForward(moert::Session &s, std::vector<float> &x,
                         std::vector<float> &g, int64_t T, int64_t Tg = -1) {
  return s.run("forward", {f32(x, {T, 8}), f32(g, {Tg < 0 ? T : Tg, 8})});
}

#define EXPECT_STATUS(expr, expected_code, substring)                                      \
  do {                                                                            \
    moert::Status s_ = (expr);                                                    \
    EXPECT_FALSE(s_.ok());                                                        \
    EXPECT_EQ(s_.code(), (expected_code)) << s_.message();                                 \
    EXPECT_NE(s_.message().find(substring), std::string::npos)                    \
        << "message: " << s_.message() << "\nexpected to contain: " << (substring); \
  } while (0)

} // namespace

TEST(Session, RunsAndReadsOutputsAndAuxOutputs) {
  moert::Model m = mustLoad(model().bytes);
  moert::Session s = mustSession(m, 2);
  int64_t T = 5;
  std::vector<float> x = randomFloats(40, 9), g(40, 0.0f);
  ASSERT_TRUE(runForward(s, x, g, T));
  auto y = s.output(0);
  ASSERT_TRUE(y);
  EXPECT_EQ(y->dtype, MOERT_F32);
  EXPECT_EQ(y->rank, 2);
  EXPECT_EQ(y->shape[0], T);
  EXPECT_EQ(y->shape[1], 8);
  EXPECT_EQ(y->bytes, size_t(T * 32));
  EXPECT_TRUE(near(values(*y), model().forwardReference(x, T)));
  auto aux = s.auxOutput(0);
  ASSERT_TRUE(aux);
  EXPECT_EQ(aux->rank, 1);
  EXPECT_EQ(aux->shape[0], 6);
  EXPECT_EQ(values(*aux), model().stats);
  size_t fn = 9;
  int64_t tokens = 0;
  EXPECT_EQ(moert_session_last_run(s.get(), &fn, &tokens), 1);
  EXPECT_EQ(fn, 0u);
  EXPECT_EQ(tokens, T);

  EXPECT_STATUS(s.output(1).status(), MOERT_NOT_FOUND, "output 1 does not exist");
  EXPECT_STATUS(s.auxOutput(1).status(), MOERT_NOT_FOUND, "aux output 1 does not exist");
}

TEST(Session, RouterNoiseNeedsANoisyRouter) {
  moert::Model m = mustLoad(model().bytes);
  moert::Session s = mustSession(m);
  EXPECT_STATUS(s.setRouterNoise(true, 7), MOERT_INVALID_ARGUMENT,
                "the artifact has no noisy router");
  EXPECT_TRUE(s.setRouterNoise(false, 0)); // off is always fine
  EXPECT_STATUS(moert::Status::adopt(moert_session_set_router_noise(nullptr, 1, 7)),
                MOERT_INVALID_ARGUMENT, "the session is NULL");
}

TEST(Session, OutputsBeforeAnyRunAreAPreconditionError) {
  moert::Model m = mustLoad(model().bytes);
  moert::Session s = mustSession(m);
  EXPECT_STATUS(s.output(0).status(), MOERT_FAILED_PRECONDITION, "no successful run yet");
  EXPECT_STATUS(s.auxOutput(0).status(), MOERT_FAILED_PRECONDITION, "no successful run yet");
  EXPECT_EQ(moert_session_last_run(s.get(), nullptr, nullptr), 0);
}

TEST(Session, CallerProvidedOutputBuffers) {
  moert::Model m = mustLoad(model().bytes);
  moert::Session s = mustSession(m);
  int64_t T = 3;
  std::vector<float> x = randomFloats(24, 4), g(24, 0.0f), out(24, -1.0f);
  std::vector<moert_tensor_t> outputs = {moert::tensor(MOERT_F32, {}, out.data(), out.size() * 4)};
  ASSERT_TRUE(s.run("forward", {f32(x, {T, 8}), f32(g, {T, 8})}, &outputs));
  EXPECT_TRUE(near(out, model().forwardReference(x, T)));
  EXPECT_EQ(outputs[0].rank, 2);
  EXPECT_EQ(outputs[0].shape[0], T);
  EXPECT_EQ(outputs[0].shape[1], 8);
  EXPECT_EQ(outputs[0].dtype, MOERT_F32);

  std::vector<moert_tensor_t> small = {moert::tensor(MOERT_F32, {}, out.data(), 95)};
  EXPECT_STATUS(s.run("forward", {f32(x, {T, 8}), f32(g, {T, 8})}, &small),
                MOERT_INVALID_ARGUMENT, "output 0 ('y') needs 96 bytes at T = 3, the buffer given holds 95");
  std::vector<moert_tensor_t> null = {moert::tensor(MOERT_F32, {}, nullptr, 96)};
  EXPECT_STATUS(s.run("forward", {f32(x, {T, 8}), f32(g, {T, 8})}, &null),
                MOERT_INVALID_ARGUMENT, "the buffer given holds 0");
  std::vector<moert_tensor_t> two = {outputs[0], outputs[0]};
  EXPECT_STATUS(s.run("forward", {f32(x, {T, 8}), f32(g, {T, 8})}, &two),
                MOERT_INVALID_ARGUMENT, "2 output buffers given, the function has 1 outputs");
}

TEST(Session, TokenCountsOutOfRange) {
  moert::Model m = mustLoad(model().bytes);
  moert::Session s = mustSession(m);
  std::vector<float> x(8 * 20, 0.5f), g(8 * 20, 0.0f);
  EXPECT_STATUS(runForward(s, x, g, 0), MOERT_INVALID_ARGUMENT,
                "run 'forward': T = 0 tokens is out of range: a run takes 1 <= T <= max_tokens = 16");
  EXPECT_STATUS(runForward(s, x, g, 17), MOERT_INVALID_ARGUMENT,
                "T = 17 tokens is out of range: a run takes 1 <= T <= max_tokens = 16");
  EXPECT_STATUS(runForward(s, x, g, 20), MOERT_INVALID_ARGUMENT, "T = 20 tokens");
  // Both ends of the range run.
  EXPECT_TRUE(runForward(s, x, g, 1));
  EXPECT_TRUE(runForward(s, x, g, 16));
  EXPECT_TRUE(near(values(*s.output(0)),
                   model().forwardReference(std::vector<float>(x.begin(), x.begin() + 128), 16)));
}

TEST(Session, InputShapeAndDTypeAreChecked) {
  moert::Model m = mustLoad(model().bytes);
  moert::Session s = mustSession(m);
  std::vector<float> x(64, 1.0f), g(64, 0.0f);
  std::vector<int32_t> xi(64, 1);
  EXPECT_STATUS(s.run("forward", {i32(xi, {4, 8}), f32(g, {4, 8})}), MOERT_INVALID_ARGUMENT,
                "run 'forward': input 0 ('x'): dtype i32, expected f32 [T, 8]");
  EXPECT_STATUS(s.run("forward", {f32(x, {4, 8, 1}), f32(g, {4, 8})}), MOERT_INVALID_ARGUMENT,
                "input 0 ('x'): rank 3, expected f32 [T, 8]");
  EXPECT_STATUS(s.run("forward", {f32(x, {4, 8}), f32(g, {8, 4})}), MOERT_INVALID_ARGUMENT,
                "input 1 ('gate'): shape [8, 4], expected f32 [T, 8]");
  EXPECT_STATUS(s.run("forward", {f32(x, {4, 8}), f32(g, {2, 8})}), MOERT_INVALID_ARGUMENT,
                "input 1 ('gate') has 2 tokens, but input 0 ('x') has 4");
  EXPECT_STATUS(s.run("forward", {f32(x, {-3, 8}), f32(g, {-3, 8})}), MOERT_INVALID_ARGUMENT,
                "has a negative dimension");
  EXPECT_STATUS(s.run("forward", {f32(x, {4, 8})}), MOERT_INVALID_ARGUMENT,
                "function 'forward' takes 2 input(s) (x: f32 [T, 8], gate: f32 [T, 8]), got 1");
  moert_tensor_t short_ = f32(x, {4, 8});
  short_.bytes = 127;
  EXPECT_STATUS(s.run("forward", {short_, f32(g, {4, 8})}), MOERT_INVALID_ARGUMENT,
                "input 0 ('x'): bytes is 127, less than the 128 bytes of f32 [4, 8]");
  moert_tensor_t null = f32(x, {4, 8});
  null.data = nullptr;
  EXPECT_STATUS(s.run("forward", {null, f32(g, {4, 8})}), MOERT_INVALID_ARGUMENT,
                "input 0 ('x'): data is NULL");
  moert_tensor_t rank9 = f32(x, {1, 1, 1, 1, 1, 1, 1, 1, 1});
  EXPECT_STATUS(s.run("forward", {rank9, f32(g, {4, 8})}), MOERT_INVALID_ARGUMENT, "rank 9");
  // NULL inputs with a count.
  moert::Status st = moert::Status::adopt(moert_session_run(s.get(), "forward", nullptr, 2, nullptr, 0));
  EXPECT_EQ(st.code(), MOERT_INVALID_ARGUMENT);
  EXPECT_NE(st.message().find("inputs is NULL"), std::string::npos) << st.message();
}

namespace {
moert_device_tensor_t onGpu(std::vector<float> &v, std::initializer_list<int64_t> shape) {
  moert_device_tensor_t t = {};
  t.data = v.data();
  t.bytes = v.size() * sizeof(float);
  t.device_type = MOERT_DEVICE_CUDA;
  t.dtype = MOERT_F32;
  t.rank = static_cast<int32_t>(shape.size());
  std::copy(shape.begin(), shape.end(), t.shape);
  return t;
}
} // namespace

// moert_session_enqueue checks the device tensors as a run checks host ones
// (and their device type and strides) before the device is asked; a CPU
// session then refuses it (the stand-in driver's tests, cuda_enqueue.test,
// cover a CUDA session's).
TEST(Session, EnqueueChecksDeviceTensorsAndNeedsACudaSession) {
  moert::Model m = mustLoad(model().bytes);
  moert::Session s = mustSession(m);
  std::vector<float> x(32), g(32), y(32);
  auto enqueue = [&](std::vector<moert_device_tensor_t> in, std::vector<moert_device_tensor_t> out) {
    return moert::Status::adopt(moert_session_enqueue(s.get(), "forward", in.data(), in.size(),
                                                      out.data(), out.size(), nullptr));
  };
  moert_device_tensor_t X = onGpu(x, {4, 8}), G = onGpu(g, {4, 8}), Y = onGpu(y, {4, 8});
  EXPECT_STATUS(enqueue({X, G}, {Y}), MOERT_UNSUPPORTED,
                "a CPU session runs on host memory: runs on a stream with device tensors need a "
                "CUDA session (use moert_session_run)");
  EXPECT_STATUS(enqueue({X}, {Y}), MOERT_INVALID_ARGUMENT,
                "enqueue 'forward': function 'forward' takes 2 input(s) (x: f32 [T, 8], gate: f32 "
                "[T, 8]), got 1");
  EXPECT_STATUS(enqueue({X, G}, {Y, Y}), MOERT_INVALID_ARGUMENT,
                "function 'forward' has 1 output(s) (y: f32 [T, 8]), got 2");
  moert_device_tensor_t host = X;
  host.device_type = MOERT_DEVICE_CPU;
  EXPECT_STATUS(enqueue({host, G}, {Y}), MOERT_INVALID_ARGUMENT,
                "input 0 ('x'): device type 1, expected MOERT_DEVICE_CUDA (2): its data must be in "
                "GPU memory");
  int64_t padded[] = {16, 1}, compact[] = {8, 1};
  moert_device_tensor_t strided = G;
  strided.strides = padded;
  EXPECT_STATUS(enqueue({X, strided}, {Y}), MOERT_INVALID_ARGUMENT,
                "input 1 ('gate'): stride 16 of dimension 0 is not row-major's (8): only compact "
                "tensors are taken");
  strided.strides = compact; // row-major strides given explicitly are fine
  EXPECT_STATUS(enqueue({X, strided}, {Y}), MOERT_UNSUPPORTED, "a CPU session");
  moert_device_tensor_t fewer = onGpu(y, {3, 8});
  EXPECT_STATUS(enqueue({X, G}, {fewer}), MOERT_INVALID_ARGUMENT,
                "output 0 ('y') has 3 tokens, the run has 4");
  moert_device_tensor_t small = Y;
  small.bytes = 127;
  EXPECT_STATUS(enqueue({X, G}, {small}), MOERT_INVALID_ARGUMENT,
                "output 0 ('y'): bytes is 127, less than the 128 bytes of f32 [4, 8]");
  EXPECT_STATUS(moert::Status::adopt(moert_session_enqueue(s.get(), "forward", nullptr, 2,
                                                           &Y, 1, nullptr)),
                MOERT_INVALID_ARGUMENT, "inputs is NULL");
  EXPECT_STATUS(moert::Status::adopt(moert_session_device_error(s.get(), nullptr)),
                MOERT_UNSUPPORTED, "a CPU session has no device fault word");
  // The C++ wrapper's calls, and its device tensors from the function's info.
  moert_tensor_info_t xInfo, gInfo, yInfo;
  ASSERT_EQ(moert_model_tensor_info(m.get(), 0, MOERT_TENSOR_INPUT, 0, &xInfo), nullptr);
  ASSERT_EQ(moert_model_tensor_info(m.get(), 0, MOERT_TENSOR_INPUT, 1, &gInfo), nullptr);
  ASSERT_EQ(moert_model_tensor_info(m.get(), 0, MOERT_TENSOR_OUTPUT, 0, &yInfo), nullptr);
  moert_device_tensor_t wx = moert::deviceTensor(xInfo, 4, x.data(), 128, 0);
  EXPECT_EQ(wx.rank, 2);
  EXPECT_EQ(wx.shape[0], 4);
  EXPECT_EQ(wx.shape[1], 8);
  EXPECT_EQ(wx.device_type, MOERT_DEVICE_CUDA);
  EXPECT_STATUS(s.enqueue("forward", {wx, moert::deviceTensor(gInfo, 4, g.data(), 128, 0)},
                          {moert::deviceTensor(yInfo, 4, y.data(), 128, 0)}, nullptr),
                MOERT_UNSUPPORTED, "a CPU session");
  EXPECT_STATUS(s.deviceError(nullptr), MOERT_UNSUPPORTED, "no device fault word");
  // With auxiliary outputs: one per aux output (or none), each of its shape.
  moert_device_tensor_t in2[2] = {wx, moert::deviceTensor(gInfo, 4, g.data(), 128, 0)};
  moert_device_tensor_t out1 = moert::deviceTensor(yInfo, 4, y.data(), 128, 0);
  moert_device_tensor_t aux2[2] = {};
  EXPECT_STATUS(moert::Status::adopt(moert_session_enqueue_aux(s.get(), "forward", in2, 2, &out1,
                                                               1, aux2, 2, nullptr)),
                MOERT_INVALID_ARGUMENT, "2 aux output tensors given, the function has 1");
  moert_tensor_info_t statsInfo;
  ASSERT_EQ(moert_model_tensor_info(m.get(), 0, MOERT_TENSOR_AUX_OUTPUT, 0, &statsInfo), nullptr);
  std::vector<float> stats(8);
  moert_device_tensor_t wrong = moert::deviceTensor(statsInfo, 4, stats.data(), 32, 0);
  wrong.shape[0] = 5; // the stats are [6]
  EXPECT_STATUS(moert::Status::adopt(moert_session_enqueue_aux(s.get(), "forward", in2, 2, &out1,
                                                               1, &wrong, 1, nullptr)),
                MOERT_INVALID_ARGUMENT, "aux output 0 ('");
  moert_device_tensor_t skipped = {}; // NULL data: not wanted
  EXPECT_STATUS(moert::Status::adopt(moert_session_enqueue_aux(s.get(), "forward", in2, 2, &out1,
                                                               1, &skipped, 1, nullptr)),
                MOERT_UNSUPPORTED, "a CPU session");
  // A CPU artifact needs no device workspace, and a CPU session takes none.
  EXPECT_EQ(moert_model_device_workspace_bytes(m.get()), 0u);
  EXPECT_EQ(moert_model_device_workspace_bytes(nullptr), 0u);
  moert_session_options_t options;
  moert_session_options_init(&options);
  EXPECT_EQ(options.device_workspace, nullptr);
  EXPECT_EQ(options.device_workspace_bytes, 0u);
  options.device_workspace = y.data();
  options.device_workspace_bytes = y.size() * sizeof(float);
  moert_session_t *pooled = nullptr;
  EXPECT_STATUS(moert::Status::adopt(moert_session_create(m.get(), "cpu", &options, &pooled)),
                MOERT_INVALID_ARGUMENT, "device_workspace is for a CUDA session");
  EXPECT_EQ(pooled, nullptr);
  EXPECT_STATUS(moert::Status::adopt(moert_session_enqueue(nullptr, "forward", &X, 1, &Y, 1,
                                                           nullptr)),
                MOERT_INVALID_ARGUMENT, "the session is NULL");
  EXPECT_STATUS(moert::Status::adopt(moert_session_device_error(nullptr, nullptr)),
                MOERT_INVALID_ARGUMENT, "the session is NULL");
}

TEST(Session, FunctionsByNameAndIndex) {
  moert::Model m = mustLoad(model().bytes);
  moert::Session s = mustSession(m);
  std::vector<float> x(64, 1.0f);
  EXPECT_STATUS(s.run("nope", {f32(x, {8, 8})}), MOERT_NOT_FOUND,
                "unknown function 'nope' (the artifact has: forward, moe)");
  EXPECT_STATUS(s.run("", {f32(x, {8, 8})}), MOERT_INVALID_ARGUMENT,
                "the artifact has 2 functions (forward, moe); name one");
  EXPECT_STATUS(s.run(size_t(2), {f32(x, {8, 8})}), MOERT_NOT_FOUND,
                "function index 2 is out of range");
  EXPECT_TRUE(s.run(size_t(1), {f32(x, {8, 8})}));
  EXPECT_TRUE(s.run("moe", {f32(x, {8, 8})}));
  size_t index = 0;
  EXPECT_STATUS(moert::Status::adopt(moert_model_find_function(m.get(), "zzz", &index)),
                MOERT_NOT_FOUND, "unknown function 'zzz'");
  ASSERT_TRUE(moert::Status::adopt(moert_model_find_function(m.get(), "moe", &index)));
  EXPECT_EQ(index, 1u);
}

// A cuda artifact (a GEMM, no kernel): the cpu cannot run it, and without a
// usable CUDA backend the session says so (MOERT_CUDA_DISABLE stands in for a
// machine without a driver, so the test means the same everywhere).
TEST(Session, CudaArtifactWithoutDevice) {
  ArtifactBuilder b(kMaxT);
  uint32_t W = b.addWeightF32("w", {8, 8}, randomFloats(64, 4));
  FunctionBuilder f = b.function("forward");
  uint32_t x = f.buffer(32, 0), y = f.buffer(32, 0);
  f.input("x", fb::DType::F32, {-1, 8}, x);
  f.output("y", fb::DType::F32, {-1, 8}, y);
  f.gemm(buf(x), wt(W), buf(y), aff(1, 0), 8, 8);
  b.model.target = fb::Target::Cuda;
  b.model.target_arch = "sm_90";
  moert::Model m = mustLoad(b.build());
  EXPECT_EQ(m.target(), "cuda");
  EXPECT_STATUS(moert::Session::create(m, "cpu", 1).status(), MOERT_INVALID_ARGUMENT,
                "the artifact is compiled for the cuda target (sm_90): create its "
                "session on device 'cuda' or 'cuda:N', not 'cpu'");
  ::setenv("MOERT_CUDA_DISABLE", "1", 1);
  for (const char *cuda : {"cuda", "cuda:0", "cuda:3"})
    EXPECT_STATUS(moert::Session::create(m, cuda, 1).status(), MOERT_UNSUPPORTED,
                  "the CUDA backend is disabled by MOERT_CUDA_DISABLE");
  EXPECT_STATUS(moert::Session::create(m, "cuda:-1", 1).status(), MOERT_INVALID_ARGUMENT,
                "unknown device 'cuda:-1'");
}

TEST(Session, Devices) {
  moert::Model m = mustLoad(model().bytes);
  EXPECT_TRUE(moert::Session::create(m, "cpu", 1));
  EXPECT_TRUE(moert::Session::create(m, "cpu:0", 1));
  for (const char *cuda : {"cuda", "cuda:0", "cuda:3"})
    EXPECT_STATUS(moert::Session::create(m, cuda, 1).status(), MOERT_INVALID_ARGUMENT,
                  std::string("the artifact is compiled for the cpu target: device '") +
                      cuda + "' cannot run it");
  EXPECT_STATUS(moert::Session::create(m, "tpu", 1).status(), MOERT_INVALID_ARGUMENT,
                "unknown device 'tpu' (expected 'cpu' or 'cuda[:N]')");
  EXPECT_STATUS(moert::Session::create(m, "cuda:x", 1).status(), MOERT_INVALID_ARGUMENT,
                "unknown device 'cuda:x'");
  EXPECT_STATUS(moert::Session::create(m, "cpu:1", 1).status(), MOERT_INVALID_ARGUMENT,
                "the cpu backend has one device");
  EXPECT_STATUS(moert::Session::create(m, "", 1).status(), MOERT_INVALID_ARGUMENT,
                "unknown device ''");
  moert_session_t *s = nullptr;
  ASSERT_EQ(moert_session_create(m.get(), nullptr, nullptr, &s), nullptr); // defaults
  EXPECT_GE(moert_session_num_threads(s), 1);
  moert_session_free(s);
  moert::Status st = moert::Status::adopt(moert_session_create(nullptr, "cpu", nullptr, &s));
  EXPECT_EQ(st.code(), MOERT_INVALID_ARGUMENT);
  EXPECT_EQ(s, nullptr);
}

TEST(Session, ThreadOptions) {
  moert::Model m = mustLoad(model().bytes);
  EXPECT_STATUS(moert::Session::create(m, "cpu", -1).status(), MOERT_INVALID_ARGUMENT,
                "threads is -1, expected 0 (one per available CPU) to 1024");
  EXPECT_STATUS(moert::Session::create(m, "cpu", 5000).status(), MOERT_INVALID_ARGUMENT,
                "threads is 5000");
  auto all = moert::Session::create(m, "cpu", 0);
  ASSERT_TRUE(all);
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(all->numThreads(), CPU_COUNT(&set)); // one per CPU we may run on
  auto three = moert::Session::create(m, "cpu", 3);
  ASSERT_TRUE(three);
  EXPECT_EQ(three->numThreads(), 3);
}

TEST(Session, KernelsAreResolvedWhenTheSessionIsCreated) {
  for (const char *name : {"moert_test_missing", "expf"}) {
    ArtifactBuilder b(4);
    uint32_t k = b.testKernel(name, 1);
    FunctionBuilder f = b.function("f");
    uint32_t x = f.buffer(4, 0);
    f.input("x", fb::DType::F32, {-1}, x);
    f.launch(k, {buf(x)}, aff(1, 0), 1);
    moert::Model m = mustLoad(b.build()); // loads: symbols are not looked up yet
    EXPECT_STATUS(moert::Session::create(m, "cpu", 1).status(), MOERT_LOAD_ERROR,
                  std::string("kernel '") + name + "'");
  }
}

TEST(Session, TheModelMayBeFreedBeforeItsSessions) {
  std::vector<float> x = randomFloats(32, 5), g(32, 0.0f);
  moert_session_t *raw = nullptr;
  {
    moert::Model m = mustLoad(model().bytes);
    ASSERT_EQ(moert_session_create(m.get(), "cpu", nullptr, &raw), nullptr);
  } // the model handle is freed here
  moert_tensor_t in[2] = {f32(x, {4, 8}), f32(g, {4, 8})};
  moert::Status st = moert::Status::adopt(moert_session_run(raw, "forward", in, 2, nullptr, 0));
  ASSERT_TRUE(st) << st.message();
  moert_tensor_t y;
  ASSERT_EQ(moert_session_output(raw, 0, &y), nullptr);
  EXPECT_TRUE(near(values(y), model().forwardReference(x, 4)));
  moert_session_free(raw);
}

namespace {
int countCodeMappings() {
  return static_cast<int>(moert::rt::LoadedCode::loadedCount());
}
} // namespace

TEST(Session, CodeObjectsAreSharedAndUnloadedWithTheLastSession) {
  moert::Model m = mustLoad(model().bytes);
  ASSERT_EQ(countCodeMappings(), 0);
  {
    moert::Session a = mustSession(m);
    int loaded = countCodeMappings();
    EXPECT_GT(loaded, 0) << "the code object was not loaded";
    {
      moert::Session b = mustSession(m);
      EXPECT_EQ(countCodeMappings(), loaded) << "a second session loaded it again";
    }
    EXPECT_EQ(countCodeMappings(), loaded) << "unloaded while a session still uses it";
  }
  EXPECT_EQ(countCodeMappings(), 0) << "still loaded after the last session";
  // And it loads again for a new session.
  moert::Session c = mustSession(m);
  std::vector<float> x(64, 1.0f);
  EXPECT_TRUE(c.run("moe", {f32(x, {8, 8})}));
}

// Runs allocate nothing (outputs as views or caller buffers alike).
TEST(Session, RunsDoNotAllocate) {
  moert::Model m = mustLoad(model().bytes);
  moert::Session s = mustSession(m, 3);
  std::vector<float> x = randomFloats(128, 3), g(128, 0.0f), out(128);
  std::vector<moert_tensor_t> in2 = {f32(x, {16, 8}), f32(g, {16, 8})};
  std::vector<moert_tensor_t> in1 = {f32(x, {16, 8})};
  std::vector<moert_tensor_t> outs = {moert::tensor(MOERT_F32, {}, out.data(), 512)};
  moert_tensor_t view;
  // Warm up (first-touch paths in BLAS etc.).
  ASSERT_EQ(moert_session_run(s.get(), "forward", in2.data(), 2, nullptr, 0), nullptr);
  ASSERT_EQ(moert_session_run_index(s.get(), 1, in1.data(), 1, outs.data(), 1), nullptr);
  long before = gAllocations.load();
  for (int i = 0; i < 50; ++i) {
    moert_status_t *st = moert_session_run(s.get(), "forward", in2.data(), 2, nullptr, 0);
    st = st ? st : moert_session_output(s.get(), 0, &view);
    st = st ? st : moert_session_aux_output(s.get(), 0, &view);
    st = st ? st : moert_session_run_index(s.get(), 1, in1.data(), 1, outs.data(), 1);
    ASSERT_EQ(st, nullptr) << moert_status_message(st);
  }
  EXPECT_EQ(gAllocations.load() - before, 0) << "runs allocated";
}

// Sessions of one model on several threads at once give exactly the results
// a single session gives.
TEST(Session, ConcurrentSessionsShareOneModel) {
  moert::Model m = mustLoad(model().bytes);
  constexpr int kThreads = 4;
  std::vector<std::vector<float>> inputs, expectForward, expectMoe;
  {
    moert::Session ref = mustSession(m, 2);
    for (int64_t T = 1; T <= kMaxT; ++T) {
      inputs.push_back(randomFloats(static_cast<size_t>(8 * T), 500 + T));
      std::vector<float> g(inputs.back().size(), 0.0f);
      ASSERT_TRUE(runForward(ref, inputs.back(), g, T));
      expectForward.push_back(values(*ref.output(0)));
      ASSERT_TRUE(ref.run("moe", {f32(inputs.back(), {T, 8})}));
      expectMoe.push_back(values(*ref.output(0)));
    }
  }
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      auto s = moert::Session::create(m, "cpu", 2);
      if (!s) {
        ++failures;
        return;
      }
      for (int round = 0; round < 20; ++round)
        for (int64_t T = 1 + (t + round) % 3; T <= kMaxT; T += 3) {
          std::vector<float> x = inputs[T - 1], g(x.size(), 0.0f);
          if (!runForward(*s, x, g, T)) {
            ++failures;
            continue;
          }
          if (values(*s->output(0)) != expectForward[T - 1])
            ++mismatches;
          if (!s->run("moe", {f32(x, {T, 8})})) {
            ++failures;
            continue;
          }
          if (values(*s->output(0)) != expectMoe[T - 1])
            ++mismatches;
        }
    });
  for (std::thread &t : threads)
    t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

// Creating and freeing sessions concurrently (code object refcounts, loads and
// unloads racing) is safe.
TEST(Session, ConcurrentCreationAndDestruction) {
  moert::Model m = mustLoad(model().bytes);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      std::vector<float> x(64, 0.25f);
      for (int i = 0; i < 25; ++i) {
        auto s = moert::Session::create(m, "cpu", 1 + i % 2);
        if (!s || !s->run("moe", {f32(x, {8, 8})}))
          ++failures;
      }
    });
  for (std::thread &t : threads)
    t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(countCodeMappings(), 0);
}

// Two models with identical code get separate code objects; unloading one
// does not disturb the other.
TEST(Session, SeveralModelsLoadTheirOwnCode) {
  moert::Model a = mustLoad(model().bytes);
  std::vector<float> x = randomFloats(64, 8), g(64, 0.0f);
  for (int i = 0; i < 5; ++i) {
    moert::Model b = mustLoad(model().bytes);
    moert::Session sa = mustSession(a), sb = mustSession(b);
    ASSERT_TRUE(runForward(sa, x, g, 8));
    ASSERT_TRUE(runForward(sb, x, g, 8));
    EXPECT_EQ(values(*sa.output(0)), values(*sb.output(0)));
  }
}

namespace {

/// The status of creating a CPU session of `m` (which must fail: no session
/// is returned).
moert::Status sessionCreationStatus(const moert::Model &m) {
  moert_session_options_t options;
  moert_session_options_init(&options);
  moert_session_t *session = nullptr;
  moert::Status s = moert::Status::adopt(
      moert_session_create(m.get(), "cpu", &options, &session));
  EXPECT_EQ(session, nullptr);
  moert_session_free(session);
  return s;
}

/// A model whose one kernel's code object claims `arch`.
moert::test::Bytes modelWithArch(const std::string &arch) {
  ArtifactBuilder b;
  uint32_t addBias = b.testKernel("moert_test_add_bias8", 3);
  b.model.code_objects[b.model.kernels[addBias]->code_object]->arch = arch;
  std::vector<float> bias(8, 1.0f);
  uint32_t B = b.addWeightF32("bias", {8}, bias);
  FunctionBuilder f = b.function("f");
  uint32_t x = f.buffer(32, 0), y = f.buffer(32, 0);
  f.input("x", fb::DType::F32, {-1, 8}, x);
  f.output("y", fb::DType::F32, {-1, 8}, y);
  f.launch(addBias, {buf(x), wt(B), buf(y)}, aff(1, 0), 4);
  return b.build();
}

} // namespace

TEST(Session, HostCodeNeedsTheCpuFeaturesItNames) {
  // Features every x86-64 machine running these tests has.
  {
    moert::Model m = mustLoad(modelWithArch("x86-64+sse4.2+popcnt"));
    moert::Session s = mustSession(m, 1);
  }
  // A feature the runtime does not know is refused, not guessed.
  {
    moert::Model m = mustLoad(modelWithArch("x86-64-v9+avx1024"));
    EXPECT_STATUS(sessionCreationStatus(m), MOERT_UNSUPPORTED,
                  "its kernels need the CPU feature 'avx1024', which this "
                  "runtime cannot check");
  }
  // Where this CPU lacks a feature, the message names it and the fix.
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512bf16")) {
    moert::Model m = mustLoad(modelWithArch("sapphirerapids+avx512bf16"));
    EXPECT_STATUS(sessionCreationStatus(m), MOERT_UNSUPPORTED,
                  "compiled for sapphirerapids and need avx512bf16, which this "
                  "CPU lacks; recompile with moe-compile --cpu=x86-64");
  }
}

TEST(Session, AnArenaThatCannotBeAllocatedIsAStatus) {
  // 1 GiB per token at up to 2^20 tokens: a valid artifact whose session
  // would need a petabyte arena.
  ArtifactBuilder b(int64_t(1) << 20);
  FunctionBuilder f = b.function("f");
  uint32_t x = f.buffer(int64_t(1) << 30, 0), y = f.buffer(int64_t(1) << 30, 0);
  f.input("x", fb::DType::F32, {-1, int64_t(1) << 28}, x);
  f.output("y", fb::DType::F32, {-1, int64_t(1) << 28}, y);
  f.copy(buf(x), buf(y), aff(int64_t(1) << 30, 0));
  // Refused at load: the arena is beyond the machine's memory (the default
  // memory budget).
  Bytes bytes = b.build();
  auto refused = moert::Model::fromMemory(bytes.data(), bytes.size());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.status().code(), MOERT_OUT_OF_MEMORY);
  EXPECT_NE(refused.status().message().find("function 'f' needs an arena of "),
            std::string::npos)
      << refused.status().message();
  // With a budget that large, the session fails to allocate it instead.
  moert_load_options_t options;
  moert_load_options_init(&options);
  options.memory_budget = UINT64_MAX;
  auto m = moert::Model::fromMemory(bytes.data(), bytes.size(), options);
  ASSERT_TRUE(m) << m.status().message();
  EXPECT_STATUS(sessionCreationStatus(*m), MOERT_OUT_OF_MEMORY,
                "the session's arena needs ");
}

// A session is used by one thread at a time: a second thread entering while
// a run is inside it gets an error, not a race (the first run is unharmed).
TEST(Session, ASecondThreadInsideOneSessionIsAnError) {
  ArtifactBuilder b(8);
  uint32_t k = b.testKernel("moert_test_rendezvous", 2);
  FunctionBuilder f = b.function("barrier");
  uint32_t xb = f.buffer(4, 0), counter = f.buffer(0, 4), flags = f.buffer(4, 0);
  f.input("x", fb::DType::F32, {-1, 1}, xb);
  f.output("flags", fb::DType::I32, {-1}, flags);
  f.fill(buf(counter), aff(0, 4), 0);
  f.fill(buf(flags), aff(4, 0), 0);
  f.launch(k, {buf(counter), buf(flags)}, aff(1, 0), 1);
  moert::Model m = mustLoad(b.build());
  // One thread, two chunks that wait for each other: the run stays inside the
  // session for seconds (the barrier's timeout).
  moert::Session s = mustSession(m, 1);
  std::vector<float> x(2, 0.0f);
  std::atomic<bool> done{false};
  // The long run; it retries while the main thread happens to be inside.
  std::thread first([&] {
    moert::Status st;
    do
      st = s.run("", {f32(x, {2, 1})});
    while (st.code() == MOERT_FAILED_PRECONDITION);
    EXPECT_TRUE(st.ok()) << st.message();
    done = true;
  });
  std::vector<float> x1(1, 0.0f);
  moert::Status second;
  for (int i = 0; i < 5000 && !done; ++i) {
    second = s.run("", {f32(x1, {1, 1})});
    if (second.code() == MOERT_FAILED_PRECONDITION)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  first.join();
  EXPECT_EQ(second.code(), MOERT_FAILED_PRECONDITION) << second.message();
  EXPECT_NE(second.message().find("the session is in use by another thread"),
            std::string::npos)
      << second.message();
  EXPECT_TRUE(s.run("", {f32(x1, {1, 1})})); // free again
}
