// Track-to-track fusion: track lists from several sources (a smart radar's or a camera's
// object list, a roadside unit's list, the vehicle's own engine tracks) fused into one list
// of fused tracks with covariance intersection (covariance_intersection.hpp).
//
// State. Every track is a 2D constant-velocity point, x = (x, y, vx, vy) [m, m/s], with a
// 4 x 4 covariance. Source states are in the source's own frame with OVER-GROUND velocity
// expressed in that frame's axes (a vehicle frame's relative velocity must be converted by
// the caller: add the vehicle's own velocity). The fusion frame is the fuser's single fixed
// frame (a world or odometry frame); a source's pose is the 2D rigid transform from its frame
// to the fusion frame, p_f = R(yaw) p_s + (x, y), v_f = R(yaw) v_s: static in the source's
// configuration (a roadside unit) or given per update (a moving vehicle's pose at the list's
// time). Prediction: constant velocity with white-acceleration noise of spectral density
// accel_std^2 per axis (|dt| is used, so a track stamped after the fusion time is predicted
// back to it with the same added noise as forwards).
//
// Time. update(source, t_ns, list) is the source's complete current track list, stamped
// t_ns by the source (each track may carry an older time of its own, e.g. a coasted track).
// The list reaches the fuser source.latency_s later: the fusion time of the update is
// t_ns + latency. The fuser's time is the latest fusion time so far. A list whose fusion time
// is older than the fuser's time is fused at the fuser's time (its tracks predicted forward;
// counted in late_lists) when it is at most max_delay_s older, and dropped otherwise
// (counted in dropped_lists; nothing changes).
//
// Association. A source track keeps the fused track its id fed while the id stays
// consistent: its Mahalanobis distance (state difference, covariance P_new + P_old, 4 dof) to
// that id's previous estimate, predicted to the fusion time, is at most `gate` (a jump means
// the source re-used the id for another object). The test is against the source's own
// previous estimate, not the fused one, which other sources may have pulled aside: otherwise
// a lagging source would break a good link and the other source would start a duplicate.
// A source configured without births (it only feeds tracks others start) must in addition
// stay within `gate` of the fused track: a wrong link of such an auxiliary source breaks.
// Source tracks without such a link are assigned to the remaining fused tracks (those this
// source does not feed in this update) by a gated minimum-cost assignment on the squared
// distance to the fused track (P_source + P_fused); the rest start new fused
// tracks (unless the source is configured with births = false: a source that may confirm and
// refine fused tracks but not start them). A source id that disappears from its source's list loses its link. So when a
// source re-numbers a track (its id changes, or jumps), the new id is gated onto the fused
// track the old id fed: the fused id stays (counted in id_changes).
//
// Fusion. Each fused track keeps the latest estimate of each source that feeds it (in the
// fusion frame). After an update, every fused track this update touched is the covariance
// intersection of its sources' latest estimates, each predicted to the fusion time (a
// source that has not reported for a while has grown its covariance and weighs less). No
// fused estimate is fed back into itself: correlated or repeated inputs are never counted
// twice. Fused tracks not touched are predicted.
//
// Management. A fused track is confirmed after confirm_updates source updates; it is
// deleted as soon as no source reports it any more (the last source that fed it dropped the
// id from its complete list, and no new id took the track over in the same list), or when no
// source has fed it for delete_after_s (its sources fell silent). Sources without births only
// refine: a track that only they still report is deleted too. A source's estimate in a fused
// track is dropped when that source has not confirmed it for delete_after_s. Fused ids
// start at 1 and are never reused.
//
// Merging. Two fused tracks can describe one object: a lagging source's track fails the gate
// against another source's fused track in their first lists and starts a second one. After
// each update, every fused track the update touched looks for its best partner: the alive
// fused track nearest to it (squared Mahalanobis distance of the two fused states, P_a + P_b,
// 4 dof) within `gate` that is fed by none of its sources (their source masks are disjoint:
// a source feeds at most one of the two, so a source's own two tracks - two objects by the
// source's own word - never merge). When the same partner is found in merge_after
// consecutive updates of the track (an update without a partner, or with another one, starts
// the count again; updates that touch neither track leave it), the two are merged: the older
// fused id (earlier birth) survives, the younger's source estimates move into the survivor's
// empty slots, and the survivor's state is the covariance intersection of all these source
// estimates at the fusion time (the fused states themselves when neither has an estimate);
// the younger id is retired (never reused) and counted in merges (not in deletions).
// merge_after = 0 disables merging.
//
// Bad input (checked before anything changes; a failed update changes nothing):
// an unknown source index or a list longer than max_source_tracks -> ConfigurationError /
// ShapeError; a non-finite time, state or covariance, or a covariance that is not symmetric
// positive definite -> NumericalError naming the source, the track id and the field;
// an id repeated within one list -> TrackListError naming the source and the id; a
// non-finite pose -> NumericalError naming the source.
//
// Memory. Every buffer is sized by the constructor (capacities in FuserConfig); update()
// and the accessors do not allocate (tested with the allocation counter).
//
// Thread safety: none inside; the Python binding serialises every call with a FairMutex.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fusion/assoc/linear_assignment.hpp"
#include "fusion/core/types.hpp"
#include "fusion/t2t/covariance_intersection.hpp"

