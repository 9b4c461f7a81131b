//===- CommandsTest.cpp - each command against a hand computation ---------===//
#include "TestUtil.h"

#include "moert/half.h"
#include "moert/mxfp4.h"

#include <cmath>
#include <algorithm>
#include <cstring>

using namespace moert::test;
namespace fb = moert::fb;

namespace {

constexpr int64_t kMaxT = 16;

/// forward(x: f32 [T, K]) -> y: f32 [T, N] = x · W1ᵀ (+ x · W2ᵀ when
/// accumulating): one Gemm, or two with the second accumulating.
struct GemmModel {
  int64_t N, K, maxT;
  std::vector<float> w1, w2;
  Bytes bytes;
  /// With `panels`, both weights are stored in panels (Panels32).
  GemmModel(int64_t n, int64_t k, int64_t maxTokens, bool accumulate,
            bool panels = false)
      : N(n), K(k), maxT(maxTokens) {
    ArtifactBuilder b(maxT);
    w1 = randomFloats(static_cast<size_t>(N * K), 11);
    w2 = randomFloats(static_cast<size_t>(N * K), 12);
    uint32_t W1 = panels ? b.addWeightPanels("w1", {N, K}, w1) : b.addWeightF32("w1", {N, K}, w1);
    uint32_t W2 = panels ? b.addWeightPanels("w2", {N, K}, w2) : b.addWeightF32("w2", {N, K}, w2);
    FunctionBuilder f = b.function("forward");
    uint32_t x = f.buffer(4 * K, 0), y = f.buffer(4 * N, 0);
    f.input("x", fb::DType::F32, {-1, K}, x);
    f.output("y", fb::DType::F32, {-1, N}, y);
    f.gemm(buf(x), wt(W1), buf(y), aff(1, 0), N, K);
    if (accumulate)
      f.gemm(buf(x), wt(W2), buf(y), aff(1, 0), N, K, /*accumulate=*/true);
    bytes = b.build();
  }
};

std::vector<float> runOne(moert::Session &s, std::vector<float> &x,
                          std::vector<int64_t> shape, size_t output = 0) {
  moert::Status st = s.run("", {f32(x, shape)});
  EXPECT_TRUE(st) << st.message();
  if (!st)
    return {};
  auto view = s.output(output);
  EXPECT_TRUE(view) << view.status().message();
  return view ? values(*view) : std::vector<float>();
}

} // namespace

TEST(Gemm, EveryTokenCountMatchesTheReference) {
  GemmModel g(40, 24, kMaxT, false);
  moert::Model m = mustLoad(g.bytes);
  for (int32_t threads : {1, 3}) {
    moert::Session s = mustSession(m, threads);
    for (int64_t T = 1; T <= kMaxT; ++T) {
      std::vector<float> x = randomFloats(static_cast<size_t>(T * g.K), 100 + T);
      std::vector<float> y = runOne(s, x, {T, g.K});
      EXPECT_TRUE(near(y, refGemmBt(x, g.w1.data(), T, g.N, g.K)))
          << "T = " << T << ", threads = " << threads;
    }
  }
}


// Large enough to be split over the session's threads (column and row tiles).
TEST(Gemm, SplitOverThreadsMatchesTheReference) {
  GemmModel g(256, 128, 64, false);
  moert::Model m = mustLoad(g.bytes);
  for (int32_t threads : {1, 2, 4, 7}) {
    moert::Session s = mustSession(m, threads);
    for (int64_t T : {1, 7, 33, 64}) {
      std::vector<float> x = randomFloats(static_cast<size_t>(T * g.K), 200 + T);
      std::vector<float> y = runOne(s, x, {T, g.K});
      EXPECT_TRUE(near(y, refGemmBt(x, g.w1.data(), T, g.N, g.K), 1e-4f, 1e-4f))
          << "T = " << T << ", threads = " << threads;
    }
  }
}

// Up to 32 rows the runtime uses its own kernel (groups of 8 rows, chunks of
// B, masked tails of k), above that BLAS: every row count on both sides, k
// with and without a tail, N not a multiple of the kernel's rows of B, and a
// K large enough to chunk B; with accumulation.
namespace {

/// Runs an accumulating GemmModel (x · W1ᵀ + x · W2ᵀ) at each T of `tokens`
/// on each thread count, against the reference.
void expectAccumulatedGemms(const GemmModel &g, std::initializer_list<int32_t> threadCounts,
                            const std::vector<int64_t> &tokens) {
  moert::Model m = mustLoad(g.bytes);
  for (int32_t threads : threadCounts) {
    moert::Session s = mustSession(m, threads);
    for (int64_t T : tokens) {
      std::vector<float> x = randomFloats(static_cast<size_t>(T * g.K), 300 + T);
      std::vector<float> y = runOne(s, x, {T, g.K});
      std::vector<float> want = refGemmBt(x, g.w1.data(), T, g.N, g.K);
      std::vector<float> want2 = refGemmBt(x, g.w2.data(), T, g.N, g.K);
      for (size_t i = 0; i < want.size(); ++i)
        want[i] += want2[i];
      EXPECT_TRUE(near(y, want, 1e-4f, 1e-4f))
          << "N = " << g.N << ", K = " << g.K << ", T = " << T << ", threads = " << threads;
    }
  }
}

/// 1, 2, ..., n.
std::vector<int64_t> upTo(int64_t n) {
  std::vector<int64_t> v;
  for (int64_t T = 1; T <= n; ++T)
    v.push_back(T);
  return v;
}

} // namespace

