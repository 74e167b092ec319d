#include "research/ablation.h"

#include "core/error.h"
#include "train/file_io.h"
#include "train/hardness.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

namespace hardy {

namespace {

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// "name: key=value; key=value"
AblationRow parse_extra_row(const std::string& entry) {
  const auto colon = entry.find(':');
  HARDY_THROW_IF_NOT_MSG(colon != std::string::npos && !trim(entry.substr(0, colon)).empty(),
                         "ablation.extra_rows entry '{}' has no name: write \"name: key=value; key=value\", "
                         "e.g. \"k5: retrieval.top_k=5\"",
                         entry);
  AblationRow row{trim(entry.substr(0, colon)), "user row (ablation.extra_rows)", {}};
  std::stringstream in(entry.substr(colon + 1));
  std::string part;
  while (std::getline(in, part, ';')) {
    part = trim(part);
    if (part.empty()) continue;
    HARDY_THROW_IF_NOT_MSG(part.find('=') != std::string::npos,
                           "ablation.extra_rows entry '{}': '{}' is not key=value", entry, part);
    row.overrides.push_back(part);
  }
  return row;
}

constexpr const char* kHeadline = "best_valid";

// The per-fold values of one score of one condition ("average": the mean over the
// missing-modality conditions) of one run, under one selection.
std::vector<double> fold_values(const RunResults& r, const std::string& condition, std::size_t score,
                                Selection selection) {
  std::vector<double> out;
  const auto complete = r.modalities.complete_condition();
  for (const auto& fold : r.folds) {
    double sum = 0;
    int count = 0;
    for (const auto& c : fold.conditions) {
      const bool wanted = condition == "average" ? c.condition != complete : c.condition == condition;
      if (!wanted || c.epochs.empty()) continue;
      sum += r.score_values(select_epoch(c.epochs, selection))[score];
      ++count;
    }
    out.push_back(count ? sum / count : NAN);
  }
  return out;
}

std::string number(double v) { return std::isnan(v) ? "n/a" : fmt::format("{:.4f}", v); }

std::string signed_number(double v) { return fmt::format("{:+.4f}", v); }

std::string interval_text(const std::optional<Interval>& i) {
  return i ? fmt::format("[{}, {}]", signed_number(i->low), signed_number(i->high)) : "n/a";
}

}  // namespace

int share_prepared_artifacts(const std::string& from_run, const std::string& to_run) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(from_run)) return 0;
  auto shared = [](const std::string& name) {
    static const char* prefixes[] = {"feature_net_", "features.json", "teacher.pt", "teacher.json", "hardness.",
                                     "test_hardness.", "curriculum"};
    if (name.find(".corrupt") != std::string::npos || name.find(".tmp") != std::string::npos) return false;
    for (const char* p : prefixes)
      if (name.rfind(p, 0) == 0) return true;
    return false;
  };
  int count = 0;
  auto share = [&](const fs::path& from, const fs::path& to) {
    if (fs::exists(to)) return;
    fs::create_directories(to.parent_path());
    std::error_code linked;
    fs::create_hard_link(from, to, linked);
    if (linked) fs::copy_file(from, to);
    ++count;
  };
  for (const auto& fold : fs::directory_iterator(from_run)) {
    if (!fold.is_directory()) continue;
    const auto name = fold.path().filename().string();
    if (name.rfind("fold", 0) != 0 && name != "split") continue;
    const auto target = fs::path(to_run) / name;
    for (const auto& file : fs::directory_iterator(fold.path()))
      if (file.is_regular_file() && shared(file.path().filename().string()))
        share(file.path(), target / file.path().filename());
    const auto metrics = fold.path() / "metrics";
    if (fs::is_directory(metrics))
      for (const auto& file : fs::directory_iterator(metrics)) {
        const auto f = file.path().filename().string();
        if (f.rfind("features_", 0) == 0 || f == "teacher.csv") share(file.path(), target / "metrics" / f);
      }
  }
  return count;
}

