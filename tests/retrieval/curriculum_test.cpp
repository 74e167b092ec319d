// The curriculum of docs/algorithm.md §2 on hand-built databases.
#include "core/error.h"
#include "retrieval/curriculum.h"
#include "retrieval/local_retrieval.h"

#include <gtest/gtest.h>

namespace hardy {
namespace {

TEST(CurriculumSize, Equation18) {
  CurriculumOptions o;  // K = 3, K_min = 1
  EXPECT_EQ(curriculum_size(0.5, 10, o), 2);     // ⌊0.5·3 + 1⌋ = 2
  EXPECT_EQ(curriculum_size(0.982, 10, o), 3);   // ⌊3.946⌋
  EXPECT_EQ(curriculum_size(0.6666, 10, o), 2);  // ⌊2.9998⌋
  EXPECT_EQ(curriculum_size(0.0, 10, o), 1);     // K_min
  EXPECT_EQ(curriculum_size(1.0, 10, o), 3);     // ⌊4⌋ capped at K
  EXPECT_EQ(curriculum_size(0.9, 2, o), 2);      // capped at the candidates
  o.dynamic_k = false;
  EXPECT_EQ(curriculum_size(0.5, 10, o), 3);
  EXPECT_EQ(curriculum_size(0.5, 1, o), 1);
  o = CurriculumOptions{5, 2, true};
  EXPECT_EQ(curriculum_size(0.5, 10, o), 4);  // ⌊0.5·4 + 2⌋
}

// Six samples with ids 10..15. In audio they lie on a line at x = id − 10; in text
// and visual every sample sits at the origin except sample 15 (far away), so the
// integrated distance ranks by audio position, with text/visual breaking nothing.
struct LineDb {
  PerModality<torch::Tensor> features = PerModality<torch::Tensor>(3);
  torch::Tensor ids = torch::arange(10, 16, torch::kInt64);
  LineDb() {
    features[0] = (torch::arange(6, torch::kFloat32)).unsqueeze(1);
    features[1] = torch::zeros({6, 2});
    features[2] = torch::zeros({6, 2});
    features[1][5][0] = 100.f;
    features[2][5][0] = 100.f;
  }
  PerModality<IndexOptions> options() const {
    PerModality<IndexOptions> o(3);
    return o;  // all L2 (the text-IP default would be undefined on zero vectors)
  }
  PerModality<torch::Tensor> rows(const std::vector<std::int64_t>& r) const {
    auto idx = torch::tensor(r, torch::kInt64);
    return {features[0].index_select(0, idx), features[1].index_select(0, idx),
            features[2].index_select(0, idx)};
  }
};

TEST(Curriculum, UnionRankCutOnALine) {
  LineDb db;
  LocalRetrieval backend(db.features, db.ids, db.options());
  // Query sample 12 (x = 2) under audio only: top-4 audio = 12, 11, 13 (tie at 1 → 11
  // first), 10 or 14 (tie at 2 → 10). Without itself: 11, 13, 10.
  auto q = db.rows({2});
  CurriculumOptions o;  // K = 3
  auto c = build_curriculum(backend, q, torch::tensor({12}, torch::kInt64),
                            torch::tensor({0.982f}), {true, false, false}, o);
  EXPECT_EQ(c.candidates[0].item<std::int64_t>(), 3);
  EXPECT_EQ(c.size[0].item<std::int64_t>(), 3);
  EXPECT_TRUE(c.support[0].equal(torch::tensor({11, 13, 10}, torch::kInt64)));
  // Integrated distance = mean over 3 modalities of |Δ| = (1 + 0 + 0)/3 for 11 and 13.
  EXPECT_NEAR(c.distance[0][0].item<float>(), 1.0 / 3, 1e-6);
  EXPECT_NEAR(c.distance[0][2].item<float>(), 2.0 / 3, 1e-6);

  // Easy query (H = 0.5 → K_q = 2): the two closest only.
  auto easy = build_curriculum(backend, q, torch::tensor({12}, torch::kInt64),
                               torch::tensor({0.5f}), {true, false, false}, o);
  EXPECT_EQ(easy.size[0].item<std::int64_t>(), 2);
  EXPECT_TRUE(easy.support[0].equal(torch::tensor({11, 13, -1}, torch::kInt64)));
}

TEST(Curriculum, UnionOverModalitiesIsReRankedByIntegratedDistance) {
  LineDb db;
  LocalRetrieval backend(db.features, db.ids, db.options());
  // Query sample 14 (x = 4). Audio top-4: 14, 13, 15, 12 → {13, 15, 12}. Text top-4
  // (all at the origin but 15): 10, 11, 12, 13 by id → {10, 11, 12, 13}. Union:
  // {10, 11, 12, 13, 15}. Integrated: 13 → 1/3, 12 → 2/3, 11 → 1, 10 → 4/3,
  // 15 → (1 + 100 + 100)/3. With K = 3 and H high: 13, 12, 11.
  CurriculumOptions o;
  auto c = build_curriculum(backend, db.rows({4}), torch::tensor({14}, torch::kInt64),
                            torch::tensor({0.9f}), {true, true, false}, o);
  EXPECT_EQ(c.candidates[0].item<std::int64_t>(), 5);
  EXPECT_TRUE(c.support[0].equal(torch::tensor({13, 12, 11}, torch::kInt64)));
}

TEST(Curriculum, HardnessStaysPairedWithItsOwnQuery) {
  LineDb db;
  LocalRetrieval backend(db.features, db.ids, db.options());
  CurriculumOptions o;
  // Same queries in two orders, hardness moving with its query.
  auto a = build_curriculum(backend, db.rows({1, 3}), torch::tensor({11, 13}, torch::kInt64),
                            torch::tensor({0.5f, 0.95f}), {true, false, false}, o);
  auto b = build_curriculum(backend, db.rows({3, 1}), torch::tensor({13, 11}, torch::kInt64),
                            torch::tensor({0.95f, 0.5f}), {true, false, false}, o);
  EXPECT_EQ(a.size[0].item<std::int64_t>(), 2);
  EXPECT_EQ(a.size[1].item<std::int64_t>(), 3);
  EXPECT_TRUE(a.support[0].equal(b.support[1]));
  EXPECT_TRUE(a.support[1].equal(b.support[0]));
  EXPECT_TRUE(a.size.flip(0).equal(b.size));
}

TEST(Curriculum, FixedKGivesEverySampleKSupports) {
  torch::manual_seed(3);
  PerModality<torch::Tensor> f = {torch::randn({50, 4}), torch::randn({50, 6}), torch::randn({50, 3})};
  auto ids = torch::arange(50, torch::kInt64);
  PerModality<IndexOptions> opt(3);
  opt[1].metric = Metric::InnerProduct;
  LocalRetrieval backend(f, ids, opt);
  CurriculumOptions o;
  o.dynamic_k = false;
  auto h = torch::rand({50});
  auto c = build_curriculum(backend, f, ids, h, {true, true, true}, o);
  EXPECT_TRUE((c.size == 3).all().item<bool>());
  EXPECT_TRUE((c.support >= 0).all().item<bool>());
  // No query supports itself, and supports are distinct.
  EXPECT_FALSE((c.support == ids.unsqueeze(1)).any().item<bool>());
  auto sorted = std::get<0>(c.support.sort(1));
  EXPECT_TRUE((sorted.slice(1, 1) != sorted.slice(1, 0, -1)).all().item<bool>());
  // Distances ascend along each curriculum.
  EXPECT_TRUE((c.distance.slice(1, 1) >= c.distance.slice(1, 0, -1)).all().item<bool>());
  auto histogram = curriculum_size_histogram(c);
  EXPECT_EQ(histogram, (std::vector<std::int64_t>{0, 0, 0, 50}));

  o.dynamic_k = true;
  auto dynamic = build_curriculum(backend, f, ids, h, {true, true, true}, o);
  // H < 1/3 → K_q = 1, H ≥ 2/3 → 3 (eq. 18 with K = 3, K_min = 1).
  auto expected = (h * 3 + 1).floor().to(torch::kInt64).clamp_max(3);
  EXPECT_TRUE(dynamic.size.equal(expected));
}

TEST(Curriculum, BadOptionsAreErrors) {
  LineDb db;
  LocalRetrieval backend(db.features, db.ids, db.options());
  CurriculumOptions o;
  o.top_k = 0;
  EXPECT_THROW(build_curriculum(backend, db.rows({1}), torch::tensor({11}, torch::kInt64),
                                torch::tensor({0.5f}), {true, false, false}, o),
               Error);
  o = CurriculumOptions{};
  EXPECT_THROW(build_curriculum(backend, db.rows({1}), torch::tensor({11}, torch::kInt64),
                                torch::tensor({0.5f}), {false, false, false}, o),
               Error);
}

}  // namespace
}  // namespace hardy

