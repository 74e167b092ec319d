// In-memory view of an HDF5 corpus (docs/corpus-format.md): its metadata, its
// sequences, and a set of rows read from it (the whole corpus or one rank's shard).
#pragma once

#include "core/modality.h"

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hardy {

// The format the writer writes: version 2 names the modalities in a root attribute
// (`modalities`, optional `modality_codes`). Version 1 files, which have none, are
// audio/text/visual (ModalitySet::standard()); both are read.
constexpr int kFormatVersion = 2;
constexpr int kOldestFormatVersion = 1;

// Classification: int labels [N] in [0, classes). Sentiment: one score [N] in [-3, 3]
// (CMU-MOSEI). Regression: float labels [N, T], one column per named target, inside a
// declared range (MSP-Podcast's arousal, valence, dominance on 1-7).
enum class Task { Classification, Sentiment, Regression };
const char* task_name(Task task);
// "classification" | "sentiment" | "regression" -> Task; nullopt for anything else.
std::optional<Task> parse_task(const std::string& name);
// The comma-separated names of an attribute ("a,b," -> "a", "b", ""): every field,
// empty ones included, so that a stray comma is seen by the checks.
std::vector<std::string> split_commas(const std::string& text);
// What is wrong with a regression corpus's targets and range (one or more names, none
// empty, none repeated or holding a comma; finite min < max), or "" when nothing is.
// The reader, the validator, the writer and synth all use it.
std::string targets_problem(const std::vector<std::string>& names, double min, double max);

enum Split : std::int8_t { kTrain = 0, kValid = 1, kTest = 2 };

struct CorpusMeta {
  std::string path;
  std::string name;
  int format_version = kFormatVersion;
  Task task = Task::Classification;
  int classes = 0;  // 0 for sentiment and regression
  std::vector<std::string> class_names;
  // Regression: the targets (label columns) by name, and the declared range of every
  // target value (attributes `targets`, `target_min`, `target_max`).
  std::vector<std::string> targets;
  double target_min = 0.0, target_max = 0.0;
  // Names of the split codes 0, 1, 2, ...: code 0 trains, 1 validates, every code
  // from 2 on is a test partition (the `split_names` attribute; MSP-Podcast:
  // train,valid,test1,test2,test3).
  std::vector<std::string> split_names{"train", "valid", "test"};
  ModalitySet modalities = ModalitySet::standard();  // the feature datasets, in order
  std::vector<std::int64_t> dims;                    // D_m per modality
  std::int64_t rows = 0;
  bool has_split = false;
  bool has_fold = false;
  bool has_speaker = false;
  bool has_planted = false;
  int folds = 0;  // max(fold) + 1 when has_fold
};

// One sequence: a contiguous run of rows [begin, begin + count).
struct SequenceRun {
  std::int64_t id = 0;
  std::int64_t begin = 0;
  std::int64_t count = 0;
  std::int8_t split = -1;  // split of its first row (-1 when the corpus has no split)
  std::int8_t fold = -1;   // fold of its first row (-1 when the corpus has no fold)
  std::int32_t speaker = -1;  // speaker id of its first row (-1 unknown, or no speaker dataset)
};

// Rows [begin, end) of the corpus.
struct RowRange {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::int64_t size() const { return end - begin; }
  bool operator==(const RowRange& o) const { return begin == o.begin && end == o.end; }
};

// Rows read from a corpus, in row order. Optional datasets absent from the file
// are undefined tensors.
struct CorpusRows {
  PerModality<torch::Tensor> features;  // float32 [n, D_m] per modality (empty without features)
  torch::Tensor label;       // int64 [n] (classification), float32 [n] (sentiment) or [n, T] (regression)
  torch::Tensor sequence;    // int64 [n]
  torch::Tensor position;    // int64 [n]
  torch::Tensor row;         // int64 [n]: global row id of each row
  torch::Tensor split;       // int8 [n]
  torch::Tensor fold;        // int8 [n]
  torch::Tensor speaker;     // int32 [n]: speaker id, -1 unknown
  torch::Tensor planted_hardness;           // float32 [n]
  torch::Tensor planted_modality_hardness;  // float32 [n, M]

  std::int64_t size() const { return row.defined() ? row.size(0) : 0; }
};

}  // namespace hardy
