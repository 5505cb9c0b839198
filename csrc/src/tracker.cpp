// fusion::tracking::Tracker as a preset of the engine (see tracker.hpp): the mapping
// ClassConfig -> EngineConfig (engine_config_for), the per-class engines, and the cross-class
// arbitration of births, ids and max_tracks.
#include "fusion/tracking/tracker.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include "fusion/core/errors.hpp"
#include "fusion/track/lifecycle.hpp"
#include "fusion/track/record.hpp"

namespace fusion::tracking {

namespace {

void check_positive(double v, const char* name, std::int32_t cls, bool allow_zero = false) {
  if (!std::isfinite(v) || v < 0.0 || (!allow_zero && v == 0.0))
    throw ConfigurationError("tracker class " + std::to_string(cls) + ": " + name + " must be " +
                             (allow_zero ? "finite and >= 0" : "finite and > 0") + ", got " +
                             std::to_string(v));
}

const char* engine_cost_key(CostKind k) {
  switch (k) {
    case CostKind::kGiou3d: return "giou_3d";
    case CostKind::kGiouBev: return "giou_bev";
    case CostKind::kIou3d: return "iou_3d";
    case CostKind::kIouBev: return "iou_bev";
    case CostKind::kCentreDistance: return "distance";
    case CostKind::kCentreDistanceBev: return "distance_bev";
    case CostKind::kMahalanobis: return "mahalanobis";
  }
  return "giou_3d";
}

// Byte offset of a named field of an engine track record.
std::size_t field_offset(const std::vector<engine::RecordField>& fields, const char* name) {
  for (const engine::RecordField& f : fields)
    if (f.name == name) return f.offset;
  throw std::logic_error(std::string("Tracker: the engine track record has no field ") + name);
}

template <class T>
T read_field(const unsigned char* rec, std::size_t offset) {
  T v;
  std::memcpy(&v, rec + offset, sizeof(T));
  return v;
}

}  // namespace

CostKind cost_kind_from_string(std::string_view name) {
  if (name == "giou_3d") return CostKind::kGiou3d;
  if (name == "giou_bev") return CostKind::kGiouBev;
  if (name == "iou_3d") return CostKind::kIou3d;
  if (name == "iou_bev") return CostKind::kIouBev;
  if (name == "distance") return CostKind::kCentreDistance;
  if (name == "distance_bev") return CostKind::kCentreDistanceBev;
  if (name == "mahalanobis") return CostKind::kMahalanobis;
  throw ConfigurationError(
      "tracker cost: expected one of giou_3d, giou_bev, iou_3d, iou_bev, distance, "
      "distance_bev, mahalanobis, but got '" + std::string(name) + "'");
}

MotionKind motion_kind_from_string(std::string_view name) {
  if (name == "cv") return MotionKind::kCv;
  if (name == "ctrv") return MotionKind::kCtrv;
  if (name == "ctra") return MotionKind::kCtra;
  if (name == "bicycle") return MotionKind::kBicycle;
  if (name == "imm") return MotionKind::kImm;
  throw ConfigurationError("tracker motion: expected one of cv, ctrv, ctra, bicycle, imm, but got '" +
                           std::string(name) + "'");
}

const char* to_string(MotionKind kind) {
  switch (kind) {
    case MotionKind::kCtrv: return "ctrv";
    case MotionKind::kCtra: return "ctra";
    case MotionKind::kBicycle: return "bicycle";
    case MotionKind::kImm: return "imm";
    case MotionKind::kCv: break;
  }
  return "cv";
}

TrackLogic track_logic_from_string(std::string_view name) {
  if (name == "hits") return TrackLogic::kHits;
  if (name == "llr") return TrackLogic::kLlr;
  throw ConfigurationError("tracker logic: expected one of hits, llr, but got '" + std::string(name) + "'");
}

const char* to_string(TrackLogic logic) { return logic == TrackLogic::kLlr ? "llr" : "hits"; }

const char* to_string(CostKind kind) {
  switch (kind) {
    case CostKind::kGiou3d: return "giou_3d";
    case CostKind::kGiouBev: return "giou_bev";
    case CostKind::kIou3d: return "iou_3d";
    case CostKind::kIouBev: return "iou_bev";
    case CostKind::kCentreDistance: return "distance";
    case CostKind::kCentreDistanceBev: return "distance_bev";
    case CostKind::kMahalanobis: return "mahalanobis";
  }
  return "unknown";
}

void ClassConfig::validate(std::int32_t class_id) const {
  const std::string where = "tracker class " + std::to_string(class_id) + ": ";
  if (!std::isfinite(gate)) throw ConfigurationError(where + "gate must be finite");
  if (is_overlap(cost) && (gate < -1.0 || gate >= 1.0))
    throw ConfigurationError(where + "gate for cost " + to_string(cost) +
                             " is a minimum overlap and must be in [-1, 1), got " +
                             std::to_string(gate));
  if (!is_overlap(cost) && gate <= 0.0)
    throw ConfigurationError(where + "gate for cost " + to_string(cost) +
                             " is a maximum distance and must be > 0, got " +
                             std::to_string(gate));
  if (min_hits < 1) throw ConfigurationError(where + "min_hits must be >= 1, got " + std::to_string(min_hits));
  if (max_age < 1) throw ConfigurationError(where + "max_age must be >= 1, got " + std::to_string(max_age));
  if (confirm_window < 0 || confirm_window > 64)
    throw ConfigurationError(where + "confirm_window must be in [0, 64], got " + std::to_string(confirm_window));
  if (confirm_window > 0 && min_hits > confirm_window)
    throw ConfigurationError(where + "min_hits (" + std::to_string(min_hits) +
                             ") cannot exceed confirm_window (" + std::to_string(confirm_window) + ")");
  if (std::isnan(max_coast_s) || max_coast_s <= 0.0)
    throw ConfigurationError(where + "max_coast_s must be > 0, got " + std::to_string(max_coast_s));
  if (!(pd > 0.0 && pd < 1.0))
    throw ConfigurationError(where + "pd must be in (0, 1), got " + std::to_string(pd));
  check_positive(clutter_density, "clutter_density", class_id);
  if (!std::isfinite(llr_init) || !std::isfinite(llr_confirm) || !std::isfinite(llr_delete) ||
      !std::isfinite(llr_max))
    throw ConfigurationError(where + "llr_init, llr_confirm, llr_delete and llr_max must be finite");
  if (!(llr_delete < llr_init && llr_init <= llr_max && llr_confirm <= llr_max))
    throw ConfigurationError(where + "expected llr_delete < llr_init <= llr_max and llr_confirm <= llr_max, got "
                             "llr_delete=" + std::to_string(llr_delete) + ", llr_init=" +
                             std::to_string(llr_init) + ", llr_confirm=" + std::to_string(llr_confirm) +
                             ", llr_max=" + std::to_string(llr_max));
  if (std::isnan(score_threshold) || std::isnan(birth_score_threshold))
    throw ConfigurationError(where + "score thresholds must not be NaN");
  check_positive(score_coast_penalty, "score_coast_penalty", class_id, true);
  check_positive(r_pos, "r_pos", class_id);
  check_positive(r_yaw, "r_yaw", class_id);
  check_positive(r_size, "r_size", class_id);
  check_positive(q_pos, "q_pos", class_id, true);
  check_positive(q_yaw, "q_yaw", class_id, true);
  check_positive(q_size, "q_size", class_id, true);
  check_positive(q_vel, "q_vel", class_id, true);
  check_positive(q_yaw_rate, "q_yaw_rate", class_id, true);
  check_positive(p0_yaw_rate, "p0_yaw_rate", class_id);
  check_positive(q_acc, "q_acc", class_id, true);
  check_positive(q_steer, "q_steer", class_id, true);
  check_positive(p0_acc, "p0_acc", class_id);
  check_positive(p0_steer, "p0_steer", class_id);
  check_positive(wheelbase_m, "wheelbase_m", class_id);
  check_positive(p0_pos, "p0_pos", class_id);
  check_positive(p0_yaw, "p0_yaw", class_id);
  check_positive(p0_size, "p0_size", class_id);
  check_positive(p0_vel, "p0_vel", class_id);
  check_positive(min_size, "min_size", class_id);
}

void TrackerConfig::validate() const {
  if (max_tracks < 1) throw ConfigurationError("tracker max_tracks must be >= 1, got " + std::to_string(max_tracks));
  if (max_detections < 1)
    throw ConfigurationError("tracker max_detections must be >= 1, got " + std::to_string(max_detections));
  if (class_ids.size() != classes.size())
    throw ConfigurationError("tracker class_ids and classes must have the same length");
  default_class.validate(-1);
  for (std::size_t i = 0; i < classes.size(); ++i) {
    if (class_ids[i] < 0 || class_ids[i] > 65535)
      throw ConfigurationError("tracker class ids must be in [0, 65535], got " + std::to_string(class_ids[i]));
    for (std::size_t j = 0; j < i; ++j)
      if (class_ids[j] == class_ids[i])
        throw ConfigurationError("tracker class id " + std::to_string(class_ids[i]) + " is configured twice");
    classes[i].validate(class_ids[i]);
  }
}

engine::EngineConfig engine_config_for(const ClassConfig& c, Index max_tracks, Index max_detections) {
  engine::EngineConfig e;
  const double inf = std::numeric_limits<double>::infinity();
  // Motion: Q = diag(q) dt and P0 = diag(p0), in each model's state order.
  switch (c.motion) {
    case MotionKind::kCv:  // x y z vx vy vz yaw l w h
      e.motion = "cv_box";
      e.q_diag_per_s = {c.q_pos, c.q_pos, c.q_pos, c.q_vel, c.q_vel, c.q_vel, c.q_yaw, c.q_size, c.q_size, c.q_size};
      e.p0_diag = {c.p0_pos, c.p0_pos, c.p0_pos, c.p0_vel, c.p0_vel, c.p0_vel, c.p0_yaw, c.p0_size, c.p0_size, c.p0_size};
      break;
    case MotionKind::kCtrv:  // x y v yaw yaw_rate z vz l w h
      e.motion = "ctrv_vz_box";
      e.q_diag_per_s = {c.q_pos, c.q_pos, c.q_vel, c.q_yaw, c.q_yaw_rate, c.q_pos, c.q_vel, c.q_size, c.q_size, c.q_size};
      e.p0_diag = {c.p0_pos, c.p0_pos, c.p0_vel, c.p0_yaw, c.p0_yaw_rate, c.p0_pos, c.p0_vel, c.p0_size, c.p0_size, c.p0_size};
      break;
    case MotionKind::kCtra:  // x y v yaw yaw_rate a z l w h
      e.motion = "ctra_box";
      e.q_diag_per_s = {c.q_pos, c.q_pos, c.q_vel, c.q_yaw, c.q_yaw_rate, c.q_acc, c.q_pos, c.q_size, c.q_size, c.q_size};
      e.p0_diag = {c.p0_pos, c.p0_pos, c.p0_vel, c.p0_yaw, c.p0_yaw_rate, c.p0_acc, c.p0_pos, c.p0_size, c.p0_size, c.p0_size};
      break;
    case MotionKind::kBicycle:  // x y v yaw steer z vz l w h
      e.motion = "bicycle_vz_box";
      e.q_diag_per_s = {c.q_pos, c.q_pos, c.q_vel, c.q_yaw, c.q_steer, c.q_pos, c.q_vel, c.q_size, c.q_size, c.q_size};
      e.p0_diag = {c.p0_pos, c.p0_pos, c.p0_vel, c.p0_yaw, c.p0_steer, c.p0_pos, c.p0_vel, c.p0_size, c.p0_size, c.p0_size};
      e.motion_noise = {{"wheelbase_m", c.wheelbase_m}};
      break;
    case MotionKind::kImm:  // IMM of cv_box and ctrv_vz_box, combined x in the cv layout
      // q and p0 in the cv layout: the CV mode's Q (the CTRV mode keeps its model Q with the
      // engine's default motion_noise), P0 of both modes through the state map; the CTRV yaw
      // rate starts with p0_yaw_rate.
      e.motion = "imm_cv_ctrv_box";
      e.q_diag_per_s = {c.q_pos, c.q_pos, c.q_pos, c.q_vel, c.q_vel, c.q_vel, c.q_yaw, c.q_size, c.q_size, c.q_size};
      e.p0_diag = {c.p0_pos, c.p0_pos, c.p0_pos, c.p0_vel, c.p0_vel, c.p0_vel, c.p0_yaw, c.p0_size, c.p0_size, c.p0_size};
      e.motion_noise = {{"yaw_rate_p0", c.p0_yaw_rate}};
      break;
  }
  e.num_classes = 1;
  e.max_tracks = max_tracks;
  e.max_detections = max_detections;
  e.max_image_tracks = 0;
  e.min_size = c.min_size;
  e.late_policy = engine::LatePolicy::kRaise;  // the tracker checks the time first: never late

  track::LifecyclePolicy& l = e.lifecycle;
  l.existence_model = track::ExistenceModel::kLlr;  // the llr is reported whatever the logic
  l.llr_init = c.llr_init;
  l.llr_max = c.llr_max;
  l.max_coast_s = inf;  // time is judged on a miss (miss_max_coast_s), like the old tracker
  l.tentative_max_coast_s = inf;
  l.miss_max_coast_s = c.max_coast_s >= 1e300 ? inf : c.max_coast_s;
  l.max_misses = c.max_age;
  l.mean_lifetime_s = inf;
  if (c.logic == TrackLogic::kLlr) {
    l.confirm_hits = 0;
    l.confirm_window = 0;
    l.confirm_by_existence = true;
    l.llr_confirm = c.llr_confirm;
    l.llr_delete = c.llr_delete;
  } else {
    l.confirm_hits = c.min_hits;
    l.confirm_window = c.confirm_window;
    l.tentative_max_misses = c.confirm_window > 0 ? c.confirm_window - c.min_hits : -1;
    l.confirm_by_existence = false;
    l.llr_confirm = std::min(c.llr_confirm, c.llr_max);  // unused
    l.llr_delete = -inf;  // the score never deletes under the hits logic
  }

  engine::SensorConfig s;
  s.name = "lidar";
  s.model = "lidar_box3d";
  s.R = std::vector<double>(49, 0.0);
  const double r[7] = {c.r_pos, c.r_pos, c.r_pos, c.r_yaw, c.r_size, c.r_size, c.r_size};
  for (int i = 0; i < 7; ++i) s.R[static_cast<std::size_t>(i * 8)] = r[i];
  s.cost = engine_cost_key(c.cost);
  if (c.cost == CostKind::kMahalanobis) {
    s.gate = 0.99;  // not used: the chi-square value is given
    s.gate_chi2 = c.gate;
  } else if (c.cost == CostKind::kIou3d || c.cost == CostKind::kIouBev) {
    // The old tracker admitted overlap > gate (its cost -overlap gated at -gate - 1e-12); the
    // engine admits overlap >= min_overlap in [0, 1]. A negative gate admits every pair in both;
    // a gate of exactly 0 must still exclude disjoint boxes (IoU 0).
    s.gate = c.gate < 0.0 ? 0.0 : (c.gate == 0.0 ? 1e-12 : c.gate);
  } else {
    s.gate = c.gate;
  }
  s.two_stage = c.two_stage;
  s.birth_score_threshold = c.birth_score_threshold;
  s.score_threshold = c.score_threshold;
  s.pd = c.pd;
  s.gate_probability = 1.0;  // the llr miss term is log(1 - pd)
  s.clutter_density = c.clutter_density;
  e.sensors.push_back(std::move(s));
  return e;
}

bool same_parameters(const ClassConfig& a, const ClassConfig& b) {
  return a.cost == b.cost && a.gate == b.gate && a.motion == b.motion && a.logic == b.logic &&
         a.min_hits == b.min_hits && a.confirm_window == b.confirm_window && a.max_age == b.max_age &&
         a.max_coast_s == b.max_coast_s && a.pd == b.pd && a.clutter_density == b.clutter_density &&
         a.llr_init == b.llr_init && a.llr_confirm == b.llr_confirm && a.llr_delete == b.llr_delete &&
         a.llr_max == b.llr_max && a.score_threshold == b.score_threshold &&
         a.birth_score_threshold == b.birth_score_threshold && a.two_stage == b.two_stage &&
         a.score_coast_penalty == b.score_coast_penalty && a.r_pos == b.r_pos && a.r_yaw == b.r_yaw &&
         a.r_size == b.r_size && a.q_pos == b.q_pos && a.q_yaw == b.q_yaw && a.q_size == b.q_size &&
         a.q_vel == b.q_vel && a.q_yaw_rate == b.q_yaw_rate && a.q_acc == b.q_acc && a.q_steer == b.q_steer &&
         a.p0_pos == b.p0_pos && a.p0_yaw == b.p0_yaw && a.p0_size == b.p0_size && a.p0_vel == b.p0_vel &&
         a.p0_yaw_rate == b.p0_yaw_rate && a.p0_acc == b.p0_acc && a.p0_steer == b.p0_steer &&
         a.wheelbase_m == b.wheelbase_m && a.min_size == b.min_size;
}

// One class: its engine, its record layout and its per-step buffers.
struct Tracker::ClassEngine {
  std::int32_t class_id = 0;
  ClassConfig cfg;
  std::unique_ptr<engine::EngineBase> engine;
  std::size_t rec_size = 0;
  std::size_t off_id = 0, off_status = 0, off_box = 0, off_velocity = 0, off_llr = 0, off_existence = 0,
              off_hits = 0, off_score_sum = 0, off_detection = 0, off_age = 0, off_misses_in_row = 0;
  std::vector<unsigned char> records;  // max_tracks records
  std::vector<double> z, score;        // this step's detections of the class
  std::vector<Index> global;           // their indices in the step's input
  Index n = 0;
  bool stepped = false;                // got a frame this step

