// The layer of the fusion engine that owns TIME (issue 8 §1 "Time" and "Ego motion"; contract
// C2 of the session plan): make_engine() returns an OosmEngine wrapped around the motion
// model's Engine<Motion>. It adds
//   (a) out-of-sequence measurements: a frame older than the engine's latest time by at most
//       EngineConfig::oosm_horizon_s is fused by RE-PROCESSING from a bounded history;
//   (b) the odometry (engine/odometry.hpp): add_ego_motion(t, speed, yaw rate) samples,
//       integrated into the vehicle pose that the layer writes into a frame's ego fields when
//       the caller did not set them;
//   (c) output at a requested publish time, in the odometry or the vehicle frame.
//
// ---- Re-processing (oosm_horizon_s > 0) -------------------------------------------------------
// History: the recently fused frames in time order, each with a copy of its detection arrays
// (buffers sized from max_detections, the largest sensor M and num_classes) and a SNAPSHOT of
// the engine state just before it (another Engine<Motion> of the same configuration, filled by
// EngineBase::copy_state_from: allocation-free between equal configurations). At most
// oosm_max_frames frames are kept (default 32; about 0.3 s of a 10 Hz lidar, a 20 Hz radar and a
// 30 Hz camera is 18). Frames no newer than (latest time - horizon) leave the history; when it
// is full the oldest leaves early.
//
// A frame at t < latest time ("late"):
//   - if latest - t <= horizon and every frame newer than t is still in the history: restore
//     the snapshot before the first frame with time > t into a spare engine, process the late
//     frame there, re-process the newer frames in time order (taking their new snapshots), and
//     make that engine the live one. The result is the one of processing every frame in
//     FUSION ORDER: time, then sensor index (frames of one sensor and one time: in arrival
//     order). So a frame AT the latest time from a sensor of lower index than one already
//     fused at that time is re-processed too (when its place is still in the history;
//     otherwise it is fused in sequence), and the tracks do not depend on the arrival order.
//     Counted in stats().reprocessed_frames (and in frames, detections, ... as any fused frame).
//     If the late frame is invalid, the error is thrown and nothing changes.
//   - otherwise (beyond the horizon, or older than the history reaches: a full history, a frame
//     with defer_births, a reset): late_policy as without this layer: "drop" counts it in
//     late_frames / late_detections, "raise" throws TimestampError; nothing else changes.
// Cost: each in-order frame costs one state copy (the snapshot); a late frame costs the
// re-processing of the newer frames. Memory: one engine per kept frame plus one spare.
//
// Track ids under re-processing: the snapshot holds the id counter, so the ids after
// re-processing are those of the time-ordered run. A track born after the late frame's time
// may therefore get a different id than the one already published, and a published id of such
// a track may be given to another track (when the late frame changed which detections start
// tracks). Tracks born before the late frame's time keep their ids. Ids are unique at any
// one time; "never reused" holds for tracks born before any late frame they could be
// affected by. Seen from the outputs: every late frame fused after an output at engine time T
// has t >= T - horizon, so an id last shown at T for a track born at b is next shown either for
// that track or for one born at b' with b, b' >= T - horizon; T is the last output that SHOWED
// the id, not the previous output (a re-processing can give the id to a track that a later
// frame deletes before any output shows it, and a later late frame revive that track with the
// id: tests/soak/test_soak_ids.py, found by the one-hour drive soak).
//
// Deferred births (Frame::defer_births, the Tracker and PointTracker presets): the owner's
// commit_birth() choices cannot be replayed, so such a frame bypasses the history: it is
// processed directly and ends the history (a later frame older than it follows late_policy).
// Likewise set_next_id(), commit_birth() and release_deleted() end the history. The presets
// therefore never allocate history engines (they are allocated on first use).
//
// ---- Ego motion -------------------------------------------------------------------------------
// add_ego_motion(t, v, w) feeds the odometry (errors: NumericalError for NaN, TimestampError for
// a sample older than the newest; see odometry.hpp). A frame whose has_ego is false, processed
// after at least one sample, gets has_ego = true and the odometry's pose and motion at its time
// (TimestampError, nothing changed, if its time is more than ego_max_extrapolation_s outside the
// samples). The tracks then live in the odometry frame. A frame kept in the history keeps the
// ego values it was first fused with (re-processing is deterministic; a frame fused with an
// extrapolated pose is not corrected by later samples). reset() clears the odometry.
//
// Allocation: after a warm-up in which the history reaches its working size (and one late
// frame was fused), process(), add_ego_motion() and the exports allocate nothing
// (csrc/tests/test_oosm.cpp counts operator new). Not thread-safe (the binding serialises calls).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "fusion/engine/config.hpp"
#include "fusion/engine/engine.hpp"
#include "fusion/engine/odometry.hpp"

