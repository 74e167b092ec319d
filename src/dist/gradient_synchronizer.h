// Averages gradients over the ranks of a Communicator after each backward pass, so
// every rank takes the same optimizer step (docs/design.md §7, "Gradient synchronisation").
//
// Gradients are packed into buckets of about `bucket_mb` MiB in reverse parameter
// order, which is roughly the order backward produces them; the first bucket (the
// last layers) holds only `first_bucket_mb` (1 MiB), so the first allreduce starts
// early, as in DDP. A hook on each parameter's gradient accumulator runs once
// backward has written the gradient. A bucket whose gradients are all in starts its
// allreduce while backward goes on (overlap). Buckets always start in index order,
// so every rank posts its collectives in the same order even when hooks fire in a
// different order.
//
// Bucket views (DDP's gradient_as_bucket_view, the default): each parameter's .grad
// is a view into its bucket, so backward accumulates straight into the buffer that
// is allreduced and the averaged result is the gradient: no copy in, no copy out.
// Callers clear gradients with zero_grad() below (one fill per bucket, the
// gradients stay in place); Optimizer::zero_grad() works too, but sets them
// undefined, so the next backward costs one copy into the bucket again.
//
// grad_dtype = bfloat16 compresses each bucket to bfloat16 before the allreduce and
// decompresses after: half the bytes, not bit-exact (the sum is rounded to 8
// significant bits at every hop). The parameters stay identical on all ranks.
//
// Join semantics: a rank that has no batch for a step (uneven shards) still calls
// synchronize(/*contributes=*/false). It sends zeros and is not counted, so the
// gradient is the mean over the ranks that had a batch.
//
// A parameter's gradient stays undefined (so optimizers skip it, as they do in one
// process) when it is undefined on every rank; it is defined on every rank as soon
// as one rank has it. This keeps ranks in step when a stage leaves heads unused.
//
// Invariant: after the optimizer step, parameters are bit-identical on all ranks.
// With checksum_every = N, every N-th synchronize compares an exact checksum of the
// parameters across ranks and throws on every rank if they differ.
#pragma once

#include "dist/communicator.h"

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace hardy {

struct GradientSyncOptions {
  double bucket_mb = 25;  // MiB
  bool overlap = true;
  std::int64_t checksum_every = 0;  // 0 = never
  // true: gradients become the mean over the contributing ranks. false: the sum, for
  // callers that weight each rank's loss by its share of the global batch.
  bool average = true;
  double first_bucket_mb = 1;  // MiB, capped at bucket_mb
  bool bucket_view = true;
  torch::ScalarType grad_dtype = torch::kFloat32;  // or kBFloat16 on the wire
};

struct GradientSyncStats {
  std::int64_t steps = 0;
  std::int64_t bytes = 0;        // gradient bytes allreduced by this rank
  double wait_seconds = 0;       // time spent inside synchronize()
};

class GradientSynchronizer {
 public:
  // `parameters`: the model's parameters (those that require grad take part), all
  // on one device and of one floating dtype per bucket.
  GradientSynchronizer(std::shared_ptr<Communicator> comm, std::vector<torch::Tensor> parameters,
                       GradientSyncOptions options = {});
  ~GradientSynchronizer();
  GradientSynchronizer(const GradientSynchronizer&) = delete;
  GradientSynchronizer& operator=(const GradientSynchronizer&) = delete;

  // Every rank takes rank `root`'s parameter values (call once before training).
  void broadcast_parameters(int root = 0);
  // Call before backward(): clears every synchronised gradient. With bucket views it
  // zeroes the buckets in place, so the gradients stay views; otherwise (and in a
  // world of one) it sets them undefined, as Optimizer::zero_grad() does. A
  // gradient no rank produces in the step is undefined after synchronize() either way.
  void zero_grad();
  // Call after backward() (or instead of it, with contributes = false): every
  // parameter's .grad becomes the mean over the contributing ranks.
  void synchronize(bool contributes = true);
  // Collective: throws on every rank when the parameters differ between ranks.
  void check_parameters_identical();

  std::int64_t buckets() const { return static_cast<std::int64_t>(buckets_.size()); }
  // Parameter count of each bucket, in launch order.
  std::vector<std::int64_t> bucket_sizes() const;
  // True when the gradients are views into the buckets (bucket_view, more than one rank).
  bool grads_are_bucket_views() const { return views_; }
  const GradientSyncStats& stats() const { return stats_; }

 private:
  struct Bucket {
    std::vector<std::int64_t> params;  // indices into params_
    std::vector<std::int64_t> offsets; // element offset of each parameter in `flat`
    std::int64_t elements = 0;         // gradient elements; then one flag per parameter
    torch::Tensor flat;                // [elements + params + 1]: flags, then contributors
    torch::Tensor wire;                // bfloat16 copy of the gradients in flight
    std::int64_t ready = 0;
    std::vector<std::shared_ptr<Work>> works;  // empty until the bucket is sent
  };

  void on_accumulated(std::int64_t param);
  torch::Tensor region(const Bucket& b, std::size_t slot) const;
  torch::Tensor bucket_alias(const Bucket& b, std::size_t slot) const;
  bool aliases_bucket(std::size_t param, const torch::Tensor& grad) const;
  void mark_defined(Bucket& b, std::size_t slot);
  void launch_ready();
  void send(Bucket& b);
  void finish(Bucket& b);
  void reset_step();

  std::shared_ptr<Communicator> comm_;
  GradientSyncOptions options_;
  std::vector<torch::Tensor> params_;
  std::vector<std::int64_t> bucket_of_, slot_of_;
  std::vector<bool> filled_;
  std::vector<Bucket> buckets_;
  // Hooks on the gradient accumulators (kept alive here: a parameter holds its
  // accumulator only weakly), removed again by the destructor.
  struct AccumulatorHook;
  std::vector<AccumulatorHook> hooks_;
  bool views_ = false;
  std::size_t next_launch_ = 0;
  GradientSyncStats stats_;
};

}  // namespace hardy
