#include "data/synth.h"

#include "core/error.h"
#include "core/modality.h"
#include "core/progress.h"
#include "data/corpus_writer.h"
#include "data/random.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

namespace hardy {

namespace {

// Norm of the class-pattern component at full strength and signal = 1. The noise
// has unit variance per dimension, so along the pattern direction the
// signal-to-noise ratio is kPatternNorm · signal · strength whatever the dim.
constexpr double kPatternNorm = 3.0;
constexpr double kSpeakerNorm = 1.0;   // per-speaker nuisance offset
constexpr double kMinStrength = 0.15;  // clean strengths are uniform in [0.15, 1]
constexpr double kNoiseFactor = 0.1;   // "noise" modalities keep 10% of their strength
constexpr double kLabelStay = 0.5;     // P(next utterance keeps the previous emotion)
constexpr std::uint64_t kLengthStream = 0xD1A1067ULL;
// Above 2^32, so that they never meet the dialogue streams d + 1.
constexpr std::uint64_t kTargetStream = 0x7A26E7ULL << 32;   // regression: class levels
constexpr std::uint64_t kSpeakerStream = 0x5BEA6E2ULL << 32;  // speaker pool: picks (+ dialogue), voices (^ id)
constexpr double kTargetMin = 1.0, kTargetMax = 7.0;    // MSP-Podcast's rating scale
constexpr double kTargetNoise = 0.5;                    // rating jitter around the class level

// Regression: the level of every target for every hidden class, uniform in [2, 6].
std::vector<std::vector<double>> target_levels(std::uint64_t seed, int classes, std::size_t targets) {
  Random rng(seed, kTargetStream);
  std::vector<std::vector<double>> levels(static_cast<std::size_t>(classes), std::vector<double>(targets));
  for (auto& c : levels)
    for (auto& v : c) v = 2.0 + 4.0 * rng.uniform();
  return levels;
}

// The partition of each dialogue: official-style partitions cut the dialogues in
// order by synth.split_fractions, so the partition sizes are exact; without them,
// train/valid/test by dialogue decile (8/1/1).
// Where partition p of `count` items begins: llround(count · (f_0 + ... + f_{p-1})), and
// `count` for p = the number of partitions. Dialogues and speakers are cut alike.
std::vector<std::int64_t> partition_bounds(const std::vector<double>& fractions, std::int64_t count) {
  std::vector<std::int64_t> bounds{0};
  double cumulative = 0;
  for (std::size_t p = 0; p + 1 < fractions.size(); ++p) {
    cumulative += fractions[p];
    bounds.push_back(std::clamp<std::int64_t>(std::llround(cumulative * static_cast<double>(count)), bounds.back(), count));
  }
  bounds.push_back(count);
  return bounds;
}

std::vector<std::int8_t> dialogue_splits(const SynthOptions& o, std::int64_t dialogues) {
  std::vector<std::int8_t> split(static_cast<std::size_t>(dialogues));
  if (o.split_names.empty()) {
    for (std::int64_t d = 0; d < dialogues; ++d) {
      const std::int64_t decile = d % 10;
      split[static_cast<std::size_t>(d)] = decile < 8 ? kTrain : (decile == 8 ? kValid : kTest);
    }
    return split;
  }
  const auto bounds = partition_bounds(o.split_fractions, dialogues);
  for (std::size_t p = 0; p + 1 < bounds.size(); ++p)
    for (std::int64_t d = bounds[p]; d < bounds[p + 1]; ++d) split[static_cast<std::size_t>(d)] = static_cast<std::int8_t>(p);
  return split;
}

// Unit-norm random directions, one per class and modality: the class patterns.
std::vector<std::vector<float>> class_patterns(std::uint64_t seed, int classes,
                                               std::int64_t dim, int modality) {
  Random rng(seed, 1000003ULL * static_cast<std::uint64_t>(modality + 1));
  std::vector<std::vector<float>> patterns(static_cast<size_t>(classes));
  for (auto& p : patterns) {
    p.resize(static_cast<size_t>(dim));
    double norm = 0;
    for (auto& v : p) {
      v = static_cast<float>(rng.normal());
      norm += static_cast<double>(v) * v;
    }
    norm = std::sqrt(norm);
    for (auto& v : p) v = static_cast<float>(v / norm);
  }
  return patterns;
}

std::vector<std::int64_t> dialogue_lengths(const SynthOptions& o) {
  Random rng(o.seed, kLengthStream);
  auto draw = [&] { return o.min_length + rng.below(o.max_length - o.min_length + 1); };
  std::vector<std::int64_t> lengths;
  if (o.utterances > 0) {
    std::int64_t total = 0;
    while (total < o.utterances) {
      std::int64_t n = std::min(draw(), o.utterances - total);
      lengths.push_back(n);
      total += n;
    }
  } else {
    for (std::int64_t d = 0; d < o.dialogues; ++d) lengths.push_back(draw());
  }
  return lengths;
}

// Writes one dialogue's rows into `block`.
class DialogueGenerator {
 public:
  DialogueGenerator(const SynthOptions& o, std::int64_t dialogues)
      : o_(o), splits_(dialogue_splits(o, dialogues)) {
    for (int m = 0; m < modalities(); ++m)
      patterns_.push_back(class_patterns(o.seed, o.classes, o.dims[static_cast<std::size_t>(m)], m));
    if (o.task == Task::Regression) levels_ = target_levels(o.seed, o.classes, o.targets.size());
    double total = 0;
    for (double w : o.class_prior) prior_cumulative_.push_back(total += w);
    for (auto& c : prior_cumulative_) c /= total;
  }

