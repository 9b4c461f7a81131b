//===- ExpertExchange.cpp -------------------------------------------------===//
#include "ExpertExchange.h"

#include "ExpertOffsets.h"
#include "moert/format.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace moert::rt {

namespace {
void store32(uint8_t *p, int64_t i, int32_t v) { std::memcpy(p + 4 * i, &v, 4); }
} // namespace

Status ExpertExchange::create(const Model &model, const moert_session_options_t *options,
                              std::unique_ptr<ExpertExchange> *out) {
  Status s = createChecked(model, options, out);
  // The other ranks wait in the creation's round: a rank that fails before
  // (or in) it tells them.
  const moert_communicator_t *comm = options ? options->communicator : nullptr;
  if (!s && comm && comm->abort)
    comm->abort(comm->context, s.message().c_str());
  return s;
}

Status ExpertExchange::createChecked(const Model &model, const moert_session_options_t *options,
                                     std::unique_ptr<ExpertExchange> *out) {
  out->reset();
  const moert_communicator_t *comm = options ? options->communicator : nullptr;
  const CommandSpec *first = nullptr;
  for (const FunctionSpec &f : model.functions())
    for (const CommandSpec &c : f.commands) {
      if (c.kind != CommandKind::Exchange)
        continue;
      if (first && (c.ranks != first->ranks || c.slots != first->slots ||
                    c.experts != first->experts))
        return error(MOERT_UNSUPPORTED, "the artifact's exchanges differ (function '", f.name,
                     "': ", c.ranks, " ranks of ", c.slots, " slots for ", c.experts,
                     " experts, an earlier one ", first->ranks, " of ", first->slots, " for ",
                     first->experts, "): a session takes one placement");
      first = &c;
    }
  int64_t choiceScores = 0; // the most scores an ExpertChoice gathers
  for (const FunctionSpec &f : model.functions())
    for (const CommandSpec &c : f.commands) {
      if (c.kind != CommandKind::ExpertChoice)
        continue;
      if (!first || c.ranks != first->ranks)
        return error(MOERT_INVALID_ARTIFACT, "function '", f.name, "': an expert choice over ",
                     c.ranks, " ranks, but ",
                     first ? "the exchanges are over " + std::to_string(first->ranks)
                           : std::string("no exchange"));
      choiceScores = std::max(choiceScores, c.ranks * c.maxTokens * c.experts);
    }
  if (!first) {
    if (comm || (options && options->placement))
      return error(MOERT_INVALID_ARGUMENT, "a communicator or placement was given, but the "
                   "artifact does not shard its experts (moe-compile --shard-experts)");
    return Status();
  }
  if (!comm)
    return error(MOERT_INVALID_ARGUMENT, "the artifact shards its experts over ", first->ranks,
                 " ranks (moe-compile --shard-experts): its sessions need a communicator "
                 "(moert_session_options_t.communicator)");
  if (!comm->exchange || comm->size != first->ranks || comm->rank < 0 ||
      comm->rank >= comm->size)
    return error(MOERT_INVALID_ARGUMENT, "the communicator is rank ", comm->rank, " of ",
                 comm->size, comm->exchange ? "" : " without an exchange function",
                 ", but the artifact shards its experts over ", first->ranks, " ranks");
  std::unique_ptr<ExpertExchange> x(new ExpertExchange());
  x->comm_ = *comm;
  int64_t ranks = first->ranks, slots = first->slots, experts = first->experts;
  x->slots_ = slots;
  x->experts_ = experts;
  size_t cells = static_cast<size_t>(ranks * slots);
  if (options->placement) {
    if (options->placement_size != cells)
      return error(MOERT_INVALID_ARGUMENT, "the placement has ", options->placement_size,
                   " entries, expected ranks x slots = ", ranks, " x ", slots, " = ", cells);
    x->placement_.assign(options->placement, options->placement + cells);
  } else {
    x->placement_.resize(cells);
    for (size_t i = 0; i < cells; ++i)
      x->placement_[i] = static_cast<int64_t>(i) < experts ? static_cast<int32_t>(i) : -1;
  }
  // Each expert's replicas in (rank, slot) order; the route: this rank's
  // own replica, else replica (rank mod copies).
  std::vector<std::vector<int32_t>> replicas(static_cast<size_t>(experts));
  for (int64_t r = 0; r < ranks; ++r)
    for (int64_t s = 0; s < slots; ++s) {
      int32_t e = x->placement_[static_cast<size_t>(r * slots + s)];
      if (e < -1 || e >= experts)
        return error(MOERT_INVALID_ARGUMENT, "placement[", r * slots + s, "] (rank ", r,
                     ", slot ", s, ") is ", e, ", expected an expert in [0, ", experts,
                     ") or -1");
      if (e < 0)
        continue;
      auto &list = replicas[static_cast<size_t>(e)];
      if (!list.empty() && list.back() / slots == r)
        return error(MOERT_INVALID_ARGUMENT, "the placement puts expert ", e,
                     " twice on rank ", r);
      list.push_back(static_cast<int32_t>(r * slots + s));
    }
  x->route_.resize(static_cast<size_t>(experts));
  for (int64_t e = 0; e < experts; ++e) {
    const auto &list = replicas[static_cast<size_t>(e)];
    if (list.empty())
      return error(MOERT_INVALID_ARGUMENT, "the placement holds no slot for expert ", e);
    int32_t pick = list[static_cast<size_t>(comm->rank) % list.size()];
    for (int32_t g : list)
      if (g / slots == comm->rank)
        pick = g;
    x->route_[static_cast<size_t>(e)] = pick;
  }
  x->sendCounts_.resize(cells);
  x->totals_.resize(static_cast<size_t>(ranks));
  x->rankTokens_.resize(static_cast<size_t>(ranks));
  try { // the ranks' scores (the loader bounds them by 2^31)
    x->gathered_.resize(static_cast<size_t>(choiceScores));
  } catch (const std::bad_alloc &) {
    return error(MOERT_OUT_OF_MEMORY, "cannot allocate the ", choiceScores,
                 " scores an expert choice gathers from the ranks");
  }
  x->sends_.reserve(cells + static_cast<size_t>(ranks));
  x->recvs_.reserve(cells + static_cast<size_t>(ranks));
  // Every rank must hold the same artifact and placement.
  uint64_t mine[2] = {model.tableChecksum(),
                      checksum64(reinterpret_cast<const uint8_t *>(x->placement_.data()),
                                 cells * sizeof(int32_t))};
  std::vector<uint64_t> theirs(static_cast<size_t>(2 * ranks));
  if (Status s = x->allGather(mine, sizeof mine, theirs.data(),
                              "the check of the ranks' artifacts and placements");
      !s)
    return s;
  for (int32_t r = 0; r < ranks; ++r)
    for (int i = 0; i < 2; ++i)
      if (theirs[static_cast<size_t>(2 * r + i)] != mine[i])
        return error(MOERT_INVALID_ARGUMENT, "rank ", r, " holds ",
                     i == 0 ? "another artifact" : "another placement", " than rank ",
                     comm->rank, ": every rank must create its session with the same "
                     "artifact and placement");
  *out = std::move(x);
  return Status();
}

