#include "dist/row_layout.h"

#include "core/error.h"

namespace hardy {

std::int64_t elements_per_row(const torch::Tensor& t, const char* what) {
  HARDY_THROW_IF_NOT_MSG(t.dim() >= 1, "{} needs a tensor with a row dimension", what);
  std::int64_t n = 1;
  for (int d = 1; d < t.dim(); ++d) n *= t.size(d);
  return n;
}

std::vector<std::int64_t> row_record(const torch::Tensor& t, std::int64_t rows, const char* what) {
  return {rows, elements_per_row(t, what), static_cast<std::int64_t>(t.scalar_type())};
}

std::vector<std::int64_t> agreed_row_counts(const std::vector<std::int64_t>& records,
                                            const char* what) {
  HARDY_THROW_IF_NOT_MSG(records.size() >= 3 && records.size() % 3 == 0,
                         "{}: malformed row records ({} values)", what, records.size());
  const size_t ranks = records.size() / 3;
  std::vector<std::int64_t> counts(ranks);
  for (size_t r = 0; r < ranks; ++r) {
    const auto* mine = &records[3 * r];
    HARDY_THROW_IF_NOT_MSG(
        mine[1] == records[1] && mine[2] == records[2],
        "{}: rank 0 sends rows of {} elements (type {}), rank {} sends {} elements (type {}); "
        "every rank must send the same row shape",
        what, records[1], c10::toString(static_cast<torch::ScalarType>(records[2])), r, mine[1],
        c10::toString(static_cast<torch::ScalarType>(mine[2])));
    counts[r] = mine[0];
  }
  return counts;
}

torch::Tensor empty_rows_like(const torch::Tensor& like, std::int64_t rows) {
  auto sizes = like.sizes().vec();
  sizes[0] = rows;
  return torch::empty(sizes, like.options());
}

int checked_int_count(std::int64_t n, const char* what) {
  HARDY_THROW_IF_NOT_MSG(n < (std::int64_t{1} << 31),
                         "{} of {} elements exceeds MPI's int counts; use smaller batches", what, n);
  return static_cast<int>(n);
}

}  // namespace hardy
