// `hardy_dist ablate` (docs/ablation.md): the rows of the paper's Table 2 and the
// controls of train/controls.h, each a documented set of config overrides, trained
// over several seeds and summarised with intervals that respect how folds and seeds
// share data (research/intervals.h).
#pragma once

#include "research/intervals.h"
#include "train/report.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hardy {

struct AblationRow {
  std::string name;
  std::string description;
  std::vector<std::string> overrides;  // "section.key=value", applied after the config
};

// full, no_direct, no_indirect, fixed_k, centered, no_retrieval, no_finetune,
// permuted_hardness, random_supports.
const std::vector<AblationRow>& builtin_ablation_rows();

// The rows named by ablation.rows (built-in names, or names of ablation.extra_rows
// entries "name: key=value; key=value"), "full" first (added when missing: every
// difference is against it). hardy::Error naming the unknown row or the malformed
// entry.
std::vector<AblationRow> ablation_rows(const std::vector<std::string>& names,
                                       const std::vector<std::string>& extra);

// Before a row's run: hard links (copies where links fail) in `to_run` to the
// preparation artifacts of `from_run` (same seed): feature nets, teacher, hardness,
// curricula with their manifests and metrics files, never checkpoints and never what a
// file of `to_run` already holds. The row's run then skips every stage whose manifest
// matches its own settings and recomputes the rest (atomic writes replace a link,
// never write through it). Returns the number of files shared.
int share_prepared_artifacts(const std::string& from_run, const std::string& to_run);

// Every run of an ablation: results[row][seed].
struct AblationRuns {
  std::vector<AblationRow> rows;
  std::vector<std::uint64_t> seeds;
  std::vector<std::vector<RunResults>> results;
};

// One row x condition x score x selection: the values over folds and seeds and, for
// rows other than full, the difference against full with both intervals.
struct AblationCell {
  std::string row, condition, score, selection;  // score: "WA", "UA", "macro-F1", ...
  FoldSeedValues values;                         // [fold][seed]
  MeanStd summary;
  std::optional<Interval> t_interval;  // fold-unit t-interval of the difference (>= 2 folds)
  std::optional<Interval> bootstrap;   // hierarchical bootstrap of the difference
  int folds_for_1_point = 0, folds_for_2_points = 0;  // folds_to_detect, 80 % power (0: n/a)
};

// Accuracy by hardness quintile (classification): per row, condition and quintile,
// each seed's test accuracy at the best epoch on validation averaged over the folds,
// with the mean and a 95 % t-interval over the seeds (S − 1 degrees of freedom; none
// with one seed).
struct QuintileCell {
  std::string row, condition;
  int quintile = 0;            // 0 = easiest
  std::vector<double> values;  // per seed
  double mean = NAN;
  std::optional<Interval> interval;
};
std::vector<QuintileCell> quintile_cells(const AblationRuns& runs);

// Every cell: conditions in the first run's order plus "average" (over the
// missing-modality conditions, per fold and seed), every score of
// RunResults::score_names(), every selection.
std::vector<AblationCell> ablation_cells(const AblationRuns& runs);

// ablation.md (paper Table 2 layout: rows x conditions, headline = best on
// validation; then last epoch; then best on test, labelled), ablation.csv (one line
// per cell) and ablation.json, written atomically into `dir`.
std::string ablation_markdown(const AblationRuns& runs, const std::vector<AblationCell>& cells);
void write_ablation_reports(const AblationRuns& runs, const std::string& dir);

}  // namespace hardy
