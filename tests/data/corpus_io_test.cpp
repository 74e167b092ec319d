// Corpus round-trip through the HDF5 writer and reader, and sharded reads.
#include "core/error.h"
#include "data/corpus_reader.h"
#include "data/corpus_writer.h"
#include "support/corpus_fixtures.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace hardy {
namespace {

using testing::TinyCorpus;

torch::Tensor floats(const std::vector<float>& v, std::int64_t cols) {
  return torch::tensor(v).reshape({-1, cols});
}

TEST(CorpusIo, RoundTripKeepsEveryColumn) {
  TinyCorpus tiny;
  auto path = testing::write_tiny_corpus(testing::temp_path("roundtrip.h5"), tiny);
  auto block = testing::make_block(tiny);
  CorpusReader reader(path);
  const auto& meta = reader.meta();
  EXPECT_EQ(meta.rows, block.rows());
  EXPECT_EQ(meta.task, Task::Classification);
  EXPECT_EQ(meta.classes, 4);
  EXPECT_EQ(meta.name, "tiny");
  EXPECT_EQ(meta.folds, 3);
  EXPECT_TRUE(meta.has_split && meta.has_fold && meta.has_speaker && meta.has_planted);
  EXPECT_EQ(reader.sequences().size(), 7u);

  auto rows = reader.read_all();
  for (int m = 0; m < 3; ++m) {
    EXPECT_EQ(meta.dims[static_cast<std::size_t>(m)], tiny.dims[static_cast<std::size_t>(m)]);
    EXPECT_TRUE(rows.features[m].equal(floats(block.features[m], tiny.dims[m])));
  }
  std::vector<std::int64_t> labels(block.label_class.begin(), block.label_class.end());
  EXPECT_TRUE(rows.label.equal(torch::tensor(labels)));
  EXPECT_TRUE(rows.sequence.equal(torch::tensor(block.sequence)));
  std::vector<std::int64_t> pos(block.position.begin(), block.position.end());
  EXPECT_TRUE(rows.position.equal(torch::tensor(pos)));
  EXPECT_TRUE(rows.split.equal(torch::from_blob(block.split.data(), {block.rows()}, torch::kInt8)));
  EXPECT_TRUE(rows.fold.equal(torch::from_blob(block.fold.data(), {block.rows()}, torch::kInt8)));
  EXPECT_TRUE(rows.planted_hardness.equal(torch::tensor(block.planted_hardness)));
  EXPECT_TRUE(rows.planted_modality_hardness.equal(floats(block.planted_modality_hardness, 3)));
  EXPECT_TRUE(rows.row.equal(torch::arange(block.rows())));
}

TEST(CorpusIo, SentimentLabelsAreFloats) {
  TinyCorpus tiny;
  tiny.task = Task::Sentiment;
  auto path = testing::write_tiny_corpus(testing::temp_path("sentiment.h5"), tiny);
  CorpusReader reader(path);
  EXPECT_EQ(reader.meta().task, Task::Sentiment);
  EXPECT_EQ(reader.meta().classes, 0);
  auto rows = reader.read_all();
  EXPECT_EQ(rows.label.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(rows.label.equal(torch::tensor(testing::make_block(tiny).label_score)));
}

TEST(CorpusIo, WriterAppendsInBlocks) {
  TinyCorpus tiny;
  auto whole = testing::make_block(tiny);
  auto path = testing::temp_path("blocks.h5");
  CorpusWriter writer(path, testing::make_spec(tiny));
  // Append row by row through a second block: same file content as one append.
  for (std::int64_t r = 0; r < whole.rows(); ++r) {
    CorpusBlock one;
    one.features.resize(3);
    for (int m = 0; m < 3; ++m) {
      auto d = tiny.dims[m];
      one.features[m].assign(whole.features[m].begin() + r * d, whole.features[m].begin() + (r + 1) * d);
    }
    one.label_class = {whole.label_class[r]};
    one.sequence = {whole.sequence[r]};
    one.position = {whole.position[r]};
    one.split = {whole.split[r]};
    one.fold = {whole.fold[r]};
    one.speaker = {whole.speaker[r]};
    one.planted_hardness = {whole.planted_hardness[r]};
    one.planted_modality_hardness.assign(whole.planted_modality_hardness.begin() + 3 * r,
                                         whole.planted_modality_hardness.begin() + 3 * r + 3);
    writer.append(one);
  }
  writer.close();
  auto rows = CorpusReader(path).read_all();
  EXPECT_TRUE(rows.features[1].equal(floats(whole.features[1], tiny.dims[1])));
  EXPECT_TRUE(rows.sequence.equal(torch::tensor(whole.sequence)));
}

TEST(CorpusIo, WriterRejectsShortColumnAndLeavesNoFile) {
  TinyCorpus tiny;
  auto path = testing::temp_path("short.h5");
  {
    CorpusWriter writer(path, testing::make_spec(tiny));
    auto block = testing::make_block(tiny);
    block.fold.pop_back();
    EXPECT_THROW(writer.append(block), Error);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

// Reads every rank's shard and checks it against the matching slice of a full read.
void expect_shards_match_full_read(const CorpusReader& reader, const CorpusRows& full, int world,
                                   const SequencePredicate& keep) {
  auto selected = select_sequences(reader.sequences(), keep);
  std::int64_t selected_rows = 0;
  for (const auto& s : selected) selected_rows += s.count;
  std::vector<torch::Tensor> gathered;
  std::int64_t largest = 0, smallest = selected_rows, longest_sequence = 0;
  for (const auto& s : selected) longest_sequence = std::max(longest_sequence, s.count);
  for (int r = 0; r < world; ++r) {
    auto shard = reader.read_shard(r, world, keep);
    largest = std::max(largest, shard.size());
    smallest = std::min(smallest, shard.size());
    if (shard.size() == 0) continue;
    auto idx = shard.row;
    for (int m = 0; m < 3; ++m)
      EXPECT_TRUE(shard.features[m].equal(full.features[m].index_select(0, idx)))
          << "world " << world << " rank " << r << " modality " << m;
    EXPECT_TRUE(shard.label.equal(full.label.index_select(0, idx)));
    EXPECT_TRUE(shard.sequence.equal(full.sequence.index_select(0, idx)));
    EXPECT_TRUE(shard.position.equal(full.position.index_select(0, idx)));
    EXPECT_TRUE(shard.fold.equal(full.fold.index_select(0, idx)));
    // Whole sequences only: a shard starts at position 0.
    EXPECT_EQ(shard.position[0].item<std::int64_t>(), 0);
    gathered.push_back(idx);
  }
  // Every selected row exactly once, in row order across ranks.
  std::vector<torch::Tensor> expected;
  for (const auto& s : selected) expected.push_back(torch::arange(s.begin, s.begin + s.count));
  auto want = expected.empty() ? torch::empty({0}, torch::kInt64) : torch::cat(expected);
  auto got = gathered.empty() ? torch::empty({0}, torch::kInt64) : torch::cat(gathered);
  EXPECT_TRUE(got.equal(want)) << "world " << world;
  // Balanced to within one sequence of the ideal share.
  if (world <= static_cast<int>(selected.size())) {
    EXPECT_LE(largest - selected_rows / world, longest_sequence) << "world " << world;
  }
}

TEST(CorpusIo, ShardsEqualSlicesOfFullRead) {
  TinyCorpus tiny;
  tiny.sequences = 9;
  auto path = testing::write_tiny_corpus(testing::temp_path("shards.h5"), tiny);
  CorpusReader reader(path);
  auto full = reader.read_all();
  SequencePredicate train_of_fold1 = [](const SequenceRun& s) {
    return s.fold != 1 && s.split == kTrain;
  };
  for (int world = 1; world <= 5; ++world) {
    expect_shards_match_full_read(reader, full, world, {});
    expect_shards_match_full_read(reader, full, world, train_of_fold1);
  }
}

TEST(CorpusIo, MoreRanksThanSequencesGivesEmptyShards) {
  TinyCorpus tiny;
  tiny.sequences = 3;
  tiny.folds = 2;
  auto path = testing::write_tiny_corpus(testing::temp_path("few.h5"), tiny);
  CorpusReader reader(path);
  auto full = reader.read_all();
  int empty = 0;
  for (int r = 0; r < 8; ++r) empty += reader.read_shard(r, 8).size() == 0;
  EXPECT_EQ(empty, 5);
  expect_shards_match_full_read(reader, full, 8, {});
  EXPECT_THROW(reader.read_shard(8, 8), Error);
}

TEST(Sharding, PlanIsContiguousAndBalanced) {
  std::vector<SequenceRun> runs;
  std::int64_t at = 0;
  for (int s = 0; s < 100; ++s) {
    std::int64_t n = 1 + (s * 37) % 13;
    runs.push_back(SequenceRun{s, at, n, 0, 0});
    at += n;
  }
  for (int world : {1, 2, 3, 7, 16}) {
    auto plan = plan_shards(runs, world);
    ASSERT_EQ(plan.size(), static_cast<size_t>(world));
    std::int64_t expect_begin = 0;
    for (const auto& ranges : plan) {
      ASSERT_LE(ranges.size(), 1u) << "a full-corpus shard is one contiguous range";
      if (ranges.empty()) continue;
      EXPECT_EQ(ranges[0].begin, expect_begin);
      expect_begin = ranges[0].end;
      EXPECT_LE(std::abs(ranges[0].size() - at / world), 13) << "world " << world;
    }
    EXPECT_EQ(expect_begin, at);
  }
}

TEST(Sharding, NonContiguousSequenceIsRejected) {
  EXPECT_THROW(sequence_runs({1, 1, 2, 2, 1}), Error);
  auto runs = sequence_runs({5, 5, 3, 9, 9, 9});
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[2].id, 9);
  EXPECT_EQ(runs[2].begin, 3);
  EXPECT_EQ(runs[2].count, 3);
}

}  // namespace
}  // namespace hardy
