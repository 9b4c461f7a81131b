//===- ThreadPool.cpp -------------------------------------------------------===//
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ThreadPool.h"

#include <sched.h>
#include <system_error>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MOERT_CPU_RELAX() _mm_pause()
#else
#define MOERT_CPU_RELAX() ((void)0)
#endif

namespace moert::rt {

int32_t ThreadPool::availableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0)
      return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int32_t>(hw) : 1;
}

Status ThreadPool::create(int32_t threads, std::unique_ptr<ThreadPool> *out) {
  std::unique_ptr<ThreadPool> pool(new ThreadPool());
  pool->spinLimit_ = threads <= availableCpus() ? 2000 : 0;
  try {
    pool->workers_.reserve(static_cast<size_t>(threads > 1 ? threads - 1 : 0));
    for (int32_t i = 1; i < threads; ++i)
      pool->workers_.emplace_back([p = pool.get()] { p->workerLoop(); });
  } catch (const std::system_error &e) {
    // The destructor joins the workers already started.
    return error(MOERT_OUT_OF_MEMORY, "cannot start ", threads,
                 " threads: ", e.what());
  }
  *out = std::move(pool);
  return Status();
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    publishedGeneration_.store(~uint64_t(0), std::memory_order_release);
  }
  wake_.notify_all();
  for (std::thread &t : workers_)
    t.join();
}

void ThreadPool::runTasks() {
  for (;;) {
    int64_t i = next_.fetch_add(1, std::memory_order_relaxed);
    if (i >= count_)
      return;
    fn_(context_, i);
  }
}

void ThreadPool::workerLoop() {
  uint64_t seen = 0;
  for (;;) {
    // Decode runs launch many short jobs back to back: spin a little before
    // sleeping so a job that follows closely does not pay a wake-up.
    // (Not when the pool has more threads than the machine: a spinning
    // worker would then take a core from one with work to do.)
    for (int spin = 0; spin < spinLimit_; ++spin) {
      if (publishedGeneration_.load(std::memory_order_acquire) != seen)
        break;
      MOERT_CPU_RELAX();
    }
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_)
      return;
    seen = generation_;
    if (!open_)
      continue; // the job was already finished by the others
    ++active_;
    lock.unlock();
    runTasks();
    lock.lock();
    if (--active_ == 0 && !open_)
      idle_.notify_one();
  }
}

void ThreadPool::parallelFor(int64_t count, TaskFn fn, void *context) {
  if (count <= 0)
    return;
  if (count == 1 || workers_.empty()) {
    for (int64_t i = 0; i < count; ++i)
      fn(context, i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    fn_ = fn;
    context_ = context;
    count_ = count;
    next_.store(0, std::memory_order_relaxed);
    open_ = true;
    ++generation_;
    publishedGeneration_.store(generation_, std::memory_order_release);
  }
  wake_.notify_all();
  runTasks();
  // Every index is taken; close the job so late workers do not join it, and
  // wait for the workers still running one of its tasks.
  std::unique_lock<std::mutex> lock(mutex_);
  open_ = false;
  idle_.wait(lock, [&] { return active_ == 0; });
}

} // namespace moert::rt
