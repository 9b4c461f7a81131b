//===- CudaApi.h - the CUDA driver and cuBLAS, loaded at run time -----------===//
//
// libmoert does not link CUDA: the driver (libcuda.so.1) and cuBLAS
// (libcublas.so.13 / .12) are opened with dlopen when the first CUDA session
// is created, so one build runs on machines with and without a GPU. The few
// types and constants used are declared here with the values of the CUDA
// headers (cuda.h, cublas_api.h, library_types.h), which the build does not
// need.
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_CUDA_CUDAAPI_H
#define MOERT_SRC_CUDA_CUDAAPI_H

#include "../Status.h"

#include <cstddef>
#include <cstdint>
#include <dlfcn.h>
#include <initializer_list>
#include <string>

namespace moert::rt::cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUgraph = struct CUgraph_st *;
using CUgraphExec = struct CUgraphExec_st *;
using CUevent = struct CUevent_st *;
using cublasHandle_t = struct cublasContext *;
using cublasStatus_t = int;

constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUresult CUDA_ERROR_NOT_READY = 600;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr int CU_JIT_ERROR_LOG_BUFFER = 5;
constexpr int CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;
constexpr unsigned CU_STREAM_NON_BLOCKING = 1;
constexpr int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;
constexpr int CU_STREAM_CAPTURE_STATUS_NONE = 0;
constexpr int CU_POINTER_ATTRIBUTE_MEMORY_TYPE = 2;
constexpr unsigned CU_MEMORYTYPE_DEVICE = 2;
constexpr int CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL = 9;
constexpr int CU_POINTER_ATTRIBUTE_RANGE_START_ADDR = 11;
constexpr int CU_POINTER_ATTRIBUTE_RANGE_SIZE = 12;
constexpr cublasStatus_t CUBLAS_STATUS_SUCCESS = 0;
constexpr int CUBLAS_OP_N = 0;
constexpr int CUBLAS_OP_T = 1;
constexpr int CUDA_R_32F = 0;
constexpr int CUDA_R_16F = 2;
constexpr int CUDA_R_16BF = 14;
constexpr int CUBLAS_COMPUTE_32F = 68;
constexpr int CUBLAS_GEMM_DEFAULT = -1;

/// The entry points moert uses. Every member is set once load() succeeds.
struct Api {
  // Driver.
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDriverGetVersion)(int *);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned, int *, void **);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemGetInfo)(size_t *, size_t *);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
  CUresult (*cuMemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemsetD32Async)(CUdeviceptr, unsigned, size_t, CUstream);
  CUresult (*cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, CUstream, void **,
                             void **);
  CUresult (*cuStreamBeginCapture)(CUstream, int);
  CUresult (*cuStreamEndCapture)(CUstream, CUgraph *);
  CUresult (*cuGraphInstantiateWithFlags)(CUgraphExec *, CUgraph, unsigned long long);
  CUresult (*cuGraphLaunch)(CUgraphExec, CUstream);
  CUresult (*cuGraphExecDestroy)(CUgraphExec);
  CUresult (*cuGraphDestroy)(CUgraph);
  CUresult (*cuGetErrorName)(CUresult, const char **);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  // Page-locking of the host arena's staging ranges (null when absent).
  CUresult (*cuMemHostRegister)(void *, size_t, unsigned);
  CUresult (*cuMemHostUnregister)(void *);
  // The weights' upload through page-locked staging buffers (null when
  // absent: then each weight is copied from the artifact directly).
  CUresult (*cuMemAllocHost)(void **, size_t);
  CUresult (*cuMemFreeHost)(void *);
  CUresult (*cuEventSynchronize)(CUevent);
  // Runs on the caller's stream (moert_session_enqueue; null when absent):
  // where a caller's pointer lies, whether the caller's stream captures.
  CUresult (*cuPointerGetAttribute)(void *, int, CUdeviceptr);
  CUresult (*cuStreamIsCapturing)(CUstream, int *);
  CUresult (*cuCtxSynchronize)();
  // The NCCL communicator's wait with a deadline (null when absent).
  CUresult (*cuStreamQuery)(CUstream);
  // Events, for MOERT_CUDA_PROFILE only (null when the driver lacks them).
  CUresult (*cuEventCreate)(CUevent *, unsigned);
  CUresult (*cuEventDestroy)(CUevent);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent);
  // cuBLAS.
  cublasStatus_t (*cublasCreate)(cublasHandle_t *);
  cublasStatus_t (*cublasDestroy)(cublasHandle_t);
  cublasStatus_t (*cublasSetStream)(cublasHandle_t, CUstream);
  cublasStatus_t (*cublasSetWorkspace)(cublasHandle_t, void *, size_t);
  cublasStatus_t (*cublasGemmEx)(cublasHandle_t, int, int, int, int, int,
                                 const void *, const void *, int, int,
                                 const void *, int, int, const void *, void *,
                                 int, int, int, int);
  const char *(*cublasGetStatusName)(cublasStatus_t);
};