const std::vector<AblationRow>& builtin_ablation_rows() {
  static const std::vector<AblationRow> rows = {
      {"full", "the method as configured", {}},
      {"no_direct", "w/o direct hardness Hd (paper Table 2)", {"hardness.use_direct_hardness=false"}},
      {"no_indirect", "w/o indirect hardness Hi (paper Table 2)", {"hardness.use_indirect_hardness=false"}},
      {"fixed_k", "w/o hardness: every sample gets K supports (paper Table 2)", {"retrieval.dynamic_k=false"}},
      {"centered", "H centred so K_q spans K_min..K (our variant)", {"hardness.centered=true"}},
      {"no_retrieval", "w/o retrieval: stage 2 trains on the samples only (paper Table 2)",
       {"retrieval.enabled=false"}},
      {"no_finetune", "w/o fine-tuned features (paper Table 2)", {"training.finetune_features=false"}},
      {"permuted_hardness", "control: hardness shuffled over the training samples (same K_q histogram)",
       {"hardness.permute=true"}},
      {"random_supports", "control: random training samples as supports (same K_q); a known-bad row",
       {"retrieval.random_supports=true"}},
  };
  return rows;
}

std::vector<AblationRow> ablation_rows(const std::vector<std::string>& names, const std::vector<std::string>& extra) {
  std::vector<AblationRow> known = builtin_ablation_rows();
  for (const auto& e : extra) {
    auto row = parse_extra_row(e);
    HARDY_THROW_IF_NOT_MSG(std::none_of(known.begin(), known.end(), [&](const AblationRow& k) { return k.name == row.name; }),
                           "ablation.extra_rows: the row name '{}' is taken (a built-in row or an earlier entry)",
                           row.name);
    known.push_back(row);
  }
  std::vector<std::string> wanted = names;
  if (wanted.empty())
    for (const auto& k : known) wanted.push_back(k.name);
  if (std::find(wanted.begin(), wanted.end(), "full") == wanted.end()) wanted.insert(wanted.begin(), "full");
  std::vector<AblationRow> rows;
  auto add = [&](const std::string& name) {
    auto it = std::find_if(known.begin(), known.end(), [&](const AblationRow& k) { return k.name == name; });
    if (it == known.end()) {
      std::string all;
      for (const auto& k : known) all += (all.empty() ? "" : ", ") + k.name;
      HARDY_THROW_MSG("ablation.rows: unknown row '{}'; rows are: {} (add your own with ablation.extra_rows)", name,
                      all);
    }
    if (std::none_of(rows.begin(), rows.end(), [&](const AblationRow& r) { return r.name == name; }))
      rows.push_back(*it);
  };
  add("full");
  for (const auto& n : wanted) add(n);
  return rows;
}

std::vector<AblationCell> ablation_cells(const AblationRuns& runs) {
  HARDY_THROW_IF_NOT_MSG(!runs.results.empty() && !runs.results[0].empty(), "an ablation needs at least one run");
  const auto& first = runs.results[0][0];
  std::vector<std::string> conditions;
  for (const auto& c : first.folds.at(0).conditions) conditions.push_back(c.condition);
  conditions.push_back("average");
  const auto scores = first.score_names();
  std::vector<AblationCell> cells;
  // [fold][seed] of one row.
  auto table = [&](std::size_t row, const std::string& condition, std::size_t k, Selection selection) {
    FoldSeedValues v;
    for (std::size_t s = 0; s < runs.seeds.size(); ++s) {
      const auto per_fold = fold_values(runs.results[row][s], condition, k, selection);
      if (v.empty()) v.resize(per_fold.size());
      for (std::size_t f = 0; f < per_fold.size(); ++f) v[f].push_back(per_fold[f]);
    }
    return v;
  };
  for (std::size_t r = 0; r < runs.rows.size(); ++r) {
    for (const auto& condition : conditions) {
      for (std::size_t k = 0; k < scores.size(); ++k) {
        for (auto selection : kAllSelections) {
          AblationCell cell;
          cell.row = runs.rows[r].name;
          cell.condition = condition;
          cell.score = scores[k];
          cell.selection = selection_id(selection);
          cell.values = table(r, condition, k, selection);
          cell.summary = mean_std(cell.values);
          if (r > 0) {
            // full's cell of the same condition, score and selection (row 0, already made).
            const auto& full_cell = cells[cells.size() - r * conditions.size() * scores.size() * std::size(kAllSelections)];
            HARDY_THROW_IF_NOT(full_cell.condition == cell.condition && full_cell.score == cell.score &&
                               full_cell.selection == cell.selection);
            const auto& full = full_cell.values;
            auto diff = cell.values;
            bool finite = true;
            for (std::size_t f = 0; f < diff.size(); ++f)
              for (std::size_t s = 0; s < diff[f].size(); ++s) {
                diff[f][s] -= full[f][s];
                finite = finite && std::isfinite(diff[f][s]);
              }
            if (finite) {
              if (diff.size() >= 2) {
                cell.t_interval = fold_t_interval(diff);
                cell.folds_for_1_point = folds_to_detect(diff, 0.01);
                cell.folds_for_2_points = folds_to_detect(diff, 0.02);
              }
              cell.bootstrap = hierarchical_bootstrap(diff, 10000, 0.95, 17);
            }
          }
          cells.push_back(cell);
        }
      }
    }
  }
  return cells;
}

