// The filterpy-compatible KalmanFilter object (fusion.filters.KalmanFilter builds on it).
//
// Python semantics, as filterpy's:
// - Model matrices (F, Q, H, R, B) are the objects the user assigned: `kf.F = Fm` keeps Fm,
//   a later edit of Fm reaches the filter, `b.F = a.F` shares it. A scalar Q or R stays a
//   scalar and broadcasts into every element, as in filterpy.
// - What a step produces (x, P, the priors and posteriors, y, S, K, z) is a new value each
//   step: an array read before a step keeps its value after it, while in-place edits of the
//   current x or P (`kf.P[2:, 2:] *= 10`) take effect at the next step.
//
// Memory: no array handed to Python ever points into C++ storage. Each quantity lives either
// as a Python object (one the user assigned, or one handed out on a read: it is then the
// truth, since the user may edit it in place) or, after a step, in the engine's buffers,
// copied into a fresh numpy array when it is first read. Dropping the reference at each step
// is what gives value semantics, and it costs nothing for quantities nobody reads.
//
// Threads: every method runs with the GIL held and never releases it, so each call (a step,
// an attribute read or write) is atomic with respect to other Python threads.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstring>
#include <new>
#include <sstream>
#include <string>
#include <type_traits>

#include "common.hpp"
#include "fusion/filters/linear_kalman_filter.hpp"

