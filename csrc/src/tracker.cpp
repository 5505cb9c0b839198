#include "fusion/tracking/tracker.hpp"

#include <Eigen/Cholesky>
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include "fusion/core/angles.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/filters/kalman.hpp"

namespace fusion::tracking {

namespace {

using geometry::Box3;
using StateVec = Vec<kStateDim>;
using StateMat = Mat<kStateDim, kStateDim>;
using MeasVec = Vec<kMeasDim>;
using MeasMat = Mat<kMeasDim, kMeasDim>;

Box3 state_box(const StateVec& x) { return {x(0), x(1), x(2), x(3), x(4), x(5), x(6)}; }

// Detection heading aligned with the track: wrap the difference, and if it exceeds 90
// degrees the detector most likely swapped front and back, so turn the detection by pi.
double aligned_yaw(double det_yaw, double track_yaw) {
  double d = wrap_angle(det_yaw - track_yaw);
  if (std::abs(d) > 0.5 * kPi) d = wrap_angle(d + kPi);
  return track_yaw + d;  // the residual is then d, never more than 90 degrees
}

MeasVec residual(const Box3& z, const StateVec& x) {
  MeasVec y;
  y << z.x - x(0), z.y - x(1), z.z - x(2), aligned_yaw(z.yaw, x(3)) - x(3), z.l - x(4),
      z.w - x(5), z.h - x(6);
  return y;
}

MeasMat meas_noise(const ClassConfig& c) {
  MeasMat R = MeasMat::Zero();
  R.diagonal() << c.r_pos, c.r_pos, c.r_pos, c.r_yaw, c.r_size, c.r_size, c.r_size;
  return R;
}

Mat<kMeasDim, kStateDim> meas_matrix() {
  Mat<kMeasDim, kStateDim> H = Mat<kMeasDim, kStateDim>::Zero();
  for (int i = 0; i < kMeasDim; ++i) H(i, i) = 1.0;
  return H;
}

int popcount64(std::uint64_t v) {
  int n = 0;
  for (; v; v &= v - 1) ++n;  // portable C++17 (std::popcount is C++20)
  return n;
}

void check_positive(double v, const char* name, std::int32_t cls, bool allow_zero = false) {
  if (!std::isfinite(v) || v < 0.0 || (!allow_zero && v == 0.0))
    throw ConfigurationError("tracker class " + std::to_string(cls) + ": " + name + " must be " +
                             (allow_zero ? "finite and >= 0" : "finite and > 0") + ", got " +
                             std::to_string(v));
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
  throw ConfigurationError("tracker motion: expected one of cv, ctrv, ctra, bicycle, but got '" +
                           std::string(name) + "'");
}

// State component 8 is vy (CV), the turn rate (CTRV, CTRA) or the steering angle (bicycle):
// pick the matching noise value.
static double slot8(const ClassConfig& c, double cv, double turn_rate, double steer) {
  switch (c.motion) {
    case MotionKind::kCtrv:
    case MotionKind::kCtra: return turn_rate;
    case MotionKind::kBicycle: return steer;
    case MotionKind::kCv: break;
  }
  return cv;
}

const char* to_string(MotionKind kind) {
  switch (kind) {
    case MotionKind::kCtrv: return "ctrv";
    case MotionKind::kCtra: return "ctra";
    case MotionKind::kBicycle: return "bicycle";
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

Tracker::Tracker(TrackerConfig config) : config_(std::move(config)) {
  config_.validate();
  std::int32_t max_id = -1;
  for (std::int32_t id : config_.class_ids) max_id = std::max(max_id, id);
  by_id_.assign(static_cast<std::size_t>(max_id + 1), config_.default_class);
  for (std::size_t i = 0; i < config_.class_ids.size(); ++i)
    by_id_[static_cast<std::size_t>(config_.class_ids[i])] = config_.classes[i];

  const auto nt = static_cast<std::size_t>(config_.max_tracks);
  const auto nd = static_cast<std::size_t>(config_.max_detections);
  tracks_.reserve(nt);
  pred_boxes_.resize(nt);
  s_inv_.resize(nt);
  row_tracks_.resize(nt);
  row_to_col_.resize(nt);
  col_dets_.resize(nd);
  col_to_row_.resize(nd);
  det_track_.resize(nd);
  det_used_.resize(nd);
  step_classes_.reserve(nt + nd);
  cost_.resize(nt * nd);
  solver_.reserve(config_.max_tracks, config_.max_detections,
                  config_.max_tracks * config_.max_detections);
}

void Tracker::reset() {
  tracks_.clear();
  has_time_ = false;
  last_t_ = 0;
  next_id_ = 1;
}

const ClassConfig& Tracker::class_config(std::int32_t class_id) const {
  const auto i = static_cast<std::size_t>(class_id);
  return i < by_id_.size() ? by_id_[i] : config_.default_class;
}

void Tracker::predict(Track& t, double dt) const {
  if (dt <= 0.0) return;
  const ClassConfig& c = class_config(t.class_id);
  StateMat F;
  box_motion_predict(c.motion, t.x, F, dt, c.wheelbase_m);  // x <- f(x), F = df/dx (EKF)
  StateMat Q = StateMat::Zero();
  Q.diagonal() << c.q_pos, c.q_pos, c.q_pos, c.q_yaw, c.q_size, c.q_size, c.q_size, c.q_vel,
      slot8(c, c.q_vel, c.q_yaw_rate, c.q_steer), c.motion == MotionKind::kCtra ? c.q_acc : c.q_vel;
  Q *= dt;
  const StateMat FP = F * t.P;
  t.P.noalias() = FP * F.transpose();
  t.P += Q;
  symmetrize(t.P);
  t.x(3) = wrap_angle(t.x(3));
}

double Tracker::update(Track& t, const Box3& z, const ClassConfig& c) const {
  const MeasVec y = residual(z, t.x);
  const auto H = meas_matrix();
  const MeasMat R = meas_noise(c);
  MeasMat S;
  Mat<kStateDim, kMeasDim> K;
  const UpdateInfo info = kalman_update<kStateDim, kMeasDim>(t.x, t.P, y, H, R, S, K);
  if (info.status != UpdateStatus::kOk) {
    // Cannot happen with R > 0 and a symmetric P; fall back to taking the measurement.
    t.x(0) = z.x, t.x(1) = z.y, t.x(2) = z.z, t.x(3) = aligned_yaw(z.yaw, t.x(3));
    t.x(4) = z.l, t.x(5) = z.w, t.x(6) = z.h;
  }
  t.x(3) = wrap_angle(t.x(3));
  for (int i = 4; i < 7; ++i) t.x(i) = std::max(t.x(i), c.min_size);
  return info.status == UpdateStatus::kOk ? info.log_likelihood : std::nan("");
}

void Tracker::start_track(const Detection& d, Index det_index, TimeNs t_ns) {
  const ClassConfig& c = class_config(d.class_id);
  Track t;
  t.x.setZero();
  t.x << d.box.x, d.box.y, d.box.z, wrap_angle(d.box.yaw), std::max(d.box.l, c.min_size),
      std::max(d.box.w, c.min_size), std::max(d.box.h, c.min_size), 0.0, 0.0, 0.0;
  t.P.setZero();
  t.P.diagonal() << c.p0_pos, c.p0_pos, c.p0_pos, c.p0_yaw, c.p0_size, c.p0_size, c.p0_size,
      c.p0_vel, slot8(c, c.p0_vel, c.p0_yaw_rate, c.p0_steer),
      c.motion == MotionKind::kCtra ? c.p0_acc : c.p0_vel;
  t.id = next_id_++;
  t.class_id = d.class_id;
  t.hits = 1;
  t.age = 0;
  t.time_since_update = 0;
  t.hit_bits = 1;
  t.last_update_t = t_ns;
  t.llr = c.llr_init;
  t.confirmed = c.logic == TrackLogic::kLlr ? c.llr_init >= c.llr_confirm : c.min_hits <= 1;
  t.score_sum = d.score;
  t.detection = static_cast<std::int32_t>(det_index);
  tracks_.push_back(t);  // within the reserved capacity: the caller checked the size
}

double Tracker::pair_cost(const ClassConfig& c, const Track& t, const Box3& pred,
                          const Box3& det, Index track_slot) const {
  switch (c.cost) {
    case CostKind::kGiou3d:
    case CostKind::kGiouBev:
    case CostKind::kIou3d:
    case CostKind::kIouBev: {
      static constexpr geometry::OverlapKind kinds[] = {
          geometry::OverlapKind::kGiou3d, geometry::OverlapKind::kGiouBev,
          geometry::OverlapKind::kIou3d, geometry::OverlapKind::kIouBev};
      const double r = std::hypot(pred.l, pred.w) + std::hypot(det.l, det.w);
      const double dx = pred.x - det.x, dy = pred.y - det.y;
      // IoU is exactly 0 when the footprints' circumscribed circles are disjoint, so skip
      // the polygon clipping; GIoU stays informative there and is always computed.
      if (!geometry::is_giou(kinds[static_cast<int>(c.cost)]) && dx * dx + dy * dy > 0.25 * r * r)
        return -0.0;
      return -geometry::box_overlap_unchecked(kinds[static_cast<int>(c.cost)], pred, det);
    }
    case CostKind::kCentreDistance:
      return std::sqrt((pred.x - det.x) * (pred.x - det.x) + (pred.y - det.y) * (pred.y - det.y) +
                       (pred.z - det.z) * (pred.z - det.z));
    case CostKind::kCentreDistanceBev:
      return std::hypot(pred.x - det.x, pred.y - det.y);
    case CostKind::kMahalanobis: {
      const MeasVec y = residual(det, t.x);
      return y.dot(s_inv_[static_cast<std::size_t>(track_slot)] * y);
    }
  }
  return 0.0;
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

  const double dt = has_time_ ? ns_to_s(t_ns - last_t_) : 0.0;
  has_time_ = true;
  last_t_ = t_ns;

  // 1. predict
  const Index nt = num_tracks();
  for (Index k = 0; k < nt; ++k) {
    Track& t = tracks_[static_cast<std::size_t>(k)];
    predict(t, dt);
    t.detection = -1;
    pred_boxes_[static_cast<std::size_t>(k)] = state_box(t.x);
    if (class_config(t.class_id).cost == CostKind::kMahalanobis) {
      const ClassConfig& c = class_config(t.class_id);
      const MeasMat S = t.P.topLeftCorner<kMeasDim, kMeasDim>() + meas_noise(c);
      s_inv_[static_cast<std::size_t>(k)] = S.llt().solve(MeasMat::Identity());
    }
  }
  for (Index i = 0; i < n; ++i) {
    det_track_[static_cast<std::size_t>(i)] = -1;
    det_used_[static_cast<std::size_t>(i)] =
        dets[i].score >= class_config(dets[i].class_id).score_threshold;
  }

  // 2. associate, class by class (classes in increasing id order: deterministic)
  step_classes_.clear();
  for (Index k = 0; k < nt; ++k) step_classes_.push_back(tracks_[static_cast<std::size_t>(k)].class_id);
  for (Index i = 0; i < n; ++i)
    if (det_used_[static_cast<std::size_t>(i)]) step_classes_.push_back(dets[i].class_id);
  std::sort(step_classes_.begin(), step_classes_.end());
  step_classes_.erase(std::unique(step_classes_.begin(), step_classes_.end()), step_classes_.end());

  for (const std::int32_t cls : step_classes_) {
    const ClassConfig& c = class_config(cls);
    // Two-stage (ByteTrack-like): confident detections (>= birth_score_threshold) are matched
    // first, so a weak detection can never take a track from a confident one; the tracks left
    // over then try the weak detections, which can update tracks but never start them.
    for (int stage = 0; stage < (c.two_stage ? 2 : 1); ++stage) {
    Index rows = 0, cols = 0;
    for (Index k = 0; k < nt; ++k)
      if (tracks_[static_cast<std::size_t>(k)].class_id == cls && tracks_[static_cast<std::size_t>(k)].detection < 0)
        row_tracks_[static_cast<std::size_t>(rows++)] = k;
    for (Index i = 0; i < n; ++i) {
      if (!det_used_[static_cast<std::size_t>(i)] || dets[i].class_id != cls ||
          det_track_[static_cast<std::size_t>(i)] >= 0)
        continue;
      const bool strong = dets[i].score >= c.birth_score_threshold;
      if (c.two_stage && strong != (stage == 0)) continue;
      col_dets_[static_cast<std::size_t>(cols++)] = i;
    }
    if (rows == 0 || cols == 0) continue;
    for (Index r = 0; r < rows; ++r) {
      const Index k = row_tracks_[static_cast<std::size_t>(r)];
      const Track& t = tracks_[static_cast<std::size_t>(k)];
      for (Index q = 0; q < cols; ++q) {
        const Index i = col_dets_[static_cast<std::size_t>(q)];
        cost_[static_cast<std::size_t>(r * cols + q)] =
            pair_cost(c, t, pred_boxes_[static_cast<std::size_t>(k)], dets[i].box, k);
      }
    }
    // The solver forbids cost > gate; overlap costs are negated, so is the gate. The tiny
    // shrink makes "overlap > gate" strict as documented.
    const double gate = is_overlap(c.cost) ? -c.gate - 1e-12 : c.gate;
    solver_.solve_dense_gated(cost_.data(), rows, cols, gate, row_to_col_.data(), col_to_row_.data());
    for (Index r = 0; r < rows; ++r) {
      const Index q = row_to_col_[static_cast<std::size_t>(r)];
      if (q == assoc::kUnassigned) continue;
      const Index k = row_tracks_[static_cast<std::size_t>(r)];
      det_track_[static_cast<std::size_t>(col_dets_[static_cast<std::size_t>(q)])] = k;
      tracks_[static_cast<std::size_t>(k)].detection = static_cast<std::int32_t>(
          col_dets_[static_cast<std::size_t>(q)]);  // marks the track as taken for stage 2
    }
    }
  }

  // 3. update matched tracks (in detection order; each track has at most one detection)
  for (Index i = 0; i < n; ++i) {
    const Index k = det_track_[static_cast<std::size_t>(i)];
    if (k < 0) continue;
    Track& t = tracks_[static_cast<std::size_t>(k)];
    const ClassConfig& c = class_config(t.class_id);
    const double ll = update(t, dets[i].box, c);
    // Blackman's score increment of a hit; a failed update (never with R > 0) adds nothing.
    if (std::isfinite(ll)) t.llr += std::log(c.pd) + ll - std::log(c.clutter_density);
    t.detection = static_cast<std::int32_t>(i);
  }

  // 4. bookkeeping and deletion (stable compaction keeps id order)
  std::size_t w = 0;
  for (std::size_t k = 0; k < tracks_.size(); ++k) {
    Track& t = tracks_[k];
    const ClassConfig& c = class_config(t.class_id);
    t.age += 1;
    t.hit_bits <<= 1;
    if (t.detection >= 0) {
      t.hits += 1;
      t.time_since_update = 0;
      t.hit_bits |= 1u;
      t.last_update_t = t_ns;
      t.score_sum += dets[t.detection].score;
    } else {
      t.time_since_update += 1;
      t.llr += std::log1p(-c.pd);
    }
    t.llr = std::min(t.llr, c.llr_max);
    bool drop = t.time_since_update >= c.max_age ||
                (t.time_since_update > 0 && ns_to_s(t_ns - t.last_update_t) > c.max_coast_s);
    if (c.logic == TrackLogic::kLlr) {
      if (!t.confirmed && t.llr >= c.llr_confirm) t.confirmed = true;
      drop = drop || t.llr < c.llr_delete;
    } else if (!t.confirmed) {
      if (c.confirm_window > 0) {
        // M-of-N: hits among the last N steps (the track's age bounds the window).
        const int n_win = std::min(c.confirm_window, t.age + 1);
        const std::uint64_t mask = n_win >= 64 ? ~std::uint64_t{0} : ((std::uint64_t{1} << n_win) - 1);
        const int m = popcount64(t.hit_bits & mask);
        if (m >= c.min_hits) t.confirmed = true;
        // A full window short of M hits fails the test: the track was most likely clutter.
        else if (t.age + 1 >= c.confirm_window) drop = true;
      } else if (t.hits >= c.min_hits) {
        t.confirmed = true;
      }
    }
    if (drop) continue;
    if (w != k) tracks_[w] = t;
    ++w;
  }
  tracks_.resize(w);  // shrinking never reallocates

  // 5. births, in detection order (ids increase with the detection index)
  for (Index i = 0; i < n; ++i) {
    if (!det_used_[static_cast<std::size_t>(i)] || det_track_[static_cast<std::size_t>(i)] >= 0) continue;
    if (dets[i].score < class_config(dets[i].class_id).birth_score_threshold) continue;
    if (num_tracks() >= config_.max_tracks) break;
    start_track(dets[i], i, t_ns);
  }

  // 6. report
  Index m = 0;
  for (const Track& t : tracks_) {
    TrackOutput& o = out[m++];
    const ClassConfig& c = class_config(t.class_id);
    o.track_id = t.id;
    o.class_id = t.class_id;
    o.status = static_cast<std::int32_t>(!t.confirmed ? TrackStatus::kTentative
                                         : t.time_since_update > 0 ? TrackStatus::kCoasting
                                                                   : TrackStatus::kConfirmed);
    for (int j = 0; j < 7; ++j) o.box[j] = t.x(j);
    box_velocity(c.motion, t.x, o.velocity);
    o.score = t.score_sum / t.hits - c.score_coast_penalty * t.time_since_update;
    o.llr = t.llr;
    o.existence = 1.0 / (1.0 + std::exp(-t.llr));
    o.hits = t.hits;
    o.age = t.age;
    o.time_since_update = t.time_since_update;
    o.detection = t.detection;
  }
  return m;
}

}  // namespace fusion::tracking
