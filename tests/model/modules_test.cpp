// Networks: shapes, masking of padding and missing modalities, numerical safety,
// gradients, and that the teacher can learn.
#include "core/error.h"
#include "model/attention_mask.h"
#include "model/cross_modal_mi.h"
#include "model/batch.h"
#include "model/feature_net.h"
#include "model/joint_head.h"
#include "model/losses.h"
#include "model/modality_encoder.h"
#include "model/student_net.h"
#include "model/teacher_net.h"
#include "model/model_fixtures.h"

#include <gtest/gtest.h>

#include <set>
#include <tuple>

#include <functional>
#include <vector>

namespace hardy {
namespace {

// The conditions of an audio/text/visual batch.
std::vector<bool> parse_condition(const std::string& condition) {
  return ModalitySet::standard().parse_condition(condition);
}
std::string condition_name(const std::vector<bool>& keep) { return ModalitySet::standard().condition_name(keep); }


using testing::tiny_options;
using testing::toy_batch;
using torch::indexing::Slice;

bool all_finite(const torch::Tensor& t) { return torch::isfinite(t).all().item<bool>(); }

// Every output of the teacher, flattened to a list for comparisons.
std::vector<torch::Tensor> outputs_of(const TeacherOutput& o) {
  std::vector<torch::Tensor> all(o.z.begin(), o.z.end());
  all.insert(all.end(), o.modality_logits.begin(), o.modality_logits.end());
  all.push_back(o.joint_logits);
  all.insert(all.end(), o.reconstruction.begin(), o.reconstruction.end());
  all.push_back(o.mi);
  return all;
}

// ---- conditions and masks ----

TEST(Condition, ParsesTheSevenConditions) {
  using A = std::vector<bool>;
  EXPECT_EQ(parse_condition("a"), (A{true, false, false}));
  EXPECT_EQ(parse_condition("t"), (A{false, true, false}));
  EXPECT_EQ(parse_condition("v"), (A{false, false, true}));
  EXPECT_EQ(parse_condition("at"), (A{true, true, false}));
  EXPECT_EQ(parse_condition("av"), (A{true, false, true}));
  EXPECT_EQ(parse_condition("tv"), (A{false, true, true}));
  EXPECT_EQ(parse_condition("atv"), (A{true, true, true}));
  for (const char* name : {"a", "t", "v", "at", "av", "tv", "atv"})
    EXPECT_EQ(condition_name(parse_condition(name)), name);
  for (const char* bad : {"", "ta", "x", "atvx", "AT", "aa"})
    EXPECT_THROW(parse_condition(bad), Error) << bad;
}

TEST(Condition, ApplyZeroesAndClearsDroppedModalitiesOnly) {
  torch::manual_seed(1);
  auto o = tiny_options();
  auto batch = toy_batch(o);
  auto before = batch.available.clone();
  auto x_text = batch.x[1].clone();
  auto c = apply_condition(batch, parse_condition("av"));
  EXPECT_EQ(c.x[1].abs().sum().item<float>(), 0.0f);
  EXPECT_FALSE(c.available.select(-1, 1).any().item<bool>());
  EXPECT_TRUE(torch::equal(c.x[0], batch.x[0]));
  EXPECT_TRUE(torch::equal(c.available.select(-1, 0), before.select(-1, 0)));
  EXPECT_TRUE(torch::equal(c.available.select(-1, 2), before.select(-1, 2)));
  // The input batch is untouched.
  EXPECT_TRUE(torch::equal(batch.available, before));
  EXPECT_TRUE(torch::equal(batch.x[1], x_text));
}

TEST(KeyPaddingMask, MasksPaddingAndMissingAndRelaxesEmptyRows) {
  auto real = torch::tensor({1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0}).to(torch::kBool).reshape({3, 4});
  auto available = torch::ones({3, 4, 3}, torch::kBool);
  available.index_put_({0, 1, 0}, false);             // row 0: one missing audio
  available.index_put_({1, Slice(0, 3), 0}, false);   // row 1: audio missing at every real one
  auto mask = modality_key_padding_mask(real, available, 0);
  auto expected = torch::tensor({0, 1, 0, 1,    // !(real & available)
                                 0, 0, 1, 1,    // all masked -> !real
                                 0, 0, 0, 0})   // no real utterance -> nothing masked
                      .to(torch::kBool)
                      .reshape({3, 4});
  EXPECT_TRUE(torch::equal(mask, expected)) << mask;
  // Text is available wherever real: plain !real.
  EXPECT_TRUE(torch::equal(modality_key_padding_mask(real, available, 1).slice(0, 0, 2),
                           (~real).slice(0, 0, 2)));
}

// ---- shapes ----

TEST(Networks, OutputShapes) {
  torch::manual_seed(2);
  auto o = tiny_options(/*outputs=*/4);
  auto batch = toy_batch(o);
  TeacherNet teacher(o);
  auto t = teacher(batch);
  for (int m = 0; m < 3; ++m) {
    EXPECT_EQ(t.z[m].sizes(), torch::IntArrayRef({2, 5, 8}));
    EXPECT_EQ(t.modality_logits[m].sizes(), torch::IntArrayRef({2, 5, 4}));
    EXPECT_EQ(t.reconstruction[m].sizes(), torch::IntArrayRef({2, 5, o.dims[m]}));
  }
  EXPECT_EQ(t.joint_logits.sizes(), torch::IntArrayRef({2, 5, 4}));
  EXPECT_EQ(t.mi.sizes(), torch::IntArrayRef({2, 5, 3}));

  StudentNet student(tiny_options(/*outputs=*/1));
  auto s = student(batch);
  for (int m = 0; m < 3; ++m) {
    EXPECT_EQ(s.modality_logits[m].sizes(), torch::IntArrayRef({2, 5, 1}));
    EXPECT_EQ(s.reconstruction[m].sizes(), torch::IntArrayRef({2, 5, o.dims[m]}));
  }
  EXPECT_EQ(s.joint_logits.sizes(), torch::IntArrayRef({2, 5, 1}));

  FeatureNet features(/*dim=*/6, /*outputs=*/4);
  auto f = features(torch::randn({7, 6}));
  EXPECT_EQ(f.feature.sizes(), torch::IntArrayRef({7, 6}));
  EXPECT_EQ(f.logits.sizes(), torch::IntArrayRef({7, 4}));
}

TEST(Networks, RejectBadOptionsAndBatches) {
  auto o = tiny_options();
  o.heads = 3;  // does not divide hidden = 8
  EXPECT_THROW(TeacherNet{o}, Error);
  o = tiny_options();
  o.outputs = 0;
  EXPECT_THROW(StudentNet{o}, Error);
  StudentNet student(tiny_options());
  auto batch = toy_batch(tiny_options());
  batch.x[2] = torch::zeros({2, 5, 7});  // visual width 7, model expects 4
  EXPECT_THROW(student(batch), Error);
}

// ---- masking ----

TEST(Masking, PaddingAndMissingFeaturesDoNotReachRealOutputs) {
  torch::manual_seed(3);
  auto o = tiny_options();
  TeacherNet teacher(o);
  teacher->eval();
  auto batch = toy_batch(o);
  auto before = outputs_of(teacher(batch));

  // Garbage wherever a feature is missing or padding.
  auto noisy = batch;
  for (int m = 0; m < 3; ++m) {
    auto absent = (~(batch.real & batch.available.select(-1, m))).unsqueeze(-1);
    noisy.x[m] = torch::where(absent, torch::randn_like(batch.x[m]) * 10, batch.x[m]);
  }
  auto after = outputs_of(teacher(noisy));
  for (std::size_t i = 0; i < before.size(); ++i)
    EXPECT_TRUE(torch::allclose(before[i].index({batch.real}), after[i].index({batch.real}),
                                1e-5, 1e-6))
        << "output " << i;

  // Sanity: a present feature does matter.
  auto changed = batch;
  changed.x[0] = batch.x[0].clone();
  changed.x[0].index_put_({0, 0}, torch::randn({o.dims[0]}) * 10);
  auto moved = outputs_of(teacher(changed));
  EXPECT_FALSE(torch::allclose(before[0].index({batch.real}), moved[0].index({batch.real})));
}

TEST(Masking, PaddedSequenceMatchesTheUnpaddedOne) {
  torch::manual_seed(4);
  auto o = tiny_options();
  TeacherNet teacher(o);
  teacher->eval();
  auto batch = toy_batch(o);  // sequence 1 = 3 real utterances + 2 padding rows
  SequenceBatch alone;
  for (int m = 0; m < 3; ++m) alone.x.push_back(batch.x[m].slice(0, 1, 2).slice(1, 0, 3));
  alone.real = batch.real.slice(0, 1, 2).slice(1, 0, 3);
  alone.available = batch.available.slice(0, 1, 2).slice(1, 0, 3);
  auto padded = outputs_of(teacher(batch));
  auto single = outputs_of(teacher(alone));
  for (std::size_t i = 0; i < padded.size(); ++i)
    EXPECT_TRUE(torch::allclose(padded[i].slice(0, 1, 2).slice(1, 0, 3), single[i], 1e-4, 1e-5))
        << "output " << i;
}

TEST(Masking, AMissingUtteranceIsInvisibleToTheOthers) {
  // Without positional encodings the encoder is permutation-equivariant, so masking
  // utterance 1 must give the same outputs at 0 and 2 as removing it.
  torch::manual_seed(5);
  auto o = tiny_options();
  ModalityEncoder encoder(o.dims[0], o);
  encoder->eval();
  auto x = torch::randn({1, 3, o.dims[0]});
  auto real = torch::ones({1, 3}, torch::kBool);
  auto available = torch::ones({1, 3, 3}, torch::kBool);
  available.index_put_({0, 1, 0}, false);
  auto keep = real & available.select(-1, 0);
  auto z = encoder(x, keep, modality_key_padding_mask(real, available, 0));

  auto x2 = torch::cat({x.slice(1, 0, 1), x.slice(1, 2, 3)}, 1);
  auto all = torch::ones({1, 2}, torch::kBool);
  auto all_available = torch::ones({1, 2, 3}, torch::kBool);
  auto z2 = encoder(x2, all, modality_key_padding_mask(all, all_available, 0));
  EXPECT_TRUE(torch::allclose(z[0][0], z2[0][0], 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(z[0][2], z2[0][1], 1e-4, 1e-5));
}

TEST(Masking, AllMissingModalityAndEmptySequenceStayFinite) {
  torch::manual_seed(6);
  auto o = tiny_options();
  TeacherNet teacher(o);
  auto batch = apply_condition(toy_batch(o), parse_condition("t"));  // no audio, no visual
  batch.real.index_put_({1}, false);  // and sequence 1 is padding only
  batch.available.index_put_({1}, false);
  for (bool training : {false, true}) {
    teacher->train(training);
    teacher->zero_grad();
    auto out = teacher(batch);
    for (const auto& t : outputs_of(out)) EXPECT_TRUE(all_finite(t));
    auto loss = masked_cross_entropy(out.joint_logits, batch.label, batch.real) +
                reconstruction_loss(out.reconstruction, toy_batch(o).x, batch.available,
                                    batch.real) +
                0.001 * mi_loss(out.mi, batch.real);
    loss.backward();
    for (const auto& p : teacher->parameters())
      if (p.grad().defined()) {
        EXPECT_TRUE(all_finite(p.grad()));
      }
  }
}

// ---- gradients ----

// Central finite differences of f with respect to every element of every tensor
// in `wrt`, against autograd. Double precision.
void check_gradients(const std::function<torch::Tensor()>& f, std::vector<torch::Tensor> wrt) {
  auto grads = torch::autograd::grad({f()}, wrt);
  const double eps = 1e-6;
  torch::NoGradGuard no_grad;
  for (std::size_t k = 0; k < wrt.size(); ++k) {
    auto flat = wrt[k].view(-1);
    auto g = grads[k].reshape(-1);
    for (std::int64_t i = 0; i < flat.numel(); ++i) {
      double* v = flat.data_ptr<double>() + i;
      const double saved = *v;
      *v = saved + eps;
      const double plus = f().item<double>();
      *v = saved - eps;
      const double minus = f().item<double>();
      *v = saved;
      const double numeric = (plus - minus) / (2 * eps);
      const double analytic = g[i].item<double>();
      EXPECT_NEAR(analytic, numeric, 1e-5 * std::max(1.0, std::abs(numeric)))
          << "tensor " << k << " element " << i;
    }
  }
}

TEST(Gradients, JointHeadMatchesFiniteDifferences) {
  torch::manual_seed(7);
  JointHead head(/*width=*/6, /*outputs=*/3, /*dropout=*/0.5);
  head->to(torch::kDouble);
  head->eval();
  auto c = torch::randn({4, 6}, torch::kDouble).requires_grad_(true);
  auto w_logits = torch::randn({4, 3}, torch::kDouble);
  auto w_joint = torch::randn({4, 6}, torch::kDouble);
  auto f = [&] {
    auto out = head(c);
    return (out.logits * w_logits).sum() + (out.joint * w_joint).sum();
  };
  auto wrt = head->parameters();
  wrt.push_back(c);
  check_gradients(f, wrt);
}

TEST(Gradients, FeatureNetMatchesFiniteDifferences) {
  torch::manual_seed(8);
  FeatureNet net(/*dim=*/5, /*outputs=*/3);
  net->to(torch::kDouble);
  auto x = torch::randn({3, 5}, torch::kDouble).requires_grad_(true);
  auto label = torch::tensor({0, 2, 1}, torch::kLong);
  auto f = [&] {
    auto out = net(x);
    return torch::nll_loss(torch::log_softmax(out.logits, -1), label) + out.feature.pow(2).mean();
  };
  auto wrt = net->parameters();
  wrt.push_back(x);
  check_gradients(f, wrt);
}

// ---- learning ----

TEST(Training, TeacherFitsASeparableToyBatch) {
  torch::manual_seed(9);
  auto o = tiny_options(/*outputs=*/2, /*dropout=*/0.0);
  SequenceBatch full;
  full.real = torch::ones({4, 3}, torch::kBool);
  full.available = torch::ones({4, 3, 3}, torch::kBool);
  full.label = torch::tensor({0, 1, 1, 1, 0, 0, 0, 1, 0, 1, 1, 0}, torch::kLong).reshape({4, 3});
  auto sign = (full.label * 2 - 1).to(torch::kFloat).unsqueeze(-1);
  full.x.resize(3);
  for (int m = 0; m < 3; ++m)
    full.x[m] = sign * torch::randn({o.dims[m]}) + 0.1 * torch::randn({4, 3, o.dims[m]});
  auto partial = apply_condition(full, parse_condition("at"));

  TeacherNet teacher(o);
  torch::optim::Adam optimizer(teacher->parameters(), torch::optim::AdamOptions(3e-3));
  // Stage 1 and stage 2 terms together (docs/algorithm.md §1.5).
  auto loss_fn = [&] {
    auto a = teacher(full);
    auto loss = 0.001 * mi_loss(a.mi, full.real);
    for (int m = 0; m < 3; ++m)
      loss = loss + masked_cross_entropy(a.modality_logits[m], full.label, full.real);
    auto b = teacher(partial);
    return loss + masked_cross_entropy(b.joint_logits, full.label, full.real) +
           reconstruction_loss(b.reconstruction, full.x, partial.available, full.real);
  };
  const double initial = loss_fn().item<double>();
  for (int step = 0; step < 40; ++step) {
    optimizer.zero_grad();
    loss_fn().backward();
    optimizer.step();
  }
  const double final_loss = loss_fn().item<double>();
  EXPECT_LT(final_loss, 0.5 * initial) << "initial " << initial << " final " << final_loss;
}

}  // namespace
}  // namespace hardy

namespace hardy {
namespace {

// The networks follow the corpus's modality list: two (MSP-Podcast: audio, text) and
// four (nothing is hard-coded to three).
ModelOptions options_for(const std::vector<std::string>& names, std::vector<std::int64_t> dims) {
  auto o = testing::tiny_options();
  o.modalities = ModalitySet(names);
  o.dims = std::move(dims);
  return o;
}

SequenceBatch batch_for(const ModelOptions& o, const std::string& condition) {
  SequenceBatch b;
  b.real = torch::ones({2, 3}, torch::kBool);
  b.available = torch::ones({2, 3, static_cast<std::int64_t>(o.dims.size())}, torch::kBool);
  for (auto d : o.dims) b.x.push_back(torch::randn({2, 3, d}));
  b.label = torch::randint(0, o.outputs, {2, 3}, torch::kLong);
  return apply_condition(b, o.modalities.parse_condition(condition));
}

TEST(Modalities, TeacherAndStudentFollowTheModalityList) {
  torch::manual_seed(21);
  for (const auto& [names, dims, condition, pairs] :
       {std::tuple{std::vector<std::string>{"audio", "text"}, std::vector<std::int64_t>{6, 5}, std::string("t"), 1},
        std::tuple{std::vector<std::string>{"audio", "text", "visual", "physio"},
                   std::vector<std::int64_t>{6, 5, 4, 3}, std::string("atp"), 6}}) {
    const auto o = options_for(names, dims);
    auto batch = batch_for(o, condition);
    TeacherNet teacher(o);
    auto t = teacher(batch);
    ASSERT_EQ(t.reconstruction.size(), names.size());
    for (std::size_t m = 0; m < names.size(); ++m)
      EXPECT_EQ(t.reconstruction[m].sizes(), torch::IntArrayRef({2, 3, dims[m]}));
    EXPECT_EQ(t.mi.size(2), pairs);  // every pair of modalities
    EXPECT_EQ(t.joint_logits.sizes(), torch::IntArrayRef({2, 3, o.outputs}));
    auto loss = mi_loss(t.mi, batch.real) + reconstruction_loss(t.reconstruction, batch.x, batch.available, batch.real);
    loss.backward();  // autograd reaches every modality's encoder
    for (const auto& name : names) {
      bool reached = false;
      for (const auto& p : teacher->named_parameters())
        if (p.key().find(name) != std::string::npos && p.value().grad().defined()) reached = true;
      EXPECT_TRUE(reached) << name;
    }
    StudentNet student(o);
    EXPECT_EQ(student(batch).modality_logits.size(), names.size());
    // A batch with a modality too many or too few is refused.
    auto wrong = batch;
    wrong.x.pop_back();
    EXPECT_THROW(teacher(wrong), Error);
  }
}

TEST(Modalities, ThePairsAreEveryPairInOrder) {
  EXPECT_EQ(modality_pairs(2), (std::vector<std::pair<int, int>>{{0, 1}}));
  EXPECT_EQ(modality_pairs(3), (std::vector<std::pair<int, int>>{{0, 1}, {0, 2}, {1, 2}}));
  EXPECT_EQ(modality_pairs(4).size(), 6u);
  CrossModalMI mi(ModalitySet({"audio", "text"}), 4, 2);
  std::set<std::string> names;
  for (const auto& p : mi->named_children()) names.insert(p.key());
  EXPECT_EQ(names, (std::set<std::string>{"a_from_t", "t_from_a"}));
}

TEST(Modalities, OptionsMustGiveOneWidthPerModality) {
  auto o = options_for({"audio", "text"}, {6, 5, 4});
  EXPECT_THROW(TeacherNet{o}, Error);
}

}  // namespace
}  // namespace hardy