namespace {

/// forward(x: f32 [T, K]) -> y: ct [T, N] = x · Wᵀ, W f32 in panels.
Bytes gemmToType(const std::vector<float> &w, int64_t N, int64_t K, fb::DType ct,
                 bool accumulate = false, uint32_t formatVersion = moert::kFormatVersion) {
  ArtifactBuilder b(700);
  uint32_t W = b.addWeightPanels("w", {N, K}, w);
  FunctionBuilder f = b.function("forward");
  uint32_t x = f.buffer(4 * K, 0), y = f.buffer((ct == fb::DType::F32 ? 4 : 2) * N, 0);
  f.input("x", fb::DType::F32, {-1, K}, x);
  f.output("y", ct, {-1, N}, y);
  f.gemm(buf(x), wt(W), buf(y), aff(1, 0), N, K, accumulate);
  b.model.functions.back()->commands.back()->command.AsGemm()->c_dtype = ct;
  ArtifactBuilder::Options o;
  o.formatVersion = formatVersion;
  return b.build(o);
}

} // namespace

// A bf16 / f16 C (a 16-bit function's shared expert): the f32 C rounded to
// nearest even, split over threads, through the scratch's blocks of rows
// (700 x 1600 > 2^20); accumulating into one is refused at load.
TEST(Gemm, SixteenBitCIsTheRoundedF32C) {
  int64_t N = 1600, K = 40;
  std::vector<float> w = randomFloats(static_cast<size_t>(N * K), 13);
  moert::Model wide = mustLoad(gemmToType(w, N, K, fb::DType::F32));
  for (fb::DType ct : {fb::DType::BF16, fb::DType::F16}) {
    moert::Model narrow = mustLoad(gemmToType(w, N, K, ct));
    for (int32_t threads : {1, 2}) {
      moert::Session sw = mustSession(wide, threads), sn = mustSession(narrow, threads);
      for (int64_t T : {1, 33, 700}) {
        std::vector<float> x = randomFloats(static_cast<size_t>(T * K), 40 + T);
        std::vector<float> c32 = runOne(sw, x, {T, K});
        ASSERT_TRUE(sn.run("", {f32(x, {T, K})}));
        auto c16 = sn.output(0);
        ASSERT_TRUE(c16);
        const uint16_t *got = static_cast<const uint16_t *>(c16->data);
        size_t bad = 0;
        for (size_t i = 0; i < c32.size(); ++i)
          bad += got[i] != (ct == fb::DType::BF16 ? moert::floatToBf16(c32[i])
                                                  : moert::floatToHalf(c32[i]));
        EXPECT_EQ(bad, 0u) << "T = " << T << ", threads " << threads;
      }
    }
  }
  Bytes acc = gemmToType(w, N, K, fb::DType::BF16, /*accumulate=*/true);
  auto refused = moert::Model::fromMemory(acc.data(), acc.size());
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.status().message().find("a bf16 C is written, not accumulated"),
            std::string::npos)
      << refused.status().message();
  // A 16-bit C in an artifact that claims a format before 6 (whose
  // runtimes would read an f32 C) is refused too.
  Bytes old = gemmToType(w, N, K, fb::DType::BF16, false, moert::kGemm16FormatVersion - 1);
  auto oldRefused = moert::Model::fromMemory(old.data(), old.size());
  ASSERT_FALSE(oldRefused);
  EXPECT_NE(oldRefused.status().message().find(
                "c_dtype is bf16 in an artifact of format version 5; a 16-bit C needs 6"),
            std::string::npos)
      << oldRefused.status().message();
}

TEST(Gemm, AccumulateAddsToC) {
  expectAccumulatedGemms(GemmModel(40, 24, kMaxT, true), {2}, {1, 5, 16});
}

TEST(Gemm, RowCountsAroundTheDirectKernelMatchTheReference) {
  for (auto [N, K] : {std::pair<int64_t, int64_t>{37, 1}, {37, 17}, {19, 300}, {70, 2000}})
    expectAccumulatedGemms(GemmModel(N, K, 40, true), {1, 2}, upTo(40));
}

// B in panels (the CPU GEMM's pre-packed layout): N = 70 pads its last panel
// (6 of 32 rows), K = 600 crosses the kernel's k-slice of 512, and up to 40
// rows cover full and partial register tiles (8 rows); split over threads
// at panel boundaries; with accumulation.
TEST(Gemm, WeightsInPanelsMatchTheReference) {
  for (auto [N, K] : {std::pair<int64_t, int64_t>{70, 600}, {32, 5}, {7, 33}})
    expectAccumulatedGemms(GemmModel(N, K, 40, true, /*panels=*/true), {1, 2, 3},
                           {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 17, 24, 31, 38});
}

namespace {

/// A grouped GEMM computed in double: rows [off[e], off[e + 1]) of A times
/// expert e of W [E, N, K]; `value` reads an element of A or W as a double.
template <typename A, typename W, typename Value>
std::vector<float> groupedReference(const std::vector<A> &a, const std::vector<W> &w,
                                    const std::vector<int32_t> &off, int64_t T,
                                    int64_t E, int64_t N, int64_t K, Value value) {
  std::vector<float> c(static_cast<size_t>(T * N), 0.0f);
  for (int64_t e = 0; e < E; ++e)
    for (int64_t r = off[e]; r < off[e + 1]; ++r)
      for (int64_t n = 0; n < N; ++n) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k)
          acc += value(a[r * K + k]) * value(w[(e * N + n) * K + k]);
        c[r * N + n] = static_cast<float>(acc);
      }
  return c;
}

/// Adds grouped(a: dt [T, K], offsets: i32 [E + 1]) -> c: ct [T, N], one
/// GroupedGemm by weight W [E, N, K] of dt (f32, bf16 or f16).
void addGroupedFunction(ArtifactBuilder &b, uint32_t W, int64_t E, int64_t N, int64_t K,
                        fb::DType dt = fb::DType::F32, fb::DType ct = fb::DType::F32) {
  FunctionBuilder f = b.function("grouped");
  int64_t size = dt == fb::DType::F32 ? 4 : 2, cSize = ct == fb::DType::F32 ? 4 : 2;
  uint32_t a = f.buffer(size * K, 0), off = f.buffer(0, 4 * (E + 1)), c = f.buffer(cSize * N, 0);
  f.input("a", dt, {-1, K}, a);
  f.input("offsets", fb::DType::I32, {E + 1}, off);
  f.output("c", ct, {-1, N}, c);
  f.groupedGemm(buf(a), wt(W), buf(c), buf(off), aff(1, 0), E, N, K);
  auto *g = b.model.functions.back()->commands.back()->command.AsGroupedGemm();
  g->dtype = dt;
  g->c_dtype = ct;
}