namespace fusion::engine {

class OosmEngine final : public EngineBase {
 public:
  using Builder = std::unique_ptr<EngineBase> (*)(const EngineConfig&);

  // `make` builds the motion model's engine (the registry builder); it is called for the live
  // engine now and for the history's engines on first use. ConfigurationError for an invalid
  // oosm_horizon_s, oosm_max_frames, ego_max_gap_s or ego_max_extrapolation_s.
  OosmEngine(const EngineConfig& config, Builder make);
  ~OosmEngine() override;

  // ---- EngineBase
  void process(const Frame& frame) override;
  using EngineBase::export_tracks;  // the 3-argument overload
  Index export_tracks(void* out, Index max_records, const ExportOptions& opt) const override;
  Index export_briefs(TrackBrief* out, double* x, double* P, Index max_records, int sensor) const override;
  Index export_image_tracks(ImageTrackRecord* out, Index max_records) const override;
  std::vector<RecordField> track_record_fields() const override;
  std::size_t track_record_size() const override;
  EngineStats stats() const override;
  AssociationStats last_association() const override;
  Index association_probabilities(AssociationProbability* out, Index capacity) const override;
  void reset() override;  // also clears the history and the odometry
  bool has_time() const override;
  TimeNs time_ns() const override;
  Index num_tracks() const override;
  Index num_image_tracks() const override;
  int state_dim() const override;
  const EngineConfig& config() const override { return cfg_; }
  int measurement_dim(int sensor) const override;
  std::int64_t next_id() const override;
  void set_next_id(std::int64_t id) override;  // ends the history
  Index num_pending_births() const override;
  Index pending_birth_detection(Index i) const override;
  bool commit_birth(Index i) override;  // ends the history
  void release_deleted() override;      // ends the history
  // Takes other's whole state: engine, history (frames and snapshots) and odometry. `other`
  // must be an OosmEngine of an equal configuration (ConfigurationError otherwise).
  // Allocation-free when this engine's history pool is at least as large as other's.
  void copy_state_from(const EngineBase& other) override;