namespace fusion::bindings {

namespace {

enum class Scalar {
  kReject,     // a scalar is an error (unless the matrix is 1 x 1)
  kIdentity,   // s means s * I (filterpy's P, and the Q and R arguments of predict/update)
  kBroadcast,  // s is added to every element (filterpy's self.Q, and self.R inside S)
};

bool is_none(const py::handle& h) { return h.is_none(); }

std::string dims(Index r, Index c) { return "(" + std::to_string(r) + ", " + std::to_string(c) + ")"; }

// Copies a numeric array-like `o` of shape r x c into dst. Scalars follow `mode` (kBroadcast
// fills every element, kIdentity the diagonal); a 1-D array of r*c entries is accepted for a
// row or column. Raises ShapeError naming `what`.
void load_matrix(const py::handle& o, MatX& dst, Index r, Index c, const char* what, Scalar mode) {
  dst.resize(r, c);
  if (py::array_t<double>::check_(o)) {  // fast path: a float64 array of the right shape
    const auto a = py::reinterpret_borrow<py::array>(o);
    if (a.ndim() == 2 && a.shape(0) == r && a.shape(1) == c) {
      const auto* base = static_cast<const char*>(a.data());
      const py::ssize_t s0 = a.strides(0), s1 = a.strides(1);
      for (Index i = 0; i < r; ++i)
        for (Index j = 0; j < c; ++j)
          dst(i, j) = *reinterpret_cast<const double*>(base + i * s0 + j * s1);
      return;
    }
  }
  const CArray a = as_array(o, what);
  if (a.ndim() == 0) {
    const double s = *a.data();
    if (r == 1 && c == 1) {
      dst(0, 0) = s;
    } else if (mode == Scalar::kBroadcast && r == c) {
      dst.setConstant(s);
    } else if (mode == Scalar::kIdentity && r == c) {
      dst.setIdentity();
      dst *= s;
    } else {
      throw ShapeError(std::string(what) + ": expected shape " + dims(r, c) + ", but got a scalar");
    }
    return;
  }
  const bool ok = (a.ndim() == 2 && a.shape(0) == r && a.shape(1) == c) ||
                  (a.ndim() == 1 && ((r == 1 && a.shape(0) == c) || (c == 1 && a.shape(0) == r)));
  if (!ok) shape_error(what, dims(r, c), a);
  dst = Eigen::Map<const MatX>(a.data(), r, c);  // MatX is row-major like the C array
}

// A vector of n entries from (n,), (n, 1), (1, n) or, when n == 1, a scalar. Returns the
// number of dimensions the input had.
int load_vector(const py::handle& o, VecX& dst, Index n, const char* what) {
  dst.resize(n);
  if (py::array_t<double>::check_(o)) {
    const auto a = py::reinterpret_borrow<py::array>(o);
    const bool col = a.ndim() == 2 && a.shape(0) == n && a.shape(1) == 1;
    if ((a.ndim() == 1 && a.shape(0) == n) || col) {
      const auto* base = static_cast<const char*>(a.data());
      const py::ssize_t s0 = a.strides(0);
      for (Index i = 0; i < n; ++i) dst(i) = *reinterpret_cast<const double*>(base + i * s0);
      return static_cast<int>(a.ndim());
    }
  }
  const CArray a = as_array(o, what);
  const bool ok = (a.ndim() == 1 && a.shape(0) == n) ||
                  (a.ndim() == 2 && ((a.shape(0) == n && a.shape(1) == 1) ||
                                     (a.shape(0) == 1 && a.shape(1) == n))) ||
                  (a.ndim() == 0 && n == 1);
  if (!ok) shape_error(what, "(" + std::to_string(n) + ",) or (" + std::to_string(n) + ", 1)", a);
  dst = Eigen::Map<const VecX>(a.data(), n);
  return static_cast<int>(a.ndim());
}

// A fresh numpy array holding a copy of m (row-major), shaped (rows,) when as_1d.
py::array fresh(const MatX& m, bool as_1d = false) {
  py::array_t<double> a = as_1d ? py::array_t<double>(static_cast<py::ssize_t>(m.size()))
                                : py::array_t<double>({static_cast<py::ssize_t>(m.rows()),
                                                       static_cast<py::ssize_t>(m.cols())});
  std::copy(m.data(), m.data() + m.size(), a.mutable_data());
  return std::move(a);
}

py::array fresh_vec(const VecX& v, bool as_1d) {
  py::array_t<double> a = as_1d ? py::array_t<double>(static_cast<py::ssize_t>(v.size()))
                                : py::array_t<double>({static_cast<py::ssize_t>(v.size()), py::ssize_t{1}});
  std::copy(v.data(), v.data() + v.size(), a.mutable_data());
  return std::move(a);
}

// filterpy's "no measurement": a (dim_z, 1) column of None.
py::object none_column(Index m) {
  py::list rows;
  for (Index i = 0; i < m; ++i) rows.append(py::make_tuple(py::none()));
  return py::module_::import("numpy").attr("array")(rows, py::arg("dtype") = "object");
}

// An argument made safe to read later without running Python code: None and float64 arrays
// as they are (their data, shape and strides are read in C), anything else converted now to
// a C-contiguous float64 array. Converting may run arbitrary Python code (an `__array__`, a
// sequence's `__getitem__`), which may call back into this filter or let another thread in;
// predict/update therefore settle every argument before writing any engine buffer, so that a
// re-entrant call cannot leave buffers of mismatched sizes behind (it used to: an update
// whose z.__array__ ran an update with a taller H corrupted the heap).
py::object settle(const py::handle& o, const char* what) {
  if (o.is_none() || py::array_t<double>::check_(o)) return py::reinterpret_borrow<py::object>(o);
  return as_array(o, what);
}

// An assigned value, kept as the object itself when it is already a float64 array (reference
// semantics), else converted to a new float64 array; a scalar stays a Python float.
py::object keep(const py::handle& v, const char* what) {
  if (py::array_t<double>::check_(v) && py::reinterpret_borrow<py::array>(v).ndim() > 0)
    return py::reinterpret_borrow<py::object>(v);
  const CArray a = as_array(v, what);
  if (a.ndim() == 0) return py::float_(*a.data());
  return std::move(a);
}

// A covariance (P when assigned, Q before a predict) must be symmetric positive semi-definite.
// Checked in O(n^2): every diagonal entry >= 0 (not NaN) and A(i,j) == A(j,i) to a relative
// 1e-8 of the entries and of sqrt(A(i,i) A(j,j)) (round-off from a user's F P F^T: a rotated
// isotropic covariance R s I R^T has off-diagonal round-off of 1e-17 where the exact value is
// 0, refused by a tolerance relative to the entries alone). This catches a non-symmetric P, a
// negative-definite P or Q and a negative scalar Q. Not the 2 x 2 minors A(i,j)^2 <= A(i,i) A(j,j), and not the P a
// step produced: filterpy's own tests (test_MMAE2) run with an indefinite Q of zero diagonal
// entries, which drives P's diagonal to -3e-9 after some steps; filterpy accepts both and the
// drop-in must too. Throws NumericalError naming the matrix and the entry; the filter is
// unchanged.
void check_covariance(const MatX& A, const char* what) {
  const Index n = A.rows();
  for (Index i = 0; i < n; ++i) {
    if (!(A(i, i) >= 0.0) || !std::isfinite(A(i, i))) {
      std::ostringstream os;
      os << what << ": diagonal entry [" << i << ", " << i << "] = " << A(i, i)
         << " is negative or not finite (a covariance is symmetric positive semi-definite)";
      throw NumericalError(os.str());
    }
  }
  for (Index i = 0; i < n; ++i) {
    for (Index j = i + 1; j < n; ++j) {
      const double a = A(i, j), b = A(j, i);
      const char* problem = nullptr;
      if (!std::isfinite(a) || !std::isfinite(b)) problem = "is not finite";
      else if (std::abs(a - b) > 1e-8 * (std::abs(a) + std::abs(b) + std::sqrt(A(i, i)) * std::sqrt(A(j, j))) + 1e-300)
        problem = "is not symmetric";
      if (problem != nullptr) {
        std::ostringstream os;
        os << what << ": entry [" << i << ", " << j << "] = " << a << " (entry [" << j << ", " << i << "] = " << b
           << ") " << problem;
        throw NumericalError(os.str());
      }
    }
  }
}

struct PyKalmanFilter {
  // An instance whose __init__ never ran (`KalmanFilter.__new__(KalmanFilter)`, or a failed
  // __setstate__ on such an object) still reaches the methods: pybind11 then hands them raw
  // storage it allocates on first use, through this operator new when the class has one.
  // Zero-filled, that storage reads `ready == false` (a constructed object has true), and
  // every entry point refuses it (check()) instead of dereferencing garbage py::object
  // pointers left there by a freed filter (it segfaulted). pybind11 never runs a destructor
  // on such storage; it frees it with the matching operator delete.
  static void* operator new(std::size_t size) {
    void* p = ::operator new(size);
    std::memset(p, 0, size);
    return p;
  }
  static void operator delete(void* p) noexcept { ::operator delete(p); }

