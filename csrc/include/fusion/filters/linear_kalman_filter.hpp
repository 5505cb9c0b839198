// A linear Kalman filter with run-time dimensions: the numerical engine behind the
// filterpy-compatible fusion.filters.KalmanFilter. It owns the state and every quantity the
// last step produced; the caller loads the model matrices (F, Q, H, R, B) into the public
// work buffers before each step. Storage is reused from step to step (Eigen only reallocates
// when a size changes, e.g. an update with an H of another height).
#pragma once
#include <Eigen/Cholesky>
#include <algorithm>
#include <string>

#include "fusion/core/errors.hpp"
#include "fusion/core/linalg.hpp"
#include "fusion/filters/kalman.hpp"

namespace fusion {

class LinearKalmanFilter {
 public:
  LinearKalmanFilter(Index dim_x, Index dim_z) : dim_x_(dim_x), dim_z_(dim_z) {
    if (dim_x < 1) throw ConfigurationError("KalmanFilter: dim_x must be 1 or more, got " + std::to_string(dim_x));
    if (dim_z < 1) throw ConfigurationError("KalmanFilter: dim_z must be 1 or more, got " + std::to_string(dim_z));
    x = VecX::Zero(dim_x);
    P = MatX::Identity(dim_x, dim_x);
    x_prior = x;
    P_prior = P;
    x_post = x;
    P_post = P;
    y = VecX::Zero(dim_z);
    z = VecX::Zero(dim_z);
    S = MatX::Zero(dim_z, dim_z);
    K = MatX::Zero(dim_x, dim_z);
  }

  Index dim_x() const { return dim_x_; }
  Index dim_z() const { return dim_z_; }

  // x = F x + B u; P = alpha^2 F P F^T + Q, from the loaded work buffers F, Q (and B, u when
  // use_control). Records the prior. Throws ShapeError (nothing changed) when the loaded
  // buffers do not fit dim_x: a caller's loading bug must never become out-of-bounds memory.
  void predict(bool use_control, double alpha_sq) {
    const Index n = dim_x_;
    if (x.size() != n || P.rows() != n || P.cols() != n || F.rows() != n || F.cols() != n || Q.rows() != n ||
        Q.cols() != n || (use_control && (B.rows() != n || B.cols() != u.size())))
      throw ShapeError("LinearKalmanFilter::predict: the loaded F, Q, B, u, x or P do not fit dim_x = " +
                       std::to_string(n) + " (buffers changed while loading?)");
    x_new.noalias() = F * x;
    if (use_control) x_new.noalias() += B * u;
    x.swap(x_new);
    FP.noalias() = F * P;
    P.noalias() = FP * F.transpose();
    if (alpha_sq != 1.0) P *= alpha_sq;
    P += Q;
    symmetrize(P);
    x_prior = x;
    P_prior = P;
  }

  // Update with the loaded measurement zm, measurement matrix H and noise: R_s is added to
  // H P H^T to form S, R_j enters the Joseph form's K R K^T. They are the same matrix except
  // for filterpy's scalar R, which broadcasts into every element of S but scales K K^T.
  //   S = H P H^T + R_s (Cholesky, never inverted); K = P H^T S^-1;
  //   x <- x + K y;  P <- (I - K H) P (I - K H)^T + K R_j K^T.
  // On failure nothing but the returned status changes.
  // Throws ShapeError (nothing changed) when the loaded buffers do not fit together.
  UpdateInfo update(const MatX& R_s, const MatX& R_j) {
    const Index n = dim_x_, m = zm.size();
    if (x.size() != n || P.rows() != n || P.cols() != n || H.cols() != n || H.rows() != m || m < 1 ||
        R_s.rows() != m || R_s.cols() != m || R_j.rows() != m || R_j.cols() != m)
      throw ShapeError("LinearKalmanFilter::update: the loaded z, H, R, x or P do not fit together (dim_x = " +
                       std::to_string(n) + ", " + std::to_string(m) + " measurements; buffers changed while loading?)");
    UpdateInfo info;
    if (!all_finite(zm) || !all_finite(R_s) || !all_finite(R_j)) {
      info.status = UpdateStatus::kNonFiniteMeasurement;
      return info;
    }
    y_new.noalias() = zm - H * x;
    PHt.noalias() = P * H.transpose();
    S_new.noalias() = H * PHt;
    S_new += R_s;
    llt.compute(S_new);
    if (llt.info() != Eigen::Success || !all_finite(S_new)) {
      info.status = UpdateStatus::kNotPositiveDefinite;
      return info;
    }
    K = llt.solve(PHt.transpose()).transpose();
    S.swap(S_new);
    y.swap(y_new);
    z = zm;
    x.noalias() += K * y;
    IKH.noalias() = -K * H;
    IKH.diagonal().array() += 1.0;
    IKHP = P;
    IKHP.noalias() -= K * PHt.transpose();  // (I - K H) P, P symmetric
    KR.noalias() = K * R_j;
    P.noalias() = IKHP * IKH.transpose();
    P.noalias() += KR * K.transpose();
    symmetrize(P);
    Siy = llt.solve(y);
    info.nis = y.dot(Siy);
    info.log_likelihood =
        -0.5 * (info.nis + log_det_from_llt(llt) + static_cast<double>(y.size()) * kLog2Pi);
    nis = info.nis;
    log_likelihood = info.log_likelihood;
    x_post = x;
    P_post = P;
    return info;
  }

  // No measurement this step: the posterior is the prior, y is zero (filterpy's update(None)),
  // and the innovation statistics are those of y = 0 under the last S, as filterpy computes
  // them from (y, S): nis 0, log N(0; 0, S) (floored at log(DBL_MIN), filterpy's -inf when S
  // is not positive definite, e.g. before any update).
  void skip_update() {
    y = VecX::Zero(dim_z_);
    x_post = x;
    P_post = P;
    nis = 0.0;
    log_likelihood = kLogDblMin;
    if (S.rows() > 0 && all_finite(S)) {
      const Eigen::LLT<MatX> f(S);
      if (f.info() == Eigen::Success)
        log_likelihood = std::max(kLogDblMin, -0.5 * (log_det_from_llt(f) + static_cast<double>(S.rows()) * kLog2Pi));
    }
  }

  // State and what the last steps produced.
  VecX x;
  MatX P;
  VecX x_prior, x_post, y, z;
  MatX P_prior, P_post, S, K;
  double nis = 0.0;
  static constexpr double kLogDblMin = -708.39641853226408;  // log(DBL_MIN)
  double log_likelihood = kLogDblMin;  // "nothing observed yet", as filterpy

  // Model loaded by the caller for the next step.
  MatX F, Q, H, B;
  VecX u, zm;

 private:
  Index dim_x_, dim_z_;
  VecX x_new, y_new, Siy;
  MatX FP, PHt, S_new, IKH, IKHP, KR;
  Eigen::LLT<MatX> llt;
};

}  // namespace fusion
