#include "data/corpus_writer.h"

#include "core/error.h"
#include "core/modality.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace hardy {

namespace {
constexpr std::int64_t kChunkBytes = 1 << 20;
constexpr std::int64_t kVectorChunkRows = 65536;

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i];
  return out;
}
}  // namespace

void CorpusBlock::clear() {
  for (auto& f : features) f.clear();
  label_class.clear();
  label_score.clear();
  sequence.clear();
  position.clear();
  split.clear();
  fold.clear();
  speaker.clear();
  planted_hardness.clear();
  planted_modality_hardness.clear();
}

std::int64_t CorpusWriter::chunk_rows(std::int64_t dim, std::int64_t expected_rows) {
  std::int64_t rows = dim > 0 ? std::clamp<std::int64_t>(kChunkBytes / (4 * dim), 64, kVectorChunkRows)
                              : kVectorChunkRows;
  return expected_rows > 0 ? std::min(rows, expected_rows) : rows;
}

CorpusWriter::CorpusWriter(const std::string& path, const CorpusSpec& spec)
    : path_(path), tmp_path_(path + ".tmp"), spec_(spec) {
  h5::silence_hdf5_errors();
  HARDY_THROW_IF_NOT_MSG(spec.task != Task::Classification || spec.classes >= 2,
                         "a classification corpus needs at least 2 classes, got {}", spec.classes);
  HARDY_THROW_IF_NOT_MSG(spec.class_names.empty() ||
                             static_cast<int>(spec.class_names.size()) == spec.classes,
                         "{} class names given for {} classes", spec.class_names.size(),
                         spec.classes);
  if (spec.task == Task::Regression) {
    const auto problem = targets_problem(spec.targets, spec.target_min, spec.target_max);
    HARDY_THROW_IF_NOT_MSG(problem.empty(), "regression corpus: {}", problem);
  }
  HARDY_THROW_IF_NOT_MSG(spec.with_split || spec.with_fold,
                         "a corpus needs a split or a fold dataset");
  HARDY_THROW_IF_NOT_MSG(spec.dims.size() == static_cast<std::size_t>(spec.modalities.size()),
                         "{} feature dims for the {} modalities {}", spec.dims.size(), spec.modalities.size(),
                         spec.modalities.describe());
  for (int m = 0; m < spec.modalities.size(); ++m)
    HARDY_THROW_IF_NOT_MSG(spec.dims[static_cast<std::size_t>(m)] >= 1, "feature dim of '{}' must be >= 1, got {}",
                           spec.modalities.name(m), spec.dims[static_cast<std::size_t>(m)]);
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    HARDY_THROW_IF_NOT_MSG(!ec, "cannot create directory '{}' for the corpus: {}",
                           parent.string(), ec.message());
  }
  // No modification times: the same rows must give a byte-identical file.
  h5::Handle fcpl(h5::check_id(H5Pcreate(H5P_FILE_CREATE), "file creation properties"));
  h5::check(H5Pset_obj_track_times(fcpl.get(), false), "file creation properties");
  hid_t id = H5Fcreate(tmp_path_.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT);
  if (id < 0)
    HARDY_THROW_MSG("cannot create '{}': {} (is the directory writable?)", tmp_path_,
                    h5::last_hdf5_error());
  file_ = h5::Handle(id);

  // Each column knows where its values sit in a block.
  auto vec = [](auto member) -> ColumnValues {
    return [member](const CorpusBlock& b) {
      const auto& v = b.*member;
      return std::make_pair(static_cast<const void*>(v.data()), v.size());
    };
  };
  for (int m = 0; m < spec.modalities.size(); ++m)
    add_column(spec.modalities.name(m), H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, spec.dims[static_cast<std::size_t>(m)],
               [m](const CorpusBlock& b) {
                 const auto i = static_cast<std::size_t>(m);
                 if (i >= b.features.size()) return std::make_pair(static_cast<const void*>(nullptr), std::size_t{0});
                 return std::make_pair(static_cast<const void*>(b.features[i].data()), b.features[i].size());
               });
  if (spec.task == Task::Classification)
    add_column("label", H5T_STD_I32LE, H5T_NATIVE_INT32, 0, vec(&CorpusBlock::label_class));
  else
    add_column("label", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
               spec.task == Task::Regression ? static_cast<std::int64_t>(spec.targets.size()) : 0,
               vec(&CorpusBlock::label_score));
  add_column("sequence", H5T_STD_I64LE, H5T_NATIVE_INT64, 0, vec(&CorpusBlock::sequence));
  add_column("position", H5T_STD_I32LE, H5T_NATIVE_INT32, 0, vec(&CorpusBlock::position));
  if (spec.with_split) add_column("split", H5T_STD_I8LE, H5T_NATIVE_INT8, 0, vec(&CorpusBlock::split));
  if (spec.with_fold) add_column("fold", H5T_STD_I8LE, H5T_NATIVE_INT8, 0, vec(&CorpusBlock::fold));
  if (spec.with_speaker)
    add_column("speaker", H5T_STD_I32LE, H5T_NATIVE_INT32, 0, vec(&CorpusBlock::speaker));
  if (spec.with_planted) {
    add_column("planted_hardness", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 0,
               vec(&CorpusBlock::planted_hardness));
    add_column("planted_modality_hardness", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, spec.modalities.size(),
               vec(&CorpusBlock::planted_modality_hardness));
  }
}

