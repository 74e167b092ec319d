// Key padding masks for attention over the utterances of a sequence.
#pragma once

#include <torch/torch.h>

namespace hardy {

// The key padding mask ([B, T] bool, true = do not attend) for modality m:
// `!(real & available[..., m])`, so attention never reads padding or a missing
// modality's zero vector.
//
// A sequence in which no key survives (modality m missing for the whole sequence,
// e.g. audio under condition "t") would give softmax a row of -inf and NaN outputs;
// its row is relaxed to `!real`, i.e. it attends over the (zero-input) real
// utterances, which carry no information about m but keep the numbers finite.
// A row with no real utterance at all (a fully padded sequence) is left unmasked
// for the same reason; its outputs are never read.
torch::Tensor modality_key_padding_mask(const torch::Tensor& real,
                                        const torch::Tensor& available, int modality);

}  // namespace hardy
