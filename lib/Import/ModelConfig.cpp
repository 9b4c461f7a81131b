//===- ModelConfig.cpp - Hugging Face config.json → layer plans -----------===//
//
// One function per architecture maps its config keys and tensor names onto a
// LayerPlan. The routing of each follows the Hugging Face implementation of
// its sparse block (see docs/import.md for the table).
//
//===----------------------------------------------------------------------===//
#include "moec/Import/ModelConfig.h"

#include "moec/Support/Files.h"
#include "moec/Support/JsonError.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cmath>
#include <cstdio>

using namespace llvm;
using namespace moec;
using namespace moec::import;
using moe::Activation;
using moe::GroupScore;
using moe::ScoringFunc;

namespace {

/// Typed access to config.json keys with messages naming the file, the key
/// and the model type.
class Config {
public:
  Config(const json::Object &obj, StringRef file, StringRef modelType)
      : obj(obj), file(file), modelType(modelType) {}

  Error error(const Twine &message) const {
    return createStringError(inconvertibleErrorCode(), file + ": " + message);
  }

  /// Every count and size a config may give: far above any real model, low
  /// enough that products of two stay within 64 bits and that a hostile config
  /// cannot make the importer loop or allocate without bound.
  static constexpr int64_t kMaxValue = kMaxConfigValue;

  /// A required positive integer, at most kMaxValue.
  Expected<int64_t> positive(StringRef key) const {
    auto v = optionalInt(key);
    if (!v)
      return v.takeError();
    if (!*v)
      return error("missing integer '" + key + "' (required for model_type '" +
                   modelType + "')");
    return inRange(key, **v, 1);
  }

  /// A required layer count: real models have a few hundred at most.
  Expected<int64_t> layerCount(StringRef key) const {
    auto v = positive(key);
    if (v && *v > kMaxLayers)
      return error("'" + key + "' is " + Twine(*v) +
                   ", more layers than moe-import accepts (" +
                   Twine(kMaxLayers) + ")");
    return v;
  }
  static constexpr int64_t kMaxLayers = kMaxConfigLayers;
  /// The largest magnitude a real-valued config entry may have.
  static constexpr double kMaxNumber = 1e6;

  /// An integer with a default, in [min, kMaxValue].
  Expected<int64_t> integer(StringRef key, int64_t dflt, int64_t min = 0) const {
    auto v = optionalInt(key);
    if (!v)
      return v.takeError();
    return inRange(key, v->value_or(dflt), min);
  }

  Expected<bool> boolean(StringRef key, bool dflt) const {
    const json::Value *v = obj.get(key);
    if (!v || v->kind() == json::Value::Null)
      return dflt;
    if (auto b = v->getAsBoolean())
      return *b;
    return error("'" + key + "' must be true or false");
  }

  Expected<double> number(StringRef key, double dflt) const {
    const json::Value *v = obj.get(key);
    if (!v || v->kind() == json::Value::Null)
      return dflt;
    std::optional<double> d = v->getAsNumber();
    if (!d)
      return error("'" + key + "' must be a number");
    // JSON has no inf or nan, but 1e999 parses as inf; and no factor or
    // limit a model gives is anywhere near kMaxNumber.
    if (!std::isfinite(*d) || std::fabs(*d) > kMaxNumber)
    {
      char text[32];
      std::snprintf(text, sizeof text, "%g", *d);
      return error("'" + key + "' is " + text +
                   ", not a finite number of magnitude at most 1e6");
    }
    return *d;
  }

  Expected<std::string> string(StringRef key, StringRef dflt) const {
    const json::Value *v = obj.get(key);
    if (!v || v->kind() == json::Value::Null)
      return dflt.str();
    if (auto s = v->getAsString())
      return s->str();
    return error("'" + key + "' must be a string");
  }

