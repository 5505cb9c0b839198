// Bindings of the 2D point-target tracker (GNN / JPDA) and the standalone JPDA marginal
// solver. The Python layer (fusion.tracking.point_tracker) owns the config dataclass and the
// structured dtype; step() returns the raw PointTrackOutput records as bytes, which Python
// views with a dtype built from point_tracker_output_layout().
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "common.hpp"
#include "fusion/tracking/fair_mutex.hpp"
#include "fusion/tracking/jpda.hpp"
#include "fusion/tracking/point_tracker.hpp"

namespace fusion::bindings {

namespace {

using tracking::AssociationProbability;
using tracking::PointTrackOutput;
using IndexArray = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

// The tracker and the mutex that serialises every call on it. Same locking rule as
// register_tracker.cpp: GIL released first, then the mutex, pure C++ work, mutex released,
// and only then the GIL re-acquired to build Python objects (stats() and
// association_probabilities() polled from a monitoring thread used to take the mutex with
// the GIL held, and deadlock against a step() waiting for the GIL inside the mutex).
struct PyPointTracker {
  explicit PyPointTracker(const tracking::PointTrackerConfig& cfg) : tracker(cfg) {}
  tracking::PointTracker tracker;
  tracking::FairMutex mutex;  // first come, first served (see fair_mutex.hpp)
};

// Runs f() with the GIL released and self.mutex held; f must not touch Python objects.
template <class F>
auto locked(PyPointTracker& self, F&& f) {
  py::gil_scoped_release nogil;
  const std::lock_guard<tracking::FairMutex> lock(self.mutex);
  return f();
}

py::dict output_layout() {
  py::dict d;
  d["itemsize"] = sizeof(PointTrackOutput);
  d["track_id"] = offsetof(PointTrackOutput, track_id);
  d["status"] = offsetof(PointTrackOutput, status);
  d["hits"] = offsetof(PointTrackOutput, hits);
  d["age"] = offsetof(PointTrackOutput, age);
  d["misses"] = offsetof(PointTrackOutput, misses);
  d["measurement"] = offsetof(PointTrackOutput, measurement);
  d["x"] = offsetof(PointTrackOutput, x);
  d["P"] = offsetof(PointTrackOutput, P);
  d["score"] = offsetof(PointTrackOutput, score);
  return d;
}

}  // namespace

void register_point_tracker(py::module_& m) {
  m.def("point_tracker_output_layout", &output_layout,
        "Byte offsets of the PointTrackOutput record fields and its itemsize.");

  py::class_<PyPointTracker>(m, "PointTrackerCore",
                             "C++ 2D point tracker (use fusion.tracking.point_tracker.PointTracker).")
      .def(py::init([](const std::string& association, double gate_chi2, double prob_detection,
                       double clutter_density, double sigma_a, double sigma_meas,
                       double init_speed_sigma, std::int32_t confirm_m, std::int32_t confirm_n,
                       std::int32_t max_misses, Index max_tracks, Index max_measurements,
                       Index max_gated_pairs, double birth_threshold,
                       const std::string& jpda_method, Index jpda_max_states) {
             tracking::PointTrackerConfig c;
             c.association = tracking::point_association_from_string(association);
             c.gate_chi2 = gate_chi2;
             c.prob_detection = prob_detection;
             c.clutter_density = clutter_density;
             c.sigma_a = sigma_a;
             c.sigma_meas = sigma_meas;
             c.init_speed_sigma = init_speed_sigma;
             c.confirm_m = confirm_m;
             c.confirm_n = confirm_n;
             c.max_misses = max_misses;
             c.max_tracks = max_tracks;
             c.max_measurements = max_measurements;
             c.max_gated_pairs = max_gated_pairs;
             c.birth_threshold = birth_threshold;
             c.jpda_method = tracking::jpda_method_from_string(jpda_method);
             c.jpda_max_states = jpda_max_states;
             return new PyPointTracker(c);
           }),
           py::arg("association"), py::arg("gate_chi2"), py::arg("prob_detection"),
           py::arg("clutter_density"), py::arg("sigma_a"), py::arg("sigma_meas"),
           py::arg("init_speed_sigma"), py::arg("confirm_m"), py::arg("confirm_n"),
           py::arg("max_misses"), py::arg("max_tracks"), py::arg("max_measurements"),
           py::arg("max_gated_pairs"), py::arg("birth_threshold"), py::arg("jpda_method"),
           py::arg("jpda_max_states"))
      .def(
          "step",
          [](PyPointTracker& self, const py::handle& measurements, std::int64_t t_ns) {
            const CArray z = as_array(measurements, "measurements");
            if (z.ndim() != 2 || z.shape(1) != 2) shape_error("measurements", "(n, 2)", z);
            const Index n = z.shape(0);
            const Index cap = self.tracker.config().max_tracks;  // immutable after construction
            // Allocated with the GIL, filled under the mutex without it (see register_tracker.cpp):
            // the caller's own copy of the records.
            py::array_t<std::uint8_t> raw(static_cast<py::ssize_t>(cap) *
                                          static_cast<py::ssize_t>(sizeof(PointTrackOutput)));
            auto* out = reinterpret_cast<PointTrackOutput*>(raw.mutable_data());
            const double* zp = z.data();
            const Index n_out = locked(self, [&] { return self.tracker.step(zp, n, t_ns, out); });
            raw.resize({static_cast<py::ssize_t>(n_out) * static_cast<py::ssize_t>(sizeof(PointTrackOutput))});
            return raw;
          },
          py::arg("measurements"), py::arg("t_ns"),
          "Advance to t_ns (int64 ns) with an (n, 2) array of positions; returns raw records "
          "(a new array owned by the caller).")
      .def("association_probabilities",
           [](PyPointTracker& self) {
             // Copied into this call's own C++ buffer under the mutex; numpy arrays are built
             // after it is released.
             std::vector<AssociationProbability> probs;
             locked(self, [&] {
               const Index n = self.tracker.association_probabilities(nullptr, 0);
               probs.resize(static_cast<std::size_t>(n));
               self.tracker.association_probabilities(probs.data(), n);
             });
             const auto n = static_cast<py::ssize_t>(probs.size());
             py::array_t<std::int64_t> ids(n), meas(n);
             py::array_t<double> prob(n);
             for (py::ssize_t i = 0; i < n; ++i) {
               const AssociationProbability& a = probs[static_cast<std::size_t>(i)];
               ids.mutable_at(i) = a.track_id;
               meas.mutable_at(i) = a.detection;
               prob.mutable_at(i) = a.probability;
             }
             return py::make_tuple(ids, meas, prob);
           })
      .def("stats",
           [](PyPointTracker& self) {
             const tracking::PointTrackerStats s =
                 locked(self, [&] { return self.tracker.stats(); });  // a copy: never torn
             py::dict d;
             d["gated_pairs"] = s.gated_pairs;
             d["clusters"] = s.clusters;
             d["largest_cluster_tracks"] = s.largest_cluster_tracks;
             d["largest_cluster_measurements"] = s.largest_cluster_measurements;
             d["clusters_single"] = s.clusters_single;
             d["clusters_enumerate"] = s.clusters_enumerate;
             d["clusters_exact"] = s.clusters_exact;
             d["clusters_lbp"] = s.clusters_lbp;
             d["births"] = s.births;
             d["births_skipped"] = s.births_skipped;
             d["deaths"] = s.deaths;
             return d;
           })
      .def("reset", [](PyPointTracker& self) { locked(self, [&] { self.tracker.reset(); }); })
      .def(
          "copy",
          [](PyPointTracker& self) {
            // Fresh buffers reserved from the config, then the state copy-assigned into them
            // (capacities kept: the copy's steady-state steps allocate nothing either).
            auto copy = std::make_unique<PyPointTracker>(self.tracker.config());
            locked(self, [&] { copy->tracker = self.tracker; });
            return copy;
          },
          "An independent tracker with the same state (taken atomically).")
      .def_property_readonly("num_tracks",
                             [](PyPointTracker& self) { return locked(self, [&] { return self.tracker.num_tracks(); }); })
      .def_property_readonly("last_t_ns", [](PyPointTracker& self) -> py::object {
        bool has = false;
        TimeNs t = 0;
        locked(self, [&] {
          has = self.tracker.has_time();
          t = self.tracker.last_time();
        });
        if (!has) return py::none();
        return py::int_(t);
      });

  m.def(
      "jpda_marginals",
      [](const py::handle& ptr_obj, const py::handle& meas_obj, const py::handle& w_obj,
         const py::handle& miss_obj, Index num_measurements, const std::string& method,
         Index max_states) {
        const IndexArray ptr = IndexArray::ensure(ptr_obj), meas = IndexArray::ensure(meas_obj);
        if (!ptr || !meas) throw ShapeError("jpda_marginals: ptr and meas must be integer arrays");
        const CArray w = as_array(w_obj, "likelihood ratios"), miss = as_array(miss_obj, "miss weights");
        if (ptr.ndim() != 1 || ptr.shape(0) < 1) shape_error("ptr", "(K + 1,)", ptr);
        const Index K = ptr.shape(0) - 1;
        if (miss.ndim() != 1 || miss.shape(0) != K)
          shape_error("miss weights", "(" + std::to_string(K) + ",)", miss);
        const Index E = ptr.at(K);
        if (meas.ndim() != 1 || meas.shape(0) != E) shape_error("meas", "(" + std::to_string(E) + ",)", meas);
        if (w.ndim() != 1 || w.shape(0) != E)
          shape_error("likelihood ratios", "(" + std::to_string(E) + ",)", w);
        if (num_measurements < 0)
          throw ShapeError("jpda_marginals: num_measurements must be >= 0, got " +
                           std::to_string(num_measurements));
        const tracking::JpdaMethod want = tracking::jpda_method_from_string(method);
        py::array_t<double> beta(E), beta0(K);
        // Everything below reads and writes only C++ memory and arrays this call owns or
        // keeps alive (ptr, meas, w, miss, beta, beta0): the GIL is released for the solve.
        const std::int64_t* pp = ptr.data();
        const std::int64_t* mp = meas.data();
        const double* wp = w.data();
        const double* missp = miss.data();
        double* bp = beta.mutable_data();
        double* b0p = beta0.mutable_data();
        tracking::JpdaMethod used;
        int lbp_iterations;
        {
          py::gil_scoped_release nogil;
          tracking::JpdaSolver solver;
          solver.reserve(K, num_measurements, E, max_states);
          const std::vector<Index> p(pp, pp + K + 1), mi(mp, mp + E);
          used = solver.solve(K, num_measurements, p.data(), mi.data(), wp, missp, bp, b0p, want);
          lbp_iterations = solver.last_lbp_iterations();
        }
        return py::make_tuple(beta, beta0, std::string(tracking::to_string(used)), lbp_iterations);
      },
      py::arg("ptr"), py::arg("meas"), py::arg("likelihood_ratios"), py::arg("miss_weights"),
      py::arg("num_measurements"), py::arg("method") = "auto", py::arg("max_states") = 1 << 16,
      "JPDA marginals of one cluster in CSR form: (beta per edge, beta0 per track, method used, "
      "LBP iterations).");
}

}  // namespace fusion::bindings
