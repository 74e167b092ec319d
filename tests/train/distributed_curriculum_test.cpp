// The curriculum stage sharded over ranks (run under mpirun at 1, 2, 3 and 5 ranks):
// each rank reads only its part of the fold, scores hardness with the dataset-wide
// min–max (one allreduce), and builds the curricula of its own rows against the
// sharded feature database. Gathered, they must equal the single-process curricula
// bit for bit.
#include "core/config.h"
#include "data/corpus_reader.h"
#include "data/synth.h"
#include "dist/communicator.h"
#include "dist/local_communicator.h"
#include "dist/mpi_communicator.h"
#include "support/corpus_fixtures.h"
#include "train/curriculum_stage.h"
#include "train/feature_stage.h"
#include "train/hardness_stage.h"
#include "train/student_stage.h"
#include "train/teacher_stage.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <map>
#include <optional>

namespace hardy {
namespace {

std::shared_ptr<Communicator> world() { return mpi_world(); }

// Rank 0 writes the corpus; the path is shared by broadcast of rank 0's pid (the
// test runs at several rank counts at once under ctest -j).
std::string shared_corpus(int dialogues) {
  static std::map<int, std::string> written;  // every rank asks in the same order
  if (written.count(dialogues)) return written[dialogues];
  auto comm = world();
  auto pid = torch::tensor({static_cast<std::int64_t>(::getpid())});
  comm->broadcast(pid, 0)->wait();
  auto path = (std::filesystem::temp_directory_path() /
               ("hardy_dist_curriculum_" + std::to_string(pid.item<std::int64_t>()) + "_" +
                std::to_string(dialogues) + ".h5"))
                  .string();
  if (comm->rank() == 0) {
    SynthOptions o;
    o.out = path;
    o.dialogues = dialogues;
    o.min_length = 3;
    o.max_length = 9;
    o.dims = {12, 16, 8};
    o.signal = 2.0;
    o.progress = false;
    synthesize_corpus(o);
  }
  comm->barrier();
  return written[dialogues] = path;
}

Config test_config(const std::string& corpus, std::vector<std::string> extra) {
  std::vector<std::string> set = {"data.corpus=" + corpus,   "output.log_level=warn",
                                  "model.hidden=16",         "model.depth=1",
                                  "model.heads=2",           "model.ff_hidden=32",
                                  "model.decoder_hidden=32", "training.finetune_features=false",
                                  "training.batch_size=3",   "retrieval.query_batch=7",
                                  "training.threads=1", "training.device=cpu"};
  set.insert(set.end(), extra.begin(), extra.end());
  return Config::parse("", "test", set);
}

// Every rank's curriculum concatenated, ordered by query id.
Curriculum gather(Communicator& comm, const Curriculum& mine) {
  Curriculum all{comm.allgatherv(mine.query),      comm.allgatherv(mine.hardness),
                 comm.allgatherv(mine.size),       comm.allgatherv(mine.candidates),
                 comm.allgatherv(mine.support),    comm.allgatherv(mine.distance)};
  auto order = std::get<1>(all.query.sort());
  return Curriculum{all.query.index_select(0, order),     all.hardness.index_select(0, order),
                    all.size.index_select(0, order),      all.candidates.index_select(0, order),
                    all.support.index_select(0, order),   all.distance.index_select(0, order)};
}

// `reference`: the settings of the single-process answer (default: `extra`).
void expect_same_curricula(const std::string& corpus, std::vector<std::string> extra,
                           std::optional<std::vector<std::string>> reference = std::nullopt) {
  auto comm = world();
  auto config = test_config(corpus, extra);
  auto reference_config = test_config(corpus, reference ? *reference : extra);
  CorpusReader reader(corpus);
  auto settings = TrainSettings::from(config, reader.meta());
  auto reference_settings = TrainSettings::from(reference_config, reader.meta());
  auto plans = plan_folds(reader.meta(), reader.sequences(), "auto", {0});
  const auto dir = testing::temp_path("fold");
  torch::manual_seed(5);
  TeacherNet teacher(settings.model);  // seeded: the same weights on every rank

  // The single-process answer, computed on every rank.
  auto all_rows = reader.read_all();
  FoldContext single(reference_settings, all_rows, plans[0], dir, local_world());
  auto single_features = refine_features(single);
  auto single_hardness = score_hardness(single, teacher, single_features);
  auto want = build_curricula(single, single_features, single_hardness);

  // Sharded: this rank's rows only.
  auto shard = shard_fold(reader, plans[0], comm->rank(), comm->size());
  FoldContext ctx(settings, shard, dir, comm);
  if (comm->size() > 1) {
    EXPECT_LT(ctx.corpus.size(), all_rows.size());
  }
  auto features = refine_features(ctx);
  auto hardness = score_hardness(ctx, teacher, features);
  auto got = build_curricula(ctx, features, hardness);

  ASSERT_EQ(got.size(), want.size());
  for (const auto& [condition, expected] : want) {
    const auto& mine = got.at(condition);
    // A rank's curricula cover exactly its own training rows.
    EXPECT_TRUE(mine.query.equal(ctx.global_ids(ctx.train.rows()))) << condition;
    auto all = gather(*comm, mine);
    auto sorted = std::get<1>(expected.query.sort());
    EXPECT_TRUE(all.query.equal(expected.query.index_select(0, sorted))) << condition;
    EXPECT_TRUE(all.hardness.equal(expected.hardness.index_select(0, sorted))) << condition;
    EXPECT_TRUE(all.size.equal(expected.size.index_select(0, sorted))) << condition;
    EXPECT_TRUE(all.candidates.equal(expected.candidates.index_select(0, sorted))) << condition;
    EXPECT_TRUE(all.support.equal(expected.support.index_select(0, sorted))) << condition;
    EXPECT_TRUE(all.distance.equal(expected.distance.index_select(0, sorted))) << condition;
    // Not a trivial curriculum: sizes vary and supports exist.
    EXPECT_GT((all.support >= 0).sum().item<std::int64_t>(), 0) << condition;
  }
}

TEST(DistributedCurriculum, EqualsTheSingleProcessCurriculum) {
  expect_same_curricula(shared_corpus(30), {"hardness.centered=true"});
}

// GPU retrieval's engine (LibTorch GEMM + top-k, here on the CPU) gives FAISS
// flat's curricula at every rank count: the reference is computed with FAISS.
TEST(DistributedCurriculum, TorchSearchEngineEqualsFaissFlat) {
  using Keys = std::vector<std::string>;
  expect_same_curricula(shared_corpus(30), {"retrieval.engine=torch"}, Keys{});
  expect_same_curricula(shared_corpus(30),
                        {"retrieval.engine=torch", "retrieval.metric_audio=ip", "retrieval.top_k=5",
                         "retrieval.k_min=2"},
                        Keys{"retrieval.metric_audio=ip", "retrieval.top_k=5", "retrieval.k_min=2"});
}

TEST(DistributedCurriculum, EqualsItWithTheAuthorsDefaultsAndPerModalityMetrics) {
  expect_same_curricula(shared_corpus(30),
                        {"retrieval.metric_audio=ip", "retrieval.top_k=5", "retrieval.k_min=2"});
}

TEST(DistributedCurriculum, RanksWithoutTrainingSequencesTakePart) {
  // 5 dialogues, one per fold: fold 0 holds out one for test and one more goes to
  // validation, leaving 3 training sequences, so with 5 ranks two hold none.
  expect_same_curricula(shared_corpus(5), {});
}

TEST(DistributedCurriculum, ShardsOfAFoldCoverItExactlyOnce) {
  auto comm = world();
  auto corpus = shared_corpus(30);
  CorpusReader reader(corpus);
  auto plan = plan_folds(reader.meta(), reader.sequences(), "auto", {0})[0];
  auto shard = shard_fold(reader, plan, comm->rank(), comm->size());
  for (auto [mine, whole] : {std::pair{&shard.plan.train, &plan.train},
                             std::pair{&shard.plan.valid, &plan.valid},
                             std::pair{&shard.plan.test, &plan.test}}) {
    std::vector<std::int64_t> ids;
    for (const auto& s : *mine) {
      // The re-based sequence points at its own rows in the shard's table.
      ASSERT_LT(s.begin + s.count - 1, shard.rows.size());
      EXPECT_EQ(shard.rows.sequence[s.begin].item<std::int64_t>(), s.id);
      EXPECT_EQ(shard.rows.sequence[s.begin + s.count - 1].item<std::int64_t>(), s.id);
      ids.push_back(s.id);
    }
    auto all = comm->allgatherv(torch::tensor(ids, torch::kInt64)).sort();
    std::vector<std::int64_t> want;
    for (const auto& s : *whole) want.push_back(s.id);
    EXPECT_TRUE(std::get<0>(all).equal(std::get<0>(torch::tensor(want, torch::kInt64).sort())));
  }
}

}  // namespace
}  // namespace hardy
