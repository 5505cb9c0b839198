// Numerically careful building blocks shared by every filter:
//  - innovation covariances are factorised by Cholesky (LLT) and solved, never inverted;
//  - covariances are re-symmetrised after each step;
//  - the measurement update uses the Joseph form, which keeps P symmetric positive
//    definite even when the gain is suboptimal or rounding accumulates.
#pragma once
#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <cmath>
#include <limits>

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

// Cholesky factorisation S = L L^T of a small fixed-size SPD matrix (innovation covariances,
// UKF state covariances). Compile-time bounds let the compiler unroll the loops; unlike
// Eigen::LLT no L1 norm (only needed for rcond) is computed. Reads the lower triangle and
// fails exactly where Eigen::LLT does: at a pivot <= 0.
template <int D>
struct SmallCholesky {
  static_assert(D > 0, "SmallCholesky needs a compile-time size");
  Mat<D, D> L;                // lower triangular, upper triangle zero
  double pivot_product = 1.0;  // prod of L(k, k)^2 = det(S)
  Vec<D> inv_diag;             // 1 / L(k, k): one division per pivot, reused by every solve

  template <typename Derived>
  bool compute(const Eigen::MatrixBase<Derived>& A) {
    pivot_product = 1.0;
    for (int k = 0; k < D; ++k) {
      double p = A(k, k);
      for (int j = 0; j < k; ++j) p -= L(k, j) * L(k, j);
      if (!(p > 0.0)) return false;  // (a NaN pivot too: not positive definite)
      pivot_product *= p;
      // 1/sqrt(p) as sqrt(p) * (1/p): the sqrt and the division run in parallel instead
      // of back to back, which shortens the serial pivot-to-pivot chain.
      const double lkk = std::sqrt(p), inv_p = 1.0 / p;
      L(k, k) = lkk;
      const double inv = lkk * inv_p;
      inv_diag(k) = inv;
      for (int j = k + 1; j < D; ++j) L(k, j) = 0.0;
      for (int i = k + 1; i < D; ++i) {
        double a = A(i, k);
        for (int j = 0; j < k; ++j) a -= L(i, j) * L(k, j);
        L(i, k) = a * inv;
      }
    }
    // A denormal pivot makes 1/p overflow: its inf turns every later pivot into NaN (refused
    // above), so only the last one needs a look, once, off the pivot-to-pivot chain.
    return inv_diag(D - 1) <= std::numeric_limits<double>::max();
  }
  // Rows of B <- rows of B S^-1, i.e. B <- B S^-1 for symmetric S (gain K = P H^T S^-1).
  // Solved in place element by element: no row temporaries copied back and forth.
  template <typename Derived>
  void solve_rows(Eigen::MatrixBase<Derived>& B) const {
    for (Index r = 0; r < B.rows(); ++r) {
      for (int i = 0; i < D; ++i) {  // L^-1
        double a = B(r, i);
        for (int j = 0; j < i; ++j) a -= L(i, j) * B(r, j);
        B(r, i) = a * inv_diag(i);
      }
      for (int i = D - 1; i >= 0; --i) {  // L^-T
        double a = B(r, i);
        for (int j = i + 1; j < D; ++j) a -= L(j, i) * B(r, j);
        B(r, i) = a * inv_diag(i);
      }
    }
  }
  // |L^-1 y|^2 = y^T S^-1 y (the NIS), accumulated without storing L^-1 y.
  template <typename V>
  double inv_quad(const V& y) const {
    Vec<D> u;
    double q = 0.0;
    for (int i = 0; i < D; ++i) {
      double a = y(i);
      for (int j = 0; j < i; ++j) a -= L(i, j) * u(j);
      u(i) = a * inv_diag(i);
      q += u(i) * u(i);
    }
    return q;
  }
  // log det(S): one log of the pivot product; sum of logs only if the product under/overflows.
  double log_det() const {
    if (std::isnormal(pivot_product)) return std::log(pivot_product);
    double s = 0.0;
    for (int k = 0; k < D; ++k) s += std::log(L(k, k));
    return 2.0 * s;
  }
};

}  // namespace fusion
