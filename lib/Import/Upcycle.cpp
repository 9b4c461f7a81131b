//===- Upcycle.cpp - sparse upcycling of dense checkpoints -----------------===//
#include "moec/Import/Upcycle.h"
#include "moec/Import/ModelConfig.h"
#include "moec/Support/CounterRng.h"
#include "moec/Support/Files.h"
#include "moec/Support/JsonError.h"
#include "moec/Support/Safetensors.h"
#include "moec/Support/SafetensorsWriter.h"

#include "moert/half.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/ToolOutputFile.h"

#include <array>
#include <cmath>
#include <cstring>
#include <vector>

using namespace llvm;
using namespace moec;

namespace {

Error err(const Twine &message) {
  return createStringError(inconvertibleErrorCode(), message.str());
}

/// An f32 value as an element of a F32/BF16/F16 tensor (round to nearest
/// even).
void storeElement(uint8_t *p, SafetensorsDType dtype, float v) {
  if (dtype == SafetensorsDType::F32) {
    std::memcpy(p, &v, 4);
    return;
  }
  uint16_t b = dtype == SafetensorsDType::BF16 ? moert::floatToBf16(v) : moert::floatToHalf(v);
  std::memcpy(p, &b, 2);
}

/// One tensor of the output and where its bytes come from.
struct Source {
  enum Kind { Copy, Expert, Router } kind;
  const SafetensorsTensor *tensor = nullptr; // Copy, Expert
  int64_t layer = 0;
  int proj = 0;       // Expert: 0 gate, 1 up, 2 down
  int64_t expert = 0; // Expert
};

struct DenseLayer {
  const SafetensorsTensor *proj[3] = {nullptr, nullptr, nullptr}; // gate, up, down
};

const char *kProjName[3] = {"gate_proj", "up_proj", "down_proj"};
const char *kExpertName[3] = {"w1", "w3", "w2"}; // Mixtral: w1 gate, w3 up, w2 down

/// Writes `count` elements produced by `value(i)` as `dtype`, in chunks.
template <typename F>
void writeElements(raw_ostream &out, SafetensorsDType dtype, uint64_t count, F value) {
  unsigned size = getSafetensorsDTypeSize(dtype);
  std::vector<uint8_t> chunk(size * 65536);
  for (uint64_t begin = 0; begin < count; begin += 65536) {
    uint64_t n = std::min<uint64_t>(65536, count - begin);
    for (uint64_t i = 0; i < n; ++i)
      storeElement(chunk.data() + i * size, dtype, value(begin + i));
    out.write(reinterpret_cast<const char *>(chunk.data()), n * size);
  }
}

/// A positive integer of the config, at most `max` (moe-import's bounds).
Expected<int64_t> configInt(const json::Object &cfg, StringRef key, StringRef path,
                            int64_t max = import::kMaxConfigValue) {
  const json::Value *v = cfg.get(key);
  if (!v)
    return err(path + ": '" + key + "' is missing");
  std::optional<int64_t> i = v->getAsInteger();
  if (!i || *i <= 0)
    return err(path + ": '" + key + "' must be a positive integer");
  if (*i > max)
    return err(formatv("{0}: '{1}' is {2}, more than moe-upcycle accepts ({3})", path, key,
                       *i, max));
  return *i;
}

} // namespace

