#include "data/validator.h"

#include "core/error.h"
#include "core/modality.h"
#include "core/progress.h"
#include "data/corpus.h"
#include "data/hdf5.h"

#include <algorithm>
#include <cmath>
#include <fmt/ranges.h>
#include <map>
#include <optional>
#include <sstream>
#include <unordered_map>

namespace hardy {

std::string ValidationReport::to_text() const {
  std::ostringstream out;
  if (ok()) {
    out << fmt::format("corpus '{}' is valid: {} rows, {} sequences\n", path, rows, sequences);
    return out.str();
  }
  out << fmt::format("corpus '{}' has {} defect{}:\n", path, defects.size(),
                     defects.size() == 1 ? "" : "s");
  for (const auto& d : defects) {
    out << "  - " << d.message;
    if (d.count > 0) {
      out << fmt::format(" ({} row{}; ", d.count, d.count == 1 ? "" : "s");
      out << (d.count > static_cast<std::int64_t>(d.rows.size()) ? "first: " : "rows: ");
      for (size_t i = 0; i < d.rows.size(); ++i) out << (i ? ", " : "") << d.rows[i];
      out << ")";
    }
    out << "\n";
  }
  return out.str();
}

namespace {

// Collects the rows that break one rule.
class RowDefect {
 public:
  explicit RowDefect(std::string message) : message_(std::move(message)) {}
  void add(std::int64_t row) {
    if (defect_rows_.size() < Defect::kMaxRows) defect_rows_.push_back(row);
    ++count_;
  }
  void flush_into(std::vector<Defect>& out) const {
    if (count_ > 0) out.push_back(Defect{message_, defect_rows_, count_});
  }

 private:
  std::string message_;
  std::vector<std::int64_t> defect_rows_;
  std::int64_t count_ = 0;
};

class Validator {
 public:
  Validator(std::string path, ValidateOptions options)
      : path_(std::move(path)), options_(std::move(options)) {
    report_.path = path_;
  }

  ValidationReport run() {
    try {
      file_ = h5::open_file_readonly(path_);
    } catch (const Error& e) {
      fail(strip_location(e.what()));
      return report_;
    }
    try {
      check_attributes();
      check_datasets();
    } catch (const Error& e) {
      // An HDF5 read failing half-way (a truncated chunk, say) ends the scan.
      fail(strip_location(e.what()));
    }
    return report_;
  }

 private:
  static std::string strip_location(const std::string& message) {
    auto at = message.rfind(" [");
    return at == std::string::npos ? message : message.substr(0, at);
  }
  void fail(std::string message) { report_.defects.push_back(Defect{std::move(message), {}, 0}); }