/// grouped(a: f32 [T, K], offsets: i32 [E + 1]) -> c: f32 [T, N]
struct GroupedModel {
  int64_t E, N, K, maxT;
  std::vector<float> w;
  Bytes bytes;
  GroupedModel(int64_t e, int64_t n, int64_t k, int64_t maxTokens,
               bool panels = false)
      : E(e), N(n), K(k), maxT(maxTokens) {
    ArtifactBuilder b(maxT);
    w = randomFloats(static_cast<size_t>(E * N * K), 21);
    uint32_t W = panels ? b.addWeightPanels("w", {E, N, K}, w)
                        : b.addWeightF32("w", {E, N, K}, w);
    addGroupedFunction(b, W, E, N, K);
    bytes = b.build();
  }

  std::vector<float> reference(const std::vector<float> &a,
                               const std::vector<int32_t> &off, int64_t T) const {
    return groupedReference(a, w, off, T, E, N, K, [](float v) { return double(v); });
  }
};

moert::Status runGrouped(moert::Session &s, const GroupedModel &g,
                         std::vector<float> &a, std::vector<int32_t> &off, int64_t T) {
  return s.run("grouped", {f32(a, {T, g.K}), i32(off, {g.E + 1})});
}

} // namespace

TEST(GroupedGemm, RandomOffsetsForEveryTokenCount) {
 for (bool panels : {false, true}) {
  // In panels: N = 40 is a full and a padded panel per expert.
  GroupedModel g(4, panels ? 40 : 12, 16, kMaxT, panels);
  moert::Model m = mustLoad(g.bytes);
  std::mt19937 rng(5);
  for (int32_t threads : {1, 3}) {
    moert::Session s = mustSession(m, threads);
    for (int64_t T = 1; T <= kMaxT; ++T) {
      for (int trial = 0; trial < 3; ++trial) {
        // Non-decreasing cut points from 0, the last one <= T (rows past it are zeroed).
        std::vector<int32_t> off(static_cast<size_t>(g.E + 1), 0);
        for (int64_t e = 1; e <= g.E; ++e)
          off[e] = static_cast<int32_t>(rng() % (T + 1));
        std::sort(off.begin() + 1, off.end());
        if (trial == 0)
          off[g.E] = static_cast<int32_t>(T);
        std::vector<float> a = randomFloats(static_cast<size_t>(T * g.K), 300 + T);
        moert::Status st = runGrouped(s, g, a, off, T);
        ASSERT_TRUE(st) << st.message();
        auto c = s.output(0);
        ASSERT_TRUE(c);
        EXPECT_TRUE(near(values(*c), g.reference(a, off, T)))
            << "T = " << T << ", trial " << trial << ", threads " << threads
            << ", panels " << panels;
      }
    }
  }
 }
}

namespace {

/// grouped(a: bf16|f16 [T, K], offsets) -> c: f32 [T, N], with 16-bit weights
/// [E, N, K]: the sums of the exactly widened products.
struct Grouped16Model {
  int64_t E, N, K;
  bool bf16;
  std::vector<uint16_t> w;
  Bytes bytes;
  /// With `panels` (bf16 only), W is stored in panels of pairs of k; with
  /// `c16`, C holds the 16-bit type too.
  Grouped16Model(bool isBf16, int64_t e, int64_t n, int64_t k, int64_t maxT,
                 bool panels = false, bool c16 = false)
      : E(e), N(n), K(k), bf16(isBf16) {
    ArtifactBuilder b(maxT);
    w = to16(randomFloats(static_cast<size_t>(E * N * K), 31));
    fb::DType dt = bf16 ? fb::DType::BF16 : fb::DType::F16;
    uint32_t W;
    if (panels) {
      size_t each = moert::panelElements(N, K, 2);
      std::vector<uint16_t> packed(E * each);
      for (int64_t x = 0; x < E; ++x)
        moert::packPanels(w.data() + x * N * K, N, K, packed.data() + x * each, 2);
      W = b.addWeight("w", dt, {E, N, K}, packed.data(), packed.size() * 2);
      b.model.weights[W]->layout = fb::WeightLayout::Panels32;
    } else {
      W = b.addWeight("w", dt, {E, N, K}, w.data(), w.size() * 2);
    }
    addGroupedFunction(b, W, E, N, K, dt, c16 ? dt : fb::DType::F32);
    bytes = b.build();
  }

  std::vector<uint16_t> to16(const std::vector<float> &v) const {
    std::vector<uint16_t> out(v.size());
    for (size_t i = 0; i < v.size(); ++i)
      out[i] = bf16 ? moert::floatToBf16(v[i]) : moert::floatToHalf(v[i]);
    return out;
  }
  double wide(uint16_t h) const {
    return bf16 ? moert::bf16ToFloat(h) : moert::halfToFloat(h);
  }
  std::vector<float> reference(const std::vector<uint16_t> &a,
                               const std::vector<int32_t> &off, int64_t T) const {
    return groupedReference(a, w, off, T, E, N, K, [this](uint16_t h) { return wide(h); });
  }
};

} // namespace

