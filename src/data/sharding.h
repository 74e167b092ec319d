// Assignment of whole sequences to ranks, balanced by utterance count
// (docs/corpus-format.md, "Sharding").
#pragma once

#include "data/corpus.h"

#include <functional>
#include <vector>

namespace hardy {

// Splits the `sequence` column into runs of equal ids. Throws if an id appears in
// two separate runs (the rows of a sequence must be contiguous).
std::vector<SequenceRun> sequence_runs(const std::vector<std::int64_t>& sequence_ids);

// Shards `selected` (sequences in row order) over `world` ranks: sequence s goes to
// rank floor((o_s + n_s/2) * world / R). Returns, per rank, its row ranges with
// adjacent ranges merged. Ranks may be empty.
std::vector<std::vector<RowRange>> plan_shards(const std::vector<SequenceRun>& selected,
                                               int world);

// The rank that owns each of `selected` under the same rule as plan_shards.
std::vector<int> shard_owners(const std::vector<SequenceRun>& selected, int world);

// The sequences of `selected` that rank `rank` owns, in row order.
std::vector<SequenceRun> shard_sequences(const std::vector<SequenceRun>& selected, int rank,
                                         int world);

using SequencePredicate = std::function<bool(const SequenceRun&)>;

// The sequences for which `keep` is true (all when keep is empty), in row order.
std::vector<SequenceRun> select_sequences(const std::vector<SequenceRun>& all,
                                          const SequencePredicate& keep);

std::int64_t total_rows(const std::vector<RowRange>& ranges);

}  // namespace hardy