namespace fusion::t2t {

inline constexpr int kDim = 4;  // x, y, vx, vy
using State = Vec<kDim>;
using Cov = Mat<kDim, kDim>;

// A source track list's id repeats within one list (the binding maps it to
// fusion.errors.TrackListError).
struct TrackListError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// The rigid transform from a source's frame to the fusion frame.
struct Pose2D {
  double x = 0.0, y = 0.0, yaw = 0.0;
};

struct SourceConfig {
  std::string name;         // used in error messages and stats
  double latency_s = 0.0;   // list stamp -> arrival at the fuser
  Pose2D pose;              // default pose (static mounting); update() may give its own
  bool births = true;       // false: this source's tracks feed existing fused tracks only
};

struct FuserConfig {
  std::vector<SourceConfig> sources;
  Index max_fused_tracks = 512;
  Index max_source_tracks = 256;  // per list
  double accel_std = 2.0;         // white-acceleration noise [m/s^2]
  double gate = 18.47;            // squared Mahalanobis distance, 4 dof (chi2 0.999)
  CiCriterion criterion = CiCriterion::Trace;
  int confirm_updates = 2;
  double delete_after_s = 1.0;
  double max_delay_s = 0.5;       // a list older than the fuser's time by more is dropped
  int merge_after = 2;            // consecutive agreeing updates before two fused tracks merge (0: never)

  void validate() const;  // ConfigurationError naming the field
};

// One track of a source's list (source frame).
struct SourceTrack {
  std::int64_t id = 0;
  TimeNs t_ns = 0;
  double x[kDim] = {};
  double P[kDim * kDim] = {};  // row-major
};

// One fused track (fusion frame), as exported.
struct FusedTrack {
  std::int64_t id = 0;
  TimeNs t_ns = 0;              // time of x and P (the fuser's time at the last update)
  double x[kDim] = {};
  double P[kDim * kDim] = {};
  TimeNs last_update_ns = 0;    // last time a source fed it
  std::uint64_t source_mask = 0;  // bit s: source s currently feeds it
  std::int32_t updates = 0;     // source updates so far
  std::uint8_t confirmed = 0;
  std::uint8_t pad[3] = {};
};

struct FuserStats {
  std::int64_t updates = 0;        // lists fused
  std::int64_t late_lists = 0;     // lists fused after predicting to the fuser's time
  std::int64_t dropped_lists = 0;  // lists older than max_delay_s: dropped
  std::int64_t source_tracks = 0;  // source tracks fused
  std::int64_t births = 0;         // fused tracks started
  std::int64_t deletions = 0;      // fused tracks deleted
  std::int64_t id_changes = 0;     // a new source id took over a fused track whose link was lost
                                   // (its id vanished from the list or failed the gate)
  std::int64_t gate_breaks = 0;    // a source id's link broken by the gate
  std::int64_t merges = 0;         // fused tracks merged into an older one (their ids retired)
};

class TrackFuser {
 public:
  explicit TrackFuser(FuserConfig cfg);

  const FuserConfig& config() const { return cfg_; }
  Index num_sources() const { return static_cast<Index>(cfg_.sources.size()); }

