// WithExtent<Motion>: any motion model of motion.hpp turned into a 3D box model by appending
// the box components the model lacks, each a random walk.
//
// Appended, in this order, after the base model's own N components:
//   z       [m]    only if the base has no height (every ground-plane model)
//   yaw     [rad]  only if the base has no heading state (CV, CA, ConstantTurn)
//   l w h   [m]    always (no motion model has extent)
//
// So, with the base state first:
//   WithExtent<CV2D>   (x, y, vx, vy,            z, yaw, l, w, h)      N = 9
//   WithExtent<CV3D>   (x, y, z, vx, vy, vz,        yaw, l, w, h)      N = 10
//   WithExtent<CA3D>   (x, y, z, vx, vy, vz, ax, ay, az, yaw, l, w, h) N = 13
//   WithExtent<CTRV>   (x, y, v, yaw, yaw_rate,  z,      l, w, h)      N = 9
//   WithExtent<CTRA>   (x, y, v, yaw, yaw_rate, a, z,    l, w, h)      N = 10
//   WithExtent<KinematicBicycle> (x, y, v, yaw, steer, z, l, w, h)     N = 9
// kZ, kYaw, kLength, kWidth, kHeight give the full-state index of each box component,
// whether it is the base model's own or appended.
//
// The box tracker's 10-state CV box (tracking/box_motion.hpp, order x, y, z, yaw, l, w, h,
// vx, vy, vz) is WithExtent<CV3D> (alias CVBox) with its components permuted:
//   tracker index  0  1  2  3    4  5  6  7   8   9
//   CVBox index    0  1  2  6    7  8  9  3   4   5
// f and F are the same under that permutation (tested); Q differs, because the base model's Q
// is the discrete white-noise-acceleration one, not the tracker's diagonal.
//
// Why a yaw state for the heading-less models: a parked car has a heading but no velocity, so
// a box model cannot take its yaw from the velocity direction (which is what the bare model's
// view does, see view_adapters.hpp). The appended yaw is a random walk: its yaw rate in the view
// is 0, even for ConstantTurn whose velocity turns at omega (use CTRV for a box that turns).
//
// Process noise, block-diagonal:
//   Q = diag(Q_base(x_base, dt),  q_z |dt|, q_yaw |dt|, q_l |dt|, q_w |dt|, q_h |dt|)
// where q_* are random-walk variances per second (ExtentNoise); |dt| keeps Q positive
// semi-definite for a backward (retrodiction) step.
#pragma once
#include <array>
#include <cmath>
#include <cstddef>

#include "fusion/core/angles.hpp"
#include "fusion/core/types.hpp"
#include "fusion/motion/view_adapters.hpp"
#include "fusion/state/object_view.hpp"

namespace fusion {

// Random-walk variance added per second of prediction to each appended component.
// Defaults are tuning starting points, not derived from data.
struct ExtentNoise {
  double z_m2_per_s = 0.05;
  double yaw_rad2_per_s = 0.05;
  double length_m2_per_s = 0.01;
  double width_m2_per_s = 0.01;
  double height_m2_per_s = 0.01;
};

namespace detail {

// kAngles of the composed model: the base's, plus the appended yaw if any. (A namespace-scope
// function: a class cannot call its own constexpr member functions in its member initialisers.)
template <class Motion, int N>
constexpr std::array<bool, N> with_extent_angles(int appended_yaw_index) {
  std::array<bool, N> a{};
  for (std::size_t i = 0; i < Motion::kAngles.size(); ++i) a[i] = Motion::kAngles[i];
  if (appended_yaw_index >= 0) a[static_cast<std::size_t>(appended_yaw_index)] = true;
  return a;
}

}  // namespace detail

template <class Motion>
struct WithExtent {
  using Base = Motion;
  using BaseTraits = MotionViewTraits<Motion>;
  static constexpr int kBaseN = Motion::N;
  static constexpr bool kAppendsZ = BaseTraits::kZIndex < 0;
  static constexpr bool kAppendsYaw = BaseTraits::kYawIndex < 0;

  // Full-state indices of the box components.
  static constexpr int kZ = kAppendsZ ? kBaseN : BaseTraits::kZIndex;
  static constexpr int kYaw = kAppendsYaw ? kBaseN + (kAppendsZ ? 1 : 0) : BaseTraits::kYawIndex;
  static constexpr int kLength = kBaseN + (kAppendsZ ? 1 : 0) + (kAppendsYaw ? 1 : 0);
  static constexpr int kWidth = kLength + 1;
  static constexpr int kHeight = kLength + 2;

