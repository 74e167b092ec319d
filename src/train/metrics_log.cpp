#include "train/metrics_log.h"

#include "core/error.h"
#include "core/log.h"
#include "data/corpus.h"
#include "train/epoch_scores.h"
#include "train/file_io.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace hardy {

namespace fs = std::filesystem;

namespace {

constexpr int kColumns = 19;

std::string number(double v) { return std::isnan(v) ? "" : fmt::format("{:.6g}", v); }

double parse_number(const std::string& field) { return field.empty() ? NAN : std::stod(field); }

// Strings in the log never hold a comma (phases are cut at the first one), so the
// file needs no quoting and every tool reads it.
std::string field(const std::string& s) { return s.substr(0, s.find(',')); }

// The row of one line, or false when the line is torn or not ours.
bool parse_row(const std::string& line, MetricsRow& row) {
  const auto f = split_commas(line);
  if (static_cast<int>(f.size()) != kColumns) return false;
  try {
    row.fold = f[0];
    row.stage = f[1];
    row.condition = f[2];
    row.epoch = std::stoll(f[3]);
    row.phase = f[4];
    row.steps = std::stoll(f[5]);
    double* numbers[] = {&row.loss,          &row.loss_task,       &row.loss_reconstruction, &row.loss_mi,
                         &row.lr,            &row.valid_primary,   &row.valid_secondary,     &row.valid_macro_f1,
                         &row.test_primary,  &row.test_secondary,  &row.test_macro_f1,       &row.utterances_per_s,
                         &row.elapsed_s};
    for (int i = 0; i < 13; ++i) *numbers[i] = parse_number(f[static_cast<std::size_t>(6 + i)]);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

}  // namespace

void MetricsRow::set_scores(const EpochScores& s) {
  valid_primary = s.valid_primary;
  valid_secondary = s.valid_secondary;
  valid_macro_f1 = s.valid_macro_f1;
  test_primary = s.test_primary;
  test_secondary = s.test_secondary;
  test_macro_f1 = s.test_macro_f1;
}

std::string metrics_csv_header() {
  return "fold,stage,condition,epoch,phase,steps,loss,loss_task,loss_reconstruction,loss_mi,lr,valid_primary,"
         "valid_secondary,valid_macro_f1,"
         "test_primary,test_secondary,test_macro_f1,utterances_per_s,elapsed_s\n";
}

std::string metrics_csv_line(const MetricsRow& r) {
  return fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", field(r.fold), field(r.stage),
                     field(r.condition), r.epoch, field(r.phase), r.steps, number(r.loss), number(r.loss_task),
                     number(r.loss_reconstruction), number(r.loss_mi), number(r.lr),
                     number(r.valid_primary), number(r.valid_secondary), number(r.valid_macro_f1),
                     number(r.test_primary), number(r.test_secondary), number(r.test_macro_f1),
                     number(r.utterances_per_s), number(r.elapsed_s));
}

std::vector<MetricsRow> read_metrics_csv(const std::string& path) {
  std::stringstream in(read_file(path));
  std::string line;
  std::getline(in, line);
  HARDY_THROW_IF_NOT_MSG(line + "\n" == metrics_csv_header(),
                         "{} is not a hardy_dist metrics file (its first line is '{}'); expected the header '{}'",
                         path, line, metrics_csv_header().substr(0, metrics_csv_header().size() - 1));
  std::vector<MetricsRow> rows;
  for (int number = 2; std::getline(in, line); ++number) {
    MetricsRow row;
    HARDY_THROW_IF_NOT_MSG(parse_row(line, row), "{} line {}: '{}' is not a metrics row ({} columns expected)",
                           path, number, line, kColumns);
    rows.push_back(row);
  }
  return rows;
}

StageMetrics::StageMetrics(std::string path, bool writes, std::int64_t resumed_after)
    : path_(std::move(path)), writes_(writes) {
  if (!writes_) return;
  std::string kept = metrics_csv_header();
  if (resumed_after > 0 && fs::exists(path_)) {
    // Rows of the epochs the resumed stage will not redo; a torn last line (a run
    // killed while appending) or a foreign line is dropped.
    std::stringstream in(read_file(path_));
    std::string line;
    std::getline(in, line);
    if (line + "\n" == metrics_csv_header()) {
      while (std::getline(in, line)) {
        MetricsRow row;
        if (!parse_row(line, row) || row.epoch > resumed_after) continue;
        kept += line + "\n";
        steps_before_ = row.steps;
        if (!std::isnan(row.elapsed_s)) elapsed_before_ = row.elapsed_s;
      }
    } else {
      log::warn("{} is not a metrics file; the stage's log starts afresh", path_);
    }
  }
  write_file_atomic(path_, kept);
}

void StageMetrics::append(MetricsRow row) {
  if (!writes_) return;
  row.steps += steps_before_;
  row.elapsed_s += elapsed_before_;
  std::ofstream out(path_, std::ios::app);
  out << metrics_csv_line(row);
  out.flush();
  HARDY_THROW_IF_NOT_MSG(out.good(), "cannot append to {}: is the disk full or the run directory read-only?",
                         path_);
}

void merge_metrics(const std::vector<std::string>& fold_dirs, const std::vector<std::string>& stages,
                   const std::string& path) {
  std::string all = metrics_csv_header();
  for (const auto& dir : fold_dirs) {
    for (const auto& stage : stages) {
      const auto file = dir + "/metrics/" + stage + ".csv";
      if (!fs::exists(file)) continue;
      try {
        for (const auto& row : read_metrics_csv(file)) all += metrics_csv_line(row);
      } catch (const Error& e) {
        log::warn("metrics.csv leaves out {}: {}", file, e.what());
      }
    }
  }
  write_file_atomic(path, all);
}

}  // namespace hardy
