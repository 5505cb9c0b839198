// Numerically careful building blocks shared by every filter:
//  - innovation covariances are factorised by Cholesky (LLT) and solved, never inverted;
//  - covariances are re-symmetrised after each step;
//  - the measurement update uses the Joseph form, which keeps P symmetric positive
//    definite even when the gain is suboptimal or rounding accumulates.
#pragma once
#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <cmath>

#include "fusion/core/errors.hpp"
#include "fusion/core/types.hpp"

namespace fusion {

inline constexpr double kLog2Pi = 1.8378770664093454836;

// P <- (P + P^T) / 2, in place.
template <typename Derived>
inline void symmetrize(Eigen::MatrixBase<Derived>& P) {
  const Index n = P.rows();
  for (Index i = 0; i < n; ++i) {
    for (Index j = i + 1; j < n; ++j) {
      const double m = 0.5 * (P(i, j) + P(j, i));
      P(i, j) = m;
      P(j, i) = m;
    }
  }
}

template <typename Derived>
inline bool all_finite(const Eigen::MatrixBase<Derived>& m) {
  for (Index j = 0; j < m.cols(); ++j)
    for (Index i = 0; i < m.rows(); ++i)
      if (!std::isfinite(m(i, j))) return false;
  return true;
}

// True when A is symmetric (to a relative tolerance) and its Cholesky factorisation succeeds.
template <typename Derived>
inline bool is_spd(const Eigen::MatrixBase<Derived>& A, double rel_tol = 1e-9) {
  if (A.rows() != A.cols() || !all_finite(A)) return false;
  const double scale = A.cwiseAbs().maxCoeff();
  if (!(scale > 0.0)) return false;
  if ((A - A.transpose()).cwiseAbs().maxCoeff() > rel_tol * scale) return false;
  using Plain = typename Derived::PlainObject;
  Eigen::LLT<Plain> llt(A);
  return llt.info() == Eigen::Success;
}

// log det(S) from its Cholesky factor L (S = L L^T): 2 * sum(log(diag(L))).
template <typename LLT>
inline double log_det_from_llt(const LLT& llt) {
  double s = 0.0;
  const auto& L = llt.matrixLLT();
  for (Index i = 0; i < L.rows(); ++i) s += std::log(L(i, i));
  return 2.0 * s;
}

}  // namespace fusion
