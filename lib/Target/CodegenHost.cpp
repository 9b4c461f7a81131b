//===- CodegenHost.cpp - kernels → host shared object ---------------------===//
#include "moec/Target/KernelBounds.h"

#include "llvm/ADT/StringSet.h"
#include "moec/Target/Passes.h"

#include "moec/Target/ExternalTool.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MathToLibm/MathToLibm.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/IR/LegacyPassManager.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

namespace moec {
#define GEN_PASS_DEF_MOECODEGENHOST
#include "moec/Target/Passes.h.inc"
} // namespace moec

using namespace mlir;
using namespace moec;

namespace {

constexpr const char *kTriple = "x86_64-unknown-linux-gnu";

/// The argument counts of the kernels, from their memref parameters.
DictionaryAttr kernelSignatures(ModuleOp kernels) {
  Builder b(kernels.getContext());
  SmallVector<NamedAttribute> entries;
  for (auto fn : kernels.getOps<func::FuncOp>()) {
    // The fault word (exec-guard-kernel-indices) is not one of the table's
    // arguments: the runtime passes it after them.
    entries.push_back(b.getNamedAttr(fn.getSymName(),
                                     b.getI64IntegerAttr(kernelTableArguments(fn))));
  }
  return b.getDictionaryAttr(entries);
}

/// kernel(void *const *args, i64 T, i64 begin, i64 end) → kernel_impl(args[0],
/// ..., args[n-1], T, begin, end), with args[n] too for a kernel in
/// `faulting` (its fault word).
void addEntryPoints(ModuleOp kernels, DictionaryAttr signatures,
                    const llvm::StringSet<> &faulting) {
  MLIRContext *ctx = kernels.getContext();
  OpBuilder b(ctx);
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  auto i64 = IntegerType::get(ctx, 64);
  for (NamedAttribute entry : signatures) {
    auto impl = kernels.lookupSymbol<LLVM::LLVMFuncOp>(entry.getName());
    int64_t n = cast<IntegerAttr>(entry.getValue()).getInt() +
                faulting.contains(entry.getName());
    std::string name = entry.getName().str();
    impl.setSymName(name + "_impl");
    impl.setLinkage(LLVM::Linkage::Internal);
    b.setInsertionPointToEnd(kernels.getBody());
    auto type = LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx),
                                            {ptr, i64, i64, i64});
    auto fn = LLVM::LLVMFuncOp::create(b, kernels.getLoc(), name, type);
    Block *block = fn.addEntryBlock(b);
    b.setInsertionPointToStart(block);
    SmallVector<Value> args;
    for (int64_t i = 0; i < n; ++i) {
      Value slot = LLVM::GEPOp::create(b, fn.getLoc(), ptr, ptr,
                                       block->getArgument(0),
                                       ArrayRef<LLVM::GEPArg>{int32_t(i)});
      args.push_back(LLVM::LoadOp::create(b, fn.getLoc(), ptr, slot));
    }
    for (int i = 1; i < 4; ++i)
      args.push_back(block->getArgument(i));
    LLVM::CallOp::create(b, fn.getLoc(), impl, args);
    LLVM::ReturnOp::create(b, fn.getLoc(), ValueRange{});
  }
}

/// The system linker: turns an object into a shared object.
FailureOr<std::string> findLinker(std::string &error) {
  for (const char *name : {"ld", "ld.lld", "ld.gold", "ld.bfd"})
    if (auto path = llvm::sys::findProgramByName(name))
      return *path;
  error = "no linker found (ld, ld.lld, ld.gold or ld.bfd on PATH); install "
          "binutils";
  return failure();
}

FailureOr<std::vector<char>> linkSharedObject(llvm::StringRef object,
                                              std::string &error) {
  auto linker = findLinker(error);
  if (failed(linker))
    return failure();
  return runExternalTool(*linker,
                         {*linker, "-shared", "-z", "noexecstack",
                          "--hash-style=both", "-soname", "moec-kernels.so",
                          "-o", "{out}", "{in}"},
                         object, "o", "so", "the linker", 120, error);
}

/// For each kernel, `moec_bounds.<kernel>`: a constant i64 array with its
/// bounds (KernelBounds.h), exported so that the runtime can compare the
/// table's bounds with those of the code it calls.
void addBoundsConstants(ModuleOp kernels, DictionaryAttr bounds) {
  OpBuilder b(kernels.getContext());
  b.setInsertionPointToEnd(kernels.getBody());
  for (NamedAttribute entry : bounds) {
    auto values = cast<DenseI64ArrayAttr>(entry.getValue());
    auto i64 = b.getI64Type();
    auto type = LLVM::LLVMArrayType::get(i64, values.size());
    auto init = DenseElementsAttr::get(
        RankedTensorType::get({static_cast<int64_t>(values.size())}, i64),
        values.asArrayRef());
    LLVM::GlobalOp::create(b, kernels.getLoc(), type, /*isConstant=*/true,
                           LLVM::Linkage::External,
                           kernelBoundsSymbol(entry.getName()), init);
  }
}

} // namespace

ModuleOp moec::getKernelsModule(ModuleOp module) {
  for (auto nested : module.getOps<ModuleOp>())
    if (nested.getSymName() == "kernels")
      return nested;
  return nullptr;
}

