// Epoch selections and the markdown/CSV/JSON reports on synthetic results.
#include "train/report.h"

#include "core/error.h"
#include "support/corpus_fixtures.h"
#include "train/file_io.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

namespace hardy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

EpochScores scores(std::int64_t epoch, double valid, double test) {
  return EpochScores{epoch, valid, valid - 0.1, test, test - 0.05};
}

TEST(SelectEpoch, LastBestValidBestTestWithTiesToTheEarliest) {
  std::vector<EpochScores> e = {scores(0, 0.5, 0.6), scores(1, 0.7, 0.6), scores(2, 0.7, 0.8),
                                scores(3, 0.6, 0.8)};
  EXPECT_EQ(select_epoch(e, Selection::LastEpoch).epoch, 3);
  EXPECT_EQ(select_epoch(e, Selection::BestValid).epoch, 1);
  EXPECT_EQ(select_epoch(e, Selection::BestTest).epoch, 2);
}

TEST(SelectEpoch, NanValidationIsSkippedAndAllNanFallsBackToLast) {
  std::vector<EpochScores> e = {scores(0, NAN, 0.9), scores(1, 0.4, 0.5), scores(2, NAN, 0.6)};
  EXPECT_EQ(select_epoch(e, Selection::BestValid).epoch, 1);
  for (auto& s : e) s.valid_primary = NAN;
  EXPECT_EQ(select_epoch(e, Selection::BestValid).epoch, 2);
  EXPECT_EQ(select_epoch(e, Selection::BestTest).epoch, 0);
  EXPECT_THROW(select_epoch({}, Selection::LastEpoch), Error);
}

TEST(SelectionLabel, NamesTheAuthorsProtocol) {
  EXPECT_STREQ(selection_label(Selection::LastEpoch), "last epoch");
  EXPECT_STREQ(selection_label(Selection::BestValid), "best on validation");
  EXPECT_STREQ(selection_label(Selection::BestTest), "best on test (authors' protocol)");
}

// Condition c of fold f: test primary base = 0.5 + 0.1 c + 0.02 f at the last epoch,
// base + 0.01 at the best-validation epoch, base + 0.04 at the best-test epoch;
// secondary = primary - 0.05.
ConditionResult condition(const std::string& name, int c, int f) {
  double base = 0.5 + 0.1 * c + 0.02 * f;
  ConditionResult r;
  r.condition = name;
  r.epochs = {scores(0, 0.6, base + 0.01), scores(1, 0.5, base + 0.04), scores(2, 0.4, base)};
  r.spearman_planted = f == 0 ? 0.5 : NAN;
  r.k_histogram = f == 0 ? std::vector<std::int64_t>{0, 3, 1}
                         : std::vector<std::int64_t>{0, 1, 3, 2};
  r.support_label_agreement = 0.7 + 0.1 * f;
  return r;
}

