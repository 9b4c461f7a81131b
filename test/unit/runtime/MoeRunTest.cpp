//===- MoeRunTest.cpp - moe-run's command-line contract --------------------===//
#include "Npy.h"
#include "TestUtil.h"

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MOE_RUN_PATH
#error "MOE_RUN_PATH must name the moe-run binary"
#endif

using namespace moert::test;
namespace fb = moert::fb;

namespace {

struct Result {
  int code = -1;
  std::string out, err;
};

std::string slurp(const std::string &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class MoeRun : public ::testing::Test {
protected:
  static std::string dir;

  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/moe-run-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;

    // linear: forward(x: f32 [T, 8]) -> y = 2x + 0.5, aux router_stats.0.
    {
      ArtifactBuilder b(16);
      std::vector<float> w(64, 0.0f);
      for (int i = 0; i < 8; ++i)
        w[i * 8 + i] = 2.0f;
      uint32_t W = b.addWeightF32("w", {8, 8}, w);
      uint32_t B = b.addWeightF32("b", {8}, std::vector<float>(8, 0.5f));
      uint32_t S = b.addWeightF32("stats", {8}, {3, 1, 0, 4, 0.5f, 1.25f, 2.5f, 8});
      uint32_t k = b.testKernel("moert_test_add_bias8", 3);
      FunctionBuilder f = b.function("forward");
      uint32_t x = f.buffer(32, 0), h = f.buffer(32, 0), y = f.buffer(32, 0), st = f.buffer(0, 32);
      f.input("x", fb::DType::F32, {-1, 8}, x);
      f.output("y", fb::DType::F32, {-1, 8}, y);
      f.auxOutput("router_stats.0", fb::DType::F32, {8}, st);
      f.gemm(buf(x), wt(W), buf(h), aff(1, 0), 8, 8);
      f.launch(k, {buf(h), wt(B), buf(y)}, aff(1, 0), 2);
      f.copy(wt(S), buf(st), aff(0, 32));
      Bytes bytes = b.build();
      ASSERT_TRUE(writeBinaryFile(dir + "/linear.moeb", bytes));

      // An aux output named to escape --save-aux's directory.
      {
        ArtifactBuilder e(16);
        uint32_t S2 = e.addWeightF32("stats", {8}, std::vector<float>(8, 1.0f));
        FunctionBuilder g = e.function("forward");
        uint32_t gx = g.buffer(32, 0), gy = g.buffer(32, 0), gs = g.buffer(0, 32);
        g.input("x", fb::DType::F32, {-1, 8}, gx);
        g.output("y", fb::DType::F32, {-1, 8}, gy);
        g.auxOutput("../escaped", fb::DType::F32, {8}, gs);
        g.copy(buf(gx), buf(gy), aff(32, 0));
        g.copy(wt(S2), buf(gs), aff(0, 32));
        ASSERT_TRUE(writeBinaryFile(dir + "/escape.moeb", e.build()));
      }

      Bytes corrupted = bytes;
      corrupted[corrupted.size() / 2] ^= 0x20;
      ASSERT_TRUE(writeBinaryFile(dir + "/corrupted.moeb", corrupted));
      ASSERT_TRUE(writeBinaryFile(dir + "/truncated.moeb", Bytes(bytes.begin(), bytes.begin() + 1000)));
      // The format after this runtime's.
      Bytes next = bytes;
      moert::FileHeader hd = header(next);
      hd.format_version = moert::kFormatVersion + 1;
      setHeader(next, hd);
      rehash(next);
      ASSERT_TRUE(writeBinaryFile(dir + "/next.moeb", next));
      // The same plan for the cuda target (the ELF image stands in for a
      // cubin: the loader accepts it, the driver would not).
      b.model.target = fb::Target::Cuda;
      b.model.target_arch = "sm_90";
      b.model.code_objects[0]->format = fb::CodeFormat::Cubin;
      b.model.code_objects[0]->arch = "sm_90";
      ASSERT_TRUE(writeBinaryFile(dir + "/cuda.moeb", b.build()));
    }
    // two: a(x: f32 [T, 4]) and b(x: f32 [T, 4]) -> copies; half(h: f16 [T, 4]).
    {
      ArtifactBuilder b(16);
      for (const char *name : {"a", "b", "half"}) {
        FunctionBuilder f = b.function(name);
        fb::DType dt = std::string(name) == "half" ? fb::DType::F16 : fb::DType::F32;
        int64_t bytes = dt == fb::DType::F16 ? 8 : 16;
        uint32_t x = f.buffer(bytes, 0), y = f.buffer(bytes, 0);
        f.input("x", dt, {-1, 4}, x);
        f.output("y", dt, {-1, 4}, y);
        f.copy(buf(x), buf(y), aff(bytes, 0));
      }
      ASSERT_TRUE(writeBinaryFile(dir + "/two.moeb", b.build()));
    }
    // Inputs.
    auto npy = [](const std::string &name, std::vector<float> v, std::vector<int64_t> shape) {
      ASSERT_TRUE(writeBinaryFile(dir + "/" + name, moert::npy::serializeF32(v.data(), shape)));
    };
    std::vector<float> x(24);
    for (int i = 0; i < 24; ++i)
      x[i] = float(i);
    npy("x.npy", x, {3, 8});
    npy("x7.npy", std::vector<float>(21, 1.0f), {3, 7});
    npy("x17.npy", std::vector<float>(17 * 8, 1.0f), {17, 8});
    npy("x0.npy", {}, {0, 8});
    npy("x4.npy", {1, -2, 3, -4, 5, 6, 7, 8}, {2, 4});
    std::vector<uint16_t> h = {0x3c00, 0xc000, 0x3800, 0x4200, 0, 0, 0, 0x3c00}; // 1 -2 .5 3 0 0 0 1
    ASSERT_TRUE(writeBinaryFile(dir + "/h.npy", moert::npy::serialize(MOERT_F16, h.data(), {2, 4})));
    ASSERT_TRUE(writeBinaryFile(dir + "/xh.npy", moert::npy::serialize(MOERT_F16, std::vector<uint16_t>(24).data(), {3, 8})));
    ASSERT_TRUE(writeBinaryFile(dir + "/garbage.npy", Bytes(100, 'z')));
    Bytes good = moert::npy::serializeF32(x.data(), {3, 8});
    ASSERT_TRUE(writeBinaryFile(dir + "/short.npy", Bytes(good.begin(), good.end() - 4)));
    std::string fortran = slurp(dir + "/x.npy");
    fortran.replace(fortran.find("False"), 5, "True ");
    ASSERT_TRUE(writeBinaryFile(dir + "/fortran.npy", Bytes(fortran.begin(), fortran.end())));
    std::string f8 = slurp(dir + "/x.npy");
    f8.replace(f8.find("<f4"), 3, "<f8");
    ASSERT_TRUE(writeBinaryFile(dir + "/f8.npy", Bytes(f8.begin(), f8.end())));
  }

  static void TearDownTestSuite() {
    std::string cmd = "rm -rf '" + dir + "'";
    (void)std::system(cmd.c_str());
  }

  static Result run(const std::string &args) {
    Result r;
    std::string out = dir + "/stdout", err = dir + "/stderr";
    std::string cmd = "cd '" + dir + "' && " + MOE_RUN_PATH + " " + args + " >" + out + " 2>" + err;
    int rc = std::system(cmd.c_str());
    r.code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }
};

std::string MoeRun::dir;

#define EXPECT_CLI_ERROR(args, substring)                                          \
  do {                                                                             \
    Result r_ = run(args);                                                         \
    EXPECT_EQ(r_.code, 1) << (args) << "\nstderr: " << r_.err;                     \
    EXPECT_EQ(r_.err.rfind("error: ", 0), 0u) << "stderr: " << r_.err;            \
    EXPECT_EQ(std::count(r_.err.begin(), r_.err.end(), '\n'), 1) << "stderr: " << r_.err; \
    EXPECT_NE(r_.err.find(substring), std::string::npos)                           \
        << "stderr: " << r_.err << "expected to contain: " << (substring);         \
    EXPECT_EQ(r_.out, "") << "stdout: " << r_.out;                                 \
  } while (0)

} // namespace

