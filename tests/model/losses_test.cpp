// Losses, hardness terms and the MI estimator against hand-computed values.
#include "core/error.h"
#include "model/cross_modal_mi.h"
#include "model/losses.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace hardy {
namespace {

using torch::indexing::Slice;

const double kNaN = std::numeric_limits<double>::quiet_NaN();

double scalar(const torch::Tensor& t) { return t.item<double>(); }

// The entropy formula written out: -sum p log(p + 1e-7) for an explicit distribution.
double hand_entropy(std::initializer_list<double> p) {
  double e = 0.0;
  for (double pk : p) e -= pk * std::log(pk + 1e-7);
  return e;
}

torch::Tensor bools(std::initializer_list<std::int64_t> v, std::vector<std::int64_t> shape) {
  return torch::tensor(std::vector<std::int64_t>(v)).to(torch::kBool).reshape(shape);
}

// ---- feature entropy ----

TEST(FeatureEntropy, MatchesHandComputedValues) {
  auto z = torch::tensor({0.0, 0.0, 0.0, 0.0, std::log(3.0), 0.0, 0.0, 0.0},
                         torch::kDouble)
               .reshape({2, 4});
  // Row 0: uniform over 4 -> ln 4 (up to the 1e-7 inside the log).
  // Row 1: softmax = (3, 1, 1, 1) / 6.
  auto e = feature_entropy(z);
  ASSERT_EQ(e.sizes(), torch::IntArrayRef({2}));
  EXPECT_NEAR(scalar(e[0]), std::log(4.0), 1e-6);
  EXPECT_NEAR(scalar(e[0]), hand_entropy({0.25, 0.25, 0.25, 0.25}), 1e-12);
  EXPECT_NEAR(scalar(e[1]), hand_entropy({0.5, 1 / 6.0, 1 / 6.0, 1 / 6.0}), 1e-12);
}

TEST(FeatureEntropy, ClampsTinyProbabilities) {
  // softmax([0, -100]) = (1, e^-100): the second probability is clamped to 1e-6, so
  // E = -(1 * log(1 + 1e-7) + 1e-6 * log(1e-6 + 1e-7)) = 1.36202e-5, not ~0.
  auto e = feature_entropy(torch::tensor({0.0, -100.0}, torch::kDouble));
  const double expected = -(std::log(1.0 + 1e-7) + 1e-6 * std::log(1.1e-6));
  EXPECT_NEAR(scalar(e), expected, 1e-12);
  EXPECT_NEAR(scalar(e), 1.36202e-5, 1e-9);
}

// ---- cross-modal MI ----

// With every projection of the attention set to the identity (and zero bias),
// CA(q, kv) is the attention-weighted average of the kv rows.
void make_identity(CrossModalMI& mi, std::int64_t h) {
  torch::NoGradGuard guard;
  for (auto& p : mi->named_parameters()) {
    if (p.key().find("in_proj_weight") != std::string::npos)
      p.value().copy_(torch::eye(h).repeat({3, 1}));
    else if (p.key().find("out_proj.weight") != std::string::npos)
      p.value().copy_(torch::eye(h));
    else
      p.value().zero_();
  }
}

TEST(CrossModalMI, FollowsTheFormulaOnAHandExample) {
  CrossModalMI mi(ModalitySet::standard(), /*hidden=*/2, /*heads=*/1);
  make_identity(mi, 2);
  mi->eval();
  const float l3 = std::log(3.0f);
  // One utterance: each CA returns its kv row, so j^{mn} = z^m + z^n.
  PerModality<torch::Tensor> z = {torch::tensor({0.0f, 0.0f}).reshape({1, 1, 2}),
                                    torch::tensor({l3, 0.0f}).reshape({1, 1, 2}),
                                    torch::tensor({0.0f, l3}).reshape({1, 1, 2})};
  auto real = torch::ones({1, 1}, torch::kBool);
  auto available = torch::ones({1, 1, 3}, torch::kBool);
  auto out = mi(z, real, available);
  ASSERT_EQ(out.sizes(), torch::IntArrayRef({1, 1, 3}));
  const double e_a = hand_entropy({0.5, 0.5});    // softmax(0, 0)
  const double e_t = hand_entropy({0.75, 0.25});  // softmax(ln 3, 0)
  const double e_v = e_t;
  // j^{at} = (ln3, 0), j^{av} = (0, ln3), j^{tv} = (ln3, ln3).
  EXPECT_NEAR(scalar(out[0][0][0]), e_a + e_t - e_t, 1e-5);  // = ln 2
  EXPECT_NEAR(scalar(out[0][0][1]), e_a + e_v - e_v, 1e-5);
  EXPECT_NEAR(scalar(out[0][0][2]), e_t + e_v - hand_entropy({0.5, 0.5}), 1e-5);
  // And the module agrees with the formula on its own pieces.
  EXPECT_NEAR(scalar(out[0][0][0]), std::log(2.0), 1e-5);
}

TEST(CrossModalMI, MasksTheKvSidesMissingModality) {
  CrossModalMI mi(ModalitySet::standard(), 2, 1);
  make_identity(mi, 2);
  mi->eval();
  // Two utterances; audio is missing at utterance 1 and holds garbage there.
  auto za = torch::tensor({1.0f, 0.0f, 5.0f, -5.0f}).reshape({1, 2, 2});
  auto zt = torch::tensor({0.0f, 2.0f, 0.0f, 2.0f}).reshape({1, 2, 2});  // equal rows
  auto zv = torch::zeros({1, 2, 2});
  auto real = torch::ones({1, 2}, torch::kBool);
  auto available = torch::ones({1, 2, 3}, torch::kBool);
  available.index_put_({0, 1, 0}, false);
  auto out = mi(PerModality<torch::Tensor>{za, zt, zv}, real, available);
  // CA(q=z^t, kv=z^a) sees only audio row 0; CA(q=z^a, kv=z^t) averages equal rows.
  auto j = torch::tensor({1.0f, 2.0f});
  const double expected = scalar(feature_entropy(za[0][0]) + feature_entropy(zt[0][0]) -
                                 feature_entropy(j));
  EXPECT_NEAR(scalar(out[0][0][0]), expected, 1e-5);
  // Changing the masked audio row changes nothing at utterance 0.
  auto za2 = za.clone();
  za2.index_put_({0, 1}, torch::tensor({-7.0f, 3.0f}));
  auto out2 = mi(PerModality<torch::Tensor>{za2, zt, zv}, real, available);
  EXPECT_NEAR(scalar(out2[0][0][0]), expected, 1e-5);
}

// ---- task losses ----

TEST(MaskedCrossEntropy, AveragesOverRealUtterancesOnly) {
  // u0: logits (0, 0), label 0 -> ln 2.  u1: logits (ln3, 0), label 1 -> -ln(1/4) = ln 4.
  // u2 is padding with NaN logits and an out-of-range label.
  auto logits = torch::tensor({0.0, 0.0, std::log(3.0), 0.0, kNaN, kNaN}, torch::kDouble)
                    .reshape({1, 3, 2})
                    .requires_grad_(true);
  auto label = torch::tensor({0, 1, 99}, torch::kLong).reshape({1, 3});
  auto real = bools({1, 1, 0}, {1, 3});
  auto loss = masked_cross_entropy(logits, label, real);
  EXPECT_NEAR(scalar(loss), (std::log(2.0) + std::log(4.0)) / 2, 1e-12);  // 1.5 ln 2
  loss.backward();
  EXPECT_TRUE(torch::isfinite(logits.grad()).all().item<bool>());
  EXPECT_EQ(scalar(logits.grad().index({0, 2}).abs().sum()), 0.0);
  EXPECT_DOUBLE_EQ(scalar(task_loss(logits, label, real, /*sentiment=*/false)), scalar(loss));
}

TEST(MaskedCrossEntropy, RejectsALabelOutOfRangeAtARealUtterance) {
  auto logits = torch::zeros({1, 2, 3});
  auto label = torch::tensor({0, 3}, torch::kLong).reshape({1, 2});
  EXPECT_THROW(masked_cross_entropy(logits, label, torch::ones({1, 2}, torch::kBool)), Error);
}

TEST(MaskedCrossEntropy, IsZeroWithoutRealUtterances) {
  auto logits = torch::randn({2, 3, 4}, torch::requires_grad());
  auto label = torch::zeros({2, 3}, torch::kLong);
  auto loss = masked_cross_entropy(logits, label, torch::zeros({2, 3}, torch::kBool));
  EXPECT_EQ(scalar(loss), 0.0);
  loss.backward();  // still part of the graph
  EXPECT_EQ(scalar(logits.grad().abs().sum()), 0.0);
}

TEST(MaskedMse, AveragesOverRealUtterancesOnly) {
  // (1 - 0)^2 = 1 and (2 - 4)^2 = 4 -> 2.5; the padding prediction is NaN.
  auto pred = torch::tensor({1.0, 2.0, kNaN}, torch::kDouble).reshape({1, 3, 1});
  auto target = torch::tensor({0.0f, 4.0f, 7.0f}).reshape({1, 3});
  auto real = bools({1, 1, 0}, {1, 3});
  EXPECT_NEAR(scalar(masked_mse(pred, target, real)), 2.5, 1e-12);
  EXPECT_NEAR(scalar(masked_mse(pred.squeeze(-1), target, real)), 2.5, 1e-12);
  EXPECT_NEAR(scalar(task_loss(pred, target, real, /*sentiment=*/true)), 2.5, 1e-12);
}

// ---- reconstruction (direct hardness, L_rec) ----

struct ReconstructionCase {
  PerModality<torch::Tensor> x, recon;
  torch::Tensor available, real;
};

// dims (2, 1, 3); u0 complete, u1 lacks audio, u2 lacks audio and visual, u3 padding.
ReconstructionCase reconstruction_case() {
  ReconstructionCase c;
  c.x = {torch::tensor({1.f, 2.f, 1.f, -1.f, 2.f, 0.f, 9.f, 9.f}).reshape({1, 4, 2}),
         torch::tensor({3.f, 0.5f, 1.f, 9.f}).reshape({1, 4, 1}),
         torch::tensor({1.f, 1.f, 1.f, 0.f, 0.f, 0.f, 1.f, 2.f, 3.f, 9.f, 9.f, 9.f})
             .reshape({1, 4, 3})};
  for (const auto& x : c.x) c.recon.push_back(torch::zeros_like(x));
  c.real = bools({1, 1, 1, 0}, {1, 4});
  c.available = bools({1, 1, 1, 0, 1, 1, 0, 1, 0, 0, 0, 0}, {1, 4, 3});
  return c;
}

TEST(Reconstruction, PerUtteranceErrorOnMissingModalitiesAgainstTrueFeatures) {
  auto c = reconstruction_case();
  auto hd = per_utterance_reconstruction_error(c.recon, c.x, c.available, c.real);
  ASSERT_EQ(hd.sizes(), torch::IntArrayRef({1, 4}));
  // u0: nothing missing -> 0.
  // u1: audio (1, -1) vs 0 -> (1 + 1) / 2 = 1. (Against the zeroed input it would be 0.)
  // u2: audio (2, 0) -> (4 + 0) / 2 = 2; visual (1, 2, 3) -> 14 / 3; mean -> 10 / 3.
  // u3: padding -> 0.
  EXPECT_NEAR(scalar(hd[0][0]), 0.0, 1e-7);
  EXPECT_NEAR(scalar(hd[0][1]), 1.0, 1e-6);
  EXPECT_NEAR(scalar(hd[0][2]), 10.0 / 3.0, 1e-6);
  EXPECT_NEAR(scalar(hd[0][3]), 0.0, 1e-7);
  // L_rec = mean over the 3 real utterances = (0 + 1 + 10/3) / 3 = 13 / 9.
  EXPECT_NEAR(scalar(reconstruction_loss(c.recon, c.x, c.available, c.real)), 13.0 / 9.0, 1e-6);
}

TEST(Reconstruction, OnlyMissingModalitiesContribute) {
  auto c = reconstruction_case();
  const double base = scalar(reconstruction_loss(c.recon, c.x, c.available, c.real));
  // Available modalities (text everywhere, audio at u0, visual at u1) and padding: no effect.
  auto changed = c.recon;
  changed[1] = torch::full_like(c.recon[1], 42.0);
  changed[0] = c.recon[0].clone();
  changed[0].index_put_({0, 0}, torch::tensor({-8.f, 8.f}));
  changed[0].index_put_({0, 3}, torch::tensor({kNaN, kNaN}).to(torch::kFloat));
  changed[2] = c.recon[2].clone();
  changed[2].index_put_({0, 1}, torch::tensor({5.f, 5.f, 5.f}));
  EXPECT_NEAR(scalar(reconstruction_loss(changed, c.x, c.available, c.real)), base, 1e-6);
  // A missing one does: a perfect audio reconstruction at u1 removes its error of 1.
  changed[0].index_put_({0, 1}, torch::tensor({1.f, -1.f}));
  EXPECT_NEAR(scalar(reconstruction_loss(changed, c.x, c.available, c.real)), 10.0 / 9.0, 1e-6);
}

TEST(Reconstruction, GradientReachesOnlyMissingModalities) {
  auto c = reconstruction_case();
  for (auto& r : c.recon) r.requires_grad_(true);
  reconstruction_loss(c.recon, c.x, c.available, c.real).backward();
  EXPECT_EQ(scalar(c.recon[1].grad().abs().sum()), 0.0);               // text never missing
  EXPECT_EQ(scalar(c.recon[0].grad().index({0, 0}).abs().sum()), 0.0);  // audio present at u0
  EXPECT_GT(scalar(c.recon[0].grad().index({0, 1}).abs().sum()), 0.0);  // missing at u1
}

TEST(Reconstruction, IsZeroUnderTheCompleteCondition) {
  auto c = reconstruction_case();
  auto all = c.real.unsqueeze(-1).repeat({1, 1, 3});
  EXPECT_EQ(scalar(reconstruction_loss(c.recon, c.x, all, c.real)), 0.0);
}

// ---- MI loss and indirect hardness ----

TEST(MiLoss, IsMinusTheMeanOverPairsSummedOverRealUtterances) {
  // u0: 1 + 2 + 3 = 6; u1: 0.5 + 0.5 - 1 = 0; u2 is padding (NaN).
  auto mi = torch::tensor({1.0, 2.0, 3.0, 0.5, 0.5, -1.0, kNaN, kNaN, kNaN}, torch::kDouble)
                .reshape({1, 3, 3});
  auto real = bools({1, 1, 0}, {1, 3});
  EXPECT_NEAR(scalar(mi_loss(mi, real)), -(6.0 + 0.0) / 3.0, 1e-12);
  // A sum over utterances, not a mean: two copies of u0 double it.
  auto mi2 = torch::tensor({1.0, 2.0, 3.0, 1.0, 2.0, 3.0}, torch::kDouble).reshape({1, 2, 3});
  EXPECT_NEAR(scalar(mi_loss(mi2, torch::ones({1, 2}, torch::kBool))), -4.0, 1e-12);
  // Minimising L_MI increases MI.
  auto grad_mi = mi2.clone().requires_grad_(true);
  mi_loss(grad_mi, torch::ones({1, 2}, torch::kBool)).backward();
  EXPECT_TRUE((grad_mi.grad() < 0).all().item<bool>());
  auto hi = indirect_hardness(mi, real);
  ASSERT_EQ(hi.sizes(), torch::IntArrayRef({1, 3}));
  EXPECT_NEAR(scalar(hi[0][0]), 6.0, 1e-12);
  EXPECT_NEAR(scalar(hi[0][1]), 0.0, 1e-12);
  EXPECT_EQ(scalar(hi[0][2]), 0.0);
}

}  // namespace
}  // namespace hardy

