#include "train/task_loss.h"

#include "model/losses.h"

namespace hardy {

torch::Tensor global_batch_ccc_loss(const torch::Tensor& prediction, const torch::Tensor& target,
                                    const torch::Tensor& real, double share, Communicator& group) {
  auto statistics = ccc_statistics(prediction, target, real);
  if (group.size() > 1) {  // the global batch's statistics, with this rank's gradient path
    auto summed = statistics.detach().clone();
    group.allreduce(summed, ReduceOp::Sum)->wait();
    statistics = summed + (statistics - statistics.detach());  // exactly the sum, on every rank
  }
  auto loss = 1.0 - ccc_from_statistics(statistics).mean();
  if (share > 0 && share != 1.0) loss = loss.detach() + (loss - loss.detach()) / share;
  return loss.to(prediction.scalar_type());
}

void join_global_batch_ccc_loss(std::int64_t targets, const torch::Device& device, Communicator& group) {
  if (group.size() == 1) return;
  auto nothing = torch::zeros({6, targets}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
  group.allreduce(nothing, ReduceOp::Sum)->wait();
}

}  // namespace hardy
