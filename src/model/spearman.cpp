#include "model/spearman.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace hardy {

namespace {

std::vector<double> to_doubles(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kCPU, torch::kFloat64).contiguous().reshape({-1});
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// 1-based ranks; tied values share the mean of the ranks they span.
std::vector<double> average_ranks(const std::vector<double>& x) {
  std::vector<std::size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](auto i, auto j) { return x[i] < x[j]; });
  std::vector<double> rank(x.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    for (std::size_t k = i; k <= j; ++k) rank[order[k]] = (i + j) / 2.0 + 1.0;
    i = j + 1;
  }
  return rank;
}

}  // namespace

double spearman(const torch::Tensor& a, const torch::Tensor& b) {
  HARDY_THROW_IF_NOT_MSG(a.sizes() == b.sizes(), "spearman: inputs differ in shape, {} vs {}",
                         c10::str(a.sizes()), c10::str(b.sizes()));
  auto x = to_doubles(a), y = to_doubles(b);
  const std::size_t n = x.size();
  auto has_nan = [](const std::vector<double>& v) {
    return std::any_of(v.begin(), v.end(), [](double d) { return std::isnan(d); });
  };
  if (n < 2 || has_nan(x) || has_nan(y)) return NAN;
  auto rx = average_ranks(x), ry = average_ranks(y);
  const double mean = (n + 1) / 2.0;  // the mean of any average-rank vector
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sxy += (rx[i] - mean) * (ry[i] - mean);
    sxx += (rx[i] - mean) * (rx[i] - mean);
    syy += (ry[i] - mean) * (ry[i] - mean);
  }
  if (sxx == 0 || syy == 0) return NAN;
  return sxy / std::sqrt(sxx * syy);
}

}  // namespace hardy
