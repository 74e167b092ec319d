#include "dist/gradient_synchronizer.h"

#include "core/error.h"
#include "dist/bucket_assignment.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>
#include <chrono>
#include <functional>

namespace hardy {

// A post hook on a parameter's AccumulateGrad node: runs after backward has written
// the parameter's .grad (DDP's reducer hooks the same place).
struct GradientSynchronizer::AccumulatorHook {
  c10::intrusive_ptr<torch::autograd::Node> accumulator;  // keeps it alive
  std::uintptr_t key = 0;
};

namespace {

class AfterAccumulation : public torch::autograd::FunctionPostHook {
 public:
  explicit AfterAccumulation(std::function<void()> fn) : fn_(std::move(fn)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    fn_();
    return outputs;
  }

 private:
  std::function<void()> fn_;
};

constexpr double kMiB = 1024.0 * 1024.0;

}  // namespace

GradientSynchronizer::GradientSynchronizer(std::shared_ptr<Communicator> comm,
                                           std::vector<torch::Tensor> parameters,
                                           GradientSyncOptions options)
    : comm_(std::move(comm)), options_(options) {
  HARDY_THROW_IF_NOT_MSG(comm_, "a gradient synchronizer needs a communicator");
  HARDY_THROW_IF_NOT_MSG(options_.bucket_mb > 0 && options_.first_bucket_mb > 0,
                         "dist.bucket_mb and dist.first_bucket_mb must be > 0, got {} and {}",
                         options_.bucket_mb, options_.first_bucket_mb);
  HARDY_THROW_IF_NOT_MSG(options_.grad_dtype == torch::kFloat32 || options_.grad_dtype == torch::kBFloat16,
                         "dist.grad_dtype must be float32 or bfloat16, got {}",
                         c10::toString(options_.grad_dtype));
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
    HARDY_THROW_IF_NOT_MSG(options_.grad_dtype == torch::kFloat32 || p.scalar_type() == torch::kFloat32,
                           "dist.grad_dtype = bfloat16 compresses float32 gradients; parameter {} is {}",
                           i, c10::toString(p.scalar_type()));
    bytes.push_back(p.numel() * p.element_size());
    keys.push_back(static_cast<std::int64_t>(p.scalar_type()) * 65536 +
                   (p.device().is_cuda() ? 1 + p.device().index() : 0));
  }
  const double limit = options_.bucket_mb * kMiB;
  const double first = std::min(options_.first_bucket_mb, options_.bucket_mb) * kMiB;
  for (const auto& members : assign_buckets(bytes, keys, limit, first)) {
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
  views_ = options_.bucket_view;
  // Per bucket, after the gradients: one "gradient defined" flag per parameter and
  // the number of contributing ranks.
  for (auto& b : buckets_) {
    const auto& p0 = params_[static_cast<size_t>(b.params.front())];
    b.flat = torch::zeros({b.elements + static_cast<std::int64_t>(b.params.size()) + 1},
                          p0.options().requires_grad(false));
  }
  reset_step();

  // Hooks always (they mark a gradient as produced in this step); with overlap they
  // also start the bucket's allreduce.
  for (size_t i = 0; i < params_.size(); ++i) {
    auto index = static_cast<std::int64_t>(i);
    auto accumulator = torch::autograd::impl::grad_accumulator(params_[i]);
    HARDY_THROW_IF_NOT_MSG(accumulator, "parameter {} has no gradient accumulator (not a leaf?)", i);
    auto key = accumulator->add_post_hook(
        std::make_unique<AfterAccumulation>([this, index] { on_accumulated(index); }));
    hooks_.push_back({std::move(accumulator), key});
  }
}

GradientSynchronizer::~GradientSynchronizer() {
  for (auto& h : hooks_) h.accumulator->del_post_hook(h.key);
  for (auto& b : buckets_)
    for (auto& w : b.works) w->wait();
}

std::vector<std::int64_t> GradientSynchronizer::bucket_sizes() const {
  std::vector<std::int64_t> sizes;
  for (const auto& b : buckets_) sizes.push_back(static_cast<std::int64_t>(b.params.size()));
  return sizes;
}

torch::Tensor GradientSynchronizer::region(const Bucket& b, std::size_t slot) const {
  const auto& p = params_[static_cast<size_t>(b.params[slot])];
  return b.flat.slice(0, b.offsets[slot], b.offsets[slot] + p.numel());
}

torch::Tensor GradientSynchronizer::bucket_alias(const Bucket& b, std::size_t slot) const {
  // The parameter's slice of the bucket as a plain tensor on the same memory, not an
  // autograd view: Optimizer::zero_grad() calls detach_() on gradients, which a view
  // refuses. The deleter's copy of `flat` keeps the memory alive.
  const auto& p = params_[static_cast<size_t>(b.params[slot])];
  auto r = region(b, slot);
  return torch::from_blob(r.data_ptr(), p.sizes(), [flat = b.flat](void*) {}, r.options());
}

bool GradientSynchronizer::aliases_bucket(std::size_t param, const torch::Tensor& grad) const {
  if (!views_ || !grad.defined()) return false;
  const auto& b = buckets_[static_cast<size_t>(bucket_of_[param])];
  return grad.data_ptr() == region(b, static_cast<size_t>(slot_of_[param])).data_ptr();
}

void GradientSynchronizer::reset_step() {
  for (auto& b : buckets_) {
    // With views the gradient part is the parameters' .grad (cleared by zero_grad());
    // only the flags and the contributor count start afresh.
    (views_ ? b.flat.slice(0, b.elements) : b.flat).zero_();
    b.flat[b.flat.numel() - 1] = 1;  // this rank contributes (synchronize(false) clears it)
    b.ready = 0;
    b.works.clear();
    b.wire = torch::Tensor();
  }
  std::fill(filled_.begin(), filled_.end(), false);
  next_launch_ = 0;
}

void GradientSynchronizer::zero_grad() {
  if (!views_) {
    for (auto& p : params_) p.mutable_grad() = torch::Tensor();
    return;
  }
  torch::NoGradGuard no_grad;
  for (auto& b : buckets_) b.flat.slice(0, 0, b.elements).zero_();
}

void GradientSynchronizer::mark_defined(Bucket& b, std::size_t slot) {
  b.flat[b.elements + static_cast<std::int64_t>(slot)] = 1;
}

void GradientSynchronizer::on_accumulated(std::int64_t param) {
  auto i = static_cast<size_t>(param);
  auto& b = buckets_[static_cast<size_t>(bucket_of_[i])];
  auto slot = static_cast<size_t>(slot_of_[i]);
  auto& p = params_[i];
  const auto& grad = p.grad();
  if (!grad.defined()) return;
  if (filled_[i]) {
    // A second backward before synchronize (gradient accumulation): .grad now holds
    // the sum, which is what the bucket must carry.
    HARDY_THROW_IF_NOT_MSG(b.works.empty(),
                           "gradient of parameter {} produced again after its bucket was sent: "
                           "call synchronize() after every backward(), or set dist.overlap = false",
                           param);
    if (!aliases_bucket(i, grad)) region(b, slot).copy_(grad.reshape({-1}));
    return;
  }
  if (!aliases_bucket(i, grad)) {
    // The first backward after the gradient was set undefined: copy once, then the
    // gradient becomes the view and later steps accumulate in place.
    region(b, slot).copy_(grad.reshape({-1}));
    if (views_) p.mutable_grad() = bucket_alias(b, slot);
  }
  mark_defined(b, slot);
  filled_[i] = true;
  if (++b.ready == static_cast<std::int64_t>(b.params.size()) && options_.overlap) launch_ready();
}

void GradientSynchronizer::send(Bucket& b) {
  if (options_.grad_dtype == torch::kFloat32) {
    b.works.push_back(comm_->allreduce(b.flat, ReduceOp::Sum));
    stats_.bytes += b.flat.numel() * b.flat.element_size();
    return;
  }
  // Compressed: the gradients in bfloat16, the flags and count exact in float32.
  b.wire = b.flat.slice(0, 0, b.elements).to(torch::kBFloat16);
  auto meta = b.flat.slice(0, b.elements);
  b.works.push_back(comm_->allreduce(b.wire, ReduceOp::Sum));
  b.works.push_back(comm_->allreduce(meta, ReduceOp::Sum));
  stats_.bytes += b.wire.numel() * b.wire.element_size() + meta.numel() * meta.element_size();
}

void GradientSynchronizer::finish(Bucket& b) {
  for (auto& w : b.works) w->wait();
  if (b.wire.defined()) b.flat.slice(0, 0, b.elements).copy_(b.wire);
}

void GradientSynchronizer::launch_ready() {
  while (next_launch_ < buckets_.size() &&
         buckets_[next_launch_].ready == static_cast<std::int64_t>(buckets_[next_launch_].params.size()))
    send(buckets_[next_launch_++]);
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
  torch::NoGradGuard no_grad;
  for (auto& b : buckets_) {
    if (!b.works.empty()) continue;  // already sent by the hooks
    if (!contributes) b.flat[b.flat.numel() - 1] = 0;
    // Gradients the hooks did not see: a parameter this rank did not use, a rank
    // without a batch, or a .grad set by hand. A bucket view the hooks did not see
    // was only cleared, not produced, in this step.
    for (size_t s = 0; s < b.params.size(); ++s) {
      auto i = static_cast<size_t>(b.params[s]);
      if (filled_[i]) {
        if (!contributes) region(b, s).zero_();
        continue;
      }
      const auto& g = params_[i].grad();
      const bool produced = g.defined() && !aliases_bucket(i, g);
      if (produced) mark_defined(b, s);  // consistent over ranks since the last step
      if (contributes && produced)
        region(b, s).copy_(g.reshape({-1}));
      else if (views_)
        region(b, s).zero_();
      filled_[i] = true;
      ++b.ready;
    }
  }
  launch_ready();
  for (auto& b : buckets_) {
    finish(b);
    const auto n = b.elements;
    auto contributors = b.flat[b.flat.numel() - 1].item<double>();
    if (options_.average && contributors > 0) b.flat.slice(0, 0, n).div_(contributors);
    auto defined = b.flat.slice(0, n, n + static_cast<std::int64_t>(b.params.size()))
                       .to(torch::kCPU, torch::kFloat64)
                       .contiguous();
    const double* defined_on = defined.data_ptr<double>();
    for (size_t s = 0; s < b.params.size(); ++s) {
      auto& p = params_[static_cast<size_t>(b.params[s])];
      if (defined_on[s] == 0) {  // undefined on every rank: stays (or becomes) undefined
        if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
        continue;
      }
      auto mean = region(b, s).view(p.sizes());
      if (views_) {
        if (!aliases_bucket(static_cast<size_t>(b.params[s]), p.grad())) p.mutable_grad() = bucket_alias(b, s);
      } else if (p.grad().defined())
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
