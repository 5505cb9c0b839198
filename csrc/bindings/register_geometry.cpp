// Oriented box overlap (IoU / GIoU, BEV and 3D) for fusion.geometry. Shapes are checked here so
// that errors name the Python argument; the core validates the values (NaN, negative sizes).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "common.hpp"
#include "fusion/geometry/box_overlap.hpp"

namespace fusion::bindings {

namespace {

using geometry::kBoxDim;
using geometry::OverlapKind;

// A boxes argument: one box (7,) or a stack of them (n, 7), as C-contiguous doubles.
CArray boxes_arg(const py::handle& obj, const char* fn, const char* name) {
  const std::string what = std::string(fn) + ": argument '" + name + "'";
  CArray arr = as_array(obj, what);
  const bool ok = (arr.ndim() == 1 && arr.shape(0) == kBoxDim) ||
                  (arr.ndim() == 2 && arr.shape(1) == kBoxDim);
  if (!ok) shape_error(what, "(7,) or (n, 7) with columns (x, y, z, yaw, l, w, h)", arr);
  return arr;
}

// The result has shape a.shape[:-1] + b.shape[:-1]: a float for two single boxes, (n, m) for
// two stacks, (n,) or (m,) when one side is a single box.
py::object overlap(OverlapKind kind, const py::object& a, const py::object& b, bool skip_disjoint) {
  const char* fn = geometry::to_string(kind);
  const CArray A = boxes_arg(a, fn, "a");
  const CArray B = boxes_arg(b, fn, "b");
  if (A.ndim() == 1 && B.ndim() == 1)
    return py::float_(geometry::box_overlap(kind, geometry::Box3::from_array(A.data()),
                                            geometry::Box3::from_array(B.data())));
  const Index n = A.ndim() == 2 ? static_cast<Index>(A.shape(0)) : 1;
  const Index m = B.ndim() == 2 ? static_cast<Index>(B.shape(0)) : 1;
  std::vector<py::ssize_t> shape;
  if (A.ndim() == 2) shape.push_back(static_cast<py::ssize_t>(n));
  if (B.ndim() == 2) shape.push_back(static_cast<py::ssize_t>(m));
  py::array_t<double> out(shape);
  double* o = out.mutable_data();
  const double* pa = A.data();
  const double* pb = B.data();
  {
    py::gil_scoped_release release;  // pure C++ on buffers kept alive by A, B and out
    geometry::pairwise_overlap(kind, pa, n, pb, m, o, skip_disjoint);
  }
  return std::move(out);
}

}  // namespace

void register_geometry(py::module_& m) {
  m.def(
      "box_overlap",
      [](const std::string& kind, const py::object& a, const py::object& b, bool skip_disjoint) {
        return overlap(geometry::overlap_kind_from_string(kind), a, b, skip_disjoint);
      },
      py::arg("kind"), py::arg("a"), py::arg("b"), py::arg("skip_disjoint") = true,
      "Overlap of oriented boxes (x, y, z, yaw, l, w, h); kind is iou_bev, iou_3d, giou_bev or "
      "giou_3d. a and b are (7,) or (n, 7); the result has shape a.shape[:-1] + b.shape[:-1].");
}

}  // namespace fusion::bindings
