//===- ModelConfig.h - Hugging Face config.json → layer plans ---*- C++ -*-===//
//
// Reads a Hugging Face config.json and says, for every layer, which FFN it has
// (sparse MoE block or dense FFN), the checkpoint tensors that hold its
// weights, and the exact routing semantics of its architecture expressed in the
// moe dialect's terms. Nothing here reads weights.
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_IMPORT_MODELCONFIG_H
#define MOEC_IMPORT_MODELCONFIG_H

#include "moe/MoeDialect.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace moec::import {

/// The tensors of one FFN (dense, shared, or per expert with "{e}" standing
/// for the expert index). `gate` is empty for an ungated FFN.
struct FfnTensors {
  std::string gate, up, down;
  int64_t width = 0; // F
  /// gpt-oss: `gate` and `up` name one tensor [E, 2F, H] whose rows
  /// alternate gate, up (and their biases one [E, 2F] tensor).
  bool interleavedGateUp = false;
  /// Per-expert biases, [E, F] (gate, up) and [E, H] (down); empty for none.
  std::string gateBias, upBias, downBias;
};

/// What one layer's FFN is and where its weights live.
struct LayerPlan {
  int64_t index = 0;
  bool sparse = false;
  /// The dense FFN of a non-MoE layer.
  FfnTensors dense;

  // A sparse block.
  int64_t numExperts = 0;
  std::string router;         // [E, H]
  std::string routerBias;     // [E], optional
  std::string routerNoise;    // [E, H], optional: noisy top-k gating's Wnoise
  std::string correctionBias; // [E] f32, optional (DeepSeek-V3)
  FfnTensors experts;         // names contain "{e}"
  std::optional<FfnTensors> shared;
  std::string sharedExpertGate; // [1, H], optional (Qwen2-MoE)

  // Routing, as the attributes of moe.block.
  int64_t k = 1;
  moe::ScoringFunc scoring = moe::ScoringFunc::softmax;
  bool renormalize = false;
  double epsilon = 0.0;
  double scalingFactor = 1.0;
  int64_t nGroup = 1, topkGroup = 1;
  /// gpt-oss: top-k of the logits, then the softmax over the k.
  bool softmaxAfterTopk = false;
  moe::GroupScore groupScore = moe::GroupScore::top2_sum;
  /// A fixed per-expert capacity (Switch), 0 for none.
  int64_t capacityTokens = 0;
  /// A capacity factor (C = ceil(f·T·k/E)), 0 for none, and its overflow.
  double capacityFactor = 0.0;
  moe::OverflowPolicy overflow = moe::OverflowPolicy::drop;
  /// Expert-choice routing with this capacity factor instead of top-k.
  std::optional<double> expertChoice;
  /// Dropped tokens keep their input scaled by their weight (Switch).
  bool droppedPassthrough = false;
};

/// How config.json's quantization_config says the checkpoint stores weights.
enum class Quantization {
  None,
  /// fp8 e4m3 with 128 x 128 block scales ("quant_method": "fp8"): F8_E4M3
  /// tensors, each with a `<name>_scale_inv` tensor.
  Fp8Block128,
  /// MXFP4 ("quant_method": "mxfp4", gpt-oss): a weight `<name>` stored as
  /// U8 `<name>_blocks` [..., N, K / 32, 16] and `<name>_scales` [..., N,
  /// K / 32].
  Mxfp4,
};

struct ModelPlan {
  std::string modelType;
  Quantization quantization = Quantization::None;
  int64_t hidden = 0;
  moe::Activation activation = moe::Activation::silu;
  bool gated = true;
  /// clamped_swiglu's parameters.
  double alpha = 1.702, limit = 7.0;
  std::vector<LayerPlan> layers;
};

/// Every count and size a config may give (hidden_size, experts, ...): far
/// above any real model, low enough that products of two stay within 64 bits
/// and that a hostile config cannot make a tool loop or allocate without
/// bound; and the most layers.
constexpr int64_t kMaxConfigValue = int64_t(1) << 24;
constexpr int64_t kMaxConfigLayers = 10000;

/// The model_types moe-import understands.
llvm::ArrayRef<llvm::StringRef> getSupportedModelTypes();

/// Parses config.json text; `fileName` is used in messages.
llvm::Expected<ModelPlan> parseModelConfig(llvm::StringRef text,
                                           llvm::StringRef fileName);

/// Reads and parses the config.json at `path`.
llvm::Expected<ModelPlan> readModelConfig(llvm::StringRef path);

} // namespace moec::import

#endif // MOEC_IMPORT_MODELCONFIG_H
