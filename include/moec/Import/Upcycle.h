//===- Upcycle.h - sparse upcycling of dense checkpoints --------*- C++ -*-===//
//
// Sparse upcycling (Komatsuzaki et al., 2022): a dense Llama/Mistral-style
// checkpoint becomes a Mixtral-style MoE checkpoint whose every layer's FFN
// (mlp.gate_proj, up_proj, down_proj) is copied into E experts, optionally
// perturbed by seeded noise, with a router drawn uniformly around 0. The
// result is a Hugging Face checkpoint (config.json with model_type
// "mixtral", safetensors) that moe-import reads, to be fine-tuned from.
// docs/import.md, "Upcycling".
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_IMPORT_UPCYCLE_H
#define MOEC_IMPORT_UPCYCLE_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <functional>
#include <string>

namespace moec {

struct UpcycleOptions {
  /// The dense checkpoint folder (config.json + safetensors) and the folder
  /// to write (created; must not hold files already).
  std::string input, output;
  int64_t experts = 8;
  int64_t topK = 2;
  /// Each expert's copy of a weight w gets noiseStd · rms(w) · N(0, 1) added
  /// per element (0: exact copies).
  double noiseStd = 0.0;
  /// The router's weights are uniform on [-a, a] with a = routerStd · √3
  /// (mean 0, standard deviation routerStd).
  double routerStd = 0.02;
  uint64_t seed = 0;
  /// Tensor bytes per output shard (Hugging Face's default, 5 GB).
  uint64_t maxShardBytes = 5000000000ull;
  /// Called with a line of progress per layer written.
  std::function<void(const std::string &)> progress;
};

/// Writes the upcycled checkpoint; an error names what was wrong (the
/// input's config or tensors, an option, the output folder).
llvm::Error upcycleCheckpoint(const UpcycleOptions &options);

/// The counter-based streams of the random values (docs/import.md): expert
/// e's noise on layer l's projection p (0 gate, 1 up, 2 down) draws from
/// stream upcycleNoiseStream(l, p, e), the router of layer l from
/// upcycleRouterStream(l); element i of a tensor (row-major) is index i.
inline uint64_t upcycleNoiseStream(int64_t layer, int proj, int64_t expert) {
  return (static_cast<uint64_t>(layer) << 32) | (static_cast<uint64_t>(proj) << 24) |
         static_cast<uint64_t>(expert);
}
inline uint64_t upcycleRouterStream(int64_t layer) {
  return (static_cast<uint64_t>(layer) << 32) | (3ull << 24);
}

} // namespace moec

#endif // MOEC_IMPORT_UPCYCLE_H
