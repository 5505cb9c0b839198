// The multi-sensor fusion engine: one tracker for lidar boxes, camera boxes, radar and
// position detections, composed from the existing components (track table, lifecycle, class
// fusion, costs, LAP solver, sensor and motion models). Spec: /work/engine_spec.md §1.
//
// This header is the PUBLIC API: the frame input, the output records, the statistics, and the
// type-erased EngineBase that the binding (_core.FusionEngine) holds, built by make_engine()
// from the motion registry key. Engine<Motion> (engine/engine_impl.hpp) implements it.
//
// One call = one SENSOR FRAME: (sensor k, t_ns, n detections of sensor k's model), in
// non-decreasing time. process() does, in order (details in engine_impl.hpp):
//   0. validates everything (a failed call changes nothing); a frame older than the latest
//      time is dropped and counted, or TimestampError (late_policy);
//   1. frees the slots of tracks deleted in the previous frame;
//   2. lifecycle.advance(t) (time-based deletion, existence prediction), predicts every live
//      track to t (EKF predict; Q from the model or diag(q_diag_per_s) |dt|);
//   3. builds the cost (rows = tracks, cols = detections >= score_threshold), applies the class
//      gate (a known detection class must equal the track's most likely class) and solves the
//      gated exact assignment (GNN);
//   4. updates matched tracks (if the sensor updates the state), fuses class evidence, runs the
//      lifecycle (hit / in-FOV miss), records per-sensor evidence;
//   5. starts tracks from unmatched detections of sensors with births and an inverse (or lists
//      them for the caller when the frame defers births, see Frame::defer_births);
//      camera detections not assigned to a 3D track feed the image tracks (JOIN/LEAVE identity
//      handover with the 3D tracks: one id space, never reused).
// Nothing allocates in process() after construction (tested with the allocation counter).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fusion/core/errors.hpp"
#include "fusion/core/types.hpp"
#include "fusion/engine/config.hpp"
#include "fusion/track/record.hpp"

