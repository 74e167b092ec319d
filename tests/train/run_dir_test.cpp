// Atomic writes, fingerprints, manifests and checkpoints of the run directory.
#include "train/run_dir.h"

#include "core/error.h"
#include "support/corpus_fixtures.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

namespace hardy {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

// The message of the hardy::Error thrown by `f`, or "" when none is thrown.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(AtomicWrite, CreatesParentsReplacesContentAndLeavesNoTempFiles) {
  const std::string dir = testing::temp_path("atomic");
  const std::string path = dir + "/sub/out.txt";
  write_file_atomic(path, "first");
  EXPECT_EQ(read_file(path), "first");
  std::string binary("a\0b\n", 4);
  write_file_atomic(path, binary);
  EXPECT_EQ(read_file(path), binary);
  EXPECT_THAT(list_dir(dir + "/sub"), ::testing::ElementsAre("out.txt"));
}

TEST(AtomicWrite, UnreadableFileNamesThePath) {
  const std::string missing = testing::temp_path("missing.txt");
  EXPECT_THAT(error_of([&] { read_file(missing); }), HasSubstr(missing));
}

TEST(Fingerprint, IsFnv1a64AsHex) {
  // FNV-1a: h = 0xcbf29ce484222325; per byte h = (h ^ byte) * 0x100000001b3 mod 2^64.
  EXPECT_EQ(fingerprint(""), "cbf29ce484222325");
  EXPECT_EQ(fingerprint("hardy"), "a6291c6945788a1f");
  EXPECT_NE(fingerprint("hardy"), fingerprint("hardz"));
}

TEST(Manifest, RoundTripsWithEscapes) {
  const std::string path = testing::temp_path("run") + "/teacher/manifest.json";
  Manifest m;
  m.stage = "teacher \"v2\"";
  m.key = fingerprint("config");
  m.complete = true;
  m.info["checkpoint"] = "C:\\runs\\teacher.pt";
  m.info["note"] = "line one\nline \"two\"\ttabbed\x01 caf\xc3\xa9";
  m.info["empty"] = "";
  save_manifest(path, m);
  auto back = load_manifest(path);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->stage, m.stage);
  EXPECT_EQ(back->key, m.key);
  EXPECT_TRUE(back->complete);
  EXPECT_EQ(back->info, m.info);

  Manifest bare{"index", "k", false, {}};
  save_manifest(path, bare);
  back = load_manifest(path);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->stage, "index");
  EXPECT_FALSE(back->complete);
  EXPECT_TRUE(back->info.empty());
}

TEST(Manifest, MissingIsNulloptCorruptNamesTheFile) {
  EXPECT_FALSE(load_manifest(testing::temp_path("none.json")).has_value());
  const std::string path = testing::temp_path("corrupt.json");
  for (const char* text : {"{\"stage\": \"teacher\", \"key\": \"ab", "not json",
                           "{\"stage\": \"t\", \"key\": \"k\"}",  // no "complete"
                           "{\"stage\": \"t\", \"key\": \"k\", \"complete\": true} x"}) {
    write_file_atomic(path, text);
    std::string message = error_of([&] { load_manifest(path); });
    EXPECT_THAT(message, HasSubstr(path)) << text;
    EXPECT_THAT(message, HasSubstr("delete it")) << text;
  }
}

TEST(Manifest, MatchesOnlyCompleteWithSameKey) {
  const std::string path = testing::temp_path("match.json");
  EXPECT_FALSE(manifest_matches(path, "k1"));
  save_manifest(path, Manifest{"student", "k1", true, {}});
  EXPECT_TRUE(manifest_matches(path, "k1"));
  EXPECT_FALSE(manifest_matches(path, "k2"));
  save_manifest(path, Manifest{"student", "k1", false, {}});
  EXPECT_FALSE(manifest_matches(path, "k1"));
}

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