// Up to 75 rows per expert: the runtime's 16-bit kernel (<= 64 rows, with
// the masked tail of K = 300) and the widened BLAS panels above it.
// bf16 in panels: K = 301 ends in a half pair, N = 40 pads a panel; split
// over threads.
TEST(GroupedGemm, Bf16AndF16OperandsSumTheWidenedProducts) {
  constexpr int64_t maxT = 100;
  for (int variant = 0; variant < 3; ++variant) {
    bool bf16 = variant != 1, panels = variant == 2;
    Grouped16Model g(bf16, 3, 40, panels ? 301 : 300, maxT, panels);
    moert::Model m = mustLoad(g.bytes);
    for (int32_t threads : {1, 2}) {
      moert::Session s = mustSession(m, threads);
      for (int64_t T : {1, 5, 31, 33, 80, 100}) {
        std::vector<int32_t> off{0, static_cast<int32_t>(T / 4),
                                 static_cast<int32_t>(T / 4), static_cast<int32_t>(T)};
        std::vector<uint16_t> a = g.to16(randomFloats(static_cast<size_t>(T * g.K), 500 + T));
        moert_dtype_t dt = bf16 ? MOERT_BF16 : MOERT_F16;
        moert::Status st = s.run("grouped", {moert::tensor(dt, {T, g.K}, a.data(), a.size() * 2),
                                             i32(off, {g.E + 1})});
        ASSERT_TRUE(st) << st.message();
        auto c = s.output(0);
        ASSERT_TRUE(c);
        EXPECT_TRUE(near(values(*c), g.reference(a, off, T), 1e-5f, 1e-5f))
            << (bf16 ? "bf16" : "f16") << (panels ? " in panels" : "") << ", T = " << T
            << ", threads " << threads;
      }
    }
  }
}

// A 16-bit C (a 16-bit function's activations): each element is the f32
// C's rounded to nearest even, through the scratch's blocks of rows (N =
// 1600, an expert of 680 rows: more than the 2^20 floats of one block, so
// two), split over threads; rows past the last offset are zeroed. bf16 is bit for bit. Row-major f16 picks
// its kernel by the rows of a block (<= 64: the direct one), so a block's
// tail may sum in another order: a few elements round to the neighbouring
// f16 value.
TEST(GroupedGemm, SixteenBitCIsTheRoundedF32C) {
  constexpr int64_t maxT = 700;
  for (int variant = 0; variant < 3; ++variant) {
    bool bf16 = variant != 1, panels = variant == 2;
    Grouped16Model wide(bf16, 3, 1600, 72, maxT, panels), narrow(bf16, 3, 1600, 72, maxT, panels, true);
    moert::Model mw = mustLoad(wide.bytes), mn = mustLoad(narrow.bytes);
    for (int32_t threads : {1, 2}) {
      moert::Session sw = mustSession(mw, threads), sn = mustSession(mn, threads);
      for (int64_t T : {1, 7, 300, 700}) {
        std::vector<int32_t> off{0, static_cast<int32_t>(T / 70), static_cast<int32_t>(T / 70),
                                 static_cast<int32_t>(T - T / 70)};
        std::vector<uint16_t> a = wide.to16(randomFloats(static_cast<size_t>(T * wide.K), 90 + T));
        moert_dtype_t dt = bf16 ? MOERT_BF16 : MOERT_F16;
        std::vector<moert_tensor_t> in = {moert::tensor(dt, {T, wide.K}, a.data(), a.size() * 2),
                                         i32(off, {wide.E + 1})};
        ASSERT_TRUE(sw.run("grouped", in));
        moert::Status st = sn.run("grouped", in);
        ASSERT_TRUE(st) << st.message();
        std::vector<float> c32 = values(*sw.output(0));
        auto c16 = sn.output(0);
        ASSERT_TRUE(c16);
        ASSERT_EQ(c16->dtype, dt);
        const uint16_t *got = static_cast<const uint16_t *>(c16->data);
        size_t bad = 0, far = 0;
        for (size_t i = 0; i < c32.size(); ++i) {
          int want = bf16 ? moert::floatToBf16(c32[i]) : moert::floatToHalf(c32[i]);
          bad += got[i] != want;
          far += std::abs(int(got[i]) - want) > 1;
        }
        std::string what = std::string(bf16 ? "bf16" : "f16") + (panels ? " in panels" : "") +
                           ", T = " + std::to_string(T) + ", threads " + std::to_string(threads);
        EXPECT_EQ(far, 0u) << what;
        EXPECT_LE(bad, bf16 ? 0u : c32.size() / 1000) << what;
        for (int64_t i = off[3] * wide.N; i < T * wide.N; ++i)
          ASSERT_EQ(got[i], 0) << "element " << i << " past the last offset, T = " << T;
      }
    }
  }
}

TEST(GroupedGemm, RowsPastTheLastOffsetAreZeroed) {
  GroupedModel g(4, 12, 16, kMaxT);
  moert::Model m = mustLoad(g.bytes);
  moert::Session s = mustSession(m, 2);
  int64_t T = 10;
  std::vector<float> a = randomFloats(static_cast<size_t>(T * g.K), 9);
  std::vector<int32_t> all = {0, 3, 5, 5, 10};
  ASSERT_TRUE(runGrouped(s, g, a, all, T)); // every row written
  std::vector<int32_t> some = {0, 1, 2, 2, 6};
  ASSERT_TRUE(runGrouped(s, g, a, some, T));
  std::vector<float> c = values(*s.output(0));
  for (int64_t r = 6; r < T; ++r)
    for (int64_t n = 0; n < g.N; ++n)
      ASSERT_EQ(c[r * g.N + n], 0.0f) << "row " << r;
  EXPECT_TRUE(near(c, g.reference(a, some, T)));
  std::vector<int32_t> none = {0, 0, 0, 0, 0};
  ASSERT_TRUE(runGrouped(s, g, a, none, T));
  c = values(*s.output(0));
  EXPECT_TRUE(std::all_of(c.begin(), c.end(), [](float v) { return v == 0.0f; }));
}

TEST(GroupedGemm, SplitOverThreadsMatchesTheReference) {
  GroupedModel g(8, 128, 64, 64);
  moert::Model m = mustLoad(g.bytes);
  for (int32_t threads : {1, 4}) {
    moert::Session s = mustSession(m, threads);
    int64_t T = 64;
    std::vector<int32_t> off = {0, 3, 20, 20, 21, 40, 41, 60, 64};
    std::vector<float> a = randomFloats(static_cast<size_t>(T * g.K), 77);
    ASSERT_TRUE(runGrouped(s, g, a, off, T));
    EXPECT_TRUE(near(values(*s.output(0)), g.reference(a, off, T), 1e-4f, 1e-4f));
  }
}

