/*===- moert/moert.h - the moec runtime's C API --------------------------===*
 *
 * libmoert loads a .moeb artifact written by moe-compile, checks it
 * (docs/artifact.md, "What the loader checks"), and runs its functions.
 *
 * Conventions
 * - Every fallible call returns a moert_status_t *: NULL means success;
 *   anything else is an error the caller owns and frees with
 *   moert_status_free(). No call throws, aborts, or exits the process.
 * - Handles are opaque. Objects a call creates through an out-parameter are
 *   owned by the caller and freed with the matching *_free (which accept NULL).
 * - Strings returned by the API are owned by the object they came from and live
 *   as long as it does; moert_version(), moert_backends() and
 *   moert_status_code_name() return static strings.
 *
 * Threads
 * - A model is immutable once loaded: any number of threads may query it and
 *   create sessions from it concurrently.
 * - A session is used by one thread at a time (run, outputs, free): a call
 *   that enters while another thread is inside one (run or outputs) fails
 *   with MOERT_FAILED_PRECONDITION instead of racing; different
 *   sessions, of one model or several, run concurrently on different threads.
 * - A session keeps its model alive: moert_model_free() may be called while
 *   sessions made from it still exist.
 *
 * See docs/runtime.md for a walk-through.
 *===---------------------------------------------------------------------===*/
#ifndef MOERT_MOERT_H
#define MOERT_MOERT_H

#include <stddef.h>
#include <stdint.h>

#if defined(MOERT_BUILDING_LIBRARY)
#define MOERT_API __attribute__((visibility("default")))
#else
#define MOERT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define MOERT_VERSION_MAJOR 0
#define MOERT_VERSION_MINOR 1
#define MOERT_VERSION_PATCH 0

/** The largest tensor rank the API carries (inputs, outputs, aux outputs). */
#define MOERT_MAX_RANK 8

/* ----------------------------------------------------------------------- */
/* Status                                                                  */
/* ----------------------------------------------------------------------- */

typedef enum moert_status_code_t {
  MOERT_OK = 0,
  /** A bad argument: NULL where a value is needed, an input of the wrong
   *  shape or dtype, a token count outside 1..max_tokens (0..max_tokens for
   *  a rank of a sharded artifact), bad options. */
  MOERT_INVALID_ARGUMENT = 1,
  /** A name that does not exist: function, output index, file. */
  MOERT_NOT_FOUND = 2,
  /** The file could not be read. */
  MOERT_IO_ERROR = 3,
  /** The artifact is truncated, corrupted or malformed. */
  MOERT_INVALID_ARTIFACT = 4,
  /** Valid, but not for this runtime: another format version, a target or
   *  device backend that is not compiled in. */
  MOERT_UNSUPPORTED = 5,
  /** Memory (or threads) could not be allocated. */
  MOERT_OUT_OF_MEMORY = 6,
  /** A check made while running failed (e.g. invalid expert offsets). The
   *  session stays usable; the outputs of the failed run are undefined. */
  MOERT_EXECUTION_ERROR = 7,
  /** A host code object could not be loaded or a kernel resolved. */
  MOERT_LOAD_ERROR = 8,
  /** A call made in the wrong state (e.g. reading outputs before a run). */
  MOERT_FAILED_PRECONDITION = 9,
  MOERT_INTERNAL = 10
} moert_status_code_t;

typedef struct moert_status moert_status_t;

/** The code of `status`; MOERT_OK for NULL. */
MOERT_API moert_status_code_t moert_status_code(const moert_status_t *status);
/** The message of `status` (one line, no trailing newline); "ok" for NULL. */
MOERT_API const char *moert_status_message(const moert_status_t *status);
/** Frees a status; NULL is fine. */
MOERT_API void moert_status_free(moert_status_t *status);
/** "ok", "invalid argument", "not found", ... (static). */
MOERT_API const char *moert_status_code_name(moert_status_code_t code);

/* ----------------------------------------------------------------------- */
/* Library                                                                 */
/* ----------------------------------------------------------------------- */

/** The runtime's version, e.g. "0.2.0". */
MOERT_API const char *moert_version(void);
/** The device backends compiled in, comma-separated: "cpu,cuda". The CUDA
 *  backend loads the driver and cuBLAS when a CUDA session is created. */
MOERT_API const char *moert_backends(void);
/** The newest .moeb format version this runtime reads (FileHeader.format_version;
 *  it reads every version from 4 up to this one). */
