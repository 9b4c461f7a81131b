//===- MoeToExec.h - patterns lowering moe ops to exec plans ----*- C++ -*-===//
//
// The conversion of moe graphs (tensors) to exec plans (arena buffers and
// commands), as dialect-conversion patterns in one file per op family:
//
//   Routing.cpp      moe.router, moe.topk (+ its router statistics),
//                    moe.mixture, moe.expert_choice
//   Dispatch.cpp     moe.dispatch, moe.permute, moe.unpermute
//   ExpertFfn.cpp    moe.expert_ffn, moe.grouped_matmul, moe.glu,
//                    moe.shared_expert: library GEMMs and the GLU kernel
//   Combine.cpp      moe.combine
//   Exchange.cpp     moe.exchange, moe.exchange_back: exec.exchange (CPU)
//   Elementwise.cpp  arith.addf, func.return (the plan's outputs)
//   Rounding.cpp     16-bit GEMM operands: each A operand of a GEMM whose
//                    weights are bf16 or f16 is rounded once, by the GLU that
//                    produces it or by an elementwise kernel; 16-bit
//                    activations: a bf16 / f16 function's input widened, its
//                    activations rounded where the dialect rounds, its output
//                    written rounded
//
// A tensor becomes an `!exec.buffer` of its shape (ExecTypeConverter); the
// buffer's bytes are affine in the run's token count T (`Affine` rows times
// the row's bytes): T-row values (inputs, logits, routing weights, outputs)
// have T rows, expert-ordered values R(T) rows, the dispatch's row count or an
// affine upper bound of it where it depends on the data. Weights become
// `exec.weight`s on first use. The memory plan (offsets, arena) is the
// separate pass exec-plan-memory.
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_CONVERSION_MOETOEXEC_H
#define MOEC_CONVERSION_MOETOEXEC_H

#include "moec/Conversion/KernelLibrary.h"

#include "exec/ExecDialect.h"
#include "moe/MoeDialect.h"

#include "mlir/Transforms/DialectConversion.h"

namespace moec {

/// Bytes of an f32 or i32 element.
constexpr int64_t kWord = 4;
/// Tokens per item of the chunked kernels (router_stats' PARTIAL and
/// dispatch_chunked's COUNT / PLACE): each chunk's sums run in token order.
constexpr int64_t kTokenChunk = 64;

/// The choices of a target that the patterns need.
struct ExecLoweringOptions {
  int64_t maxTokens = 4096;
  /// The CUDA target: warp-per-token routing where it applies, and the
  /// grouped GEMMs' generated kernel up to gemvMaxTokens (0: never).
  bool cuda = false;
  int64_t gemvMaxTokens = 0;
  /// The expert and shared-expert FFN weights' element type: f32, bf16,
  /// f16, f8E4M3FN, f4E2M1FN, or i8 / i4 with `groupSize` values of k per
  /// scale.
  mlir::Type ffnType;
  int64_t groupSize = 0;
  /// i8 / i4 FFN weights: their GEMMs quantize the activations per group
  /// (exec `int8_activations`).
  bool int8Activations = true;
  /// An FFN's gate and up projections as one GEMM over their stacked
  /// weights (ExecBuilder::gateUpWeight).
  bool fuseGateUp = true;
  /// The CUDA target's fp8 GEMMs also get cuBLASLt's block-scaled engine
  /// where their shapes fit (exec `act_quant`).
  bool cudaFp8BlockScaled = true;
};

/// The element type of the buffer that holds an activation of `elem`: f32
/// for bf16 and f16 (Rounding.cpp), else elem.
inline mlir::Type storageType(mlir::Type elem) {
  return elem.isBF16() || elem.isF16() ? mlir::Float32Type::get(elem.getContext()) : elem;
}

/// Tensors become exec buffers of the same shape, elements of storageType.
class ExecTypeConverter : public mlir::TypeConverter {
public:
  ExecTypeConverter();
};

/// What the patterns of one conversion share: options, kernels, and the
/// buffers they made (rows, weights, 16-bit copies), valid for one function.
class ExecLowering {
public:
  ExecLowering(mlir::MLIRContext *ctx, KernelLibrary &kernels,
               ExecLoweringOptions options)
      : ctx(ctx), kernels(kernels), options(options) {}

  mlir::MLIRContext *getContext() const { return ctx; }
  ExecTypeConverter &getTypeConverter() { return typeConverter; }

