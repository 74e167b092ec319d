#include "train/report.h"

#include <fmt/ranges.h>

#include "core/error.h"
#include "core/log.h"
#include "train/file_io.h"
#include "train/hardness.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iterator>
#include <numeric>
#include <optional>

namespace hardy {

const char* selection_label(Selection s) {
  switch (s) {
    case Selection::LastEpoch: return "last epoch";
    case Selection::BestValid: return "best on validation";
    case Selection::BestTest: return "best on test (authors' protocol)";
  }
  return "?";
}

const char* selection_id(Selection s) {
  switch (s) {
    case Selection::LastEpoch: return "last_epoch";
    case Selection::BestValid: return "best_valid";
    case Selection::BestTest: return "best_test";
  }
  return "?";
}

const EpochScores& select_epoch(const std::vector<EpochScores>& epochs, Selection s) {
  HARDY_THROW_IF_NOT_MSG(!epochs.empty(), "cannot select the {} epoch: no epoch was evaluated",
                         selection_label(s));
  if (s == Selection::LastEpoch) return epochs.back();
  const EpochScores* best = nullptr;
  for (const auto& e : epochs) {
    double v = s == Selection::BestValid ? e.valid_primary : e.test_primary;
    double b = best ? (s == Selection::BestValid ? best->valid_primary : best->test_primary) : 0;
    if (!std::isnan(v) && (!best || v > b)) best = &e;  // strict: ties keep the earliest
  }
  return best ? *best : epochs.back();
}

std::string RunResults::primary_name() const {
  if (task == "classification") return "WA";
  if (task == "sentiment") return "Acc";
  if (task == "regression") return "CCC";
  HARDY_THROW_MSG("results have unknown task '{}' (expected classification, sentiment or regression)", task);
}

std::string RunResults::secondary_name() const {
  if (task == "classification") return "UA";
  if (task == "sentiment") return "F1";
  if (task == "regression") return "r";
  HARDY_THROW_MSG("results have unknown task '{}' (expected classification, sentiment or regression)", task);
}

std::vector<std::string> RunResults::score_names() const {
  std::vector<std::string> names{primary_name(), secondary_name()};
  if (task == "classification") names.push_back("macro-F1");
  if (task == "regression")
    for (const auto& t : targets) names.push_back("CCC " + t);
  return names;
}

std::vector<std::string> RunResults::score_ids() const {
  std::vector<std::string> ids{"primary", "secondary"};
  if (task == "classification") ids.push_back("macro_f1");
  if (task == "regression")
    for (const auto& t : targets) ids.push_back("ccc_" + t);
  return ids;
}

std::vector<double> RunResults::score_values(const EpochScores& e) const {
  std::vector<double> values{e.test_primary, e.test_secondary};
  if (task == "classification") values.push_back(e.test_macro_f1);
  if (task == "regression")
    for (std::size_t k = 0; k < targets.size(); ++k)
      values.push_back(k < e.test_ccc.size() ? e.test_ccc[k] : NAN);
  return values;
}

namespace {

constexpr std::size_t kNumSelections = std::size(kAllSelections);

// One line of a results table: per selection, the score columns (score_names) and
// the epoch.
struct Row {
  std::string condition;  // or "average"
  std::string label;      // as shown in markdown
  std::vector<double> scores[kNumSelections];
  std::optional<std::int64_t> epoch[kNumSelections];  // per-fold condition rows only
};

// Per selection and column, the values of several rows (to average).
struct ColumnValues {
  std::vector<std::vector<double>> values[kNumSelections];
  explicit ColumnValues(std::size_t columns) {
    for (auto& v : values) v.resize(columns);
  }
  void add(const Row& r) {
    for (std::size_t s = 0; s < kNumSelections; ++s)
      for (std::size_t k = 0; k < values[s].size(); ++k) values[s][k].push_back(r.scores[s][k]);
  }
  std::size_t count() const { return values[0].empty() ? 0 : values[0][0].size(); }
};

double mean_of(const std::vector<double>& v) {
  if (v.empty()) return NAN;
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// Mean of the non-NaN values: diagnostics that a fold could not compute are skipped.
double mean_of_present(const std::vector<double>& v) {
  std::vector<double> present;
  std::copy_if(v.begin(), v.end(), std::back_inserter(present),
               [](double d) { return !std::isnan(d); });
  return mean_of(present);
}

Row condition_row(const ConditionResult& c, const RunResults& results) {
  Row row{c.condition, c.condition, {}, {}};
  const auto columns = results.score_names().size();
  for (std::size_t s = 0; s < kNumSelections; ++s) {
    row.scores[s].assign(columns, NAN);
    if (c.epochs.empty()) continue;  // nothing evaluated: the row shows n/a
    const auto& e = select_epoch(c.epochs, kAllSelections[s]);
    row.scores[s] = results.score_values(e);
    row.epoch[s] = e.epoch;
  }
  return row;
}

// A row whose every column is the mean of `values`.
Row mean_row(std::string condition, std::string label, const ColumnValues& values) {
  Row row{std::move(condition), std::move(label), {}, {}};
  for (std::size_t s = 0; s < kNumSelections; ++s)
    for (const auto& column : values.values[s]) row.scores[s].push_back(mean_of(column));
  return row;
}

// The paper's "average" row: the mean over the missing-modality conditions (atv is
// the full-modality upper reference, not one of them). None when there are none.
std::optional<Row> average_row(const std::vector<Row>& rows, const RunResults& results) {
  ColumnValues values(results.score_names().size());
  for (const auto& r : rows)
    if (r.condition != results.modalities.complete_condition()) values.add(r);
  if (values.count() == 0) return std::nullopt;
  return mean_row("average", "average", values);
}

std::vector<Row> with_average(std::vector<Row> rows, const RunResults& results) {
  if (auto avg = average_row(rows, results)) rows.push_back(*avg);
  return rows;
}

std::vector<Row> fold_rows(const FoldResult& fold, const RunResults& results) {
  std::vector<Row> rows;
  for (const auto& c : fold.conditions) rows.push_back(condition_row(c, results));
  return with_average(std::move(rows), results);
}

// Conditions in first-appearance order over the folds (the first fold's order when
// every fold has the same set).
std::vector<std::string> condition_order(const RunResults& results) {
  std::vector<std::string> order;
  for (const auto& fold : results.folds)
    for (const auto& c : fold.conditions)
      if (std::find(order.begin(), order.end(), c.condition) == order.end())
        order.push_back(c.condition);
  return order;
}

const ConditionResult* find_condition(const FoldResult& fold, const std::string& name) {
  for (const auto& c : fold.conditions)
    if (c.condition == name) return &c;
  return nullptr;
}

std::vector<Row> mean_rows(const RunResults& results) {
  std::vector<Row> rows;
  for (const auto& name : condition_order(results)) {
    ColumnValues values(results.score_names().size());
    for (const auto& fold : results.folds)
      if (const auto* c = find_condition(fold, name)) values.add(condition_row(*c, results));
    const std::size_t present = values.count();
    rows.push_back(mean_row(name,
                            present < results.folds.size()
                                ? fmt::format("{} ({} of {} folds)", name, present, results.folds.size())
                                : name,
                            values));
  }
  return with_average(std::move(rows), results);
}

std::string cell(double v) { return std::isnan(v) ? "n/a" : fmt::format("{:.4f}", v); }

std::string markdown_table(const std::vector<Row>& rows, const RunResults& results) {
  std::string out = "| condition |";
  std::string rule = "|---|";
  for (auto s : kAllSelections)
    for (const auto& name : results.score_names()) {
      out += fmt::format(" {} ({}) |", name, selection_label(s));
      rule += "---:|";
    }
  out += "\n" + rule + "\n";
  for (const auto& r : rows) {
    out += fmt::format("| {} |", r.label);
    for (std::size_t s = 0; s < kNumSelections; ++s)
      for (double v : r.scores[s]) out += fmt::format(" {} |", cell(v));
    out += "\n";
  }
  return out;
}

// "K_q=1: 12 (40.0%), K_q=2: ..." over the span of non-zero counts.
std::string histogram_text(const std::vector<std::int64_t>& h) {
  const std::int64_t total = std::accumulate(h.begin(), h.end(), std::int64_t{0});
  if (total == 0) return "n/a";
  std::size_t first = 0, last = h.size() - 1;
  while (h[first] == 0) ++first;
  while (h[last] == 0) --last;
  std::string out;
  for (std::size_t k = first; k <= last; ++k)
    out += fmt::format("{}K_q={}: {} ({:.1f}%)", k == first ? "" : ", ", k, h[k],
                       100.0 * static_cast<double>(h[k]) / static_cast<double>(total));
  return out;
}

std::string diagnostics_table(const RunResults& results) {
  std::string out =
      "| condition | Spearman(Hd, planted) | Spearman(Hi, planted) | Spearman(H, planted) | K_q histogram "
      "(summed over folds) | support-label agreement |\n|---|---:|---:|---:|---|---:|\n";
  for (const auto& name : condition_order(results)) {
    std::vector<double> rho, rho_direct, rho_indirect, agreement;
    std::vector<std::int64_t> hist;
    for (const auto& fold : results.folds) {
      const auto* c = find_condition(fold, name);
      if (!c) continue;
      rho.push_back(c->spearman_planted);
      rho_direct.push_back(c->spearman_direct_planted);
      rho_indirect.push_back(c->spearman_indirect_planted);
      agreement.push_back(c->support_label_agreement);
      if (hist.size() < c->k_histogram.size()) hist.resize(c->k_histogram.size(), 0);
      for (std::size_t k = 0; k < c->k_histogram.size(); ++k) hist[k] += c->k_histogram[k];
    }
    out += fmt::format("| {} | {} | {} | {} | {} | {} |\n", name, cell(mean_of_present(rho_direct)),
                       cell(mean_of_present(rho_indirect)), cell(mean_of_present(rho)), histogram_text(hist),
                       cell(mean_of_present(agreement)));
  }
  return out;
}

// Test accuracy per quintile of the teacher's hardness of the test utterances (best
// epoch on validation), averaged over the folds; empty when no fold measured it.
std::string quintile_table(const RunResults& results) {
  std::string rows;
  for (const auto& name : condition_order(results)) {
    std::vector<std::vector<double>> per_quintile(static_cast<std::size_t>(kHardnessQuintiles));
    for (const auto& fold : results.folds) {
      const auto* c = find_condition(fold, name);
      if (!c || c->epochs.empty()) continue;
      const auto& q = select_epoch(c->epochs, Selection::BestValid).test_quintile_accuracy;
      for (std::size_t k = 0; k < q.size() && k < per_quintile.size(); ++k) per_quintile[k].push_back(q[k]);
    }
    if (per_quintile[0].empty()) continue;
    rows += "| " + name + " |";
    for (const auto& v : per_quintile) rows += " " + cell(mean_of_present(v)) + " |";
    rows += "\n";
  }
  if (rows.empty()) return "";
  return "\n## Accuracy by hardness\n\nTest accuracy (best epoch on validation, mean over folds) per quintile of the "
         "teacher's hardness H of the test utterances under the condition (Q1 easiest, Q5 hardest; eq. 10 with the "
         "min–max over the test utterances). The method's claim is that hard samples gain most: compare runs (e.g. "
         "hardy_dist ablate, full against fixed_k) column by column.\n\n| condition | Q1 | Q2 | Q3 | Q4 | Q5 |\n"
         "|---|---:|---:|---:|---:|---:|\n" + rows;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string csv_number(double v) { return std::isnan(v) ? "" : fmt::format("{}", v); }

void append_csv_rows(std::string& out, const std::string& fold, const std::vector<Row>& rows) {
  for (const auto& r : rows)
    for (std::size_t s = 0; s < kNumSelections; ++s) {
      out += fmt::format("{},{},{},{}", csv_field(fold), csv_field(r.condition), selection_id(kAllSelections[s]),
                         r.epoch[s] ? std::to_string(*r.epoch[s]) : "");
      for (double v : r.scores[s]) out += "," + csv_number(v);
      out += "\n";
    }
}

std::string results_csv(const RunResults& results) {
  std::string out = "fold,condition,selection,epoch";
  for (const auto& id : results.score_ids()) out += "," + csv_field(id);
  out += "\n";
  for (const auto& fold : results.folds)
    append_csv_rows(out, fold.name, fold_rows(fold, results));
  append_csv_rows(out, "mean", mean_rows(results));
  return out;
}

// Fields in the order written (ordered_json), as readers of earlier runs saw them.
// NaN and infinite scores are written as null.
using Json = nlohmann::ordered_json;

Json epoch_json(const EpochScores& e) {
  Json j{{"epoch", e.epoch},
         {"valid_primary", e.valid_primary},
         {"valid_secondary", e.valid_secondary},
         {"test_primary", e.test_primary},
         {"test_secondary", e.test_secondary}};
  if (!e.test_confusion.empty() || !std::isnan(e.test_macro_f1)) {  // classification
    j["valid_macro_f1"] = e.valid_macro_f1;
    j["test_macro_f1"] = e.test_macro_f1;
    j["test_weighted_f1"] = e.test_weighted_f1;
    j["test_confusion"] = e.test_confusion;  // classes × classes, row-major [true][predicted]
  }
  if (!e.test_quintile_accuracy.empty())  // easiest quintile of the teacher's test H first
    j["test_quintile_accuracy"] = e.test_quintile_accuracy;
  if (!e.test_ccc.empty()) {  // regression: per target, in the order of "targets"
    j["test_ccc"] = e.test_ccc;
    j["test_pearson"] = e.test_pearson;
    j["test_mse"] = e.test_mse;
  }
  return j;
}

Json condition_json(const ConditionResult& c) {
  Json selected = Json::object();
  for (auto sel : kAllSelections)
    selected[selection_id(sel)] =
        c.epochs.empty() ? Json(nullptr) : Json(select_epoch(c.epochs, sel).epoch);
  Json epochs = Json::array();
  for (const auto& e : c.epochs) epochs.push_back(epoch_json(e));
  return Json{{"condition", c.condition},
              {"spearman_planted", c.spearman_planted},
              {"spearman_direct_planted", c.spearman_direct_planted},
              {"spearman_indirect_planted", c.spearman_indirect_planted},
              {"k_histogram", c.k_histogram},
              {"support_label_agreement", c.support_label_agreement},
              {"selected_epoch", std::move(selected)},
              {"epochs", std::move(epochs)}};
}

std::string results_json(const RunResults& results) {
  Json folds = Json::array();
  for (const auto& fold : results.folds) {
    Json conditions = Json::array();
    for (const auto& c : fold.conditions) conditions.push_back(condition_json(c));
    folds.push_back(Json{{"name", fold.name}, {"conditions", std::move(conditions)}});
  }
  Json doc{{"corpus", results.corpus},
           {"task", results.task},
           {"primary", results.primary_name()},
           {"secondary", results.secondary_name()}};
  if (!results.targets.empty()) doc["targets"] = results.targets;
  doc["folds"] = std::move(folds);
  // Names come from the config and corpus; a stray non-UTF-8 byte becomes U+FFFD
  // rather than losing the whole report at the end of a run.
  return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace

std::string results_markdown(const RunResults& results) {
  const std::size_t n = results.folds.size();
  std::string out = n == 1 ? "## Results\n\n"
                           : fmt::format("## Mean over {} folds\n\n", n);
  out += markdown_table(mean_rows(results), results);
  // With a single fold the per-fold table would repeat the main one.
  if (n > 1) {
    out += "\n## Per fold\n";
    for (const auto& fold : results.folds)
      out += fmt::format("\n### {}\n\n{}", fold.name, markdown_table(fold_rows(fold, results), results));
  }
  out += "\n## Diagnostics\n\n";
  out += "Spearman(Hd, planted), Spearman(Hi, planted) and Spearman(H, planted) (each over the fold's training "
         "samples, per condition) and support-label agreement are averaged over the folds that "
         "have them; n/a where no fold does (e.g. a corpus without planted hardness).\n\n";
  out += diagnostics_table(results);
  out += quintile_table(results);
  return out;
}

void write_reports(const RunResults& results, const std::string& dir) {
  const std::string p = results.primary_name();
  std::string md = fmt::format("# HARDY-MER results: {} ({})\n\n", results.corpus, results.task);
  const auto& m = results.modalities;
  std::vector<std::string> codes;
  for (int i = 0; i < m.size(); ++i) codes.push_back(fmt::format("{} = {}", m.code(i), m.name(i)));
  const auto legend = fmt::format("{}", fmt::join(codes, ", "));
  md += fmt::format(
      "Test-set {} of the student per modality condition ({} available). Each is shown at three epochs: *{}* (the final student epoch), *{}* "
      "(the epoch with the highest validation {}; the last epoch when there is no validation "
      "set) and *{}* (the epoch with the highest test {}, as the paper reports; it selects on "
      "the test set, so it is optimistic). \"average\" is the mean over the missing-modality "
      "conditions ({}); {}, when present, is excluded from it as in the "
      "paper.\n\n",
      fmt::join(results.score_names(), ", "), legend, selection_label(Selection::LastEpoch), selection_label(Selection::BestValid), p,
      selection_label(Selection::BestTest), p, fmt::join(m.missing_conditions(), ", "), m.complete_condition());
  if (results.task == "regression")
    md += fmt::format("CCC is the mean over the targets ({}) of Lin's concordance correlation coefficient, r the "
                      "mean of Pearson's r; per-target CCC follow. MSE and Pearson's r per target are in "
                      "results.json.\n\n",
                      fmt::join(results.targets, ", "));
  md += results_markdown(results);
  const std::string base = dir.empty() ? std::string() : dir + "/";
  write_file_atomic(base + "results.md", md);
  write_file_atomic(base + "results.csv", results_csv(results));
  write_file_atomic(base + "results.json", results_json(results));
  log::info("results written to {}results.md, results.csv and results.json", base);
}

}  // namespace hardy
