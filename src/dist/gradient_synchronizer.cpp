#include "dist/gradient_synchronizer.h"

#include "core/error.h"
#include "dist/bucket_assignment.h"

#include <chrono>

namespace hardy {

GradientSynchronizer::GradientSynchronizer(std::shared_ptr<Communicator> comm,
                                           std::vector<torch::Tensor> parameters,
                                           GradientSyncOptions options)
    : comm_(std::move(comm)), options_(options) {
  HARDY_THROW_IF_NOT_MSG(comm_, "a gradient synchronizer needs a communicator");
  HARDY_THROW_IF_NOT_MSG(options_.bucket_mb > 0, "dist.bucket_mb must be > 0, got {}",
                         options_.bucket_mb);
  for (auto& p : parameters)
    if (p.requires_grad()) params_.push_back(p);
  bucket_of_.assign(params_.size(), -1);
  slot_of_.assign(params_.size(), -1);
  filled_.assign(params_.size(), false);

  // Reverse parameter order: backward produces the last layers' gradients first.
  // A flat buffer holds one dtype on one device; the key tells them apart.
  std::vector<std::int64_t> bytes, keys;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i];
    HARDY_THROW_IF_NOT_MSG(p.is_floating_point(), "parameter {} is not floating point", i);
    bytes.push_back(p.numel() * p.element_size());
    keys.push_back(static_cast<std::int64_t>(p.scalar_type()) * 65536 +
                   (p.device().is_cuda() ? 1 + p.device().index() : 0));
  }
  const double limit = options_.bucket_mb * 1e6;
  for (const auto& members : assign_buckets(bytes, keys, limit, limit)) {
    auto& b = buckets_.emplace_back();
    std::int64_t offset = 0;
    for (auto i : members) {
      bucket_of_[static_cast<size_t>(i)] = static_cast<std::int64_t>(buckets_.size()) - 1;
      slot_of_[static_cast<size_t>(i)] = static_cast<std::int64_t>(b.params.size());
      b.params.push_back(i);
      b.offsets.push_back(offset);
      offset += params_[static_cast<size_t>(i)].numel();
    }
    b.elements = offset;
  }
  // A world of one has nothing to exchange: the plan stands (buckets() reports it),
  // but no buffers or hooks; gradients stay where backward put them.
  if (comm_->size() == 1) return;
  // Per bucket, after the gradients: one "gradient defined" flag per parameter and
  // the number of contributing ranks.
  for (auto& b : buckets_) {
    const auto& first = params_[static_cast<size_t>(b.params.front())];
    b.flat = torch::empty({b.elements + static_cast<std::int64_t>(b.params.size()) + 1},
                          first.options().requires_grad(false));
  }
  reset_step();

  if (options_.overlap) {
    for (size_t i = 0; i < params_.size(); ++i) {
      auto index = static_cast<std::int64_t>(i);
      hooks_.push_back(params_[i].register_hook([this, index](torch::Tensor grad) {
        on_gradient(index, grad);
      }));
    }
  }
}

GradientSynchronizer::~GradientSynchronizer() {
  for (size_t i = 0; i < hooks_.size(); ++i) params_[i].remove_hook(hooks_[i]);
  for (auto& b : buckets_)
    if (b.work) b.work->wait();
}

void GradientSynchronizer::reset_step() {
  for (auto& b : buckets_) {
    b.flat.zero_();
    b.flat[b.flat.numel() - 1] = 1;  // this rank contributes (synchronize(false) clears it)
    b.ready = 0;
    b.work.reset();
  }
  std::fill(filled_.begin(), filled_.end(), false);
  next_launch_ = 0;
}

void GradientSynchronizer::mark_defined(Bucket& b, std::size_t slot) {
  b.flat[b.elements + static_cast<std::int64_t>(slot)] = 1;
}

void GradientSynchronizer::on_gradient(std::int64_t param, const torch::Tensor& grad) {
  auto i = static_cast<size_t>(param);
  auto& b = buckets_[static_cast<size_t>(bucket_of_[i])];
  auto slot = static_cast<size_t>(slot_of_[i]);
  auto view = b.flat.slice(0, b.offsets[slot], b.offsets[slot] + params_[i].numel());
  if (filled_[i]) {
    // A second backward before synchronize (gradient accumulation).
    HARDY_THROW_IF_NOT_MSG(!b.work,
                           "gradient of parameter {} produced again after its bucket was sent: "
                           "call synchronize() after every backward(), or set dist.overlap = false",
                           param);
    view.add_(grad.reshape({-1}));
    return;
  }
  view.copy_(grad.reshape({-1}));
  mark_defined(b, slot);
  filled_[i] = true;
  if (++b.ready == static_cast<std::int64_t>(b.params.size())) launch_ready();
}

