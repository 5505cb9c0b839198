// Motion and sensor models, bound so that Python can build them (with their parameters),
// hand them to filter banks, and evaluate f, F, Q, h and the Jacobians directly (tests).
#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <sstream>
#include <string>

#include "common.hpp"
#include "fusion/models/measurement.hpp"
#include "fusion/models/motion.hpp"

namespace fusion::bindings {

namespace {

template <class Motion>
py::class_<Motion> bind_motion(py::module_& m, const char* name, const char* doc) {
  constexpr int N = Motion::N;
  py::class_<Motion> c(m, name, doc);
  c.def_property_readonly_static("dim_x", [](const py::object&) { return N; });
  c.def_property_readonly_static("angle_mask", [](const py::object&) {
    return std::vector<bool>(Motion::kAngles.begin(), Motion::kAngles.end());
  });
  c.def("f", [](const Motion& mo, const VecX& x, double dt) {
        if (x.size() != N) throw ShapeError(std::string(py::str(py::type::of(py::cast(mo)).attr("__name__"))) + ".f: x has " + std::to_string(x.size()) + " components, expected " + std::to_string(N));
        return Vec<N>(mo.f(Vec<N>(x), dt));
      }, py::arg("x"), py::arg("dt_s"), "State transition f(x, dt).");
  c.def("jacobian", [](const Motion& mo, const VecX& x, double dt) {
        if (x.size() != N) throw ShapeError("jacobian: x has " + std::to_string(x.size()) + " components, expected " + std::to_string(N));
        return Mat<N, N>(mo.jacobian(Vec<N>(x), dt));
      }, py::arg("x"), py::arg("dt_s"), "Analytic Jacobian F = df/dx.");
  c.def("Q", [](const Motion& mo, const VecX& x, double dt) {
        if (x.size() != N) throw ShapeError("Q: x has " + std::to_string(x.size()) + " components, expected " + std::to_string(N));
        return Mat<N, N>(mo.Q(Vec<N>(x), dt));
      }, py::arg("x"), py::arg("dt_s"), "Discrete process noise covariance.");
  c.def("kinematics", [](const Motion& mo, const VecX& x) {
        if (x.size() != N) throw ShapeError("kinematics: x has " + std::to_string(x.size()) + " components, expected " + std::to_string(N));
        const Kinematics<N> k = mo.kinematics(Vec<N>(x));
        return py::make_tuple(KinVec(k.k), Mat<kKinDim, N>(k.J));
      }, py::arg("x"), "(px, py, pz, vx, vy, vz) of the state and its 6 x n Jacobian.");
  return c;
}

template <class Meas>
py::class_<Meas> bind_measurement(py::module_& m, const char* name, const char* doc) {
  constexpr int M = Meas::M;
  py::class_<Meas> c(m, name, doc);
  c.def_property_readonly_static("dim_z", [](const py::object&) { return M; });
  c.def_property_readonly_static("angle_mask", [](const py::object&) {
    return std::vector<bool>(Meas::kAngles.begin(), Meas::kAngles.end());
  });
  c.def("h", [](const Meas& me, const VecX& k) -> py::object {
        if (k.size() != kKinDim) throw ShapeError("h: expected the 6-component kinematic point (px, py, pz, vx, vy, vz), got " + std::to_string(k.size()) + " components");
        Vec<M> z;
        Mat<M, kKinDim> Hk;
        if (!me.h(KinVec(k), z, Hk)) return py::none();
        return py::make_tuple(z, Hk);
      }, py::arg("kinematic_point"),
      "Predicted measurement and its Jacobian w.r.t. the kinematic point, or None where undefined.");
  return c;
}

// A noise standard deviation: finite and >= 0 (a NaN or negative one made Q NaN or let a
// caller believe the sign mattered), else ConfigurationError naming the model and argument.
double noise(double v, const char* model, const char* arg) {
  if (!(std::isfinite(v) && v >= 0.0))
    throw ConfigurationError(std::string(model) + ": " + arg + " must be finite and >= 0, got " + std::to_string(v));
  return v;
}

// The last constructor overload of a model class: any call the real constructor's argument
// types did not match (a string, None, a list, an unknown keyword) is a ConfigurationError
// naming the class and its signature, instead of pybind11's TypeError listing the overloads.
template <class T>
auto refuse_other_arguments(std::string signature) {
  return py::init([signature](const py::args& args, const py::kwargs& kwargs) -> T {
    throw ConfigurationError(signature + ": expected numbers, got " + std::string(py::str(args)) +
                             (kwargs.empty() ? std::string() : " " + std::string(py::str(kwargs))));
  });
}

// A model attribute assigned from Python (``model.sigma_a = v``): a real number (not a bool, a
// string, None, a complex or an int beyond double) that is finite and, by rule, >= 0 (a noise),
// > 0 (a length) or anything finite (a mount); else ConfigurationError naming the model and the
// attribute, and the model is unchanged (def_readwrite took NaN and gave pybind11's TypeError).
enum class Rule { kNoise, kPositive, kFinite };

double checked_number(const py::object& v, const char* model, const char* name, Rule rule) {
  const std::string what = std::string(model) + "." + name;
  double d = 0.0;
  bool ok = !py::isinstance<py::bool_>(v) && (py::isinstance<py::float_>(v) || py::isinstance<py::int_>(v) ||
                                               py::hasattr(v, "__float__")) && !PyComplex_Check(v.ptr());
  if (ok) {
    d = PyFloat_AsDouble(v.ptr());
    if (PyErr_Occurred()) {
      PyErr_Clear();
      ok = false;
    }
  }
  if (!ok) throw ConfigurationError(what + ": expected a real number, got " + std::string(py::str(py::repr(v))));
  if (rule == Rule::kNoise) return noise(d, model, name);
  if (!std::isfinite(d) || (rule == Rule::kPositive && !(d > 0.0)))
    throw ConfigurationError(what + (rule == Rule::kPositive ? " must be finite and > 0, got " : " must be finite, got ") +
                             std::to_string(d));
  return d;
}

// CameraPinhole's parameters, checked alike by the constructor and by each attribute assignment
// (def_readwrite took NaN, a zero focal length and any 3 x 3 matrix, and gave pybind11's
// TypeError for a string): fx, fy finite and > 0 and cx, cy finite (ConfigurationError, as every
// model's numbers); R_cw and t_cw arrays of real numbers (else ConfigurationError) of shape
// (3, 3) and (3,), (3, 1) or (1, 3) (else ShapeError), finite (else NumericalError), R_cw a
// rotation: max |R^T R - I| <= 1e-6 and det R > 0 (else ConfigurationError). Every error names
// CameraPinhole.<attribute>; a refused assignment leaves the camera unchanged.
CArray camera_array(const py::object& v, const std::string& what) {
  // (a default-constructed py::array is an empty array, not a null handle: track success apart)
  bool numeric = false;
  py::array raw;
  if (!v.is_none() && !py::isinstance<py::str>(v) && !py::isinstance<py::bytes>(v)) {
    raw = py::array::ensure(v);
    numeric = raw && std::string("iuf").find(raw.dtype().kind()) != std::string::npos;
  }
  if (!numeric)
    throw ConfigurationError(what + ": expected an array of real numbers, got " + std::string(py::repr(v)));
  CArray a = CArray::ensure(raw);
  if (!a) throw ConfigurationError(what + ": expected an array of real numbers, got " + std::string(py::repr(v)));
  return a;
}

Mat<3, 3> camera_rotation(const py::object& v) {
  const std::string what = "CameraPinhole.R_cw";
  const CArray a = camera_array(v, what);
  if (a.ndim() != 2 || a.shape(0) != 3 || a.shape(1) != 3) shape_error(what, "(3, 3)", a);
  const Mat<3, 3> R = Eigen::Map<const Eigen::Matrix<double, 3, 3, Eigen::RowMajor>>(a.data());
  if (!R.allFinite()) throw NumericalError(what + ": contains NaN or infinity");
  const double err = (R.transpose() * R - Mat<3, 3>::Identity()).cwiseAbs().maxCoeff();
  const double det = R(0, 0) * (R(1, 1) * R(2, 2) - R(1, 2) * R(2, 1)) - R(0, 1) * (R(1, 0) * R(2, 2) - R(1, 2) * R(2, 0)) +
                     R(0, 2) * (R(1, 0) * R(2, 1) - R(1, 1) * R(2, 0));
  if (!(err <= 1e-6) || !(det > 0.0)) {
    std::ostringstream os;
    os << what << ": not a rotation (max |R^T R - I| = " << err << ", det R = " << det
       << "; a rotation has R^T R = I to 1e-6 and det R = +1)";
    throw ConfigurationError(os.str());
  }
  return R;
}

Vec<3> camera_translation(const py::object& v) {
  const std::string what = "CameraPinhole.t_cw";
  const CArray a = camera_array(v, what);
  const bool ok = (a.ndim() == 1 && a.shape(0) == 3) ||
                  (a.ndim() == 2 && ((a.shape(0) == 3 && a.shape(1) == 1) || (a.shape(0) == 1 && a.shape(1) == 3)));
  if (!ok) shape_error(what, "(3,) or (3, 1)", a);
  const Vec<3> t = Eigen::Map<const Vec<3>>(a.data());
  if (!t.allFinite()) throw NumericalError(what + ": contains NaN or infinity");
  return t;
}

}  // namespace

void register_models(py::module_& m) {
  bind_motion<CV2D>(m, "CV2D", "Constant velocity, state (x, y, vx, vy).")
      .def(py::init([](double sigma_a) { CV2D mo; mo.sigma_a = noise(sigma_a, "CV2D", "sigma_a"); return mo; }), py::arg("sigma_a") = 1.0)
      .def_property("sigma_a", [](const CV2D& o) { return o.sigma_a; }, [](CV2D& o, const py::object& v) { o.sigma_a = checked_number(v, "CV2D", "sigma_a", Rule::kNoise); })
      .def(refuse_other_arguments<CV2D>("CV2D(sigma_a: float = 1.0)"));
  bind_motion<CV3D>(m, "CV3D", "Constant velocity, state (x, y, z, vx, vy, vz).")
      .def(py::init([](double sigma_a) { CV3D mo; mo.sigma_a = noise(sigma_a, "CV3D", "sigma_a"); return mo; }), py::arg("sigma_a") = 1.0)
      .def_property("sigma_a", [](const CV3D& o) { return o.sigma_a; }, [](CV3D& o, const py::object& v) { o.sigma_a = checked_number(v, "CV3D", "sigma_a", Rule::kNoise); })
      .def(refuse_other_arguments<CV3D>("CV3D(sigma_a: float = 1.0)"));
  bind_motion<CA2D>(m, "CA2D", "Constant acceleration, state (x, y, vx, vy, ax, ay).")
      .def(py::init([](double sigma_j) { CA2D mo; mo.sigma_j = noise(sigma_j, "CA2D", "sigma_j"); return mo; }), py::arg("sigma_j") = 1.0)
      .def_property("sigma_j", [](const CA2D& o) { return o.sigma_j; }, [](CA2D& o, const py::object& v) { o.sigma_j = checked_number(v, "CA2D", "sigma_j", Rule::kNoise); })
      .def(refuse_other_arguments<CA2D>("CA2D(sigma_j: float = 1.0)"));
  bind_motion<CA3D>(m, "CA3D", "Constant acceleration, state (x, y, z, vx, vy, vz, ax, ay, az).")
      .def(py::init([](double sigma_j) { CA3D mo; mo.sigma_j = noise(sigma_j, "CA3D", "sigma_j"); return mo; }), py::arg("sigma_j") = 1.0)
      .def_property("sigma_j", [](const CA3D& o) { return o.sigma_j; }, [](CA3D& o, const py::object& v) { o.sigma_j = checked_number(v, "CA3D", "sigma_j", Rule::kNoise); })
      .def(refuse_other_arguments<CA3D>("CA3D(sigma_j: float = 1.0)"));
  bind_motion<CTRV>(m, "CTRV", "Constant turn rate and velocity, state (x, y, v, yaw, yaw_rate).")
      .def(py::init([](double sa, double sy) { CTRV mo; mo.sigma_a = noise(sa, "CTRV", "sigma_a"); mo.sigma_yawdd = noise(sy, "CTRV", "sigma_yawdd"); return mo; }),
           py::arg("sigma_a") = 1.0, py::arg("sigma_yawdd") = 0.5)
      .def_property("sigma_a", [](const CTRV& o) { return o.sigma_a; }, [](CTRV& o, const py::object& v) { o.sigma_a = checked_number(v, "CTRV", "sigma_a", Rule::kNoise); })
      .def_property("sigma_yawdd", [](const CTRV& o) { return o.sigma_yawdd; }, [](CTRV& o, const py::object& v) { o.sigma_yawdd = checked_number(v, "CTRV", "sigma_yawdd", Rule::kNoise); })
      .def(refuse_other_arguments<CTRV>("CTRV(sigma_a: float = 1.0, sigma_yawdd: float = 0.5)"));
  bind_motion<CTRA>(m, "CTRA", "Constant turn rate and acceleration, state (x, y, v, yaw, yaw_rate, a).")
      .def(py::init([](double sj, double sy) { CTRA mo; mo.sigma_j = noise(sj, "CTRA", "sigma_j"); mo.sigma_yawdd = noise(sy, "CTRA", "sigma_yawdd"); return mo; }),
           py::arg("sigma_j") = 1.0, py::arg("sigma_yawdd") = 0.5)
      .def_property("sigma_j", [](const CTRA& o) { return o.sigma_j; }, [](CTRA& o, const py::object& v) { o.sigma_j = checked_number(v, "CTRA", "sigma_j", Rule::kNoise); })
      .def_property("sigma_yawdd", [](const CTRA& o) { return o.sigma_yawdd; }, [](CTRA& o, const py::object& v) { o.sigma_yawdd = checked_number(v, "CTRA", "sigma_yawdd", Rule::kNoise); })
      .def(refuse_other_arguments<CTRA>("CTRA(sigma_j: float = 1.0, sigma_yawdd: float = 0.5)"));
  bind_motion<ConstantTurn>(m, "ConstantTurn", "Cartesian constant turn, state (x, y, vx, vy, omega).")
      .def(py::init([](double sa, double sy) { ConstantTurn mo; mo.sigma_a = noise(sa, "ConstantTurn", "sigma_a"); mo.sigma_yawdd = noise(sy, "ConstantTurn", "sigma_yawdd"); return mo; }),
           py::arg("sigma_a") = 1.0, py::arg("sigma_yawdd") = 0.1)
      .def_property("sigma_a", [](const ConstantTurn& o) { return o.sigma_a; }, [](ConstantTurn& o, const py::object& v) { o.sigma_a = checked_number(v, "ConstantTurn", "sigma_a", Rule::kNoise); })
      .def_property("sigma_yawdd", [](const ConstantTurn& o) { return o.sigma_yawdd; }, [](ConstantTurn& o, const py::object& v) { o.sigma_yawdd = checked_number(v, "ConstantTurn", "sigma_yawdd", Rule::kNoise); })
      .def(refuse_other_arguments<ConstantTurn>("ConstantTurn(sigma_a: float = 1.0, sigma_yawdd: float = 0.1)"));

  bind_motion<KinematicBicycle>(m, "KinematicBicycle", "Kinematic bicycle, state (x, y, v, yaw, steer).")
      .def(py::init([](double sa, double ss, double L) {
             if (!(L > 0.0)) throw ConfigurationError("KinematicBicycle: wheelbase_m must be > 0, got " + std::to_string(L));
             KinematicBicycle mo; mo.sigma_a = noise(sa, "KinematicBicycle", "sigma_a"); mo.sigma_steer_rate = noise(ss, "KinematicBicycle", "sigma_steer_rate"); mo.wheelbase_m = L; return mo; }),
           py::arg("sigma_a") = 1.0, py::arg("sigma_steer_rate") = 0.2, py::arg("wheelbase_m") = 2.7)
      .def_property("sigma_a", [](const KinematicBicycle& o) { return o.sigma_a; }, [](KinematicBicycle& o, const py::object& v) { o.sigma_a = checked_number(v, "KinematicBicycle", "sigma_a", Rule::kNoise); })
      .def_property("sigma_steer_rate", [](const KinematicBicycle& o) { return o.sigma_steer_rate; }, [](KinematicBicycle& o, const py::object& v) { o.sigma_steer_rate = checked_number(v, "KinematicBicycle", "sigma_steer_rate", Rule::kNoise); })
      .def_property("wheelbase_m", [](const KinematicBicycle& o) { return o.wheelbase_m; }, [](KinematicBicycle& o, const py::object& v) { o.wheelbase_m = checked_number(v, "KinematicBicycle", "wheelbase_m", Rule::kPositive); })
      .def(refuse_other_arguments<KinematicBicycle>("KinematicBicycle(sigma_a: float = 1.0, sigma_steer_rate: float = 0.2, wheelbase_m: float = 2.7)"));

  bind_measurement<Position2D>(m, "Position2D", "Cartesian position (x, y).").def(py::init<>())
      .def(refuse_other_arguments<Position2D>("Position2D()"));
  bind_measurement<Position3D>(m, "Position3D", "Cartesian position (x, y, z).").def(py::init<>())
      .def(refuse_other_arguments<Position3D>("Position3D()"));
  bind_measurement<RadarPolar>(m, "RadarPolar", "Radar range [m], azimuth [rad], range rate [m/s].")
      .def(py::init([](double x, double y, double yaw) { RadarPolar r; r.x_m = x; r.y_m = y; r.yaw_rad = yaw; return r; }),
           py::arg("x_m") = 0.0, py::arg("y_m") = 0.0, py::arg("yaw_rad") = 0.0)
      .def_property("x_m", [](const RadarPolar& o) { return o.x_m; }, [](RadarPolar& o, const py::object& v) { o.x_m = checked_number(v, "RadarPolar", "x_m", Rule::kFinite); })
      .def_property("y_m", [](const RadarPolar& o) { return o.y_m; }, [](RadarPolar& o, const py::object& v) { o.y_m = checked_number(v, "RadarPolar", "y_m", Rule::kFinite); })
      .def_property("yaw_rad", [](const RadarPolar& o) { return o.yaw_rad; }, [](RadarPolar& o, const py::object& v) { o.yaw_rad = checked_number(v, "RadarPolar", "yaw_rad", Rule::kFinite); })
      .def(refuse_other_arguments<RadarPolar>("RadarPolar(x_m: float = 0.0, y_m: float = 0.0, yaw_rad: float = 0.0)"));
  bind_measurement<CameraPinhole>(m, "CameraPinhole", "Pinhole camera pixel (u, v) of the target's 3D point.")
      .def(py::init([](const py::object& fx, const py::object& fy, const py::object& cx, const py::object& cy,
                       const py::object& R, const py::object& t) {
             CameraPinhole c;
             c.fx = checked_number(fx, "CameraPinhole", "fx", Rule::kPositive);
             c.fy = checked_number(fy, "CameraPinhole", "fy", Rule::kPositive);
             c.cx = checked_number(cx, "CameraPinhole", "cx", Rule::kFinite);
             c.cy = checked_number(cy, "CameraPinhole", "cy", Rule::kFinite);
             c.R_cw = camera_rotation(R);
             c.t_cw = camera_translation(t);
             return c; }),
           py::arg("fx"), py::arg("fy"), py::arg("cx"), py::arg("cy"),
           py::arg("R_cw") = Mat<3, 3>(Mat<3, 3>::Identity()), py::arg("t_cw") = Vec<3>(Vec<3>::Zero()))
      .def_property("fx", [](const CameraPinhole& o) { return o.fx; }, [](CameraPinhole& o, const py::object& v) { o.fx = checked_number(v, "CameraPinhole", "fx", Rule::kPositive); })
      .def_property("fy", [](const CameraPinhole& o) { return o.fy; }, [](CameraPinhole& o, const py::object& v) { o.fy = checked_number(v, "CameraPinhole", "fy", Rule::kPositive); })
      .def_property("cx", [](const CameraPinhole& o) { return o.cx; }, [](CameraPinhole& o, const py::object& v) { o.cx = checked_number(v, "CameraPinhole", "cx", Rule::kFinite); })
      .def_property("cy", [](const CameraPinhole& o) { return o.cy; }, [](CameraPinhole& o, const py::object& v) { o.cy = checked_number(v, "CameraPinhole", "cy", Rule::kFinite); })
      .def_property("R_cw", [](const CameraPinhole& o) -> const Mat<3, 3>& { return o.R_cw; }, [](CameraPinhole& o, const py::object& v) { o.R_cw = camera_rotation(v); })
      .def_property("t_cw", [](const CameraPinhole& o) -> const Vec<3>& { return o.t_cw; }, [](CameraPinhole& o, const py::object& v) { o.t_cw = camera_translation(v); })
      .def(refuse_other_arguments<CameraPinhole>("CameraPinhole(fx: float, fy: float, cx: float, cy: float, R_cw: 3 x 3 = I, t_cw: 3 = 0)"));
}

}  // namespace fusion::bindings
