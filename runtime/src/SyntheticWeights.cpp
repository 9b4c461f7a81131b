//===- SyntheticWeights.cpp - weights generated at load time ----------------===//
//
// The weights of an artifact whose table gives them as RandomUniform(seed)
// (moe-bench's synthetic blocks) are generated here, after the table is
// checked, with the values of moert/format.h.
//
//===----------------------------------------------------------------------===//
#include "Model.h"

#include "moert/format.h"
#include "moert/fp8.h"
#include "moert/intq.h"
#include "moert/mxfp4.h"
#include "moert/half.h"

#include <algorithm>
#include <atomic>
#include <new>
#include <cerrno>
#include <cstring>
#include <thread>
#include <sys/mman.h>
#include <unistd.h>

namespace moert::rt {

// Synthetic weights are generated into private read-only mappings, split over
// the machine's threads (a benchmark's weights reach gigabytes).
Status Model::generateSyntheticWeights() {
#if defined(MOERT_SYNTHETIC_WEIGHT_LIMIT)
  const uint64_t limit = std::min<uint64_t>(MOERT_SYNTHETIC_WEIGHT_LIMIT,
                                            memoryBudget()); // fuzzing builds
  const char *limitWhat = "this build's limit";
#else
  const uint64_t limit = memoryBudget();
  const char *limitWhat = memoryBudgetName();
#endif
  uint64_t total = 0;
  for (const WeightSpec &w : weights_)
    if (w.synthetic && __builtin_add_overflow(total, w.bytes, &total))
      total = UINT64_MAX;
  if (total > limit)
    return error(MOERT_OUT_OF_MEMORY, "the artifact's synthetic weights need ",
                 total, " bytes, more than ", limitWhat, " (", limit, " bytes)");
  // Mapped first: an fp8 weight writes its scales' mapping too.
  for (WeightSpec &w : weights_) {
    if (!w.synthetic || w.bytes == 0)
      continue;
    void *map = ::mmap(nullptr, alignUp(w.bytes), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
      return error(MOERT_OUT_OF_MEMORY, "cannot allocate ", w.bytes,
                   " bytes for the synthetic weight '", w.name, "': ",
                   std::strerror(errno));
    // 2 MiB pages where the kernel has them (THP "madvise" mode included):
    // decode streams weights, and with 4 KiB pages the page walks cost a
    // fifth of an fp8 layer's time on a 2-vCPU Xeon (docs/runtime.md,
    // "Pages"). The artifact's own mapping is advised too (ArtifactFile.cpp);
    // an error here only means small pages.
    ::madvise(map, alignUp(w.bytes), MADV_HUGEPAGE);
    w.data = static_cast<const uint8_t *>(map); // unmapped by ~Model
  }
  for (WeightSpec &w : weights_) {
    if (!w.synthetic || w.bytes == 0 || w.scalesOf >= 0)
      continue; // scales are generated with their fp8 weight
    void *map = const_cast<uint8_t *>(w.data);
    if (w.dtype == MOERT_F8E4M3) {
      if (Status s = generateFp8(w, const_cast<uint8_t *>(weights_[w.scales].data)); !s)
        return s;
      continue;
    }
    if (w.dtype == MOERT_MXFP4) {
      if (Status s = generateMxfp4(w); !s)
        return s;
      continue;
    }
    if (w.dtype == MOERT_INT8 || w.dtype == MOERT_INT4) {
      if (Status s = generateInt(w); !s)
        return s;
      continue;
    }
    // The f32 values of format.h, rounded to nearest even for bf16 / f16.
    moert_dtype_t dtype = w.dtype;
    uint64_t count = w.bytes / moert_dtype_size(dtype);
    float bound = randomUniformBound(w.shape.back());
    uint64_t seed = w.seed;
    // In panels, storage element i holds logical (row-major) element
    // `logical` of matrix i / perMatrix, or padding (zero).
    // In panels (format.h): matrix, panel, step of `depth` values of k,
    // column and value within the step.
    bool panels = w.panels, split = w.seedSplit != 0;
    uint64_t n = panels || split ? static_cast<uint64_t>(w.shape[w.shape.size() - 2]) : 0;
    uint64_t k = static_cast<uint64_t>(w.shape.back());
    int64_t depth = panelDepthFor(dtype == MOERT_BF16);
    uint64_t perMatrix = panels ? panelElements(int64_t(n), int64_t(k), depth) : 0;
    uint64_t stepSize = static_cast<uint64_t>(kPanelWidth * depth);
    uint64_t panelSize = panelElements(kPanelWidth, int64_t(k), depth);
    auto fill = [=, &w](uint64_t begin, uint64_t end) {
      float *f32 = static_cast<float *>(map);
      uint16_t *u16 = static_cast<uint16_t *>(map);
      for (uint64_t i = begin; i < end; ++i) {
        float v = 0.0f; // the padding of panels
        if (!panels && split) { // (rank >= 2)
          uint64_t values = n * k; // per matrix
          v = w.syntheticValue(i / values, i % values / k, i % k, bound);
        } else if (!panels) {
          v = randomUniformWeight(seed, i, bound);
        } else {
          uint64_t matrix = i / perMatrix, r = i % perMatrix;
          uint64_t d = static_cast<uint64_t>(depth);
          uint64_t row = r / panelSize * kPanelWidth + r % stepSize / d;
          uint64_t col = r % panelSize / stepSize * d + r % d;
          if (row < n && col < k)
            v = w.syntheticValue(matrix, row, col, bound);
        }
        if (dtype == MOERT_F32)
          f32[i] = v;
        else
          u16[i] = dtype == MOERT_BF16 ? floatToBf16(v) : floatToHalf(v);
      }
    };
    unsigned parts = count < (1u << 20)
                         ? 1u
                         : std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> threads;
    uint64_t step = (count + parts - 1) / parts;
    for (unsigned p = 1; p < parts; ++p)
      threads.emplace_back(fill, std::min(count, p * step),
                           std::min(count, (p + 1) * step));
    fill(0, std::min(count, step));
    for (std::thread &t : threads)
      t.join();
  }
  for (WeightSpec &w : weights_)
    if (w.synthetic && w.bytes != 0 &&
        ::mprotect(const_cast<uint8_t *>(w.data), alignUp(w.bytes), PROT_READ) != 0)
      return error(MOERT_INTERNAL, "mprotect of a synthetic weight failed: ",
                   std::strerror(errno));
  return Status();
}

namespace {

// Runs one(m, scratch) for every matrix m < matrices on up to 64 threads,
// each with its own Scratch. False when an allocation failed (the rest of
// the matrices are skipped): a status for the caller, not an exception on a
// worker thread.
template <class Scratch, class Fn> bool forEachMatrix(uint64_t matrices, Fn &one) {
  unsigned parts = std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(),
                                                   static_cast<unsigned>(std::min<uint64_t>(matrices, 64))));
  std::vector<std::thread> threads;
  std::atomic<bool> outOfMemory{false};
  auto worker = [&](unsigned p) {
    try {
      Scratch scratch;
      for (uint64_t m = p; m < matrices && !outOfMemory; m += parts)
        one(m, scratch);
    } catch (const std::bad_alloc &) {
      outOfMemory = true;
    }
  };
  for (unsigned p = 1; p < parts; ++p)
    threads.emplace_back(worker, p);
  worker(0);
  for (std::thread &t : threads)
    t.join();
  return !outOfMemory;
}

/// The [n, k] matrices of a weight [..., n, k]: the product of its leading
/// dimensions.
uint64_t matricesOf(const WeightSpec &w) {
  uint64_t matrices = 1;
  for (size_t d = 0; d + 2 < w.shape.size(); ++d)
    matrices *= static_cast<uint64_t>(w.shape[d]);
  return matrices;
}

} // namespace

