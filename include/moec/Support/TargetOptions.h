//===- TargetOptions.h - the compiler's enumerated choices ------*- C++ -*-===//
//
// The target, the FFN weights' type and the CUDA code object's form are
// parsed once, where a user gives them (moe-compile's flags, the pass
// options), into these enums; passes never compare strings.
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_SUPPORT_TARGETOPTIONS_H
#define MOEC_SUPPORT_TARGETOPTIONS_H

#include "llvm/ADT/StringRef.h"

#include <optional>

namespace moec {

/// Where an exec plan runs.
enum class ExecTarget { Cpu, Cuda };
/// The expert and shared-expert FFN weights' element type, and their GEMMs'
/// operand type (FP8: e4m3 weights with 128 x 128 block scales; MXFP4: e2m1
/// weights with an e8m0 scale per 32 values along k; INT8 / INT4: integer
/// weights with an f16 scale (int4: and a zero point) per group of values
/// along k, moert/intq.h; all against f32 activations).
enum class WeightType { F32, BF16, F16, FP8, MXFP4, INT8, INT4 };

/// Quantized to int8 or int4 (values along k share a scale per group).
inline bool isIntWeightType(WeightType type) {
  return type == WeightType::INT8 || type == WeightType::INT4;
}
/// The CUDA target's code object: PTX, a cubin (ptxas), or a cubin when
/// ptxas is found.
enum class CudaBinary { Auto, Ptx, Cubin };

std::optional<ExecTarget> parseExecTarget(llvm::StringRef name);
std::optional<WeightType> parseWeightType(llvm::StringRef name);
std::optional<CudaBinary> parseCudaBinary(llvm::StringRef name);
llvm::StringRef stringify(ExecTarget target);
llvm::StringRef stringify(WeightType type);
llvm::StringRef stringify(CudaBinary binary);

} // namespace moec

#endif // MOEC_SUPPORT_TARGETOPTIONS_H