std::vector<int32_t> ExpertExchange::localExperts() const {
  std::vector<int32_t> out;
  for (int64_t s = 0; s < slots_; ++s)
    if (int32_t e = placement_[static_cast<size_t>(comm_.rank * slots_ + s)]; e >= 0)
      out.push_back(e);
  return out;
}

std::vector<int32_t> ExpertExchange::slotExperts() const {
  auto row = placement_.begin() + comm_.rank * slots_;
  return std::vector<int32_t>(row, row + slots_);
}

Status ExpertExchange::runStart(int64_t T, const int32_t params[3], int64_t *base) {
  collectiveFailure_ = false;
  int32_t ranks = comm_.size;
  int32_t mine[4] = {static_cast<int32_t>(T), params[0], params[1], params[2]};
  std::vector<int32_t> &theirs = startInfo_;
  theirs.resize(static_cast<size_t>(4 * ranks));
  if (Status s = allGather(mine, sizeof mine, theirs.data(),
                           "the tokens and router noise of every rank");
      !s)
    return s;
  // "on (seed S)" or "off" for rank r's noise.
  auto noise = [&](int32_t r) {
    const int32_t *t = &theirs[static_cast<size_t>(4 * r)];
    uint64_t seed = static_cast<uint32_t>(t[2]) | uint64_t(static_cast<uint32_t>(t[3])) << 32;
    return t[1] ? "on (seed " + std::to_string(seed) + ")" : std::string("off");
  };
  *base = 0;
  for (int32_t r = 0; r < ranks; ++r) {
    const int32_t *t = &theirs[static_cast<size_t>(4 * r)];
    if (t[1] != theirs[1] || (t[1] && (t[2] != theirs[2] || t[3] != theirs[3]))) {
      collectiveFailure_ = true; // every rank sees the same
      return error(MOERT_INVALID_ARGUMENT, "rank ", r, " runs with router noise ", noise(r),
                   ", rank 0 with ", noise(0),
                   ": every rank must call moert_session_set_router_noise alike");
    }
    if (r < comm_.rank)
      *base += t[0];
  }
  return Status();
}