std::vector<QuintileCell> quintile_cells(const AblationRuns& runs) {
  std::vector<QuintileCell> cells;
  const auto& first = runs.results.at(0).at(0);
  for (std::size_t r = 0; r < runs.rows.size(); ++r)
    for (const auto& c0 : first.folds.at(0).conditions)
      for (int q = 0; q < kHardnessQuintiles; ++q) {
        QuintileCell cell{runs.rows[r].name, c0.condition, q, {}, NAN, std::nullopt};
        for (std::size_t s = 0; s < runs.seeds.size(); ++s) {
          double sum = 0;
          int n = 0;
          for (const auto& fold : runs.results[r][s].folds)
            for (const auto& c : fold.conditions) {
              if (c.condition != c0.condition || c.epochs.empty()) continue;
              const auto& acc = select_epoch(c.epochs, Selection::BestValid).test_quintile_accuracy;
              if (static_cast<int>(acc.size()) > q && std::isfinite(acc[static_cast<std::size_t>(q)])) {
                sum += acc[static_cast<std::size_t>(q)];
                ++n;
              }
            }
          if (n) cell.values.push_back(sum / n);
        }
        if (cell.values.size() != runs.seeds.size() || cell.values.empty()) continue;  // not measured
        FoldSeedValues per_seed;  // the seed is the unit here
        for (double v : cell.values) per_seed.push_back({v});
        cell.mean = mean_std(per_seed).mean;
        if (per_seed.size() >= 2) cell.interval = fold_t_interval(per_seed);
        cells.push_back(cell);
      }
  return cells;
}

