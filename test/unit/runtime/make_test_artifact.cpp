//===- make_test_artifact.cpp - write a small .moeb for examples/tests -----===//
//
//   moert-make-test-artifact OUT.moeb [MAX_TOKENS]
//
// Writes an artifact with one function, forward(x: f32 [T, 8]) -> y: f32 [T, 8],
//   y = x · Wᵀ + b   with W = 2·I and b = 0.5 (so y = 2x + 0.5),
// as a Gemm followed by a Launch of a host kernel (test_kernels.c), plus the
// aux output router_stats.0 (f32 [4 + 4], copied from a weight).
//
//===----------------------------------------------------------------------===//
#include "TestArtifact.h"

#include <cstdio>
#include <cstdlib>

using namespace moert::test;
namespace fb = moert::fb;

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: moert-make-test-artifact OUT.moeb [MAX_TOKENS]\n");
    return 1;
  }
  int64_t maxTokens = argc == 3 ? std::atoll(argv[2]) : 16;
  if (maxTokens < 1) {
    std::fprintf(stderr, "error: MAX_TOKENS must be >= 1\n");
    return 1;
  }
  ArtifactBuilder b(maxTokens);
  std::vector<float> w(64, 0.0f);
  for (int i = 0; i < 8; ++i)
    w[i * 8 + i] = 2.0f;
  uint32_t wW = b.addWeightF32("w", {8, 8}, w);
  uint32_t wB = b.addWeightF32("b", {8}, std::vector<float>(8, 0.5f));
  uint32_t wStats = b.addWeightF32("stats", {8}, {3, 1, 0, 4, 0.5f, 1.25f, 2.5f, 8});
  uint32_t addBias = b.testKernel("moert_test_add_bias8", 3);

  FunctionBuilder f = b.function("forward");
  uint32_t x = f.buffer(32, 0), h = f.buffer(32, 0), y = f.buffer(32, 0),
           stats = f.buffer(0, 32);
  f.input("x", fb::DType::F32, {-1, 8}, x);
  f.output("y", fb::DType::F32, {-1, 8}, y);
  f.auxOutput("router_stats.0", fb::DType::F32, {8}, stats);
  f.gemm(buf(x), wt(wW), buf(h), aff(1, 0), 8, 8);
  f.launch(addBias, {buf(h), wt(wB), buf(y)}, aff(1, 0), 2);
  f.copy(wt(wStats), buf(stats), aff(0, 32));

  if (!writeBinaryFile(argv[1], b.build())) {
    std::fprintf(stderr, "error: cannot write %s\n", argv[1]);
    return 1;
  }
  return 0;
}
