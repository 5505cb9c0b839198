// Cost "giou_bev": generalised IoU of the bird's-eye-view boxes (assoc::BoxOverlapCost), cost 1 - overlap; gate = the minimum
// overlap, in [-1, 1]. Lidar boxes only. Registered in costs/registry.hpp.
#pragma once
#include "fusion/engine/costs/cost_plugin.hpp"

namespace fusion::engine::costs {

struct GiouBev : BoxOverlapPlugin<geometry::OverlapKind::kGiouBev> {
  static constexpr const char* kKey = "giou_bev";
};

}  // namespace fusion::engine::costs
