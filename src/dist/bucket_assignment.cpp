#include "dist/bucket_assignment.h"

#include "core/error.h"

namespace hardy {

std::vector<std::vector<std::int64_t>> assign_buckets(const std::vector<std::int64_t>& bytes,
                                                      const std::vector<std::int64_t>& keys,
                                                      double limit_bytes, double first_limit_bytes) {
  HARDY_THROW_IF_NOT_MSG(bytes.size() == keys.size(), "assign_buckets: {} sizes for {} keys",
                         bytes.size(), keys.size());
  HARDY_THROW_IF_NOT_MSG(limit_bytes > 0 && first_limit_bytes > 0,
                         "assign_buckets: bucket limits must be > 0, got {} and {}", limit_bytes,
                         first_limit_bytes);
  std::vector<std::vector<std::int64_t>> buckets;
  double filled = 0;
  std::int64_t key = 0;
  for (auto i = static_cast<std::int64_t>(bytes.size()) - 1; i >= 0; --i) {
    const auto at = static_cast<size_t>(i);
    const double limit = buckets.size() == 1 ? first_limit_bytes : limit_bytes;
    if (buckets.empty() || filled >= limit || keys[at] != key) {
      buckets.emplace_back();
      filled = 0;
      key = keys[at];
    }
    buckets.back().push_back(i);
    filled += static_cast<double>(bytes[at]);
  }
  return buckets;
}

}  // namespace hardy
