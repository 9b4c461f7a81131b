//===- KernelLibrary.h - the kernels a plan launches ------------*- C++ -*-===//
//
// The non-GEMM kernels (routing, dispatch, permutation, GLU, combine, ...)
// are generic MLIR kernels written once in lib/Conversion/Kernels/*.mlir,
// valid MLIR that moe-opt parses, built into the compiler as text. The
// lowering asks for a kernel with its parameter values (a
// KernelSpecialization); the library specializes it (specializeKernel,
// KernelSpecialization.h) into the plan's nested `module @kernels`, once per
// distinct specialization. Only the mapping of the outer loop ([begin, end)
// of a launch) to hardware differs between targets, and loops marked
// `{exec.spread}` (independent iterations, such as a row's columns), which
// the CUDA target splits across an item's lanes; the CPU runs them as
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

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace moec {

/// A generic kernel and the values of its parameters.
struct KernelSpecialization {
  std::string kernel;
  std::map<std::string, int64_t> ints;       // index and i64 parameters
  std::map<std::string, double> f32s, f64s;  // rounded to the type when bound
  std::map<std::string, std::string> elementTypes; // "f32", "bf16", "f16"
  std::set<std::string> flags;               // i1 parameters that are on

  KernelSpecialization &set(const std::string &name, int64_t value);
  KernelSpecialization &setF32(const std::string &name, double value);
  KernelSpecialization &setF64(const std::string &name, double value);
  KernelSpecialization &setElementType(const std::string &name,
                                       const std::string &type);
  /// The same, for `type` f32, bf16 or f16.
  KernelSpecialization &setElementType(const std::string &name, mlir::Type type);
  KernelSpecialization &flag(const std::string &name, bool on = true);

  /// What identifies the specialization (floats by their exact bits).
  std::string key() const;
  /// The values as attributes, for specializeKernel.
  KernelBindings bindings(mlir::MLIRContext *ctx) const;
};

/// Kernels of one module, de-duplicated by specialization, kept in a nested
/// `module @kernels`.
class KernelLibrary {
public:
  explicit KernelLibrary(mlir::ModuleOp kernels) : kernels(kernels) {}
  ~KernelLibrary();

  /// The kernel function for `spec` (specialized on first use); its name is
  /// "<kernel>_<n>".
  mlir::FailureOr<mlir::func::FuncOp> get(const KernelSpecialization &spec,
                                          mlir::Location loc);

private:
  /// The generic kernel named `name` (parsing the library on first use: an
  /// error at `loc` if a file of it does not parse, or if there is none).
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
