//===- Passes.td - code generation and serialization -------*- tablegen -*-===//
#ifndef MOEC_TARGET_PASSES
#define MOEC_TARGET_PASSES

include "mlir/Pass/PassBase.td"

def MoeCodegenHost : Pass<"moe-codegen-host", "::mlir::ModuleOp"> {
  let summary = "Compile the generated kernels to a host shared object";
  let description = [{
    Expands `math.exp` into arithmetic when the CPU has FMA (MLIR's
    polynomial approximation, so the loops that call it vectorize), then lowers the kernel functions of
    `module @kernels` (scf / arith / math /
    memref) through the LLVM dialect (bare-pointer memref calling convention)
    to LLVM IR, optimizes it (O3) for the chosen CPU, emits an x86-64 object,
    links it with the system linker into a shared object, and replaces the
    kernels module with an `exec.code_object "host-so"` carrying its bytes.
    Each kernel `k` is exported as `void k(void *const *args, int64_t T,
    int64_t begin, int64_t end)` (docs/artifact.md).
  }];
  let options = [
    Option<"cpu", "cpu", "std::string", /*default=*/"\"x86-64-v3\"",
           "the CPU the kernels are tuned for (an LLVM CPU name, or 'native')">
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::moec::exec::ExecDialect"];
}

def MoePackWeights : Pass<"moe-pack-weights", "::mlir::ModuleOp"> {
  let summary = "Lay out the CPU GEMMs' weights in panels";
  let description = [{
    Marks `panels` every `exec.weight` of rank >= 2 (f32, bf16, f16, fp8,
    mxfp4, int8 or int4) that only the
    B operands of `exec.gemm` / `exec.grouped_gemm` read, so that
    `moe-export-artifact` writes it pre-packed (panels of 32 rows;
    `exec.weight`) and the runtime's CPU GEMM streams it in the order its
    register tiles consume it. Weights anything else reads keep the row-major
    layout. An error on a module for the CUDA target (cuBLAS reads
    weights row-major). `moe-compile` runs it for `--target=cpu` unless
    `--pack-weights=false`.
  }];
  let dependentDialects = ["::moec::exec::ExecDialect"];
}

def MoeCodegenCuda : Pass<"moe-codegen-cuda", "::mlir::ModuleOp"> {
  let summary = "Compile the generated kernels to PTX (and cubin) for NVIDIA GPUs";
  let description = [{
    Wraps each kernel of `module @kernels` in a `gpu.func` entry point
    `k(buffers..., i64 T, i64 extent)` (bare pointers): grid thread g runs item
    g / lanes of [0, extent), where lanes is the kernel's `exec.lanes` (1, or
    32 for warp-per-item kernels such as route_warp). Loops marked
    `exec.spread` (independent iterations, such as a row's columns) are split
    across the item's lanes, lane l running iterations l, l + lanes, ...; such
    a kernel gets 32 to 1024 lanes (a power of two, about one per 8 iterations
    of its longest spread loop) and may write memory only inside those loops.
    The gpu.module is lowered
    through MLIR's GPU path (math functions as polynomials, so no libdevice is
    needed; gpu → NVVM with the bare-pointer ABI; `nvvm-attach-target`;
    `gpu-module-to-binary` to PTX) and, when ptxas is available (or
    binary=cubin), assembled to a cubin. The kernels module is replaced by an
    `exec.code_object "ptx"` or `"cubin"` for `chip`, with its `lanes`
    dictionary (docs/artifact.md).
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_90\"",
           "the GPU architecture (sm_NN)">,
    Option<"binary", "binary", "::moec::CudaBinary",
           /*default=*/"::moec::CudaBinary::Auto",
           "ptx, cubin (needs ptxas) or auto (cubin when ptxas is found)",
           [{::llvm::cl::values(
               clEnumValN(::moec::CudaBinary::Auto, "auto",
                          "cubin when ptxas is found, else ptx"),
               clEnumValN(::moec::CudaBinary::Ptx, "ptx", "PTX"),
               clEnumValN(::moec::CudaBinary::Cubin, "cubin", "a cubin"))}]>,
    Option<"cudaPath", "cuda-path", "std::string", /*default=*/"\"\"",
           "the CUDA toolkit (for ptxas); default /usr/local/cuda if present">
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::NVVM::NVVMDialect",
                           "::moec::exec::ExecDialect"];
}

def MoeExportArtifact : Pass<"moe-export-artifact", "::mlir::ModuleOp"> {
  let summary = "Write the .moeb artifact: plan, code objects, packed weights";
  let description = [{
    Serializes every exec function, the code objects and the weights (read
    from the safetensors checkpoints the exec.weight ops name, stacked per
    expert, converted to the buffer's element type) into the FlatBuffers table
    and blob section of docs/artifact.md, with the three checksums, and writes
    it to `output`. With `progress`, prints a line on stderr per checkpoint
    file opened and per weight packed (MiB so far, seconds, MiB/s). With
    `sign-key`, appends the signature section (docs/artifact.md,
    "Signatures"): a BLAKE2b-256 hash of every checksum chunk and an Ed25519
    signature over the header, the table and the hashes.
  }];
  let options = [
    Option<"output", "output", "std::string", /*default=*/"\"\"",
           "the artifact file to write">,
    Option<"progress", "progress", "bool", /*default=*/"false",
           "print a progress line per checkpoint file and per weight packed">,
    Option<"signKey", "sign-key", "std::string", /*default=*/"\"\"",
           "sign the artifact with the Ed25519 secret key in this file">
  ];
  let dependentDialects = ["::moec::exec::ExecDialect"];
}

#endif // MOEC_TARGET_PASSES
