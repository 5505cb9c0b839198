// The filterpy-compatible KalmanFilter object, and the run-time-sized kernels that the
// Python ExtendedKalmanFilter, UnscentedKalmanFilter and rts_smoother call.
#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <string>

#include "common.hpp"
#include "fusion/filters/linear_kalman_filter.hpp"
#include "fusion/filters/rts_smoother.hpp"

namespace fusion::bindings {

namespace {

// Remembers whether the user gave x as a 1-D array, so that x reads back with the same
// shape (filterpy keeps whatever was assigned).
struct PyKalmanFilter : LinearKalmanFilter {
  using LinearKalmanFilter::LinearKalmanFilter;
  bool x_1d = false;
};

[[noreturn]] void raise_update_failure(const char* where, UpdateStatus s, const VecX& z) {
  std::ostringstream os;
  os << where << ": " << to_string(s) << " (z = [";
  for (Index i = 0; i < z.size(); ++i) os << (i ? ", " : "") << z(i);
  os << "])";
  throw NumericalError(os.str());
}

using Member = MatX PyKalmanFilter::*;

void def_matrix(py::class_<PyKalmanFilter>& c, const char* name, Member mem, bool scalar_ok,
                const char* doc) {
  c.def_property(
      name,
      [mem](py::object self) {
        auto& kf = self.cast<PyKalmanFilter&>();
        MatX& M = kf.*mem;
        return view2d(M.data(), M.rows(), M.cols(), self);
      },
      [mem, name, scalar_ok](PyKalmanFilter& kf, const py::object& v) {
        MatX& M = kf.*mem;
        M = to_matrix(v, M.rows(), M.cols(), std::string("KalmanFilter.") + name, scalar_ok);
      },
      doc);
}

using VMember = VecX PyKalmanFilter::*;

void def_vector(py::class_<PyKalmanFilter>& c, const char* name, VMember mem, bool follows_x,
                const char* doc) {
  c.def_property(
      name,
      [mem, follows_x](py::object self) {
        auto& kf = self.cast<PyKalmanFilter&>();
        VecX& v = kf.*mem;
        if (follows_x && kf.x_1d) return view(v.data(), {static_cast<py::ssize_t>(v.size())}, self);
        return view2d(v.data(), v.size(), 1, self);
      },
      [mem, name](PyKalmanFilter& kf, const py::object& v) {
        VecX& target = kf.*mem;
        const CArray a = as_array(v, std::string("KalmanFilter.") + name);
        target = to_vector(a, target.size(), std::string("KalmanFilter.") + name);
        if (mem == &PyKalmanFilter::x) kf.x_1d = (a.ndim() == 1);
      },
      doc);
}

}  // namespace

void register_filters(py::module_& m) {
  py::class_<PyKalmanFilter> kf(m, "KalmanFilter", py::dynamic_attr());
  kf.def(py::init<Index, Index, Index>(), py::arg("dim_x"), py::arg("dim_z"), py::arg("dim_u") = 0);
  kf.def_property_readonly("dim_x", &PyKalmanFilter::dim_x);
  kf.def_property_readonly("dim_z", &PyKalmanFilter::dim_z);
  kf.def_property_readonly("dim_u", &PyKalmanFilter::dim_u);
  def_vector(kf, "x", &PyKalmanFilter::x, true, "State estimate, shape (dim_x, 1).");
  def_vector(kf, "x_prior", &PyKalmanFilter::x_prior, true, "State after the last predict.");
  def_vector(kf, "x_post", &PyKalmanFilter::x_post, true, "State after the last update.");
  def_vector(kf, "y", &PyKalmanFilter::y, false, "Residual z - H x of the last update.");
  def_vector(kf, "z", &PyKalmanFilter::z, false, "Last measurement.");
  def_matrix(kf, "P", &PyKalmanFilter::P, true, "State covariance (dim_x, dim_x).");
  def_matrix(kf, "F", &PyKalmanFilter::F, false, "State transition matrix.");
  def_matrix(kf, "Q", &PyKalmanFilter::Q, true, "Process noise covariance.");
  def_matrix(kf, "H", &PyKalmanFilter::H, false, "Measurement matrix (dim_z, dim_x).");
  def_matrix(kf, "R", &PyKalmanFilter::R, true, "Measurement noise covariance.");
  kf.def_property(
      "B",
      [](py::object self) -> py::object {
        auto& k = self.cast<PyKalmanFilter&>();
        if (k.B.cols() == 0) return py::none();  // no control input, as filterpy's B = None
        return view2d(k.B.data(), k.B.rows(), k.B.cols(), self);
      },
      [](PyKalmanFilter& k, const py::object& v) {
        // filterpy lets B be set (or cleared) after construction; its width sets dim_u.
        if (v.is_none()) {
          k.B.resize(k.dim_x(), 0);
          return;
        }
        const CArray b = as_array(v, "KalmanFilter.B");
        const Index cols = b.ndim() == 2 ? b.shape(1) : 1;
        k.B = to_matrix(b, k.dim_x(), cols, "KalmanFilter.B");
      },
      "Control transition matrix (dim_x, dim_u), or None without control input.");
  def_matrix(kf, "P_prior", &PyKalmanFilter::P_prior, false, "Covariance after the last predict.");
  def_matrix(kf, "P_post", &PyKalmanFilter::P_post, false, "Covariance after the last update.");
  def_matrix(kf, "S", &PyKalmanFilter::S, false, "Innovation covariance of the last update.");
  def_matrix(kf, "K", &PyKalmanFilter::K, false, "Kalman gain of the last update.");
  kf.def_readwrite("alpha", &PyKalmanFilter::alpha, "Fading-memory factor (1: standard filter).");
  kf.def_readonly("log_likelihood", &PyKalmanFilter::log_likelihood,
                  "log N(y; 0, S) of the last update.");
  kf.def_readonly("nis", &PyKalmanFilter::nis, "Normalised innovation squared y^T S^-1 y of the last update.");

  // Pickling (and so copy.deepcopy): every matrix plus the Python-side __dict__.
  kf.def(py::pickle(
      [](py::object self) {
        auto& k = self.cast<PyKalmanFilter&>();
        py::tuple mats = py::make_tuple(k.x, k.P, k.F, k.Q, k.H, k.R, k.B, k.x_prior, k.P_prior,
                                        k.x_post, k.P_post, k.y, k.z, k.S, k.K);
        py::tuple scalars = py::make_tuple(k.dim_x(), k.dim_z(), k.alpha, k.nis, k.log_likelihood, k.x_1d);
        py::object dict = py::hasattr(self, "__dict__") ? self.attr("__dict__") : py::dict();
        return py::make_tuple(scalars, mats, dict);
      },
      [](const py::tuple& t) {
        if (t.size() != 3) throw ShapeError("KalmanFilter: invalid pickled state");
        const py::tuple sc = t[0].cast<py::tuple>(), mats = t[1].cast<py::tuple>();
        const MatX B = mats[6].cast<MatX>();
        PyKalmanFilter k(sc[0].cast<Index>(), sc[1].cast<Index>(), B.cols());
        k.x = mats[0].cast<VecX>();
        k.P = mats[1].cast<MatX>();
        k.F = mats[2].cast<MatX>();
        k.Q = mats[3].cast<MatX>();
        k.H = mats[4].cast<MatX>();
        k.R = mats[5].cast<MatX>();
        k.B = B;
        k.x_prior = mats[7].cast<VecX>();
        k.P_prior = mats[8].cast<MatX>();
        k.x_post = mats[9].cast<VecX>();
        k.P_post = mats[10].cast<MatX>();
        k.y = mats[11].cast<VecX>();
        k.z = mats[12].cast<VecX>();
        k.S = mats[13].cast<MatX>();
        k.K = mats[14].cast<MatX>();
        k.alpha = sc[2].cast<double>();
        k.nis = sc[3].cast<double>();
        k.log_likelihood = sc[4].cast<double>();
        k.x_1d = sc[5].cast<bool>();
        return std::make_pair(std::move(k), t[2].cast<py::dict>());
      }));

  kf.def(
      "predict",
      [](PyKalmanFilter& self, const py::object& u, const py::object& B, const py::object& F,
         const py::object& Q) {
        if (u.is_none() && B.is_none() && F.is_none() && Q.is_none()) {
          self.predict();
          return;
        }
        const Index n = self.dim_x();
        MatX Fm, Qm, Bm;
        VecX uv;
        if (!F.is_none()) Fm = to_matrix(F, n, n, "KalmanFilter.predict: F");
        if (!Q.is_none()) Qm = to_matrix(Q, n, n, "KalmanFilter.predict: Q", true);
        if (!B.is_none()) {
          const CArray b = as_array(B, "KalmanFilter.predict: B");
          Bm = to_matrix(b, n, b.ndim() == 2 ? b.shape(1) : 1, "KalmanFilter.predict: B");
        }
        const MatX& Beff = B.is_none() ? self.B : Bm;
        // As filterpy: u only matters with a control matrix (u=0 with no B is common).
        const bool use_u = !u.is_none() && Beff.cols() > 0;
        if (use_u) uv = to_vector(u, Beff.cols(), "KalmanFilter.predict: u");
        self.predict(use_u ? &uv : nullptr, B.is_none() ? nullptr : &Bm,
                     F.is_none() ? nullptr : &Fm, Q.is_none() ? nullptr : &Qm);
      },
      py::arg("u") = py::none(), py::arg("B") = py::none(), py::arg("F") = py::none(),
      py::arg("Q") = py::none(), "Predict the next state: x = F x + B u, P = alpha^2 F P F^T + Q.");

  kf.def(
      "update",
      [](PyKalmanFilter& self, const py::object& z, const py::object& R, const py::object& H) {
        if (z.is_none()) {
          self.skip_update();
          return;
        }
        const VecX zv = to_vector(z, self.dim_z(), "KalmanFilter.update: z");
        MatX Rm, Hm;
        if (!R.is_none()) Rm = to_matrix(R, self.dim_z(), self.dim_z(), "KalmanFilter.update: R", true);
        if (!H.is_none()) Hm = to_matrix(H, self.dim_z(), self.dim_x(), "KalmanFilter.update: H");
        const UpdateInfo info =
            self.update(zv, R.is_none() ? nullptr : &Rm, H.is_none() ? nullptr : &Hm);
        if (info.status != UpdateStatus::kOk) raise_update_failure("KalmanFilter.update", info.status, zv);
      },
      py::arg("z"), py::arg("R") = py::none(), py::arg("H") = py::none(),
      "Add measurement z: Joseph-form update with a Cholesky-solved gain.");

  m.def(
      "kalman_update",
      [](const VecX& x, const MatX& P, const VecX& y, const MatX& H, const MatX& R) {
        const Index n = x.size(), mz = y.size();
        if (P.rows() != n || P.cols() != n) throw ShapeError("kalman_update: P must be (" + std::to_string(n) + ", " + std::to_string(n) + ")");
        if (H.rows() != mz || H.cols() != n) throw ShapeError("kalman_update: H must be (" + std::to_string(mz) + ", " + std::to_string(n) + ")");
        if (R.rows() != mz || R.cols() != mz) throw ShapeError("kalman_update: R must be (" + std::to_string(mz) + ", " + std::to_string(mz) + ")");
        VecX xo = x;
        MatX Po = P, S, K;
        const UpdateInfo info = kalman_update<Eigen::Dynamic, Eigen::Dynamic>(xo, Po, y, H, R, S, K);
        if (info.status != UpdateStatus::kOk) raise_update_failure("update", info.status, y);
        return py::make_tuple(xo, Po, S, K, info.nis, info.log_likelihood);
      },
      py::arg("x"), py::arg("P"), py::arg("y"), py::arg("H"), py::arg("R"),
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
