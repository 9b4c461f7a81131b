//===- KernelLibrary.h - kernels defined once, in MLIR ----------*- C++ -*-===//
//
// The non-GEMM kernels (routing, dispatch, permutation, GLU, combine, ...)
// are MLIR functions written once. Most are generic kernels in
// lib/Conversion/Kernels/*.mlir, valid MLIR that moe-opt parses, each
// specialized by specializeKernel (KernelSpecialization.h). The rest are
// still text templates in lib/Conversion/KernelTemplates/, specialized by
// substituting ${PARAM}s and keeping the lines between "//#if FLAG" /
// "//#else" / "//#endif" whose flags are set; the result is parsed into a
// kernel function. A spec names either; only the mapping of the outer loop
// ([begin, end) of a launch) to hardware differs between targets, and loops
// marked `{exec.spread}` (independent iterations, such as a row's columns),
// which the CUDA target splits across an item's lanes; the CPU runs them as
// written.
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_CONVERSION_KERNELLIBRARY_H
#define MOEC_CONVERSION_KERNELLIBRARY_H

#include "moec/Conversion/KernelSpecialization.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <map>
#include <set>
#include <string>

namespace moec {

/// One specialization of a kernel: the generic kernel (or template) and its
/// parameters, kept both typed (for generic kernels) and as text (for
/// templates).
struct KernelSpec {
  std::string templateName;
  std::map<std::string, std::string> params;
  std::set<std::string> flags;
  /// The typed values of set / setF32 / setF64 / setElementType.
  std::map<std::string, int64_t> ints;
  std::map<std::string, double> f32s, f64s;
  std::map<std::string, std::string> elementTypes; // "f32", "bf16", "f16"

  KernelSpec &set(const std::string &name, int64_t value);
  /// A float parameter, written as the exact bits of its f32 (or f64) value.
  KernelSpec &setF32(const std::string &name, double value);
  KernelSpec &setF64(const std::string &name, double value);
  KernelSpec &flag(const std::string &name, bool on = true);
  /// An element type parameter: "f32", "bf16" or "f16".
  KernelSpec &setElementType(const std::string &name, const std::string &type);
};

/// The template texts built into the compiler, by name ("route", ...).
llvm::StringRef getKernelTemplate(llvm::StringRef name);

/// Specializes `text`: flags select //#if blocks, ${PARAM}s are replaced by
/// their values, and ${NAME} is `functionName`.
mlir::FailureOr<std::string> instantiateKernel(llvm::StringRef text,
                                               const KernelSpec &spec,
                                               llvm::StringRef functionName,
                                               std::string &error);

/// Kernels of one module, de-duplicated by specialization, kept in a nested
/// `module @kernels`.
class KernelLibrary {
public:
  explicit KernelLibrary(mlir::ModuleOp kernels) : kernels(kernels) {}
  ~KernelLibrary();

  /// The kernel function for `spec` (instantiated on first use); its name is
  /// "<template>_<n>".
  mlir::FailureOr<mlir::func::FuncOp> get(const KernelSpec &spec,
                                          mlir::Location loc);

private:
  /// The generic kernel named `name`, or null (parsing the library on first
  /// use: an error at `loc` if a file of it does not parse).
  mlir::FailureOr<mlir::func::FuncOp> findGeneric(llvm::StringRef name,
                                                  mlir::Location loc);

  mlir::ModuleOp kernels;
  std::vector<mlir::OwningOpRef<mlir::ModuleOp>> generic; // one per file
  std::optional<mlir::FrozenRewritePatternSet> folding;
  std::map<std::string, std::string> byKey;
  llvm::StringMap<unsigned> counters;
};

} // namespace moec

#endif // MOEC_CONVERSION_KERNELLIBRARY_H
