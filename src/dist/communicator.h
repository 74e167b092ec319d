// The process-group interface every distributed piece of hardy_dist talks to
// (modelled on PyTorch c10d's ProcessGroup): collectives on tensors that return
// work handles, so a caller can overlap communication with computation.
// Backends: local (one process, no communication: local_communicator.h), MPI
// (mpi_communicator.h) and NCCL (CUDA tensors; nccl_communicator.h); which one a
// job uses is chosen at run time (make_communicator.h). One process is a world of
// size 1, not a special case: callers never test for a missing communicator.
//
// No call waits forever: a collective whose peers stay silent for timeout_s()
// seconds (dist.timeout_s) logs which operation stalled and aborts the whole job
// with kExitPeerLost (peer_timeout.h), so a dead or hung rank never leaves the
// others hanging.
#pragma once

#include "dist/peer_timeout.h"
#include "dist/reduce_op.h"
#include "dist/work.h"

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hardy {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;

  virtual void barrier() = 0;
  // In place: `tensor` (contiguous) on every rank receives root's values.
  virtual std::shared_ptr<Work> broadcast(torch::Tensor& tensor, int root) = 0;
  // In place: `tensor` (contiguous) on every rank receives the element-wise reduction.
  virtual std::shared_ptr<Work> allreduce(torch::Tensor& tensor, ReduceOp op) = 0;
  // Concatenation along dim 0 of every rank's `tensor`, in rank order. Ranks may
  // contribute different numbers of rows (including none); trailing dims and
  // dtype must agree. Blocking.
  virtual torch::Tensor allgatherv(const torch::Tensor& tensor) = 0;
  // Personalised exchange: `input`'s rows are grouped by destination, the first
  // send_rows[0] for rank 0, the next send_rows[1] for rank 1, ... (their sum is
  // input.size(0)). Returns the rows every rank sent to this one, concatenated in
  // rank order; recv_rows (when not null) receives how many came from each rank.
  // Trailing dims and dtype must agree on all ranks. Blocking.
  virtual torch::Tensor alltoallv(const torch::Tensor& input,
                                  const std::vector<std::int64_t>& send_rows,
                                  std::vector<std::int64_t>* recv_rows) = 0;
  // Collective over this communicator: the ranks that pass the same `color` form a
  // new communicator of the same backend (MPI_Comm_split), ranked by `key`, ties by
  // rank here. Every rank gets the group it belongs to. The group keeps this
  // communicator's timeout_s(); a peer lost inside it still ends the whole job.
  virtual std::shared_ptr<Communicator> split(int color, int key) = 0;
  // Ends every process of the job: used when one rank hits an error the others
  // cannot know about, so nobody hangs in a collective.
  [[noreturn]] virtual void abort(int exit_code) = 0;

  // Rank 0 writes the run directory's files; the others read them.
  bool is_root() const { return rank() == 0; }

  // Seconds a collective may wait for its peers before the job is aborted.
  double timeout_s() const { return timeout_s_; }
  void set_timeout_s(double seconds) { timeout_s_ = seconds; }

 private:
  double timeout_s_ = 300;
};

}  // namespace hardy
