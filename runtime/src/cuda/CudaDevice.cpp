//===- CudaDevice.cpp - a session's state on an NVIDIA GPU ------------------===//
#include "CudaDevice.h"

#include "../ExpertExchange.h"
#include "../ExpertOffsets.h"
#include "Nccl.h"
#include "moert/format.h"
#include "moert/fp8.h"
#include "moert/mxfp4.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace moert::rt::cuda {

namespace {

constexpr unsigned kBlock = 128;                   // threads per block
constexpr size_t kWorkspaceBytes = size_t(32) << 20; // cuBLAS, graph-safe
constexpr size_t kMaxGraphs = 512;                 // per session
/// Graphs per T bucket: powers of two up to this, then its multiples.
constexpr int64_t kBucketStep = 128;
/// "sm_90" → 90; -1 when it is not sm_NN[a].
int smVersion(const std::string &arch) {
  if (arch.rfind("sm_", 0) != 0)
    return -1;
  char *end = nullptr;
  long v = std::strtol(arch.c_str() + 3, &end, 10);
  if (end == arch.c_str() + 3 || (*end && std::strcmp(end, "a") != 0))
    return -1;
  return static_cast<int>(v);
}

/// The cudaDataType of a GEMM operand of f32, bf16 or f16.
int cudaDataType(moert_dtype_t t) {
  return t == MOERT_BF16 ? CUDA_R_16BF : t == MOERT_F16 ? CUDA_R_16F : CUDA_R_32F;
}

} // namespace

Status CudaDevice::check(CUresult r, const std::string &what) const {
  if (r == CUDA_SUCCESS)
    return Status();
  return driverError(*api_, r, what);
}

Status CudaDevice::create(const Model &model, int ordinal,
                          const moert_session_options_t *options,
                          std::unique_ptr<Device> *out) {
  std::unique_ptr<CudaDevice> d(new CudaDevice(model));
  if (Status s = d->init(ordinal, options); !s)
    return s;
  *out = std::move(d);
  return Status();
}

CudaDevice::Workspace CudaDevice::workspace(const Model &model) {
  uint64_t arena = kDeviceAlign, dequant = 0, codes = 0, scales = 0;
  for (const FunctionSpec &f : model.functions()) {
    arena = std::max(arena, alignDevice(f.arenaBytes));
    for (const CommandSpec &c : f.commands) {
      if (c.dequantKernel >= 0)
        dequant = std::max(dequant, alignDevice(static_cast<uint64_t>(c.n * c.k) * 2));
      if (c.actQuantKernel >= 0) {
        int64_t groups = c.kind == CommandKind::GroupedGemm ? c.experts : 1;
        uint64_t rows = static_cast<uint64_t>(
            fp8ActRows(std::max<int64_t>(c.rows.at(model.maxTokens()), 0), groups));
        codes = std::max(codes, alignDevice(rows * static_cast<uint64_t>(c.k)));
        scales = std::max(scales, alignDevice(rows * static_cast<uint64_t>(fp8Blocks(c.k)) * 4));
      }
    }
  }
  Workspace w;
  w.arenaAt = kWorkspaceBytes;
  w.faultAt = w.arenaAt + arena;
  w.dequantAt = w.faultAt + kDeviceAlign;
  w.dequantBytes = dequant;
  w.actAt = w.dequantAt + dequant;
  w.actCodeBytes = codes;
  w.actScaleBytes = scales;
  w.total = w.actAt + (codes ? codes + scales + kDeviceAlign : 0);
  return w;
}