  ClassEngine(std::int32_t id, const ClassConfig& c, Index max_tracks, Index max_detections)
      : class_id(id), cfg(c), engine(engine::make_engine(engine_config_for(c, max_tracks, max_detections))) {
    const std::vector<engine::RecordField> f = engine->track_record_fields();
    rec_size = engine->track_record_size();
    off_id = field_offset(f, "id");
    off_status = field_offset(f, "status");
    off_box = field_offset(f, "box");
    off_velocity = field_offset(f, "velocity");
    off_llr = field_offset(f, "llr");
    off_existence = field_offset(f, "existence");
    off_hits = field_offset(f, "hits");            // sensor 0 is the first entry
    off_score_sum = field_offset(f, "score_sum");
    off_detection = field_offset(f, "detection");
    off_age = field_offset(f, "frames_since_birth");
    off_misses_in_row = field_offset(f, "consecutive_misses");
    records.assign(static_cast<std::size_t>(max_tracks) * rec_size, 0);
    z.assign(static_cast<std::size_t>(max_detections) * 7, 0.0);
    score.assign(static_cast<std::size_t>(max_detections), 0.0);
    global.assign(static_cast<std::size_t>(max_detections), 0);
  }
};

Tracker::Tracker(TrackerConfig config) : config_(std::move(config)) {
  config_.validate();
  std::vector<std::int32_t> ids = config_.class_ids;
  std::sort(ids.begin(), ids.end());
  for (std::int32_t id : ids) add_engine(id);
  births_.reserve(static_cast<std::size_t>(config_.max_detections));
}

Tracker::~Tracker() = default;

Tracker& Tracker::operator=(const Tracker& other) {
  if (this == &other) return *this;
  bool same = config_.max_tracks == other.config_.max_tracks &&
              config_.max_detections == other.config_.max_detections &&
              same_parameters(config_.default_class, other.config_.default_class) &&
              config_.class_ids == other.config_.class_ids && config_.classes.size() == other.config_.classes.size();
  for (std::size_t i = 0; same && i < config_.classes.size(); ++i)
    same = same_parameters(config_.classes[i], other.config_.classes[i]);
  if (!same) {  // another configuration: rebuild (allocates)
    config_ = other.config_;
    engines_.clear();
    births_.reserve(static_cast<std::size_t>(config_.max_detections));
  }
  for (const auto& oe : other.engines_) {
    ClassEngine* e = find_engine(oe->class_id);
    if (e == nullptr) e = &add_engine(oe->class_id);  // a run-time class: allocates
    e->engine->copy_state_from(*oe->engine);
  }
  for (const auto& e : engines_)
    if (other.find_engine(e->class_id) == nullptr) e->engine->reset();
  has_time_ = other.has_time_;
  last_t_ = other.last_t_;
  next_id_ = other.next_id_;
  return *this;
}

Index Tracker::num_tracks() const {
  Index n = 0;
  for (const auto& e : engines_) n += e->engine->num_tracks();
  return n;
}

void Tracker::reset() {
  for (const auto& e : engines_) e->engine->reset();
  has_time_ = false;
  last_t_ = 0;
  next_id_ = 1;
}

const ClassConfig& Tracker::class_config(std::int32_t class_id) const {
  for (std::size_t i = 0; i < config_.class_ids.size(); ++i)
    if (config_.class_ids[i] == class_id) return config_.classes[i];
  return config_.default_class;
}

engine::EngineConfig Tracker::engine_config(std::int32_t class_id) const {
  return engine_config_for(class_config(class_id), config_.max_tracks, config_.max_detections);
}

const engine::EngineBase* Tracker::engine_of(std::int32_t class_id) const {
  const ClassEngine* e = find_engine(class_id);
  return e != nullptr ? e->engine.get() : nullptr;
}

Tracker::ClassEngine* Tracker::find_engine(std::int32_t class_id) const {
  auto it = std::lower_bound(engines_.begin(), engines_.end(), class_id,
                             [](const std::unique_ptr<ClassEngine>& e, std::int32_t id) { return e->class_id < id; });
  return it != engines_.end() && (*it)->class_id == class_id ? it->get() : nullptr;
}

Tracker::ClassEngine& Tracker::add_engine(std::int32_t class_id) {
  auto it = std::lower_bound(engines_.begin(), engines_.end(), class_id,
                             [](const std::unique_ptr<ClassEngine>& e, std::int32_t id) { return e->class_id < id; });
  it = engines_.insert(it, std::make_unique<ClassEngine>(class_id, class_config(class_id), config_.max_tracks,
                                                         config_.max_detections));
  return **it;
}

Index Tracker::step(const Detection* dets, Index n, TimeNs t_ns, TrackOutput* out) {
  // Validate everything first so that a bad call leaves the tracker untouched.
  if (n < 0 || n > config_.max_detections)
    throw ShapeError("Tracker.step: got " + std::to_string(n) +
                     " detections, but max_detections is " + std::to_string(config_.max_detections));
  if (has_time_ && t_ns < last_t_)
    throw std::invalid_argument("Tracker.step: timestamp t_ns=" + std::to_string(t_ns) +
                                " is earlier than the previous step's t_ns=" +
                                std::to_string(last_t_) + " (time must not go backwards)");
  for (Index i = 0; i < n; ++i) {
    geometry::validate_box(dets[i].box, "detections", i, "Tracker.step");
    if (!std::isfinite(dets[i].score))
      throw NumericalError("Tracker.step: score of detections[" + std::to_string(i) +
                           "] is not finite");
    if (dets[i].class_id < 0)
      throw ShapeError("Tracker.step: class_id of detections[" + std::to_string(i) +
                       "] is negative (" + std::to_string(dets[i].class_id) + ")");
  }
  // A class id first seen now gets its engine (the one allocation after construction).
  for (Index i = 0; i < n; ++i)
    if (find_engine(dets[i].class_id) == nullptr) add_engine(dets[i].class_id);
  has_time_ = true;
  last_t_ = t_ns;

  // 1. each class engine's frame: its detections in input order, births deferred
  for (const auto& e : engines_) e->n = 0;
  for (Index i = 0; i < n; ++i) {
    ClassEngine& e = *find_engine(dets[i].class_id);
    const auto j = static_cast<std::size_t>(e.n++);
    const geometry::Box3& b = dets[i].box;
    double* z = e.z.data() + j * 7;
    z[0] = b.x, z[1] = b.y, z[2] = b.z, z[3] = b.yaw, z[4] = b.l, z[5] = b.w, z[6] = b.h;
    e.score[j] = dets[i].score;
    e.global[j] = i;
  }
  births_.clear();
  for (const auto& e : engines_) {
    e->stepped = e->n > 0 || e->engine->num_tracks() > 0;
    if (!e->stepped) continue;
    engine::Frame f;
    f.sensor = 0;
    f.t_ns = t_ns;
    f.n = e->n;
    f.z = e->z.data();
    f.score = e->score.data();
    f.defer_births = true;
    e->engine->process(f);
    for (Index p = 0; p < e->engine->num_pending_births(); ++p)
      births_.push_back({e->global[static_cast<std::size_t>(e->engine->pending_birth_detection(p))], e.get(), p});
  }

  // 2. births in detection order, one id counter, one track budget (the slots of this
  // frame's deletions are freed first, as the old tracker compacted before its births)
  for (const auto& e : engines_)
    if (e->stepped) e->engine->release_deleted();
  std::sort(births_.begin(), births_.end(), [](const Birth& a, const Birth& b) { return a.detection < b.detection; });
  Index live = num_tracks();
  for (const Birth& b : births_) {
    if (live >= config_.max_tracks) break;
    b.engine->engine->set_next_id(next_id_);
    if (!b.engine->engine->commit_birth(b.pending)) continue;  // never: each table holds max_tracks
    ++next_id_;
    ++live;
  }

  // 3. report: every class's live tracks, merged in id order
  Index m = 0;
  for (const auto& e : engines_) {
    if (!e->stepped) continue;
    const Index k = e->engine->export_tracks(e->records.data(), config_.max_tracks, /*include_deleted=*/false);
    const double penalty = e->cfg.score_coast_penalty;
    for (Index r = 0; r < k; ++r) {
      const unsigned char* rec = e->records.data() + static_cast<std::size_t>(r) * e->rec_size;
      TrackOutput& o = out[m++];
      o.track_id = read_field<std::int64_t>(rec, e->off_id);
      o.class_id = e->class_id;
      o.status = read_field<std::int32_t>(rec, e->off_status);
      std::memcpy(o.box, rec + e->off_box, sizeof(o.box));
      std::memcpy(o.velocity, rec + e->off_velocity, sizeof(o.velocity));
      const std::int32_t hits = read_field<std::int32_t>(rec, e->off_hits);
      const std::int32_t misses = read_field<std::int32_t>(rec, e->off_misses_in_row);
      o.score = read_field<double>(rec, e->off_score_sum) / hits - penalty * misses;
      o.llr = read_field<double>(rec, e->off_llr);
      o.existence = read_field<double>(rec, e->off_existence);
      o.hits = hits;
      o.age = read_field<std::int32_t>(rec, e->off_age);
      o.time_since_update = misses;
      const std::int32_t d = read_field<std::int32_t>(rec, e->off_detection);
      o.detection = d >= 0 ? static_cast<std::int32_t>(e->global[static_cast<std::size_t>(d)]) : -1;
    }
  }
  std::sort(out, out + m, [](const TrackOutput& a, const TrackOutput& b) { return a.track_id < b.track_id; });
  return m;
}

}  // namespace fusion::tracking