  void check_attributes() {
    hid_t f = file_.get();
    std::string what = "root attributes";
    auto read_int = [&](const char* name) -> std::optional<std::int64_t> {
      try {
        return h5::read_int_attribute(f, name, what);
      } catch (const Error& e) {
        fail(strip_location(e.what()));
        return std::nullopt;
      }
    };
    auto read_string = [&](const char* name) -> std::optional<std::string> {
      try {
        return h5::read_string_attribute(f, name, what);
      } catch (const Error& e) {
        fail(strip_location(e.what()));
        return std::nullopt;
      }
    };
    auto version = read_int("format_version");
    if (!h5::has_attribute(f, "format_version"))
      fail(fmt::format("attribute 'format_version' is missing (expected {} or {})", kOldestFormatVersion,
                       kFormatVersion));
    else if (version && (*version < kOldestFormatVersion || *version > kFormatVersion))
      fail(fmt::format("attribute 'format_version' is {}, only versions {} to {} are known", *version,
                       kOldestFormatVersion, kFormatVersion));
    else if (version && *version >= 2) {
      auto names = read_string("modalities");
      if (!names) {
        fail("attribute 'modalities' is missing: a format_version 2 corpus names its feature datasets "
             "(e.g. \"audio,text\")");
      } else {
        try {
          modalities_ = ModalitySet::parse(*names, read_string("modality_codes").value_or(""));
        } catch (const Error& e) {
          fail(fmt::format("attribute 'modalities' (\"{}\") is not usable: {}", *names, strip_location(e.what())));
        }
      }
    }
    auto task = read_string("task");
    if (!h5::has_attribute(f, "task"))
      fail("attribute 'task' is missing (classification, sentiment or regression)");
    else if (task && !parse_task(*task))
      fail(fmt::format("attribute 'task' is '{}', expected classification, sentiment or regression", *task));
    sentiment_ = task && *task == "sentiment";
    regression_ = task && *task == "regression";
    if (regression_) {
      auto targets = read_string("targets");
      std::optional<double> lo, hi;
      try {
        lo = h5::read_double_attribute(f, "target_min", what);
        hi = h5::read_double_attribute(f, "target_max", what);
      } catch (const Error& e) {
        fail(strip_location(e.what()));
      }
      if (!targets || !lo || !hi) {
        fail("attributes 'targets', 'target_min' and 'target_max' are required for task regression: they name "
             "the label columns and declare their range (e.g. \"arousal,valence,dominance\", 1 and 7)");
      } else {
        const auto names = split_commas(*targets);
        if (auto problem = targets_problem(names, *lo, *hi); !problem.empty()) {
          fail("attributes 'targets', 'target_min', 'target_max': " + problem);
        } else {
          targets_ = static_cast<std::int64_t>(names.size());
          target_min_ = *lo;
          target_max_ = *hi;
          range_known_ = true;
        }
      }
    }
    auto classes = read_int("classes");
    if (!h5::has_attribute(f, "classes"))
      fail("attribute 'classes' is missing");
    else if (classes && !sentiment_ && !regression_ && *classes < 2)
      fail(fmt::format("attribute 'classes' is {}, a classification corpus needs at least 2",
                       *classes));
    classes_ = classes.value_or(0);
    if (auto names = read_string("class_names")) {
      auto n = std::count(names->begin(), names->end(), ',') + 1;
      if (!sentiment_ && !regression_ && n != classes_)
        fail(fmt::format("attribute 'class_names' lists {} names for {} classes", n, classes_));
    }
    if (auto names = read_string("split_names")) {
      splits_ = std::count(names->begin(), names->end(), ',') + 1;
      if (splits_ < 3)
        fail(fmt::format("attribute 'split_names' (\"{}\") needs at least train, valid and one test partition",
                         *names));
    }
  }

  // Opens dataset `name` if it exists with the right rank and type class; records
  // a defect and returns an invalid handle otherwise.
  h5::Handle open_checked(const std::string& name, int rank, H5T_class_t type_class,
                          bool required) {
    hid_t f = file_.get();
    if (!h5::has_dataset(f, name)) {
      if (required) fail(fmt::format("dataset '{}' is missing", name));
      return {};
    }
    auto ds = h5::open_dataset(f, name, path_);
    auto shape = h5::dataset_shape(ds.get());
    if (static_cast<int>(shape.size()) != rank) {
      fail(fmt::format("dataset '{}' is {}-D, expected {}-D", name, shape.size(), rank));
      return {};
    }
    auto cls = h5::dataset_type_class(ds.get());
    if (cls != type_class) {
      fail(fmt::format("dataset '{}' holds {} values, expected {}", name,
                       h5::type_class_name(cls), h5::type_class_name(type_class)));
      return {};
    }
    if (rows_ < 0) rows_ = shape[0];
    if (shape[0] != rows_) {
      fail(fmt::format("dataset '{}' has {} rows, expected {} (the row count of '{}')", name,
                       shape[0], rows_, first_dataset_));
      return {};
    }
    if (first_dataset_.empty()) first_dataset_ = name;
    return ds;
  }

