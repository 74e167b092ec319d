// Which parameters share a gradient bucket (DDP's compute_bucket_assignment_by_size):
// pure logic, so it is unit-tested without MPI.
#pragma once

#include <cstdint>
#include <vector>

namespace hardy {

// Parameters are visited in reverse order (backward produces the last layers'
// gradients first). A parameter starts a new bucket when the current bucket already
// holds `limit_bytes` or more (`first_limit_bytes` for the first bucket, so the first
// allreduce can start early), or when its `key` (dtype and device: what a flat
// buffer can mix) differs from the bucket's. Returns the buckets in launch order,
// each listing its parameter indices in the order they were visited.
std::vector<std::vector<std::int64_t>> assign_buckets(const std::vector<std::int64_t>& bytes,
                                                      const std::vector<std::int64_t>& keys,
                                                      double limit_bytes, double first_limit_bytes);

}  // namespace hardy
