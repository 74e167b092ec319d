// Streaming, chunked writer for the corpus format (docs/corpus-format.md).
//
// Rows are appended block by block, so corpora larger than memory can be written.
// The file is built under "<path>.tmp" and renamed onto <path> by close(): an
// interrupted write never leaves a half corpus under the final name.
#pragma once

#include "data/corpus.h"
#include "data/hdf5.h"

#include <cstdint>
#include <functional>
#include <utility>
#include <string>
#include <vector>

namespace hardy {

struct CorpusSpec {
  std::string name;
  Task task = Task::Classification;
  int classes = 0;
  std::vector<std::string> class_names;
  std::vector<std::string> targets;        // regression: label columns, by name
  double target_min = 0, target_max = 0;   // regression: declared range of the labels
  std::vector<std::string> split_names;  // empty = train, valid, test (not written)
  ModalitySet modalities = ModalitySet::standard();
  std::vector<std::int64_t> dims;  // D_m per modality
  bool with_split = true;
  bool with_fold = true;
  bool with_speaker = false;
  bool with_planted = false;
  // Rows the caller will append, when known (0 = unknown): chunks of a smaller
  // corpus are cut to its size instead of the ~1 MiB default.
  std::int64_t expected_rows = 0;
};

// Rows to append; every vector holds `rows()` entries (features: rows × D_m).
// Vectors of datasets the spec does not include stay empty.
struct CorpusBlock {
  PerModality<std::vector<float>> features;  // one per modality of the spec
  std::vector<std::int32_t> label_class;  // classification
  std::vector<float> label_score;         // sentiment: one per row; regression: rows × targets
  std::vector<std::int64_t> sequence;
  std::vector<std::int32_t> position;
  std::vector<std::int8_t> split;
  std::vector<std::int8_t> fold;
  std::vector<std::int32_t> speaker;  // speaker id, -1 unknown
  std::vector<float> planted_hardness;
  std::vector<float> planted_modality_hardness;  // rows × M

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

  // Rows per chunk for a dataset of width `dim` (0 = 1-D): ~1 MiB feature chunks,
  // 65,536-row 1-D chunks, never more than `expected_rows` when that is known.
  static std::int64_t chunk_rows(std::int64_t dim, std::int64_t expected_rows);

 private:
  // Where a column's values sit in a block: data pointer and number of values.
  using ColumnValues = std::function<std::pair<const void*, std::size_t>(const CorpusBlock&)>;
  struct Column {
    std::string name;
    hid_t mem_type;
    std::int64_t width;  // 0 = 1-D dataset
    ColumnValues values;
    h5::Handle dataset;
  };
  void add_column(const std::string& name, hid_t file_type, hid_t mem_type, std::int64_t width,
                  ColumnValues values);
  void append_column(Column& column, const void* data, std::int64_t rows);

  std::string path_;
  std::string tmp_path_;
  CorpusSpec spec_;
  h5::Handle file_;
  std::vector<Column> columns_;
  std::int64_t rows_ = 0;
  bool closed_ = false;
};

}  // namespace hardy
