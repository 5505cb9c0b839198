// The time layer of the fusion engine: out-of-sequence re-processing and odometry
// (engine/oosm.hpp).
#include "fusion/engine/oosm.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "fusion/core/errors.hpp"
#include "fusion/track/record.hpp"  // elapsed_ns: int64 time differences without overflow

namespace fusion::engine {

namespace {

OdometryConfig odometry_config(const EngineConfig& c) {
  OdometryConfig o;
  o.max_gap_s = c.ego_max_gap_s;
  o.max_extrapolation_s = c.ego_max_extrapolation_s;
  return o;
}

const EngineConfig& checked(const EngineConfig& c) {
  if (!(c.oosm_horizon_s >= 0.0 && std::isfinite(c.oosm_horizon_s)))
    throw ConfigurationError("oosm_horizon_s must be finite and >= 0, got " + std::to_string(c.oosm_horizon_s));
  if (c.oosm_max_frames < 1 || c.oosm_max_frames > 100000)
    throw ConfigurationError("oosm_max_frames must be in [1, 100000], got " + std::to_string(c.oosm_max_frames));
  return c;  // ego_max_gap_s, ego_max_extrapolation_s: checked by Odometry's constructor
}

}  // namespace

// One history entry: the frame (its arrays copied into buffers sized once) and the engine
// state just before it.
struct OosmEngine::Slot {
  std::unique_ptr<EngineBase> snap;
  Frame f;
  std::vector<double> z, R, score, cs;
  std::vector<std::int32_t> cls;
};

OosmEngine::OosmEngine(const EngineConfig& config, Builder make)
    : cfg_(checked(config)),
      make_(make),
      live_(make(config)),
      t_floor_(std::numeric_limits<TimeNs>::min()),
      odo_(odometry_config(config)) {
  horizon_ns_ = static_cast<TimeNs>(std::llround(std::min(cfg_.oosm_horizon_s, 1.0e9) * kNsPerSecond));
  max_frames_ = cfg_.oosm_max_frames;
  for (int k = 0; k < num_sensors(); ++k) max_m_ = std::max(max_m_, live_->measurement_dim(k));
  state_dim_ = live_->state_dim();
  // pointer bookkeeping only (a few hundred bytes); the slots themselves come on first use
  slots_.reserve(static_cast<std::size_t>(max_frames_));
  order_.reserve(static_cast<std::size_t>(max_frames_));
  free_.reserve(static_cast<std::size_t>(max_frames_));
}

OosmEngine::~OosmEngine() = default;

std::unique_ptr<EngineBase> make_time_layer(const EngineConfig& config, OosmEngine::Builder make) {
  return std::make_unique<OosmEngine>(config, make);
}

// ---------------------------------------------------------------- history bookkeeping

OosmEngine::Slot* OosmEngine::acquire_slot() {
  if (!free_.empty()) {
    Slot* s = free_.back();
    free_.pop_back();
    return s;
  }
  if (static_cast<Index>(slots_.size()) >= max_frames_) return nullptr;
  auto s = std::make_unique<Slot>();
  s->snap = make_(cfg_);
  const auto D = static_cast<std::size_t>(cfg_.max_detections);
  const auto M = static_cast<std::size_t>(max_m_);
  s->z.assign(D * M, 0.0);
  s->R.assign(D * M * M, 0.0);
  s->score.assign(D, 0.0);
  s->cs.assign(D * static_cast<std::size_t>(cfg_.num_classes), 0.0);
  s->cls.assign(D, -1);
  slots_.push_back(std::move(s));
  return slots_.back().get();
}

void OosmEngine::release_slot(Slot* s) { free_.push_back(s); }

void OosmEngine::evict_front() {
  Slot* s = order_.front();
  t_floor_ = std::max(t_floor_, s->f.t_ns);
  order_.erase(order_.begin());
  release_slot(s);
}

void OosmEngine::evict_expired() {
  if (!live_->has_time()) return;
  // a late frame is never older; near INT64_MIN the plain difference would overflow
  const TimeNs now = live_->time_ns();
  const TimeNs oldest_useful =
      now < std::numeric_limits<TimeNs>::min() + horizon_ns_ ? std::numeric_limits<TimeNs>::min() : now - horizon_ns_;
  while (!order_.empty() && order_.front()->f.t_ns <= oldest_useful) evict_front();
}

void OosmEngine::clear_history() {
  for (Slot* s : order_) release_slot(s);
  order_.clear();
  t_floor_ = live_->has_time() ? live_->time_ns() : std::numeric_limits<TimeNs>::min();
}

Index OosmEngine::history_engines() const {
  return static_cast<Index>(slots_.size()) + (spare_ ? 1 : 0);
}

bool OosmEngine::preflight_ok(const Frame& f) const {
  return f.sensor >= 0 && f.sensor < num_sensors() && f.n >= 0 && f.n <= cfg_.max_detections &&
         (f.n == 0 || f.z != nullptr);
}

void OosmEngine::copy_frame(const Frame& f, Slot& s) const {
  const auto n = static_cast<std::size_t>(f.n);
  const auto M = static_cast<std::size_t>(live_->measurement_dim(f.sensor));
  const auto C = static_cast<std::size_t>(cfg_.num_classes);
  s.f = f;
  s.f.defer_births = false;
  if (n > 0) std::memcpy(s.z.data(), f.z, n * M * sizeof(double));
  s.f.z = n > 0 ? s.z.data() : nullptr;
  if (f.R != nullptr && n > 0) {
    std::memcpy(s.R.data(), f.R, n * M * M * sizeof(double));
    s.f.R = s.R.data();
  }
  if (f.score != nullptr && n > 0) {
    std::memcpy(s.score.data(), f.score, n * sizeof(double));
    s.f.score = s.score.data();
  }
  if (f.class_id != nullptr && n > 0) {
    std::memcpy(s.cls.data(), f.class_id, n * sizeof(std::int32_t));
    s.f.class_id = s.cls.data();
  }
  if (f.class_scores != nullptr && n > 0) {
    std::memcpy(s.cs.data(), f.class_scores, n * C * sizeof(double));
    s.f.class_scores = s.cs.data();
  }
}

// ---------------------------------------------------------------- process

// Fusion order: time, then sensor index; frames of one sensor and time in arrival order.
Index OosmEngine::insertion_index(const Frame& f) const {
  const auto it = std::upper_bound(order_.begin(), order_.end(), f, [](const Frame& a, const Slot* s) {
    return a.t_ns < s->f.t_ns || (a.t_ns == s->f.t_ns && a.sensor < s->f.sensor);
  });
  return static_cast<Index>(it - order_.begin());
}

bool OosmEngine::tie_late(const Frame& f) const {
  // the history is in fusion order: a frame of f's time and a higher sensor index, if any,
  // is among the last ones
  for (auto it = order_.rbegin(); it != order_.rend() && (*it)->f.t_ns == f.t_ns; ++it)
    if ((*it)->f.sensor > f.sensor) return true;
  return false;
}

void OosmEngine::raise_late(const Frame& f, const char* why) const {
  const std::string name = cfg_.sensors[static_cast<std::size_t>(f.sensor)].name;
  throw TimestampError("FusionEngine.process: sensor '" + name + "' frame at t_ns=" + std::to_string(f.t_ns) +
                       " is older than the engine's latest time t_ns=" + std::to_string(live_->time_ns()) +
                       " and " + why + " (late_policy = 'raise')");
}

void OosmEngine::fill_ego(Frame& f) const {
  if (f.has_ego || odo_.empty()) return;
  const EgoPose p = odo_.pose_at(f.t_ns);  // TimestampError (nothing changed) when not covered
  f.has_ego = true;
  f.ego_x_m = p.x_m;
  f.ego_y_m = p.y_m;
  f.ego_yaw_rad = p.yaw_rad;
  f.ego_speed_mps = p.speed_mps;
  f.ego_yaw_rate_rps = p.yaw_rate_rps;
}

void OosmEngine::forward(const Frame& f) {
  const std::int64_t late_before = live_->stats().late_frames;
  live_->process(f);
  if (live_->stats().late_frames != late_before) {  // the live engine dropped it as late
    ++late_frames_;
    late_detections_ += f.n;
  }
}

void OosmEngine::process(const Frame& frame) {
  Frame f = frame;
  if (!preflight_ok(f)) {  // the live engine throws the precise error
    forward(f);
    return;
  }
  const bool late = live_->has_time() && f.t_ns < live_->time_ns();
  if (horizon_ns_ == 0 || f.defer_births) {  // bypasses the history (oosm.hpp)
    if (!late) {
      fill_ego(f);
      forward(f);
      clear_history();
      return;
    }
    if (cfg_.late_policy == LatePolicy::kRaise) {
      try {
        forward(f);
      } catch (const TimestampError&) {
        raise_late(f, horizon_ns_ == 0 ? "oosm_horizon_s = 0" : "a frame with defer_births is not re-processed");
      }
    } else {
      forward(f);
    }
    return;
  }
  if (!late && tie_late(f)) {
    // a frame of the latest time from a sensor of lower index than one already fused at that
    // time: re-processed so that equal-time frames are fused in sensor order, whatever the
    // arrival order (oosm.hpp); when that is not possible it is fused in sequence (as before)
    const Index i = insertion_index(f);
    if (i < static_cast<Index>(order_.size()) &&
        (i > 0 || static_cast<Index>(slots_.size()) < max_frames_ || !free_.empty())) {
      fill_ego(f);
      fuse_late(f, i);
      return;
    }
  }
  if (late) {
    // saturated: two int64 times can be further apart than int64 holds (-2^62 and 2^62 + 1:
    // the plain difference wrapped negative and such a frame was "re-processed")
    const TimeNs age = track::elapsed_ns(live_->time_ns(), f.t_ns);
    const char* why = nullptr;
    if (age > horizon_ns_) why = "beyond oosm_horizon_s";
    else if (f.t_ns < t_floor_ || order_.empty()) why = "older than the history reaches (oosm_max_frames, or a reset / deferred-birth frame since)";
    if (why == nullptr) {
      // the first history frame after f (exists: the latest frame is in the history)
      const Index i = insertion_index(f);
      if (i < static_cast<Index>(order_.size()) &&
          (i > 0 || static_cast<Index>(slots_.size()) < max_frames_ || !free_.empty())) {
        fill_ego(f);
        fuse_late(f, i);
        return;
      }
      why = "older than the history reaches (oosm_max_frames)";
    }
    if (cfg_.late_policy == LatePolicy::kRaise) {
      try {
        forward(f);  // validation errors first, as without the layer
      } catch (const TimestampError&) {
        raise_late(f, why);
      }
    } else {
      forward(f);  // validated, then dropped and counted
    }
    return;
  }
  // in sequence: snapshot, then fuse, then keep the frame
  fill_ego(f);
  Slot* s = acquire_slot();
  if (s == nullptr) {
    evict_front();
    s = acquire_slot();
  }
  s->snap->copy_state_from(*live_);
  copy_frame(f, *s);
  try {
    live_->process(s->f);
  } catch (...) {
    release_slot(s);
    throw;
  }
  order_.push_back(s);
  evict_expired();
}

void OosmEngine::fuse_late(const Frame& f, Index i) {
  Slot* L = acquire_slot();
  if (L == nullptr) {  // full: the oldest frame (not newer than f, since i > 0) leaves
    evict_front();
    --i;
    L = acquire_slot();
  }
  copy_frame(f, *L);
  if (!spare_) spare_ = make_(cfg_);
  Slot* first = order_[static_cast<std::size_t>(i)];
  spare_->copy_state_from(*first->snap);
  try {
    spare_->process(L->f);
  } catch (...) {
    release_slot(L);
    throw;  // the live engine and the history are untouched
  }
  // committed: L's snapshot is the state before it (first's old snapshot); the newer frames
  // are re-processed after it, each taking a new snapshot
  std::swap(L->snap, first->snap);
  order_.insert(order_.begin() + i, L);
  try {
    for (std::size_t j = static_cast<std::size_t>(i) + 1; j < order_.size(); ++j) {
      order_[j]->snap->copy_state_from(*spare_);
      spare_->process(order_[j]->f);
    }
  } catch (...) {  // cannot happen (these frames were fused before); keep a consistent state
    clear_history();
    throw;
  }
  std::swap(live_, spare_);
  ++reprocessed_frames_;
  evict_expired();
}

// ---------------------------------------------------------------- forwarding

Index OosmEngine::export_tracks(void* out, Index max_records, const ExportOptions& opt) const {
  return live_->export_tracks(out, max_records, opt);
}

Index OosmEngine::export_tracks_at(void* out, Index max_records, bool include_deleted, TimeNs t_ns,
                                   bool vehicle_frame) const {
  return live_->export_tracks(out, max_records, at_options(include_deleted, t_ns, vehicle_frame));
}

const EngineBase& OosmEngine::state_at(TimeNs t_ns) const {
  if (!live_->has_time() || t_ns >= live_->time_ns()) return *live_;
  // the state after every frame stamped <= t_ns: the snapshot before the first newer one;
  // valid only when no newer frame has left the history (t_floor_ <= t_ns)
  const auto it = std::upper_bound(order_.begin(), order_.end(), t_ns,
                                   [](TimeNs t, const Slot* s) { return t < s->f.t_ns; });
  if (it == order_.end() || t_ns < t_floor_)
    throw TimestampError("FusionEngine fixed-lag output: t_ns=" + std::to_string(t_ns) +
                         " is older than the out-of-sequence history reaches (engine time t_ns=" +
                         std::to_string(live_->time_ns()) + ", history back to t_ns=" + std::to_string(t_floor_) +
                         "; oosm_horizon_s, oosm_max_frames, or a reset / deferred-birth frame since)");
  return *(*it)->snap;
}

// Export options of a publish time t_ns: tracks predicted to it, in the vehicle frame of the
// odometry pose at t_ns when asked (the pose stays zero before the first ego sample).
ExportOptions OosmEngine::at_options(bool include_deleted, TimeNs t_ns, bool vehicle_frame) const {
  ExportOptions opt;
  opt.include_deleted = include_deleted;
  opt.at_time = true;
  opt.t_ns = t_ns;
  if (vehicle_frame) {
    opt.vehicle_frame = true;
    if (!odo_.empty()) {
      const EgoPose p = odo_.pose_at(t_ns);
      opt.ego_x_m = p.x_m;
      opt.ego_y_m = p.y_m;
      opt.ego_yaw_rad = p.yaw_rad;
    }
  }
  return opt;
}

Index OosmEngine::export_tracks_filtered_at(void* out, Index max_records, bool include_deleted, TimeNs t_ns,
                                            bool vehicle_frame) const {
  return state_at(t_ns).export_tracks(out, max_records, at_options(include_deleted, t_ns, vehicle_frame));
}

Index OosmEngine::export_image_tracks_filtered_at(ImageTrackRecord* out, Index max_records, TimeNs t_ns) const {
  return state_at(t_ns).export_image_tracks(out, max_records);
}

Index OosmEngine::export_briefs(TrackBrief* out, double* x, double* P, Index max_records, int sensor) const {
  return live_->export_briefs(out, x, P, max_records, sensor);
}
Index OosmEngine::export_image_tracks(ImageTrackRecord* out, Index max_records) const {
  return live_->export_image_tracks(out, max_records);
}
std::vector<RecordField> OosmEngine::track_record_fields() const { return live_->track_record_fields(); }
std::size_t OosmEngine::track_record_size() const { return live_->track_record_size(); }

EngineStats OosmEngine::stats() const {
  EngineStats s = live_->stats();
  s.late_frames = late_frames_;
  s.late_detections = late_detections_;
  s.reprocessed_frames = reprocessed_frames_;
  s.ego_gaps = odo_.gaps();
  return s;
}

AssociationStats OosmEngine::last_association() const { return live_->last_association(); }
Index OosmEngine::association_probabilities(AssociationProbability* out, Index capacity) const {
  return live_->association_probabilities(out, capacity);
}

void OosmEngine::reset() {
  live_->reset();
  clear_history();
  t_floor_ = std::numeric_limits<TimeNs>::min();
  late_frames_ = late_detections_ = reprocessed_frames_ = 0;
  odo_.clear();
}

bool OosmEngine::has_time() const { return live_->has_time(); }
TimeNs OosmEngine::time_ns() const { return live_->time_ns(); }
Index OosmEngine::num_tracks() const { return live_->num_tracks(); }
Index OosmEngine::num_image_tracks() const { return live_->num_image_tracks(); }
int OosmEngine::state_dim() const { return state_dim_; }
int OosmEngine::measurement_dim(int sensor) const { return live_->measurement_dim(sensor); }
std::int64_t OosmEngine::next_id() const { return live_->next_id(); }

void OosmEngine::set_next_id(std::int64_t id) {
  live_->set_next_id(id);
  clear_history();
}
Index OosmEngine::num_pending_births() const { return live_->num_pending_births(); }
Index OosmEngine::pending_birth_detection(Index i) const { return live_->pending_birth_detection(i); }
bool OosmEngine::commit_birth(Index i) {
  const bool ok = live_->commit_birth(i);
  clear_history();
  return ok;
}
void OosmEngine::release_deleted() {
  live_->release_deleted();
  clear_history();
}

void OosmEngine::copy_state_from(const EngineBase& other_base) {
  const auto* o = dynamic_cast<const OosmEngine*>(&other_base);
  if (o == nullptr)
    throw ConfigurationError("FusionEngine.copy_state_from: the other engine is not a time-layer engine (make_engine)");
  if (o == this) return;
  if (o->horizon_ns_ != horizon_ns_ || o->max_frames_ != max_frames_)
    throw ConfigurationError("FusionEngine.copy_state_from: the engines differ in oosm_horizon_s or oosm_max_frames");
  live_->copy_state_from(*o->live_);  // checks motion, capacities, classes, sensors
  odo_.copy_from(o->odo_);
  for (Slot* s : order_) release_slot(s);
  order_.clear();
  for (const Slot* os : o->order_) {
    Slot* s = acquire_slot();  // never null: at most max_frames_ frames in either history
    s->snap->copy_state_from(*os->snap);
    copy_frame(os->f, *s);
    order_.push_back(s);
  }
  t_floor_ = o->t_floor_;
  late_frames_ = o->late_frames_;
  late_detections_ = o->late_detections_;
  reprocessed_frames_ = o->reprocessed_frames_;
}

// ---------------------------------------------------------------- ego motion

void OosmEngine::add_ego_motion(TimeNs t_ns, double speed_mps, double yaw_rate_rps) {
  odo_.add(t_ns, speed_mps, yaw_rate_rps);
}

void OosmEngine::add_ego_motion(const TimeNs* t, const double* v, const double* w, Index n) {
  // every sample checked first (the message is built only on failure: no allocation), the
  // pose chain included, so that a failed call adds none
  bool has_prev = !odo_.empty();
  EgoPose prev = has_prev ? odo_.pose_at(odo_.newest_ns()) : EgoPose{};
  TimeNs prev_t = has_prev ? odo_.newest_ns() : 0;
  for (Index i = 0; i < n; ++i) {
    auto at = [&] { return "add_ego_motion: sample " + std::to_string(i) + " (t_ns=" + std::to_string(t[i]) + "): "; };
    if (!std::isfinite(v[i])) throw NumericalError(at() + "speed_mps is " + std::to_string(v[i]) + " (must be finite)");
    if (!std::isfinite(w[i])) throw NumericalError(at() + "yaw_rate_rps is " + std::to_string(w[i]) + " (must be finite)");
    if (has_prev && t[i] < prev_t)
      throw TimestampError(at() + "older than the sample before it (t_ns=" + std::to_string(prev_t) +
                           "; ego samples must come in time order)");
    if (has_prev && t[i] > prev_t) {
      Odometry::integrate(prev.speed_mps, prev.yaw_rate_rps, ns_to_s(track::elapsed_ns(t[i], prev_t)), prev.x_m,
                          prev.y_m, prev.yaw_rad);
      if (!(std::isfinite(prev.x_m) && std::isfinite(prev.y_m) && std::isfinite(prev.yaw_rad)))
        throw NumericalError(at() + "the integrated vehicle pose overflows (speed " + std::to_string(prev.speed_mps) +
                             " m/s over " + std::to_string(ns_to_s(track::elapsed_ns(t[i], prev_t))) + " s)");
    }
    prev.speed_mps = v[i];
    prev.yaw_rate_rps = w[i];
    prev_t = t[i];
    has_prev = true;
  }
  for (Index i = 0; i < n; ++i) odo_.add(t[i], v[i], w[i]);
}

}  // namespace fusion::engine
