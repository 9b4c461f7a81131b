//===- ExchangeTest.cpp - expert parallelism: exchanges, local groups ------===//
//
// A hand-made sharded function: each rank's rows x [T, 4] grouped by expert
// as its `offsets` input says go to the slots that hold their experts
// (Exchange), each rank multiplies the rows it received by its slots'
// matrices (a grouped GEMM with a slot map), and the results come back
// (Exchange back): y[r] = W[expert of r] · x[r] on every rank, whatever the
// placement, checked against a loop. Then the failures: an overflow fails
// every rank alike and leaves the group usable; a rank that fails or never
// comes does not leave the others waiting; ranks with different artifacts
// or placements are refused.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include <chrono>
#include <cmath>
#include <functional>
#include <thread>

using namespace moert::test;
namespace fb = moert::fb;

namespace {

constexpr int64_t kH = 4;

struct Sharded {
  int64_t ranks, slots, experts, maxT, recvRows;
  std::vector<float> w; // [experts, kH, kH]
  Bytes bytes;

  /// `tweak` changes the table before it is written (to break it).
  Sharded(int64_t ranks, int64_t slots, int64_t experts, int64_t maxT, int64_t recvRows = 0,
          const std::function<void(fb::ModelT &)> &tweak = {})
      : ranks(ranks), slots(slots), experts(experts), maxT(maxT),
        recvRows(recvRows ? recvRows : ranks * maxT) {
    w = randomFloats(static_cast<size_t>(experts * kH * kH), 5);
    ArtifactBuilder b(maxT);
    uint32_t W = b.addWeightPanels("w", {experts, kH, kH}, w);
    FunctionBuilder f = b.function("forward");
    uint32_t x = f.buffer(4 * kH, 0), off = f.buffer(0, 4 * (experts + 1));
    uint32_t recv = f.buffer(0, 4 * kH * this->recvRows), yr = f.buffer(0, 4 * kH * this->recvRows);
    uint32_t soff = f.buffer(0, 4 * (slots + 1)), smap = f.buffer(0, 4 * slots),
             counts = f.buffer(0, 4 * ranks * slots), y = f.buffer(4 * kH, 0);
    f.input("x", fb::DType::F32, {-1, kH}, x);
    f.input("offsets", fb::DType::I32, {experts + 1}, off);
    FunctionBuilder::Exchange fwd{buf(x),      buf(off),    buf(soff),  buf(smap),
                                  buf(counts), buf(recv),   aff(1, 0),  4 * kH,
                                  this->recvRows, ranks,    slots,      experts};
    f.exchange(fwd);
    f.groupedGemmMapped(buf(recv), wt(W), buf(yr), buf(soff), buf(smap), aff(0, this->recvRows),
                        slots, kH, kH);
    FunctionBuilder::Exchange back = fwd;
    back.src = buf(yr);
    back.dst = buf(y);
    back.back = true;
    f.exchange(back);
    f.output("y", fb::DType::F32, {-1, kH}, y);
    if (tweak)
      tweak(b.model);
    bytes = b.build();
  }

