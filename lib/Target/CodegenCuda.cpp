//===- CodegenCuda.cpp - kernels → PTX (and cubin) for NVIDIA GPUs --------===//
//
// Each kernel of `module @kernels` (a func.func over [begin, end) of its
// extent) becomes a gpu.func entry point: thread g of the grid runs item
// g / lanes, and every lane of that item runs the kernel's body over
// [item, item + 1). A kernel's `exec.spread` loops (loops whose iterations
// are independent, such as a row's columns) are split across its lanes: lane
// l runs iterations l, l + lanes, ..., so a warp's loads are consecutive
// (coalesced); such a kernel gets 32 to 1024 lanes, about one per 8
// iterations of its longest spread loop. The gpu.module then goes down MLIR's GPU path: math
// functions as polynomials (no libdevice needed), scf → cf, arith / math /
// index → LLVM and gpu → NVVM (GPUToNVVM's patterns) with the bare-pointer
// kernel ABI, nvvm-attach-target and gpu-module-to-binary (PTX). With ptxas,
// the PTX is assembled to a cubin.
//
//===----------------------------------------------------------------------===//
#include "moec/Target/KernelBounds.h"
#include "moec/Target/Passes.h"

#include "moec/Target/ExternalTool.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/LLVMCommon/ConversionTarget.h"
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/TargetParser/Triple.h"
#include "llvm/Support/Program.h"

namespace moec {
#define GEN_PASS_DEF_MOECODEGENCUDA
#include "moec/Target/Passes.h.inc"
} // namespace moec

using namespace mlir;
using namespace moec;

extern "C" void LLVMInitializeNVPTXTargetInfo();
extern "C" void LLVMInitializeNVPTXTargetMC();

bool moec::isCudaChip(llvm::StringRef chip) {
  // sm_75 is the oldest the kernels' shuffles lower for that CUDA 13's ptxas
  // still assembles (sm_50..sm_72 abort in the NVPTX backend or are refused
  // by ptxas); newer names must be ones this LLVM's NVPTX backend knows, which
  // would otherwise abort on an unknown processor.
  unsigned sm = 0;
  llvm::StringRef digits = chip;
  if (!digits.consume_front("sm_") || digits.consumeInteger(10, sm) || sm < 75)
    return false;
  static const llvm::MCSubtargetInfo *nvptx = [] {
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTargetMC();
    llvm::Triple triple("nvptx64-nvidia-cuda");
    std::string error;
    const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
    return target ? target->createMCSubtargetInfo(triple, "sm_75", "") : nullptr;
  }();
  return nvptx && nvptx->isCPUStringValid(chip);
}

