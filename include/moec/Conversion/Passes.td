//===- Passes.td - lowering of moe graphs to exec plans ----*- tablegen -*-===//
#ifndef MOEC_CONVERSION_PASSES
#define MOEC_CONVERSION_PASSES

include "mlir/Pass/PassBase.td"

def MoeLowerToExec : Pass<"moe-lower-to-exec", "::mlir::ModuleOp"> {
  let summary = "Bufferize, and select kernels and library GEMMs";
  let description = [{
    Turns each function on tensors into an exec plan for the CPU or CUDA target:
    every tensor value gets an arena buffer whose size is an affine function
    a·T + b of the run's token count (an upper bound where the exact row count
    is data-dependent), projections become library GEMM commands (`exec.gemm`,
    `exec.grouped_gemm`), and every other op becomes a launch of a generated
    kernel, specialized from the generic kernels of lib/Conversion/Kernels into a
    nested `module @kernels`. A top-k also feeds a router-statistics kernel
    whose result is an auxiliary output `router_stats.<i>`, and its indices
    are the auxiliary output `router_indices.<i>` (i32 [T, k]) and its
    logits `router_logits.<i>` (f32 [T, E]). Each function
    gets `exec.max_tokens`; its buffers' offsets are left at 0 for
    `exec-plan-memory`. The patterns live in one file per op family
    (include/moec/Conversion/MoeToExec.h). Activations must be f32. The expert and shared-expert FFN weights are
    packed as `weight-type` (f32, bf16, f16, fp8 or mxfp4); with a 16-bit type each of
    their GEMMs reads its A operand rounded to that type (round to nearest
    even, by the elementwise_round16 kernel or the GLU that produces them) and accumulates the exact
    products in f32; with fp8 the weights are e4m3 codes with 128 x 128
    block scales; with mxfp4 (K a multiple of 32) they are e2m1 codes with an
    e8m0 scale per 32 values along K. Both read f32 activations on the CPU
    target; on the CUDA target each weight value is read as bf16 against
    activations rounded to bf16, by a gemv kernel that decodes the codes
    (T <= gemv-max-tokens) or a dequant kernel writing the matrix as bf16
    for cuBLAS. Every other weight (the router's, biases, the shared
    expert's gate) stays f32. Weights are converted when the artifact is
    written.
  }];
  let options = [
    Option<"maxTokens", "max-tokens", "int64_t", /*default=*/"4096",
           "the largest token count a run may have">,
    Option<"target", "target", "::moec::ExecTarget",
           /*default=*/"::moec::ExecTarget::Cpu",
           "cpu or cuda: with cuda, routing without group limits uses the "
           "warp-per-token kernel (route_warp)",
           [{::llvm::cl::values(
               clEnumValN(::moec::ExecTarget::Cpu, "cpu", "the host CPU"),
               clEnumValN(::moec::ExecTarget::Cuda, "cuda", "NVIDIA GPUs"))}]>,
    Option<"weightType", "weight-type", "::moec::WeightType",
           /*default=*/"::moec::WeightType::F32",
           "f32, bf16, f16, fp8, mxfp4, int8 or int4: the element type of the "
           "FFN weights and of their GEMMs' operands (f32 accumulation; fp8: "
           "e4m3 weights with 128 x 128 block scales, mxfp4: e2m1 weights with "
           "an e8m0 scale per 32 values, int8 / int4: integer weights with an "
           "f16 scale per group-size values; all against f32 activations)",
           [{::llvm::cl::values(
               clEnumValN(::moec::WeightType::F32, "f32", "f32"),
               clEnumValN(::moec::WeightType::BF16, "bf16", "bfloat16"),
               clEnumValN(::moec::WeightType::F16, "f16", "IEEE half"),
               clEnumValN(::moec::WeightType::FP8, "fp8",
                          "e4m3, 128 x 128 block scales"),
               clEnumValN(::moec::WeightType::MXFP4, "mxfp4",
                          "e2m1, an e8m0 scale per 32 values"),
               clEnumValN(::moec::WeightType::INT8, "int8",
                          "symmetric, an f16 scale per group"),
               clEnumValN(::moec::WeightType::INT4, "int4",
                          "an f16 scale and a zero point per group"))}]>,
    Option<"groupSize", "group-size", "int64_t", /*default=*/"32",
           "int8 and int4: the values along k that share a scale (32, 64 or "
           "128; each FFN weight's K must be a multiple)">,
    Option<"int8Activations", "int8-activations", "bool", /*default=*/"true",
           "int8 and int4: their GEMMs quantize the activations per group to "
           "int8 and sum each group's products in integers (false: f32 "
           "activations against the dequantized weights)">,
    Option<"gemvMaxTokens", "gemv-max-tokens", "int64_t", /*default=*/"0",
           "cuda: each grouped GEMM also gets the generated grouped_gemv_warp "
           "kernel, which runs instead of cuBLAS when T <= this (0: cuBLAS at "
           "every T; above max-tokens: every T, recorded as max-tokens)">,
    Option<"fuseGateUp", "fuse-gate-up", "bool", /*default=*/"false",
           "an FFN's gate and up projections as one GEMM of N = 2F over their "
           "stacked weights (exec.concat_weights) where they stack: no "
           "biases, F a multiple of 32 (of 128 for fp8). Not given: on for "
           "the cuda target, off for cpu">,
    Option<"fp8Cublaslt", "fp8-cublaslt", "bool", /*default=*/"true",
           "cuda: fp8 GEMMs whose shapes fit also get cuBLASLt's block-scaled "
           "engine (exec act_quant: the activations quantized to e4m3 per row "
           "and block of 128), which GPUs of compute capability 9.0 run">
  ];
  let dependentDialects = ["::moec::exec::ExecDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::gpu::GPUDialect"];
}