namespace hardy {
namespace {

// Ablation "per-modality metric": the same text vectors ranked by L2 and by inner
// product (cosine) give different neighbours when norms differ.
TEST(Curriculum, PerModalityMetricChangesTheCurriculum) {
  // Text: the query points along x. Sample 1 is parallel to it but long (cosine 1,
  // far in L2); sample 2 is close in L2 but at 45°.
  PerModality<torch::Tensor> f = {torch::zeros({3, 1}),
                                    torch::tensor({{1.f, 0.f}, {10.f, 0.f}, {1.f, 1.f}}),
                                    torch::zeros({3, 1})};
  auto ids = torch::arange(3, torch::kInt64);
  PerModality<IndexOptions> l2(3), ip(3);
  ip[1].metric = Metric::InnerProduct;
  LocalRetrieval by_l2(f, ids, l2), by_ip(f, ids, ip);
  auto q = PerModality<torch::Tensor>{f[0].slice(0, 0, 1), f[1].slice(0, 0, 1), f[2].slice(0, 0, 1)};
  auto nl = by_l2.search(1, q[1], 2);
  auto ni = by_ip.search(1, q[1], 2);
  EXPECT_TRUE(nl.ids[0].equal(torch::tensor({0, 2}, torch::kInt64)));
  EXPECT_TRUE(ni.ids[0].equal(torch::tensor({0, 1}, torch::kInt64)));
  CurriculumOptions one;
  one.top_k = 1;
  one.dynamic_k = false;
  auto cl = build_curriculum(by_l2, q, torch::tensor({0}, torch::kInt64), torch::tensor({0.5f}),
                             {false, true, false}, one);
  auto ci = build_curriculum(by_ip, q, torch::tensor({0}, torch::kInt64), torch::tensor({0.5f}),
                             {false, true, false}, one);
  EXPECT_EQ(cl.support[0][0].item<std::int64_t>(), 2);
  EXPECT_EQ(ci.support[0][0].item<std::int64_t>(), 1);
}

}  // namespace
}  // namespace hardy
