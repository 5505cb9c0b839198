#include "fusion/sensor/mount.hpp"

#include <Eigen/LU>
#include <cmath>
#include <sstream>
#include <string>

#include "fusion/core/errors.hpp"

namespace fusion::sensor {

namespace {

constexpr double kOrthonormalTol = 1e-6;

std::string fmt(double v) {
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

[[noreturn]] void fail(const char* context, const std::string& what) {
  throw ConfigurationError(std::string(context) + ": " + what);
}

void validate_fov(const FieldOfView& f) {
  const char* ctx = "SensorMount field of view";
  if (!(f.azimuth_half_rad > 0.0 && f.azimuth_half_rad <= kPi))
    fail(ctx, "azimuth_half_rad must be in (0, pi], got " + fmt(f.azimuth_half_rad));
  if (!(f.elevation_half_rad > 0.0 && f.elevation_half_rad <= 0.5 * kPi))
    fail(ctx, "elevation_half_rad must be in (0, pi/2], got " + fmt(f.elevation_half_rad));
  if (!(f.min_range_m >= 0.0 && std::isfinite(f.min_range_m)))
    fail(ctx, "min_range_m must be finite and >= 0, got " + fmt(f.min_range_m));
  if (!(f.max_range_m > f.min_range_m))  // +inf allowed; NaN fails
    fail(ctx, "max_range_m must exceed min_range_m (" + fmt(f.min_range_m) + "), got " +
                  fmt(f.max_range_m));
}

}  // namespace

void validate_rotation(const Mat<3, 3>& R, const char* context) {
  if (!R.allFinite()) fail(context, "rotation has a non-finite entry");
  const double err = (R * R.transpose() - Mat<3, 3>::Identity()).cwiseAbs().maxCoeff();
  if (!(err <= kOrthonormalTol))
    fail(context, "rotation is not orthonormal: max |R R^T - I| = " + fmt(err) + " > 1e-6" +
                      " (scaled or sheared?)");
  const double det = R.determinant();
  if (!(det > 0.0)) fail(context, "rotation is a reflection (det = " + fmt(det) + "), not a proper rotation");
}

SensorMount::SensorMount(const Mat<3, 3>& R, const Vec<3>& t_m, const FieldOfView& fov)
    : R_(R), t_(t_m), fov_(fov) {
  validate_rotation(R, "SensorMount");
  if (!t_m.allFinite()) fail("SensorMount", "translation has a non-finite entry");
  validate_fov(fov);
}

SensorMount SensorMount::from_yaw_pitch_roll(double yaw_rad, double pitch_rad, double roll_rad,
                                             const Vec<3>& t_m, const FieldOfView& fov) {
  const double cy = std::cos(yaw_rad), sy = std::sin(yaw_rad);
  const double cp = std::cos(pitch_rad), sp = std::sin(pitch_rad);
  const double cr = std::cos(roll_rad), sr = std::sin(roll_rad);
  Mat<3, 3> Rz, Ry, Rx;
  Rz << cy, -sy, 0, sy, cy, 0, 0, 0, 1;
  Ry << cp, 0, sp, 0, 1, 0, -sp, 0, cp;
  Rx << 1, 0, 0, 0, cr, -sr, 0, sr, cr;
  return SensorMount(Rz * Ry * Rx, t_m, fov);
}

SensorMount SensorMount::from_pose_matrix(const Mat<3, 4>& T, const FieldOfView& fov) {
  return SensorMount(T.leftCols<3>(), T.col(3), fov);
}

SensorMount SensorMount::from_extrinsic_matrix(const Mat<3, 4>& T, const FieldOfView& fov) {
  // p_s = A p_p + b  =>  p_p = A^T p_s - A^T b (A validated as a rotation first, so that the
  // message names the matrix the caller passed rather than its transpose).
  const Mat<3, 3> A = T.leftCols<3>();
  validate_rotation(A, "SensorMount extrinsic matrix");
  if (!T.col(3).allFinite()) fail("SensorMount extrinsic matrix", "translation has a non-finite entry");
  return SensorMount(A.transpose(), -(A.transpose() * T.col(3)), fov);
}

}  // namespace fusion::sensor
