// Linear assignment kernels for fusion.assoc. Each call solves on its own solver object (so
// calls from several threads never share a workspace) with the GIL released; the Python
// layer turns the row -> column arrays into scipy's (row_ind, col_ind) convention and raises
// on infeasibility.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "common.hpp"
#include "fusion/assoc/linear_assignment.hpp"

namespace fusion::bindings {

namespace {

using IArray = py::array_t<Index, py::array::c_style | py::array::forcecast>;
using assoc::AssignmentResult;
using assoc::LinearAssignmentSolver;

CArray as_cost_matrix(const py::handle& obj) {
  const CArray a = as_array(obj, "cost");
  if (a.ndim() != 2)
    throw ShapeError("cost: expected a 2-D array (a matrix), but got shape " + shape_str(a));
  return a;
}

struct CsrInput {
  IArray indptr, indices;
  CArray costs;
};

CsrInput as_csr(Index rows, Index cols, const py::handle& indptr, const py::handle& indices,
                const py::handle& costs) {
  if (rows < 0 || cols < 0)
    throw ShapeError("shape: expected non-negative sizes, but got (" + std::to_string(rows) +
                     ", " + std::to_string(cols) + ")");
  CsrInput in{IArray::ensure(indptr), IArray::ensure(indices), as_array(costs, "costs")};
  if (!in.indptr || !in.indices) throw ShapeError("indptr, indices: expected integer arrays");
  if (in.indptr.ndim() != 1 || in.indptr.shape(0) != rows + 1)
    shape_error("indptr", "(" + std::to_string(rows + 1) + ",)", in.indptr);
  const Index nnz = in.indptr.data()[rows];
  if (nnz < 0 || in.indices.ndim() != 1 || in.indices.shape(0) < nnz)
    shape_error("indices", "(" + std::to_string(nnz) + ",)", in.indices);
  if (in.costs.ndim() != 1 || in.costs.shape(0) < nnz)
    shape_error("costs", "(" + std::to_string(nnz) + ",)", in.costs);
  return in;
}

py::tuple pack(const AssignmentResult& r, IArray& r2c, IArray& c2r) {
  return py::make_tuple(r.feasible, r2c, c2r, r.total_cost);
}

}  // namespace

void register_assignment(py::module_& m) {
  m.def(
      "lsa_dense",
      [](const py::handle& cost, py::object gate) {
        const CArray c = as_cost_matrix(cost);
        const Index rows = c.shape(0), cols = c.shape(1);
        const bool gated = !gate.is_none();
        const double g = gated ? gate.cast<double>() : 0.0;
        IArray r2c(rows), c2r(cols);
        AssignmentResult res;
        {
          const double* cp = c.data();
          Index* rp = r2c.mutable_data();
          Index* cq = c2r.mutable_data();
          py::gil_scoped_release nogil;
          LinearAssignmentSolver solver;
          res = gated ? solver.solve_dense_gated(cp, rows, cols, g, rp, cq)
                      : solver.solve_dense(cp, rows, cols, rp, cq);
        }
        return pack(res, r2c, c2r);
      },
      py::arg("cost"), py::arg("gate") = py::none(),
      "Exact dense assignment, gated when gate is given. Returns (feasible, row_to_col, "
      "col_to_row, total_cost).");

  m.def(
      "lsa_sparse",
      [](Index rows, Index cols, const py::handle& indptr, const py::handle& indices,
         const py::handle& costs, py::object gate) {
        const CsrInput in = as_csr(rows, cols, indptr, indices, costs);
        const bool gated = !gate.is_none();
        const double g = gated ? gate.cast<double>() : 0.0;
        IArray r2c(rows), c2r(cols);
        AssignmentResult res;
        {
          const Index* ip = in.indptr.data();
          const Index* ix = in.indices.data();
          const double* cc = in.costs.data();
          Index* rp = r2c.mutable_data();
          Index* cq = c2r.mutable_data();
          py::gil_scoped_release nogil;
          LinearAssignmentSolver solver;
          res = gated ? solver.solve_sparse_gated(rows, cols, ip, ix, cc, g, rp, cq)
                      : solver.solve_sparse(rows, cols, ip, ix, cc, rp, cq);
        }
        return pack(res, r2c, c2r);
      },
      py::arg("n_rows"), py::arg("n_cols"), py::arg("indptr"), py::arg("indices"),
      py::arg("costs"), py::arg("gate") = py::none(),
      "Exact sparse (CSR) assignment, gated when gate is given. Returns (feasible, "
      "row_to_col, col_to_row, total_cost).");
}

}  // namespace fusion::bindings
