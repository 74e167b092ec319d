#include "model/options.h"

#include "core/error.h"
#include "core/modality.h"

namespace hardy {

void validate(const ModelOptions& options) {
  HARDY_THROW_IF_NOT_MSG(options.dims.size() == static_cast<std::size_t>(options.modalities.size()),
                         "model: {} feature widths for the {} modalities {}; set dims from the corpus "
                         "metadata",
                         options.dims.size(), options.modalities.size(), options.modalities.describe());
  for (int m = 0; m < modality_count(options); ++m)
    HARDY_THROW_IF_NOT_MSG(options.dims[static_cast<std::size_t>(m)] > 0,
                           "model: the {} feature width must be positive, got {}; set "
                           "dims from the corpus metadata",
                           options.modalities.name(m), options.dims[static_cast<std::size_t>(m)]);
  HARDY_THROW_IF_NOT_MSG(options.hidden > 0, "model.hidden must be positive, got {}",
                         options.hidden);
  HARDY_THROW_IF_NOT_MSG(options.depth > 0, "model.depth must be positive, got {}",
                         options.depth);
  HARDY_THROW_IF_NOT_MSG(options.heads > 0 && options.hidden % options.heads == 0,
                         "model.heads ({}) must be positive and divide model.hidden ({})",
                         options.heads, options.hidden);
  HARDY_THROW_IF_NOT_MSG(options.ff_hidden > 0, "model.ff_hidden must be positive, got {}",
                         options.ff_hidden);
  HARDY_THROW_IF_NOT_MSG(options.decoder_hidden > 0,
                         "model.decoder_hidden must be positive, got {}",
                         options.decoder_hidden);
  HARDY_THROW_IF_NOT_MSG(options.dropout >= 0.0 && options.dropout < 1.0,
                         "model.dropout must be in [0, 1), got {}", options.dropout);
  HARDY_THROW_IF_NOT_MSG(options.outputs > 0,
                         "model outputs must be positive (the class count, or 1 for "
                         "sentiment regression), got {}",
                         options.outputs);
}

}  // namespace hardy