TEST_F(MoeRun, Version) {
  Result r = run("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "moe-run (moec) 0.2.0\nbackends: cpu,cuda\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(MoeRun, SummaryLinePerOutputAndTime) {
  Result r = run("linear.moeb --input x.npy");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  // y = 2x + 0.5 for x = 0..23.
  EXPECT_NE(r.out.find("output y: f32 [3, 8] min=0.5 max=46.5 mean=23.5 absmax=46.5\n"),
            std::string::npos)
      << r.out;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("\ntime_ms=[0-9]+\\.[0-9]+\nload_s=[0-9]+\\.[0-9]+ "
                        "session_s=[0-9]+\\.[0-9]+ artifact_mib=[0-9.]+ verify=full\n$")))
      << r.out;
  // Lazy verification and a layer by index.
  Result lazy = run("linear.moeb --input x.npy --verify lazy");
  ASSERT_EQ(lazy.code, 0) << lazy.err;
  EXPECT_NE(lazy.out.find("verify=lazy\n"), std::string::npos) << lazy.out;
  EXPECT_NE(lazy.out.find("mean=23.5"), std::string::npos) << lazy.out;
  Result bad = run("linear.moeb --input x.npy --verify some");
  EXPECT_EQ(bad.err, "error: --verify must be full or lazy, got 'some'\n");
  Result layer = run("linear.moeb --input x.npy --layer 3");
  EXPECT_EQ(layer.code, 1);
  EXPECT_NE(layer.err.find("error: unknown function 'layer_3' (the artifact has: forward)"),
            std::string::npos)
      << layer.err;
  Result both = run("linear.moeb --input x.npy --layer 3 --function forward");
  EXPECT_EQ(both.err, "error: give --function or --layer, not both\n");
}

