// Whole-file reads and crash-safe writes: every artifact, manifest, checkpoint and
// report of the run directory goes through these, so an interrupted run never
// leaves a torn file for the next one to trip over.
#pragma once

#include <string>

namespace hardy {

// Writes `bytes` to `path` atomically: a temp file in the same directory, fsync,
// rename, fsync of the directory. Creates parent directories. A crash leaves either
// the old file or the new one, never a torn one.
void write_file_atomic(const std::string& path, const std::string& bytes);

// The whole file; hardy::Error naming the path if it cannot be read.
std::string read_file(const std::string& path);

// Renames `path` to `<path>.corrupt` (replacing an older one), keeping a damaged file
// for inspection while the run recomputes it. Returns the new name, or "" when
// `path` does not exist (another rank moved it, or it was missing).
std::string move_aside(const std::string& path);

}  // namespace hardy
