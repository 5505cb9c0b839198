// Cost "iou_bev": IoU of the bird's-eye-view boxes (assoc::BoxOverlapCost), cost 1 - overlap; gate = the minimum
// overlap, in [0, 1]. Lidar boxes only. Registered in costs/registry.hpp.
#pragma once
#include "fusion/engine/costs/cost_plugin.hpp"

namespace fusion::engine::costs {

struct IouBev : BoxOverlapPlugin<geometry::OverlapKind::kIouBev> {
  static constexpr const char* kKey = "iou_bev";
};

}  // namespace fusion::engine::costs