void moec::buildKernelToLLVMPipeline(OpPassManager &pm) {
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  ConvertFuncToLLVMPassOptions funcOptions;
  funcOptions.useBarePtrCallConv = true;
  pm.addPass(createConvertFuncToLLVMPass(funcOptions));
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

namespace {

struct MoeCodegenHostPass
    : moec::impl::MoeCodegenHostBase<MoeCodegenHostPass> {
  using moec::impl::MoeCodegenHostBase<MoeCodegenHostPass>::MoeCodegenHostBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    ModuleOp kernels = getKernelsModule(module);
    if (!kernels)
      return; // nothing to compile
    auto fail = [&](const Twine &message) {
      kernels.emitError() << "moe-codegen-host: " << message;
      signalPassFailure();
    };

    DictionaryAttr signatures = kernelSignatures(kernels);
    llvm::StringSet<> faulting;
    for (auto fn : kernels.getOps<func::FuncOp>())
      if (fn->hasAttr(exec::kFaultWordAttr))
        faulting.insert(fn.getSymName());
    FailureOr<DictionaryAttr> bounds = computeKernelBounds(module, kernels);
    if (failed(bounds))
      return signalPassFailure();

    // 1. The CPU the code is for.
    LLVMInitializeX86TargetInfo();
    LLVMInitializeX86Target();
    LLVMInitializeX86TargetMC();
    LLVMInitializeX86AsmPrinter();
    std::string cpuName = cpu == "native" ? llvm::sys::getHostCPUName().str()
                                          : cpu.getValue();
    llvm::Triple triple(kTriple);
    std::string error;
    const llvm::Target *target =
        llvm::TargetRegistry::lookupTarget(triple, error);
    if (!target)
      return fail("no x86-64 target in this LLVM: " + error);
    std::unique_ptr<llvm::MCSubtargetInfo> subtarget(
        target->createMCSubtargetInfo(triple, cpuName, ""));
    if (!subtarget || !subtarget->isCPUStringValid(cpuName))
      return fail("unknown CPU '" + cpuName +
                  "' (use an LLVM CPU name such as x86-64-v3, or native)");
    // The code object's arch: the CPU and the instruction-set features its
    // code may use, which the runtime checks before loading it.
    std::string arch = cpuName;
    for (const char *feature :
         {"sse4.2", "popcnt", "avx", "avx2", "fma", "bmi", "bmi2", "avx512f",
          "avx512bw", "avx512dq", "avx512vl", "avx512vnni", "avx512bf16"})
      if (subtarget->checkFeatures(std::string("+") + feature))
        arch += std::string("+") + feature;

    // 2. math.exp as arithmetic where the CPU has FMA (and so SSE4.1):
    // MLIR's polynomial approximation (range reduction, a polynomial in
    // fused multiply-adds, scaling by 2^n; measured at most 0.98 ulp from
    // exp on 420,000 values in [-87, 88], results below 2^-126 flushed to
    // zero). No libm call is then left in the activation and routing loops,
    // so LLVM vectorizes them: a SiLU over 2 x 2816 values at T = 1 took
    // 22 us with a call per value, 3.6 after (docs/bench.md, "Where a
    // decode step goes"). Without FMA each fma would be a call to fmaf.
    if (subtarget->checkFeatures("+fma")) {
      RewritePatternSet patterns(&getContext());
      populateMathPolynomialApproximationPatterns(patterns, [](StringRef name) {
        return name == math::ExpOp::getOperationName();
      });
      if (failed(applyPatternsGreedily(kernels, std::move(patterns))))
        return fail("expanding math.exp failed");
    }

    // 3. scf/arith/math/memref → LLVM dialect.
    PassManager pm(&getContext(), ModuleOp::getOperationName());
    buildKernelToLLVMPipeline(pm);
    if (failed(pm.run(kernels)))
      return fail("lowering the kernels to the LLVM dialect failed");
    addEntryPoints(kernels, signatures, faulting);
    addBoundsConstants(kernels, *bounds);

    // 4. LLVM IR, optimized for the CPU.
    llvm::TargetOptions options;
    std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
        triple, cpuName, "", options, llvm::Reloc::PIC_, std::nullopt,
        llvm::CodeGenOptLevel::Aggressive));

    registerBuiltinDialectTranslation(getContext());
    registerLLVMDialectTranslation(getContext());
    llvm::LLVMContext llvmContext;
    std::unique_ptr<llvm::Module> llvmModule =
        translateModuleToLLVMIR(kernels, llvmContext, "moec-kernels");
    if (!llvmModule)
      return fail("translating the kernels to LLVM IR failed");
    llvmModule->setTargetTriple(triple);
    llvmModule->setDataLayout(machine->createDataLayout());
    auto optimize = makeOptimizingTransformer(3, 0, machine.get());
    if (llvm::Error err = optimize(llvmModule.get()))
      return fail("optimizing the kernels failed: " +
                  llvm::toString(std::move(err)));

    // 5. An object, then a shared object.
    llvm::SmallVector<char, 0> object;
    {
      llvm::raw_svector_ostream os(object);
      llvm::legacy::PassManager codegen;
      if (machine->addPassesToEmitFile(codegen, os, nullptr,
                                       llvm::CodeGenFileType::ObjectFile))
        return fail("the x86-64 backend cannot emit an object file");
      codegen.run(*llvmModule);
    }
    auto so = linkSharedObject(llvm::StringRef(object.data(), object.size()),
                               error);
    if (failed(so))
      return fail(error);

    // 6. The code object replaces the kernels.
    OpBuilder b(&getContext());
    b.setInsertionPoint(kernels);
    auto type = RankedTensorType::get({static_cast<int64_t>(so->size())},
                                      b.getIntegerType(8));
    auto blob = HeapAsmResourceBlob::allocateAndCopyInferAlign(
        ArrayRef<char>(so->data(), so->size()));
    auto data = DenseResourceElementsAttr::get(type, "host_kernels",
                                               std::move(blob));
    exec::CodeObjectOp::create(b, kernels.getLoc(), b.getStringAttr("host-so"),
                               b.getStringAttr(arch), data, signatures,
                               /*lanes=*/nullptr, *bounds);
    kernels.erase();
  }
};

} // namespace