  bool ready = true;
  void check() const {
    if (!ready)
      throw py::type_error("KalmanFilter: this object was created without __init__ (KalmanFilter.__new__); "
                           "construct it as KalmanFilter(dim_x, dim_z)");
  }

  PyKalmanFilter(Index nx, Index nz, Index nu) : core(nx, nz), dim_u(nu) {
    if (nu < 0) throw ConfigurationError("KalmanFilter: dim_u must be 0 or more, got " + std::to_string(nu));
    F = fresh(MatX::Identity(nx, nx));
    Q = fresh(MatX::Identity(nx, nx));
    H = fresh(MatX::Zero(nz, nx));
    R = fresh(MatX::Identity(nz, nz));
    B = py::none();
    z = none_column(nz);
    // filterpy's initial x_prior, x_post and y are columns whatever x becomes; they stay
    // until the first predict (x_prior) or update (x_post, y) replaces them.
    x_prior = fresh_vec(core.x_prior, false);
    x_post = fresh_vec(core.x_post, false);
    y = fresh_vec(core.y, false);
  }

  Index n() const {
    check();
    return core.dim_x();
  }
  Index m() const {
    check();
    return core.dim_z();
  }
  bool x_1d() const { return x_ndim == 1; }

  // ---- the state: bring a Python-side x/P (assigned or read and maybe edited) into the core
  // Every step starts from a finite x and P: an in-place edit (`kf.P[0, 0] = nan`, or the array
  // an augmented assignment `kf.P *= nan` edited before its check refused it) is found here, in
  // O(n^2), before the core is stepped, so the step raises and the filter is unchanged (the
  // Python-side x/P keep the edited arrays until a valid one is assigned). Only finiteness: a
  // slightly negative diagonal that a step produced is accepted, as filterpy does (test_MMAE2).
  // (`check_finite` false: unpickling/deep-copying, which keeps a state as it is.)
  void load_state(bool check_finite = true) {
    if (x) x_ndim = load_vector(x, core.x, n(), "KalmanFilter.x");
    if (P) load_matrix(P, core.P, n(), n(), "KalmanFilter.P", Scalar::kIdentity);
    if (!check_finite) return;
    if (!core.x.allFinite())
      throw NumericalError("KalmanFilter.x contains NaN or infinity (edited in place?); assign a valid x");
    if (!core.P.allFinite())
      throw NumericalError("KalmanFilter.P contains NaN or infinity (edited in place?); assign a valid P");
  }
  // After a step, what the core holds is the truth: forget the objects handed out before.
  void drop(std::initializer_list<py::object*> slots) {
    for (py::object* s : slots) *s = py::object();
  }

  void predict(const py::object& u_arg, const py::object& B_arg, const py::object& F_arg, const py::object& Q_arg) {
    // Every Python-code-running conversion first (see settle), then only C reads of arrays.
    const py::object F_ = settle(F_arg, "KalmanFilter.predict: F");
    const py::object Q_ = settle(Q_arg, "KalmanFilter.predict: Q");
    const py::object B_ = settle(B_arg, "KalmanFilter.predict: B");
    const py::object u_ = settle(u_arg, "KalmanFilter.predict: u");
    const Index N = n();
    const py::object Fo = is_none(F_) ? F : F_;  // owned: a slot may be reassigned meanwhile
    load_matrix(Fo, core.F, N, N, "KalmanFilter.F", Scalar::kReject);
    if (is_none(Q_)) load_matrix(Q, core.Q, N, N, "KalmanFilter.Q", Scalar::kBroadcast);
    else load_matrix(Q_, core.Q, N, N, "KalmanFilter.predict: Q", Scalar::kIdentity);
    const py::object Bo = is_none(B_) ? B : B_;
    const bool control = !is_none(Bo) && !is_none(u_);
    if (control) {
      const CArray b = as_array(Bo, "KalmanFilter.B");
      const Index cols = b.ndim() == 2 ? b.shape(1) : 1;
      load_matrix(b, core.B, N, cols, "KalmanFilter.B", Scalar::kReject);
      load_vector(u_, core.u, cols, "KalmanFilter.predict: u");
    }
    load_state();
    check_covariance(core.Q, is_none(Q_) ? "KalmanFilter.predict: Q" : "KalmanFilter.predict: Q argument");
    core.predict(control, alpha_sq);
    drop({&x, &P, &x_prior, &P_prior});
  }

