// Placeholder: the tracker bindings land here.
#include <pybind11/pybind11.h>

namespace fusion::bindings {
void register_tracker(pybind11::module_& /*m*/) {}
}  // namespace fusion::bindings
