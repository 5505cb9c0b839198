// Maps the core's C++ exceptions onto fusion.errors (defined in Python so that each class
// can also inherit the matching built-in: ShapeError is a ValueError, and so on).
#include <pybind11/pybind11.h>

#include "fusion/core/errors.hpp"

namespace fusion::bindings {
namespace py = pybind11;

namespace {
void raise_as(const char* cls, const char* what) {
  const py::object err = py::module_::import("fusion.errors").attr(cls);
  PyErr_SetString(err.ptr(), what);
}

// fusion.errors.TimestampError (fusion.tracking's until it moves there).
void raise_timestamp(const char* what) {
  const py::module_ errors = py::module_::import("fusion.errors");
  const py::object err = py::hasattr(errors, "TimestampError")
                             ? errors.attr("TimestampError")
                             : py::module_::import("fusion.tracking.tracker").attr("TimestampError");
  PyErr_SetString(err.ptr(), what);
}
}  // namespace

void register_errors(py::module_& /*m*/) {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const TimestampError& e) {
      raise_timestamp(e.what());
    } catch (const ShapeError& e) {
      raise_as("ShapeError", e.what());
    } catch (const NumericalError& e) {
      raise_as("NumericalError", e.what());
    } catch (const ConfigurationError& e) {
      raise_as("ConfigurationError", e.what());
    }
  });
}

}  // namespace fusion::bindings
