// FeatureIndex against brute force, its tie rule, and its errors.
#include "core/error.h"
#include "retrieval/feature_index.h"

#include <gtest/gtest.h>

namespace hardy {
namespace {

// Brute-force top-k by (dissimilarity, id).
Neighbours brute_force(const torch::Tensor& db, const torch::Tensor& ids, const torch::Tensor& q,
                       std::int64_t k, Metric metric) {
  torch::Tensor d;
  if (metric == Metric::L2) {
    d = torch::cdist(q.to(torch::kFloat64), db.to(torch::kFloat64)).pow(2);
  } else {
    auto qn = torch::nn::functional::normalize(q.to(torch::kFloat64), torch::nn::functional::NormalizeFuncOptions().dim(1));
    auto dn = torch::nn::functional::normalize(db.to(torch::kFloat64), torch::nn::functional::NormalizeFuncOptions().dim(1));
    d = 1.0 - qn.matmul(dn.t());
  }
  Neighbours out{torch::empty({q.size(0), k}), torch::empty({q.size(0), k}, torch::kInt64)};
  for (std::int64_t i = 0; i < q.size(0); ++i) {
    std::vector<std::pair<double, std::int64_t>> all;
    for (std::int64_t j = 0; j < db.size(0); ++j)
      all.emplace_back(d[i][j].item<double>(), ids[j].item<std::int64_t>());
    std::sort(all.begin(), all.end());
    for (std::int64_t j = 0; j < k; ++j) {
      out.distances[i][j] = all[j].first;
      out.ids[i][j] = all[j].second;
    }
  }
  return out;
}

TEST(FeatureIndex, FlatMatchesBruteForceForBothMetrics) {
  torch::manual_seed(1);
  auto db = torch::randn({300, 16});
  auto ids = torch::randperm(300, torch::kInt64) + 1000;  // ids unrelated to row order
  auto q = torch::randn({25, 16});
  for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
    IndexOptions opt;
    opt.metric = metric;
    FeatureIndex index("test index", 16, opt);
    index.add(db, ids);
    auto got = index.search(q, 7);
    auto want = brute_force(db, ids, q, 7, metric);
    EXPECT_TRUE(got.ids.equal(want.ids));
    EXPECT_TRUE(torch::allclose(got.distances, want.distances, 1e-4, 1e-4));
  }
}

TEST(FeatureIndex, EqualDistancesResolveToTheSmallerId) {
  // 40 copies of one vector with shuffled ids: the top-5 are the 5 smallest ids.
  auto db = torch::ones({40, 4});
  auto ids = torch::randperm(40, torch::kInt64) * 3;
  IndexOptions opt;
  FeatureIndex index("dups", 4, opt);
  index.add(db, ids);
  auto got = index.search(torch::ones({1, 4}), 5);
  EXPECT_TRUE(got.ids[0].equal(torch::tensor({0, 3, 6, 9, 12}, torch::kInt64)));
}

TEST(FeatureIndex, KLargerThanDatabaseIsPadded) {
  FeatureIndex index("small", 2, {});
  index.add(torch::tensor({{0.f, 0.f}, {1.f, 0.f}}), torch::tensor({5, 9}, torch::kInt64));
  auto got = index.search(torch::tensor({{0.9f, 0.f}}), 4);
  EXPECT_TRUE(got.ids[0].equal(torch::tensor({9, 5, -1, -1}, torch::kInt64)));
  EXPECT_TRUE(std::isinf(got.distances[0][3].item<float>()));
}

TEST(FeatureIndex, ApproximateKindsReachHighRecall) {
  torch::manual_seed(2);
  // Clustered data, as real features are.
  auto centres = torch::randn({20, 32}) * 4;
  auto db = centres.repeat({100, 1}) + torch::randn({2000, 32});
  auto ids = torch::arange(2000, torch::kInt64);
  auto q = centres.repeat({3, 1}) + torch::randn({60, 32});
  auto exact = brute_force(db, ids, q, 10, Metric::L2);
  for (IndexKind kind : {IndexKind::IVF, IndexKind::HNSW}) {
    IndexOptions opt;
    opt.kind = kind;
    opt.ivf_nprobe = 8;
    FeatureIndex index("approx", 32, opt);
    index.add(db, ids);
    auto got = index.search(q, 10);
    std::int64_t hits = 0;
    for (std::int64_t i = 0; i < q.size(0); ++i)
      hits += torch::isin(got.ids[i], exact.ids[i]).sum().item<std::int64_t>();
    double recall = static_cast<double>(hits) / (q.size(0) * 10);
    EXPECT_GT(recall, 0.8) << (kind == IndexKind::IVF ? "ivf" : "hnsw");
  }
}

TEST(FeatureIndex, BadInputIsAClearError) {
  FeatureIndex index("text index", 3, {});
  EXPECT_THROW(index.add(torch::ones({2, 4}), torch::tensor({1, 2}, torch::kInt64)), Error);
  EXPECT_THROW(index.add(torch::full({2, 3}, NAN), torch::tensor({1, 2}, torch::kInt64)), Error);
  index.add(torch::ones({2, 3}), torch::tensor({1, 2}, torch::kInt64));
  try {
    index.search(torch::ones({1, 5}), 2);
    ADD_FAILURE() << "dim mismatch accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("text index"), std::string::npos);
  }
  EXPECT_THROW(index.search(torch::ones({1, 3}), 0), Error);
  EXPECT_THROW(parse_metric("cosine"), Error);
  EXPECT_THROW(parse_index_kind("kd"), Error);
}

}  // namespace
}  // namespace hardy

