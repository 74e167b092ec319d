// Batch assembly: padding, conditions, curriculum views and the row bookkeeping
// that pairs every utterance with its own values.
#include "train/sequence_data.h"

#include "core/error.h"

#include <gtest/gtest.h>

#include <set>

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

namespace hardy {
namespace {

// 40 one-utterance sequences (MSP-Podcast's turns) of 20 speakers, two each, in
// split train (no valid split): by speaker, every 10th speaker's sequences become
// validation, and no validation speaker is left in training.
TEST(SequenceData, ValidationBySpeakerKeepsSpeakersDisjoint) {
  CorpusMeta meta;
  meta.path = "msp.h5";
  meta.has_split = true;
  meta.rows = 40;
  std::vector<SequenceRun> sequences;
  for (std::int64_t i = 0; i < 40; ++i) {
    SequenceRun s;
    s.id = i;
    s.begin = i;
    s.count = 1;
    s.split = i < 36 ? kTrain : kTest;
    s.speaker = static_cast<std::int32_t>(200 + (i * 7) % 20);  // ids above 127
    sequences.push_back(s);
  }
  auto plan = plan_folds(meta, sequences, "split", {}, ValidFrom::Speakers)[0];
  std::set<std::int32_t> train, valid;
  for (const auto& s : plan.train) train.insert(s.speaker);
  for (const auto& s : plan.valid) valid.insert(s.speaker);
  EXPECT_EQ(valid, (std::set<std::int32_t>{209, 219}));  // the 10th and 20th of 200..219
  for (auto v : valid) EXPECT_EQ(train.count(v), 0u) << v;
  EXPECT_EQ(plan.train.size() + plan.valid.size(), 36u);
  // By sequence: every 10th training sequence, speakers shared.
  auto by_sequence = plan_folds(meta, sequences, "split", {}, ValidFrom::Sequences)[0];
  EXPECT_EQ(by_sequence.valid.size(), 3u);
  // Without known speakers there is nothing to hold out by speaker.
  for (auto& s : sequences) s.speaker = -1;
  EXPECT_THROW(plan_folds(meta, sequences, "split", {}, ValidFrom::Speakers), Error);
}

}  // namespace
}  // namespace hardy

namespace hardy {
namespace {

// Official partitions (MSP-Podcast): split codes 0 train, 1 valid, 2.. test1/test2;
// data.test_split picks one test partition and leaves the other out.
TEST(SequenceData, TestSplitPicksOneOfficialPartition) {
  CorpusMeta meta;
  meta.path = "msp.h5";
  meta.has_split = true;
  meta.split_names = {"train", "valid", "test1", "test2"};
  std::vector<SequenceRun> sequences;
  for (std::int64_t i = 0; i < 12; ++i) {
    SequenceRun s;
    s.id = s.begin = i;
    s.count = 1;
    s.split = static_cast<std::int8_t>(i % 4);  // 3 sequences in each partition
    sequences.push_back(s);
  }
  auto all = plan_folds(meta, sequences, "split", {})[0];
  EXPECT_EQ(all.test.size(), 6u);  // no choice: every test partition
  auto test2 = plan_folds(meta, sequences, "split", {}, ValidFrom::Sequences, "test2")[0];
  ASSERT_EQ(test2.test.size(), 3u);
  for (const auto& s : test2.test) EXPECT_EQ(s.split, 3);
  EXPECT_EQ(test2.train.size(), 3u);
  EXPECT_EQ(test2.valid.size(), 3u);
  try {
    plan_folds(meta, sequences, "split", {}, ValidFrom::Sequences, "test3");
    ADD_FAILURE() << "an unknown test partition must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("test1, test2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hardy
