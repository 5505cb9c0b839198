// Central finite-difference Jacobians for the tests, shared by every analytic-Jacobian check.
//
//     J(:, j) = (f(x + h e_j) - f(x - h e_j)) / (2 h),    h = rel_step * max(1, |x_j|),
//
// with the differences of angular outputs wrapped to [-pi, pi) so that an output crossing +-pi
// does not show up as a 2 pi jump. Truncation error ~ h^2 f''' and rounding ~ eps |f| / h, so
// rel_step = 1e-6 leaves ~1e-7 relative error on smooth functions of O(1..1000) values.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>

#include "fusion/core/angles.hpp"
#include "fusion/core/types.hpp"

namespace fusion::testing {

// f: Vec<N> -> Vec<M>. angles[i]: output i is an angle (its size gives M; a std::size_t so
// that it can be deduced from a model's kAngles).
template <std::size_t MA, int N, class Fn>
Mat<static_cast<int>(MA), N> numeric_jacobian(Fn&& f, const Vec<N>& x,
                                              const std::array<bool, MA>& angles,
                                              double rel_step = 1e-6) {
  constexpr int M = static_cast<int>(MA);
  Mat<M, N> J;
  for (int j = 0; j < N; ++j) {
    const double h = rel_step * std::max(1.0, std::abs(x(j)));
    Vec<N> xp = x, xm = x;
    xp(j) += h;
    xm(j) -= h;
    Vec<M> d = f(xp) - f(xm);
    for (int i = 0; i < M; ++i)
      if (angles[static_cast<std::size_t>(i)]) d(i) = wrap_angle(d(i));
    J.col(j) = d / (2.0 * h);
  }
  return J;
}

// max |A - B| / (1 + |B|) over the entries: absolute for small entries, relative for large
// ones (pixel Jacobians are O(100)).
template <int M, int N>
double max_rel_error(const Mat<M, N>& A, const Mat<M, N>& B) {
  return ((A - B).cwiseAbs().array() / (1.0 + B.cwiseAbs().array())).maxCoeff();
}

}  // namespace fusion::testing
