//===- ThreadPoolTest.cpp - a session's worker threads --------------------===//
//
// parallelFor runs every index once, on several threads at once, whether the
// workers are spinning, asleep (long gaps, a window of 0, more threads than
// CPUs) or were woken by prepare(); and the pool can be destroyed in each of
// those states without hanging.
//
//===----------------------------------------------------------------------===//
#include "ThreadPool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

using moert::rt::ThreadPool;

namespace {

std::unique_ptr<ThreadPool> makePool(int32_t threads, const char *spinUs = nullptr) {
  if (spinUs)
    ::setenv("MOERT_SPIN_US", spinUs, 1);
  std::unique_ptr<ThreadPool> pool;
  moert::rt::Status s = ThreadPool::create(threads, &pool);
  ::unsetenv("MOERT_SPIN_US");
  EXPECT_TRUE(static_cast<bool>(s)) << s.message();
  return pool;
}

/// Runs `jobs` jobs of random sizes and checks that each ran every index
/// exactly once; `between` runs before each job.
template <typename Between>
void runJobs(ThreadPool &pool, int jobs, Between between) {
  std::mt19937 rng(7);
  std::vector<std::atomic<int>> hits(257);
  for (int j = 0; j < jobs; ++j) {
    between(j);
    int64_t count = std::uniform_int_distribution<int64_t>(0, 256)(rng);
    for (int64_t i = 0; i < count; ++i)
      hits[size_t(i)].store(0, std::memory_order_relaxed);
    auto task = [&](int64_t i) { hits[size_t(i)].fetch_add(1, std::memory_order_relaxed); };
    pool.parallelFor(count, task);
    for (int64_t i = 0; i < count; ++i)
      ASSERT_EQ(hits[size_t(i)].load(), 1) << "job " << j << " index " << i << " of " << count;
  }
}

/// Two tasks that each wait (up to 10 s) for the other to start: they finish
/// only if two threads run them at once.
bool tasksMeet(ThreadPool &pool) {
  std::atomic<int> arrived{0};
  std::atomic<bool> met{true};
  auto task = [&](int64_t) {
    arrived.fetch_add(1);
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (arrived.load() < 2)
      if (std::chrono::steady_clock::now() > end) {
        met = false;
        return;
      }
  };
  pool.parallelFor(2, task);
  return met.load();
}

} // namespace

TEST(ThreadPool, AJobRightAfterCreationReachesTheWorkers) {
  // The workers may not have started yet when the first job is published.
  for (int i = 0; i < 20; ++i) {
    auto pool = makePool(2, i % 2 ? "0" : "100000");
    ASSERT_TRUE(pool);
    EXPECT_TRUE(tasksMeet(*pool)) << "pool " << i;
  }
}

TEST(ThreadPool, EveryIndexRunsOnceWhileWorkersSpin) {
  auto pool = makePool(2, "100000"); // 100 ms: they never sleep here
  ASSERT_TRUE(pool);
  runJobs(*pool, 3000, [](int) {});
  EXPECT_TRUE(tasksMeet(*pool));
}

TEST(ThreadPool, EveryIndexRunsOnceWhenWorkersSleepBetweenJobs) {
  for (const char *spin : {"0", "50"}) {
    auto pool = makePool(3, spin);
    ASSERT_TRUE(pool);
    runJobs(*pool, 200, [](int j) {
      if (j % 4 == 0) // longer than the window: the workers go to sleep
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    EXPECT_TRUE(tasksMeet(*pool)) << "window " << spin << " us";
  }
}

TEST(ThreadPool, JobsAfterPrepareRunEveryIndexOnce) {
  auto pool = makePool(2, "0");
  ASSERT_TRUE(pool);
  EXPECT_EQ(pool->spinWindow().count(), 0);
  for (int round = 0; round < 20; ++round) {
    std::this_thread::sleep_for(std::chrono::microseconds(300));
    pool->prepare();
    pool->prepare(); // twice: the workers spin and find no job
    runJobs(*pool, 5, [](int) {});
  }
  EXPECT_TRUE(tasksMeet(*pool));
}

TEST(ThreadPool, SpinWindowDefaultsAndLimits) {
  auto pool = makePool(2);
  ASSERT_TRUE(pool);
  if (ThreadPool::availableCpus() >= 2) {
    EXPECT_GT(pool->spinWindow().count(), 0);
  }
  // More threads than CPUs: nobody spins, whatever MOERT_SPIN_US says.
  auto crowded = makePool(ThreadPool::availableCpus() + 1, "100");
  ASSERT_TRUE(crowded);
  EXPECT_EQ(crowded->spinWindow().count(), 0);
  runJobs(*crowded, 100, [](int) {});
  // Values that are not a count of microseconds keep the default.
  auto odd = makePool(2, "12abc");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->spinWindow(), pool->spinWindow());
}

TEST(ThreadPool, DestroyedWhileSpinningSleepingOrJustWoken) {
  for (int i = 0; i < 50; ++i) {
    auto spinning = makePool(2, "100000");
    runJobs(*spinning, 1, [](int) {});
    auto sleeping = makePool(3, "0");
    std::this_thread::sleep_for(std::chrono::microseconds(100));
    auto woken = makePool(2, "0");
    std::this_thread::sleep_for(std::chrono::microseconds(100));
    woken->prepare();
  } // each pool joins its workers here; a hang fails the test's timeout
}
