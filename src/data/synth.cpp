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
  explicit DialogueGenerator(const SynthOptions& o) : o_(o) {
    for (int m = 0; m < modalities(); ++m)
      patterns_.push_back(class_patterns(o.seed, o.classes, o.dims[static_cast<std::size_t>(m)], m));
  }

  void generate(std::int64_t dialogue, std::int64_t length, CorpusBlock& block) {
    Random rng(o_.seed, static_cast<std::uint64_t>(dialogue) + 1);
    // Two speakers, each with a fixed nuisance offset per modality.
    std::array<PerModality<std::vector<float>>, 2> speaker_offset;
    for (auto& speaker : speaker_offset)
      for (int m = 0; m < modalities(); ++m) {
        const auto dim = o_.dims[static_cast<std::size_t>(m)];
        speaker.emplace_back(static_cast<size_t>(dim));
        double scale = kSpeakerNorm / std::sqrt(static_cast<double>(dim));
        for (auto& v : speaker.back()) v = static_cast<float>(scale * rng.normal());
      }
    block.features.resize(static_cast<std::size_t>(modalities()));
    const std::int8_t fold = static_cast<std::int8_t>(dialogue % o_.folds);
    const std::int64_t decile = dialogue % 10;
    const std::int8_t split = decile < 8 ? kTrain : (decile == 8 ? kValid : kTest);

    int label = static_cast<int>(rng.below(o_.classes));
    int speaker = static_cast<int>(rng.below(2));
    for (std::int64_t u = 0; u < length; ++u) {
      if (u > 0 && rng.uniform() >= kLabelStay) label = static_cast<int>(rng.below(o_.classes));
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
      } else {
        // Sentiment: the latent class is a position on [-3, 3], plus jitter.
        double score = -3.0 + 6.0 * label / (o_.classes - 1) + 0.3 * rng.normal();
        block.label_score.push_back(static_cast<float>(std::clamp(score, -3.0, 3.0)));
      }
      block.sequence.push_back(dialogue);
      block.position.push_back(static_cast<std::int32_t>(u));
      block.split.push_back(split);
      block.fold.push_back(fold);
      block.speaker.push_back(static_cast<std::int32_t>(speaker));
      block.planted_hardness.push_back(mean_hardness);
      block.planted_modality_hardness.insert(block.planted_modality_hardness.end(),
                                             hardness.begin(), hardness.end());
    }
  }

 private:
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
  PerModality<std::vector<std::vector<float>>> patterns_;
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
  spec.modalities = o.modalities;
  spec.dims = o.dims;
  spec.with_split = spec.with_fold = spec.with_speaker = spec.with_planted = true;
  spec.expected_rows = total;
  CorpusWriter writer(o.out, spec);

  // Flush about 32 MiB of features at a time.
  std::int64_t row_floats = 0;
  for (auto d : o.dims) row_floats += d;
  const std::int64_t block_rows = std::max<std::int64_t>(64, (8 << 20) / row_floats);
  DialogueGenerator generator(o);
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