// In panels, split over threads: with 2 of 8 experts non-empty each is cut
// into column blocks, which must start at panels (N = 200: 7 panels, the
// last padded), and the rows of each block cross the 8-row register tiles.
TEST(GroupedGemm, WeightsInPanelsSplitOverThreadsMatchTheReference) {
  GroupedModel g(8, 200, 64, 64, /*panels=*/true);
  moert::Model m = mustLoad(g.bytes);
  for (int32_t threads : {1, 2, 4, 7}) {
    moert::Session s = mustSession(m, threads);
    for (auto off : {std::vector<int32_t>{0, 0, 0, 27, 27, 27, 27, 64, 64},
                     std::vector<int32_t>{0, 3, 20, 20, 21, 40, 41, 60, 64}}) {
      int64_t T = 64;
      std::vector<float> a = randomFloats(static_cast<size_t>(T * g.K), 78);
      ASSERT_TRUE(runGrouped(s, g, a, off, T));
      EXPECT_TRUE(near(values(*s.output(0)), g.reference(a, off, T), 1e-4f, 1e-4f))
          << "threads " << threads << ", offsets[2] " << off[2];
    }
  }
}

// MXFP4 weights in panels, split over threads the same way: column blocks
// of experts after the first (e > 0, n0 > 0) must find their own matrix's
// panel groups. The reference decodes the row-major blocks and scales (the
// checkpoint's layout) that were packed into the panels.
TEST(GroupedGemm, Mxfp4WeightsSplitOverThreadsMatchTheReference) {
  const int64_t E = 8, N = 200, K = 64, G = K / moert::kMxfp4Group;
  std::vector<float> raw = randomFloats(static_cast<size_t>(E * N * K), 23);
  std::vector<uint8_t> blocks(static_cast<size_t>(E * N * K / 2)),
      scales(static_cast<size_t>(E * N * G));
  for (int64_t r = 0; r < E * N; ++r)
    ASSERT_TRUE(moert::quantizeMxfp4Row(&raw[r * K], K, &blocks[r * K / 2], &scales[r * G]));
  std::vector<float> w(raw.size());
  for (int64_t r = 0; r < E * N; ++r)
    for (int64_t k = 0; k < K; ++k)
      w[r * K + k] = moert::e2m1ToFloat((blocks[(r * K + k) / 2] >> (k % 2 * 4)) & 15) *
                     moert::e8m0ToFloat(scales[r * G + k / moert::kMxfp4Group]);
  std::vector<uint8_t> panels(E * moert::mxfp4PanelBytes(N, K));
  for (int64_t e = 0; e < E; ++e)
    moert::packMxfp4Panels(&blocks[e * N * K / 2], &scales[e * N * G], N, K,
                           &panels[e * moert::mxfp4PanelBytes(N, K)]);
  ArtifactBuilder b(64);
  uint32_t W = b.addWeight("w", fb::DType::MXFP4, {E, N, K}, panels.data(), panels.size());
  b.model.weights[W]->layout = fb::WeightLayout::Panels32;
  addGroupedFunction(b, W, E, N, K);
  b.model.functions.back()->commands.back()->command.AsGroupedGemm()->dtype = fb::DType::MXFP4;
  moert::Model m = mustLoad(b.build());
  for (int32_t threads : {1, 2, 4, 7}) {
    moert::Session s = mustSession(m, threads);
    for (auto off : {std::vector<int32_t>{0, 0, 0, 27, 27, 27, 27, 64, 64},
                     std::vector<int32_t>{0, 3, 20, 20, 21, 40, 41, 60, 64},
                     std::vector<int32_t>{0, 0, 0, 0, 0, 0, 0, 1, 1}}) {
      int64_t T = 64;
      std::vector<float> a = randomFloats(static_cast<size_t>(T * K), 79);
      ASSERT_TRUE(s.run("grouped", {f32(a, {T, K}), i32(off, {E + 1})}));
      std::vector<float> ref =
          groupedReference(a, w, off, T, E, N, K, [](float v) { return double(v); });
      EXPECT_TRUE(near(values(*s.output(0)), ref, 1e-4f, 1e-4f))
          << "threads " << threads << ", offsets[2] " << off[2];
    }
  }
}

TEST(GroupedGemm, InvalidRunTimeOffsetsAreAStatus) {
  GroupedModel g(4, 12, 16, kMaxT);
  moert::Model m = mustLoad(g.bytes);
  moert::Session s = mustSession(m, 2);
  int64_t T = 8;
  std::vector<float> a = randomFloats(static_cast<size_t>(T * g.K), 1);
  struct Case {
    std::vector<int32_t> off;
    std::string message;
  } cases[] = {
      {{1, 2, 3, 4, 5}, "offsets[0] = 1, expected 0"},
      {{0, 2, 5, 2, 8}, "offsets[3] = 2 < offsets[2] = 5 (they must be non-decreasing)"},
      {{0, 2, 5, 6, 9}, "offsets[4] = 9 exceeds rows(T) = 8"},
      {{0, -1, 0, 0, 0}, "offsets[1] = -1 < offsets[0] = 0"},
      {{0, 0, 0, 0, 2147483647}, "offsets[4] = 2147483647 exceeds rows(T) = 8"},
  };
  for (Case &c : cases) {
    moert::Status st = runGrouped(s, g, a, c.off, T);
    ASSERT_FALSE(st.ok()) << c.message;
    EXPECT_EQ(st.code(), MOERT_EXECUTION_ERROR);
    EXPECT_NE(st.message().find(c.message), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("run 'grouped': command 0 (GroupedGemm), T = 8: invalid expert offsets"),
              std::string::npos)
        << st.message();
    // A failed run leaves no outputs to read.
    auto view = s.output(0);
    ASSERT_FALSE(view);
    EXPECT_EQ(view.status().code(), MOERT_FAILED_PRECONDITION);
  }
  // The session is still usable.
  std::vector<int32_t> ok = {0, 2, 4, 6, 8};
  ASSERT_TRUE(runGrouped(s, g, a, ok, T));
  EXPECT_TRUE(near(values(*s.output(0)), g.reference(a, ok, T)));
}

