// GradientSynchronizer under mpirun at 1, 2 and 3 ranks: data-parallel SGD steps
// match single-process steps on the whole batch, parameters stay bit-identical on
// all ranks, with overlap on and off and with one or many buckets; join semantics for
// a rank without a batch; parameters used on some ranks only; divergence detection.
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

// All parameters of a model flattened into one tensor.
torch::Tensor flat(torch::nn::Module& m) {
  std::vector<torch::Tensor> parts;
  for (auto& p : m.parameters()) parts.push_back(p.detach().reshape({-1}));
  return torch::cat(parts);
}

// Five SGD steps on a 12-sample batch: rank r takes samples r, r+P, ...; its loss is
// the sum of its samples' losses / 12 · P, so the mean over ranks is the whole
// batch's mean loss.
void expect_matches_single_process(GradientSyncOptions options) {
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
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(
                    model->forward(x.index_select(0, mine)), y.index_select(0, mine),
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)) *
                (static_cast<double>(p) / 12.0);
    loss.backward();
    sync.synchronize();
    opt.step();
  }
  EXPECT_TRUE(torch::allclose(flat(*model), flat(*single), 1e-5, 1e-6))
      << "max difference " << (flat(*model) - flat(*single)).abs().max().item<float>();
  // Bit-identical on every rank.
  auto all = comm->allgatherv(flat(*model).unsqueeze(0));
  for (int k = 1; k < p; ++k) EXPECT_TRUE(all[k].equal(all[0])) << "rank " << k;
  EXPECT_NO_THROW(sync.check_parameters_identical());
  EXPECT_EQ(sync.stats().steps, 5);
}

TEST(GradientSynchronizer, OverlappedBucketsMatchOneProcess) {
  expect_matches_single_process({25, true, 0});
}
TEST(GradientSynchronizer, ManySmallBucketsMatchOneProcess) {
  expect_matches_single_process({0.0002, true, 2});  // 200-byte buckets, checksum every 2 steps
}
TEST(GradientSynchronizer, WithoutOverlapMatchesOneProcess) {
  expect_matches_single_process({0.0002, false, 1});
}

TEST(GradientSynchronizer, SmallBucketsSplitTheModel) {
  auto model = make_model();
  GradientSynchronizer one(world(), model->parameters(), {25, true, 0});
  GradientSynchronizer many(world(), model->parameters(), {0.0002, true, 0});
  EXPECT_EQ(one.buckets(), 1);
  // 200-byte buckets close once full, in reverse order: [b3, w3] (204 bytes),
  // [b2, w2], [b1, w1].
  EXPECT_EQ(many.buckets(), 3);
}

TEST(GradientSynchronizer, ARankWithoutABatchJoinsWithZeros) {
  auto comm = world();
  const int r = comm->rank(), p = comm->size();
  auto model = make_model();
  GradientSynchronizer sync(comm, model->parameters(), {0.0002, true, 0});
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
  torch::manual_seed(9);
  torch::nn::Linear a(4, 4), b(4, 4);
  std::vector<torch::Tensor> params = a->parameters();
  for (auto& t : b->parameters()) params.push_back(t);
  GradientSynchronizer sync(comm, params, {0.00005, true, 0});
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
