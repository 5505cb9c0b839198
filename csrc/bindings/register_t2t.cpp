// Binding of track-to-track fusion (fusion/t2t/*): _core.covariance_intersection and
// _core.TrackFuser, the surface that fusion.t2t wraps.
//
// Locking rule (the same as register_engine.cpp): every method converts its Python inputs
// with the GIL held, then releases the GIL, then takes the object's FairMutex, does pure C++
// work, releases the mutex, and only then re-acquires the GIL to build Python outputs. No
// Python API call is made while the mutex is held, so no thread waits for the mutex while
// holding the GIL; stats() or tracks() from another thread get in at the next update boundary.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "common.hpp"
#include "fusion/core/linalg.hpp"
#include "fusion/t2t/covariance_intersection.hpp"
#include "fusion/t2t/track_fuser.hpp"
#include "fusion/tracking/fair_mutex.hpp"

namespace fusion::bindings {

namespace {

using t2t::kDim;

struct PyTrackFuser {
  explicit PyTrackFuser(t2t::FuserConfig c) : fuser(std::move(c)) {}
  t2t::TrackFuser fuser;
  tracking::FairMutex mutex;
};

template <class F>
auto locked(PyTrackFuser& self, F&& f) {
  py::gil_scoped_release nogil;
  const std::lock_guard<tracking::FairMutex> lock(self.mutex);
  return f();
}

using I64Array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

I64Array as_int64(const py::handle& obj, const std::string& what) {
  if (obj.is_none()) throw ShapeError(what + ": expected an array of integers, but got None");
  const py::array raw = py::array::ensure(obj);
  if (!raw) throw ShapeError(what + ": expected an array of integers");
  const char kind = raw.dtype().kind();
  if (raw.size() > 0 && kind != 'i' && kind != 'u')
    throw ShapeError(what + ": expected integers, got dtype " + std::string(py::str(raw.dtype())));
  return I64Array::ensure(raw);
}

py::tuple fused_arrays(const std::vector<t2t::FusedTrack>& out, Index n) {
  const auto N = static_cast<py::ssize_t>(n);
  py::array_t<std::int64_t> id(N), t(N), last(N);
  py::array_t<std::uint64_t> mask(N);
  py::array_t<std::int32_t> upd(N);
  py::array_t<bool> conf(N);
  py::array_t<double> x({N, static_cast<py::ssize_t>(kDim)});
  py::array_t<double> P({N, static_cast<py::ssize_t>(kDim), static_cast<py::ssize_t>(kDim)});
  for (Index i = 0; i < n; ++i) {
    const t2t::FusedTrack& f = out[static_cast<std::size_t>(i)];
    id.mutable_at(i) = f.id;
    t.mutable_at(i) = f.t_ns;
    last.mutable_at(i) = f.last_update_ns;
    mask.mutable_at(i) = f.source_mask;
    upd.mutable_at(i) = f.updates;
    conf.mutable_at(i) = f.confirmed != 0;
    std::memcpy(x.mutable_data(i, 0), f.x, sizeof(f.x));
    std::memcpy(P.mutable_data(i, 0, 0), f.P, sizeof(f.P));
  }
  return py::make_tuple(id, t, x, P, last, mask, upd, conf);
}

}  // namespace

void register_t2t(py::module_& m) {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const t2t::TrackListError& e) {
      const py::object err = py::module_::import("fusion.errors").attr("TrackListError");
      PyErr_SetString(err.ptr(), e.what());
    }
  });

  m.def(
      "covariance_intersection",
      [](const py::handle& xs_obj, const py::handle& Ps_obj, const std::string& criterion) {
        const t2t::CiCriterion crit = t2t::ci_criterion_from_string(criterion);
        const CArray xs = as_array(xs_obj, "xs");
        const CArray Ps = as_array(Ps_obj, "Ps");
        if (xs.ndim() != 2 || xs.shape(0) < 1 || xs.shape(1) < 1) shape_error("xs", "(n, d) with n, d >= 1", xs);
        const Index n = xs.shape(0), d = xs.shape(1);
        if (Ps.ndim() != 3 || Ps.shape(0) != n || Ps.shape(1) != d || Ps.shape(2) != d)
          shape_error("Ps", "(" + std::to_string(n) + ", " + std::to_string(d) + ", " + std::to_string(d) + ")", Ps);
        std::vector<VecX> xv(static_cast<std::size_t>(n));
        std::vector<MatX> Pv(static_cast<std::size_t>(n));
        for (Index i = 0; i < n; ++i) {
          xv[static_cast<std::size_t>(i)] = Eigen::Map<const VecX>(xs.data(i, 0), d);
          Pv[static_cast<std::size_t>(i)] = Eigen::Map<const MatX>(Ps.data(i, 0, 0), d, d);
          if (!all_finite(xv[static_cast<std::size_t>(i)]))
            throw NumericalError("covariance_intersection: xs[" + std::to_string(i) + "] is not finite");
          if (!all_finite(Pv[static_cast<std::size_t>(i)]))
            throw NumericalError("covariance_intersection: Ps[" + std::to_string(i) + "] is not finite");
          if (!is_spd(Pv[static_cast<std::size_t>(i)]))
            throw NumericalError("covariance_intersection: Ps[" + std::to_string(i) +
                                 "] is not symmetric positive definite");
        }
        VecX x(d);
        MatX P(d, d);
        std::vector<double> w(static_cast<std::size_t>(n));
        t2t::CiResult r;
        {
          py::gil_scoped_release nogil;
          t2t::CiSolver<MatX> ci;
          ci.reserve(n, d);
          r = ci.fuse(xv, Pv, n, crit, w.data(), x, P);
        }
        py::array_t<double> xo(static_cast<py::ssize_t>(d));
        py::array_t<double> Po({static_cast<py::ssize_t>(d), static_cast<py::ssize_t>(d)});
        py::array_t<double> wo(static_cast<py::ssize_t>(n));
        std::memcpy(xo.mutable_data(), x.data(), static_cast<std::size_t>(d) * sizeof(double));
        std::memcpy(Po.mutable_data(), P.data(), static_cast<std::size_t>(d * d) * sizeof(double));
        std::memcpy(wo.mutable_data(), w.data(), static_cast<std::size_t>(n) * sizeof(double));
        return py::make_tuple(xo, Po, wo, r.objective);
      },
      py::arg("xs"), py::arg("Ps"), py::arg("criterion") = "trace",
      "Covariance intersection of n estimates xs (n, d), Ps (n, d, d): (x, P, weights, objective).");

  py::class_<PyTrackFuser>(m, "TrackFuser", "Track-to-track fuser (private; use fusion.t2t.TrackFuser).")
      .def(py::init([](const std::vector<std::string>& names, const std::vector<double>& latencies,
                       const std::vector<std::tuple<double, double, double>>& poses, Index max_fused_tracks,
                       Index max_source_tracks, double accel_std, double gate, const std::string& criterion,
                       int confirm_updates, double delete_after_s, double max_delay_s,
                       const std::vector<bool>& births, int merge_after) {
             if (latencies.size() != names.size() || poses.size() != names.size() || births.size() != names.size())
               throw ConfigurationError("TrackFuser config: sources: names, latencies and poses differ in length");
             t2t::FuserConfig c;
             for (std::size_t i = 0; i < names.size(); ++i)
               c.sources.push_back(t2t::SourceConfig{
                   names[i], latencies[i],
                   t2t::Pose2D{std::get<0>(poses[i]), std::get<1>(poses[i]), std::get<2>(poses[i])}, births[i]});
             c.max_fused_tracks = max_fused_tracks;
             c.max_source_tracks = max_source_tracks;
             c.accel_std = accel_std;
             c.gate = gate;
             c.criterion = t2t::ci_criterion_from_string(criterion);
             c.confirm_updates = confirm_updates;
             c.delete_after_s = delete_after_s;
             c.max_delay_s = max_delay_s;
             c.merge_after = merge_after;
             return std::make_unique<PyTrackFuser>(std::move(c));
           }),
           py::arg("names"), py::arg("latencies"), py::arg("poses"), py::arg("max_fused_tracks"),
           py::arg("max_source_tracks"), py::arg("accel_std"), py::arg("gate"), py::arg("criterion"),
           py::arg("confirm_updates"), py::arg("delete_after_s"), py::arg("max_delay_s"), py::arg("births"),
           py::arg("merge_after") = 2)
      .def(
          "update",
          [](PyTrackFuser& self, Index source, std::int64_t t_ns, const py::handle& ids_obj, const py::handle& t_obj,
             const py::handle& x_obj, const py::handle& P_obj,
             const std::optional<std::tuple<double, double, double>>& pose) {
            const I64Array ids = as_int64(ids_obj, "ids");
            const I64Array ts = as_int64(t_obj, "t_ns");
            const CArray x = as_array(x_obj, "x");
            const CArray P = as_array(P_obj, "P");
            if (ids.ndim() != 1) throw ShapeError("ids: expected shape (n,), but got " + shape_str(ids));
            const py::ssize_t n = ids.shape(0);
            const std::string sn = std::to_string(n);
            if (ts.ndim() != 1 || ts.shape(0) != n) shape_error("t_ns", "(" + sn + ",)", ts);
            if (x.ndim() != 2 || x.shape(0) != n || x.shape(1) != kDim) shape_error("x", "(" + sn + ", 4)", x);
            if (P.ndim() != 3 || P.shape(0) != n || P.shape(1) != kDim || P.shape(2) != kDim)
              shape_error("P", "(" + sn + ", 4, 4)", P);
            std::vector<t2t::SourceTrack> list(static_cast<std::size_t>(n));
            for (py::ssize_t i = 0; i < n; ++i) {
              t2t::SourceTrack& s = list[static_cast<std::size_t>(i)];
              s.id = ids.at(i);
              s.t_ns = ts.at(i);
              std::memcpy(s.x, x.data(i, 0), sizeof(s.x));
              std::memcpy(s.P, P.data(i, 0, 0), sizeof(s.P));
            }
            t2t::Pose2D pz;
            if (pose) pz = t2t::Pose2D{std::get<0>(*pose), std::get<1>(*pose), std::get<2>(*pose)};
            return locked(self, [&] {
              return self.fuser.update(source, t_ns, list.data(), static_cast<Index>(n), pose ? &pz : nullptr);
            });
          },
          py::arg("source"), py::arg("t_ns"), py::arg("ids"), py::arg("t"), py::arg("x"), py::arg("P"),
          py::arg("pose") = py::none())
      .def(
          "tracks",
          [](PyTrackFuser& self, bool confirmed_only, std::optional<std::int64_t> at) {
            std::vector<t2t::FusedTrack> out;
            const Index n = locked(self, [&] {
              out.resize(static_cast<std::size_t>(self.fuser.num_tracks(confirmed_only)));
              return self.fuser.tracks(out.data(), static_cast<Index>(out.size()), confirmed_only, at.has_value(),
                                       at.value_or(0));
            });
            return fused_arrays(out, n);
          },
          py::arg("confirmed_only") = false, py::arg("at") = py::none())
      .def(
          "fused_id_of",
          [](PyTrackFuser& self, Index source, std::int64_t id) {
            return locked(self, [&] { return self.fuser.fused_id_of(source, id); });
          },
          py::arg("source"), py::arg("id"))
      .def("stats",
           [](PyTrackFuser& self) {
             const auto [s, has, t, nt, nc] = locked(self, [&] {
               return std::make_tuple(self.fuser.stats(), self.fuser.has_time(), self.fuser.time_ns(),
                                      self.fuser.num_tracks(false), self.fuser.num_tracks(true));
             });
             py::dict d;
             d["updates"] = s.updates;
             d["late_lists"] = s.late_lists;
             d["dropped_lists"] = s.dropped_lists;
             d["source_tracks"] = s.source_tracks;
             d["births"] = s.births;
             d["deletions"] = s.deletions;
             d["id_changes"] = s.id_changes;
             d["gate_breaks"] = s.gate_breaks;
             d["merges"] = s.merges;
             d["tracks"] = nt;
             d["confirmed_tracks"] = nc;
             d["time_ns"] = has ? py::object(py::int_(t)) : py::object(py::none());
             return d;
           })
      .def("reset", [](PyTrackFuser& self) { locked(self, [&] { self.fuser.reset(); }); })
      .def_property_readonly("time_ns", [](PyTrackFuser& self) -> std::optional<std::int64_t> {
        const auto [has, t] = locked(self, [&] { return std::make_pair(self.fuser.has_time(), self.fuser.time_ns()); });
        if (!has) return std::nullopt;
        return t;
      });
}

}  // namespace fusion::bindings
