// Eq. 10 against hand-computed values, its scopes and its ablations.
#include "train/hardness.h"

#include <gtest/gtest.h>

#include <cmath>

namespace hardy {
namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

TEST(Hardness, MinMaxThenLogistic) {
  auto hd = torch::tensor({0.f, 1.f, 2.f});
  auto hi = torch::tensor({4.f, 2.f, 0.f});
  HardnessRange range;
  range.include(hd, hi);
  // Ĥd = (0, .5, 1), Ĥi = (1, .5, 0); α Ĥd + β Ĥi = (.4, .5, .6); H = σ(4 ·).
  auto h = unified_hardness(hd, hi, range, HardnessOptions{});
  EXPECT_NEAR(h[0].item<float>(), sigmoid(1.6), 1e-6);
  EXPECT_NEAR(h[1].item<float>(), sigmoid(2.0), 1e-6);
  EXPECT_NEAR(h[2].item<float>(), sigmoid(2.4), 1e-6);
}

TEST(Hardness, DefaultRangeIsHalfTo0982AndCenteredSpansBelowHalf) {
  auto hd = torch::tensor({0.f, 5.f});
  auto hi = torch::tensor({0.f, 3.f});
  HardnessRange range;
  range.include(hd, hi);
  auto h = unified_hardness(hd, hi, range, HardnessOptions{});
  EXPECT_NEAR(h[0].item<float>(), 0.5, 1e-6);
  EXPECT_NEAR(h[1].item<float>(), sigmoid(4.0), 1e-6);  // 0.982
  HardnessOptions centered;
  centered.centered = true;
  auto c = unified_hardness(hd, hi, range, centered);
  EXPECT_NEAR(c[0].item<float>(), sigmoid(-2.0), 1e-6);
  EXPECT_NEAR(c[1].item<float>(), sigmoid(2.0), 1e-6);
}

TEST(Hardness, AblationsDropTheirTerm) {
  auto hd = torch::tensor({0.f, 1.f});
  auto hi = torch::tensor({1.f, 0.f});
  HardnessRange range;
  range.include(hd, hi);
  HardnessOptions no_direct;
  no_direct.use_direct = false;
  auto a = unified_hardness(hd, hi, range, no_direct);
  EXPECT_NEAR(a[0].item<float>(), sigmoid(4 * 0.4), 1e-6);
  EXPECT_NEAR(a[1].item<float>(), 0.5, 1e-6);
  HardnessOptions no_indirect;
  no_indirect.use_indirect = false;
  auto b = unified_hardness(hd, hi, range, no_indirect);
  EXPECT_NEAR(b[0].item<float>(), 0.5, 1e-6);
  EXPECT_NEAR(b[1].item<float>(), sigmoid(4 * 0.6), 1e-6);
}

TEST(Hardness, ScopeChangesTheNormalisation) {
  // The same two scores normalised within a batch vs within a wider dataset range.
  auto hd = torch::tensor({1.f, 2.f});
  auto hi = torch::tensor({1.f, 2.f});
  HardnessRange batch;
  batch.include(hd, hi);
  HardnessRange dataset = batch;
  dataset.include(torch::tensor({0.f, 4.f}), torch::tensor({0.f, 4.f}));
  auto hb = unified_hardness(hd, hi, batch, {});
  auto hs = unified_hardness(hd, hi, dataset, {});
  EXPECT_NEAR(hb[0].item<float>(), 0.5, 1e-6);
  EXPECT_NEAR(hs[0].item<float>(), sigmoid(4 * 0.25), 1e-6);
}

TEST(Hardness, RangeMergesAndTravelsAsOneMaxTensor) {
  HardnessRange a, b;
  a.include(torch::tensor({1.f, 3.f}), torch::tensor({-2.f, 0.f}));
  b.include(torch::tensor({0.5f}), torch::tensor({7.f}));
  auto merged_by_max = HardnessRange::from_max_tensor(torch::max(a.to_max_tensor(), b.to_max_tensor()));
  a.merge(b);
  EXPECT_DOUBLE_EQ(merged_by_max.direct_min, 0.5);
  EXPECT_DOUBLE_EQ(merged_by_max.direct_max, 3.0);
  EXPECT_DOUBLE_EQ(merged_by_max.indirect_min, -2.0);
  EXPECT_DOUBLE_EQ(merged_by_max.indirect_max, 7.0);
  EXPECT_DOUBLE_EQ(a.indirect_max, 7.0);
  // Every score equal: Ĥ = 0.
  EXPECT_TRUE(min_max_normalise(torch::ones({3}), 1.0, 1.0).equal(torch::zeros({3})));
}

}  // namespace
}  // namespace hardy
