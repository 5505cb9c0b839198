// ObjectView adapters for the motion models of models/motion.hpp: for each model, the view
// (state/object_view.hpp) of a state and its Jacobian d view / d x, analytic.
//
//   object_view(model, x) -> ObjectView<N>     view and Jacobian
//   view_vector(model, x) -> ViewVec           view only (what a UKF needs per sigma point)
//   MotionViewTraits<Model>                    kProvides (the components the model estimates),
//                                              kZIndex, kYawIndex: the state index of height
//                                              and heading, -1 if none (used by WithExtent)
//
// What each model provides (everything else is 0 with a zero Jacobian row):
//
//   model             position   velocity                 yaw                yaw_rate
//   CV2D              x y        vx vy                    from velocity (*)  0
//   CV3D              x y z      vx vy vz                 from velocity (*)  0
//   CA2D              x y        vx vy                    from velocity (*)  from v, a (*)
//   CA3D              x y z      vx vy vz                 from velocity (*)  from v, a (*)
//   ConstantTurn      x y        vx vy                    from velocity (*)  omega
//   CTRV, CTRA        x y        v (cos yaw, sin yaw)     yaw                yaw_rate
//   KinematicBicycle  x y        v (cos yaw, sin yaw)     yaw                v tan(steer) / L
//
// No model of motion.hpp has extent; motion/with_extent.hpp adds it (and z, and a yaw state
// for the heading-less models).
//
// (*) Heading-less models. Their yaw is the direction of the ground-plane velocity,
//         yaw = atan2(vy, vx),               d yaw / d (vx, vy) = (-vy, vx) / s^2,
//     with s = |(vx, vy)|, and the yaw rate of a CA model is the turn rate of that direction,
//         yaw_rate = (vx ay - vy ax) / s^2.
//     These derivatives grow as 1/s (1/s^2 for the yaw rate): near standstill a sensor that
//     reads yaw (lidar box, camera box corners) would get an unbounded gain onto the velocity,
//     and the direction of a near-zero velocity is noise anyway. So below
//     kMinHeadingSpeed_mps the heading is treated as unobservable from the state: the yaw
//     value stays atan2(vy, vx) (atan2(0, 0) = 0), the CA yaw rate becomes 0, and both
//     Jacobian rows are ZERO. Above the threshold the Jacobian is exact. The consequence for a
//     filter: a yaw-reading sensor paired with a heading-less model corrects the velocity
//     direction only when the object moves faster than the threshold, and never its speed.
//     A box tracker that needs a heading of parked cars uses WithExtent<CV...>, which carries
//     yaw as its own state.
#pragma once
#include <cmath>

#include "fusion/models/motion.hpp"
#include "fusion/state/object_view.hpp"

