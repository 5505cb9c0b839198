// Multi-object tracker over oriented 3D boxes (tracking-by-detection, GNN association): a PRESET
// of the multi-sensor engine (engine/engine.hpp). It keeps no filter, association or lifecycle
// of its own: each object class runs in its own Engine<Motion> with one lidar_box3d sensor,
// configured by engine_config_for(ClassConfig) -- the ONE place of the mapping (docs/
// ARCHITECTURE.md "The Tracker preset" has it as a table; Python shows it as
// TrackerConfig.engine_config(class_id)).
//
// Per class, the engine does what this tracker did (per class, association was always separate):
//   - the motion model (cv: cv_box, ctrv: ctrv_vz_box, ctra: ctra_box, bicycle: bicycle_vz_box,
//     imm: imm_cv_ctrv_box, the IMM of cv_box and ctrv_vz_box of motion/imm_motion.hpp) with
//     Q = diag(q) dt and P0 = diag(p0) from the class's q_* / p0_* values;
//   - the lidar box update (the detection heading aligned with the track's: a yaw residual
//     beyond 90 degrees is turned by pi), sizes floored at min_size;
//   - the cost and gate (overlap: minimum overlap; distance: metres; mahalanobis: the gate is
//     the chi-square value gate_chi2), exact GNN, two-stage association (two_stage), score and
//     birth thresholds;
//   - the lifecycle: existence_model "llr" (Blackman's score: + log(pd N(y; 0, S) /
//     clutter_density) per hit, + log(1 - pd) per miss, clamped to llr_max; its logistic is the
//     existence), confirmation by M-of-N (min_hits of the last confirm_window frames; window 0:
//     min_hits ever; a tentative track whose full window missed deleted) or by llr_confirm,
//     deletion at max_age consecutive misses (max_misses), after max_coast_s without an update
//     (on a miss: miss_max_coast_s) or below llr_delete.
// The tracker itself arbitrates what crosses classes: every step gives every class engine with
// live tracks (or detections) a frame, births are deferred and made in detection order across
// classes with ONE id counter (ids unique and increasing in creation order) and ONE max_tracks,
// and the output merges the classes in id order. An output row's score is the mean detection
// score minus score_coast_penalty per consecutive miss; age and time_since_update are the
// engine's frames_since_birth and consecutive_misses (steps, as every step is a frame).
//
// Memory: the engines of the configured class ids (and of the default class, used for any
// other id) are built in the constructor, each sized from max_tracks / max_detections; a class
// id first seen at run time gets its engine on that first step (one allocation, the only one
// after construction). Otherwise step() never allocates. More detections than max_detections
// is an error; when max_tracks tracks are alive, further births are skipped.
#pragma once
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "fusion/assoc/linear_assignment.hpp"
#include "fusion/core/types.hpp"
#include "fusion/geometry/box_overlap.hpp"
#include "fusion/engine/engine.hpp"

namespace fusion::tracking {

inline constexpr int kStateDim = 10;
inline constexpr int kMeasDim = 7;

enum class CostKind : int {
  kGiou3d = 0,
  kGiouBev = 1,
  kIou3d = 2,
  kIouBev = 3,
  kCentreDistance = 4,  // 3D Euclidean distance between box centres (m)
  kCentreDistanceBev = 5,  // same in the ground plane (m)
  kMahalanobis = 6,  // squared Mahalanobis distance of the 7-D box residual (chi-square, 7 dof)
};

// "giou_3d", "giou_bev", "iou_3d", "iou_bev", "distance", "distance_bev", "mahalanobis".
CostKind cost_kind_from_string(std::string_view name);
const char* to_string(CostKind kind);
// Overlap kinds are similarities (higher is better); the gate is a minimum for them.
inline bool is_overlap(CostKind k) { return static_cast<int>(k) <= 3; }

// Motion model of a class: constant velocity, or the EKF models constant turn rate and
// velocity, constant turn rate and acceleration, kinematic bicycle (engine keys cv_box,
// ctrv_vz_box, ctra_box, bicycle_vz_box: CTRV and bicycle with a vertical velocity).
enum class MotionKind : int { kCv = 0, kCtrv = 1, kCtra = 2, kBicycle = 3, kImm = 4 };

// "cv", "ctrv", "ctra", "bicycle", "imm".
MotionKind motion_kind_from_string(std::string_view name);
const char* to_string(MotionKind kind);

// Confirmation / deletion rule: "hits" (min_hits updates, M-of-N with confirm_window) or
// "llr" (thresholds on the sequential log-likelihood ratio).
enum class TrackLogic : int { kHits = 0, kLlr = 1 };
TrackLogic track_logic_from_string(std::string_view name);
const char* to_string(TrackLogic logic);

enum class TrackStatus : std::int32_t { kTentative = 0, kConfirmed = 1, kCoasting = 2 };

// Parameters of one object class. Noise values are variances (process noise: variance
// added per second of prediction).
struct ClassConfig {
  CostKind cost = CostKind::kGiou3d;
  // Overlap kinds: a pair is admissible when overlap > gate (e.g. GIoU > -0.5).
  // Distance kinds: when distance < gate (m). Mahalanobis: when d^2 < gate.
  double gate = -0.5;
  MotionKind motion = MotionKind::kCv;
  TrackLogic logic = TrackLogic::kHits;
  std::int32_t min_hits = 3;  // updates needed to confirm a track (M of M-of-N)
  std::int32_t confirm_window = 0;  // N of M-of-N in frames (<= 64); 0: hits ever counted
  std::int32_t max_age = 2;   // consecutive misses after which a track is deleted
  double max_coast_s = 1e300;  // seconds without an update after which a track is deleted
  // Sequential log-likelihood ratio (always kept; drives the logic only for kLlr).
  double pd = 0.9;                  // detection probability, in (0, 1)
  double clutter_density = 1e-8;    // false-alarm density in the 7-D box space (> 0)
  double llr_init = 0.0;            // score of a newborn track (log prior odds)
  double llr_confirm = 4.0;         // tentative -> confirmed at or above
  double llr_delete = -4.0;         // deleted below
  double llr_max = 20.0;            // clamp, so that a long track can still be deleted
  double score_threshold = -1e300;  // detections scoring below are ignored entirely
  double birth_score_threshold = -1e300;  // unmatched detections below do not start tracks
  // Associate detections >= birth_score_threshold first, then the rest with the leftover tracks.
  bool two_stage = false;
  double score_coast_penalty = 0.0;  // reported score drops by this per missed step
  // Measurement noise (variances): position m^2, yaw rad^2, size m^2.
  double r_pos = 1.0, r_yaw = 1.0, r_size = 1.0;
  // Process noise spectral densities (variance per second).
  // q_vel: CV velocities, speed of the turning models and vz; q_yaw_rate: CTRV/CTRA turn rate
  // (rad^2/s^3); q_acc: CTRA acceleration ((m/s^2)^2/s); q_steer: bicycle steering (rad^2/s).
  double q_pos = 10.0, q_yaw = 10.0, q_size = 10.0, q_vel = 10.0, q_yaw_rate = 1.0;
  double q_acc = 1.0, q_steer = 0.1;
  // Initial covariance of a new track (variances).
  double p0_pos = 10.0, p0_yaw = 10.0, p0_size = 10.0, p0_vel = 1.0e4, p0_yaw_rate = 1.0;
  double p0_acc = 4.0, p0_steer = 0.1;
  double wheelbase_m = 2.7;  // bicycle model only
  // Minimum box size after an update (m), so that boxes stay valid for the overlap costs.
  double min_size = 0.05;

