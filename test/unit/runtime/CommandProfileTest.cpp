//===- CommandProfileTest.cpp - MOERT_CPU/CUDA_PROFILE's bookkeeping ------===//
//
// The first successful run at each (function, T) is seen, not counted; a run
// that is begun but never committed (it failed) counts nothing and leaves no
// partial times; each counted run's times are summed per slot.
//
//===----------------------------------------------------------------------===//
#include "CommandProfile.h"

#include <gtest/gtest.h>

using moert::rt::CommandProfile;

TEST(CommandProfile, TheFirstSuccessfulRunIsSeenNotCounted) {
  CommandProfile p;
  EXPECT_EQ(p.begin(0, 7, 3), nullptr); // the first run: no clock
  p.commit(0, 7);
  EXPECT_EQ(p.runs(0, 7), 0);
  double *ms = p.begin(0, 7, 3);
  ASSERT_NE(ms, nullptr);
  ms[0] = 1.0, ms[1] = 2.0, ms[2] = 0.5;
  p.commit(0, 7);
  ms = p.begin(0, 7, 3);
  ASSERT_NE(ms, nullptr);
  EXPECT_EQ(ms[0], 0.0) << "each run starts from zero";
  ms[0] = 3.0;
  p.commit(0, 7);
  EXPECT_EQ(p.runs(0, 7), 2);
  EXPECT_EQ(p.sum(0, 7, 0), 4.0);
  EXPECT_EQ(p.sum(0, 7, 1), 2.0);
  EXPECT_EQ(p.sum(0, 7, 2), 0.5);
}

TEST(CommandProfile, AFailedRunCountsNothing) {
  CommandProfile p;
  // A first run that fails does not use up the uncounted first run.
  EXPECT_EQ(p.begin(1, 1, 2), nullptr);
  EXPECT_EQ(p.begin(1, 1, 2), nullptr);
  p.commit(1, 1);
  double *ms = p.begin(1, 1, 2);
  ASSERT_NE(ms, nullptr);
  ms[0] = 5.0; // then the run fails part-way: no commit
  ms = p.begin(1, 1, 2);
  ASSERT_NE(ms, nullptr);
  EXPECT_EQ(ms[0], 0.0);
  ms[1] = 1.5;
  p.commit(1, 1);
  EXPECT_EQ(p.runs(1, 1), 1);
  EXPECT_EQ(p.sum(1, 1, 0), 0.0);
  EXPECT_EQ(p.sum(1, 1, 1), 1.5);
}

TEST(CommandProfile, EachFunctionAndTIsItsOwn) {
  CommandProfile p;
  for (int64_t T : {1, 16}) {
    EXPECT_EQ(p.begin(0, T, 1), nullptr);
    p.commit(0, T);
  }
  p.begin(0, 16, 1)[0] = 2.0;
  p.commit(0, 16);
  EXPECT_EQ(p.runs(0, 1), 0);
  EXPECT_EQ(p.runs(0, 16), 1);
  EXPECT_EQ(p.runs(1, 16), 0);
  EXPECT_EQ(p.sum(0, 16, 0), 2.0);
  EXPECT_EQ(p.sum(0, 16, 5), 0.0);
}
