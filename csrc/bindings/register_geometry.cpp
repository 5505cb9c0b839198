// Placeholder: the geometry bindings land here.
#include <pybind11/pybind11.h>

namespace fusion::bindings {
void register_geometry(pybind11::module_& /*m*/) {}
}  // namespace fusion::bindings
