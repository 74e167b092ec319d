// The process-group interface every distributed piece of hardy_dist talks to
// (modelled on PyTorch c10d's ProcessGroup): collectives on tensors that return
// work handles, so a caller can overlap communication with computation.
// Backends: MPI (CPU tensors, here). NCCL joins with the data-parallel issue.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

namespace hardy {

enum class ReduceOp { Sum, Max, Min };

// A collective in flight. wait() blocks until the result tensor may be read.
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  virtual bool completed() = 0;
};

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
  // Ends every process of the job: used when one rank hits an error the others
  // cannot know about, so nobody hangs in a collective.
  [[noreturn]] virtual void abort(int exit_code) = 0;
};

// The MPI backend over MPI_COMM_WORLD. Initialises MPI on first use (MPI_Init_thread,
// funneled) and finalises it at process exit.
std::shared_ptr<Communicator> mpi_world();

}  // namespace hardy
