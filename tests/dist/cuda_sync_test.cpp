// Gradient synchronisation of CUDA tensors, over the backend HARDY_TEST_BACKEND names
// (mpi: staged through pinned host memory; nccl: NCCL streams), under mpirun. Every
// rank uses GPU local_rank % visible GPUs, so two ranks may share one GPU with MPI.
// Skips, saying so, where no GPU is visible or the backend is not built.
#include "core/error.h"
#include "dist/gradient_synchronizer.h"
#include "dist/launch.h"
#include "dist/make_communicator.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace hardy {
namespace {

TEST(CudaGradientSync, DataParallelStepsMatchOneProcessOnTheGpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible: CUDA gradient sync not checked here";
  const char* env = std::getenv("HARDY_TEST_BACKEND");
  const std::string backend = env ? env : "mpi";
  const auto launch = detect_launch();
  const auto device = torch::Device(
      torch::kCUDA, static_cast<c10::DeviceIndex>(launch.local_rank % torch::cuda::device_count()));
  std::shared_ptr<Communicator> comm;
  try {
    comm = make_communicator(backend, device.index());
  } catch (const Error& e) {
    GTEST_SKIP() << "backend " << backend << " unavailable: " << e.what();
  }
  comm->set_timeout_s(120);
  const int r = comm->rank(), p = comm->size();
  auto make = [&] {
    torch::manual_seed(3);
    auto m = torch::nn::Sequential(torch::nn::Linear(8, 64), torch::nn::Tanh(), torch::nn::Linear(64, 3));
    m->to(device);
    return m;
  };
  auto single = make(), model = make();
  torch::optim::SGD single_opt(single->parameters(), 0.1), opt(model->parameters(), 0.1);
  GradientSyncOptions options;
  options.bucket_mb = 0.001;  // several buckets
  options.checksum_every = 1;  // the checksum runs on the GPU too
  options.average = false;
  GradientSynchronizer sync(comm, model->parameters(), options);
  sync.broadcast_parameters();
  for (int step = 0; step < 4; ++step) {
    torch::manual_seed(100 + step);
    auto x = torch::randn({12, 8}).to(device);
    auto y = torch::randint(0, 3, {12}, torch::kInt64).to(device);
    single_opt.zero_grad();
    torch::nn::functional::cross_entropy(single->forward(x), y).backward();
    single_opt.step();
    auto mine = torch::arange(r, 12, p, torch::kInt64).to(device);
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(
                    model->forward(x.index_select(0, mine)), y.index_select(0, mine),
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)) /
                12.0;
    loss.backward();
    sync.synchronize(true);
    opt.step();
  }
  for (size_t i = 0; i < model->parameters().size(); ++i)
    EXPECT_TRUE(torch::allclose(model->parameters()[i].cpu(), single->parameters()[i].cpu(), 1e-5, 1e-6))
        << "parameter " << i << " on rank " << r << " (" << backend << ")";
}

}  // namespace
}  // namespace hardy
