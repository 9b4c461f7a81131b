//===- LocalGroup.cpp - N ranks in one process (moert_local_group_t) ------===//
//
// The in-process communicator: each round, every rank posts its message
// lists and waits for the others (a barrier), copies what its receives name
// straight from the senders' buffers, and waits again so that no sender
// reuses a buffer while a peer still reads it. A rank that waits longer than
// the timeout, or that aborts, breaks the group: every rank's current and
// later rounds fail with that cause, so a failure never leaves a rank
// waiting forever.
//
//===----------------------------------------------------------------------===//
#include "Status.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

struct moert_local_group {
  struct Rank {
    moert_local_group *group = nullptr;
    int32_t rank = 0;
    const moert_message_t *sends = nullptr, *recvs = nullptr;
    size_t numSends = 0, numRecvs = 0;
    bool inRound = false; // between entering exchange and leaving it
  };

  int32_t size = 0;
  std::chrono::milliseconds timeout{0};
  std::mutex mutex;
  std::condition_variable changed;
  uint64_t generation = 0; // barriers passed
  int32_t arrived = 0;
  uint64_t round = 0; // for messages
  int32_t copying = 0; // ranks still copying from the others' buffers this round
  bool broken = false;
  std::string cause;
  std::vector<Rank> ranks;
  std::vector<moert_communicator_t> comms;

  /// Waits until every rank arrived (true) or the group broke (false).
  bool barrier(std::unique_lock<std::mutex> &lock, int32_t rank) {
    if (broken)
      return false;
    uint64_t gen = generation;
    if (++arrived == size) {
      arrived = 0;
      ++generation;
      copying = size; // only the first of a round's barriers reads it
      changed.notify_all();
      return true;
    }
    changed.wait_for(lock, timeout, [&] { return generation != gen || broken; });
    if (generation != gen)
      return true;
    if (!broken) {
      broken = true;
      cause = "rank " + std::to_string(rank) + " waited " +
              std::to_string(timeout.count()) + " ms in exchange round " +
              std::to_string(round) +
              " for ranks that never came (a rank failed or stopped taking part)";
      changed.notify_all();
    }
    return false;
  }

  /// Copies rank `me`'s receives from the senders' posted buffers.
  std::string copyIn(int32_t me) {
    const Rank &r = ranks[static_cast<size_t>(me)];
    std::vector<size_t> nextSend(static_cast<size_t>(size), 0);
    for (size_t i = 0; i < r.numRecvs; ++i) {
      const moert_message_t &m = r.recvs[i];
      if (m.peer < 0 || m.peer >= size)
        return "receive " + std::to_string(i) + " names rank " + std::to_string(m.peer) +
               ", not one of the " + std::to_string(size);
      const Rank &from = ranks[static_cast<size_t>(m.peer)];
      size_t &j = nextSend[static_cast<size_t>(m.peer)];
      while (j < from.numSends && from.sends[j].peer != me)
        ++j;
      if (j == from.numSends)
        return "rank " + std::to_string(me) + " expects more messages from rank " +
               std::to_string(m.peer) + " than it sent";
      const moert_message_t &s = from.sends[j++];
      if (s.bytes != m.bytes)
        return "rank " + std::to_string(m.peer) + " sent " + std::to_string(s.bytes) +
               " bytes where rank " + std::to_string(me) + " expects " +
               std::to_string(m.bytes);
      if (m.bytes)
        std::memcpy(m.data, s.data, static_cast<size_t>(m.bytes));
    }
    // Every message sent to this rank was received.
    for (int32_t q = 0; q < size; ++q) {
      const Rank &from = ranks[static_cast<size_t>(q)];
      for (size_t j = nextSend[static_cast<size_t>(q)]; j < from.numSends; ++j)
        if (from.sends[j].peer == me)
          return "rank " + std::to_string(q) + " sent rank " + std::to_string(me) +
                 " more messages than it receives";
    }
    return "";
  }