  Expected<std::vector<int64_t>> intList(StringRef key) const {
    std::vector<int64_t> out;
    const json::Value *v = obj.get(key);
    if (!v || v->kind() == json::Value::Null)
      return out;
    const json::Array *a = v->getAsArray();
    if (!a)
      return error("'" + key + "' must be a list of integers");
    for (const json::Value &e : *a) {
      auto i = e.getAsInteger();
      if (!i)
        return error("'" + key + "' must be a list of integers");
      out.push_back(*i);
    }
    return out;
  }

private:
  Expected<int64_t> inRange(StringRef key, int64_t value, int64_t min) const {
    if (value < min)
      return error("'" + key + "' must be at least " + Twine(min) + ", got " +
                   Twine(value));
    if (value > kMaxValue)
      return error("'" + key + "' is " + Twine(value) +
                   ", more than moe-import accepts (" + Twine(kMaxValue) + ")");
    return value;
  }

  Expected<std::optional<int64_t>> optionalInt(StringRef key) const {
    const json::Value *v = obj.get(key);
    if (!v || v->kind() == json::Value::Null)
      return std::optional<int64_t>();
    if (auto i = v->getAsInteger())
      return std::optional<int64_t>(*i);
    return error("'" + key + "' must be an integer");
  }

  const json::Object &obj;
  StringRef file;
  StringRef modelType;
};

#define TRY(var, expr)                                                         \
  auto var##OrErr = (expr);                                                    \
  if (!var##OrErr)                                                             \
    return var##OrErr.takeError();                                             \
  auto var = *var##OrErr;

Expected<Activation> parseActivation(const Config &cfg, StringRef key,
                                     StringRef dflt) {
  TRY(name, cfg.string(key, dflt));
  if (name == "silu" || name == "swish")
    return Activation::silu;
  if (name == "gelu")
    return Activation::gelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast")
    return Activation::gelu_tanh;
  if (name == "relu")
    return Activation::relu;
  return cfg.error("unsupported " + key + " '" + name +
                   "' (supported: silu, gelu, gelu_new, gelu_pytorch_tanh, "
                   "relu)");
}

/// A sparse layer routed by `router` to `numExperts` experts, top-`k`.
LayerPlan sparseLayer(int64_t index, int64_t numExperts, std::string router,
                      FfnTensors experts, int64_t k) {
  LayerPlan l;
  l.index = index;
  l.sparse = true;
  l.numExperts = numExperts;
  l.router = std::move(router);
  l.experts = std::move(experts);
  l.k = k;
  return l;
}

LayerPlan denseLayer(int64_t index, FfnTensors ffn) {
  LayerPlan l;
  l.index = index;
  l.dense = std::move(ffn);
  return l;
}

FfnTensors swiglu(const Twine &prefix, int64_t width) {
  return {(prefix + "gate_proj.weight").str(), (prefix + "up_proj.weight").str(),
          (prefix + "down_proj.weight").str(), width};
}

/// Mixtral: softmax → top-k → renormalize; experts w1 (gate), w3 (up), w2 (down).
Expected<ModelPlan> planMixtral(const Config &cfg) {
  ModelPlan plan;
  TRY(hidden, cfg.positive("hidden_size"));
  TRY(width, cfg.positive("intermediate_size"));
  TRY(experts, cfg.positive("num_local_experts"));
  TRY(k, cfg.positive("num_experts_per_tok"));
  TRY(layers, cfg.layerCount("num_hidden_layers"));
  TRY(act, parseActivation(cfg, "hidden_act", "silu"));
  plan.hidden = hidden;
  plan.activation = act;
  for (int64_t i = 0; i < layers; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".block_sparse_moe.";
    LayerPlan l = sparseLayer(i, experts, p + "gate.weight",
                              {p + "experts.{e}.w1.weight",
                               p + "experts.{e}.w3.weight",
                               p + "experts.{e}.w2.weight", width},
                              k);
    l.renormalize = true;
    plan.layers.push_back(std::move(l));
  }
  return plan;
}

/// Qwen2-MoE and Qwen3-MoE: softmax → top-k, renormalize iff norm_topk_prob;
/// Qwen2 adds a shared expert gated by sigmoid(x · shared_expert_gate).
/// A layer is sparse iff it is not in mlp_only_layers and
/// (i + 1) % decoder_sparse_step == 0.
Expected<ModelPlan> planQwen(const Config &cfg, bool withSharedExpert) {
  ModelPlan plan;
  TRY(hidden, cfg.positive("hidden_size"));
  TRY(width, cfg.positive("moe_intermediate_size"));
  TRY(denseWidth, cfg.integer("intermediate_size", 0));
  TRY(experts, cfg.integer("num_experts", 0));
  TRY(k, cfg.positive("num_experts_per_tok"));
  TRY(layers, cfg.layerCount("num_hidden_layers"));
  TRY(norm, cfg.boolean("norm_topk_prob", false));
  TRY(step, cfg.integer("decoder_sparse_step", 1, 1));
  TRY(mlpOnly, cfg.intList("mlp_only_layers"));
  TRY(act, parseActivation(cfg, "hidden_act", "silu"));
  int64_t sharedWidth = 0;
  if (withSharedExpert) {
    TRY(sw, cfg.integer("shared_expert_intermediate_size", 0));
    sharedWidth = sw;
  }
  plan.hidden = hidden;
  plan.activation = act;
  for (int64_t i = 0; i < layers; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".mlp.";
    if (llvm::is_contained(mlpOnly, i) || experts == 0 || (i + 1) % step != 0) {
      if (denseWidth < 1)
        return cfg.error("layer " + Twine(i) + " is a dense MLP but "
                         "'intermediate_size' is missing or 0");
      plan.layers.push_back(denseLayer(i, swiglu(p, denseWidth)));
      continue;
    }
    LayerPlan l = sparseLayer(i, experts, p + "gate.weight",
                              swiglu(p + "experts.{e}.", width), k);
    l.renormalize = norm;
    if (withSharedExpert) {
      l.shared = swiglu(p + "shared_expert.", sharedWidth);
      l.sharedExpertGate = p + "shared_expert_gate.weight";
    }
    plan.layers.push_back(std::move(l));
  }
  return plan;
}

/// OLMoE: softmax → top-k, renormalize iff norm_topk_prob (default off); the
/// expert width is intermediate_size.
Expected<ModelPlan> planOlmoe(const Config &cfg) {
  ModelPlan plan;
  TRY(hidden, cfg.positive("hidden_size"));
  TRY(width, cfg.positive("intermediate_size"));
  TRY(experts, cfg.positive("num_experts"));
  TRY(k, cfg.positive("num_experts_per_tok"));
  TRY(layers, cfg.layerCount("num_hidden_layers"));
  TRY(norm, cfg.boolean("norm_topk_prob", false));
  TRY(act, parseActivation(cfg, "hidden_act", "silu"));
  plan.hidden = hidden;
  plan.activation = act;
  for (int64_t i = 0; i < layers; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".mlp.";
    LayerPlan l = sparseLayer(i, experts, p + "gate.weight",
                              swiglu(p + "experts.{e}.", width), k);
    l.renormalize = norm;
    plan.layers.push_back(std::move(l));
  }
  return plan;
}

/// DeepSeek-V3 (v3 = true): sigmoid scores, a correction bias for selection
/// only, group-limited top-k (group score = sum of its top-2), weights from the
/// unbiased scores, renormalized (+1e-20) iff norm_topk_prob, then always
/// × routed_scaling_factor.
/// DeepSeek-V2: softmax scores, greedy or group_limited_greedy (group score =
/// its max), no bias; renormalized (+1e-20) iff k > 1 and norm_topk_prob,
/// otherwise × routed_scaling_factor.
/// Both: shared experts of width moe_intermediate_size × n_shared_experts;
/// layer i is sparse iff i >= first_k_dense_replace and i % moe_layer_freq == 0.
Expected<ModelPlan> planDeepSeek(const Config &cfg, bool v3) {
  ModelPlan plan;
  TRY(hidden, cfg.positive("hidden_size"));
  TRY(width, cfg.positive("moe_intermediate_size"));
  TRY(denseWidth, cfg.integer("intermediate_size", 0));
  TRY(experts, cfg.positive("n_routed_experts"));
  TRY(k, cfg.positive("num_experts_per_tok"));
  TRY(layers, cfg.layerCount("num_hidden_layers"));
  TRY(nShared, cfg.integer("n_shared_experts", v3 ? 1 : 0));
  TRY(firstDense, cfg.integer("first_k_dense_replace", v3 ? 3 : 0));
  TRY(freq, cfg.integer("moe_layer_freq", 1, 1));
  TRY(norm, cfg.boolean("norm_topk_prob", v3));
  TRY(scale, cfg.number("routed_scaling_factor", v3 ? 2.5 : 1.0));
  TRY(scoring, cfg.string("scoring_func", v3 ? "sigmoid" : "softmax"));
  TRY(method, cfg.string("topk_method", v3 ? "noaux_tc" : "greedy"));
  TRY(nGroup, cfg.integer("n_group", v3 ? 8 : 1, 1));
  TRY(topkGroup, cfg.integer("topk_group", v3 ? 4 : 1, 1));
  TRY(act, parseActivation(cfg, "hidden_act", "silu"));
  plan.hidden = hidden;
  plan.activation = act;

  ScoringFunc scoringFunc;
  if (scoring == "sigmoid")
    scoringFunc = ScoringFunc::sigmoid;
  else if (scoring == "softmax")
    scoringFunc = ScoringFunc::softmax;
  else
    return cfg.error("unsupported scoring_func '" + scoring +
                     "' (supported: sigmoid, softmax)");
  bool grouped;
  GroupScore groupScore;
  if (v3) {
    if (method != "noaux_tc")
      return cfg.error("unsupported topk_method '" + method +
                       "' for deepseek_v3 (supported: noaux_tc)");
    grouped = true;
    groupScore = GroupScore::top2_sum;
  } else if (method == "greedy") {
    grouped = false;
    groupScore = GroupScore::top2_sum;
  } else if (method == "group_limited_greedy") {
    grouped = true;
    groupScore = GroupScore::max;
  } else {
    return cfg.error("unsupported topk_method '" + method +
                     "' for deepseek_v2 (supported: greedy, "
                     "group_limited_greedy)");
  }
  if (!(scale > 0.0))
    return cfg.error("'routed_scaling_factor' must be > 0");

  for (int64_t i = 0; i < layers; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".mlp.";
    if (i < firstDense || i % freq != 0) {
      if (denseWidth < 1)
        return cfg.error("layer " + Twine(i) + " is a dense MLP but "
                         "'intermediate_size' is missing or 0");
      plan.layers.push_back(denseLayer(i, swiglu(p, denseWidth)));
      continue;
    }
    LayerPlan l = sparseLayer(i, experts, p + "gate.weight",
                              swiglu(p + "experts.{e}.", width), k);
    if (v3)
      l.correctionBias = p + "gate.e_score_correction_bias";
    if (nShared > 0)
      l.shared = swiglu(p + "shared_experts.", width * nShared);
    l.scoring = scoringFunc;
    if (grouped) { // without groups the group score means nothing
      l.nGroup = nGroup;
      l.topkGroup = topkGroup;
      l.groupScore = groupScore;
    }
    if (v3) {
      l.renormalize = norm;
      l.epsilon = norm ? 1e-20 : 0.0;
      l.scalingFactor = scale;
    } else if (k > 1 && norm) {
      l.renormalize = true;
      l.epsilon = 1e-20;
    } else {
      l.scalingFactor = scale;
    }
    plan.layers.push_back(std::move(l));
  }
  return plan;
}

/// Switch Transformers: softmax → top-1 with a fixed expert capacity
/// (expert_capacity); dropped tokens keep their input, scaled by their router
/// probability; ReLU experts wi/wo. Layers are the encoder blocks, then the
/// decoder blocks; a block b of a stack with sparse step s is sparse iff
/// s > 0 and (s == 1 or b % s == 1).
Expected<ModelPlan> planSwitch(const Config &cfg) {
  ModelPlan plan;
  TRY(hidden, cfg.positive("d_model"));
  TRY(width, cfg.positive("d_ff"));
  TRY(experts, cfg.positive("num_experts"));
  TRY(capacity, cfg.positive("expert_capacity"));
  TRY(encoderLayers, cfg.layerCount("num_layers"));
  TRY(decoderLayers, cfg.integer("num_decoder_layers", encoderLayers));
  if (decoderLayers > Config::kMaxLayers)
    return cfg.error("'num_decoder_layers' is " + Twine(decoderLayers) +
                     ", more layers than moe-import accepts (" +
                     Twine(Config::kMaxLayers) + ")");
  TRY(encoderStep, cfg.integer("encoder_sparse_step", 1));
  TRY(decoderStep, cfg.integer("decoder_sparse_step", 1));
  TRY(routerBias, cfg.boolean("router_bias", false));
  TRY(act, parseActivation(cfg, "dense_act_fn", "relu"));
  plan.hidden = hidden;
  plan.activation = act;
  plan.gated = false;
  auto addStack = [&](StringRef stack, int64_t count, int64_t step,
                      StringRef ffnLayer) {
    for (int64_t b = 0; b < count; ++b) {
      int64_t index = static_cast<int64_t>(plan.layers.size());
      std::string p = (stack + ".block." + Twine(b) + ".layer." + ffnLayer +
                       ".").str();
      if (!(step > 0 && (step == 1 || b % step == 1))) {
        plan.layers.push_back(
            denseLayer(index, {"", p + "DenseReluDense.wi.weight",
                               p + "DenseReluDense.wo.weight", width}));
        continue;
      }
      LayerPlan l = sparseLayer(index, experts,
                                p + "mlp.router.classifier.weight",
                                {"", p + "mlp.experts.expert_{e}.wi.weight",
                                 p + "mlp.experts.expert_{e}.wo.weight", width},
                                /*k=*/1);
      if (routerBias)
        l.routerBias = p + "mlp.router.classifier.bias";
      l.capacityTokens = capacity;
      l.droppedPassthrough = true;
      plan.layers.push_back(std::move(l));
    }
  };
  addStack("encoder", encoderLayers, encoderStep, "1");
  addStack("decoder", decoderLayers, decoderStep, "2");
  return plan;
}

/// gpt-oss: logits = x · Wrᵀ + br; top-k of the logits, softmax over the k;
/// experts with a fused gate_up_proj [E, 2F, H] whose rows alternate gate and
/// up, biases on every projection, clamped SwiGLU (swiglu_limit, alpha
/// 1.702, the (up + 1) form). Every layer is sparse.
Expected<ModelPlan> planGptOss(const Config &cfg) {
  ModelPlan plan;
  TRY(hidden, cfg.positive("hidden_size"));
  TRY(width, cfg.positive("intermediate_size"));
  TRY(experts, cfg.positive("num_local_experts"));
  TRY(k, cfg.positive("num_experts_per_tok"));
  TRY(layers, cfg.layerCount("num_hidden_layers"));
  TRY(limit, cfg.number("swiglu_limit", 7.0));
  if (!(limit > 0.0))
    return cfg.error("'swiglu_limit' must be > 0");
  plan.hidden = hidden;
  plan.activation = Activation::clamped_swiglu;
  plan.limit = limit; // alpha: 1.702, fixed in transformers' GptOssExperts
  for (int64_t i = 0; i < layers; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".mlp.";
    FfnTensors ffn{p + "experts.gate_up_proj", p + "experts.gate_up_proj",
                   p + "experts.down_proj", width};
    ffn.interleavedGateUp = true;
    ffn.gateBias = ffn.upBias = p + "experts.gate_up_proj_bias";
    ffn.downBias = p + "experts.down_proj_bias";
    LayerPlan l = sparseLayer(i, experts, p + "router.weight", ffn, k);
    l.routerBias = p + "router.bias";
    l.scoring = ScoringFunc::none;
    l.softmaxAfterTopk = true;
    plan.layers.push_back(std::move(l));
  }
  return plan;
}

/// moec's own generic checkpoint (test/reference, research variants):
/// layers.{i}.router.weight [E, H] and stacked layers.{i}.experts.{gate,up}_proj
/// [E, F, H], down_proj [E, H, F]; `routing` is token_choice (softmax →
/// top-k, renormalize iff norm_topk_prob, optional capacity_factor with
/// overflow_policy drop | reroute), expert_choice (capacity_factor) or dense
/// (k = E, no renormalization); hidden_act silu or swiglu_clamped;
/// router_noise true: layers.{i}.router.noise.weight [E, H], noisy top-k
/// gating's noise weight (token_choice only).
Expected<ModelPlan> planGeneric(const Config &cfg) {
  ModelPlan plan;
  TRY(hidden, cfg.positive("hidden_size"));
  TRY(width, cfg.positive("intermediate_size"));
  TRY(experts, cfg.positive("num_experts"));
  TRY(layers, cfg.layerCount("num_hidden_layers"));
  TRY(routing, cfg.string("routing", "token_choice"));
  TRY(norm, cfg.boolean("norm_topk_prob", false));
  TRY(factor, cfg.number("capacity_factor", 0.0));
  TRY(policy, cfg.string("overflow_policy", "drop"));
  TRY(act, cfg.string("hidden_act", "silu"));
  TRY(alpha, cfg.number("swiglu_alpha", 1.702));
  TRY(limit, cfg.number("swiglu_limit", 7.0));
  TRY(noise, cfg.boolean("router_noise", false));
  plan.hidden = hidden;
  if (act == "swiglu_clamped") {
    plan.activation = Activation::clamped_swiglu;
    plan.alpha = alpha;
    plan.limit = limit;
  } else {
    TRY(a, parseActivation(cfg, "hidden_act", "silu"));
    plan.activation = a;
  }
  if (policy != "drop" && policy != "reroute")
    return cfg.error("unsupported overflow_policy '" + policy +
                     "' (supported: drop, reroute)");
  int64_t k = experts;
  if (routing == "token_choice") {
    TRY(kk, cfg.positive("num_experts_per_tok"));
    k = kk;
  } else if (routing != "expert_choice" && routing != "dense") {
    return cfg.error("unsupported routing '" + routing +
                     "' (supported: token_choice, expert_choice, dense)");
  }
  if ((routing == "expert_choice" || factor > 0.0) && !(factor > 0.0))
    return cfg.error("'capacity_factor' must be > 0 for expert_choice");
  if (noise && routing != "token_choice")
    return cfg.error("'router_noise' (noisy top-k gating) needs routing token_choice, not '" +
                     routing + "'");
  for (int64_t i = 0; i < layers; ++i) {
    std::string p = "layers." + std::to_string(i) + ".";
    LayerPlan l = sparseLayer(i, experts, p + "router.weight",
                              {p + "experts.gate_proj", p + "experts.up_proj",
                               p + "experts.down_proj", width},
                              k);
    if (noise)
      l.routerNoise = p + "router.noise.weight";
    if (routing == "token_choice") {
      l.renormalize = norm;
      l.capacityFactor = factor;
      l.overflow = policy == "reroute" ? moe::OverflowPolicy::reroute
                                       : moe::OverflowPolicy::drop;
    } else if (routing == "expert_choice") {
      l.expertChoice = factor;
    }
    plan.layers.push_back(std::move(l));
  }
  return plan;
}

#undef TRY

/// config.json's quantization_config: absent, or fp8 e4m3 with 128 x 128
/// block scales and dynamic activations (DeepSeek-V3, Qwen3-*-FP8). Every
/// other method is refused by name.
Expected<Quantization> parseQuantization(const json::Object &obj,
                                         StringRef fileName) {
  const json::Value *value = obj.get("quantization_config");
  if (!value || value->kind() == json::Value::Null)
    return Quantization::None;
  auto fail = [&](const Twine &message) {
    return createStringError(inconvertibleErrorCode(),
                             fileName + ": quantization_config: " + message);
  };
  const json::Object *q = value->getAsObject();
  if (!q)
    return fail("expected an object");
  std::optional<StringRef> method = q->getString("quant_method");
  if (!method)
    return fail("missing string 'quant_method'");
  if (*method == "mxfp4")
    return Quantization::Mxfp4;
  if (*method != "fp8")
    return fail("quant_method '" + *method +
                "' is not supported (moe-import reads fp8 checkpoints with "
                "128 x 128 block scales, as DeepSeek-V3 and Qwen3-FP8 ship, "
                "and mxfp4 ones, as gpt-oss ships)");
  if (std::optional<StringRef> fmt = q->getString("fmt"); fmt && *fmt != "e4m3")
    return fail("fp8 format '" + *fmt + "' is not supported (only e4m3)");
  else if (!fmt && q->get("fmt"))
    return fail("'fmt' must be a string");
  if (const json::Value *scheme = q->get("activation_scheme")) {
    std::optional<StringRef> s = scheme->getAsString();
    if (!s || *s != "dynamic")
      return fail("activation_scheme must be \"dynamic\" (activations "
                  "are not quantized with stored scales here)");
  }
  const json::Array *block = q->getArray("weight_block_size");
  if (!block)
    return fail("missing 'weight_block_size' (expected [128, 128]; "
                "per-tensor fp8 scales are not supported)");
  std::optional<int64_t> rows = block->size() == 2 ? (*block)[0].getAsInteger() : std::nullopt;
  std::optional<int64_t> cols = block->size() == 2 ? (*block)[1].getAsInteger() : std::nullopt;
  if (!rows || !cols || *rows != 128 || *cols != 128) {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << json::Value(json::Array(*block));
    return fail("weight_block_size " + text +
                " is not supported (moec's fp8 blocks are [128, 128])");
  }
  return Quantization::Fp8Block128;
}

constexpr StringRef kSupported[] = {"mixtral",     "qwen2_moe",
                                    "qwen3_moe",   "olmoe",
                                    "deepseek_v2", "deepseek_v3",
                                    "switch_transformers", "gpt_oss",
                                    "moec_generic"};
} // namespace

ArrayRef<StringRef> moec::import::getSupportedModelTypes() { return kSupported; }

Expected<ModelPlan> moec::import::parseModelConfig(StringRef text,
                                                   StringRef fileName) {
  Expected<json::Value> value = parseJson(text);
  if (!value)
    return createStringError(inconvertibleErrorCode(),
                             fileName + ": malformed JSON: " +
                                 formatJsonError(value.takeError()));
  const json::Object *obj = value->getAsObject();
  if (!obj)
    return createStringError(inconvertibleErrorCode(),
                             fileName + ": the top level is not an object");
  std::optional<StringRef> modelType = obj->getString("model_type");
  std::string supported = llvm::join(getSupportedModelTypes(), ", ");
  if (!modelType)
    return createStringError(inconvertibleErrorCode(),
                             fileName + ": missing string 'model_type' "
                                        "(supported: " + supported + ")");
  Config cfg(*obj, fileName, *modelType);
  auto planFor = [&](StringRef type) -> Expected<ModelPlan> {
    if (type == "mixtral")
      return planMixtral(cfg);
    if (type == "qwen2_moe")
      return planQwen(cfg, /*withSharedExpert=*/true);
    if (type == "qwen3_moe")
      return planQwen(cfg, /*withSharedExpert=*/false);
    if (type == "olmoe")
      return planOlmoe(cfg);
    if (type == "deepseek_v3")
      return planDeepSeek(cfg, /*v3=*/true);
    if (type == "deepseek_v2")
      return planDeepSeek(cfg, /*v3=*/false);
    if (type == "switch_transformers")
      return planSwitch(cfg);
    if (type == "gpt_oss")
      return planGptOss(cfg);
    if (type == "moec_generic")
      return planGeneric(cfg);
    return createStringError(inconvertibleErrorCode(),
                             fileName + ": unsupported model_type '" + type +
                                 "' (supported: " + supported + ")");
  };
  Expected<ModelPlan> plan = planFor(*modelType);
  if (!plan)
    return plan;
  plan->modelType = modelType->str();
  auto quantization = parseQuantization(*obj, fileName);
  if (!quantization)
    return quantization.takeError();
  plan->quantization = *quantization;
  return plan;
}

Expected<ModelPlan> moec::import::readModelConfig(StringRef path) {
  auto buffer = openInputFile(path, kMaxJsonConfigBytes);
  if (!buffer)
    return buffer.takeError();
  return parseModelConfig((*buffer)->getBuffer(), path);
}
