//===- Passes.td - lowering of moe graphs to exec plans ----*- tablegen -*-===//
#ifndef MOEC_CONVERSION_PASSES
#define MOEC_CONVERSION_PASSES

include "mlir/Pass/PassBase.td"

def MoeLowerToExec : Pass<"moe-lower-to-exec", "::mlir::ModuleOp"> {
  let summary = "Bufferize, plan memory and select kernels and library GEMMs";
  let description = [{
    Turns each function on tensors into an exec plan for the CPU or CUDA target:
    every tensor value gets an arena buffer whose size is an affine function
    a·T + b of the run's token count (an upper bound where the exact row count
    is data-dependent), projections become library GEMM commands (`exec.gemm`,
    `exec.grouped_gemm`), and every other op becomes a launch of a generated
    kernel, specialized from the templates in lib/Conversion/Kernels into a
    nested `module @kernels`. A top-k also feeds a router-statistics kernel
    whose result is an auxiliary output `router_stats.<i>`, and its indices
    are the auxiliary output `router_indices.<i>` (i32 [T, k]). The memory plan
    assigns arena offsets at `max-tokens` by first fit over buffer lifetimes.
    Activations must be f32; weights of any float type are converted to f32
    when the artifact is written.
  }];
  let options = [
    Option<"maxTokens", "max-tokens", "int64_t", /*default=*/"4096",
           "the largest token count a run may have">,
    Option<"target", "target", "std::string", /*default=*/"\"cpu\"",
           "cpu or cuda: with cuda, routing without group limits uses the "
           "warp-per-token kernel (route_warp)">
  ];
  let dependentDialects = ["::moec::exec::ExecDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::gpu::GPUDialect"];
}

#endif // MOEC_CONVERSION_PASSES
