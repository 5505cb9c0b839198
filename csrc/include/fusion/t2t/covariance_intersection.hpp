// Covariance intersection (Julier and Uhlmann, 1997) of n Gaussian estimates (x_i, P_i) of
// the same state whose cross-correlations are unknown:
//
//     P^-1 = sum_i w_i P_i^-1,   P^-1 x = sum_i w_i P_i^-1 x_i,   w_i >= 0, sum_i w_i = 1.
//
// For every weight vector on the simplex and every admissible joint covariance of the
// estimates (any cross-covariances that keep the joint covariance positive semi-definite),
// P bounds the true error covariance of x: P - E[(x - x_true)(x - x_true)^T] is positive
// semi-definite. The weights are chosen to minimise
//
//   - CiCriterion::Trace:       trace(P)       (the mean squared error bound), or
//   - CiCriterion::Determinant: log det(P)     (the volume of the uncertainty ellipsoid).
//
// Both objectives are convex in w (Y = sum w_i Y_i is affine in w; trace(Y^-1) and
// -log det(Y) are convex in Y > 0), so the minimum over the simplex is found by a pairwise
// (SMO-like) descent: move weight from the estimate with the largest gradient
// (among those with weight > 0) to the one with the smallest, with an exact, safeguarded
// Newton line search along that edge, until the gradient gap is below a relative tolerance.
// With two estimates this is a single exact one-dimensional minimisation over w_1 in [0, 1].
//
//   d/dw_i trace(P)    = -trace(P Y_i P),     d/dw_i log det(P) = -trace(P Y_i)
//
// The fused P is symmetrised and SPD whenever every P_i is SPD (Y is then SPD for any w).
//
// CiSolver<M> is templated on the matrix type: Mat<4, 4> (the track fuser, no heap use at
// all) or MatX (any dimension; reserve() first, then solving a problem of that dimension
// allocates nothing for small dimensions).
#pragma once
#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <cmath>
#include <string>
#include <vector>

#include "fusion/core/errors.hpp"
#include "fusion/core/linalg.hpp"
#include "fusion/core/types.hpp"

namespace fusion::t2t {

enum class CiCriterion { Trace, Determinant };

inline const char* to_string(CiCriterion c) { return c == CiCriterion::Trace ? "trace" : "determinant"; }

// "trace" or "det"/"determinant" -> criterion; ConfigurationError otherwise.
inline CiCriterion ci_criterion_from_string(const std::string& s) {
  if (s == "trace") return CiCriterion::Trace;
  if (s == "det" || s == "determinant") return CiCriterion::Determinant;
  throw ConfigurationError("criterion: expected 'trace' or 'det', got '" + s + "'");
}

struct CiResult {
  double objective = 0.0;  // trace(P) or log det(P) at the chosen weights
  int iterations = 0;      // pairwise line searches done
};

template <class M>
class CiSolver {
 public:
  using V = Eigen::Matrix<double, M::RowsAtCompileTime, 1>;

  // Sizes the workspace for up to n estimates of dimension dim (dim is fixed for Mat<N, N>).
  void reserve(Index n, Index dim) {
    Y_.resize(static_cast<std::size_t>(n));
    for (auto& y : Y_) y.resize(dim, dim);
    g_.resize(static_cast<std::size_t>(n));
    Ysum_.resize(dim, dim);
    P_.resize(dim, dim);
    D_.resize(dim, dim);
    PD_.resize(dim, dim);
    T_.resize(dim, dim);
    I_ = M::Identity(dim, dim);
    if constexpr (M::RowsAtCompileTime == Eigen::Dynamic) llt_ = Eigen::LLT<M>(dim);
    v_.resize(dim);
    dim_ = dim;
  }

  Index capacity() const { return static_cast<Index>(Y_.size()); }
  Index dim() const { return dim_; }

  // Fuses xs[0..n) / Ps[0..n) (each dim_ and dim_ x dim_, SPD: checked by the caller, see
  // check_estimate) into x, P; w receives the n weights. n must be in [1, capacity()].
  // Throws NumericalError only if the fused information matrix cannot be factorised (not
  // possible for SPD inputs barring overflow).
  template <class XS, class PS>
  CiResult fuse(const XS& xs, const PS& Ps, Index n, CiCriterion crit, double* w, V& x, M& P) {
    for (Index i = 0; i < n; ++i) {
      llt_.compute(Ps[i]);
      if (llt_.info() != Eigen::Success) throw NumericalError("covariance intersection: estimate " +
                                                              std::to_string(i) + ": covariance is not SPD");
      Y_[static_cast<std::size_t>(i)] = llt_.solve(I_);
      symmetrize(Y_[static_cast<std::size_t>(i)]);
      w[i] = 1.0 / static_cast<double>(n);
    }
    CiResult res;
    if (n > 1) res = optimise(n, crit, w);
    info(n, w);  // P_ = (sum w Y)^-1
    v_.setZero();
    for (Index i = 0; i < n; ++i)
      if (w[i] > 0.0) v_.noalias() += w[i] * (Y_[static_cast<std::size_t>(i)] * xs[i]);
    x.noalias() = P_ * v_;
    P = P_;
    res.objective = objective(crit);
    return res;
  }