  /// y[r] = W[e] · x[r] for the expert e whose rows hold r.
  std::vector<float> expected(const std::vector<float> &x, const std::vector<int32_t> &off) const {
    std::vector<float> y(x.size(), 0.0f);
    for (int64_t e = 0; e < experts; ++e)
      for (int32_t r = off[static_cast<size_t>(e)]; r < off[static_cast<size_t>(e + 1)]; ++r)
        for (int64_t n = 0; n < kH; ++n) {
          float acc = 0;
          for (int64_t k = 0; k < kH; ++k)
            acc = std::fma(x[static_cast<size_t>(r * kH + k)],
                           w[static_cast<size_t>((e * kH + n) * kH + k)], acc);
          y[static_cast<size_t>(r * kH + n)] = acc;
        }
    return y;
  }
};

moert_session_options_t rankOptions(const moert_communicator_t *comm,
                                    const std::vector<int32_t> *placement = nullptr) {
  moert_session_options_t o;
  moert_session_options_init(&o);
  o.threads = 1;
  o.communicator = comm;
  if (placement) {
    o.placement = placement->data();
    o.placement_size = placement->size();
  }
  return o;
}

/// Runs body(rank) on one thread per rank.
void onRanks(int64_t ranks, const std::function<void(int32_t)> &body) {
  std::vector<std::thread> threads;
  for (int32_t r = 0; r < ranks; ++r)
    threads.emplace_back(body, r);
  for (std::thread &t : threads)
    t.join();
}

/// Rows of T tokens spread over the experts (some with none).
std::vector<int32_t> offsetsFor(int64_t T, int64_t experts, uint32_t seed) {
  std::vector<int32_t> off(static_cast<size_t>(experts + 1), 0);
  std::mt19937 rng(seed);
  for (int64_t t = 0; t < T; ++t)
    ++off[1 + rng() % static_cast<uint32_t>(experts)];
  for (int64_t e = 0; e < experts; ++e)
    off[static_cast<size_t>(e + 1)] += off[static_cast<size_t>(e)];
  return off;
}

#define EXPECT_MESSAGE(status, substring)                                                    \
  EXPECT_NE((status).message().find(substring), std::string::npos)                          \
      << "message: " << (status).message() << "\nexpected to contain: " << (substring)

void checkPlacement(int64_t ranks, int64_t slots, const std::vector<int32_t> *placement,
                    const std::vector<int64_t> &tokens) {
  Sharded art(ranks, slots, 6, 16);
  moert::Model m = mustLoad(art.bytes);
  auto group = moert::LocalGroup::create(static_cast<int32_t>(ranks), 20000);
  ASSERT_TRUE(group) << group.status().message();
  onRanks(ranks, [&](int32_t r) {
    auto s = moert::Session::create(m, "cpu", rankOptions(group->communicator(r), placement));
    ASSERT_TRUE(s) << s.status().message();
    for (int round = 0; round < 3; ++round) {
      int64_t T = tokens[static_cast<size_t>((r + round) % tokens.size())];
      std::vector<float> x = randomFloats(static_cast<size_t>(T * kH), 100 + r + 7 * round);
      std::vector<int32_t> off = offsetsFor(T, art.experts, 200 + r + 7 * round);
      ASSERT_TRUE(s->run("forward", {f32(x, {T, kH}), i32(off, {art.experts + 1})}));
      auto y = s->output(0);
      ASSERT_TRUE(y);
      EXPECT_TRUE(near(values(*y), art.expected(x, off)))
          << "rank " << r << " of " << ranks << ", round " << round << ", T = " << T;
    }
  });
}

} // namespace

TEST(Exchange, RowsReachTheirExpertsAndComeBack) {
  checkPlacement(1, 6, nullptr, {5});
  checkPlacement(2, 3, nullptr, {7, 0, 16});
  checkPlacement(3, 2, nullptr, {1, 16, 0, 9});
  // Any placement: reversed, and with replicas (slots to spare) and empty slots.
  std::vector<int32_t> reversed = {5, 4, 3, 2, 1, 0};
  checkPlacement(2, 3, &reversed, {7, 3});
  std::vector<int32_t> replicas = {0, 1, 2, 3, -1, 4, 5, 0, 1, 3};
  checkPlacement(2, 5, &replicas, {16, 2, 0});
}

