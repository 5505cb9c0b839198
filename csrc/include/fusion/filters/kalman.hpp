// Kalman predict and update kernels, templated on the state size N and measurement size M
// (Eigen::Dynamic for run-time sizes). Every filter in the core ends up here.
#pragma once
#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <cmath>
#include <limits>

#include "fusion/core/linalg.hpp"
#include "fusion/core/types.hpp"

namespace fusion {

enum class UpdateStatus : int {
  kOk = 0,
  kNonFiniteMeasurement = 1,  // z (or R) holds NaN or infinity: state left untouched
  kNotPositiveDefinite = 2,   // S = H P H^T + R could not be Cholesky-factorised
  kUndefined = 3,             // the sensor model is undefined at this state (h returned false)
};

inline const char* to_string(UpdateStatus s) {
  switch (s) {
    case UpdateStatus::kOk: return "ok";
    case UpdateStatus::kNonFiniteMeasurement: return "non-finite measurement";
    case UpdateStatus::kNotPositiveDefinite:
      return "innovation covariance S = H P H^T + R is not positive definite";
    case UpdateStatus::kUndefined: return "measurement model undefined at the predicted state";
  }
  return "unknown";
}

struct UpdateInfo {
  UpdateStatus status = UpdateStatus::kOk;
  double nis = std::numeric_limits<double>::quiet_NaN();             // y^T S^-1 y
  double log_likelihood = std::numeric_limits<double>::quiet_NaN();  // log N(y; 0, S)
};

// x <- F x, P <- alpha^2 F P F^T + Q (alpha: fading memory, 1 for the standard filter).
template <int N>
inline void kalman_predict(Vec<N>& x, Mat<N, N>& P, const Mat<N, N>& F, const Mat<N, N>& Q,
                           double alpha_sq = 1.0) {
  x = F * x;
  Mat<N, N> FP = F * P;
  P.noalias() = FP * F.transpose();
  if (alpha_sq != 1.0) P *= alpha_sq;
  P += Q;
  symmetrize(P);
}

// Measurement update from the residual y = z - h(x), its Jacobian H and noise R.
//   S = H P H^T + R                 (factorised by Cholesky, never inverted)
//   K = P H^T S^-1                  (two triangular solves)
//   x <- x + K y
//   P <- (I - K H) P (I - K H)^T + K R K^T    (Joseph form: symmetric PD by construction)
// On failure x and P are left untouched. S and K are written for inspection.
template <int N, int M>
inline UpdateInfo kalman_update(Vec<N>& x, Mat<N, N>& P, const Vec<M>& y, const Mat<M, N>& H,
                                const Mat<M, M>& R, Mat<M, M>& S, Mat<N, M>& K) {
  UpdateInfo info;
  if (!all_finite(y) || !all_finite(R)) {
    info.status = UpdateStatus::kNonFiniteMeasurement;
    return info;
  }
  const Mat<N, M> PHt = P * H.transpose();
  S.noalias() = H * PHt;
  S += R;
  symmetrize(S);
  const Eigen::LLT<Mat<M, M>> llt(S);
  if (llt.info() != Eigen::Success || !all_finite(S)) {
    info.status = UpdateStatus::kNotPositiveDefinite;
    return info;
  }
  K = llt.solve(PHt.transpose()).transpose();
  x.noalias() += K * y;
  Mat<N, N> IKH = -K * H;
  IKH.diagonal().array() += 1.0;
  const Mat<N, N> IKHP = IKH * P;
  const Mat<N, M> KR = K * R;
  P.noalias() = IKHP * IKH.transpose();
  P.noalias() += KR * K.transpose();
  symmetrize(P);
  const Vec<M> Siy = llt.solve(y);
  info.nis = y.dot(Siy);
  info.log_likelihood =
      -0.5 * (info.nis + log_det_from_llt(llt) + static_cast<double>(y.size()) * kLog2Pi);
  return info;
}

}  // namespace fusion