  static constexpr int N = kHeight + 1;
  static constexpr bool kLinear = Motion::kLinear;  // the appended random walks are linear
  static constexpr std::array<bool, N> kAngles =
      detail::with_extent_angles<Motion, N>(kAppendsYaw ? kYaw : -1);

  Motion base{};
  ExtentNoise noise{};

  Vec<N> f(const Vec<N>& x, double dt) const {
    Vec<N> out = x;  // the appended components do not move
    out.template head<kBaseN>() = base.f(x.template head<kBaseN>(), dt);
    if constexpr (kAppendsYaw) out(kYaw) = wrap_angle(x(kYaw));
    return out;
  }

  // F = diag(F_base, I).
  Mat<N, N> jacobian(const Vec<N>& x, double dt) const {
    Mat<N, N> F = Mat<N, N>::Identity();
    F.template topLeftCorner<kBaseN, kBaseN>() = base.jacobian(x.template head<kBaseN>(), dt);
    return F;
  }

  Mat<N, N> Q(const Vec<N>& x, double dt) const {
    Mat<N, N> Qm = Mat<N, N>::Zero();
    Qm.template topLeftCorner<kBaseN, kBaseN>() = base.Q(x.template head<kBaseN>(), dt);
    const double T = std::abs(dt);
    if constexpr (kAppendsZ) Qm(kZ, kZ) = noise.z_m2_per_s * T;
    if constexpr (kAppendsYaw) Qm(kYaw, kYaw) = noise.yaw_rad2_per_s * T;
    Qm(kLength, kLength) = noise.length_m2_per_s * T;
    Qm(kWidth, kWidth) = noise.width_m2_per_s * T;
    Qm(kHeight, kHeight) = noise.height_m2_per_s * T;
    return Qm;
  }

  // The base model's view, with height, heading and extent taken from the box components.
  ObjectView<N> view(const Vec<N>& x) const {
    const ObjectView<kBaseN> b = object_view(base, Vec<kBaseN>(x.template head<kBaseN>()));
    ObjectView<N> out;
    out.v = b.v;
    out.J.template leftCols<kBaseN>() = b.J;
    if constexpr (kAppendsZ) {
      out.v(view::PZ) = x(kZ);
      out.J(view::PZ, kZ) = 1.0;
    }
    if constexpr (kAppendsYaw) {  // replaces the velocity direction of the heading-less base
      out.v(view::YAW) = x(kYaw);
      out.J.row(view::YAW).setZero();
      out.J(view::YAW, kYaw) = 1.0;
      out.v(view::YAW_RATE) = 0.0;  // a random walk has no rate
      out.J.row(view::YAW_RATE).setZero();
    }
    out.v(view::LENGTH) = x(kLength);
    out.v(view::WIDTH) = x(kWidth);
    out.v(view::HEIGHT) = x(kHeight);
    out.J(view::LENGTH, kLength) = out.J(view::WIDTH, kWidth) = out.J(view::HEIGHT, kHeight) = 1.0;
    return out;
  }
};

template <class Motion>
struct MotionViewTraits<WithExtent<Motion>> {
  static constexpr int kZIndex = WithExtent<Motion>::kZ;
  static constexpr int kYawIndex = WithExtent<Motion>::kYaw;
  // An appended yaw is a random walk: the base's velocity-derived yaw rate is dropped.
  static constexpr view::Mask kProvides =
      (MotionViewTraits<Motion>::kProvides &
       ~(WithExtent<Motion>::kAppendsYaw ? view::kYawRate : view::kNone)) |
      view::bit(view::PZ) | view::kHeading | view::kExtent;
};

template <class Motion>
inline ObjectView<WithExtent<Motion>::N> object_view(const WithExtent<Motion>& model,
                                                     const Vec<WithExtent<Motion>::N>& x) {
  return model.view(x);
}

// The state of a view (track birth): the base model's state_from_view, then height, heading
// and extent from the view's box components.
template <class Motion>
inline Vec<WithExtent<Motion>::N> state_from_view(const WithExtent<Motion>& model,
                                                  const ViewVec& v) {
  using W = WithExtent<Motion>;
  Vec<W::N> x = Vec<W::N>::Zero();
  x.template head<W::kBaseN>() = state_from_view(model.base, v);
  x(W::kZ) = v(view::PZ);
  x(W::kYaw) = v(view::YAW);
  x(W::kLength) = v(view::LENGTH);
  x(W::kWidth) = v(view::WIDTH);
  x(W::kHeight) = v(view::HEIGHT);
  return x;
}

// The box tracker's constant-velocity box, (x, y, z, vx, vy, vz, yaw, l, w, h).
using CVBox = WithExtent<CV3D>;

}  // namespace fusion