  void update(const py::object& z_arg, const py::object& R_arg, const py::object& H_arg) {
    // Every Python-code-running conversion first (see settle), then only C reads of arrays.
    const py::object z_ = settle(z_arg, "KalmanFilter.update: z");
    const py::object R_ = settle(R_arg, "KalmanFilter.update: R");
    const py::object H_ = settle(H_arg, "KalmanFilter.update: H");
    const Index N = n();
    if (is_none(z_)) {
      load_state();
      core.skip_update();
      drop({&x_post, &P_post});
      y = fresh_vec(core.y, false);  // filterpy: zeros((dim_z, 1)) whatever x's shape
      z = none_column(m());
      return;
    }
    Index rows = m();
    if (!is_none(H_)) {
      const CArray h = as_array(H_, "KalmanFilter.update: H");
      rows = h.ndim() == 2 ? h.shape(0) : 1;
      if (rows < 1) throw ShapeError("KalmanFilter.update: H has no rows");
      load_matrix(h, core.H, rows, N, "KalmanFilter.update: H", Scalar::kReject);
    } else {
      load_matrix(H, core.H, rows, N, "KalmanFilter.H", Scalar::kReject);
    }
    load_vector(z_, core.zm, rows, "KalmanFilter.update: z");
    if (is_none(R_)) {
      load_matrix(R, Rs, rows, rows, "KalmanFilter.R", Scalar::kBroadcast);
      if (PyFloat_Check(R.ptr()) && rows > 1) {
        Rj = MatX::Identity(rows, rows) * PyFloat_AS_DOUBLE(R.ptr());
      } else {
        Rj = Rs;
      }
    } else {
      load_matrix(R_, Rs, rows, rows, "KalmanFilter.update: R", Scalar::kIdentity);
      Rj = Rs;
    }
    load_state();
    const UpdateInfo info = core.update(Rs, Rj);
    if (info.status == UpdateStatus::kNonFiniteMeasurement && all_finite(core.zm))
      throw NumericalError("KalmanFilter.update: R has a non-finite entry (NaN or infinite measurement noise)");
    if (info.status != UpdateStatus::kOk) raise_update_failure("KalmanFilter.update", info.status, core.zm);
    drop({&x, &P, &y, &z, &S, &K, &x_post, &P_post});
  }

  // Materialise every quantity as a Python object (for copying and pickling).
  void materialize_all() {
    get_x();
    get_P();
    for (auto* s : {&x_prior, &x_post, &y, &z, &P_prior, &P_post, &S, &K}) get(*s);
  }

  py::object get_x() {
    check();
    if (!x) x = fresh_vec(core.x, x_1d());
    return x;
  }
  py::object get_P() {
    check();
    if (!P) P = fresh(core.P);
    return P;
  }
  // The derived quantities: vectors follow x's shape, matrices are 2-D.
  py::object& get(py::object& slot) {
    check();
    if (slot) return slot;
    if (&slot == &x_prior) slot = fresh_vec(core.x_prior, x_1d());
    else if (&slot == &x_post) slot = fresh_vec(core.x_post, x_1d());
    else if (&slot == &y) slot = fresh_vec(core.y, x_1d());
    else if (&slot == &z) slot = fresh_vec(core.z, x_1d());
    else if (&slot == &P_prior) slot = fresh(core.P_prior);
    else if (&slot == &P_post) slot = fresh(core.P_post);
    else if (&slot == &S) slot = fresh(core.S);
    else if (&slot == &K) slot = fresh(core.K);
    return slot;
  }

