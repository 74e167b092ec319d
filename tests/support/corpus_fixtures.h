// Small corpora for tests, and surgical edits of HDF5 files to plant defects.
#pragma once

#include "data/corpus_writer.h"

#include <cstdint>
#include <string>
#include <vector>

namespace hardy::testing {

// A fresh path under a per-process temp directory (removed at exit).
std::string temp_path(const std::string& name);

struct TinyCorpus {
  int sequences = 7;
  int min_length = 1;
  int max_length = 6;
  int classes = 4;
  std::vector<std::int64_t> dims{5, 4, 3};
  int folds = 3;
  std::uint64_t seed = 7;
  Task task = Task::Classification;
};

// Deterministic block: sequence s has length min + (s*5+seed) % (max-min+1), fold
// s % folds, split train unless s % 5 == 3 (valid) or s % 5 == 4 (test); features
// are row*0.01 + column-dependent values, so every cell is distinct.
CorpusBlock make_block(const TinyCorpus& c);
CorpusSpec make_spec(const TinyCorpus& c);
std::string write_tiny_corpus(const std::string& path, const TinyCorpus& c = {});

// In-place edits (the file must exist).
void set_float(const std::string& path, const std::string& dataset, std::int64_t row,
               std::int64_t col, float value);
void set_int(const std::string& path, const std::string& dataset, std::int64_t row,
             std::int64_t value);
void delete_dataset(const std::string& path, const std::string& dataset);
void replace_int_dataset(const std::string& path, const std::string& dataset,
                         const std::vector<std::int64_t>& values);
void set_int_attribute(const std::string& path, const std::string& name, std::int32_t value);
void truncate_file(const std::string& path, std::uintmax_t bytes);

}  // namespace hardy::testing