  /// Forgets the buffers of the previous function; `activations` is the
  /// next one's activation type (f32, bf16 or f16: its inputs' and outputs').
  void beginFunction(mlir::Type activations);
  mlir::Type activations() const { return activationType; }
  /// The exec.input made for the function's argument `arg`, or null.
  mlir::Value inputFor(mlir::Value arg) const { return inputs.lookup(arg); }
  /// The f32 buffers that stand for values held in 16 bits only, each with
  /// the buffer that holds them (ExecBuilder::hold16).
  const llvm::DenseMap<mlir::Value, mlir::Value> &held16Buffers() const { return stored16; }

private:
  friend class ExecBuilder;
  mlir::MLIRContext *ctx;
  KernelLibrary &kernels;
  ExecLoweringOptions options;
  ExecTypeConverter typeConverter;
  llvm::DenseMap<mlir::Value, exec::Affine> rows; // a buffer's rows(T)
  /// moe.weight results -> their exec.weight, per element type.
  llvm::DenseMap<std::pair<mlir::Value, mlir::Type>, mlir::Value> weights;
  llvm::DenseMap<mlir::Value, mlir::Value> rounded; // f32 buffer -> 16-bit copy
  /// A 16-bit function's activations held only in its activation type: the
  /// f32 buffer that stands for the value (never written; the lowering
  /// erases it) -> the buffer of the activation type that holds it
  /// (ExecBuilder::held16).
  llvm::DenseMap<mlir::Value, mlir::Value> stored16;
  llvm::DenseMap<mlir::Value, mlir::Value> inputs;  // argument -> exec.input
  int routerStats = 0; // router_stats.<i> outputs so far
  int noisyRouters = 0; // noisy routers so far
  mlir::Value runParams; // the function's exec.run_params, once made
  /// A function of bf16 or f16 activations keeps them in f32 buffers,
  /// rounded where the moe dialect rounds to the dtype (Rounding.cpp).
  mlir::Type activationType;
};

/// Emits exec ops for one moe op at the rewriter's insertion point (before
/// that op), with its location.
class ExecBuilder {
public:
  /// `produces`: the element type of the tensor the op being lowered
  /// produces (its first result), if any.
  ExecBuilder(ExecLowering &lowering, mlir::RewriterBase &rewriter,
              mlir::Location loc, mlir::Type produces = {})
      : lowering(lowering), rewriter(rewriter), loc(loc), produces(produces) {}

  const ExecLoweringOptions &options() const { return lowering.options; }
  mlir::Type f32() { return rewriter.getF32Type(); }
  mlir::Type i32() { return rewriter.getI32Type(); }
  mlir::DenseI64ArrayAttr affine(exec::Affine a) {
    return rewriter.getDenseI64ArrayAttr({a.perToken, a.fixed});
  }

