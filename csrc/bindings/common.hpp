// Helpers shared by the binding files: numpy views of C++ storage (no copies; the owner is
// kept alive by the array's base), and checked conversion of Python inputs into Eigen types
// with errors that name the argument, the expected shape and the actual one.
#pragma once
#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "fusion/core/errors.hpp"
#include "fusion/core/types.hpp"
#include "fusion/filters/kalman.hpp"

namespace fusion::bindings {

namespace py = pybind11;
using CArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

// A writable numpy view of `rows x cols` doubles at `data` (row-major), owned by `owner`.
inline py::array view2d(double* data, Index rows, Index cols, const py::handle& owner) {
  return py::array_t<double>({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)},
                             {static_cast<py::ssize_t>(cols * sizeof(double)),
                              static_cast<py::ssize_t>(sizeof(double))},
                             data, owner);
}

inline py::array view(double* data, std::vector<py::ssize_t> shape, const py::handle& owner) {
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t s = sizeof(double);
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i];
  }
  return py::array_t<double>(shape, strides, data, owner);
}

// n fixed-layout records copied into a fresh uint8 array (Python reinterprets it with a
// structured dtype whose offsets come from the *_output_layout() functions). Needs the GIL.
template <class Record>
py::array_t<std::uint8_t> records_array(const Record* data, Index n) {
  py::array_t<std::uint8_t> raw(static_cast<py::ssize_t>(n * static_cast<Index>(sizeof(Record))));
  if (n > 0) std::memcpy(raw.mutable_data(), data, static_cast<std::size_t>(n) * sizeof(Record));
  return raw;
}

inline std::string shape_str(const py::array& a) {
  std::ostringstream os;
  os << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) os << (i ? ", " : "") << a.shape(i);
  os << (a.ndim() == 1 ? ",)" : ")");
  return os.str();
}

[[noreturn]] inline void shape_error(const std::string& what, const std::string& expected,
                                     const py::array& got) {
  throw ShapeError(what + ": expected shape " + expected + ", but got " + shape_str(got));
}

inline CArray as_array(const py::handle& obj, const std::string& what) {
  // numpy turns None into NaN (np.asarray(None, float)): a missing value would pass as a
  // number, and `kf.P = None` became a NaN covariance found only at the next update.
  if (obj.is_none()) throw ShapeError(what + ": expected an array of numbers, but got None");
  CArray a = CArray::ensure(obj);
  if (!a)
    throw ShapeError(what + ": expected an array of numbers, but got " +
                     std::string(py::str(py::type::of(obj).attr("__name__"))));
  return a;
}

// A vector of length n from (n,), (n, 1) or (1, n); a scalar when n == 1.
inline VecX to_vector(const py::handle& obj, Index n, const std::string& what) {
  const CArray a = as_array(obj, what);
  const bool ok = (a.ndim() == 1 && a.shape(0) == n) ||
                  (a.ndim() == 2 && ((a.shape(0) == n && a.shape(1) == 1) ||
                                     (a.shape(0) == 1 && a.shape(1) == n))) ||
                  (a.ndim() == 0 && n == 1);
  if (!ok) shape_error(what, "(" + std::to_string(n) + ",) or (" + std::to_string(n) + ", 1)", a);
  return Eigen::Map<const VecX>(a.data(), n);
}

// An r x c matrix; when square_scalar, a scalar s means s * identity (filterpy's convention
// for P, Q and R).
inline MatX to_matrix(const py::handle& obj, Index r, Index c, const std::string& what,
                      bool square_scalar = false) {
  const CArray a = as_array(obj, what);
  if (a.ndim() == 0 && square_scalar && r == c) return MatX::Identity(r, c) * *a.data();
  const bool ok = (a.ndim() == 2 && a.shape(0) == r && a.shape(1) == c) ||
                  (a.ndim() == 1 && ((r == 1 && a.shape(0) == c) || (c == 1 && a.shape(0) == r)));
  if (!ok) shape_error(what, "(" + std::to_string(r) + ", " + std::to_string(c) + ")", a);
  return Eigen::Map<const MatX>(a.data(), r, c);
}

// A failed Kalman update as fusion.errors.NumericalError naming the call and the measurement.
[[noreturn]] inline void raise_update_failure(const char* where, UpdateStatus s, const VecX& z) {
  std::ostringstream os;
  os << where << ": " << to_string(s) << " (z = [";
  for (Index i = 0; i < z.size(); ++i) os << (i ? ", " : "") << z(i);
  os << "])";
  throw NumericalError(os.str());
}

}  // namespace fusion::bindings
