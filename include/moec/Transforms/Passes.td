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

def MoeShardExperts : Pass<"moe-shard-experts", "::mlir::ModuleOp"> {
  let summary = "Spread the experts over ranks: exchanges around each expert FFN";
  let description = [{
    Expert parallelism. Every rank runs the same function on its own tokens;
    the routing, the dispatch, the shared experts and the combine stay on
    each rank (data-parallel), and each `moe.expert_ffn` fed by a
    `moe.dispatch` (or a `moe.expert_choice`) and `moe.permute` becomes:

    ```
    %xr, %soff, %smap, %counts = moe.exchange %xp, %offsets ranks(N) slots(S)
    %yr = moe.expert_ffn %xr, %soff experts %smap gate ... up ... down ...
    %y = moe.exchange_back %yr, %offsets, %soff, %counts, %row_token ranks(N) slots(S)
    ```

    so each rank computes its own slots' experts over the rows that every
    rank routed to them, and the combine sums each token's experts in the
    same order as on one device. Which expert a slot holds is the session's
    placement (moert_session_options_t), chosen at run time; S defaults to
    ceil(E / ranks). A capacity applies per rank, to the rank's own tokens
    (as Megatron applies it): each rank's dispatch drops or reroutes what
    exceeds it, before the exchange. An expert choice gets `ranks(N)`: its
    experts choose among every rank's tokens (gathered at run time) and each
    rank keeps its own rows of the choice; it needs a dynamic token count.
  }];
  let options = [
    Option<"ranks", "ranks", "int64_t", /*default=*/"1",
           "the ranks that hold experts">,
    Option<"slots", "slots", "int64_t", /*default=*/"0",
           "expert slots per rank (0: ceil(E / ranks))">,
    Option<"recvRows", "recv-rows", "int64_t", /*default=*/"0",
           "the most rows a rank may receive per exchange (0: ranks times the "
           "rows of one rank's dispatch at max tokens, which never overflows)">
  ];
  let dependentDialects = ["::moec::moe::MoeDialect"];
}

#endif // MOEC_TRANSFORMS_PASSES