namespace hardy {
namespace {

// The LibTorch engine (GEMM + top-k, used on GPUs) must give FAISS flat's answer
// bit for bit, on data built to break it: duplicate rows, ties at the k-th place,
// near-duplicates closer than float32 GEMM rounding, large norms.
Neighbours search_with(SearchEngine engine, const torch::Device& device, Metric metric,
                       const torch::Tensor& db, const torch::Tensor& ids, const torch::Tensor& q,
                       std::int64_t k) {
  IndexOptions o;
  o.metric = metric;
  o.engine = engine;
  o.device = device;
  o.torch_query_chunk = 7;  // several chunks
  FeatureIndex index("test index", db.size(1), o);
  index.add(db, ids);
  return index.search(q, k);
}

torch::Tensor adversarial_database() {
  torch::manual_seed(11);
  auto base = torch::randn({120, 24}) * 40;  // large norms: GEMM rounding grows with them
  auto copies = base.slice(0, 0, 30);        // exact duplicates: ties broken by id
  auto near = base.slice(0, 30, 60) + torch::randn({30, 24}) * 1e-5;  // below GEMM precision
  auto grid = torch::randint(0, 3, {40, 24}).to(torch::kFloat32);     // many equal distances
  return torch::cat({base, copies, near, grid});
}

void expect_engines_agree(const torch::Device& device) {
  auto db = adversarial_database();
  auto ids = torch::randperm(db.size(0), torch::kInt64) * 3 + 7;
  auto q = torch::cat({db.slice(0, 0, 20), torch::randn({15, 24}) * 40,
                       torch::randint(0, 3, {10, 24}).to(torch::kFloat32)});
  for (Metric metric : {Metric::L2, Metric::InnerProduct})
    for (std::int64_t k : {1, 4, 9}) {
      auto want = search_with(SearchEngine::Faiss, torch::kCPU, metric, db, ids, q, k);
      auto got = search_with(SearchEngine::Torch, device, metric, db, ids, q, k);
      EXPECT_TRUE(got.ids.equal(want.ids)) << "metric " << static_cast<int>(metric) << " k " << k;
      EXPECT_TRUE(got.distances.equal(want.distances)) << "metric " << static_cast<int>(metric) << " k " << k;
    }
}

TEST(FeatureIndexTorchEngine, EqualsFaissFlatOnAdversarialDataOnTheCpu) {
  expect_engines_agree(torch::kCPU);
}

TEST(FeatureIndexTorchEngine, EqualsFaissFlatOnAdversarialDataOnTheGpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible: GPU retrieval not checked here";
  expect_engines_agree(torch::Device(torch::kCUDA, 0));
}

TEST(FeatureIndexTorchEngine, ApproximateKindsAreRefused) {
  IndexOptions o;
  o.engine = SearchEngine::Torch;
  o.kind = IndexKind::HNSW;
  FeatureIndex index("test index", 4, o);
  EXPECT_THROW(index.add(torch::randn({10, 4}), torch::arange(10)), Error);
}

}  // namespace
}  // namespace hardy