RunResults two_fold_results(const std::string& task = "classification") {
  RunResults r{"tiny", task, {}};
  for (int f = 0; f < 2; ++f) {
    FoldResult fold{"fold " + std::to_string(f), {}};
    const char* names[] = {"a", "t", "v", "atv"};
    for (int c = 0; c < 4; ++c) fold.conditions.push_back(condition(names[c], c, f));
    r.folds.push_back(fold);
  }
  return r;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string first_line_starting(const std::string& text, const std::string& prefix) {
  for (const auto& line : lines_of(text))
    if (line.rfind(prefix, 0) == 0) return line;
  return "";
}

TEST(ResultsMarkdown, AverageRowExcludesAtvAndPerFoldTablesFollow) {
  std::string md = results_markdown(two_fold_results());
  // Mean over folds and over a, t, v of base = 0.5 + 0.1 * 1 + 0.02 * 0.5 = 0.61
  // (with atv it would be 0.66).
  EXPECT_EQ(first_line_starting(md, "| average |"),
            "| average | 0.6100 | 0.5600 | n/a | 0.6200 | 0.5700 | n/a | 0.6500 | 0.6000 | n/a |");
  // atv over folds: base = 0.8 + 0.01.
  EXPECT_EQ(first_line_starting(md, "| atv |"),
            "| atv | 0.8100 | 0.7600 | n/a | 0.8200 | 0.7700 | n/a | 0.8500 | 0.8000 | n/a |");
  // Classification shows macro-F1 beside WA and UA (n/a here: the fixture has none).
  EXPECT_THAT(md, HasSubstr("| WA (last epoch) | UA (last epoch) | macro-F1 (last epoch) | WA (best on validation) | "
                            "UA (best on validation) | macro-F1 (best on validation) | WA (best on test (authors' protocol)) | "
                            "UA (best on test (authors' protocol)) | macro-F1 (best on test (authors' protocol)) |"));
  EXPECT_THAT(md, HasSubstr("### fold 0"));
  EXPECT_THAT(md, HasSubstr("### fold 1"));
  // Fold 1 alone: base 0.52 + 0.1 = 0.62 averaged over a, t, v.
  auto fold1 = md.substr(md.find("### fold 1"));
  EXPECT_EQ(first_line_starting(fold1, "| average |"),
            "| average | 0.6200 | 0.5700 | n/a | 0.6300 | 0.5800 | n/a | 0.6600 | 0.6100 | n/a |");
  // Rows in the first fold's order.
  EXPECT_LT(md.find("| a |"), md.find("| t |"));
  EXPECT_LT(md.find("| v |"), md.find("| atv |"));
  EXPECT_LT(md.find("| atv |"), md.find("| average |"));
}

TEST(ResultsMarkdown, DiagnosticsAverageSpearmanAndSumHistograms) {
  std::string md = results_markdown(two_fold_results());
  auto diag = md.substr(md.find("## Diagnostics"));
  EXPECT_EQ(first_line_starting(diag, "| t |"),
            "| t | n/a | n/a | 0.5000 | K_q=1: 4 (40.0%), K_q=2: 4 (40.0%), K_q=3: 2 (20.0%) | 0.7500 |");
  RunResults none = two_fold_results();
  for (auto& fold : none.folds)
    for (auto& c : fold.conditions) c.spearman_planted = NAN;
  md = results_markdown(none);
  diag = md.substr(md.find("## Diagnostics"));
  EXPECT_THAT(first_line_starting(diag, "| t |"), HasSubstr("| t | n/a | n/a | n/a |"));
}

TEST(ResultsMarkdown, ConditionMissingFromAFoldIsLabelled) {
  RunResults r = two_fold_results();
  r.folds[1].conditions.erase(r.folds[1].conditions.begin() + 2);  // fold 1 lacks v
  std::string md = results_markdown(r);
  // v only in fold 0: base 0.7.
  EXPECT_EQ(first_line_starting(md, "| v (1 of 2 folds) |"),
            "| v (1 of 2 folds) | 0.7000 | 0.6500 | n/a | 0.7100 | 0.6600 | n/a | 0.7400 | 0.6900 | n/a |");
}

TEST(ResultsMarkdown, SentimentUsesAccAndF1) {
  std::string md = results_markdown(two_fold_results("sentiment"));
  EXPECT_THAT(md, HasSubstr("Acc (last epoch)"));
  EXPECT_THAT(md, HasSubstr("F1 (best on test (authors' protocol))"));
  EXPECT_THAT(md, Not(HasSubstr("WA")));
  EXPECT_THAT(md, Not(HasSubstr("macro-F1")));
  EXPECT_THROW(results_markdown(two_fold_results("ordinal")), Error);
}

// Regression: CCC (the mean over targets), r, then the CCC of every target; the CSV
// names those columns ccc_<target>; results.json carries the per-target lists.
TEST(ResultsMarkdown, RegressionShowsCccPerTarget) {
  RunResults r = two_fold_results("regression");
  r.targets = {"arousal", "valence"};
  for (auto& fold : r.folds)
    for (auto& c : fold.conditions)
      for (auto& e : c.epochs) {
        e.test_ccc = {e.test_primary - 0.1, e.test_primary + 0.1};
        e.test_pearson = {0.5, 0.6};
        e.test_mse = {1.0, 2.0};
      }
  std::string md = results_markdown(r);
  EXPECT_THAT(md, HasSubstr("| CCC (last epoch) | r (last epoch) | CCC arousal (last epoch) | CCC valence (last epoch) |"));
  // Mean over folds and a, t, v at the last epoch: CCC 0.61, r 0.56, per target -/+ 0.1.
  EXPECT_THAT(first_line_starting(md, "| average |"), HasSubstr("| average | 0.6100 | 0.5600 | 0.5100 | 0.7100 |"));
  const std::string dir = testing::temp_path("report_regression");
  write_reports(r, dir);
  auto csv = lines_of(read_file(dir + "/results.csv"));
  EXPECT_EQ(csv[0], "fold,condition,selection,epoch,primary,secondary,ccc_arousal,ccc_valence");
  auto doc = nlohmann::ordered_json::parse(read_file(dir + "/results.json"));
  EXPECT_EQ(doc.at("targets"), nlohmann::ordered_json({"arousal", "valence"}));
  const auto& e = doc["folds"][0]["conditions"][0]["epochs"][0];
  EXPECT_EQ(e.at("test_pearson"), nlohmann::ordered_json({0.5, 0.6}));
  EXPECT_EQ(e.at("test_mse"), nlohmann::ordered_json({1.0, 2.0}));
  EXPECT_EQ(e.at("test_ccc").size(), 2u);
  EXPECT_THAT(read_file(dir + "/results.md"), HasSubstr("Lin's concordance correlation coefficient"));
}

// Braces and brackets outside strings never go negative and end balanced.
bool balanced_json(const std::string& s) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth < 0) return false;
    }
  }
  return depth == 0 && !in_string;
}

