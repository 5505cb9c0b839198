// WithVerticalVelocity<Base>: a ground-plane motion model (CTRV, KinematicBicycle, ... of
// motion.hpp: x, y in its state, no height) with a constant-velocity height appended,
//     (base state..., z, vz),   z <- z + vz dt,   vz <- vz,
// so that WithExtent of it (with_extent.hpp, which then appends only l, w, h) is the old box
// tracker's CTRV / bicycle box, whose state carried vz: the engine keys ctrv_vz_box and
// bicycle_vz_box (the Tracker preset's ctrv and bicycle motions).
//
//   F = diag(F_base, [[1, dt], [0, 1]])
//   Q = diag(Q_base, q_vz * [[dt^3/3, dt^2/2], [dt^2/2, dt]])   (white-noise vertical
//       acceleration of spectral density q_vz = vertical_accel_std^2; |dt| for dt < 0)
// The view is the base's with PZ = z and VZ = vz (Jacobian rows 1).
//
// It derives from Base so that Base's noise parameters (sigma_a, wheelbase_m, ...) stay
// addressable as members of the composed model (the motion registry sets them by pointer).
#pragma once
#include <array>
#include <cmath>
#include <cstddef>

#include "fusion/core/types.hpp"
#include "fusion/motion/view_adapters.hpp"
#include "fusion/state/object_view.hpp"

namespace fusion {

namespace detail {
template <class Base, int N>
constexpr std::array<bool, N> with_vz_angles() {
  std::array<bool, N> a{};
  for (std::size_t i = 0; i < Base::kAngles.size(); ++i) a[i] = Base::kAngles[i];
  return a;
}
}  // namespace detail

template <class Base>
struct WithVerticalVelocity : Base {
  static_assert(MotionViewTraits<Base>::kZIndex < 0, "the base model must not have a height");
  static constexpr int kBaseN = Base::N;
  static constexpr int kZ = kBaseN;       // height [m]
  static constexpr int kVz = kBaseN + 1;  // vertical velocity [m/s]
  static constexpr int N = kBaseN + 2;
  static constexpr bool kLinear = Base::kLinear;
  static constexpr std::array<bool, N> kAngles = detail::with_vz_angles<Base, N>();

  double vertical_accel_std = 0.5;  // [m/s^2]

  const Base& base() const { return *this; }

  Vec<N> f(const Vec<N>& x, double dt) const {
    Vec<N> out = x;
    out.template head<kBaseN>() = base().f(x.template head<kBaseN>(), dt);
    out(kZ) = x(kZ) + dt * x(kVz);
    return out;
  }

  Mat<N, N> jacobian(const Vec<N>& x, double dt) const {
    Mat<N, N> F = Mat<N, N>::Identity();
    F.template topLeftCorner<kBaseN, kBaseN>() = base().jacobian(x.template head<kBaseN>(), dt);
    F(kZ, kVz) = dt;
    return F;
  }

  Mat<N, N> Q(const Vec<N>& x, double dt) const {
    Mat<N, N> Qm = Mat<N, N>::Zero();
    Qm.template topLeftCorner<kBaseN, kBaseN>() = base().Q(x.template head<kBaseN>(), dt);
    const double T = std::abs(dt), q = vertical_accel_std * vertical_accel_std;
    Qm(kZ, kZ) = q * T * T * T / 3.0;
    Qm(kZ, kVz) = Qm(kVz, kZ) = q * T * T / 2.0;
    Qm(kVz, kVz) = q * T;
    return Qm;
  }
};

template <class Base>
struct MotionViewTraits<WithVerticalVelocity<Base>> {
  static constexpr int kZIndex = WithVerticalVelocity<Base>::kZ;
  static constexpr int kYawIndex = MotionViewTraits<Base>::kYawIndex;
  static constexpr view::Mask kProvides = MotionViewTraits<Base>::kProvides | view::bit(view::PZ) |
                                          view::bit(view::VZ);
};

template <class Base>
inline ObjectView<WithVerticalVelocity<Base>::N> object_view(const WithVerticalVelocity<Base>& model,
                                                             const Vec<WithVerticalVelocity<Base>::N>& x) {
  using W = WithVerticalVelocity<Base>;
  const ObjectView<W::kBaseN> b = object_view(model.base(), Vec<W::kBaseN>(x.template head<W::kBaseN>()));
  ObjectView<W::N> out;
  out.v = b.v;
  out.J.template leftCols<W::kBaseN>() = b.J;
  out.v(view::PZ) = x(W::kZ);
  out.J(view::PZ, W::kZ) = 1.0;
  out.v(view::VZ) = x(W::kVz);
  out.J(view::VZ, W::kVz) = 1.0;
  return out;
}

// Births: the base's state from the view, then z and vz.
template <class Base>
inline Vec<WithVerticalVelocity<Base>::N> state_from_view(const WithVerticalVelocity<Base>& model,
                                                          const ViewVec& v) {
  using W = WithVerticalVelocity<Base>;
  Vec<W::N> x = Vec<W::N>::Zero();
  x.template head<W::kBaseN>() = state_from_view(model.base(), v);
  x(W::kZ) = v(view::PZ);
  x(W::kVz) = v(view::VZ);
  return x;
}

}  // namespace fusion
