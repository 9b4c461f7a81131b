//===- TestUtil.h - helpers shared by the runtime's unit tests -------------===//
#ifndef MOERT_TEST_TESTUTIL_H
#define MOERT_TEST_TESTUTIL_H

#include "TestArtifact.h"
#include "moert/moert.h"
#include "moert/moert.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace moert::test {

/// Loads an artifact from memory; fails the test when it does not load.
/// Appends a buffer of `bytes` fixed bytes past the arena of `f` (grown to
/// hold it) and makes it the function's run_params.
inline void addRunParams(fb::FunctionT &f, int64_t bytes) {
  auto p = std::make_unique<fb::BufferDescT>();
  p->offset = f.arena_bytes;
  p->bytes = std::make_unique<fb::Affine>(0, bytes);
  f.arena_bytes += 64;
  f.buffers.push_back(std::move(p));
  f.run_params = static_cast<int32_t>(f.buffers.size() - 1);
}

inline moert::Model mustLoad(const Bytes &bytes) {
  auto m = moert::Model::fromMemory(bytes.data(), bytes.size());
  if (!m) {
    ADD_FAILURE() << "load failed: " << m.status().message();
    std::abort();
  }
  return std::move(m).value();
}

inline moert::Session mustSession(const moert::Model &model, int32_t threads = 1) {
  auto s = moert::Session::create(model, "cpu", threads);
  if (!s) {
    ADD_FAILURE() << "session failed: " << s.status().message();
    std::abort();
  }
  return std::move(s).value();
}

/// The status of loading `bytes` (ok when it loads).
inline moert::Status loadStatus(const Bytes &bytes) {
  moert_model_t *m = nullptr;
  moert::Status s = moert::Status::adopt(moert_model_load_memory(bytes.data(), bytes.size(), &m));
  moert_model_free(m);
  return s;
}

inline moert_tensor_t f32(std::vector<float> &v, std::vector<int64_t> shape) {
  return moert::tensor(MOERT_F32, shape, v.data(), v.size() * sizeof(float));
}

inline moert_tensor_t i32(std::vector<int32_t> &v, std::vector<int64_t> shape) {
  return moert::tensor(MOERT_I32, shape, v.data(), v.size() * sizeof(int32_t));
}

inline std::vector<float> randomFloats(size_t n, uint32_t seed, float lo = -1.0f,
                                       float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

/// The floats of a view.
inline std::vector<float> values(const moert_tensor_t &t) {
  const float *p = static_cast<const float *>(t.data);
  return std::vector<float>(p, p + t.bytes / sizeof(float));
}

/// Reference: C[m, n] = Σ_k A[m, k] · B[n, k], in double.
inline std::vector<float> refGemmBt(const std::vector<float> &A, const float *B,
                                    int64_t M, int64_t N, int64_t K) {
  std::vector<float> C(static_cast<size_t>(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += double(A[m * K + k]) * double(B[n * K + k]);
      C[m * N + n] = static_cast<float>(acc);
    }
  return C;
}

/// Element-wise |a - b| <= atol + rtol·|b|.
inline ::testing::AssertionResult near(const std::vector<float> &got,
                                       const std::vector<float> &want,
                                       float rtol = 1e-5f, float atol = 1e-5f) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure()
           << "size " << got.size() << " != " << want.size();
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= atol + rtol * std::fabs(want[i])))
      return ::testing::AssertionFailure()
             << "element " << i << ": got " << got[i] << ", want " << want[i];
  return ::testing::AssertionSuccess();
}

} // namespace moert::test

#endif // MOERT_TEST_TESTUTIL_H