Status CudaDevice::init(int ordinal, const moert_session_options_t *options) {
  if (Status s = load(&api_); !s)
    return s;
  const Api &api = *api_;
  int count = 0;
  if (Status s = check(api.cuDeviceGetCount(&count), "cuDeviceGetCount"); !s)
    return s;
  if (ordinal < 0 || ordinal >= count)
    return error(MOERT_INVALID_ARGUMENT, "device cuda:", ordinal,
                 " does not exist: the driver sees ", count, " GPU(s), cuda:0 to cuda:",
                 count - 1);
  if (Status s = check(api.cuDeviceGet(&device_, ordinal), "cuDeviceGet"); !s)
    return s;
  ordinal_ = ordinal;
  char name[256] = {};
  api.cuDeviceGetName(name, sizeof name - 1, device_);
  int major = 0, minor = 0;
  api.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device_);
  api.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device_);
  int sm = major * 10 + minor;
  description_ = std::string(name) + " (sm_" + std::to_string(sm) + ")";

  // The code object must suit this GPU: PTX for an architecture up to the
  // device's; a cubin for the same major version, up to the device's minor.
  for (size_t i = 0; i < model_.codeObjects().size(); ++i) {
    const CodeObjectSpec &co = model_.codeObjects()[i];
    int want = smVersion(co.arch);
    if (want < 0)
      return error(MOERT_INVALID_ARTIFACT, "code object ", i, ": architecture '",
                   co.arch, "' is not sm_NN");
    bool cubin = co.format == 2;
    bool fits = cubin ? (want / 10 == major && want % 10 <= minor) : want <= sm;
    if (!fits)
      return error(MOERT_UNSUPPORTED, "the artifact's ", cubin ? "cubin" : "PTX",
                   " is for ", co.arch, ", which cannot run on cuda:", ordinal, " (",
                   description_, "); compile with --target=cuda:sm_", sm);
  }

  if (Status s = check(api.cuDevicePrimaryCtxRetain(&context_, device_),
                       "cuDevicePrimaryCtxRetain");
      !s)
    return s;
  retained_ = true;
  if (Status s = check(api.cuCtxSetCurrent(context_), "cuCtxSetCurrent"); !s)
    return s;
  if (Status s = check(api.cuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING),
                       "cuStreamCreate");
      !s)
    return s;
  if (cublasStatus_t b = api.cublasCreate(&blas_); b != CUBLAS_STATUS_SUCCESS)
    return cublasError(api, b, "cublasCreate");
  // The session's device memory besides the weights: its own two
  // allocations (cuBLAS's workspace; the arena, the fault word and the copy
  // buffer), or carved from the caller's device_workspace.
  const Workspace layout = workspace(model_);
  if (void *pool = options ? options->device_workspace : nullptr) {
    if (options->device_workspace_bytes < layout.total)
      return error(MOERT_INVALID_ARGUMENT, "device_workspace holds ",
                   options->device_workspace_bytes, " bytes, the session needs ", layout.total,
                   " (moert_model_device_workspace_bytes)");
    if (reinterpret_cast<uintptr_t>(pool) % kDeviceAlign)
      return error(MOERT_INVALID_ARGUMENT, "device_workspace (", pool, ") is not ",
                   kDeviceAlign, "-byte aligned");
    if (api.cuPointerGetAttribute) {
      moert_device_tensor_t t = {};
      t.data = pool;
      t.device_id = ordinal;
      if (Status s = checkCallerTensor(t, layout.total, [] { return std::string("device_workspace"); });
          !s)
        return s;
    }
    ownsWorkspace_ = false;
    workspace_ = reinterpret_cast<uintptr_t>(pool);
  } else if (Status s = check(api.cuMemAlloc(&workspace_, kWorkspaceBytes),
                              "cuMemAlloc of cuBLAS's workspace");
             !s) {
    return s; // a fixed workspace: cuBLAS allocates nothing while a graph is captured
  }
  if (Status s = bindBlas(stream_); !s)
    return s;

  // The kernels (one code object for the CUDA target).
  if (!model_.codeObjects().empty()) {
    if (model_.codeObjects().size() != 1)
      return error(MOERT_INVALID_ARTIFACT, "a CUDA artifact carries one code "
                   "object, this one has ", model_.codeObjects().size());
    const CodeObjectSpec &co = model_.codeObjects()[0];
    // PTX is a NUL-terminated string for the driver.
    std::string text;
    const void *image = co.data;
    if (co.format == 1) {
      text.assign(reinterpret_cast<const char *>(co.data), co.bytes);
      image = text.c_str();
    }
    char log[4096] = {};
    int options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *values[] = {log, reinterpret_cast<void *>(uintptr_t(sizeof log - 1))};
    CUresult r = api.cuModuleLoadDataEx(&module_, image, 2, options, values);
    if (r != CUDA_SUCCESS)
      return error(MOERT_LOAD_ERROR, "cuModuleLoadDataEx (the kernels' ",
                   co.format == 1 ? "PTX" : "cubin", " for ", co.arch, ") failed: ",
                   resultName(api, r), log[0] ? std::string(": ") + log : "");
  }
  kernels_.resize(model_.kernels().size());
  for (size_t i = 0; i < kernels_.size(); ++i) {
    const KernelSpec &k = model_.kernels()[i];
    CUresult r = api.cuModuleGetFunction(&kernels_[i], module_, k.name.c_str());
    if (r != CUDA_SUCCESS)
      return error(MOERT_LOAD_ERROR, "kernel '", k.name,
                   "' is not in the artifact's code object: ", resultName(api, r));
  }

  // The weights: those a live session of this model uploaded to this GPU,
  // or uploaded now; a sharded artifact's once its slots are known
  // (attachExchange).
  bool sharded = false, mapped = false;
  for (const FunctionSpec &f : model_.functions())
    for (const CommandSpec &c : f.commands) {
      sharded = sharded || c.kind == CommandKind::Exchange;
      mapped = mapped || c.hasMap;
    }
  if (mapped && !sharded)
    return error(MOERT_UNSUPPORTED, "the artifact's grouped GEMMs read a slot map but it has "
                 "no exchange to write one: a CUDA session runs a rank's slots only behind "
                 "an exchange");
  if (!sharded)
    if (Status s = DeviceWeights::acquire(api, model_, device_, stream_, {}, &weights_); !s)
      return s;

  uint64_t arena = layout.faultAt - layout.arenaAt, dequant = layout.dequantBytes;
  if (!ownsWorkspace_)
    arena_ = workspace_ + layout.arenaAt;
  else if (Status s = check(api.cuMemAlloc(&arena_, layout.total - layout.arenaAt),
                            "cuMemAlloc of the " + std::to_string(arena) + "-byte arena" +
                                (dequant ? " and a " + std::to_string(dequant) +
                                               "-byte bf16 copy of an fp8 or mxfp4 matrix"
                                         : std::string()));
           !s)
    return s;
  faultWord_ = arena_ + arena;
  runWord_ = faultWord_ + 4; // the same aligned slot (workspace())
  runWordAbi_ = model_.formatVersion() >= kRunWordFormatVersion;
  if (dequant)
    dequant_ = faultWord_ + kDeviceAlign;
  if (layout.actCodeBytes) {
    actCodes_ = arena_ + (layout.actAt - layout.arenaAt);
    actScales_ = actCodes_ + layout.actCodeBytes;
    actOffsets_ = actScales_ + layout.actScaleBytes;
    // The engine of the fp8 GEMMs that record cuBLASLt's (docs/runtime.md,
    // "fp8 GEMMs on cuBLASLt"): a GPU of compute capability 9.0 (cuBLASLt
    // has VEC128 / BLK128x128 block scaling there only) with cuBLASLt 12.9
    // or newer, unless MOERT_CUDA_FP8_GEMM says dequant; "cublaslt" makes
    // its absence an error.
    const char *want = std::getenv("MOERT_CUDA_FP8_GEMM");
    std::string choice = want && *want ? want : "auto";
    if (choice != "auto" && choice != "dequant" && choice != "cublaslt")
      return error(MOERT_INVALID_ARGUMENT, "MOERT_CUDA_FP8_GEMM is '", choice,
                   "', expected auto, dequant or cublaslt");
    std::string why;
    if (choice == "dequant")
      why = "MOERT_CUDA_FP8_GEMM=dequant";
    else if (major != 9)
      why = "compute capability " + std::to_string(major) + "." + std::to_string(minor) +
            " (cuBLASLt's block-scaled fp8 GEMM needs 9.0)";
    else if (Status s = loadLt(&lt_); !s)
      why = s.message();
    else if (lt_->cublasLtGetVersion() < kLtBlockScaledVersion)
      why = "cuBLASLt " + std::to_string(lt_->cublasLtGetVersion()) + " (block scaling needs " +
            std::to_string(kLtBlockScaledVersion) + ")";
    else if (cublasStatus_t b = lt_->cublasLtCreate(&ltHandle_); b != CUBLAS_STATUS_SUCCESS)
      return cublasError(api, b, "cublasLtCreate");
    if (!why.empty() && choice == "cublaslt")
      return error(MOERT_UNSUPPORTED, "MOERT_CUDA_FP8_GEMM=cublaslt, but cuda:", ordinal,
                   " cannot run cuBLASLt's block-scaled fp8 GEMM: ", why);
    fp8Lt_ = why.empty();
    fp8Engine_ = fp8Lt_ ? "fp8 GEMMs on cuBLASLt, block-scaled"
                        : "fp8 GEMMs dequantized to bf16 for cuBLAS: " + why;
  }
  // Zeroed before creation returns: runs enqueued on a caller's stream are
  // not ordered after the session's own stream.
  if (Status s = check(api.cuMemsetD32Async(faultWord_, 0, 1, stream_),
                       "cuMemsetD32Async of the fault word");
      !s)
    return s;
  if (Status s = check(api.cuStreamSynchronize(stream_), "cuStreamSynchronize (creation)"); !s)
    return s;
  if (const char *v = std::getenv("MOERT_CUDA_GRAPHS"); v && std::strcmp(v, "0") == 0)
    graphs_ = false;
  if (CommandProfile::requested("MOERT_CUDA_PROFILE")) {
    if (!api.cuEventCreate || !api.cuEventDestroy || !api.cuEventRecord ||
        !api.cuEventElapsedTime)
      return error(MOERT_UNSUPPORTED, "MOERT_CUDA_PROFILE: the CUDA driver lacks "
                   "the event functions (cuEventCreate, cuEventRecord, "
                   "cuEventElapsedTime)");
    profiling_ = true;
    graphs_ = false;
  }
  return Status();
}

int64_t CudaDevice::bufferRows(const FunctionSpec &fn, const CommandSpec &c) const {
  uint64_t bytes = static_cast<uint64_t>(
      std::max<int64_t>(fn.buffers[c.c.index].bytes.at(model_.maxTokens()), 0));
  return static_cast<int64_t>(bytes / (static_cast<uint64_t>(c.n) * moert_dtype_size(c.cDtype)));
}

uint64_t CudaDevice::matrixBytes(const CommandSpec &c) {
  return c.dtype == MOERT_MXFP4    ? mxfp4MatrixBytes(c.n, c.k, false)
         : c.dtype == MOERT_F8E4M3 ? uint64_t(c.n * c.k)
                                   : uint64_t(c.n * c.k) * moert_dtype_size(c.dtype);
}

uint64_t CudaDevice::matrixScaleBytes(const CommandSpec &c) {
  return static_cast<uint64_t>(fp8Blocks(c.n) * fp8Blocks(c.k)) * 4;
}

Status CudaDevice::attachExchange(ExpertExchange *exchange) {
  const Api &api = *api_;
  if (Status s = check(api.cuCtxSetCurrent(context_), "cuCtxSetCurrent"); !s)
    return s;
  // The weights that only the slots' grouped GEMMs read (B of a mapped
  // grouped GEMM, one matrix per expert) go up as this rank's slots, which
  // those GEMMs read by slot: the map (the exchange's slot experts) is the
  // placement's row, the slots' experts.
  SlotLayout slots;
  slots.experts = exchange->slotExperts();
  slots.slotOnly = slotOnlyWeights(model_);
  for (size_t w = 0; w < slots.slotOnly.size(); ++w) {
    if (!slots.slotOnly[w])
      continue;
    // An fp8 weight's block scales go with it, slot by slot.
    const WeightSpec &spec = model_.weights()[w];
    if (spec.shape.empty() || spec.slices != static_cast<uint64_t>(spec.shape[0]) ||
        spec.panels || (spec.scales >= 0 && !slots.slotOnly[static_cast<size_t>(spec.scales)]))
      return error(MOERT_UNSUPPORTED, "weight '", spec.name, "' of the slots' grouped GEMMs "
                   "is not one matrix per expert, each with its own checksums (and its "
                   "scales likewise), which a rank on a GPU uploads only its slots of");
    for (int32_t e : slots.experts)
      if (e >= spec.shape[0])
        return error(MOERT_INVALID_ARGUMENT, "the placement names expert ", e, ", but weight '",
                     spec.name, "' holds ", spec.shape[0]);
  }
  // Group g of a slots' GEMM reads the copy's slot g: as many groups as
  // slots, each one of B's matrices (and of its scales).
  for (const FunctionSpec &f : model_.functions())
    for (const CommandSpec &c : f.commands) {
      if (!c.hasMap)
        continue;
      if (!slots.slotOnly[c.b.index])
        return error(MOERT_UNSUPPORTED, "a weight of the slots' grouped GEMMs is also read "
                     "elsewhere; a rank on a GPU holds only its slots of it");
      const WeightSpec &b = model_.weights()[c.b.index];
      uint64_t per = b.layout().sliceBytes();
      bool scalesFit =
          b.scales < 0 ||
          model_.weights()[static_cast<size_t>(b.scales)].layout().sliceBytes() ==
              matrixScaleBytes(c);
      if (c.experts != static_cast<int64_t>(slots.experts.size()) || per != matrixBytes(c) ||
          !scalesFit)
        return error(MOERT_INVALID_ARTIFACT, "function '", f.name, "': a grouped GEMM of ",
                     c.experts, " slots of ", matrixBytes(c), "-byte matrices over weight '",
                     b.name, "' (", b.slices, " slices of ", per, " bytes), but the exchange has ",
                     slots.experts.size(), " slots");
    }
  // An NCCL communicator moves the rows from GPU to GPU: its rank must be
  // on this session's GPU.
  int32_t ncclDevice = ncclDeviceOf(exchange->communicator());
  if (ncclDevice >= 0 && ncclDevice != ordinal_)
    return error(MOERT_INVALID_ARGUMENT, "the NCCL communicator's rank is on cuda:", ncclDevice,
                 ", the session on cuda:", ordinal_);
  if (Status s = DeviceWeights::acquire(api, model_, device_, stream_, slots, &weights_); !s)
    return s;
  exchange_ = exchange;
  deviceRows_ = ncclDevice >= 0;
  return Status();
}

