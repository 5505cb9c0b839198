// State maps for the interacting multiple model (IMM): a Gaussian estimate of a source motion
// model carried into a target model's state space, so that models whose states differ (CV
// 4-state with CTRV 5-state, CV with CA) mix. Same semantics as the Python state maps of
// src/fusion/filters/imm.py (IdentityMap, LinearStateMap, CVToCTRV, CTRVToCV):
//   - the map gives the mean and the linearised covariance J P J^T of the components the
//     source defines;
//   - components the source does not define (CTRV's yaw rate from CV, CA's acceleration from
//     CV, CTRV's heading from a CV state slower than min_speed_mps) are taken from the target
//     model's own current estimate, uncorrelated with the rest ("augment from the target").
//
// One specialisation of ImmStateMap<From, To> per ordered pair; a pair without one does not
// compile (add a map here, then bind the combination in csrc/bindings/register_imm.cpp).
#pragma once
#include <array>
#include <cmath>

#include "fusion/core/types.hpp"
#include "fusion/models/motion.hpp"

namespace fusion {

// Parameters of the state maps (shared by every pair of one IMM).
struct ImmMapOptions {
  // CV -> CTRV: below this speed [m/s] the heading atan2(vy, vx) is undefined and is taken
  // from the CTRV model's own estimate (as CVToCTRV(min_speed=0.1) in Python).
  double min_speed_mps = 0.1;
};

namespace imm_detail {

// Components of the target not defined by the source: mean from the target, covariance block
// from the target, cross-covariances with the defined components zero.
template <int NT>
inline void fill_from_target(const std::array<bool, NT>& defined, const Vec<NT>& xt,
                             const Mat<NT, NT>& Pt, Vec<NT>& xm, Mat<NT, NT>& Pm) {
  for (int a = 0; a < NT; ++a) {
    if (defined[static_cast<std::size_t>(a)]) continue;
    xm(a) = xt(a);
    for (int b = 0; b < NT; ++b) {
      const bool db = defined[static_cast<std::size_t>(b)];
      Pm(a, b) = db ? 0.0 : Pt(a, b);
      Pm(b, a) = db ? 0.0 : Pt(b, a);
    }
  }
}

}  // namespace imm_detail

// Primary template: no map for this pair.
template <class From, class To>
struct ImmStateMap {
  static_assert(sizeof(From) == 0, "no ImmStateMap for this pair of motion models: add one in imm_state_map.hpp");
};

// Same model: identity.
template <class M>
struct ImmStateMap<M, M> {
  static void apply(const ImmMapOptions&, const Vec<M::N>& x, const Mat<M::N, M::N>& P,
                    const Vec<M::N>&, const Mat<M::N, M::N>&, Vec<M::N>& xm, Mat<M::N, M::N>& Pm) {
    xm = x;
    Pm = P;
  }
};

// CV2D (x, y, vx, vy) -> CTRV (x, y, v, yaw, yaw_rate): v = |(vx, vy)|, yaw = atan2(vy, vx),
// covariance through the Jacobian; yaw_rate (and yaw below min_speed_mps) from the target.
template <>
struct ImmStateMap<CV2D, CTRV> {
  static void apply(const ImmMapOptions& opt, const Vec<4>& x, const Mat<4, 4>& P,
                    const Vec<5>& xt, const Mat<5, 5>& Pt, Vec<5>& xm, Mat<5, 5>& Pm) {
    const double px = x(0), py = x(1), vx = x(2), vy = x(3);
    const double v = std::hypot(vx, vy);
    const bool heading = v > opt.min_speed_mps;
    Mat<5, 4> J = Mat<5, 4>::Zero();
    J(0, 0) = J(1, 1) = 1.0;
    if (v > 0.0) {
      J(2, 2) = vx / v;
      J(2, 3) = vy / v;
    }
    if (heading) {
      J(3, 2) = -vy / (v * v);
      J(3, 3) = vx / (v * v);
    }
    xm << px, py, v, v > 0.0 ? std::atan2(vy, vx) : 0.0, 0.0;
    const Mat<5, 4> JP = J * P;
    Pm.noalias() = JP * J.transpose();
    imm_detail::fill_from_target<5>({true, true, true, heading, false}, xt, Pt, xm, Pm);
  }
};

// CTRV (x, y, v, yaw, yaw_rate) -> CV2D (x, y, vx, vy), linearised; every component defined.
template <>
struct ImmStateMap<CTRV, CV2D> {
  static void apply(const ImmMapOptions&, const Vec<5>& x, const Mat<5, 5>& P, const Vec<4>&,
                    const Mat<4, 4>&, Vec<4>& xm, Mat<4, 4>& Pm) {
    const double v = x(2), c = std::cos(x(3)), s = std::sin(x(3));
    Mat<4, 5> J = Mat<4, 5>::Zero();
    J(0, 0) = J(1, 1) = 1.0;
    J(2, 2) = c;
    J(2, 3) = -v * s;
    J(3, 2) = s;
    J(3, 3) = v * c;
    xm << x(0), x(1), v * c, v * s;
    const Mat<4, 5> JP = J * P;
    Pm.noalias() = JP * J.transpose();
  }
};

// CV<D> (positions, velocities) -> CA<D> (positions, velocities, accelerations): the first 2D
// components copied, the accelerations from the target (Python: LinearStateMap(np.eye(6, 4))).
template <int D>
struct ImmStateMap<ConstantVelocity<D>, ConstantAcceleration<D>> {
  static constexpr int NS = 2 * D, NT = 3 * D;
  static void apply(const ImmMapOptions&, const Vec<NS>& x, const Mat<NS, NS>& P, const Vec<NT>& xt,
                    const Mat<NT, NT>& Pt, Vec<NT>& xm, Mat<NT, NT>& Pm) {
    xm.template head<NS>() = x;
    Pm.setZero();
    Pm.template topLeftCorner<NS, NS>() = P;
    std::array<bool, NT> defined{};
    for (int a = 0; a < NS; ++a) defined[static_cast<std::size_t>(a)] = true;
    imm_detail::fill_from_target<NT>(defined, xt, Pt, xm, Pm);
  }
};

// CA<D> -> CV<D>: the accelerations dropped (Python: LinearStateMap(np.eye(4, 6))).
template <int D>
struct ImmStateMap<ConstantAcceleration<D>, ConstantVelocity<D>> {
  static constexpr int NS = 3 * D, NT = 2 * D;
  static void apply(const ImmMapOptions&, const Vec<NS>& x, const Mat<NS, NS>& P, const Vec<NT>&,
                    const Mat<NT, NT>&, Vec<NT>& xm, Mat<NT, NT>& Pm) {
    xm = x.template head<NT>();
    Pm = P.template topLeftCorner<NT, NT>();
  }
};

}  // namespace fusion
