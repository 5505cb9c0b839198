// The motion of a sensor over ground, for the models whose measurement depends on it (radar
// range-rate: the Doppler of a stationary object seen from a moving car is not zero).
//
// EgoMotion is what odometry or the CAN bus gives: the speed of the vehicle-frame origin along
// its +x axis (no side slip) and the yaw rate about +z. A sensor mounted at lever arm t (its
// origin in the vehicle frame) moves, as a point of a rigid body, with
//
//     v_sensor = v_origin + omega x t = (speed - yaw_rate t_y,  yaw_rate t_x,  0)
//
// expressed in the vehicle frame. Pitch and roll rates are ignored (small for a car).
#pragma once
#include "fusion/core/types.hpp"
#include "fusion/sensor/mount.hpp"

namespace fusion::sensor {

struct EgoMotion {
  double speed_mps = 0.0;     // of the vehicle-frame origin, along +x
  double yaw_rate_rps = 0.0;  // about +z, counter-clockwise positive
};

// Velocity over ground of the sensor origin, in the mount's parent (vehicle) frame [m/s].
// The default is a static sensor.
struct SensorMotion {
  Vec<3> velocity_mps = Vec<3>::Zero();

  static SensorMotion from_ego(const EgoMotion& ego, const SensorMount& mount) {
    const Vec<3>& t = mount.translation_m();
    SensorMotion m;
    m.velocity_mps << ego.speed_mps - ego.yaw_rate_rps * t(1), ego.yaw_rate_rps * t(0), 0.0;
    return m;
  }
};

}  // namespace fusion::sensor
