//===- KernelLibrary.cpp - kernels defined once, in MLIR ------------------===//
#include "moec/Conversion/KernelLibrary.h"

#include "exec/ExecDialect.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"

using namespace mlir;
using namespace moec;

namespace {
struct Template {
  const char *name;
  const char *text;
};
const Template kTemplates[] = {
#include "KernelTemplates.inc"
};
/// lib/Conversion/Kernels/*.mlir: modules of generic kernels.
const Template kKernelFiles[] = {
#include "Kernels.inc"
};
} // namespace

KernelLibrary::~KernelLibrary() = default;

FailureOr<func::FuncOp> KernelLibrary::findGeneric(llvm::StringRef name,
                                                   Location loc) {
  MLIRContext *ctx = loc.getContext();
  if (generic.empty()) {
    if (!ctx->getLoadedDialect<exec::ExecDialect>())
      return emitError(loc) << "the kernel library needs the exec dialect "
                               "loaded";
    for (const Template &file : kKernelFiles) {
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
      generic.push_back(std::move(module));
    }
  }
  for (OwningOpRef<ModuleOp> &module : generic)
    if (auto fn = module->lookupSymbol<func::FuncOp>(name); fn && fn.isPublic())
      return fn;
  return func::FuncOp();
}

llvm::StringRef moec::getKernelTemplate(llvm::StringRef name) {
  for (const Template &t : kTemplates)
    if (name == t.name)
      return t.text;
  return {};
}

KernelSpec &KernelSpec::set(const std::string &name, int64_t value) {
  params[name] = std::to_string(value);
  ints[name] = value;
  return *this;
}

KernelSpec &KernelSpec::setF32(const std::string &name, double value) {
  llvm::APFloat f(value);
  bool lost;
  f.convert(llvm::APFloat::IEEEsingle(), llvm::APFloat::rmNearestTiesToEven,
            &lost);
  std::string text;
  llvm::raw_string_ostream(text)
      << llvm::format_hex(f.bitcastToAPInt().getZExtValue(), 10);
  params[name] = text;
  f32s[name] = value;
  return *this;
}

KernelSpec &KernelSpec::setF64(const std::string &name, double value) {
  llvm::APFloat f(value);
  std::string text;
  llvm::raw_string_ostream(text)
      << llvm::format_hex(f.bitcastToAPInt().getZExtValue(), 18);
  params[name] = text;
  f64s[name] = value;
  return *this;
}

KernelSpec &KernelSpec::setElementType(const std::string &name,
                                       const std::string &type) {
  params[name] = type;
  elementTypes[name] = type;
  return *this;
}

KernelSpec &KernelSpec::flag(const std::string &name, bool on) {
  if (on)
    flags.insert(name);
  else
    flags.erase(name);
  return *this;
}

FailureOr<std::string> moec::instantiateKernel(llvm::StringRef source,
                                               const KernelSpec &spec,
                                               llvm::StringRef functionName,
                                               std::string &error) {
  llvm::StringRef text = source;
  std::string out;
  // Each entry: is this block's text kept; was any branch of it taken.
  llvm::SmallVector<std::pair<bool, bool>> stack;
  auto active = [&] {
    return llvm::all_of(stack, [](auto &s) { return s.first; });
  };
  llvm::SmallVector<llvm::StringRef> lines;
  text.split(lines, '\n');
  for (llvm::StringRef line : lines) {
    llvm::StringRef trimmed = line.trim();
    if (trimmed.consume_front("//#if ")) {
      bool on = spec.flags.count(trimmed.trim().str()) != 0;
      stack.push_back({on, on});
      continue;
    }
    if (trimmed == "//#else") {
      if (stack.empty()) {
        error = "//#else without //#if";
        return failure();
      }
      stack.back().first = !stack.back().second;
      continue;
    }
    if (trimmed == "//#endif") {
      if (stack.empty()) {
        error = "//#endif without //#if";
        return failure();
      }
      stack.pop_back();
      continue;
    }
    if (!active())
      continue;
    std::string result;
    for (size_t pos = 0;;) {
      size_t open = line.find("${", pos);
      if (open == llvm::StringRef::npos) {
        result += line.substr(pos).str();
        break;
      }
      size_t close = line.find('}', open);
      if (close == llvm::StringRef::npos) {
        error = "unterminated ${ in: " + line.str();
        return failure();
      }
      result += line.substr(pos, open - pos).str();
      std::string key = line.substr(open + 2, close - open - 2).str();
      if (key == "NAME") {
        result += functionName.str();
      } else {
        auto it = spec.params.find(key);
        if (it == spec.params.end()) {
          error = "kernel template '" + spec.templateName +
                  "' needs parameter " + key;
          return failure();
        }
        result += it->second;
      }
      pos = close + 1;
    }
    out += result;
    out += '\n';
  }
  if (!stack.empty()) {
    error = "//#if without //#endif";
    return failure();
  }
  return out;
}

