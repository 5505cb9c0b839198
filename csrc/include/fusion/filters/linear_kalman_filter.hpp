// A linear Kalman filter with run-time dimensions and named matrices, the engine behind the
// filterpy-compatible fusion.filters.KalmanFilter. All storage is sized at construction; the
// bindings expose each matrix to Python as a numpy view of this storage.
#pragma once
#include <string>

#include "fusion/core/errors.hpp"
#include "fusion/filters/kalman.hpp"

namespace fusion {

class LinearKalmanFilter {
 public:
  LinearKalmanFilter(Index dim_x, Index dim_z, Index dim_u)
      : dim_x_(dim_x), dim_z_(dim_z) {
    if (dim_x < 1) throw ConfigurationError("KalmanFilter: dim_x must be 1 or more, got " + std::to_string(dim_x));
    if (dim_z < 1) throw ConfigurationError("KalmanFilter: dim_z must be 1 or more, got " + std::to_string(dim_z));
    if (dim_u < 0) throw ConfigurationError("KalmanFilter: dim_u must be 0 or more, got " + std::to_string(dim_u));
    x = VecX::Zero(dim_x);
    P = MatX::Identity(dim_x, dim_x);
    F = MatX::Identity(dim_x, dim_x);
    Q = MatX::Identity(dim_x, dim_x);
    H = MatX::Zero(dim_z, dim_x);
    R = MatX::Identity(dim_z, dim_z);
    B = MatX::Zero(dim_x, dim_u);
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
  Index dim_u() const { return B.cols(); }  // B may be reassigned with another width

  // x = F x + B u; P = alpha^2 F P F^T + Q. Optional overrides apply to this call only.
  void predict(const VecX* u = nullptr, const MatX* B_ = nullptr, const MatX* F_ = nullptr,
               const MatX* Q_ = nullptr) {
    const MatX& Fm = F_ ? *F_ : F;
    const MatX& Qm = Q_ ? *Q_ : Q;
    const MatX& Bm = B_ ? *B_ : B;
    kalman_predict<Eigen::Dynamic>(x, P, Fm, Qm, alpha * alpha);
    if (u != nullptr && Bm.cols() > 0) x.noalias() += Bm * (*u);
    x_prior = x;
    P_prior = P;
  }

  // Update with measurement zm; optional R/H overrides apply to this call only.
  UpdateInfo update(const VecX& zm, const MatX* R_ = nullptr, const MatX* H_ = nullptr) {
    const MatX& Hm = H_ ? *H_ : H;
    const MatX& Rm = R_ ? *R_ : R;
    if (!all_finite(zm)) return UpdateInfo{UpdateStatus::kNonFiniteMeasurement};
    const VecX yy = zm - Hm * x;
    UpdateInfo info = kalman_update<Eigen::Dynamic, Eigen::Dynamic>(x, P, yy, Hm, Rm, S, K);
    if (info.status != UpdateStatus::kOk) return info;
    y = yy;
    z = zm;
    nis = info.nis;
    log_likelihood = info.log_likelihood;
    x_post = x;
    P_post = P;
    return info;
  }

  // No measurement this step: the posterior is the prior (filterpy's update(None)).
  void skip_update() {
    y.setZero();
    x_post = x;
    P_post = P;
  }

  VecX x;
  MatX P, F, Q, H, R, B;
  VecX x_prior, x_post, y, z;
  MatX P_prior, P_post, S, K;
  double alpha = 1.0;  // fading-memory factor
  double nis = 0.0;
  double log_likelihood = -708.39641853226408;  // log(DBL_MIN): "nothing observed yet", as filterpy

 private:
  Index dim_x_, dim_z_;
};

}  // namespace fusion