  void generate(std::int64_t dialogue, std::int64_t length, CorpusBlock& block) {
    Random rng(o_.seed, static_cast<std::uint64_t>(dialogue) + 1);
    const std::int8_t split = splits_[static_cast<std::size_t>(dialogue)];
    // Two speakers, each with a fixed nuisance offset per modality: drawn for this
    // dialogue (ids 0/1), or two voices of the speaker pool (global ids).
    std::array<std::int32_t, 2> speaker_id{0, 1};
    std::array<PerModality<std::vector<float>>, 2> speaker_offset;
    if (o_.speakers == 0) {
      for (auto& speaker : speaker_offset) speaker = draw_voice(rng);
    } else {
      Random pick(o_.seed, kSpeakerStream + static_cast<std::uint64_t>(dialogue));
      auto [first, count] = speaker_range(split);
      for (std::size_t i = 0; i < 2; ++i) {
        // Two different people when the partition has two or more speakers.
        const auto offset = i == 0 || count < 2 ? pick.below(count) : (speaker_id[0] - first + 1 + pick.below(count - 1)) % count;
        speaker_id[i] = static_cast<std::int32_t>(first + offset);
        Random voice(o_.seed, kSpeakerStream ^ (1ULL << 63) ^ static_cast<std::uint64_t>(speaker_id[i]));
        speaker_offset[i] = draw_voice(voice);
      }
    }
    block.features.resize(static_cast<std::size_t>(modalities()));
    const std::int8_t fold = static_cast<std::int8_t>(dialogue % o_.folds);

    int label = draw_class(rng);
    int speaker = static_cast<int>(rng.below(2));
    for (std::int64_t u = 0; u < length; ++u) {
      if (u > 0 && rng.uniform() >= kLabelStay) label = draw_class(rng);
      if (u > 0 && rng.uniform() < 0.7) speaker = 1 - speaker;
      PerModality<float> hardness;
      float sum = 0.0f;
      for (int m = 0; m < modalities(); ++m) {
        const auto i = static_cast<std::size_t>(m);
        hardness.push_back(add_features(rng, m, label, speaker_offset[static_cast<std::size_t>(speaker)][i],
                                        block.features[i]));
        sum += hardness.back();
      }
      float mean_hardness = sum / static_cast<float>(modalities());
      if (o_.task == Task::Classification) {
        block.label_class.push_back(label);
      } else if (o_.task == Task::Regression) {
        for (double level : levels_[static_cast<std::size_t>(label)])
          block.label_score.push_back(
              static_cast<float>(std::clamp(level + kTargetNoise * rng.normal(), kTargetMin, kTargetMax)));
      } else {
        // Sentiment: the latent class is a position on [-3, 3], plus jitter.
        double score = -3.0 + 6.0 * label / (o_.classes - 1) + 0.3 * rng.normal();
        block.label_score.push_back(static_cast<float>(std::clamp(score, -3.0, 3.0)));
      }
      block.sequence.push_back(dialogue);
      block.position.push_back(static_cast<std::int32_t>(u));
      block.split.push_back(split);
      block.fold.push_back(fold);
      block.speaker.push_back(speaker_id[static_cast<std::size_t>(speaker)]);
      block.planted_hardness.push_back(mean_hardness);
      block.planted_modality_hardness.insert(block.planted_modality_hardness.end(),
                                             hardness.begin(), hardness.end());
    }
  }

