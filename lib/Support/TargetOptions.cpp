//===- TargetOptions.cpp --------------------------------------------------===//
#include "moec/Support/TargetOptions.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/ErrorHandling.h"

using namespace moec;

std::optional<ExecTarget> moec::parseExecTarget(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<ExecTarget>>(name)
      .Case("cpu", ExecTarget::Cpu)
      .Case("cuda", ExecTarget::Cuda)
      .Default(std::nullopt);
}

std::optional<WeightType> moec::parseWeightType(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<WeightType>>(name)
      .Case("f32", WeightType::F32)
      .Case("bf16", WeightType::BF16)
      .Case("f16", WeightType::F16)
      .Case("fp8", WeightType::FP8)
      .Case("mxfp4", WeightType::MXFP4)
      .Case("int8", WeightType::INT8)
      .Case("int4", WeightType::INT4)
      .Default(std::nullopt);
}

std::optional<CudaBinary> moec::parseCudaBinary(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<CudaBinary>>(name)
      .Case("auto", CudaBinary::Auto)
      .Case("ptx", CudaBinary::Ptx)
      .Case("cubin", CudaBinary::Cubin)
      .Default(std::nullopt);
}

llvm::StringRef moec::stringify(ExecTarget target) {
  return target == ExecTarget::Cuda ? "cuda" : "cpu";
}

llvm::StringRef moec::stringify(WeightType type) {
  switch (type) {
  case WeightType::F32:
    return "f32";
  case WeightType::BF16:
    return "bf16";
  case WeightType::F16:
    return "f16";
  case WeightType::FP8:
    return "fp8";
  case WeightType::MXFP4:
    return "mxfp4";
  case WeightType::INT8:
    return "int8";
  case WeightType::INT4:
    return "int4";
  }
  llvm_unreachable("weight type");
}

llvm::StringRef moec::stringify(CudaBinary binary) {
  switch (binary) {
  case CudaBinary::Auto:
    return "auto";
  case CudaBinary::Ptx:
    return "ptx";
  case CudaBinary::Cubin:
    return "cubin";
  }
  llvm_unreachable("cuda binary");
}