  void check_datasets() {
    auto label = open_checked("label", regression_ ? 2 : 1, sentiment_ || regression_ ? H5T_FLOAT : H5T_INTEGER, true);
    if (label.valid() && regression_ && targets_ > 0 && h5::dataset_shape(label.get())[1] != targets_) {
      fail(fmt::format("dataset 'label' has {} columns but attribute 'targets' names {}",
                       h5::dataset_shape(label.get())[1], targets_));
      label = {};
    }
    auto sequence = open_checked("sequence", 1, H5T_INTEGER, true);
    auto position = open_checked("position", 1, H5T_INTEGER, true);
    std::vector<h5::Handle> features;
    for (const auto& name : modalities_.names()) features.push_back(open_checked(name, 2, H5T_FLOAT, true));
    if (!options_.expect_dims.empty() && options_.expect_dims.size() != features.size())
      fail(fmt::format("data.expect_dims lists {} dims but the corpus has {} modalities: {}",
                       options_.expect_dims.size(), features.size(), modalities_.describe()));
    auto split = open_checked("split", 1, H5T_INTEGER, false);
    auto fold = open_checked("fold", 1, H5T_INTEGER, false);
    auto speaker = open_checked("speaker", 1, H5T_INTEGER, false);
    auto planted = open_checked("planted_hardness", 1, H5T_FLOAT, false);
    auto planted_modality = open_checked("planted_modality_hardness", 2, H5T_FLOAT, false);
    if (planted_modality.valid()) {
      const auto width = h5::dataset_shape(planted_modality.get())[1];
      if (width != modalities_.size())
        fail(fmt::format("dataset 'planted_modality_hardness' has {} columns but the corpus has {} modalities ({}); "
                         "it needs one column per modality",
                         width, modalities_.size(), modalities_.describe()));
    }
    if (!h5::has_dataset(file_.get(), "split") && !h5::has_dataset(file_.get(), "fold"))
      fail("neither dataset 'split' nor 'fold' exists; one is needed to know what to train on");
    report_.rows = std::max<std::int64_t>(rows_, 0);

    for (std::size_t m = 0; m < features.size(); ++m)
      if (features[m].valid()) check_features(static_cast<int>(m), features[m].get());
    if (label.valid()) check_labels(label.get());
    std::vector<std::int64_t> seq;
    if (sequence.valid()) seq = check_sequences(sequence.get(), position);
    if (split.valid()) check_split(split.get(), seq);
    if (fold.valid()) check_fold(fold.get(), seq);
    if (speaker.valid()) {
      RowDefect bad("dataset 'speaker' has values below -1 (speaker ids are >= 0, -1 = unknown)");
      auto v = h5::read_vector<std::int64_t>(speaker.get(), H5T_NATIVE_INT64, "speaker");
      for (size_t i = 0; i < v.size(); ++i)
        if (v[i] < -1 || v[i] > 2147483647) bad.add(static_cast<std::int64_t>(i));
      bad.flush_into(report_.defects);
    }
    if (planted.valid()) {
      RowDefect bad("dataset 'planted_hardness' has values outside [0, 1] or NaN");
      auto v = h5::read_vector<float>(planted.get(), H5T_NATIVE_FLOAT, "planted_hardness");
      for (size_t i = 0; i < v.size(); ++i)
        if (!(v[i] >= 0.f && v[i] <= 1.f)) bad.add(static_cast<std::int64_t>(i));
      bad.flush_into(report_.defects);
    }
  }

