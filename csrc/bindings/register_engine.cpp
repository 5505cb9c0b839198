// Binding of the multi-sensor fusion engine: _core.FusionEngine(spec: dict), the surface that
// fusion.engine wraps (spec: /work/engine_spec.md §2). One class over the type-erased
// EngineBase, whatever the motion model; the sensors are picked at run time from the spec.
//
// Locking rule (the same as register_tracker.cpp): every method converts its Python inputs
// with the GIL held, then releases the GIL, then takes the object's FairMutex, does pure C++
// work, releases the mutex, and only then re-acquires the GIL to build Python outputs. No
// Python API call is made while the mutex is held, so no thread ever waits for the mutex
// while holding the GIL: no lock-order cycle, and stats()/reset()/tracks() from another
// thread get in at the next frame boundary (first come, first served).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common.hpp"
#include "fusion/engine/config.hpp"
#include "fusion/engine/engine.hpp"
#include "fusion/engine/oosm.hpp"
#include "fusion/engine/sensors.hpp"
#include "fusion/tracking/fair_mutex.hpp"

namespace fusion::bindings {

namespace {

using engine::EngineConfig;
using engine::SensorConfig;

struct PyEngine {
  std::unique_ptr<engine::EngineBase> eng;
  tracking::FairMutex mutex;
  py::object track_dtype, image_track_dtype;
  std::vector<std::string> sensor_names;
  std::vector<int> sensor_m;
  int num_classes = 1;
  Index max_tracks = 0, max_image_tracks = 0;
  std::size_t track_size = 0;
};

template <class F>
auto locked(PyEngine& self, F&& f) {
  py::gil_scoped_release nogil;
  const std::lock_guard<tracking::FairMutex> lock(self.mutex);
  return f();
}

// ---------------------------------------------------------------- spec parsing
[[noreturn]] void spec_error(const std::string& where, const std::string& msg) {
  throw ConfigurationError("FusionEngine spec: " + where + ": " + msg);
}

std::string type_name(const py::handle& h) { return py::str(py::type::of(h).attr("__name__")); }

// Rejects keys not in `known` (listing them).
void check_keys(const py::dict& d, const std::vector<std::string>& known, const std::string& where) {
  for (const auto& item : d) {
    if (!py::isinstance<py::str>(item.first)) spec_error(where, "keys must be strings");
    const std::string k = item.first.cast<std::string>();
    bool ok = false;
    for (const std::string& s : known) ok = ok || s == k;
    if (!ok) spec_error(where, "unknown key '" + k + "' (known: " + engine::join_keys(known) + ")");
  }
}

py::dict as_dict(const py::handle& h, const std::string& where) {
  if (!py::isinstance<py::dict>(h)) spec_error(where, "expected a dict, got " + type_name(h));
  return py::reinterpret_borrow<py::dict>(h);
}

// d[key] if present and not None.
bool has(const py::dict& d, const char* key) { return d.contains(key) && !d[key].is_none(); }

double get_double(const py::dict& d, const char* key, const std::string& where, double dflt) {
  if (!has(d, key)) return dflt;
  const py::handle v = d[key];
  if (py::isinstance<py::bool_>(v) || !(py::isinstance<py::float_>(v) || py::isinstance<py::int_>(v) ||
                                        py::hasattr(v, "__float__")))
    spec_error(where + "." + key, "expected a number, got " + type_name(v));
  return v.cast<double>();
}

std::int64_t get_int(const py::dict& d, const char* key, const std::string& where, std::int64_t dflt) {
  if (!has(d, key)) return dflt;
  const py::handle v = d[key];
  if (py::isinstance<py::bool_>(v) || !(py::isinstance<py::int_>(v) || py::hasattr(v, "__index__")))
    spec_error(where + "." + key, "expected an integer, got " + type_name(v));
  const py::int_ i = py::reinterpret_steal<py::int_>(PyNumber_Index(v.ptr()));
  if (!i) throw py::error_already_set();
  int overflow = 0;
  const long long x = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
  if (overflow != 0) spec_error(where + "." + key, "out of range: " + std::string(py::str(i)));
  return static_cast<std::int64_t>(x);
}

int get_int32(const py::dict& d, const char* key, const std::string& where, int dflt) {
  const std::int64_t v = get_int(d, key, where, dflt);
  if (v < INT_MIN || v > INT_MAX) spec_error(where + "." + key, "out of range: " + std::to_string(v));
  return static_cast<int>(v);
}

bool get_bool(const py::dict& d, const char* key, const std::string& where, bool dflt) {
  if (!has(d, key)) return dflt;
  const py::handle v = d[key];
  const bool numpy_bool = py::hasattr(v, "dtype") && py::hasattr(v, "ndim") && v.attr("ndim").cast<int>() == 0 &&
                          v.attr("dtype").attr("kind").cast<std::string>() == "b";
  if (!py::isinstance<py::bool_>(v) && !numpy_bool)
    spec_error(where + "." + key, "expected a bool, got " + type_name(v));
  return v.cast<bool>();
}

std::string get_str(const py::dict& d, const char* key, const std::string& where, const std::string& dflt) {
  if (!has(d, key)) return dflt;
  const py::handle v = d[key];
  if (!py::isinstance<py::str>(v)) spec_error(where + "." + key, "expected a string, got " + type_name(v));
  return v.cast<std::string>();
}

// A float array of the given shape (-1: any), row-major values.
std::vector<double> get_array(const py::handle& v, std::vector<py::ssize_t> shape, const std::string& where) {
  CArray a;
  try {
    a = as_array(v, where);
  } catch (const ShapeError& e) {
    spec_error(where, e.what());
  }
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (std::size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || a.shape(static_cast<py::ssize_t>(i)) == shape[i];
  if (!ok) {
    std::string s = "(";
    for (std::size_t i = 0; i < shape.size(); ++i)
      s += (i ? ", " : "") + (shape[i] < 0 ? std::string("n") : std::to_string(shape[i]));
    spec_error(where, "expected shape " + s + (shape.size() == 1 ? ",)" : ")") + ", got " + shape_str(a));
  }
  return std::vector<double>(a.data(), a.data() + a.size());
}

void parse_sensor(const py::handle& h, int k, const py::dict& lifecycle_unused, SensorConfig& s) {
  (void)lifecycle_unused;
  const std::string where = "sensors[" + std::to_string(k) + "]";
  const py::dict d = as_dict(h, where);
  check_keys(d, {"name", "model", "mount_R", "mount_t", "fov", "projection", "image_size", "R", "cost",
                 "gate", "associator", "jpda_method", "jpda_max_states", "jpda_birth_threshold",
                 "jpda_miss_beta0", "update_state", "births", "birth_score_threshold",
                 "score_threshold", "pd", "gate_probability", "clutter_density",
                 "nominal_likelihood_ratio", "counts_for_confirmation", "counts_for_coast",
                 "confusion", "image_tracks", "gate_chi2", "two_stage"},
             where);
  s.name = get_str(d, "name", where, "");
  const std::string w = where + " (" + s.name + ")";
  s.model = get_str(d, "model", w, "");
  if (has(d, "mount_R")) {
    const auto v = get_array(d["mount_R"], {3, 3}, w + ".mount_R");
    s.mount_R = Eigen::Map<const Mat<3, 3>>(v.data());
  }
  if (has(d, "mount_t")) {
    const auto v = get_array(d["mount_t"], {3}, w + ".mount_t");
    s.mount_t = Eigen::Map<const Vec<3>>(v.data());
  }
  if (has(d, "fov")) {
    const py::dict f = as_dict(d["fov"], w + ".fov");
    check_keys(f, {"azimuth_half_rad", "elevation_half_rad", "min_range_m", "max_range_m"}, w + ".fov");
    s.fov.azimuth_half_rad = get_double(f, "azimuth_half_rad", w + ".fov", s.fov.azimuth_half_rad);
    s.fov.elevation_half_rad = get_double(f, "elevation_half_rad", w + ".fov", s.fov.elevation_half_rad);
    s.fov.min_range_m = get_double(f, "min_range_m", w + ".fov", s.fov.min_range_m);
    s.fov.max_range_m = get_double(f, "max_range_m", w + ".fov", s.fov.max_range_m);
  }
  if (has(d, "projection")) {
    const auto v = get_array(d["projection"], {3, 4}, w + ".projection");
    s.projection = Eigen::Map<const Mat<3, 4>>(v.data());
    s.has_projection = true;
  }
  if (has(d, "image_size")) {
    const auto v = get_array(d["image_size"], {2}, w + ".image_size");
    s.image_width_px = v[0];
    s.image_height_px = v[1];
  }
  if (has(d, "R")) s.R = get_array(d["R"], {-1, -1}, w + ".R");
  s.cost = get_str(d, "cost", w, "");
  s.gate = get_double(d, "gate", w, s.gate);
  s.gate_chi2 = get_double(d, "gate_chi2", w, s.gate_chi2);
  s.two_stage = get_bool(d, "two_stage", w, s.two_stage);
  s.associator = get_str(d, "associator", w, s.associator);
  s.jpda_method = get_str(d, "jpda_method", w, s.jpda_method);
  s.jpda_max_states = get_int(d, "jpda_max_states", w, s.jpda_max_states);
  s.jpda_birth_threshold = get_double(d, "jpda_birth_threshold", w, s.jpda_birth_threshold);
  s.jpda_miss_beta0 = get_double(d, "jpda_miss_beta0", w, s.jpda_miss_beta0);
  s.update_state = get_bool(d, "update_state", w, s.update_state);
  s.births = get_bool(d, "births", w, s.births);
  s.birth_score_threshold = get_double(d, "birth_score_threshold", w, s.birth_score_threshold);
  s.score_threshold = get_double(d, "score_threshold", w, s.score_threshold);
  s.pd = get_double(d, "pd", w, s.pd);
  s.gate_probability = get_double(d, "gate_probability", w, s.gate_probability);
  s.clutter_density = get_double(d, "clutter_density", w, s.clutter_density);
  s.nominal_likelihood_ratio = get_double(d, "nominal_likelihood_ratio", w, s.nominal_likelihood_ratio);
  s.counts_for_confirmation = get_bool(d, "counts_for_confirmation", w, s.counts_for_confirmation);
  s.counts_for_coast = get_bool(d, "counts_for_coast", w, s.counts_for_coast);
  if (has(d, "confusion")) s.confusion = get_array(d["confusion"], {-1, -1}, w + ".confusion");
  s.image_tracks = get_bool(d, "image_tracks", w, s.image_tracks);
}

EngineConfig parse_spec(const py::handle& h) {
  const py::dict d = as_dict(h, "spec");
  check_keys(d, {"motion", "q_diag_per_s", "motion_noise", "extent_noise", "p0_diag", "num_classes",
                 "max_tracks", "max_detections", "max_image_tracks", "min_size", "late_policy",
                 "bad_detection", "lifecycle", "image_track", "sensors", "imm_transition", "imm_mu0",
                 "oosm_horizon_s", "oosm_max_frames", "ego_max_gap_s", "ego_max_extrapolation_s"},
             "spec");
  EngineConfig c;
  c.motion = get_str(d, "motion", "spec", c.motion);
  if (has(d, "q_diag_per_s")) c.q_diag_per_s = get_array(d["q_diag_per_s"], {-1}, "q_diag_per_s");
  if (has(d, "motion_noise")) {
    const py::dict m = as_dict(d["motion_noise"], "motion_noise");
    for (const auto& item : m) {
      if (!py::isinstance<py::str>(item.first)) spec_error("motion_noise", "keys must be strings");
      const std::string k = item.first.cast<std::string>();
      c.motion_noise.emplace_back(k, get_double(m, k.c_str(), "motion_noise", 0.0));
    }
  }
  if (has(d, "extent_noise")) {
    const py::dict e = as_dict(d["extent_noise"], "extent_noise");
    check_keys(e, {"z_m2_per_s", "yaw_rad2_per_s", "length_m2_per_s", "width_m2_per_s", "height_m2_per_s"},
               "extent_noise");
    ExtentNoise& n = c.extent_noise;
    n.z_m2_per_s = get_double(e, "z_m2_per_s", "extent_noise", n.z_m2_per_s);
    n.yaw_rad2_per_s = get_double(e, "yaw_rad2_per_s", "extent_noise", n.yaw_rad2_per_s);
    n.length_m2_per_s = get_double(e, "length_m2_per_s", "extent_noise", n.length_m2_per_s);
    n.width_m2_per_s = get_double(e, "width_m2_per_s", "extent_noise", n.width_m2_per_s);
    n.height_m2_per_s = get_double(e, "height_m2_per_s", "extent_noise", n.height_m2_per_s);
  }
  if (has(d, "p0_diag")) c.p0_diag = get_array(d["p0_diag"], {-1}, "p0_diag");
  if (has(d, "imm_transition")) c.imm_transition = get_array(d["imm_transition"], {-1, -1}, "imm_transition");
  if (has(d, "imm_mu0")) c.imm_mu0 = get_array(d["imm_mu0"], {-1}, "imm_mu0");
  c.num_classes = get_int32(d, "num_classes", "spec", c.num_classes);
  c.max_tracks = get_int(d, "max_tracks", "spec", c.max_tracks);
  c.max_detections = get_int(d, "max_detections", "spec", c.max_detections);
  c.max_image_tracks = get_int(d, "max_image_tracks", "spec", c.max_image_tracks);
  c.min_size = get_double(d, "min_size", "spec", c.min_size);
  c.late_policy = engine::late_policy_from_string(get_str(d, "late_policy", "spec", "drop"));
  c.bad_detection = engine::bad_detection_from_string(get_str(d, "bad_detection", "spec", "raise"));
  c.oosm_horizon_s = get_double(d, "oosm_horizon_s", "spec", c.oosm_horizon_s);  // the time layer (oosm.hpp)
  c.oosm_max_frames = get_int(d, "oosm_max_frames", "spec", c.oosm_max_frames);
  c.ego_max_gap_s = get_double(d, "ego_max_gap_s", "spec", c.ego_max_gap_s);
  c.ego_max_extrapolation_s = get_double(d, "ego_max_extrapolation_s", "spec", c.ego_max_extrapolation_s);
  if (has(d, "lifecycle")) {
    const py::dict l = as_dict(d["lifecycle"], "lifecycle");
    check_keys(l, {"confirm_hits", "confirm_window", "confirm_by_existence", "confirm_existence",
                   "delete_existence", "birth_existence", "max_coast_s", "tentative_max_coast_s",
                   "mean_lifetime_s", "tentative_max_misses", "max_misses", "miss_max_coast_s",
                   "confirm_rule", "existence_model", "llr_init", "llr_confirm", "llr_delete", "llr_max"},
               "lifecycle");
    track::LifecyclePolicy& p = c.lifecycle;
    p.confirm_hits = get_int32(l, "confirm_hits", "lifecycle", p.confirm_hits);
    p.confirm_window = get_int32(l, "confirm_window", "lifecycle", p.confirm_window);
    p.confirm_by_existence = get_bool(l, "confirm_by_existence", "lifecycle", p.confirm_by_existence);
    p.confirm_existence = get_double(l, "confirm_existence", "lifecycle", p.confirm_existence);
    p.delete_existence = get_double(l, "delete_existence", "lifecycle", p.delete_existence);
    p.birth_existence = get_double(l, "birth_existence", "lifecycle", p.birth_existence);
    p.max_coast_s = get_double(l, "max_coast_s", "lifecycle", p.max_coast_s);
    p.tentative_max_coast_s = get_double(l, "tentative_max_coast_s", "lifecycle", p.tentative_max_coast_s);
    p.mean_lifetime_s = get_double(l, "mean_lifetime_s", "lifecycle", p.mean_lifetime_s);
    p.tentative_max_misses = get_int32(l, "tentative_max_misses", "lifecycle", p.tentative_max_misses);
    p.max_misses = get_int32(l, "max_misses", "lifecycle", p.max_misses);
    p.miss_max_coast_s = get_double(l, "miss_max_coast_s", "lifecycle", p.miss_max_coast_s);
    p.confirm_rule = track::confirm_rule_from_string(get_str(l, "confirm_rule", "lifecycle", "last"));
    p.existence_model = track::existence_model_from_string(get_str(l, "existence_model", "lifecycle", "ipda"));
    p.llr_init = get_double(l, "llr_init", "lifecycle", p.llr_init);
    p.llr_confirm = get_double(l, "llr_confirm", "lifecycle", p.llr_confirm);
    p.llr_delete = get_double(l, "llr_delete", "lifecycle", p.llr_delete);
    p.llr_max = get_double(l, "llr_max", "lifecycle", p.llr_max);
  }
  if (has(d, "image_track")) {
    const py::dict it = as_dict(d["image_track"], "image_track");
    check_keys(it, {"gate", "confirm_hits", "confirm_window", "max_coast_s", "tentative_max_coast_s",
                    "q_pos", "q_vel", "q_size", "r"},
               "image_track");
    engine::ImageTrackConfig& g = c.image_track;
    g.gate = get_double(it, "gate", "image_track", g.gate);
    g.confirm_hits = get_int32(it, "confirm_hits", "image_track", g.confirm_hits);
    g.confirm_window = get_int32(it, "confirm_window", "image_track", g.confirm_window);
    g.max_coast_s = get_double(it, "max_coast_s", "image_track", g.max_coast_s);
    g.tentative_max_coast_s = get_double(it, "tentative_max_coast_s", "image_track", g.tentative_max_coast_s);
    g.q_pos = get_double(it, "q_pos", "image_track", g.q_pos);
    g.q_vel = get_double(it, "q_vel", "image_track", g.q_vel);
    g.q_size = get_double(it, "q_size", "image_track", g.q_size);
    g.r = get_double(it, "r", "image_track", g.r);
  }
  if (!has(d, "sensors")) spec_error("sensors", "missing (a list of sensor dicts)");
  const py::handle sensors = d["sensors"];
  if (!py::isinstance<py::list>(sensors) && !py::isinstance<py::tuple>(sensors))
    spec_error("sensors", "expected a list, got " + type_name(sensors));
  int k = 0;
  for (const py::handle s : sensors) {
    c.sensors.emplace_back();
    parse_sensor(s, k++, py::dict(), c.sensors.back());
  }
  return c;
}

// ---------------------------------------------------------------- dtypes
py::object make_dtype(const std::vector<engine::RecordField>& fields, std::size_t itemsize) {
  py::list names, formats, offsets;
  for (const engine::RecordField& f : fields) {
    names.append(f.name);
    if (f.shape.empty()) {
      formats.append(f.format);
    } else {
      py::tuple shape(f.shape.size());
      for (std::size_t i = 0; i < f.shape.size(); ++i) shape[i] = py::int_(f.shape[i]);
      formats.append(py::make_tuple(f.format, shape));
    }
    offsets.append(f.offset);
  }
  py::dict spec;
  spec["names"] = names;
  spec["formats"] = formats;
  spec["offsets"] = offsets;
  spec["itemsize"] = itemsize;
  return py::module_::import("numpy").attr("dtype")(spec);
}

// ---------------------------------------------------------------- process inputs
TimeNs to_time_ns(const py::handle& t, const std::string& who = "FusionEngine.process: t_ns") {
  // int64 nanoseconds only: a float (seconds?) or a bool is refused, as is anything beyond int64.
  const bool is_int = py::isinstance<py::int_>(t) || (PyIndex_Check(t.ptr()) && !PyFloat_Check(t.ptr()));
  if (py::isinstance<py::bool_>(t) || !is_int)
    throw TimestampError(who + " must be an integer (int64 nanoseconds), got " + type_name(t));
  const py::int_ v = py::reinterpret_steal<py::int_>(PyNumber_Index(t.ptr()));
  int overflow = 0;
  const long long x = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
  if (overflow != 0)
    throw TimestampError(who + " = " + std::string(py::str(v)) + " is out of the int64 range");
  if (x == LLONG_MIN)
    throw TimestampError(who + " = " + std::string(py::str(v)) +
                         " is int64 min, reserved: it marks 'never' in the track records");
  return static_cast<TimeNs>(x);
}

// A tuple (or any sequence) of exactly n real numbers, named in errors by `what` (ShapeError
// for a wrong length or a value that is not a real number; finiteness is the engine's check).
std::vector<double> real_tuple(const py::handle& h, std::size_t n, const std::string& what) {
  if (py::isinstance<py::str>(h) || !py::isinstance<py::sequence>(h))
    throw ShapeError(what + ": expected a sequence of " + std::to_string(n) + " numbers, got " + type_name(h));
  const py::sequence seq = py::reinterpret_borrow<py::sequence>(h);
  if (seq.size() != n)
    throw ShapeError(what + ": expected " + std::to_string(n) + " numbers, got " + std::to_string(seq.size()));
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const py::object v = seq[i];
    const double d = py::isinstance<py::bool_>(v) ? -1.0 : PyFloat_AsDouble(v.ptr());
    if (py::isinstance<py::bool_>(v) || (d == -1.0 && PyErr_Occurred() != nullptr)) {
      PyErr_Clear();
      throw ShapeError(what + "[" + std::to_string(i) + "]: expected a real number, got " + type_name(v));
    }
    out[i] = d;
  }
  return out;
}

int resolve_sensor(const PyEngine& self, const py::handle& s) {
  if (py::isinstance<py::str>(s)) {
    const std::string name = s.cast<std::string>();
    for (std::size_t k = 0; k < self.sensor_names.size(); ++k)
      if (self.sensor_names[k] == name) return static_cast<int>(k);
    std::string known;
    for (const std::string& n : self.sensor_names) known += (known.empty() ? "'" : ", '") + n + "'";
    throw ConfigurationError("FusionEngine.process: unknown sensor '" + name + "' (known: " + known + ")");
  }
  if (py::isinstance<py::bool_>(s) || !(py::isinstance<py::int_>(s) || PyIndex_Check(s.ptr())) || PyFloat_Check(s.ptr()))
    throw ConfigurationError("FusionEngine.process: sensor must be an index (int) or a name (str), got " + type_name(s));
  const py::int_ idx = py::reinterpret_steal<py::int_>(PyNumber_Index(s.ptr()));
  if (!idx) throw py::error_already_set();
  int overflow = 0;
  const long long k = PyLong_AsLongLongAndOverflow(idx.ptr(), &overflow);
  if (overflow != 0 || k < 0 || k >= static_cast<long long>(self.sensor_names.size()))
    throw ConfigurationError("FusionEngine.process: unknown sensor index " + std::string(py::str(idx)) +
                             " (the engine has " + std::to_string(self.sensor_names.size()) + " sensors)");
  return static_cast<int>(k);
}

using IntArray = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;

// as_array, but only from integer or real input: forcecast would turn bools, complex numbers
// (dropping the imaginary part) and numeric object arrays into doubles.
CArray as_real_array(const py::handle& obj, const std::string& what) {
  const py::array raw = py::array::ensure(obj);
  if (raw) {
    const char kind = raw.dtype().kind();
    if (kind != 'i' && kind != 'u' && kind != 'f')
      throw ShapeError(what + ": expected an array of numbers, got dtype " + std::string(py::str(raw.dtype())));
  }
  return as_array(obj, what);
}

}  // namespace

py::list matrix_list(const double* a, Index rows, Index cols) {
  py::list out;
  for (Index i = 0; i < rows; ++i) {
    py::list row;
    for (Index j = 0; j < cols; ++j) row.append(a[i * cols + j]);
    out.append(row);
  }
  return out;
}

// The spec dict of an EngineConfig (the inverse of parse_spec; fusion.engine.EngineConfig.from_dict
// reads it): how a C++-made configuration (the Tracker preset's) is shown in Python.
py::dict engine_spec_of(const EngineConfig& c) {
  py::dict d;
  d["motion"] = c.motion;
  d["q_diag_per_s"] = c.q_diag_per_s.empty() ? py::object(py::none()) : py::object(py::cast(c.q_diag_per_s));
  py::dict mn;
  for (const auto& [k, v] : c.motion_noise) mn[py::str(k)] = v;
  d["motion_noise"] = mn;
  py::dict en;
  en["z_m2_per_s"] = c.extent_noise.z_m2_per_s;
  en["yaw_rad2_per_s"] = c.extent_noise.yaw_rad2_per_s;
  en["length_m2_per_s"] = c.extent_noise.length_m2_per_s;
  en["width_m2_per_s"] = c.extent_noise.width_m2_per_s;
  en["height_m2_per_s"] = c.extent_noise.height_m2_per_s;
  d["extent_noise"] = en;
  d["p0_diag"] = c.p0_diag;
  if (!c.imm_transition.empty()) {  // R x R, row-major
    const auto R = static_cast<std::size_t>(std::lround(std::sqrt(static_cast<double>(c.imm_transition.size()))));
    py::list rows;
    for (std::size_t i = 0; i < R; ++i)
      rows.append(py::cast(std::vector<double>(c.imm_transition.begin() + static_cast<std::ptrdiff_t>(i * R),
                                               c.imm_transition.begin() + static_cast<std::ptrdiff_t>((i + 1) * R))));
    d["imm_transition"] = rows;
  }
  if (!c.imm_mu0.empty()) d["imm_mu0"] = c.imm_mu0;
  d["num_classes"] = c.num_classes;
  d["max_tracks"] = c.max_tracks;
  d["max_detections"] = c.max_detections;
  d["max_image_tracks"] = c.max_image_tracks;
  d["min_size"] = c.min_size;
  d["late_policy"] = engine::to_string(c.late_policy);
  d["bad_detection"] = engine::to_string(c.bad_detection);
  d["oosm_horizon_s"] = c.oosm_horizon_s;
  d["oosm_max_frames"] = c.oosm_max_frames;
  d["ego_max_gap_s"] = c.ego_max_gap_s;
  d["ego_max_extrapolation_s"] = c.ego_max_extrapolation_s;
  const track::LifecyclePolicy& p = c.lifecycle;
  py::dict l;
  l["confirm_hits"] = p.confirm_hits;
  l["confirm_window"] = p.confirm_window;
  l["confirm_by_existence"] = p.confirm_by_existence;
  l["confirm_existence"] = p.confirm_existence;
  l["delete_existence"] = p.delete_existence;
  l["birth_existence"] = p.birth_existence;
  l["max_coast_s"] = p.max_coast_s;
  l["tentative_max_coast_s"] = p.tentative_max_coast_s;
  l["mean_lifetime_s"] = p.mean_lifetime_s;
  l["tentative_max_misses"] = p.tentative_max_misses;
  l["max_misses"] = p.max_misses;
  l["miss_max_coast_s"] = p.miss_max_coast_s;
  l["confirm_rule"] = track::to_string(p.confirm_rule);
  l["existence_model"] = track::to_string(p.existence_model);
  l["llr_init"] = p.llr_init;
  l["llr_confirm"] = p.llr_confirm;
  l["llr_delete"] = p.llr_delete;
  l["llr_max"] = p.llr_max;
  d["lifecycle"] = l;
  const engine::ImageTrackConfig& g = c.image_track;
  py::dict it;
  it["gate"] = g.gate;
  it["confirm_hits"] = g.confirm_hits;
  it["confirm_window"] = g.confirm_window;
  it["max_coast_s"] = g.max_coast_s;
  it["tentative_max_coast_s"] = g.tentative_max_coast_s;
  it["q_pos"] = g.q_pos;
  it["q_vel"] = g.q_vel;
  it["q_size"] = g.q_size;
  it["r"] = g.r;
  d["image_track"] = it;
  py::list sensors;
  for (const SensorConfig& s : c.sensors) {
    py::dict e;
    e["name"] = s.name;
    e["model"] = s.model;
    e["mount_R"] = matrix_list(s.mount_R.data(), 3, 3);  // Mat is row-major
    e["mount_t"] = std::vector<double>(s.mount_t.data(), s.mount_t.data() + 3);
    py::dict f;
    f["azimuth_half_rad"] = s.fov.azimuth_half_rad;
    f["elevation_half_rad"] = s.fov.elevation_half_rad;
    f["min_range_m"] = s.fov.min_range_m;
    f["max_range_m"] = s.fov.max_range_m;
    e["fov"] = f;
    if (s.has_projection) {
      e["projection"] = matrix_list(s.projection.data(), 3, 4);
      e["image_size"] = std::vector<double>{s.image_width_px, s.image_height_px};
    } else {
      e["projection"] = py::none();
      e["image_size"] = py::none();
    }
    const auto M = static_cast<Index>(std::lround(std::sqrt(static_cast<double>(s.R.size()))));
    e["R"] = matrix_list(s.R.data(), M, M);
    e["cost"] = s.cost;
    e["gate"] = s.gate;
    e["gate_chi2"] = s.gate_chi2;
    e["two_stage"] = s.two_stage;
    e["associator"] = s.associator;
    e["update_state"] = s.update_state;
    e["births"] = s.births;
    e["birth_score_threshold"] = s.birth_score_threshold;
    e["score_threshold"] = s.score_threshold;
    e["pd"] = s.pd;
    e["gate_probability"] = s.gate_probability;
    e["clutter_density"] = s.clutter_density;
    e["nominal_likelihood_ratio"] = s.nominal_likelihood_ratio;
    e["counts_for_confirmation"] = s.counts_for_confirmation;
    e["counts_for_coast"] = s.counts_for_coast;
    if (s.confusion.empty()) {
      e["confusion"] = py::none();
    } else {
      e["confusion"] = matrix_list(s.confusion.data(), c.num_classes, c.num_classes);
    }
    e["image_tracks"] = s.image_tracks;
    sensors.append(e);
  }
  d["sensors"] = sensors;
  return d;
}

// ---------------------------------------------------------------- the time layer (B, engine/oosm.hpp)
// Ego motion, the odometry pose and the history of the OosmEngine that make_engine returns.
// Same locking rule as above: inputs converted with the GIL, then GIL released, then the mutex.
namespace {

// The track records that `fill(buffer)` writes (it runs under the engine's mutex and returns
// how many) as a numpy array of the engine's track dtype, copied out with the GIL. The buffer is
// this thread's and zeroed, so record padding stays zero and equal states give byte-identical
// arrays; it is zeroed again when the record size changes (records of another N put fields
// where this layout has padding: TrackRecord<N>'s 4 bytes after num_modes).
template <class Fill>
py::array track_array(PyEngine& self, Fill&& fill) {
  thread_local std::vector<std::uint8_t> buf;
  thread_local std::size_t buf_record_size = 0;
  const std::size_t need = static_cast<std::size_t>(self.max_tracks) * self.track_size;
  if (buf.size() < need || buf_record_size != self.track_size) {
    buf.assign(std::max(need, buf.size()), 0);
    buf_record_size = self.track_size;
  }
  const Index n = locked(self, [&] { return fill(buf.data()); });
  py::array out(py::dtype::from_args(self.track_dtype), std::vector<py::ssize_t>{static_cast<py::ssize_t>(n)});
  if (n > 0) std::memcpy(out.mutable_data(), buf.data(), static_cast<std::size_t>(n) * self.track_size);
  return out;
}

engine::OosmEngine& time_layer(PyEngine& self) {
  auto* t = dynamic_cast<engine::OosmEngine*>(self.eng.get());
  if (t == nullptr) throw ConfigurationError("FusionEngine: the engine has no time layer");
  return *t;
}

py::dict pose_dict(const engine::EgoPose& p) {
  py::dict d;
  d["x_m"] = p.x_m;
  d["y_m"] = p.y_m;
  d["yaw_rad"] = p.yaw_rad;
  d["speed_mps"] = p.speed_mps;
  d["yaw_rate_rps"] = p.yaw_rate_rps;
  return d;
}

void register_engine_time_layer(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<PyEngine>>(m.attr("FusionEngine"));
  cls.def(
         "ego_motion",
         [](PyEngine& self, const py::array& t_ns, const py::object& speed_mps, const py::object& yaw_rate_rps) {
           const std::string who = "FusionEngine.ego_motion";
           if (t_ns.dtype().kind() != 'i' && t_ns.dtype().kind() != 'u')
             throw TimestampError(who + ": t_ns must be integers (int64 nanoseconds), got dtype " +
                                  std::string(py::str(t_ns.dtype())));
           const auto t = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(t_ns);
           const CArray v = as_real_array(speed_mps, who + ": speed_mps");
           const CArray w = as_real_array(yaw_rate_rps, who + ": yaw_rate_rps");
           if (t.ndim() != 1) throw ShapeError(who + ": t_ns: expected shape (n,), got " + shape_str(t));
           const py::ssize_t n = t.shape(0);
           const std::string ns = "(" + std::to_string(n) + ",)";
           if (v.ndim() != 1 || v.shape(0) != n) shape_error(who + ": speed_mps", ns, v);
           if (w.ndim() != 1 || w.shape(0) != n) shape_error(who + ": yaw_rate_rps", ns, w);
           locked(self, [&] { time_layer(self).add_ego_motion(t.data(), v.data(), w.data(), static_cast<Index>(n)); });
         },
         py::arg("t_ns"), py::arg("speed_mps"), py::arg("yaw_rate_rps"),
         "Adds ego-motion samples: t_ns (n,) int64, speed_mps (n,), yaw_rate_rps (n,), in time order. "
         "All are checked first: a failed call adds none. Releases the GIL.")
      .def(
          "ego_pose",
          [](PyEngine& self, const py::object& t_ns) {
            const TimeNs t = to_time_ns(t_ns);
            const engine::EgoPose p = locked(self, [&] { return time_layer(self).ego_pose_at(t); });
            return pose_dict(p);
          },
          py::arg("t_ns"),
          "The odometry pose and motion at t_ns: {x_m, y_m, yaw_rad, speed_mps, yaw_rate_rps} "
          "(TimestampError when no sample was given or t_ns is beyond ego_max_extrapolation_s of them).")
      .def(
          "tracks_at",
          [](PyEngine& self, const py::object& t_ns, bool vehicle_frame, bool include_deleted, bool fixed_lag) {
            const bool at_now = t_ns.is_none();
            const TimeNs t = at_now ? 0 : to_time_ns(t_ns);
            return track_array(self, [&](std::uint8_t* buf) {
              engine::OosmEngine& e = time_layer(self);
              if (at_now && !e.has_time()) return e.export_tracks(buf, self.max_tracks, include_deleted);
              const TimeNs at = at_now ? e.time_ns() : t;
              if (fixed_lag) return e.export_tracks_filtered_at(buf, self.max_tracks, include_deleted, at, vehicle_frame);
              return e.export_tracks_at(buf, self.max_tracks, include_deleted, at, vehicle_frame);
            });
          },
          py::arg("t_ns"), py::arg("vehicle_frame") = false, py::arg("include_deleted") = true,
          py::arg("fixed_lag") = false,
          "The tracks predicted to t_ns (None: the engine's time), box and velocity in the odometry "
          "frame or (vehicle_frame) the vehicle frame of the odometry pose at t_ns; x and P stay in the "
          "tracking frame. fixed_lag: the state after fusing exactly the frames stamped up to t_ns "
          "(from the out-of-sequence history; TimestampError when t_ns is older than it reaches). "
          "No state change.")
      .def_property_readonly(
          "history_size", [](PyEngine& self) { return locked(self, [&] { return time_layer(self).history_size(); }); },
          "Frames in the out-of-sequence history now.");
}

}  // namespace

void register_engine(py::module_& m) {
  m.def(
      "engine_registry",
      [] {
        py::dict d;
        d["motion"] = engine::kMotionKeys;
        py::dict sensors;
        sensor::for_each_type(engine::EngineSensorModels{}, [&](auto* tag) {
          using S = std::remove_pointer_t<decltype(tag)>;
          sensors[engine::SensorKey<S>::kKey] = S::M;
        });
        d["sensor"] = sensors;
        d["cost"] = engine::kCostKeys;
        d["associator"] = engine::kAssociatorKeys;
        return d;
      },
      "The engine's registry keys: {'motion': [...], 'sensor': {key: M}, 'cost': [...], 'associator': [...]}.");

  py::class_<PyEngine>(m, "FusionEngine", "C++ multi-sensor fusion engine (use fusion.engine.FusionEngine).")
      .def(py::init([](const py::dict& spec) {
             const EngineConfig cfg = parse_spec(spec);
             auto self = std::make_unique<PyEngine>();
             self->eng = engine::make_engine(cfg);
             const EngineConfig& c = self->eng->config();
             for (int k = 0; k < self->eng->num_sensors(); ++k) {
               self->sensor_names.push_back(c.sensors[static_cast<std::size_t>(k)].name);
               self->sensor_m.push_back(self->eng->measurement_dim(k));
             }
             self->num_classes = c.num_classes;
             self->max_tracks = c.max_tracks;
             self->max_image_tracks = c.max_image_tracks;
             self->track_size = self->eng->track_record_size();
             self->track_dtype = make_dtype(self->eng->track_record_fields(), self->track_size);
             self->image_track_dtype =
                 make_dtype(engine::image_track_record_fields(), sizeof(engine::ImageTrackRecord));
             return self;
           }),
           py::arg("spec"), "Builds the engine from a spec dict (fusion.engine.EngineConfig.to_spec()).")
      .def(
          "process",
          [](PyEngine& self, const py::object& sensor, const py::object& t_ns, const py::object& z,
             const py::object& R, const py::object& score, const py::object& class_id,
             const py::object& class_scores, const py::object& ego) {
            const int k = resolve_sensor(self, sensor);
            const TimeNs t = to_time_ns(t_ns);
            const int M = self.sensor_m[static_cast<std::size_t>(k)];
            const int C = self.num_classes;
            const std::string who = "FusionEngine.process (sensor '" + self.sensor_names[static_cast<std::size_t>(k)] + "')";
            const CArray za = as_real_array(z, who + ": z");
            Index n = 0;
            if (za.size() == 0 && (za.ndim() == 1 || (za.ndim() == 2 && (za.shape(1) == M || za.shape(0) == 0)))) {
              n = 0;
            } else if (za.ndim() == 2 && za.shape(1) == M) {
              n = za.shape(0);
            } else {
              shape_error(who + ": z", "(n, " + std::to_string(M) + ")", za);
            }
            const std::string ns = std::to_string(n);
            CArray Ra, sa, csa;
            IntArray ca;
            engine::Frame f;
            f.sensor = k;
            f.t_ns = t;
            f.n = n;
            f.z = n > 0 ? za.data() : nullptr;
            if (!R.is_none()) {
              Ra = as_real_array(R, who + ": R");
              if (Ra.ndim() != 3 || Ra.shape(0) != n || Ra.shape(1) != M || Ra.shape(2) != M)
                shape_error(who + ": R", "(" + ns + ", " + std::to_string(M) + ", " + std::to_string(M) + ")", Ra);
              f.R = Ra.data();
            }
            if (!score.is_none()) {
              sa = as_real_array(score, who + ": score");
              if (sa.ndim() != 1 || sa.shape(0) != n) shape_error(who + ": score", "(" + ns + ",)", sa);
              f.score = sa.data();
            }
            if (!class_id.is_none()) {
              const py::array raw = py::array::ensure(class_id);
              if (!raw || (raw.dtype().kind() != 'i' && raw.dtype().kind() != 'u'))
                throw ShapeError(who + ": class_id: expected an integer array");
              const bool fits = raw.dtype().itemsize() < 4 || (raw.dtype().kind() == 'i' && raw.dtype().itemsize() == 4);
              if (!fits && raw.size() > 0) {  // forcecast to int32 would wrap 2**32 to 0: check the range first
                for (const char* ext : {"min", "max"}) {
                  const py::int_ v(raw.attr(ext)());
                  int overflow = 0;
                  const long long x = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
                  if (overflow != 0 || x < INT_MIN || x > INT_MAX)
                    throw ShapeError(who + ": class_id: " + std::string(py::str(v)) +
                                     " is outside int32 (class ids are in [-1, num_classes))");
                }
              }
              ca = IntArray::ensure(raw);
              if (ca.ndim() != 1 || ca.shape(0) != n) shape_error(who + ": class_id", "(" + ns + ",)", ca);
              f.class_id = ca.data();
            }
            if (!class_scores.is_none()) {
              csa = as_real_array(class_scores, who + ": class_scores");
              if (csa.ndim() != 2 || csa.shape(0) != n || csa.shape(1) != C)
                shape_error(who + ": class_scores", "(" + ns + ", " + std::to_string(C) + ")", csa);
              f.class_scores = csa.data();
            }
            if (!ego.is_none()) {
              const std::vector<double> e = real_tuple(ego, 5, who + ": ego (x_m, y_m, yaw_rad, speed_mps, yaw_rate_rps)");
              f.has_ego = true;
              f.ego_x_m = e[0];
              f.ego_y_m = e[1];
              f.ego_yaw_rad = e[2];
              f.ego_speed_mps = e[3];
              f.ego_yaw_rate_rps = e[4];
            }
            locked(self, [&] { self.eng->process(f); });
          },
          py::arg("sensor"), py::arg("t_ns"), py::arg("z"), py::arg("R") = py::none(),
          py::arg("score") = py::none(), py::arg("class_id") = py::none(), py::arg("class_scores") = py::none(),
          py::arg("ego") = py::none(),
          "Fuses one sensor frame (sensor index or name, int64 ns, z (n, M), optional R (n, M, M), "
          "score (n,), class_id (n,), class_scores (n, C); ego: None (static mounts) or the vehicle's "
          "(x_m, y_m, yaw_rad, speed_mps, yaw_rate_rps) at t_ns in the tracking frame). Releases the GIL.")
      .def(
          "tracks",
          [](PyEngine& self, bool include_deleted, const py::object& at_ns, const py::object& vehicle_pose) {
            engine::ExportOptions opt;
            opt.include_deleted = include_deleted;
            if (!at_ns.is_none()) {
              opt.at_time = true;
              opt.t_ns = to_time_ns(at_ns, "FusionEngine.tracks: at_ns");
            }
            if (!vehicle_pose.is_none()) {
              const std::vector<double> p = real_tuple(vehicle_pose, 3, "FusionEngine.tracks: vehicle_pose (x_m, y_m, yaw_rad)");
              opt.vehicle_frame = true;
              opt.ego_x_m = p[0];
              opt.ego_y_m = p[1];
              opt.ego_yaw_rad = p[2];
            }
            return track_array(self, [&](std::uint8_t* buf) { return self.eng->export_tracks(buf, self.max_tracks, opt); });
          },
          py::arg("include_deleted") = true, py::arg("at_ns") = py::none(), py::arg("vehicle_pose") = py::none(),
          "Live tracks (and those deleted in the latest frame if include_deleted), in id order (track_dtype). "
          "at_ns: each predicted to that time (no state change; a newer track as it is). vehicle_pose "
          "(x_m, y_m, yaw_rad) in the tracking frame: box and velocity in that vehicle frame (x and P stay "
          "in the tracking frame).")
      .def(
          "image_tracks",
          [](PyEngine& self, const py::object& at_ns) {
            thread_local std::vector<engine::ImageTrackRecord> buf;
            if (buf.size() < static_cast<std::size_t>(self.max_image_tracks))
              buf.assign(static_cast<std::size_t>(self.max_image_tracks), engine::ImageTrackRecord{});
            const bool lag = !at_ns.is_none();
            const TimeNs t = lag ? to_time_ns(at_ns, "FusionEngine.image_tracks: at_ns") : 0;
            const Index n = locked(self, [&] {
              return lag ? time_layer(self).export_image_tracks_filtered_at(buf.data(), self.max_image_tracks, t)
                         : self.eng->export_image_tracks(buf.data(), self.max_image_tracks);
            });
            py::array out(py::dtype::from_args(self.image_track_dtype), std::vector<py::ssize_t>{static_cast<py::ssize_t>(n)});
            if (n > 0) std::memcpy(out.mutable_data(), buf.data(), static_cast<std::size_t>(n) * sizeof(engine::ImageTrackRecord));
            return out;
          },
          py::arg("at_ns") = py::none(),
          "Live image tracks (and those deleted in the latest frame), in id order (image_track_dtype). "
          "at_ns: those after exactly the frames stamped up to at_ns (fixed lag, from the out-of-sequence "
          "history; TimestampError when it no longer reaches at_ns).")
      .def_property_readonly("track_dtype", [](const PyEngine& self) { return py::dtype::from_args(self.track_dtype); },
                             "numpy structured dtype of tracks() (fields and shapes from N, C, S).")
      .def_property_readonly("image_track_dtype",
                             [](const PyEngine& self) { return py::dtype::from_args(self.image_track_dtype); },
                             "numpy structured dtype of image_tracks().")
      .def("stats",
           [](PyEngine& self) {
             const engine::EngineStats s = locked(self, [&] { return self.eng->stats(); });
             std::map<std::string, std::int64_t> d;
             d["frames"] = s.frames;
             d["detections"] = s.detections;
             d["late_frames"] = s.late_frames;
             d["late_detections"] = s.late_detections;
             d["skipped_detections"] = s.skipped_detections;
             d["rejected_updates"] = s.rejected_updates;
             d["births"] = s.births;
             d["deletions"] = s.deletions;
             d["insert_failures"] = s.insert_failures;
             d["image_births"] = s.image_births;
             d["imm_underflows"] = s.imm_underflows;
             d["reprocessed_frames"] = s.reprocessed_frames;
             d["ego_gaps"] = s.ego_gaps;
             return d;
           }, "Counters since construction or reset().")
      .def("reset", [](PyEngine& self) { locked(self, [&] { self.eng->reset(); }); },
           "No tracks, no time, counters zero; track ids keep counting (never reused).")
      .def_property_readonly("time_ns",
                             [](PyEngine& self) -> std::optional<std::int64_t> {
                               bool has = false;
                               TimeNs t = 0;
                               locked(self, [&] {
                                 has = self.eng->has_time();
                                 t = self.eng->time_ns();
                               });
                               if (!has) return std::nullopt;
                               return t;
                             }, "Time of the latest fused frame [int64 ns], None before the first.")
      .def_property_readonly("num_tracks",
                             [](PyEngine& self) { return locked(self, [&] { return self.eng->num_tracks(); }); })
      .def_property_readonly("num_image_tracks",
                             [](PyEngine& self) { return locked(self, [&] { return self.eng->num_image_tracks(); }); })
      .def_property_readonly("state_dim", [](const PyEngine& self) { return self.eng->state_dim(); })
      .def_property_readonly("motion", [](const PyEngine& self) { return self.eng->motion(); })
      .def_property_readonly("sensor_names", [](const PyEngine& self) { return self.sensor_names; });
  register_engine_time_layer(m);
}

}  // namespace fusion::bindings