  // ---- time layer
  // One ego-motion sample (odometry.hpp). A failed call changes nothing.
  void add_ego_motion(TimeNs t_ns, double speed_mps, double yaw_rate_rps);
  // n samples at once, all checked first (finite, in time order, not older than the newest
  // sample; errors name the index): a failed call adds none.
  void add_ego_motion(const TimeNs* t_ns, const double* speed_mps, const double* yaw_rate_rps, Index n);
  const Odometry& odometry() const { return odo_; }
  // The odometry's pose at t (TimestampError when not covered or no sample was given).
  EgoPose ego_pose_at(TimeNs t_ns) const { return odo_.pose_at(t_ns); }
  // Publish time: the tracks predicted to t_ns (no state change; a track newer than t_ns is
  // reported as is), with box and velocity in the odometry frame or, with vehicle_frame, in the
  // vehicle frame of the odometry's pose at t_ns (the identity before any ego sample: then the
  // tracking frame is the vehicle frame). x and P stay in the tracking frame. TimestampError
  // when vehicle_frame and the odometry does not cover t_ns.
  Index export_tracks_at(void* out, Index max_records, bool include_deleted, TimeNs t_ns, bool vehicle_frame) const;
  ExportOptions at_options(bool include_deleted, TimeNs t_ns, bool vehicle_frame) const;
  // Fixed-lag output: the tracks as they were after fusing exactly the frames stamped up to
  // t_ns (the snapshot before the history's first frame newer than t_ns; the live state when
  // no fused frame is newer), predicted to t_ns, in the same frames as export_tracks_at. A
  // frame that arrives late but within the horizon is in that state as if it had come in
  // time, so once every frame up to t_ns has arrived the result is that of the in-order run,
  // whatever the arrival order. TimestampError when a frame newer than t_ns has left the
  // history (t_ns older than the history reaches: horizon, oosm_max_frames, or a reset /
  // deferred-birth frame since) and, with vehicle_frame, when the odometry does not cover
  // t_ns. No state change, no allocation.
  Index export_tracks_filtered_at(void* out, Index max_records, bool include_deleted, TimeNs t_ns,
                                  bool vehicle_frame) const;
  // The image tracks of the same state (after exactly the frames stamped up to t_ns; image
  // tracks are not predicted). TimestampError as export_tracks_filtered_at.
  Index export_image_tracks_filtered_at(ImageTrackRecord* out, Index max_records, TimeNs t_ns) const;
  // Frames in the history now, and engines allocated for it so far (snapshots + spare).
  Index history_size() const { return static_cast<Index>(order_.size()); }
  Index history_engines() const;
  // The inner Engine<Motion> (for tests and owners that need its concrete type).
  const EngineBase& live() const { return *live_; }

 private:
  struct Slot;
  Slot* acquire_slot();               // a free slot, a new one (allocates) or nullptr when full
  void release_slot(Slot* s);
  void evict_front();                 // the oldest history frame leaves (t_floor_ follows)
  void evict_expired();               // frames no newer than latest - horizon leave
  void clear_history();
  void copy_frame(const Frame& f, Slot& s) const;
  bool preflight_ok(const Frame& f) const;  // sensor, n and z pointer valid (copyable)
  void forward(const Frame& f);       // straight to the live engine (late counted here)
  void fuse_late(const Frame& f, Index first_newer);
  Index insertion_index(const Frame& f) const;  // the first history frame after f in fusion order
  bool tie_late(const Frame& f) const;          // f has the latest time and a sensor fused after it
  void fill_ego(Frame& f) const;      // the odometry pose into a frame without ego fields
  [[noreturn]] void raise_late(const Frame& f, const char* why) const;
  // The engine state after exactly the frames stamped up to t_ns (the live engine or a
  // history snapshot); TimestampError when the history no longer reaches t_ns.
  const EngineBase& state_at(TimeNs t_ns) const;

  EngineConfig cfg_;
  Builder make_;
  TimeNs horizon_ns_ = 0;
  Index max_frames_ = 0;
  int max_m_ = 0;
  // Fixed by the configuration. Kept here, not read through live_: the binding reads state_dim
  // without the engine's mutex (it never changes), while a late frame swaps live_ and spare_
  // under it (a data race ThreadSanitizer found: csrc/tests/test_threads_tsan.cpp).
  int state_dim_ = 0;
  std::unique_ptr<EngineBase> live_;
  std::unique_ptr<EngineBase> spare_;           // the engine a late frame is re-processed in
  std::vector<std::unique_ptr<Slot>> slots_;    // every slot ever allocated (<= max_frames_)
  std::vector<Slot*> order_;                    // the history, oldest first
  std::vector<Slot*> free_;
  // Frames at or before t_floor_ are no longer in the history: a late frame older than it
  // cannot be re-processed. INT64_MIN: nothing left yet.
  TimeNs t_floor_;
  std::int64_t late_frames_ = 0, late_detections_ = 0, reprocessed_frames_ = 0;
  Odometry odo_;
};

// make_engine()'s wrapping of a registry builder: an OosmEngine over make(config).
std::unique_ptr<EngineBase> make_time_layer(const EngineConfig& config, OosmEngine::Builder make);

}  // namespace fusion::engine
