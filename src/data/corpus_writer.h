// Streaming, chunked writer for the corpus format (docs/corpus-format.md).
//
// Rows are appended block by block, so corpora larger than memory can be written.
// The file is built under "<path>.tmp" and renamed onto <path> by close(): an
// interrupted write never leaves a half corpus under the final name.
#pragma once

#include "data/corpus.h"
#include "data/hdf5.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace hardy {

struct CorpusSpec {
  std::string name;
  Task task = Task::Classification;
  int classes = 0;
  std::vector<std::string> class_names;
  std::array<std::int64_t, kNumModalities> dims{};
  bool with_split = true;
  bool with_fold = true;
  bool with_speaker = false;
  bool with_planted = false;
};

// Rows to append; every vector holds `rows()` entries (features: rows × D_m).
// Vectors of datasets the spec does not include stay empty.
struct CorpusBlock {
  std::array<std::vector<float>, kNumModalities> features;
  std::vector<std::int32_t> label_class;  // classification
  std::vector<float> label_score;         // sentiment
  std::vector<std::int64_t> sequence;
  std::vector<std::int32_t> position;
  std::vector<std::int8_t> split;
  std::vector<std::int8_t> fold;
  std::vector<std::int8_t> speaker;
  std::vector<float> planted_hardness;
  std::vector<float> planted_modality_hardness;  // rows × 3

  std::int64_t rows() const { return static_cast<std::int64_t>(sequence.size()); }
  void clear();
};

class CorpusWriter {
 public:
  CorpusWriter(const std::string& path, const CorpusSpec& spec);
  CorpusWriter(const CorpusWriter&) = delete;
  CorpusWriter& operator=(const CorpusWriter&) = delete;
  ~CorpusWriter();  // an unclosed writer deletes its temp file

  void append(const CorpusBlock& block);
  // Writes the attributes, closes the file and moves it into place.
  void close();
  std::int64_t rows_written() const { return rows_; }

  // Rows per chunk for a feature dataset of width `dim` (~1 MiB chunks).
  static std::int64_t feature_chunk_rows(std::int64_t dim);

 private:
  struct Column {
    std::string name;
    hid_t file_type;
    hid_t mem_type;
    std::int64_t width;  // 0 = 1-D dataset
    h5::Handle dataset;
  };
  void add_column(const std::string& name, hid_t file_type, hid_t mem_type, std::int64_t width);
  void append_column(Column& column, const void* data, std::int64_t rows, std::size_t given,
                     std::size_t element_count);

  std::string path_;
  std::string tmp_path_;
  CorpusSpec spec_;
  h5::Handle file_;
  std::vector<Column> columns_;
  std::int64_t rows_ = 0;
  bool closed_ = false;
};

}  // namespace hardy
