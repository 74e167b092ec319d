// The whole pipeline on a tiny synthetic corpus: artifacts, scores above chance,
// resume, and the ablation switches of docs/algorithm.md §5 that act at pipeline level.
#include "core/config.h"
#include "core/error.h"
#include "data/corpus_reader.h"
#include "data/synth.h"
#include "retrieval/curriculum.h"
#include "support/corpus_fixtures.h"
#include "app/threads.h"
#include "dist/local_communicator.h"
#include "train/pipeline.h"
#include "train/curriculum_stage.h"
#include "train/feature_stage.h"
#include "train/hardness_stage.h"
#include "train/student_stage.h"
#include "train/teacher_stage.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace hardy {
namespace {

namespace fs = std::filesystem;

// A corpus written once for all tests of this file.
const std::string& tiny_corpus() {
  static const std::string path = [] {
    SynthOptions o;
    o.out = testing::temp_path("pipeline_corpus.h5");
    o.dialogues = 40;
    o.min_length = 4;
    o.max_length = 10;
    o.dims = {12, 16, 8};
    o.signal = 2.0;
    o.progress = false;
    synthesize_corpus(o);
    return o.out;
  }();
  return path;
}

Config tiny_config(const std::string& out, std::vector<std::string> extra = {}) {
  std::vector<std::string> set = {
      "data.corpus=" + tiny_corpus(), "data.folds=[0]", "output.dir=" + out,
      "output.log_level=warn",        "model.hidden=16",  "model.depth=1",
      "model.heads=2",                "model.ff_hidden=32", "model.decoder_hidden=32",
      "model.dropout=0.1",            "training.finetune_epochs=3", "training.teacher_epochs=4",
      "training.teacher_stage1_epochs=2", "training.student_epochs=8",
      "training.student_stage1_epochs=3", "training.batch_size=4", "training.lr=0.003",
      "training.threads=1", "training.device=cpu"};
  set.insert(set.end(), extra.begin(), extra.end());
  auto config = Config::parse("", "test", set);
  // What `hardy_dist train` does before the pipeline: one intra-op thread, one BLAS thread.
  app::configure_threads(config.integer("training.threads"));
  return config;
}

TEST(Pipeline, EndToEndWritesEveryArtifactAndBeatsChance) {
  auto out = testing::temp_path("run");
  auto config = tiny_config(out);
  auto results = run_pipeline(config);
  ASSERT_EQ(results.folds.size(), 1u);
  const auto& fold = results.folds[0];
  ASSERT_EQ(fold.conditions.size(), 7u);  // six missing-modality conditions + atv
  EXPECT_EQ(fold.conditions.back().condition, "atv");
  for (const auto& c : fold.conditions) {
    ASSERT_FALSE(c.epochs.empty()) << c.condition;
    // 4 balanced classes: chance is 0.25.
    EXPECT_GT(select_epoch(c.epochs, Selection::BestValid).test_primary, 0.35) << c.condition;
    EXPECT_FALSE(std::isnan(c.spearman_planted)) << c.condition;
    EXPECT_EQ(c.k_histogram.size(), 4u) << c.condition;
  }
  std::string f = out + "/fold0/";
  for (const char* name : {"feature_net_audio.pt", "feature_net_text.pt", "feature_net_visual.pt",
                           "features.json", "teacher.pt", "teacher.json", "hardness.pt",
                           "hardness.json", "curriculum.json", "../timings.json"})
    EXPECT_TRUE(fs::exists(f + name)) << name;
  for (const char* c : {"a", "t", "v", "at", "av", "tv", "atv"}) {
    EXPECT_TRUE(fs::exists(f + "curriculum_" + c + ".pt")) << c;
    EXPECT_TRUE(fs::exists(f + "student_" + c + ".json")) << c;
    EXPECT_TRUE(fs::exists(f + "student_" + c + "_scores.pt")) << c;
  }
  for (const char* name : {"results.md", "results.csv", "results.json", "config.toml"})
    EXPECT_TRUE(fs::exists(out + "/" + name)) << name;

  // Re-running the same command skips every stage: nothing is rewritten.
  auto teacher_time = fs::last_write_time(f + "teacher.pt");
  auto student_time = fs::last_write_time(f + "student_tv_scores.pt");
  auto again = run_pipeline(config);
  EXPECT_EQ(fs::last_write_time(f + "teacher.pt"), teacher_time);
  EXPECT_EQ(fs::last_write_time(f + "student_tv_scores.pt"), student_time);
  for (size_t i = 0; i < 7; ++i)
    EXPECT_EQ(again.folds[0].conditions[i].epochs.back().test_primary,
              fold.conditions[i].epochs.back().test_primary);

  // The curriculum artifacts hold K_q of eq. 18 for the stored hardness.
  CurriculumOptions k;
  auto c = torch::serialize::InputArchive();
  c.load_from(f + "curriculum_at.pt");
  torch::Tensor hardness, size, candidates;
  c.read("hardness", hardness);
  c.read("size", size);
  c.read("candidates", candidates);
  for (std::int64_t i = 0; i < size.numel(); ++i)
    EXPECT_EQ(size[i].item<std::int64_t>(),
              curriculum_size(hardness[i].item<float>(), candidates[i].item<std::int64_t>(), k));
}

TEST(Pipeline, RetrievalOffTrainsWithoutCurricula) {
  auto out = testing::temp_path("run_noretrieval");
  auto results = run_pipeline(
      tiny_config(out, {"retrieval.enabled=false", "data.conditions=[\"a\",\"tv\"]"}));
  ASSERT_EQ(results.folds[0].conditions.size(), 2u);
  EXPECT_FALSE(fs::exists(out + "/fold0/curriculum.json"));
  EXPECT_FALSE(fs::exists(out + "/fold0/curriculum_a.pt"));
  EXPECT_TRUE(results.folds[0].conditions[0].k_histogram.empty());
  EXPECT_TRUE(fs::exists(out + "/fold0/student_tv.json"));
}

TEST(Pipeline, FinetuneOffUsesTheRawFeatures) {
  auto config = tiny_config(testing::temp_path("run_raw"), {"training.finetune_features=false"});
  CorpusReader reader(tiny_corpus());
  auto rows = reader.read_all();
  auto settings = TrainSettings::from(config, reader.meta());
  auto plans = plan_folds(reader.meta(), reader.sequences(), "auto", {0});
  FoldContext ctx(settings, rows, plans[0], testing::temp_path("fold_raw"), local_world());
  auto features = refine_features(ctx);
  EXPECT_TRUE(features[0].equal(rows.features[0]));
  EXPECT_TRUE(features[2].equal(rows.features[2]));
  // Text is L2-normalised either way (docs/algorithm.md §0).
  EXPECT_TRUE(torch::allclose(features[1].norm(2, 1), torch::ones({rows.size()}), 1e-5, 1e-5));

  auto tuned = tiny_config(testing::temp_path("run_tuned"));
  auto tuned_settings = TrainSettings::from(tuned, reader.meta());
  FoldContext tuned_ctx(tuned_settings, rows, plans[0], testing::temp_path("fold_tuned"), local_world());
  EXPECT_FALSE(refine_features(tuned_ctx)[0].equal(rows.features[0]));
}

// Hardness values must land on their own utterance. Scoring every sequence in one
// big batch (batch-major flattening) and one sequence at a time must agree row by row.
TEST(Pipeline, HardnessStaysWithItsUtteranceWhateverTheBatching) {
  CorpusReader reader(tiny_corpus());
  auto rows = reader.read_all();
  auto plans = plan_folds(reader.meta(), reader.sequences(), "auto", {0});
  auto big = tiny_config(testing::temp_path("hb_big"), {"training.batch_size=64"});
  auto one = tiny_config(testing::temp_path("hb_one"), {"training.batch_size=1"});
  auto s_big = TrainSettings::from(big, reader.meta());
  auto s_one = TrainSettings::from(one, reader.meta());
  FoldContext ctx_big(s_big, rows, plans[0], testing::temp_path("hb_fold_big"), local_world());
  FoldContext ctx_one(s_one, rows, plans[0], testing::temp_path("hb_fold_one"), local_world());
  torch::manual_seed(5);
  TeacherNet teacher(s_big.model);
  PerModality<torch::Tensor> features = {rows.features[0], rows.features[1], rows.features[2]};
  auto a = score_hardness(ctx_big, teacher, features);
  auto b = score_hardness(ctx_one, teacher, features);
  ASSERT_TRUE(a.rows.equal(b.rows));
  for (const char* c : {"a", "tv"}) {
    EXPECT_TRUE(torch::allclose(a.direct.at(c), b.direct.at(c), 1e-4, 1e-6)) << c;
    EXPECT_TRUE(torch::allclose(a.indirect.at(c), b.indirect.at(c), 1e-4, 1e-5)) << c;
    // And the values differ between utterances, so a permutation would be caught.
    EXPECT_GT(a.direct.at(c).std().item<float>(), 0.f) << c;
  }
}

TEST(Pipeline, FoldPlanHoldsOutOneFoldAndKeepsSequencesWhole) {
  CorpusReader reader(tiny_corpus());
  auto plans = plan_folds(reader.meta(), reader.sequences(), "auto", {});
  ASSERT_EQ(plans.size(), 5u);
  for (const auto& p : plans) {
    for (const auto& s : p.test) EXPECT_EQ(s.fold, p.fold);
    for (const auto& s : p.train) EXPECT_NE(s.fold, p.fold);
    for (const auto& s : p.valid) EXPECT_NE(s.fold, p.fold);
    EXPECT_EQ(p.train.size() + p.valid.size() + p.test.size(), reader.sequences().size());
  }
  auto split = plan_folds(reader.meta(), reader.sequences(), "split", {});
  ASSERT_EQ(split.size(), 1u);
  for (const auto& s : split[0].test) EXPECT_EQ(s.split, kTest);
  EXPECT_THROW(plan_folds(reader.meta(), reader.sequences(), "auto", {7}), Error);
}

}  // namespace
}  // namespace hardy
