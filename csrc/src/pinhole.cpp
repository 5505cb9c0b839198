#include "fusion/sensor/pinhole.hpp"

#include <Eigen/LU>
#include <cmath>
#include <sstream>
#include <string>

#include "fusion/core/errors.hpp"

namespace fusion::sensor {

namespace {

std::string fmt(double v) {
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

}  // namespace

PinholeProjection::PinholeProjection(const Mat<3, 4>& P, double min_depth_m)
    : P_(P), min_depth_m_(min_depth_m) {
  if (!P.allFinite()) throw ConfigurationError("PinholeProjection: P has a non-finite entry");
  const double scale = P.row(2).head<3>().norm();
  if (!(scale > 0.0))
    throw ConfigurationError("PinholeProjection: the third row of P[:, 0:3] is zero (no depth)");
  P_ /= scale;
  const double det = P_.leftCols<3>().determinant();
  if (!(det > 0.0))
    throw ConfigurationError("PinholeProjection: det(P[:, 0:3]) must be > 0 so that points in "
                             "front of the camera have a positive depth, got " + fmt(det));
  if (!(min_depth_m > 0.0 && std::isfinite(min_depth_m)))
    throw ConfigurationError("PinholeProjection: min_depth_m must be finite and > 0, got " +
                             fmt(min_depth_m));
}

SensorMount camera_mount_from_optical_extrinsic(const Mat<3, 4>& T, const FieldOfView& fov) {
  // o = A p + b and p_body = B^T o  =>  p_body = (B^T A) p + B^T b.
  const Mat<3, 3> Bt = optical_from_body().transpose();
  Mat<3, 4> T_body;
  T_body.leftCols<3>() = Bt * T.leftCols<3>();
  T_body.col(3) = Bt * T.col(3);
  return SensorMount::from_extrinsic_matrix(T_body, fov);
}

}  // namespace fusion::sensor