// Operands: scores, row_weight, row_token, offsets.
Status ExpertExchange::choose(const CommandSpec &c, int64_t T, void *const *op) {
  collectiveFailure_ = false;
  auto *scores = static_cast<const float *>(op[0]);
  auto *rowWeight = static_cast<float *>(op[1]);
  auto *rowToken = static_cast<int32_t *>(op[2]);
  auto *offsets = static_cast<uint8_t *>(op[3]);
  int32_t ranks = comm_.size, me = comm_.rank;
  int64_t E = c.experts;
  int32_t mine = static_cast<int32_t>(T);
  // Round 1: every rank's token count.
  Status s = allGather(&mine, sizeof mine, rankTokens_.data(), "the tokens per rank");
  int64_t total = 0, base = 0;
  for (int32_t r = 0; s && r < ranks; ++r) {
    int32_t n = rankTokens_[static_cast<size_t>(r)];
    if (n < 0 || n > c.maxTokens) {
      collectiveFailure_ = true; // every rank sees the same counts
      s = error(MOERT_EXECUTION_ERROR, "rank ", r, " reports ", n,
                " tokens, outside the expert choice's [0, ", c.maxTokens, "]");
    }
    base += r < me ? n : 0;
    total += n;
  }
  // Round 2: the scores, gathered in rank order.
  for (int32_t r = 0, at = 0; s && r < ranks; at += rankTokens_[static_cast<size_t>(r++)]) {
    sends_.push_back({r, const_cast<float *>(scores), static_cast<uint64_t>(T * E) * 4});
    recvs_.push_back({r, gathered_.data() + int64_t(at) * E,
                      static_cast<uint64_t>(rankTokens_[static_cast<size_t>(r)] * E) * 4});
  }
  if (s)
    s = round("the scores of every rank");
  sends_.clear();
  recvs_.clear();
  if (!s)
    return s;
  // The choice, as the expert_choice kernel makes it: expert e takes, C
  // times, the best untaken token (strictly greater, so ties go to the lower
  // token; the first untaken one when none is greater). Then this rank's.
  int64_t C = expertChoiceCapacity(c.capacityFactor, total, E), row = 0;
  taken_.resize(static_cast<size_t>(total));
  store32(offsets, 0, 0);
  for (int64_t e = 0; e < E; ++e) {
    std::fill(taken_.begin(), taken_.end(), 0);
    for (int64_t k = 0; k < C; ++k) {
      float best = -std::numeric_limits<float>::infinity();
      int64_t pick = -1;
      for (int64_t t = 0; t < total; ++t) {
        float v = gathered_[static_cast<size_t>(t * E + e)];
        if (!taken_[static_cast<size_t>(t)] && (v > best || pick < 0)) {
          best = v;
          pick = t;
        }
      }
      taken_[static_cast<size_t>(pick)] = 1;
      if (pick < base || pick >= base + T)
        continue;
      if (row >= c.maxRows)
        return error(MOERT_INTERNAL, "the expert choice keeps more than its ", c.maxRows,
                     " rows");
      rowToken[row] = static_cast<int32_t>(pick - base);
      rowWeight[row] = best;
      ++row;
    }
    store32(offsets, e + 1, static_cast<int32_t>(row));
  }
  for (; row < c.maxRows; ++row) {
    rowToken[row] = -1;
    rowWeight[row] = 0.0f;
  }
  return Status();
}

