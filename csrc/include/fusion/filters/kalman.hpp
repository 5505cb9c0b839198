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
// x and P may also be Eigen::Map views (a filter bank predicts in place: copying P back
// right after symmetrize's scalar stores would stall on store forwarding).
template <int N, typename XV = Vec<N>, typename PM = Mat<N, N>>
inline void kalman_predict(XV& x, PM& P, const Mat<N, N>& F, const Mat<N, N>& Q,
                           double alpha_sq = 1.0) {
  x = F * x;
  Mat<N, N> FP = F * P;
  P.noalias() = FP * F.transpose();
  if (alpha_sq != 1.0) P *= alpha_sq;
  P += Q;
  symmetrize(P);
}

// x <- x + K y, P <- (I - K H) P (I - K H)^T + K R K^T (Joseph form), P re-symmetrised.
// PHt = P H^T, already formed for S and K.
template <int N, int M, typename XV, typename PM>
inline void joseph_update(XV& x, PM& P, const Vec<M>& y, const Mat<M, N>& H,
                          const Mat<M, M>& R, const Mat<N, M>& K, const Mat<N, M>& PHt) {
  x.noalias() += K * y;
  Mat<N, N> IKH = -K * H;
  IKH.diagonal().array() += 1.0;
  // (I - K H) P = P - K (P H^T)^T since P is symmetric: N^2 M flops instead of N^3.
  Mat<N, N> IKHP = P;
  IKHP.noalias() -= K * PHt.transpose();
  const Mat<N, M> KR = K * R;
  P.noalias() = IKHP * IKH.transpose();
  P.noalias() += KR * K.transpose();
  symmetrize(P);
}

// Measurement update from the residual y = z - h(x), its Jacobian H and noise R.
//   S = H P H^T + R                 (factorised by Cholesky, never inverted)
//   K = P H^T S^-1                  (two triangular solves)
//   x <- x + K y
//   P <- (I - K H) P (I - K H)^T + K R K^T    (Joseph form: symmetric PD by construction)
template <int N, int M, typename XV = Vec<N>, typename PM = Mat<N, N>>
inline UpdateInfo kalman_update_finite(XV& x, PM& P, const Vec<M>& y, const Mat<M, N>& H,
                                       const Mat<M, M>& R, Mat<M, M>& S, Mat<N, M>& K);

// On failure x and P are left untouched. S and K are written for inspection.
template <int N, int M>
inline UpdateInfo kalman_update(Vec<N>& x, Mat<N, N>& P, const Vec<M>& y, const Mat<M, N>& H,
                                const Mat<M, M>& R, Mat<M, M>& S, Mat<N, M>& K) {
  if (!all_finite(y) || !all_finite(R)) return UpdateInfo{UpdateStatus::kNonFiniteMeasurement};
  return kalman_update_finite<N, M>(x, P, y, H, R, S, K);
}

// kalman_update for y and R already known to be finite (a filter bank checks a shared R
// once per call, not once per filter). x and P may be Eigen::Map views into a bank, updated
// in place (they are only written once the update is known to succeed).
template <int N, int M, typename XV, typename PM>
inline UpdateInfo kalman_update_finite(XV& x, PM& P, const Vec<M>& y, const Mat<M, N>& H,
                                       const Mat<M, M>& R, Mat<M, M>& S, Mat<N, M>& K) {
  UpdateInfo info;
  const Mat<N, M> PHt = P * H.transpose();
  S.noalias() = H * PHt;
  S += R;
  symmetrize(S);
  if constexpr (M == Eigen::Dynamic) {
    const Eigen::LLT<Mat<M, M>> llt(S);
    if (llt.info() != Eigen::Success || !all_finite(S)) {
      info.status = UpdateStatus::kNotPositiveDefinite;
      return info;
    }
    K = llt.solve(PHt.transpose()).transpose();
    joseph_update<N, M>(x, P, y, H, R, K, PHt);
    const Vec<M> Siy = llt.solve(y);
    info.nis = y.dot(Siy);
    info.log_likelihood =
        -0.5 * (info.nis + log_det_from_llt(llt) + static_cast<double>(y.size()) * kLog2Pi);
  } else {
    // Fixed small M: hand-rolled Cholesky, unrolled by the compiler.
    SmallCholesky<M> chol;
    if (!all_finite(S) || !chol.compute(S)) {
      info.status = UpdateStatus::kNotPositiveDefinite;
      return info;
    }
    K = PHt;
    chol.solve_rows(K);  // K = P H^T S^-1 by two triangular solves per row
    // NIS and likelihood before the state update: this independent work lets K's scalar
    // stores retire before Eigen reads K back as packets (else store forwarding stalls).
    info.nis = chol.inv_quad(y);  // y^T S^-1 y = |L^-1 y|^2: one triangular solve
    info.log_likelihood = -0.5 * (info.nis + chol.log_det() + static_cast<double>(M) * kLog2Pi);
    joseph_update<N, M>(x, P, y, H, R, K, PHt);
  }
  return info;
}

}  // namespace fusion
