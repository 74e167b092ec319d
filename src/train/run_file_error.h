// A file of the run directory that cannot be used: a manifest, an artifact or a
// checkpoint that is missing where a manifest says it was written, unreadable,
// truncated, or does not match the model. Unless output.strict is set, the pipeline
// moves such a file aside (<file>.corrupt), says what it found and recomputes what the
// file held (docs/operations.md, "Damaged run directories").
#pragma once

#include "core/error.h"

#include <string>

namespace hardy {

class RunFileError : public Error {
 public:
  // `found` says what is wrong with `path`, e.g. "checkpoint 'x' is truncated (...)".
  RunFileError(std::string path, std::string found)
      : Error(found + "; delete it and re-run to recompute it (with output.strict = false, the default, "
                      "hardy_dist moves it aside and recomputes it by itself)"),
        path_(std::move(path)),
        found_(std::move(found)) {}
  const std::string& path() const { return path_; }
  const std::string& found() const { return found_; }

 private:
  std::string path_, found_;
};

}  // namespace hardy
