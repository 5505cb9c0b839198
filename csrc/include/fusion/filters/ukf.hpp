// Unscented Kalman filter with Merwe's scaled sigma points (Van der Merwe 2004):
//   lambda = alpha^2 (n + kappa) - n
//   Wm0 = lambda / (n + lambda), Wc0 = Wm0 + 1 - alpha^2 + beta, Wi = 1 / (2 (n + lambda))
//   chi_0 = x, chi_i = x + [sqrt((n + lambda) P)]_i, chi_{n+i} = x - [sqrt((n + lambda) P)]_i
// where [.]_i is column i of the lower Cholesky factor. As in filterpy, the sigma points used
// by an update are drawn afresh from the current (x, P). Angular components are averaged as
// wrapped offsets from the central sigma point, and their residuals are wrapped.
#pragma once
#include <Eigen/Cholesky>
#include <cmath>
#include <type_traits>

#include "fusion/core/angles.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/filters/kalman.hpp"
#include "fusion/models/measurement.hpp"
#include "fusion/models/motion.hpp"

namespace fusion {

struct MerweWeights {
  double alpha = 1e-3, beta = 2.0, kappa = 0.0;
  double lambda = 0.0, wm0 = 0.0, wc0 = 0.0, wi = 0.0;

  static MerweWeights make(int n, double alpha, double beta, double kappa) {
    if (!(alpha > 0.0)) throw ConfigurationError("MerweScaledSigmaPoints: expected alpha > 0");
    MerweWeights w;
    w.alpha = alpha;
    w.beta = beta;
    w.kappa = kappa;
    const double nd = static_cast<double>(n);
    w.lambda = alpha * alpha * (nd + kappa) - nd;
    if (!(nd + w.lambda > 0.0))
      throw ConfigurationError("MerweScaledSigmaPoints: n + lambda must be positive");
    w.wm0 = w.lambda / (nd + w.lambda);
    w.wc0 = w.wm0 + 1.0 - alpha * alpha + beta;
    w.wi = 0.5 / (nd + w.lambda);
    return w;
  }
  double wm(int i) const { return i == 0 ? wm0 : wi; }
  double wc(int i) const { return i == 0 ? wc0 : wi; }
};

// Weighted mean of sigma points (columns). Angular rows are averaged as wrapped offsets from
// the central point, chi_0 + sum_i Wm_i wrap(chi_i - chi_0) (the weights sum to 1): no
// trigonometry, and well conditioned even when Wm_0 is large and negative (small alpha),
// where a weighted sin/cos average cancels catastrophically.
template <int D, int S, std::size_t A>
inline Vec<D> sigma_mean(const Eigen::Matrix<double, D, S>& X, const MerweWeights& w,
                         const std::array<bool, A>& angles) {
  Vec<D> m = Vec<D>::Zero();
  for (int i = 0; i < S; ++i) m += w.wm(i) * X.col(i);
  for (int r = 0; r < D; ++r) {
    if (!angles[static_cast<std::size_t>(r)]) continue;
    double acc = 0.0;
    for (int i = 1; i < S; ++i) acc += w.wm(i) * wrap_angle(X(r, i) - X(r, 0));
    m(r) = wrap_angle(X(r, 0) + acc);
  }
  return m;
}

template <int D, std::size_t A>
inline Vec<D> wrapped_diff(const Vec<D>& a, const Vec<D>& b, const std::array<bool, A>& angles) {
  Vec<D> d = a - b;
  for (int r = 0; r < D; ++r)
    if (angles[static_cast<std::size_t>(r)]) d(r) = wrap_angle(d(r));
  return d;
}

// Sigma points of (x, P) as the columns of a N x (2N+1) matrix. False if P is not SPD.
template <int N, std::size_t A>
inline bool merwe_sigma_points(const Vec<N>& x, const Mat<N, N>& P, const MerweWeights& w,
                               const std::array<bool, A>& angles,
                               Eigen::Matrix<double, N, 2 * N + 1>& X,
                               Mat<N, N>* L_out = nullptr) {
  SmallCholesky<N> chol;  // fixed-size, unrolled; fails where Eigen::LLT would
  const Mat<N, N> scaled = (static_cast<double>(N) + w.lambda) * P;
  if (!chol.compute(scaled)) return false;
  const Mat<N, N>& L = chol.L;  // upper triangle is zero
  if (L_out != nullptr) *L_out = L;
  X.col(0) = x;
  for (int i = 0; i < N; ++i) {
    X.col(1 + i) = x + L.col(i);
    X.col(1 + N + i) = x - L.col(i);
  }
  for (int r = 0; r < N; ++r)
    if (angles[static_cast<std::size_t>(r)])
      for (int i = 0; i < 2 * N + 1; ++i) X(r, i) = wrap_angle(X(r, i));
  return true;
}

// Centred deviations (columns of X minus m, angular rows wrapped), stored row-major so that
// each row is contiguous for the weighted products below.
template <int D, int S, std::size_t A>
inline Eigen::Matrix<double, D, S, Eigen::RowMajor> sigma_deviations(
    const Eigen::Matrix<double, D, S>& X, const Vec<D>& m, const std::array<bool, A>& angles) {
  Eigen::Matrix<double, D, S, Eigen::RowMajor> dev = X.colwise() - m;
  for (int r = 0; r < D; ++r)
    if (angles[static_cast<std::size_t>(r)])
      for (int i = 0; i < S; ++i) dev(r, i) = wrap_angle(dev(r, i));
  return dev;
}

// sum_i Wc_i a_i b_i^T over the sigma points, formed once as (A diag(Wc)) B^T: one small
// product of contiguous rows instead of 2N+1 rank-one updates. With same_ab only the lower
// triangle is computed and mirrored (the result is a covariance).
template <int R, int C, int S>
inline Mat<R, C> weighted_outer(const Eigen::Matrix<double, R, S, Eigen::RowMajor>& Da,
                                const Eigen::Matrix<double, C, S, Eigen::RowMajor>& Db,
                                const MerweWeights& w, bool same_ab) {
  Eigen::Matrix<double, R, S, Eigen::RowMajor> Daw = Da * w.wi;
  Daw.col(0) = Da.col(0) * w.wc0;
  Mat<R, C> out;
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      if (same_ab && c > r) break;
      out(r, c) = Daw.row(r).dot(Db.row(c));
    }
  if (same_ab)
    for (int r = 0; r < R; ++r)
      for (int c = r + 1; c < C; ++c) out(r, c) = out(c, r);
  return out;
}

