// Rauch-Tung-Striebel fixed-interval smoother over a filtered sequence, in place.
// For k = T-2 .. 0 (F_{k+1}, Q_{k+1} take step k to k+1):
//   Pp_k = F P_k F^T + Q
//   K_k  = P_k F^T Pp_k^-1            (Cholesky solve)
//   x_k += K_k (x_{k+1} - F x_k)
//   P_k += K_k (P_{k+1} - Pp_k) K_k^T
#pragma once
#include <Eigen/Cholesky>
#include <string>

#include "fusion/core/errors.hpp"
#include "fusion/core/linalg.hpp"
#include "fusion/core/types.hpp"

namespace fusion {

// xs: T x n, Ps/Fs/Qs/Ks/Pps: T x n x n, all row-major contiguous.
inline void rts_smooth(Index T, Index n, double* xs, double* Ps, const double* Fs,
                       const double* Qs, double* Ks, double* Pps) {
  using MapM = Eigen::Map<MatX>;
  using CMapM = Eigen::Map<const MatX>;
  using MapV = Eigen::Map<VecX>;
  const Index nn = n * n;
  for (Index k = T - 2; k >= 0; --k) {
    const CMapM F(Fs + (k + 1) * nn, n, n), Q(Qs + (k + 1) * nn, n, n);
    MapV xk(xs + k * n, n), xk1(xs + (k + 1) * n, n);
    MapM Pk(Ps + k * nn, n, n), Pk1(Ps + (k + 1) * nn, n, n);
    MapM Kk(Ks + k * nn, n, n), Ppk(Pps + k * nn, n, n);
    const MatX PFt = Pk * F.transpose();
    Ppk = F * PFt + Q;
    const Eigen::LLT<MatX> llt(Ppk);
    if (llt.info() != Eigen::Success)
      throw NumericalError("rts_smoother: predicted covariance at step " + std::to_string(k) +
                           " is not positive definite");
    Kk = llt.solve(PFt.transpose()).transpose();
    const VecX innov = xk1 - F * xk;
    xk += Kk * innov;
    MatX Pn = Pk + Kk * (Pk1 - Ppk) * Kk.transpose();
    symmetrize(Pn);
    Pk = Pn;
  }
}

}  // namespace fusion