Status ExpertExchange::allGather(const void *mine, uint64_t bytes, void *all, const char *what) {
  for (int32_t r = 0; r < comm_.size; ++r) {
    sends_.push_back({r, const_cast<void *>(mine), bytes});
    recvs_.push_back({r, static_cast<uint8_t *>(all) + r * bytes, bytes});
  }
  return round(what);
}

Status ExpertExchange::round(const char *what) {
  char message[512] = {0};
  int rc = comm_.exchange(comm_.context, sends_.data(), sends_.size(), recvs_.data(),
                          recvs_.size(), message, sizeof message);
  sends_.clear();
  recvs_.clear();
  if (rc != 0) {
    message[sizeof message - 1] = '\0';
    // The communicator failed on every rank, or will tell them.
    collectiveFailure_ = true;
    return error(MOERT_EXECUTION_ERROR, what, ": the exchange failed: ",
                 message[0] ? message : "(no message)");
  }
  return Status();
}

void ExpertExchange::runFailed(const std::string &reason) {
  if (!collectiveFailure_ && comm_.abort)
    comm_.abort(comm_.context, reason.c_str());
  collectiveFailure_ = false;
}

void ExpertExchange::countSends(const uint8_t *offsets) {
  std::fill(sendCounts_.begin(), sendCounts_.end(), 0);
  for (int64_t e = 0; e < experts_; ++e)
    sendCounts_[static_cast<size_t>(route_[static_cast<size_t>(e)])] =
        loadOffset(offsets, e + 1) - loadOffset(offsets, e);
}

Status ExpertExchange::run(const CommandSpec &c, int64_t T, void *const *op, bool deviceRows) {
  collectiveFailure_ = false;
  // The session checked that the command's shape is the placement's.
  Status s = c.back ? back(c, T, op, deviceRows) : forward(c, T, op);
  sends_.clear(); // a round that was not entered leaves its lists behind
  recvs_.clear();
  return s;
}

// Operands: src, offsets, slot_offsets, slot_experts, counts, dst.
Status ExpertExchange::forward(const CommandSpec &c, int64_t T, void *const *op) {
  auto *src = static_cast<const uint8_t *>(op[0]);
  auto *offsets = static_cast<const uint8_t *>(op[1]);
  auto *slotOffsets = static_cast<uint8_t *>(op[2]);
  auto *slotExperts = static_cast<uint8_t *>(op[3]);
  auto *counts = static_cast<uint8_t *>(op[4]);
  auto *dst = static_cast<uint8_t *>(op[5]);
  int32_t ranks = comm_.size, me = comm_.rank;
  int64_t S = slots_, rb = c.rowBytes;
  // A bad offset on this rank is an error here, but the others wait in the
  // round: runFailed aborts them.
  if (Status s = checkExpertOffsets(offsets, experts_, c.rows.at(T)); !s)
    return s;
  countSends(offsets);
  // Round 1: the rows of each slot, from every rank.
  for (int32_t r = 0; r < ranks; ++r) {
    sends_.push_back({r, &sendCounts_[static_cast<size_t>(r * S)],
                      static_cast<uint64_t>(S) * 4});
    recvs_.push_back({r, counts + 4 * r * S, static_cast<uint64_t>(S) * 4});
  }
  if (Status s = round("the rows per slot"); !s)
    return s;
  int64_t total = 0;
  for (int64_t i = 0; i < ranks * S; ++i) {
    int32_t n = loadOffset(counts, i);
    if (n < 0 || n > c.recvRows)
      n = static_cast<int32_t>(c.recvRows) + 1; // a peer's bad count: an overflow
    total += n;
  }
  myTotal_ = static_cast<int32_t>(std::min<int64_t>(total, INT32_MAX));
  // Round 2: every rank's total, so that an overflow fails every rank alike.
  for (int32_t r = 0; r < ranks; ++r) {
    sends_.push_back({r, &myTotal_, 4});
    recvs_.push_back({r, &totals_[static_cast<size_t>(r)], 4});
  }
  if (Status s = round("the rows per rank"); !s)
    return s;
  for (int32_t r = 0; r < ranks; ++r)
    if (totals_[static_cast<size_t>(r)] > c.recvRows) {
      collectiveFailure_ = true;
      return error(MOERT_EXECUTION_ERROR, "rank ", r, " would receive ",
                   totals_[static_cast<size_t>(r)], " rows, more than the exchange's bound of ",
                   c.recvRows, " (moe-compile --shard-recv-rows)");
    }
  int32_t at = 0;
  store32(slotOffsets, 0, 0);
  for (int64_t s = 0; s < S; ++s) {
    for (int32_t r = 0; r < ranks; ++r)
      at += loadOffset(counts, r * S + s);
    store32(slotOffsets, s + 1, at);
    store32(slotExperts, s, placement_[static_cast<size_t>(me * S + s)]);
  }
  // Round 3: the rows, slot by slot; a slot's rows by source rank.
  for (int32_t r = 0; r < ranks; ++r)
    for (int64_t s = 0; s < S; ++s)
      if (int32_t n = sendCounts_[static_cast<size_t>(r * S + s)]) {
        int32_t e = placement_[static_cast<size_t>(r * S + s)];
        sends_.push_back({r, const_cast<uint8_t *>(src) + loadOffset(offsets, e) * rb,
                          static_cast<uint64_t>(n * rb)});
      }
  if (Status s = slotMessages(counts, slotOffsets, c.recvRows, dst, rb, &recvs_); !s)
    return s;
  return round("the rows to the experts");
}

