//===- Importer.h - Hugging Face checkpoints → moe graphs -------*- C++ -*-===//
//
// Builds a module with one public function per imported layer,
// `@layer_<i>(%x: tensor<?xHxdtype>) -> tensor<?xHxdtype>`, computing that
// layer's FFN (a moe.block for a sparse layer, a moe.shared_expert without gate
// for a dense one) exactly as the Hugging Face block's forward does, without
// residual or norm. Weights are moe.weight ops naming the checkpoint and the
// tensor; every tensor is checked (present, supported dtype, expected shape)
// before the graph is built. The importer reads headers, never weights.
//
//===----------------------------------------------------------------------===//
#ifndef MOEC_IMPORT_IMPORTER_H
#define MOEC_IMPORT_IMPORTER_H

#include "moec/Support/Safetensors.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <optional>
#include <string>
#include <vector>

namespace moec::import {

struct ImportOptions {
  /// The checkpoint directory (config.json + safetensors).
  std::string checkpointDir;
  /// Layer indices to import; std::nullopt imports all.
  std::optional<std::vector<int64_t>> layers;
  /// Element type of activations and weights: f32, bf16 or f16. Router
  /// logits and the correction bias are f32 regardless.
  mlir::Type computeType;
  /// Called once per shard opened.
  SafetensorsCheckpoint::ProgressFn progress;
};

/// Parses a layer list: "all" (std::nullopt) or "0,3,5" / "0-2,7".
llvm::Expected<std::optional<std::vector<int64_t>>>
parseLayerList(llvm::StringRef text);

llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
importCheckpoint(mlir::MLIRContext &context, const ImportOptions &options);

} // namespace moec::import

#endif // MOEC_IMPORT_IMPORTER_H