CudaDevice::~CudaDevice() {
  if (profiling_)
    printProfile();
  if (!api_)
    return;
  const Api &api = *api_;
  if (context_)
    api.cuCtxSetCurrent(context_);
  // Runs enqueued on callers' streams may still use the arena, the weights
  // and the kernels: wait for the whole context.
  if (enqueued_ && api.cuCtxSynchronize)
    api.cuCtxSynchronize();
  for (auto &entry : graphCache_)
    api.cuGraphExecDestroy(entry.second);
  if (stream_)
    api.cuStreamSynchronize(stream_);
  for (CUevent e : events_)
    api.cuEventDestroy(e);
  for (void *p : pinned_)
    api.cuMemHostUnregister(p);
  if (blas_)
    api.cublasDestroy(blas_);
  if (ltHandle_)
    lt_->cublasLtDestroy(ltHandle_);
  if (arena_ && ownsWorkspace_)
    api.cuMemFree(arena_);
  if (workspace_ && ownsWorkspace_)
    api.cuMemFree(workspace_);
  if (module_)
    api.cuModuleUnload(module_);
  if (stream_)
    api.cuStreamDestroy(stream_);
  if (retained_)
    api.cuDevicePrimaryCtxRelease(device_);
}

CUdeviceptr CudaDevice::address(const FunctionSpec &fn, const Operand &op) const {
  if (op.isWeight)
    return weights_->address(op.index);
  return arena_ + fn.buffers[op.index].offset;
}

CUdeviceptr CudaDevice::scalesAddress(const Operand &b) const {
  if (!b.isWeight || model_.weights()[b.index].scales < 0)
    return 0;
  return weights_->address(static_cast<size_t>(model_.weights()[b.index].scales));
}

Status CudaDevice::gemm(const CommandSpec &c, CUdeviceptr a, CUdeviceptr b,
                        CUdeviceptr scales, CUdeviceptr cOut, int64_t m,
                        bool accumulate, int64_t T, const std::string &what) {
  if (m <= 0)
    return Status();
  if (m > INT_MAX || c.n > INT_MAX || c.k > INT_MAX)
    return error(MOERT_UNSUPPORTED, what, ": a GEMM of ", m, " x ", c.n, " x ",
                 c.k, " exceeds cuBLAS's 32-bit sizes");
  // An f8e4m3 or mxfp4 B: its bf16 values first (docs/artifact.md, "fp8
  // weights", "MXFP4 weights"); an mxfp4 one holds its scales.
  bool quantized = c.dequantKernel >= 0;
  if (quantized) {
    const CUdeviceptr fp8Buffers[] = {b, scales, dequant_}, mxfp4Buffers[] = {b, dequant_};
    bool fp8 = c.dtype == MOERT_F8E4M3;
    if (Status s = launch(static_cast<uint32_t>(c.dequantKernel),
                          fp8 ? fp8Buffers : mxfp4Buffers, fp8 ? 3 : 2, Affine{0, c.n}, T,
                          what);
        !s)
      return s;
    b = dequant_;
  }
  // Row-major C[m, n] = A[m, k] · B[n, k]ᵀ is column-major Cᵀ = op(B)·Aᵀ.
  // A and B hold c.dtype (bf16 for a dequantized B); the sums run in f32
  // and C holds c.cDtype (f32, or A's 16-bit type: the loader checks).
  const float one = 1.0f, zero = 0.0f;
  int n = static_cast<int>(c.n), k = static_cast<int>(c.k);
  int ab = quantized ? CUDA_R_16BF : cudaDataType(c.dtype);
  cublasStatus_t s = api_->cublasGemmEx(
      blas_, CUBLAS_OP_T, CUBLAS_OP_N, n, static_cast<int>(m), k, &one,
      reinterpret_cast<const void *>(b), ab, k,
      reinterpret_cast<const void *>(a), ab, k,
      accumulate ? &one : &zero, reinterpret_cast<void *>(cOut),
      cudaDataType(c.cDtype), n,
      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (s != CUBLAS_STATUS_SUCCESS)
    return cublasError(*api_, s, what + ": cublasGemmEx");
  return Status();
}

Status CudaDevice::quantizeActivations(const CommandSpec &c, CUdeviceptr a,
                                       CUdeviceptr offsets, int64_t T,
                                       const std::string &what) {
  const CUdeviceptr buffers[] = {a, offsets, actCodes_, actScales_};
  return launch(static_cast<uint32_t>(c.actQuantKernel), buffers, 4, c.rows, T, what);
}

Status CudaDevice::ltGroup(const CommandSpec &c, CUdeviceptr b, CUdeviceptr scales,
                           CUdeviceptr out, int64_t r0, int64_t m, int64_t group,
                           int64_t cRows, const std::string &what) {
  if (m <= 0)
    return Status();
  // quantize_fp8_act's region of the group: rows base .. base + m8 - 1 of
  // the codes, its scales [KB, m8] from KB · base.
  int64_t m8 = fp8ActPaddedRows(m), base = fp8ActGroupRow(r0, group);
  if (r0 + m8 > cRows)
    return error(MOERT_INVALID_ARTIFACT, what, ": C holds ", cRows, " rows, but the cuBLASLt "
                 "GEMM of rows [", r0, ", ", r0 + m, ") writes ", m8, " (the artifact's C "
                 "lacks the 8 rows of room an act_quant GEMM needs)");
  uint64_t row = static_cast<uint64_t>(c.n) * moert_dtype_size(c.cDtype);
  return ltMatmul(c, b, scales, actCodes_ + uint64_t(base * c.k),
                  actScales_ + uint64_t(base * fp8Blocks(c.k)) * 4, out + uint64_t(r0) * row,
                  m8, what);
}

Status CudaDevice::ltMatmul(const CommandSpec &c, CUdeviceptr b, CUdeviceptr bScales,
                            CUdeviceptr q, CUdeviceptr qScales, CUdeviceptr d, int64_t cols,
                            const std::string &what) {
  if (c.n > INT_MAX || c.k > INT_MAX || cols > INT_MAX)
    return error(MOERT_UNSUPPORTED, what, ": a GEMM of ", cols, " x ", c.n, " x ", c.k,
                 " exceeds cuBLASLt's 32-bit sizes");
  const LtApi &lt = *lt_;
  // Row-major C[cols, n] = Q[cols, k] · B[n, k]ᵀ is the column-major
  // n x cols D = Aᵀ · B' of cuBLAS's TN, with its A = our B's codes (k x n,
  // ld k; BLK128x128 scales, our [ceil(n / 128), ceil(k / 128)] as stored)
  // and its B' = Q (k x cols, ld k; VEC128 scales, [ceil(k / 128), cols]
  // with cols contiguous); D = C (ld n), f32 sums.
  int cType = cudaDataType(c.cDtype);
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
  auto done = [&](cublasStatus_t s, const char *call) {
    if (ld)
      lt.cublasLtMatrixLayoutDestroy(ld);
    if (lb)
      lt.cublasLtMatrixLayoutDestroy(lb);
    if (la)
      lt.cublasLtMatrixLayoutDestroy(la);
    if (desc)
      lt.cublasLtMatmulDescDestroy(desc);
    return s == CUBLAS_STATUS_SUCCESS ? Status() : cublasError(*api_, s, what + ": " + call);
  };
  const int32_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N, blk = CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F,
                vec = CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F, exact = 0;
  const void *aScale = reinterpret_cast<const void *>(bScales),
             *bScale = reinterpret_cast<const void *>(qScales);
  cublasStatus_t s = lt.cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  if (s != CUBLAS_STATUS_SUCCESS)
    return done(s, "cublasLtMatmulDescCreate");
  struct Attribute {
    int name;
    const void *value;
    size_t bytes;
  } attributes[] = {{CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT},
                    {CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof opN},
                    {CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &blk, sizeof blk},
                    {CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &vec, sizeof vec},
                    {CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &aScale, sizeof aScale},
                    {CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &bScale, sizeof bScale},
                    {CUBLASLT_MATMUL_DESC_FAST_ACCUM, &exact, sizeof exact}};
  for (const Attribute &a : attributes)
    if ((s = lt.cublasLtMatmulDescSetAttribute(desc, a.name, a.value, a.bytes)) !=
        CUBLAS_STATUS_SUCCESS)
      return done(s, "cublasLtMatmulDescSetAttribute");
  if ((s = lt.cublasLtMatrixLayoutCreate(&la, CUDA_R_8F_E4M3, uint64_t(c.k), uint64_t(c.n),
                                         c.k)) != CUBLAS_STATUS_SUCCESS ||
      (s = lt.cublasLtMatrixLayoutCreate(&lb, CUDA_R_8F_E4M3, uint64_t(c.k), uint64_t(cols),
                                         c.k)) != CUBLAS_STATUS_SUCCESS ||
      (s = lt.cublasLtMatrixLayoutCreate(&ld, cType, uint64_t(c.n), uint64_t(cols), c.n)) !=
          CUBLAS_STATUS_SUCCESS)
    return done(s, "cublasLtMatrixLayoutCreate");
  // The algorithm cuBLASLt's heuristic picks, once per shape.
  auto key = std::make_tuple(c.n, c.k, cols, cType);
  auto found = ltAlgos_.find(key);
  if (found == ltAlgos_.end()) {
    cublasLtMatmulPreference_t pref = nullptr;
    cublasLtMatmulHeuristicResult_t result = {};
    int count = 0;
    const uint64_t room = kWorkspaceBytes;
    if ((s = lt.cublasLtMatmulPreferenceCreate(&pref)) == CUBLAS_STATUS_SUCCESS &&
        (s = lt.cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                     &room, sizeof room)) ==
            CUBLAS_STATUS_SUCCESS)
      s = lt.cublasLtMatmulAlgoGetHeuristic(ltHandle_, desc, la, lb, ld, ld, pref, 1, &result,
                                            &count);
    if (pref)
      lt.cublasLtMatmulPreferenceDestroy(pref);
    if (s != CUBLAS_STATUS_SUCCESS)
      return done(s, "cublasLtMatmulAlgoGetHeuristic");
    if (count < 1) {
      (void)done(CUBLAS_STATUS_SUCCESS, "");
      return error(MOERT_UNSUPPORTED, what, ": cuBLASLt has no block-scaled fp8 algorithm for ",
                   cols, " x ", c.n, " x ", c.k, " (MOERT_CUDA_FP8_GEMM=dequant runs the "
                   "bf16 engine instead)");
    }
    found = ltAlgos_.emplace(key, result.algo).first;
  }
  const float one = 1.0f, zero = 0.0f;
  s = lt.cublasLtMatmul(ltHandle_, desc, &one, reinterpret_cast<const void *>(b), la,
                        reinterpret_cast<const void *>(q), lb, &zero,
                        reinterpret_cast<const void *>(d), ld, reinterpret_cast<void *>(d), ld,
                        &found->second, reinterpret_cast<void *>(workspace_), kWorkspaceBytes,
                        stream_);
  return done(s, "cublasLtMatmul");
}

