// SensorMount: where a sensor sits and where it looks. The SE(3) pose of the sensor frame in
// its parent frame (the vehicle frame), plus its field of view.
//
// Frames.
//   parent frame  the vehicle frame: x forward, y left, z up. The views that sensor models read
//                 (state/object_view.hpp) must be expressed in this same frame at the
//                 measurement time; a tracker that runs in a world frame transforms its view
//                 there first (or composes the vehicle pose into the mount).
//   sensor frame  the same body convention for EVERY sensor: x along the boresight, y left,
//                 z up. A camera's optical frame (x right, y down, z forward) is a fixed
//                 rotation of it, applied inside the camera models (sensor/pinhole.hpp), so
//                 that the field of view below means the same thing for every sensor.
//
// The pose maps sensor coordinates to parent coordinates:
//     p_parent = R p_sensor + t,        p_sensor = R^T (p_parent - t),
// so the columns of R are the sensor axes in the parent frame and t is the sensor origin in
// the parent frame [m]. Free vectors (velocities, directions) rotate only: v_s = R^T v_p.
//
// R is validated on construction: finite, orthonormal to 1e-6 (max |R R^T - I|) and det +1,
// else ConfigurationError saying which test failed. R is kept as given (not re-orthonormalised),
// so calibrations such as KITTI's, orthonormal to ~1e-7, reproduce their own projections.
#pragma once
#include <cmath>
#include <limits>

#include "fusion/core/angles.hpp"
#include "fusion/core/types.hpp"

namespace fusion::sensor {

// The region a sensor can detect, in its own frame (boresight +x):
//   azimuth   = atan2(y, x)                 |azimuth|   <= azimuth_half_rad
//   elevation = atan2(z, sqrt(x^2 + y^2))   |elevation| <= elevation_half_rad
//   range     = |p|                          min_range_m <= range <= max_range_m
// The default sees everything. The field of view is used by a tracker (detection probability,
// whether a miss counts); the sensor models' h does not test it.
struct FieldOfView {
  double azimuth_half_rad = kPi;           // in (0, pi]
  double elevation_half_rad = 0.5 * kPi;   // in (0, pi/2]
  double min_range_m = 0.0;                // >= 0
  double max_range_m = std::numeric_limits<double>::infinity();  // > min_range_m
};

class SensorMount {
 public:
  // Identity pose (sensor frame = parent frame), unlimited field of view.
  SensorMount() = default;

  // R: sensor axes in the parent frame; t_m: sensor origin in the parent frame.
  // Throws ConfigurationError if R is not a proper rotation, t is not finite or fov is invalid.
  SensorMount(const Mat<3, 3>& R, const Vec<3>& t_m, const FieldOfView& fov = {});

  // R = Rz(yaw) Ry(pitch) Rx(roll): yaw about the parent z, then pitch about the new y, then
  // roll about the new x (intrinsic z-y'-x''). Positive pitch tilts the boresight DOWN
  // (right-handed rotation about y, which points left).
  static SensorMount from_yaw_pitch_roll(double yaw_rad, double pitch_rad, double roll_rad,
                                         const Vec<3>& t_m, const FieldOfView& fov = {});

  // From a 3x4 [R | t] mapping SENSOR coordinates into PARENT coordinates (a pose).
  static SensorMount from_pose_matrix(const Mat<3, 4>& T_parent_from_sensor,
                                      const FieldOfView& fov = {});

  // From a 3x4 [R | t] mapping PARENT coordinates into SENSOR coordinates (an extrinsic
  // calibration, as KITTI's Tr_velo_to_cam). The mount stores its inverse.
  static SensorMount from_extrinsic_matrix(const Mat<3, 4>& T_sensor_from_parent,
                                           const FieldOfView& fov = {});

  const Mat<3, 3>& rotation() const { return R_; }
  const Vec<3>& translation_m() const { return t_; }
  const FieldOfView& fov() const { return fov_; }

  Vec<3> point_to_sensor(const Vec<3>& p_parent) const { return R_.transpose() * (p_parent - t_); }
  Vec<3> point_to_parent(const Vec<3>& p_sensor) const { return R_ * p_sensor + t_; }
  // Velocities and directions (free vectors): rotation only. A velocity relative to a MOVING
  // sensor is v_target - v_sensor first (see sensor/ego_motion.hpp).
  Vec<3> vector_to_sensor(const Vec<3>& v_parent) const { return R_.transpose() * v_parent; }
  Vec<3> vector_to_parent(const Vec<3>& v_sensor) const { return R_ * v_sensor; }

  // Whether a point given in the parent frame lies in the field of view (bounds inclusive).
  bool in_fov(const Vec<3>& p_parent) const {
    const Vec<3> p = point_to_sensor(p_parent);
    // An unlimited field of view (the default) holds every point that is not NaN: the same
    // answer as the tests below, without their hypot and atan2 calls.
    if (fov_.azimuth_half_rad >= kPi && fov_.elevation_half_rad >= 0.5 * kPi && !(fov_.min_range_m > 0.0) &&
        fov_.max_range_m == std::numeric_limits<double>::infinity())
      return !(std::isnan(p(0)) || std::isnan(p(1)) || std::isnan(p(2)));
    const double rho = std::hypot(p(0), p(1)), range = std::hypot(rho, p(2));
    if (!(range >= fov_.min_range_m && range <= fov_.max_range_m)) return false;  // NaN: false
    if (std::abs(std::atan2(p(1), p(0))) > fov_.azimuth_half_rad) return false;
    return std::abs(std::atan2(p(2), rho)) <= fov_.elevation_half_rad;
  }

 private:
  Mat<3, 3> R_ = Mat<3, 3>::Identity();
  Vec<3> t_ = Vec<3>::Zero();
  FieldOfView fov_{};
};

// Throw ConfigurationError naming the problem ("<context>: rotation is a reflection (det = -1)")
// unless R is a proper rotation: finite, max |R R^T - I| <= 1e-6 and det(R) > 0.
void validate_rotation(const Mat<3, 3>& R, const char* context);

}  // namespace fusion::sensor
