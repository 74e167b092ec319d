// Epoch checkpoints: module, optimizer, epoch and extras; mismatches and corruption.
#include "train/checkpoint.h"

#include "support/corpus_fixtures.h"
#include "support/error_of.h"
#include "support/list_dir.h"
#include "train/file_io.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

namespace hardy {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::error_of;
using testing::list_dir;

// Linear -> BatchNorm -> Linear: nested names and buffers as well as parameters.
struct Model {
  torch::nn::Sequential net;
  torch::optim::Adam optimizer;
  explicit Model(int hidden = 4)
      : net(torch::nn::Linear(3, hidden), torch::nn::BatchNorm1d(hidden),
            torch::nn::Linear(hidden, 2)),
        optimizer(net->parameters(), torch::optim::AdamOptions(0.01)) {}
  void step(const torch::Tensor& x, const torch::Tensor& y) {
    optimizer.zero_grad();
    (net->forward(x) - y).pow(2).mean().backward();
    optimizer.step();
  }
};

bool same_state(torch::nn::Module& a, torch::nn::Module& b) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  auto ba = a.named_buffers(), bb = b.named_buffers();
  if (pa.size() != pb.size() || ba.size() != bb.size()) return false;
  for (const auto& item : pa)
    if (!torch::equal(item.value(), pb[item.key()])) return false;
  for (const auto& item : ba)
    if (!torch::equal(item.value(), bb[item.key()])) return false;
  return true;
}

TEST(Checkpoint, RestoresModuleOptimizerEpochAndExtras) {
  torch::manual_seed(0);
  auto x = torch::randn({5, 3}), y = torch::randn({5, 2});
  Model a;
  a.step(x, y);
  a.step(x, y);
  CheckpointState state;
  state.epoch = 7;
  state.extra["valid/WA history"] = torch::tensor({0.5, 0.625});
  state.extra["odd \"name\".with/dots"] = torch::arange(3);
  const std::string path = testing::temp_path("ckpt") + "/student.pt";
  save_checkpoint(path, *a.net, a.optimizer, state);
  EXPECT_THAT(list_dir(fs::path(path).parent_path().string()),
              ::testing::ElementsAre("student.pt"));

  Model b;
  EXPECT_FALSE(same_state(*a.net, *b.net));
  auto loaded = load_checkpoint(path, *b.net, b.optimizer);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->epoch, 7);
  ASSERT_EQ(loaded->extra.size(), 2u);
  for (const auto& [name, t] : state.extra) {
    ASSERT_EQ(loaded->extra.count(name), 1u) << name;
    EXPECT_TRUE(torch::equal(loaded->extra.at(name), t)) << name;
  }
  EXPECT_TRUE(same_state(*a.net, *b.net));

  // Control: the same weights with a fresh optimizer take a different step.
  Model c;
  {
    torch::NoGradGuard no_grad;
    for (const auto& item : a.net->named_parameters())
      c.net->named_parameters()[item.key()].copy_(item.value());
    for (const auto& item : a.net->named_buffers())
      c.net->named_buffers()[item.key()].copy_(item.value());
  }
  a.step(x, y);
  b.step(x, y);
  c.step(x, y);
  EXPECT_TRUE(same_state(*a.net, *b.net));  // bit-identical: Adam moments were restored
  EXPECT_FALSE(same_state(*a.net, *c.net));
}

TEST(Checkpoint, MissingFileIsNullopt) {
  Model m;
  EXPECT_FALSE(load_checkpoint(testing::temp_path("none.pt"), *m.net, m.optimizer).has_value());
}

TEST(Checkpoint, DifferentShapeIsAnErrorAndLeavesTheModuleAlone) {
  Model a(4);
  const std::string path = testing::temp_path("shape.pt");
  save_checkpoint(path, *a.net, a.optimizer, {});
  Model b(5);
  auto before = b.net->named_parameters()["0.weight"].clone();
  std::string message = error_of([&] { load_checkpoint(path, *b.net, b.optimizer); });
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr("0.weight"));
  EXPECT_TRUE(torch::equal(before, b.net->named_parameters()["0.weight"]));

  torch::nn::Linear other(3, 2);
  torch::optim::Adam other_optimizer(other->parameters());
  EXPECT_THAT(error_of([&] { load_checkpoint(path, *other, other_optimizer); }),
              HasSubstr("does not match"));
}

TEST(Checkpoint, TruncatedOrGarbageFileIsAnError) {
  Model a;
  const std::string path = testing::temp_path("truncated.pt");
  save_checkpoint(path, *a.net, a.optimizer, {});
  fs::resize_file(path, fs::file_size(path) / 2);
  Model b;
  EXPECT_THAT(error_of([&] { load_checkpoint(path, *b.net, b.optimizer); }), HasSubstr(path));
  write_file_atomic(path, "not a checkpoint");
  EXPECT_THAT(error_of([&] { load_checkpoint(path, *b.net, b.optimizer); }), HasSubstr(path));
}

}  // namespace
}  // namespace hardy
