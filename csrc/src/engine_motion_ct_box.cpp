// Motion registry entry "ct_box": Cartesian constant turn with a random-walk height, heading and extent.
#include "fusion/engine/build_engine.hpp"

namespace fusion::engine {

std::unique_ptr<EngineBase> make_ct_box_engine(const EngineConfig& config) {
  return build_engine<WithExtent<ConstantTurn>>(config, {{"accel_std", &ConstantTurn::sigma_a}, {"yaw_accel_std", &ConstantTurn::sigma_yawdd}});
}

}  // namespace fusion::engine
