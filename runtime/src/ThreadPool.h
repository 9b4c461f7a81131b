//===- ThreadPool.h - a session's worker threads ----------------------------===//
//
// A fixed set of threads created with the session. parallelFor hands out the
// indices [0, count) one at a time to the workers and the calling thread and
// returns when all of them have run: no allocation and no thread creation per
// call. One caller at a time (a session is used by one thread at a time).
//
// Decode runs many short jobs (a grouped GEMM at T = 1 takes tens of
// microseconds), so waking a sleeping thread would cost as much as the job:
// between jobs the workers spin for spinWindow() before they sleep, the
// caller spins for the same time while the last tasks finish, and prepare()
// lets a run wake the workers before its first job (docs/runtime.md,
// "Threads").
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_THREADPOOL_H
#define MOERT_SRC_THREADPOOL_H

#include "Status.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace moert::rt {

class ThreadPool {
public:
  using TaskFn = void (*)(void *context, int64_t index);

  /// Starts `threads - 1` workers (the caller of parallelFor is the last one).
  static Status create(int32_t threads, std::unique_ptr<ThreadPool> *out);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  /// The CPUs this process may run on (its affinity mask, e.g. under taskset
  /// or a cpuset); std::thread::hardware_concurrency() when unknown; >= 1.
  static int32_t availableCpus();

  /// Threads taking part in parallelFor, the caller included.
  int32_t size() const { return static_cast<int32_t>(workers_.size()) + 1; }

  /// How long an idle thread spins before it sleeps: 0 when the pool has
  /// more threads than the process has CPUs (a spinning thread would take a
  /// core from one with work to do).
  std::chrono::nanoseconds spinWindow() const { return spin_; }

  /// Wakes sleeping workers so that they spin, ready for the jobs that
  /// follow (a run calls it first; nothing when the pool does not spin).
  /// No job is started.
  void prepare();

  /// Runs fn(context, i) for every i in [0, count), concurrently; returns
  /// when every call has returned.
  void parallelFor(int64_t count, TaskFn fn, void *context);

  /// The same with a callable (called as f(i)); it is not copied.
  template <typename F> void parallelFor(int64_t count, F &f) {
    parallelFor(
        count,
        [](void *context, int64_t i) { (*static_cast<F *>(context))(i); },
        static_cast<void *>(&f));
  }

private:
  ThreadPool() = default;
  void workerLoop();
  void runTasks();
  void wakeSleepers(); // notifies wake_

  std::vector<std::thread> workers_;
  std::chrono::nanoseconds spin_{0};

  // The current job: written by the caller while no worker runs its tasks
  // (open_ == 0 and the workers that joined the last job have left; a late
  // worker may still count in active_, but it reads no field: see below),
  // then published through generation_.
  TaskFn fn_ = nullptr;
  void *context_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0};

  // Every job gets a new generation; open_ holds it while workers may join
  // (0 otherwise). A worker joins by incrementing active_ and then checking
  // open_ (sequentially consistent, as the caller closes open_ and then
  // reads active_), so either it runs tasks of the job it saw or it leaves
  // without touching the job's fields.
  uint64_t lastGeneration_ = 0; // the caller's
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> open_{0};
  std::atomic<int32_t> active_{0};
  std::atomic<uint64_t> wakeups_{0}; // prepare() calls
  std::atomic<bool> stop_{false};

  // Sleeping: workers wait on wake_ for a new generation or wakeup; the
  // caller waits on idle_ for active_ == 0. Each side announces its sleep in
  // an atomic before checking, so the other side knows to notify.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::atomic<int32_t> sleepers_{0};
  std::atomic<bool> callerWaits_{false};
};

} // namespace moert::rt

#endif // MOERT_SRC_THREADPOOL_H