std::string ablation_markdown(const AblationRuns& runs, const std::vector<AblationCell>& cells) {
  const auto& first = runs.results[0][0];
  const auto folds = first.folds.size();
  std::vector<std::string> conditions;
  for (const auto& c : first.folds.at(0).conditions) conditions.push_back(c.condition);
  conditions.push_back("average");
  auto find = [&](const std::string& row, const std::string& condition, const std::string& score,
                  const std::string& selection) -> const AblationCell& {
    for (const auto& c : cells)
      if (c.row == row && c.condition == condition && c.score == score && c.selection == selection) return c;
    HARDY_THROW_MSG("internal: no ablation cell {}/{}/{}/{}", row, condition, score, selection);
  };
  std::string md = "# Ablation\n\n";
  md += fmt::format("Corpus `{}` ({}), {} fold(s), seeds {} ({} runs per row). Rows:\n\n", first.corpus, first.task,
                    folds, fmt::join(runs.seeds, ", "), runs.seeds.size());
  md += "| row | what | overrides |\n|---|---|---|\n";
  for (const auto& r : runs.rows)
    md += fmt::format("| {} | {} | {} |\n", r.name, r.description,
                      r.overrides.empty() ? "none" : "`" + fmt::format("{}", fmt::join(r.overrides, "`, `")) + "`");
  const std::string caption =
      "Each cell: mean ± std over every (fold, seed) run; below it, for rows other than full, the difference "
      "against full (row − full) with a 95 % t-interval that takes the fold as the unit (each fold's "
      "differences averaged over the seeds, t with folds − 1 degrees of freedom; n/a with one fold) and, in "
      "braces, the 95 % hierarchical bootstrap (resampling folds, then seeds within each fold; 10,000 "
      "resamples). Folds share training data and seeds share folds, so the (fold, seed) runs are not "
      "independent and neither interval treats them as if they were. **bold** = the t-interval excludes 0.";
  md += "\n" + caption + "\n";
  auto table = [&](const std::string& score, const std::string& selection, const std::string& title) {
    md += fmt::format("\n## {}\n\n| row |", title);
    for (const auto& c : conditions) md += " " + c + " |";
    md += "\n|---|";
    for (std::size_t i = 0; i < conditions.size(); ++i) md += "---:|";
    md += "\n";
    for (const auto& r : runs.rows) {
      md += "| " + r.name + " |";
      for (const auto& c : conditions) {
        const auto& cell = find(r.name, c, score, selection);
        std::string text = fmt::format("{} ± {}", number(cell.summary.mean), number(cell.summary.std));
        if (cell.t_interval || cell.bootstrap) {
          const double delta = cell.t_interval ? cell.t_interval->estimate : cell.bootstrap->estimate;
          std::string d = fmt::format("Δ {} {}", signed_number(delta), interval_text(cell.t_interval));
          if (cell.t_interval && cell.t_interval->excludes(0)) d = "**" + d + "**";
          text += "<br>" + d + " {" + (cell.bootstrap ? fmt::format("{}, {}", signed_number(cell.bootstrap->low),
                                                                    signed_number(cell.bootstrap->high))
                                                      : "n/a") + "}";
        }
        md += " " + text + " |";
      }
      md += "\n";
    }
  };
  const auto scores = first.score_names();
  for (const auto& score : scores)
    table(score, kHeadline, fmt::format("{}, best epoch on validation (headline)", score));
  for (const auto& score : scores) table(score, "last_epoch", fmt::format("{}, last epoch", score));
  for (const auto& score : scores)
    table(score, "best_test",
          fmt::format("{}, best epoch on test (the authors' protocol: it peeks at the test set; for comparison "
                      "with the paper only)",
                      score));
  // Accuracy by hardness quintile.
  const auto quintiles = quintile_cells(runs);
  if (!quintiles.empty()) {
    md += "\n## Accuracy by hardness\n\nTest accuracy at the best epoch on validation per quintile of the teacher's "
          "hardness H of the test utterances under the condition (Q1 easiest, Q5 hardest), averaged over the folds "
          "per seed; mean over the seeds [95 % t-interval over the seeds]. The paper's claim is that hard samples "
          "gain most: compare full with fixed_k (and the controls) column by column.\n";
    for (const auto& c0 : first.folds.at(0).conditions) {
      md += fmt::format("\n### {}\n\n| row | Q1 | Q2 | Q3 | Q4 | Q5 |\n|---|---:|---:|---:|---:|---:|\n", c0.condition);
      for (const auto& r : runs.rows) {
        std::string line = "| " + r.name + " |";
        for (int q = 0; q < kHardnessQuintiles; ++q) {
          auto it = std::find_if(quintiles.begin(), quintiles.end(), [&](const QuintileCell& c) {
            return c.row == r.name && c.condition == c0.condition && c.quintile == q;
          });
          line += it == quintiles.end()
                      ? " n/a |"
                      : fmt::format(" {} {} |", number(it->mean),
                                    it->interval ? fmt::format("[{}, {}]", number(it->interval->low),
                                                               number(it->interval->high))
                                                 : std::string());
        }
        md += line + "\n";
      }
    }
  }
  // Power: what this noise level can detect.
  md += fmt::format("\n## Power\n\nFolds needed (each averaged over {} seed(s), as here) for a fold-unit t-test "
                    "at 95 % to detect a true difference of 1 or 2 points of {} (average column, best on "
                    "validation) with 80 % power, from the measured spread of each row's per-fold "
                    "differences against full. n/a with fewer than two folds.\n\n| row | 1 point | 2 points |\n|---|---:|---:|\n",
                    runs.seeds.size(), scores[0]);
  for (std::size_t r = 1; r < runs.rows.size(); ++r) {
    const auto& cell = find(runs.rows[r].name, "average", scores[0], kHeadline);
    auto text = [](int n) { return n > 0 ? std::to_string(n) : std::string("n/a"); };
    md += fmt::format("| {} | {} | {} |\n", runs.rows[r].name, text(cell.folds_for_1_point),
                      text(cell.folds_for_2_points));
  }
  return md;
}