Status CudaDevice::zero(CUdeviceptr at, uint64_t bytes, const std::string &what,
                        const char *name) {
  if (bytes == 0)
    return Status();
  const Api &api = *api_;
  if ((at | bytes) % 4 == 0)
    return check(api.cuMemsetD32Async(at, 0, static_cast<size_t>(bytes / 4), stream_),
                 what + ": cuMemsetD32Async of " + name);
  return check(api.cuMemsetD8Async(at, 0, static_cast<size_t>(bytes), stream_),
               what + ": cuMemsetD8Async of " + name);
}

Status CudaDevice::launch(uint32_t kernel, const CUdeviceptr *buffers, size_t count,
                          Affine items, int64_t T, const std::string &what) {
  const KernelSpec &k = model_.kernels()[kernel];
  int64_t extent = items.at(T);
  if (extent <= 0)
    return Status();
  int64_t threads = extent * k.lanes;
  int64_t blocks = (threads + kBlock - 1) / kBlock;
  if (blocks > INT_MAX)
    return error(MOERT_UNSUPPORTED, what, ": ", extent, " items exceed a grid's size");
  // cuLaunchKernel copies the parameters, so launchParams_ is free again
  // when it returns.
  // docs/artifact.md, "CUDA kernel ABI": the run word (which holds the run's
  // T) and the extent's per_token and fixed; before format 7, T and extent.
  int64_t scalars[2] = {items.perToken, items.fixed};
  if (!runWordAbi_)
    scalars[0] = T, scalars[1] = extent;
  launchParams_.clear();
  for (size_t i = 0; i < count; ++i)
    launchParams_.push_back(const_cast<CUdeviceptr *>(&buffers[i]));
  launchParams_.push_back(&faultWord_);
  if (runWordAbi_)
    launchParams_.push_back(&runWord_);
  launchParams_.push_back(&scalars[0]);
  launchParams_.push_back(&scalars[1]);
  return check(api_->cuLaunchKernel(kernels_[kernel], static_cast<unsigned>(blocks), 1, 1,
                                    kBlock, 1, 1, 0, stream_, launchParams_.data(),
                                    nullptr),
               what + ": cuLaunchKernel of '" + k.name + "'");
}

Status CudaDevice::issue(const FunctionSpec &fn, size_t begin, size_t end,
                         int64_t T) {
  const Api &api = *api_;
  for (size_t ci = begin; ci < end; ++ci) {
    const CommandSpec &c = fn.commands[ci];
    std::string what = "command " + std::to_string(ci) + " (" +
                       commandKindName(c.kind) + ")";
    switch (c.kind) {
    case CommandKind::Launch: {
      launchBuffers_.clear();
      for (const Operand &op : c.args)
        launchBuffers_.push_back(address(fn, op));
      if (Status s = launch(c.kernel, launchBuffers_.data(), launchBuffers_.size(), c.extent,
                            T, what);
          !s)
        return s;
      break;
    }
    case CommandKind::Gemm:
      if (fp8Lt_ && c.actQuantKernel >= 0) {
        // One group: rows [0, rows(T)), its offsets written on the stream.
        int64_t m = c.rows.at(T);
        if (m <= 0)
          break;
        Status s = check(api.cuMemsetD32Async(actOffsets_, 0, 1, stream_),
                         what + ": cuMemsetD32Async of the offsets");
        if (s)
          s = check(api.cuMemsetD32Async(actOffsets_ + 4, static_cast<unsigned>(m), 1, stream_),
                    what + ": cuMemsetD32Async of the offsets");
        if (s)
          s = quantizeActivations(c, address(fn, c.a), actOffsets_, T, what);
        if (s)
          s = ltGroup(c, address(fn, c.b), scalesAddress(c.b), address(fn, c.c), 0, m, 0,
                      bufferRows(fn, c), what);
        if (!s)
          return s;
        break;
      }
      if (Status s = gemm(c, address(fn, c.a), address(fn, c.b), scalesAddress(c.b),
                          address(fn, c.c), c.rows.at(T), c.accumulate, T, what);
          !s)
        return s;
      break;
    case CommandKind::GroupedGemm: {
      if (hostGrouped(c, T))
        return error(MOERT_INTERNAL, what, ": a cuBLAS grouped GEMM inside a stretch");
      // The compiler's engine for this T: C's rows(T) zeroed (rows no expert
      // has keep 0), then the generated kernel, which reads the offsets on
      // the device.
      int64_t rows = c.rows.at(T);
      CUdeviceptr out = address(fn, c.c);
      if (Status s = zero(out, uint64_t(rows * c.n) * moert_dtype_size(c.cDtype), what, "C");
          !s)
        return s;
      // grouped_gemv_warp: a, b, offsets, c; grouped_gemv_fp8_warp: b's
      // scales after b.
      CUdeviceptr buffers[] = {address(fn, c.a), address(fn, c.b), scalesAddress(c.b),
                               address(fn, c.offsets), out};
      bool fp8 = c.dtype == MOERT_F8E4M3;
      if (!fp8)
        std::copy(buffers + 3, buffers + 5, buffers + 2);
      if (Status s = launch(static_cast<uint32_t>(c.gemvKernel), buffers, fp8 ? 5 : 4,
                            Affine{0, c.experts * c.n}, T, what);
          !s)
        return s;
      break;
    }
    case CommandKind::Fill: {
      int64_t bytes = c.bytes.at(T);
      if (bytes % 4)
        return error(MOERT_EXECUTION_ERROR, what, ": ", bytes,
                     " bytes is not a whole number of 32-bit words");
      if (bytes > 0)
        if (Status s = check(api.cuMemsetD32Async(address(fn, c.dst), c.value,
                                                  static_cast<size_t>(bytes / 4),
                                                  stream_),
                             what + ": cuMemsetD32Async");
            !s)
          return s;
      break;
    }
    case CommandKind::Exchange: // on the host's schedule (hostCommand)
    case CommandKind::ExpertChoice:
      return error(MOERT_INTERNAL, what, ": an exchange inside a stretch");
    case CommandKind::Copy: {
      int64_t bytes = c.bytes.at(T);
      if (bytes > 0)
        if (Status s = check(api.cuMemcpyDtoDAsync(address(fn, c.dst),
                                                   address(fn, c.src),
                                                   static_cast<size_t>(bytes),
                                                   stream_),
                             what + ": cuMemcpyDtoDAsync");
            !s)
          return s;
      break;
    }
    }
  }
  return Status();
}