MOERT_API uint32_t moert_format_version(void);

/* ----------------------------------------------------------------------- */
/* Tensors                                                                 */
/* ----------------------------------------------------------------------- */

/** Element types; the values are the artifact's (schema DType). */
typedef enum moert_dtype_t {
  MOERT_F32 = 0,
  MOERT_F16 = 1,
  MOERT_BF16 = 2,
  MOERT_I32 = 3,
  /** fp8 e4m3 with block scales: an artifact's weights only, never a
   *  function's input or output. */
  MOERT_F8E4M3 = 4,
  /** MXFP4: e2m1 codes with an e8m0 scale per 32 values, in MXFP4 panels
   *  (moert/mxfp4.h): an artifact's weights only, never a function's input
   *  or output. */
  MOERT_MXFP4 = 5,
  /** int8 codes with an f16 scale per group of 32, 64 or 128 values, in
   *  integer panels (moert/intq.h): an artifact's weights only. */
  MOERT_INT8 = 6,
  /** int4 codes with an f16 scale and a zero point per group, in integer
   *  panels (moert/intq.h): an artifact's weights only. */
  MOERT_INT4 = 7
} moert_dtype_t;

/** Bytes per element (4, 2, 2, 4, 1); 0 for a value that is not a dtype
 *  and for MXFP4, INT8 and INT4, whose panels hold their scales among the
 *  codes (no whole bytes per element). */
MOERT_API size_t moert_dtype_size(moert_dtype_t dtype);
/** "f32", "f16", "bf16", "i32", "f8e4m3", "mxfp4", "int8", "int4"; "?" for a
 *  value that is not a dtype. */
MOERT_API const char *moert_dtype_name(moert_dtype_t dtype);

/** A dense, row-major tensor the caller passes in or receives.
 *  Inputs: dtype, rank, shape and data describe the caller's array; `bytes`
 *  is the size of `data` (at least dtype size x prod(shape)).
 *  Outputs given to moert_session_run: `data` and `bytes` are the caller's
 *  buffer; the run fills in dtype, rank and shape. Views from
 *  moert_session_output(): every field is filled in by the runtime. */
typedef struct moert_tensor_t {
  moert_dtype_t dtype;
  int32_t rank;
  int64_t shape[MOERT_MAX_RANK];
  void *data;
  size_t bytes;
} moert_tensor_t;

/** What a function declares about one of its tensors. */
typedef struct moert_tensor_info_t {
  const char *name;   /* owned by the model */
  moert_dtype_t dtype;
  int32_t rank;
  int64_t shape[MOERT_MAX_RANK]; /* -1 marks the token dimension (size T) */
} moert_tensor_info_t;

typedef enum moert_tensor_kind_t {
  MOERT_TENSOR_INPUT = 0,
  MOERT_TENSOR_OUTPUT = 1,
  /** Auxiliary outputs, e.g. "router_stats.<i>" (docs/artifact.md). */
  MOERT_TENSOR_AUX_OUTPUT = 2
} moert_tensor_kind_t;

/* ----------------------------------------------------------------------- */
/* Models                                                                  */
/* ----------------------------------------------------------------------- */

typedef struct moert_model moert_model_t;

/** When the checksums of the weights are checked (docs/artifact.md,
 *  "Verification"). Both modes check the header, the table and the code
 *  objects at load, and neither ever runs on a weight whose checksum failed:
 *  the failure is a MOERT_INVALID_ARTIFACT status naming the weight. */
typedef enum moert_verify_t {
  /** At load: every byte of the artifact (the weights in parallel). A model
   *  that loads is intact; load time is bounded by reading the file. */
  MOERT_VERIFY_FULL = 0,
  /** At load: the header, the table and the code objects only. Each weight is
   *  checked once, before its first use: the first run of a function that
   *  reads it (that run fails if it is corrupted), or a GPU session's upload.
   *  Loading reads almost nothing; bytes no command reads are never checked. */
  MOERT_VERIFY_LAZY = 1
} moert_verify_t;

/** How an artifact is loaded. Always fill one with moert_load_options_init
 *  first: fields may be added. Which artifacts to trust is the caller's
 *  decision (docs/reliability.md, "Threat model"): an artifact carries native
 *  code that sessions run, so load only artifacts you would run as programs,
 *  or require a signature by a key you trust. */