  /// A new arena buffer of rows(T) × `trailing` elements of `elem`; its
  /// type's first dimension is dynamic when rows(T) depends on T or
  /// `dynamicRows` (rows a bound fixed here for a tensor of unknown rows).
  mlir::Value alloc(exec::Affine rows, llvm::ArrayRef<int64_t> trailing,
                    mlir::Type elem, bool dynamicRows = false);
  /// A buffer for the tensor `v` (rows `rows`, v's element type, f32 for a
  /// 16-bit activation, and trailing dimensions, the first dynamic when v's
  /// is): the value that replaces it.
  mlir::Value allocFor(mlir::Value v, exec::Affine rows);
  /// The rows(T) of a buffer that this conversion made, or of a function
  /// input (T).
  exec::Affine rowsOf(mlir::Value buffer);
  int64_t maxRows(exec::Affine rows) {
    return rows.at(lowering.options.maxTokens);
  }
  /// The kTokenChunk-token chunks of `rows` at max_tokens (at least one).
  int64_t tokenChunks(exec::Affine rows) {
    return std::max<int64_t>((maxRows(rows) + kTokenChunk - 1) / kTokenChunk,
                             1);
  }
  /// The buffer of an operand: `adapted`, the converted value, or for a
  /// moe.weight result its f32 exec.weight.
  mlir::FailureOr<mlir::Value> bufferOf(mlir::Value original,
                                        mlir::Value adapted);
  /// The exec.weight of a moe.weight result with elements of `elem` (f32
  /// unless given), created on its first use.
  mlir::FailureOr<mlir::Value> weight(mlir::Value moeWeight,
                                      mlir::Type elem = {}, int64_t groupSize = 0);
  /// A weight of the expert and shared-expert FFNs (elements: ffnType).
  mlir::FailureOr<mlir::Value> ffnWeight(mlir::Value moeWeight) {
    return weight(moeWeight, ffnWeightType(), lowering.options.groupSize);
  }
  /// The element type of ffnWeight's buffers.
  mlir::Type ffnWeightType() {
    return lowering.options.ffnType ? lowering.options.ffnType : f32();
  }
  /// `int8_activations` for a GEMM whose B is `w`, or null.
  mlir::UnitAttr int8Activations(mlir::Value w);
  /// The CUDA target reads an fp8 or mxfp4 `w` ([..., n, k]) as bf16
  /// values: the kernel that writes one matrix of it as bf16 for the vendor
  /// GEMM (the GEMM's `dequant`); null for other weights and targets.
  mlir::FailureOr<mlir::FlatSymbolRefAttr> dequantKernel(mlir::Value w,
                                                         int64_t n, int64_t k);
  /// The CUDA target's cuBLASLt engine for an fp8 `w` (the GEMM's
  /// `act_quant`): the kernel that quantizes A (`a`, rows(T) rows) per row
  /// and block of 128 for `groups` groups of rows; C's buffer (`c`, an
  /// exec.alloc) grows by 8 rows for the pad rows cuBLASLt writes. Null
  /// where the option is off, `w` is not fp8, the shapes do not fit
  /// (moert/fp8.h) or C is not the lowering's own buffer.
  mlir::FailureOr<mlir::FlatSymbolRefAttr> actQuantKernel(mlir::Value a, mlir::Value w,
                                                          mlir::Value c, exec::Affine rows,
                                                          int64_t groups, int64_t n, int64_t k);
  /// A launch of kernel `spec` over [0, extent(T)) in chunks of `grain`
  /// (limited, after limitRows, when the extent is those rows).
  mlir::LogicalResult launch(const KernelSpecialization &spec,
                             llvm::ArrayRef<mlir::Value> args,
                             exec::Affine extent, int64_t grain);
  /// Launches over `rows` fixed rows (a rank's receive bound) run only over
  /// the first buffer[index] of them (the rows received: exec.launch's
  /// limit), for the rest of this op's lowering.
  void limitRows(mlir::Value buffer, int64_t index, int64_t rows) {
    rowLimit = buffer;
    rowLimitIndex = index;
    rowLimitRows = rows;
  }
  /// The next router_stats.<i> index of this function.
  int nextRouterStats() { return lowering.routerStats++; }
  /// The next noisy router's index in this function.
  int nextNoisyRouter() { return lowering.noisyRouters++; }
  /// The function's exec.run_params (made at the start of `body` on first use).
  mlir::Value runParams(mlir::Block *body);