TEST(WriteReports, WritesMarkdownCsvAndJson) {
  const std::string dir = testing::temp_path("report");
  RunResults r = two_fold_results();
  r.folds[0].name = "fold \"0\", first";  // exercises CSV quoting and JSON escaping
  write_reports(r, dir);

  std::string md = read_file(dir + "/results.md");
  EXPECT_EQ(md.rfind("# HARDY-MER results: tiny (classification)", 0), 0u);
  EXPECT_THAT(md, HasSubstr("authors' protocol"));
  EXPECT_THAT(md, HasSubstr("| average |"));

  auto csv = lines_of(read_file(dir + "/results.csv"));
  ASSERT_FALSE(csv.empty());
  EXPECT_EQ(csv[0], "fold,condition,selection,epoch,primary,secondary,macro_f1");
  // (2 folds + mean) x (4 conditions + average) x 3 selections, plus the header.
  EXPECT_EQ(csv.size(), 1u + 3 * 5 * 3);
  // Full precision, written exactly as condition() computes the values.
  double best_test = 0.5 + 0.1 * 0 + 0.02 * 1 + 0.04, last = 0.5 + 0.1 * 0 + 0.02 * 0;
  EXPECT_THAT(csv, ::testing::Contains(fmt::format("fold 1,a,best_test,1,{},{},", best_test,
                                                   best_test - 0.05)));
  EXPECT_THAT(csv, ::testing::Contains(fmt::format(
                       "\"fold \"\"0\"\", first\",a,last_epoch,2,{},{},", last, last - 0.05)));
  EXPECT_EQ(std::count_if(csv.begin(), csv.end(),
                          [](const std::string& l) { return l.rfind("mean,", 0) == 0; }),
            15);

  std::string json = read_file(dir + "/results.json");
  EXPECT_TRUE(balanced_json(json));
  EXPECT_THAT(json, HasSubstr("\"spearman_planted\": null"));
  EXPECT_THAT(json, HasSubstr("\"name\": \"fold \\\"0\\\", first\""));
  EXPECT_THAT(json, Not(HasSubstr("nan")));

  // How short arrays and objects are laid out is the JSON library's choice; what
  // readers (tests/train/data_parallel_test.py, notebooks) rely on are the field
  // names, their order, the structure and the values, checked on the parsed file.
  using Json = nlohmann::ordered_json;
  const Json doc = Json::parse(json);
  auto keys = [](const Json& object) {
    std::vector<std::string> names;
    for (const auto& item : object.items()) names.push_back(item.key());
    return names;
  };
  EXPECT_THAT(keys(doc), ::testing::ElementsAre("corpus", "task", "primary", "secondary", "folds"));
  EXPECT_EQ(doc.at("corpus"), "tiny");
  EXPECT_EQ(doc.at("primary"), "WA");
  EXPECT_EQ(doc.at("secondary"), "UA");
  ASSERT_EQ(doc.at("folds").size(), 2u);
  EXPECT_THAT(keys(doc["folds"][0]), ::testing::ElementsAre("name", "conditions"));
  EXPECT_EQ(doc["folds"][0].at("name"), "fold \"0\", first");
  for (const auto& fold : doc["folds"]) {
    ASSERT_EQ(fold.at("conditions").size(), 4u);
    for (const auto& c : fold["conditions"]) {
      EXPECT_THAT(keys(c), ::testing::ElementsAre("condition", "spearman_planted", "spearman_direct_planted",
                                                  "spearman_indirect_planted", "k_histogram",
                                                  "support_label_agreement", "selected_epoch",
                                                  "epochs"));
      EXPECT_EQ(c.at("selected_epoch").dump(), R"({"last_epoch":2,"best_valid":0,"best_test":1})");
      ASSERT_EQ(c.at("epochs").size(), 3u);
    }
  }
  const Json& a0 = doc["folds"][0]["conditions"][0];
  const Json& a1 = doc["folds"][1]["conditions"][0];
  EXPECT_EQ(a0.at("condition"), "a");
  EXPECT_EQ(a0.at("spearman_planted").get<double>(), 0.5);
  EXPECT_TRUE(a1.at("spearman_planted").is_null());
  EXPECT_EQ(a0.at("k_histogram"), Json({0, 3, 1}));
  EXPECT_EQ(a1.at("k_histogram"), Json({0, 1, 3, 2}));
  EXPECT_EQ(a1.at("support_label_agreement").get<double>(), 0.7 + 0.1 * 1);
  // Epoch 1 of condition a, fold 0: valid 0.5, test base + 0.04 with base 0.5; full
  // precision, so the parsed value is the double that was written.
  const Json& e = a0["epochs"][1];
  EXPECT_THAT(keys(e), ::testing::ElementsAre("epoch", "valid_primary", "valid_secondary",
                                              "test_primary", "test_secondary"));
  EXPECT_EQ(e.at("epoch"), 1);
  EXPECT_EQ(e.at("valid_primary").get<double>(), 0.5);
  EXPECT_EQ(e.at("valid_secondary").get<double>(), 0.5 - 0.1);
  EXPECT_EQ(e.at("test_primary").get<double>(), 0.5 + 0.04);
  EXPECT_EQ(e.at("test_secondary").get<double>(), 0.5 + 0.04 - 0.05);
}

TEST(WriteReports, NanScoresAndEmptyEpochsAreNull) {
  const std::string dir = testing::temp_path("report_nan");
  RunResults r = two_fold_results();
  r.folds[0].conditions[0].epochs[0].valid_primary = NAN;
  r.folds[0].conditions[0].support_label_agreement = INFINITY;
  r.folds[0].conditions[1].epochs.clear();
  write_reports(r, dir);
  const auto doc = nlohmann::ordered_json::parse(read_file(dir + "/results.json"));
  const auto& a = doc["folds"][0]["conditions"][0];
  EXPECT_TRUE(a["epochs"][0].at("valid_primary").is_null());
  EXPECT_TRUE(a.at("support_label_agreement").is_null());
  const auto& t = doc["folds"][0]["conditions"][1];
  EXPECT_TRUE(t.at("epochs").is_array());
  EXPECT_TRUE(t.at("epochs").empty());
  for (const char* sel : {"last_epoch", "best_valid", "best_test"})
    EXPECT_TRUE(t.at("selected_epoch").at(sel).is_null()) << sel;
}

}  // namespace
}  // namespace hardy
