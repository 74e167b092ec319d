#include "data/corpus_reader.h"

#include <cmath>

#include "core/error.h"
#include "core/modality.h"

#include <algorithm>
#include <sstream>

namespace hardy {

const char* task_name(Task task) {
  switch (task) {
    case Task::Classification: return "classification";
    case Task::Sentiment: return "sentiment";
    case Task::Regression: return "regression";
  }
  return "unknown";
}

std::string targets_problem(const std::vector<std::string>& names, double min, double max) {
  if (names.empty()) return "no target is named (e.g. \"arousal,valence,dominance\")";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty() || names[i].find(',') != std::string::npos)
      return fmt::format("target name \"{}\" is empty or holds a comma", names[i]);
    for (std::size_t j = 0; j < i; ++j)
      if (names[i] == names[j]) return fmt::format("target '{}' is named twice", names[i]);
  }
  if (!(std::isfinite(min) && std::isfinite(max) && min < max))
    return fmt::format("the target range [{}, {}] is not finite with min < max (e.g. 1 and 7)", min, max);
  return "";
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  std::size_t begin = 0;
  for (std::size_t comma; (comma = text.find(',', begin)) != std::string::npos; begin = comma + 1)
    out.push_back(text.substr(begin, comma - begin));
  out.push_back(text.substr(begin));
  return out;
}

std::optional<Task> parse_task(const std::string& name) {
  for (auto t : {Task::Classification, Task::Sentiment, Task::Regression})
    if (name == task_name(t)) return t;
  return std::nullopt;
}

namespace {

// Checks that dataset `name` exists with N rows (and, for features, 2-D).
std::vector<std::int64_t> require_rows(hid_t file, const std::string& path,
                                       const std::string& name, std::int64_t rows,
                                       int expected_rank) {
  auto ds = h5::open_dataset(file, name, path);
  auto shape = h5::dataset_shape(ds.get());
  HARDY_THROW_IF_NOT_MSG(static_cast<int>(shape.size()) == expected_rank,
                         "corpus '{}': dataset '{}' must be {}-D, found {}-D", path, name,
                         expected_rank, shape.size());
  HARDY_THROW_IF_NOT_MSG(shape[0] == rows,
                         "corpus '{}': dataset '{}' has {} rows but 'label' has {}; every "
                         "per-utterance dataset needs one row per utterance",
                         path, name, shape[0], rows);
  return shape;
}

// Reads `ranges` of dataset `name` into a new tensor of dtype `dtype` with
// `row_elems` values per row.
torch::Tensor read_ranges(hid_t file, const std::string& path, const std::string& name,
                          const std::vector<RowRange>& ranges, std::int64_t row_elems,
                          torch::ScalarType dtype, hid_t mem_type, bool two_d) {
  auto ds = h5::open_dataset(file, name, path);
  std::int64_t n = total_rows(ranges);
  auto out = two_d ? torch::empty({n, row_elems}, dtype) : torch::empty({n}, dtype);
  auto* base = static_cast<char*>(out.data_ptr());
  std::int64_t row_bytes = row_elems * static_cast<std::int64_t>(out.element_size());
  std::int64_t at = 0;
  std::string what = fmt::format("corpus '{}', dataset '{}'", path, name);
  for (const auto& r : ranges) {
    h5::read_rows(ds.get(), mem_type, r.begin, r.size(), base + at * row_bytes, what);
    at += r.size();
  }
  return out;
}

}  // namespace

