#include "dist/local_communicator.h"

#include "core/error.h"
#include "core/log.h"
#include "dist/row_layout.h"

#include <cstdlib>

namespace hardy {

namespace {

class DoneWork : public Work {
 public:
  void wait() override {}
  bool completed() override { return true; }
};

class LocalCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "local"; }
  void barrier() override {}

  std::shared_ptr<Work> broadcast(torch::Tensor& tensor, int root) override {
    HARDY_THROW_IF_NOT_MSG(root == 0, "broadcast root {} outside 1 rank", root);
    return std::make_shared<DoneWork>();
  }
  std::shared_ptr<Work> allreduce(torch::Tensor&, ReduceOp) override {
    return std::make_shared<DoneWork>();
  }
  torch::Tensor allgatherv(const torch::Tensor& tensor) override {
    elements_per_row(tensor, "allgatherv");
    return tensor.contiguous();
  }
  torch::Tensor alltoallv(const torch::Tensor& input, const std::vector<std::int64_t>& send_rows,
                          std::vector<std::int64_t>* recv_rows) override {
    elements_per_row(input, "alltoallv");
    HARDY_THROW_IF_NOT_MSG(send_rows.size() == 1 && send_rows[0] == input.size(0),
                           "alltoallv: send counts must be one count equal to the tensor's {} rows",
                           input.size(0));
    if (recv_rows) *recv_rows = send_rows;
    return input.contiguous();
  }
  std::shared_ptr<Communicator> split(int, int) override {
    auto group = std::make_shared<LocalCommunicator>();
    group->set_timeout_s(timeout_s());
    return group;
  }
  [[noreturn]] void abort(int exit_code) override {
    log::flush();
    std::_Exit(exit_code);
  }
};

}  // namespace

std::shared_ptr<Communicator> local_world() { return std::make_shared<LocalCommunicator>(); }

}  // namespace hardy
