// Cost "distance_bev": ground-plane distance [m] of the track's centre and the detection's (by
// the sensor's inverse; assoc::CenterDistanceCost); gate = the maximum distance, > 0. Sensors
// with an inverse. Registered in costs/registry.hpp.
#pragma once
#include "fusion/engine/costs/cost_plugin.hpp"

namespace fusion::engine::costs {

struct DistanceBev : DistancePlugin<true> {
  static constexpr const char* kKey = "distance_bev";
};

}  // namespace fusion::engine::costs