void CorpusReader::read_targets(hid_t f) {
  const auto& path = meta_.path;
  const std::string what = fmt::format("corpus '{}'", path);
  auto names = h5::read_string_attribute(f, "targets", what);
  HARDY_THROW_IF_NOT_MSG(names.has_value() && !names->empty(),
                         "corpus '{}' (task regression) has no 'targets' attribute naming its label columns "
                         "(e.g. \"arousal,valence,dominance\")",
                         path);
  meta_.targets = split_commas(*names);
  auto lo = h5::read_double_attribute(f, "target_min", what), hi = h5::read_double_attribute(f, "target_max", what);
  HARDY_THROW_IF_NOT_MSG(lo && hi, "corpus '{}' (task regression) needs attributes target_min and target_max declaring "
                         "the range of its labels (e.g. 1 and 7)", path);
  const auto problem = targets_problem(meta_.targets, *lo, *hi);
  HARDY_THROW_IF_NOT_MSG(problem.empty(), "corpus '{}' (task regression): {} (attributes targets = \"{}\", "
                         "target_min, target_max)", path, problem, *names);
  meta_.target_min = *lo;
  meta_.target_max = *hi;
}

CorpusReader::CorpusReader(const std::string& path) : file_(h5::open_file_readonly(path)) {
  hid_t f = file_.get();
  meta_.path = path;
  std::string what = fmt::format("corpus '{}'", path);

  auto version = h5::read_int_attribute(f, "format_version", what);
  HARDY_THROW_IF_NOT_MSG(version.has_value(),
                         "corpus '{}' has no 'format_version' attribute: it was not written by "
                         "hardy_dist synth or tools/convert_features.py",
                         path);
  HARDY_THROW_IF_NOT_MSG(*version >= kOldestFormatVersion && *version <= kFormatVersion,
                         "corpus '{}' has format_version {}, this hardy_dist reads versions {} to {}",
                         path, *version, kOldestFormatVersion, kFormatVersion);
  meta_.format_version = static_cast<int>(*version);
  if (*version >= 2) {
    auto names = h5::read_string_attribute(f, "modalities", what);
    HARDY_THROW_IF_NOT_MSG(names.has_value(),
                           "corpus '{}' (format_version {}) has no 'modalities' attribute naming its "
                           "feature datasets (e.g. \"audio,text\")",
                           path, *version);
    try {
      meta_.modalities = ModalitySet::parse(*names, h5::read_string_attribute(f, "modality_codes", what).value_or(""));
    } catch (const Error& e) {
      HARDY_THROW_MSG("corpus '{}': its 'modalities' attribute \"{}\" is not usable: {}", path, *names, e.what());
    }
  }
  auto task = h5::read_string_attribute(f, "task", what);
  HARDY_THROW_IF_NOT_MSG(task.has_value(), "corpus '{}' has no 'task' attribute", path);
  auto parsed = parse_task(*task);
  HARDY_THROW_IF_NOT_MSG(parsed.has_value(),
                         "corpus '{}': task '{}' is unknown (use classification, sentiment or regression)",
                         path, *task);
  meta_.task = *parsed;
  auto classes = h5::read_int_attribute(f, "classes", what);
  HARDY_THROW_IF_NOT_MSG(classes.has_value(), "corpus '{}' has no 'classes' attribute", path);
  meta_.classes = static_cast<int>(*classes);
  HARDY_THROW_IF_NOT_MSG(meta_.task != Task::Classification || meta_.classes >= 2,
                         "corpus '{}': a classification corpus needs classes >= 2, found {}",
                         path, meta_.classes);
  if (auto names = h5::read_string_attribute(f, "class_names", what))
    meta_.class_names = split_commas(*names);
  if (auto names = h5::read_string_attribute(f, "split_names", what)) {
    meta_.split_names = split_commas(*names);
    HARDY_THROW_IF_NOT_MSG(meta_.split_names.size() >= 3,
                           "corpus '{}': attribute 'split_names' (\"{}\") needs at least train, valid and one "
                           "test partition",
                           path, *names);
  }
  meta_.name = h5::read_string_attribute(f, "name", what).value_or("");
  if (meta_.task == Task::Regression) read_targets(f);

  auto label_shape = h5::dataset_shape(h5::open_dataset(f, "label", path).get());
  const std::size_t label_rank = meta_.task == Task::Regression ? 2 : 1;
  HARDY_THROW_IF_NOT_MSG(label_shape.size() == label_rank, "corpus '{}': dataset 'label' must be {}-D for task {}, found {}-D",
                         path, label_rank, task_name(meta_.task), label_shape.size());
  HARDY_THROW_IF_NOT_MSG(label_rank == 1 || label_shape[1] == static_cast<std::int64_t>(meta_.targets.size()),
                         "corpus '{}': dataset 'label' has {} columns but attribute 'targets' names {} ({})", path,
                         label_shape[1], meta_.targets.size(), fmt::join(meta_.targets, ","));
  meta_.rows = label_shape[0];
  for (const auto& name : meta_.modalities.names()) {
    auto shape = require_rows(f, path, name, meta_.rows, 2);
    HARDY_THROW_IF_NOT_MSG(shape[1] >= 1, "corpus '{}': dataset '{}' has zero columns", path, name);
    meta_.dims.push_back(shape[1]);
  }
  require_rows(f, path, "sequence", meta_.rows, 1);
  require_rows(f, path, "position", meta_.rows, 1);
  meta_.has_split = h5::has_dataset(f, "split");
  meta_.has_fold = h5::has_dataset(f, "fold");
  HARDY_THROW_IF_NOT_MSG(meta_.has_split || meta_.has_fold,
                         "corpus '{}' has neither a 'split' nor a 'fold' dataset; one is needed "
                         "to know what to train and test on",
                         path);
  meta_.has_speaker = h5::has_dataset(f, "speaker");
  meta_.has_planted = h5::has_dataset(f, "planted_hardness");
  if (meta_.has_planted && h5::has_dataset(f, "planted_modality_hardness")) {
    auto shape = require_rows(f, path, "planted_modality_hardness", meta_.rows, 2);
    HARDY_THROW_IF_NOT_MSG(shape[1] == meta_.modalities.size(),
                           "corpus '{}': dataset 'planted_modality_hardness' has {} columns for the {} "
                           "modalities {}; it needs one per modality",
                           path, shape[1], meta_.modalities.size(), meta_.modalities.describe());
  }
  if (meta_.has_split) require_rows(f, path, "split", meta_.rows, 1);
  if (meta_.has_fold) require_rows(f, path, "fold", meta_.rows, 1);
  if (meta_.has_speaker) require_rows(f, path, "speaker", meta_.rows, 1);
  if (meta_.has_planted) require_rows(f, path, "planted_hardness", meta_.rows, 1);

  auto ids = h5::read_vector<std::int64_t>(h5::open_dataset(f, "sequence", path).get(),
                                           H5T_NATIVE_INT64, what + ", dataset 'sequence'");
  try {
    sequences_ = sequence_runs(ids);
  } catch (const Error& e) {
    HARDY_THROW_MSG("corpus '{}': {}", path, e.what());
  }
  auto attach = [&](const char* name, std::int8_t SequenceRun::*field) {
    auto values = h5::read_vector<std::int8_t>(h5::open_dataset(f, name, path).get(),
                                               H5T_NATIVE_INT8, what + ", dataset " + name);
    for (auto& s : sequences_) s.*field = values[static_cast<size_t>(s.begin)];
    return values;
  };
  if (meta_.has_split) attach("split", &SequenceRun::split);
  if (meta_.has_speaker) {
    auto speakers = h5::read_vector<std::int32_t>(h5::open_dataset(f, "speaker", path).get(), H5T_NATIVE_INT32,
                                                  what + ", dataset speaker");
    for (auto& s : sequences_) s.speaker = speakers[static_cast<size_t>(s.begin)];
  }
  if (meta_.has_fold) {
    auto folds = attach("fold", &SequenceRun::fold);
    meta_.folds = folds.empty() ? 0 : 1 + *std::max_element(folds.begin(), folds.end());
  }
}

