//===- Routing.cpp - routers and routing to exec --------------------------===//
//
// moe.router (a GEMM, plus a bias kernel), moe.topk (the route kernel, or on
// the CUDA target route_warp, a warp per token, where routing is not
// group-limited; plus the router statistics of each top-k, auxiliary
// outputs), moe.mixture (scores) and moe.expert_choice (scores, then the
// expert_choice kernel; over ranks, exec.expert_choice: the runtime gathers
// the ranks' scores and chooses).
//
//===----------------------------------------------------------------------===//
#include "moec/Conversion/MoeToExec.h"

#include <cmath>

using namespace mlir;
using namespace moec;
using exec::Affine;

static const char *scoringFlag(moe::ScoringFunc s) {
  switch (s) {
  case moe::ScoringFunc::softmax:
    return "SOFTMAX";
  case moe::ScoringFunc::sigmoid:
    return "SIGMOID";
  case moe::ScoringFunc::none:
    return "NONE";
  }
  llvm_unreachable("scoring");
}

/// The generator stream of a function's `index`-th noisy router (docs/compiler.md,
/// "Noisy top-k gating"): FNV-1a (32 bits) of the function's name, times 256,
/// plus the index.
static int64_t noiseStream(StringRef function, int index) {
  uint32_t h = 2166136261u;
  for (unsigned char c : function) {
    h ^= c;
    h *= 16777619u;
  }
  return static_cast<int64_t>(h) * 256 + index;
}

