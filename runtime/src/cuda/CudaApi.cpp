//===- CudaApi.cpp - the CUDA driver and cuBLAS, loaded at run time ---------===//
#include "CudaApi.h"

#include <cstdlib>
#include <dlfcn.h>
#include <mutex>

namespace moert::rt::cuda {

void *openFirst(std::initializer_list<const char *> names, std::string *tried) {
  for (const char *name : names) {
    if (void *h = ::dlopen(name, RTLD_NOW | RTLD_LOCAL))
      return h;
    const char *why = ::dlerror();
    *tried += std::string(tried->empty() ? "" : "; ") +
              (why ? why : std::string(name) + ": not found");
  }
  return nullptr;
}

namespace {

Status loadOnce(Api *api) {
  std::string tried;
  void *driver = openFirst({"libcuda.so.1", "libcuda.so"}, &tried);
  if (!driver)
    return error(MOERT_UNSUPPORTED,
                 "no CUDA driver: cannot open libcuda.so.1 (", tried,
                 "); is an NVIDIA driver installed?");
  std::string missing;
  bind(driver, "cuInit", api->cuInit, &missing);
  bind(driver, "cuDriverGetVersion", api->cuDriverGetVersion, &missing);
  bind(driver, "cuDeviceGetCount", api->cuDeviceGetCount, &missing);
  bind(driver, "cuDeviceGet", api->cuDeviceGet, &missing);
  bind(driver, "cuDeviceGetName", api->cuDeviceGetName, &missing);
  bind(driver, "cuDeviceGetAttribute", api->cuDeviceGetAttribute, &missing);
  bind(driver, "cuDevicePrimaryCtxRetain", api->cuDevicePrimaryCtxRetain, &missing);
  bind(driver, "cuDevicePrimaryCtxRelease_v2", api->cuDevicePrimaryCtxRelease, &missing);
  bind(driver, "cuCtxSetCurrent", api->cuCtxSetCurrent, &missing);
  bind(driver, "cuModuleLoadDataEx", api->cuModuleLoadDataEx, &missing);
  bind(driver, "cuModuleGetFunction", api->cuModuleGetFunction, &missing);
  bind(driver, "cuModuleUnload", api->cuModuleUnload, &missing);
  bind(driver, "cuMemAlloc_v2", api->cuMemAlloc, &missing);
  bind(driver, "cuMemFree_v2", api->cuMemFree, &missing);
  bind(driver, "cuMemGetInfo_v2", api->cuMemGetInfo, &missing);
  bind(driver, "cuMemcpyHtoD_v2", api->cuMemcpyHtoD, &missing);
  bind(driver, "cuMemcpyHtoDAsync_v2", api->cuMemcpyHtoDAsync, &missing);
  bind(driver, "cuMemcpyDtoHAsync_v2", api->cuMemcpyDtoHAsync, &missing);
  bind(driver, "cuMemcpyDtoDAsync_v2", api->cuMemcpyDtoDAsync, &missing);
  bind(driver, "cuMemsetD32Async", api->cuMemsetD32Async, &missing);
  bind(driver, "cuMemsetD8Async", api->cuMemsetD8Async, &missing);
  bind(driver, "cuStreamCreate", api->cuStreamCreate, &missing);
  bind(driver, "cuStreamDestroy_v2", api->cuStreamDestroy, &missing);
  bind(driver, "cuStreamSynchronize", api->cuStreamSynchronize, &missing);
  bind(driver, "cuLaunchKernel", api->cuLaunchKernel, &missing);
  bind(driver, "cuStreamBeginCapture_v2", api->cuStreamBeginCapture, &missing);
  bind(driver, "cuStreamEndCapture", api->cuStreamEndCapture, &missing);
  bind(driver, "cuGraphInstantiateWithFlags", api->cuGraphInstantiateWithFlags, &missing);
  bind(driver, "cuGraphLaunch", api->cuGraphLaunch, &missing);
  bind(driver, "cuGraphExecDestroy", api->cuGraphExecDestroy, &missing);
  bind(driver, "cuGraphDestroy", api->cuGraphDestroy, &missing);
  bind(driver, "cuGetErrorName", api->cuGetErrorName, &missing);
  bind(driver, "cuGetErrorString", api->cuGetErrorString, &missing);
  if (!missing.empty())
    return error(MOERT_UNSUPPORTED, "the CUDA driver lacks ", missing,
                 " (a driver for CUDA 12 or newer is needed)");
  // Optional: pinning speeds copies up; the weights' staging ring and
  // MOERT_CUDA_PROFILE need events; moert_session_enqueue the pointer and
  // capture queries.
  std::string optional;
  bind(driver, "cuMemHostRegister_v2", api->cuMemHostRegister, &optional);
  bind(driver, "cuMemHostUnregister", api->cuMemHostUnregister, &optional);
  bind(driver, "cuMemAllocHost_v2", api->cuMemAllocHost, &optional);
  bind(driver, "cuMemFreeHost", api->cuMemFreeHost, &optional);
  bind(driver, "cuEventSynchronize", api->cuEventSynchronize, &optional);
  bind(driver, "cuPointerGetAttribute", api->cuPointerGetAttribute, &optional);
  bind(driver, "cuStreamIsCapturing", api->cuStreamIsCapturing, &optional);
  bind(driver, "cuCtxSynchronize", api->cuCtxSynchronize, &optional);
  bind(driver, "cuStreamQuery", api->cuStreamQuery, &optional);
  bind(driver, "cuEventCreate", api->cuEventCreate, &optional);
  bind(driver, "cuEventDestroy_v2", api->cuEventDestroy, &optional);
  bind(driver, "cuEventRecord", api->cuEventRecord, &optional);
  if (!bind(driver, "cuEventElapsedTime_v2", api->cuEventElapsedTime, &optional))
    bind(driver, "cuEventElapsedTime", api->cuEventElapsedTime, &optional);

  tried.clear();
  void *blas = openFirst({"libcublas.so.13", "libcublas.so.12", "libcublas.so"},
                         &tried);
  if (!blas)
    return error(MOERT_UNSUPPORTED, "cannot open cuBLAS (", tried,
                 "); install the CUDA toolkit's libcublas or put it on "
                 "LD_LIBRARY_PATH");
  bind(blas, "cublasCreate_v2", api->cublasCreate, &missing);
  bind(blas, "cublasDestroy_v2", api->cublasDestroy, &missing);
  bind(blas, "cublasSetStream_v2", api->cublasSetStream, &missing);
  bind(blas, "cublasSetWorkspace_v2", api->cublasSetWorkspace, &missing);
  bind(blas, "cublasGemmEx", api->cublasGemmEx, &missing);
  bind(blas, "cublasGetStatusName", api->cublasGetStatusName, &missing);
  if (!missing.empty())
    return error(MOERT_UNSUPPORTED, "cuBLAS lacks ", missing,
                 " (cuBLAS 12 or newer is needed)");

  CUresult r = api->cuInit(0);
  if (r != CUDA_SUCCESS)
    return error(MOERT_UNSUPPORTED, "the CUDA driver did not initialize: ",
                 resultName(*api, r));
  int count = 0;
  r = api->cuDeviceGetCount(&count);
  if (r != CUDA_SUCCESS)
    return error(MOERT_UNSUPPORTED, "cuDeviceGetCount failed: ", resultName(*api, r));
  if (count == 0)
    return error(MOERT_UNSUPPORTED, "the CUDA driver sees no GPU");
  return Status();
}

} // namespace

Status load(const Api **out) {
  static Api api;
  static Status outcome;
  static std::once_flag once;
  std::call_once(once, [] {
    // Tests of the no-device path can hide an installed driver.
    if (const char *v = std::getenv("MOERT_CUDA_DISABLE"); v && *v && *v != '0')
      outcome = error(MOERT_UNSUPPORTED,
                      "the CUDA backend is disabled by MOERT_CUDA_DISABLE");
    else
      outcome = loadOnce(&api);
  });
  if (outcome.ok())
    *out = &api;
  return outcome;
}

Status loadLt(const LtApi **out) {
  static LtApi lt;
  static Status outcome;
  static std::once_flag once;
  std::call_once(once, [] {
    std::string tried, missing;
    void *lib = openFirst({"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"}, &tried);
    if (!lib) {
      outcome = error(MOERT_UNSUPPORTED, "cannot open cuBLASLt (", tried, ")");
      return;
    }
    bind(lib, "cublasLtGetVersion", lt.cublasLtGetVersion, &missing);
    bind(lib, "cublasLtCreate", lt.cublasLtCreate, &missing);
    bind(lib, "cublasLtDestroy", lt.cublasLtDestroy, &missing);
    bind(lib, "cublasLtMatmulDescCreate", lt.cublasLtMatmulDescCreate, &missing);
    bind(lib, "cublasLtMatmulDescDestroy", lt.cublasLtMatmulDescDestroy, &missing);
    bind(lib, "cublasLtMatmulDescSetAttribute", lt.cublasLtMatmulDescSetAttribute, &missing);
    bind(lib, "cublasLtMatrixLayoutCreate", lt.cublasLtMatrixLayoutCreate, &missing);
    bind(lib, "cublasLtMatrixLayoutDestroy", lt.cublasLtMatrixLayoutDestroy, &missing);
    bind(lib, "cublasLtMatmulPreferenceCreate", lt.cublasLtMatmulPreferenceCreate, &missing);
    bind(lib, "cublasLtMatmulPreferenceDestroy", lt.cublasLtMatmulPreferenceDestroy, &missing);
    bind(lib, "cublasLtMatmulPreferenceSetAttribute", lt.cublasLtMatmulPreferenceSetAttribute,
         &missing);
    bind(lib, "cublasLtMatmulAlgoGetHeuristic", lt.cublasLtMatmulAlgoGetHeuristic, &missing);
    bind(lib, "cublasLtMatmul", lt.cublasLtMatmul, &missing);
    if (!missing.empty())
      outcome = error(MOERT_UNSUPPORTED, "cuBLASLt lacks ", missing);
  });
  if (outcome.ok())
    *out = &lt;
  return outcome;
}

std::string resultName(const Api &api, CUresult r) {
  const char *name = nullptr, *text = nullptr;
  if (api.cuGetErrorName)
    api.cuGetErrorName(r, &name);
  if (api.cuGetErrorString)
    api.cuGetErrorString(r, &text);
  std::string s = name ? name : "CUDA error " + std::to_string(r);
  if (text)
    s += std::string(" (") + text + ")";
  return s;
}

std::string cublasName(const Api &api, cublasStatus_t s) {
  const char *name = api.cublasGetStatusName ? api.cublasGetStatusName(s) : nullptr;
  return std::string(name ? name : "CUBLAS_STATUS") + " (" + std::to_string(s) + ")";
}

Status driverError(const Api &api, CUresult r, const std::string &what) {
  return error(r == 2 ? MOERT_OUT_OF_MEMORY : MOERT_EXECUTION_ERROR, what,
               " failed: ", resultName(api, r));
}

Status cublasError(const Api &api, cublasStatus_t s, const std::string &what) {
  return error(s == 3 ? MOERT_OUT_OF_MEMORY : MOERT_EXECUTION_ERROR, what,
               " failed: ", cublasName(api, s));
}

} // namespace moert::rt::cuda

int32_t moert_cuda_device_count(void) {
  const moert::rt::cuda::Api *api = nullptr;
  int count = 0;
  if (!moert::rt::cuda::load(&api) || api->cuDeviceGetCount(&count) != 0)
    return 0;
  return count;
}