  // ---- assignment: validated, then kept by reference
  void set_x(const py::handle& v) {
    VecX tmp;
    py::object kept = keep(v, "KalmanFilter.x");  // converted once: checked and stored
    const int nd = load_vector(kept, tmp, n(), "KalmanFilter.x");
    x = std::move(kept);
    x_ndim = nd == 1 ? 1 : 2;
    if (nd == 0) x = fresh_vec(tmp, false);
  }
  // The value is converted once (keep) and the converted object is both checked and stored: an
  // object whose conversion runs Python code (__array__) cannot pass the check with one value
  // and be stored as another.
  void set_matrix(py::object& slot, const py::handle& v, Index r, Index c, const char* what, Scalar mode) {
    py::object kept = keep(v, what);
    MatX tmp;
    load_matrix(kept, tmp, r, c, what, mode);
    slot = std::move(kept);
  }
  void set_vector(py::object& slot, const py::handle& v, Index len, const char* what) {
    py::object kept = keep(v, what);
    VecX tmp;
    load_vector(kept, tmp, len, what);
    slot = std::move(kept);
  }
  void set_B(const py::handle& v) {
    if (is_none(v)) {
      B = py::none();
      return;
    }
    const CArray b = as_array(v, "KalmanFilter.B");
    const Index cols = b.ndim() == 2 ? b.shape(1) : 1;
    MatX tmp;
    load_matrix(b, tmp, n(), cols, "KalmanFilter.B", Scalar::kReject);
    B = keep(v, "KalmanFilter.B");
  }
  void set_alpha(const py::handle& v) {
    check();
    const CArray a = as_array(v, "KalmanFilter.alpha");
    if (a.ndim() != 0 || !(*a.data() >= 1.0) || !std::isfinite(*a.data()))
      throw ConfigurationError("KalmanFilter.alpha must be a finite number >= 1 (1: standard filter), got " +
                               std::string(py::repr(v)));
    alpha_sq = *a.data() * *a.data();
  }

  // Becomes `fresh` (a second __init__, or __setstate__ on a live filter). The old
  // quantities are released only after this object is whole again: their destructors may
  // run Python code that reads this filter.
  void replace_with(PyKalmanFilter&& fresh) {
    PyKalmanFilter old(std::move(*this));
    *this = std::move(fresh);
  }