FailureOr<func::FuncOp> KernelLibrary::get(const KernelSpec &spec,
                                           Location loc) {
  std::string key = spec.templateName;
  for (const auto &[k, v] : spec.params)
    key += ";" + k + "=" + v;
  for (const std::string &f : spec.flags)
    key += ";" + f;
  auto it = byKey.find(key);
  if (it != byKey.end())
    return kernels.lookupSymbol<func::FuncOp>(it->second);

  FailureOr<func::FuncOp> genericFn = findGeneric(spec.templateName, loc);
  if (failed(genericFn))
    return failure();
  if (*genericFn) {
    MLIRContext *ctx = loc.getContext();
    Builder b(ctx);
    KernelBindings bindings;
    for (const auto &[k, v] : spec.ints)
      bindings[k] = b.getI64IntegerAttr(v);
    for (const auto &[k, v] : spec.f32s)
      bindings[k] = b.getF32FloatAttr(static_cast<float>(v));
    for (const auto &[k, v] : spec.f64s)
      bindings[k] = b.getF64FloatAttr(v);
    for (const std::string &f : spec.flags)
      bindings[f] = b.getBoolAttr(true);
    for (const auto &[k, v] : spec.elementTypes)
      bindings[k] = TypeAttr::get(v == "bf16"  ? Type(b.getBF16Type())
                                  : v == "f16" ? Type(b.getF16Type())
                                               : Type(b.getF32Type()));
    if (!folding)
      folding.emplace(getKernelFoldingPatterns(ctx));
    std::string name = spec.templateName + "_" +
                       std::to_string(counters[spec.templateName]++);
    auto fn = specializeKernel(*genericFn, name, bindings, kernels, *folding, loc);
    if (failed(fn))
      return failure();
    byKey[key] = name;
    return fn;
  }

  llvm::StringRef text = getKernelTemplate(spec.templateName);
  if (text.empty())
    return emitError(loc) << "no kernel '" << spec.templateName
                          << "' in lib/Conversion/Kernels or KernelTemplates";
  std::string name = spec.templateName + "_" +
                     std::to_string(counters[spec.templateName]++);
  std::string error;
  auto source = instantiateKernel(text, spec, name, error);
  if (failed(source))
    return emitError(loc) << "kernel template '" << spec.templateName
                          << "': " << error;
  std::string diagnostics;
  OwningOpRef<ModuleOp> parsed;
  {
    ScopedDiagnosticHandler handler(loc.getContext(), [&](Diagnostic &d) {
      llvm::raw_string_ostream os(diagnostics);
      os << d.getLocation() << ": " << d.str() << "\n";
      return success();
    });
    parsed = parseSourceString<ModuleOp>(*source,
                                         ParserConfig(loc.getContext()));
  }
  if (!parsed)
    return emitError(loc) << "kernel template '" << spec.templateName
                          << "' does not parse as specialized (" << key
                          << "):\n"
                          << diagnostics;
  auto fn = (*parsed).lookupSymbol<func::FuncOp>(name);
  if (!fn)
    return emitError(loc) << "kernel template '" << spec.templateName
                          << "' defines no function ${NAME}";
  fn->remove();
  kernels.push_back(fn);
  byKey[key] = name;
  return fn;
}
