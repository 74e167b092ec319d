// The NCCL backend: collectives on CUDA tensors over one NCCL communicator per
// process. Compiled only with a CUDA LibTorch and NCCL (HARDY_WITH_NCCL).
//
// Streams and ordering follow ProcessGroupNCCL:
// - each communicator has its own non-blocking stream from LibTorch's pool, so
//   collectives overlap with backward kernels on the compute stream;
// - before a collective, the NCCL stream waits on an event recorded on the caller's
//   current stream (the tensor's producers have finished);
// - the tensor's memory is marked as used by the NCCL stream (recordStream), so the
//   caching allocator does not hand it out again while the collective runs;
// - Work::wait() waits for the collective's end event (polling, against
//   dist.timeout_s) and then makes the caller's current stream wait on it.
// Time-outs: the communicator is created non-blocking and its initialisation is
// polled against dist.timeout_s; a watchdog thread polls ncclCommGetAsyncError and
// the age of every pending collective, so a peer that never joins ends the job with
// kExitPeerLost even when this rank's host thread is blocked elsewhere.
#include "dist/nccl_communicator.h"

#include "core/error.h"
#include "core/log.h"
#include "dist/row_layout.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>

namespace hardy {

namespace {

using Clock = std::chrono::steady_clock;

void check_cuda(cudaError_t code, const char* what) {
  HARDY_THROW_IF_NOT_MSG(code == cudaSuccess, "CUDA {} failed: {}", what, cudaGetErrorString(code));
}

void check_nccl(ncclResult_t code, const char* what) {
  HARDY_THROW_IF_NOT_MSG(code == ncclSuccess || code == ncclInProgress, "NCCL {} failed: {}", what,
                         ncclGetErrorString(code));
}

ncclDataType_t nccl_type(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32: return ncclFloat32;
    case torch::kFloat64: return ncclFloat64;
    case torch::kFloat16: return ncclFloat16;
    case torch::kBFloat16: return ncclBfloat16;
    case torch::kInt64: return ncclInt64;
    case torch::kInt32: return ncclInt32;
    case torch::kInt8: return ncclInt8;
    case torch::kUInt8:
    case torch::kBool: return ncclUint8;
    default: HARDY_THROW_MSG("the NCCL backend cannot move tensors of type {}", c10::toString(type));
  }
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return ncclSum;
    case ReduceOp::Max: return ncclMax;
    case ReduceOp::Min: return ncclMin;
  }
  return ncclSum;
}

// An event without timing, destroyed with its owner.
class CudaEvent {
 public:
  CudaEvent() { check_cuda(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming), "event create"); }
  ~CudaEvent() { cudaEventDestroy(event_); }
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;
  void record(cudaStream_t stream) { check_cuda(cudaEventRecord(event_, stream), "event record"); }
  void block(cudaStream_t stream) { check_cuda(cudaStreamWaitEvent(stream, event_, 0), "stream wait"); }
  bool query() const { return cudaEventQuery(event_) == cudaSuccess; }

 private:
  cudaEvent_t event_{};
};

// What the watchdog needs to know about one collective in flight.
struct Pending {
  CudaEvent end;
  Clock::time_point started = Clock::now();
  std::string what;
  torch::Tensor tensor;  // kept alive until the collective has finished
};

class NcclWork : public Work {
 public:
  NcclWork(std::shared_ptr<Pending> pending, ncclComm_t comm, int rank, double timeout_s,
           std::function<void()> abort_job)
      : pending_(std::move(pending)), comm_(comm), rank_(rank), timeout_s_(timeout_s),
        abort_job_(std::move(abort_job)) {}
  ~NcclWork() override {
    // A dropped handle is fine: the watchdog still times the collective, and the
    // tensor's memory was recorded on the NCCL stream.
  }
  bool completed() override { return done_ || (done_ = pending_->end.query()); }
  void wait() override {
    if (!done_) {
      poll_or_abort(
          [&] {
            ncclResult_t async_error = ncclSuccess;
            ncclCommGetAsyncError(comm_, &async_error);
            check_nccl(async_error, pending_->what.c_str());
            return pending_->end.query();
          },
          "NCCL " + pending_->what, rank_, timeout_s_, abort_job_);
      done_ = true;
    }
    // Later work on the caller's stream sees the result.
    pending_->end.block(c10::cuda::getCurrentCUDAStream().stream());
  }