 private:
  // One speaker's nuisance offset per modality, of norm ~kSpeakerNorm.
  PerModality<std::vector<float>> draw_voice(Random& rng) const {
    PerModality<std::vector<float>> voice;
    for (int m = 0; m < modalities(); ++m) {
      const auto dim = o_.dims[static_cast<std::size_t>(m)];
      voice.emplace_back(static_cast<size_t>(dim));
      double scale = kSpeakerNorm / std::sqrt(static_cast<double>(dim));
      for (auto& v : voice.back()) v = static_cast<float>(scale * rng.normal());
    }
    return voice;
  }

  // The hidden class: uniform, or from synth.class_prior.
  int draw_class(Random& rng) const {
    if (prior_cumulative_.empty()) return static_cast<int>(rng.below(o_.classes));
    const double u = rng.uniform();
    for (std::size_t c = 0; c < prior_cumulative_.size(); ++c)
      if (u < prior_cumulative_[c]) return static_cast<int>(c);
    return o_.classes - 1;
  }

  // The speakers of a partition: the pool is cut in order by the partition
  // fractions, so official-style partitions are speaker-disjoint, as MSP-Podcast's.
  std::pair<std::int64_t, std::int64_t> speaker_range(std::int8_t split) const {
    if (o_.split_names.empty()) return {0, o_.speakers};
    const auto bounds = partition_bounds(o_.split_fractions, o_.speakers);
    const auto p = static_cast<std::size_t>(split);
    return {bounds[p], bounds[p + 1] - bounds[p]};
  }

  // Appends one modality's feature row; returns its planted hardness.
  float add_features(Random& rng, int m, int label, const std::vector<float>& offset,
                     std::vector<float>& out) {
    double strength = kMinStrength + (1.0 - kMinStrength) * rng.uniform();
    double draw = rng.uniform();
    int shown = label;
    double hardness = 1.0 - strength;
    if (draw < o_.conflict_rate) {  // another class's pattern
      shown = static_cast<int>((label + 1 + rng.below(o_.classes - 1)) % o_.classes);
      hardness = 1.0;
    } else if (draw < o_.conflict_rate + o_.noise_rate) {  // near-pure noise
      strength *= kNoiseFactor;
      hardness = 1.0 - strength;
    }
    const auto& pattern = patterns_[static_cast<std::size_t>(m)][static_cast<size_t>(shown)];
    const double amplitude = kPatternNorm * o_.signal * strength;
    for (std::int64_t k = 0; k < o_.dims[static_cast<std::size_t>(m)]; ++k)
      out.push_back(static_cast<float>(amplitude * pattern[k] + offset[k] + rng.normal()));
    return static_cast<float>(hardness);
  }

  int modalities() const { return o_.modalities.size(); }

