// The generator streams of the stages: each stage draws from (training.seed, its
// stream, epoch), so stages never share random numbers and a resumed epoch draws
// what the uninterrupted one drew. One list, so no two stages collide.
#pragma once

#include <cstdint>

namespace hardy {

constexpr std::uint64_t kFeatureStream = 100;    // + modality index
constexpr std::uint64_t kTeacherStream = 200;
constexpr std::uint64_t kConditionStream = 300;  // + epoch: teacher stage-2 conditions
constexpr std::uint64_t kStudentStream = 400;
// Controls (train/controls.h), + a hash of the condition's name.
constexpr std::uint64_t kPermuteHardnessStream = 500;
constexpr std::uint64_t kRandomSupportsStream = 600;

// FNV-1a of a condition's name: a stream offset that does not depend on the order of
// data.conditions.
constexpr std::uint64_t condition_stream(const char* name) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (; *name; ++name) h = (h ^ static_cast<unsigned char>(*name)) * 0x100000001b3ULL;
  return h;
}

}  // namespace hardy
