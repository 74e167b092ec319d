// The k-way merge of per-shard result lists is pure logic: tested without MPI.
#include "core/error.h"
#include "retrieval/merge_neighbours.h"

#include <gtest/gtest.h>

#include <limits>

namespace hardy {
namespace {

TEST(MergeNeighbours, MergesSortedListsByDistanceThenSmallerId) {
  // Two shards, one query, k = 3.
  auto d = torch::tensor({1.0f, 2.0f, 5.0f, /**/ 1.0f, 2.0f, 3.0f}).view({2, 1, 3});
  auto i = torch::tensor({10, 4, 7, /**/ 3, 20, 8}, torch::kInt64).view({2, 1, 3});
  auto out = merge_neighbours(d, i);
  EXPECT_TRUE(out.ids.equal(torch::tensor({3, 10, 4}, torch::kInt64).view({1, 3})));
  EXPECT_TRUE(out.distances.equal(torch::tensor({1.0f, 1.0f, 2.0f}).view({1, 3})));
}

TEST(MergeNeighbours, ShortShardsArePaddedAndSkipped) {
  // Shard 0 has one row, shard 1 none: one neighbour in all, the rest padding.
  auto d = torch::tensor({0.5f, 9.0f, 9.0f, /**/ 0.0f, 0.0f, 0.0f}).view({2, 1, 3});
  auto i = torch::tensor({6, -1, -1, /**/ -1, -1, -1}, torch::kInt64).view({2, 1, 3});
  auto out = merge_neighbours(d, i);
  EXPECT_EQ(out.ids[0][0].item<std::int64_t>(), 6);
  EXPECT_EQ(out.ids[0][1].item<std::int64_t>(), -1);
  EXPECT_EQ(out.distances[0][2].item<float>(), std::numeric_limits<float>::infinity());
}

TEST(MergeNeighbours, EqualsATopKOfTheUnionForRandomShards) {
  torch::manual_seed(3);
  const std::int64_t shards = 4, nq = 6, k = 5;
  // Distances on a coarse grid so that ties are common.
  auto raw_d = torch::randint(0, 4, {shards, nq, k}).to(torch::kFloat32);
  auto raw_i = torch::randperm(shards * nq * k).view({shards, nq, k});
  // Each shard's list sorted by (distance, id).
  auto key = raw_d * 1000 + raw_i.to(torch::kFloat32);
  auto order = std::get<1>(key.sort(2));
  auto d = raw_d.gather(2, order), i = raw_i.gather(2, order);
  auto out = merge_neighbours(d, i);
  for (std::int64_t q = 0; q < nq; ++q) {
    auto all_d = d.select(1, q).reshape({-1}), all_i = i.select(1, q).reshape({-1});
    auto best = std::get<1>((all_d * 1000 + all_i.to(torch::kFloat32)).sort()).slice(0, 0, k);
    EXPECT_TRUE(out.ids[q].equal(all_i.index_select(0, best))) << "query " << q;
    EXPECT_TRUE(out.distances[q].equal(all_d.index_select(0, best))) << "query " << q;
  }
}

TEST(MergeNeighbours, ShapesMustMatch) {
  EXPECT_THROW(merge_neighbours(torch::zeros({2, 1, 3}), torch::zeros({2, 1, 2}, torch::kInt64)), Error);
  EXPECT_THROW(merge_neighbours(torch::zeros({2, 3}), torch::zeros({2, 3}, torch::kInt64)), Error);
}

}  // namespace
}  // namespace hardy
