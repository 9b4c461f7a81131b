//===- ExecOps.td - the exec dialect: the artifact's plan --*- tablegen -*-===//
//
// The low-level plan of a compiled function: arena buffers, weights, and the
// commands that run over them. Each command op maps one-to-one onto a command
// of the .moeb artifact (runtime/schema/moeb.fbs, docs/artifact.md).
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_DIALECT_EXEC_OPS
#define MOEC_DIALECT_EXEC_OPS

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Exec_Dialect : Dialect {
  let name = "exec";
  let cppNamespace = "::moec::exec";
  let summary = "Arena buffers, weights and the commands of a compiled function";
  let description = [{
    What `moe-lower-to-exec` produces and `moe-export-artifact` serializes.
    Sizes that depend on the run's token count T are written `[a, b]`,
    meaning `a·T + b` (an `Affine` of the artifact). Buffers are byte ranges of
    the session's arena at fixed offsets planned for `max_tokens`; a run with
    T tokens uses the first `bytes(T)` bytes.

    The plan's facts beyond its ops are the dialect's attributes, each checked
    where it appears (any other `exec.*` attribute is an error):

    | attribute | on | value |
    | --- | --- | --- |
    | `exec.target` | `builtin.module` | `"cpu"` or `"cuda"` |
    | `exec.target_arch` | `builtin.module` | the GPU's `sm_NN` (target `cuda`) |
    | `exec.max_tokens` | `func.func` (a plan) | the largest T of a run, i64 >= 1 |
    | `exec.arena_bytes` | `func.func` (a plan) | the arena, i64: every `exec.alloc` and `exec.input` ends inside it at `max_tokens` (needs `exec.max_tokens`) |
    | `exec.lanes` | `func.func` (a kernel) | 1, or 32: a warp runs each launch item |
    | `exec.spread` | a loop of a kernel | unit: its iterations are independent, and the CUDA target splits them across an item's lanes |
    | `exec.kernel_params` | `func.func` (a generic kernel) | its compile-time parameters: a dictionary of name = type (`index`, `i1` for a flag, `i64`, `f32`, `f64`; `none` for an element type, used by `exec.element_type`), read in the body by `exec.param` |
    | `exec.kernel_one_of` | `func.func` (a generic kernel) | groups of its flags of which a specialization sets exactly one each (an activation, say) |
    | `exec.shape` | a memref argument of a generic kernel | its static shape once specialized: one entry per dimension, an integer or an index parameter as `NAME`, `NAME+B` or `A*NAME+B` |
    | `exec.if` | an argument of a generic kernel | the flag (an `i1` parameter) without which the specialized kernel does not take this argument |
    | `exec.element_type` | an f32 memref argument of a generic kernel | a type parameter (declared `none`, bound to `f32`, `bf16` or `f16`): the buffer holds that type, and each f32 load of it becomes a load of that type widened exactly to f32 (the argument is only read) |

    Kernels are MLIR functions (lib/Conversion/Kernels/*.mlir, each with its
    lit test): a generic kernel takes dynamically shaped memrefs, reads its
    parameters with `exec.param`, and is specialized by
    `exec-specialize-kernel` (or the lowering's kernel library), which
    clones it, inlines the private helpers it calls, binds every parameter
    to a constant, drops the arguments whose flag is off, gives the memrefs
    their `exec.shape`, and folds.
  }];
  let useDefaultTypePrinterParser = 1;

  let discardableAttrs = (ins
    "::mlir::StringAttr":$target,
    "::mlir::StringAttr":$target_arch,
    "::mlir::IntegerAttr":$max_tokens,
    "::mlir::IntegerAttr":$arena_bytes,
    "::mlir::IntegerAttr":$lanes,
    "::mlir::UnitAttr":$spread,
    "::mlir::DictionaryAttr":$kernel_params,
    "::mlir::ArrayAttr":$kernel_one_of,
    "::mlir::ArrayAttr":$shape,
    "::mlir::StringAttr":$if,
    "::mlir::StringAttr":$element_type
  );
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
}

def Exec_BufferType : TypeDef<Exec_Dialect, "Buffer"> {
  let mnemonic = "buffer";
  let summary = "a typed view of an arena range or a weight";
  let description = [{
    `!exec.buffer<?x72xf32>`: the shape is informative (`?` is a size that
    depends on T); the bytes a run uses are given by the op that defines it.
  }];
  let parameters = (ins ArrayRefParameter<"int64_t">:$shape,
                        "::mlir::Type":$elementType);
  let hasCustomAssemblyFormat = 1;
}

class Exec_Op<string mnemonic, list<Trait> traits = []>
    : Op<Exec_Dialect, mnemonic, traits> {
  let hasVerifier = 1;
}

def Exec_AffineAttr : ConfinedAttr<DenseI64ArrayAttr, [DenseArrayCount<2>]>;

def Exec_InputOp : Exec_Op<"input"> {
  let summary = "a function input, copied into its arena range by the runtime";
  let arguments = (ins StrAttr:$name, I64Attr:$offset, Exec_AffineAttr:$bytes);
  let results = (outs Exec_BufferType:$result);
  let assemblyFormat = [{
    $name `offset` `(` $offset `)` `bytes` `(` $bytes `)` attr-dict `:` type($result)
  }];
}

def Exec_AllocOp : Exec_Op<"alloc"> {
  let summary = "an arena range for an intermediate value";
  let description = [{
    `offset` is assigned by the memory plan (ranges of values whose lifetimes
    do not overlap may share bytes); `bytes` is `[a, b]` = a·T + b.
  }];
  let arguments = (ins I64Attr:$offset, Exec_AffineAttr:$bytes);
  let results = (outs Exec_BufferType:$result);
  let assemblyFormat = [{
    `offset` `(` $offset `)` `bytes` `(` $bytes `)` attr-dict `:` type($result)
  }];
}

def Exec_RunParamsOp : Exec_Op<"run_params"> {
  let summary = "the run's parameters, written into the arena by the runtime";
  let description = [{
    An i32 `[4]` buffer the runtime writes before every run of the function:
    `{router noise on (1) or off (0), seed bits 0-31, seed bits 32-63, 0}`,
    as `moert_session_set_router_noise` last set them (off by default). It is
    read by the kernels of noisy routers (`moe.router ... noise`). The memory
    plan keeps it for the whole run, as an input; at most one per function.
  }];
  let arguments = (ins I64Attr:$offset);
  let results = (outs Exec_BufferType:$result);
  let assemblyFormat = [{
    `offset` `(` $offset `)` attr-dict `:` type($result)
  }];
}

def Exec_WeightOp : Exec_Op<"weight"> {
  let summary = "a weight, packed into the artifact's blob section";
  let description = [{
    The data of `moe.weight` (same `tensor_name`, `file` and `value`, with
    `{e}` stacking per expert), converted to the buffer's element type when the
    artifact is written; or, with `random(seed)`, synthetic values the runtime
    generates at load time (see `moe.weight`).

    With `panels` (set by `moe-pack-weights` for the CPU target), an f32,
    bf16 or f16 weight `[..., n, k]` is stored pre-packed for the CPU's GEMM
    kernel: each `[n, k]` matrix as ceil(n / 32) panels (panel p holds rows
    32p..32p+31 of each k contiguously, for bf16 of each pair of k
    interleaved; zeros past n and k; the artifact's `WeightLayout.Panels32`). The buffer's shape stays the logical one. Such a
    weight is read only as the B operand of `exec.gemm` / `exec.grouped_gemm`.

    fp8 weights (element type `f8E4M3FN`) are stored as one e4m3 code per
    value plus, per `[n, k]` matrix, f32 scales `[ceil(n / 128),
    ceil(k / 128)]` (a second weight in the artifact, `Weight.scales`): with
    `scales "NAME"` the checkpoint's codes and its scale tensor `NAME` are
    copied; without, the values are quantized when the artifact is written
    (per 128 x 128 block: scale = amax / 448, codes rounded to nearest even;
    moert/fp8.h). An f32, bf16 or f16 weight with `scales "NAME"` reads fp8
    codes and dequantizes them. In panels, an fp8 weight's panels hold one
    byte per value (32 bytes per step of k).

    With `mxfp4 scales "NAME"` the checkpoint tensor holds MXFP4 blocks and
    `NAME` their e8m0 scales (as `moe.weight`'s `format mxfp4`); for an f32,
    bf16, f16 or fp8 weight the values are dequantized exactly when the
    artifact is written.

    mxfp4 weights (element type `f4E2M1FN`, `[..., n, k]` with k a multiple
    of 32) are stored in MXFP4 panels (moert/mxfp4.h: per panel of 32 rows
    and group of 32 k, the rows' e8m0 scales, then per k 16 bytes of two
    e2m1 codes), or on the CUDA target (without `panels`) in MXFP4 rows
    (each row's k / 2 code bytes, then its k / 32 scales): an MXFP4
    checkpoint's blocks and scales as they are, other
    values quantized when the artifact is written (per row and group of 32:
    scale = the smallest power of two 2^X with amax / 2^X <= 6, codes
    rounded to nearest even). Such a weight is read only as the B operand of
    `exec.gemm` / `exec.grouped_gemm`, against f32 activations. `rows(start, step)`
    selects along dimension 1 of the checkpoint tensor, as `moe.weight`'s.

    int8 and int4 weights (element type `i8` / `i4`, `[..., n, k]`, with
    `group(G)`: G = 32, 64 or 128 values along k share a scale, k a multiple
    of G) are stored in integer panels (moert/intq.h): the values (of any
    checkpoint type, fp8 and MXFP4 dequantized first) are quantized when the
    artifact is written, per row and group: int8 symmetric (q · d, d = f16(amax
    / 127)), int4 with an integer zero point ((q - z) · d, d = f16(range / 15)).
    Such a weight is read only as the B operand of `exec.gemm` /
    `exec.grouped_gemm`, against f32 activations, and only in panels.
  }];
  let arguments = (ins StrAttr:$tensor_name, OptionalAttr<StrAttr>:$file,
                       OptionalAttr<ElementsAttr>:$value,
                       OptionalAttr<I64Attr>:$random_seed, UnitAttr:$panels,
                       OptionalAttr<StrAttr>:$scales, UnitAttr:$mxfp4,
                       OptionalAttr<I64Attr>:$row_start,
                       OptionalAttr<I64Attr>:$row_step,
                       OptionalAttr<I64Attr>:$group_size);
  let results = (outs Exec_BufferType:$result);
  let assemblyFormat = [{
    $tensor_name (`from` $file^)? (`mxfp4` $mxfp4^)? (`scales` $scales^)?
    (`rows` `(` $row_start^ `,` $row_step `)`)? (`=` $value^)?
    (`random` `(` $random_seed^ `)`)? (`group` `(` $group_size^ `)`)?
    (`panels` $panels^)? attr-dict `:` type($result)
  }];
}

def Exec_ConcatWeightsOp : Exec_Op<"concat_weights"> {
  let summary = "a weight whose [n, k] matrices are two weights' rows, stacked";
  let description = [{
    Matrix i of the result `[..., n1 + n2, k]` holds the n1 rows of matrix i
    of `first` (`[..., n1, k]`), then the n2 rows of matrix i of `second`
    (`[..., n2, k]`): an expert FFN's gate and up projections as one GEMM of
    N = 2F (moe-lower-to-exec's `fuse-gate-up`). Both operands are
    `exec.weight`s of the same element type, group size and layout, both
    synthetic (`random`) or neither; the artifact stores the stacked matrices
    as one weight, as a weight of the result's shape would be stored. So that
    this holds for every layout, n1 is a multiple of 32 (the panel width;
    for fp8, of 128: the scale blocks). Read only as the B operand of
    `exec.gemm` / `exec.grouped_gemm`.
  }];
  let arguments = (ins Exec_BufferType:$first, Exec_BufferType:$second);
  let results = (outs Exec_BufferType:$result);
  let assemblyFormat = [{
    $first `,` $second attr-dict `:` type($first) `,` type($second) `->` type($result)
  }];
}

def Exec_OutputOp : Exec_Op<"output"> {
  let summary = "names a buffer as a function output (or an auxiliary one)";
  let arguments = (ins StrAttr:$name, Exec_BufferType:$buffer, UnitAttr:$aux);
  let assemblyFormat = [{ $name `,` $buffer attr-dict `:` type($buffer) }];
}

def Exec_LaunchOp : Exec_Op<"launch", [AttrSizedOperandSegments]> {
  let summary = "run a generated kernel over [0, extent(T)) in chunks";
  let description = [{
    With `limit %b[i]` (the CPU target; the CUDA target's launches cover
    their whole extent) the launch covers
    `[0, min(extent(T), max(b[i], 0)))`, where `b[i]` is the i32 at index i of
    buffer b when the launch runs: the rows a rank received in an exchange
    (its slot offsets' last entry), so that the kernels over them do not run
    over the whole receive bound.
  }];
  let arguments = (ins FlatSymbolRefAttr:$kernel,
                       Variadic<Exec_BufferType>:$args,
                       Optional<Exec_BufferType>:$limit,
                       Exec_AffineAttr:$extent, I64Attr:$grain,
                       OptionalAttr<I64Attr>:$limit_index);
  let assemblyFormat = [{
    $kernel `(` $args `)` `extent` `(` $extent `)` `grain` `(` $grain `)`
    (`limit` $limit^ `[` $limit_index `]`)? attr-dict `:` type($args)
    (`limit` type($limit)^)?
  }];
}

def Exec_GemmOp : Exec_Op<"gemm"> {
  let summary = "C[m, :] (+)= A[m, :] · Bᵀ for m < rows(T), B [n, k]";
  let description = [{
    A and B hold the same element type, f32, bf16 or f16; C is f32, and the
    products (exact in f32 for the 16-bit types) accumulate in f32; or C is
    bf16 or f16 (a 16-bit function's activations: each sum rounded to nearest
    even as it is written; not with `accumulate`). Or B is
    an fp8 weight (`f8E4M3FN`, with its block scales; see `exec.weight`) and
    A is f32: each weight value is decoded and scaled in f32. Or B is an
    mxfp4 weight (`f4E2M1FN`), or an int8 / int4 weight (`i8` / `i4`), and
    A is f32, likewise; with `int8_activations` (int8 / int4 B only) each
    row of A is quantized per group of the weight's G values to int8 and
    each group's products are summed in integers (moert/intq.h).

    On the CUDA target an fp8 or mxfp4 B carries `dequant = @kernel` and A
    holds bf16: each weight value is read as a bf16 (fp8: bf16(e4m3(code) ·
    scale), rounded to nearest even; mxfp4: its value, exact in bf16), by
    the generated decode kernel and by the vendor GEMM alike; the kernel
    (`dequant_fp8`: buffers B's codes, its scales, the bf16 copy;
    `dequant_mxfp4`: B's MXFP4 rows, the copy; extent n) writes one [n, k]
    matrix as bf16 for the vendor GEMM.

    An fp8 B may also carry `act_quant = @kernel`, the engine of GPUs of
    compute capability 9.0: cuBLASLt's block-scaled fp8 GEMM over B's codes
    and scales as stored, against A quantized to e4m3 per row and block of
    128 along k by the kernel (`quantize_fp8_act`: buffers A, offsets,
    codes, scales; extent rows; moert/fp8.h's fp8ActRows rows). It needs
    `dequant` too (the engine of other GPUs), n and k multiples of 16 and
    ceil(k / 128) a multiple of 4 (moert/fp8.h's fp8BlockScaledGemmFits),
    and no `accumulate`.
  }];
  let arguments = (ins Exec_BufferType:$a, Exec_BufferType:$b,
                       Exec_BufferType:$c, Exec_AffineAttr:$rows, I64Attr:$n,
                       I64Attr:$k, UnitAttr:$accumulate,
                       UnitAttr:$int8_activations,
                       OptionalAttr<FlatSymbolRefAttr>:$dequant,
                       OptionalAttr<FlatSymbolRefAttr>:$act_quant);
  let assemblyFormat = [{
    $a `,` $b `->` $c `rows` `(` $rows `)` `n` `(` $n `)` `k` `(` $k `)`
    attr-dict `:` type($a) `,` type($b) `->` type($c)
  }];
}

def Exec_GroupedGemmOp : Exec_Op<"grouped_gemm"> {
  let summary = "one GEMM per expert over the rows its offsets give";
  let description = [{
    Operand types as `exec.gemm`: A and B f32, bf16 or f16 alike, or A f32
    and B fp8, mxfp4, int8 or int4 (with `int8_activations` as
    `exec.gemm`'s), or on the CUDA target A bf16 and B fp8 or mxfp4 with
    `dequant` (as `exec.gemm`'s, applied to each expert's matrix) and
    possibly `act_quant` (as `exec.gemm`'s, the kernel run once over all the
    experts' rows, each expert's cuBLASLt GEMM reading its own region); C
    f32, or bf16 or f16 (a 16-bit function's activations: each sum rounded
    to nearest even).

    The compiler's choice of engine for the CUDA target: without `gemv`, a
    vendor GEMM (cuBLAS) per expert, after the offsets are read back to the
    host. With `gemv = @kernel, gemv_max_tokens = N`, a run with T <= N
    zeroes C and launches the generated kernel (`grouped_gemv_warp`: its
    buffers are A, B, offsets, C; `grouped_gemv_fp8_warp` for an fp8 B: A,
    B, B's scales, offsets, C; `grouped_gemv_mxfp4_warp` for an mxfp4 B as
    `grouped_gemv_warp`; extent experts·n) instead, which reads the
    offsets on the device; larger T keep the vendor GEMM.

    With `map %m` (i32 `[experts]`, written by `exec.exchange`) the groups
    are a rank's expert slots: group g multiplies by B's matrix `m[g]` (B
    `[E, n, k]` with any E), a group without rows may hold -1, and any other
    value outside `[0, E)` is an execution error. On the CUDA target (vendor
    GEMMs only, no gemv kernel) group g reads B's slot g of the rank's copy
    of B (and of an fp8 B's scales), which holds the placement's experts in
    slot order: `m[g]`'s matrix.
  }];
  let arguments = (ins Exec_BufferType:$a, Exec_BufferType:$b,
                       Exec_BufferType:$offsets, Optional<Exec_BufferType>:$map,
                       Exec_BufferType:$c,
                       Exec_AffineAttr:$rows, I64Attr:$experts, I64Attr:$n,
                       I64Attr:$k, OptionalAttr<FlatSymbolRefAttr>:$gemv,
                       OptionalAttr<I64Attr>:$gemv_max_tokens,
                       UnitAttr:$int8_activations,
                       OptionalAttr<FlatSymbolRefAttr>:$dequant,
                       OptionalAttr<FlatSymbolRefAttr>:$act_quant);
  let assemblyFormat = [{
    $a `,` $b `,` $offsets (`map` $map^)? `->` $c `rows` `(` $rows `)` `experts` `(` $experts `)`
    `n` `(` $n `)` `k` `(` $k `)` attr-dict `:` type($a) `,` type($b) `,`
    type($offsets) (`,` type($map)^)? `->` type($c)
  }];
}

def Exec_ExchangeOp : Exec_Op<"exchange"> {
  let summary = "move expert rows between ranks (moe.exchange, moe.exchange_back)";
  let description = [{
    A collective over the session's communicator (every rank runs it). The
    rows of `src` and `dst` are of one type and width. Forward (without
    `back`): `src` holds rows(T) rows grouped by `offsets` (i32
    `[experts + 1]`); each expert's rows go to its slot by the session's
    placement, and `dst` receives this rank's slots' rows (at most
    `recv_rows`: more fail the run on every rank), slot by slot and each
    slot's rows by source rank; it writes `slot_offsets` (i32 `[slots + 1]`),
    `slot_experts` (i32 `[slots]`, this rank's placement) and `counts` (i32
    `[ranks · slots]`, rows from each rank per slot). With `back`, `src`
    holds one row per received row (`recv_rows` rows) and each goes back to
    where it came from: `dst` gets rows(T) rows in dispatch order (rows past
    `offsets[experts]` 0), from the forward exchange's `slot_offsets` and
    `counts`, which it reads. On the CUDA target the runtime copies its
    operands to the host and its results back (docs/parallelism.md, "On
    GPUs").
  }];
  let arguments = (ins Exec_BufferType:$src, Exec_BufferType:$offsets,
                       Exec_BufferType:$slot_offsets,
                       Exec_BufferType:$slot_experts, Exec_BufferType:$counts,
                       Exec_BufferType:$dst, Exec_AffineAttr:$rows,
                       I64Attr:$recv_rows, I64Attr:$ranks, I64Attr:$slots,
                       I64Attr:$experts, UnitAttr:$back);
  let assemblyFormat = [{
    $src `,` $offsets `,` $slot_offsets `,` $slot_experts `,` $counts `->` $dst
    `rows` `(` $rows `)` `recv_rows` `(` $recv_rows `)` `ranks` `(` $ranks `)`
    `slots` `(` $slots `)` `experts` `(` $experts `)` attr-dict `:` type($src)
    `,` type($offsets) `,` type($slot_offsets) `,` type($slot_experts) `,`
    type($counts) `->` type($dst)
  }];
}

def Exec_ExpertChoiceOp : Exec_Op<"expert_choice"> {
  let summary = "expert-choice routing over ranks (moe.expert_choice ranks(N))";
  let description = [{
    A collective over the session's communicator (every rank runs it).
    `scores` holds this rank's tokens' scores (f32 `[tokens(T), experts]`,
    at most `max_tokens` rows); the ranks' scores are gathered in rank order
    (Tg tokens in all) and expert e takes its C = min(Tg, ceil(capacity_factor
    · Tg / experts)) best tokens, descending, ties to the lower token, as
    `moe.expert_choice` does on one device. It writes this rank's rows of
    that choice: for each expert, its chosen tokens that are this rank's, in
    that order; `row_token` (i32 `[R]`) the token's index among this rank's
    and -1 past the rows kept, `row_weight` (f32 `[R]`) its score (0 past
    them), `offsets` (i32 `[experts + 1]`) the rows per expert. The row
    buffers hold `max_rows` rows, at least experts · min(C at ranks ·
    max_tokens tokens, max_tokens): as many as a rank can keep.
  }];
  let arguments = (ins Exec_BufferType:$scores, Exec_BufferType:$row_weight,
                       Exec_BufferType:$row_token, Exec_BufferType:$offsets,
                       Exec_AffineAttr:$tokens, I64Attr:$max_tokens,
                       I64Attr:$max_rows, I64Attr:$experts, I64Attr:$ranks,
                       F64Attr:$capacity_factor);
  let assemblyFormat = [{
    $scores `->` $row_weight `,` $row_token `,` $offsets `tokens` `(` $tokens `)`
    `max_tokens` `(` $max_tokens `)` `max_rows` `(` $max_rows `)` `experts` `(`
    $experts `)` `ranks` `(` $ranks `)` `capacity_factor` `(` $capacity_factor `)`
    attr-dict `:` type($scores) `->` type($row_weight) `,` type($row_token) `,`
    type($offsets)
  }];
  let extraClassDeclaration = [{
    /// The rows an expert choice over `ranks` ranks of at most `maxTokens`
    /// tokens each can keep on one rank: experts · min(C, maxTokens), C at
    /// ranks · maxTokens tokens.
    static int64_t getMaxRows(int64_t maxTokens, int64_t experts, int64_t ranks,
                              double capacityFactor);
  }];
}

def Exec_FillOp : Exec_Op<"fill"> {
  let summary = "fill bytes(T) bytes with a repeated 32-bit pattern";
  let arguments = (ins Exec_BufferType:$dst, Exec_AffineAttr:$bytes,
                       I32Attr:$value);
  let assemblyFormat = [{
    $dst `bytes` `(` $bytes `)` `value` `(` $value `)` attr-dict `:` type($dst)
  }];
}

def Exec_CopyOp : Exec_Op<"copy"> {
  let summary = "copy bytes(T) bytes";
  let arguments = (ins Exec_BufferType:$src, Exec_BufferType:$dst,
                       Exec_AffineAttr:$bytes);
  let assemblyFormat = [{
    $src `->` $dst `bytes` `(` $bytes `)` attr-dict `:` type($src) `->` type($dst)
  }];
}

def Exec_CodeObjectOp : Exec_Op<"code_object"> {
  let summary = "compiled kernels carried by the artifact";
  let description = [{
    `format` is `host-so` (an ELF shared object for the host) or `ptx`/`cubin`;
    `kernels` lists the symbols it defines with their argument counts, and
    `lanes` (GPU code objects) the threads that run each launch item of a
    kernel: a power of two from 1 to 1024 (1 when a kernel is not listed).
    `bounds` gives each kernel's
    `array<i64: max_extent, writes, bytes_0, ..., bytes_n-1>`: the largest
    launch extent it was specialized for, a mask of the buffer arguments it
    writes (bit i: argument i) and the bytes it may touch through each
    argument. The artifact carries them and the runtime checks every launch
    against them; a host code object also defines each kernel's bounds as the
    constant `moec_bounds.<kernel>`, which the runtime compares with the
    table's.
  }];
  let arguments = (ins StrAttr:$format, StrAttr:$arch,
                       ElementsAttr:$data, DictionaryAttr:$kernels,
                       OptionalAttr<DictionaryAttr>:$lanes,
                       OptionalAttr<DictionaryAttr>:$bounds);
  let assemblyFormat = [{
    $format $arch $kernels (`lanes` $lanes^)? (`bounds` $bounds^)? attr-dict `=` $data
  }];
}

def Exec_ParamOp : Exec_Op<"param", [Pure]> {
  let summary = "a compile-time parameter of a generic kernel";
  let description = [{
    `%e = exec.param "E" : index` is parameter E of the kernel function it is
    in, which declares it with this type in `exec.kernel_params`; a flag is an
    `i1` parameter. Specialization replaces it by a constant.
  }];
  let arguments = (ins StrAttr:$name);
  let results = (outs AnyTypeOf<[Index, I1, I64, F32, F64]>:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
}

#endif // MOEC_DIALECT_EXEC_OPS
