// The per-epoch metrics log of a run: <output.dir>/metrics.csv (docs/outputs.md).
//
// One row per training epoch of every stage (feature nets, teacher, students): fold,
// stage, condition, epoch, optimizer steps so far, the epoch's mean loss, learning
// rate, valid/test metrics where the epoch was evaluated, throughput and elapsed time.
//
// Units run in groups of ranks at the same time (train/unit_plan.h), so each stage
// writes a file of its own, <fold dir>/metrics/<stage>.csv, from the rank that writes
// its group's files; rank 0 concatenates them into metrics.csv when the run ends (in
// the run's order, so the file does not depend on the groups). A row is appended
// before its epoch's checkpoint is saved, and a stage resumed after epoch E keeps
// rows 1..E and drops the rest: a resumed run's log has no duplicate and no gap.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace hardy {

struct EpochScores;

struct MetricsRow {
  std::string fold, stage, condition, phase;  // condition: students only
  std::int64_t epoch = 0;                     // 1-based
  std::int64_t steps = 0;                     // optimizer steps of the stage so far
  double loss = NAN, lr = NAN;
  // The loss's terms, means over the epoch's steps (NaN: the stage has no such term).
  double loss_task = NAN, loss_reconstruction = NAN, loss_mi = NAN;
  // primary/secondary as EpochScores (WA/UA, Acc/F1, CCC/r); NaN = not evaluated.
  double valid_primary = NAN, valid_secondary = NAN, valid_macro_f1 = NAN;
  double test_primary = NAN, test_secondary = NAN, test_macro_f1 = NAN;
  double utterances_per_s = NAN, elapsed_s = NAN;  // elapsed: since the stage began

  void set_scores(const EpochScores& scores);
};

std::string metrics_csv_header();
std::string metrics_csv_line(const MetricsRow& row);
// Rows of a metrics file (ours); throws naming the file and line on a malformed one.
std::vector<MetricsRow> read_metrics_csv(const std::string& path);

// One stage's metrics file. `writes` false (a rank that writes no files): no-op.
class StageMetrics {
 public:
  StageMetrics() = default;
  // Keeps the rows of epochs <= resumed_after (0 on a fresh start) and drops the
  // rest; an unreadable file is started afresh.
  StageMetrics(std::string path, bool writes, std::int64_t resumed_after);
  // Appends the row (flushed); steps and elapsed_s are taken as counted from the
  // resumed epoch and continued from the last kept row.
  void append(MetricsRow row);
  bool active() const { return writes_; }

 private:
  std::string path_;
  bool writes_ = false;
  std::int64_t steps_before_ = 0;
  double elapsed_before_ = 0;
};

// Rank 0 at the end of a run: the stage files of every fold directory, `stages` in
// this order (missing ones skipped), concatenated into `path` (written atomically).
void merge_metrics(const std::vector<std::string>& fold_dirs, const std::vector<std::string>& stages,
                   const std::string& path);

}  // namespace hardy