void GradientSynchronizer::launch_ready() {
  while (next_launch_ < buckets_.size() &&
         buckets_[next_launch_].ready == static_cast<std::int64_t>(buckets_[next_launch_].params.size())) {
    auto& b = buckets_[next_launch_++];
    b.work = comm_->allreduce(b.flat, ReduceOp::Sum);
    stats_.bytes += b.flat.numel() * b.flat.element_size();
  }
}

void GradientSynchronizer::synchronize(bool contributes) {
  const auto start = std::chrono::steady_clock::now();
  if (comm_->size() == 1) {
    if (!contributes)
      for (auto& p : params_)
        if (p.grad().defined()) p.mutable_grad().zero_();
    ++stats_.steps;
    return;
  }
  for (auto& b : buckets_) {
    if (b.work) continue;  // already sent by the hooks
    if (!contributes) b.flat[b.flat.numel() - 1] = 0;
    // Gradients the hooks did not see: taken from .grad (overlap off) or zero
    // (a parameter this rank did not use, or a rank without a batch).
    for (size_t s = 0; s < b.params.size(); ++s) {
      auto i = static_cast<size_t>(b.params[s]);
      if (filled_[i]) continue;
      const auto& g = params_[i].grad();
      if (g.defined()) mark_defined(b, s);  // consistent over ranks since the last step
      if (contributes && g.defined())
        b.flat.slice(0, b.offsets[s], b.offsets[s] + params_[i].numel()).copy_(g.reshape({-1}));
      filled_[i] = true;
      ++b.ready;
    }
  }
  launch_ready();
  for (auto& b : buckets_) {
    b.work->wait();
    const auto n = b.elements;
    auto contributors = b.flat[b.flat.numel() - 1].item<double>();
    if (options_.average && contributors > 0) b.flat.slice(0, 0, n).div_(contributors);
    auto defined = b.flat.slice(0, n, n + static_cast<std::int64_t>(b.params.size()))
                       .to(torch::kCPU, torch::kFloat64)
                       .contiguous();
    const double* defined_on = defined.data_ptr<double>();
    for (size_t s = 0; s < b.params.size(); ++s) {
      auto& p = params_[static_cast<size_t>(b.params[s])];
      if (defined_on[s] == 0) continue;  // undefined on every rank: stays undefined
      auto mean = b.flat.slice(0, b.offsets[s], b.offsets[s] + p.numel()).view(p.sizes());
      if (p.grad().defined())
        p.mutable_grad().copy_(mean);
      else
        p.mutable_grad() = mean.clone();
    }
  }
  reset_step();
  ++stats_.steps;
  stats_.wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (options_.checksum_every > 0 && stats_.steps % options_.checksum_every == 0)
    check_parameters_identical();
}

void GradientSynchronizer::broadcast_parameters(int root) {
  torch::NoGradGuard no_grad;
  for (auto& p : params_) {
    auto t = p.detach().contiguous();
    comm_->broadcast(t, root)->wait();
    if (!t.is_same(p)) p.detach().copy_(t);
  }
}

void GradientSynchronizer::check_parameters_identical() {
  // An exact checksum of the parameters' bits, position-weighted so that swapped
  // values count too; max and −min over the ranks in one allreduce.
  std::int64_t checksum = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto flat = params_[i].detach().contiguous().view({-1});
    auto bits = flat.element_size() == 8 ? flat.view(torch::kInt64)
                                         : flat.element_size() == 4 ? flat.view(torch::kInt32).to(torch::kInt64)
                                                                    : flat.view(torch::kInt16).to(torch::kInt64);
    auto weights = torch::arange(bits.numel(), bits.options()).remainder(1009) + static_cast<std::int64_t>(i) + 1;
    checksum += (bits * weights).sum().item<std::int64_t>();
  }
  auto t = torch::tensor({checksum, -checksum}, torch::kInt64);
  comm_->allreduce(t, ReduceOp::Max)->wait();
  HARDY_THROW_IF_NOT_MSG(t[0].item<std::int64_t>() == -t[1].item<std::int64_t>(),
                         "parameters differ between ranks after step {} (checksums range over "
                         "[{}, {}]; this rank: {}). The ranks have diverged: check that every rank "
                         "runs the same code and configuration (dist.checksum_every found it)",
                         stats_.steps, -t[1].item<std::int64_t>(), t[0].item<std::int64_t>(), checksum);
}

}  // namespace hardy