// sin and cos of centre + d_i (columns 1..N) and centre - d_i (columns N+1..2N) and of the
// centre itself (column 0), by sin(a +- d) = sin a cos d +- cos a sin d: N + 1 sin/cos pairs
// instead of 2N + 1 (equal up to rounding).
template <int N>
inline void sigma_sincos(double centre, const Vec<N>& d, Vec<2 * N + 1>& s, Vec<2 * N + 1>& c) {
  const double s0 = std::sin(centre), c0 = std::cos(centre);
  s(0) = s0;
  c(0) = c0;
  for (int i = 0; i < N; ++i) {
    const double sd = std::sin(d(i)), cd = std::cos(d(i));
    s(1 + i) = s0 * cd + c0 * sd;
    c(1 + i) = c0 * cd - s0 * sd;
    s(1 + N + i) = s0 * cd - c0 * sd;
    c(1 + N + i) = c0 * cd + s0 * sd;
  }
}

// Motion models with a heading (YAW) and turn rate (YAW_RATE) that take their sin/cos from
// outside (f_trig, kinematic_point_trig): the UKF computes those per sigma-point pair.
template <class Motion, class = void>
struct HasHeadingTrig : std::false_type {};
template <class Motion>
struct HasHeadingTrig<Motion, std::void_t<decltype(&Motion::kinematic_point_trig)>>
    : std::true_type {};

// x and P: Vec/Mat or Eigen::Map views into a filter bank (updated in place, and only once
// the step is known to succeed).
template <class Motion, typename XV, typename PM>
inline bool ukf_predict(const Motion& motion, const MerweWeights& w, XV& x, PM& P, double dt) {
  constexpr int N = Motion::N, S = 2 * N + 1;
  Eigen::Matrix<double, N, S> X;
  if constexpr (HasHeadingTrig<Motion>::value) {
    constexpr int YAW = Motion::YAW, RATE = Motion::YAW_RATE;
    Mat<N, N> L;
    if (!merwe_sigma_points<N>(x, P, w, Motion::kAngles, X, &L)) return false;
    // Sigma point i is x +- L.col(i): heading x(YAW) +- L(YAW, i), heading after the step
    // (x(YAW) + x(RATE) dt) +- (L(YAW, i) + L(RATE, i) dt).
    const Vec<N> d0 = L.row(YAW).transpose();
    const Vec<N> d1 = (L.row(YAW) + dt * L.row(RATE)).transpose();
    Vec<S> s0, c0, s1, c1;
    sigma_sincos<N>(x(YAW), d0, s0, c0);
    sigma_sincos<N>(x(YAW) + x(RATE) * dt, d1, s1, c1);
    for (int i = 0; i < S; ++i)
      motion.f_trig(X.col(i), dt, s0(i), c0(i), s1(i), c1(i), X.col(i));
  } else {
    if (!merwe_sigma_points<N>(x, P, w, Motion::kAngles, X)) return false;
    for (int i = 0; i < S; ++i) X.col(i) = motion.f(X.col(i), dt);
  }
  const Vec<N> xm = sigma_mean<N, S>(X, w, Motion::kAngles);
  const auto D = sigma_deviations<N, S>(X, xm, Motion::kAngles);
  Mat<N, N> Pn = weighted_outer<N, N, S>(D, D, w, true);
  Pn += motion.Q(xm, dt);
  symmetrize(Pn);
  if (!all_finite(xm) || !all_finite(Pn)) return false;  // an overflow (a huge dt or state): unchanged
  P = Pn;
  x = xm;
  return true;
}