namespace {

/// The CUDA toolkit: the option, else /usr/local/cuda when it exists.
std::string toolkitPath(llvm::StringRef option) {
  if (!option.empty())
    return option.str();
  if (llvm::sys::fs::is_directory("/usr/local/cuda"))
    return "/usr/local/cuda";
  return "";
}

std::optional<std::string> findPtxas(llvm::StringRef toolkit) {
  if (!toolkit.empty()) {
    llvm::SmallString<128> path(toolkit);
    llvm::sys::path::append(path, "bin", "ptxas");
    if (llvm::sys::fs::can_execute(path))
      return path.str().str();
  }
  if (auto path = llvm::sys::findProgramByName("ptxas"))
    return *path;
  return std::nullopt;
}

/// Assembles `ptx` for `chip` with ptxas.
FailureOr<std::vector<char>> assemble(llvm::StringRef ptxas,
                                      llvm::StringRef ptx,
                                      llvm::StringRef chip,
                                      std::string &error) {
  return runExternalTool(ptxas,
                         {ptxas.str(), ("-arch=" + chip).str(), "-O3", "{in}",
                          "-o", "{out}"},
                         ptx, "ptx", "cubin", "ptxas", 300, error);
}

constexpr llvm::StringLiteral kSpread =
    exec::ExecDialect::SpreadAttrHelper::getNameStr();

/// The lanes of a kernel with exec.spread loops: a power of two from 32 to
/// 1024, about one per 8 iterations of the longest one (1 without such
/// loops). Every lane runs the code outside those loops, so the kernel may
/// write device memory only inside them (its stack arrays are per lane).
FailureOr<int64_t> spreadLanes(func::FuncOp fn) {
  int64_t longest = 0;
  bool any = false;
  fn.walk([&](scf::ForOp loop) {
    if (!loop->hasAttr(kSpread))
      return;
    any = true;
    std::optional<APInt> trips = loop.getStaticTripCount();
    longest = std::max<int64_t>(longest, trips ? trips->getSExtValue() : 8 * 1024);
  });
  if (!any)
    return 1;
  WalkResult stray = fn.walk([&](Operation *op) {
    auto store = dyn_cast<memref::StoreOp>(op);
    if (!store && !isa<memref::AtomicRMWOp, memref::CopyOp>(op))
      return WalkResult::advance();
    if (store && store.getMemRef().getDefiningOp<memref::AllocaOp>())
      return WalkResult::advance();
    // The fault word: every lane may set it to 1, the same value.
    if (store && fn->hasAttr(exec::kFaultWordAttr) &&
        store.getMemRef() == fn.getArgument(kernelTableArguments(fn)))
      return WalkResult::advance();
    for (Operation *p = op->getParentOp(); p && p != fn; p = p->getParentOp())
      if (p->hasAttr(kSpread))
        return WalkResult::advance();
    op->emitError() << "moe-codegen-cuda: kernel " << fn.getSymName()
                    << " writes memory outside its exec.spread loops, which "
                       "every lane of an item runs";
    return WalkResult::interrupt();
  });
  if (stray.wasInterrupted())
    return failure();
  int64_t lanes = 32;
  while (lanes < 1024 && lanes * 8 < longest)
    lanes *= 2;
  return lanes;
}

/// gpu.func @name(buffers..., %fault: memref<1xi32>, %run: memref<1xi32>,
/// %per_token: index, %fixed: index) for each kernel: T is run[0], the
/// items [0, per_token · T + fixed).
LogicalResult buildEntryPoints(ModuleOp kernels, gpu::GPUModuleOp gpuModule,
                               DictionaryAttr &signatures,
                               DictionaryAttr &lanesAttr) {
  MLIRContext *ctx = kernels.getContext();
  OpBuilder b(ctx);
  SmallVector<NamedAttribute> sigs, lanes;
  for (auto fn : kernels.getOps<func::FuncOp>()) {
    Location loc = fn.getLoc();
    if (!fn.getBody().hasOneBlock())
      return fn.emitError() << "moe-codegen-cuda: kernel " << fn.getSymName()
                            << " has more than one block";
    ArrayRef<Type> inputs = fn.getArgumentTypes();
    // The table's buffers, then the fault word: every entry point takes one
    // (the runtime always passes it); a kernel without checked indices
    // ignores it.
    bool hasFault = fn->hasAttr(exec::kFaultWordAttr);
    int64_t buffers = kernelTableArguments(fn);
    int64_t memrefs = buffers + hasFault;
    if (inputs.size() != static_cast<size_t>(memrefs) + 3)
      return fn.emitError() << "moe-codegen-cuda: kernel " << fn.getSymName()
                            << " does not take (buffers..., T, begin, end)";
    int64_t laneCount = 1;
    if (auto attr = fn->getAttrOfType<IntegerAttr>(
            exec::ExecDialect::LanesAttrHelper::getNameStr()))
      laneCount = attr.getInt(); // 1 or 32 (the dialect's verifier)
    FailureOr<int64_t> spread = spreadLanes(fn);
    if (failed(spread))
      return failure();
    if (*spread > 1) {
      if (laneCount != 1)
        return fn.emitError() << "moe-codegen-cuda: kernel " << fn.getSymName()
                              << " has both exec.lanes and exec.spread loops";
      laneCount = *spread;
    }
    sigs.push_back(b.getNamedAttr(fn.getSymName(), b.getI64IntegerAttr(buffers)));
    lanes.push_back(b.getNamedAttr(fn.getSymName(), b.getI64IntegerAttr(laneCount)));

    // docs/artifact.md, "CUDA kernel ABI": the buffers, the fault word, the
    // run word (the run's T, which the runtime writes before the run, so a
    // CUDA graph captured at one T serves every T of its bucket), and the
    // launch's extent(T) = per_token · T + fixed.
    SmallVector<Type> argTypes(inputs.take_front(buffers));
    argTypes.push_back(MemRefType::get({1}, b.getI32Type())); // the fault word
    argTypes.push_back(MemRefType::get({1}, b.getI32Type())); // the run word
    argTypes.append({b.getIndexType(), b.getIndexType()}); // per_token, fixed
    b.setInsertionPointToEnd(gpuModule.getBody());
    auto gfn = gpu::GPUFuncOp::create(b, loc, fn.getSymName(),
                                      b.getFunctionType(argTypes, {}));
    gfn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
    Block &entry = gfn.getBody().front();
    b.setInsertionPointToStart(&entry);
    Value tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
    Value bid = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
    Value bdim = gpu::BlockDimOp::create(b, loc, gpu::Dimension::x);
    Value global = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, bid, bdim), tid);
    Value lanesValue = arith::ConstantIndexOp::create(b, loc, laneCount);
    Value item = arith::DivUIOp::create(b, loc, global, lanesValue);
    Value lane = arith::RemUIOp::create(b, loc, global, lanesValue);
    Value next = arith::AddIOp::create(b, loc, item,
                                       arith::ConstantIndexOp::create(b, loc, 1));
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value runT = arith::IndexCastOp::create(
        b, loc, b.getIndexType(),
        memref::LoadOp::create(b, loc, entry.getArgument(buffers + 1), ValueRange{zero}));
    Value extent = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, entry.getArgument(buffers + 2), runT),
        entry.getArgument(buffers + 3));
    Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                          item, extent);

    IRMapping map;
    Block &body = fn.getBody().front();
    for (int64_t i = 0; i < buffers; ++i)
      map.map(body.getArgument(i), entry.getArgument(i));
    if (hasFault)
      map.map(body.getArgument(buffers), entry.getArgument(buffers));
    map.map(body.getArgument(memrefs), runT);                           // T
    map.map(body.getArgument(memrefs + 1), item);                       // begin
    map.map(body.getArgument(memrefs + 2), next);                       // end
    // Stack arrays live in the entry block (no dynamic allocas on the GPU).
    for (Operation &op : body.without_terminator())
      if (isa<memref::AllocaOp>(op))
        b.clone(op, map);
    auto guard = scf::IfOp::create(b, loc, inRange, /*withElse=*/false);
    b.setInsertionPoint(guard.thenBlock()->getTerminator());
    for (Operation &op : body.without_terminator())
      if (!isa<memref::AllocaOp>(op))
        b.clone(op, map);
    if (laneCount > 1)
      guard.thenBlock()->walk([&](scf::ForOp loop) {
        if (!loop->hasAttr(kSpread))
          return;
        // lower + lane · step, step · lanes.
        OpBuilder lb(loop);
        Value offset = arith::MulIOp::create(lb, loc, lane, loop.getStep());
        loop.getLowerBoundMutable().assign(
            arith::AddIOp::create(lb, loc, loop.getLowerBound(), offset));
        loop.getStepMutable().assign(
            arith::MulIOp::create(lb, loc, loop.getStep(), lanesValue));
        loop->removeAttr(kSpread);
      });
    b.setInsertionPointToEnd(&entry);
    gpu::ReturnOp::create(b, loc);
  }
  signatures = b.getDictionaryAttr(sigs);
  lanesAttr = b.getDictionaryAttr(lanes);
  return success();
}