typedef struct moert_load_options_t {
  moert_verify_t verify;
  /** Ed25519 public keys (32 bytes each, num_trusted_keys of them, back to
   *  back) whose signatures are trusted (docs/artifact.md, "Signatures").
   *  With any, a signed artifact must be signed by one of them; a signature
   *  is always checked, and with no trusted key proves only that the file is
   *  as its signer wrote it. */
  const uint8_t *trusted_keys;
  size_t num_trusted_keys;
  /** Nonzero: refuse (MOERT_INVALID_ARTIFACT) an artifact not signed by a
   *  trusted key, before anything in it is used. Needs trusted keys. */
  int32_t require_signature;
  /** The most memory, in bytes, a model may make a session allocate:
   *  synthetic weights in all, and each function's arena
   *  (MOERT_OUT_OF_MEMORY at load beyond it); 0: the machine's physical
   *  memory. */
  uint64_t memory_budget;
} moert_load_options_t;

/** Fills in the defaults (verify = MOERT_VERIFY_FULL, no trusted key, no
 *  signature required, memory_budget 0). */
MOERT_API void moert_load_options_init(moert_load_options_t *options);

/** Loads and checks the artifact at `path`, mapped read-only and shared: the
 *  processes that serve one artifact share its pages through the page cache,
 *  and the file must not be changed or truncated while a model uses it.
 *  NULL options are the defaults. On success *model is a new model; on
 *  failure *model is NULL and the status says what was wrong. */
MOERT_API moert_status_t *moert_model_load_file_with(const char *path,
                                                     const moert_load_options_t *options,
                                                     moert_model_t **model);
/** moert_model_load_file_with(path, NULL, model). */
MOERT_API moert_status_t *moert_model_load_file(const char *path,
                                                moert_model_t **model);
/** The same from `size` bytes at `data`, which are copied: the caller may
 *  free them as soon as the call returns. */
MOERT_API moert_status_t *moert_model_load_memory_with(const void *data, size_t size,
                                                       const moert_load_options_t *options,
                                                       moert_model_t **model);
/** moert_model_load_memory_with(data, size, NULL, model). */
MOERT_API moert_status_t *moert_model_load_memory(const void *data, size_t size,
                                                  moert_model_t **model);
/** Drops the caller's reference; sessions keep the model alive. NULL is fine. */
MOERT_API void moert_model_free(moert_model_t *model);

/** The largest token count T a run accepts (runs take 1 <= T <= max_tokens;
 *  0 <= T on a rank of a sharded artifact). */
MOERT_API int64_t moert_model_max_tokens(const moert_model_t *model);
/** The artifact's producer string, e.g. "moec 0.2.0". */
MOERT_API const char *moert_model_producer(const moert_model_t *model);
/** The artifact's target: "cpu" (target CpuX86_64) or "cuda". */
MOERT_API const char *moert_model_target(const moert_model_t *model);
/** The artifact's target_arch string, e.g. "x86-64". */
MOERT_API const char *moert_model_target_arch(const moert_model_t *model);

MOERT_API size_t moert_model_num_functions(const moert_model_t *model);
/** The name of function `index`; NULL when out of range. */
MOERT_API const char *moert_model_function_name(const moert_model_t *model,
                                                size_t index);
/** Finds a function by name (MOERT_NOT_FOUND lists the functions). A NULL
 *  name picks the only function, and fails if there are several. */
MOERT_API moert_status_t *moert_model_find_function(const moert_model_t *model,
                                                    const char *name,
                                                    size_t *index);
/** How many inputs, outputs or aux outputs function `function` has (0 when
 *  `function` is out of range). */
MOERT_API size_t moert_model_num_tensors(const moert_model_t *model,
                                         size_t function,
                                         moert_tensor_kind_t kind);
/** Describes input/output/aux output `index` of function `function`. */
MOERT_API moert_status_t *moert_model_tensor_info(const moert_model_t *model,
                                                  size_t function,
                                                  moert_tensor_kind_t kind,
                                                  size_t index,
                                                  moert_tensor_info_t *info);

/* ----------------------------------------------------------------------- */
/* Sessions                                                                */
/* ----------------------------------------------------------------------- */

typedef struct moert_session moert_session_t;