template <class Motion, class Meas, typename XV, typename PM>
inline UpdateInfo ukf_update(const Motion& motion, const Meas& meas, const MerweWeights& w,
                             XV& x, PM& P, const Vec<Meas::M>& z,
                             const Mat<Meas::M, Meas::M>& R) {
  constexpr int N = Motion::N, M = Meas::M, S = 2 * N + 1;
  UpdateInfo info;
  if (!all_finite(z) || !all_finite(R)) {
    info.status = UpdateStatus::kNonFiniteMeasurement;
    return info;
  }
  Eigen::Matrix<double, N, S> X;
  Mat<N, N> L;
  if (!merwe_sigma_points<N>(x, P, w, Motion::kAngles, X, &L)) {
    info.status = UpdateStatus::kNotPositiveDefinite;
    return info;
  }
  Vec<S> s_yaw, c_yaw;  // sin, cos of the heading of every sigma point (see ukf_predict)
  if constexpr (HasHeadingTrig<Motion>::value)
    sigma_sincos<N>(x(Motion::YAW), L.row(Motion::YAW).transpose(), s_yaw, c_yaw);
  Eigen::Matrix<double, M, S> Z;
  for (int i = 0; i < S; ++i) {
    // Values only: the Jacobians of the kinematic point and of h are not needed here.
    KinVec k;
    if constexpr (HasHeadingTrig<Motion>::value)
      k = motion.kinematic_point_trig(X.col(i), s_yaw(i), c_yaw(i));
    else
      k = motion.kinematic_point(X.col(i));
    if (!meas.h(k, Z.col(i))) {  // written in place: no copy to stall on store forwarding
      info.status = UpdateStatus::kUndefined;
      return info;
    }
  }
  const Vec<M> zm = sigma_mean<M, S>(Z, w, Meas::kAngles);
  const auto DZ = sigma_deviations<M, S>(Z, zm, Meas::kAngles);
  const auto DX = sigma_deviations<N, S>(X, x, Motion::kAngles);
  Mat<M, M> Sm = weighted_outer<M, M, S>(DZ, DZ, w, true);
  Sm += R;
  symmetrize(Sm);
  const Mat<N, M> Pxz = weighted_outer<N, M, S>(DX, DZ, w, false);
  SmallCholesky<M> chol;
  if (!chol.compute(Sm)) {
    info.status = UpdateStatus::kNotPositiveDefinite;
    return info;
  }
  Mat<N, M> K = Pxz;
  chol.solve_rows(K);  // K = Pxz S^-1 by triangular solves
  const Vec<M> y = wrapped_diff<M>(z, zm, Meas::kAngles);
  // NIS and likelihood first: independent work while K's scalar stores retire (see kalman.hpp).
  info.nis = chol.inv_quad(y);  // y^T S^-1 y = |L^-1 y|^2
  info.log_likelihood = -0.5 * (info.nis + chol.log_det() + M * kLog2Pi);
  // P - K S K^T, with K S K^T formed as K Pxz^T (equal since K S = Pxz): one product less.
  // Unlike the Joseph form this can lose positive definiteness (a measurement far outside the
  // sigma points' spread, e.g. a radar return at the sensor's origin): then the filter is left
  // unchanged and the update reported as failed instead of handing out an indefinite P.
  Mat<N, N> Pn = P;
  Pn.noalias() -= K * Pxz.transpose();
  symmetrize(Pn);
  SmallCholesky<N> pchol;
  if (!pchol.compute(Pn)) {
    info.status = UpdateStatus::kNotPositiveDefinite;
    return info;
  }
  x.noalias() += K * y;
  wrap_state<Motion>(x);
  P = Pn;
  return info;
}

}  // namespace fusion
