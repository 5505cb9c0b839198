// CameraPoint: the pixel (u, v) of the object's centre, e.g. a keypoint or the centre of a
// detection the detector reports as a point. The box-centre counterpart of CameraBox2D:
//
//     o = B R^T (p - t),   (u, v) = project(o),   d(u, v)/dp = J_proj B R^T
//
// (pinhole.hpp). Undefined (false) when the centre's depth is <= min_depth_m. No image-bound
// test: the centre of a truncated object may lie outside the image. No inverse (no range).
#pragma once
#include <array>

#include "fusion/core/types.hpp"
#include "fusion/sensor/mount.hpp"
#include "fusion/sensor/pinhole.hpp"
#include "fusion/sensor/sensor_model.hpp"
#include "fusion/state/object_view.hpp"

namespace fusion::sensor {

class CameraPoint {
 public:
  static constexpr int M = 2;
  enum Idx : int { U = 0, V = 1 };
  static constexpr std::array<bool, M> kAngles{};
  static constexpr bool kLinear = false;
  static constexpr view::Mask kReads = view::kPosition;
  static constexpr bool kUsesSensorMotion = false;
  static constexpr bool kHasInverse = false;

  explicit CameraPoint(const PinholeProjection& projection) : proj_(projection) {}

  const PinholeProjection& projection() const { return proj_; }

  template <class Out>
  bool h(const ViewVec& v, const SensorMount& mount, Out&& z) const {
    return proj_.project(optical(v, mount), z);
  }

  bool h(const ViewVec& v, const SensorMount& mount, Vec<M>& z, Mat<M, kViewDim>& H) const {
    Mat<2, 3> Jp;
    if (!proj_.project(optical(v, mount), z, Jp)) return false;
    H.setZero();
    H.block<M, 3>(0, view::PX) = Jp * optical_from_body() * mount.rotation().transpose();
    return true;
  }

  static Vec<M> residual(const Vec<M>& z, const Vec<M>& zhat) { return z - zhat; }

 private:
  static Vec<3> optical(const ViewVec& v, const SensorMount& mount) {
    return optical_from_body() * mount.point_to_sensor(v.segment<3>(view::PX));
  }

  PinholeProjection proj_;
};

}  // namespace fusion::sensor