/// gpu / arith / math / cf / memref / index → LLVM + NVVM, with the
/// bare-pointer kernel ABI. Unlike convert-gpu-to-nvvm, LLVM's math
/// intrinsics (floor, fma, sqrt, fabs, ...) stay legal, since NVPTX has
/// instructions for them: nothing is turned into a libdevice call.
LogicalResult lowerToNVVM(gpu::GPUModuleOp gpuModule) {
  MLIRContext *ctx = gpuModule.getContext();
  LowerToLLVMOptions options(ctx);
  options.overrideIndexBitwidth(64);
  options.useBarePtrCallConv = true;
  LLVMTypeConverter converter(ctx, options);
  configureGpuToNVVMTypeConverter(converter);
  RewritePatternSet patterns(ctx);
  arith::populateArithToLLVMConversionPatterns(converter, patterns);
  populateMathToLLVMConversionPatterns(converter, patterns);
  cf::populateControlFlowToLLVMConversionPatterns(converter, patterns);
  populateFinalizeMemRefToLLVMConversionPatterns(converter, patterns);
  index::populateIndexToLLVMConversionPatterns(converter, patterns);
  populateGpuToNVVMConversionPatterns(converter, patterns);
  LLVMConversionTarget target(*ctx);
  target.addLegalDialect<NVVM::NVVMDialect>();
  target.addIllegalDialect<gpu::GPUDialect>();
  target.addLegalOp<gpu::GPUModuleOp>();
  return applyPartialConversion(gpuModule, target, std::move(patterns));
}

