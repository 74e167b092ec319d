// `hardy_dist synth`: IEMOCAP-like synthetic corpora with planted difficulty
// (docs/synthetic-data.md). Streams dialogue by dialogue, so the corpus size is
// bounded by disk, not memory.
#pragma once

#include "data/corpus.h"

#include <cstdint>
#include <string>

namespace hardy {

struct SynthOptions {
  std::string out = "runs/demo/corpus.h5";
  std::int64_t dialogues = 120;
  std::int64_t utterances = 0;  // > 0: generate dialogues until this many rows (overrides dialogues)
  std::int64_t min_length = 8;
  std::int64_t max_length = 40;
  int classes = 4;
  Task task = Task::Classification;
  // Regression: one label column per target on [1, 7], each a noisy function of the
  // hidden class (a per-target level drawn per class), as MSP-Podcast's attributes.
  std::vector<std::string> targets{"arousal", "valence", "dominance"};
  // Relative class frequencies (empty = uniform): an imbalanced prior such as
  // MSP-Podcast's, where neutral dominates.
  std::vector<double> class_prior;
  // 0: two speakers per dialogue with ids 0/1. N > 0: a pool of N speakers with
  // global ids, each with one voice (offset) that recurs in every dialogue of theirs.
  std::int64_t speakers = 0;
  // Official-style partitions: names of split codes 0, 1, 2, ... and the fraction of
  // dialogues in each; empty = train/valid/test by dialogue decile.
  std::vector<std::string> split_names;
  std::vector<double> split_fractions;
  ModalitySet modalities = ModalitySet::standard();  // the feature datasets written
  std::vector<std::int64_t> dims{512, 1024, 1024};   // one per modality
  int folds = 5;
  double conflict_rate = 0.1;
  double noise_rate = 0.1;
  double signal = 1.0;
  std::uint64_t seed = 1234;
  std::string name = "synthetic";
  bool progress = true;
};

struct SynthSummary {
  std::int64_t rows = 0;
  std::int64_t sequences = 0;
  double seconds = 0.0;
};

SynthSummary synthesize_corpus(const SynthOptions& options);

}  // namespace hardy