namespace {

/// chunks(x: f32 [T, 1]) -> hits: i32 [T, 3], lens: i32 [T, 3], tokens: i32 [1]
/// Launch moert_test_mark_chunks over extent 3T with `grain`.
Bytes chunkModel(int64_t grain) {
  ArtifactBuilder b(kMaxT);
  uint32_t k = b.testKernel("moert_test_mark_chunks", 3);
  FunctionBuilder f = b.function("chunks");
  uint32_t x = f.buffer(4, 0), hits = f.buffer(12, 0), lens = f.buffer(12, 0),
           tokens = f.buffer(0, 4), untouched = f.buffer(0, 16);
  f.input("x", fb::DType::F32, {-1, 1}, x);
  f.output("hits", fb::DType::I32, {-1, 3}, hits);
  f.output("lens", fb::DType::I32, {-1, 3}, lens);
  f.output("tokens", fb::DType::I32, {1}, tokens);
  f.output("untouched", fb::DType::I32, {4}, untouched);
  f.fill(buf(hits), aff(12, 0), 0);
  f.fill(buf(lens), aff(12, 0), 0);
  f.fill(buf(untouched), aff(0, 16), 7);
  f.launch(k, {buf(hits), buf(lens), buf(tokens)}, aff(3, 0), grain);
  // Extent 0: must launch nothing (the kernel would write 1s into untouched).
  f.launch(k, {buf(untouched), buf(untouched), buf(untouched)}, aff(0, 0), 1);
  return b.build();
}

std::vector<int32_t> ints(const moert_tensor_t &t) {
  const int32_t *p = static_cast<const int32_t *>(t.data);
  return std::vector<int32_t>(p, p + t.bytes / 4);
}

} // namespace

TEST(Launch, ChunksCoverTheExtentOnceWithTheGrain) {
  for (int64_t grain : {1, 4, 5, 100}) {
    moert::Model m = mustLoad(chunkModel(grain));
    for (int32_t threads : {1, 2, 4}) {
      moert::Session s = mustSession(m, threads);
      for (int64_t T = 1; T <= kMaxT; ++T) {
        std::vector<float> x(static_cast<size_t>(T), 0.0f);
        ASSERT_TRUE(s.run("", {f32(x, {T, 1})}));
        std::vector<int32_t> hits = ints(*s.output(0)), lens = ints(*s.output(1));
        int64_t extent = 3 * T;
        ASSERT_EQ(hits.size(), size_t(extent));
        for (int64_t i = 0; i < extent; ++i) {
          ASSERT_EQ(hits[i], 1) << "index " << i << " T " << T << " grain " << grain;
          int32_t want = i % grain == 0 ? int32_t(std::min(grain, extent - i)) : 0;
          ASSERT_EQ(lens[i], want) << "index " << i << " T " << T << " grain " << grain;
        }
        EXPECT_EQ(ints(*s.output(2)), std::vector<int32_t>{int32_t(T)});
        EXPECT_EQ(ints(*s.output(3)), (std::vector<int32_t>{7, 7, 7, 7}));
      }
    }
  }
}

// Chunks really run concurrently: a barrier over T chunks completes only if
// T threads run them at the same time.
TEST(Launch, ChunksRunConcurrentlyOnTheSessionThreads) {
  ArtifactBuilder b(8);
  uint32_t k = b.testKernel("moert_test_rendezvous", 2);
  FunctionBuilder f = b.function("barrier");
  uint32_t x = f.buffer(4, 0), counter = f.buffer(0, 4), flags = f.buffer(4, 0);
  f.input("x", fb::DType::F32, {-1, 1}, x);
  f.output("flags", fb::DType::I32, {-1}, flags);
  f.fill(buf(counter), aff(0, 4), 0);
  f.fill(buf(flags), aff(4, 0), 0);
  f.launch(k, {buf(counter), buf(flags)}, aff(1, 0), 1);
  moert::Model m = mustLoad(b.build());
  for (int32_t threads : {2, 4}) {
    moert::Session s = mustSession(m, threads);
    EXPECT_EQ(s.numThreads(), threads);
    int64_t T = threads;
    std::vector<float> x(static_cast<size_t>(T), 0.0f);
    ASSERT_TRUE(s.run("", {f32(x, {T, 1})}));
    EXPECT_EQ(ints(*s.output(0)), std::vector<int32_t>(size_t(T), 1))
        << threads << " chunks did not all run at once on " << threads << " threads";
  }
}

TEST(Launch, KernelsCallLibm) {
  ArtifactBuilder b(kMaxT);
  uint32_t k = b.testKernel("moert_test_silu", 2);
  FunctionBuilder f = b.function("silu");
  uint32_t x = f.buffer(32, 0), y = f.buffer(32, 0);
  f.input("x", fb::DType::F32, {-1, 8}, x);
  f.output("y", fb::DType::F32, {-1, 8}, y);
  f.launch(k, {buf(x), buf(y)}, aff(8, 0), 5);
  moert::Model m = mustLoad(b.build());
  moert::Session s = mustSession(m, 3);
  for (int64_t T : {1, 3, 16}) {
    std::vector<float> x = randomFloats(static_cast<size_t>(8 * T), 4, -6.0f, 6.0f);
    std::vector<float> want(x.size());
    for (size_t i = 0; i < x.size(); ++i)
      want[i] = x[i] / (1.0f + std::exp(-x[i]));
    EXPECT_TRUE(near(runOne(s, x, {T, 8}), want, 1e-6f, 1e-6f));
  }
}

