// The fusion._core extension: this file only wires the submodules together; each concept is
// bound in its own register_*.cpp.
#include <pybind11/pybind11.h>

#include <string>

namespace py = pybind11;

namespace fusion::bindings {
void register_errors(py::module_& m);
void register_models(py::module_& m);
void register_filters(py::module_& m);
void register_kalman_filter(py::module_& m);
void register_banks_ekf(py::module_& m);
void register_banks_ukf(py::module_& m);
void register_imm(py::module_& m);
void register_assignment(py::module_& m);
void register_geometry(py::module_& m);
void register_tracker(py::module_& m);
void register_point_tracker(py::module_& m);
void register_engine(py::module_& m);
void register_t2t(py::module_& m);
}  // namespace fusion::bindings

PYBIND11_MODULE(_core, m) {
  using namespace fusion::bindings;
  m.doc() = "fusion C++ core (private; use the fusion package)";
  register_errors(m);
  register_models(m);
  register_filters(m);
  register_kalman_filter(m);
  register_banks_ekf(m);
  register_banks_ukf(m);
  register_imm(m);
  register_assignment(m);
  register_geometry(m);
  register_tracker(m);
  register_point_tracker(m);
  register_engine(m);
  register_t2t(m);

  // Pickle protocols 0 and 1 (pickle.dumps(obj, 0), and a direct obj.__reduce__()) go through
  // copyreg._reduce_ex, which calls pybind11_object(obj): pybind11 throws a C++ exception out
  // of a C slot there and the interpreter aborts (pybind/pybind11#3745; it did, for
  // KalmanFilter and every model). Every class gets protocol 2's reduction at every protocol:
  // a class with __setstate__ (KalmanFilter) round-trips, the others raise TypeError as they
  // already did at protocol 2.
  const py::object newobj = py::module_::import("copyreg").attr("__newobj__");
  const auto reduce = [newobj](const py::object& self) -> py::object {
    const py::type cls = py::type::of(self);  // a Python subclass's instance: the subclass
    if (!py::hasattr(cls, "__setstate__"))
      throw py::type_error("cannot pickle '" + py::str(cls.attr("__qualname__")).cast<std::string>() + "' object");
    return py::make_tuple(newobj, py::make_tuple(cls), self.attr("__getstate__")());
  };
  for (const auto& item : m.attr("__dict__").cast<py::dict>()) {
    const py::handle v = item.second;
    if (PyType_Check(v.ptr()) && py::detail::get_type_info(reinterpret_cast<PyTypeObject*>(v.ptr())) != nullptr)
      py::setattr(v, "__reduce__",
                  py::cpp_function(reduce, py::name("__reduce__"), py::is_method(v),
                                   "Pickle reduction, the same at every protocol (TypeError for a class that cannot be pickled)."));
  }
}
