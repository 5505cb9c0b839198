// Motion registry entry "bicycle_box": kinematic bicycle with a random-walk height and extent.
#include "fusion/engine/build_engine.hpp"

namespace fusion::engine {

std::unique_ptr<EngineBase> make_bicycle_box_engine(const EngineConfig& config) {
  return build_engine<WithExtent<KinematicBicycle>>(config, {{"accel_std", &KinematicBicycle::sigma_a}, {"steer_rate_std", &KinematicBicycle::sigma_steer_rate}, {"wheelbase_m", &KinematicBicycle::wheelbase_m}});
}

}  // namespace fusion::engine
