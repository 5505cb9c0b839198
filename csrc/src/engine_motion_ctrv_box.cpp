// Motion registry entry "ctrv_box": constant turn rate and velocity with a random-walk height and extent.
#include "fusion/engine/build_engine.hpp"

namespace fusion::engine {

std::unique_ptr<EngineBase> make_ctrv_box_engine(const EngineConfig& config) {
  return build_engine<WithExtent<CTRV>>(config, {{"accel_std", &CTRV::sigma_a}, {"yaw_accel_std", &CTRV::sigma_yawdd}});
}

}  // namespace fusion::engine