typedef struct moert_session_options_t {
  /** Threads that run a command's chunks and GEMM tiles (the calling thread
   *  counts as one): 0 = one per CPU this process may run on (its affinity
   *  mask); at most 1024. */
  int32_t threads;
  /** CUDA only: device memory the session takes its workspace from (cuBLAS's
   *  workspace, the arena, the fault word and the copy buffer of fp8 / MXFP4
   *  matrices) instead of allocating it, for a server that keeps its own
   *  pool: on the session's GPU, 256-byte aligned, at least
   *  moert_model_device_workspace_bytes(model) bytes (device_workspace_bytes),
   *  used by this session alone and valid until it is freed. NULL (the
   *  default): the session allocates its workspace. A CPU session refuses a
   *  non-NULL one. */
  void *device_workspace;
  size_t device_workspace_bytes;
  /** Expert parallelism (an artifact compiled with moe-compile
   *  --shard-experts; docs/parallelism.md): this rank's communicator, which
   *  must outlive the session. Required by such an artifact, refused by any
   *  other. Creating the session is then a collective: every rank creates
   *  its session with the same artifact and placement (checked), and every
   *  run is one: every rank runs the same function, each on its own tokens
   *  (T = 0 allowed). */
  const struct moert_communicator_t *communicator;
  /** The placement: placement[r · S + s] is the expert in slot s of rank r
   *  (S: the artifact's slots per rank), or -1 for an empty slot;
   *  placement_size = ranks · S. Every expert in at least one slot, no expert
   *  twice on one rank. NULL: slot s of rank r holds expert r · S + s (-1
   *  past the last expert). */
  const int32_t *placement;
  size_t placement_size;
} moert_session_options_t;

/** Fills in the defaults (threads = 0, no device workspace, no
 *  communicator, the default placement). */
MOERT_API void moert_session_options_init(moert_session_options_t *options);

/** Creates a session of `model` on `device`: "cpu" (or "cpu:0") for an
 *  artifact of the cpu target, "cuda" (= "cuda:0") or "cuda:N" for one of the
 *  cuda target; the other pairings and unknown devices give
 *  MOERT_INVALID_ARGUMENT. NULL device means "cpu", NULL options the defaults.
 *  The session allocates its arena (the largest function's arena_bytes,
 *  64-byte aligned), starts its threads, loads the model's host code objects
 *  and resolves every kernel, here and only here: runs allocate nothing and
 *  start no thread.
 *  On a GPU the session opens the CUDA driver and cuBLAS (MOERT_UNSUPPORTED,
 *  saying which, when they or a GPU are missing), loads the kernels, uploads
 *  the weights (once per model and GPU: a live session of the same
 *  moert_model_t on the same GPU lends its copy, which the last such session
 *  frees; two loads of one file are two models; a rank of a sharded
 *  artifact uploads only its slots of the experts' weights, shared only
 *  with sessions that hold the same slots) and
 *  allocates the arena on the device (threads is ignored);
 *  each run copies the inputs in and the outputs back and synchronizes, and
 *  repeated runs at the same T replay CUDA graphs. A failed CUDA or cuBLAS
 *  call gives MOERT_EXECUTION_ERROR (MOERT_OUT_OF_MEMORY when memory ran out)
 *  naming the call, its error and the command. */
MOERT_API moert_status_t *moert_session_create(moert_model_t *model,
                                               const char *device,
                                               const moert_session_options_t *options,
                                               moert_session_t **session);
/** The bytes of device memory a CUDA session of `model` uses besides the
 *  weights (which its sessions on one GPU share): what
 *  moert_session_options_t.device_workspace must hold. 0 for a CPU artifact
 *  or NULL. */
MOERT_API uint64_t moert_model_device_workspace_bytes(const moert_model_t *model);

/** Frees a session (unloading code objects no other session uses). NULL is fine. */
MOERT_API void moert_session_free(moert_session_t *session);
/** The number of threads the session runs commands on (>= 1). */
MOERT_API int32_t moert_session_num_threads(const moert_session_t *session);

/** Runs function `function` (NULL: the model's only function).
 *
 *  `inputs` are the function's inputs in order (num_inputs must match). The
 *  token count T is the size of the inputs' token dimension (every input with
 *  one must agree; 1 <= T <= max_tokens, or 0 <= T in a session of a sharded
 *  artifact: a rank with no tokens still takes part in the exchanges); a
 *  function none of whose inputs has
 *  a token dimension runs with T = 1. Each input's dtype, rank and other
 *  dimensions must match moert_model_tensor_info exactly.
 *
 *  `outputs` may be NULL (num_outputs 0): read results afterwards with
 *  moert_session_output(). Otherwise num_outputs must equal the function's
 *  output count; each outputs[i].data must hold outputs[i].bytes bytes, at
 *  least the output's size at this T; the run copies the result there and
 *  fills in dtype, rank and shape.
 *
 *  Allocates nothing on success. On failure the session remains usable,
 *  except in a sharded artifact: unless every rank failed alike (a receive
 *  bound exceeded), a failed run, whatever failed, calls the communicator's
 *  abort so that no other rank waits for this one, which leaves the local
 *  group broken (docs/parallelism.md). */
