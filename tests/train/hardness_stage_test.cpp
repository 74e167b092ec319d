// Hardness scoring (train/hardness_stage.h). hardness.per_sequence = true: each
// sequence gets exactly the values of a forward pass of its own, bit for bit.
// hardness.per_sequence = false scores sequences of one length together, without
// padding: the same values up to float rounding, each at its own utterance, for
// dialogue-shaped corpora (mixed lengths) and single-turn ones (MSP-Podcast shape).
// The authors' per-batch normalisation uses the natural batches either way.
#include "core/config.h"
#include "data/corpus_reader.h"
#include "dist/local_communicator.h"
#include "model/losses.h"
#include "support/corpus_fixtures.h"
#include "train/hardness.h"
#include "train/hardness_stage.h"
#include "train/teacher_stage.h"

#include <gtest/gtest.h>

#include <numeric>

namespace hardy {
namespace {

struct Scored {
  torch::Tensor direct, indirect;
};

// The reference: one forward pass per training sequence, in natural order.
Scored one_pass_per_sequence(const FoldContext& ctx, TeacherNet& teacher, const PerModality<torch::Tensor>& x,
                             const std::string& condition) {
  torch::NoGradGuard no_grad;
  teacher->eval();
  const auto& modalities = ctx.settings.model.modalities;
  const std::vector<bool> all(static_cast<size_t>(modalities.size()), true);
  std::vector<torch::Tensor> direct, indirect;
  for (std::int64_t i = 0; i < ctx.train.sequences(); ++i) {
    auto layout = batch_layout(ctx.train, {i});
    auto truth = gather_batch(x, ctx.corpus.label, layout.rows, layout.rows, layout.real, all);
    auto batch = apply_condition(truth, modalities.parse_condition(condition));
    auto out = teacher->forward(batch);
    direct.push_back(per_utterance_reconstruction_error(out.reconstruction, truth.x, batch.available, batch.real)
                         .masked_select(batch.real).to(torch::kFloat32));
    indirect.push_back(indirect_hardness(out.mi, batch.real).masked_select(batch.real).to(torch::kFloat32));
  }
  return {torch::cat(direct), torch::cat(indirect)};
}

// `exact`: bit for bit; else within float rounding.
void expect_per_sequence_values(const testing::TinyCorpus& shape, bool exact, std::vector<std::string> extra = {}) {
  const auto path = testing::write_tiny_corpus(testing::temp_path("hardness.h5"), shape);
  std::vector<std::string> set = {"data.corpus=" + path,     "output.log_level=warn", "model.hidden=16",
                                  "model.depth=1",           "model.heads=2",         "model.ff_hidden=32",
                                  "model.decoder_hidden=32", "training.batch_size=4", "training.threads=1",
                                  "training.device=cpu"};
  set.insert(set.end(), extra.begin(), extra.end());
  auto config = Config::parse("", "test", set);
  CorpusReader reader(path);
  auto settings = TrainSettings::from(config, reader.meta());
  ASSERT_EQ(settings.hardness_per_sequence, exact);
  auto plans = plan_folds(reader.meta(), reader.sequences(), "auto", {0});
  auto rows = reader.read_all();
  FoldContext ctx(settings, rows, plans[0], testing::temp_path("fold"), local_world());
  torch::manual_seed(11);
  TeacherNet teacher(settings.model);
  const auto& x = rows.features;

  auto scores = score_hardness(ctx, teacher, x);
  ASSERT_GT(ctx.train.sequences(), 4);
  for (const auto& condition : settings.conditions) {
    auto want = one_pass_per_sequence(ctx, teacher, x, condition);
    const auto& direct = scores.direct.at(condition);
    const auto& indirect = scores.indirect.at(condition);
    if (exact) {
      EXPECT_TRUE(direct.equal(want.direct)) << condition;
      EXPECT_TRUE(indirect.equal(want.indirect)) << condition;
    } else {
      EXPECT_TRUE(torch::allclose(direct, want.direct, 1e-4, 1e-6)) << condition;
      EXPECT_TRUE(torch::allclose(indirect, want.indirect, 1e-4, 1e-5)) << condition;
    }
    // Not a degenerate comparison: the values differ between utterances (Hd is 0
    // where nothing is missing).
    EXPECT_GT(want.indirect.std().item<double>(), 0.0) << condition;
    if (condition != settings.model.modalities.complete_condition())
      EXPECT_GT(want.direct.std().item<double>(), 0.0) << condition;
  }
}

testing::TinyCorpus dialogues() {
  testing::TinyCorpus c;
  c.sequences = 60;
  c.min_length = 1;
  c.max_length = 5;
  return c;
}

testing::TinyCorpus single_turns() {
  testing::TinyCorpus c;
  c.sequences = 300;
  c.min_length = 1;
  c.max_length = 1;
  c.dims = {24, 20, 16};
  return c;
}

TEST(HardnessStage, PerSequenceScoringIsOnePassPerSequenceBitForBit) {
  expect_per_sequence_values(dialogues(), true);
  expect_per_sequence_values(single_turns(), true);
}

TEST(HardnessStage, BatchedScoringGroupsEqualLengthsAndKeepsEachValueAtItsUtterance) {
  expect_per_sequence_values(dialogues(), false, {"hardness.per_sequence=false"});
  expect_per_sequence_values(single_turns(), false, {"hardness.per_sequence=false"});
}

TEST(HardnessStage, PerBatchNormalisationUsesTheNaturalBatches) {
  testing::TinyCorpus dialogues;
  dialogues.sequences = 40;
  const auto path = testing::write_tiny_corpus(testing::temp_path("hardness_batch.h5"), dialogues);
  auto config = Config::parse("", "test",
                              {"data.corpus=" + path, "output.log_level=warn", "model.hidden=16", "model.depth=1",
                               "model.heads=2", "model.ff_hidden=32", "model.decoder_hidden=32",
                               "training.batch_size=4", "training.threads=1", "training.device=cpu",
                               "hardness.normalization=batch"});
  CorpusReader reader(path);
  auto settings = TrainSettings::from(config, reader.meta());
  ASSERT_TRUE(settings.batch_normalization);
  auto plans = plan_folds(reader.meta(), reader.sequences(), "auto", {0});
  auto rows = reader.read_all();
  FoldContext ctx(settings, rows, plans[0], testing::temp_path("fold"), local_world());
  torch::manual_seed(11);
  TeacherNet teacher(settings.model);
  const auto& x = rows.features;
  auto scores = score_hardness(ctx, teacher, x);
  const auto& condition = settings.conditions.front();
  // Batch b holds sequences 4b .. 4b+3; its utterances are normalised by its own range.
  std::int64_t first = 0;
  for (std::int64_t seq = 0; seq < ctx.train.sequences(); seq += 4) {
    std::int64_t n = 0;
    for (auto i = seq; i < std::min(seq + 4, ctx.train.sequences()); ++i) n += ctx.train.count[static_cast<size_t>(i)];
    auto hd = scores.direct.at(condition).narrow(0, first, n);
    auto hi = scores.indirect.at(condition).narrow(0, first, n);
    HardnessRange range;
    range.include(hd, hi);
    EXPECT_TRUE(scores.unified.at(condition).narrow(0, first, n).equal(
        unified_hardness(hd, hi, range, settings.hardness)))
        << "batch from sequence " << seq;
    first += n;
  }
}

}  // namespace
}  // namespace hardy
