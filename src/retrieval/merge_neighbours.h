// The k-way merge of per-shard top-k lists into one top-k list per query, as the
// sharded search needs it: pure logic, unit-tested without MPI.
#pragma once

#include "retrieval/feature_index.h"

#include <torch/torch.h>

#include <cstdint>

namespace hardy {

// `distances` float32 [S, Q, k] and `ids` int64 [S, Q, k]: S shards' answers for
// the same Q queries, each list sorted by (distance, id), padded with id -1 (and any
// distance) when a shard has fewer than k rows. Returns the k best of the union per
// query by (distance, then smaller id) — the tie rule of one FeatureIndex over all
// rows — padded with (+inf, -1) when the shards hold fewer than k rows in all.
Neighbours merge_neighbours(const torch::Tensor& distances, const torch::Tensor& ids);

}  // namespace hardy
