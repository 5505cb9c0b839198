// IMM banks (csrc/include/fusion/filters/imm_bank.hpp): one line per bound combination of
// motion models and sensor model in register_imm() below, bound as the Python class
// ImmBank_<Motion>_..._<Motion>_<Sensor>, the name fusion.filters.IMMBank looks up. Adding a
// combination is one line (its pairs of motion models need a state map in imm_state_map.hpp).
//
// Views (x, P, mu, log_likelihood, status, mode_x(k), mode_P(k)) are numpy arrays over the
// bank's own storage, allocated once and never moved; each view keeps the bank alive.
// Threads: as the filter banks (banks.hpp): every call that reads or writes the state releases
// the GIL, then takes the bank's FairMutex, works on C++ memory only, and re-acquires the GIL
// after releasing the mutex. Calls on one bank are serialised; the views are not locked.
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "banks.hpp"
#include "common.hpp"
#include "fusion/filters/imm_bank.hpp"
#include "fusion/models/measurement.hpp"
#include "fusion/models/motion.hpp"

namespace fusion::bindings {
namespace {

template <class Base>
using LockedImm = LockedBank<Base>;

std::string shape_text(const std::vector<py::ssize_t>& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

// value: (size, row_shape...) or one (row_shape...) block for every track, checked with the
// GIL held (shape, finite) before anything is copied.
struct CheckedBlock {
  CArray v;
  bool per_track = false;
  Index row_len = 1;
};

template <class Base>
CheckedBlock checked_block(const LockedImm<Base>& b, const py::handle& value,
                           const std::vector<py::ssize_t>& row_shape, const std::string& what) {
  CheckedBlock out{as_array(value, what)};
  const CArray& v = out.v;
  const Index n = b.size();
  std::vector<py::ssize_t> full{static_cast<py::ssize_t>(n)};
  full.insert(full.end(), row_shape.begin(), row_shape.end());
  const auto matches = [&](const std::vector<py::ssize_t>& shape) {
    if (v.ndim() != static_cast<py::ssize_t>(shape.size())) return false;
    for (std::size_t i = 0; i < shape.size(); ++i)
      if (v.shape(static_cast<py::ssize_t>(i)) != shape[i]) return false;
    return true;
  };
  out.per_track = matches(full);
  if (!out.per_track && !matches(row_shape)) shape_error(what, shape_text(full) + " or " + shape_text(row_shape), v);
  for (auto d : row_shape) out.row_len *= d;
  const double* src = v.data();
  for (Index i = 0; i < (out.per_track ? n * out.row_len : out.row_len); ++i)
    if (!std::isfinite(src[i])) throw NumericalError(what + ": contains NaN or infinity");
  return out;
}

// Call with the bank's lock held.
inline void copy_block(const CheckedBlock& c, double* dst, Index n) {
  const double* src = c.v.data();
  if (c.per_track) {
    std::copy(src, src + n * c.row_len, dst);
  } else {
    for (Index i = 0; i < n; ++i) std::copy(src, src + c.row_len, dst + i * c.row_len);
  }
}

// Checks value, then copies it into dst and refreshes the combined estimates in one locked section.
template <class Base>
void assign_and_refresh(LockedImm<Base>& b, double* dst, const py::handle& value,
                        const std::vector<py::ssize_t>& row_shape, const std::string& what) {
  const CheckedBlock c = checked_block(b, value, row_shape, what);
  locked(b, [&] {
    copy_block(c, dst, b.size());
    b.refresh();
  });
}

// Copies checked blocks into the models' storage (dst) and refreshes the combined estimates in
// one locked section, then checks that no track's model states lie more than kImmMaxNis apart
// (Imm::max_spread_nis: their mixture could not be represented in double precision); if one
// does, everything is restored and the call raises, having changed nothing.
template <class Base>
void write_models_checked(LockedImm<Base>& b, const std::vector<std::pair<const CheckedBlock*, double*>>& writes,
                          const std::string& what) {
  const Index n = b.size();
  std::vector<std::vector<double>> old(writes.size());  // allocated with the GIL held, before the lock
  for (std::size_t w = 0; w < writes.size(); ++w) old[w].resize(static_cast<std::size_t>(n * writes[w].first->row_len));
  Index bad = -1;
  double nis = 0.0;
  locked(b, [&] {
    for (std::size_t w = 0; w < writes.size(); ++w) {
      std::copy(writes[w].second, writes[w].second + old[w].size(), old[w].begin());
      copy_block(*writes[w].first, writes[w].second, n);
    }
    b.refresh();
    bad = b.first_spread_beyond_bound(&nis);
    if (bad >= 0) {
      for (std::size_t w = 0; w < writes.size(); ++w) std::copy(old[w].begin(), old[w].end(), writes[w].second);
      b.refresh();
    }
  });
  if (bad >= 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3g", std::sqrt(nis));
    throw NumericalError(what + ": track " + std::to_string(bad) + "'s model states would lie " + buf +
                         " standard deviations apart (the bound is 1e5, NIS 1e10): their mixture cannot be "
                         "represented in double precision; nothing was changed (to move a track far, set "
                         "every model in one call: IMMBank.set_model_states)");
  }
}

template <class Meas, class... Motions>
void bind_imm_bank(py::module_& m, const char* name) {
  using Base = ImmBank<Meas, Motions...>;
  using Bank = LockedImm<Base>;
  using Filter = typename Base::Filter;
  constexpr int R = Base::R, M = Base::M, NOut = Base::NOut;
  py::class_<Bank> c(m, name);
  c.def(py::init([](const py::tuple& motions, const Meas& meas, Index size, const py::handle& markov,
                    const py::handle& mu, double min_speed_mps) {
          if (motions.size() != static_cast<std::size_t>(R))
            throw ConfigurationError("motions: expected " + std::to_string(R) + " motion models, but got " +
                                     std::to_string(motions.size()));
          typename Filter::MotionTuple mt;
          imm_detail::static_for<R>([&](auto K) {
            constexpr std::size_t k = decltype(K)::value;
            using Mo = typename Filter::template MotionAt<k>;
            try {
              std::get<k>(mt) = motions[k].template cast<Mo>();
            } catch (const py::cast_error&) {
              throw ConfigurationError("motions[" + std::to_string(k) + "]: expected a " +
                                       std::string(py::str(py::type::of(motions[k]).attr("__name__"))) +
                                       " of the bank's model list, got the wrong type");
            }
          });
          const Mat<R, R> Mk = to_matrix(markov, R, R, "M");
          const Vec<R> mu0 = to_vector(mu, R, "mu");
          ImmMapOptions opt;
          opt.min_speed_mps = min_speed_mps;
          return new Bank(mt, meas, size, Mk, mu0, opt);
        }),
        py::arg("motions"), py::arg("measurement"), py::arg("size"), py::arg("M"), py::arg("mu"),
        py::arg("min_speed_mps") = 0.1);
  c.def_property_readonly_static("n_models", [](const py::object&) { return R; });
  c.def_property_readonly_static("dim_x", [](const py::object&) { return NOut; });
  c.def_property_readonly_static("dim_z", [](const py::object&) { return M; });
  c.def_property_readonly_static("output_model", [](const py::object&) { return static_cast<int>(Filter::kOut); });
  c.def_property_readonly_static("model_dims", [](const py::object&) {
    py::tuple t(R);
    for (int k = 0; k < R; ++k) t[static_cast<std::size_t>(k)] = Base::kSizes[static_cast<std::size_t>(k)];
    return t;
  });
  // Fixed after construction: no lock needed.
  c.def("__len__", [](const Bank& b) { return b.size(); });
  c.def_property_readonly("size", [](const Bank& b) { return b.size(); });
  c.def_property_readonly("measurement", [](const Bank& b) { return b.measurement(); });
  c.def_property_readonly("motions", [](const Bank& b) {
    py::tuple t(R);
    imm_detail::static_for<R>([&](auto K) {
      constexpr std::size_t k = decltype(K)::value;
      t[k] = py::cast(std::get<k>(b.imm().motions()));
    });
    return t;
  });
  c.def_property_readonly("M", [](const Bank& b) { return MatX(b.imm().markov()); });
  c.def_property_readonly("min_speed_mps", [](const Bank& b) { return b.imm().options().min_speed_mps; });
  c.def_property_readonly("x", [](py::object self) {
    Bank& b = self.cast<Bank&>();
    return view(b.x_out_data(), {b.size(), NOut}, self);
  });
  c.def_property_readonly("P", [](py::object self) {
    Bank& b = self.cast<Bank&>();
    return view(b.P_out_data(), {b.size(), NOut, NOut}, self);
  });
  c.def_property_readonly("mu", [](py::object self) {
    Bank& b = self.cast<Bank&>();
    return view(b.mu_data(), {b.size(), R}, self);
  });
  c.def_property_readonly("log_likelihood", [](py::object self) {
    Bank& b = self.cast<Bank&>();
    return view(b.log_likelihood_data(), {b.size(), R}, self);
  });
  c.def_property_readonly("status", [](py::object self) {
    Bank& b = self.cast<Bank&>();
    return py::array_t<std::int32_t>({b.size()}, {static_cast<py::ssize_t>(sizeof(std::int32_t))},
                                     b.status_data(), self);
  });
  const auto check_model = [](int k) {
    if (k < 0 || k >= R)
      throw ConfigurationError("model: expected an index in [0, " + std::to_string(R) + "), but got " +
                               std::to_string(k));
  };
  c.def(
      "mode_x",
      [check_model](py::object self, int k) {
        check_model(k);
        Bank& b = self.cast<Bank&>();
        return view(b.x_data(k), {b.size(), Base::kSizes[static_cast<std::size_t>(k)]}, self);
      },
      py::arg("model"), "Model k's states, (size, n_k): a view of the bank's storage.");
  c.def(
      "mode_P",
      [check_model](py::object self, int k) {
        check_model(k);
        Bank& b = self.cast<Bank&>();
        const py::ssize_t nk = Base::kSizes[static_cast<std::size_t>(k)];
        return view(b.P_data(k), {b.size(), nk, nk}, self);
      },
      py::arg("model"), "Model k's covariances, (size, n_k, n_k): a view of the bank's storage.");
  c.def(
      "set_mode_x",
      [check_model](Bank& b, int k, const py::handle& value) {
        check_model(k);
        const py::ssize_t nk = Base::kSizes[static_cast<std::size_t>(k)];
        const std::string what = "x[" + std::to_string(k) + "]";
        const CheckedBlock cx = checked_block(b, value, {nk}, what);
        write_models_checked(b, {{&cx, b.x_data(k)}}, what);
      },
      py::arg("model"), py::arg("x"),
      "Copy (size, n_k) states, or one (n_k,) state for all, into model k; refreshes x, P.");
  c.def(
      "set_mode_P",
      [check_model](Bank& b, int k, const py::handle& value) {
        check_model(k);
        const py::ssize_t nk = Base::kSizes[static_cast<std::size_t>(k)];
        const std::string what = "P[" + std::to_string(k) + "]";
        const CheckedBlock cP = checked_block(b, value, {nk, nk}, what);
        write_models_checked(b, {{&cP, b.P_data(k)}}, what);
      },
      py::arg("model"), py::arg("P"),
      "Copy (size, n_k, n_k) covariances, or one for all, into model k; refreshes x, P.");
  c.def(
      "set_mode_state",
      [check_model](Bank& b, int k, const py::handle& x, const py::handle& P) {
        check_model(k);
        const py::ssize_t nk = Base::kSizes[static_cast<std::size_t>(k)];
        const std::string K = "[" + std::to_string(k) + "]";
        std::unique_ptr<CheckedBlock> cx, cP;
        if (!x.is_none()) cx = std::make_unique<CheckedBlock>(checked_block(b, x, {nk}, "x" + K));
        if (!P.is_none()) cP = std::make_unique<CheckedBlock>(checked_block(b, P, {nk, nk}, "P" + K));
        std::vector<std::pair<const CheckedBlock*, double*>> writes;
        if (cx) writes.emplace_back(cx.get(), b.x_data(k));
        if (cP) writes.emplace_back(cP.get(), b.P_data(k));
        write_models_checked(b, writes, "set_model_state: model " + std::to_string(k));
      },
      py::arg("model"), py::arg("x"), py::arg("P"),
      "Copy states and/or covariances (None: keep) into model k and refresh x, P, all in one locked "
      "section (another thread's step sees both or neither). Raises NumericalError, changing "
      "nothing, when a track's model states would lie more than 1e5 standard deviations apart.");
  c.def(
      "set_mode_states",
      [](Bank& b, const py::sequence& xs, const py::sequence& Ps) {
        if (static_cast<int>(xs.size()) != R || static_cast<int>(Ps.size()) != R)
          throw ShapeError("set_mode_states: expected one x and one P (or None) per model (" + std::to_string(R) +
                           "), but got " + std::to_string(xs.size()) + " and " + std::to_string(Ps.size()));
        std::vector<std::unique_ptr<CheckedBlock>> blocks;
        std::vector<std::pair<const CheckedBlock*, double*>> writes;
        for (int k = 0; k < R; ++k) {
          const py::ssize_t nk = Base::kSizes[static_cast<std::size_t>(k)];
          const std::string K = "[" + std::to_string(k) + "]";
          const py::handle x = xs[static_cast<std::size_t>(k)], P = Ps[static_cast<std::size_t>(k)];
          if (!x.is_none()) {
            blocks.push_back(std::make_unique<CheckedBlock>(checked_block(b, x, {nk}, "x" + K)));
            writes.emplace_back(blocks.back().get(), b.x_data(k));
          }
          if (!P.is_none()) {
            blocks.push_back(std::make_unique<CheckedBlock>(checked_block(b, P, {nk, nk}, "P" + K)));
            writes.emplace_back(blocks.back().get(), b.P_data(k));
          }
        }
        write_models_checked(b, writes, "set_model_states");
      },
      py::arg("xs"), py::arg("Ps"),
      "Copy every model's states and/or covariances (one entry per model, None: keep) and refresh x, "
      "P in one locked section; checked as set_mode_state, but after all models are written.");
  c.def(
      "set_mu", [](Bank& b, const py::handle& value) { assign_and_refresh(b, b.mu_data(), value, {R}, "mu"); },
      py::arg("mu"), "Copy (size, r) mode probabilities, or one (r,) row for all; refreshes x, P.");
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
      [](Bank& b, double dt, bool all_or_nothing) {
        const auto r = locked(b, [&] { return b.predict(dt, all_or_nothing); });
        return py::make_tuple(r.first, r.second);
      },
      py::arg("dt_s"), py::arg("all_or_nothing") = false,
      "Mix and predict every track; returns (failed, first): how many tracks were left unchanged "
      "because their prediction was not finite (their status is -2) and the first of them (-1). "
      "all_or_nothing: when any track fails, every track is left unchanged.");
  // z: (size, M); mask: (size,) uint8 or None; R: (M, M) or (size, M, M).
  c.def(
      "update",
      [](Bank& b, const py::object& z_in, const py::object& mask, const py::object& R_in, bool all_or_nothing) {
        const BankUpdateArgs a(b.size(), M, z_in, mask, R_in);
        const ImmBankUpdateSummary s =
            locked(b, [&] { return b.update(a.z.data(), a.mask_data, a.R.data(), a.per_filter, all_or_nothing); });
        return py::make_tuple(s.updated, s.skipped, s.flagged, s.first_failure, std::string(to_string(s.first_status)));
      },
      py::arg("z"), py::arg("mask"), py::arg("R"), py::arg("all_or_nothing") = false,
      "all_or_nothing: when any track's update fails, every track is left unchanged (but status).");
}

}  // namespace

// ---- the registry: one line per bound combination (motion models..., sensor) ----
void register_imm(py::module_& m) {
  bind_imm_bank<Position2D, CV2D, CV2D>(m, "ImmBank_CV2D_CV2D_Position2D");
  bind_imm_bank<Position2D, CV2D, CV2D, CV2D>(m, "ImmBank_CV2D_CV2D_CV2D_Position2D");
  bind_imm_bank<Position2D, CV2D, CTRV>(m, "ImmBank_CV2D_CTRV_Position2D");
  bind_imm_bank<RadarPolar, CV2D, CTRV>(m, "ImmBank_CV2D_CTRV_RadarPolar");
  bind_imm_bank<Position2D, CV2D, CA2D>(m, "ImmBank_CV2D_CA2D_Position2D");
}

}  // namespace fusion::bindings
