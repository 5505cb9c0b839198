// Extended Kalman filter steps for a (motion model, sensor model) pair.
#pragma once
#include "fusion/filters/kalman.hpp"
#include "fusion/models/measurement.hpp"
#include "fusion/models/motion.hpp"

namespace fusion {

template <class Motion>
inline void ekf_predict(const Motion& motion, Vec<Motion::N>& x, Mat<Motion::N, Motion::N>& P,
                        double dt) {
  constexpr int N = Motion::N;
  const Mat<N, N> F = motion.jacobian(x, dt);
  const Mat<N, N> Q = motion.Q(x, dt);
  x = motion.f(x, dt);
  const Mat<N, N> FP = F * P;
  P.noalias() = FP * F.transpose();
  P += Q;
  symmetrize(P);
}

template <class Motion, class Meas>
inline UpdateInfo ekf_update(const Motion& motion, const Meas& meas, Vec<Motion::N>& x,
                             Mat<Motion::N, Motion::N>& P, const Vec<Meas::M>& z,
                             const Mat<Meas::M, Meas::M>& R) {
  constexpr int N = Motion::N, M = Meas::M;
  if (!all_finite(z)) return UpdateInfo{UpdateStatus::kNonFiniteMeasurement};
  Vec<M> zp;
  Mat<M, N> H;
  if (!predict_measurement(motion, meas, x, zp, H)) return UpdateInfo{UpdateStatus::kUndefined};
  const Vec<M> y = measurement_residual<Meas>(z, zp);
  Mat<M, M> S;
  Mat<N, M> K;
  const UpdateInfo info = kalman_update<N, M>(x, P, y, H, R, S, K);
  if (info.status == UpdateStatus::kOk) wrap_state<Motion>(x);
  return info;
}

}  // namespace fusion