// An fp8 weight: each [n, k] matrix's f32 values (as any synthetic weight's,
// row-major element i of the whole weight) quantized per 128 x 128 block
// (fp8.h), the codes then packed into panels (or kept row-major), the
// scales written row-major to `scales`. One matrix per task; each thread
// holds one matrix's f32 values and codes, and a failed allocation of them
// is a status, not an exception on a worker thread.
Status Model::generateFp8(const WeightSpec &w, uint8_t *scales) {
  int64_t n = w.shape[w.shape.size() - 2], k = w.shape.back();
  uint64_t matrices = matricesOf(w);
  uint64_t perMatrix = static_cast<uint64_t>(n) * static_cast<uint64_t>(k);
  uint64_t stored = w.panels ? panelElements(n, k) : perMatrix;
  uint64_t perScales = static_cast<uint64_t>(fp8Blocks(n) * fp8Blocks(k));
  float bound = randomUniformBound(k);
  uint8_t *codes = const_cast<uint8_t *>(w.data);
  float *scaleOut = reinterpret_cast<float *>(scales);
  struct Scratch {
    std::vector<float> values;
    std::vector<uint8_t> rows;
  };
  auto one = [&](uint64_t m, Scratch &s) {
    std::vector<float> &values = s.values;
    std::vector<uint8_t> &rows = s.rows;
    values.resize(perMatrix);
    rows.resize(perMatrix);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c)
        values[r * k + c] = w.syntheticValue(m, r, c, bound);
    quantizeFp8Matrix(values.data(), n, k, rows.data(), scaleOut + m * perScales);
    if (w.panels)
      packPanels(rows.data(), n, k, codes + m * stored);
    else
      std::memcpy(codes + m * stored, rows.data(), perMatrix);
  };
  if (!forEachMatrix<Scratch>(matrices, one))
    return error(MOERT_OUT_OF_MEMORY, "cannot allocate ", 5 * perMatrix,
                 " bytes to generate a matrix of the synthetic fp8 weight '",
                 w.name, "'");
  return Status();
}

