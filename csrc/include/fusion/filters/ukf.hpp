// Unscented Kalman filter with Merwe's scaled sigma points (Van der Merwe 2004):
//   lambda = alpha^2 (n + kappa) - n
//   Wm0 = lambda / (n + lambda), Wc0 = Wm0 + 1 - alpha^2 + beta, Wi = 1 / (2 (n + lambda))
//   chi_0 = x, chi_i = x + [sqrt((n + lambda) P)]_i, chi_{n+i} = x - [sqrt((n + lambda) P)]_i
// where [.]_i is column i of the lower Cholesky factor. As in filterpy, the sigma points used
// by an update are drawn afresh from the current (x, P). Angular components use circular
// means and wrapped residuals.
#pragma once
#include <Eigen/Cholesky>
#include <cmath>

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

// Weighted mean of sigma points (columns), circular for angular rows.
template <int D, int S, std::size_t A>
inline Vec<D> sigma_mean(const Eigen::Matrix<double, D, S>& X, const MerweWeights& w,
                         const std::array<bool, A>& angles) {
  Vec<D> m = Vec<D>::Zero();
  for (int i = 0; i < S; ++i) m += w.wm(i) * X.col(i);
  for (int r = 0; r < D; ++r) {
    if (!angles[static_cast<std::size_t>(r)]) continue;
    double s = 0.0, c = 0.0;
    for (int i = 0; i < S; ++i) {
      s += w.wm(i) * std::sin(X(r, i));
      c += w.wm(i) * std::cos(X(r, i));
    }
    m(r) = std::atan2(s, c);
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
                               Eigen::Matrix<double, N, 2 * N + 1>& X) {
  const Eigen::LLT<Mat<N, N>> llt((static_cast<double>(N) + w.lambda) * P);
  if (llt.info() != Eigen::Success) return false;
  const Mat<N, N> L = llt.matrixL();
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

template <class Motion>
inline bool ukf_predict(const Motion& motion, const MerweWeights& w, Vec<Motion::N>& x,
                        Mat<Motion::N, Motion::N>& P, double dt) {
  constexpr int N = Motion::N, S = 2 * N + 1;
  Eigen::Matrix<double, N, S> X;
  if (!merwe_sigma_points<N>(x, P, w, Motion::kAngles, X)) return false;
  for (int i = 0; i < S; ++i) X.col(i) = motion.f(X.col(i), dt);
  const Vec<N> xm = sigma_mean<N, S>(X, w, Motion::kAngles);
  Mat<N, N> Pm = Mat<N, N>::Zero();
  for (int i = 0; i < S; ++i) {
    const Vec<N> d = wrapped_diff<N>(X.col(i), xm, Motion::kAngles);
    Pm.noalias() += w.wc(i) * d * d.transpose();
  }
  Pm += motion.Q(xm, dt);
  symmetrize(Pm);
  x = xm;
  P = Pm;
  return true;
}

template <class Motion, class Meas>
inline UpdateInfo ukf_update(const Motion& motion, const Meas& meas, const MerweWeights& w,
                             Vec<Motion::N>& x, Mat<Motion::N, Motion::N>& P,
                             const Vec<Meas::M>& z, const Mat<Meas::M, Meas::M>& R) {
  constexpr int N = Motion::N, M = Meas::M, S = 2 * N + 1;
  UpdateInfo info;
  if (!all_finite(z) || !all_finite(R)) {
    info.status = UpdateStatus::kNonFiniteMeasurement;
    return info;
  }
  Eigen::Matrix<double, N, S> X;
  if (!merwe_sigma_points<N>(x, P, w, Motion::kAngles, X)) {
    info.status = UpdateStatus::kNotPositiveDefinite;
    return info;
  }
  Eigen::Matrix<double, M, S> Z;
  Mat<M, kKinDim> Hk;  // unused by the UKF, required by the sensor-model interface
  for (int i = 0; i < S; ++i) {
    Vec<M> zi;
    if (!meas.h(motion.kinematics(X.col(i)).k, zi, Hk)) {
      info.status = UpdateStatus::kUndefined;
      return info;
    }
    Z.col(i) = zi;
  }
  const Vec<M> zm = sigma_mean<M, S>(Z, w, Meas::kAngles);
  Mat<M, M> Sm = R;
  Mat<N, M> Pxz = Mat<N, M>::Zero();
  for (int i = 0; i < S; ++i) {
    const Vec<M> dz = wrapped_diff<M>(Z.col(i), zm, Meas::kAngles);
    const Vec<N> dx = wrapped_diff<N>(X.col(i), x, Motion::kAngles);
    Sm.noalias() += w.wc(i) * dz * dz.transpose();
    Pxz.noalias() += w.wc(i) * dx * dz.transpose();
  }
  symmetrize(Sm);
  const Eigen::LLT<Mat<M, M>> llt(Sm);
  if (llt.info() != Eigen::Success) {
    info.status = UpdateStatus::kNotPositiveDefinite;
    return info;
  }
  const Mat<N, M> K = llt.solve(Pxz.transpose()).transpose();
  const Vec<M> y = wrapped_diff<M>(z, zm, Meas::kAngles);
  x.noalias() += K * y;
  wrap_state<Motion>(x);
  // P - K S K^T, with K S K^T formed as K Pxz^T (equal since K S = Pxz): one product less.
  P.noalias() -= K * Pxz.transpose();
  symmetrize(P);
  const Vec<M> Siy = llt.solve(y);
  info.nis = y.dot(Siy);
  info.log_likelihood = -0.5 * (info.nis + log_det_from_llt(llt) + M * kLog2Pi);
  return info;
}

}  // namespace fusion
