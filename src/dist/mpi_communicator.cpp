#include "core/error.h"
#include "dist/communicator.h"

#include <mpi.h>

#include <cstdlib>
#include <mutex>
#include <vector>

namespace hardy {

namespace {

MPI_Datatype mpi_type(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32: return MPI_FLOAT;
    case torch::kFloat64: return MPI_DOUBLE;
    case torch::kInt64: return MPI_INT64_T;
    case torch::kInt32: return MPI_INT32_T;
    case torch::kInt8: return MPI_INT8_T;
    case torch::kUInt8: return MPI_UINT8_T;
    case torch::kBool: return MPI_C_BOOL;
    default: HARDY_THROW_MSG("the MPI backend cannot move tensors of type {}", c10::toString(type));
  }
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return MPI_SUM;
    case ReduceOp::Max: return MPI_MAX;
    case ReduceOp::Min: return MPI_MIN;
  }
  return MPI_SUM;
}

void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  HARDY_THROW_MSG("MPI {} failed: {}", what, std::string(text, static_cast<size_t>(length)));
}

void check_tensor(const torch::Tensor& t, const char* what) {
  HARDY_THROW_IF_NOT_MSG(t.defined() && t.is_contiguous() && t.device().is_cpu(),
                         "{}: the MPI backend needs a defined, contiguous CPU tensor", what);
}

class MpiWork : public Work {
 public:
  MpiWork(MPI_Request request, torch::Tensor keep_alive)
      : request_(request), tensor_(std::move(keep_alive)) {}
  void wait() override {
    if (done_) return;
    check_mpi(MPI_Wait(&request_, MPI_STATUS_IGNORE), "wait");
    done_ = true;
  }
  bool completed() override {
    if (done_) return true;
    int flag = 0;
    check_mpi(MPI_Test(&request_, &flag, MPI_STATUS_IGNORE), "test");
    done_ = flag != 0;
    return done_;
  }
  ~MpiWork() override {
    // A dropped handle must not leave MPI writing into a freed tensor.
    if (!done_) MPI_Wait(&request_, MPI_STATUS_IGNORE);
  }

 private:
  MPI_Request request_;
  torch::Tensor tensor_;
  bool done_ = false;
};

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "init");
      std::atexit([] {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Finalize();
      });
    }
    // Errors come back as codes, which check_mpi turns into hardy::Error.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void barrier() override { check_mpi(MPI_Barrier(MPI_COMM_WORLD), "barrier"); }

  std::shared_ptr<Work> broadcast(torch::Tensor& tensor, int root) override {
    check_tensor(tensor, "broadcast");
    HARDY_THROW_IF_NOT_MSG(root >= 0 && root < size_, "broadcast root {} outside {} ranks", root,
                           size_);
    MPI_Request request;
    check_mpi(MPI_Ibcast(tensor.data_ptr(), static_cast<int>(tensor.numel()),
                         mpi_type(tensor.scalar_type()), root, MPI_COMM_WORLD, &request),
              "broadcast");
    return std::make_shared<MpiWork>(request, tensor);
  }

  std::shared_ptr<Work> allreduce(torch::Tensor& tensor, ReduceOp op) override {
    check_tensor(tensor, "allreduce");
    MPI_Request request;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, tensor.data_ptr(), static_cast<int>(tensor.numel()),
                             mpi_type(tensor.scalar_type()), mpi_op(op), MPI_COMM_WORLD, &request),
              "allreduce");
    return std::make_shared<MpiWork>(request, tensor);
  }

  torch::Tensor allgatherv(const torch::Tensor& input) override {
    auto tensor = input.contiguous();
    check_tensor(tensor, "allgatherv");
    HARDY_THROW_IF_NOT_MSG(tensor.dim() >= 1, "allgatherv needs a tensor with a row dimension");
    std::int64_t per_row = 1;
    for (int d = 1; d < tensor.dim(); ++d) per_row *= tensor.size(d);
    // Agree on the trailing shape first: a mismatch would silently scramble rows.
    torch::Tensor shape_info = torch::tensor({per_row, static_cast<std::int64_t>(tensor.scalar_type())});
    torch::Tensor all_info = torch::empty({size_, 2}, torch::kInt64);
    check_mpi(MPI_Allgather(shape_info.data_ptr(), 2, MPI_INT64_T, all_info.data_ptr(), 2,
                            MPI_INT64_T, MPI_COMM_WORLD),
              "allgatherv (shapes)");
    auto info = all_info.accessor<std::int64_t, 2>();
    for (int r = 0; r < size_; ++r)
      HARDY_THROW_IF_NOT_MSG(info[r][0] == per_row && info[r][1] == info[0][1],
                             "allgatherv: rank {} sends rows of {} elements (type {}), rank {} "
                             "sends {} elements (type {})",
                             rank_, per_row, static_cast<int>(tensor.scalar_type()), r,
                             info[r][0], info[r][1]);
    std::vector<int> counts(static_cast<size_t>(size_)), displs(static_cast<size_t>(size_));
    int my_count = static_cast<int>(tensor.size(0) * per_row);
    check_mpi(MPI_Allgather(&my_count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD),
              "allgatherv (counts)");
    std::int64_t total = 0;
    for (int r = 0; r < size_; ++r) {
      displs[static_cast<size_t>(r)] = static_cast<int>(total);
      total += counts[static_cast<size_t>(r)];
    }
    HARDY_THROW_IF_NOT_MSG(total < (std::int64_t{1} << 31),
                           "allgatherv of {} elements exceeds MPI's int counts", total);
    auto sizes = tensor.sizes().vec();
    sizes[0] = per_row == 0 ? 0 : total / per_row;
    auto out = torch::empty(sizes, tensor.options());
    check_mpi(MPI_Allgatherv(tensor.data_ptr(), my_count, mpi_type(tensor.scalar_type()),
                             out.data_ptr(), counts.data(), displs.data(),
                             mpi_type(tensor.scalar_type()), MPI_COMM_WORLD),
              "allgatherv");
    return out;
  }

  [[noreturn]] void abort(int exit_code) override {
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);
  }

 private:
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace

std::shared_ptr<Communicator> mpi_world() {
  static std::mutex mutex;
  static std::shared_ptr<Communicator> world;
  std::lock_guard<std::mutex> lock(mutex);
  if (!world) world = std::make_shared<MpiCommunicator>();
  return world;
}

}  // namespace hardy