 private:
  std::shared_ptr<Pending> pending_;
  ncclComm_t comm_;
  int rank_;
  double timeout_s_;
  std::function<void()> abort_job_;
  bool done_ = false;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(std::shared_ptr<Communicator> bootstrap, int device)
      : bootstrap_(std::move(bootstrap)), device_(device),
        stream_(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, static_cast<c10::DeviceIndex>(device))) {
    set_timeout_s(bootstrap_->timeout_s());
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
    ncclUniqueId id;
    if (bootstrap_->rank() == 0) check_nccl(ncclGetUniqueId(&id), "unique id");
    auto bytes = torch::empty({static_cast<std::int64_t>(sizeof(id))}, torch::kUInt8);
    std::memcpy(bytes.data_ptr(), &id, sizeof(id));
    bootstrap_->broadcast(bytes, 0)->wait();
    std::memcpy(&id, bytes.data_ptr(), sizeof(id));
    // Non-blocking creation, polled: a rank that never arrives ends the job.
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    check_nccl(ncclCommInitRankConfig(&comm_, bootstrap_->size(), id, bootstrap_->rank(), &config), "init");
    settle("init");
    watchdog_ = std::thread([this] { watch(); });
  }
  ~NcclCommunicator() override {
    stop_ = true;
    if (watchdog_.joinable()) watchdog_.join();
    cudaStreamSynchronize(stream_.stream());
    ncclCommDestroy(comm_);
  }

  int rank() const override { return bootstrap_->rank(); }
  int size() const override { return bootstrap_->size(); }
  std::string backend() const override { return "nccl"; }

  // The group's own NCCL communicator, made as the world's is (a fresh unique id
  // broadcast over the split MPI group, non-blocking init polled against the
  // time-out) rather than with ncclCommSplit, so both share one tested path.
  std::shared_ptr<Communicator> split(int color, int key) override {
    return std::make_shared<NcclCommunicator>(bootstrap_->split(color, key), device_);
  }

  void barrier() override {
    // Everything this rank queued on NCCL has finished, then the ranks meet.
    auto pending = track(torch::Tensor(), "barrier");
    work(pending)->wait();
    bootstrap_->barrier();
  }

  std::shared_ptr<Work> broadcast(torch::Tensor& tensor, int root) override {
    if (!tensor.is_cuda()) return bootstrap_->broadcast(tensor, root);
    check(tensor, "broadcast");
    begin(tensor);
    check_nccl(ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(), static_cast<size_t>(tensor.numel()),
                             nccl_type(tensor.scalar_type()), root, comm_, stream_.stream()),
               "broadcast");
    return work(track(tensor, "broadcast"));
  }

  std::shared_ptr<Work> allreduce(torch::Tensor& tensor, ReduceOp op) override {
    if (!tensor.is_cuda()) return bootstrap_->allreduce(tensor, op);
    check(tensor, "allreduce");
    begin(tensor);
    check_nccl(ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(), static_cast<size_t>(tensor.numel()),
                             nccl_type(tensor.scalar_type()), nccl_op(op), comm_, stream_.stream()),
               "allreduce");
    return work(track(tensor, "allreduce"));
  }

  torch::Tensor allgatherv(const torch::Tensor& input) override {
    if (!input.is_cuda()) return bootstrap_->allgatherv(input);
    auto tensor = input.contiguous();
    check(tensor, "allgatherv");
    // The counts with the row shape, over the bootstrap: one small CPU exchange.
    auto record = row_record(tensor, tensor.size(0), "allgatherv");
    auto all = bootstrap_->allgatherv(torch::tensor(record, torch::kInt64).view({1, 3})).contiguous();
    auto counts = agreed_row_counts(
        std::vector<std::int64_t>(all.data_ptr<std::int64_t>(), all.data_ptr<std::int64_t>() + all.numel()),
        "allgatherv");
    const std::int64_t per_row = record[1];
    const auto type = nccl_type(tensor.scalar_type());
    auto out = start_group(tensor, counts);
    std::int64_t at = 0;
    for (int r = 0; r < size(); ++r) {  // each rank broadcasts its block
      auto* dst = row_address(out, at, per_row);
      const void* src = r == rank() ? tensor.data_ptr() : dst;
      check_nccl(ncclBroadcast(src, dst, static_cast<size_t>(counts[static_cast<size_t>(r)] * per_row), type,
                               r, comm_, stream_.stream()),
                 "allgatherv");
      at += counts[static_cast<size_t>(r)];
    }
    finish_group(out, tensor, "allgatherv");
    return out;
  }

  torch::Tensor alltoallv(const torch::Tensor& input, const std::vector<std::int64_t>& send_rows,
                          std::vector<std::int64_t>* recv_rows) override {
    if (!input.is_cuda()) return bootstrap_->alltoallv(input, send_rows, recv_rows);
    auto tensor = input.contiguous();
    check(tensor, "alltoallv");
    HARDY_THROW_IF_NOT_MSG(static_cast<int>(send_rows.size()) == size(),
                           "alltoallv: {} send counts for {} ranks", send_rows.size(), size());
    // Per destination {rows, row shape, dtype} over the bootstrap: sizes the output
    // and checks the shapes in one small CPU exchange.
    const auto p = static_cast<size_t>(size());
    std::vector<std::int64_t> records;
    for (size_t r = 0; r < p; ++r) {
      auto record = row_record(tensor, send_rows[r], "alltoallv");
      records.insert(records.end(), record.begin(), record.end());
    }
    std::vector<std::int64_t> ones(p, 1);
    auto got = bootstrap_->alltoallv(torch::tensor(records, torch::kInt64).view({-1, 3}), ones, nullptr)
                   .contiguous();
    std::vector<std::int64_t> mine_first(records.begin(), records.begin() + 3);
    mine_first.insert(mine_first.end(), got.data_ptr<std::int64_t>(), got.data_ptr<std::int64_t>() + got.numel());
    auto from = agreed_row_counts(mine_first, "alltoallv");
    from.erase(from.begin());
    if (recv_rows) *recv_rows = from;
    const std::int64_t per_row = records[1];
    const auto type = nccl_type(tensor.scalar_type());
    auto out = start_group(tensor, from);
    std::int64_t sent = 0, received = 0;
    for (size_t r = 0; r < p; ++r) {
      const auto* src = row_address(tensor, sent, per_row);
      auto* dst = row_address(out, received, per_row);
      const int peer = static_cast<int>(r);
      if (send_rows[r] > 0)
        check_nccl(ncclSend(src, static_cast<size_t>(send_rows[r] * per_row), type, peer, comm_, stream_.stream()),
                   "send");
      if (from[r] > 0)
        check_nccl(ncclRecv(dst, static_cast<size_t>(from[r] * per_row), type, peer, comm_, stream_.stream()),
                   "recv");
      sent += send_rows[r];
      received += from[r];
    }
    finish_group(out, tensor, "alltoallv");
    return out;
  }

  [[noreturn]] void abort(int exit_code) override {
    ncclCommAbort(comm_);
    bootstrap_->abort(exit_code);
    std::_Exit(exit_code);  // not reached: the MPI abort ends the process
  }

 private:
  void check(const torch::Tensor& t, const char* what) const {
    HARDY_THROW_IF_NOT_MSG(t.is_contiguous() && t.get_device() == device_,
                           "{}: the NCCL backend of rank {} needs a contiguous tensor on cuda:{}, got "
                           "one on {}",
                           what, rank(), device_, t.device().str());
  }

  // Orders the NCCL stream after the work queued so far on the caller's stream, and
  // tells the caching allocator that the NCCL stream uses `t`'s memory.
  void begin(const torch::Tensor& t) {
    CudaEvent ready;
    ready.record(c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream());
    ready.block(stream_.stream());
    if (t.numel() > 0) c10::cuda::CUDACachingAllocator::recordStream(t.storage().data_ptr(), stream_);
  }

  // The output of a variable-size collective (`counts` rows from each rank, shaped
  // like `tensor`) with both tensors ordered on the NCCL stream, and an NCCL group
  // opened for the caller's point-to-point calls; finish_group closes it and waits.
  torch::Tensor start_group(const torch::Tensor& tensor, const std::vector<std::int64_t>& counts) {
    std::int64_t total = 0;
    for (auto c : counts) total += c;
    auto out = empty_rows_like(tensor, total);
    begin(tensor);
    begin(out);
    check_nccl(ncclGroupStart(), "group start");
    return out;
  }
  void finish_group(const torch::Tensor& out, const torch::Tensor& input, const char* what) {
    check_nccl(ncclGroupEnd(), "group end");
    settle(what);
    work(track(out, what, input))->wait();
  }
  // Address of row `row` of `t` (rows of `per_row` elements).
  static char* row_address(const torch::Tensor& t, std::int64_t row, std::int64_t per_row) {
    return static_cast<char*>(t.data_ptr()) + row * per_row * t.element_size();
  }

  // A non-blocking communicator may still be enqueueing: wait (against the time-out)
  // until it has finished or failed.
  void settle(const char* what) {
    poll_or_abort(
        [&] {
          ncclResult_t state = ncclInProgress;
          ncclCommGetAsyncError(comm_, &state);
          check_nccl(state, what);
          return state != ncclInProgress;
        },
        std::string("NCCL ") + what, rank(), timeout_s(), [this] { abort(kExitPeerLost); });
  }

  // Records the end of the work queued so far on the NCCL stream; the watchdog
  // watches it until it completes.
  std::shared_ptr<Pending> track(torch::Tensor t, const char* what, torch::Tensor also = {}) {
    settle(what);
    auto pending = std::make_shared<Pending>();
    pending->end.record(stream_.stream());
    pending->what = what;
    pending->tensor = also.defined() ? also : std::move(t);
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.push_back(pending);
    return pending;
  }

  std::shared_ptr<Work> work(std::shared_ptr<Pending> pending) {
    return std::make_shared<NcclWork>(std::move(pending), comm_, rank(), timeout_s(),
                                      [this] { abort(kExitPeerLost); });
  }

  // The watchdog: every 100 ms, drops finished collectives and ends the job when one
  // has waited past dist.timeout_s or NCCL reports an asynchronous error.
  void watch() {
    while (!stop_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::string stalled;
      double waited = 0;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto it = pending_.begin(); it != pending_.end();) {
          if ((*it)->end.query()) {
            it = pending_.erase(it);
            continue;
          }
          waited = std::chrono::duration<double>(Clock::now() - (*it)->started).count();
          if (waited > timeout_s()) {
            stalled = (*it)->what;
            break;
          }
          ++it;
        }
      }
      ncclResult_t async_error = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async_error);
      if (async_error != ncclSuccess && async_error != ncclInProgress) {
        log::error("rank {}: NCCL reported an asynchronous error: {}. Aborting the job.", rank(),
                      ncclGetErrorString(async_error));
        abort(kExitPeerLost);
      }
      if (!stalled.empty()) {
        log::error("rank {}: NCCL {} has waited {:.0f} s (dist.timeout_s) for the other ranks: one "
                      "of them has died or hung. Aborting the job; re-run to resume from the last "
                      "checkpoint.",
                      rank(), stalled, waited);
        log::flush();
        abort(kExitPeerLost);
      }
    }
  }

  std::shared_ptr<Communicator> bootstrap_;
  int device_;
  c10::cuda::CUDAStream stream_;
  ncclComm_t comm_{};
  std::mutex mutex_;
  std::list<std::shared_ptr<Pending>> pending_;
  std::atomic<bool> stop_{false};
  std::thread watchdog_;
};

}  // namespace

std::shared_ptr<Communicator> nccl_world(std::shared_ptr<Communicator> bootstrap, int device) {
  return std::make_shared<NcclCommunicator>(std::move(bootstrap), device);
}

}  // namespace hardy
