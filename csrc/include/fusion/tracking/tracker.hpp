// Multi-object tracker over oriented 3D boxes (tracking-by-detection, GNN association).
//
// Each track is a 10-D Kalman filter on the box, per class either constant velocity
//     x = (x, y, z, yaw, l, w, h, vx, vy, vz)      metres, radians, m/s (the AB3DMOT model)
// or CTRV (x, y, z, yaw, l, w, h, v, yaw_rate, vz) run as an EKF (see box_motion.hpp),
// observed directly through the 7 box components. Every step:
//   1. predict all tracks to t_ns (dt from the previous step; size is a random walk);
//   2. per class, build a cost matrix between predicted tracks and the detections of that
//      class (negative GIoU/IoU, centre distance or Mahalanobis distance), gate it, and solve
//      the assignment exactly (global nearest neighbour, fusion::assoc solver);
//   3. update matched tracks (after aligning the detection heading with the track's: a
//      detection whose yaw differs by more than 90 degrees is flipped by pi, since detectors
//      often confuse front and back, and a flip must not swing the box);
//   4. unmatched tracks coast; a track is deleted after max_age consecutive misses, after
//      max_coast_s seconds without an update, or (logic "llr") when its score falls below
//      llr_delete; a tentative M-of-N track is deleted when its first confirm_window
//      steps hold fewer than min_hits updates;
//   5. unmatched detections (score >= birth_score_threshold) start tentative tracks, which
//      become confirmed after min_hits updates (within the last confirm_window frames when
//      confirm_window > 0: M-of-N), or (logic "llr") when their score reaches llr_confirm.
// Every track carries Blackman's sequential log-likelihood ratio (true target vs false
// alarm): + log(pd N(y; 0, S) / clutter_density) per update, + log(1 - pd) per miss, clamped
// to llr_max; its logistic 1 / (1 + exp(-llr)) is reported as the existence probability.
// Track ids are int64, unique and increasing in creation order; tracks are kept and reported
// in id order, so the output is deterministic.
//
// Memory: all buffers are sized in the constructor from max_tracks / max_detections, so
// step() never allocates. More detections than max_detections is an error; when max_tracks
// tracks are alive, further births are skipped.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "fusion/assoc/linear_assignment.hpp"
#include "fusion/core/types.hpp"
#include "fusion/geometry/box_overlap.hpp"
#include "fusion/tracking/box_motion.hpp"

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

// "cv", "ctrv".
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

class Tracker {
 public:
  explicit Tracker(TrackerConfig config);

  // Advances to t_ns with n detections and writes the live tracks into `out` (which must
  // hold max_tracks entries). Returns the number of tracks written. Throws ShapeError when
  // n > max_detections, NumericalError for a non-finite box or score (naming the index),
  // std::invalid_argument when t_ns is earlier than the previous step's time, and
  // ShapeError for a negative class id. Nothing is changed when it throws.
  Index step(const Detection* dets, Index n, TimeNs t_ns, TrackOutput* out);

  Index num_tracks() const { return static_cast<Index>(tracks_.size()); }
  const TrackerConfig& config() const { return config_; }
  bool has_time() const { return has_time_; }
  TimeNs last_time() const { return last_t_; }
  std::int64_t next_id() const { return next_id_; }
  void reset();

 private:
  struct Track {
    Vec<kStateDim> x;
    Mat<kStateDim, kStateDim> P;
    std::int64_t id;
    std::int32_t class_id;
    std::int32_t hits;
    std::int32_t age;
    std::int32_t time_since_update;
    std::uint64_t hit_bits;  // bit k: updated k steps ago (M-of-N window)
    TimeNs last_update_t;
    double llr;
    bool confirmed;
    double score_sum;
    std::int32_t detection;
  };

  const ClassConfig& class_config(std::int32_t class_id) const;
  void predict(Track& t, double dt) const;
  // Returns log N(y; 0, S) of the update, or NaN when it failed.
  double update(Track& t, const geometry::Box3& z, const ClassConfig& c) const;
  void start_track(const Detection& d, Index det_index, TimeNs t_ns);
  double pair_cost(const ClassConfig& c, const Track& t, const geometry::Box3& pred,
                   const geometry::Box3& det, Index track_slot) const;

  TrackerConfig config_;
  std::vector<Track> tracks_;  // in id order
  std::vector<ClassConfig> by_id_;  // dense lookup for class ids < by_id_.size()
  std::vector<char> has_own_;
  assoc::LinearAssignmentSolver solver_;
  // per-step scratch
  std::vector<geometry::Box3> pred_boxes_;
  std::vector<Mat<kMeasDim, kMeasDim>> s_inv_;  // per-track S^-1 (Mahalanobis cost only)
  std::vector<Index> row_tracks_, col_dets_, row_to_col_, col_to_row_, det_track_;
  std::vector<char> det_used_;
  std::vector<std::int32_t> step_classes_;
  std::vector<double> cost_;
  bool has_time_ = false;
  TimeNs last_t_ = 0;
  std::int64_t next_id_ = 1;
};

}  // namespace fusion::tracking