  void check_features(int m, hid_t ds) {
    const std::string name = modalities_.name(m);
    auto shape = h5::dataset_shape(ds);
    const std::int64_t dim = shape[1];
    if (dim < 1) {
      fail(fmt::format("dataset '{}' has zero columns", name));
      return;
    }
    const auto i = static_cast<std::size_t>(m);
    if (i < options_.expect_dims.size() && options_.expect_dims[i] != dim)
      fail(fmt::format("dataset '{}' has dim {}, but {} is expected (data.expect_dims)", name, dim,
                       options_.expect_dims[i]));
    RowDefect bad(fmt::format("dataset '{}' has rows with NaN or Inf values", name));
    std::int64_t step = std::max<std::int64_t>(1, options_.scan_rows);
    std::vector<float> buffer(static_cast<size_t>(std::min(step, rows_) * dim));
    Progress progress(fmt::format("validate: scanning '{}'", name), rows_, "rows");
    for (std::int64_t begin = 0; begin < rows_; begin += step) {
      std::int64_t count = std::min(step, rows_ - begin);
      h5::read_rows(ds, H5T_NATIVE_FLOAT, begin, count, buffer.data(),
                    fmt::format("dataset '{}'", name));
      for (std::int64_t r = 0; r < count; ++r) {
        const float* row = buffer.data() + r * dim;
        for (std::int64_t k = 0; k < dim; ++k) {
          if (!std::isfinite(row[k])) {
            bad.add(begin + r);
            break;
          }
        }
      }
      if (options_.progress) progress.update(begin + count);
    }
    bad.flush_into(report_.defects);
  }

  void check_labels(hid_t ds) {
    if (regression_) {
      if (!range_known_) return;  // the attributes' defect is reported already
      RowDefect bad(fmt::format("dataset 'label' has values outside the declared range [{}, {}] or NaN/Inf",
                                target_min_, target_max_));
      const auto shape = h5::dataset_shape(ds);
      const auto width = static_cast<std::size_t>(shape[1]);
      std::vector<float> v(static_cast<std::size_t>(shape[0]) * width);
      h5::read_rows(ds, H5T_NATIVE_FLOAT, 0, shape[0], v.data(), "label");
      for (size_t row = 0; row * width < v.size(); ++row)
        if (std::any_of(v.begin() + static_cast<std::ptrdiff_t>(row * width),
                        v.begin() + static_cast<std::ptrdiff_t>((row + 1) * width),
                        [&](float x) {  // in float32, as the reader compares
                          return !(x >= static_cast<float>(target_min_) && x <= static_cast<float>(target_max_));
                        }))
          bad.add(static_cast<std::int64_t>(row));
      bad.flush_into(report_.defects);
      return;
    }
    if (sentiment_) {
      RowDefect bad("dataset 'label' has sentiment scores outside [-3, 3] or NaN/Inf");
      auto v = h5::read_vector<float>(ds, H5T_NATIVE_FLOAT, "label");
      for (size_t i = 0; i < v.size(); ++i)
        if (!(v[i] >= -3.f && v[i] <= 3.f)) bad.add(static_cast<std::int64_t>(i));
      bad.flush_into(report_.defects);
      return;
    }
    RowDefect bad(fmt::format("dataset 'label' has class labels outside [0, {})", classes_));
    auto v = h5::read_vector<std::int64_t>(ds, H5T_NATIVE_INT64, "label");
    for (size_t i = 0; i < v.size(); ++i)
      if (v[i] < 0 || v[i] >= classes_) bad.add(static_cast<std::int64_t>(i));
    bad.flush_into(report_.defects);
  }

  // Returns the sequence column; checks contiguity and positions.
  std::vector<std::int64_t> check_sequences(hid_t ds, const h5::Handle& position) {
    auto seq = h5::read_vector<std::int64_t>(ds, H5T_NATIVE_INT64, "sequence");
    RowDefect split_runs(
        "dataset 'sequence': rows of a sequence are not contiguous (the id reappears after "
        "other sequences; sort rows by sequence)");
    std::unordered_map<std::int64_t, std::int64_t> seen;
    std::int64_t runs = 0;
    for (size_t i = 0; i < seq.size(); ++i) {
      if (i > 0 && seq[i] == seq[i - 1]) continue;
      ++runs;
      if (!seen.emplace(seq[i], static_cast<std::int64_t>(i)).second)
        split_runs.add(static_cast<std::int64_t>(i));
    }
    split_runs.flush_into(report_.defects);
    report_.sequences = static_cast<std::int64_t>(seen.size());
    if (position.valid()) {
      RowDefect bad(
          "dataset 'position' does not count 0, 1, 2, ... within each sequence");
      auto pos = h5::read_vector<std::int64_t>(position.get(), H5T_NATIVE_INT64, "position");
      std::int64_t expected = 0;
      for (size_t i = 0; i < pos.size() && i < seq.size(); ++i) {
        if (i > 0 && seq[i] != seq[i - 1]) expected = 0;
        if (pos[i] != expected) bad.add(static_cast<std::int64_t>(i));
        ++expected;
      }
      bad.flush_into(report_.defects);
    }
    return seq;
  }

