//===- FakeCublasLt.cpp - a stand-in libcublasLt.so.13 for tests (FakeCuda.h) ===//
//
// The block-scaled fp8 GEMM as cuBLASLt documents it for compute capability
// 9.0 (cuBLAS docs, "Scaling factors layouts"; docs/runtime.md, "fp8 GEMMs
// on cuBLASLt"): TN only, A and B e4m3 with one operand's scales BLK128x128
// (column stride rounded up to 4 blocks) and the other's VEC128 (one f32 per
// 128 values of each column, columns contiguous), f32 compute and scale
// type, D f32 / bf16 / f16 with C of D's layout, both dimensions of D
// multiples of 4, every pointer 16-byte aligned and inside one device
// allocation with the bytes those layouts need. A GEMM that passes is
// queued on the stream and computes nothing; one that does not is refused
// with the status cuBLASLt would give and a line in the trace saying why.
// FAKECUDA_CUBLASLT_VERSION sets what cublasLtGetVersion returns (130100).
//
//===----------------------------------------------------------------------===//
#include "FakeCuda.h"

#include "cuda/CudaApi.h" // the signatures libmoert binds

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>

using namespace moert::rt::cuda;

namespace {

constexpr cublasStatus_t kSuccess = 0, kNotInitialized = 1, kInvalidValue = 7,
                         kNotSupported = 15;

struct Desc {
  int compute = 0, scaleType = 0;
  int32_t transa = CUBLAS_OP_N, transb = CUBLAS_OP_N, aMode = 0, bMode = 0, fastAccum = 0;
  const void *aScale = nullptr, *bScale = nullptr;
};
struct Layout {
  int type = 0;
  uint64_t rows = 0, cols = 0;
  int64_t ld = 0;
};
struct Pref {
  uint64_t workspace = 0;
};

std::mutex mu;
std::set<void *> *live = new std::set<void *>; // handles and descriptors; never destroyed

template <typename T> T *make() {
  T *p = new T;
  std::lock_guard<std::mutex> lock(mu);
  live->insert(p);
  return p;
}
template <typename T> T *get(void *p) {
  std::lock_guard<std::mutex> lock(mu);
  return live->count(p) ? static_cast<T *>(p) : nullptr;
}
template <typename T> cublasStatus_t drop(void *p) {
  std::lock_guard<std::mutex> lock(mu);
  if (!live->erase(p))
    return kNotInitialized;
  delete static_cast<T *>(p);
  return kSuccess;
}

struct Handle {};

uint64_t bytesOf(int type) {
  return type == CUDA_R_32F ? 4 : type == CUDA_R_16F || type == CUDA_R_16BF ? 2
                                : type == CUDA_R_8F_E4M3                 ? 1
                                                                          : 0;
}
const char *typeName(int type) {
  return type == CUDA_R_32F ? "f32" : type == CUDA_R_16F ? "f16" : type == CUDA_R_16BF ? "bf16"
                                                                                    : "e4m3";
}
const char *modeName(int mode) {
  return mode == CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F ? "BLK128x128"
         : mode == CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F   ? "VEC128"
                                                              : "other";
}
uint64_t blocks(uint64_t n) { return (n + 127) / 128; }

/// Bytes of the scales of an operand whose op() is rows x k (k along its
/// stored columns' length), in `mode`; 0 for modes this GEMM does not take.
uint64_t scaleBytes(int mode, uint64_t outer, uint64_t k) {
  if (mode == CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F)
    return blocks(k) * outer * 4;
  if (mode == CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F)
    return (blocks(k) + 3) / 4 * 4 * blocks(outer) * 4;
  return 0;
}

/// Why the GEMM is not one cuBLASLt's block-scaled fp8 path takes; empty
/// when it is. Sets *m, *n, *k (of D = op(A) · op(B), m x n).
std::string refusal(const Desc &d, const Layout &a, const Layout &b, const Layout &c,
                    const Layout &dl, uint64_t *m, uint64_t *n, uint64_t *k) {
  if (d.compute != CUBLAS_COMPUTE_32F || d.scaleType != CUDA_R_32F)
    return "compute type and scale type must be CUBLAS_COMPUTE_32F and CUDA_R_32F";
  if (d.transa != CUBLAS_OP_T || d.transb != CUBLAS_OP_N)
    return "an fp8 GEMM is TN only";
  if (a.type != CUDA_R_8F_E4M3 || b.type != CUDA_R_8F_E4M3)
    return "A and B must be CUDA_R_8F_E4M3";
  bool blkVec = d.aMode == CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F &&
                d.bMode == CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F;
  bool vecBlk = d.aMode == CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F &&
                d.bMode == CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F;
  bool vecVec = d.aMode == CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F &&
                d.bMode == CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F;
  if (!blkVec && !vecBlk && !vecVec)
    return "the scale modes must be VEC128 / BLK128x128 pairs (not both BLK128x128)";
  if (!d.aScale || !d.bScale)
    return "block scaling needs both scale pointers";
  if (dl.type != CUDA_R_32F && dl.type != CUDA_R_16F && dl.type != CUDA_R_16BF)
    return "D must be f32, f16 or bf16";
  if (c.type != dl.type || c.rows != dl.rows || c.cols != dl.cols || c.ld != dl.ld)
    return "C must have D's layout";
  // op(A) = Aᵀ: A is k x m; op(B) = B: k x n; D m x n.
  *k = a.rows, *m = a.cols, *n = b.cols;
  if (b.rows != *k || dl.rows != *m || dl.cols != *n)
    return "the layouts' sizes do not agree";
  if (a.ld < int64_t(a.rows) || b.ld < int64_t(b.rows) || dl.ld < int64_t(dl.rows))
    return "a leading dimension is below its rows";
  if (a.ld % 16 || b.ld % 16 || (dl.ld * int64_t(bytesOf(dl.type))) % 16)
    return "leading dimensions must keep 16-byte alignment";
  if (*m % 4 || *n % 4)
    return "M and N must be multiples of 4 with block scaling";
  return "";
}

uint64_t at(const void *p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); }

} // namespace

