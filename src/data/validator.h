// `hardy_dist validate`: checks a corpus against docs/corpus-format.md and lists
// every defect found, each with the first offending row indices. Never throws for
// a defect in the file: even an unreadable file is reported as one defect.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hardy {

struct Defect {
  std::string message;             // what is wrong and where
  std::vector<std::int64_t> rows;  // first offending rows (at most kMaxRows)
  std::int64_t count = 0;          // total offending rows (0 = not row-specific)
  static constexpr std::size_t kMaxRows = 10;
};

struct ValidationReport {
  std::string path;
  std::vector<Defect> defects;
  std::int64_t rows = 0;
  std::int64_t sequences = 0;
  bool ok() const { return defects.empty(); }
  std::string to_text() const;
};

struct ValidateOptions {
  std::vector<std::int64_t> expect_dims;  // [Da, Dt, Dv], empty = any
  std::int64_t scan_rows = 16384;         // rows read per step when scanning features
  bool progress = true;                   // progress lines while scanning
};

ValidationReport validate_corpus(const std::string& path, const ValidateOptions& options = {});

}  // namespace hardy
