#include "train/artifacts.h"

#include "core/error.h"
#include "train/file_io.h"
#include "train/run_file_error.h"

#include <filesystem>
#include <sstream>

namespace hardy {

namespace {

std::string archive_bytes(torch::serialize::OutputArchive& archive) {
  std::ostringstream bytes;
  archive.save_to(bytes);
  return bytes.str();
}

// Opens `path` for reading, with a message that says what was actually found.
void open_archive(torch::serialize::InputArchive& archive, const std::string& path, const char* what) {
  if (!std::filesystem::exists(path))
    throw RunFileError(path, fmt::format("{} '{}' is missing, though its stage's manifest says it was written",
                                         what, path));
  try {
    archive.load_from(path, torch::kCPU);
  } catch (const c10::Error& e) {
    throw RunFileError(path, fmt::format("cannot read {} '{}': it is truncated or not a torch archive ({})", what,
                                         path, e.what_without_backtrace()));
  }
}

const char* const kHardnessKinds[] = {"direct_", "indirect_", "unified_"};

}  // namespace

void check_archive(const std::string& path, const char* what) {
  torch::serialize::InputArchive archive;
  open_archive(archive, path, what);
}

void save_tensors(const std::string& path, const TensorMap& tensors) {
  torch::serialize::OutputArchive archive;
  for (const auto& [name, t] : tensors) archive.write(name, t.cpu());
  write_file_atomic(path, archive_bytes(archive));
}

TensorMap load_tensors(const std::string& path, const std::vector<std::string>& names) {
  return load_tensors(path, names, {});
}

TensorMap load_tensors(const std::string& path, const std::vector<std::string>& names,
                       const std::vector<std::string>& optional) {
  torch::serialize::InputArchive archive;
  open_archive(archive, path, "artifact");
  TensorMap out;
  try {
    for (const auto& name : names) archive.read(name, out[name]);
  } catch (const c10::Error& e) {
    throw RunFileError(path, fmt::format("cannot read artifact '{}': it lacks a tensor or holds another kind of "
                                         "archive ({})", path, e.what_without_backtrace()));
  }
  for (const auto& name : optional) {
    torch::Tensor t;
    if (archive.try_read(name, t)) out[name] = t;
  }
  return out;
}

void save_module(const std::string& path, torch::nn::Module& module) {
  torch::serialize::OutputArchive archive;
  module.save(archive);
  write_file_atomic(path, archive_bytes(archive));
}

void load_module(const std::string& path, torch::nn::Module& module) {
  torch::serialize::InputArchive archive;
  open_archive(archive, path, "model");
  try {
    module.load(archive);
  } catch (const c10::Error& e) {
    throw RunFileError(path, fmt::format("cannot read model '{}': it does not match the model's parameters ({})", path,
                                         e.what_without_backtrace()));
  }
}

const std::vector<std::string>& curriculum_tensor_names() {
  static const std::vector<std::string> names = {"query",      "hardness", "size",
                                                 "candidates", "support",  "distance"};
  return names;
}

TensorMap curriculum_to_tensors(const Curriculum& c) {
  return {{"query", c.query},           {"hardness", c.hardness}, {"size", c.size},
          {"candidates", c.candidates}, {"support", c.support},   {"distance", c.distance}};
}

Curriculum curriculum_from_tensors(const TensorMap& t) {
  return Curriculum{t.at("query"),      t.at("hardness"), t.at("size"),
                    t.at("candidates"), t.at("support"),  t.at("distance")};
}

Curriculum map_curriculum(const Curriculum& c, const std::function<torch::Tensor(const torch::Tensor&)>& f) {
  return Curriculum{f(c.query), f(c.hardness), f(c.size), f(c.candidates), f(c.support), f(c.distance)};
}

std::vector<std::string> hardness_tensor_names(const std::vector<std::string>& conditions) {
  std::vector<std::string> names{"rows"};
  for (const auto& c : conditions)
    for (const char* kind : kHardnessKinds) names.push_back(kind + c);
  return names;
}

TensorMap hardness_to_tensors(const HardnessScores& h, const std::vector<std::string>& conditions) {
  TensorMap t{{"rows", h.rows}};
  for (const auto& c : conditions) {
    t["direct_" + c] = h.direct.at(c);
    t["indirect_" + c] = h.indirect.at(c);
    t["unified_" + c] = h.unified.at(c);
  }
  return t;
}

HardnessScores hardness_from_tensors(const TensorMap& t, const std::vector<std::string>& conditions) {
  HardnessScores h;
  h.rows = t.at("rows");
  for (const auto& c : conditions) {
    h.direct[c] = t.at("direct_" + c);
    h.indirect[c] = t.at("indirect_" + c);
    h.unified[c] = t.at("unified_" + c);
  }
  return h;
}

HardnessScores map_hardness(const HardnessScores& h, const std::vector<std::string>& conditions,
                            const std::function<torch::Tensor(const torch::Tensor&)>& f) {
  HardnessScores out;
  out.rows = f(h.rows);
  for (const auto& c : conditions) {
    out.direct[c] = f(h.direct.at(c));
    out.indirect[c] = f(h.indirect.at(c));
    out.unified[c] = f(h.unified.at(c));
  }
  return out;
}

}  // namespace hardy
