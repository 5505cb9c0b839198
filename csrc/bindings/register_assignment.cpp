// Placeholder: the assignment bindings land here.
#include <pybind11/pybind11.h>

namespace fusion::bindings {
void register_assignment(pybind11::module_& /*m*/) {}
}  // namespace fusion::bindings
