//===- MoeAttrs.td - routing and expert configuration -----*- tablegen -*-===//
#ifndef MOEC_DIALECT_MOE_ATTRS
#define MOEC_DIALECT_MOE_ATTRS

include "MoeBase.td"
include "mlir/IR/AttrTypeBase.td"

class Moe_Attr<string name, string attrMnemonic> : AttrDef<Moe_Dialect, name> {
  let mnemonic = attrMnemonic;
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

// An enum-valued parameter with a default; elided when it has that value.
class Moe_EnumParam<EnumAttrInfo info, string value> : EnumParameter<info> {
  let defaultValue = value;
}

// An f64-valued parameter printed in its shortest exact form (1.25, 1.0e-20).
class Moe_F64Param<string value, string desc = ""> : AttrParameter<"::llvm::APFloat", desc> {
  let defaultValue = "::llvm::APFloat(" # value # ")";
  let comparator = "$_lhs.bitwiseIsEqual($_rhs)";
  let parser = "::moec::moe::parseF64Param($_parser)";
  let printer = "::moec::moe::printF64Param($_printer, $_self)";
}

def Moe_RoutingAttr : Moe_Attr<"Routing", "routing"> {
  let summary = "token-choice routing: scoring, top-k selection and weighting";
  let description = [{
    How `moe.topk` (and `moe.block`) turn router logits into k (weight, expert)
    pairs per token. Parameters and defaults:

    - `k`: experts per token (required).
    - `scoring = softmax | sigmoid | none`: the score function applied to the
      logits (softmax over the E experts, elementwise sigmoid, or identity).
    - `renormalize = false`: divide the k weights by (their sum + `epsilon`).
    - `epsilon = 0.0`: added to the sum when renormalizing (DeepSeek-V3 uses 1e-20).
    - `scaling_factor = 1.0`: the weights are multiplied by it last.
    - `n_group = 1`, `topk_group = 1`: group-limited selection: the E experts
      form `n_group` equal groups, each group is scored (`group_score`), the
      `topk_group` best groups survive and the experts of the other groups are
      masked to -inf before the top-k.
    - `group_score = top2_sum | max`: a group's score is the sum of its two best
      selection scores (DeepSeek-V3) or its best one (DeepSeek-V2).
    - `softmax_after_topk = false`: the weights are the softmax over the k
      selected logits only; requires `scoring = none` and no renormalization
      (the result is already normalized).

    Example: `#moe.routing<k = 2, renormalize = true>` (Mixtral).
  }];
  let parameters = (ins
    "int64_t":$k,
    Moe_EnumParam<Moe_ScoringFunc, "ScoringFunc::softmax">:$scoring,
    DefaultValuedParameter<"bool", "false">:$renormalize,
    Moe_F64Param<"0.0">:$epsilon,
    Moe_F64Param<"1.0">:$scaling_factor,
    DefaultValuedParameter<"int64_t", "1">:$n_group,
    DefaultValuedParameter<"int64_t", "1">:$topk_group,
    Moe_EnumParam<Moe_GroupScore, "GroupScore::top2_sum">:$group_score,
    DefaultValuedParameter<"bool", "false">:$softmax_after_topk
  );
  let extraClassDeclaration = [{
    /// Number of experts in one group for a router over `numExperts` experts.
    int64_t getGroupSize(int64_t numExperts) const {
      return numExperts / getNGroup();
    }
    /// True when selection is restricted to the best groups.
    bool isGroupLimited() const { return getNGroup() > 1; }
    /// Checks the parameters against the number of experts E; emits located
    /// errors through `emitError`.
    ::mlir::LogicalResult verifyForExperts(
        ::llvm::function_ref<::mlir::InFlightDiagnostic()> emitError,
        int64_t numExperts) const;
  }];
}

def Moe_FfnAttr : Moe_Attr<"Ffn", "ffn"> {
  let summary = "the shape of an expert FFN: gated or not, and its activation";
  let description = [{
    - `activation = silu | gelu | gelu_tanh | relu | clamped_swiglu` (required).
      `gelu` is the exact erf form, `gelu_tanh` the tanh approximation.
    - `gated = true`: the FFN is `down(act(gate(x)) ⊙ up(x))`; when false it is
      `down(act(up(x)))` and there is no gate projection.
    - `alpha = 1.702`, `limit = 7.0`: parameters of `clamped_swiglu` (GPT-OSS):
      `g = min(gate, limit)`, `u = clamp(up, -limit, limit)`,
      `out = (u + 1) · g · sigmoid(alpha · g)`. Only meaningful for that
      activation, which must be gated.

    Example: `#moe.ffn<activation = relu, gated = false>` (Switch).
  }];
  let parameters = (ins
    EnumParameter<Moe_Activation>:$activation,
    DefaultValuedParameter<"bool", "true">:$gated,
    Moe_F64Param<"1.702">:$alpha,
    Moe_F64Param<"7.0">:$limit
  );
}

def Moe_CapacityAttr : Moe_Attr<"Capacity", "capacity"> {
  let summary = "a per-expert capacity and what happens on overflow";
  let description = [{
    Each expert accepts at most C token copies: `C = tokens` when `tokens > 0`
    (a fixed capacity, as Hugging Face's Switch Transformers configure it, at
    most 2^20), else `C = min(T, ceil(factor · T · k / E))`, computed in f64 (an
    expert never receives more than T copies, so the clamp changes nothing but
    the memory planned for the rows).
    Copies are admitted in priority order: all tokens' first choices (slot 0) in
    token order, then all second choices, and so on. A copy that finds its expert
    full is dropped (`overflow = drop`, Switch) or rerouted (`overflow = reroute`)
    to the token's most probable expert (by the router probabilities) that it
    has not already chosen and that still has room; if none has room it is
    dropped. Examples: `#moe.capacity<factor = 1.25>`, `#moe.capacity<tokens = 64>`.
  }];
  let parameters = (ins
    Moe_F64Param<"1.0">:$factor,
    DefaultValuedParameter<"int64_t", "0">:$tokens,
    Moe_EnumParam<Moe_OverflowPolicy, "OverflowPolicy::drop">:$overflow
  );
  let extraClassDeclaration = [{
    /// C for T tokens, computed exactly as the runtime does.
    int64_t getCapacity(int64_t numTokens, int64_t k, int64_t numExperts) const;
  }];
}

def Moe_ExpertChoiceAttr : Moe_Attr<"ExpertChoice", "expert_choice"> {
  let summary = "expert-choice routing (Zhou et al. 2022)";
  let description = [{
    Scores are `softmax` (over experts, per token) or `sigmoid` of the logits;
    each expert then takes its `C = ceil(capacity_factor · T / E)` best tokens
    (at most T). Example: `#moe.expert_choice<capacity_factor = 2.0>`.
  }];
  let parameters = (ins
    Moe_F64Param<"1.0">:$capacity_factor,
    Moe_EnumParam<Moe_ScoringFunc, "ScoringFunc::softmax">:$scoring
  );
  let extraClassDeclaration = [{
    /// C = min(T, ceil(capacity_factor · T / E)).
    int64_t getCapacity(int64_t numTokens, int64_t numExperts) const;
  }];
}

#endif // MOEC_DIALECT_MOE_ATTRS
