// Batch assembly: padding, conditions, curriculum views and the row bookkeeping
// that pairs every utterance with its own values.
#include "train/sequence_data.h"

#include <gtest/gtest.h>

namespace hardy {
namespace {

TEST(SequenceData, BatchLayoutPadsAndPointsAtRows) {
  SequenceSet set;
  set.begin = {10, 20, 30};
  set.count = {2, 4, 1};
  EXPECT_EQ(set.utterances(), 7);
  auto layout = batch_layout(set, {2, 0, 1});
  EXPECT_TRUE(layout.rows.equal(torch::tensor({{30, 0, 0, 0}, {10, 11, 0, 0}, {20, 21, 22, 23}}, torch::kInt64)));
  EXPECT_EQ(layout.real.sum().item<std::int64_t>(), 7);
  EXPECT_FALSE(layout.real[0][1].item<bool>());
  EXPECT_TRUE(set.rows().equal(torch::tensor({10, 11, 20, 21, 22, 23, 30}, torch::kInt64)));
}

TEST(SequenceData, GatherAppliesConditionAndZeroesPadding) {
  PerModality<torch::Tensor> f = {torch::arange(8, torch::kFloat32).view({4, 2}) + 1,
                                    torch::ones({4, 3}), torch::ones({4, 1}) * 5};
  auto labels = torch::tensor({0, 1, 2, 3}, torch::kInt64);
  auto rows = torch::tensor({{3, 1}, {2, 0}}, torch::kInt64);
  auto real = torch::tensor({{true, true}, {true, false}});
  auto b = gather_batch(f, labels, rows, rows, real, {true, false, true});
  EXPECT_TRUE(b.x[0][0][0].equal(torch::tensor({7.f, 8.f})));
  EXPECT_TRUE(b.x[0][1][1].equal(torch::zeros({2})));   // padding
  EXPECT_TRUE(b.x[1].equal(torch::zeros({2, 2, 3})));   // text dropped
  EXPECT_TRUE(b.label[0].equal(torch::tensor({3, 1}, torch::kInt64)));
  EXPECT_FALSE(b.available[0][0][1].item<bool>());
  EXPECT_TRUE(b.available[0][0][2].item<bool>());
}

TEST(SequenceData, ViewsSubstituteSupportsOrKeepTheUtterance) {
  // Rows 0..3; row 0 has supports (2, 3), row 1 only (3), rows 2 and 3 none.
  auto support = torch::tensor({{2, 3}, {3, -1}, {-1, -1}, {-1, -1}}, torch::kInt64);
  auto rows = torch::tensor({{0, 1}, {2, 0}}, torch::kInt64);
  auto real = torch::tensor({{true, true}, {true, false}});
  EXPECT_TRUE(view_rows(rows, real, support, 1).equal(torch::tensor({{2, 3}, {2, 0}}, torch::kInt64)));
  EXPECT_TRUE(view_rows(rows, real, support, 2).equal(torch::tensor({{3, 1}, {2, 0}}, torch::kInt64)));
}

TEST(SequenceData, EpochOrderIsAFixedPermutationPerEpoch) {
  auto a = epoch_order(50, 7, 3), b = epoch_order(50, 7, 3), c = epoch_order(50, 7, 4);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (std::int64_t i = 0; i < 50; ++i) EXPECT_EQ(sorted[static_cast<size_t>(i)], i);
  auto batches = make_batches(a, 16);
  ASSERT_EQ(batches.size(), 4u);
  EXPECT_EQ(batches.back().size(), 2u);
}

}  // namespace
}  // namespace hardy