CorpusWriter::~CorpusWriter() {
  if (closed_) return;
  columns_.clear();
  file_.reset();
  std::remove(tmp_path_.c_str());
}

void CorpusWriter::add_column(const std::string& name, hid_t file_type, hid_t mem_type,
                              std::int64_t width, ColumnValues values) {
  int rank = width > 0 ? 2 : 1;
  hsize_t dims[2] = {0, static_cast<hsize_t>(width)};
  hsize_t maxdims[2] = {H5S_UNLIMITED, static_cast<hsize_t>(width)};
  hsize_t chunk[2] = {static_cast<hsize_t>(chunk_rows(width, spec_.expected_rows)),
                      static_cast<hsize_t>(width)};
  std::string what = fmt::format("creating dataset '{}' in '{}'", name, tmp_path_);
  h5::Handle space(h5::check_id(H5Screate_simple(rank, dims, maxdims), what));
  h5::Handle dcpl(h5::check_id(H5Pcreate(H5P_DATASET_CREATE), what));
  h5::check(H5Pset_chunk(dcpl.get(), rank, chunk), what);
  h5::check(H5Pset_obj_track_times(dcpl.get(), false), what);
  h5::Handle ds(h5::check_id(H5Dcreate2(file_.get(), name.c_str(), file_type, space.get(),
                                        H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                             what));
  columns_.push_back(Column{name, mem_type, width, std::move(values), std::move(ds)});
}

void CorpusWriter::append_column(Column& column, const void* data, std::int64_t rows) {
  int rank = column.width > 0 ? 2 : 1;
  std::string what = fmt::format("appending to dataset '{}' in '{}'", column.name, tmp_path_);
  hsize_t new_dims[2] = {static_cast<hsize_t>(rows_ + rows), static_cast<hsize_t>(column.width)};
  h5::check(H5Dset_extent(column.dataset.get(), new_dims), what);
  h5::Handle file_space(h5::check_id(H5Dget_space(column.dataset.get()), what));
  hsize_t start[2] = {static_cast<hsize_t>(rows_), 0};
  hsize_t count[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(column.width)};
  h5::check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr),
            what);
  h5::Handle mem_space(h5::check_id(H5Screate_simple(rank, count, nullptr), what));
  h5::check(H5Dwrite(column.dataset.get(), column.mem_type, mem_space.get(), file_space.get(),
                     H5P_DEFAULT, data),
            what + " (disk full?)");
}

void CorpusWriter::append(const CorpusBlock& block) {
  HARDY_THROW_IF_NOT_MSG(!closed_, "corpus writer for '{}' is already closed", path_);
  const std::int64_t n = block.rows();
  if (n == 0) return;
  // Check every column before writing any, so a bad block leaves the file as it was.
  for (auto& c : columns_) {
    auto [data, given] = c.values(block);
    const auto expected = static_cast<std::size_t>(n * std::max<std::int64_t>(c.width, 1));
    HARDY_THROW_IF_NOT_MSG(given == expected,
                           "corpus block: column '{}' has {} values, expected {} ({} rows)",
                           c.name, given, expected, n);
  }
  for (auto& c : columns_) append_column(c, c.values(block).first, n);
  rows_ += n;
}

void CorpusWriter::close() {
  if (closed_) return;
  hid_t f = file_.get();
  h5::write_int_attribute(f, "format_version", kFormatVersion);
  h5::write_string_attribute(f, "modalities", spec_.modalities.joined_names());
  h5::write_string_attribute(f, "modality_codes", spec_.modalities.codes());
  h5::write_string_attribute(f, "task", task_name(spec_.task));
  h5::write_int_attribute(f, "classes", spec_.task == Task::Classification ? spec_.classes : 0);
  if (!spec_.class_names.empty()) h5::write_string_attribute(f, "class_names", join(spec_.class_names));
  if (spec_.task == Task::Regression) {
    h5::write_string_attribute(f, "targets", join(spec_.targets));
    h5::write_double_attribute(f, "target_min", spec_.target_min);
    h5::write_double_attribute(f, "target_max", spec_.target_max);
  }
  if (!spec_.split_names.empty()) h5::write_string_attribute(f, "split_names", join(spec_.split_names));
  if (!spec_.name.empty()) h5::write_string_attribute(f, "name", spec_.name);
  columns_.clear();
  h5::check(H5Fflush(f, H5F_SCOPE_GLOBAL), "flushing " + tmp_path_);
  file_.reset();
  std::error_code ec;
  std::filesystem::rename(tmp_path_, path_, ec);
  HARDY_THROW_IF_NOT_MSG(!ec, "cannot move '{}' to '{}': {}", tmp_path_, path_, ec.message());
  closed_ = true;
}

}  // namespace hardy
