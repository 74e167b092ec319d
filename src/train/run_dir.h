// The run directory's durable pieces: atomic file writes, stage manifests (what
// produced a stage's artifacts, so a re-run can skip it) and epoch checkpoints (so
// an interrupted stage resumes where it stopped). docs/design.md §8.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace hardy {

// Writes `bytes` to `path` atomically: a temp file in the same directory, fsync,
// rename, fsync of the directory. Creates parent directories. A crash leaves either
// the old file or the new one, never a torn one.
void write_file_atomic(const std::string& path, const std::string& bytes);

// The whole file; hardy::Error naming the path if it cannot be read.
std::string read_file(const std::string& path);

// Stable 64-bit FNV-1a hash of `text` as 16 lower-case hex chars. Stable across
// builds and machines (unlike std::hash), so it can key manifests on disk.
std::string fingerprint(const std::string& text);

// A stage's manifest: which inputs/settings produced its artifacts. A stage is
// skipped on re-run when its manifest on disk has the same key and `complete`.
struct Manifest {
  std::string stage;  // e.g. "teacher"
  std::string key;    // fingerprint of everything the stage's output depends on
  bool complete = false;
  std::map<std::string, std::string> info;  // free-form: artifact paths, timings, counts
};

// JSON (a flat object plus the flat object "info"), written atomically.
void save_manifest(const std::string& path, const Manifest& m);
// nullopt if the file is missing; hardy::Error naming the file if it is corrupt.
std::optional<Manifest> load_manifest(const std::string& path);
// True when the manifest exists, is complete and has `key`. A corrupt manifest
// throws (as load_manifest) rather than silently re-running an expensive stage.
bool manifest_matches(const std::string& path, const std::string& key);

// What a checkpoint carries besides the module and optimizer.
struct CheckpointState {
  std::int64_t epoch = 0;
  std::map<std::string, torch::Tensor> extra;  // e.g. metric history, any names
};

// Module parameters and buffers, optimizer state, epoch and extra tensors, in one
// torch archive written atomically.
void save_checkpoint(const std::string& path, torch::nn::Module& module,
                     torch::optim::Optimizer& optimizer, const CheckpointState& state);

// Loads into `module` and `optimizer` and returns the state (extra tensors on the
// module's device); nullopt if the file does not exist. hardy::Error naming the file
// if it is corrupt or its parameters do not match the module's names and shapes; the
// module is left untouched in that case.
std::optional<CheckpointState> load_checkpoint(const std::string& path,
                                               torch::nn::Module& module,
                                               torch::optim::Optimizer& optimizer);

}  // namespace hardy
