// Motion registry entry "ctra_box": constant turn rate and acceleration with a random-walk height and extent.
#include "fusion/engine/build_engine.hpp"

namespace fusion::engine {

std::unique_ptr<EngineBase> make_ctra_box_engine(const EngineConfig& config) {
  return build_engine<WithExtent<CTRA>>(config, {{"jerk_std", &CTRA::sigma_j}, {"yaw_accel_std", &CTRA::sigma_yawdd}});
}

}  // namespace fusion::engine