void CudaDevice::pinStaging() {
  const Api &api = *api_;
  stagingPinned_ = true;
  uint8_t *hostArena = hostArena_;
  if (!api.cuMemHostRegister || !api.cuMemHostUnregister)
    return;
  if (const char *v = std::getenv("MOERT_CUDA_PIN"); v && std::strcmp(v, "0") == 0)
    return;
  // Page-aligned [begin, end) ranges of the arena, merged where they touch.
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const FunctionSpec &f : model_.functions())
    for (const auto *list : {&f.inputs, &f.outputs, &f.auxOutputs})
      for (const TensorSpec &t : *list) {
        int64_t bytes = t.bytes.at(model_.maxTokens());
        if (bytes <= 0)
          continue;
        uint64_t at = reinterpret_cast<uintptr_t>(hostArena) + f.buffers[t.buffer].offset;
        ranges.push_back({at / page * page, (at + bytes + page - 1) / page * page});
      }
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<uint64_t, uint64_t>> merged;
  for (const auto &r : ranges)
    if (!merged.empty() && r.first <= merged.back().second)
      merged.back().second = std::max(merged.back().second, r.second);
    else
      merged.push_back(r);
  for (const auto &[lo, hi] : merged) {
    void *p = reinterpret_cast<void *>(lo);
    if (api.cuMemHostRegister(p, static_cast<size_t>(hi - lo), 0) == CUDA_SUCCESS)
      pinned_.push_back(p);
  }
}

void CudaDevice::noteWrites(const FunctionSpec &fn, size_t begin, size_t end,
                            int64_t T) {
  auto touches = [&](const Operand &op) {
    if (op.isWeight || !offsetsBytes_)
      return false;
    const BufferSpec &b = fn.buffers[op.index];
    uint64_t bytes = static_cast<uint64_t>(std::max<int64_t>(b.bytes.at(T), 0));
    return b.offset < offsetsAt_ + offsetsBytes_ && offsetsAt_ < b.offset + bytes;
  };
  for (size_t ci = begin; ci < end && offsetsBytes_; ++ci) {
    const CommandSpec &c = fn.commands[ci];
    bool writes = false;
    forEachOperand(c, [&](const Operand &op, Access access) {
      writes = writes || (access != Access::Read && touches(op));
    });
    if (writes)
      offsetsBytes_ = 0;
  }
}

Status CudaDevice::groupedGemm(const FunctionSpec &fn, const CommandSpec &c,
                               size_t index, int64_t T) {
  const Api &api = *api_;
  std::string what = "command " + std::to_string(index) + " (GroupedGemm)";
  uint64_t at = address(fn, c.offsets) - arena_;
  uint64_t bytes = (static_cast<uint64_t>(c.experts) + 1) * 4;
  if (c.offsets.isWeight || at != offsetsAt_ || bytes != offsetsBytes_) {
    offsetsBytes_ = 0;
    offsets_.resize(static_cast<size_t>(c.experts) + 1);
    if (Status s = check(api.cuMemcpyDtoHAsync(offsets_.data(), address(fn, c.offsets),
                                               bytes, stream_),
                         what + ": cuMemcpyDtoHAsync of the offsets");
        !s)
      return s;
    if (Status s = check(api.cuStreamSynchronize(stream_),
                         what + ": cuStreamSynchronize (the commands before it)");
        !s)
      return s;
    if (!c.offsets.isWeight)
      offsetsAt_ = at, offsetsBytes_ = bytes;
  }
  int64_t rows = c.rows.at(T);
  const uint8_t *offsets = reinterpret_cast<const uint8_t *>(offsets_.data());
  if (Status s = checkExpertOffsets(offsets, c.experts, rows); !s)
    return s.prefixed(what + ": ");
  CUdeviceptr a = address(fn, c.a), b = address(fn, c.b), out = address(fn, c.c);
  int64_t used = offsets_[c.experts];
  // A rank's slots (map): the rows past the received ones are never read
  // (as on the CPU), and group g's matrix is slot g's (attachExchange).
  uint64_t cSize = moert_dtype_size(c.cDtype);
  if (used < rows && !c.hasMap)
    if (Status s = zero(out + uint64_t(used * c.n) * cSize, uint64_t((rows - used) * c.n) * cSize,
                        what, "the unused rows");
        !s)
      return s;
  noteWrites(fn, index, index + 1, T);
  // A's bytes per row and B's per matrix (fp8 and mxfp4: bf16 A; one-byte
  // fp8 codes with one f32 scale per 128 x 128 block elsewhere; MXFP4
  // rows); C's per row.
  bool quantized = c.dequantKernel >= 0;
  uint64_t aRow = uint64_t(c.k) * (quantized ? 2 : moert_dtype_size(c.dtype));
  uint64_t bMatrix = matrixBytes(c), scaleBytes = matrixScaleBytes(c);
  CUdeviceptr scales = scalesAddress(c.b);
  if (fp8Lt_ && c.actQuantKernel >= 0) {
    // cuBLASLt's block-scaled fp8 engine: A quantized once, then a GEMM per
    // expert over its region of the quantized rows.
    if (Status s = quantizeActivations(c, a, address(fn, c.offsets), T, what); !s)
      return s;
    for (int64_t e = 0; e < c.experts; ++e)
      if (Status s = ltGroup(c, b + uint64_t(e) * bMatrix, scales + uint64_t(e) * scaleBytes,
                             out, offsets_[e], offsets_[e + 1] - offsets_[e], e,
                             bufferRows(fn, c), what + ", expert " + std::to_string(e));
          !s)
        return s;
    return Status();
  }
  for (int64_t e = 0; e < c.experts; ++e) {
    int64_t r0 = offsets_[e], r1 = offsets_[e + 1];
    if (Status s = gemm(c, a + uint64_t(r0) * aRow, b + uint64_t(e) * bMatrix,
                        scales ? scales + uint64_t(e) * scaleBytes : 0,
                        out + uint64_t(r0 * c.n) * cSize, r1 - r0, false, T,
                        what + ", expert " + std::to_string(e));
        !s)
      return s;
  }
  return Status();
}

Status CudaDevice::hostCommand(const FunctionSpec &fn, const CommandSpec &c, size_t index,
                               int64_t T) {
  switch (c.kind) {
  case CommandKind::Exchange:
    return exchange(fn, c, index, T);
  case CommandKind::ExpertChoice:
    return choose(fn, c, index, T);
  default:
    return groupedGemm(fn, c, index, T);
  }
}

uint8_t *CudaDevice::hostCopy(const FunctionSpec &fn, const Operand &op) const {
  return hostArena_ + fn.buffers[op.index].offset;
}

Status CudaDevice::stage(const FunctionSpec &fn, const Operand &op, int64_t bytes, bool toHost,
                         const std::string &what, const char *name) {
  if (bytes <= 0)
    return Status();
  const Api &api = *api_;
  size_t n = static_cast<size_t>(bytes);
  return toHost ? check(api.cuMemcpyDtoHAsync(hostCopy(fn, op), address(fn, op), n, stream_),
                        what + ": cuMemcpyDtoHAsync of " + std::string(name))
                : check(api.cuMemcpyHtoDAsync(address(fn, op), hostCopy(fn, op), n, stream_),
                        what + ": cuMemcpyHtoDAsync of " + std::string(name));
}

