// A stage's manifest: what produced the stage's artifacts, so a re-run can skip a
// stage whose inputs are unchanged (docs/pipeline.md, "Run directory, resume").
#pragma once

#include <map>
#include <optional>
#include <string>

namespace hardy {

// A stage is skipped on re-run when its manifest on disk has the same key and
// `complete`.
struct Manifest {
  std::string stage;  // e.g. "teacher"
  std::string key;    // fingerprint (core/fingerprint.h) of everything the output depends on
  bool complete = false;
  std::map<std::string, std::string> info;  // free-form: artifact paths, timings, counts
};

// JSON, written atomically:
//   {"stage": "...", "key": "...", "complete": true, "info": {"name": "value", ...}}
void save_manifest(const std::string& path, const Manifest& m);
// nullopt if the file is missing; RunFileError naming the file if it is corrupt.
std::optional<Manifest> load_manifest(const std::string& path);
// True when the manifest exists, is complete and has `key`. A corrupt manifest
// throws (as load_manifest) rather than silently re-running an expensive stage.
bool manifest_matches(const std::string& path, const std::string& key);

}  // namespace hardy
