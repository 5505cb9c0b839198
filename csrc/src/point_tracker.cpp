#include "fusion/tracking/point_tracker.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <stdexcept>
#include <string>

#include "fusion/core/errors.hpp"
#include "fusion/engine/engine.hpp"

namespace fusion::tracking {

PointAssociation point_association_from_string(std::string_view name) {
  if (name == "gnn") return PointAssociation::kGnn;
  if (name == "jpda") return PointAssociation::kJpda;
  throw ConfigurationError("association: expected 'gnn' or 'jpda', got '" + std::string(name) + "'");
}

const char* to_string(PointAssociation a) { return a == PointAssociation::kGnn ? "gnn" : "jpda"; }

namespace {
[[noreturn]] void bad(const char* field, const std::string& rule, double got) {
  throw ConfigurationError(std::string("PointTrackerConfig.") + field + ": " + rule + ", got " +
                           std::to_string(got));
}
}  // namespace

void PointTrackerConfig::validate() const {
  const auto finite = [](double v) { return std::isfinite(v); };
  if (!(finite(gate_chi2) && gate_chi2 > 0.0)) bad("gate_chi2", "must be finite and > 0", gate_chi2);
  if (!(prob_detection > 0.0 && prob_detection <= 1.0))
    bad("prob_detection", "must be in (0, 1]", prob_detection);
  if (!(finite(clutter_density) && clutter_density > 0.0))
    bad("clutter_density", "must be finite and > 0 (per m^2)", clutter_density);
  if (!(finite(sigma_a) && sigma_a >= 0.0)) bad("sigma_a", "must be finite and >= 0 (m/s^2)", sigma_a);
  if (!(finite(sigma_meas) && sigma_meas > 0.0))
    bad("sigma_meas", "must be finite and > 0 (m)", sigma_meas);
  if (!(finite(init_speed_sigma) && init_speed_sigma > 0.0))
    bad("init_speed_sigma", "must be finite and > 0 (m/s)", init_speed_sigma);
  if (confirm_m < 1) bad("confirm_m", "must be >= 1", confirm_m);
  if (confirm_n < confirm_m) bad("confirm_n", "must be >= confirm_m", confirm_n);
  if (max_misses < 1) bad("max_misses", "must be >= 1", max_misses);
  if (max_tracks < 1) bad("max_tracks", "must be >= 1", static_cast<double>(max_tracks));
  if (max_measurements < 1)
    bad("max_measurements", "must be >= 1", static_cast<double>(max_measurements));
  if (max_gated_pairs < 0) bad("max_gated_pairs", "must be >= 0", static_cast<double>(max_gated_pairs));
  if (!(birth_threshold >= 0.0 && birth_threshold <= 1.0))
    bad("birth_threshold", "must be in [0, 1]", birth_threshold);
  if (jpda_max_states < 1) bad("jpda_max_states", "must be >= 1", static_cast<double>(jpda_max_states));
  if (jpda_method == JpdaMethod::kSingle) bad("jpda_method", "must be auto, enumerate, exact or lbp", 4);
}

engine::EngineConfig engine_config_for(const PointTrackerConfig& c) {
  const double s2 = c.sigma_meas * c.sigma_meas, v2 = c.init_speed_sigma * c.init_speed_sigma;
  engine::EngineConfig e;
  e.motion = "cv_point2d";
  if (c.sigma_a > 0.0)
    e.motion_noise = {{"accel_std", c.sigma_a}};
  else
    e.q_diag_per_s = {0.0, 0.0, 0.0, 0.0};  // sigma_a = 0: no process noise (accel_std must be > 0)
  e.p0_diag = {s2, s2, v2, v2};
  e.num_classes = 1;
  e.max_tracks = c.max_tracks;  // the step releases its deleted tracks before committing births
  e.max_detections = c.max_measurements;
  e.max_image_tracks = 0;
  e.late_policy = engine::LatePolicy::kRaise;
  e.bad_detection = engine::BadDetectionPolicy::kRaise;
  track::LifecyclePolicy& l = e.lifecycle;
  l.existence_model = track::ExistenceModel::kLlr;
  l.llr_init = 0.0;
  l.llr_max = std::numeric_limits<double>::infinity();
  l.llr_delete = -std::numeric_limits<double>::infinity();
  l.llr_confirm = 4.0;  // unused: confirm_by_existence = false
  l.confirm_by_existence = false;
  l.confirm_rule = track::ConfirmRule::kFirst;
  l.confirm_hits = c.confirm_m;
  l.confirm_window = c.confirm_n;
  l.max_misses = c.max_misses;
  l.tentative_max_misses = -1;
  l.max_coast_s = std::numeric_limits<double>::infinity();
  l.tentative_max_coast_s = std::numeric_limits<double>::infinity();
  l.mean_lifetime_s = std::numeric_limits<double>::infinity();
  engine::SensorConfig s;
  s.name = "points";
  s.model = "position2d";
  s.R = {s2, 0.0, 0.0, s2};
  s.cost = "mahalanobis";
  s.gate_chi2 = c.gate_chi2;
  s.associator = c.association == PointAssociation::kGnn ? "gnn" : "jpda";
  s.jpda_method = to_string(c.jpda_method);
  s.jpda_max_states = c.jpda_max_states;
  s.jpda_birth_threshold = c.birth_threshold;
  s.jpda_miss_beta0 = 0.5;  // a step with beta_0 >= 0.5 is a miss
  s.births = true;
  // The "llr" lifecycle refuses pd = 1 (its validation asks pd < 1, although the miss term
  // log(1 - pd P_G) only needs pd P_G < 1): pd = 1 runs as the largest double below 1 (a
  // relative change of 1.1e-16).
  s.pd = c.prob_detection < 1.0 ? c.prob_detection : std::nextafter(1.0, 0.0);
  s.gate_probability = 1.0 - std::exp(-0.5 * c.gate_chi2);  // Pg of the 2-dof chi-square gate
  s.clutter_density = c.clutter_density;
  e.sensors = {s};
  return e;
}

PointTracker::PointTracker(PointTrackerConfig config) : config_(config) {
  config_.validate();
  engine_ = engine::make_engine(engine_config_for(config_));
  const auto T = static_cast<std::size_t>(config_.max_tracks);
  briefs_.resize(T);
  xs_.resize(4 * T);
  Ps_.resize(16 * T);
}

PointTracker::PointTracker(const PointTracker& other) : PointTracker(other.config_) {
  engine_->copy_state_from(*other.engine_);
  stats_ = other.stats_;
}

namespace {
bool same_config(const PointTrackerConfig& a, const PointTrackerConfig& b) {
  return a.association == b.association && a.gate_chi2 == b.gate_chi2 && a.prob_detection == b.prob_detection &&
         a.clutter_density == b.clutter_density && a.sigma_a == b.sigma_a && a.sigma_meas == b.sigma_meas &&
         a.init_speed_sigma == b.init_speed_sigma && a.confirm_m == b.confirm_m && a.confirm_n == b.confirm_n &&
         a.max_misses == b.max_misses && a.max_tracks == b.max_tracks && a.max_measurements == b.max_measurements &&
         a.max_gated_pairs == b.max_gated_pairs && a.birth_threshold == b.birth_threshold &&
         a.jpda_method == b.jpda_method && a.jpda_max_states == b.jpda_max_states;
}
}  // namespace

PointTracker& PointTracker::operator=(const PointTracker& other) {
  if (this == &other) return *this;
  // The same configuration: copy the state into this tracker's engine (no allocation, what
  // PointTrackerCore.copy() relies on); another one: a new engine.
  if (!engine_ || !same_config(config_, other.config_)) {
    PointTracker copy(other);
    *this = std::move(copy);
    return *this;
  }
  config_ = other.config_;
  engine_->copy_state_from(*other.engine_);
  stats_ = other.stats_;
  return *this;
}

void PointTracker::reset() {
  engine_->reset();
  engine_->set_next_id(1);
  stats_ = PointTrackerStats{};
}

Index PointTracker::step(const double* z, Index n, TimeNs t_ns, PointTrackOutput* out) {
  // Validate everything before changing anything (the engine would too, with its own words).
  if (n < 0 || n > config_.max_measurements)
    throw ShapeError("PointTracker.step: got " + std::to_string(n) +
                     " measurements, but max_measurements is " +
                     std::to_string(config_.max_measurements));
  for (Index i = 0; i < n; ++i)
    if (!std::isfinite(z[2 * i]) || !std::isfinite(z[2 * i + 1]))
      throw NumericalError("PointTracker.step: measurement " + std::to_string(i) +
                           " is not finite (x=" + std::to_string(z[2 * i]) +
                           ", y=" + std::to_string(z[2 * i + 1]) + ")");
  if (engine_->has_time() && t_ns < engine_->time_ns())
    throw std::invalid_argument("PointTracker.step: timestamp t_ns=" + std::to_string(t_ns) +
                                " is earlier than the previous step's t_ns=" +
                                std::to_string(engine_->time_ns()));
  const engine::EngineStats before = engine_->stats();
  engine::Frame f;
  f.sensor = 0;
  f.t_ns = t_ns;
  f.n = n;
  f.z = n > 0 ? z : nullptr;
  f.defer_births = true;
  engine_->process(f);
  // Births in measurement order while fewer than max_tracks tracks are alive (the slots of the
  // tracks this step deleted are freed first).
  engine_->release_deleted();
  Index skipped = 0;
  for (Index i = 0; i < engine_->num_pending_births(); ++i) {
    if (engine_->num_tracks() >= config_.max_tracks || !engine_->commit_birth(i)) ++skipped;
  }
  const engine::EngineStats after = engine_->stats();
  const engine::AssociationStats a = engine_->last_association();
  stats_ = PointTrackerStats{};
  stats_.gated_pairs = a.gated_pairs;
  stats_.clusters = a.clusters;
  stats_.largest_cluster_tracks = a.largest_cluster_tracks;
  stats_.largest_cluster_measurements = a.largest_cluster_measurements;
  stats_.clusters_single = a.clusters_single;
  stats_.clusters_enumerate = a.clusters_enumerate;
  stats_.clusters_exact = a.clusters_exact;
  stats_.clusters_lbp = a.clusters_lbp;
  stats_.births = static_cast<Index>(after.births - before.births);
  stats_.births_skipped = skipped;
  stats_.deaths = static_cast<Index>(after.deletions - before.deletions);

  const Index m = engine_->export_briefs(briefs_.data(), xs_.data(), Ps_.data(), config_.max_tracks, 0);
  for (Index i = 0; i < m; ++i) {
    const engine::TrackBrief& b = briefs_[static_cast<std::size_t>(i)];
    PointTrackOutput& o = out[i];
    o.track_id = b.id;
    o.status = b.status;
    o.hits = b.hits;
    o.age = b.frames_since_birth;
    o.misses = b.consecutive_misses;
    o.measurement = b.detection;
    o.pad_ = 0;
    std::copy(xs_.data() + 4 * i, xs_.data() + 4 * (i + 1), o.x);
    std::copy(Ps_.data() + 16 * i, Ps_.data() + 16 * (i + 1), o.P);
    o.score = b.llr;
  }
  return m;
}

Index PointTracker::association_probabilities(AssociationProbability* out, Index capacity) const {
  return engine_->association_probabilities(out, capacity);
}

}  // namespace fusion::tracking