Status CudaDevice::choose(const FunctionSpec &fn, const CommandSpec &c, size_t index,
                          int64_t T) {
  std::string what = "command " + std::to_string(index) + " (ExpertChoice)";
  if (!exchange_)
    return error(MOERT_INTERNAL, what, " without the session's exchange");
  auto host = [&](const Operand &op) { return hostCopy(fn, op); };
  int64_t rowBytes = c.maxRows * 4, offsetBytes = (c.experts + 1) * 4;
  Status s;
  if (!(s = stage(fn, c.src, c.rows.at(T) * c.experts * 4, true, what, "the scores")) ||
      !(s = synchronize(what)))
    return s;
  void *op[4] = {host(c.src), host(c.rowWeight), host(c.rowToken), host(c.offsets)};
  if (!(s = exchange_->choose(c, T, op)))
    return s.prefixed(what + ", T = " + std::to_string(T) + ": ");
  noteWrites(fn, index, index + 1, T);
  for (const Operand *o : {&c.rowWeight, &c.rowToken, &c.offsets})
    if (!(s = stage(fn, *o, o == &c.offsets ? offsetBytes : rowBytes, false, what,
                    "the rows chosen")))
      return s;
  return Status();
}

Status CudaDevice::synchronize(const std::string &what) {
  return check(api_->cuStreamSynchronize(stream_),
               what + ": cuStreamSynchronize (the commands before it)");
}

Status CudaDevice::exchange(const FunctionSpec &fn, const CommandSpec &c, size_t index,
                            int64_t T) {
  const Api &api = *api_;
  std::string what = "command " + std::to_string(index) + " (Exchange)";
  if (!exchange_)
    return error(MOERT_INTERNAL, what, " without the session's exchange");
  auto host = [&](const Operand &op) { return hostCopy(fn, op); };
  auto down = [&](const Operand &op, int64_t bytes, const char *name) {
    return stage(fn, op, bytes, true, what, name);
  };
  auto up = [&](const Operand &op, int64_t bytes, const char *name) {
    return stage(fn, op, bytes, false, what, name);
  };
  auto sync = [&] { return synchronize(what); };
  const int64_t rows = c.rows.at(T), rb = c.rowBytes, slots = c.slots,
                countBytes = c.ranks * c.slots * 4, slotOffsetBytes = (c.slots + 1) * 4;
  // With an NCCL communicator (deviceRows_) the rows stay on the GPU: only
  // the plan goes through the host.
  Status s;
  if (!c.back) {
    // Down: the offsets, and this rank's rows in expert order.
    if (!(s = down(c.offsets, (c.experts + 1) * 4, "the offsets")) ||
        (!deviceRows_ && !(s = down(c.src, rows * rb, "the rows"))) || !(s = sync()))
      return s;
  } else {
    // Down: the plan of the forward exchange, then the results of the rows
    // received (as many as its slot offsets say, within the bound).
    if (!(s = down(c.offsets, (c.experts + 1) * 4, "the offsets")) ||
        !(s = down(c.slotOffsets, slotOffsetBytes, "the slot offsets")) ||
        !(s = down(c.counts, countBytes, "the counts")) || !(s = sync()))
      return s;
    int64_t received = loadOffset(host(c.slotOffsets), slots);
    received = std::clamp<int64_t>(received, 0, c.recvRows);
    if (!deviceRows_ && (!(s = down(c.src, received * rb, "the results")) || !(s = sync())))
      return s;
  }
  auto rowsAt = [&](const Operand &op) -> void * {
    return deviceRows_ ? reinterpret_cast<void *>(static_cast<uintptr_t>(address(fn, op)))
                       : host(op);
  };
  void *op[6] = {rowsAt(c.src),       host(c.offsets), host(c.slotOffsets),
                 host(c.slotExperts), host(c.counts),  rowsAt(c.dst)};
  if (!(s = exchange_->run(c, T, op, deviceRows_)))
    return s.prefixed(what + ", T = " + std::to_string(T) + ": ");
  if (!c.back) {
    // Up: the plan and the rows received. The slots' grouped GEMMs that
    // follow read the slot offsets from here, not back from the device.
    int64_t received = loadOffset(host(c.slotOffsets), slots);
    if (!(s = up(c.slotOffsets, slotOffsetBytes, "the slot offsets")) ||
        !(s = up(c.slotExperts, slots * 4, "the slot experts")) ||
        !(s = up(c.counts, countBytes, "the counts")) ||
        (!deviceRows_ && !(s = up(c.dst, received * rb, "the rows received"))))
      return s;
    noteWrites(fn, index, index + 1, T);
    offsets_.resize(static_cast<size_t>(slots) + 1);
    std::memcpy(offsets_.data(), host(c.slotOffsets), static_cast<size_t>(slotOffsetBytes));
    offsetsAt_ = fn.buffers[c.slotOffsets.index].offset;
    offsetsBytes_ = static_cast<uint64_t>(slotOffsetBytes);
    return Status();
  }
  noteWrites(fn, index, index + 1, T);
  if (!deviceRows_)
    return up(c.dst, rows * rb, "the results back");
  // The rows past the offsets' last entry (padding, dropped copies) are 0,
  // as the exchange leaves them on the host.
  int64_t used = std::clamp<int64_t>(loadOffset(host(c.offsets), c.experts), 0, rows);
  if (used == rows)
    return Status();
  return check(api.cuMemsetD8Async(address(fn, c.dst) + static_cast<uint64_t>(used * rb), 0,
                                   static_cast<size_t>((rows - used) * rb), stream_),
               what + ": cuMemsetD8Async of the rows past the offsets");
}

Status CudaDevice::graphFor(const FunctionSpec &fn, size_t function, size_t begin, size_t end,
                            int64_t T, CUgraphExec *out) {
  const Api &api = *api_;
  *out = nullptr;
  // Captured at T's bucket: the kernels read the run's T from the run word.
  int64_t bucket = bucketOf(fn, T);
  auto key = std::make_tuple(function, begin, end, bucket);
  if (auto it = graphCache_.find(key); it != graphCache_.end()) {
    *out = it->second;
    return Status();
  }
  if (!graphs_ || graphCache_.size() >= kMaxGraphs)
    return Status();
  if (Status s = check(api.cuStreamBeginCapture(stream_, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
                       "cuStreamBeginCapture");
      !s)
    return s;
  Status issued = issue(fn, begin, end, bucket);
  CUgraph graph = nullptr;
  CUresult ended = api.cuStreamEndCapture(stream_, &graph);
  if (!issued) {
    if (graph)
      api.cuGraphDestroy(graph);
    return issued;
  }
  if (Status s = check(ended, "cuStreamEndCapture"); !s)
    return s;
  CUgraphExec exec = nullptr;
  CUresult r = api.cuGraphInstantiateWithFlags(&exec, graph, 0);
  api.cuGraphDestroy(graph);
  if (Status s = check(r, "cuGraphInstantiateWithFlags"); !s)
    return s;
  graphCache_[key] = exec;
  *out = exec;
  return Status();
}

Status CudaDevice::replay(const FunctionSpec &fn, size_t function, size_t begin, size_t end,
                          int64_t T) {
  CUgraphExec exec = nullptr;
  if (Status s = graphFor(fn, function, begin, end, T, &exec); !s)
    return s;
  if (!exec)
    return issue(fn, begin, end, T);
  return check(api_->cuGraphLaunch(exec, stream_),
               "cuGraphLaunch of commands " + std::to_string(begin) + " to " +
                   std::to_string(end - 1));
}

int64_t CudaDevice::bucketOf(const FunctionSpec &fn, int64_t T) const {
  if (!runWordAbi_)
    return T;
  int64_t bucket = 1;
  while (bucket < T && bucket < kBucketStep)
    bucket *= 2;
  if (bucket < T) // a multiple of kBucketStep: at most kBucketStep - 1 tokens more
    bucket = (T + kBucketStep - 1) / kBucketStep * kBucketStep;
  bucket = std::min(bucket, model_.maxTokens());
  // Every grouped GEMM keeps the engine it has at T (the stretches are T's).
  for (const CommandSpec &c : fn.commands)
    if (c.kind == CommandKind::GroupedGemm && !hostGrouped(c, T))
      bucket = std::min(bucket, c.gemvMaxTokens);
  return bucket;
}

Status CudaDevice::setRunWord(int64_t T, CUstream stream) {
  if (!runWordAbi_)
    return Status();
  return check(api_->cuMemsetD32Async(runWord_, static_cast<unsigned>(T), 1, stream),
               "cuMemsetD32Async of the run word");
}

Status CudaDevice::bindBlas(CUstream stream) {
  const Api &api = *api_;
  // cublasSetStream also resets the handle's workspace to cuBLAS's own pool.
  if (cublasStatus_t b = api.cublasSetStream(blas_, stream); b != CUBLAS_STATUS_SUCCESS)
    return cublasError(api, b, "cublasSetStream");
  if (cublasStatus_t b = api.cublasSetWorkspace(blas_, reinterpret_cast<void *>(workspace_),
                                                kWorkspaceBytes);
      b != CUBLAS_STATUS_SUCCESS)
    return cublasError(api, b, "cublasSetWorkspace");
  return Status();
}

Status CudaDevice::enqueue(const FunctionSpec &fn, size_t function, int64_t T,
                           const moert_device_tensor_t *inputs,
                           const moert_device_tensor_t *outputs,
                           const moert_device_tensor_t *aux, void *stream) {
  if (Status s = enqueueOn(fn, function, T, inputs, outputs, aux, static_cast<CUstream>(stream));
      !s)
    return s.prefixed("enqueue '" + fn.name + "' on " + description_ + ", T = " +
                      std::to_string(T) + ": ");
  return Status();
}

template <typename What>
Status CudaDevice::checkCallerTensor(const moert_device_tensor_t &t, uint64_t bytes,
                                     What what) const {
  const Api &api = *api_;
  if (t.device_id != ordinal_)
    return error(MOERT_INVALID_ARGUMENT, what(), " is on cuda:", t.device_id,
                 ", the session on cuda:", ordinal_);
  if (bytes == 0)
    return Status(); // nothing is read or written there
  CUdeviceptr p = reinterpret_cast<uintptr_t>(t.data), start = 0;
  size_t size = 0;
  int ordinal = -1;
  if (api.cuPointerGetAttribute(&start, CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, p) !=
          CUDA_SUCCESS ||
      api.cuPointerGetAttribute(&size, CU_POINTER_ATTRIBUTE_RANGE_SIZE, p) != CUDA_SUCCESS ||
      api.cuPointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, p) !=
          CUDA_SUCCESS)
    return error(MOERT_INVALID_ARGUMENT, what(), ": its data (", t.data,
                 ") is not in device memory the CUDA driver allocated");
  if (ordinal != ordinal_)
    return error(MOERT_INVALID_ARGUMENT, what(), ": its data is on cuda:", ordinal,
                 ", the session on cuda:", ordinal_);
  if (p - start + bytes > size)
    return error(MOERT_INVALID_ARGUMENT, what(), ": its ", bytes, " bytes run ",
                 p - start + bytes - size, " bytes past the end of the allocation that holds "
                 "its data (", size, " bytes)");
  return Status();
}

