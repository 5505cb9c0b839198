// Cost "iou_2d": IoU of the track's projected image box and the camera box
// (assoc::ImageBoxCost), cost 1 - IoU; gate = the minimum IoU in [0, 1]. Camera boxes only.
// Registered in costs/registry.hpp.
#pragma once
#include "fusion/engine/costs/cost_plugin.hpp"

namespace fusion::engine::costs {

struct Iou2d : ImageOverlapPlugin<false> {
  static constexpr const char* kKey = "iou_2d";
};

}  // namespace fusion::engine::costs