Error moec::upcycleCheckpoint(const UpcycleOptions &o) {
  if (o.experts < 1 || o.experts > 4096)
    return err(formatv("--experts must be in [1, 4096] (moec's most experts), not {0}",
                       o.experts));
  if (o.topK < 1 || o.topK > o.experts)
    return err(formatv("--top-k must be in [1, {0}] (the experts), not {1}", o.experts, o.topK));
  if (!std::isfinite(o.noiseStd) || o.noiseStd < 0)
    return err("--noise-std must be a finite number >= 0");
  if (!std::isfinite(o.routerStd) || o.routerStd < 0)
    return err("--router-std must be a finite number >= 0");
  if (o.maxShardBytes == 0)
    return err("--max-shard-size must be positive");

  // The dense model's config.
  SmallString<256> configPath(o.input);
  sys::path::append(configPath, "config.json");
  auto configText = openInputFile(configPath, kMaxJsonConfigBytes);
  if (!configText)
    return configText.takeError();
  auto parsed = parseJson((*configText)->getBuffer());
  if (!parsed)
    return err(configPath + ": invalid JSON: " + formatJsonError(parsed.takeError()));
  json::Object *cfg = parsed->getAsObject();
  if (!cfg)
    return err(configPath + ": not a JSON object");
  for (StringRef moeKey : {"num_local_experts", "num_experts", "n_routed_experts"})
    if (cfg->get(moeKey))
      return err(configPath + ": '" + moeKey +
                 "' is set: this is an MoE checkpoint already (moe-upcycle takes a dense one)");
  auto H = configInt(*cfg, "hidden_size", configPath.str());
  if (!H)
    return H.takeError();
  auto F = configInt(*cfg, "intermediate_size", configPath.str());
  if (!F)
    return F.takeError();
  auto L = configInt(*cfg, "num_hidden_layers", configPath.str(), import::kMaxConfigLayers);
  if (!L)
    return L.takeError();
  if (const json::Value *act = cfg->get("hidden_act")) {
    std::optional<StringRef> name = act->getAsString();
    if (!name || *name != "silu")
      return err(configPath + ": hidden_act must be \"silu\" (a SwiGLU MLP, as Llama's and "
                              "Mistral's), the experts' activation in Mixtral");
  }
  if (const json::Value *bias = cfg->get("mlp_bias"))
    if (bias->getAsBoolean().value_or(false))
      return err(configPath + ": mlp_bias is true: Mixtral's experts have no biases");

  // The dense checkpoint: every layer's three projections, and the rest.
  auto ckpt = SafetensorsCheckpoint::open(o.input);
  if (!ckpt)
    return ckpt.takeError();
  std::vector<DenseLayer> layers(*L);
  std::vector<const SafetensorsTensor *> others;
  std::string prefix;
  bool havePrefix = false;
  Regex mlpName("^(.*)layers\\.([0-9]+)\\.mlp\\.(.*)$");
  for (const SafetensorsTensor *t : (*ckpt)->getTensors()) {
    SmallVector<StringRef, 4> m;
    if (!mlpName.match(t->name, &m)) {
      others.push_back(t);
      continue;
    }
    int64_t layer;
    if (m[2].getAsInteger(10, layer) || layer >= *L)
      return err(formatv("{0}: tensor '{1}' is in layer {2}, but num_hidden_layers is {3}",
                         t->file, t->name, m[2], *L));
    if (havePrefix && prefix != m[1])
      return err(t->file + ": tensor '" + t->name + "' does not share the prefix '" + prefix +
                 "' of the other layers");
    prefix = m[1].str();
    havePrefix = true;
    int proj = -1;
    for (int p = 0; p < 3; ++p)
      if (m[3] == (Twine(kProjName[p]) + ".weight").str())
        proj = p;
    if (proj < 0)
      return err(t->file + ": tensor '" + t->name +
                 "' is not one of a dense MLP's gate_proj, up_proj and down_proj weights "
                 "(biases and other MLP forms are not supported)");
    if (t->dtype != SafetensorsDType::F32 && t->dtype != SafetensorsDType::BF16 &&
        t->dtype != SafetensorsDType::F16)
      return err(t->file + ": tensor '" + t->name + "' has dtype " +
                 stringifySafetensorsDType(t->dtype) + " (F32, BF16 or F16 are upcycled)");
    std::vector<int64_t> want = proj == 2 ? std::vector<int64_t>{*H, *F}
                                          : std::vector<int64_t>{*F, *H};
    if (t->shape != want)
      return err(t->file + ": tensor '" + t->name + "' has shape " + t->getShapeString() +
                 ", expected " + formatShape(want) + " (hidden_size, intermediate_size)");
    layers[layer].proj[proj] = t;
  }
  for (int64_t l = 0; l < *L; ++l) {
    for (int p = 0; p < 3; ++p)
      if (!layers[l].proj[p])
        return err(formatv("{0}: layer {1} has no '{2}layers.{1}.mlp.{3}.weight' (moe-upcycle "
                           "takes Llama/Mistral-style dense MLPs)",
                           (*ckpt)->getSourcePath(), l, havePrefix ? prefix : "model.",
                           kProjName[p]));
    if (layers[l].proj[1]->dtype != layers[l].proj[0]->dtype ||
        layers[l].proj[2]->dtype != layers[l].proj[0]->dtype)
      return err(formatv("layer {0}: gate_proj, up_proj and down_proj have different dtypes", l));
  }

  // The output folder: new, or empty.
  bool created = !sys::fs::exists(o.output);
  if (!created) {
    std::error_code ec;
    sys::fs::directory_iterator it(o.output, ec);
    if (ec)
      return err(o.output + ": not a folder that can be written (" + ec.message() + ")");
    if (it != sys::fs::directory_iterator())
      return err(o.output + ": the folder holds files already (moe-upcycle writes a new one)");
  } else if (std::error_code ec = sys::fs::create_directories(o.output)) {
    return err(o.output + ": cannot create: " + ec.message());
  }

  // Everything below writes into the folder; on failure what it wrote is
  // removed (the folder held nothing before), so that a rerun starts clean.
  auto writeAll = [&]() -> Error {
    // What to write: every layer's router and experts, then the other tensors.
    std::vector<SafetensorsEntry> entries;
    std::vector<Source> sources;
    for (int64_t l = 0; l < *L; ++l) {
      std::string base = formatv("{0}layers.{1}.block_sparse_moe.", prefix, l).str();
      entries.push_back({base + "gate.weight", layers[l].proj[0]->dtype, {o.experts, *H}});
      sources.push_back({Source::Router, nullptr, l});
      for (int64_t e = 0; e < o.experts; ++e)
        for (int p : {0, 2, 1}) { // w1, w2, w3
          const SafetensorsTensor *t = layers[l].proj[p];
          entries.push_back({formatv("{0}experts.{1}.{2}.weight", base, e, kExpertName[p]).str(),
                             t->dtype, t->shape});
          sources.push_back({Source::Expert, t, l, p, e});
        }
    }
    llvm::StringSet<> made;
    for (const SafetensorsEntry &e : entries)
      made.insert(e.name);
    for (const SafetensorsTensor *t : others) {
      if (made.contains(t->name))
        return err(t->file + ": tensor '" + t->name +
                   "' has the name of a tensor the upcycled checkpoint makes");
      entries.push_back({t->name, t->dtype, t->shape});
      sources.push_back({Source::Copy, t});
    }

    size_t numShards = 1;
    std::vector<size_t> shardOf = assignSafetensorsShards(entries, o.maxShardBytes, numShards);
    // Each weight's root mean square (the noise's scale), computed once.
    std::vector<std::array<double, 3>> rms(*L, {0, 0, 0});
    if (o.noiseStd > 0)
      for (int64_t l = 0; l < *L; ++l)
        for (int p = 0; p < 3; ++p) {
          const SafetensorsTensor *t = layers[l].proj[p];
          double sum = 0;
          for (int64_t i = 0, n = t->getNumElements(); i < n; ++i) {
            double v = t->getFloat(i);
            sum += v * v;
          }
          rms[l][p] = std::sqrt(sum / double(t->getNumElements()));
          t->releasePages();
        }

    double bound = o.routerStd * std::sqrt(3.0);
    int64_t lastLayer = -1;
    for (size_t shard = 0; shard < numShards; ++shard) {
      std::vector<SafetensorsEntry> mine;
      std::vector<size_t> index;
      for (size_t i = 0; i < entries.size(); ++i)
        if (shardOf[i] == shard) {
          mine.push_back(entries[i]);
          index.push_back(i);
        }
      SmallString<256> path(o.output);
      sys::path::append(path, safetensorsShardName(shard, numShards));
      Error e = writeSafetensorsFile(path, mine, [&](size_t j, raw_ostream &out) -> Error {
        const Source &s = sources[index[j]];
        const SafetensorsEntry &entry = mine[j];
        if (s.kind == Source::Router && s.layer != lastLayer) {
          if (o.progress && lastLayer >= 0)
            o.progress(formatv("layer {0}/{1} upcycled", lastLayer + 1, *L).str());
          lastLayer = s.layer;
        }
        uint64_t count = entry.getNumBytes() / getSafetensorsDTypeSize(entry.dtype);
        switch (s.kind) {
        case Source::Copy:
          out.write(reinterpret_cast<const char *>(s.tensor->data.data()), s.tensor->data.size());
          s.tensor->releasePages();
          break;
        case Source::Expert:
          if (o.noiseStd == 0) {
            out.write(reinterpret_cast<const char *>(s.tensor->data.data()), s.tensor->data.size());
          } else {
            double scale = o.noiseStd * rms[s.layer][s.proj];
            uint64_t stream = upcycleNoiseStream(s.layer, s.proj, s.expert);
            writeElements(out, entry.dtype, count, [&](uint64_t i) {
              double w = s.tensor->getFloat(i);
              return static_cast<float>(w + scale * counterNormal(o.seed, stream, i));
            });
          }
          s.tensor->releasePages();
          break;
        case Source::Router: {
          uint64_t stream = upcycleRouterStream(s.layer);
          writeElements(out, entry.dtype, count, [&](uint64_t i) {
            return static_cast<float>(bound * (2.0 * counterUniform(o.seed, stream, i) - 1.0));
          });
          break;
        }
        }
        return Error::success();
      });
      if (e)
        return e;
    }
    if (o.progress && lastLayer >= 0)
      o.progress(formatv("layer {0}/{1} upcycled", lastLayer + 1, *L).str());
    if (numShards > 1)
      if (Error e = writeSafetensorsIndex(o.output, entries, shardOf, numShards))
        return e;

    // config.json: the dense config as Mixtral's.
    json::Object out = *cfg;
    out["model_type"] = "mixtral";
    out["architectures"] = json::Array{"MixtralForCausalLM"};
    out["num_local_experts"] = o.experts;
    out["num_experts_per_tok"] = o.topK;
    out["hidden_act"] = "silu";
    if (!out.get("router_aux_loss_coef"))
      out["router_aux_loss_coef"] = 0.02;
    out["upcycled_from"] = json::Object{{"model_type", cfg->get("model_type")
                                                           ? *cfg->get("model_type")
                                                           : json::Value(nullptr)},
                                        {"noise_std", o.noiseStd},
                                        {"router_std", o.routerStd},
                                        {"seed", static_cast<uint64_t>(o.seed)}};
    SmallString<256> outConfig(o.output);
    sys::path::append(outConfig, "config.json");
    std::error_code ec;
    ToolOutputFile file(outConfig, ec, sys::fs::OF_Text);
    if (ec)
      return err(outConfig + ": cannot write: " + ec.message());
    file.os() << formatv("{0:2}", json::Value(std::move(out))) << "\n";
    if (Error e = finishOutput(file))
      return e;

    // The dense checkpoint's other files (tokenizer, generation config), copied.
    std::error_code dirEc;
    for (sys::fs::directory_iterator it(o.input, dirEc), end; it != end && !dirEc;
         it.increment(dirEc)) {
      StringRef name = sys::path::filename(it->path());
      // Weights in any format are the dense model's, not the MoE's.
      if (name == "config.json" || name.ends_with(".safetensors") ||
          name.ends_with(".safetensors.index.json") || name.ends_with(".bin") ||
          name.ends_with(".bin.index.json") || name.ends_with(".pt") ||
          name.ends_with(".pth") || name.ends_with(".gguf") || name.starts_with("."))
        continue;
      auto status = it->status();
      if (!status || status->type() != sys::fs::file_type::regular_file)
        continue;
      SmallString<256> to(o.output);
      sys::path::append(to, name);
      if (std::error_code c = sys::fs::copy_file(it->path(), to))
        return err(it->path() + ": cannot copy to " + to + ": " + c.message());
    }
    return Error::success();
  };
  if (Error e = writeAll()) {
    std::error_code ec;
    for (sys::fs::directory_iterator it(o.output, ec), end; it != end && !ec; it.increment(ec))
      sys::fs::remove(it->path());
    if (created)
      sys::fs::remove(o.output);
    return e;
  }
  return Error::success();
}
