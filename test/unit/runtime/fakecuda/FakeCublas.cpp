//===- FakeCublas.cpp - a stand-in libcublas.so.13 for tests (FakeCuda.h) ---===//
//
// GEMMs are checked (operand types, leading dimensions, every operand inside
// a device allocation) and traced on the handle's stream, not computed.
//
//===----------------------------------------------------------------------===//
#include "FakeCuda.h"

#include <cstdint>
#include <map>
#include <mutex>
#include <set>

using cublasStatus_t = int;

namespace {

constexpr cublasStatus_t kSuccess = 0, kNotInitialized = 1, kInvalidValue = 7,
                         kNotSupported = 15;

struct Handle {
  void *stream = nullptr;
  bool workspace = false;
};

std::mutex mu;
std::set<Handle *> handles;

bool live(Handle *h) {
  std::lock_guard<std::mutex> lock(mu);
  return handles.count(h) != 0;
}

/// Bytes per element of a cudaDataType: f32, f16, bf16; 0 for others.
uint64_t elementBytes(int type) {
  return type == 0 ? 4 : type == 2 || type == 14 ? 2 : 0;
}

/// Elements a column-major rows × cols matrix with leading dimension ld
/// spans; 0 when ld < rows.
uint64_t span(int rows, int cols, int ld) {
  if (ld < rows || rows <= 0 || cols <= 0)
    return 0;
  return static_cast<uint64_t>(ld) * static_cast<uint64_t>(cols - 1) +
         static_cast<uint64_t>(rows);
}

#define FAKE_BLAS_ENTRY(name)                                                  \
  if (int injectedCode = fakecuda::injected(name)) {                           \
    fakecuda::trace(std::string(name) + " fails with " +                       \
                    std::to_string(injectedCode) + " (FAKECUDA_FAIL)");        \
    return injectedCode;                                                       \
  }

} // namespace

extern "C" {

cublasStatus_t cublasCreate_v2(void **handle) {
  FAKE_BLAS_ENTRY("cublasCreate_v2");
  auto *h = new Handle;
  std::lock_guard<std::mutex> lock(mu);
  handles.insert(h);
  *handle = h;
  return kSuccess;
}

cublasStatus_t cublasDestroy_v2(void *handle) {
  std::lock_guard<std::mutex> lock(mu);
  auto *h = static_cast<Handle *>(handle);
  if (!handles.erase(h))
    return kNotInitialized;
  delete h;
  return kSuccess;
}

cublasStatus_t cublasSetStream_v2(void *handle, void *stream) {
  FAKE_BLAS_ENTRY("cublasSetStream_v2");
  auto *h = static_cast<Handle *>(handle);
  if (!live(h))
    return kNotInitialized;
  h->stream = stream;
  return kSuccess;
}

cublasStatus_t cublasSetWorkspace_v2(void *handle, void *workspace, size_t bytes) {
  FAKE_BLAS_ENTRY("cublasSetWorkspace_v2");
  auto *h = static_cast<Handle *>(handle);
  if (!live(h))
    return kNotInitialized;
  if (!fakecuda::inside(reinterpret_cast<uintptr_t>(workspace), bytes))
    return kInvalidValue;
  h->workspace = true;
  return kSuccess;
}

cublasStatus_t cublasGemmEx(void *handle, int transa, int transb, int m, int n, int k,
                            const void *alpha, const void *a, int aType, int lda,
                            const void *b, int bType, int ldb, const void *beta, void *c,
                            int cType, int ldc, int compute, int algo) {
  FAKE_BLAS_ENTRY("cublasGemmEx");
  auto *h = static_cast<Handle *>(handle);
  if (!live(h))
    return kNotInitialized;
  if (!alpha || !beta || m <= 0 || n <= 0 || k <= 0 || (transa != 0 && transa != 1) ||
      (transb != 0 && transb != 1))
    return kInvalidValue;
  if (aType != bType || !elementBytes(aType) || cType != 0 || compute != 68 || algo != -1)
    return kNotSupported;
  // op(A) is m × k, op(B) k × n, C m × n, all column-major.
  uint64_t aElems = transa ? span(k, m, lda) : span(m, k, lda);
  uint64_t bElems = transb ? span(n, k, ldb) : span(k, n, ldb);
  uint64_t cElems = span(m, n, ldc);
  if (!aElems || !bElems || !cElems)
    return kInvalidValue;
  uint64_t eb = elementBytes(aType);
  auto at = [](const void *p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); };
  const char *bad = !fakecuda::inside(at(a), aElems * eb)   ? "A"
                    : !fakecuda::inside(at(b), bElems * eb) ? "B"
                    : !fakecuda::inside(at(c), cElems * 4)  ? "C"
                                                            : nullptr;
  if (bad) {
    fakecuda::trace(std::string("cublasGemmEx: ") + bad + " is outside any allocation");
    return kInvalidValue;
  }
  const char *type = aType == 0 ? "f32" : aType == 2 ? "f16" : "bf16";
  fakecuda::enqueue(h->stream,
                    "cublasGemmEx " + std::to_string(m) + "x" + std::to_string(n) + "x" +
                        std::to_string(k) + " " + type + (transa ? " T" : " N") +
                        (transb ? "T" : "N") + " a " + fakecuda::where(at(a)) + " lda " +
                        std::to_string(lda) + " b " + fakecuda::where(at(b)) + " ldb " +
                        std::to_string(ldb) + " c " + fakecuda::where(at(c)) + " ldc " +
                        std::to_string(ldc) +
                        (*static_cast<const float *>(beta) != 0 ? " accumulate" : ""),
                    [] {});
  return kSuccess;
}

const char *cublasGetStatusName(cublasStatus_t s) {
  static const std::map<int, const char *> names = {
      {kSuccess, "CUBLAS_STATUS_SUCCESS"},
      {kNotInitialized, "CUBLAS_STATUS_NOT_INITIALIZED"},
      {3, "CUBLAS_STATUS_ALLOC_FAILED"},
      {kInvalidValue, "CUBLAS_STATUS_INVALID_VALUE"},
      {13, "CUBLAS_STATUS_EXECUTION_FAILED"},
      {kNotSupported, "CUBLAS_STATUS_NOT_SUPPORTED"}};
  auto it = names.find(s);
  return it == names.end() ? "CUBLAS_STATUS_UNKNOWN" : it->second;
}

} // extern "C"