namespace fusion::engine {

// One sensor frame, non-owning. Arrays are row-major and hold n entries (or are null).
struct Frame {
  int sensor = 0;                          // index into EngineConfig::sensors
  TimeNs t_ns = 0;                         // time of the frame [ns]
  Index n = 0;                             // number of detections
  const double* z = nullptr;               // n x M, the sensor model's measurement (sensor frame)
  const double* R = nullptr;               // n x M x M or null (sensor default); an all-NaN
                                           // M x M block also means the sensor default
  const double* score = nullptr;           // n or null (every score 1.0)
  const std::int32_t* class_id = nullptr;  // n or null (-1 = no class); in [-1, C)
  const double* class_scores = nullptr;    // n x C or null: soft class report (>= 0, finite)
  // Deferred births: step 5 lists the birth candidates (EngineBase::num_pending_births) instead
  // of starting tracks; the caller starts the ones it wants with commit_birth() before the next
  // process() or reset(). For an owner that arbitrates births between several engines (one id
  // counter and one track budget: the Tracker preset's per-class engines).
  bool defer_births = false;
  // Ego motion (contract C1). All in the tracking frame, which with ego motion is a fixed
  // odometry frame (x, y in the ground plane; z up as the vehicle's); without it the vehicle
  // frame as before (or a world frame for a static roadside unit).
  //   has_ego = false: the configured mounts are static in the tracking frame and the sensors
  //     do not move (SensorMotion zero); the ego fields are ignored (not even validated).
  //   has_ego = true: this frame's sensor mount is pose(ego) o mount, with pose(ego) the
  //     rotation by ego_yaw_rad about z and the translation (ego_x_m, ego_y_m, 0) (the
  //     configured mount is in the vehicle frame); the sensor's velocity over ground,
  //     SensorMotion::from_ego({ego_speed_mps, ego_yaw_rate_rps}, mount) rotated into the
  //     tracking frame, reaches every sensor model that reads it (radar range rate) in the
  //     cost, gate, update, birth (inverse) and field-of-view test of this frame.
  // Non-finite ego fields (with has_ego): NumericalError naming the field, nothing changes.
  bool has_ego = false;
  double ego_x_m = 0.0, ego_y_m = 0.0, ego_yaw_rad = 0.0;  // vehicle pose at t_ns
  double ego_speed_mps = 0.0, ego_yaw_rate_rps = 0.0;      // vehicle motion at t_ns (+x, about +z)
};

// Options of EngineBase::export_tracks (contract C1).
//   at_time: every record is predicted to t_ns with the motion model (x, P, box, velocity and
//     the record's t_ns; the engine's state does not change). A track whose time is at or after
//     t_ns is reported as it is.
//   vehicle_frame: the record's box (centre x, y, z and yaw) and velocity are expressed in the
//     frame of the vehicle pose (ego_x_m, ego_y_m, ego_yaw_rad) given in the tracking frame:
//     p_v = Rz(-yaw) (p - (ego_x, ego_y, 0)), yaw_v = wrap(yaw - ego_yaw), v_v = Rz(-yaw) v (the
//     velocity stays over ground, only its axes change). x and P stay in the TRACKING frame.
//     Non-finite pose values: NumericalError naming the field.
struct ExportOptions {
  bool include_deleted = false;
  bool at_time = false;
  TimeNs t_ns = 0;
  bool vehicle_frame = false;
  double ego_x_m = 0.0, ego_y_m = 0.0, ego_yaw_rad = 0.0;
};

// Counters since construction or reset().
struct EngineStats {
  std::int64_t frames = 0;              // frames processed (late frames not included)
  std::int64_t detections = 0;          // detections in processed frames
  std::int64_t late_frames = 0;         // frames dropped as out of sequence (beyond the horizon)
  std::int64_t late_detections = 0;     // their detections
  std::int64_t skipped_detections = 0;  // invalid detections skipped (bad_detection = skip)
  std::int64_t rejected_updates = 0;    // EKF updates rejected (non-finite / non-PD result)
  std::int64_t births = 0;              // 3D tracks started
  std::int64_t deletions = 0;           // 3D tracks deleted
  std::int64_t insert_failures = 0;     // births refused by a full table (3D and image)
  std::int64_t image_births = 0;        // image tracks started (not by LEAVE)
  std::int64_t imm_underflows = 0;      // IMM motion: updates where every mode's likelihood < DBL_MIN
  // The time layer (engine/oosm.hpp):
  std::int64_t reprocessed_frames = 0;  // late frames fused by re-processing the history
  std::int64_t ego_gaps = 0;            // ego-motion intervals longer than ego_max_gap_s
};

// Counters of the latest frame's association by the sparse (mahalanobis) path; zero after a
// frame of a dense cost (overlap, distance). Clusters: JPDA clusters holding at least one
// detection, and how each was solved (tracking/jpda.hpp).
struct AssociationStats {
  Index gated_pairs = 0;
  Index clusters = 0;
  Index largest_cluster_tracks = 0;
  Index largest_cluster_measurements = 0;
  Index clusters_single = 0, clusters_enumerate = 0, clusters_exact = 0, clusters_lbp = 0;
};

// One JPDA marginal of the latest frame: P(track `track_id` produced detection `detection`),
// detection -1: the missed-detection hypothesis (beta_0).
struct AssociationProbability {
  std::int64_t track_id;
  std::int64_t detection;
  double probability;
};

// The slim export of one live track for single-sensor presets (export_briefs): what a preset
// reports besides x and P, without the full TrackRecord (about 1 KB each with its class and
// sensor arrays). hits, detection: of the sensor asked for.
struct TrackBrief {
  std::int64_t id;
  std::int32_t status;              // TrackStatus
  std::int32_t hits;                // that sensor's hits (birth included)
  std::int32_t frames_since_birth;  // TrackRecord::frames_since_birth
  std::int32_t consecutive_misses;  // TrackRecord::consecutive_misses
  std::int32_t detection;           // that sensor's detection in its latest frame, or -1
  std::int32_t pad_;
  double llr;                       // TrackRecord::llr
  double existence;
};

// One image track (a camera-only target), POD; numpy dtype image_track_dtype (same names).
struct ImageTrackRecord {
  std::int64_t id;          // in the engine's one id space
  TimeNs t_ns;              // time of the estimate
  TimeNs birth_t_ns;
  std::int32_t status;      // TrackStatus (0 tentative, 1 confirmed, 2 coasting, 3 deleted)
  std::int32_t sensor;      // camera sensor index
  double box[4];            // x1, y1, x2, y2 [px]
  double velocity[2];       // du, dv of the centre [px/s]
  std::int32_t hits;
  std::int32_t misses;
  double score_sum;         // sum of the scores of its hits
  std::int32_t detection;   // detection index in its camera's latest frame, or -1
  std::int32_t class_id;    // class of its latest hit (class_id, else argmax of class_scores), -1
};

// One field of a record as numpy sees it: name, scalar format ("i8", "f8", "u1", "i4"), shape
// (empty for a scalar) and byte offset. The binding builds the structured dtype from these.
struct RecordField {
  std::string name;
  std::string format;
  std::vector<Index> shape;
  std::size_t offset;
};

// The type-erased engine (one per motion model behind it). Not thread-safe: the binding
// serialises calls with a FairMutex.
class EngineBase {
 public:
  virtual ~EngineBase() = default;

  // Processes one sensor frame (see the header comment). Throws, before changing anything:
  // ConfigurationError (unknown sensor), ShapeError (n > max_detections), NumericalError
  // (non-finite z/R/score/class_scores, R not SPD, camera box with x2 < x1 or y2 < y1),
  // ShapeError (class id out of range), each naming the detection index, sensor and field
  // (unless bad_detection = skip), NumericalError (a detection that the frame's ego pose places
  // beyond 1e100 m (lidar box) or at a non-finite position in the tracking frame, same policy;
  // an ego pose or motion that puts the sensor at a non-finite position or velocity),
  // TimestampError (late frame, late_policy = raise).
  virtual void process(const Frame& frame) = 0;