namespace hardy {
namespace {

// training.class_weights = "inverse_frequency": counts 6, 2, 0, 4 of N = 12 over the
// three classes present -> w = 12 / (3 n_c) = 2/3, 2, 0, 1.
TEST(ClassWeights, InverseFrequencyByHand) {
  auto w = inverse_frequency_weights(torch::tensor({6.0, 2.0, 0.0, 4.0}));
  EXPECT_TRUE(torch::allclose(w, torch::tensor({2.0f / 3.0f, 2.0f, 0.0f, 1.0f})));
  EXPECT_THROW(inverse_frequency_weights(torch::zeros({3})), Error);
}

// Each real utterance's CE times its class weight, then the plain mean over real
// utterances (padding ignored).
TEST(ClassWeights, WeightedCrossEntropyIsTheMeanOfWeightedTerms) {
  auto logits = torch::tensor({0.0f, 0.0f, 2.0f, 0.0f, 1.0f, 1.0f}).reshape({1, 3, 2});
  auto label = torch::tensor({0, 0, 1}, torch::kLong).reshape({1, 3});
  auto real = torch::tensor({true, true, false}).reshape({1, 3});
  auto weights = torch::tensor({3.0f, 0.5f});
  const double ce0 = std::log(2.0), ce1 = std::log(1.0 + std::exp(-2.0));
  EXPECT_NEAR(scalar(masked_cross_entropy(logits, label, real)), (ce0 + ce1) / 2, 1e-6);
  EXPECT_NEAR(scalar(masked_cross_entropy(logits, label, real, weights)), 3.0 * (ce0 + ce1) / 2, 1e-5);
  EXPECT_THROW(masked_cross_entropy(logits, label, real, torch::ones({3})), Error);
}

// CCC statistics and the CCC from them, on the hand example of metrics_test.cpp
// (p = (1, 2, 3), y = (2, 2, 4): CCC = 2/3), with a padded position that holds NaN.
TEST(CccStatistics, HandExampleIgnoresPadding) {
  auto p = torch::tensor({1.0f, 2.0f, 3.0f, NAN}).view({1, 4, 1}).requires_grad_(true);
  auto y = torch::tensor({2.0f, 2.0f, 4.0f, NAN}).view({1, 4, 1});
  auto real = torch::tensor({true, true, true, false}).view({1, 4});
  auto s = ccc_statistics(p, y, real);
  EXPECT_TRUE(torch::allclose(s.squeeze(1), torch::tensor({3.0, 6.0, 8.0, 14.0, 24.0, 18.0}, torch::kFloat64)));
  auto ccc = ccc_from_statistics(s);
  EXPECT_NEAR(ccc.item<double>(), 2.0 / 3.0, 1e-12);
  (1.0 - ccc).sum().backward();
  EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
  EXPECT_EQ(p.grad()[0][3][0].item<float>(), 0.0f);  // padding gets no gradient
}

TEST(CccStatistics, AddUpOverParts) {
  torch::manual_seed(3);
  auto p = torch::randn({4, 3, 2}), y = torch::randn({4, 3, 2});
  auto real = torch::ones({4, 3}, torch::kBool);
  auto whole = ccc_statistics(p, y, real);
  auto parts = ccc_statistics(p.slice(0, 0, 1), y.slice(0, 0, 1), real.slice(0, 0, 1)) +
               ccc_statistics(p.slice(0, 1), y.slice(0, 1), real.slice(0, 1));
  EXPECT_TRUE(torch::allclose(whole, parts));
}

TEST(MaskedMse, AveragesOverTargetsThenRealUtterances) {
  // Two utterances (one padded): errors (1, 3) and (2, 0) -> (1 + 9) / 2 and 4 / 2 = 5 and 2.
  auto p = torch::tensor({1.0f, 3.0f, 2.0f, 0.0f, 9.0f, 9.0f}).view({1, 3, 2});
  auto y = torch::zeros({1, 3, 2});
  auto real = torch::tensor({true, true, false}).view({1, 3});
  EXPECT_NEAR(masked_mse(p, y, real).item<float>(), (5.0f + 2.0f) / 2.0f, 1e-6);
  EXPECT_THROW(masked_mse(torch::zeros({1, 3, 1}), y, real), Error);
}

}  // namespace
}  // namespace hardy
