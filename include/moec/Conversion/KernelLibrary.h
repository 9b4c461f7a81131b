//===- KernelLibrary.h - kernels defined once, in MLIR ----------*- C++ -*-===//
//
// The non-GEMM kernels (routing, dispatch, permutation, GLU, combine, ...)
// are MLIR functions written once as templates in lib/Conversion/Kernels/.
// A template is specialized by substituting ${PARAM}s and keeping the lines
// between "//#if FLAG" / "//#else" / "//#endif" whose flags are set; the result
// is parsed into a kernel function. Only the mapping of the outer loop
// ([begin, end) of a launch) to hardware differs between targets, and loops
// marked `{exec.spread}` (independent iterations, such as a row's columns),
// which the CUDA target splits across an item's lanes; the CPU runs them as
// written.
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_CONVERSION_KERNELLIBRARY_H
#define MOEC_CONVERSION_KERNELLIBRARY_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <map>
#include <set>
#include <string>

namespace moec {

/// One specialization of a kernel template.
struct KernelSpec {
  std::string templateName;
  std::map<std::string, std::string> params;
  std::set<std::string> flags;

  KernelSpec &set(const std::string &name, int64_t value);
  /// A float parameter, written as the exact bits of its f32 (or f64) value.
  KernelSpec &setF32(const std::string &name, double value);
  KernelSpec &setF64(const std::string &name, double value);
  KernelSpec &flag(const std::string &name, bool on = true);
};

/// The template texts built into the compiler, by name ("route", ...).
llvm::StringRef getKernelTemplate(llvm::StringRef name);

/// Specializes `text`: `//#include TEMPLATE KEY=VALUE...` lines are replaced
/// by that template's text with its ${KEY}s set (a shared snippet, such as
/// round16's rounding), then flags select //#if blocks, and ${NAME} is
/// `functionName`.
mlir::FailureOr<std::string> instantiateKernel(llvm::StringRef text,
                                               const KernelSpec &spec,
                                               llvm::StringRef functionName,
                                               std::string &error);

/// Kernels of one module, de-duplicated by specialization, kept in a nested
/// `module @kernels`.
class KernelLibrary {
public:
  explicit KernelLibrary(mlir::ModuleOp kernels) : kernels(kernels) {}

  /// The kernel function for `spec` (instantiated on first use); its name is
  /// "<template>_<n>".
  mlir::FailureOr<mlir::func::FuncOp> get(const KernelSpec &spec,
                                          mlir::Location loc);

private:
  mlir::ModuleOp kernels;
  std::map<std::string, std::string> byKey;
  llvm::StringMap<unsigned> counters;
};

} // namespace moec

#endif // MOEC_CONVERSION_KERNELLIBRARY_H
