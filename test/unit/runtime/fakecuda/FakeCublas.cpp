//===- FakeCublas.cpp - a stand-in libcublas.so.13 for tests (FakeCuda.h) ---===//
//
// GEMMs are checked (operand types, leading dimensions, every operand inside
// a device allocation, a workspace when the stream is being captured) and
// queued on the handle's stream, where they compute nothing.
//
//===----------------------------------------------------------------------===//
#include "FakeCuda.h"

#include "cuda/CudaApi.h" // the signatures libmoert binds

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <type_traits>

using moert::rt::cuda::cublasHandle_t;
using moert::rt::cuda::cublasStatus_t;
using moert::rt::cuda::CUstream;

namespace {

constexpr cublasStatus_t kSuccess = 0, kNotInitialized = 1, kInvalidValue = 7,
                         kNotSupported = 15;

struct Handle {
  CUstream stream = nullptr;
  bool workspace = false;
};

std::mutex mu;
std::set<Handle *> *handles = new std::set<Handle *>; // never destroyed

bool live(Handle *h) {
  std::lock_guard<std::mutex> lock(mu);
  return handles->count(h) != 0;
}

/// Bytes per element of a cudaDataType: f32, f16, bf16; 0 for others.
uint64_t elementBytes(int type) {
  using namespace moert::rt::cuda;
  return type == CUDA_R_32F ? 4 : type == CUDA_R_16F || type == CUDA_R_16BF ? 2 : 0;
}

/// Elements a column-major rows × cols matrix with leading dimension ld
/// spans; 0 when ld < rows.
uint64_t span(int rows, int cols, int ld) {
  if (ld < rows || rows <= 0 || cols <= 0)
    return 0;
  return static_cast<uint64_t>(ld) * static_cast<uint64_t>(cols - 1) +
         static_cast<uint64_t>(rows);
}

} // namespace

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t *handle) {
  FAKECUDA_ENTRY("cublasCreate_v2");
  auto *h = new Handle;
  std::lock_guard<std::mutex> lock(mu);
  handles->insert(h);
  fakecuda::noteBlasHandles(static_cast<int>(handles->size()));
  *handle = reinterpret_cast<cublasHandle_t>(h);
  return kSuccess;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
  std::lock_guard<std::mutex> lock(mu);
  auto *h = reinterpret_cast<Handle *>(handle);
  if (!handles->erase(h))
    return kNotInitialized;
  fakecuda::noteBlasHandles(static_cast<int>(handles->size()));
  delete h;
  return kSuccess;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, CUstream stream) {
  FAKECUDA_ENTRY("cublasSetStream_v2");
  auto *h = reinterpret_cast<Handle *>(handle);
  if (!live(h))
    return kNotInitialized;
  h->stream = stream;
  h->workspace = false; // as cuBLAS: back to its own pool until cublasSetWorkspace
  return kSuccess;
}

cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void *workspace, size_t bytes) {
  FAKECUDA_ENTRY("cublasSetWorkspace_v2");
  auto *h = reinterpret_cast<Handle *>(handle);
  if (!live(h))
    return kNotInitialized;
  if (!fakecuda::inside(reinterpret_cast<uintptr_t>(workspace), bytes))
    return kInvalidValue;
  h->workspace = true;
  return kSuccess;
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, int transa, int transb, int m, int n,
                            int k, const void *alpha, const void *a, int aType, int lda,
                            const void *b, int bType, int ldb, const void *beta, void *c,
                            int cType, int ldc, int compute, int algo) {
  using namespace moert::rt::cuda;
  FAKECUDA_ENTRY("cublasGemmEx");
  auto *h = reinterpret_cast<Handle *>(handle);
  if (!live(h) || !h->stream)
    return kNotInitialized;
  if (fakecuda::capturing(h->stream) && !h->workspace) {
    // cuBLAS would allocate its workspace, which a capture refuses.
    fakecuda::trace("cublasGemmEx: captured without a workspace");
    return kNotSupported;
  }
  if (!alpha || !beta || m <= 0 || n <= 0 || k <= 0 ||
      (transa != CUBLAS_OP_N && transa != CUBLAS_OP_T) ||
      (transb != CUBLAS_OP_N && transb != CUBLAS_OP_T))
    return kInvalidValue;
  // C f32, or (as cuBLAS's table for CUBLAS_COMPUTE_32F has it) of A's and
  // B's 16-bit type.
  if (aType != bType || !elementBytes(aType) ||
      (cType != CUDA_R_32F && (cType != aType || aType == CUDA_R_32F)) ||
      compute != CUBLAS_COMPUTE_32F || algo != CUBLAS_GEMM_DEFAULT)
    return kNotSupported;
  // op(A) is m × k, op(B) k × n, C m × n, all column-major.
  uint64_t aElems = transa == CUBLAS_OP_T ? span(k, m, lda) : span(m, k, lda);
  uint64_t bElems = transb == CUBLAS_OP_T ? span(n, k, ldb) : span(k, n, ldb);
  uint64_t cElems = span(m, n, ldc);
  if (!aElems || !bElems || !cElems)
    return kInvalidValue;
  uint64_t eb = elementBytes(aType);
  auto at = [](const void *p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); };
  const char *bad = !fakecuda::inside(at(a), aElems * eb)   ? "A"
                    : !fakecuda::inside(at(b), bElems * eb) ? "B"
                    : !fakecuda::inside(at(c), cElems * elementBytes(cType)) ? "C"
                                                            : nullptr;
  if (bad) {
    fakecuda::trace(std::string("cublasGemmEx: ") + bad + " is outside any allocation");
    return kInvalidValue;
  }
  auto name = [](int t) { return t == CUDA_R_32F ? "f32" : t == CUDA_R_16F ? "f16" : "bf16"; };
  const char *type = name(aType);
  fakecuda::enqueue(h->stream,
                    "cublasGemmEx " + std::to_string(m) + "x" + std::to_string(n) + "x" +
                        std::to_string(k) + " " + type +
                        (transa == CUBLAS_OP_T ? " T" : " N") +
                        (transb == CUBLAS_OP_T ? "T" : "N") + " a " +
                        fakecuda::where(at(a)) + " lda " + std::to_string(lda) + " b " +
                        fakecuda::where(at(b)) + " ldb " + std::to_string(ldb) + " c " +
                        fakecuda::where(at(c)) + " ldc " + std::to_string(ldc) +
                        (*static_cast<const float *>(beta) != 0 ? " accumulate" : "") +
                        (cType != CUDA_R_32F ? std::string(" c_type ") + name(cType) : ""),
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

// The stand-ins have the types libmoert calls them with.
namespace {
FAKECUDA_SAME_TYPE(cublasCreate, cublasCreate_v2);
FAKECUDA_SAME_TYPE(cublasDestroy, cublasDestroy_v2);
FAKECUDA_SAME_TYPE(cublasSetStream, cublasSetStream_v2);
FAKECUDA_SAME_TYPE(cublasSetWorkspace, cublasSetWorkspace_v2);
FAKECUDA_SAME_TYPE(cublasGemmEx, cublasGemmEx);
FAKECUDA_SAME_TYPE(cublasGetStatusName, cublasGetStatusName);
} // namespace