  // GEMMs (ExpertFfn.cpp) ---------------------------------------------------
  /// C[rows(T), n] = A · Wᵀ (A rounded first when W is 16-bit).
  mlir::LogicalResult gemm(mlir::Value a, mlir::Value w, mlir::Value c,
                           exec::Affine rows, int64_t n, int64_t k);
  /// One GEMM per expert over the rows its offsets give; with `map`, one
  /// per group (`experts` of them) over the matrix of W that map names.
  mlir::LogicalResult groupedGemm(mlir::Value a, mlir::Value w,
                                  mlir::Value offsets, mlir::Value c,
                                  exec::Affine rows, int64_t experts,
                                  int64_t n, int64_t k, mlir::Value map = {});
  /// c[r, :] += bias[e, :] for the expert e whose rows hold r (nothing when
  /// `bias`, a moe.weight or null, is null); with `map`, for the group g
  /// whose rows hold r, e = map[g].
  mlir::LogicalResult expertBias(mlir::Value c, mlir::Value bias,
                                 mlir::Value offsets, exec::Affine rows,
                                 int64_t experts, int64_t width,
                                 mlir::Value map = {});
  /// The gate and up weights of an FFN (ffnWeight buffers; `gate` may be
  /// null) stacked as one [..., 2F, k] weight (exec.concat_weights) for one
  /// GEMM of N = 2F, when the options fuse them and they stack (the same
  /// type, both synthetic or neither, F a multiple of 32, of 128 for fp8);
  /// else null.
  mlir::Value gateUpWeight(mlir::Value gate, mlir::Value up);
  /// act(gate) ⊙ up in place in `gate` (act(up) in place in `up` when
  /// ungated); when `next`, the weight of the GEMM that reads the result, is
  /// 16-bit (and, when rounds16(), of the activation type), the result goes
  /// rounded to that type to a new buffer instead. With `fused`, gate and up
  /// are the same buffer, one GEMM's [gate | up] result ([rows(T), 2 ·
  /// width]), and the result goes to a new buffer of the type the next GEMM
  /// reads. When rounds16() the kernel rounds gate and up as it reads them
  /// and its result (ACT16). Returns the buffer that holds the result (the
  /// next GEMM's A).
  /// An FFN's hidden activations act(x·gateᵀ) ⊙ x·upᵀ ([rows(T), f], the
  /// down GEMM's A, of the type it reads): gate and up (ffnWeight buffers;
  /// `gate` null when ungated) as one GEMM over their stacked weights when
  /// gateUpWeight stacks them and `stack` allows, else one each.
  /// `project(w, c, n, part)` writes C [rows(T), n] = x · wᵀ for `part` 0
  /// (the gate), 1 (the up) or -1 (both, stacked), adding the part's biases
  /// where it has them; `inner` is the type of the projections' results.
  mlir::FailureOr<mlir::Value>
  ffnHidden(mlir::Value gate, mlir::Value up, mlir::Value down, exec::Affine rows, int64_t f,
            mlir::Type inner, moe::FfnAttr ffn, bool stack,
            llvm::function_ref<mlir::LogicalResult(mlir::Value w, mlir::Value c, int64_t n,
                                                   int part)>
                project);
  mlir::FailureOr<mlir::Value> glu(mlir::Value gate, mlir::Value up, exec::Affine rows,
                                   int64_t width, moe::Activation act, double alpha,
                                   double limit, mlir::Value next = nullptr,
                                   bool fused = false);

  // 16-bit operands (Rounding.cpp) -------------------------------------------
  /// The element type of the A operand of a GEMM over weights of `elem`:
  /// elem (f32, bf16, f16), f32 for quantized weights, bf16 for fp8 and
  /// mxfp4 ones on the CUDA target (read as bf16 values there).
  mlir::Type operandType(mlir::Type elem);
  /// A GEMM's A operand for weights `w`: `a` itself when its type is f32 or
  /// already the operand type,
  /// the function's 16-bit input itself when `a` is that input widened and
  /// the type is the activation type, else `a` rounded to it (once per
  /// buffer).
  mlir::FailureOr<mlir::Value> operandFor(mlir::Value a, mlir::Value w,
                                          exec::Affine rows, int64_t k);
  /// Sets a GLU's rounded output: when `next` is a 16-bit weight, sets the
  /// OUT variant of `spec` (OT: that type), appends its output buffer to
  /// `args` and records it as the 16-bit copy of `result`. Returns the
  /// buffer that holds the GLU's result: that copy, or `result`.
  mlir::Value roundGluOutput(KernelSpecialization &spec, llvm::SmallVectorImpl<mlir::Value> &args,
                      mlir::Value result, mlir::Value next, exec::Affine rows,
                      int64_t width);

  // 16-bit activations (Rounding.cpp) ----------------------------------------
  /// The function's activations are bf16 or f16.
  bool activations16() { return !lowering.activationType.isF32(); }
  /// The function's activation type (f32, bf16 or f16).
  mlir::Type activationType() { return lowering.activationType; }
  /// The op being lowered produces a 16-bit activation (f32 values of a
  /// 16-bit function, router logits say, are not rounded).
  bool rounds16() { return activations16() && produces == lowering.activationType; }
  /// Rounds the f32 `buffer` ([rows(T), cols]) in place to the function's
  /// 16-bit activation type when rounds16(); else nothing.
  mlir::LogicalResult roundActivation(mlir::Value buffer, exec::Affine rows,
                                      int64_t cols);
  /// Whether the function only returns `result` (an op's result).
  bool onlyReturned(mlir::Value result);
  /// roundActivation of the buffer of `result`, an op's result, unless the
  /// function only returns it (its output is rounded as it is written).
  mlir::LogicalResult roundResult(mlir::Value result, mlir::Value buffer,
                                  exec::Affine rows, int64_t cols);
  /// The exec.input of the function's argument `arg` (in the activation
  /// type), made at the function's start on first use.
  mlir::Value input(mlir::BlockArgument arg);
  /// A 16-bit function's input: `in` widened exactly into a new f32 buffer.
  /// A 16-bit output: a new buffer of the activation type holding `buffer`
  /// rounded to it (the buffer that holds it when only one of that type
  /// does: hold16).
  mlir::FailureOr<mlir::Value> widenInput(mlir::Value in, exec::Affine rows,
                                          int64_t cols);
  mlir::FailureOr<mlir::Value> roundOutput(mlir::Value buffer,
                                           exec::Affine rows, int64_t cols);

