// Cost "iou_3d": IoU of the 3D boxes (assoc::BoxOverlapCost), cost 1 - overlap; gate = the minimum
// overlap, in [0, 1]. Lidar boxes only. Registered in costs/registry.hpp.
#pragma once
#include "fusion/engine/costs/cost_plugin.hpp"

namespace fusion::engine::costs {

struct Iou3d : BoxOverlapPlugin<geometry::OverlapKind::kIou3d> {
  static constexpr const char* kKey = "iou_3d";
};

}  // namespace fusion::engine::costs
