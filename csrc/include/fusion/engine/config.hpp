// Configuration of the multi-sensor fusion engine (engine/engine.hpp), mirroring the spec dict
// of _core.FusionEngine (docs: /work/engine_spec.md §2; the Python side builds it with
// fusion.engine.EngineConfig.to_spec()). Every field here has the spec key of the same name.
//
// Frames and units. Tracks live in one tracking frame (the "parent" frame of every sensor
// mount, normally the vehicle frame: x forward, y left, z up). Each sensor's mount (R, t) maps
// its own body frame into that frame (sensor/mount.hpp). Lengths in m, angles in rad, time in
// int64 ns (TimeNs) at every interface and seconds (double) in configuration values, pixels
// for image quantities.
//
// validate() throws ConfigurationError naming the field ("sensors[1] (camera).gate must be in
// [0, 1] for iou_2d, got 1.5"); unknown registry keys list the known ones.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "fusion/core/types.hpp"
#include "fusion/motion/with_extent.hpp"
#include "fusion/sensor/mount.hpp"
#include "fusion/track/lifecycle.hpp"

namespace fusion::engine {

// What to do with a frame older than the engine's latest time (out of sequence; retrodiction
// is issue 8): "drop" counts it in stats (late_frames, late_detections), "raise" throws
// TimestampError.
enum class LatePolicy : int { kDrop = 0, kRaise = 1 };
// What to do with an invalid detection (NaN, R not SPD, inverted camera box, class out of
// range): "raise" throws naming detection, sensor and field; "skip" ignores that detection
// and counts it (stats.skipped_detections).
enum class BadDetectionPolicy : int { kRaise = 0, kSkip = 1 };

LatePolicy late_policy_from_string(const std::string& key);
BadDetectionPolicy bad_detection_from_string(const std::string& key);
const char* to_string(LatePolicy p);
const char* to_string(BadDetectionPolicy p);

struct SensorConfig {
  std::string name;                 // unique; used in error messages
  std::string model;                // sensor registry key: lidar_box3d, camera_box2d, radar, position3d, position2d
  Mat<3, 3> mount_R = Mat<3, 3>::Identity();  // sensor axes in the tracking frame (a rotation)
  Vec<3> mount_t = Vec<3>::Zero();            // sensor origin in the tracking frame [m]
  sensor::FieldOfView fov{};                  // azimuth_half_rad, elevation_half_rad, min/max_range_m
  Mat<3, 4> projection = Mat<3, 4>::Zero();   // camera only: 3x4 pinhole P (optical frame, px)
  bool has_projection = false;
  double image_width_px = 0.0, image_height_px = 0.0;  // camera only: clip boxes (0: no clip)
  std::vector<double> R;            // M x M default measurement covariance, row-major (units of z^2)
  std::string cost;                 // cost registry key (see kCostKeys)
  // Overlap costs: minimum overlap (e.g. -0.2 for giou_3d). mahalanobis, mahalanobis_loglik:
  // gate probability (0.95, 0.99 or 0.999; the chi-square quantile of M dof). distance,
  // distance_bev: metres. (Each cost file in engine/costs/ states its gate.)
  double gate = 0.0;
  // The chi-square gated costs only (mahalanobis, mahalanobis_loglik): > 0 gives the gate as a
  // chi-square value directly (d^2 <= gate_chi2) and `gate` (the probability) is not used; 0: unset.
  double gate_chi2 = 0.0;
  std::string associator = "gnn";   // associator registry key
  // JPDA associator options (associator "jpda"; engine_impl.hpp jpda_frame):
  std::string jpda_method = "auto";        // cluster solver: auto, enumerate, exact, lbp
  Index jpda_max_states = Index{1} << 16;  // table budget of the exact recursion, >= 1
  // Births: < 0 (default -1): a detection starts a track only when it is in no track's gate;
  // in [0, 1]: when its total association probability sum_t beta_tj is below this.
  double jpda_birth_threshold = -1.0;
  // Misses: a track's frame counts as a lifecycle miss when its gate is empty, or, for a value
  // below 1, when its no-detection probability beta_0 >= jpda_miss_beta0 (0.5: the miss is
  // the more likely hypothesis). In (0, 1]; 1 (default): only an empty gate. The PDA state
  // update runs either way.
  double jpda_miss_beta0 = 1.0;
  // GNN: associate the detections with score >= birth_score_threshold first (every track),
  // then the others with the tracks left unassigned (a weak detection never takes a track from
  // a confident one; ByteTrack's two stages).
  bool two_stage = false;
  bool update_state = true;         // a hit runs the EKF update (false: evidence only)
  bool births = true;               // unmatched detections start tracks (sensors with an inverse)
  double birth_score_threshold = -std::numeric_limits<double>::infinity();
  double score_threshold = -std::numeric_limits<double>::infinity();  // below: ignored entirely
  // Lifecycle (track/lifecycle.hpp, SensorLifecyclePolicy):
  double pd = 0.9;
  double gate_probability = 0.99;
  double clutter_density = 1e-3;
  double nominal_likelihood_ratio = 10.0;
  bool counts_for_confirmation = true;
  bool counts_for_coast = true;
  std::vector<double> confusion;    // C x C row-major (rows true class), empty: reports no class
  bool image_tracks = false;        // camera only: unassigned detections feed image tracks
};

// Image tracks (camera-only targets): a linear KF on (u, v, w, h, du, dv) [px, px/s], box
// (u - w/2, v - h/2, u + w/2, v + h/2), Q = diag(q_pos, q_pos, q_size, q_size, q_vel, q_vel)
// |dt| and R = r I_4 on (u, v, w, h).
struct ImageTrackConfig {
  double gate = 0.3;                  // minimum image IoU for an association / a JOIN, (0, 1]
  int confirm_hits = 3;               // M of N over the image track's own frames
  int confirm_window = 5;             // N, in [max(M, 1), 32]
  double max_coast_s = 1.0;           // deleted when the gap since its last hit exceeds this
  double tentative_max_coast_s = 0.5;
  double q_pos = 100.0;               // px^2 per s (centre random walk on top of the velocity)
  double q_vel = 1000.0;              // (px/s)^2 per s
  double q_size = 100.0;              // px^2 per s
  double r = 25.0;                    // px^2, each of u, v, w, h
};

struct EngineConfig {
  std::string motion = "cv_box";      // motion registry key (see kMotionKeys)
  std::vector<double> q_diag_per_s;   // N values: Q = diag(q) |dt|; empty: the model's own Q
  std::vector<std::pair<std::string, double>> motion_noise;  // model parameters, e.g. accel_std
  ExtentNoise extent_noise{};         // random walks of the appended box components (model Q)
  std::vector<double> p0_diag;        // N values: P of a new track = diag(p0_diag)
  // IMM motions only (imm_* keys; motion/imm_motion.hpp): the Markov matrix R x R row-major
  // (P(mode j next step | mode i), rows sum to 1) and the mode probabilities of a new track
  // (R values summing to 1); empty: the motion's defaults.
  std::vector<double> imm_transition;
  std::vector<double> imm_mu0;
  int num_classes = 1;                // C >= 1
  Index max_tracks = 256;
  Index max_detections = 256;         // per frame
  Index max_image_tracks = 64;
  double min_size = 0.05;             // [m] l, w, h floor after a lidar box update / at birth
  LatePolicy late_policy = LatePolicy::kDrop;
  BadDetectionPolicy bad_detection = BadDetectionPolicy::kRaise;
  // The time layer (engine/oosm.hpp, engine/odometry.hpp; make_engine wraps every engine in it):
  double oosm_horizon_s = 0.3;           // late frames up to this much older than the latest time
                                         // are re-processed from the history; 0: none (>= 0, finite)
  Index oosm_max_frames = 32;            // frames the history keeps at most (>= 1)
  double ego_max_gap_s = 0.5;            // ego samples further apart count in stats().ego_gaps
  double ego_max_extrapolation_s = 0.5;  // the odometry pose reaches this far beyond its samples
  // Scalar fields of LifecyclePolicy; its per-sensor entries are built from `sensors`.
  track::LifecyclePolicy lifecycle{};
  ImageTrackConfig image_track{};
  std::vector<SensorConfig> sensors;

  // Throws ConfigurationError naming the field. Checks what does not depend on the motion
  // model; Engine<Motion> checks N-sized fields and model/sensor/cost pairings.
  void validate() const;
};

// Registry keys (the Python registry mirrors these; a test checks that they agree).
extern const std::vector<std::string> kMotionKeys;       // cv_box, ctrv_box, ca_box, ctra_box, ct_box, bicycle_box, cv_point2d
extern const std::vector<std::string> kSensorKeys;       // lidar_box3d, camera_box2d, radar, position3d, position2d
extern const std::vector<std::string> kCostKeys;         // EngineCosts (engine/costs/registry.hpp), in order
extern const std::vector<std::string> kAssociatorKeys;   // EngineAssociators (engine/associators/registry.hpp)

// "a, b, c" for error messages.
std::string join_keys(const std::vector<std::string>& keys);

}  // namespace fusion::engine