struct MoeCodegenCudaPass
    : moec::impl::MoeCodegenCudaBase<MoeCodegenCudaPass> {
  using moec::impl::MoeCodegenCudaBase<MoeCodegenCudaPass>::MoeCodegenCudaBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    getContext().getLoadedDialect<exec::ExecDialect>()->getTargetArchAttrHelper().setAttr(
        module, StringAttr::get(&getContext(), chip));
    ModuleOp kernels = getKernelsModule(module);
    if (!kernels)
      return; // nothing to compile
    auto fail = [&](const Twine &message) {
      kernels.emitError() << "moe-codegen-cuda: " << message;
      signalPassFailure();
    };
    if (!isCudaChip(chip))
      return fail("unknown GPU architecture '" + chip +
                  "' (expected sm_NN with NN >= 75 that this LLVM's NVPTX backend "
                  "knows, e.g. sm_80, sm_90 or sm_90a)");
    std::string toolkit = toolkitPath(cudaPath);
    std::optional<std::string> ptxas = findPtxas(toolkit);
    if (binary == CudaBinary::Cubin && !ptxas)
      return fail("a cubin needs ptxas, which is neither in the CUDA toolkit (" +
                  (toolkit.empty() ? std::string("none found") : toolkit) +
                  ") nor on PATH; use binary=ptx to carry PTX the driver "
                  "compiles at load");

    MLIRContext *ctx = &getContext();
    NVVM::registerNVVMTargetInterfaceExternalModels(*ctx);
    registerBuiltinDialectTranslation(*ctx);
    registerLLVMDialectTranslation(*ctx);
    registerGPUDialectTranslation(*ctx);
    registerNVVMDialectTranslation(*ctx);

    // 1. A container module holding one gpu.module with the entry points.
    OpBuilder b(ctx);
    OwningOpRef<ModuleOp> container = ModuleOp::create(b, kernels.getLoc());
    (*container)->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                          b.getUnitAttr());
    b.setInsertionPointToStart(container->getBody());
    auto gpuModule =
        gpu::GPUModuleOp::create(b, kernels.getLoc(), "moec_kernels");
    DictionaryAttr signatures, lanes;
    FailureOr<DictionaryAttr> bounds = computeKernelBounds(module, kernels);
    if (failed(bounds))
      return signalPassFailure();
    if (failed(buildEntryPoints(kernels, gpuModule, signatures, lanes)))
      return signalPassFailure();

    // 2. Math functions as polynomials: no libdevice calls remain.
    {
      RewritePatternSet patterns(ctx);
      populateMathPolynomialApproximationPatterns(patterns);
      if (failed(applyPatternsGreedily(gpuModule, std::move(patterns))))
        return fail("expanding math functions failed");
    }

    // 3. GPU path to PTX.
    PassManager pm(ctx, ModuleOp::getOperationName());
    OpPassManager &device = pm.nest<gpu::GPUModuleOp>();
    device.addPass(createCanonicalizerPass());
    device.addPass(createCSEPass());
    device.addPass(createSCFToControlFlowPass());
    if (failed(pm.run(*container)))
      return fail("lowering the kernels' loops failed");
    if (failed(lowerToNVVM(gpuModule)))
      return fail("lowering the kernels to NVVM failed");
    pm.clear();
    pm.nest<gpu::GPUModuleOp>().addPass(createReconcileUnrealizedCastsPass());
    GpuNVVMAttachTargetOptions attach;
    attach.chip = chip;
    attach.optLevel = 3;
    pm.addPass(createGpuNVVMAttachTarget(attach));
    GpuModuleToBinaryPassOptions toBinary;
    toBinary.compilationTarget = "isa";
    toBinary.toolkitPath = toolkit;
    pm.addPass(createGpuModuleToBinaryPass(toBinary));
    if (failed(pm.run(*container)))
      return fail("lowering the kernels to PTX for " + chip + " failed");

    std::string ptx;
    for (auto bin : container->getOps<gpu::BinaryOp>())
      for (Attribute object : bin.getObjects())
        if (auto o = dyn_cast<gpu::ObjectAttr>(object))
          ptx = o.getObject().getValue().str();
    if (ptx.empty())
      return fail("gpu-module-to-binary produced no PTX");

    // 4. The code object: a cubin when ptxas is at hand (or asked for).
    std::string format = "ptx";
    std::vector<char> bytes(ptx.begin(), ptx.end());
    if (binary == CudaBinary::Cubin || (binary == CudaBinary::Auto && ptxas)) {
      std::string error;
      auto cubin = assemble(*ptxas, ptx, chip, error);
      if (failed(cubin))
        return fail(error);
      format = "cubin";
      bytes = std::move(*cubin);
    }
    b.setInsertionPoint(kernels);
    auto type = RankedTensorType::get({static_cast<int64_t>(bytes.size())},
                                      b.getIntegerType(8));
    auto blob = HeapAsmResourceBlob::allocateAndCopyInferAlign(
        ArrayRef<char>(bytes.data(), bytes.size()));
    auto data = DenseResourceElementsAttr::get(type, "cuda_kernels",
                                               std::move(blob));
    exec::CodeObjectOp::create(b, kernels.getLoc(), b.getStringAttr(format),
                               b.getStringAttr(chip), data, signatures, lanes,
                               *bounds);
    kernels.erase();
  }
};

} // namespace
