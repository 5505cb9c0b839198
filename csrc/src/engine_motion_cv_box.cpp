// Motion registry entry "cv_box": constant velocity in 3D with a random-walk heading and extent.
#include "fusion/engine/build_engine.hpp"

namespace fusion::engine {

std::unique_ptr<EngineBase> make_cv_box_engine(const EngineConfig& config) {
  return build_engine<WithExtent<CV3D>>(config, {{"accel_std", &CV3D::sigma_a}});
}

}  // namespace fusion::engine