Status ExpertExchange::slotMessages(const uint8_t *counts, const uint8_t *slotOffsets,
                                    int64_t recvRows, uint8_t *base, int64_t rowBytes,
                                    std::vector<moert_message_t> *out) {
  // Slot by slot, each slot's rows by rank: each rank's messages in slot
  // order, as it sends (or receives) them.
  int64_t row = 0;
  for (int64_t s = 0; s < slots_; ++s) {
    if (loadOffset(slotOffsets, s) != row)
      return error(MOERT_EXECUTION_ERROR, "the exchange's slot offsets do not match its counts");
    for (int32_t r = 0; r < comm_.size; ++r) {
      int64_t n = loadOffset(counts, r * slots_ + s);
      if (n < 0 || n > recvRows - row)
        return error(MOERT_EXECUTION_ERROR, "the exchange's counts (", n, " rows from rank ", r,
                     " for slot ", s, ") do not fit its ", recvRows, " rows");
      if (n)
        out->push_back({r, base + row * rowBytes, static_cast<uint64_t>(n * rowBytes)});
      row += n;
    }
  }
  if (loadOffset(slotOffsets, slots_) != row)
    return error(MOERT_EXECUTION_ERROR, "the exchange's slot offsets do not match its counts");
  return Status();
}

Status ExpertExchange::back(const CommandSpec &c, int64_t T, void *const *op, bool deviceRows) {
  auto *src = static_cast<const uint8_t *>(op[0]);
  auto *offsets = static_cast<const uint8_t *>(op[1]);
  auto *slotOffsets = static_cast<const uint8_t *>(op[2]);
  auto *counts = static_cast<const uint8_t *>(op[4]);
  auto *dst = static_cast<uint8_t *>(op[5]);
  int32_t ranks = comm_.size;
  int64_t S = slots_, rb = c.rowBytes, rows = c.rows.at(T);
  if (Status s = checkExpertOffsets(offsets, experts_, rows); !s)
    return s;
  // The forward exchange's plan (or whatever the arena holds there): every
  // count checked, so that no message reaches outside src.
  if (Status s = slotMessages(counts, slotOffsets, c.recvRows, const_cast<uint8_t *>(src), rb,
                              &sends_);
      !s)
    return s;
  countSends(offsets);
  for (int32_t r = 0; r < ranks; ++r)
    for (int64_t s = 0; s < S; ++s)
      if (int32_t n = sendCounts_[static_cast<size_t>(r * S + s)]) {
        int32_t e = placement_[static_cast<size_t>(r * S + s)];
        recvs_.push_back({r, dst + loadOffset(offsets, e) * rb, static_cast<uint64_t>(n * rb)});
      }
  int64_t used = loadOffset(offsets, experts_);
  if (used < rows && !deviceRows)
    std::memset(dst + used * rb, 0, static_cast<size_t>((rows - used) * rb));
  return round("the experts' results back");
}

} // namespace moert::rt
