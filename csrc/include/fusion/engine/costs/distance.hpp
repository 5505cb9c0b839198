// Cost "distance": Euclidean distance [m] of the track's centre and the detection's (by the
// sensor's inverse; assoc::CenterDistanceCost); gate = the maximum distance, > 0. Sensors with
// an inverse that measure height. Registered in costs/registry.hpp.
#pragma once
#include "fusion/engine/costs/cost_plugin.hpp"

namespace fusion::engine::costs {

struct Distance : DistancePlugin<false> {
  static constexpr const char* kKey = "distance";
};

}  // namespace fusion::engine::costs