TEST(Fill, RepeatsThe32BitPatternIncludingAPartialTail) {
  ArtifactBuilder b(kMaxT);
  FunctionBuilder f = b.function("fill");
  uint32_t x = f.buffer(4, 0), o = f.buffer(12, 0), z = f.buffer(8, 0), u = f.buffer(8, 0);
  f.input("x", fb::DType::F32, {-1, 1}, x);
  f.output("o", fb::DType::I32, {-1, 3}, o);
  f.output("z", fb::DType::I32, {-1, 2}, z);
  f.output("u", fb::DType::I32, {-1, 2}, u);
  f.fill(buf(o), aff(12, 0), 0xAABBCCDDu);
  f.fill(buf(o), aff(12, -2), 0x11223344u); // the last 2 bytes keep 0xAABB
  f.fill(buf(z), aff(8, 0), 0xFFFFFFFFu);
  f.fill(buf(z), aff(8, 0), 0u);
  f.fill(buf(u), aff(8, 0), 0x3F800000u); // 1.0f
  moert::Model m = mustLoad(b.build());
  moert::Session s = mustSession(m);
  for (int64_t T : {1, 2, 16}) {
    std::vector<float> x(static_cast<size_t>(T), 0.0f);
    ASSERT_TRUE(s.run("", {f32(x, {T, 1})}));
    std::vector<int32_t> o = ints(*s.output(0));
    ASSERT_EQ(o.size(), size_t(3 * T));
    for (size_t i = 0; i + 1 < o.size(); ++i)
      ASSERT_EQ(uint32_t(o[i]), 0x11223344u);
    EXPECT_EQ(uint32_t(o.back()), 0xAABB3344u);
    std::vector<int32_t> z = ints(*s.output(1));
    EXPECT_TRUE(std::all_of(z.begin(), z.end(), [](int32_t v) { return v == 0; }));
    std::vector<float> u = values(*s.output(2));
    EXPECT_TRUE(std::all_of(u.begin(), u.end(), [](float v) { return v == 1.0f; }));
  }
}

TEST(Copy, CopiesBytesOfTFromBuffersAndWeights) {
  ArtifactBuilder b(kMaxT);
  std::vector<float> table = {1.5f, -2.0f, 3.25f, 4.0f};
  uint32_t W = b.addWeightF32("table", {4}, table);
  FunctionBuilder f = b.function("copy");
  uint32_t x = f.buffer(32, 0), y = f.buffer(32, 0), t = f.buffer(0, 16), p = f.buffer(4, 0);
  f.input("x", fb::DType::F32, {-1, 8}, x);
  f.output("y", fb::DType::F32, {-1, 8}, y);
  f.output("t", fb::DType::F32, {4}, t);
  f.output("prefix", fb::DType::F32, {-1}, p);
  f.copy(buf(x), buf(y), aff(32, 0));
  f.copy(wt(W), buf(t), aff(0, 16));
  f.copy(buf(x), buf(p), aff(4, 0)); // the first T floats of x
  moert::Model m = mustLoad(b.build());
  moert::Session s = mustSession(m);
  for (int64_t T = 1; T <= kMaxT; ++T) {
    std::vector<float> x = randomFloats(static_cast<size_t>(8 * T), 50 + T);
    ASSERT_TRUE(s.run("", {f32(x, {T, 8})}));
    EXPECT_EQ(values(*s.output(0)), x);
    EXPECT_EQ(values(*s.output(1)), table);
    EXPECT_EQ(values(*s.output(2)), std::vector<float>(x.begin(), x.begin() + T));
  }
}

TEST(Weights, RandomUniformWeightsAreGeneratedAtLoad) {
  ArtifactBuilder b(kMaxT);
  uint32_t W = b.addWeightF32("synthetic", {3, 100}, std::vector<float>(300));
  b.model.weights[W]->init = fb::WeightInit::RandomUniform;
  b.model.weights[W]->seed = 99;
  FunctionBuilder f = b.function("copy");
  uint32_t x = f.buffer(4, 0), t = f.buffer(0, 1200);
  f.input("x", fb::DType::F32, {-1}, x);
  f.output("t", fb::DType::F32, {3, 100}, t);
  f.copy(wt(W), buf(t), aff(0, 1200));
  moert::Model m = mustLoad(b.build());
  moert::Session s = mustSession(m);
  std::vector<float> in(1);
  ASSERT_TRUE(s.run("", {f32(in, {1})}));
  std::vector<float> v = values(*s.output(0));
  ASSERT_EQ(v.size(), 300u);
  float bound = moert::randomUniformBound(100);
  EXPECT_EQ(bound, 0.1f);
  double sum = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(v[i], moert::randomUniformWeight(99, i, bound)) << i;
    EXPECT_LT(std::fabs(v[i]), bound);
    sum += v[i];
  }
  EXPECT_LT(std::fabs(sum / 300), 0.02); // centred: the mean of U(-0.1, 0.1)
  EXPECT_NE(v[0], v[1]);
}

// A synthetic weight in panels holds the same logical values as a row-major
// one: element (e, n, k) is randomUniformWeight(seed, (e * N + n) * K + k)
// (for bf16 rounded to bf16; K = 5 leaves bf16's last pair half empty),
// read back through products with unit rows of A.
TEST(Weights, RandomUniformWeightsInPanelsHoldTheRowMajorValues) {
  constexpr int64_t E = 2, N = 33, K = 5;
  for (bool bf16 : {false, true}) {
    fb::DType dt = bf16 ? fb::DType::BF16 : fb::DType::F32;
    ArtifactBuilder b(kMaxT);
    uint32_t W = b.addWeight("synthetic", dt, {E, N, K}, nullptr, 0);
    b.model.weights[W]->init = fb::WeightInit::RandomUniform;
    b.model.weights[W]->seed = 7;
    b.model.weights[W]->layout = fb::WeightLayout::Panels32;
    addGroupedFunction(b, W, E, N, K, dt);
    moert::Model m = mustLoad(b.build());
    moert::Session s = mustSession(m);
    // Rows e * K + j of A are unit vector j, for expert e: C's row is column
    // j of expert e's matrix.
    std::vector<float> in(static_cast<size_t>(E * K * K), 0.0f);
    for (int64_t r = 0; r < E * K; ++r)
      in[r * K + r % K] = 1.0f;
    std::vector<uint16_t> in16(in.size());
    for (size_t i = 0; i < in.size(); ++i)
      in16[i] = moert::floatToBf16(in[i]);
    std::vector<int32_t> offs = {0, int32_t(K), int32_t(2 * K)};
    moert_tensor_t a = bf16 ? moert::tensor(MOERT_BF16, {E * K, K}, in16.data(), in16.size() * 2)
                            : f32(in, {E * K, K});
    ASSERT_TRUE(s.run("", {a, i32(offs, {E + 1})}));
    std::vector<float> v = values(*s.output(0));
    float bound = moert::randomUniformBound(K);
    for (int64_t e = 0; e < E; ++e)
      for (int64_t j = 0; j < K; ++j)
        for (int64_t n = 0; n < N; ++n) {
          float want = moert::randomUniformWeight(7, (e * N + n) * K + j, bound);
          if (bf16)
            want = moert::bf16ToFloat(moert::floatToBf16(want));
          EXPECT_EQ(v[(e * K + j) * N + n], want)
              << (bf16 ? "bf16 " : "f32 ") << e << " " << n << " " << j;
        }
  }
}