 private:
  // P_ <- (sum_i w_i Y_i)^-1.
  void info(Index n, const double* w) {
    Ysum_.setZero();
    for (Index i = 0; i < n; ++i)
      if (w[i] > 0.0) Ysum_ += w[i] * Y_[static_cast<std::size_t>(i)];
    llt_.compute(Ysum_);
    if (llt_.info() != Eigen::Success) throw NumericalError("covariance intersection: fused information is not SPD");
    P_ = llt_.solve(I_);
    symmetrize(P_);
  }

  double objective(CiCriterion crit) const {
    if (crit == CiCriterion::Trace) return P_.trace();
    return -log_det_from_llt(llt_);  // llt_ holds the factor of Ysum = P^-1
  }

  // First and second derivative of the objective along D (after info()).
  void derivs(CiCriterion crit, double& d1, double& d2) {
    PD_.noalias() = P_ * D_;
    if (crit == CiCriterion::Trace) {
      d1 = -PD_.cwiseProduct(P_.transpose()).sum();           // -tr(P D P)
      T_.noalias() = PD_ * PD_;
      d2 = 2.0 * T_.cwiseProduct(P_.transpose()).sum();       // 2 tr(P D P D P)
    } else {
      d1 = -PD_.trace();                                       // -tr(P D)
      d2 = PD_.cwiseProduct(PD_.transpose()).sum();            // tr(P D P D)
    }
  }

  // Gradient g_i of the objective (after info()).
  void gradient(Index n, CiCriterion crit) {
    for (Index i = 0; i < n; ++i) {
      PD_.noalias() = P_ * Y_[static_cast<std::size_t>(i)];
      g_[static_cast<std::size_t>(i)] =
          crit == CiCriterion::Trace ? -PD_.cwiseProduct(P_.transpose()).sum() : -PD_.trace();
    }
  }

  CiResult optimise(Index n, CiCriterion crit, double* w) {
    CiResult res;
    const int max_iter = 40 + 20 * static_cast<int>(n);
    for (int it = 0; it < max_iter; ++it) {
      info(n, w);
      gradient(n, crit);
      Index a = 0, b = -1;  // a: smallest gradient (gains weight); b: largest with weight > 0
      double gmax = 0.0;
      for (Index i = 0; i < n; ++i) {
        const double gi = g_[static_cast<std::size_t>(i)];
        gmax = std::max(gmax, std::abs(gi));
        if (gi < g_[static_cast<std::size_t>(a)]) a = i;
        if (w[i] > 0.0 && (b < 0 || gi > g_[static_cast<std::size_t>(b)])) b = i;
      }
      if (b < 0 || a == b) break;
      const double gap = g_[static_cast<std::size_t>(b)] - g_[static_cast<std::size_t>(a)];
      if (!(gap > 1e-12 * gmax)) break;
      line_search(n, crit, w, a, b);
      res.iterations = it + 1;
    }
    return res;
  }

  // Minimises phi(t) = J(w + t (e_a - e_b)) over t in [-w_a, w_b] (convex), in place.
  void line_search(Index n, CiCriterion crit, double* w, Index a, Index b) {
    D_ = Y_[static_cast<std::size_t>(a)] - Y_[static_cast<std::size_t>(b)];
    const double wa = w[a], wb = w[b];
    double lo = -wa, hi = wb;
    auto set = [&](double t) {
      w[a] = wa + t;
      w[b] = wb - t;
      if (w[a] < 0.0) w[a] = 0.0;
      if (w[b] < 0.0) w[b] = 0.0;
    };
    double d1 = 0.0, d2 = 0.0;
    // the end points first: a minimum on the boundary is exact
    set(hi);
    info(n, w);
    derivs(crit, d1, d2);
    if (d1 <= 0.0) return;  // still descending at w_b = 0: the edge's end
    set(lo);
    info(n, w);
    derivs(crit, d1, d2);
    if (d1 >= 0.0) return;  // ascending from w_a = 0
    double t = 0.5 * (lo + hi);
    for (int k = 0; k < 100; ++k) {
      set(t);
      info(n, w);
      derivs(crit, d1, d2);
      if (d1 > 0.0) hi = t; else lo = t;
      if (d1 == 0.0 || hi - lo <= 1e-15 * (1.0 + std::abs(t))) break;
      double tn = (d2 > 0.0) ? t - d1 / d2 : 0.5 * (lo + hi);
      if (!(tn > lo && tn < hi)) tn = 0.5 * (lo + hi);
      if (std::abs(tn - t) <= 1e-15 * (1.0 + std::abs(t))) {
        t = tn;
        break;
      }
      t = tn;
    }
    set(t);
  }

  std::vector<M> Y_;
  std::vector<double> g_;
  M Ysum_, P_, D_, PD_, T_, I_;
  Eigen::LLT<M> llt_;
  V v_;
  Index dim_ = 0;
};

}  // namespace fusion::t2t
