// Position2D, Position3D: a point detection in the sensor frame (a clustered lidar object, a
// fused-object list entry, a GNSS-tagged target). The target's box centre is moved into the
// sensor frame through the mount,
//
//     p_s = R^T (p - t),      z = p_s            (3D)
//                             z = (p_s.x, p_s.y)  (2D: the sensor-frame height is dropped)
//
// and H = dz/dview = the first D rows of R^T on the position columns: linear in the view.
//
// Position2D reads only x, y of the view when the mount is level; with a tilted mount the
// view's pz enters too (a ground-plane motion model then stands in pz = 0).
#pragma once
#include <array>

#include "fusion/core/types.hpp"
#include "fusion/sensor/mount.hpp"
#include "fusion/sensor/sensor_model.hpp"
#include "fusion/state/object_view.hpp"

namespace fusion::sensor {

template <int D>
struct Position {
  static_assert(D == 2 || D == 3, "position measurements are 2D or 3D");
  static constexpr int M = D;
  enum Idx : int { X = 0, Y = 1, Z = 2 };  // Z only in 3D
  static constexpr std::array<bool, M> kAngles{};
  static constexpr bool kLinear = true;
  static constexpr view::Mask kReads = D == 3 ? view::kPosition : view::kPositionXY;
  static constexpr bool kUsesSensorMotion = false;
  static constexpr bool kHasInverse = true;

  template <class Out>
  bool h(const ViewVec& v, const SensorMount& mount, Out&& z) const {
    const Vec<3> p = mount.point_to_sensor(v.segment<3>(view::PX));
    for (int a = 0; a < D; ++a) z(a) = p(a);
    return true;
  }

  bool h(const ViewVec& v, const SensorMount& mount, Vec<M>& z, Mat<M, kViewDim>& H) const {
    h(v, mount, z);
    H.setZero();
    H.template block<D, 3>(0, view::PX) = mount.rotation().transpose().template topRows<D>();
    return true;
  }

  static Vec<M> residual(const Vec<M>& z, const Vec<M>& zhat) { return z - zhat; }

  // The position, known; in 2D the point is placed at the sensor's height (sensor-frame z = 0)
  // and pz is flagged unknown. Velocity, heading and extent are unknown (0).
  PartialView inverse(const Vec<M>& z, const SensorMount& mount) const {
    Vec<3> p_s = Vec<3>::Zero();
    p_s.template head<D>() = z;
    PartialView out;
    out.v.segment<3>(view::PX) = mount.point_to_parent(p_s);
    out.known = D == 3 ? view::kPosition : view::kPositionXY;
    return out;
  }
};

using Position2D = Position<2>;
using Position3D = Position<3>;

}  // namespace fusion::sensor
