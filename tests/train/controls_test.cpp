// The ablation controls (permuted hardness, random supports) and rank normalisation.
#include "train/controls.h"
#include "train/hardness.h"

#include <gtest/gtest.h>

#include <set>

namespace hardy {
namespace {

HardnessScores scores(const std::vector<std::int64_t>& ids) {
  HardnessScores s;
  s.rows = torch::tensor(ids, torch::kInt64);
  auto base = s.rows.to(torch::kFloat32);
  for (const std::string c : {"a", "at"}) {
    s.direct[c] = base * 10;
    s.indirect[c] = base * 100;
    s.unified[c] = base / 100;
  }
  return s;
}

TEST(PermuteHardness, ShufflesWholeTriplesPerConditionIndependentlyOfRowOrder) {
  std::vector<std::int64_t> ids(40);
  for (int i = 0; i < 40; ++i) ids[static_cast<std::size_t>(i)] = 3 * i + 1;
  const auto permuted = permute_hardness(scores(ids), {"a", "at"}, 42);
  for (const std::string c : {"a", "at"}) {
    const auto& h = permuted.unified.at(c);
    // The same multiset of scores (so the same K_q histogram), assigned differently.
    EXPECT_TRUE(std::get<0>(h.sort()).equal(std::get<0>(scores(ids).unified.at(c).sort())));
    EXPECT_FALSE(h.equal(scores(ids).unified.at(c)));
    // Each sample's (Hd, Hi, H) comes from one other sample.
    EXPECT_TRUE(torch::allclose(permuted.direct.at(c), h * 1000));
    EXPECT_TRUE(torch::allclose(permuted.indirect.at(c), h * 10000));
  }
  EXPECT_FALSE(permuted.unified.at("a").equal(permuted.unified.at("at"))) << "one permutation per condition";
  // Rows in another order (as ranks concatenate them): each id gets the same score.
  std::vector<std::int64_t> reversed(ids.rbegin(), ids.rend());
  const auto again = permute_hardness(scores(reversed), {"a", "at"}, 42);
  EXPECT_TRUE(again.unified.at("a").flip(0).equal(permuted.unified.at("a")));
  EXPECT_FALSE(permute_hardness(scores(ids), {"a", "at"}, 43).unified.at("a").equal(permuted.unified.at("a")));
}

Curriculum curriculum(const std::vector<std::int64_t>& ids, std::int64_t k) {
  Curriculum c;
  const auto q = static_cast<std::int64_t>(ids.size());
  c.query = torch::tensor(ids, torch::kInt64);
  c.hardness = torch::zeros({q});
  c.size = torch::arange(q, torch::kInt64).remainder(k + 1);  // K_q = 0..K
  c.candidates = torch::full({q}, k, torch::kInt64);
  c.support = torch::full({q, k}, -1, torch::kInt64);
  c.distance = torch::full({q, k}, std::numeric_limits<float>::infinity());
  return c;
}

TEST(RandomSupports, KeepsEachSizeDrawsDistinctTrainingSamplesNeverTheQuery) {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 30; ++i) ids.push_back(100 + 7 * i);
  const auto c = curriculum(ids, 3);
  const auto r = random_supports(c, 5, "a");
  EXPECT_TRUE(r.size.equal(c.size));
  const std::set<std::int64_t> pool(ids.begin(), ids.end());
  std::set<std::int64_t> used;
  for (std::int64_t q = 0; q < 30; ++q) {
    std::set<std::int64_t> mine;
    for (std::int64_t j = 0; j < 3; ++j) {
      const auto s = r.support[q][j].item<std::int64_t>();
      if (j >= c.size[q].item<std::int64_t>()) {
        EXPECT_EQ(s, -1);
        continue;
      }
      EXPECT_TRUE(pool.count(s));
      EXPECT_NE(s, ids[static_cast<std::size_t>(q)]);
      EXPECT_TRUE(mine.insert(s).second) << "drawn twice for one query";
      used.insert(s);
    }
  }
  EXPECT_GT(used.size(), 15u) << "supports spread over the training set";
  // Queries in another order: each query gets the same supports.
  std::vector<std::int64_t> reversed(ids.rbegin(), ids.rend());
  auto c2 = curriculum(reversed, 3);
  c2.size = c.size.flip(0);
  const auto r2 = random_supports(c2, 5, "a");
  EXPECT_TRUE(r2.support.flip(0).equal(r.support));
  EXPECT_FALSE(random_supports(c, 5, "at").support.equal(r.support)) << "one draw per condition";
}

TEST(HardnessQuintiles, EqualFifthsByHardnessTiesByIdOthersMinusOne) {
  // Ten test rows (ids 20..29, given out of order) with a tie: two per quintile.
  auto ids = torch::tensor({25, 21, 29, 20, 22, 28, 23, 27, 24, 26}, torch::kInt64);
  auto h = torch::tensor({0.5f, 0.1f, 0.9f, 0.0f, 0.2f, 0.8f, 0.3f, 0.7f, 0.4f, 0.5f});
  const auto q = hardness_quintiles(ids, h, 32);
  EXPECT_EQ(q.numel(), 32);
  for (int id = 0; id < 20; ++id) EXPECT_EQ(q[id].item<std::int64_t>(), -1);
  // Ascending hardness: 20 21 | 22 23 | 24 25 | 26 27 | 28 29 (25 and 26 tie at 0.5:
  // the smaller id first).
  const std::int64_t want[] = {0, 0, 1, 1, 2, 2, 3, 3, 4, 4};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(q[20 + i].item<std::int64_t>(), want[i]) << "id " << 20 + i;
}

TEST(RankNormalisation, QuantilesByHandWithTies) {
  auto population = torch::tensor({3.0, 1.0, 2.0, 2.0});
  auto q = rank_quantile(torch::tensor({1.0, 2.0, 3.0, 0.5}), population);
  EXPECT_TRUE(torch::allclose(q, torch::tensor({0.25, 0.75, 1.0, 0.0}, torch::kFloat64)));
}

TEST(RankNormalisation, SpreadsHardnessAndIsTheSameForAnySplitOfThePopulation) {
  auto direct = torch::rand({101}, torch::TensorOptions().dtype(torch::kFloat32)) * 0.01;  // squeezed
  auto indirect = torch::rand({101}, torch::TensorOptions().dtype(torch::kFloat32));
  HardnessOptions o;
  const auto whole = rank_unified_hardness(direct, indirect, direct, indirect, o);
  EXPECT_NEAR(whole.min().item<float>(), 1.0 / 101, 1e-6);
  EXPECT_FLOAT_EQ(whole.max().item<float>(), 1.0f);
  // Two "ranks": each scores its own rows against everyone's.
  auto first = rank_unified_hardness(direct.slice(0, 0, 40), indirect.slice(0, 0, 40), direct, indirect, o);
  auto second = rank_unified_hardness(direct.slice(0, 40), indirect.slice(0, 40), direct, indirect, o);
  EXPECT_TRUE(torch::cat({first, second}).equal(whole));
  CurriculumOptions k;
  k.top_k = 3;
  k.k_min = 1;
  std::set<std::int64_t> sizes;
  for (std::int64_t i = 0; i < 101; ++i) sizes.insert(curriculum_size(whole[i].item<double>(), 3, k));
  EXPECT_EQ(sizes, (std::set<std::int64_t>{1, 2, 3}));
}

}  // namespace
}  // namespace hardy
