// Motion registry entry "ca_box": constant acceleration in 3D with a random-walk heading and extent.
#include "fusion/engine/build_engine.hpp"

namespace fusion::engine {

std::unique_ptr<EngineBase> make_ca_box_engine(const EngineConfig& config) {
  return build_engine<WithExtent<CA3D>>(config, {{"jerk_std", &CA3D::sigma_j}});
}

}  // namespace fusion::engine
