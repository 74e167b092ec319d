// The run's results: per-epoch scores of every condition and fold, the three epoch
// selections of docs/algorithm.md §4.3, the hardness/retrieval diagnostics, and the
// results.md / results.csv / results.json written into the run directory.
#pragma once

#include "core/modality.h"

#include "train/epoch_scores.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace hardy {

// The authors report the best test epoch per fold, which peeks at the test set;
// we report it next to two honest selections, each clearly labelled.
enum class Selection { LastEpoch, BestValid, BestTest };
constexpr Selection kAllSelections[] = {Selection::LastEpoch, Selection::BestValid,
                                        Selection::BestTest};

// "last epoch", "best on validation", "best on test (authors' protocol)".
const char* selection_label(Selection s);
// Machine-readable name for CSV/JSON: "last_epoch", "best_valid", "best_test".
const char* selection_id(Selection s);

// The epoch chosen (`epochs` non-empty, else hardy::Error): LastEpoch = the final
// entry; BestValid = max valid_primary, ties to the earliest, last entry when no
// epoch has a validation score; BestTest = max test_primary, ties to the earliest,
// likewise falling back to the last entry.
const EpochScores& select_epoch(const std::vector<EpochScores>& epochs, Selection s);

struct ConditionResult {
  std::string condition;                  // "a", "t", "v", "at", "av", "tv" or "atv"
  std::vector<EpochScores> epochs;        // every evaluated student epoch, in order
  double spearman_planted = NAN;          // Spearman(H, planted hardness) over the training
                                          // samples; NaN when the corpus has none planted
  double spearman_direct_planted = NAN;   // Spearman(Hd, planted), likewise
  double spearman_indirect_planted = NAN; // Spearman(Hi, planted), likewise
  std::vector<std::int64_t> k_histogram;  // entry k = number of queries with K_q = k
  double support_label_agreement = NAN;   // fraction of supports sharing their query's label
};

struct FoldResult {
  std::string name;  // "fold 0", ... or "split"
  std::vector<ConditionResult> conditions;
};

struct RunResults {
  std::string corpus, task;  // task: "classification" | "sentiment" | "regression"
  std::vector<FoldResult> folds;
  ModalitySet modalities = ModalitySet::standard();  // the corpus's: names the conditions
  std::vector<std::string> targets;                  // regression: the corpus's targets
  std::string primary_name() const;    // "WA" | "Acc" | "CCC"
  std::string secondary_name() const;  // "UA" | "F1" | "r"
  // The test scores each table row shows per selection: primary, secondary, then
  // macro-F1 (classification) or the CCC of every target (regression). Names for
  // markdown ("macro-F1", "CCC arousal") and for CSV ("macro_f1", "ccc_arousal").
  std::vector<std::string> score_names() const;
  std::vector<std::string> score_ids() const;
  std::vector<double> score_values(const EpochScores& e) const;
};

// The main table (paper Table 1 layout): one row per condition (first-fold order),
// then "average" over the missing-modality conditions (atv excluded, as in the
// paper); per selection the score_names() columns, averaged over folds, as
// 4-decimal fractions. Then one such table per fold, then the diagnostics per
// condition (Spearman(H, planted), K_q histogram, support-label agreement).
// A condition missing from some folds is averaged over the folds that have it and
// its row says so.
std::string results_markdown(const RunResults& results);

// Writes <dir>/results.md (title, legend, results_markdown), <dir>/results.csv (one
// row per fold x table row x selection: fold,condition,selection,epoch,primary,
// secondary, then macro_f1 (classification) or ccc_<target> per target (regression);
// fold "mean" for the fold averages, condition "average" for the average row) and <dir>/results.json (all of RunResults plus the selected epochs; NaN as
// null), each atomically.
void write_reports(const RunResults& results, const std::string& dir);

}  // namespace hardy
