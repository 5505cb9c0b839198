// Binding template for FilterBank<Motion, Meas, Algo>: one line per model pair in
// register_banks_*.cpp. x, P, nis, log_likelihood and status are numpy views of the bank's
// own storage; predict and update release the GIL.
#pragma once
#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>

#include <string>

#include "common.hpp"
#include "fusion/filters/filter_bank.hpp"

namespace fusion::bindings {

template <class Motion, class Meas, BankAlgorithm Algo>
void bind_bank(py::module_& m, const std::string& name) {
  using Bank = FilterBank<Motion, Meas, Algo>;
  constexpr int N = Motion::N, M = Meas::M;
  py::class_<Bank> c(m, name.c_str());
  c.def(py::init([](const Motion& mo, const Meas& me, Index size, double alpha, double beta,
                    double kappa) {
          return new Bank(mo, me, size, MerweWeights::make(N, alpha, beta, kappa));
        }),
        py::arg("motion"), py::arg("measurement"), py::arg("size"), py::arg("alpha") = 1e-3,
        py::arg("beta") = 2.0, py::arg("kappa") = 0.0);
  c.def_property_readonly_static("dim_x", [](const py::object&) { return N; });
  c.def_property_readonly_static("dim_z", [](const py::object&) { return M; });
  c.def("__len__", &Bank::size);
  c.def_property_readonly("size", &Bank::size);
  c.def_property_readonly("motion", &Bank::motion);
  c.def_property_readonly("measurement", &Bank::measurement);
  c.def_property_readonly("x", [](py::object self) {
    Bank& b = self.cast<Bank&>();
    return view(b.x_data(), {b.size(), N}, self);
  });
  c.def_property_readonly("P", [](py::object self) {
    Bank& b = self.cast<Bank&>();
    return view(b.P_data(), {b.size(), N, N}, self);
  });
  c.def_property_readonly("nis", [](py::object self) {
    Bank& b = self.cast<Bank&>();
    return view(b.nis_data(), {b.size()}, self);
  });
  c.def_property_readonly("log_likelihood", [](py::object self) {
    Bank& b = self.cast<Bank&>();
    return view(b.log_likelihood_data(), {b.size()}, self);
  });
  c.def_property_readonly("status", [](py::object self) {
    Bank& b = self.cast<Bank&>();
    return py::array_t<std::int32_t>({b.size()}, {static_cast<py::ssize_t>(sizeof(std::int32_t))},
                                     b.status_data(), self);
  });
  c.def(
      "predict",
      [](Bank& b, double dt) {
        py::gil_scoped_release release;
        return b.predict(dt);
      },
      py::arg("dt_s"));
  // z: (size, M) float64 C-contiguous; mask: (size,) uint8 or None; R: (M, M) or (size, M, M).
  c.def(
      "update",
      [](Bank& b, const py::object& z_in, const py::object& mask, const py::object& R_in) {
        // Checked here too, not only in fusion.filters.bank, so that the raw class cannot be
        // driven past the end of its buffers.
        const Index n = b.size();
        const CArray z = as_array(z_in, "update: z");
        if (z.ndim() != 2 || z.shape(0) != n || z.shape(1) != M)
          shape_error("update: z", "(" + std::to_string(n) + ", " + std::to_string(M) + ")", z);
        const CArray R = as_array(R_in, "update: R");
        const bool per_filter = R.ndim() == 3;
        if (!((R.ndim() == 2 && R.shape(0) == M && R.shape(1) == M) ||
              (per_filter && R.shape(0) == n && R.shape(1) == M && R.shape(2) == M)))
          shape_error("update: R", "(" + std::to_string(M) + ", " + std::to_string(M) + ") or (" +
                      std::to_string(n) + ", " + std::to_string(M) + ", " + std::to_string(M) + ")", R);
        const std::uint8_t* mptr = nullptr;
        py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast> marr;
        if (!mask.is_none()) {
          marr = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>::ensure(mask);
          if (!marr || marr.ndim() != 1 || marr.shape(0) != n)
            throw ShapeError("update: mask: expected shape (" + std::to_string(n) + ",) of booleans");
          mptr = marr.data();
        }
        BankUpdateSummary s;
        {
          py::gil_scoped_release release;
          s = b.update(z.data(), mptr, R.data(), per_filter);
        }
        return py::make_tuple(s.updated, s.skipped, s.first_failure,
                              std::string(to_string(s.first_status)));
      },
      py::arg("z"), py::arg("mask"), py::arg("R"));
}

}  // namespace fusion::bindings
