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
std::array<FeatureNet, 3> train_feature_nets(const FoldContext& ctx);
std::array<torch::Tensor, 3> refined_features(const FoldContext& ctx, std::array<FeatureNet, 3>* nets);
std::array<torch::Tensor, 3> refine_features(const FoldContext& ctx);

}  // namespace hardy