TEST(Exchange, AnOverflowFailsEveryRankAlikeAndTheGroupStaysUsable) {
  Sharded art(2, 3, 6, 16, /*recvRows=*/10);
  moert::Model m = mustLoad(art.bytes);
  auto group = moert::LocalGroup::create(2, 20000);
  ASSERT_TRUE(group);
  onRanks(2, [&](int32_t r) {
    auto s = moert::Session::create(m, "cpu", rankOptions(group->communicator(r)));
    ASSERT_TRUE(s) << s.status().message();
    // Every row to expert 0 (rank 0): 2 x 8 rows > 10.
    std::vector<float> x = randomFloats(8 * kH, 3);
    std::vector<int32_t> off = {0, 8, 8, 8, 8, 8, 8};
    moert::Status st = s->run("forward", {f32(x, {8, kH}), i32(off, {7})});
    EXPECT_EQ(st.code(), MOERT_EXECUTION_ERROR);
    EXPECT_MESSAGE(st, "rank 0 would receive 16 rows, more than the exchange's bound of 10");
    std::vector<int32_t> fits = {0, 4, 4, 4, 4, 4, 4};
    std::vector<float> x4(x.begin(), x.begin() + 4 * kH);
    EXPECT_TRUE(s->run("forward", {f32(x4, {4, kH}), i32(fits, {7})}));
  });
}

TEST(Exchange, AFailingRankDoesNotLeaveTheOthersWaiting) {
  Sharded art(3, 2, 6, 16);
  moert::Model m = mustLoad(art.bytes);
  // A long timeout: the failing rank's abort, not the timeout, ends the wait.
  auto group = moert::LocalGroup::create(3, 600000);
  ASSERT_TRUE(group);
  std::vector<double> seconds(3);
  onRanks(3, [&](int32_t r) {
    auto s = moert::Session::create(m, "cpu", rankOptions(group->communicator(r)));
    ASSERT_TRUE(s) << s.status().message();
    int64_t T = r == 1 ? 17 : 4; // rank 1: more than max_tokens
    std::vector<float> x = randomFloats(static_cast<size_t>(T * kH), 3);
    std::vector<int32_t> off = offsetsFor(T, 6, 4);
    auto start = std::chrono::steady_clock::now();
    moert::Status st = s->run("forward", {f32(x, {T, kH}), i32(off, {7})});
    seconds[static_cast<size_t>(r)] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_FALSE(st.ok());
    if (r == 1) {
      EXPECT_MESSAGE(st, "T = 17 tokens is out of range");
    } else {
      EXPECT_MESSAGE(st, "rank 1 failed: run 'forward': T = 17 tokens is out of range");
    }
    // The group is broken for good: the next run fails at once.
    if (r != 1) {
      EXPECT_MESSAGE(s->run("forward", {f32(x, {T, kH}), i32(off, {7})}), "rank 1 failed");
    }
  });
  for (double s : seconds)
    EXPECT_LT(s, 60.0);
}

TEST(Exchange, ARankThatNeverComesTimesOut) {
  Sharded art(2, 3, 6, 16);
  moert::Model m = mustLoad(art.bytes);
  auto group = moert::LocalGroup::create(2, 300);
  ASSERT_TRUE(group);
  onRanks(2, [&](int32_t r) {
    auto s = moert::Session::create(m, "cpu", rankOptions(group->communicator(r)));
    ASSERT_TRUE(s) << s.status().message();
    if (r == 1)
      return; // never runs
    std::vector<float> x = randomFloats(4 * kH, 3);
    std::vector<int32_t> off = offsetsFor(4, 6, 4);
    moert::Status st = s->run("forward", {f32(x, {4, kH}), i32(off, {7})});
    EXPECT_EQ(st.code(), MOERT_EXECUTION_ERROR);
    EXPECT_MESSAGE(st, "rank 0 waited 300 ms in exchange round");
  });
}