CorpusRows CorpusReader::read_all() const {
  std::vector<RowRange> all;
  if (meta_.rows > 0) all.push_back(RowRange{0, meta_.rows});
  return read_rows(all);
}

CorpusRows CorpusReader::read_shard(int rank, int world, const SequencePredicate& keep) const {
  HARDY_THROW_IF_NOT_MSG(rank >= 0 && rank < world, "rank {} is outside a world of {} ranks",
                         rank, world);
  auto shards = plan_shards(select_sequences(sequences_, keep), world);
  return read_rows(shards[static_cast<size_t>(rank)]);
}

CorpusRows CorpusReader::read_rows(const std::vector<RowRange>& ranges,
                                    bool with_features) const {
  for (size_t i = 0; i < ranges.size(); ++i) {
    HARDY_THROW_IF_NOT_MSG(ranges[i].begin >= 0 && ranges[i].end <= meta_.rows &&
                               ranges[i].begin <= ranges[i].end &&
                               (i == 0 || ranges[i - 1].end <= ranges[i].begin),
                           "row ranges must be ascending and inside [0, {})", meta_.rows);
  }
  hid_t f = file_.get();
  const auto& p = meta_.path;
  CorpusRows rows;
  for (int m = 0; with_features && m < meta_.modalities.size(); ++m)
    rows.features.push_back(read_ranges(f, p, meta_.modalities.name(m), ranges, meta_.dims[static_cast<std::size_t>(m)],
                                        torch::kFloat32, H5T_NATIVE_FLOAT, true));
  if (meta_.task == Task::Classification)
    rows.label = read_ranges(f, p, "label", ranges, 1, torch::kInt64, H5T_NATIVE_INT64, false);
  else if (meta_.task == Task::Sentiment)
    rows.label = read_ranges(f, p, "label", ranges, 1, torch::kFloat32, H5T_NATIVE_FLOAT, false);
  else
    rows.label = read_ranges(f, p, "label", ranges, static_cast<std::int64_t>(meta_.targets.size()),
                             torch::kFloat32, H5T_NATIVE_FLOAT, true);
  if (meta_.task == Task::Regression && rows.label.numel() > 0) {
    auto outside = ~(rows.label.isfinite() & (rows.label >= meta_.target_min) & (rows.label <= meta_.target_max));
    if (outside.any().item<bool>()) {
      auto at = outside.nonzero()[0];
      HARDY_THROW_MSG("corpus '{}': dataset 'label' has a value outside the declared range [{}, {}] or NaN/Inf "
                      "(first at row {} of those read, target '{}'); run `hardy_dist validate` for every defect",
                      p, meta_.target_min, meta_.target_max, at[0].item<std::int64_t>(),
                      meta_.targets[static_cast<std::size_t>(at[1].item<std::int64_t>())]);
    }
  }
  rows.sequence = read_ranges(f, p, "sequence", ranges, 1, torch::kInt64, H5T_NATIVE_INT64, false);
  rows.position = read_ranges(f, p, "position", ranges, 1, torch::kInt64, H5T_NATIVE_INT64, false);
  if (meta_.has_split)
    rows.split = read_ranges(f, p, "split", ranges, 1, torch::kInt8, H5T_NATIVE_INT8, false);
  if (meta_.has_fold)
    rows.fold = read_ranges(f, p, "fold", ranges, 1, torch::kInt8, H5T_NATIVE_INT8, false);
  if (meta_.has_speaker)
    rows.speaker = read_ranges(f, p, "speaker", ranges, 1, torch::kInt32, H5T_NATIVE_INT32, false);
  if (meta_.has_planted) {
    rows.planted_hardness =
        read_ranges(f, p, "planted_hardness", ranges, 1, torch::kFloat32, H5T_NATIVE_FLOAT, false);
    if (h5::has_dataset(f, "planted_modality_hardness"))
      rows.planted_modality_hardness = read_ranges(f, p, "planted_modality_hardness", ranges,
                                                   meta_.modalities.size(), torch::kFloat32,
                                                   H5T_NATIVE_FLOAT, true);
  }
  std::vector<torch::Tensor> ids;
  for (const auto& r : ranges) ids.push_back(torch::arange(r.begin, r.end, torch::kInt64));
  rows.row = ids.empty() ? torch::empty({0}, torch::kInt64) : torch::cat(ids);
  return rows;
}

}  // namespace hardy