  // Rows where `values` changes inside a sequence.
  void check_constant_per_sequence(const std::vector<std::int64_t>& values,
                                   const std::vector<std::int64_t>& seq, const std::string& name) {
    RowDefect bad(fmt::format("dataset '{}' changes value inside a sequence (a sequence must lie "
                              "wholly in one {})",
                              name, name));
    for (size_t i = 1; i < values.size() && i < seq.size(); ++i)
      if (seq[i] == seq[i - 1] && values[i] != values[i - 1]) bad.add(static_cast<std::int64_t>(i));
    bad.flush_into(report_.defects);
  }

  void check_split(hid_t ds, const std::vector<std::int64_t>& seq) {
    auto v = h5::read_vector<std::int64_t>(ds, H5T_NATIVE_INT64, "split");
    RowDefect bad(splits_ == 3 ? std::string("dataset 'split' has values other than 0 (train), 1 (valid), 2 (test)")
                               : fmt::format("dataset 'split' has values outside 0 .. {} (attribute 'split_names')",
                                             splits_ - 1));
    std::int64_t train = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] < 0 || v[i] >= splits_) bad.add(static_cast<std::int64_t>(i));
      train += v[i] == kTrain;
    }
    bad.flush_into(report_.defects);
    check_constant_per_sequence(v, seq, "split");
    if (train == 0 && !v.empty()) fail("the train split is empty (no row has split = 0)");
    if (v.empty()) fail("the corpus has no rows");
  }

  void check_fold(hid_t ds, const std::vector<std::int64_t>& seq) {
    auto v = h5::read_vector<std::int64_t>(ds, H5T_NATIVE_INT64, "fold");
    RowDefect bad("dataset 'fold' has values outside [0, 127)");
    std::map<std::int64_t, std::int64_t> sizes;
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] < 0 || v[i] >= 127)
        bad.add(static_cast<std::int64_t>(i));
      else
        ++sizes[v[i]];
    }
    bad.flush_into(report_.defects);
    check_constant_per_sequence(v, seq, "fold");
    if (sizes.empty()) return;
    std::int64_t folds = sizes.rbegin()->first + 1;
    std::vector<std::int64_t> empty;
    for (std::int64_t k = 0; k < folds; ++k)
      if (!sizes.count(k)) empty.push_back(k);
    if (!empty.empty())
      fail(fmt::format("fold{} {} {} empty: folds must be numbered 0 .. {} with rows in each",
                       empty.size() == 1 ? "" : "s", fmt::join(empty, ", "),
                       empty.size() == 1 ? "is" : "are", folds - 1));
    if (folds < 2)
      fail("only one fold exists: leave-one-fold-out needs at least 2 folds (or use 'split')");
  }

  std::string path_;
  ValidateOptions options_;
  ValidationReport report_;
  h5::Handle file_;
  bool sentiment_ = false;
  bool regression_ = false;
  std::int64_t targets_ = 0;
  double target_min_ = 0, target_max_ = 0;
  bool range_known_ = false;
  ModalitySet modalities_ = ModalitySet::standard();  // version 1, or the `modalities` attribute
  std::int64_t classes_ = 0;
  std::int64_t splits_ = 3;  // split codes 0 .. splits_ - 1 (the split_names attribute)
  std::int64_t rows_ = -1;
  std::string first_dataset_;
};

}  // namespace

ValidationReport validate_corpus(const std::string& path, const ValidateOptions& options) {
  return Validator(path, options).run();
}

}  // namespace hardy