TEST(Exchange, RanksMustHoldTheSameArtifactAndPlacement) {
  Sharded a(2, 3, 6, 16), b(2, 3, 6, 8);
  moert::Model ma = mustLoad(a.bytes), mb = mustLoad(b.bytes);
  {
    auto group = moert::LocalGroup::create(2, 20000);
    ASSERT_TRUE(group);
    onRanks(2, [&](int32_t r) {
      auto s = moert::Session::create(r == 0 ? ma : mb, "cpu", rankOptions(group->communicator(r)));
      ASSERT_FALSE(s);
      EXPECT_MESSAGE(s.status(), "holds another artifact than rank");
    });
  }
  {
    auto group = moert::LocalGroup::create(2, 20000);
    ASSERT_TRUE(group);
    std::vector<int32_t> one = {0, 1, 2, 3, 4, 5}, other = {5, 4, 3, 2, 1, 0};
    onRanks(2, [&](int32_t r) {
      auto s = moert::Session::create(ma, "cpu",
                                      rankOptions(group->communicator(r), r ? &other : &one));
      ASSERT_FALSE(s);
      EXPECT_MESSAGE(s.status(), "holds another placement than rank");
    });
  }
  // Without a communicator, with one of the wrong size, or for a model that
  // is not sharded.
  auto none = moert::Session::create(ma, "cpu", rankOptions(nullptr));
  EXPECT_MESSAGE(none.status(), "its sessions need a communicator");
  auto three = moert::LocalGroup::create(3, 1000);
  ASSERT_TRUE(three);
  auto wrong = moert::Session::create(ma, "cpu", rankOptions(three->communicator(0)));
  EXPECT_MESSAGE(wrong.status(), "the communicator is rank 0 of 3, but the artifact shards its "
                                 "experts over 2 ranks");
}

TEST(Exchange, RanksRunWithTheSameRouterNoise) {
  // A function with run parameters: before each run the ranks exchange
  // their T and router noise, which must agree (params[3], the row of a
  // rank's first token among all the ranks', is checked end to end by
  // generic_noisy_gating.test).
  Sharded art(2, 3, 6, 16, 0, [](fb::ModelT &m) { addRunParams(*m.functions[0], 16); });
  moert::Model m = mustLoad(art.bytes);
  auto group = moert::LocalGroup::create(2, 20000);
  ASSERT_TRUE(group) << group.status().message();
  onRanks(2, [&](int32_t r) {
    auto s = moert::Session::create(m, "cpu", rankOptions(group->communicator(r)));
    ASSERT_TRUE(s) << s.status().message();
    int64_t T = r == 0 ? 3 : 5;
    std::vector<float> x = randomFloats(static_cast<size_t>(T * kH), 7 + r);
    std::vector<int32_t> off = offsetsFor(T, art.experts, 9 + r);
    ASSERT_TRUE(s->setRouterNoise(true, 42));
    ASSERT_TRUE(s->run("forward", {f32(x, {T, kH}), i32(off, {art.experts + 1})}));
    // Another seed on one rank fails both runs alike, and they stay usable.
    ASSERT_TRUE(s->setRouterNoise(true, r == 0 ? 42 : 43));
    moert::Status bad = s->run("forward", {f32(x, {T, kH}), i32(off, {art.experts + 1})});
    EXPECT_EQ(bad.code(), MOERT_INVALID_ARGUMENT);
    EXPECT_MESSAGE(bad, "rank 1 runs with router noise on (seed 43), rank 0 with on (seed 42): "
                        "every rank must call moert_session_set_router_noise alike");
    ASSERT_TRUE(s->setRouterNoise(r == 0, 42));
    bad = s->run("forward", {f32(x, {T, kH}), i32(off, {art.experts + 1})});
    EXPECT_MESSAGE(bad, "rank 1 runs with router noise off, rank 0 with on (seed 42)");
    ASSERT_TRUE(s->setRouterNoise(false, 0));
    ASSERT_TRUE(s->run("forward", {f32(x, {T, kH}), i32(off, {art.experts + 1})}));
  });
}