  LinearKalmanFilter core;
  Index dim_u;
  double alpha_sq = 1.0;
  int x_ndim = 2;
  py::object F, Q, H, R, B;
  py::object x, P, x_prior, x_post, y, z, P_prior, P_post, S, K;
  MatX Rs, Rj;
};

using Slot = py::object PyKalmanFilter::*;

void def_derived(py::class_<PyKalmanFilter>& c, const char* name, Slot slot, bool is_vector, const char* doc) {
  c.def_property(
      name, [slot](PyKalmanFilter& k) { return k.get(k.*slot); },
      [slot, is_vector, name](PyKalmanFilter& k, const py::object& v) {
        k.check();
        const std::string what = std::string("KalmanFilter.") + name;
        if (slot == &PyKalmanFilter::z) {  // filterpy keeps whatever z was (a None column too)
          k.z = v;
          return;
        }
        const bool gain = slot == &PyKalmanFilter::K;
        const bool innov = slot == &PyKalmanFilter::S;
        const bool meas = slot == &PyKalmanFilter::y;
        if (is_vector) {
          k.set_vector(k.*slot, v, meas ? k.m() : k.n(), what.c_str());
        } else {
          const Index r = innov ? k.m() : k.n();
          const Index cc = (innov || gain) ? k.m() : k.n();
          k.set_matrix(k.*slot, v, r, cc, what.c_str(), Scalar::kReject);
        }
      },
      doc);
}

// covariance: Q and R are checked on assignment as P is (check_covariance; was only at the next
// predict for Q, and never for a NaN or negative R until the update): refused, the filter keeps
// its matrix.
void def_model(py::class_<PyKalmanFilter>& c, const char* name, Slot slot, bool rows_z, bool square_z,
               Scalar mode, const char* doc, bool covariance = false) {
  c.def_property(
      name,
      [slot](PyKalmanFilter& k) {
        k.check();
        return k.*slot;
      },
      [slot, rows_z, square_z, mode, name, covariance](PyKalmanFilter& k, const py::object& v) {
        const Index r = rows_z ? k.m() : k.n();
        const Index cc = square_z ? k.m() : k.n();
        const std::string what = std::string("KalmanFilter.") + name;
        const py::object kept = keep(v, what.c_str());  // converted once: checked and stored
        if (covariance) {
          MatX tmp;
          load_matrix(kept, tmp, r, cc, what.c_str(), mode);
          check_covariance(tmp, what.c_str());
        }
        k.set_matrix(k.*slot, kept, r, cc, what.c_str(), mode);
      },
      doc);
}

// One number of a pickled state: a ShapeError naming it, not pybind11's bare cast error.
template <class T>
T pickled(const py::handle& h, const char* what) {
  try {
    return h.cast<T>();
  } catch (const py::cast_error&) {
    throw ShapeError(std::string("KalmanFilter: pickled ") + what +
                     (std::is_integral_v<T> ? " must be an integer, got " : " must be a number, got ") +
                     std::string(py::repr(h)));
  }
}

py::dict state_of(PyKalmanFilter& k) {
  k.materialize_all();
  py::dict d;
  d["dims"] = py::make_tuple(k.n(), k.m(), k.dim_u);
  d["alpha_sq"] = k.alpha_sq;
  d["nis"] = k.core.nis;
  d["log_likelihood"] = k.core.log_likelihood;
  d["x_ndim"] = k.x_ndim;
  for (auto [name, slot] : {std::pair<const char*, Slot>{"F", &PyKalmanFilter::F}, {"Q", &PyKalmanFilter::Q},
                            {"H", &PyKalmanFilter::H}, {"R", &PyKalmanFilter::R}, {"B", &PyKalmanFilter::B},
                            {"x", &PyKalmanFilter::x}, {"P", &PyKalmanFilter::P},
                            {"x_prior", &PyKalmanFilter::x_prior}, {"x_post", &PyKalmanFilter::x_post},
                            {"y", &PyKalmanFilter::y}, {"z", &PyKalmanFilter::z},
                            {"P_prior", &PyKalmanFilter::P_prior}, {"P_post", &PyKalmanFilter::P_post},
                            {"S", &PyKalmanFilter::S}, {"K", &PyKalmanFilter::K}})
    d[name] = k.*slot;
  return d;
}

// An unpickled filter and its __dict__, every quantity validated (the pickle factory, and
// _restore for an object that already exists).
std::pair<PyKalmanFilter, py::dict> from_state(const py::tuple& t) {
  if (t.size() != 2 || !py::isinstance<py::dict>(t[0]) || !py::isinstance<py::dict>(t[1]))
    throw ShapeError("KalmanFilter: invalid pickled state (expected (state dict, __dict__))");
  const auto st = t[0].cast<py::dict>();
  for (const char* key : {"dims", "alpha_sq", "nis", "log_likelihood", "x_ndim", "F", "Q", "H", "R", "B",
                          "x", "P", "x_prior", "x_post", "y", "z", "P_prior", "P_post", "S", "K"})
    if (!st.contains(key)) throw ShapeError(std::string("KalmanFilter: pickled state lacks '") + key + "'");
  if (!py::isinstance<py::tuple>(st["dims"]) && !py::isinstance<py::list>(st["dims"]))
    throw ShapeError("KalmanFilter: pickled dims must be (dim_x, dim_z, dim_u)");
  const auto d = py::tuple(st["dims"]);
  if (d.size() != 3) throw ShapeError("KalmanFilter: pickled dims must be (dim_x, dim_z, dim_u)");
  const Index nx = pickled<Index>(d[0], "dim_x"), nz = pickled<Index>(d[1], "dim_z");
  {
    // The dimensions must match the shipped F and H before anything of that size is
    // allocated: a few bytes claiming dims = (30000, 1, 0) would otherwise allocate
    // gigabytes (one n x n identity per quantity) before the first check.
    const CArray Fp = as_array(st["F"], "KalmanFilter.F (pickled)");
    const CArray Hp = as_array(st["H"], "KalmanFilter.H (pickled)");
    if (Fp.ndim() != 2 || Fp.shape(0) != nx || Fp.shape(1) != nx)
      shape_error("KalmanFilter.F (pickled)", dims(nx, nx), Fp);
    if (Hp.ndim() != 2 || Hp.shape(0) != nz || Hp.shape(1) != nx)
      shape_error("KalmanFilter.H (pickled)", dims(nz, nx), Hp);
  }
  PyKalmanFilter k(nx, nz, pickled<Index>(d[2], "dim_u"));
  // Every quantity goes through the validating setters: a state of the wrong size is a
  // ShapeError here, never memory read out of bounds later.
  k.set_matrix(k.F, st["F"], k.n(), k.n(), "KalmanFilter.F (pickled)", Scalar::kReject);
  k.set_matrix(k.Q, st["Q"], k.n(), k.n(), "KalmanFilter.Q (pickled)", Scalar::kBroadcast);
  k.set_matrix(k.H, st["H"], k.m(), k.n(), "KalmanFilter.H (pickled)", Scalar::kReject);
  k.set_matrix(k.R, st["R"], k.m(), k.m(), "KalmanFilter.R (pickled)", Scalar::kBroadcast);
  k.set_B(st["B"]);
  k.set_x(st["x"]);
  k.set_matrix(k.P, st["P"], k.n(), k.n(), "KalmanFilter.P (pickled)", Scalar::kIdentity);
  k.load_state(false);
  auto vec = [&](py::object& slot, const char* key, Index len) {
    k.set_vector(slot, st[key], len, (std::string("KalmanFilter.") + key + " (pickled)").c_str());
  };
  vec(k.x_prior, "x_prior", k.n());
  vec(k.x_post, "x_post", k.n());
  const py::object yv = st["y"];
  const Index my = as_array(yv, "KalmanFilter.y (pickled)").size();
  if (my < 1) throw ShapeError("KalmanFilter.y (pickled) is empty");
  k.set_vector(k.y, yv, my, "KalmanFilter.y (pickled)");
  k.z = st["z"];
  k.set_matrix(k.P_prior, st["P_prior"], k.n(), k.n(), "KalmanFilter.P_prior (pickled)", Scalar::kReject);
  k.set_matrix(k.P_post, st["P_post"], k.n(), k.n(), "KalmanFilter.P_post (pickled)", Scalar::kReject);
  k.set_matrix(k.S, st["S"], my, my, "KalmanFilter.S (pickled)", Scalar::kReject);
  k.set_matrix(k.K, st["K"], k.n(), my, "KalmanFilter.K (pickled)", Scalar::kReject);
  // Keep the engine's buffers consistent with the objects (they are the truth).
  load_vector(k.x_prior, k.core.x_prior, k.n(), "x_prior");
  load_vector(k.x_post, k.core.x_post, k.n(), "x_post");
  load_vector(k.y, k.core.y, my, "y");
  load_matrix(k.P_prior, k.core.P_prior, k.n(), k.n(), "P_prior", Scalar::kReject);
  load_matrix(k.P_post, k.core.P_post, k.n(), k.n(), "P_post", Scalar::kReject);
  load_matrix(k.S, k.core.S, my, my, "S", Scalar::kReject);
  load_matrix(k.K, k.core.K, k.n(), my, "K", Scalar::kReject);
  const double a2 = pickled<double>(st["alpha_sq"], "alpha_sq");
  if (!(a2 >= 1.0) || !std::isfinite(a2)) throw ConfigurationError("KalmanFilter: pickled alpha must be >= 1");
  k.alpha_sq = a2;
  k.core.nis = pickled<double>(st["nis"], "nis");
  k.core.log_likelihood = pickled<double>(st["log_likelihood"], "log_likelihood");
  return std::make_pair(std::move(k), t[1].cast<py::dict>());
}

}  // namespace

void register_kalman_filter(py::module_& m) {
  py::class_<PyKalmanFilter> kf(m, "KalmanFilter", py::dynamic_attr());
  kf.def(py::init<Index, Index, Index>(), py::arg("dim_x"), py::arg("dim_z"), py::arg("dim_u") = 0);
  // pybind11 silently ignores __init__ and __setstate__ on an object already constructed; the
  // Python class asks this and re-initialises or restores through _reinit/_restore instead.
  kf.def_static("_constructed", [](const py::handle& obj) {
    if (!py::isinstance<PyKalmanFilter>(obj)) return false;
    auto* inst = reinterpret_cast<py::detail::instance*>(obj.ptr());
    return inst->get_value_and_holder(py::detail::get_type_info(typeid(PyKalmanFilter))).instance_registered();
  });
  kf.def("_reinit", [](PyKalmanFilter& k, Index nx, Index nz, Index nu) {
    k.check();
    k.replace_with(PyKalmanFilter(nx, nz, nu));
  });
  kf.def("_restore", [](const py::object& self, const py::tuple& state) {
    auto& k = self.cast<PyKalmanFilter&>();
    k.check();
    auto restored = from_state(state);
    k.replace_with(std::move(restored.first));
    py::setattr(self, "__dict__", restored.second);
  });
  kf.def_property_readonly("dim_x", &PyKalmanFilter::n);
  kf.def_property_readonly("dim_z", &PyKalmanFilter::m);
  kf.def_property_readonly("dim_u", [](const PyKalmanFilter& k) {
    k.check();
    return k.dim_u;
  });

  kf.def_property("x", &PyKalmanFilter::get_x, &PyKalmanFilter::set_x,
                  "State estimate, (dim_x, 1) (or (dim_x,) when a 1-D x was assigned).");
  kf.def_property(
      "P", &PyKalmanFilter::get_P,
      [](PyKalmanFilter& k, const py::object& v) {
        py::object kept = keep(v, "KalmanFilter.P");  // converted once: checked and stored
        MatX tmp;
        load_matrix(kept, tmp, k.n(), k.n(), "KalmanFilter.P", Scalar::kIdentity);
        check_covariance(tmp, "KalmanFilter.P");  // refused: the filter keeps its P
        k.P = std::move(kept);
      },
      "State covariance (dim_x, dim_x); a scalar p means p * I.");
  def_model(kf, "F", &PyKalmanFilter::F, false, false, Scalar::kReject, "State transition matrix (dim_x, dim_x).");
  def_model(kf, "Q", &PyKalmanFilter::Q, false, false, Scalar::kBroadcast,
            "Process noise (dim_x, dim_x); a scalar is added to every element of P, as in filterpy.", true);
  def_model(kf, "H", &PyKalmanFilter::H, true, false, Scalar::kReject, "Measurement matrix (dim_z, dim_x).");
  def_model(kf, "R", &PyKalmanFilter::R, true, true, Scalar::kBroadcast,
            "Measurement noise (dim_z, dim_z); a scalar is added to every element of S, as in filterpy.", true);
  kf.def_property(
      "B",
      [](PyKalmanFilter& k) {
        k.check();
        return k.B;
      },
      &PyKalmanFilter::set_B,
      "Control transition matrix (dim_x, dim_u), or None without control input.");
  def_derived(kf, "x_prior", &PyKalmanFilter::x_prior, true, "State after the last predict.");
  def_derived(kf, "x_post", &PyKalmanFilter::x_post, true, "State after the last update.");
  def_derived(kf, "y", &PyKalmanFilter::y, true, "Residual z - H x of the last update.");
  def_derived(kf, "z", &PyKalmanFilter::z, true, "Last measurement (a column of None before any, or after update(None)).");
  def_derived(kf, "P_prior", &PyKalmanFilter::P_prior, false, "Covariance after the last predict.");
  def_derived(kf, "P_post", &PyKalmanFilter::P_post, false, "Covariance after the last update.");
  def_derived(kf, "S", &PyKalmanFilter::S, false, "Innovation covariance of the last update.");
  def_derived(kf, "K", &PyKalmanFilter::K, false, "Kalman gain of the last update.");
  kf.def_property(
      "alpha",
      [](const PyKalmanFilter& k) {
        k.check();
        return std::sqrt(k.alpha_sq);
      },
      &PyKalmanFilter::set_alpha,
      "Fading-memory factor (1: standard filter; must be >= 1).");
  kf.def_property(
      "_nis", [](const PyKalmanFilter& k) { return k.core.nis; },
      [](PyKalmanFilter& k, double v) { k.core.nis = v; });
  kf.def_property(
      "_log_likelihood", [](const PyKalmanFilter& k) { return k.core.log_likelihood; },
      [](PyKalmanFilter& k, double v) { k.core.log_likelihood = v; });
  kf.def_property_readonly("_x_ndim", [](const PyKalmanFilter& k) { return k.x_ndim; });

  kf.def(
      "_share_from",
      [](PyKalmanFilter& self, PyKalmanFilter& other) {
        if (self.n() != other.n() || self.m() != other.m())
          throw ShapeError("KalmanFilter._share_from: dimensions differ");
        other.materialize_all();
        self.core = other.core;
        self.dim_u = other.dim_u;
        self.alpha_sq = other.alpha_sq;
        self.x_ndim = other.x_ndim;
        for (Slot s : {&PyKalmanFilter::F, &PyKalmanFilter::Q, &PyKalmanFilter::H, &PyKalmanFilter::R,
                       &PyKalmanFilter::B, &PyKalmanFilter::x, &PyKalmanFilter::P, &PyKalmanFilter::x_prior,
                       &PyKalmanFilter::x_post, &PyKalmanFilter::y, &PyKalmanFilter::z, &PyKalmanFilter::P_prior,
                       &PyKalmanFilter::P_post, &PyKalmanFilter::S, &PyKalmanFilter::K})
          self.*s = other.*s;
      },
      "Make this filter a shallow copy of `other` (same array objects), as copy.copy in filterpy.");

  // Pickling (and so copy.deepcopy): every quantity, validated again on the way in.
  kf.def(py::pickle(
      [](py::object self) {
        auto& k = self.cast<PyKalmanFilter&>();
        py::object dict = py::hasattr(self, "__dict__") ? self.attr("__dict__") : py::dict();
        return py::make_tuple(state_of(k), dict);
      },
      [](const py::tuple& t) { return from_state(t); }));

  kf.def("predict", &PyKalmanFilter::predict, py::arg("u") = py::none(), py::arg("B") = py::none(),
         py::arg("F") = py::none(), py::arg("Q") = py::none(),
         "Predict the next state: x = F x + B u, P = alpha^2 F P F^T + Q. F, Q, B given here\n"
         "apply to this call only (a scalar Q here means Q * I, as in filterpy).");
  kf.def("update", &PyKalmanFilter::update, py::arg("z"), py::arg("R") = py::none(), py::arg("H") = py::none(),
         "Add measurement z (None: no measurement, the posterior is the prior). Joseph-form update\n"
         "with a Cholesky-solved gain; R and H given here apply to this call only.\n"
         "Raises fusion.errors.NumericalError (state unchanged) for a non-finite z or an S that is\n"
         "not positive definite, ShapeError for a z, R or H of the wrong shape.");
}

}  // namespace fusion::bindings
