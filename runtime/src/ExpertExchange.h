//===- ExpertExchange.h - expert parallelism's exchanges -----------*- C++ -*-===//
//
// A session of a sharded artifact (moe-compile --shard-experts) holds one
// ExpertExchange: the communicator and the placement its options gave, and
// the routing that follows from them (which slot each expert's rows go to
// from this rank). It runs the artifact's Exchange commands as three rounds
// of the communicator (docs/parallelism.md): the rows per slot, each rank's
// total (so that a rank that would overflow its receive buffer fails every
// rank alike), then the rows. Nothing is allocated per run.
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_EXPERTEXCHANGE_H
#define MOERT_SRC_EXPERTEXCHANGE_H

#include "Model.h"

#include <memory>
#include <vector>

namespace moert::rt {

class ExpertExchange {
public:
  /// The exchange of `model` with `options`' communicator and placement:
  /// null (*out) when the model has no Exchange command and the options no
  /// communicator; an error when one is missing, when the model's exchanges
  /// disagree on ranks, slots or experts, or when the placement is invalid.
  /// Then checks, with every rank (a collective), that all hold the same
  /// artifact and placement. A failure calls the communicator's abort.
  static Status create(const Model &model, const moert_session_options_t *options,
                       std::unique_ptr<ExpertExchange> *out);

  /// Before a run of a function with run parameters (a noisy router): one
  /// round in which every rank tells its T and its router noise (on, and
  /// the seed in params[1..2]); fails on every rank when they disagree on
  /// the noise, else sets *base to the tokens of the ranks before this one
  /// (the row of its first token among all the ranks').
  Status runStart(int64_t T, const int32_t params[3], int64_t *base);

  /// Runs ExpertChoice command `c` at T (its operands in forEachOperand's
  /// order, in host memory): gathers the ranks' token counts and scores,
  /// chooses as moe.expert_choice does over all of them, and writes this
  /// rank's rows.
  Status choose(const CommandSpec &c, int64_t T, void *const *operands);

  /// Runs Exchange command `c` at T (its operands in forEachOperand's order).
  /// With `deviceRows` the rows (src and dst) lie in a GPU's memory, which
  /// only the communicator touches: the caller zeroes dst's rows past the
  /// offsets' last entry on the way back.
  Status run(const CommandSpec &c, int64_t T, void *const *operands, bool deviceRows = false);

  /// After a failed run: unless every rank failed alike (an overflow), tells
  /// the others that this rank stops, so that they fail too instead of
  /// waiting.
  void runFailed(const std::string &reason);

  /// The experts this rank's slots hold (the placement's row; -1 left out).
  std::vector<int32_t> localExperts() const;
  /// The expert in each of this rank's slots, -1 for an empty one (the
  /// placement's row).
  std::vector<int32_t> slotExperts() const;
  const moert_communicator_t &communicator() const { return comm_; }
  int32_t rank() const { return comm_.rank; }
  int32_t ranks() const { return comm_.size; }

private:
  ExpertExchange() = default;
  static Status createChecked(const Model &model, const moert_session_options_t *options,
                              std::unique_ptr<ExpertExchange> *out);
  /// One round of the communicator over sends_ and recvs_.
  Status round(const char *what);
  /// One round in which every rank sends `bytes` bytes from `mine` to every
  /// rank; rank r's land at all + r · bytes.
  Status allGather(const void *mine, uint64_t bytes, void *all, const char *what);
  /// sendCounts_ from this rank's offsets: the rows of each (rank, slot).
  void countSends(const uint8_t *offsets);
  /// The messages of this rank's slots' rows at `base` (rows of `rowBytes`),
  /// each slot's rows by rank: from `counts` (rank-major [ranks, slots]),
  /// checked against `slotOffsets` and the bound `recvRows`.
  Status slotMessages(const uint8_t *counts, const uint8_t *slotOffsets, int64_t recvRows,
                      uint8_t *base, int64_t rowBytes, std::vector<moert_message_t> *out);
  Status forward(const CommandSpec &c, int64_t T, void *const *op);
  Status back(const CommandSpec &c, int64_t T, void *const *op, bool deviceRows);

  moert_communicator_t comm_{};
  int64_t slots_ = 0, experts_ = 0;
  std::vector<int32_t> placement_; // [ranks * slots]: expert or -1
  std::vector<int32_t> route_;     // [experts]: the (rank * slots + slot) this rank sends to
  std::vector<int32_t> sendCounts_; // [ranks * slots]
  std::vector<int32_t> totals_;     // [ranks]: rows each rank receives
  int32_t myTotal_ = 0;
  std::vector<moert_message_t> sends_, recvs_;
  // ExpertChoice: each rank's tokens, the ranks' scores gathered (the most
  // tokens of the artifact's expert choices), and the chosen tokens of one
  // expert.
  std::vector<int32_t> rankTokens_;
  std::vector<int32_t> startInfo_; // runStart: each rank's T and noise
  std::vector<float> gathered_;
  std::vector<uint8_t> taken_;
  /// The last failure was the same on every rank (no abort needed).
  bool collectiveFailure_ = false;
};

} // namespace moert::rt

#endif // MOERT_SRC_EXPERTEXCHANGE_H
