// Motion registry entry "cv_point2d": a 2D point target with constant velocity, state
// (px, py, vx, vy) [m, m/s], the discrete white-noise-acceleration Q of ConstantVelocity<2>
// (motion_noise accel_std [m/s^2], default 1). No extent, height or heading state: its view
// (view_adapters.hpp) gives position and velocity in the ground plane (z = 0) and the heading
// of the velocity, so it pairs with point sensors (position2d, position3d at z = 0, radar),
// not with box sensors (lidar_box3d, camera_box2d: a configuration error). The PointTracker
// preset (tracking/point_tracker.hpp) runs on it.
#include "fusion/engine/build_engine.hpp"

namespace fusion::engine {

std::unique_ptr<EngineBase> make_cv_point2d_engine(const EngineConfig& config) {
  return build_engine<CV2D>(config, {{"accel_std", &CV2D::sigma_a}});
}

}  // namespace fusion::engine