  // Throws ConfigurationError naming the field and the class.
  void validate(std::int32_t class_id) const;
};

struct TrackerConfig {
  ClassConfig default_class;           // used for every class id without its own entry
  std::vector<std::int32_t> class_ids;  // ids with their own parameters ...
  std::vector<ClassConfig> classes;     // ... (parallel to class_ids)
  Index max_tracks = 1024;
  Index max_detections = 1024;

  void validate() const;
};

struct Detection {
  geometry::Box3 box;
  std::int32_t class_id = 0;
  double score = 1.0;
};

// Plain-old-data layout shared with the Python structured dtype (see the bindings).
struct TrackOutput {
  std::int64_t track_id;
  std::int32_t class_id;
  std::int32_t status;      // TrackStatus
  double box[7];            // x, y, z, yaw, l, w, h
  double velocity[3];       // vx, vy, vz (m/s)
  double score;             // mean detection score minus the coasting penalty
  double llr;               // sequential log-likelihood ratio (see above)
  double existence;         // existence probability 1 / (1 + exp(-llr)), in [0, 1]
  std::int32_t hits;        // number of updates
  std::int32_t age;         // steps since creation (0 on the step it was born)
  std::int32_t time_since_update;  // consecutive missed steps
  std::int32_t detection;   // index of the detection that updated it this step, or -1
};

// The engine preset of one class: a cv_box / ctrv_vz_box / ctra_box / bicycle_vz_box engine with one
// lidar_box3d sensor (identity mount, unlimited field of view), max_tracks / max_detections
// as given. The only place where ClassConfig is mapped (see the header comment).
engine::EngineConfig engine_config_for(const ClassConfig& c, Index max_tracks, Index max_detections);

// Field-wise equality of two class configurations.
bool same_parameters(const ClassConfig& a, const ClassConfig& b);

class Tracker {
 public:
  explicit Tracker(TrackerConfig config);
  ~Tracker();
  Tracker(const Tracker&) = delete;
  // *this becomes a copy of other (config, tracks, ids, time): allocation-free when *this has
  // the same config and engines for the same class ids (what TrackerCore.copy() does).
  Tracker& operator=(const Tracker& other);

  // Advances to t_ns with n detections and writes the live tracks into `out` (which must
  // hold max_tracks entries). Returns the number of tracks written. Throws ShapeError when
  // n > max_detections, NumericalError for a non-finite box or score (naming the index),
  // std::invalid_argument when t_ns is earlier than the previous step's time, and
  // ShapeError for a negative class id. Nothing is changed when it throws.
  Index step(const Detection* dets, Index n, TimeNs t_ns, TrackOutput* out);

  Index num_tracks() const;
  const TrackerConfig& config() const { return config_; }
  bool has_time() const { return has_time_; }
  TimeNs last_time() const { return last_t_; }
  std::int64_t next_id() const { return next_id_; }
  void reset();

  // The parameters of a class id (its own, else the default) and the engine preset built from
  // them (what engine_config_for gives for this tracker's capacities).
  const ClassConfig& class_config(std::int32_t class_id) const;
  engine::EngineConfig engine_config(std::int32_t class_id) const;
  // The engine of a class id, nullptr before it exists (for tests and inspection).
  const engine::EngineBase* engine_of(std::int32_t class_id) const;

 private:
  struct ClassEngine;

  ClassEngine* find_engine(std::int32_t class_id) const;
  ClassEngine& add_engine(std::int32_t class_id);

  TrackerConfig config_;
  std::vector<std::unique_ptr<ClassEngine>> engines_;  // ascending class id
  // per-step scratch
  struct Birth {
    Index detection;  // global detection index
    ClassEngine* engine;
    Index pending;    // the engine's pending-birth index
  };
  std::vector<Birth> births_;
  bool has_time_ = false;
  TimeNs last_t_ = 0;
  std::int64_t next_id_ = 1;
};

}  // namespace fusion::tracking