MOERT_API moert_status_t *moert_session_run(moert_session_t *session,
                                            const char *function,
                                            const moert_tensor_t *inputs,
                                            size_t num_inputs,
                                            moert_tensor_t *outputs,
                                            size_t num_outputs);
/** moert_session_run with the function given by index (no name lookup). */
MOERT_API moert_status_t *moert_session_run_index(moert_session_t *session,
                                                  size_t function,
                                                  const moert_tensor_t *inputs,
                                                  size_t num_inputs,
                                                  moert_tensor_t *outputs,
                                                  size_t num_outputs);

/** Where a moert_device_tensor_t's data lives (DLPack's DLDeviceType values). */
typedef enum moert_device_type_t {
  MOERT_DEVICE_CPU = 1,
  MOERT_DEVICE_CUDA = 2
} moert_device_type_t;

/** A tensor in a GPU's memory, shaped as DLPack's DLTensor: `data` is a device
 *  address (a CUdeviceptr) and `bytes` how many bytes the caller's buffer
 *  holds from there; `strides` (elements per step of each dimension) may be
 *  NULL for a row-major tensor and must otherwise be row-major's (compact). */
typedef struct moert_device_tensor_t {
  void *data;
  size_t bytes;
  moert_device_type_t device_type;
  int32_t device_id;
  moert_dtype_t dtype;
  int32_t rank;
  int64_t shape[MOERT_MAX_RANK];
  const int64_t *strides;
} moert_device_tensor_t;

/** Enqueues a run of `function` (NULL: the only one) on a CUDA session, on the
 *  caller's CUDA stream `stream` (a CUstream; NULL is the legacy default
 *  stream), reading `inputs` and writing `outputs` in device memory: the
 *  inputs are copied into the session's arena and the outputs out of it by
 *  device-to-device copies ordered on `stream`, and the call only enqueues:
 *  it does not synchronize and copies nothing to the host. Outside a capture
 *  the commands are the session's graph for this (function, T), launched on
 *  `stream`; the first call at each (function, T) captures and instantiates
 *  it on the session's own stream (that call allocates the graph's device
 *  memory and takes milliseconds; later ones allocate nothing). While the
 *  caller captures `stream` into a CUDA graph, the commands are issued one by
 *  one and so captured into the caller's graph.
 *
 *  The inputs are checked as moert_session_run checks them; num_outputs must
 *  equal the function's output count, each output's dtype, rank and shape
 *  (with T) must be the output's, and every tensor must be on the session's
 *  GPU and lie inside one of the driver's allocations (MOERT_INVALID_ARGUMENT
 *  naming the tensor otherwise). Auxiliary outputs are not returned
 *  (moert_session_enqueue_aux copies them too), and
 *  moert_session_output has no view of an enqueued run.
 *
 *  A T at which a grouped GEMM runs on cuBLAS reads the experts' row counts
 *  back to the host, so it cannot be enqueued: MOERT_UNSUPPORTED, which says
 *  the largest T that can (moe-compile --cuda-gemv-max-tokens; 0 when the
 *  artifact has no generated grouped kernel). So is any run of a sharded
 *  artifact (its exchanges go through the host). A CPU session gives
 *  MOERT_UNSUPPORTED.
 *
 *  Errors the kernels find on the device (a data-derived index out of range)
 *  are kept in the session's fault word until moert_session_device_error.
 *  The session's arena serves all its runs: enqueue on one stream at a time,
 *  and synchronize it before a moert_session_run. Before moert_session_free
 *  (which waits for the whole context when runs were enqueued), destroy any
 *  graph of the caller's that captured the session's commands: it points
 *  into the session's memory. */
MOERT_API moert_status_t *moert_session_enqueue(moert_session_t *session,
                                                const char *function,
                                                const moert_device_tensor_t *inputs,
                                                size_t num_inputs,
                                                const moert_device_tensor_t *outputs,
                                                size_t num_outputs, void *stream);

