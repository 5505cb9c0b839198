// Binding template for FilterBank<Motion, Meas, Algo>, instantiated for every pair of the bank
// registry (bank_registry.hpp). x, P, nis, log_likelihood and status are numpy views of the bank's
// own storage (allocated once, in the constructor, and never reallocated: every setter copies
// into it; each view holds a reference to the bank, so the storage outlives every view).
//
// Threads: every call that reads or writes the state (predict, update, set_x, set_P, copy)
// releases the GIL, then takes the bank's own mutex, works on C++ memory only, releases the
// mutex, and only then re-acquires the GIL. Calls on one bank are therefore serialised (each
// is atomic) and can never deadlock against the GIL. The views are not covered: reading one
// while another thread steps sees a partly updated state (see docs/threading.md).
#pragma once
#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common.hpp"
#include "fusion/filters/filter_bank.hpp"
#include "fusion/tracking/fair_mutex.hpp"

namespace fusion::bindings {

// The arguments of a bank's update(z, mask, R), checked against the bank's size n and measurement
// size M (also in the bindings, not only in Python, so that a raw class cannot be driven past the
// end of its buffers): z (n, M); R (M, M) or (n, M, M) (per_filter); mask None or (n,) booleans.
struct BankUpdateArgs {
  CArray z, R;
  bool per_filter = false;
  py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast> mask;
  const std::uint8_t* mask_data = nullptr;

  BankUpdateArgs(Index n, Index M, const py::object& z_in, const py::object& mask_in, const py::object& R_in)
      : z(as_array(z_in, "update: z")), R(as_array(R_in, "update: R")) {
    if (z.ndim() != 2 || z.shape(0) != n || z.shape(1) != M)
      shape_error("update: z", "(" + std::to_string(n) + ", " + std::to_string(M) + ")", z);
    per_filter = R.ndim() == 3;
    if (!((R.ndim() == 2 && R.shape(0) == M && R.shape(1) == M) ||
          (per_filter && R.shape(0) == n && R.shape(1) == M && R.shape(2) == M)))
      shape_error("update: R", "(" + std::to_string(M) + ", " + std::to_string(M) + ") or (" +
                  std::to_string(n) + ", " + std::to_string(M) + ", " + std::to_string(M) + ")", R);
    if (!mask_in.is_none()) {
      mask = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>::ensure(mask_in);
      if (!mask || mask.ndim() != 1 || mask.shape(0) != n)
        throw ShapeError("update: mask: expected shape (" + std::to_string(n) + ",) of booleans");
      mask_data = mask.data();
    }
  }
};

// A bank plus the mutex that serialises calls on it.
template <class Bank>
struct LockedBank : Bank {
  using Bank::Bank;
  explicit LockedBank(const Bank& other) : Bank(other) {}
  tracking::FairMutex mutex;  // first come, first served (see fair_mutex.hpp)
};

// Runs f() with the GIL released and the bank's mutex held; f must not touch Python objects.
template <class Bank, class F>
auto locked(LockedBank<Bank>& b, F&& f) {
  py::gil_scoped_release nogil;
  const std::lock_guard<tracking::FairMutex> lock(b.mutex);
  return f();
}

// Copies `value` ((size, dims...) or one (dims...) block broadcast to every filter) into the
// bank's storage at `dst` under the bank's mutex.
template <class Bank>
void assign_rows(LockedBank<Bank>& b, double* dst, const py::handle& value, Index row_len,
                 const std::vector<py::ssize_t>& row_shape, const std::string& what) {
  const CArray v = as_array(value, what);
  const Index n = b.size();
  std::vector<py::ssize_t> full{static_cast<py::ssize_t>(n)};
  full.insert(full.end(), row_shape.begin(), row_shape.end());
  const auto matches = [&](const std::vector<py::ssize_t>& shape) {
    if (v.ndim() != static_cast<py::ssize_t>(shape.size())) return false;
    for (std::size_t i = 0; i < shape.size(); ++i)
      if (v.shape(static_cast<py::ssize_t>(i)) != shape[i]) return false;
    return true;
  };
  const bool per_filter = matches(full);
  if (!per_filter && !matches(row_shape)) {
    std::string exp = "(" + std::to_string(n);
    for (auto d : row_shape) exp += ", " + std::to_string(d);
    exp += ") or (";
    for (std::size_t i = 0; i < row_shape.size(); ++i) exp += (i ? ", " : "") + std::to_string(row_shape[i]);
    exp += row_shape.size() == 1 ? ",)" : ")";
    shape_error(what, exp, v);
  }
  const double* src = v.data();
  locked(b, [&] {
    if (per_filter) {
      std::copy(src, src + n * row_len, dst);
    } else {
      for (Index i = 0; i < n; ++i) std::copy(src, src + row_len, dst + i * row_len);
    }
  });
}

template <class Motion, class Meas, BankAlgorithm Algo>
void bind_bank(py::module_& m, const std::string& name) {
  using Base = FilterBank<Motion, Meas, Algo>;
  using Bank = LockedBank<Base>;
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
  // size, motion and measurement never change after construction: no lock needed.
  c.def("__len__", [](const Bank& b) { return b.size(); });
  c.def_property_readonly("size", [](const Bank& b) { return b.size(); });
  c.def_property_readonly("motion", [](const Bank& b) { return b.motion(); });
  c.def_property_readonly("measurement", [](const Bank& b) { return b.measurement(); });
  // Views: the storage pointers are fixed for the bank's life; each view keeps `self` alive.
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
      "set_x",
      [](Bank& b, const py::handle& value) {
        assign_rows(b, b.x_data(), value, N, {N}, "x");
      },
      py::arg("x"), "Copy (size, dim_x) states, or one (dim_x,) state for all, into the bank.");
  c.def(
      "set_P",
      [](Bank& b, const py::handle& value) {
        assign_rows(b, b.P_data(), value, N * N, {N, N}, "P");
      },
      py::arg("P"), "Copy (size, dim_x, dim_x) covariances, or one for all, into the bank.");
  c.def(
      "copy",
      [](Bank& b) {
        std::unique_ptr<Bank> out;
        locked(b, [&] { out = std::make_unique<Bank>(static_cast<const Base&>(b)); });
        return out;
      },
      "An independent bank with a copy of this one's whole state (taken atomically).");
  c.def(
      "predict",
      [](Bank& b, double dt, bool all_or_nothing) { return locked(b, [&] { return b.predict(dt, all_or_nothing); }); },
      py::arg("dt_s"), py::arg("all_or_nothing") = false);
  // z: (size, M) float64 C-contiguous; mask: (size,) uint8 or None; R: (M, M) or (size, M, M).
  c.def(
      "update",
      [](Bank& b, const py::object& z_in, const py::object& mask, const py::object& R_in, bool all_or_nothing) {
        // Checked here too, not only in fusion.filters.bank, so that the raw class cannot be
        // driven past the end of its buffers.
        const BankUpdateArgs a(b.size(), M, z_in, mask, R_in);
        const BankUpdateSummary s =
            locked(b, [&] { return b.update(a.z.data(), a.mask_data, a.R.data(), a.per_filter, all_or_nothing); });
        return py::make_tuple(s.updated, s.skipped, s.first_failure,
                              std::string(to_string(s.first_status)));
      },
      py::arg("z"), py::arg("mask"), py::arg("R"), py::arg("all_or_nothing") = false);
}

}  // namespace fusion::bindings
