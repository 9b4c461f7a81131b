//===- CudaDevice.h - a session's state on an NVIDIA GPU --------------------===//
//
// What a CUDA session holds on its device, all made when the session is
// created: the device's primary context, a stream, a cuBLAS handle bound to
// it, the kernels' module (PTX compiled by the driver, or a cubin), the
// weights (uploaded by the model's first session on this GPU and shared by
// its others: DeviceWeights.h), and the arena (the memory plan's offsets, on
// the device). A run copies the inputs in, issues the commands on the stream and
// copies the outputs (and auxiliary outputs) back into the session's host
// arena, from which the C API's views read.
//
// Stretches of commands between two grouped GEMMs are captured into CUDA
// graphs, one per (function, stretch, T's bucket: the next power of two up
// to 128, then the next multiple of 128),
// and replayed by later runs of the bucket: the kernels read the run's T
// from the run word, which every run sets first (docs/artifact.md, "CUDA
// kernel ABI"), and launch over the bucket's extents, their items past the
// run's own stopping at once. A grouped GEMM reads the experts' row offsets back to the host (its
// per-expert cuBLAS calls need their row counts), so it is issued directly;
// it reuses the offsets the previous one read when no command in between may
// have written their bytes (the gate, up and down GEMMs of one dispatch share
// them), so a layer waits for the device once.
//
// MOERT_CUDA_PROFILE=1 times every command (and the copies in and out) with
// events (graphs are then off) and prints, for each function and T run, the
// per-command times to stderr when the session ends.
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_CUDA_CUDADEVICE_H
#define MOERT_SRC_CUDA_CUDADEVICE_H

#include "../CommandProfile.h"
#include "../Device.h"
#include "CudaApi.h"
#include "DeviceWeights.h"

#include <map>
#include <memory>
#include <tuple>
#include <vector>

namespace moert::rt::cuda {

class CudaDevice : public Device {
public:
  /// Binds `model` (a CUDA artifact) to GPU `ordinal`; its workspace comes
  /// from options->device_workspace when given.
  static Status create(const Model &model, int ordinal, const moert_session_options_t *options,
                       std::unique_ptr<Device> *out);
  /// Where a session's device memory besides the weights lies, from its
  /// start: cuBLAS's workspace, the arena, the fault and run words, the bf16 copy of
  /// one fp8 or MXFP4 matrix, the e4m3 copy of an fp8 GEMM's A for cuBLASLt
  /// (its codes, its scales, a GEMM's two offsets; each 256-byte aligned).
  struct Workspace {
    uint64_t arenaAt, faultAt, dequantAt, dequantBytes, actAt, actCodeBytes, actScaleBytes,
        total;
  };
  static Workspace workspace(const Model &model);
  ~CudaDevice() override;
  CudaDevice(const CudaDevice &) = delete;
  CudaDevice &operator=(const CudaDevice &) = delete;

  /// The host arena only stages the inputs and receives the outputs.
  Status bind(uint8_t *hostArena) override {
    hostArena_ = hostArena;
    return Status();
  }
  /// Copies the inputs from the host arena (at their buffers' offsets) to
  /// the device, issues the commands, and copies the outputs and auxiliary
  /// outputs back; errors are prefixed with the function, the GPU and T.
  Status run(const FunctionSpec &fn, size_t function, int64_t T) override;
  /// Enqueues the run on the caller's stream (moert_session_enqueue): the
  /// inputs and outputs copied device to device, the commands in between
  /// (one stretch: replayed from a graph, or issued into the caller's
  /// capture), nothing read back. Refused when a grouped GEMM would run on
  /// cuBLAS at this T (it reads the experts' row counts to the host).
  Status enqueue(const FunctionSpec &fn, size_t function, int64_t T,
                 const moert_device_tensor_t *inputs, const moert_device_tensor_t *outputs,
                 const moert_device_tensor_t *aux, void *stream) override;
  /// Reads and clears the fault word after the caller's stream's work.
  Status deviceError(void *stream) override;
  /// A sharded artifact (expert parallelism): uploads the weights, each
  /// slot-only weight as this rank's slots (DeviceWeights' SlotLayout), and
  /// runs the Exchange commands through `exchange` on the host: their
  /// operands copied to the host arena, the communicator's rounds, the
  /// results copied back (docs/parallelism.md, "On GPUs").
  Status attachExchange(ExpertExchange *exchange) override;
  /// The host side of a run is one thread.
  int32_t threads() const override { return 1; }

