//===- MoeOps.td - the moe dialect's operations -----------*- tablegen -*-===//
#ifndef MOEC_DIALECT_MOE_OPS
#define MOEC_DIALECT_MOE_OPS

include "MoeBase.td"
include "MoeAttrs.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

class Moe_Op<string mnemonic, list<Trait> traits = []>
    : Op<Moe_Dialect, mnemonic, !listconcat(traits, [Pure])> {
  let hasVerifier = 1;
}


// Element types. Activations: f32 / bf16 / f16. Weights: any of those.
def Moe_ActTensor : RankedTensorOf<[F32, BF16, F16]>;
def Moe_WeightTensor : RankedTensorOf<[F32, BF16, F16]>;
def Moe_F32Tensor : RankedTensorOf<[F32]>;
def Moe_I32Tensor : RankedTensorOf<[I32]>;

//===----------------------------------------------------------------------===//
// Weights
//===----------------------------------------------------------------------===//

def Moe_WeightOp : Moe_Op<"weight"> {
  let summary = "a named constant tensor whose bytes live outside the IR";
  let description = [{
    The value of the tensor named `tensor_name` in the safetensors checkpoint
    `file` (a `.safetensors` file or a `model.safetensors.index.json` of a
    sharded checkpoint, resolved at compile time), or an inline `value` (for
    example a `dense_resource` blob) for graphs written by hand, or synthetic
    values `random(seed)` for benchmarks (moe-bench): uniform in
    `[-1/sqrt(K), 1/sqrt(K))`, K the last dimension (as `nn.Linear` initializes
    a `[N, K]` weight), generated at load time by the runtime from the seed
    with the counter-based generator of docs/artifact.md, so the artifact
    carries no bytes for it. Exactly one of `file`, `value` and `random` is given.

    When `tensor_name` contains `{e}`, the result stacks one tensor per expert:
    slice `e` of the leading dimension is the tensor named with `{e}` replaced
    by the decimal `e`, for `e` in `[0, dim 0)`. The stored dtype may differ from
    the result's element type; the compiler converts (rounding to nearest even)
    when it packs the weights. The result shape is static.

    With `format fp8_e4m3 scales "NAME"`, the checkpoint stores the tensor
    quantized: one fp8 e4m3 code per value (safetensors `F8_E4M3`) and, per
    `[N, K]` matrix, the f32 (or bf16) tensor `NAME` of shape
    `[ceil(N / 128), ceil(K / 128)]` (`{e}` stacks it as the weight does),
    the multiplier of each 128 x 128 block, as DeepSeek-V3 and Qwen3-FP8 ship
    (`weight_scale_inv`). The value is `decode(code) · scale`; the result type
    is the type the graph computes in, and the compiler keeps the codes (fp8
    weights, moe-compile's `--weight-type`) or converts them.

    With `format mxfp4 scales "NAME"` (gpt-oss), `tensor_name` is the U8 tensor
    of blocks `[..., N, K / 32, 16]`: two e2m1 values per byte, the element of
    even k in the low nibble; `NAME` is the U8 tensor `[..., N, K / 32]` of
    e8m0 scales, one per 32 values of a row. The value is
    `e2m1(code) · 2^(scale - 127)`, exact in f32. K must be a multiple of 32.
    The compiler keeps the codes and scales (mxfp4 weights, moe-compile's
    `--weight-type`) or converts them.

    `rows(start, step)` takes, of the stored tensor's dimension 1 (a matrix's
    rows after the expert dimension, or an `[E, N]` bias's columns), the
    indices `start, start + step, …`: the stored dimension is `step` times the
    result's. gpt-oss interleaves its gate and up projections this way
    (`rows(0, 2)` is the gate, `rows(1, 2)` the up projection).

    ```mlir
    %wg = moe.weight "model.layers.0.block_sparse_moe.gate.weight" from "model.safetensors" : tensor<8x4096xbf16>
    %w8 = moe.weight "model.layers.3.mlp.experts.{e}.up_proj.weight" from "model.safetensors" format fp8_e4m3 scales "model.layers.3.mlp.experts.{e}.up_proj.weight_scale_inv" : tensor<256x2048x7168xf32>
    %w1 = moe.weight "model.layers.0.block_sparse_moe.experts.{e}.w1.weight" from "model.safetensors" : tensor<8x14336x4096xbf16>
    %w2 = moe.weight "w2" random(3) : tensor<8x4096x14336xf32>
    %gt = moe.weight "model.layers.0.mlp.experts.gate_up_proj_blocks" from "model.safetensors" format mxfp4 scales "model.layers.0.mlp.experts.gate_up_proj_scales" rows(0, 2) : tensor<32x2880x2880xf32>
    ```
  }];
  let arguments = (ins StrAttr:$tensor_name, OptionalAttr<StrAttr>:$file,
                       OptionalAttr<ElementsAttr>:$value,
                       OptionalAttr<I64Attr>:$random_seed,
                       OptionalAttr<Moe_WeightFormat>:$format,
                       OptionalAttr<StrAttr>:$scales,
                       OptionalAttr<I64Attr>:$row_start,
                       OptionalAttr<I64Attr>:$row_step);
  let results = (outs Moe_WeightTensor:$result);
  let assemblyFormat = [{
    $tensor_name (`from` $file^)? (`=` $value^)?
    (`random` `(` $random_seed^ `)`)? (`format` $format^ `scales` $scales)?
    (`rows` `(` $row_start^ `,` $row_step `)`)?
    attr-dict `:` type($result)
  }];
  let extraClassDeclaration = [{
    /// True when the name holds the per-expert placeholder `{e}`.
    bool isStackedPerExpert() { return getTensorName().contains("{e}"); }
    /// The tensor name for expert `e` (the name itself when not stacked).
    std::string getTensorNameForExpert(int64_t e);
  }];
}

//===----------------------------------------------------------------------===//
// Routing
//===----------------------------------------------------------------------===//

def Moe_RouterOp : Moe_Op<"router", [AttrSizedOperandSegments]> {
  let summary = "router logits: x·Wgᵀ (+ bias) in f32, optionally noisy";
  let description = [{
    `logits[t, e] = Σ_h f32(x[t, h]) · f32(Wg[e, h]) (+ bias[e])`, accumulated
    in f32 whatever the dtype of `x` and `Wg`. Shapes: x `[T, H]`, Wg `[E, H]`,
    bias `[E]` f32, logits `[T, E]` f32.

    With `noise(%wn)` (Wn `[E, H]`), the router is noisy top-k gating's
    (Shazeer et al., 2017, KeepTopK):
    `H(x)[t, e] = logits[t, e] + StandardNormal() · softplus(x·Wnᵀ)[t, e]`.
    Inference ignores the noise, as the method prescribes: the op's value is
    the plain logits unless a run asks for the noise with a seed
    (`moert_session_set_router_noise`, `moe-run --router-noise-seed`); the
    normal values are then drawn by a counter-based generator from (seed,
    router, token, expert) (docs/compiler.md, "Noisy top-k gating").

    ```mlir
    %logits = moe.router %x, %wg : tensor<?x72xf32>, tensor<12x72xf32> -> tensor<?x12xf32>
    %noisy = moe.router %x, %wg noise(%wn : tensor<12x72xf32>) : tensor<?x72xf32>, tensor<12x72xf32> -> tensor<?x12xf32>
    ```
  }];
  let arguments = (ins Moe_ActTensor:$input, Moe_WeightTensor:$weight,
                       Optional<Moe_F32Tensor>:$bias,
                       Optional<Moe_WeightTensor>:$noise_weight);
  let results = (outs Moe_F32Tensor:$logits);
  let assemblyFormat = [{
    $input `,` $weight (`bias` $bias^)?
    (`noise` `(` $noise_weight^ `:` type($noise_weight) `)`)? attr-dict
    `:` type($input) `,` type($weight) (`,` type($bias)^)? `->` type($logits)
  }];
}

def Moe_TopKOp : Moe_Op<"topk"> {
  let summary = "score, select the k best experts per token, and weight them";
  let description = [{
    For each token t, from `logits[t, :]` (f32 `[T, E]`) under `routing`
    (`#moe.routing`):

    1. scores `s = softmax(logits[t])` (over E), `sigmoid(logits[t])` or the
       logits themselves (`scoring = none`);
    2. selection scores `q = s + correction_bias` when the optional bias `[E]`
       is given, else `q = s` (the bias steers selection and never weighting);
    3. with `n_group > 1`: group g's score is the sum of the two largest `q` in
       it (`top2_sum`) or the largest (`max`); all experts outside the
       `topk_group` best groups get `q = -inf`;
    4. the k experts with the largest `q`, in descending order of `q`, ties to
       the lower expert index, are `indices[t, :]` (i32 `[T, k]`);
    5. `weights[t, j] = s[indices[t, j]]`, or, with `softmax_after_topk`,
       `softmax(logits[t, indices[t, :]])[j]`; with `renormalize`,
       `w /= (Σ_j w + epsilon)`; finally `w *= scaling_factor` (f32 `[T, k]`).

    ```mlir
    %w, %i = moe.topk %logits <k = 2, renormalize = true> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    ```
  }];
  let arguments = (ins Moe_F32Tensor:$logits,
                       Optional<Moe_F32Tensor>:$correction_bias,
                       Moe_RoutingAttr:$routing);
  let results = (outs Moe_F32Tensor:$weights, Moe_I32Tensor:$indices);
  let assemblyFormat = [{
    $logits (`bias` $correction_bias^)? $routing attr-dict `:` type($logits)
    (`,` type($correction_bias)^)? `->` type($weights) `,` type($indices)
  }];
  let hasCanonicalizer = 1;
}

def Moe_MixtureOp : Moe_Op<"mixture"> {
  let summary = "dense mixture: every expert weighted by its score";
  let description = [{
    The routing of a top-k that keeps all E experts without renormalizing:
    `weights[t, e] = scaling_factor · s[t, e]` with `s` the `scoring` of the
    logits as in `moe.topk`, and `indices[t, e] = e`. It equals `moe.topk` with
    `k = E` up to the order of the slots (by expert here, by score there); every
    consumer in this dialect is invariant to that order (`moe.combine` sums in
    expert order), which is why the canonicalizer rewrites such a `moe.topk` into
    this op when its results feed only such consumers.

    ```mlir
    %w, %i = moe.mixture softmax %logits : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
    ```
  }];
  let arguments = (ins EnumProp<Moe_ScoringFunc>:$scoring, Moe_F32Tensor:$logits,
                       DefaultValuedAttr<F64Attr, "1.0">:$scaling_factor);
  let results = (outs Moe_F32Tensor:$weights, Moe_I32Tensor:$indices);
  let assemblyFormat = [{
    $scoring $logits attr-dict `:` type($logits) `->` type($weights) `,` type($indices)
  }];
}

def Moe_ExpertChoiceOp : Moe_Op<"expert_choice"> {
  let summary = "expert-choice routing: each expert takes its best C tokens";
  let description = [{
    Zhou et al. 2022. Scores `s[t, :] = softmax(logits[t, :])` (over experts) or
    `sigmoid(logits[t, :])` per `config.scoring`. With
    `C = min(T, ceil(capacity_factor · T / E))`, expert e takes the C tokens with
    the largest `s[:, e]`, in descending order of score, ties to the lower token
    index. The results are directly the expert-ordered layout of
    `moe.permute` / `moe.expert_ffn` / `moe.unpermute`, with `R = E · C` rows,
    row `r = e · C + c` holding expert e's c-th token:
    `row_token[r]` (i32 `[R]`), `row_weight[r] = s[row_token[r], e]` (f32 `[R]`)
    and `offsets[e] = e · C` (i32 `[E + 1]`). A token may be taken by several
    experts or by none.

    ```mlir
    %w, %tok, %off = moe.expert_choice %logits <capacity_factor = 2.0> : tensor<16x8xf32> -> tensor<32xf32>, tensor<32xi32>, tensor<9xi32>
    ```

    With `ranks(N)` (expert parallelism, moe-shard-experts) the op runs on
    each of N ranks, each with its own tokens: the experts choose among the
    tokens of every rank, in rank order (T the sum of the ranks' T, the
    ranks' logits gathered), and the results keep this rank's rows only:
    for each expert, its chosen tokens that are this rank's, in the order
    above, `row_token` their index among this rank's tokens, `offsets` the
    rows per expert so kept. The row count is then dynamic.
  }];
  let arguments = (ins Moe_F32Tensor:$logits, Moe_ExpertChoiceAttr:$config,
                       OptionalAttr<I64Attr>:$ranks);
  let results = (outs Moe_F32Tensor:$row_weight, Moe_I32Tensor:$row_token,
                      Moe_I32Tensor:$offsets);
  let extraClassDeclaration = [{
    /// R = E · C for T tokens (dynamic when T is).
    static int64_t getNumRows(int64_t numTokens, int64_t numExperts,
                              ExpertChoiceAttr config);
  }];
  let assemblyFormat = [{
    $logits $config (`ranks` `(` $ranks^ `)`)? attr-dict `:` type($logits) `->`
    type($row_weight) `,` type($row_token) `,` type($offsets)
  }];
}

def Moe_DispatchOp : Moe_Op<"dispatch"> {
  let summary = "plan the expert-ordered layout of token copies";
  let description = [{
    From `indices` (i32 `[T, k]`, experts in `[0, E)`) computes where each token
    copy (t, j) goes in a buffer of R rows grouped by expert:

    - Admission: copies are considered in priority order, slot-major (all
      tokens' slot 0 in token order, then slot 1, ...). Without `capacity` all
      are admitted. With `#moe.capacity` an expert admits at most C copies; an
      overflowing copy is dropped, or with `overflow = reroute` goes to the
      token's most probable expert by `probs` (f32 `[T, E]`, required for
      reroute) that is not among its other choices and still has room
      (ties to the lower index); if none has room it is dropped.
    - `counts[e]` (i32 `[E]`): copies admitted to e.
    - `offsets` (i32 `[E + 1]`): `offsets[0] = 0`,
      `offsets[e + 1] = offsets[e] + roundup(counts[e], block)`.
    - Within group e, rows `offsets[e] + i` hold e's copies in ascending token
      order; `row_token[r]` (i32 `[R]`) is the source token, or -1 for padding
      rows and for the unused rows past `offsets[E]`.
    - `slot_row[t, j]` (i32 `[T, k]`): the row holding copy (t, j), -1 if dropped.
    - `R = T·k + E·(block − 1)` without capacity, `E · roundup(C, block)` with.

    ```mlir
    %counts, %offsets, %row_token, %slot_row = moe.dispatch %indices experts(8)
        : tensor<?x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<?xi32>, tensor<?x2xi32>
    ```
  }];
  let arguments = (ins Moe_I32Tensor:$indices, Optional<Moe_F32Tensor>:$probs,
                       I64Attr:$num_experts,
                       OptionalAttr<Moe_CapacityAttr>:$capacity,
                       DefaultValuedAttr<I64Attr, "1">:$block);
  let results = (outs Moe_I32Tensor:$counts, Moe_I32Tensor:$offsets,
                      Moe_I32Tensor:$row_token, Moe_I32Tensor:$slot_row);
  let extraClassDeclaration = [{
    /// R for T tokens (dynamic when T is and the capacity is not fixed).
    static int64_t getNumRows(int64_t numTokens, int64_t k, int64_t numExperts,
                              CapacityAttr capacity, int64_t block);
    /// The four result types for indices of type `indices`.
    static ::llvm::SmallVector<::mlir::Type, 4>
    inferResultTypes(::mlir::RankedTensorType indices, int64_t numExperts,
                     CapacityAttr capacity, int64_t block);
  }];
  let assemblyFormat = [{
    $indices (`probs` $probs^)? `experts` `(` $num_experts `)`
    (`capacity` $capacity^)? attr-dict `:` type($indices) (`,` type($probs)^)?
    `->` type($counts) `,` type($offsets) `,` type($row_token) `,` type($slot_row)
  }];
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

def Moe_PermuteOp : Moe_Op<"permute"> {
  let summary = "gather token rows into expert order";
  let description = [{
    `out[r, :] = input[row_token[r], :]` when `row_token[r] >= 0`, else 0.
    Shapes: input `[T, H]`, row_token i32 `[R]`, out `[R, H]` (same dtype).

    ```mlir
    %xp = moe.permute %x, %row_token : tensor<?x72xf32>, tensor<?xi32> -> tensor<?x72xf32>
    ```
  }];
  let arguments = (ins Moe_ActTensor:$input, Moe_I32Tensor:$row_token);
  let results = (outs Moe_ActTensor:$result);
  let assemblyFormat = [{
    $input `,` $row_token attr-dict `:` type($input) `,` type($row_token) `->` type($result)
  }];
}

def Moe_UnpermuteOp : Moe_Op<"unpermute", [AttrSizedOperandSegments]> {
  let summary = "scatter expert-ordered rows back to their tokens, summing";
  let description = [{
    `out[t, :] = Σ_{r : row_token[r] = t} row_weight[r] · input[r, :]`, the sum
    taken in ascending r (that is, in expert order) in f32 and rounded to the
    result dtype once; tokens that no row names get 0; without `row_weight` every
    weight is 1. Shapes: input `[R, H]`, row_token i32 `[R]`, row_weight f32
    `[R]`, out `[T, H]`. When T is dynamic it is given as an index operand, as in
    `tensor.empty`. Expert-choice routing combines with this op.

    ```mlir
    %y = moe.unpermute %yp, %row_token weights %w tokens(%t) : tensor<?x72xf32>, tensor<?xi32>, tensor<?xf32> -> tensor<?x72xf32>
    ```
  }];
  let arguments = (ins Moe_ActTensor:$input, Moe_I32Tensor:$row_token,
                       Optional<Moe_F32Tensor>:$row_weight,
                       Optional<Index>:$num_tokens);
  let results = (outs Moe_ActTensor:$result);
  let assemblyFormat = [{
    $input `,` $row_token (`weights` $row_weight^)? (`tokens` `(` $num_tokens^ `)`)?
    attr-dict `:` type($input) `,` type($row_token) (`,` type($row_weight)^)?
    `->` type($result)
  }];
}

//===----------------------------------------------------------------------===//
// Expert computation
//===----------------------------------------------------------------------===//

def Moe_GroupedMatmulOp : Moe_Op<"grouped_matmul"> {
  let summary = "one matrix product per expert over its rows";
  let description = [{
    For each expert e and each row r in `[offsets[e], offsets[e + 1])`:
    `out[r, n] = Σ_k f32(input[r, k]) · f32(weight[e, n, k])`, accumulated in
    f32 and rounded to the input's dtype; rows at or past `offsets[E]` are 0.
    Shapes: input `[R, K]`, weight `[E, N, K]`, offsets i32 `[E + 1]`
    (non-decreasing, `offsets[E] <= R`), out `[R, N]`.

    ```mlir
    %h = moe.grouped_matmul %xp, %w1, %offsets : tensor<?x72xf32>, tensor<12x40x72xf32>, tensor<13xi32> -> tensor<?x40xf32>
    ```
  }];
  let arguments = (ins Moe_ActTensor:$input, Moe_WeightTensor:$weight,
                       Moe_I32Tensor:$offsets);
  let results = (outs Moe_ActTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight `,` $offsets attr-dict `:` type($input) `,` type($weight)
    `,` type($offsets) `->` type($result)
  }];
}

def Moe_GluOp : Moe_Op<"glu"> {
  let summary = "gated linear unit: act(gate) ⊙ up";
  let description = [{
    `out = act(gate) ⊙ up`, elementwise in f32, rounded to the dtype once, with
    `act` = silu (`x·σ(x)`, SwiGLU), gelu (`x·Φ(x)`, erf form, GeGLU),
    gelu_tanh (tanh approximation) or relu. `clamped_swiglu` (GPT-OSS) is
    `(clamp(up, -limit, limit) + 1) · g · σ(alpha · g)` with `g = min(gate, limit)`.
    With one operand (the fused form produced by gate/up fusion), its last
    dimension is `2F`: columns `[0, F)` are the gate, `[F, 2F)` the up
    projection. Shapes: `[N, F]` in and out.

    ```mlir
    %a = moe.glu silu %g, %u : tensor<?x40xf32>, tensor<?x40xf32> -> tensor<?x40xf32>
    %b = moe.glu silu %gu : tensor<?x80xf32> -> tensor<?x40xf32>
    ```
  }];
  let arguments = (ins EnumProp<Moe_Activation>:$activation, Moe_ActTensor:$gate,
                       Optional<Moe_ActTensor>:$up,
                       DefaultValuedAttr<F64Attr, "1.702">:$alpha,
                       DefaultValuedAttr<F64Attr, "7.0">:$limit);
  let results = (outs Moe_ActTensor:$result);
  let assemblyFormat = [{
    $activation $gate (`,` $up^)? attr-dict `:` type($gate) (`,` type($up)^)?
    `->` type($result)
  }];
}

def Moe_ExpertFfnOp : Moe_Op<"expert_ffn", [AttrSizedOperandSegments]> {
  let summary = "each expert's FFN over its rows of the permuted buffer";
  let description = [{
    For expert e over its rows `[offsets[e], offsets[e + 1])` of `input`
    (`[R, H]`): `down_e(act(gate_e(x)) ⊙ up_e(x))` when `ffn.gated`, else
    `down_e(act(up_e(x)))`, where `p_e(x) = x · W_p[e]ᵀ` as in
    `moe.grouped_matmul` (the hidden activations are rounded to the input dtype
    between the projections, as a framework does) and `act` as in `moe.glu`.
    Rows past `offsets[E]` are 0. Weights: gate and up `[E, F, H]`, down
    `[E, H, F]`; out `[R, H]`. With `biases(up %bu, down %bd, gate %bg)`
    (gpt-oss), `p_e(x) = x · W_p[e]ᵀ + b_p[e]`: the bias (f32, gate and up
    `[E, F]`, down `[E, H]`; gate exactly when the FFN is gated) is added in
    f32 before the projection's result is rounded.

    With `experts %map` (i32 `[G]`, as `moe.exchange` writes it), the rows
    are in G groups (offsets `[G + 1]`) and group g is expert `map[g]`'s:
    `p_g(x) = x · W_p[map[g]]ᵀ (+ b_p[map[g]])`; a group without rows may
    hold -1 (an empty slot), any other value is in `[0, E)` (an execution
    error otherwise).

    ```mlir
    %y = moe.expert_ffn %xp, %offsets gate %w1 up %w3 down %w2 <activation = silu>
        : (tensor<?x72xf32>, tensor<13xi32>, tensor<12x40x72xf32>, tensor<12x40x72xf32>, tensor<12x72x40xf32>) -> tensor<?x72xf32>
    ```
  }];
  let arguments = (ins Moe_ActTensor:$input, Moe_I32Tensor:$offsets,
                       Optional<Moe_I32Tensor>:$expert_map,
                       Optional<Moe_WeightTensor>:$gate_weight,
                       Moe_WeightTensor:$up_weight, Moe_WeightTensor:$down_weight,
                       Optional<Moe_F32Tensor>:$up_bias,
                       Optional<Moe_F32Tensor>:$down_bias,
                       Optional<Moe_F32Tensor>:$gate_bias,
                       Moe_FfnAttr:$ffn);
  let results = (outs Moe_ActTensor:$result);
  let assemblyFormat = [{
    $input `,` $offsets (`experts` $expert_map^)? (`gate` $gate_weight^)? `up` $up_weight `down` $down_weight
    (`biases` `(` `up` $up_bias^ `,` `down` $down_bias (`,` `gate` $gate_bias^)? `)`)?
    $ffn attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Expert parallelism
//===----------------------------------------------------------------------===//

def Moe_ExchangeOp : Moe_Op<"exchange"> {
  let summary = "send each expert's rows to the rank that holds it";
  let description = [{
    Expert parallelism (`moe-shard-experts`): every rank runs the function on
    its own tokens, and the experts' weights are spread over the `ranks` ranks
    in `slots` slots each by the session's placement, a table that maps
    (rank, slot) to an expert in `[0, E)` or -1 (an empty slot), given at
    session creation (default: slot s of rank r holds expert `r · slots + s`
    when that is below E). An expert may sit in several slots (a replica of a
    hot expert); a rank sends an expert's rows to its own replica if it holds
    one, else to the replica `rank mod copies` in (rank, slot) order.

    `input` (`[R, H]`) holds this rank's rows grouped by expert as `offsets`
    (i32 `[E + 1]`, from `moe.dispatch`) says. All ranks take part together
    (a collective): each sends expert e's rows to e's slot, and receives into
    `received` (`[B, H]`, the same dtype) the rows of its own slots: slot s's
    rows are `[slot_offsets[s], slot_offsets[s + 1])` (i32 `[S + 1]`), from
    rank 0's first, each rank's in its dispatch order. `slot_experts` (i32
    `[S]`) is this rank's row of the placement, `counts` (i32
    `[ranks · S]`) the rows that each rank sent to each slot (rank-major),
    which `moe.exchange_back` needs. The bound B is `recv_rows`, or when 0
    `ranks` times R at the largest T: a rank that would receive more rows
    than B fails the exchange on every rank with an execution error.

    ```mlir
    %xr, %soff, %smap, %counts = moe.exchange %xp, %offsets ranks(2) slots(4)
        : tensor<?x72xf32>, tensor<9xi32>
        -> tensor<?x72xf32>, tensor<5xi32>, tensor<4xi32>, tensor<8xi32>
    ```
  }];
  let arguments = (ins Moe_ActTensor:$input, Moe_I32Tensor:$offsets,
                       I64Attr:$ranks, I64Attr:$slots,
                       DefaultValuedAttr<I64Attr, "0">:$recv_rows);
  let results = (outs Moe_ActTensor:$received, Moe_I32Tensor:$slot_offsets,
                      Moe_I32Tensor:$slot_experts, Moe_I32Tensor:$counts);
  let assemblyFormat = [{
    $input `,` $offsets `ranks` `(` $ranks `)` `slots` `(` $slots `)` attr-dict
    `:` type($input) `,` type($offsets) `->` type($received) `,`
    type($slot_offsets) `,` type($slot_experts) `,` type($counts)
  }];
}

def Moe_ExchangeBackOp : Moe_Op<"exchange_back"> {
  let summary = "return the experts' results to the ranks their rows came from";
  let description = [{
    The inverse of the `moe.exchange` whose `slot_offsets` and `counts` it
    takes: `input` (`[B, N]`) holds one result row per received row, and each
    goes back to the rank and the row it came from, so that `result`
    (`[R, N]`, R = the size of `row_token`, the dispatch's `row_token`) is in
    this rank's dispatch order, as `offsets` (i32 `[E + 1]`) groups it; rows
    past `offsets[E]` are 0. A collective, as `moe.exchange`.

    ```mlir
    %y = moe.exchange_back %yr, %offsets, %soff, %counts, %row_token ranks(2) slots(4)
        : tensor<?x72xf32>, tensor<9xi32>, tensor<5xi32>, tensor<8xi32>, tensor<?xi32>
        -> tensor<?x72xf32>
    ```
  }];
  let arguments = (ins Moe_ActTensor:$input, Moe_I32Tensor:$offsets,
                       Moe_I32Tensor:$slot_offsets, Moe_I32Tensor:$counts,
                       Moe_I32Tensor:$row_token, I64Attr:$ranks, I64Attr:$slots);
  let results = (outs Moe_ActTensor:$result);
  let assemblyFormat = [{
    $input `,` $offsets `,` $slot_offsets `,` $counts `,` $row_token `ranks` `(`
    $ranks `)` `slots` `(` $slots `)` attr-dict `:` type($input) `,`
    type($offsets) `,` type($slot_offsets) `,` type($counts) `,` type($row_token)
    `->` type($result)
  }];
}

def Moe_CombineOp : Moe_Op<"combine", [AttrSizedOperandSegments]> {
  let summary = "weighted sum of each token's expert outputs";
  let description = [{
    `out[t] = Σ_j c(t, j) (+ addend[t])` where
    `c(t, j) = weights[t, j] · expert_out[slot_row[t, j]]` when
    `slot_row[t, j] >= 0`; for a dropped slot (`-1`), `c = 0`, or with
    `passthrough %x` (Switch semantics), `c = weights[t, j] · x[t]`, so a dropped
    Switch token returns `p_max · x`. The terms are summed in f32 in ascending
    order of `slot_row` (dropped slots first, in slot order), which is expert
    order; `addend` (the shared expert's output, say) is added last; the result
    is rounded to the dtype once. Shapes: expert_out `[R, H]`, weights f32 `[T, k]`,
    slot_row i32 `[T, k]`, x and addend and out `[T, H]`.

    ```mlir
    %y = moe.combine %ye, %w, %slot_row : (tensor<?x72xf32>, tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?x72xf32>
    ```
  }];
  let arguments = (ins Moe_ActTensor:$expert_out, Moe_F32Tensor:$weights,
                       Moe_I32Tensor:$slot_row,
                       Optional<Moe_ActTensor>:$passthrough,
                       Optional<Moe_ActTensor>:$addend);
  let results = (outs Moe_ActTensor:$result);
  let assemblyFormat = [{
    $expert_out `,` $weights `,` $slot_row (`passthrough` $passthrough^)?
    (`addend` $addend^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Moe_SharedExpertOp : Moe_Op<"shared_expert", [AttrSizedOperandSegments]> {
  let summary = "an always-on dense FFN, optionally sigmoid-gated";
  let description = [{
    `out[t] = g(t) · FFN(x[t])` with `FFN` as one expert of `moe.expert_ffn`
    (gate/up `[F, H]`, down `[H, F]`; no gate weight when `ffn.gated` is false)
    and `g(t) = sigmoid(Σ_h f32(x[t, h]) · f32(gate[0, h]))` when
    `sigmoid_gate` (`[1, H]`, Qwen2-MoE's `shared_expert_gate`) is given, else 1.
    `FFN(x[t])` is rounded to the dtype as an expert's output is, and the
    product with `g(t)` (computed in f32) is rounded once more.
    A dense FFN layer is this op without `sigmoid_gate`. `F` may be 0 (the output
    is then 0). Shapes: x and out `[T, H]`.

    ```mlir
    %s = moe.shared_expert %x gate %sg up %su down %sd sigmoid_gate %g <activation = silu>
        : (tensor<?x72xf32>, tensor<40x72xf32>, tensor<40x72xf32>, tensor<72x40xf32>, tensor<1x72xf32>) -> tensor<?x72xf32>
    ```
  }];
  let arguments = (ins Moe_ActTensor:$input,
                       Optional<Moe_WeightTensor>:$gate_weight,
                       Moe_WeightTensor:$up_weight, Moe_WeightTensor:$down_weight,
                       Optional<Moe_WeightTensor>:$sigmoid_gate,
                       Moe_FfnAttr:$ffn);
  let results = (outs Moe_ActTensor:$result);
  let assemblyFormat = [{
    $input (`gate` $gate_weight^)? `up` $up_weight `down` $down_weight
    (`sigmoid_gate` $sigmoid_gate^)? $ffn attr-dict `:` functional-type(operands, results)
  }];
}

def Moe_BlockOp : Moe_Op<"block", [AttrSizedOperandSegments]> {
  let summary = "a whole sparse MoE block";
  let description = [{
    The sparse feed-forward block of an MoE layer as one op (no residual, no
    norm), defined as its expansion into primitives:

    - token choice (`routing` is `#moe.routing`):
      `logits = moe.router(x, router_weight, router_bias, noise router_noise)`
      (noisy top-k gating when `noise` is given: see `moe.router`);
      `w, idx = moe.topk(logits, correction_bias, routing)`;
      `dispatch(idx, capacity)`, `permute`, `expert_ffn(gate, up, down, ffn)`,
      `combine(w)` with `passthrough x` when `dropped = passthrough`; for
      `overflow = reroute` the dispatch's probabilities are the routing's scores;
    - expert choice (`routing` is `#moe.expert_choice`): `expert_choice`,
      `permute`, `expert_ffn`, `unpermute` with the row weights;
    - plus, when shared weights are given, `shared_expert(x, shared_*, ffn,
      shared_expert_gate)` added to the routed output.

    Shapes: x and out `[T, H]`; router_weight and router_noise `[E, H]`; router_bias and
    correction_bias f32 `[E]`; up and gate `[E, F, H]`, down `[E, H, F]`;
    the experts' biases (`biases(up, down, gate)`, as in `moe.expert_ffn`)
    f32 `[E, F]`, `[E, H]`, `[E, F]`;
    shared up and gate `[Fs, H]`, shared down `[H, Fs]`, shared_expert_gate
    `[1, H]`. The operand types are listed in the order the operands appear.

    ```mlir
    %y = moe.block %x router %wg experts(up %w3, down %w2, gate %w1)
        routing #moe.routing<k = 2, renormalize = true> ffn <activation = silu>
        : (tensor<?x72xf32>, tensor<8x72xf32>, tensor<8x40x72xf32>, tensor<8x72x40xf32>, tensor<8x40x72xf32>) -> tensor<?x72xf32>
    ```
  }];
  let arguments = (ins Moe_ActTensor:$input, Moe_WeightTensor:$router_weight,
                       Optional<Moe_F32Tensor>:$router_bias,
                       Optional<Moe_WeightTensor>:$router_noise,
                       Optional<Moe_F32Tensor>:$correction_bias,
                       Moe_WeightTensor:$up_weight, Moe_WeightTensor:$down_weight,
                       Optional<Moe_WeightTensor>:$gate_weight,
                       Optional<Moe_F32Tensor>:$up_bias,
                       Optional<Moe_F32Tensor>:$down_bias,
                       Optional<Moe_F32Tensor>:$gate_bias,
                       Optional<Moe_WeightTensor>:$shared_up_weight,
                       Optional<Moe_WeightTensor>:$shared_down_weight,
                       Optional<Moe_WeightTensor>:$shared_gate_weight,
                       Optional<Moe_WeightTensor>:$shared_expert_gate,
                       AnyAttrOf<[Moe_RoutingAttr, Moe_ExpertChoiceAttr]>:$routing,
                       Moe_FfnAttr:$ffn,
                       OptionalAttr<Moe_CapacityAttr>:$capacity,
                       DefaultValuedProp<EnumProp<Moe_DroppedPolicy>, "DroppedPolicy::zero">:$dropped);
  let results = (outs Moe_ActTensor:$result);
  let assemblyFormat = [{
    $input `router` $router_weight (`bias` $router_bias^)?
    (`noise` $router_noise^)? (`correction` $correction_bias^)?
    `experts` `(` `up` $up_weight `,` `down` $down_weight (`,` `gate` $gate_weight^)? `)`
    (`biases` `(` `up` $up_bias^ `,` `down` $down_bias (`,` `gate` $gate_bias^)? `)`)?
    (`shared` `(` `up` $shared_up_weight^ `,` `down` $shared_down_weight
      (`,` `gate` $shared_gate_weight^)? `)`)?
    (`shared_expert_gate` $shared_expert_gate^)?
    `routing` $routing `ffn` $ffn (`capacity` $capacity^)?
    (`dropped` `=` $dropped^)? attr-dict
    `:` functional-type(operands, results)
  }];
  let extraClassDeclaration = [{
    bool isExpertChoice() { return ::llvm::isa<ExpertChoiceAttr>(getRouting()); }
    bool hasSharedExpert() { return getSharedUpWeight() != nullptr; }
  }];
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// Monitoring
//===----------------------------------------------------------------------===//

def Moe_RouterStatsOp : Moe_Op<"router_stats"> {
  let summary = "per-expert load and the usual routing-health losses";
  let description = [{
    From logits (f32 `[T, E]`) and the chosen `indices` (i32 `[T, k]`):
    `counts[e]` (i32 `[E]`) = number of (t, j) with `indices[t, j] = e`;
    `cv` = population standard deviation of counts / their mean;
    `load_balancing_loss = E · Σ_e f_e · P_e` with `f_e = counts[e] / T` and
    `P_e = mean_t softmax(logits[t])[e]` (the Hugging Face / Switch form; it is
    k for a perfectly balanced top-k router);
    `z_loss = mean_t (logsumexp_e logits[t, e])²` (ST-MoE). Scalars are f32
    0-d tensors; all math in f32. With T = 0 the losses and cv are 0.

    ```mlir
    %c, %cv, %lb, %z = moe.router_stats %logits, %idx : tensor<?x8xf32>, tensor<?x2xi32>
        -> tensor<8xi32>, tensor<f32>, tensor<f32>, tensor<f32>
    ```
  }];
  let arguments = (ins Moe_F32Tensor:$logits, Moe_I32Tensor:$indices);
  let results = (outs Moe_I32Tensor:$counts, Moe_F32Tensor:$cv,
                      Moe_F32Tensor:$load_balancing_loss, Moe_F32Tensor:$z_loss);
  let assemblyFormat = [{
    $logits `,` $indices attr-dict `:` type($logits) `,` type($indices) `->`
    type($counts) `,` type($cv) `,` type($load_balancing_loss) `,` type($z_loss)
  }];
}

#endif // MOEC_DIALECT_MOE_OPS
