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

}  // namespace hardy