namespace fusion {

// Below this ground speed a heading-less model's yaw has a zero Jacobian (see above).
inline constexpr double kMinHeadingSpeed_mps = 0.5;

template <class Motion>
struct MotionViewTraits;  // specialised for every model below

namespace detail {

// yaw (and, given accelerations, yaw rate) of the velocity direction; ivx.. are state indices.
template <int N>
inline void heading_from_velocity(double vx, double vy, int ivx, int ivy, ObjectView<N>& out) {
  out.v(view::YAW) = std::atan2(vy, vx);
  const double s2 = vx * vx + vy * vy;
  if (s2 < kMinHeadingSpeed_mps * kMinHeadingSpeed_mps) return;  // zero rows: unobservable
  out.J(view::YAW, ivx) = -vy / s2;
  out.J(view::YAW, ivy) = vx / s2;
}

// yaw_rate = (vx ay - vy ax) / s^2, the rate of turn of the velocity direction:
//   d/dvx = (ay - 2 vx w) / s^2,  d/dvy = (-ax - 2 vy w) / s^2,
//   d/dax = -vy / s^2,            d/day = vx / s^2.
template <int N>
inline void yaw_rate_from_acceleration(double vx, double vy, double ax, double ay, int ivx,
                                       int ivy, int iax, int iay, ObjectView<N>& out) {
  const double s2 = vx * vx + vy * vy;
  if (s2 < kMinHeadingSpeed_mps * kMinHeadingSpeed_mps) return;  // 0 with zero rows
  const double w = (vx * ay - vy * ax) / s2;
  out.v(view::YAW_RATE) = w;
  out.J(view::YAW_RATE, ivx) = (ay - 2.0 * vx * w) / s2;
  out.J(view::YAW_RATE, ivy) = (-ax - 2.0 * vy * w) / s2;
  out.J(view::YAW_RATE, iax) = -vy / s2;
  out.J(view::YAW_RATE, iay) = vx / s2;
}

// Velocity v (cos yaw, sin yaw) of the heading models:
//   d vx / d (v, yaw) = (cos, -v sin),  d vy / d (v, yaw) = (sin, v cos).
template <int N>
inline void velocity_along_heading(double v, double yaw, int iv, int iyaw, ObjectView<N>& out) {
  const double c = std::cos(yaw), s = std::sin(yaw);
  out.v(view::VX) = v * c;
  out.v(view::VY) = v * s;
  out.v(view::YAW) = yaw;
  out.J(view::VX, iv) = c;
  out.J(view::VX, iyaw) = -v * s;
  out.J(view::VY, iv) = s;
  out.J(view::VY, iyaw) = v * c;
  out.J(view::YAW, iyaw) = 1.0;
}

}  // namespace detail

// ---------------------------------------------------------------- constant velocity
template <int D>
struct MotionViewTraits<ConstantVelocity<D>> {
  static constexpr int kZIndex = D == 3 ? ConstantVelocity<D>::pos(2) : -1;
  static constexpr int kYawIndex = -1;
  static constexpr view::Mask kProvides =
      view::kPositionXY | view::kVelocityXY | view::kHeading |
      (D == 3 ? view::bit(view::PZ) | view::bit(view::VZ) : view::kNone);
};

template <int D>
inline ObjectView<2 * D> object_view(const ConstantVelocity<D>& /*model*/, const Vec<2 * D>& x) {
  using Model = ConstantVelocity<D>;
  ObjectView<2 * D> out;
  for (int a = 0; a < D; ++a) {
    out.v(view::PX + a) = x(Model::pos(a));
    out.v(view::VX + a) = x(Model::vel(a));
    out.J(view::PX + a, Model::pos(a)) = 1.0;
    out.J(view::VX + a, Model::vel(a)) = 1.0;
  }
  detail::heading_from_velocity(x(Model::vel(0)), x(Model::vel(1)), Model::vel(0), Model::vel(1),
                                out);
  return out;
}

// ---------------------------------------------------------------- constant acceleration
template <int D>
struct MotionViewTraits<ConstantAcceleration<D>> {
  static constexpr int kZIndex = D == 3 ? ConstantAcceleration<D>::pos(2) : -1;
  static constexpr int kYawIndex = -1;
  static constexpr view::Mask kProvides =
      view::kPositionXY | view::kVelocityXY | view::kHeading | view::kYawRate |
      (D == 3 ? view::bit(view::PZ) | view::bit(view::VZ) : view::kNone);
};

template <int D>
inline ObjectView<3 * D> object_view(const ConstantAcceleration<D>& /*model*/,
                                     const Vec<3 * D>& x) {
  using Model = ConstantAcceleration<D>;
  ObjectView<3 * D> out;
  for (int a = 0; a < D; ++a) {
    out.v(view::PX + a) = x(Model::pos(a));
    out.v(view::VX + a) = x(Model::vel(a));
    out.J(view::PX + a, Model::pos(a)) = 1.0;
    out.J(view::VX + a, Model::vel(a)) = 1.0;
  }
  const int ivx = Model::vel(0), ivy = Model::vel(1), iax = Model::acc(0), iay = Model::acc(1);
  detail::heading_from_velocity(x(ivx), x(ivy), ivx, ivy, out);
  detail::yaw_rate_from_acceleration(x(ivx), x(ivy), x(iax), x(iay), ivx, ivy, iax, iay, out);
  return out;
}

// ---------------------------------------------------------------- Cartesian constant turn
template <>
struct MotionViewTraits<ConstantTurn> {
  static constexpr int kZIndex = -1;
  static constexpr int kYawIndex = -1;
  static constexpr view::Mask kProvides =
      view::kPositionXY | view::kVelocityXY | view::kHeading | view::kYawRate;
};

// The velocity vector turns at omega, so the yaw rate of its direction is omega exactly.
inline ObjectView<ConstantTurn::N> object_view(const ConstantTurn& /*model*/,
                                               const Vec<ConstantTurn::N>& x) {
  using M = ConstantTurn;
  ObjectView<M::N> out;
  out.v(view::PX) = x(M::X);
  out.v(view::PY) = x(M::Y);
  out.v(view::VX) = x(M::VX);
  out.v(view::VY) = x(M::VY);
  out.v(view::YAW_RATE) = x(M::OMEGA);
  out.J(view::PX, M::X) = out.J(view::PY, M::Y) = 1.0;
  out.J(view::VX, M::VX) = out.J(view::VY, M::VY) = 1.0;
  out.J(view::YAW_RATE, M::OMEGA) = 1.0;
  detail::heading_from_velocity(x(M::VX), x(M::VY), M::VX, M::VY, out);
  return out;
}

// ---------------------------------------------------------------- CTRV, CTRA
template <>
struct MotionViewTraits<CTRV> {
  static constexpr int kZIndex = -1;
  static constexpr int kYawIndex = CTRV::YAW;
  static constexpr view::Mask kProvides =
      view::kPositionXY | view::kVelocityXY | view::kHeading | view::kYawRate;
};
template <>
struct MotionViewTraits<CTRA> {
  static constexpr int kZIndex = -1;
  static constexpr int kYawIndex = CTRA::YAW;
  static constexpr view::Mask kProvides = MotionViewTraits<CTRV>::kProvides;
};

inline ObjectView<CTRV::N> object_view(const CTRV& /*model*/, const Vec<CTRV::N>& x) {
  ObjectView<CTRV::N> out;
  out.v(view::PX) = x(CTRV::X);
  out.v(view::PY) = x(CTRV::Y);
  out.J(view::PX, CTRV::X) = out.J(view::PY, CTRV::Y) = 1.0;
  detail::velocity_along_heading(x(CTRV::V), x(CTRV::YAW), CTRV::V, CTRV::YAW, out);
  out.v(view::YAW_RATE) = x(CTRV::YAW_RATE);
  out.J(view::YAW_RATE, CTRV::YAW_RATE) = 1.0;
  return out;
}

// The acceleration changes the speed over time, not the instantaneous view.
inline ObjectView<CTRA::N> object_view(const CTRA& /*model*/, const Vec<CTRA::N>& x) {
  ObjectView<CTRA::N> out;
  out.v(view::PX) = x(CTRA::X);
  out.v(view::PY) = x(CTRA::Y);
  out.J(view::PX, CTRA::X) = out.J(view::PY, CTRA::Y) = 1.0;
  detail::velocity_along_heading(x(CTRA::V), x(CTRA::YAW), CTRA::V, CTRA::YAW, out);
  out.v(view::YAW_RATE) = x(CTRA::YAW_RATE);
  out.J(view::YAW_RATE, CTRA::YAW_RATE) = 1.0;
  return out;
}

// ---------------------------------------------------------------- kinematic bicycle
template <>
struct MotionViewTraits<KinematicBicycle> {
  static constexpr int kZIndex = -1;
  static constexpr int kYawIndex = KinematicBicycle::YAW;
  static constexpr view::Mask kProvides = MotionViewTraits<CTRV>::kProvides;
};

// yaw_rate = v tan(steer) / L:  d/dv = tan(steer) / L,  d/dsteer = v / (L cos^2(steer)).
inline ObjectView<KinematicBicycle::N> object_view(const KinematicBicycle& model,
                                                   const Vec<KinematicBicycle::N>& x) {
  using M = KinematicBicycle;
  ObjectView<M::N> out;
  out.v(view::PX) = x(M::X);
  out.v(view::PY) = x(M::Y);
  out.J(view::PX, M::X) = out.J(view::PY, M::Y) = 1.0;
  detail::velocity_along_heading(x(M::V), x(M::YAW), M::V, M::YAW, out);
  const double cs = std::cos(x(M::STEER)), L = model.wheelbase_m;
  out.v(view::YAW_RATE) = model.yaw_rate(x);
  out.J(view::YAW_RATE, M::V) = std::tan(x(M::STEER)) / L;
  out.J(view::YAW_RATE, M::STEER) = x(M::V) / (L * cs * cs);
  return out;
}

// ---------------------------------------------------------------- view only
template <class Motion>
inline ViewVec view_vector(const Motion& model, const Vec<Motion::N>& x) {
  return object_view(model, x).v;
}

// ---------------------------------------------------------------- view -> state (track birth)
// state_from_view(model, v): a state whose view reproduces v as far as the model can (the
// inverse of object_view for the components the model estimates), for starting a track from a
// sensor's PartialView. Components the model has but the view cannot give (accelerations, a
// bicycle's steering angle, a CT turn rate) are 0. Heading models take the speed as the
// projection of the view velocity on the view heading, v = vx cos(yaw) + vy sin(yaw) (the
// signed speed along the length axis; 0 for a view without velocity).
template <int D>
inline Vec<2 * D> state_from_view(const ConstantVelocity<D>& /*model*/, const ViewVec& v) {
  using Model = ConstantVelocity<D>;
  Vec<2 * D> x = Vec<2 * D>::Zero();
  for (int a = 0; a < D; ++a) {
    x(Model::pos(a)) = v(view::PX + a);
    x(Model::vel(a)) = v(view::VX + a);
  }
  return x;
}

template <int D>
inline Vec<3 * D> state_from_view(const ConstantAcceleration<D>& /*model*/, const ViewVec& v) {
  using Model = ConstantAcceleration<D>;
  Vec<3 * D> x = Vec<3 * D>::Zero();
  for (int a = 0; a < D; ++a) {
    x(Model::pos(a)) = v(view::PX + a);
    x(Model::vel(a)) = v(view::VX + a);
  }
  return x;
}

inline Vec<ConstantTurn::N> state_from_view(const ConstantTurn& /*model*/, const ViewVec& v) {
  using M = ConstantTurn;
  Vec<M::N> x = Vec<M::N>::Zero();
  x(M::X) = v(view::PX);
  x(M::Y) = v(view::PY);
  x(M::VX) = v(view::VX);
  x(M::VY) = v(view::VY);
  x(M::OMEGA) = v(view::YAW_RATE);
  return x;
}

namespace detail {
inline double speed_along_heading(const ViewVec& v) {
  return v(view::VX) * std::cos(v(view::YAW)) + v(view::VY) * std::sin(v(view::YAW));
}
}  // namespace detail

inline Vec<CTRV::N> state_from_view(const CTRV& /*model*/, const ViewVec& v) {
  Vec<CTRV::N> x = Vec<CTRV::N>::Zero();
  x(CTRV::X) = v(view::PX);
  x(CTRV::Y) = v(view::PY);
  x(CTRV::V) = detail::speed_along_heading(v);
  x(CTRV::YAW) = v(view::YAW);
  x(CTRV::YAW_RATE) = v(view::YAW_RATE);
  return x;
}

inline Vec<CTRA::N> state_from_view(const CTRA& /*model*/, const ViewVec& v) {
  Vec<CTRA::N> x = Vec<CTRA::N>::Zero();
  x(CTRA::X) = v(view::PX);
  x(CTRA::Y) = v(view::PY);
  x(CTRA::V) = detail::speed_along_heading(v);
  x(CTRA::YAW) = v(view::YAW);
  x(CTRA::YAW_RATE) = v(view::YAW_RATE);
  return x;
}

inline Vec<KinematicBicycle::N> state_from_view(const KinematicBicycle& /*model*/,
                                                const ViewVec& v) {
  using M = KinematicBicycle;
  Vec<M::N> x = Vec<M::N>::Zero();
  x(M::X) = v(view::PX);
  x(M::Y) = v(view::PY);
  x(M::V) = detail::speed_along_heading(v);
  x(M::YAW) = v(view::YAW);
  return x;  // steer 0: the yaw rate of a view is not turned into a steering angle
}

}  // namespace fusion