  /// "NVIDIA H100 80GB HBM3 (sm_90)".
  const std::string &description() const { return description_; }

private:
  Status runOnDevice(const FunctionSpec &fn, size_t function, int64_t T);
  Status enqueueOn(const FunctionSpec &fn, size_t function, int64_t T,
                   const moert_device_tensor_t *inputs, const moert_device_tensor_t *outputs,
                   const moert_device_tensor_t *aux, CUstream stream);
  /// That the caller's tensor `t` is on this GPU and its first `bytes` bytes
  /// lie inside one of the driver's allocations; what() names it in an error.
  template <typename What>
  Status checkCallerTensor(const moert_device_tensor_t &t, uint64_t bytes, What what) const;
  /// The graph of commands [begin, end) of `fn` at T: the one captured
  /// before, or captured on the stream now (while graphs are on and fewer
  /// than kMaxGraphs exist); null when there is none.
  Status graphFor(const FunctionSpec &fn, size_t function, size_t begin, size_t end, int64_t T,
                  CUgraphExec *out);
  /// Commands [begin, end) of `fn` on the stream: their graph launched, or
  /// issued one by one when there is none.
  Status replay(const FunctionSpec &fn, size_t function, size_t begin, size_t end, int64_t T);
  /// Points cuBLAS at `stream` with the session's fixed workspace.
  Status bindBlas(CUstream stream);
  explicit CudaDevice(const Model &model) : model_(model) {}
  Status init(int ordinal, const moert_session_options_t *options);
  CUdeviceptr address(const FunctionSpec &fn, const Operand &op) const;
  /// Issues commands [begin, end) of `fn` on the stream.
  Status issue(const FunctionSpec &fn, size_t begin, size_t end, int64_t T);
  /// Zeroes `bytes` bytes at `at` on the stream (32-bit words when `at` and
  /// `bytes` are multiples of 4); an error names the command (`what`) and
  /// the bytes (`name`).
  Status zero(CUdeviceptr at, uint64_t bytes, const std::string &what, const char *name);
  /// Launches kernel `kernel` over items(T) items on `count` buffers (+ the
  /// fault word, the run word, items' per_token and fixed; before format 7,
  /// + the fault word, T and items(T)).
  Status launch(uint32_t kernel, const CUdeviceptr *buffers, size_t count, Affine items,
                int64_t T, const std::string &what);
  /// The T a graph of `fn`'s run at T is captured at: the next power of two
  /// up to 128, then the next multiple of 128, at most max_tokens and at most
  /// the gemv_max_tokens of each grouped GEMM that runs its generated kernel
  /// at T (so that it does at T' too); T itself before format 7, whose
  /// kernels take T.
  int64_t bucketOf(const FunctionSpec &fn, int64_t T) const;
  /// Writes the run's T into the run word on `stream` (format 7).
  Status setRunWord(int64_t T, CUstream stream);
  /// Whether command `c` at T is a grouped GEMM that runs on the host's
  /// schedule (cuBLAS per expert, offsets read back) rather than inside a
  /// stretch (its generated kernel: T <= gemvMaxTokens).
  static bool hostGrouped(const CommandSpec &c, int64_t T) {
    return c.kind == CommandKind::GroupedGemm &&
           !(c.gemvKernel >= 0 && T <= c.gemvMaxTokens);
  }
  /// Whether command `c` at T runs on the host's schedule between stretches
  /// (hostCommand): a host grouped GEMM or an exchange.
  static bool onHost(const CommandSpec &c, int64_t T) {
    return hostGrouped(c, T) || c.kind == CommandKind::Exchange ||
           c.kind == CommandKind::ExpertChoice;
  }
  Status hostCommand(const FunctionSpec &fn, const CommandSpec &c, size_t index, int64_t T);
  Status groupedGemm(const FunctionSpec &fn, const CommandSpec &c, size_t index,
                     int64_t T);
  /// The bytes of one of a grouped GEMM's B matrices on the device, and of
  /// an fp8 one's block scales.
  static uint64_t matrixBytes(const CommandSpec &c);
  /// The rows of GEMM `c`'s C that its buffer holds (at max_tokens).
  int64_t bufferRows(const FunctionSpec &fn, const CommandSpec &c) const;
  static uint64_t matrixScaleBytes(const CommandSpec &c);
  /// Exchange command `c`: its operands down to the host arena, the
  /// exchange's rounds there, its results up (the rows received, or the
  /// results back); with an NCCL communicator only the plan goes through
  /// the host and the rows move from GPU to GPU.
  Status exchange(const FunctionSpec &fn, const CommandSpec &c, size_t index, int64_t T);
  /// Operand `op`'s copy in the host arena, whose layout mirrors the
  /// device arena's (the exchanges stage their operands there).
  uint8_t *hostCopy(const FunctionSpec &fn, const Operand &op) const;
  /// Copies `bytes` bytes of `op` between the device and its host copy on
  /// the stream (to the host with `toHost`); nothing for bytes <= 0. An
  /// error names `what` and `name`.
  Status stage(const FunctionSpec &fn, const Operand &op, int64_t bytes, bool toHost,
               const std::string &what, const char *name);
  /// Waits for the stream: the commands before `what`.
  Status synchronize(const std::string &what);
  /// ExpertChoice command `c`: the scores down to the host arena, the
  /// choice over the ranks there, this rank's rows up.
  Status choose(const FunctionSpec &fn, const CommandSpec &c, size_t index, int64_t T);
  /// C[m, n] (+)= A · Bᵀ by cuBLAS; for an f8e4m3 B (`scales` its
  /// matrix's scales) or an mxfp4 one, after the dequant kernel wrote B as
  /// bf16 to dequant_.
  Status gemm(const CommandSpec &c, CUdeviceptr a, CUdeviceptr b,
              CUdeviceptr scales, CUdeviceptr cOut, int64_t m, bool accumulate,
              int64_t T, const std::string &what);
  /// The engine of fp8 GEMMs with an act_quant kernel on a GPU of compute
  /// capability 9.0 (fp8Lt_; docs/runtime.md, "fp8 GEMMs on cuBLASLt"):
  /// the kernel quantizes A's rows (buffers a, the groups' offsets, the
  /// codes and scales at actCodes_ / actScales_; extent rows(T)) ...
  Status quantizeActivations(const CommandSpec &c, CUdeviceptr a, CUdeviceptr offsets,
                             int64_t T, const std::string &what);
  /// ... then group `group`'s rows [r0, r0 + m) of C (`out`, C's first row;
  /// `cRows` rows fit its buffer) are one cuBLASLt GEMM over B's matrix `b`
  /// and its scales, of m rounded up to 8 rows (the pad rows are zero:
  /// they land on the next group's rows, which its GEMM writes after, or on
  /// rows past the groups; past cRows, the last m % 8 rows go through
  /// dequant_ instead).
  Status ltGroup(const CommandSpec &c, CUdeviceptr b, CUdeviceptr scales, CUdeviceptr out,
                 int64_t r0, int64_t m, int64_t group, int64_t cRows, const std::string &what);
  /// D[cols, n] = (q · scales) · (b · bScales)ᵀ: one cublasLtMatmul.
  Status ltMatmul(const CommandSpec &c, CUdeviceptr b, CUdeviceptr bScales, CUdeviceptr q,
                  CUdeviceptr qScales, CUdeviceptr d, int64_t cols, const std::string &what);
  /// The scales of weight operand `b` (an f8e4m3 weight's), or 0.
  CUdeviceptr scalesAddress(const Operand &b) const;
  Status check(CUresult r, const std::string &what) const;
  /// Forgets the offsets read back when a command of [begin, end) may write
  /// their bytes (a launch's operands, a GEMM's C, a fill's or copy's
  /// destination).
  void noteWrites(const FunctionSpec &fn, size_t begin, size_t end, int64_t T);
  /// Issues every command of `fn` with an event before each and after the
  /// last (MOERT_CUDA_PROFILE).
  Status issueProfiled(const FunctionSpec &fn, int64_t T);
  void printProfile() const;
  /// Page-locks the ranges of the host arena that runs copy to and from (every
  /// function's inputs and outputs at max_tokens), so copies run at the
  /// link's speed; where the driver refuses, they stay pageable.
  /// Done once, at the first run (the host arena is bound once).
  void pinStaging();

