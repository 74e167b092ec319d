// §0 feature refinement (docs/algorithm.md).
#pragma once

#include "model/feature_net.h"
#include "train/fold_context.h"
#include <array>

namespace hardy {

// §0: one FeatureNet per modality trained on the fold's train rows (data-parallel
// when sharded), and the refined features of every row of the table: the nets'
// features, or the raw ones when `nets` is null. Text features are L2-normalised
// either way. refine_features does both (raw when training.finetune_features is off).
PerModality<FeatureNet> train_feature_nets(const FoldContext& ctx);
PerModality<torch::Tensor> refined_features(const FoldContext& ctx, PerModality<FeatureNet>* nets);
PerModality<torch::Tensor> refine_features(const FoldContext& ctx);

}  // namespace hardy