// A synthetic weight stacked from two (Weight.seed_split, moec's
// exec.concat_weights): rows [0, split) of each matrix are those of a weight
// [E, split, K] with `seed`, the rest those of one [E, N - split, K] with
// `seed2`, in panels and row-major alike.
TEST(Weights, RandomUniformWeightsStackedFromTwoSeeds) {
  constexpr int64_t E = 2, N = 40, K = 5, Split = 16;
  for (bool panels : {false, true}) {
    ArtifactBuilder b(kMaxT);
    uint32_t W = b.addWeight("stacked", fb::DType::F32, {E, N, K}, nullptr, 0);
    b.model.weights[W]->init = fb::WeightInit::RandomUniform;
    b.model.weights[W]->seed = 7;
    b.model.weights[W]->seed2 = 9;
    b.model.weights[W]->seed_split = Split;
    if (panels)
      b.model.weights[W]->layout = fb::WeightLayout::Panels32;
    addGroupedFunction(b, W, E, N, K, fb::DType::F32);
    moert::Model m = mustLoad(b.build());
    moert::Session s = mustSession(m);
    std::vector<float> in(static_cast<size_t>(E * K * K), 0.0f);
    for (int64_t r = 0; r < E * K; ++r)
      in[r * K + r % K] = 1.0f;
    std::vector<int32_t> offs = {0, int32_t(K), int32_t(2 * K)};
    ASSERT_TRUE(s.run("", {f32(in, {E * K, K}), i32(offs, {E + 1})}));
    std::vector<float> v = values(*s.output(0));
    float bound = moert::randomUniformBound(K);
    for (int64_t e = 0; e < E; ++e)
      for (int64_t j = 0; j < K; ++j)
        for (int64_t n = 0; n < N; ++n) {
          float want = n < Split
                           ? moert::randomUniformWeight(7, (e * Split + n) * K + j, bound)
                           : moert::randomUniformWeight(9, (e * (N - Split) + n - Split) * K + j,
                                                        bound);
          EXPECT_EQ(v[(e * K + j) * N + n], want) << (panels ? "panels " : "rows ") << e << " "
                                                  << n << " " << j;
        }
  }
}

namespace {

/// A toy top-1 MoE layer through every piece: route (kernel) -> permute
/// (kernel) -> GroupedGemm -> unpermute (kernel).
///   moe(x: f32 [T, 8]) -> y: f32 [T, 8], y[t] = W[argmax x[t, 0:4]] · x[t]
struct ToyMoe {
  std::vector<float> w = randomFloats(4 * 8 * 8, 31);
  Bytes bytes;
  ToyMoe() {
    ArtifactBuilder b(kMaxT);
    uint32_t W = b.addWeightF32("experts", {4, 8, 8}, w);
    uint32_t route = b.testKernel("moert_test_route4", 3);
    uint32_t perm = b.testKernel("moert_test_permute8", 3);
    uint32_t unperm = b.testKernel("moert_test_unpermute8", 3);
    FunctionBuilder f = b.function("moe");
    uint32_t x = f.buffer(32, 0), off = f.buffer(0, 20), p = f.buffer(4, 0),
             xp = f.buffer(32, 0), yp = f.buffer(32, 0), y = f.buffer(32, 0);
    f.input("x", fb::DType::F32, {-1, 8}, x);
    f.output("y", fb::DType::F32, {-1, 8}, y);
    f.launch(route, {buf(x), buf(off), buf(p)}, aff(0, 1), 1);
    f.launch(perm, {buf(x), buf(p), buf(xp)}, aff(1, 0), 3);
    f.groupedGemm(buf(xp), wt(W), buf(yp), buf(off), aff(1, 0), 4, 8, 8);
    f.launch(unperm, {buf(yp), buf(p), buf(y)}, aff(1, 0), 3);
    bytes = b.build();
  }
  std::vector<float> reference(const std::vector<float> &x, int64_t T) const {
    std::vector<float> y(static_cast<size_t>(8 * T));
    for (int64_t t = 0; t < T; ++t) {
      int e = 0;
      for (int j = 1; j < 4; ++j)
        if (x[t * 8 + j] > x[t * 8 + e])
          e = j;
      for (int n = 0; n < 8; ++n) {
        double acc = 0;
        for (int k = 0; k < 8; ++k)
          acc += double(w[(e * 8 + n) * 8 + k]) * x[t * 8 + k];
        y[t * 8 + n] = static_cast<float>(acc);
      }
    }
    return y;
  }
};

} // namespace

TEST(Program, ToyMoeLayerMatchesTheReferenceForEveryT) {
  ToyMoe toy;
  moert::Model m = mustLoad(toy.bytes);
  for (int32_t threads : {1, 3}) {
    moert::Session s = mustSession(m, threads);
    for (int64_t T = 1; T <= kMaxT; ++T) {
      std::vector<float> x = randomFloats(static_cast<size_t>(8 * T), 1000 + T);
      EXPECT_TRUE(near(runOne(s, x, {T, 8}), toy.reference(x, T)))
          << "T = " << T << ", threads = " << threads;
    }
  }
}