extern "C" {

size_t cublasLtGetVersion() {
  const char *v = std::getenv("FAKECUDA_CUBLASLT_VERSION");
  return v && *v ? static_cast<size_t>(std::strtoull(v, nullptr, 10)) : 130100;
}

cublasStatus_t cublasLtCreate(cublasLtHandle_t *handle) {
  FAKECUDA_ENTRY("cublasLtCreate");
  *handle = reinterpret_cast<cublasLtHandle_t>(make<Handle>());
  return kSuccess;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle) { return drop<Handle>(handle); }

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *desc, int compute, int scaleType) {
  FAKECUDA_ENTRY("cublasLtMatmulDescCreate");
  Desc *d = make<Desc>();
  d->compute = compute, d->scaleType = scaleType;
  *desc = reinterpret_cast<cublasLtMatmulDesc_t>(d);
  return kSuccess;
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) { return drop<Desc>(desc); }

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc, int name,
                                              const void *value, size_t bytes) {
  Desc *d = get<Desc>(desc);
  if (!d || !value)
    return kInvalidValue;
  auto i32 = [&](int32_t *slot) {
    if (bytes != sizeof(int32_t))
      return kInvalidValue;
    std::memcpy(slot, value, sizeof(int32_t));
    return kSuccess;
  };
  auto ptr = [&](const void **slot) {
    if (bytes != sizeof(void *))
      return kInvalidValue;
    std::memcpy(slot, value, sizeof(void *));
    return kSuccess;
  };
  switch (name) {
  case CUBLASLT_MATMUL_DESC_TRANSA:
    return i32(&d->transa);
  case CUBLASLT_MATMUL_DESC_TRANSB:
    return i32(&d->transb);
  case CUBLASLT_MATMUL_DESC_A_SCALE_MODE:
    return i32(&d->aMode);
  case CUBLASLT_MATMUL_DESC_B_SCALE_MODE:
    return i32(&d->bMode);
  case CUBLASLT_MATMUL_DESC_FAST_ACCUM:
    return i32(&d->fastAccum);
  case CUBLASLT_MATMUL_DESC_A_SCALE_POINTER:
    return ptr(&d->aScale);
  case CUBLASLT_MATMUL_DESC_B_SCALE_POINTER:
    return ptr(&d->bScale);
  default:
    fakecuda::trace("cublasLtMatmulDescSetAttribute: attribute " + std::to_string(name) +
                    " is not one the stand-in knows");
    return kInvalidValue;
  }
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *layout, int type,
                                          uint64_t rows, uint64_t cols, int64_t ld) {
  FAKECUDA_ENTRY("cublasLtMatrixLayoutCreate");
  if (!bytesOf(type) || !rows || !cols || ld < 1)
    return kInvalidValue;
  Layout *l = make<Layout>();
  *l = {type, rows, cols, ld};
  *layout = reinterpret_cast<cublasLtMatrixLayout_t>(l);
  return kSuccess;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  return drop<Layout>(layout);
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *pref) {
  *pref = reinterpret_cast<cublasLtMatmulPreference_t>(make<Pref>());
  return kSuccess;
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  return drop<Pref>(pref);
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref, int name,
                                                    const void *value, size_t bytes) {
  Pref *p = get<Pref>(pref);
  if (!p || name != CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES || bytes != sizeof(uint64_t))
    return kInvalidValue;
  std::memcpy(&p->workspace, value, sizeof(uint64_t));
  return kSuccess;
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                              cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                              cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                                              cublasLtMatmulPreference_t pref, int requested,
                                              cublasLtMatmulHeuristicResult_t *results,
                                              int *count) {
  FAKECUDA_ENTRY("cublasLtMatmulAlgoGetHeuristic");
  Desc *dd = get<Desc>(desc);
  Layout *la = get<Layout>(a), *lb = get<Layout>(b), *lc = get<Layout>(c), *ld = get<Layout>(d);
  if (!get<Handle>(handle) || !dd || !la || !lb || !lc || !ld || !get<Pref>(pref) ||
      requested < 1 || !results || !count)
    return kInvalidValue;
  uint64_t m = 0, n = 0, k = 0;
  std::string why = refusal(*dd, *la, *lb, *lc, *ld, &m, &n, &k);
  if (!why.empty()) {
    fakecuda::trace("cublasLtMatmulAlgoGetHeuristic: " + why);
    return kNotSupported;
  }
  std::memset(results, 0, sizeof *results);
  results->algo.data[0] = 1;
  *count = 1;
  return kSuccess;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                              const void *alpha, const void *a, cublasLtMatrixLayout_t adesc,
                              const void *b, cublasLtMatrixLayout_t bdesc, const void *beta,
                              const void *c, cublasLtMatrixLayout_t cdesc, void *d,
                              cublasLtMatrixLayout_t ddesc, const cublasLtMatmulAlgo_t *algo,
                              void *workspace, size_t workspaceBytes, CUstream stream) {
  FAKECUDA_ENTRY("cublasLtMatmul");
  Desc *dd = get<Desc>(desc);
  Layout *la = get<Layout>(adesc), *lb = get<Layout>(bdesc), *lc = get<Layout>(cdesc),
         *ld = get<Layout>(ddesc);
  if (!get<Handle>(handle) || !dd || !la || !lb || !lc || !ld || !alpha || !beta || !algo)
    return kInvalidValue;
  uint64_t m = 0, n = 0, k = 0;
  std::string why = refusal(*dd, *la, *lb, *lc, *ld, &m, &n, &k);
  if (why.empty() && fakecuda::capturing(stream) && !workspace)
    why = "captured without a workspace";
  // Each pointer inside one allocation with the bytes its layout spans,
  // 16-byte aligned.
  struct Span {
    const char *name;
    const void *p;
    uint64_t bytes;
  } spans[] = {
      {"A", a, (la->cols - 1) * uint64_t(la->ld) + la->rows},
      {"B", b, (lb->cols - 1) * uint64_t(lb->ld) + lb->rows},
      {"C", c, ((lc->cols - 1) * uint64_t(lc->ld) + lc->rows) * bytesOf(lc->type)},
      {"D", d, ((ld->cols - 1) * uint64_t(ld->ld) + ld->rows) * bytesOf(ld->type)},
      {"A's scales", dd->aScale, scaleBytes(dd->aMode, m, k)},
      {"B's scales", dd->bScale, scaleBytes(dd->bMode, n, k)},
      {"the workspace", workspace, workspaceBytes}};
  for (const Span &s : spans) {
    if (!why.empty() || (s.p == workspace && !workspace))
      continue;
    if (at(s.p) % 16)
      why = std::string(s.name) + " is not 16-byte aligned";
    else if (!fakecuda::inside(at(s.p), s.bytes))
      why = std::string(s.name) + " (" + std::to_string(s.bytes) +
            " bytes) is outside any allocation";
  }
  if (!why.empty()) {
    fakecuda::trace("cublasLtMatmul: " + why);
    return kInvalidValue;
  }
  fakecuda::enqueue(stream,
                    "cublasLtMatmul " + std::to_string(m) + "x" + std::to_string(n) + "x" +
                        std::to_string(k) + " e4m3 TN " + modeName(dd->aMode) + " " +
                        modeName(dd->bMode) + " a " + fakecuda::where(at(a)) + " b " +
                        fakecuda::where(at(b)) + " d " + fakecuda::where(at(d)) + " " +
                        typeName(ld->type) + " a_scales " + fakecuda::where(at(dd->aScale)) +
                        " b_scales " + fakecuda::where(at(dd->bScale)),
                    [] {});
  return kSuccess;
}

} // extern "C"