/** moert_session_enqueue that also copies auxiliary outputs (router_stats.<i>,
 *  router_indices.<i>, router_logits.<i>: moert_model_tensor_info with
 *  MOERT_TENSOR_AUX_OUTPUT) device to device on `stream`, after the outputs:
 *  `aux` holds num_aux = the function's aux output count tensors (or
 *  num_aux 0), one per aux output in order; one whose data is NULL is not
 *  copied. Each other must be the aux output's dtype and shape at T, compact,
 *  on the session's GPU and inside a driver allocation. */
MOERT_API moert_status_t *moert_session_enqueue_aux(moert_session_t *session,
                                                    const char *function,
                                                    const moert_device_tensor_t *inputs,
                                                    size_t num_inputs,
                                                    const moert_device_tensor_t *outputs,
                                                    size_t num_outputs,
                                                    const moert_device_tensor_t *aux,
                                                    size_t num_aux, void *stream);

/** Reads and clears the fault word of a CUDA session's enqueued runs after the
 *  work enqueued on `stream` so far: it enqueues the word's copy to the host
 *  and synchronizes `stream` (the one call of this API that waits). NULL (OK)
 *  when no kernel reported a fault, MOERT_EXECUTION_ERROR when one did (the
 *  runs since the last call may hold wrong values). Not during a capture. */
MOERT_API moert_status_t *moert_session_device_error(moert_session_t *session,
                                                     void *stream);

/** A view of output `index` of the last successful run: data points into the
 *  session's arena and stays valid until the next run or moert_session_free.
 *  MOERT_FAILED_PRECONDITION before a successful run. */
MOERT_API moert_status_t *moert_session_output(const moert_session_t *session,
                                               size_t index,
                                               moert_tensor_t *view);
/** The same for aux output `index` (e.g. router_stats.<i>). */
MOERT_API moert_status_t *moert_session_aux_output(const moert_session_t *session,
                                                   size_t index,
                                                   moert_tensor_t *view);
/** Noisy top-k gating (a router with a noise weight, moe.router ... noise;
 *  docs/compiler.md "Noisy top-k gating"): with `enabled` nonzero, later runs
 *  add StandardNormal() · softplus(x·Wnoise) to each noisy router's logits,
 *  the normal values drawn by a counter-based generator from (seed, router,
 *  token, expert): the same at any thread count. With 0 (the default) the
 *  noise is ignored, as at inference. MOERT_INVALID_ARGUMENT when enabling it
 *  on a model without a noisy router (the cuda target compiles none). On the
 *  ranks of a sharded artifact a token's noise is that of its row among all
 *  the ranks' tokens (in rank order), as on one device; every rank must set
 *  the same noise, or their next run fails on every rank. */
MOERT_API moert_status_t *moert_session_set_router_noise(moert_session_t *session,
                                                         int32_t enabled, uint64_t seed);
/** The function index and T of the last successful run; returns 0 (and leaves
 *  the out-parameters alone) when there was none. Either pointer may be NULL. */
MOERT_API int moert_session_last_run(const moert_session_t *session,
                                     size_t *function, int64_t *tokens);

/* ----------------------------------------------------------------------- */
/* Communicators (expert parallelism; docs/parallelism.md)                 */
/* ----------------------------------------------------------------------- */

/** One message of an exchange round: `bytes` bytes to or from rank `peer`. */
typedef struct moert_message_t {
  int32_t peer;
  void *data; /* a send's bytes are only read */
  uint64_t bytes;
} moert_message_t;

/** A rank's view of the ranks that run one sharded model together,
 *  implemented by the caller over their own library (MPI, NCCL) or by
 *  moert_local_group_create. The runtime links none of them. */
typedef struct moert_communicator_t {
  int32_t rank; /* this rank, in [0, size) */
  int32_t size; /* the ranks */
  void *context;
  /** One round, entered by every rank: sends each message of `sends` to its
   *  peer and receives each of `recvs` from its peer (a rank may send to and
   *  receive from itself); between two ranks, the i-th send to a peer
   *  matches that peer's i-th receive from this rank and has its size.
   *  Returns 0 when every message arrived, else non-zero with a message in
   *  error[0, error_bytes), NUL-terminated. It must not wait forever on a
   *  failed peer: a timeout, or the peer's abort, ends it with an error. */
  int (*exchange)(void *context, const moert_message_t *sends, size_t num_sends,
                  const moert_message_t *recvs, size_t num_recvs, char *error,
                  size_t error_bytes);
  /** Tells the other ranks that this one failed and will not finish the
   *  round they wait in (`reason` for their messages). May be NULL. */
  void (*abort)(void *context, const char *reason);
} moert_communicator_t;

