#include "research/intervals.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

namespace hardy {
namespace {

// Three folds, two seeds: fold means 2, 2, 5 -> mean 3, sd sqrt(3), se 1;
// t(0.975, 2 df) = 4.302652729749464 (any t table).
const FoldSeedValues kThreeFolds = {{1, 3}, {2, 2}, {4, 6}};

TEST(Intervals, FoldTIntervalMatchesTheHandComputedOne) {
  const Interval interval = fold_t_interval(kThreeFolds);
  EXPECT_DOUBLE_EQ(interval.estimate, 3.0);
  EXPECT_NEAR(interval.low, 3.0 - 4.302652729749464, 1e-9);
  EXPECT_NEAR(interval.high, 3.0 + 4.302652729749464, 1e-9);
  EXPECT_FALSE(interval.excludes(0.0));
  // 90 %: t(0.95, 2) = 2.919985580355516.
  EXPECT_NEAR(fold_t_interval(kThreeFolds, 0.90).high, 3.0 + 2.919985580355516, 1e-9);
}

TEST(Intervals, SeedsAreAveragedInsideTheirFoldNotCountedAsUnits) {
  // Six seeds that agree inside each fold shrink nothing: the interval is the one of
  // the three fold means, as if each fold had one seed.
  const FoldSeedValues many = {{2, 2, 2, 2, 2, 2}, {2, 2, 2, 2, 2, 2}, {5, 5, 5, 5, 5, 5}};
  const FoldSeedValues one = {{2}, {2}, {5}};
  EXPECT_DOUBLE_EQ(fold_t_interval(many).high, fold_t_interval(one).high);
}

TEST(Intervals, MeanStdIsOverEveryRun) {
  const MeanStd m = mean_std(kThreeFolds);  // 1 3 2 2 4 6: variance 16 / 5
  EXPECT_DOUBLE_EQ(m.mean, 3.0);
  EXPECT_NEAR(m.std, std::sqrt(3.2), 1e-12);
  EXPECT_EQ(mean_std({{0.5}}).std, 0.0);
}

TEST(Intervals, HierarchicalBootstrapOfTwoFoldsIsTheHandComputedDistribution) {
  // Folds {0} and {1}, one seed: a resample's mean is 0, 0.5 or 1 with probabilities
  // 1/4, 1/2, 1/4. The 95 % interval is [0, 1]; the 40 % one cuts 30 % from each
  // tail, which lands inside the 0.5 mass: [0.5, 0.5].
  const FoldSeedValues two = {{0}, {1}};
  const Interval wide = hierarchical_bootstrap(two, 10000, 0.95, 7);
  EXPECT_DOUBLE_EQ(wide.estimate, 0.5);
  EXPECT_DOUBLE_EQ(wide.low, 0.0);
  EXPECT_DOUBLE_EQ(wide.high, 1.0);
  const Interval narrow = hierarchical_bootstrap(two, 10000, 0.40, 7);
  EXPECT_DOUBLE_EQ(narrow.low, 0.5);
  EXPECT_DOUBLE_EQ(narrow.high, 0.5);
}

TEST(Intervals, HierarchicalBootstrapIsDeterministicAndInsideTheData) {
  const Interval a = hierarchical_bootstrap(kThreeFolds, 2000, 0.95, 3);
  const Interval b = hierarchical_bootstrap(kThreeFolds, 2000, 0.95, 3);
  EXPECT_EQ(a.low, b.low);
  EXPECT_EQ(a.high, b.high);
  EXPECT_GE(a.low, 1.0);
  EXPECT_LE(a.high, 6.0);
  EXPECT_LT(a.low, a.estimate);
  EXPECT_GT(a.high, a.estimate);
  const Interval flat = hierarchical_bootstrap({{0.25, 0.25}, {0.25, 0.25}}, 500);
  EXPECT_DOUBLE_EQ(flat.low, 0.25);
  EXPECT_DOUBLE_EQ(flat.high, 0.25);
}

TEST(Intervals, FoldsToDetectMatchesTheTextbookPairedTTest) {
  // Fold means 0, 1, 2: sd 1. Detecting a difference of one sd at 95 % with power
  // 0.8 takes 10 units by the paired t-test (Cohen's d = 1; G*Power gives 10); half
  // an sd needs about four times as many (G*Power: 34).
  const FoldSeedValues sd_one = {{0}, {1}, {2}};
  EXPECT_EQ(folds_to_detect(sd_one, 1.0), 10);
  EXPECT_NEAR(folds_to_detect(sd_one, 0.5), 34, 1);
  EXPECT_EQ(folds_to_detect(sd_one, -1.0), 10);
  EXPECT_EQ(folds_to_detect({{1}, {1}}, 1.0), 0);
}

TEST(Intervals, BadLayoutsAreClearErrors) {
  EXPECT_THROW(fold_t_interval({{1, 2}}), Error);            // one fold: no degrees of freedom
  EXPECT_THROW(fold_t_interval({{1, 2}, {3}}), Error);       // ragged seeds
  EXPECT_THROW(fold_t_interval({{1}, {NAN}}), Error);        // not finite
  EXPECT_THROW(fold_t_interval(kThreeFolds, 1.0), Error);    // level outside (0, 1)
  EXPECT_THROW(hierarchical_bootstrap(kThreeFolds, 10), Error);
  EXPECT_THROW(mean_std({}), Error);
}

}  // namespace
}  // namespace hardy
