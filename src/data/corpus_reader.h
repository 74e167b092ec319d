// Reads a corpus (docs/corpus-format.md): metadata, sequences, and any set of
// whole-sequence rows, so that a rank can load just its shard.
#pragma once

#include "data/corpus.h"
#include "data/hdf5.h"
#include "data/sharding.h"

#include <string>
#include <vector>

namespace hardy {

class CorpusReader {
 public:
  // Opens the file and checks its structure (attributes, datasets, shapes, row
  // counts, contiguous sequences). Feature values are not scanned here: that is
  // `hardy_dist validate`'s job. Throws hardy::Error with the first problem found.
  explicit CorpusReader(const std::string& path);

  const CorpusMeta& meta() const { return meta_; }
  // Every sequence of the corpus in row order, with its split and fold.
  const std::vector<SequenceRun>& sequences() const { return sequences_; }

  CorpusRows read_all() const;
  // Reads the given row ranges (ascending, non-overlapping) in order.
  // Without features, only the 1-D columns are read (cheap summaries of big corpora).
  CorpusRows read_rows(const std::vector<RowRange>& ranges, bool with_features = true) const;
  // Reads rank `rank`'s shard of the sequences selected by `keep` (all when empty).
  CorpusRows read_shard(int rank, int world, const SequencePredicate& keep = {}) const;

 private:
  void read_targets(hid_t file);  // regression: targets, target_min, target_max

  h5::Handle file_;
  CorpusMeta meta_;
  std::vector<SequenceRun> sequences_;
};

}  // namespace hardy
