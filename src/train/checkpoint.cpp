#include "train/checkpoint.h"

#include "core/error.h"
#include "core/log.h"
#include "train/file_io.h"
#include "train/run_file_error.h"


#include <filesystem>
#include <sstream>
#include <utility>
#include <vector>

namespace hardy {

namespace fs = std::filesystem;

// Archive layout (format 1): "format", "epoch", "step" (ints; "step" may be absent); for each group in {param,
// buffer, extra}: "<group>/names" (list of strings) and "<group>/<i>" (tensors), so
// names are free-form (torch archive keys are not); "optimizer" (nested archive).

namespace {

constexpr std::int64_t kCheckpointFormat = 1;

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

template <typename Dict>
NamedTensors to_named(const Dict& dict) {
  NamedTensors out;
  for (const auto& item : dict) out.emplace_back(item.key(), item.value());
  return out;
}

void write_group(torch::serialize::OutputArchive& archive, const std::string& group,
                 const NamedTensors& items) {
  c10::List<std::string> names;
  for (std::size_t i = 0; i < items.size(); ++i) {
    names.push_back(items[i].first);
    archive.write(fmt::format("{}/{}", group, i), items[i].second.detach(), /*is_buffer=*/true);
  }
  archive.write(group + "/names", c10::IValue(names));
}

NamedTensors read_group(torch::serialize::InputArchive& archive, const std::string& group) {
  c10::IValue names;
  archive.read(group + "/names", names);
  auto list = names.toList();
  NamedTensors out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    torch::Tensor t;
    archive.read(fmt::format("{}/{}", group, i), t, /*is_buffer=*/true);
    out.emplace_back(list.get(i).toStringRef(), t);
  }
  return out;
}

torch::Device module_device(torch::nn::Module& module) {
  for (const auto& p : module.parameters()) return p.device();
  for (const auto& b : module.buffers()) return b.device();
  return torch::kCPU;
}

// Pairs each model tensor with its saved value; throws unless names, shapes and
// dtypes agree exactly.
std::vector<std::pair<torch::Tensor, torch::Tensor>> match_group(const std::string& path,
                                                                 const char* what,
                                                                 const NamedTensors& model,
                                                                 const NamedTensors& saved) {
  std::map<std::string, torch::Tensor> by_name(saved.begin(), saved.end());
  std::vector<std::pair<torch::Tensor, torch::Tensor>> pairs;
  for (const auto& [name, target] : model) {
    auto it = by_name.find(name);
    if (it == by_name.end())
      throw RunFileError(path, fmt::format("checkpoint '{}' does not match the model (was the model configuration "
                                           "changed?): it has no {} '{}'",
                                           path, what, name));
    const auto& value = it->second;
    if (value.sizes() != target.sizes() || value.scalar_type() != target.scalar_type())
      throw RunFileError(path, fmt::format("checkpoint '{}' does not match the model (was the model configuration "
                                           "changed?): {} '{}' is {} {} in the checkpoint but {} {} in the model",
                                           path, what, name, c10::toString(value.scalar_type()),
                                           c10::str(value.sizes()), c10::toString(target.scalar_type()),
                                           c10::str(target.sizes())));
    pairs.emplace_back(target, value);
    by_name.erase(it);
  }
  if (!by_name.empty())
    throw RunFileError(path, fmt::format("checkpoint '{}' does not match the model (was the model configuration "
                                         "changed?): it has {} '{}' that the model lacks",
                                         path, what, by_name.begin()->first));
  return pairs;
}

[[noreturn]] void corrupt_checkpoint(const std::string& path, const std::string& why) {
  throw RunFileError(path, fmt::format("checkpoint '{}' is corrupt or truncated ({})", path, why));
}

}  // namespace

void save_checkpoint(const std::string& path, torch::nn::Module& module,
                     torch::optim::Optimizer& optimizer, const CheckpointState& state) {
  NamedTensors extra(state.extra.begin(), state.extra.end());
  for (const auto& [name, t] : extra)
    HARDY_THROW_IF_NOT_MSG(t.defined(), "checkpoint '{}': extra tensor '{}' is undefined", path,
                           name);
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(kCheckpointFormat));
  archive.write("epoch", c10::IValue(state.epoch));
  archive.write("step", c10::IValue(state.step));
  write_group(archive, "param", to_named(module.named_parameters(/*recurse=*/true)));
  write_group(archive, "buffer", to_named(module.named_buffers(/*recurse=*/true)));
  write_group(archive, "extra", extra);
  torch::serialize::OutputArchive optimizer_archive(archive.compilation_unit());
  optimizer.save(optimizer_archive);
  archive.write("optimizer", optimizer_archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(path, bytes.str());
  log::debug("checkpoint {} written (epoch {}, step {})", path, state.epoch, state.step);
}

std::optional<CheckpointState> load_checkpoint(const std::string& path,
                                               torch::nn::Module& module,
                                               torch::optim::Optimizer& optimizer) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  const std::string bytes = read_file(path);

  CheckpointState state;
  NamedTensors params, buffers;
  torch::serialize::InputArchive archive, optimizer_archive;
  try {
    archive.load_from(bytes.data(), bytes.size(), module_device(module));
    c10::IValue format, epoch;
    archive.read("format", format);
    if (format.toInt() != kCheckpointFormat)
      corrupt_checkpoint(path, fmt::format("format {}, expected {}", format.toInt(),
                                           kCheckpointFormat));
    archive.read("epoch", epoch);
    state.epoch = epoch.toInt();
    c10::IValue step;
    if (archive.try_read("step", step)) state.step = step.toInt();
    params = read_group(archive, "param");
    buffers = read_group(archive, "buffer");
    for (auto& [name, t] : read_group(archive, "extra")) state.extra[name] = t;
    archive.read("optimizer", optimizer_archive);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    corrupt_checkpoint(path, e.what_without_backtrace());
  } catch (const std::exception& e) {
    corrupt_checkpoint(path, e.what());
  }

  auto pairs = match_group(path, "parameter", to_named(module.named_parameters(true)), params);
  auto buffer_pairs = match_group(path, "buffer", to_named(module.named_buffers(true)), buffers);
  pairs.insert(pairs.end(), buffer_pairs.begin(), buffer_pairs.end());

  // The optimizer first: if its state does not fit, the module stays untouched.
  try {
    optimizer.load(optimizer_archive);
  } catch (const c10::Error& e) {
    throw RunFileError(path, fmt::format("checkpoint '{}': the optimizer state does not match the optimizer (was "
                                         "the training configuration changed?) ({})",
                                         path, e.what_without_backtrace()));
  }
  torch::NoGradGuard no_grad;
  for (auto& [target, value] : pairs) target.copy_(value);
  log::debug("checkpoint {} loaded (epoch {}, step {})", path, state.epoch, state.step);
  return state;
}

}  // namespace hardy