  int exchange(int32_t me, const moert_message_t *sends, size_t numSends,
               const moert_message_t *recvs, size_t numRecvs, char *error,
               size_t errorBytes) {
    std::unique_lock<std::mutex> lock(mutex);
    auto fail = [&](const std::string &why) {
      if (error && errorBytes)
        std::snprintf(error, errorBytes, "%s", why.c_str());
      return 1;
    };
    Rank &r = ranks[static_cast<size_t>(me)];
    auto breakWith = [&](const std::string &why) {
      if (!broken) {
        broken = true;
        cause = "exchange round " + std::to_string(round) + ": " + why;
        changed.notify_all();
      }
    };
    if (r.inRound) { // two threads on one rank's communicator
      breakWith("rank " + std::to_string(me) + " entered it twice at once (one communicator "
                "used by two sessions or threads)");
      return fail(cause);
    }
    for (size_t i = 0; i < numSends; ++i)
      if (sends[i].peer < 0 || sends[i].peer >= size) {
        breakWith("rank " + std::to_string(me) + " sends to rank " +
                  std::to_string(sends[i].peer) + ", not one of the " + std::to_string(size));
        return fail(cause);
      }
    r.inRound = true;
    r.sends = sends;
    r.numSends = numSends;
    r.recvs = recvs;
    r.numRecvs = numRecvs;
    if (!barrier(lock, me)) {
      r.inRound = false;
      return fail(cause);
    }
    // Every rank has posted; nothing changes the lists until the next
    // barrier, so the copies need no lock.
    lock.unlock();
    std::string why = copyIn(me);
    lock.lock();
    if (!why.empty())
      breakWith(why);
    --copying;
    changed.notify_all();
    bool ok = barrier(lock, me);
    if (!ok) // no rank may leave while another still reads its buffers
      changed.wait(lock, [&] { return copying == 0; });
    r.inRound = false;
    if (!ok)
      return fail(cause);
    if (me == 0)
      ++round;
    return 0;
  }

  void abort(int32_t me, const char *reason) {
    std::lock_guard<std::mutex> lock(mutex);
    if (broken)
      return;
    broken = true;
    cause = "rank " + std::to_string(me) + " failed: " + (reason ? reason : "(no reason)");
    changed.notify_all();
  }
};

namespace {
int localExchange(void *context, const moert_message_t *sends, size_t numSends,
                  const moert_message_t *recvs, size_t numRecvs, char *error,
                  size_t errorBytes) {
  auto *r = static_cast<moert_local_group::Rank *>(context);
  return r->group->exchange(r->rank, sends, numSends, recvs, numRecvs, error, errorBytes);
}

void localAbort(void *context, const char *reason) {
  auto *r = static_cast<moert_local_group::Rank *>(context);
  r->group->abort(r->rank, reason);
}
} // namespace

using namespace moert::rt;

moert_status_t *moert_local_group_create(int32_t ranks, int32_t timeoutMs,
                                         moert_local_group_t **out) {
  if (!out)
    return toC(MOERT_INVALID_ARGUMENT, "out is NULL");
  *out = nullptr;
  if (ranks < 1 || ranks > 1024 || timeoutMs < 1)
    return toC(error(MOERT_INVALID_ARGUMENT, "a local group takes 1 to 1024 ranks and a "
                     "timeout of at least 1 ms, got ", ranks, " ranks and ", timeoutMs, " ms"));
  std::unique_ptr<moert_local_group> g;
  try {
    g = std::make_unique<moert_local_group>();
    g->ranks.resize(static_cast<size_t>(ranks));
    g->comms.resize(static_cast<size_t>(ranks));
  } catch (const std::bad_alloc &) {
    return toC(MOERT_OUT_OF_MEMORY, "cannot allocate the local group");
  }
  g->size = ranks;
  g->timeout = std::chrono::milliseconds(timeoutMs);
  for (int32_t r = 0; r < ranks; ++r) {
    g->ranks[static_cast<size_t>(r)].group = g.get();
    g->ranks[static_cast<size_t>(r)].rank = r;
    g->comms[static_cast<size_t>(r)] = moert_communicator_t{
        r, ranks, &g->ranks[static_cast<size_t>(r)], localExchange, localAbort};
  }
  *out = g.release();
  return nullptr;
}

const moert_communicator_t *moert_local_group_communicator(moert_local_group_t *group,
                                                           int32_t rank) {
  if (!group || rank < 0 || rank >= group->size)
    return nullptr;
  return &group->comms[static_cast<size_t>(rank)];
}

void moert_local_group_free(moert_local_group_t *group) { delete group; }
