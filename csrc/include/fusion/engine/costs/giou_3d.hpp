// Cost "giou_3d": generalised IoU of the 3D boxes (assoc::BoxOverlapCost), cost 1 - overlap; gate = the minimum
// overlap, in [-1, 1]. Lidar boxes only. Registered in costs/registry.hpp.
#pragma once
#include "fusion/engine/costs/cost_plugin.hpp"

namespace fusion::engine::costs {

struct Giou3d : BoxOverlapPlugin<geometry::OverlapKind::kGiou3d> {
  static constexpr const char* kKey = "giou_3d";
};

}  // namespace fusion::engine::costs
