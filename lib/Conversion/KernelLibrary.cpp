//===- KernelLibrary.cpp - the kernels a plan launches --------------------===//
#include "moec/Conversion/KernelLibrary.h"

#include "exec/ExecDialect.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/Support/Format.h"

using namespace mlir;
using namespace moec;

namespace {
struct KernelFile {
  const char *name;
  const char *text;
};
/// lib/Conversion/Kernels/*.mlir: modules of generic kernels.
const KernelFile kKernelFiles[] = {
#include "Kernels.inc"
};

/// The exact bits of `value` rounded to f32 (`bits` 32) or f64.
std::string hexBits(double value, bool f32) {
  llvm::APFloat f(value);
  bool lost;
  if (f32)
    f.convert(llvm::APFloat::IEEEsingle(), llvm::APFloat::rmNearestTiesToEven,
              &lost);
  std::string text;
  llvm::raw_string_ostream(text)
      << llvm::format_hex(f.bitcastToAPInt().getZExtValue(), f32 ? 10 : 18);
  return text;
}
} // namespace

KernelSpecialization &KernelSpecialization::set(const std::string &name,
                                                int64_t value) {
  ints[name] = value;
  return *this;
}

KernelSpecialization &KernelSpecialization::setF32(const std::string &name,
                                                   double value) {
  f32s[name] = value;
  return *this;
}

KernelSpecialization &KernelSpecialization::setF64(const std::string &name,
                                                   double value) {
  f64s[name] = value;
  return *this;
}

KernelSpecialization &
KernelSpecialization::setElementType(const std::string &name,
                                     const std::string &type) {
  elementTypes[name] = type;
  return *this;
}

KernelSpecialization &KernelSpecialization::setElementType(const std::string &name,
                                                           mlir::Type type) {
  assert((type.isF32() || type.isBF16() || type.isF16()) && "an element type");
  return setElementType(name, type.isBF16() ? "bf16" : type.isF16() ? "f16" : "f32");
}

KernelSpecialization &KernelSpecialization::flag(const std::string &name,
                                                 bool on) {
  if (on)
    flags.insert(name);
  else
    flags.erase(name);
  return *this;
}

std::string KernelSpecialization::key() const {
  std::string key = kernel;
  for (const auto &[k, v] : ints)
    key += ";" + k + "=" + std::to_string(v);
  for (const auto &[k, v] : f32s)
    key += ";" + k + "=" + hexBits(v, true);
  for (const auto &[k, v] : f64s)
    key += ";" + k + "=" + hexBits(v, false);
  for (const auto &[k, v] : elementTypes)
    key += ";" + k + "=" + v;
  for (const std::string &f : flags)
    key += ";" + f;
  return key;
}

KernelBindings KernelSpecialization::bindings(MLIRContext *ctx) const {
  Builder b(ctx);
  KernelBindings out;
  for (const auto &[k, v] : ints)
    out[k] = b.getI64IntegerAttr(v);
  for (const auto &[k, v] : f32s)
    out[k] = b.getF32FloatAttr(static_cast<float>(v));
  for (const auto &[k, v] : f64s)
    out[k] = b.getF64FloatAttr(v);
  for (const auto &[k, v] : elementTypes)
    out[k] = TypeAttr::get(v == "bf16"  ? Type(b.getBF16Type())
                           : v == "f16" ? Type(b.getF16Type())
                                        : Type(b.getF32Type()));
  for (const std::string &f : flags)
    out[f] = b.getBoolAttr(true);
  return out;
}

KernelLibrary::~KernelLibrary() = default;

FailureOr<func::FuncOp> KernelLibrary::findGeneric(llvm::StringRef name,
                                                   Location loc) {
  MLIRContext *ctx = loc.getContext();
  if (generic.empty()) {
    if (!ctx->getLoadedDialect<exec::ExecDialect>())
      return emitError(loc) << "the kernel library needs the exec dialect "
                               "loaded";
    // All files or none: a later call must not find a partial library.
    std::vector<OwningOpRef<ModuleOp>> parsed;
    for (const KernelFile &file : kKernelFiles) {
      std::string diagnostics;
      OwningOpRef<ModuleOp> module;
      {
        ScopedDiagnosticHandler handler(ctx, [&](Diagnostic &d) {
          llvm::raw_string_ostream os(diagnostics);
          os << d.getLocation() << ": " << d.str() << "\n";
          return success();
        });
        module = parseSourceString<ModuleOp>(
            file.text, ParserConfig(ctx),
            std::string("Kernels/") + file.name + ".mlir");
      }
      if (!module)
        return emitError(loc) << "the kernel library's " << file.name
                              << ".mlir does not parse:\n"
                              << diagnostics;
      parsed.push_back(std::move(module));
    }
    generic = std::move(parsed);
  }
  for (OwningOpRef<ModuleOp> &module : generic)
    if (auto fn = module->lookupSymbol<func::FuncOp>(name); fn && fn.isPublic())
      return fn;
  return emitError(loc) << "no kernel '" << name
                        << "' in the kernel library (lib/Conversion/Kernels)";
}

FailureOr<func::FuncOp> KernelLibrary::get(const KernelSpecialization &spec,
                                           Location loc) {
  std::string key = spec.key();
  auto it = byKey.find(key);
  if (it != byKey.end())
    return kernels.lookupSymbol<func::FuncOp>(it->second);
  FailureOr<func::FuncOp> genericFn = findGeneric(spec.kernel, loc);
  if (failed(genericFn))
    return failure();
  MLIRContext *ctx = loc.getContext();
  if (!folding)
    folding.emplace(getKernelFoldingPatterns(ctx));
  std::string name =
      spec.kernel + "_" + std::to_string(counters[spec.kernel]++);
  auto fn = specializeKernel(*genericFn, name, spec.bindings(ctx), kernels,
                             *folding, loc);
  if (failed(fn))
    return failure();
  byKey[key] = name;
  return fn;
}
