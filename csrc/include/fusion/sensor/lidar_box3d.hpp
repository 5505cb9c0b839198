// LidarBox3D: a 3D box detection (x, y, z, yaw, l, w, h) in the sensor frame, as a lidar
// detector (PointRCNN, PV-RCNN, ...) reports it: centre, heading of the length axis, extent.
//
//     p_s   = R^T (p - t)                         centre in the sensor frame
//     d     = R^T (cos yaw, sin yaw, 0)           the box heading as a sensor-frame vector
//     yaw_s = atan2(d_y, d_x)                     its direction in the sensor's x-y plane
//     l, w, h unchanged
//
// For a level mount (yaw-only R) yaw_s = yaw - mount yaw and d yaw_s / d yaw = 1; a tilted
// mount is handled exactly: d yaw_s / d yaw = (d_x d'_y - d_y d'_x) / (d_x^2 + d_y^2) with
// d' = R^T (-sin yaw, cos yaw, 0). Undefined (false) when the heading is along the sensor's z
// axis (d_x = d_y = 0), which only a sensor rolled or pitched by 90 degrees can see.
//
// Residual: detectors confuse the front and the back of a box, so a yaw residual near +-pi is
// almost always that confusion, not a 180-degree turn between frames. The yaw residual is
// wrapped, and if it exceeds 90 degrees it is turned by pi, so it is never more than 90 degrees:
//     d = wrap(z_yaw - zhat_yaw);  if |d| > pi/2: d = wrap(d + pi)
// (the rule of the box tracker's aligned_yaw, tracking/tracker.cpp). Length and width are not
// swapped: a front/back flip keeps the length axis.
#pragma once
#include <array>
#include <cmath>

#include "fusion/core/angles.hpp"
#include "fusion/core/types.hpp"
#include "fusion/sensor/mount.hpp"
#include "fusion/sensor/sensor_model.hpp"
#include "fusion/state/object_view.hpp"

namespace fusion::sensor {

struct LidarBox3D {
  static constexpr int M = 7;
  enum Idx : int { X = 0, Y = 1, Z = 2, YAW = 3, LENGTH = 4, WIDTH = 5, HEIGHT = 6 };
  static constexpr std::array<bool, M> kAngles{false, false, false, true, false, false, false};
  static constexpr bool kLinear = false;  // linear for a level mount; yaw_s is not for a tilted one
  static constexpr view::Mask kReads = view::kPosition | view::kHeading | view::kExtent;
  static constexpr bool kUsesSensorMotion = false;
  static constexpr bool kHasInverse = true;

  template <class Out>
  bool h(const ViewVec& v, const SensorMount& mount, Out&& z) const {
    const Vec<3> d = heading_in_sensor(v(view::YAW), mount);
    if (!(d.head<2>().squaredNorm() > kMinHeadingNorm2)) return false;
    const Vec<3> p = mount.point_to_sensor(v.segment<3>(view::PX));
    z(X) = p(0);
    z(Y) = p(1);
    z(Z) = p(2);
    // an unrotated mount passes the heading through exactly (atan2(sin, cos) may differ by an ulp)
    z(YAW) = mount.rotation() == Mat<3, 3>::Identity() ? wrap_angle(v(view::YAW)) : std::atan2(d(1), d(0));
    z(LENGTH) = v(view::LENGTH);
    z(WIDTH) = v(view::WIDTH);
    z(HEIGHT) = v(view::HEIGHT);
    return true;
  }

  bool h(const ViewVec& v, const SensorMount& mount, Vec<M>& z, Mat<M, kViewDim>& H) const {
    if (!h(v, mount, z)) return false;
    const double yaw = v(view::YAW);
    const Vec<3> d = heading_in_sensor(yaw, mount);
    const Vec<3> dd = mount.vector_to_sensor(Vec<3>(-std::sin(yaw), std::cos(yaw), 0.0));
    H.setZero();
    H.block<3, 3>(X, view::PX) = mount.rotation().transpose();
    H(YAW, view::YAW) = (d(0) * dd(1) - d(1) * dd(0)) / d.head<2>().squaredNorm();
    H(LENGTH, view::LENGTH) = H(WIDTH, view::WIDTH) = H(HEIGHT, view::HEIGHT) = 1.0;
    return true;
  }

  // z - zhat with the yaw residual wrapped and folded to [-pi/2, pi/2] (front/back flip).
  static Vec<M> residual(const Vec<M>& z, const Vec<M>& zhat) {
    Vec<M> y = z - zhat;
    y(YAW) = flip_aligned_yaw_residual(y(YAW));
    return y;
  }

  // Wrap a yaw difference; if it exceeds 90 degrees, take the box as flipped front to back.
  static double flip_aligned_yaw_residual(double dyaw_rad) {
    double d = wrap_angle(dyaw_rad);
    if (std::abs(d) > 0.5 * kPi) d = wrap_angle(d + kPi);
    return d;
  }

  // Centre, heading and extent known; velocity and yaw rate unknown (0). The heading is the
  // horizontal parent-frame direction whose sensor-frame projection has direction yaw_s:
  //   h = R (cos yaw_s, sin yaw_s, c) with c chosen so that h_z = 0,
  //   c = -(R_20 cos yaw_s + R_21 sin yaw_s) / R_22,
  // so that h(inverse(z)) = z also for a tilted mount (R_22 = 0 only for a sensor on its side).
  PartialView inverse(const Vec<M>& z, const SensorMount& mount) const {
    const Mat<3, 3>& R = mount.rotation();
    const double cs = std::cos(z(YAW)), sn = std::sin(z(YAW));
    const double c = std::abs(R(2, 2)) > 1e-9 ? -(R(2, 0) * cs + R(2, 1) * sn) / R(2, 2) : 0.0;
    const Vec<3> hdg = R * Vec<3>(cs, sn, c);
    PartialView out;
    out.v.segment<3>(view::PX) = mount.point_to_parent(Vec<3>(z(X), z(Y), z(Z)));
    out.v(view::YAW) = R == Mat<3, 3>::Identity() ? wrap_angle(z(YAW)) : std::atan2(hdg(1), hdg(0));
    out.v(view::LENGTH) = z(LENGTH);
    out.v(view::WIDTH) = z(WIDTH);
    out.v(view::HEIGHT) = z(HEIGHT);
    out.known = view::kPosition | view::kHeading | view::kExtent;
    return out;
  }

 private:
  static constexpr double kMinHeadingNorm2 = 1e-12;

  static Vec<3> heading_in_sensor(double yaw, const SensorMount& mount) {
    return mount.vector_to_sensor(Vec<3>(std::cos(yaw), std::sin(yaw), 0.0));
  }
};

}  // namespace fusion::sensor