TEST(Exchange, LocalGroupChecksItsArgumentsAndMessages) {
  moert_local_group_t *g = nullptr;
  moert::Status s = moert::Status::adopt(moert_local_group_create(0, 100, &g));
  EXPECT_EQ(s.code(), MOERT_INVALID_ARGUMENT);
  EXPECT_MESSAGE(s, "a local group takes 1 to 1024 ranks");
  EXPECT_FALSE(moert::Status::adopt(moert_local_group_create(2, 0, &g)));
  ASSERT_TRUE(moert::Status::adopt(moert_local_group_create(2, 5000, &g)));
  EXPECT_EQ(moert_local_group_communicator(g, 2), nullptr);
  // Sizes that do not match fail the round on both ranks.
  std::vector<std::string> errors(2);
  onRanks(2, [&](int32_t r) {
    const moert_communicator_t *c = moert_local_group_communicator(g, r);
    int32_t out[2] = {r, r}, in[2] = {0, 0};
    moert_message_t send{1 - r, out, r == 0 ? 8u : 4u}, recv{1 - r, in, 4};
    char err[256] = {0};
    int rc = c->exchange(c->context, &send, 1, &recv, 1, err, sizeof err);
    EXPECT_NE(rc, 0);
    errors[static_cast<size_t>(r)] = err;
  });
  EXPECT_NE(errors[1].find("rank 0 sent 8 bytes where rank 1 expects 4"), std::string::npos)
      << errors[1];
  EXPECT_EQ(errors[0], errors[1]);
  moert_local_group_free(g);
}

TEST(Exchange, TheLoaderChecksExchangesAndMaps) {
  auto command = [](fb::ModelT &m, size_t i) -> fb::CommandEntryT & {
    return *m.functions[0]->commands[i];
  };
  struct Case {
    std::function<void(fb::ModelT &)> tweak;
    const char *message;
  } cases[] = {
      {[&](fb::ModelT &m) { command(m, 0).command.AsExchange()->counts->mutate_index(1); },
       "command 0 (Exchange): operand counts"},
      {[&](fb::ModelT &m) { command(m, 0).command.AsExchange()->ranks = 0; },
       "command 0 (Exchange): ranks is 0"},
      {[&](fb::ModelT &m) { command(m, 0).command.AsExchange()->recv_rows = 1000; },
       "command 0 (Exchange): operand dst"},
      {[&](fb::ModelT &m) { command(m, 2).command.AsExchange()->dst->mutate_index(1); },
       "command 2 (Exchange): operand dst"},
      {[&](fb::ModelT &m) { command(m, 0).command.AsExchange()->slots = 4; },
       "command 0 (Exchange): operand slot_offsets"},
      {[&](fb::ModelT &m) {
         command(m, 1).command.AsGroupedGemm()->map->mutate_kind(fb::RefKind::Weight);
       },
       "command 1 (GroupedGemm): operand map"},
  };
  for (const Case &c : cases) {
    Sharded art(2, 3, 6, 16, 0, c.tweak);
    moert::Status s = loadStatus(art.bytes);
    EXPECT_EQ(s.code(), MOERT_INVALID_ARTIFACT) << c.message;
    EXPECT_MESSAGE(s, c.message);
  }
}