/** N ranks in this process (one thread each), for tests and single-host
 *  use: exchanges copy between the ranks' buffers. */
typedef struct moert_local_group moert_local_group_t;

/** Creates a group of `ranks` (1 to 1024) ranks. A rank that waits longer
 *  than `timeout_ms` (> 0) for the others fails the group: that round and
 *  every later one on every rank give an error naming the cause, as does a
 *  rank's abort. */
MOERT_API moert_status_t *moert_local_group_create(int32_t ranks, int32_t timeout_ms,
                                                   moert_local_group_t **out);
/** Rank `rank`'s communicator, valid while the group lives; NULL if out of
 *  range. */
MOERT_API const moert_communicator_t *moert_local_group_communicator(moert_local_group_t *group,
                                                                     int32_t rank);
/** Frees the group (after every session that uses it). */
MOERT_API void moert_local_group_free(moert_local_group_t *group);

/** The CUDA GPUs this process sees (cuda:0 .. cuda:N-1); 0 when there is no
 *  CUDA driver or GPU. */
MOERT_API int32_t moert_cuda_device_count(void);

/** NCCL, for CUDA sessions (docs/parallelism.md, "NCCL"): one rank of an
 *  NCCL communicator whose rounds are grouped ncclSend / ncclRecv calls on
 *  a stream of its own, so that a CUDA session's exchanges move rows from
 *  GPU to GPU without the host. libmoert links no NCCL: libnccl.so.2 is
 *  opened at run time, the one the process already loaded when there is one
 *  (PyTorch's, say). Messages in host memory (the exchanges' counts, or a
 *  CPU session's rows) go through a device buffer of the communicator's.
 *  A round that does not finish within the timeout aborts the NCCL
 *  communicator (ncclCommAbort) and fails, as does every later one; an
 *  abort aborts it too (the other ranks then fail by their timeout). */
#define MOERT_NCCL_UNIQUE_ID_BYTES 128
typedef struct moert_nccl moert_nccl_t;

/** ncclGetUniqueId: the identity of a new NCCL communicator, which one rank
 *  makes and every rank passes to moert_nccl_create (sent by the caller's
 *  own means, e.g. MPI_Bcast). MOERT_UNSUPPORTED when NCCL or the CUDA
 *  driver cannot be opened. */
MOERT_API moert_status_t *moert_nccl_unique_id(uint8_t id[MOERT_NCCL_UNIQUE_ID_BYTES]);
/** Rank `rank` of `ranks` (ncclCommInitRank: every rank calls it with the
 *  same id, and it returns when all have) on GPU cuda:`device`, which no
 *  other rank of the communicator may use. `timeout_ms` (> 0) bounds each
 *  round. */
MOERT_API moert_status_t *moert_nccl_create(const uint8_t id[MOERT_NCCL_UNIQUE_ID_BYTES],
                                            int32_t rank, int32_t ranks, int32_t device,
                                            int32_t timeout_ms, moert_nccl_t **out);
/** The caller's NCCL communicator (an ncclComm_t) as one: its rank, size
 *  and GPU are NCCL's. It stays the caller's to destroy (after
 *  moert_nccl_free), unless a round failed: then it was aborted
 *  (ncclCommAbort frees it) and must not be used again. */
MOERT_API moert_status_t *moert_nccl_wrap(void *nccl_comm, int32_t timeout_ms,
                                          moert_nccl_t **out);
/** The communicator to give moert_session_options_t.communicator, valid
 *  while `nccl` lives. */
MOERT_API const moert_communicator_t *moert_nccl_communicator(moert_nccl_t *nccl);
/** The GPU (cuda:N) the NCCL rank runs on; -1 for NULL. */
MOERT_API int32_t moert_nccl_device(const moert_nccl_t *nccl);
/** Destroys the NCCL communicator moert_nccl_create made (after every session
 *  that uses it); a wrapped one is left to the caller. NULL is fine. */
MOERT_API void moert_nccl_free(moert_nccl_t *nccl);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MOERT_MOERT_H */
