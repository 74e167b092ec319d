#include "corpus_fixtures.h"

#include "data/hdf5.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace hardy::testing {

namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path dir;
  TempDir() {
    dir = fs::temp_directory_path() / ("hardy_tests_" + std::to_string(::getpid()));
    fs::create_directories(dir);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

h5::Handle open_rw(const std::string& path) {
  h5::silence_hdf5_errors();
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  if (f < 0) throw std::runtime_error("cannot open " + path + " read-write");
  return h5::Handle(f);
}

void write_element(const std::string& path, const std::string& dataset, std::int64_t row,
                   std::int64_t col, hid_t mem_type, const void* value) {
  auto file = open_rw(path);
  h5::Handle ds(H5Dopen2(file.get(), dataset.c_str(), H5P_DEFAULT));
  h5::Handle space(H5Dget_space(ds.get()));
  int rank = H5Sget_simple_extent_ndims(space.get());
  hsize_t start[2] = {static_cast<hsize_t>(row), static_cast<hsize_t>(col)};
  hsize_t count[2] = {1, 1};
  H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  h5::Handle mem(H5Screate_simple(rank, count, nullptr));
  if (H5Dwrite(ds.get(), mem_type, mem.get(), space.get(), H5P_DEFAULT, value) < 0)
    throw std::runtime_error("cannot write " + dataset + " in " + path);
}
}  // namespace

std::string temp_path(const std::string& name) {
  static TempDir temp;
  static int counter = 0;
  return (temp.dir / (std::to_string(counter++) + "_" + name)).string();
}

CorpusSpec make_spec(const TinyCorpus& c) {
  CorpusSpec spec;
  spec.name = "tiny";
  spec.task = c.task;
  spec.classes = c.task == Task::Classification ? c.classes : 0;
  spec.dims = c.dims;
  spec.with_split = spec.with_fold = spec.with_speaker = spec.with_planted = true;
  return spec;
}

CorpusBlock make_block(const TinyCorpus& c) {
  CorpusBlock b;
  b.features.resize(3);
  std::int64_t row = 0;
  for (int s = 0; s < c.sequences; ++s) {
    int span = c.max_length - c.min_length + 1;
    int len = c.min_length + static_cast<int>((s * 5 + c.seed) % static_cast<std::uint64_t>(span));
    for (int u = 0; u < len; ++u, ++row) {
      for (int m = 0; m < 3; ++m)
        for (std::int64_t k = 0; k < c.dims[m]; ++k)
          b.features[m].push_back(static_cast<float>(row * 0.01 + m * 100 + k + c.seed));
      if (c.task == Task::Classification)
        b.label_class.push_back(static_cast<std::int32_t>((row + c.seed) % c.classes));
      else
        b.label_score.push_back(static_cast<float>(static_cast<int>((row + c.seed) % 7) - 3));
      b.sequence.push_back(100 + s);  // ids need not start at 0
      b.position.push_back(u);
      b.split.push_back(static_cast<std::int8_t>(s % 5 == 3 ? kValid : (s % 5 == 4 ? kTest : kTrain)));
      b.fold.push_back(static_cast<std::int8_t>(s % c.folds));
      b.speaker.push_back(static_cast<std::int32_t>(u % 2));
      b.planted_hardness.push_back(static_cast<float>((row % 10) / 10.0));
      for (int m = 0; m < 3; ++m)
        b.planted_modality_hardness.push_back(static_cast<float>(((row + m) % 10) / 10.0));
    }
  }
  return b;
}

std::string write_tiny_corpus(const std::string& path, const TinyCorpus& c) {
  CorpusWriter writer(path, make_spec(c));
  writer.append(make_block(c));
  writer.close();
  return path;
}

void set_float(const std::string& path, const std::string& dataset, std::int64_t row,
               std::int64_t col, float value) {
  write_element(path, dataset, row, col, H5T_NATIVE_FLOAT, &value);
}

void set_int(const std::string& path, const std::string& dataset, std::int64_t row,
             std::int64_t value) {
  write_element(path, dataset, row, 0, H5T_NATIVE_INT64, &value);
}

void delete_dataset(const std::string& path, const std::string& dataset) {
  auto file = open_rw(path);
  if (H5Ldelete(file.get(), dataset.c_str(), H5P_DEFAULT) < 0)
    throw std::runtime_error("cannot delete " + dataset);
}

void replace_int_dataset(const std::string& path, const std::string& dataset,
                         const std::vector<std::int64_t>& values) {
  auto file = open_rw(path);
  H5Ldelete(file.get(), dataset.c_str(), H5P_DEFAULT);
  hsize_t n = values.size();
  h5::Handle space(H5Screate_simple(1, &n, nullptr));
  h5::Handle ds(H5Dcreate2(file.get(), dataset.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT,
                           H5P_DEFAULT, H5P_DEFAULT));
  if (H5Dwrite(ds.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
    throw std::runtime_error("cannot write " + dataset);
}

void set_int_attribute(const std::string& path, const std::string& name, std::int32_t value) {
  auto file = open_rw(path);
  H5Adelete(file.get(), name.c_str());
  h5::write_int_attribute(file.get(), name, value);
}

void truncate_file(const std::string& path, std::uintmax_t bytes) {
  fs::resize_file(path, bytes);
}

}  // namespace hardy::testing