Status CudaDevice::enqueueOn(const FunctionSpec &fn, size_t function, int64_t T,
                             const moert_device_tensor_t *inputs,
                             const moert_device_tensor_t *outputs,
                             const moert_device_tensor_t *aux, CUstream stream) {
  const Api &api = *api_;
  if (!api.cuPointerGetAttribute || !api.cuStreamIsCapturing)
    return error(MOERT_UNSUPPORTED, "the CUDA driver lacks cuPointerGetAttribute or "
                 "cuStreamIsCapturing, which runs on a caller's stream need");
  // Every grouped GEMM must find its experts' rows on the device, and no
  // exchange may run (they go through the host).
  for (size_t ci = 0; ci < fn.commands.size(); ++ci)
    if (fn.commands[ci].kind == CommandKind::Exchange ||
        fn.commands[ci].kind == CommandKind::ExpertChoice)
      return error(MOERT_UNSUPPORTED, "command ", ci, " (",
                   commandKindName(fn.commands[ci].kind), ") moves rows between ranks "
                   "through the host, which a run on a stream cannot; a sharded artifact runs "
                   "with moert_session_run");
  for (size_t ci = 0; ci < fn.commands.size(); ++ci)
    if (hostGrouped(fn.commands[ci], T)) {
      int64_t limit = INT64_MAX; // the largest T that can
      for (const CommandSpec &c : fn.commands)
        if (c.kind == CommandKind::GroupedGemm)
          limit = std::min<int64_t>(limit, c.gemvKernel >= 0 ? c.gemvMaxTokens : 0);
      return error(MOERT_UNSUPPORTED, "command ", ci, " (GroupedGemm) runs on cuBLAS at this "
                   "T, which reads the experts' row counts back to the host; ",
                   limit > 0 ? "a run on a stream takes T <= " + std::to_string(limit) +
                                   " (the grouped GEMMs' generated kernel; moe-compile "
                                   "--cuda-gemv-max-tokens raises it)"
                             : std::string("the artifact has no generated grouped-GEMM "
                                           "kernel for runs on a stream (moe-compile "
                                           "--cuda-gemv-max-tokens N adds one for T <= N)"));
    }
  if (Status s = check(api.cuCtxSetCurrent(context_), "cuCtxSetCurrent"); !s)
    return s;
  // Messages are built only for an error: a run allocates nothing.
  // `wanted`: only the tensors with data (the auxiliary outputs asked for).
  auto checkAll = [&](const std::vector<TensorSpec> &specs, const moert_device_tensor_t *tensors,
                      const char *kind, bool wanted = false) {
    for (size_t i = 0; i < specs.size(); ++i) {
      if (wanted && !tensors[i].data)
        continue;
      if (Status s = checkCallerTensor(tensors[i], static_cast<uint64_t>(specs[i].bytes.at(T)),
                                       [&] {
                                         return kind + (" " + std::to_string(i)) + " ('" +
                                                specs[i].name + "')";
                                       });
          !s)
        return s;
    }
    return Status();
  };
  if (Status s = checkAll(fn.inputs, inputs, "input"); !s)
    return s;
  if (Status s = checkAll(fn.outputs, outputs, "output"); !s)
    return s;
  if (aux)
    if (Status s = checkAll(fn.auxOutputs, aux, "aux output", /*wanted=*/true); !s)
      return s;
  int status = CU_STREAM_CAPTURE_STATUS_NONE;
  if (Status s = check(api.cuStreamIsCapturing(stream, &status), "cuStreamIsCapturing"); !s)
    return s;
  bool captured = status != CU_STREAM_CAPTURE_STATUS_NONE;
  enqueued_ = true;
  offsetsBytes_ = 0;

  // Outside the caller's capture, the commands are the session's graph for
  // this (function, T), captured on the session's own stream (idle between
  // runs) the first time, and launched on the caller's stream. Inside it, a
  // graph launch cannot be captured: the commands are issued one by one on
  // the caller's stream (and cuBLAS pointed there for the call).
  CUgraphExec exec = nullptr;
  size_t n = fn.commands.size();
  if (!captured && n)
    if (Status s = graphFor(fn, function, 0, n, T, &exec); !s)
      return s;
  auto copy = [&](CUdeviceptr to, CUdeviceptr from, int64_t bytes, const TensorSpec &t,
                  const char *kind) -> Status {
    if (bytes <= 0)
      return Status();
    CUresult r = api.cuMemcpyDtoDAsync(to, from, static_cast<size_t>(bytes), stream);
    return r == CUDA_SUCCESS ? Status()
                             : driverError(api, r, std::string("cuMemcpyDtoDAsync of ") +
                                                       kind + " '" + t.name + "'");
  };
  for (size_t i = 0; i < fn.inputs.size(); ++i)
    if (Status s = copy(arena_ + fn.buffers[fn.inputs[i].buffer].offset,
                        reinterpret_cast<uintptr_t>(inputs[i].data), fn.inputs[i].bytes.at(T),
                        fn.inputs[i], "input");
        !s)
      return s;
  if (Status s = setRunWord(T, stream); !s)
    return s;
  if (exec) {
    if (CUresult r = api.cuGraphLaunch(exec, stream); r != CUDA_SUCCESS)
      return driverError(api, r, "cuGraphLaunch");
  } else if (n) {
    // stream_ and cuBLAS go back to the session's stream however this ends.
    struct OnCallerStream {
      CudaDevice &d;
      CUstream own;
      bool restored = false;
      Status restore() {
        restored = true;
        d.stream_ = own;
        return d.bindBlas(own);
      }
      ~OnCallerStream() {
        if (!restored)
          (void)restore();
      }
    } guard{*this, stream_};
    stream_ = stream;
    Status s = bindBlas(stream);
    if (s)
      s = issue(fn, 0, n, T);
    Status back = guard.restore();
    if (!s)
      return s;
    if (!back)
      return back.prefixed("back to the session's stream: ");
  }
  for (size_t i = 0; i < fn.outputs.size(); ++i)
    if (Status s = copy(reinterpret_cast<uintptr_t>(outputs[i].data),
                        arena_ + fn.buffers[fn.outputs[i].buffer].offset,
                        fn.outputs[i].bytes.at(T), fn.outputs[i], "output");
        !s)
      return s;
  for (size_t i = 0; aux && i < fn.auxOutputs.size(); ++i)
    if (aux[i].data)
      if (Status s = copy(reinterpret_cast<uintptr_t>(aux[i].data),
                          arena_ + fn.buffers[fn.auxOutputs[i].buffer].offset,
                          fn.auxOutputs[i].bytes.at(T), fn.auxOutputs[i], "aux output");
          !s)
        return s;
  return Status();
}

