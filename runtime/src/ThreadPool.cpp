//===- ThreadPool.cpp -------------------------------------------------------===//
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ThreadPool.h"

#include <sched.h>
#include <cstdlib>
#include <system_error>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MOERT_CPU_RELAX() _mm_pause()
#else
#define MOERT_CPU_RELAX() ((void)0)
#endif

namespace moert::rt {

namespace {

using Clock = std::chrono::steady_clock;

/// The spin window when the pool fits the CPUs. MOERT_SPIN_US overrides it
/// (0 to sleep at once).
std::chrono::nanoseconds defaultSpin() {
  if (const char *v = std::getenv("MOERT_SPIN_US")) {
    char *end = nullptr;
    long us = std::strtol(v, &end, 10);
    if (end != v && *end == '\0' && us >= 0 && us <= 1000000)
      return std::chrono::microseconds(us);
  }
  return std::chrono::microseconds(250);
}

/// Spins until done() or until `window` has passed; returns done().
template <typename Done> bool spinUntil(std::chrono::nanoseconds window, Done done) {
  if (window.count() <= 0)
    return done();
  Clock::time_point end = Clock::now() + window;
  for (;;) {
    for (int i = 0; i < 32; ++i) {
      if (done())
        return true;
      MOERT_CPU_RELAX();
    }
    if (Clock::now() >= end)
      return done();
  }
}

} // namespace

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
  pool->spin_ = threads <= availableCpus() ? defaultSpin() : std::chrono::nanoseconds(0);
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

void ThreadPool::wakeSleepers() {
  // Taking the mutex once orders this after any worker that has announced
  // its sleep and not yet waited: it is then waiting, and gets the notify.
  { std::lock_guard<std::mutex> lock(mutex_); }
  wake_.notify_all();
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  wakeSleepers();
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

void ThreadPool::prepare() {
  // Workers that do not spin would go straight back to sleep.
  if (workers_.empty() || spin_.count() == 0 || sleepers_.load() == 0)
    return;
  wakeups_.fetch_add(1);
  wakeSleepers();
}

void ThreadPool::workerLoop() {
  // The values at creation, not what this thread finds when it starts: a
  // job may already have been published by then.
  uint64_t seen = 0;
  uint64_t woken = 0;
  for (;;) {
    auto news = [&] {
      return stop_.load(std::memory_order_relaxed) ||
             generation_.load(std::memory_order_acquire) != seen;
    };
    if (!spinUntil(spin_, news)) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1); // before checking: see parallelFor
      wake_.wait(lock, [&] {
        return stop_.load() || generation_.load() != seen || wakeups_.load() != woken;
      });
      sleepers_.fetch_sub(1);
      woken = wakeups_.load();
      if (!news())
        continue; // woken by prepare(): spin for the next job
    }
    if (stop_.load())
      return;
    uint64_t g = generation_.load(std::memory_order_acquire);
    seen = g;
    active_.fetch_add(1);
    if (open_.load() == g)
      runTasks();
    if (active_.fetch_sub(1) == 1 && callerWaits_.load()) {
      { std::lock_guard<std::mutex> lock(mutex_); }
      idle_.notify_one();
    }
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
  // No worker is inside a job here (the last one ended with active_ == 0
  // after open_ was closed), so the job's fields are the caller's.
  fn_ = fn;
  context_ = context;
  count_ = count;
  next_.store(0, std::memory_order_relaxed);
  uint64_t g = ++lastGeneration_;
  open_.store(g);
  generation_.store(g);
  if (sleepers_.load() > 0)
    wakeSleepers();
  runTasks();
  // Every index is taken; close the job so that late workers do not join
  // it, and wait for the workers still running one of its tasks.
  open_.store(0);
  if (spinUntil(spin_, [&] { return active_.load() == 0; }))
    return;
  std::unique_lock<std::mutex> lock(mutex_);
  callerWaits_.store(true); // before checking: see workerLoop
  idle_.wait(lock, [&] { return active_.load() == 0; });
  callerWaits_.store(false);
}

} // namespace moert::rt