TEST_F(MoeRun, WritesTheFirstOutput) {
  Result r = run("linear.moeb --input x.npy --output y.npy --threads 2 --device cpu --function forward");
  ASSERT_EQ(r.code, 0) << r.err;
  moert::npy::Array y;
  std::string err;
  ASSERT_TRUE(moert::npy::readFile(dir + "/y.npy", &y, &err)) << err;
  EXPECT_EQ(y.dtype, MOERT_F32);
  EXPECT_EQ(y.shape, (std::vector<int64_t>{3, 8}));
  const float *v = reinterpret_cast<const float *>(y.data.data());
  for (int i = 0; i < 24; ++i)
    EXPECT_EQ(v[i], 2.0f * i + 0.5f);
}

TEST_F(MoeRun, HalfInputsAndOutputsAsFloat32) {
  Result r = run("two.moeb --function half --input h.npy --output hy.npy");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("output y: f16 [2, 4] min=-2 max=3 mean=0.4375 absmax=3\n"), std::string::npos)
      << r.out;
  moert::npy::Array y;
  std::string err;
  ASSERT_TRUE(moert::npy::readFile(dir + "/hy.npy", &y, &err)) << err;
  EXPECT_EQ(y.dtype, MOERT_F32);
  const float *v = reinterpret_cast<const float *>(y.data.data());
  EXPECT_EQ(std::vector<float>(v, v + 8), (std::vector<float>{1, -2, 0.5f, 3, 0, 0, 0, 1}));
}

TEST_F(MoeRun, Quiet) {
  Result r = run("linear.moeb --input x.npy --quiet");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(MoeRun, Bench) {
  Result r = run("linear.moeb --input x.npy --bench 5 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(std::regex_match(
      r.out, std::regex("median_ms=[0-9.]+ min_ms=[0-9.]+ max_ms=[0-9.]+ runs=5 tokens=3\n")))
      << r.out;
}

TEST_F(MoeRun, RouterStats) {
  Result r = run("linear.moeb --input x.npy --router-stats --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "router_stats.0: experts=4 tokens=8\n"
                   "  load: 3 1 0 4\n"
                   "  cv=0.5 load_balancing_loss=1.25 z_loss=2.5\n");
  Result none = run("two.moeb --function a --input x4.npy --router-stats --quiet");
  ASSERT_EQ(none.code, 0) << none.err;
  EXPECT_EQ(none.out, "router-stats: function 'a' has no router_stats outputs\n");
}

TEST_F(MoeRun, SaveAuxCreatesItsDirectory) {
  Result r = run("linear.moeb --input x.npy --quiet --save-aux aux/nested");
  ASSERT_EQ(r.code, 0) << r.err;
  moert::npy::Array st;
  std::string err;
  ASSERT_TRUE(moert::npy::readFile(dir + "/aux/nested/router_stats.0.npy", &st, &err)) << err;
  EXPECT_EQ(st.shape, (std::vector<int64_t>{8}));
  const float *v = reinterpret_cast<const float *>(st.data.data());
  EXPECT_EQ(std::vector<float>(v, v + 8), (std::vector<float>{3, 1, 0, 4, 0.5f, 1.25f, 2.5f, 8}));
  // A file where the directory should be, and an aux name that is a path.
  ASSERT_TRUE(writeBinaryFile(dir + "/afile", Bytes(1, 'x')));
  EXPECT_CLI_ERROR("linear.moeb --input x.npy --quiet --save-aux afile",
                   "--save-aux: cannot create the directory 'afile'");
  EXPECT_CLI_ERROR("escape.moeb --input x.npy --quiet --save-aux out",
                   "aux output 0: the name '../escaped' is not a plain name");
  EXPECT_NE(::access((dir + "/escaped.npy").c_str(), F_OK), 0);
}