  // Fuses source `source`'s complete list tracks[0..n) stamped t_ns; `pose` (nullable) is the
  // source frame's pose for this list (default: the configured one). Returns false when the
  // list was dropped (older than max_delay_s), true otherwise. Throws (nothing changed) on bad input,
  // and on a covariance intersection that fails its factorisation (NumericalError; the fused
  // tracks, slots, statistics, time and ids are restored from a copy taken before the update).
  bool update(Index source, TimeNs t_ns, const SourceTrack* tracks, Index n, const Pose2D* pose = nullptr);

  // Copies the fused tracks (confirmed only, or all) into out[0..max_out), in id order of
  // birth; returns how many were written. With at_time, each is predicted to t_ns.
  Index tracks(FusedTrack* out, Index max_out, bool confirmed_only = false, bool at_time = false,
               TimeNs t_ns = 0) const;
  Index num_tracks(bool confirmed_only = false) const;

  // The fused id that source `source`'s track `source_id` feeds (0 if none).
  std::int64_t fused_id_of(Index source, std::int64_t source_id) const;

  bool has_time() const { return has_time_; }
  TimeNs time_ns() const { return time_ns_; }
  const FuserStats& stats() const { return stats_; }
  void reset();

 private:
  struct Slot {  // source s's latest estimate in fused track f (fusion frame)
    bool valid = false;
    std::int64_t id = 0;
    TimeNs t_ns = 0;
    State x = State::Zero();
    Cov P = Cov::Zero();
  };
  struct Track {
    bool alive = false;
    std::int64_t id = 0;
    TimeNs t_ns = 0;
    State x = State::Zero();
    Cov P = Cov::Zero();
    TimeNs last_update_ns = 0;
    std::int32_t updates = 0;
    bool confirmed = false;
    std::uint64_t birth_order = 0;
    std::int64_t merge_partner = 0;  // fused id of the partner agreeing in the last updates (0: none)
    std::int32_t merge_count = 0;    // consecutive updates of this track agreeing with merge_partner
  };

  void validate_list(Index source, TimeNs t_ns, const SourceTrack* tracks, Index n, const Pose2D* pose);
  bool update_unchecked(Index source, TimeNs t_ns, const SourceTrack* tracks, Index n, const Pose2D* pose);
  void predict(State& x, Cov& P, double dt) const;
  Slot& slot(Index f, Index s) { return slots_[static_cast<std::size_t>(f * num_sources() + s)]; }
  const Slot& slot(Index f, Index s) const { return slots_[static_cast<std::size_t>(f * num_sources() + s)]; }
  Index find_in_list(std::int64_t id) const;  // index into the current list, -1 if absent
  double distance2(const State& xa, const Cov& Pa, const State& xb, const Cov& Pb) const;
  void fuse_track(Index f);
  std::uint64_t source_mask(Index f) const;
  void merge_tracks();
  void merge_into(Index keep, Index gone);
  Index free_track() const;

  FuserConfig cfg_;
  std::vector<Track> tracks_;
  std::vector<Slot> slots_;
  FuserStats stats_;
  bool has_time_ = false;
  TimeNs time_ns_ = 0;
  std::int64_t next_id_ = 1;
  std::uint64_t next_birth_ = 0;

  // per-update scratch (sized once)
  std::vector<State> xs_;
  std::vector<Cov> Ps_;
  std::vector<std::pair<std::int64_t, Index>> sorted_ids_;
  Index list_n_ = 0;
  std::vector<Index> src_to_fused_;
  std::vector<std::uint8_t> claimed_, touched_, vanished_;
  std::vector<Index> free_rows_, free_cols_;
  std::vector<double> cost_;
  std::vector<Index> row_to_col_, col_to_row_;
  assoc::LinearAssignmentSolver solver_;
  CiSolver<Cov> ci_;
  std::vector<State> ci_x_;
  std::vector<Cov> ci_P_;
  std::vector<double> ci_w_;
  std::vector<std::uint64_t> masks_;  // merging: each fused track's source mask

  // All-or-nothing update: the state an update may change, copied before it and restored when
  // it throws (a covariance intersection whose factorisation fails half way). Sized at
  // construction: the copy allocates nothing (O(max_fused_tracks x sources) per update).
  std::vector<Track> undo_tracks_;
  std::vector<Slot> undo_slots_;
};

}  // namespace fusion::t2t
