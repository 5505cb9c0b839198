// The fusion._core extension: this file only wires the submodules together; each concept is
// bound in its own register_*.cpp.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace fusion::bindings {
void register_errors(py::module_& m);
void register_models(py::module_& m);
void register_filters(py::module_& m);
void register_kalman_filter(py::module_& m);
void register_banks_ekf(py::module_& m);
void register_banks_ukf(py::module_& m);
void register_assignment(py::module_& m);
void register_geometry(py::module_& m);
void register_tracker(py::module_& m);
void register_point_tracker(py::module_& m);
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
  register_assignment(m);
  register_geometry(m);
  register_tracker(m);
  register_point_tracker(m);
}