Status CudaDevice::deviceError(void *stream) {
  const Api &api = *api_;
  CUstream caller = static_cast<CUstream>(stream);
  if (Status s = check(api.cuCtxSetCurrent(context_), "cuCtxSetCurrent"); !s)
    return s;
  int status = CU_STREAM_CAPTURE_STATUS_NONE;
  if (api.cuStreamIsCapturing &&
      api.cuStreamIsCapturing(caller, &status) == CUDA_SUCCESS &&
      status != CU_STREAM_CAPTURE_STATUS_NONE)
    return error(MOERT_FAILED_PRECONDITION, "the device's fault word cannot be read while "
                 "the stream is being captured");
  // The word is read, then cleared, both before the wait: nothing of this
  // call is left on the stream when it returns.
  if (Status s = check(api.cuMemcpyDtoHAsync(&hostFault_, faultWord_, sizeof hostFault_, caller),
                       "cuMemcpyDtoHAsync of the fault word");
      !s)
    return s;
  if (Status s = check(api.cuMemsetD32Async(faultWord_, 0, 1, caller),
                       "cuMemsetD32Async of the fault word");
      !s)
    return s;
  if (Status s = check(api.cuStreamSynchronize(caller), "cuStreamSynchronize (the runs)"); !s)
    return s;
  if (hostFault_ == 0)
    return Status();
  hostFault_ = 0;
  return kernelFault("a run enqueued on the stream");
}

Status CudaDevice::run(const FunctionSpec &fn, size_t function, int64_t T) {
  if (Status s = runOnDevice(fn, function, T); !s)
    return s.prefixed("run '" + fn.name + "' on " + description_ + ", T = " +
                      std::to_string(T) + ": ");
  return Status();
}

Status CudaDevice::runOnDevice(const FunctionSpec &fn, size_t function,
                               int64_t T) {
  const Api &api = *api_;
  if (Status s = check(api.cuCtxSetCurrent(context_), "cuCtxSetCurrent"); !s)
    return s;
  uint8_t *hostArena = hostArena_;
  if (!stagingPinned_)
    pinStaging();
  // MOERT_CUDA_PROFILE: events_[0] before the inputs' copies, [1 + i] before
  // command i, [n + 1] before the outputs' copies, [n + 2] after them.
  size_t n = fn.commands.size();
  if (profiling_) {
    while (events_.size() < n + 3) {
      CUevent e = nullptr;
      if (Status s = check(api.cuEventCreate(&e, 0), "cuEventCreate"); !s)
        return s;
      events_.push_back(e);
    }
    if (Status s = check(api.cuEventRecord(events_[0], stream_), "cuEventRecord"); !s)
      return s;
  }
  for (const TensorSpec &t : fn.inputs) {
    int64_t bytes = t.bytes.at(T);
    uint64_t offset = fn.buffers[t.buffer].offset;
    if (bytes > 0)
      if (Status s = check(api.cuMemcpyHtoDAsync(arena_ + offset, hostArena + offset,
                                                 static_cast<size_t>(bytes), stream_),
                           "cuMemcpyHtoDAsync of input '" + t.name + "'");
          !s)
        return s;
  }
  offsetsBytes_ = 0; // offsets are read afresh in every run
  if (Status s = setRunWord(T, stream_); !s)
    return s;
  size_t begin = 0;
  int64_t bucket = bucketOf(fn, T); // a graph's extents are its bucket's
  if (profiling_) {
    if (Status s = issueProfiled(fn, T); !s)
      return s;
    begin = n + 1; // nothing left to issue
  }
  for (size_t ci = begin; ci <= fn.commands.size(); ++ci) {
    bool host = ci < fn.commands.size() && onHost(fn.commands[ci], T);
    if (ci < fn.commands.size() && !host)
      continue;
    // Commands [begin, ci): one stretch, replayed from a graph when one was
    // captured at this T.
    noteWrites(fn, begin, ci, bucket);
    if (ci > begin)
      if (Status s = replay(fn, function, begin, ci, T); !s)
        return s;
    if (host)
      if (Status s = hostCommand(fn, fn.commands[ci], ci, T); !s)
        return s;
    begin = ci + 1;
  }
  auto copyOut = [&](const std::vector<TensorSpec> &list) -> Status {
    for (const TensorSpec &t : list) {
      int64_t bytes = t.bytes.at(T);
      uint64_t offset = fn.buffers[t.buffer].offset;
      if (bytes > 0)
        if (Status s = check(api.cuMemcpyDtoHAsync(hostArena + offset, arena_ + offset,
                                                   static_cast<size_t>(bytes), stream_),
                             "cuMemcpyDtoHAsync of output '" + t.name + "'");
            !s)
          return s;
    }
    return Status();
  };
  if (Status s = copyOut(fn.outputs); !s)
    return s;
  if (Status s = copyOut(fn.auxOutputs); !s)
    return s;
  if (Status s = check(api.cuMemcpyDtoHAsync(&hostFault_, faultWord_, sizeof hostFault_,
                                             stream_),
                       "cuMemcpyDtoHAsync of the fault word");
      !s)
    return s;
  if (profiling_)
    if (Status s = check(api.cuEventRecord(events_[n + 2], stream_), "cuEventRecord"); !s)
      return s;
  if (Status s = check(api.cuStreamSynchronize(stream_), "cuStreamSynchronize (the run)");
      !s)
    return s;
  if (hostFault_ != 0) {
    hostFault_ = 0;
    if (Status s = check(api.cuMemsetD32Async(faultWord_, 0, 1, stream_),
                         "cuMemsetD32Async of the fault word");
        !s)
      return s;
    return kernelFault();
  }
  // The first run of a function at a T loads cuBLAS's kernels: it is seen,
  // not counted, and its times are not read.
  if (profiling_) {
    if (double *acc = profile_.begin(function, T, n + 2))
      for (size_t i = 0; i < n + 2; ++i) {
        float ms = 0;
        if (Status s = check(api.cuEventElapsedTime(&ms, events_[i], events_[i + 1]),
                             "cuEventElapsedTime");
            !s)
          return s;
        acc[i] = ms;
      }
    profile_.commit(function, T);
  }
  return Status();
}

Status CudaDevice::issueProfiled(const FunctionSpec &fn, int64_t T) {
  const Api &api = *api_;
  for (size_t ci = 0; ci <= fn.commands.size(); ++ci) {
    if (Status s = check(api.cuEventRecord(events_[ci + 1], stream_), "cuEventRecord"); !s)
      return s;
    if (ci == fn.commands.size())
      break;
    // A host command notes its own writes.
    bool host = onHost(fn.commands[ci], T);
    if (!host)
      noteWrites(fn, ci, ci + 1, T);
    Status s = host ? hostCommand(fn, fn.commands[ci], ci, T) : issue(fn, ci, ci + 1, T);
    if (!s)
      return s;
  }
  return Status();
}

void CudaDevice::printProfile() const {
  profile_.print(model_, "CUDA", fp8Engine_.empty() ? description_ : description_ + "; " + fp8Engine_,
                 "the first at each T loads cuBLAS's kernels",
                 [&](const FunctionSpec &fn, int64_t T, size_t i) {
                   size_t n = fn.commands.size();
                   if (i == 0)
                     return CommandProfile::Line{"-", "Copy", "inputs, host to device"};
                   if (i == n + 1)
                     return CommandProfile::Line{"-", "Copy", "outputs, device to host"};
                   const CommandSpec &c = fn.commands[i - 1];
                   std::string what = CommandProfile::what(model_, c);
                   // Which engine ran this GEMM at this T.
                   bool lt = fp8Lt_ && c.actQuantKernel >= 0;
                   if (c.kind == CommandKind::GroupedGemm)
                     what += !hostGrouped(c, T) ? " gemv" : lt ? " cuBLASLt" : " cuBLAS";
                   else if (c.kind == CommandKind::Gemm && lt)
                     what += " cuBLASLt";
                   return CommandProfile::Line{std::to_string(i - 1),
                                               commandKindName(c.kind), what};
                 });
}

} // namespace moert::rt::cuda
