// RadarPolar: range [m], azimuth [rad] and range rate [m/s] of a target seen by a 2D radar
// that may be moving.
//
// In the sensor frame (mount.hpp: x boresight, y left, z up), with the sensor's velocity over
// ground v_sensor (ego_motion.hpp) and the target's over-ground velocity v from the view:
//
//     q = [R^T (p - t)]_xy            target position in the sensor's x-y plane
//     w = [R^T (v - v_sensor)]_xy     target velocity relative to the sensor, same plane
//     range      r  = |q|
//     azimuth    az = atan2(q_y, q_x)                 counter-clockwise from boresight
//     range rate rr = q . w / r = u . w,  u = q / r   negative when closing
//
// So a stationary object straight ahead of a radar moving forward at 10 m/s has rr = -10 m/s,
// and one at 90 degrees has rr = 0. Only the TRANSLATIONAL velocity of the sensor origin
// enters (range is invariant to the sensor's rotation), but that velocity includes the lever
// arm: SensorMotion::from_ego gives v_origin + omega x t.
//
// Elevation is ignored: a 2D radar measures in its own x-y plane, so the target is projected
// onto it (the sensor-frame z of the target and of its velocity are dropped). A ground-plane
// motion model (pz = 0) then sees no range bias from the radar's mounting height; for a real
// target at height dz above the sensor plane, the planar range is short of the slant range by
// about dz^2 / (2 r): 5 cm at 10 m for dz = 1 m, under 3 cm beyond 40 m for dz = 1.5 m.
//
// Jacobian (A = first two rows of R^T):
//     dr/dp  = (q^T / r) A                  drr/dp = (w^T / r - rr q^T / r^2) A
//     daz/dp = ((-q_y, q_x) / r^2) A        drr/dv = (q^T / r) A
// Undefined (h returns false) closer than min_range_m, where azimuth and u are undefined.
#pragma once
#include <array>
#include <cmath>

#include "fusion/core/angles.hpp"
#include "fusion/core/types.hpp"
#include "fusion/sensor/ego_motion.hpp"
#include "fusion/sensor/mount.hpp"
#include "fusion/sensor/sensor_model.hpp"
#include "fusion/state/object_view.hpp"

namespace fusion::sensor {

struct RadarPolar {
  static constexpr int M = 3;
  enum Idx : int { RANGE = 0, AZIMUTH = 1, RANGE_RATE = 2 };
  static constexpr std::array<bool, M> kAngles{false, true, false};
  static constexpr bool kLinear = false;
  static constexpr view::Mask kReads = view::kPositionXY | view::kVelocityXY;
  static constexpr bool kUsesSensorMotion = true;
  static constexpr bool kHasInverse = true;

  double min_range_m = 0.1;  // nearer than this the geometry is undefined

  template <class Out>
  bool h(const ViewVec& v, const SensorMount& mount, const SensorMotion& motion, Out&& z) const {
    Vec<2> q, w;
    relative(v, mount, motion, q, w);
    const double r = q.norm();
    if (!(r > min_range_m)) return false;  // also false for NaN
    z(RANGE) = r;
    z(AZIMUTH) = std::atan2(q(1), q(0));
    z(RANGE_RATE) = q.dot(w) / r;
    return true;
  }

  bool h(const ViewVec& v, const SensorMount& mount, const SensorMotion& motion, Vec<M>& z,
         Mat<M, kViewDim>& H) const {
    Vec<2> q, w;
    relative(v, mount, motion, q, w);
    const double r = q.norm();
    if (!(r > min_range_m)) return false;
    const double r2 = r * r, rr = q.dot(w) / r;
    z << r, std::atan2(q(1), q(0)), rr;
    const Mat<2, 3> A = mount.rotation().transpose().topRows<2>();
    Mat<M, 2> dz_dq;  // rows: range, azimuth, range rate
    dz_dq << q(0) / r, q(1) / r,                              //
        -q(1) / r2, q(0) / r2,                                //
        w(0) / r - rr * q(0) / r2, w(1) / r - rr * q(1) / r2;
    H.setZero();
    H.block<M, 3>(0, view::PX) = dz_dq * A;
    H.block<1, 3>(RANGE_RATE, view::VX) = (q.transpose() / r) * A;
    return true;
  }

  static Vec<M> residual(const Vec<M>& z, const Vec<M>& zhat) {
    return wrapped_residual<M>(z, zhat, kAngles);
  }

  // Position in the sensor plane (sensor-frame z = 0, so pz is the sensor's height: unknown).
  // Only the radial velocity is observed: the returned velocity is the minimum-norm one,
  // v = v_sensor + R (rr u, 0), flagged unknown because its tangential part is not measured.
  PartialView inverse(const Vec<M>& z, const SensorMount& mount,
                      const SensorMotion& motion) const {
    const double c = std::cos(z(AZIMUTH)), s = std::sin(z(AZIMUTH));
    PartialView out;
    out.v.segment<3>(view::PX) = mount.point_to_parent(Vec<3>(z(RANGE) * c, z(RANGE) * s, 0.0));
    out.v.segment<3>(view::VX) =
        motion.velocity_mps + mount.vector_to_parent(Vec<3>(z(RANGE_RATE) * c, z(RANGE_RATE) * s, 0.0));
    out.known = view::kPositionXY;
    return out;
  }

 private:
  static void relative(const ViewVec& v, const SensorMount& mount, const SensorMotion& motion,
                       Vec<2>& q, Vec<2>& w) {
    q = mount.point_to_sensor(v.segment<3>(view::PX)).head<2>();
    w = mount.vector_to_sensor(v.segment<3>(view::VX) - motion.velocity_mps).head<2>();
  }
};

}  // namespace fusion::sensor
