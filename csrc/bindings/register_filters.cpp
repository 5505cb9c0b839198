// The run-time-sized kernels that the Python ExtendedKalmanFilter, UnscentedKalmanFilter,
// the procedural functions and rts_smoother call (the KalmanFilter object is in
// register_kalman_filter.cpp).
#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <sstream>
#include <string>

#include "common.hpp"
#include "fusion/filters/kalman.hpp"
#include "fusion/filters/rts_smoother.hpp"

namespace fusion::bindings {

void register_filters(py::module_& m) {
  m.def(
      "kalman_update",
      [](const VecX& x, const MatX& P, const VecX& y, const MatX& H, const MatX& R, const std::string& what) {
        const Index n = x.size(), mz = y.size();
        if (P.rows() != n || P.cols() != n) throw ShapeError("kalman_update: P must be (" + std::to_string(n) + ", " + std::to_string(n) + ")");
        if (H.rows() != mz || H.cols() != n) throw ShapeError("kalman_update: H must be (" + std::to_string(mz) + ", " + std::to_string(n) + ")");
        if (R.rows() != mz || R.cols() != mz) throw ShapeError("kalman_update: R must be (" + std::to_string(mz) + ", " + std::to_string(mz) + ")");
        VecX xo = x;
        MatX Po = P, S, K;
        const UpdateInfo info = kalman_update<Eigen::Dynamic, Eigen::Dynamic>(xo, Po, y, H, R, S, K);
        if (info.status != UpdateStatus::kOk) {
          // (the caller formed y = residual(z, h(x)): name it, not a measurement it never saw)
          std::ostringstream os;
          os << what << ": " << to_string(info.status) << " (residual y = [";
          for (Index i = 0; i < y.size(); ++i) os << (i ? ", " : "") << y(i);
          os << "])";
          throw NumericalError(os.str());
        }
        return py::make_tuple(xo, Po, S, K, info.nis, info.log_likelihood);
      },
      py::arg("x"), py::arg("P"), py::arg("y"), py::arg("H"), py::arg("R"), py::arg("what") = "update",
      "Joseph-form Kalman update from a residual y: returns (x, P, S, K, nis, log_likelihood).");

  m.def(
      "solve_spd",
      [](const MatX& A, const MatX& B, const std::string& what) {
        if (A.rows() != A.cols() || B.rows() != A.rows())
          throw ShapeError(what + ": expected a square matrix and a right-hand side with as many rows");
        const Eigen::LLT<MatX> llt(A);
        if (llt.info() != Eigen::Success || !all_finite(A))
          throw NumericalError(what + " is not symmetric positive definite (Cholesky failed)");
        return py::make_tuple(MatX(llt.solve(B)), log_det_from_llt(llt));
      },
      py::arg("A"), py::arg("B"), py::arg("what") = "matrix",
      "Solve A X = B for symmetric positive definite A by Cholesky: returns (X, log det A).");

  m.def(
      "rts_smooth",
      [](CArray xs, CArray Ps, CArray Fs, CArray Qs) {
        if (xs.ndim() != 2) throw ShapeError("rts_smoother: Xs must be (T, n)");
        const Index T = xs.shape(0), n = xs.shape(1);
        const std::string nn = "(" + std::to_string(T) + ", " + std::to_string(n) + ", " + std::to_string(n) + ")";
        for (auto* a : {&Ps, &Fs, &Qs})
          if (a->ndim() != 3 || a->shape(0) != T || a->shape(1) != n || a->shape(2) != n)
            shape_error("rts_smoother: Ps, Fs and Qs", nn, *a);
        py::array_t<double> x_out({T, n}), P_out({T, n, n}), K_out({T, n, n}), Pp_out({T, n, n});
        std::copy(xs.data(), xs.data() + T * n, x_out.mutable_data());
        std::copy(Ps.data(), Ps.data() + T * n * n, P_out.mutable_data());
        std::fill(K_out.mutable_data(), K_out.mutable_data() + T * n * n, 0.0);
        std::fill(Pp_out.mutable_data(), Pp_out.mutable_data() + T * n * n, 0.0);
        {
          py::gil_scoped_release release;
          rts_smooth(T, n, x_out.mutable_data(), P_out.mutable_data(), Fs.data(), Qs.data(),
                     K_out.mutable_data(), Pp_out.mutable_data());
        }
        return py::make_tuple(x_out, P_out, K_out, Pp_out);
      },
      py::arg("xs"), py::arg("Ps"), py::arg("Fs"), py::arg("Qs"));
}

}  // namespace fusion::bindings