  // Writes the records of the live tracks (and of the tracks deleted in the latest frame if
  // include_deleted) in id order into out[0 .. max_records); returns how many. `out` points to
  // track_record_size()-byte records (TrackRecord<N>); box and velocity are filled.
  Index export_tracks(void* out, Index max_records, bool include_deleted) const {
    ExportOptions opt;
    opt.include_deleted = include_deleted;
    return export_tracks(out, max_records, opt);
  }
  // The same with ExportOptions (prediction to a time, vehicle-frame boxes; see there).
  // Allocation-free.
  virtual Index export_tracks(void* out, Index max_records, const ExportOptions& opt) const = 0;
  // The live tracks in id order, slim (TrackBrief, with `sensor`'s hits and detection), their
  // states into x (N doubles each) and covariances into P (N x N, row-major) when not null;
  // at most max_records. Returns how many. Allocates nothing.
  virtual Index export_briefs(TrackBrief* out, double* x, double* P, Index max_records, int sensor) const = 0;
  // Same for image tracks (live ones and those deleted in the latest frame), in id order.
  virtual Index export_image_tracks(ImageTrackRecord* out, Index max_records) const = 0;

  // The numpy layout of the track record: fields x f8[N], P f8[N, N], class_prob f8[C] and the
  // per-sensor arrays [S] in the spec's order, with the record's byte offsets.
  virtual std::vector<RecordField> track_record_fields() const = 0;
  virtual std::size_t track_record_size() const = 0;

  virtual EngineStats stats() const = 0;
  // The latest frame's association counters (see AssociationStats).
  virtual AssociationStats last_association() const = 0;
  // The latest frame's JPDA marginals (a JPDA sensor's frame; none otherwise), per track in
  // id order (the tracks that existed before the frame's births): its beta_0 first, then one
  // entry per in-gate detection. Writes min(n, capacity) into out; returns n.
  virtual Index association_probabilities(AssociationProbability* out, Index capacity) const = 0;
  virtual void reset() = 0;               // no tracks, no time, stats zero; ids keep counting
  virtual bool has_time() const = 0;
  virtual TimeNs time_ns() const = 0;     // latest processed frame time (valid if has_time())
  virtual Index num_tracks() const = 0;   // live 3D tracks
  virtual Index num_image_tracks() const = 0;  // live image tracks
  virtual int state_dim() const = 0;      // N
  virtual const EngineConfig& config() const = 0;
  const std::string& motion() const { return config().motion; }
  int num_sensors() const { return static_cast<int>(config().sensors.size()); }
  // Index of a sensor by name, -1 if none.
  int sensor_index(const std::string& name) const;
  // M of sensor k's model.
  virtual int measurement_dim(int sensor) const = 0;

  // The id the next 3D track or image track takes (ids are >= 1 and never reused by this
  // engine). set_next_id: for owners that share one id space between engines (then the
  // uniqueness across them is the owner's business); ConfigurationError unless id >= 1 and
  // above every 3D track id the engine holds.
  virtual std::int64_t next_id() const = 0;
  virtual void set_next_id(std::int64_t id) = 0;

  // Deferred births (Frame::defer_births) of the latest processed frame: the candidates in
  // detection order (unassigned, score >= birth_score_threshold, a sensor with births and an
  // inverse). pending_birth_detection(i): the candidate's detection index in that frame.
  // commit_birth(i) starts candidate i as step 5 would have (id next_id(); birth time, class
  // and score from the frame), at most once per candidate; returns false if the table is full
  // (counted in insert_failures) or i was already committed. std::out_of_range for a bad i.
  // The list is cleared by the next process() or reset(). Allocation-free.
  virtual Index num_pending_births() const = 0;
  virtual Index pending_birth_detection(Index i) const = 0;
  virtual bool commit_birth(Index i) = 0;
  // Frees the table slots of the 3D tracks deleted in the latest frame now instead of at the
  // start of the next frame (they are then no longer reported with include_deleted): for an
  // owner that commits deferred births into a full table.
  virtual void release_deleted() = 0;

  // This engine takes `other`'s whole state (3D and image tracks, ids, time, statistics,
  // pending births): for copies of an engine (the Tracker preset's copy()). Both must be built
  // from equal configurations: ConfigurationError for another motion model or other
  // capacities / sensor or class counts. Allocation-free (the capacities are equal).
  virtual void copy_state_from(const EngineBase& other) = 0;
};

// The engine for config.motion (a motion registry key). Throws ConfigurationError for an
// invalid configuration (unknown keys list the known ones).
std::unique_ptr<EngineBase> make_engine(const EngineConfig& config);

// The image-track record's numpy layout.
std::vector<RecordField> image_track_record_fields();

}  // namespace fusion::engine