TEST(Exchange, TheWayBackChecksEveryCount) {
  // A back exchange whose plan comes from the caller (the loader cannot
  // know what a buffer will hold): counts that sum right but step outside
  // the received rows are refused, never sent.
  ArtifactBuilder b(8);
  FunctionBuilder f = b.function("back");
  int64_t S = 2, E = 2, R = 1, B = 8;
  uint32_t src = f.buffer(0, 4 * kH * B), off = f.buffer(0, 4 * (E + 1)),
           soff = f.buffer(0, 4 * (S + 1)), smap = f.buffer(0, 4 * S),
           counts = f.buffer(0, 4 * R * S), y = f.buffer(4 * kH, 0);
  f.input("src", fb::DType::F32, {B, kH}, src);
  f.input("offsets", fb::DType::I32, {E + 1}, off);
  f.input("slot_offsets", fb::DType::I32, {S + 1}, soff);
  f.input("counts", fb::DType::I32, {R * S}, counts);
  FunctionBuilder::Exchange back{buf(src), buf(off), buf(soff), buf(smap), buf(counts),
                                 buf(y),   aff(1, 0), 4 * kH,   B,         R,
                                 S,        E,         true};
  f.exchange(back);
  f.output("y", fb::DType::F32, {-1, kH}, y);
  moert::Model m = mustLoad(b.build());
  auto group = moert::LocalGroup::create(1, 5000);
  ASSERT_TRUE(group);
  auto s = moert::Session::create(m, "cpu", rankOptions(group->communicator(0)));
  ASSERT_TRUE(s) << s.status().message();
  std::vector<float> rows = randomFloats(static_cast<size_t>(B * kH), 1);
  auto run = [&](std::vector<int32_t> off, std::vector<int32_t> soff, std::vector<int32_t> c) {
    return s->run("back", {f32(rows, {B, kH}), i32(off, {E + 1}), i32(soff, {S + 1}),
                           i32(c, {R * S})});
  };
  // Slot 0: -3 rows, slot 1: 5 rows (the slot offsets agree: 0, -3, 2).
  // (No input has a token dimension: T = 1, one row to receive back.) The
  // plan the forward exchange would write: expert 1's row comes back.
  EXPECT_TRUE(run({0, 0, 1}, {0, 0, 1}, {0, 1}));
  // Bad plans are refused before the round (the failed runs also break the
  // group: their abort).
  moert::Status st = run({0, 0, 1}, {0, -3, 2}, {-3, 5});
  EXPECT_EQ(st.code(), MOERT_EXECUTION_ERROR);
  EXPECT_MESSAGE(st, "the exchange's counts (-3 rows from rank 0 for slot 0) do not fit its 8 rows");
  EXPECT_MESSAGE(run({0, 0, 1}, {0, 0, 9}, {0, 9}), "(9 rows from rank 0 for slot 1) do not fit");
  EXPECT_MESSAGE(run({0, 0, 1}, {0, 1, 2}, {0, 2}), "slot offsets do not match its counts");
}

TEST(Exchange, OneRankEnteringTwiceBreaksTheGroup) {
  moert_local_group_t *g = nullptr;
  ASSERT_TRUE(moert::Status::adopt(moert_local_group_create(2, 2000, &g)));
  const moert_communicator_t *c = moert_local_group_communicator(g, 0);
  std::vector<std::string> errors(2);
  onRanks(2, [&](int32_t t) { // two threads, both rank 0
    char err[256] = {0};
    EXPECT_NE(c->exchange(c->context, nullptr, 0, nullptr, 0, err, sizeof err), 0);
    errors[static_cast<size_t>(t)] = err;
  });
  const std::string twice = "rank 0 entered it twice at once";
  EXPECT_TRUE(errors[0].find(twice) != std::string::npos ||
              errors[1].find(twice) != std::string::npos)
      << errors[0] << " / " << errors[1];
  moert_local_group_free(g);
}

TEST(Exchange, ALaunchStopsAtItsLimit) {
  // A launch over a rank's received rows: extent(T) limited by an i32 of
  // the arena (the rows received), read when the launch runs.
  auto build = [](int64_t limitIndex) {
    ArtifactBuilder b(4);
    uint32_t silu = b.testKernel("moert_test_silu", 2);
    FunctionBuilder f = b.function("f");
    uint32_t x = f.buffer(0, 64), n = f.buffer(0, 8), y = f.buffer(0, 64);
    f.input("x", fb::DType::F32, {16}, x);
    f.input("n", fb::DType::I32, {2}, n);
    f.launch(silu, {buf(x), buf(y)}, aff(0, 16), 4);
    fb::LaunchT &l = *f.f.commands.back()->command.AsLaunch();
    l.limit = std::make_unique<fb::Ref>(buf(n));
    l.limit_index = limitIndex;
    l.has_limit = true;
    f.output("y", fb::DType::F32, {16}, y);
    return b.build();
  };
  moert::Model m = mustLoad(build(1));
  moert::Session s = mustSession(m, 2);
  std::vector<float> x = randomFloats(16, 3);
  for (int32_t limit : {5, 0, -3, 100}) {
    std::vector<int32_t> n = {0, limit};
    ASSERT_TRUE(s.run("f", {f32(x, {16}), i32(n, {2})}));
    std::vector<float> y = values(*s.output(0));
    int32_t covered = std::min(std::max(limit, 0), 16);
    for (int32_t i = 0; i < covered; ++i)
      EXPECT_FLOAT_EQ(y[static_cast<size_t>(i)], x[static_cast<size_t>(i)] /
                                                     (1.0f + std::exp(-x[static_cast<size_t>(i)])))
          << "limit " << limit << ", element " << i;
    if (limit == 5) {
      for (size_t i = 5; i < 16; ++i)
        EXPECT_EQ(y[i], 0.0f) << "element " << i << " is past the limit";
    }
  }
  moert::Status st = loadStatus(build(2));
  EXPECT_EQ(st.code(), MOERT_INVALID_ARTIFACT);
  EXPECT_MESSAGE(st, "command 0 (Launch): operand limit");
}

