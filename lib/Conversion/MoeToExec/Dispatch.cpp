//===- Dispatch.cpp - dispatch and permutations to exec -------------------===//
//
// moe.dispatch: with a capacity (or a reroute's probabilities) one
// sequential kernel (dispatch), else dispatch_chunked's four parallel
// kernels; moe.permute and moe.unpermute: gathers and scatters of rows.
//
//===----------------------------------------------------------------------===//
#include "moec/Conversion/MoeToExec.h"

#include <cmath>

using namespace mlir;
using namespace moec;
using exec::Affine;

static int64_t roundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

namespace {

struct DispatchLowering : ExecPattern<moe::DispatchOp> {
  using ExecPattern::ExecPattern;
  LogicalResult
  matchAndRewrite(moe::DispatchOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ExecBuilder b = builder(rewriter, op);
    Value idx = adaptor.getIndices();
    Affine t = b.rowsOf(idx);
    int64_t e = op.getNumExperts(), k = dimOf(op.getIndices(), 1);
    int64_t block = op.getBlock();
    moe::CapacityAttr cap = op.getCapacityAttr();
    // Rows: the k copies of each token plus padding, T·k + E·(block - 1),
    // whatever the capacity; a capacity can only lower that. A fixed one
    // gives E·roundup(C, block); a factor gives C(T) <= f·T·k/E + 1, so
    // E·roundup(C, block) <= f·k·T + E·block. The smaller bound at
    // max_tokens is planned (a factor of 1e15 or C = 2^20 plans T·k rows).
    Affine r{k, e * (block - 1)};
    if (cap && cap.getTokens() > 0) {
      Affine fixedRows{0, e * roundUp(cap.getTokens(), block)};
      if (b.maxRows(fixedRows) < b.maxRows(r))
        r = fixedRows;
    } else if (cap) {
      double perToken = std::ceil(cap.getFactor().convertToDouble() * k);
      if (perToken < static_cast<double>(k))
        r = {static_cast<int64_t>(perToken), e * block};
    }
    Value counts, offsets, rowToken, slotRow;
    auto allocResults = [&] {
      counts = b.allocFor(op.getCounts(), {0, e});
      offsets = b.allocFor(op.getOffsets(), {0, e + 1});
      rowToken = b.allocFor(op.getRowToken(), r);
      slotRow = b.allocFor(op.getSlotRow(), t);
    };
    if (!cap && !op.getProbs()) {
      // Counts per chunk of tokens (parallel), their prefix per expert
      // (parallel over experts), the padded offsets, then the rows (parallel
      // over chunks).
      int64_t chunks = b.tokenChunks(t);
      KernelSpecialization count{"dispatch_chunked_count"}, scan{"dispatch_chunked_scan"},
          offs{"dispatch_chunked_offsets"}, place{"dispatch_chunked_place"};
      count.set("E", e).set("K", k).set("MT", b.maxRows(t)).set("NC", chunks);
      count.set("CH", kTokenChunk);
      scan.set("E", e).set("NC", chunks).set("CH", kTokenChunk);
      offs.set("E", e).set("BLOCK", block);
      place = count;
      place.kernel = "dispatch_chunked_place";
      place.set("RMAX", b.maxRows(r));
      Value part = b.alloc({0, chunks}, {e}, b.i32());
      allocResults();
      if (failed(b.launch(count, {idx, part}, t, kTokenChunk)) ||
          failed(b.launch(scan, {part, counts}, {0, e}, 8)) ||
          failed(b.launch(offs, {counts, offsets}, {0, 1}, 1)))
        return failure();
      // Every row of this run starts as padding (-1).
      exec::FillOp::create(rewriter, op.getLoc(), rowToken,
                           b.affine(scale(r, kWord)),
                           rewriter.getI32IntegerAttr(-1));
      if (failed(b.launch(place, {idx, part, offsets, rowToken, slotRow}, t,
                          kTokenChunk)))
        return failure();
      rewriter.replaceOp(op, {counts, offsets, rowToken, slotRow});
      return success();
    }
    KernelSpecialization spec{"dispatch"};
    spec.set("E", e).set("K", k).set("MT", b.maxRows(t));
    spec.set("RMAX", b.maxRows(r)).set("RPT", r.perToken).set("RFIX", r.fixed);
    spec.set("BLOCK", block);
    spec.setF64("CAPF", cap ? cap.getFactor().convertToDouble() : 1.0);
    spec.set("CAPT", cap ? cap.getTokens() : 0);
    spec.flag("CAPACITY", bool(cap));
    spec.flag("FIXED_CAP", cap && cap.getTokens() > 0);
    spec.flag("REROUTE", cap && cap.getOverflow() == moe::OverflowPolicy::reroute);
    SmallVector<Value> args{idx};
    if (Value probs = op.getProbs()) {
      auto p = b.bufferOf(probs, adaptor.getProbs());
      if (failed(p))
        return failure();
      args.push_back(*p);
    }
    allocResults();
    args.append({counts, offsets, rowToken, slotRow});
    if (failed(b.launch(spec, args, {0, 1}, 1)))
      return failure();
    rewriter.replaceOp(op, {counts, offsets, rowToken, slotRow});
    return success();
  }
};

struct PermuteLowering : ExecPattern<moe::PermuteOp> {
  using ExecPattern::ExecPattern;
  LogicalResult
  matchAndRewrite(moe::PermuteOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ExecBuilder b = builder(rewriter, op);
    Value x = adaptor.getInput(), rt = adaptor.getRowToken();
    Affine r = b.rowsOf(rt);
    int64_t h = dimOf(op.getInput(), 1);
    KernelSpecialization spec{"permute"};
    spec.set("MT", b.maxRows(b.rowsOf(x))).set("RMAX", b.maxRows(r)).set("H", h);
    Value out = b.allocFor(op.getResult(), r), dst = out;
    // A 16-bit function's input rows copied as they are, when only GEMMs
    // that read that type read them: out stands for them, unwritten.
    auto arg = dyn_cast<BlockArgument>(x);
    if (arg && b.permutedHolds16(op.getResult())) {
      x = b.input(arg);
      dst = b.alloc(r, {h}, cast<exec::BufferType>(x.getType()).getElementType());
      b.hold16(out, dst);
    }
    spec.setElementType("DT", cast<exec::BufferType>(x.getType()).getElementType());
    if (failed(b.launch(spec, {x, rt, dst}, r, 64)))
      return failure();
    rewriter.replaceOp(op, out);
    return success();
  }
};

struct UnpermuteLowering : ExecPattern<moe::UnpermuteOp> {
  using ExecPattern::ExecPattern;
  LogicalResult
  matchAndRewrite(moe::UnpermuteOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ExecBuilder b = builder(rewriter, op);
    Value y = adaptor.getInput(), rt = adaptor.getRowToken();
    Affine r = b.rowsOf(y);
    int64_t h = dimOf(op.getInput(), 1);
    int64_t resultRows = dimOf(op.getResult(), 0);
    Affine t = ShapedType::isDynamic(resultRows) ? Affine{1, 0}
                                                 : Affine{0, resultRows};
    KernelSpecialization spec{"unpermute"};
    spec.set("MT", b.maxRows(t)).set("RMAX", b.maxRows(r)).set("H", h);
    spec.set("RPT", r.perToken).set("RFIX", r.fixed);
    spec.flag("WEIGHTED", bool(op.getRowWeight()));
    SmallVector<Value> args{y, rt};
    if (Value w = op.getRowWeight()) {
      auto bw = b.bufferOf(w, adaptor.getRowWeight());
      if (failed(bw))
        return failure();
      args.push_back(*bw);
    }
    Value out = b.allocFor(op.getResult(), t);
    args.push_back(out);
    if (failed(b.launch(spec, args, {0, h}, 16)) ||
        failed(b.roundResult(op.getResult(), out, t, h)))
      return failure();
    rewriter.replaceOp(op, out);
    return success();
  }
};

} // namespace

void moec::populateDispatchToExecPatterns(ExecLowering &lowering,
                                          RewritePatternSet &patterns) {
  patterns.add<DispatchLowering, PermuteLowering, UnpermuteLowering>(lowering);
}
