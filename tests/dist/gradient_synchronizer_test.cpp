// GradientSynchronizer under mpirun at 1, 2 and 3 ranks: data-parallel SGD steps
// match single-process steps on the whole batch, parameters stay bit-identical on
// all ranks, with overlap on and off, with one or many buckets, with gradients as
// bucket views or copied, and (within bfloat16's precision) with compressed
// gradients; join semantics for a rank without a batch; parameters used on some
// ranks only; divergence detection.
#include "core/error.h"
#include "dist/communicator.h"
#include "dist/mpi_communicator.h"
#include "dist/gradient_synchronizer.h"

#include <gtest/gtest.h>

namespace hardy {
namespace {

std::shared_ptr<Communicator> world() { return mpi_world(); }

torch::nn::Sequential make_model() {
  torch::manual_seed(3);
  return torch::nn::Sequential(torch::nn::Linear(8, 16), torch::nn::Tanh(), torch::nn::Linear(16, 16),
                               torch::nn::Tanh(), torch::nn::Linear(16, 3));
}

// The global batch of step `step`: 12 samples.
std::pair<torch::Tensor, torch::Tensor> global_batch(int step) {
  torch::manual_seed(1000 + step);
  return {torch::randn({12, 8}), torch::randint(0, 3, {12}, torch::kInt64)};
}

// Two 4×4 linear layers and their parameters, a's first.
struct TwoLayers {
  torch::nn::Linear a, b;
  std::vector<torch::Tensor> params;
};
TwoLayers two_layers(std::uint64_t seed) {
  torch::manual_seed(seed);
  TwoLayers l{torch::nn::Linear(4, 4), torch::nn::Linear(4, 4), {}};
  l.params = l.a->parameters();
  for (auto& t : l.b->parameters()) l.params.push_back(t);
  return l;
}

// All parameters of a model flattened into one tensor.
torch::Tensor flat(torch::nn::Module& m) {
  std::vector<torch::Tensor> parts;
  for (auto& p : m.parameters()) parts.push_back(p.detach().reshape({-1}));
  return torch::cat(parts);
}

// Five SGD steps on a 12-sample batch: rank r takes samples r, r+P, ...; its loss is
// the sum of its samples' losses / 12 · P, so the mean over ranks is the whole
// batch's mean loss.
void expect_matches_single_process(GradientSyncOptions options, double rtol = 1e-5, double atol = 1e-6) {
  auto comm = world();
  const int r = comm->rank(), p = comm->size();
  auto single = make_model();
  auto model = make_model();
  torch::optim::SGD single_opt(single->parameters(), 0.1);
  torch::optim::SGD opt(model->parameters(), 0.1);
  GradientSynchronizer sync(comm, model->parameters(), options);
  sync.broadcast_parameters();
  for (int step = 0; step < 5; ++step) {
    auto [x, y] = global_batch(step);
    single_opt.zero_grad();
    torch::nn::functional::cross_entropy(single->forward(x), y).backward();
    single_opt.step();

    auto mine = torch::arange(r, 12, p, torch::kInt64);
    sync.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(
                    model->forward(x.index_select(0, mine)), y.index_select(0, mine),
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)) *
                (static_cast<double>(p) / 12.0);
    loss.backward();
    sync.synchronize();
    opt.step();
  }
  EXPECT_TRUE(torch::allclose(flat(*model), flat(*single), rtol, atol))
      << "max difference " << (flat(*model) - flat(*single)).abs().max().item<float>();
  // Bit-identical on every rank.
  auto all = comm->allgatherv(flat(*model).unsqueeze(0));
  for (int k = 1; k < p; ++k) EXPECT_TRUE(all[k].equal(all[0])) << "rank " << k;
  EXPECT_NO_THROW(sync.check_parameters_identical());
  EXPECT_EQ(sync.stats().steps, 5);
}

TEST(GradientSynchronizer, OverlappedBucketsMatchOneProcess) {
  expect_matches_single_process({.bucket_mb = 25, .overlap = true});
}
TEST(GradientSynchronizer, ManySmallBucketsMatchOneProcess) {
  // ~210-byte buckets, checksum every 2 steps.
  expect_matches_single_process({.bucket_mb = 0.0002, .overlap = true, .checksum_every = 2});
}
TEST(GradientSynchronizer, WithoutOverlapMatchesOneProcess) {
  expect_matches_single_process({.bucket_mb = 0.0002, .overlap = false, .checksum_every = 1});
}
TEST(GradientSynchronizer, CopiedGradientsMatchOneProcess) {
  expect_matches_single_process({.bucket_mb = 0.0002, .checksum_every = 1, .bucket_view = false});
  expect_matches_single_process({.bucket_mb = 25, .overlap = false, .bucket_view = false});
}
TEST(GradientSynchronizer, BFloat16GradientsMatchOneProcessWithinItsPrecision) {
  // bfloat16 keeps 8 significant bits: SGD steps of 0.1 × gradient move parameters by
  // about 1e-3 of a gradient's size per rounding.
  expect_matches_single_process({.bucket_mb = 0.0002, .checksum_every = 1, .grad_dtype = torch::kBFloat16},
                                2e-2, 2e-3);
  expect_matches_single_process({.bucket_mb = 25, .overlap = false, .grad_dtype = torch::kBFloat16}, 2e-2, 2e-3);
}

TEST(GradientSynchronizer, SmallBucketsSplitTheModel) {
  auto model = make_model();
  GradientSynchronizer one(world(), model->parameters(), {.bucket_mb = 25});
  GradientSynchronizer many(world(), model->parameters(), {.bucket_mb = 0.0002});
  EXPECT_EQ(one.buckets(), 1);
  // 0.0002 MiB (209.7-byte) buckets close once full, in reverse order:
  // [b3 (12 B), w3 (192 B), b2 (64 B)], [w2 (1024 B)], [b1 (64 B), w1 (512 B)].
  EXPECT_EQ(many.bucket_sizes(), (std::vector<std::int64_t>{3, 1, 2}));
}

TEST(GradientSynchronizer, TheFirstBucketClosesEarly) {
  auto model = make_model();
  // A first bucket of ~100 bytes takes b3 and w3 only; the rest share one bucket.
  GradientSynchronizer sync(world(), model->parameters(), {.bucket_mb = 25, .first_bucket_mb = 0.0001});
  EXPECT_EQ(sync.bucket_sizes(), (std::vector<std::int64_t>{2, 4}));
  // A first bucket larger than the others is capped at their size.
  GradientSynchronizer capped(world(), model->parameters(), {.bucket_mb = 0.0002, .first_bucket_mb = 1});
  EXPECT_EQ(capped.bucket_sizes(), (std::vector<std::int64_t>{3, 1, 2}));
}

// Bucket views: after the first step every gradient is a view into its bucket and
// stays the same tensor, so later steps neither copy in nor out; a parameter no
// rank uses in a step has an undefined gradient afterwards, as in one process.
TEST(GradientSynchronizer, GradientsStayViewsIntoTheBuckets) {
  auto comm = world();
  auto [a, b, params] = two_layers(5);
  GradientSynchronizer sync(comm, params, {.bucket_mb = 25});
  EXPECT_EQ(sync.grads_are_bucket_views(), comm->size() > 1);
  auto x = torch::ones({2, 4});
  sync.zero_grad();
  b->forward(a->forward(x)).sum().backward();
  sync.synchronize();
  std::vector<const void*> where;
  for (auto& t : params) where.push_back(t.grad().data_ptr());
  // Step 2 uses `a` only: b's gradient becomes undefined; a's is the same tensor,
  // holding this step's gradient (equal to the first step's: same input).
  sync.zero_grad();
  a->forward(x).sum().backward();
  sync.synchronize();
  EXPECT_FALSE(b->weight.grad().defined());
  EXPECT_FALSE(b->bias.grad().defined());
  if (comm->size() > 1) {
    EXPECT_EQ(a->weight.grad().data_ptr(), where[0]);
    EXPECT_EQ(a->bias.grad().data_ptr(), where[1]);
  }
  EXPECT_TRUE(torch::allclose(a->weight.grad(), torch::ones({4, 4}) * 2));  // d sum(Wx+b)/dW = sum over the 2 rows of x
  // Step 3 uses both again: b's gradient is defined and right.
  sync.zero_grad();
  b->forward(a->forward(x)).sum().backward();
  sync.synchronize();
  ASSERT_TRUE(b->weight.grad().defined());
  EXPECT_TRUE(b->bias.grad().equal(torch::full({4}, 2.0f)));
}

TEST(GradientSynchronizer, ARankWithoutABatchJoinsWithZeros) {
  auto comm = world();
  const int r = comm->rank(), p = comm->size();
  auto model = make_model();
  GradientSynchronizer sync(comm, model->parameters(), {.bucket_mb = 0.0002});
  // Every rank but the last computes the gradient of the same batch; the last has
  // none. The mean over contributors is that gradient itself.
  auto [x, y] = global_batch(0);
  auto reference = make_model();
  torch::nn::functional::cross_entropy(reference->forward(x), y).backward();
  const bool has_batch = p == 1 || r < p - 1;
  model->zero_grad();
  if (has_batch) torch::nn::functional::cross_entropy(model->forward(x), y).backward();
  sync.synchronize(has_batch);
  auto params = model->parameters(), want = reference->parameters();
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_TRUE(torch::allclose(params[i].grad(), want[i].grad(), 1e-5, 1e-7)) << "parameter " << i;
}

TEST(GradientSynchronizer, ParametersUsedOnSomeRanksOnly) {
  auto comm = world();
  auto [a, b, params] = two_layers(9);
  GradientSynchronizer sync(comm, params, {.bucket_mb = 0.00005});
  // Rank 0 uses both layers, the others only `a`: b's gradient is rank 0's / P.
  auto x = torch::ones({2, 4});
  auto out = a->forward(x);
  if (comm->rank() == 0) out = b->forward(out);
  for (auto& t : params) t.mutable_grad() = torch::Tensor();
  out.sum().backward();
  auto b_alone = comm->rank() == 0 ? b->weight.grad().clone() : torch::Tensor();
  sync.synchronize();
  auto expected = b->weight.grad().clone();
  comm->broadcast(expected, 0)->wait();
  if (comm->rank() == 0) {
    EXPECT_TRUE(torch::allclose(b->weight.grad(), b_alone / comm->size()));
  }
  EXPECT_TRUE(b->weight.grad().equal(expected));
}

// Sum mode, as the trainers use it: each rank weights its mean loss by its share of
// the global batch (uneven shares, one rank with none), and the summed gradients
// equal the whole batch's. A parameter no rank used keeps an undefined gradient on
// every rank, so Adam skips it exactly as in one process.
TEST(GradientSynchronizer, SumModeWithWeightedSharesMatchesOneProcess) {
  auto comm = world();
  const int r = comm->rank(), p = comm->size();
  auto single = make_model();
  auto model = make_model();
  torch::nn::Linear unused_single(3, 3), unused(3, 3);
  unused->weight.detach().copy_(unused_single->weight.detach());
  unused->bias.detach().copy_(unused_single->bias.detach());
  auto params_single = single->parameters(), params = model->parameters();
  for (auto& t : unused_single->parameters()) params_single.push_back(t);
  for (auto& t : unused->parameters()) params.push_back(t);
  torch::optim::Adam single_opt(params_single, torch::optim::AdamOptions(0.01).weight_decay(0.1));
  torch::optim::Adam opt(params, torch::optim::AdamOptions(0.01).weight_decay(0.1));
  GradientSyncOptions options;
  options.average = false;
  GradientSynchronizer sync(comm, params, options);
  for (int step = 0; step < 4; ++step) {
    auto [x, y] = global_batch(step);
    single_opt.zero_grad();
    torch::nn::functional::cross_entropy(single->forward(x), y).backward();
    single_opt.step();
    // Rank k of P takes a contiguous block; the last rank gets nothing when P > 1.
    const int holders = std::max(1, p - 1);
    const std::int64_t begin = r < holders ? 12 * r / holders : 12, end = r < holders ? 12 * (r + 1) / holders : 12;
    opt.zero_grad();
    if (end > begin) {
      auto mine = torch::arange(begin, end, torch::kInt64);
      auto share = static_cast<double>(end - begin) / 12.0;
      (torch::nn::functional::cross_entropy(model->forward(x.index_select(0, mine)), y.index_select(0, mine)) * share)
          .backward();
    }
    sync.synchronize(end > begin);
    opt.step();
  }
  EXPECT_TRUE(torch::allclose(flat(*model), flat(*single), 1e-5, 1e-6))
      << "max difference " << (flat(*model) - flat(*single)).abs().max().item<float>();
  EXPECT_FALSE(unused->weight.grad().defined());
  EXPECT_TRUE(unused->weight.equal(unused_single->weight));  // never stepped, as in one process
  auto all = comm->allgatherv(flat(*model).unsqueeze(0));
  for (int k = 1; k < p; ++k) EXPECT_TRUE(all[k].equal(all[0])) << "rank " << k;
}

TEST(GradientSynchronizer, DivergedParametersAreReportedOnEveryRank) {
  auto comm = world();
  if (comm->size() < 2) GTEST_SKIP() << "needs two ranks";
  auto model = make_model();
  GradientSynchronizer sync(comm, model->parameters(), {});
  sync.broadcast_parameters();
  EXPECT_NO_THROW(sync.check_parameters_identical());
  if (comm->rank() == 1) {
    torch::NoGradGuard no_grad;
    model->parameters()[2].view({-1})[0] += 1e-6f;
  }
  EXPECT_THROW(sync.check_parameters_identical(), Error);
}

}  // namespace
}  // namespace hardy
