// Synthetic corpora: valid, deterministic, and with difficulty that is real.
#include "core/error.h"
#include "data/corpus_reader.h"
#include "data/synth.h"
#include "data/validator.h"
#include "support/corpus_fixtures.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

namespace hardy {
namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

SynthOptions small(const std::string& name) {
  SynthOptions o;
  o.out = testing::temp_path(name);
  o.dialogues = 40;
  o.min_length = 5;
  o.max_length = 15;
  o.dims = {24, 32, 16};
  o.progress = false;
  return o;
}

TEST(Synth, WritesAValidCorpus) {
  auto o = small("valid.h5");
  auto summary = synthesize_corpus(o);
  auto report = validate_corpus(o.out);
  EXPECT_TRUE(report.ok()) << report.to_text();
  EXPECT_EQ(report.rows, summary.rows);
  EXPECT_EQ(report.sequences, 40);
  CorpusReader reader(o.out);
  EXPECT_EQ(reader.meta().folds, 5);
  EXPECT_EQ(reader.meta().dims[1], 32);
  for (const auto& s : reader.sequences()) {
    EXPECT_GE(s.count, 5);
    EXPECT_LE(s.count, 15);
  }
}

TEST(Synth, SameSeedGivesByteIdenticalFile) {
  auto a = small("a.h5");
  auto b = small("b.h5");
  auto c = small("c.h5");
  c.seed = a.seed + 1;
  synthesize_corpus(a);
  synthesize_corpus(b);
  synthesize_corpus(c);
  auto bytes_a = file_bytes(a.out);
  EXPECT_FALSE(bytes_a.empty());
  EXPECT_EQ(bytes_a, file_bytes(b.out));
  EXPECT_NE(bytes_a, file_bytes(c.out));
}

TEST(Synth, UtteranceCountIsExact) {
  auto o = small("utterances.h5");
  o.utterances = 1234;
  auto summary = synthesize_corpus(o);
  EXPECT_EQ(summary.rows, 1234);
  EXPECT_EQ(CorpusReader(o.out).meta().rows, 1234);
}

TEST(Synth, SentimentScoresStayInRange) {
  auto o = small("sentiment.h5");
  o.task = Task::Sentiment;
  synthesize_corpus(o);
  auto report = validate_corpus(o.out);
  EXPECT_TRUE(report.ok()) << report.to_text();
  auto label = CorpusReader(o.out).read_all().label;
  EXPECT_GE(label.min().item<float>(), -3.0f);
  EXPECT_LE(label.max().item<float>(), 3.0f);
}

TEST(Synth, TooFewDialoguesForFoldsIsAnError) {
  auto o = small("fewfolds.h5");
  o.dialogues = 3;
  EXPECT_THROW(synthesize_corpus(o), Error);
}

// Planted hardness must mean something: a nearest-class-mean classifier (means
// fitted on all rows) errs far more often on the hardest quarter of a modality's
// rows than on the easiest quarter.
TEST(Synth, PlantedHardnessPredictsClassificationErrors) {
  auto o = small("hardness.h5");
  o.dialogues = 150;
  o.dims = {64, 64, 64};
  synthesize_corpus(o);
  auto rows = CorpusReader(o.out).read_all();
  for (int m = 0; m < 3; ++m) {
    auto x = rows.features[m];
    auto means = torch::zeros({o.classes, x.size(1)});
    for (int k = 0; k < o.classes; ++k) means[k] = x.index({rows.label == k}).mean(0);
    auto predicted = torch::cdist(x, means).argmin(1);
    auto wrong = (predicted != rows.label).to(torch::kFloat32);
    auto h = rows.planted_modality_hardness.select(1, m);
    auto q = torch::quantile(h, torch::tensor({0.25f, 0.75f}));
    float easy_error = wrong.index({h <= q[0]}).mean().item<float>();
    float hard_error = wrong.index({h >= q[1]}).mean().item<float>();
    EXPECT_LT(easy_error, 0.2f) << "modality " << m;
    EXPECT_GT(hard_error, easy_error + 0.3f) << "modality " << m;
  }
  // Per-row planted hardness is the mean of the per-modality values.
  EXPECT_TRUE(torch::allclose(rows.planted_hardness, rows.planted_modality_hardness.mean(1),
                              1e-5, 1e-6));
}

}  // namespace
}  // namespace hardy