  const SynthOptions& o_;
  std::vector<std::int8_t> splits_;
  PerModality<std::vector<std::vector<float>>> patterns_;
  std::vector<std::vector<double>> levels_;  // regression: [class][target]
  std::vector<double> prior_cumulative_;     // empty = uniform classes
};

void check_options(const SynthOptions& o) {
  HARDY_THROW_IF_NOT_MSG(o.dialogues >= 1 || o.utterances >= 1,
                         "synth needs at least one dialogue (synth.dialogues) or utterance");
  HARDY_THROW_IF_NOT_MSG(o.min_length >= 1 && o.min_length <= o.max_length,
                         "synth dialogue lengths need 1 <= min_length ({}) <= max_length ({})",
                         o.min_length, o.max_length);
  HARDY_THROW_IF_NOT_MSG(o.classes >= 2, "synth needs at least 2 classes, got {}", o.classes);
  HARDY_THROW_IF_NOT_MSG(o.folds >= 2 && o.folds <= 127, "synth.folds must be in [2, 127], got {}",
                         o.folds);
  HARDY_THROW_IF_NOT_MSG(o.conflict_rate >= 0 && o.noise_rate >= 0 &&
                             o.conflict_rate + o.noise_rate <= 1,
                         "synth.conflict_rate ({}) + synth.noise_rate ({}) must be in [0, 1]",
                         o.conflict_rate, o.noise_rate);
  HARDY_THROW_IF_NOT_MSG(o.dims.size() == static_cast<std::size_t>(o.modalities.size()),
                         "synth.dims lists {} dims for the {} modalities {}: give one per modality",
                         o.dims.size(), o.modalities.size(), o.modalities.describe());
  for (int m = 0; m < o.modalities.size(); ++m)
    HARDY_THROW_IF_NOT_MSG(o.dims[static_cast<std::size_t>(m)] >= 1, "synth dim of {} must be >= 1, got {}",
                           o.modalities.name(m), o.dims[static_cast<std::size_t>(m)]);
  HARDY_THROW_IF_NOT_MSG(o.task != Task::Regression || targets_problem(o.targets, kTargetMin, kTargetMax).empty(),
                         "synth.targets: {}", targets_problem(o.targets, kTargetMin, kTargetMax));
  if (!o.class_prior.empty()) {
    HARDY_THROW_IF_NOT_MSG(o.class_prior.size() == static_cast<std::size_t>(o.classes),
                           "synth.class_prior lists {} weights for {} classes (synth.classes): give one per class",
                           o.class_prior.size(), o.classes);
    double total = 0;
    for (double w : o.class_prior) total += w;
    HARDY_THROW_IF_NOT_MSG(total > 0, "synth.class_prior: the weights must not all be 0");
  }
  HARDY_THROW_IF_NOT_MSG(o.split_names.size() == o.split_fractions.size(),
                         "synth.split_names has {} names but synth.split_fractions {} fractions: give one fraction per "
                         "partition",
                         o.split_names.size(), o.split_fractions.size());
  if (!o.split_names.empty()) {
    HARDY_THROW_IF_NOT_MSG(o.split_names.size() >= 3 && o.split_names.size() <= 127,
                           "synth.split_names needs train, valid and at least one test partition (3 to 127 names), got {}",
                           o.split_names.size());
    double total = 0;
    for (double f : o.split_fractions) total += f;
    HARDY_THROW_IF_NOT_MSG(std::abs(total - 1.0) < 1e-6, "synth.split_fractions must sum to 1, they sum to {}", total);
    if (o.speakers > 0) {
      const auto bounds = partition_bounds(o.split_fractions, o.speakers);
      for (std::size_t p = 0; p + 1 < bounds.size(); ++p)
        HARDY_THROW_IF_NOT_MSG(bounds[p + 1] > bounds[p],
                               "synth.speakers = {} leaves partition '{}' (fraction {}) without speakers of its own; "
                               "raise synth.speakers",
                               o.speakers, o.split_names[p], o.split_fractions[p]);
    }
  }
}

}  // namespace

SynthSummary synthesize_corpus(const SynthOptions& o) {
  check_options(o);
  auto start = std::chrono::steady_clock::now();
  auto lengths = dialogue_lengths(o);
  std::int64_t total = 0;
  for (auto n : lengths) total += n;
  HARDY_THROW_IF_NOT_MSG(static_cast<std::int64_t>(lengths.size()) >= o.folds,
                         "synth would write {} dialogues for {} folds, leaving folds empty: ask "
                         "for more dialogues/utterances or fewer synth.folds",
                         lengths.size(), o.folds);

  CorpusSpec spec;
  spec.name = o.name;
  spec.task = o.task;
  spec.classes = o.task == Task::Classification ? o.classes : 0;
  if (o.task == Task::Regression) {
    spec.targets = o.targets;
    spec.target_min = kTargetMin;
    spec.target_max = kTargetMax;
  }
  spec.split_names = o.split_names;
  spec.modalities = o.modalities;
  spec.dims = o.dims;
  spec.with_split = spec.with_fold = spec.with_speaker = spec.with_planted = true;
  spec.expected_rows = total;
  CorpusWriter writer(o.out, spec);

  // Flush about 32 MiB of features at a time.
  std::int64_t row_floats = 0;
  for (auto d : o.dims) row_floats += d;
  const std::int64_t block_rows = std::max<std::int64_t>(64, (8 << 20) / row_floats);
  DialogueGenerator generator(o, static_cast<std::int64_t>(lengths.size()));
  CorpusBlock block;
  Progress progress("synth", total, "utterances");
  for (std::int64_t d = 0; d < static_cast<std::int64_t>(lengths.size()); ++d) {
    generator.generate(d, lengths[static_cast<size_t>(d)], block);
    if (block.rows() >= block_rows) {
      writer.append(block);
      block.clear();
      if (o.progress) progress.update(writer.rows_written());
    }
  }
  writer.append(block);
  writer.close();
  if (o.progress) {
    progress.update(writer.rows_written());
    progress.finish();
  }
  SynthSummary summary;
  summary.rows = total;
  summary.sequences = static_cast<std::int64_t>(lengths.size());
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace hardy