TEST_F(MoeRun, BadInputs) {
  EXPECT_CLI_ERROR("linear.moeb --input garbage.npy", "'garbage.npy': not a .npy file (bad magic");
  EXPECT_CLI_ERROR("linear.moeb --input short.npy", "'short.npy': truncated .npy data");
  EXPECT_CLI_ERROR("linear.moeb --input fortran.npy", "Fortran-order .npy arrays are not supported");
  EXPECT_CLI_ERROR("linear.moeb --input f8.npy", "unsupported .npy dtype '<f8'");
  EXPECT_CLI_ERROR("linear.moeb --input missing.npy", "'missing.npy': cannot open: No such file or directory");
  EXPECT_CLI_ERROR("linear.moeb --input x7.npy", "input 0 ('x') is f32 [T, 8], but x7.npy holds f32 [3, 7]");
  EXPECT_CLI_ERROR("linear.moeb --input xh.npy", "input 0 ('x') is f32 [T, 8], but xh.npy holds f16 [3, 8]");
  EXPECT_CLI_ERROR("linear.moeb --input x17.npy",
                   "run 'forward': T = 17 tokens is out of range: a run takes 1 <= T <= max_tokens = 16");
  EXPECT_CLI_ERROR("linear.moeb --input x0.npy", "T = 0 tokens is out of range");
  EXPECT_CLI_ERROR("linear.moeb", "function 'forward' takes 1 input(s) (x: f32 [T, 8]), got 0 --input");
  EXPECT_CLI_ERROR("linear.moeb --input x.npy --input x.npy", "takes 1 input(s)");
}

TEST_F(MoeRun, BadArtifacts) {
  EXPECT_CLI_ERROR("nowhere.moeb --input x.npy", "'nowhere.moeb': cannot open: No such file or directory");
  EXPECT_CLI_ERROR("truncated.moeb --input x.npy", "'truncated.moeb': the header says file_size");
  EXPECT_CLI_ERROR("corrupted.moeb --input x.npy", "checksum mismatch");
  EXPECT_CLI_ERROR("next.moeb --input x.npy", "the artifact has format version 10; this runtime reads format versions 4 to 9");
  // A cuda artifact (here one that needs no kernel) runs on cuda:0 by
  // default; with the backend disabled that is a clear error, and the cpu
  // cannot run it.
  ::setenv("MOERT_CUDA_DISABLE", "1", 1);
  EXPECT_CLI_ERROR("cuda.moeb --input x.npy",
                   "device 'cuda:0': the CUDA backend is disabled by MOERT_CUDA_DISABLE");
  ::unsetenv("MOERT_CUDA_DISABLE");
  EXPECT_CLI_ERROR("cuda.moeb --input x.npy --device cpu",
                   "the artifact is compiled for the cuda target");
  EXPECT_CLI_ERROR("x.npy --input x.npy", "bad magic: not a .moeb artifact");
}

TEST_F(MoeRun, FunctionsAndDevices) {
  EXPECT_CLI_ERROR("two.moeb --input x4.npy", "the artifact has 3 functions (a, b, half); choose one with --function");
  EXPECT_CLI_ERROR("linear.moeb --input x.npy --function nope", "unknown function 'nope' (the artifact has: forward)");
  EXPECT_CLI_ERROR("linear.moeb --input x.npy --device cuda:0",
                   "the artifact is compiled for the cpu target: device 'cuda:0' cannot run it");
  EXPECT_CLI_ERROR("linear.moeb --input x.npy --device tpu", "unknown device 'tpu'");
  Result r = run("two.moeb --function b --input x4.npy");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("output y: f32 [2, 4] min=-4 max=8 mean=3 absmax=8\n"), std::string::npos) << r.out;
}

TEST_F(MoeRun, BadCommandLines) {
  EXPECT_CLI_ERROR("", "no artifact given");
  EXPECT_CLI_ERROR("linear.moeb --frobnicate", "unknown option '--frobnicate'");
  EXPECT_CLI_ERROR("linear.moeb --input", "--input needs a value");
  EXPECT_CLI_ERROR("linear.moeb --input x.npy --threads many", "--threads expects an integer in [0, 1024], got 'many'");
  EXPECT_CLI_ERROR("linear.moeb --input x.npy --bench 0", "--bench expects an integer in [1, 1000000], got '0'");
  EXPECT_CLI_ERROR("linear.moeb two.moeb --input x.npy", "more than one artifact given");
  EXPECT_CLI_ERROR("linear.moeb --input x.npy --quiet=1", "--quiet takes no value");
  Result help = run("--help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("usage: moe-run model.moeb --input x.npy"), std::string::npos);
}