namespace {

struct RouterLowering : ExecPattern<moe::RouterOp> {
  using ExecPattern::ExecPattern;
  LogicalResult
  matchAndRewrite(moe::RouterOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ExecBuilder b = builder(rewriter, op);
    auto x = b.bufferOf(op.getInput(), adaptor.getInput()),
         w = b.bufferOf(op.getWeight(), adaptor.getWeight());
    if (failed(x) || failed(w))
      return failure();
    Affine t = b.rowsOf(*x);
    int64_t e = dimOf(op.getWeight(), 0), h = dimOf(op.getWeight(), 1);
    Value logits = b.allocFor(op.getLogits(), t);
    if (failed(b.gemm(*x, *w, logits, t, e, h)))
      return failure();
    if (Value bias = op.getBias()) {
      auto bb = b.bufferOf(bias, adaptor.getBias());
      if (failed(bb))
        return failure();
      KernelSpecialization spec{"elementwise_bias"};
      spec.set("ROWS", b.maxRows(t)).set("COLS", e);
      if (failed(b.launch(spec, {logits, *bb}, t, 64)))
        return failure();
    }
    // Noisy top-k gating: the noise kernel, which adds nothing unless the run
    // asks for noise (the run's parameters). The CUDA target compiles the
    // router without it (inference ignores the noise).
    if (Value noise = op.getNoiseWeight(); noise && !b.options().cuda) {
      auto nw = b.bufferOf(noise, adaptor.getNoiseWeight());
      if (failed(nw))
        return failure();
      Value params = b.runParams(op->getBlock());
      KernelSpecialization spec{"router_noise"};
      auto fn = op->getParentOfType<FunctionOpInterface>();
      spec.set("MT", b.maxRows(t)).set("H", h).set("E", e);
      spec.set("SALT", noiseStream(fn ? fn.getName() : "", b.nextNoisyRouter()));
      if (failed(b.launch(spec, {*x, *nw, params, logits}, t, 16)))
        return failure();
    }
    rewriter.replaceOp(op, logits);
    return success();
  }
};

struct TopKLowering : ExecPattern<moe::TopKOp> {
  using ExecPattern::ExecPattern;
  LogicalResult
  matchAndRewrite(moe::TopKOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ExecBuilder b = builder(rewriter, op);
    Value logits = adaptor.getLogits();
    Affine t = b.rowsOf(logits);
    moe::RoutingAttr r = op.getRouting();
    int64_t e = dimOf(op.getLogits(), 1), k = r.getK();
    double scaleFactor = r.getScalingFactor().convertToDouble();
    // On the GPU a warp routes a token (shuffle reductions); group-limited
    // routing keeps the one-thread-per-token kernel.
    bool warp = b.options().cuda && !r.isGroupLimited();
    KernelSpecialization spec{warp ? "route_warp" : "route"};
    spec.set("E", e).set("K", k).set("MT", b.maxRows(t));
    spec.setF32("EPS", r.getEpsilon().convertToDouble());
    spec.setF32("SCALE", scaleFactor);
    if (!warp) { // group-limited routing: the one-thread-per-token kernel
      spec.set("NG", r.getNGroup()).set("GS", e / r.getNGroup());
      spec.set("TG", r.getTopkGroup());
      spec.flag("GROUPED", r.isGroupLimited());
      spec.flag("TOP2", r.getGroupScore() == moe::GroupScore::top2_sum);
    }
    spec.flag(scoringFlag(r.getScoring()));
    spec.flag("HAS_BIAS", bool(op.getCorrectionBias()));
    spec.flag("RENORM", r.getRenormalize());
    spec.flag("SOFTMAX_AFTER", r.getSoftmaxAfterTopk());
    spec.flag("SCALED", scaleFactor != 1.0);
    SmallVector<Value> args{logits};
    if (Value bias = op.getCorrectionBias()) {
      auto bb = b.bufferOf(bias, adaptor.getCorrectionBias());
      if (failed(bb))
        return failure();
      args.push_back(*bb);
    }
    Value w = b.allocFor(op.getWeights(), t);
    Value idx = b.allocFor(op.getIndices(), t);
    args.append({w, idx});
    if (failed(b.launch(spec, args, t, 16)))
      return failure();

    // Router statistics of this top-k, an auxiliary output: per-chunk sums
    // over tokens (in parallel), then their total in chunk order.
    int64_t chunks = b.tokenChunks(t);
    Value part = b.alloc({0, chunks}, {2 * e + 1}, b.f32());
    Value stats = b.alloc({0, e + 4}, {}, b.f32());
    KernelSpecialization partial{"router_stats_partial"}, final{"router_stats_final"};
    partial.set("MT", b.maxRows(t)).set("E", e).set("K", k).set("NC", chunks);
    partial.set("CH", kTokenChunk);
    final.set("E", e).set("NC", chunks).set("CH", kTokenChunk);
    if (failed(b.launch(partial, {logits, idx, part}, t, kTokenChunk)) ||
        failed(b.launch(final, {part, stats}, {0, 1}, 1)))
      return failure();
    std::string index = std::to_string(b.nextRouterStats());
    exec::OutputOp::create(rewriter, op.getLoc(),
                           rewriter.getStringAttr("router_stats." + index),
                           stats, rewriter.getUnitAttr());
    exec::OutputOp::create(rewriter, op.getLoc(),
                           rewriter.getStringAttr("router_indices." + index),
                           idx, rewriter.getUnitAttr());
    exec::OutputOp::create(rewriter, op.getLoc(),
                           rewriter.getStringAttr("router_logits." + index),
                           logits, rewriter.getUnitAttr());
    rewriter.replaceOp(op, {w, idx});
    return success();
  }
};

struct MixtureLowering : ExecPattern<moe::MixtureOp> {
  using ExecPattern::ExecPattern;
  LogicalResult
  matchAndRewrite(moe::MixtureOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ExecBuilder b = builder(rewriter, op);
    Value logits = adaptor.getLogits();
    Affine t = b.rowsOf(logits);
    int64_t e = dimOf(op.getLogits(), 1);
    double s = op.getScalingFactor().convertToDouble();
    KernelSpecialization spec{"scores"};
    spec.set("MT", b.maxRows(t)).set("E", e).setF32("SCALE", s);
    spec.flag(scoringFlag(op.getScoring())).flag("INDICES");
    spec.flag("SCALED", s != 1.0);
    Value w = b.allocFor(op.getWeights(), t);
    Value idx = b.allocFor(op.getIndices(), t);
    if (failed(b.launch(spec, {logits, w, idx}, t, 16)))
      return failure();
    rewriter.replaceOp(op, {w, idx});
    return success();
  }
};

struct ExpertChoiceLowering : ExecPattern<moe::ExpertChoiceOp> {
  using ExecPattern::ExecPattern;
  LogicalResult
  matchAndRewrite(moe::ExpertChoiceOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ExecBuilder b = builder(rewriter, op);
    Value logits = adaptor.getLogits();
    Affine t = b.rowsOf(logits);
    int64_t e = dimOf(op.getLogits(), 1);
    moe::ExpertChoiceAttr config = op.getConfig();
    double cf = config.getCapacityFactor().convertToDouble();
    Value scores = b.alloc(t, {e}, b.f32());
    KernelSpecialization sc{"scores"};
    sc.set("MT", b.maxRows(t)).set("E", e).setF32("SCALE", 1.0);
    sc.flag(scoringFlag(config.getScoring()));
    if (failed(b.launch(sc, {logits, scores}, t, 16)))
      return failure();
    // Over ranks: the runtime gathers the ranks' scores, chooses, and keeps
    // this rank's rows, at most the bound exec.expert_choice names.
    if (std::optional<int64_t> ranks = op.getRanks()) {
      int64_t mt = b.maxRows(t), maxRows = exec::ExpertChoiceOp::getMaxRows(mt, e, *ranks, cf);
      Affine bound{0, maxRows};
      Value rw = b.allocFor(op.getRowWeight(), bound);
      Value rt = b.allocFor(op.getRowToken(), bound);
      Value off = b.allocFor(op.getOffsets(), {0, e + 1});
      exec::ExpertChoiceOp::create(rewriter, op.getLoc(), scores, rw, rt, off, b.affine(t),
                                   rewriter.getI64IntegerAttr(mt),
                                   rewriter.getI64IntegerAttr(maxRows), rewriter.getI64IntegerAttr(e),
                                   rewriter.getI64IntegerAttr(*ranks),
                                   rewriter.getF64FloatAttr(cf));
      rewriter.replaceOp(op, {rw, rt, off});
      return success();
    }
    // E · min(T, ceil(cf · T / E)) <= cf · T + E.
    Affine r{static_cast<int64_t>(std::ceil(cf)), e};
    KernelSpecialization spec{"expert_choice"};
    spec.set("MT", b.maxRows(t)).set("E", e);
    spec.set("RMAX", b.maxRows(r)).set("RPT", r.perToken).set("RFIX", r.fixed);
    spec.setF64("CF", cf);
    Value rw = b.allocFor(op.getRowWeight(), r);
    Value rt = b.allocFor(op.getRowToken(), r);
    Value off = b.allocFor(op.getOffsets(), {0, e + 1});
    if (failed(b.launch(spec, {scores, rw, rt, off}, {0, e}, 1)))
      return failure();
    rewriter.replaceOp(op, {rw, rt, off});
    return success();
  }
};

} // namespace

void moec::populateRoutingToExecPatterns(ExecLowering &lowering,
                                         RewritePatternSet &patterns) {
  patterns.add<RouterLowering, TopKLowering, MixtureLowering,
               ExpertChoiceLowering>(lowering);
}
