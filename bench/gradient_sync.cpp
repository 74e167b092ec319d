// Gradient synchronisation cost (bench/README.md): the student network at the paper's
// sizes, one training step per iteration (forward, backward, GradientSynchronizer,
// Adam), against a raw allreduce of the same number of bytes. A benchmark, not a
// test: it prints numbers.
//
//   mpirun -np P build/bench/gradient_sync [--steps 10] [--batch 4] [--length 24]
//       [--bucket-mb 25] [--threads 1]
//
// Per configuration it reports the mean step time split into compute (forward +
// backward + optimizer) and the time spent inside synchronize(), and the bytes each
// rank allreduces per step. Configurations, each against the one before:
//   overlap off; overlap on (the old default: 25 MiB buckets, copies, float32);
//   + a 1 MiB first bucket; + bucket views; + bfloat16 on the wire.
#include "dist/communicator.h"
#include "dist/mpi_communicator.h"
#include "dist/gradient_synchronizer.h"
#include "model/losses.h"
#include "model/student_net.h"

#include <fmt/format.h>

#include <chrono>
#include <iostream>

using namespace hardy;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Args {
  std::int64_t steps = 10, batch = 4, length = 24, threads = 1;
  double bucket_mb = 25;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--steps") a.steps = std::stoll(v);
    else if (k == "--batch") a.batch = std::stoll(v);
    else if (k == "--length") a.length = std::stoll(v);
    else if (k == "--threads") a.threads = std::stoll(v);
    else if (k == "--bucket-mb") a.bucket_mb = std::stod(v);
    else {
      std::cerr << "unknown flag " << k << "\n";
      std::exit(2);
    }
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  auto a = parse(argc, argv);
  torch::set_num_threads(static_cast<int>(a.threads));
  auto comm = mpi_world();
  ModelOptions model;
  model.dims = {512, 1024, 1024};
  model.outputs = 4;
  torch::manual_seed(0);
  StudentNet net(model);
  std::int64_t elements = 0;
  for (const auto& p : net->parameters()) elements += p.numel();

  // Raw allreduce of the same bytes, the reference.
  auto raw = torch::ones({elements});
  comm->allreduce(raw, ReduceOp::Sum)->wait();
  double raw_s = 0;
  for (std::int64_t i = 0; i < a.steps; ++i) {  // timed like a step: after a barrier
    comm->barrier();
    double t0 = now();
    comm->allreduce(raw, ReduceOp::Sum)->wait();
    raw_s += now() - t0;
  }
  auto slowest = torch::tensor({raw_s}, torch::kFloat64);
  comm->allreduce(slowest, ReduceOp::Max)->wait();
  raw_s = slowest.item<double>() / static_cast<double>(a.steps);

  torch::manual_seed(1 + comm->rank());
  SequenceBatch batch;
  for (auto dim : model.dims) batch.x.push_back(torch::randn({a.batch, a.length, dim}));
  batch.real = torch::ones({a.batch, a.length}, torch::kBool);
  batch.available = batch.real.unsqueeze(-1).expand({a.batch, a.length, 3}).clone();
  batch.label = torch::randint(4, {a.batch, a.length}, torch::kInt64);
  auto full = batch;
  batch = apply_condition(batch, {true, true, false});

  if (comm->rank() == 0)
    std::cout << fmt::format("student net: {} parameters ({:.1f} MB of float32 gradients); {} ranks; "
                             "raw allreduce of those bytes: {:.1f} ms\n",
                             elements, elements * 4 / 1e6, comm->size(), raw_s * 1e3);
  struct Setting {
    const char* name;
    GradientSyncOptions options;
  };
  const double mb = a.bucket_mb;
  const Setting settings[] = {
      {"overlap off", {.bucket_mb = mb, .overlap = false, .first_bucket_mb = mb, .bucket_view = false}},
      {"overlap on", {.bucket_mb = mb, .overlap = true, .first_bucket_mb = mb, .bucket_view = false}},
      {"+ 1 MiB first bucket", {.bucket_mb = mb, .overlap = true, .first_bucket_mb = 1, .bucket_view = false}},
      {"+ bucket views", {.bucket_mb = mb, .overlap = true, .first_bucket_mb = 1, .bucket_view = true}},
      {"+ bfloat16", {.bucket_mb = mb, .overlap = true, .first_bucket_mb = 1, .bucket_view = true,
                      .grad_dtype = torch::kBFloat16}},
  };
  for (const auto& setting : settings) {
    torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-4));
    for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
    GradientSynchronizer sync(comm, net->parameters(), setting.options);
    double compute = 0, total = 0;
    std::int64_t bytes_before = 0;
    for (std::int64_t i = -1; i < a.steps; ++i) {  // step -1 warms up
      comm->barrier();
      if (i == 0) bytes_before = sync.stats().bytes;
      double s0 = now();
      double wait_before = sync.stats().wait_seconds;
      auto out = net->forward(batch);
      auto loss = task_loss(out.joint_logits, batch.label, batch.real, false) +
                  reconstruction_loss(out.reconstruction, full.x, batch.available, batch.real);
      sync.zero_grad();
      loss.backward();
      sync.synchronize();
      opt.step();
      double step = now() - s0;
      double in_sync = sync.stats().wait_seconds - wait_before;
      if (i >= 0) {
        total += step;
        compute += step - in_sync;
      }
    }
    const double mb_per_step = static_cast<double>(sync.stats().bytes - bytes_before) / a.steps / 1e6;
    auto t = torch::tensor({total, compute}, torch::kFloat64);
    comm->allreduce(t, ReduceOp::Max)->wait();
    double step_ms = t[0].item<double>() / a.steps * 1e3;
    double sync_ms = (t[0].item<double>() - t[1].item<double>()) / a.steps * 1e3;
    if (comm->rank() == 0)
      std::cout << fmt::format("| {} | {} | {} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.2f}× |\n",
                               comm->size(), setting.name, sync.buckets(), mb_per_step, step_ms,
                               step_ms - sync_ms, sync_ms, raw_s * 1e3, sync_ms / (raw_s * 1e3));
  }
  return 0;
}
