//===- Model.cpp - a loaded artifact ----------------------------------------===//
//
// What a Model answers once it is loaded (ArtifactFile.cpp, TableChecker.cpp,
// SyntheticWeights.cpp): functions by name, and the loaded code objects that its
// sessions share.
//
//===----------------------------------------------------------------------===//
#include "CodeObject.h"
#include "Model.h"

#include "moert/format.h"

#include <algorithm>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

namespace moert::rt {

const char *commandKindName(CommandKind kind) {
  switch (kind) {
  case CommandKind::Launch: return "Launch";
  case CommandKind::Gemm: return "Gemm";
  case CommandKind::GroupedGemm: return "GroupedGemm";
  case CommandKind::Fill: return "Fill";
  case CommandKind::Copy: return "Copy";
  case CommandKind::Exchange: return "Exchange";
  case CommandKind::ExpertChoice: return "ExpertChoice";
  }
  return "?";
}

uint64_t Model::tableChecksum() const {
  FileHeader h;
  std::memcpy(&h, map_, sizeof h); // the loader checked the header
  return h.table_checksum;
}

Model::~Model() {
  if (map_)
    ::munmap(map_, mapSize_);
  for (const WeightSpec &w : weights_)
    if (w.synthetic && w.data) // mapped by generateSyntheticWeights
      ::munmap(const_cast<uint8_t *>(w.data), alignUp(w.bytes));
}

Status Model::findFunction(const char *name, size_t *index) const {
  if (!name) {
    if (functions_.size() == 1) {
      *index = 0;
      return Status();
    }
  } else {
    for (size_t i = 0; i < functions_.size(); ++i)
      if (functions_[i].name == name) {
        *index = i;
        return Status();
      }
  }
  std::string list;
  for (const FunctionSpec &f : functions_)
    list += (list.empty() ? "" : ", ") + f.name;
  if (!name)
    return error(MOERT_INVALID_ARGUMENT, "the artifact has ", functions_.size(),
                 " functions (", list, "); name one");
  return error(MOERT_NOT_FOUND, "unknown function '", name,
               "' (the artifact has: ", list, ")");
}

Status Model::acquireCode(uint32_t index, std::shared_ptr<LoadedCode> *out) const {
  if (index >= codeObjects_.size())
    return error(MOERT_INTERNAL, "code object ", index, " does not exist");
  std::lock_guard<std::mutex> lock(codeMutex_);
  if (std::shared_ptr<LoadedCode> code = codeCache_[index].lock()) {
    *out = std::move(code);
    return Status();
  }
  const CodeObjectSpec &spec = codeObjects_[index];
  if (Status s = checkHostCpuFeatures(spec.arch, index); !s)
    return s;
  std::shared_ptr<LoadedCode> code;
  Status s = LoadedCode::load(spec.data, spec.bytes, index, &code);
  if (!s)
    return s;
  codeCache_[index] = code;
  *out = std::move(code);
  return Status();
}

std::vector<uint8_t> slotOnlyWeights(const Model &m, size_t function) {
  std::vector<uint8_t> use(m.weights().size(), 0); // bit 0: a slot's B, bit 1: other
  for (size_t f = 0; f < m.functions().size(); ++f) {
    if (function != SIZE_MAX && f != function)
      continue;
    for (const CommandSpec &c : m.functions()[f].commands)
      forEachOperand(c, [&](const Operand &op, Access) {
        if (!op.isWeight)
          return;
        bool slot = c.kind == CommandKind::GroupedGemm && c.hasMap && &op == &c.b;
        int64_t scales = m.weights()[op.index].scales;
        for (int64_t w : {static_cast<int64_t>(op.index), scales})
          if (w >= 0)
            use[static_cast<size_t>(w)] |= slot ? 1 : 2;
      });
  }
  for (uint8_t &u : use)
    u = u == 1;
  return use;
}

} // namespace moert::rt