/// cuBLASLt (libcublasLt.so.13 / .12), for the block-scaled fp8 GEMMs of
/// GPUs of compute capability 9.0 only (docs/runtime.md, "fp8 GEMMs on
/// cuBLASLt"); its types and constants as cublasLt.h declares them.
using cublasLtHandle_t = struct cublasLtContext *;
using cublasLtMatmulDesc_t = struct cublasLtMatmulDescOpaque *;
using cublasLtMatrixLayout_t = struct cublasLtMatrixLayoutOpaque *;
using cublasLtMatmulPreference_t = struct cublasLtMatmulPreferenceOpaque *;
struct cublasLtMatmulAlgo_t {
  uint64_t data[8];
};
struct cublasLtMatmulHeuristicResult_t {
  cublasLtMatmulAlgo_t algo;
  size_t workspaceSize;
  cublasStatus_t state;
  float wavesCount;
  int reserved[4];
};
constexpr int CUDA_R_8F_E4M3 = 28;
constexpr int CUBLASLT_MATMUL_DESC_TRANSA = 3;
constexpr int CUBLASLT_MATMUL_DESC_TRANSB = 4;
constexpr int CUBLASLT_MATMUL_DESC_A_SCALE_POINTER = 17;
constexpr int CUBLASLT_MATMUL_DESC_B_SCALE_POINTER = 18;
constexpr int CUBLASLT_MATMUL_DESC_FAST_ACCUM = 25;
constexpr int CUBLASLT_MATMUL_DESC_A_SCALE_MODE = 31;
constexpr int CUBLASLT_MATMUL_DESC_B_SCALE_MODE = 32;
constexpr int CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F = 4;
constexpr int CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F = 5;
constexpr int CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1;
/// The first cuBLASLt with VEC128_32F / BLK128x128_32F (cublasLtGetVersion).
constexpr size_t kLtBlockScaledVersion = 120900;

struct LtApi {
  size_t (*cublasLtGetVersion)();
  cublasStatus_t (*cublasLtCreate)(cublasLtHandle_t *);
  cublasStatus_t (*cublasLtDestroy)(cublasLtHandle_t);
  cublasStatus_t (*cublasLtMatmulDescCreate)(cublasLtMatmulDesc_t *, int, int);
  cublasStatus_t (*cublasLtMatmulDescDestroy)(cublasLtMatmulDesc_t);
  cublasStatus_t (*cublasLtMatmulDescSetAttribute)(cublasLtMatmulDesc_t, int, const void *,
                                                   size_t);
  cublasStatus_t (*cublasLtMatrixLayoutCreate)(cublasLtMatrixLayout_t *, int, uint64_t,
                                               uint64_t, int64_t);
  cublasStatus_t (*cublasLtMatrixLayoutDestroy)(cublasLtMatrixLayout_t);
  cublasStatus_t (*cublasLtMatmulPreferenceCreate)(cublasLtMatmulPreference_t *);
  cublasStatus_t (*cublasLtMatmulPreferenceDestroy)(cublasLtMatmulPreference_t);
  cublasStatus_t (*cublasLtMatmulPreferenceSetAttribute)(cublasLtMatmulPreference_t, int,
                                                         const void *, size_t);
  cublasStatus_t (*cublasLtMatmulAlgoGetHeuristic)(
      cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
      cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatmulPreference_t, int,
      cublasLtMatmulHeuristicResult_t *, int *);
  cublasStatus_t (*cublasLtMatmul)(cublasLtHandle_t, cublasLtMatmulDesc_t, const void *,
                                   const void *, cublasLtMatrixLayout_t, const void *,
                                   cublasLtMatrixLayout_t, const void *, const void *,
                                   cublasLtMatrixLayout_t, void *, cublasLtMatrixLayout_t,
                                   const cublasLtMatmulAlgo_t *, void *, size_t, CUstream);
};

/// Opens cuBLASLt once per process; later calls return the first outcome.
/// MOERT_UNSUPPORTED says which library or symbol is missing.
Status loadLt(const LtApi **out);

/// dlopen (RTLD_NOW | RTLD_LOCAL) of the first of `names` that opens; null
/// when none does, each one's failure added to *tried.
void *openFirst(std::initializer_list<const char *> names, std::string *tried);
/// dlsym of `symbol` in `lib` into `slot`; a missing one is added to
/// *missing.
template <typename Fn>
bool bind(void *lib, const char *symbol, Fn *&slot, std::string *missing) {
  slot = reinterpret_cast<Fn *>(::dlsym(lib, symbol));
  if (!slot)
    *missing += std::string(missing->empty() ? "" : ", ") + symbol;
  return slot != nullptr;
}

/// Opens the driver and cuBLAS and initializes the driver, once per process;
/// later calls return the first outcome. MOERT_UNSUPPORTED says which library
/// or symbol is missing, or that the driver found no device.
Status load(const Api **out);

/// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)" for a driver result.
std::string resultName(const Api &api, CUresult r);
/// "CUBLAS_STATUS_NOT_SUPPORTED (15)" for a cuBLAS status.
std::string cublasName(const Api &api, cublasStatus_t s);

/// The status of a failed driver call: MOERT_OUT_OF_MEMORY for
/// CUDA_ERROR_OUT_OF_MEMORY (2), MOERT_EXECUTION_ERROR otherwise, with the
/// result's name and `what` (the call and the command it served).
Status driverError(const Api &api, CUresult r, const std::string &what);
Status cublasError(const Api &api, cublasStatus_t s, const std::string &what);

} // namespace moert::rt::cuda

#endif // MOERT_SRC_CUDA_CUDAAPI_H
