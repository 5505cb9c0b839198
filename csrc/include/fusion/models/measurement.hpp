// Sensor (measurement) models. Each reads only the kinematic point of a state
// (position and velocity, see kinematics.hpp) and gives the predicted measurement h, its
// Jacobian with respect to the kinematic point, and which measurement components are angles
// (their residuals are wrapped to [-pi, pi)). h returns false where the model is undefined
// (target at the radar origin, point behind the camera); the filter then skips the update.
#pragma once
#include <array>
#include <cmath>

#include "fusion/core/angles.hpp"
#include "fusion/core/types.hpp"
#include "fusion/models/kinematics.hpp"

namespace fusion {

// Cartesian position, 2D (x, y) or 3D (x, y, z). Linear.
template <int D>
struct PositionMeasurement {
  static_assert(D == 2 || D == 3, "position measurements are 2D or 3D");
  static constexpr int M = D;
  static constexpr bool kLinear = true;
  static constexpr std::array<bool, M> kAngles{};

  // Value only (no Jacobian): what the UKF needs for each sigma point.
  // z: a Vec<M> or a column of the UKF's sigma-point matrix (written in place).
  template <class Out>
  bool h(const KinVec& k, Out&& z) const {
    for (int a = 0; a < D; ++a) z(a) = k(kPx + a);
    return true;
  }
  bool h(const KinVec& k, Vec<M>& z, Mat<M, kKinDim>& Hk) const {
    Hk.setZero();
    for (int a = 0; a < D; ++a) {
      z(a) = k(kPx + a);
      Hk(a, kPx + a) = 1.0;
    }
    return true;
  }
};

// Radar: range [m], azimuth [rad] and range rate [m/s] of a target seen from a radar at
// (x_m, y_m) in the tracking frame, boresight at yaw_rad. Azimuth is counter-clockwise from
// boresight. Range rate assumes a static sensor (ego-motion compensated upstream).
struct RadarPolar {
  static constexpr int M = 3;
  static constexpr bool kLinear = false;
  static constexpr std::array<bool, M> kAngles{false, true, false};
  enum Idx : int { RANGE = 0, AZIMUTH = 1, RANGE_RATE = 2 };
  double x_m = 0.0, y_m = 0.0, yaw_rad = 0.0;  // mounting pose
  double min_range_m = 1e-3;                   // closer than this the geometry is undefined

  // Value only (no Jacobian): what the UKF needs for each sigma point. z: a Vec<M> or a
  // column of the UKF's sigma-point matrix (written in place).
  template <class Out>
  bool h(const KinVec& k, Out&& z) const {
    const double dx = k(kPx) - x_m, dy = k(kPy) - y_m, vx = k(kVx), vy = k(kVy);
    const double r2 = dx * dx + dy * dy, r = std::sqrt(r2);
    if (!(r > min_range_m)) return false;
    z(RANGE) = r;
    z(AZIMUTH) = wrap_angle(std::atan2(dy, dx) - yaw_rad);
    z(RANGE_RATE) = (dx * vx + dy * vy) / r;
    return true;
  }
  bool h(const KinVec& k, Vec<M>& z, Mat<M, kKinDim>& Hk) const {
    if (!h(k, z)) return false;
    const double dx = k(kPx) - x_m, dy = k(kPy) - y_m, vx = k(kVx), vy = k(kVy);
    const double r2 = dx * dx + dy * dy, r = z(RANGE), r3 = r2 * r;
    Hk.setZero();
    Hk(RANGE, kPx) = dx / r;
    Hk(RANGE, kPy) = dy / r;
    Hk(AZIMUTH, kPx) = -dy / r2;
    Hk(AZIMUTH, kPy) = dx / r2;
    Hk(RANGE_RATE, kPx) = dy * (vx * dy - vy * dx) / r3;
    Hk(RANGE_RATE, kPy) = dx * (vy * dx - vx * dy) / r3;
    Hk(RANGE_RATE, kVx) = dx / r;
    Hk(RANGE_RATE, kVy) = dy / r;
    return true;
  }
};

// Camera: pixel (u, v) of a 3D point through a pinhole camera. p_cam = R_cw p + t_cw, then
// u = fx X/Z + cx, v = fy Y/Z + cy. Two-dimensional motion models give z = 0 (ground plane).
struct CameraPinhole {
  static constexpr int M = 2;
  static constexpr bool kLinear = false;
  static constexpr std::array<bool, M> kAngles{};
  double fx = 1000.0, fy = 1000.0, cx = 640.0, cy = 360.0;  // [px]
  Mat<3, 3> R_cw = Mat<3, 3>::Identity();                 // world -> camera rotation
  Vec<3> t_cw = Vec<3>::Zero();                           // [m]
  double min_depth_m = 1e-3;                               // points nearer (or behind) are invisible

  template <class Out>
  bool h(const KinVec& k, Out&& z) const {
    Mat<M, kKinDim> Hk;  // not worth a separate path: cameras are not on a hot UKF path
    Vec<M> zz;
    if (!h(k, zz, Hk)) return false;
    z = zz;
    return true;
  }
  bool h(const KinVec& k, Vec<M>& z, Mat<M, kKinDim>& Hk) const {
    const Vec<3> p = k.template head<3>();
    const Vec<3> pc = R_cw * p + t_cw;
    const double Z = pc(2);
    if (!(Z > min_depth_m)) return false;
    z(0) = fx * pc(0) / Z + cx;
    z(1) = fy * pc(1) / Z + cy;
    Hk.setZero();
    for (int j = 0; j < 3; ++j) {
      Hk(0, kPx + j) = fx * (R_cw(0, j) / Z - pc(0) * R_cw(2, j) / (Z * Z));
      Hk(1, kPx + j) = fy * (R_cw(1, j) / Z - pc(1) * R_cw(2, j) / (Z * Z));
    }
    return true;
  }
};

using Position2D = PositionMeasurement<2>;
using Position3D = PositionMeasurement<3>;

// z - z_pred with angular components wrapped.
template <class Meas>
inline Vec<Meas::M> measurement_residual(const Vec<Meas::M>& z, const Vec<Meas::M>& zp) {
  Vec<Meas::M> y = z - zp;
  for (int i = 0; i < Meas::M; ++i)
    if (Meas::kAngles[static_cast<std::size_t>(i)]) y(i) = wrap_angle(y(i));
  return y;
}

// Predicted measurement and its Jacobian with respect to the full state (chain rule through
// the kinematic point).
template <class Motion, class Meas>
inline bool predict_measurement(const Motion& motion, const Meas& meas, const Vec<Motion::N>& x,
                                Vec<Meas::M>& z, Mat<Meas::M, Motion::N>& H) {
  const Kinematics<Motion::N> kin = motion.kinematics(x);
  Mat<Meas::M, kKinDim> Hk;
  if (!meas.h(kin.k, z, Hk)) return false;
  H.noalias() = Hk * kin.J;
  return true;
}

}  // namespace fusion
