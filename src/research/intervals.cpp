#include "research/intervals.h"

#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"

namespace hardy {
namespace {

void check_layout(const FoldSeedValues& values, std::size_t min_folds, const char* what) {
  HARDY_THROW_IF_NOT_MSG(values.size() >= min_folds, "{} needs at least {} fold(s), got {}", what, min_folds,
                         values.size());
  const std::size_t seeds = values.front().size();
  HARDY_THROW_IF_NOT_MSG(seeds > 0, "{}: fold 0 has no values", what);
  for (std::size_t f = 0; f < values.size(); ++f) {
    HARDY_THROW_IF_NOT_MSG(values[f].size() == seeds, "{}: fold {} has {} seed value(s), fold 0 has {}", what, f,
                           values[f].size(), seeds);
    for (double v : values[f])
      HARDY_THROW_IF_NOT_MSG(std::isfinite(v), "{}: fold {} has a non-finite value ({})", what, f, v);
  }
}

double mean(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }

double sample_sd(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / double(v.size() - 1));
}

std::vector<double> fold_means(const FoldSeedValues& values) {
  std::vector<double> means;
  means.reserve(values.size());
  for (const auto& seeds : values) means.push_back(mean(seeds));
  return means;
}

double t_quantile(double level, double df) {
  return boost::math::quantile(boost::math::students_t(df), 0.5 + level / 2);
}

}  // namespace

MeanStd mean_std(const FoldSeedValues& values) {
  check_layout(values, 1, "mean_std");
  std::vector<double> all;
  for (const auto& seeds : values) all.insert(all.end(), seeds.begin(), seeds.end());
  return {mean(all), sample_sd(all)};
}

Interval fold_t_interval(const FoldSeedValues& values, double level) {
  check_layout(values, 2, "the fold-unit t-interval");
  HARDY_THROW_IF_NOT_MSG(level > 0 && level < 1, "an interval's level must be in (0, 1), got {}", level);
  const auto means = fold_means(values);
  const double m = mean(means);
  const double half = t_quantile(level, double(means.size() - 1)) * sample_sd(means) / std::sqrt(double(means.size()));
  return {m, m - half, m + half};
}

Interval hierarchical_bootstrap(const FoldSeedValues& values, int resamples, double level, std::uint64_t seed) {
  check_layout(values, 1, "the hierarchical bootstrap");
  HARDY_THROW_IF_NOT_MSG(resamples >= 100, "the bootstrap needs at least 100 resamples, got {}", resamples);
  HARDY_THROW_IF_NOT_MSG(level > 0 && level < 1, "an interval's level must be in (0, 1), got {}", level);
  const std::size_t folds = values.size(), seeds = values.front().size();
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> pick_fold(0, folds - 1), pick_seed(0, seeds - 1);
  std::vector<double> stats(static_cast<std::size_t>(resamples));
  for (auto& stat : stats) {
    double sum = 0;
    for (std::size_t f = 0; f < folds; ++f) {
      const auto& fold = values[pick_fold(rng)];
      for (std::size_t s = 0; s < seeds; ++s) sum += fold[pick_seed(rng)];
    }
    stat = sum / double(folds * seeds);
  }
  std::sort(stats.begin(), stats.end());
  // Percentiles by the nearest rank: lowest and highest (1 - level) / 2 cut off.
  const double tail = (1 - level) / 2;
  const auto at = [&](double q) {
    const auto i = static_cast<std::size_t>(std::clamp(std::ceil(q * double(stats.size())) - 1, 0.0,
                                                       double(stats.size() - 1)));
    return stats[i];
  };
  return {mean(fold_means(values)), at(tail), at(1 - tail)};
}

int folds_to_detect(const FoldSeedValues& values, double effect, double level, double power) {
  check_layout(values, 2, "the fold count for a power of detection");
  HARDY_THROW_IF_NOT_MSG(effect != 0, "the effect to detect must not be 0");
  HARDY_THROW_IF_NOT_MSG(power > 0 && power < 1, "power must be in (0, 1), got {}", power);
  const double sd = sample_sd(fold_means(values));
  if (sd == 0) return 0;
  const double z_power = boost::math::quantile(boost::math::normal(), power);
  const double z_level = boost::math::quantile(boost::math::normal(), 0.5 + level / 2);
  // n = ((q_level + q_power) sd / effect)^2 with normal quantiles, then with t
  // quantiles at n - 1 degrees of freedom until n stops changing.
  double n = std::pow((z_level + z_power) * sd / effect, 2);
  for (int iteration = 0; iteration < 50; ++iteration) {
    const double df = std::max(1.0, std::ceil(n) - 1);
    const double t_level = t_quantile(level, df);
    const double t_power = boost::math::quantile(boost::math::students_t(df), power);
    const double next = std::pow((t_level + t_power) * sd / effect, 2);
    if (std::ceil(next) == std::ceil(n)) break;
    n = next;
  }
  return std::max(2, static_cast<int>(std::ceil(n)));
}

}  // namespace hardy
