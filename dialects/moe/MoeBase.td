//===- MoeBase.td - the moe dialect and its enums ---------*- tablegen -*-===//
#ifndef MOEC_DIALECT_MOE_BASE
#define MOEC_DIALECT_MOE_BASE

include "mlir/IR/OpBase.td"
include "mlir/IR/EnumAttr.td"

def Moe_Dialect : Dialect {
  let name = "moe";
  let cppNamespace = "::moec::moe";
  let summary = "Mixture-of-Experts layers: routing, dispatch, expert FFNs, combine";
  let description = [{
    The `moe` dialect models the sparse feed-forward block of Mixture-of-Experts
    transformers at the level of tensors. A block is either written as one
    composite `moe.block` op, whose attributes carry the routing semantics of an
    architecture (Mixtral, Qwen2/3-MoE, OLMoE, DeepSeek-V2/V3, Switch), or as the
    primitives it expands to: `moe.router` (logits), `moe.topk` (scoring and
    selection), `moe.dispatch` (the permutation that groups token copies by
    expert), `moe.permute`, `moe.grouped_matmul`, `moe.glu`, `moe.combine`.

    Conventions used by every op below. Shapes: T tokens (the only dimension that
    may be dynamic), H hidden size, E experts, k experts chosen per token, F expert
    FFN width, R rows of the permuted (expert-ordered) buffer. Activations are
    `f32`, `bf16` or `f16`; all router math (logits, scores, weights) is `f32`
    whatever the activation dtype, and all matrix products accumulate in `f32`.
    Index tensors are `i32`; `-1` marks "no row" / "no token". Weight matrices
    follow the `torch.nn.Linear` layout `[out, in]`, so a projection is `x·Wᵀ`.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 0;
}

def Moe_ScoringFunc : I32EnumAttr<"ScoringFunc", "router scoring function", [
    I32EnumAttrCase<"softmax", 0>,
    I32EnumAttrCase<"sigmoid", 1>,
    I32EnumAttrCase<"none", 2>]> {
  let cppNamespace = "::moec::moe";
  let genSpecializedAttr = 0;
}

def Moe_GroupScore : I32EnumAttr<"GroupScore",
    "how a group of experts is scored in group-limited top-k", [
    I32EnumAttrCase<"top2_sum", 0>,
    I32EnumAttrCase<"max", 1>]> {
  let cppNamespace = "::moec::moe";
  let genSpecializedAttr = 0;
}

def Moe_Activation : I32EnumAttr<"Activation", "expert FFN activation", [
    I32EnumAttrCase<"silu", 0>,
    I32EnumAttrCase<"gelu", 1>,
    I32EnumAttrCase<"gelu_tanh", 2>,
    I32EnumAttrCase<"relu", 3>,
    I32EnumAttrCase<"clamped_swiglu", 4>]> {
  let cppNamespace = "::moec::moe";
  let genSpecializedAttr = 0;
}

def Moe_OverflowPolicy : I32EnumAttr<"OverflowPolicy",
    "what happens to a token copy routed to an expert that is full", [
    I32EnumAttrCase<"drop", 0>,
    I32EnumAttrCase<"reroute", 1>]> {
  let cppNamespace = "::moec::moe";
  let genSpecializedAttr = 0;
}

def Moe_DroppedPolicy : I32EnumAttr<"DroppedPolicy",
    "what a dropped slot contributes in combine", [
    I32EnumAttrCase<"zero", 0>,
    I32EnumAttrCase<"passthrough", 1>]> {
  let cppNamespace = "::moec::moe";
  let genSpecializedAttr = 0;
}

def Moe_WeightFormat : I32EnumAttr<"WeightFormat",
    "how a checkpoint stores a weight's values", [
    I32EnumAttrCase<"fp8_e4m3", 0>, I32EnumAttrCase<"mxfp4", 1>]> {
  let cppNamespace = "::moec::moe";
}

#endif // MOEC_DIALECT_MOE_BASE