  // 16-bit activations held in their type (Rounding.cpp) -------------------
  /// Whether the op being lowered produces the function's 16-bit activation
  /// type (rounds16()) and the FFN GEMMs read that type (operandType): a
  /// shared expert then holds its activations in it.
  bool ffnGemmsRead16();
  /// Whether an expert FFN keeps its activations in the function's 16-bit
  /// type (rounds16()): no expert map and no biases, and its GEMMs read that
  /// type (operandType), so its projections write their results rounded and
  /// the GLU reads them and writes the down projection's operand.
  bool ffnHolds16(moe::ExpertFfnOp op);
  /// Whether every user of `permuted` (a moe.permute's result) is an expert
  /// FFN that ffnHolds16 and reads it as its input: the permute may then
  /// copy the 16-bit input's rows as they are.
  bool permutedHolds16(mlir::Value permuted);
  /// Whether every use of `result` (an expert FFN's or a shared expert's) is
  /// a moe.combine's expert rows or addend, which it reads in the activation
  /// type.
  bool combinedOnly(mlir::Value result);
  /// Records that the f32 `placeholder`'s values are held in `held` (of the
  /// activation type) only.
  void hold16(mlir::Value placeholder, mlir::Value held) {
    lowering.stored16[placeholder] = held;
  }
  /// The buffer of the activation type that holds `buffer`'s values when
  /// only it does (hold16), else null.
  mlir::Value held16(mlir::Value buffer) { return lowering.stored16.lookup(buffer); }

private:
  ExecLowering &lowering;
  mlir::RewriterBase &rewriter;
  mlir::Location loc;
  mlir::Type produces;
  mlir::Value rowLimit; // limitRows
  int64_t rowLimitIndex = 0, rowLimitRows = -1;
};

/// A pattern of this conversion: an OpConversionPattern with the shared
/// ExecLowering.
template <typename OpTy>
class ExecPattern : public mlir::OpConversionPattern<OpTy> {
public:
  explicit ExecPattern(ExecLowering &lowering)
      : mlir::OpConversionPattern<OpTy>(lowering.getTypeConverter(),
                                        lowering.getContext()),
        lowering(lowering) {}

protected:
  ExecBuilder builder(mlir::ConversionPatternRewriter &rewriter,
                      mlir::Operation *op) const {
    mlir::Type produces;
    if (op->getNumResults() > 0)
      if (auto t = llvm::dyn_cast<mlir::ShapedType>(op->getResult(0).getType()))
        produces = t.getElementType();
    return ExecBuilder(lowering, rewriter, op->getLoc(), produces);
  }
  ExecLowering &lowering;
};

/// The dimension i of a shaped value.
inline int64_t dimOf(mlir::Value v, unsigned i) {
  return llvm::cast<mlir::ShapedType>(v.getType()).getDimSize(i);
}

/// Bytes per element of f32, i32, bf16, f16.
inline int64_t bytesOf(mlir::Type elem) {
  return elem.getIntOrFloatBitWidth() / 8;
}

inline exec::Affine scale(exec::Affine a, int64_t f) {
  return {a.perToken * f, a.fixed * f};
}

void populateRoutingToExecPatterns(ExecLowering &lowering,
                                   mlir::RewritePatternSet &patterns);
void populateDispatchToExecPatterns(ExecLowering &lowering,
                                    mlir::RewritePatternSet &patterns);
void populateExpertFfnToExecPatterns(ExecLowering &lowering,
                                     mlir::RewritePatternSet &patterns);
void populateExchangeToExecPatterns(ExecLowering &lowering,
                                    mlir::RewritePatternSet &patterns);
void populateCombineToExecPatterns(ExecLowering &lowering,
                                   mlir::RewritePatternSet &patterns);
void populateElementwiseToExecPatterns(ExecLowering &lowering,
                                       mlir::RewritePatternSet &patterns);
/// All of the above.
void populateMoeToExecPatterns(ExecLowering &lowering,
                               mlir::RewritePatternSet &patterns);

} // namespace moec

#endif // MOEC_CONVERSION_MOETOEXEC_H
