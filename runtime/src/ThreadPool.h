//===- ThreadPool.h - a session's worker threads ----------------------------===//
//
// A fixed set of threads created with the session. parallelFor hands out the
// indices [0, count) one at a time to the workers and the calling thread and
// returns when all of them have run: no allocation and no thread creation per
// call. One caller at a time (a session is used by one thread at a time).
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_THREADPOOL_H
#define MOERT_SRC_THREADPOOL_H

#include "Status.h"

#include <atomic>
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

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  bool stop_ = false;
  uint64_t generation_ = 0;
  bool open_ = false;   // a job is open for workers to join
  int32_t active_ = 0;  // workers inside the current job
  // The current job (valid while open_ or active_ > 0).
  TaskFn fn_ = nullptr;
  void *context_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0};
  // Lets a worker skip the mutex while waiting briefly for the next job.
  std::atomic<uint64_t> publishedGeneration_{0};
  int spinLimit_ = 0;
};

} // namespace moert::rt

#endif // MOERT_SRC_THREADPOOL_H
