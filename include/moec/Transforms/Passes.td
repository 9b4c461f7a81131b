//===- Passes.td - graph-level passes of the moe dialect ---*- tablegen -*-===//
#ifndef MOEC_TRANSFORMS_PASSES
#define MOEC_TRANSFORMS_PASSES

include "mlir/Pass/PassBase.td"

def MoeExpandBlocks : Pass<"moe-expand-blocks", "::mlir::ModuleOp"> {
  let summary = "Expand moe.block into the primitives it is defined as";
  let description = [{
    Replaces every `moe.block` with router, topk (or expert_choice), dispatch,
    permute, expert_ffn, combine (or unpermute) and shared_expert, exactly as
    the op's definition says. For `overflow = reroute` the dispatch's
    probabilities are a `moe.mixture` of the logits with the routing's scoring
    and no scaling. Dispatches are created with `block = 1`; the
    moe-plan-dispatch pass decides the padding.
  }];
  let dependentDialects = ["::moec::moe::MoeDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def MoePlanDispatch : Pass<"moe-plan-dispatch", "::mlir::ModuleOp"> {
  let summary = "Choose the row padding of each dispatch for the target's GEMMs";
  let description = [{
    Sets `block` on every `moe.dispatch` so that each expert's group of rows is
    a multiple of the expert GEMM's row tile (1 for library GEMMs, which take
    any row count), and updates the row count R of its `row_token` result
    accordingly (R = T·k + E·(block − 1), or E·roundup(C, block) with a
    capacity). The users of `row_token` (permute, and through it the expert
    computation) are retyped to the new R.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"1",
           "rows per expert group are padded to a multiple of this">
  ];
  let dependentDialects = ["::moec::moe::MoeDialect"];
}

#endif // MOEC_TRANSFORMS_PASSES
