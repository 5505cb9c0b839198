// Motion registry entry "ctrv_vz_box": CTRV in the ground plane, constant vertical velocity, random-walk extent.
#include "fusion/engine/build_engine.hpp"
#include "fusion/motion/with_vertical_velocity.hpp"

namespace fusion::engine {

std::unique_ptr<EngineBase> make_ctrv_vz_box_engine(const EngineConfig& config) {
  using Base = WithVerticalVelocity<CTRV>;
  return build_engine<WithExtent<Base>>(config, {{"accel_std", &Base::sigma_a}, {"yaw_accel_std", &Base::sigma_yawdd},
                                                 {"vertical_accel_std", &Base::vertical_accel_std}});
}

}  // namespace fusion::engine
