// Averages gradients over the ranks of a Communicator after each backward pass, so
// every rank takes the same optimizer step (docs/design.md §7, "Gradient synchronisation").
//
// Gradients are packed into buckets of about `bucket_mb` megabytes in reverse
// parameter order, which is roughly the order backward produces them. With overlap
// on, an autograd hook copies each gradient into its bucket as soon as backward
// produces it. A bucket whose gradients are all in starts its allreduce while
// backward goes on. Buckets always start in index order, so every rank posts its
// collectives in the same order even when hooks fire in a different order.
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
  double bucket_mb = 25;
  bool overlap = true;
  std::int64_t checksum_every = 0;  // 0 = never
  // true: gradients become the mean over the contributing ranks. false: the sum, for
  // callers that weight each rank's loss by its share of the global batch.
  bool average = true;
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
  // Call after backward() (or instead of it, with contributes = false): every
  // parameter's .grad becomes the mean over the contributing ranks.
  void synchronize(bool contributes = true);
  // Collective: throws on every rank when the parameters differ between ranks.
  void check_parameters_identical();

  std::int64_t buckets() const { return static_cast<std::int64_t>(buckets_.size()); }
  const GradientSyncStats& stats() const { return stats_; }

 private:
  struct Bucket {
    std::vector<std::int64_t> params;  // indices into params_
    std::vector<std::int64_t> offsets; // element offset of each parameter in `flat`
    std::int64_t elements = 0;         // gradient elements; then one flag per parameter
    torch::Tensor flat;                // [elements + params + 1]: flags, then contributors
    std::int64_t ready = 0;
    std::shared_ptr<Work> work;
  };

  void on_gradient(std::int64_t param, const torch::Tensor& grad);
  void mark_defined(Bucket& b, std::size_t slot);
  void launch_ready();
  void reset_step();

  std::shared_ptr<Communicator> comm_;
  GradientSyncOptions options_;
  std::vector<torch::Tensor> params_;
  std::vector<std::int64_t> bucket_of_, slot_of_;
  std::vector<bool> filled_;
  std::vector<Bucket> buckets_;
  std::vector<unsigned> hooks_;
  std::size_t next_launch_ = 0;
  GradientSyncStats stats_;
};

}  // namespace hardy