  const Model &model_;
  const Api *api_ = nullptr;
  CUdevice device_ = 0;
  int ordinal_ = 0;
  bool retained_ = false;
  CUcontext context_ = nullptr;
  CUstream stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  CUmodule module_ = nullptr;
  std::vector<CUfunction> kernels_;
  /// The weights, shared with the model's other sessions on this GPU (with
  /// the same slots, for a sharded artifact).
  std::shared_ptr<const DeviceWeights> weights_;
  /// A sharded artifact's exchange (attachExchange), or null.
  ExpertExchange *exchange_ = nullptr;
  /// Its communicator moves device memory (NCCL): the rows stay on the GPU.
  bool deviceRows_ = false;
  CUdeviceptr arena_ = 0;
  /// The kernels' fault word (after the arena, in its allocation): a kernel
  /// stores 1 there on an out-of-range data-derived index; read back with
  /// the outputs at the end of each run.
  CUdeviceptr faultWord_ = 0;
  /// The run word (the run's T as an i32, next to the fault word), which
  /// the kernels of a format-7 artifact read (runWordAbi_).
  CUdeviceptr runWord_ = 0;
  bool runWordAbi_ = false;
  int32_t hostFault_ = 0;
  CUdeviceptr workspace_ = 0;
  /// Whether workspace_ and arena_ are the session's own allocations (not
  /// carved from the caller's device_workspace).
  bool ownsWorkspace_ = true;
  /// A run was enqueued on a caller's stream (the destructor then waits for
  /// the context, not only for the session's stream).
  bool enqueued_ = false;
  /// The bf16 copy of one f8e4m3 or mxfp4 matrix that cuBLAS reads (after
  /// the fault word, in the arena's allocation; the largest such matrix's
  /// bytes).
  CUdeviceptr dequant_ = 0;
  /// cuBLASLt's fp8 engine: in use on this GPU (compute capability 9.0,
  /// cuBLASLt >= 12.9, MOERT_CUDA_FP8_GEMM not "dequant"), its handle, the
  /// quantized A (codes, scales) and a GEMM's offsets {0, rows} after the
  /// copy buffer, and the algorithms found per (n, k, columns, C type).
  bool fp8Lt_ = false;
  const LtApi *lt_ = nullptr;
  cublasLtHandle_t ltHandle_ = nullptr;
  CUdeviceptr actCodes_ = 0, actScales_ = 0, actOffsets_ = 0;
  std::map<std::tuple<int64_t, int64_t, int64_t, int>, cublasLtMatmulAlgo_t> ltAlgos_;
  std::vector<int32_t> offsets_; // a grouped GEMM's offsets, read back
  // Where offsets_ came from: [offsetsAt_, + offsetsBytes_) of the arena;
  // 0 bytes when nothing valid was read in this run.
  uint64_t offsetsAt_ = 0, offsetsBytes_ = 0;
  bool graphs_ = true;
  /// By (function, first command, end, T's bucket).
  std::map<std::tuple<size_t, size_t, size_t, int64_t>, CUgraphExec> graphCache_;
  std::string description_;
  /// Which engine runs the fp8 GEMMs that record cuBLASLt's, and why
  /// (MOERT_CUDA_PROFILE prints it); empty without such GEMMs.
  std::string fp8Engine_;
  // A Launch command's buffer addresses and cuLaunchKernel's parameter
  // pointers, reused so that a launch allocates nothing once they have grown.
  std::vector<CUdeviceptr> launchBuffers_;
  std::vector<void *> launchParams_;
  // MOERT_CUDA_PROFILE: events_[0] precedes the inputs' copies, events_[i + 1]
  // command i (and events_[n + 1] the outputs' copies); the profile's slots
  // are the n + 2 intervals between them.
  bool profiling_ = false;
  std::vector<CUevent> events_;
  CommandProfile profile_;
  // The session's host arena (bind); its input and output ranges are
  // page-locked (cuMemHostRegister) for fast copies once stagingPinned_.
  uint8_t *hostArena_ = nullptr;
  bool stagingPinned_ = false;
  std::vector<void *> pinned_;
};

} // namespace moert::rt::cuda

#endif // MOERT_SRC_CUDA_CUDADEVICE_H