def ExecPlanMemory : Pass<"exec-plan-memory", "::mlir::ModuleOp"> {
  let summary = "Place every buffer of each exec plan in its arena";
  let description = [{
    For each function of the module (an exec plan, with `exec.max_tokens`):
    sets the `offset` of every `exec.input` and `exec.alloc` and the
    function's `exec.arena_bytes`. Sizes are taken at `max_tokens`, each
    rounded up to 64 bytes. First fit over lifetimes, in program order: a
    buffer lives from the op that defines it to its last user (inputs from
    the start, outputs to the end), and two buffers share bytes only when
    their lifetimes do not overlap. Offsets already set are replaced.
  }];
  let dependentDialects = ["::moec::exec::ExecDialect"];
}

def ExecSpecializeKernel : Pass<"exec-specialize-kernel", "::mlir::ModuleOp"> {
  let summary = "Specialize a generic kernel of the module for bound parameters";
  let description = [{
    Adds to the module the specialization of its generic kernel `kernel`
    (a func.func with exec.kernel_params, as in lib/Conversion/Kernels/)
    named `name`, with the parameters given by `bind` (NAME=VALUE, VALUE an
    integer, true/false for a flag, a float, or f32/bf16/f16 for an element
    type). The steps are those of
    KernelSpecialization.h: bindings checked against the declared parameters
    (an unknown or missing one is an error), helpers inlined, parameters made
    constants, flags' dead branches folded, arguments whose flag is off
    dropped, memrefs given their exec.shape, and the result verified.
  }];
  let options = [
    Option<"kernel", "kernel", "std::string", /*default=*/"\"\"",
           "the generic kernel to specialize">,
    Option<"name", "name", "std::string", /*default=*/"\"\"",
           "the specialization's name (default: <kernel>_0)">,
    ListOption<"bindings", "bind", "std::string",
               "NAME=VALUE for each parameter (flags default to false)">
  ];
  let dependentDialects = ["::moec::exec::ExecDialect",
                           "::mlir::arith::ArithDialect"];
}

def ExecGuardKernelIndices : Pass<"exec-guard-kernel-indices", "::mlir::ModuleOp"> {
  let summary = "Bounds-check every memory access whose index comes from data";
  let description = [{
    In the module's `kernels` module (docs/reliability.md, "Threat model"):
    an index derived from a value the kernel read from memory (an expert
    index, a row number, an offset) is checked against the memref's size
    before the access. An out-of-range load yields zero instead and an
    out-of-range store is skipped, so that no buffer contents, whatever an
    artifact's table makes a kernel read, can make it touch memory outside
    its arguments. A value clamped to a bound that is not data-derived
    (`min_u(x, B)`, `min_s(max_s(x, L), B)`) needs no check. With
    `fault-word` (the default, for both targets), a public kernel that
    has such checks gets one more buffer argument, `memref<1xi32>`, placed
    after its others and marked by the `exec.fault_word` attribute, where it
    stores 1 on an out-of-range access; the runtime passes a per-session word
    there (docs/artifact.md, "Host kernel ABI") and fails the run. Indices
    from loop counters, T and the launch range are not checked: the runtime
    bounds those by the kernel bounds the table records.
  }];
  let options = [
    Option<"faultWord", "fault-word", "bool", /*default=*/"true",
           "report out-of-range accesses through a fault word argument">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
}

#endif // MOEC_CONVERSION_PASSES