void write_ablation_reports(const AblationRuns& runs, const std::string& dir) {
  const auto cells = ablation_cells(runs);
  write_file_atomic(dir + "/ablation.md", ablation_markdown(runs, cells));
  auto value = [](double v) { return std::isnan(v) ? std::string() : fmt::format("{:.6g}", v); };
  std::string csv =
      "row,condition,score,selection,mean,std,folds,seeds,diff,t_low,t_high,bootstrap_low,bootstrap_high,"
      "folds_for_1_point,folds_for_2_points\n";
  using Json = nlohmann::ordered_json;
  Json json;
  json["seeds"] = runs.seeds;
  json["rows"] = Json::array();
  for (const auto& r : runs.rows) json["rows"].push_back({{"name", r.name}, {"description", r.description}, {"overrides", r.overrides}});
  json["cells"] = Json::array();
  auto number_or_null = [](double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); };
  for (const auto& c : cells) {
    const auto folds = c.values.size();
    const auto seeds = folds ? c.values[0].size() : 0;
    const double diff = c.t_interval ? c.t_interval->estimate : c.bootstrap ? c.bootstrap->estimate : NAN;
    csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", c.row, c.condition, c.score, c.selection,
                       value(c.summary.mean), value(c.summary.std), folds, seeds, value(diff),
                       value(c.t_interval ? c.t_interval->low : NAN), value(c.t_interval ? c.t_interval->high : NAN),
                       value(c.bootstrap ? c.bootstrap->low : NAN), value(c.bootstrap ? c.bootstrap->high : NAN),
                       c.folds_for_1_point, c.folds_for_2_points);
    Json cell = {{"row", c.row},         {"condition", c.condition},        {"score", c.score},
                 {"selection", c.selection}, {"mean", number_or_null(c.summary.mean)},
                 {"std", number_or_null(c.summary.std)}};
    Json values = Json::array();
    for (const auto& f : c.values) {
      Json seeds_json = Json::array();
      for (double v : f) seeds_json.push_back(number_or_null(v));
      values.push_back(seeds_json);
    }
    cell["values_fold_seed"] = values;
    if (c.t_interval)
      cell["t_interval"] = {{"diff", c.t_interval->estimate}, {"low", c.t_interval->low}, {"high", c.t_interval->high}};
    if (c.bootstrap)
      cell["bootstrap"] = {{"diff", c.bootstrap->estimate}, {"low", c.bootstrap->low}, {"high", c.bootstrap->high}};
    if (c.folds_for_1_point) cell["folds_for_1_point"] = c.folds_for_1_point;
    if (c.folds_for_2_points) cell["folds_for_2_points"] = c.folds_for_2_points;
    json["cells"].push_back(cell);
  }
  json["quintiles"] = Json::array();
  for (const auto& q : quintile_cells(runs)) {
    Json cell = {{"row", q.row}, {"condition", q.condition}, {"quintile", q.quintile + 1}, {"per_seed", q.values},
                 {"mean", q.mean}};
    if (q.interval) cell["t_interval_over_seeds"] = {{"low", q.interval->low}, {"high", q.interval->high}};
    json["quintiles"].push_back(cell);
  }
  write_file_atomic(dir + "/ablation.csv", csv);
  write_file_atomic(dir + "/ablation.json", json.dump(2) + "\n");
}

}  // namespace hardy
