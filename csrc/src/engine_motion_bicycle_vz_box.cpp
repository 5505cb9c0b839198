// Motion registry entry "bicycle_vz_box": kinematic bicycle, constant vertical velocity, random-walk extent.
#include "fusion/engine/build_engine.hpp"
#include "fusion/motion/with_vertical_velocity.hpp"

namespace fusion::engine {

std::unique_ptr<EngineBase> make_bicycle_vz_box_engine(const EngineConfig& config) {
  using Base = WithVerticalVelocity<KinematicBicycle>;
  return build_engine<WithExtent<Base>>(config, {{"accel_std", &Base::sigma_a},
                                                 {"steer_rate_std", &Base::sigma_steer_rate},
                                                 {"wheelbase_m", &Base::wheelbase_m},
                                                 {"vertical_accel_std", &Base::vertical_accel_std}});
}

}  // namespace fusion::engine
