// Cost "giou_2d": generalised IoU of the track's projected image box and the camera box
// (assoc::ImageBoxCost), cost 1 - GIoU; gate = the minimum GIoU in [-1, 1]. Camera boxes only.
// Registered in costs/registry.hpp.
#pragma once
#include "fusion/engine/costs/cost_plugin.hpp"

namespace fusion::engine::costs {

struct Giou2d : ImageOverlapPlugin<true> {
  static constexpr const char* kKey = "giou_2d";
};

}  // namespace fusion::engine::costs
