// Bindings of the 3D multi-object tracker. The Python layer (fusion.tracking) owns the
// config dataclasses and the structured dtypes; here the tracker takes plain arrays and
// returns the raw TrackOutput records as bytes, which Python views with a dtype built from
// tracker_output_layout() (so the two layouts cannot drift apart). tracker_engine_spec() shows
// the engine preset of a class (the C++ mapping, engine_config_for).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common.hpp"
#include "fusion/tracking/fair_mutex.hpp"
#include "fusion/tracking/tracker.hpp"

namespace fusion::bindings {

py::dict engine_spec_of(const engine::EngineConfig& c);  // register_engine.cpp

namespace {

using tracking::ClassConfig;
using tracking::Detection;
using tracking::TrackOutput;
using IntArray = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;

// A tracker plus its reserved input buffer and the mutex that serialises every call on it.
//
// Locking rule (every method below): release the GIL first, then take the mutex, do pure C++
// work, release the mutex, and only then re-acquire the GIL to touch Python objects. No
// Python API call is made while the mutex is held, so a thread holding the mutex never waits
// for the GIL and a thread holding the GIL never waits for the mutex: no lock-order cycle.
// (Taking the mutex with the GIL held deadlocked: reset() held the GIL and waited for the
// mutex while step() held the mutex and waited for the GIL to build its output.)
struct PyTracker {
  explicit PyTracker(tracking::TrackerConfig cfg)
      : tracker(std::move(cfg)),
        dets(static_cast<std::size_t>(tracker.config().max_detections)) {}
  tracking::Tracker tracker;
  std::vector<Detection> dets;
  tracking::FairMutex mutex;  // first come, first served (see fair_mutex.hpp)
};

// Runs f() with the GIL released and self.mutex held; f must not touch Python objects.
template <class F>
auto locked(PyTracker& self, F&& f) {
  py::gil_scoped_release nogil;
  const std::lock_guard<tracking::FairMutex> lock(self.mutex);
  return f();
}

py::dict output_layout() {
  py::dict d;
  d["itemsize"] = sizeof(TrackOutput);
  d["track_id"] = offsetof(TrackOutput, track_id);
  d["class_id"] = offsetof(TrackOutput, class_id);
  d["status"] = offsetof(TrackOutput, status);
  d["box"] = offsetof(TrackOutput, box);
  d["velocity"] = offsetof(TrackOutput, velocity);
  d["score"] = offsetof(TrackOutput, score);
  d["llr"] = offsetof(TrackOutput, llr);
  d["existence"] = offsetof(TrackOutput, existence);
  d["hits"] = offsetof(TrackOutput, hits);
  d["age"] = offsetof(TrackOutput, age);
  d["time_since_update"] = offsetof(TrackOutput, time_since_update);
  d["detection"] = offsetof(TrackOutput, detection);
  return d;
}

}  // namespace

void register_tracker(py::module_& m) {
  py::class_<ClassConfig>(m, "TrackerClassConfig",
                          "Per-class tracker parameters (see fusion.tracking.ClassConfig).")
      .def(py::init<>())
      .def_property(
          "cost", [](const ClassConfig& c) { return std::string(tracking::to_string(c.cost)); },
          [](ClassConfig& c, const std::string& s) { c.cost = tracking::cost_kind_from_string(s); })
      .def_property(
          "motion", [](const ClassConfig& c) { return std::string(tracking::to_string(c.motion)); },
          [](ClassConfig& c, const std::string& s) { c.motion = tracking::motion_kind_from_string(s); })
      .def_property(
          "logic", [](const ClassConfig& c) { return std::string(tracking::to_string(c.logic)); },
          [](ClassConfig& c, const std::string& s) { c.logic = tracking::track_logic_from_string(s); })
      .def_readwrite("gate", &ClassConfig::gate)
      .def_readwrite("min_hits", &ClassConfig::min_hits)
      .def_readwrite("confirm_window", &ClassConfig::confirm_window)
      .def_readwrite("max_age", &ClassConfig::max_age)
      .def_readwrite("max_coast_s", &ClassConfig::max_coast_s)
      .def_readwrite("pd", &ClassConfig::pd)
      .def_readwrite("clutter_density", &ClassConfig::clutter_density)
      .def_readwrite("llr_init", &ClassConfig::llr_init)
      .def_readwrite("llr_confirm", &ClassConfig::llr_confirm)
      .def_readwrite("llr_delete", &ClassConfig::llr_delete)
      .def_readwrite("llr_max", &ClassConfig::llr_max)
      .def_readwrite("score_threshold", &ClassConfig::score_threshold)
      .def_readwrite("birth_score_threshold", &ClassConfig::birth_score_threshold)
      .def_readwrite("two_stage", &ClassConfig::two_stage)
      .def_readwrite("score_coast_penalty", &ClassConfig::score_coast_penalty)
      .def_readwrite("r_pos", &ClassConfig::r_pos)
      .def_readwrite("r_yaw", &ClassConfig::r_yaw)
      .def_readwrite("r_size", &ClassConfig::r_size)
      .def_readwrite("q_pos", &ClassConfig::q_pos)
      .def_readwrite("q_yaw", &ClassConfig::q_yaw)
      .def_readwrite("q_size", &ClassConfig::q_size)
      .def_readwrite("q_vel", &ClassConfig::q_vel)
      .def_readwrite("q_yaw_rate", &ClassConfig::q_yaw_rate)
      .def_readwrite("p0_pos", &ClassConfig::p0_pos)
      .def_readwrite("p0_yaw", &ClassConfig::p0_yaw)
      .def_readwrite("p0_size", &ClassConfig::p0_size)
      .def_readwrite("p0_vel", &ClassConfig::p0_vel)
      .def_readwrite("p0_yaw_rate", &ClassConfig::p0_yaw_rate)
      .def_readwrite("q_acc", &ClassConfig::q_acc)
      .def_readwrite("q_steer", &ClassConfig::q_steer)
      .def_readwrite("p0_acc", &ClassConfig::p0_acc)
      .def_readwrite("p0_steer", &ClassConfig::p0_steer)
      .def_readwrite("wheelbase_m", &ClassConfig::wheelbase_m)
      .def_readwrite("min_size", &ClassConfig::min_size);

  m.def("tracker_output_layout", &output_layout,
        "Byte offsets of the TrackOutput record fields and its itemsize.");
  m.def(
      "tracker_engine_spec",
      [](const ClassConfig& c, Index max_tracks, Index max_detections) {
        c.validate(-1);
        return engine_spec_of(tracking::engine_config_for(c, max_tracks, max_detections));
      },
      py::arg("class_config"), py::arg("max_tracks"), py::arg("max_detections"),
      "The engine spec (a dict as fusion.engine.EngineConfig.to_spec() gives) of the Tracker preset of "
      "one class: the C++ mapping ClassConfig -> EngineConfig that Tracker runs.");

  py::class_<PyTracker>(m, "TrackerCore", "C++ multi-object tracker (use fusion.tracking.Tracker).")
      .def(py::init([](const ClassConfig& default_class, const std::vector<std::int32_t>& class_ids,
                       const std::vector<ClassConfig>& classes, Index max_tracks,
                       Index max_detections) {
             tracking::TrackerConfig cfg;
             cfg.default_class = default_class;
             cfg.class_ids = class_ids;
             cfg.classes = classes;
             cfg.max_tracks = max_tracks;
             cfg.max_detections = max_detections;
             return new PyTracker(std::move(cfg));
           }),
           py::arg("default_class"), py::arg("class_ids"), py::arg("classes"),
           py::arg("max_tracks"), py::arg("max_detections"))
      .def(
          "step",
          [](PyTracker& self, const py::handle& boxes, const py::handle& class_ids,
             const py::handle& scores, std::int64_t t_ns) {
            const CArray b = as_array(boxes, "detections['box']");
            const IntArray c = IntArray::ensure(class_ids);
            const CArray s = as_array(scores, "detections['score']");
            if (!c) throw ShapeError("detections['class_id']: expected an integer array");
            if (b.ndim() != 2 || b.shape(1) != 7) shape_error("detections['box']", "(n, 7)", b);
            const Index n = b.shape(0);
            if (c.ndim() != 1 || c.shape(0) != n)
              shape_error("detections['class_id']", "(" + std::to_string(n) + ",)", c);
            if (s.ndim() != 1 || s.shape(0) != n)
              shape_error("detections['score']", "(" + std::to_string(n) + ",)", s);
            const Index cap = self.tracker.config().max_tracks;  // immutable after construction
            if (n > self.tracker.config().max_detections)
              throw ShapeError("Tracker.step: got " + std::to_string(n) +
                               " detections, but max_detections is " +
                               std::to_string(self.tracker.config().max_detections));
            // The output array is allocated here, with the GIL, and filled under the mutex
            // without it: this call's own buffer, which no other thread can see, so the result
            // is a copy that a later step never overwrites.
            py::array_t<std::uint8_t> raw(static_cast<py::ssize_t>(cap) *
                                          static_cast<py::ssize_t>(sizeof(TrackOutput)));
            auto* out = reinterpret_cast<TrackOutput*>(raw.mutable_data());
            const double* bp = b.data();
            const std::int32_t* cp = c.data();
            const double* sp = s.data();
            const Index m_out = locked(self, [&] {
              for (Index i = 0; i < n; ++i) {
                Detection& d = self.dets[static_cast<std::size_t>(i)];
                d.box = geometry::Box3::from_array(bp + 7 * i);
                d.class_id = cp[i];
                d.score = sp[i];
              }
              return self.tracker.step(self.dets.data(), n, t_ns, out);
            });
            raw.resize({static_cast<py::ssize_t>(m_out) * static_cast<py::ssize_t>(sizeof(TrackOutput))});
            return raw;
          },
          py::arg("boxes"), py::arg("class_ids"), py::arg("scores"), py::arg("t_ns"),
          "Advance to t_ns (int64 ns). Returns the live tracks as raw TrackOutput bytes (a new "
          "array owned by the caller).")
      .def("reset", [](PyTracker& self) { locked(self, [&] { self.tracker.reset(); }); })
      .def(
          "copy",
          [](PyTracker& self) {
            // A fresh tracker reserves every buffer from the config; copy-assigning the state
            // into it keeps those capacities, so the copy's steps allocate nothing either.
            auto copy = std::make_unique<PyTracker>(self.tracker.config());
            locked(self, [&] { copy->tracker = self.tracker; });
            return copy;
          },
          "An independent tracker with the same state (taken atomically).")
      .def_property_readonly("num_tracks",
                             [](PyTracker& self) { return locked(self, [&] { return self.tracker.num_tracks(); }); })
      .def_property_readonly("last_t_ns", [](PyTracker& self) -> py::object {
        bool has = false;
        TimeNs t = 0;
        locked(self, [&] {
          has = self.tracker.has_time();
          t = self.tracker.last_time();
        });
        if (!has) return py::none();
        return py::int_(t);
      });
}

}  // namespace fusion::bindings