TEST(Exchange, ARankChecksOnlyItsExpertsWeights) {
  // The weight in expert slices (Weight.expert_slices), expert 4's bytes
  // corrupted: a full verification refuses the file; a lazy one leaves
  // each rank to check its own experts' slices before its first run, so
  // the rank holding expert 4 finds it (and the other fails by its abort).
  auto slices = [](fb::ModelT &m) { m.weights[0]->expert_slices = 6; };
  Sharded art(2, 3, 6, 16, 0, slices);
  const fb::Model *table = fb::GetModel(art.bytes.data() + header(art.bytes).table_offset);
  const fb::Weight *w = table->weights()->Get(0);
  ASSERT_EQ(w->expert_slices(), 6u);
  ASSERT_EQ(w->checksums()->size(), 6u); // one chunk per expert here
  uint64_t slice = w->bytes() / 6;
  Bytes bad = art.bytes;
  bad[header(bad).blob_offset + w->offset() + 4 * slice + 5] ^= 1;
  std::string where = "weight 0 ('w'): checksum mismatch in its bytes [" +
                      std::to_string(4 * slice) + ", " + std::to_string(5 * slice) + ")";
  EXPECT_MESSAGE(loadStatus(bad), where);

  moert_load_options_t lazy;
  moert_load_options_init(&lazy);
  lazy.verify = MOERT_VERIFY_LAZY;
  // Rank 0 holds experts 0-2, rank 1 experts 3-5 (the default placement);
  // each loads the file itself, as a process of its own would.
  auto group = moert::LocalGroup::create(2, 20000);
  ASSERT_TRUE(group);
  std::vector<std::string> errors(2);
  onRanks(2, [&](int32_t r) {
    auto m = moert::Model::fromMemory(bad.data(), bad.size(), lazy);
    ASSERT_TRUE(m) << m.status().message();
    auto s = moert::Session::create(*m, "cpu", rankOptions(group->communicator(r)));
    ASSERT_TRUE(s) << s.status().message();
    std::vector<float> x = randomFloats(4 * kH, 3);
    std::vector<int32_t> off = offsetsFor(4, 6, 4);
    errors[static_cast<size_t>(r)] = s->run("forward", {f32(x, {4, kH}), i32(off, {7})}).message();
  });
  EXPECT_NE(errors[1].find(where), std::string::npos) << errors[1];
  EXPECT_NE(errors[0].find("rank 1 failed: run 'forward': " + where), std::string::npos)
      << errors[0];

  // An expert_slices that is not the weight's experts.
  Sharded wrong(2, 3, 6, 16, 0, [](fb::ModelT &m) { m.weights[0]->expert_slices = 5; });
  EXPECT_MESSAGE(loadStatus(wrong.bytes), "weight 0 ('w'): expert_slices is 5, but f32 [6, 4, 4] "
                                          "does not have that many experts of equal bytes");
}
