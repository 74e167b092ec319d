// The per-epoch metrics log: rows, resume without duplicates or gaps, the merge.
#include "train/metrics_log.h"

#include "train/epoch_scores.h"
#include "train/file_io.h"

#include "support/corpus_fixtures.h"
#include "support/error_of.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

namespace hardy {
namespace {

using ::testing::HasSubstr;
using testing::error_of;

MetricsRow row(const std::string& stage, std::int64_t epoch, std::int64_t steps, double elapsed) {
  MetricsRow r;
  r.fold = "fold 0";
  r.stage = stage;
  r.epoch = epoch;
  r.phase = "stage 1";
  r.steps = steps;
  r.loss = 1.0 / static_cast<double>(epoch);
  r.lr = 1e-4;
  r.utterances_per_s = 100;
  r.elapsed_s = elapsed;
  return r;
}

TEST(MetricsLog, RowsRoundTripWithEmptyFieldsForWhatWasNotEvaluated) {
  MetricsRow r = row("student_at", 3, 12, 4.5);
  r.condition = "at";
  EpochScores s;
  s.valid_primary = 0.5;
  s.test_primary = 0.25;
  s.test_secondary = 0.125;
  r.set_scores(s);
  const auto line = metrics_csv_line(r);
  r.loss_task = 0.25;
  r.loss_reconstruction = 0.083333;
  EXPECT_EQ(line, "fold 0,student_at,at,3,stage 1,12,0.333333,,,,0.0001,0.5,,,0.25,0.125,,100,4.5\n");
  EXPECT_EQ(metrics_csv_line(r), "fold 0,student_at,at,3,stage 1,12,0.333333,0.25,0.083333,,0.0001,0.5,,,0.25,0.125,,100,4.5\n");
  const std::string path = testing::temp_path("metrics_roundtrip.csv");
  write_file_atomic(path, metrics_csv_header() + line);
  const auto rows = read_metrics_csv(path);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].condition, "at");
  EXPECT_EQ(rows[0].steps, 12);
  EXPECT_DOUBLE_EQ(rows[0].test_primary, 0.25);
  EXPECT_TRUE(std::isnan(rows[0].valid_secondary));
}

TEST(MetricsLog, ResumeKeepsFinishedEpochsDropsTheRestAndContinuesStepsAndTime) {
  const std::string path = testing::temp_path("metrics_resume") + "/metrics/teacher.csv";
  {
    StageMetrics first(path, true, 0);
    for (int e = 1; e <= 3; ++e) first.append(row("teacher", e, 10 * e, 2.0 * e));
  }
  {  // killed while appending epoch 4's row: a torn line
    std::ofstream torn(path, std::ios::app);
    torn << "fold 0,teacher,,4,sta";
  }
  // The checkpoint says 2 epochs finished (epoch 3's row was written, its checkpoint
  // was not): rows 1..2 stay, 3 and the torn line go, and epoch 3 is redone.
  StageMetrics resumed(path, true, 2);
  resumed.append(row("teacher", 3, 10, 2.5));  // counted from the resume
  const auto rows = read_metrics_csv(path);
  ASSERT_EQ(rows.size(), 3u);
  for (int e = 1; e <= 3; ++e) EXPECT_EQ(rows[static_cast<std::size_t>(e - 1)].epoch, e);
  EXPECT_EQ(rows[2].steps, 30);
  EXPECT_DOUBLE_EQ(rows[2].elapsed_s, 6.5);
  // A fresh start (resumed after 0 epochs) drops every row.
  StageMetrics fresh(path, true, 0);
  EXPECT_TRUE(read_metrics_csv(path).empty());
}

TEST(MetricsLog, RankThatWritesNoFilesWritesNothing) {
  const std::string path = testing::temp_path("metrics_quiet.csv");
  StageMetrics quiet(path, false, 0);
  quiet.append(row("teacher", 1, 1, 1));
  EXPECT_FALSE(std::ifstream(path).good());
}

TEST(MetricsLog, MergeFollowsTheRunOrderAndSkipsMissingStages) {
  const std::string root = testing::temp_path("metrics_merge");
  StageMetrics(root + "/fold1/metrics/teacher.csv", true, 0).append(row("teacher", 1, 1, 1));
  StageMetrics(root + "/fold0/metrics/student_a.csv", true, 0).append(row("student_a", 1, 1, 1));
  StageMetrics(root + "/fold0/metrics/teacher.csv", true, 0).append(row("teacher", 1, 1, 1));
  merge_metrics({root + "/fold0", root + "/fold1"}, {"features_audio", "teacher", "student_a"},
                root + "/metrics.csv");
  const auto rows = read_metrics_csv(root + "/metrics.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].stage, "teacher");
  EXPECT_EQ(rows[1].stage, "student_a");
  EXPECT_EQ(rows[2].stage, "teacher");
}

TEST(MetricsLog, ForeignFileIsAClearError) {
  const std::string path = testing::temp_path("metrics_foreign.csv");
  write_file_atomic(path, "a,b\n1,2\n");
  EXPECT_THAT(error_of([&] { read_metrics_csv(path); }), HasSubstr("not a hardy_dist metrics file"));
}

}  // namespace
}  // namespace hardy