// An mxfp4 weight (in MXFP4 panels, or MXFP4 rows on the CUDA target): each
// [n, k] matrix's f32 values (as any synthetic weight's) quantized per row
// and group of 32 (quantizeMxfp4Row, mxfp4.h), then packed. One matrix per
// task, as for fp8.
Status Model::generateMxfp4(const WeightSpec &w) {
  int64_t n = w.shape[w.shape.size() - 2], k = w.shape.back();
  uint64_t matrices = matricesOf(w);
  uint64_t perMatrix = static_cast<uint64_t>(n) * static_cast<uint64_t>(k);
  float bound = randomUniformBound(k);
  uint8_t *out = const_cast<uint8_t *>(w.data);
  struct Scratch {
    std::vector<float> row;
    std::vector<uint8_t> blocks, scales;
  };
  auto one = [&](uint64_t m, Scratch &s) {
    std::vector<float> &row = s.row;
    std::vector<uint8_t> &blocks = s.blocks, &scales = s.scales;
    row.resize(static_cast<size_t>(k));
    blocks.resize(perMatrix / 2);
    scales.resize(perMatrix / kMxfp4Group);
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t c = 0; c < k; ++c)
        row[c] = w.syntheticValue(m, r, c, bound);
      quantizeMxfp4Row(row.data(), k, blocks.data() + r * (k / 2),
                       scales.data() + r * (k / kMxfp4Group)); // finite values
    }
    packMxfp4(blocks.data(), scales.data(), n, k, w.panels,
              out + m * mxfp4MatrixBytes(n, k, w.panels));
  };
  if (!forEachMatrix<Scratch>(matrices, one))
    return error(MOERT_OUT_OF_MEMORY, "cannot allocate ", perMatrix / 2 + perMatrix / 32,
                 " bytes to generate a matrix of the synthetic mxfp4 weight '",
                 w.name, "'");
  return Status();
}

// An int8 / int4 weight (always in integer panels): each [n, k] matrix's f32
// values (as any synthetic weight's) quantized per row and group and packed
// (packIntPanels, intq.h). One matrix per task.
Status Model::generateInt(const WeightSpec &w) {
  int64_t n = w.shape[w.shape.size() - 2], k = w.shape.back();
  int bits = w.dtype == MOERT_INT8 ? 8 : 4;
  uint64_t matrices = matricesOf(w);
  uint64_t perMatrix = static_cast<uint64_t>(n) * static_cast<uint64_t>(k);
  float bound = randomUniformBound(k);
  uint8_t *out = const_cast<uint8_t *>(w.data);
  auto one = [&](uint64_t m, std::vector<float> &values) {
    values.resize(static_cast<size_t>(perMatrix));
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c)
        values[r * k + c] = w.syntheticValue(m, r, c, bound);
    // Finite values in [-bound, bound]: every group quantizes.
    packIntPanels(bits, values.data(), n, k, w.group, out + m * intPanelBytes(bits, n, k, w.group));
  };
  if (!forEachMatrix<std::vector<float>>(matrices, one))
    return error(MOERT_OUT_OF_MEMORY, "cannot allocate ", 4 * perMatrix,
                 " bytes to generate a matrix of the synthetic ", moert_dtype_name(w.dtype),
                 " weight '", w.name, "'");
  return Status();
}

} // namespace moert::rt
