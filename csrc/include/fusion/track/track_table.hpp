// TrackTable<Motion>: the fixed-capacity storage of a tracker's tracks, shared by every
// tracker (design review §3.2 obstacles 6, 9, 11; §3.5 track/track_table.hpp).
//
// Storage is structure-of-arrays, sized once at construction for `capacity` tracks, C classes
// and S sensors; nothing allocates afterwards (insert, remove, compact, the accessors and
// record() are all allocation-free; tested with the allocation counter).
//
// Per track (a "slot"):
//   id             int64, monotonic from 1, never reused (not even after clear())
//   x, P           state (N) and covariance (N x N, row-major), at time t_ns
//   t_ns           time of the estimate (x, P)
//   status         TrackStatus (record.hpp)
//   existence      existence probability in [0, 1], valid at existence_t_ns
//   class_prob     C class probabilities (uniform at birth unless given)
//   evidence       per sensor: the last-update time and the hit/miss history of the sensor
//                  frames in which the track was inside that sensor's field of view
//   window         the combined confirmation window: the hit/miss history over the in-FOV
//                  frames of all sensors that count for confirmation, in arrival order
//   birth sensor   and birth time
//   confirmed_ever whether the track has ever been confirmed (set by set_status)
//   aux            ImmTraits<Motion>::kAuxDoubles doubles a motion model keeps per track
//                  (an IMM motion, motion/imm_motion.hpp: each mode's x, P, the mode
//                  probabilities mu and the modes' last log-likelihoods; 0 for the others).
//                  Written by the model at birth, zeroed by clear(), copied with the table.
//   llr            the sequential log-likelihood-ratio score (lifecycle existence_model "llr")
//   frames_since_birth  frames the owner processed after the birth frame (tick_frame())
//   consecutive_misses  in-FOV misses since the last hit, over the frames recorded with
//                  counts_for_coast (a hit of such a frame resets it to 0)
//
// Slots and order. insert() takes the lowest free slot (the free list is a stack that starts
// 0, 1, 2, ...; freed slots are reused most recent first). slots() lists the occupied slots in
// ascending id order (= insertion order), which is the deterministic iteration order of every
// tracker. remove() only marks a track kDeleted, so that the engine can still report it in the
// cycle it died; compact() then frees the deleted slots (keeping the order of the others).
// Between the two a deleted track is still in slots() (for_each_live() skips it).
//
// Capacity. insert() on a full table (every slot occupied, including deleted tracks not yet
// compacted) returns kNoSlot and counts the failure in insert_failures(): a counted, lenient
// event, never undefined behaviour (design review §3.3).
//
// Slot arguments of the accessors are checked only by assert (they are on the hot path);
// remove() and record() check and throw std::out_of_range for a slot that holds no track.
#pragma once
#include <algorithm>
#include <cassert>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "fusion/core/errors.hpp"
#include "fusion/core/linalg.hpp"
#include "fusion/core/types.hpp"
#include "fusion/motion/imm_traits.hpp"
#include "fusion/track/record.hpp"

namespace fusion::track {

inline constexpr Index kNoSlot = -1;

// Longest hit/miss history kept (bits of a uint64): the N of an M-of-N rule is at most this.
inline constexpr int kMaxHistory = 64;

// A hit/miss history of the most recent frames: bit 0 is the latest, 1 = hit; plus the totals
// since the history began (the "M hits ever" and "M within the first N" rules of lifecycle.hpp).
struct HitHistory {
  std::uint64_t bits = 0;
  std::int32_t frames = 0;        // frames recorded, saturating at kMaxHistory
  std::int32_t total_frames = 0;  // frames recorded, not saturating (int32: 6.8 years at 10 Hz)
  std::int32_t total_hits = 0;    // hits recorded, not saturating

  void push(bool hit) {
    bits = (bits << 1) | (hit ? std::uint64_t{1} : std::uint64_t{0});
    if (frames < kMaxHistory) ++frames;
    if (total_frames < std::numeric_limits<std::int32_t>::max()) ++total_frames;
    if (hit && total_hits < std::numeric_limits<std::int32_t>::max()) ++total_hits;
  }
  // Hits among the last n recorded frames (n in [0, kMaxHistory]).
  int hits_in_last(int n) const {
    const std::uint64_t mask =
        n >= kMaxHistory ? ~std::uint64_t{0} : ((std::uint64_t{1} << static_cast<unsigned>(n)) - 1u);
    std::uint64_t b = bits & mask;
    int c = 0;
    for (; b != 0; b &= b - 1) ++c;
    return c;
  }
};

// What one sensor has said about one track.
struct SensorEvidence {
  HitHistory history;                 // in-FOV frames of this sensor only
  std::int64_t hits = 0;              // totals over the track's life
  std::int64_t misses = 0;            // in-FOV misses only
  TimeNs last_update_ns = kNeverNs;   // last hit
  TimeNs last_frame_ns = kNeverNs;    // last in-FOV frame, hit or miss
  double score_sum = 0.0;             // sum of the detection scores of the hits (the engine's)
  std::int32_t detection = -1;        // detection index in this sensor's latest frame, or -1
};

// A read-only view of slot indices.
struct SlotSpan {
  const Index* data = nullptr;
  Index count = 0;
  const Index* begin() const { return data; }
  const Index* end() const { return data + count; }
  Index size() const { return count; }
  Index operator[](Index i) const { return data[i]; }
};

template <class Motion>
class TrackTable {
 public:
  static constexpr int N = Motion::N;
  static constexpr int kAux = ImmTraits<Motion>::kAuxDoubles;
  using StateMap = Eigen::Map<Vec<N>>;
  using ConstStateMap = Eigen::Map<const Vec<N>>;
  using CovMap = Eigen::Map<Mat<N, N>>;
  using ConstCovMap = Eigen::Map<const Mat<N, N>>;
  using ProbMap = Eigen::Map<VecX>;
  using ConstProbMap = Eigen::Map<const VecX>;

  // Throws ConfigurationError unless capacity >= 1, 0 <= num_classes <= kMaxRecordClasses and
  // 1 <= num_sensors <= kMaxRecordSensors.
  TrackTable(Index capacity, int num_classes, int num_sensors)
      : capacity_(capacity), C_(num_classes), S_(num_sensors) {
    if (capacity < 1)
      throw ConfigurationError("TrackTable: capacity must be >= 1, got " + std::to_string(capacity));
    if (num_classes < 0 || num_classes > kMaxRecordClasses)
      throw ConfigurationError("TrackTable: num_classes must be in [0, " +
                               std::to_string(kMaxRecordClasses) + "], got " +
                               std::to_string(num_classes));
    if (num_sensors < 1 || num_sensors > kMaxRecordSensors)
      throw ConfigurationError("TrackTable: num_sensors must be in [1, " +
                               std::to_string(kMaxRecordSensors) + "], got " +
                               std::to_string(num_sensors));
    const auto K = static_cast<std::size_t>(capacity);
    id_.assign(K, 0);
    t_ns_.assign(K, 0);
    existence_t_ns_.assign(K, 0);
    birth_t_ns_.assign(K, 0);
    last_update_any_ns_.assign(K, kNeverNs);
    status_.assign(K, TrackStatus::kDeleted);
    occupied_.assign(K, 0);
    birth_sensor_.assign(K, -1);
    existence_.assign(K, 0.0);
    x_.assign(K * N, 0.0);
    P_.assign(K * N * N, 0.0);
    class_prob_.assign(K * static_cast<std::size_t>(C_), 0.0);
    evidence_.assign(K * static_cast<std::size_t>(S_), SensorEvidence{});
    window_.assign(K, HitHistory{});
    confirmed_ever_.assign(K, 0);
    llr_.assign(K, 0.0);
    frames_since_birth_.assign(K, 0);
    consecutive_misses_.assign(K, 0);
    aux_.assign(K * static_cast<std::size_t>(kAux), 0.0);
    order_.reserve(K);
    free_.reserve(K);
    for (Index s = capacity - 1; s >= 0; --s) free_.push_back(s);
  }

  Index capacity() const { return capacity_; }
  int num_classes() const { return C_; }
  int num_sensors() const { return S_; }
  Index size() const { return static_cast<Index>(order_.size()); }  // occupied, incl. deleted
  Index num_live() const { return size() - num_deleted_; }
  bool full() const { return free_.empty(); }
  std::int64_t insert_failures() const { return insert_failures_; }
  std::int64_t next_id() const { return next_id_; }

  // Takes the next id from the table's id space without inserting a track: for objects that
  // share the id space (the engine's image tracks). Ids are never reused.
  std::int64_t allocate_id() { return next_id_++; }

  // Sets the id the next insert() / allocate_id() takes: >= 1 and above every id the table
  // holds (it keeps its tracks in id order by appending), ConfigurationError otherwise. For
  // owners that share one id space between several tables (the Tracker preset's per-class
  // engines): the uniqueness of the ids across tables is then the caller's business.
  void set_next_id(std::int64_t id) {
    const std::int64_t held = order_.empty() ? 0 : id_[static_cast<std::size_t>(order_.back())];
    if (id < 1 || id <= held)
      throw ConfigurationError("TrackTable::set_next_id: id must be >= 1 and above the largest id held (" +
                               std::to_string(held) + "), got " + std::to_string(id));
    next_id_ = id;
  }

  // Inserts a track born from `birth_sensor`'s detection at t_ns. The birth detection counts
  // as that sensor's first hit (evidence, last update, the confirmation window if
  // `birth_counts_for_window`). class_prob: C values >= 0 with a positive sum (normalised
  // here), or nullptr for uniform. Returns the slot, or kNoSlot (counted) if the table is
  // full. Throws on invalid arguments: ConfigurationError (sensor index, existence),
  // NumericalError (non-finite x or P, invalid class probabilities).
  // `birth_counts_for_coast`: the birth detection sets the last update from any sensor (the
  // coast timer of lifecycle.hpp).
  Index insert(const Vec<N>& x, const Mat<N, N>& P, TimeNs t_ns, int birth_sensor,
               double existence, const double* class_prob = nullptr,
               bool birth_counts_for_window = true, bool birth_counts_for_coast = true) {
    check_sensor(birth_sensor, "TrackTable::insert");
    if (!(existence >= 0.0 && existence <= 1.0))
      throw ConfigurationError("TrackTable::insert: existence must be in [0, 1], got " +
                               std::to_string(existence));
    if (!all_finite(x) || !all_finite(P))
      throw NumericalError("TrackTable::insert: x and P must be finite");
    double class_sum = 0.0;
    if (class_prob != nullptr) {
      for (int c = 0; c < C_; ++c) {
        if (!(class_prob[c] >= 0.0 && std::isfinite(class_prob[c])))
          throw NumericalError("TrackTable::insert: class_prob[" + std::to_string(c) +
                               "] must be finite and >= 0");
        class_sum += class_prob[c];
      }
      if (C_ > 0 && !(class_sum > 0.0))
        throw NumericalError("TrackTable::insert: class_prob must have a positive sum");
    }
    if (free_.empty()) {
      ++insert_failures_;
      return kNoSlot;
    }
    const Index s = free_.back();
    free_.pop_back();
    const auto u = static_cast<std::size_t>(s);
    occupied_[u] = 1;
    id_[u] = next_id_++;
    t_ns_[u] = t_ns;
    existence_t_ns_[u] = t_ns;
    birth_t_ns_[u] = t_ns;
    status_[u] = TrackStatus::kTentative;
    birth_sensor_[u] = birth_sensor;
    existence_[u] = existence;
    this->x(s) = x;
    this->P(s) = P;
    double* cp = class_prob_.data() + u * static_cast<std::size_t>(C_);
    for (int c = 0; c < C_; ++c)
      cp[c] = class_prob != nullptr ? class_prob[c] / class_sum : 1.0 / C_;
    for (int k = 0; k < S_; ++k) evidence(s, k) = SensorEvidence{};
    window_[u] = HitHistory{};
    last_update_any_ns_[u] = kNeverNs;
    confirmed_ever_[u] = 0;
    llr_[u] = 0.0;
    frames_since_birth_[u] = 0;
    consecutive_misses_[u] = 0;
    record_frame(s, birth_sensor, t_ns, true, birth_counts_for_window, birth_counts_for_coast);
    order_.push_back(s);  // ids increase, so appending keeps the order by id
    return s;
  }

  // Gives the track in `slot` the id `new_id` (the engine's identity handover: a 3D track
  // continues an image track), moving the slot within slots() so that the order stays by id.
  // new_id must be in [1, next_id()) and held by no other occupied slot (ConfigurationError);
  // its uniqueness against ids held OUTSIDE the table is the caller's business. Allocation-free
  // (the order vector is reserved to capacity).
  void set_id(Index slot, std::int64_t new_id) {
    check_occupied(slot, "TrackTable::set_id");
    if (new_id < 1 || new_id >= next_id_)
      throw ConfigurationError("TrackTable::set_id: id " + std::to_string(new_id) +
                               " was never allocated (next id " + std::to_string(next_id_) + ")");
    for (Index s : order_)
      if (s != slot && id_[static_cast<std::size_t>(s)] == new_id)
        throw ConfigurationError("TrackTable::set_id: id " + std::to_string(new_id) +
                                 " is held by slot " + std::to_string(s));
    order_.erase(std::find(order_.begin(), order_.end(), slot));
    id_[static_cast<std::size_t>(slot)] = new_id;
    const auto pos = std::lower_bound(order_.begin(), order_.end(), new_id, [&](Index a, std::int64_t id) {
      return id_[static_cast<std::size_t>(a)] < id;
    });
    order_.insert(pos, slot);  // within the reserved capacity: no allocation
  }

  // Marks the track deleted (it stays in slots() until compact()). Removing a deleted track
  // again is a no-op. Throws std::out_of_range if the slot holds no track.
  void remove(Index slot) {
    check_occupied(slot, "TrackTable::remove");
    const auto u = static_cast<std::size_t>(slot);
    if (status_[u] == TrackStatus::kDeleted) return;
    status_[u] = TrackStatus::kDeleted;
    ++num_deleted_;
  }

  // Frees the slots of deleted tracks; the other tracks keep their slots and order. Returns
  // the number of slots freed.
  Index compact() {
    if (num_deleted_ == 0) return 0;
    Index freed = 0;
    auto keep = order_.begin();
    for (auto it = order_.begin(); it != order_.end(); ++it) {
      const auto u = static_cast<std::size_t>(*it);
      if (status_[u] == TrackStatus::kDeleted) {
        occupied_[u] = 0;
        free_.push_back(*it);
        ++freed;
      } else {
        *keep++ = *it;
      }
    }
    order_.erase(keep, order_.end());  // shrinking a vector never allocates
    num_deleted_ = 0;
    return freed;
  }

  // Deletes and frees every track; ids keep counting (never reused).
  void clear() {
    for (Index s : order_) {
      status_[static_cast<std::size_t>(s)] = TrackStatus::kDeleted;
      occupied_[static_cast<std::size_t>(s)] = 0;
    }
    order_.clear();
    num_deleted_ = 0;
    std::fill(aux_.begin(), aux_.end(), 0.0);
    free_.clear();
    for (Index s = capacity_ - 1; s >= 0; --s) free_.push_back(s);
  }

  // Occupied slots in ascending id order, including deleted tracks not yet compacted.
  SlotSpan slots() const { return {order_.data(), static_cast<Index>(order_.size())}; }

  // fn(slot) for every track that is not deleted, in id order. fn must not insert or compact.
  template <class Fn>
  void for_each_live(Fn&& fn) const {
    for (Index s : order_)
      if (status_[static_cast<std::size_t>(s)] != TrackStatus::kDeleted) fn(s);
  }

  // The slot of a track id, or kNoSlot (a linear scan).
  Index find(std::int64_t track_id) const {
    for (Index s : order_)
      if (id_[static_cast<std::size_t>(s)] == track_id) return s;
    return kNoSlot;
  }

  bool occupied(Index slot) const {
    return slot >= 0 && slot < capacity_ && occupied_[static_cast<std::size_t>(slot)] != 0;
  }
  bool live(Index slot) const { return occupied(slot) && status(slot) != TrackStatus::kDeleted; }

  // ---- per-track accessors (slot checked by assert only) ----
  std::int64_t id(Index slot) const { return id_[at(slot)]; }
  TimeNs t_ns(Index slot) const { return t_ns_[at(slot)]; }
  void set_t_ns(Index slot, TimeNs t) { t_ns_[at(slot)] = t; }
  TrackStatus status(Index slot) const { return status_[at(slot)]; }
  // Use remove() to delete; this sets the other statuses (the lifecycle's job).
  void set_status(Index slot, TrackStatus s) {
    assert(s != TrackStatus::kDeleted && "use remove() to delete a track");
    if (s == TrackStatus::kDeleted) {
      remove(slot);
      return;
    }
    status_[at(slot)] = s;
    if (s == TrackStatus::kConfirmed) confirmed_ever_[at(slot)] = 1;
  }
  // Whether the track has ever been confirmed (coasting implies it was).
  bool confirmed_ever(Index slot) const { return confirmed_ever_[at(slot)] != 0; }
  double existence(Index slot) const { return existence_[at(slot)]; }
  TimeNs existence_t_ns(Index slot) const { return existence_t_ns_[at(slot)]; }
  // Sets the existence probability, valid at t_ns, clamped to [0, 1] (NaN becomes 0).
  void set_existence(Index slot, double r, TimeNs t) {
    existence_[at(slot)] = r >= 0.0 ? (r <= 1.0 ? r : 1.0) : 0.0;
    existence_t_ns_[at(slot)] = t;
  }
  int birth_sensor(Index slot) const { return birth_sensor_[at(slot)]; }
  TimeNs birth_t_ns(Index slot) const { return birth_t_ns_[at(slot)]; }
  // Latest hit from any sensor (the birth detection counts).
  TimeNs last_update_any_ns(Index slot) const { return last_update_any_ns_[at(slot)]; }
  double llr(Index slot) const { return llr_[at(slot)]; }
  void set_llr(Index slot, double llr) { llr_[at(slot)] = llr; }
  std::int32_t frames_since_birth(Index slot) const { return frames_since_birth_[at(slot)]; }
  std::int32_t consecutive_misses(Index slot) const { return consecutive_misses_[at(slot)]; }

  // One more frame for every live track (call once per processed frame, before its births).
  void tick_frame() {
    for (Index s : order_) {
      const auto u = static_cast<std::size_t>(s);
      if (status_[u] != TrackStatus::kDeleted && frames_since_birth_[u] < std::numeric_limits<std::int32_t>::max())
        ++frames_since_birth_[u];
    }
  }

  // The motion model's per-track storage (kAux doubles; an IMM's modes, see above).
  double* aux(Index slot) { return aux_.data() + at(slot) * static_cast<std::size_t>(kAux); }
  const double* aux(Index slot) const { return aux_.data() + at(slot) * static_cast<std::size_t>(kAux); }

  StateMap x(Index slot) { return StateMap(x_.data() + at(slot) * N); }
  ConstStateMap x(Index slot) const { return ConstStateMap(x_.data() + at(slot) * N); }
  CovMap P(Index slot) { return CovMap(P_.data() + at(slot) * N * N); }
  ConstCovMap P(Index slot) const { return ConstCovMap(P_.data() + at(slot) * N * N); }
  ProbMap class_prob(Index slot) {
    return ProbMap(class_prob_.data() + at(slot) * static_cast<std::size_t>(C_), C_);
  }
  ConstProbMap class_prob(Index slot) const {
    return ConstProbMap(class_prob_.data() + at(slot) * static_cast<std::size_t>(C_), C_);
  }
  // argmax of the class probabilities (the first on ties), -1 if there are no classes.
  int most_likely_class(Index slot) const {
    if (C_ == 0) return -1;
    const double* cp = class_prob_.data() + at(slot) * static_cast<std::size_t>(C_);
    int best = 0;
    for (int c = 1; c < C_; ++c)
      if (cp[c] > cp[best]) best = c;
    return best;
  }

  SensorEvidence& evidence(Index slot, int sensor) {
    assert(sensor >= 0 && sensor < S_);
    return evidence_[at(slot) * static_cast<std::size_t>(S_) + static_cast<std::size_t>(sensor)];
  }
  const SensorEvidence& evidence(Index slot, int sensor) const {
    assert(sensor >= 0 && sensor < S_);
    return evidence_[at(slot) * static_cast<std::size_t>(S_) + static_cast<std::size_t>(sensor)];
  }
  const HitHistory& window(Index slot) const { return window_[at(slot)]; }

  // Records one in-FOV sensor frame for the track: a hit (it was updated by a detection of
  // `sensor` at t_ns) or a miss. Frames outside the sensor's field of view are NOT recorded
  // (that is the caller's test, see lifecycle.hpp). `counts_for_window`: also push it into the
  // combined confirmation window. `counts_for_coast`: a hit also sets the last update from any
  // sensor (which the lifecycle's max coast time is measured from) and resets the consecutive
  // misses, and a miss increments them; a camera that does not update the state passes false,
  // so that it can neither keep a 3D track alive on its own nor count as its miss.
  void record_frame(Index slot, int sensor, TimeNs t, bool hit, bool counts_for_window,
                    bool counts_for_coast = true) {
    SensorEvidence& e = evidence(slot, sensor);
    e.history.push(hit);
    e.last_frame_ns = t;
    std::int32_t& run = consecutive_misses_[at(slot)];
    if (hit) {
      ++e.hits;
      if (e.last_update_ns == kNeverNs || t > e.last_update_ns) e.last_update_ns = t;
      TimeNs& any = last_update_any_ns_[at(slot)];
      if (counts_for_coast && (any == kNeverNs || t > any)) any = t;
      if (counts_for_coast) run = 0;
    } else {
      ++e.misses;
      if (counts_for_coast && run < std::numeric_limits<std::int32_t>::max()) ++run;
    }
    if (counts_for_window) window_[at(slot)].push(hit);
  }

  // ---- output ----
  // Fills `out` (every field; unused class and sensor entries zero / kNeverNs). Throws
  // std::out_of_range if the slot holds no track.
  void record(Index slot, TrackRecord<N>& out) const {
    check_occupied(slot, "TrackTable::record");
    const auto u = static_cast<std::size_t>(slot);
    out.id = id_[u];
    out.t_ns = t_ns_[u];
    out.birth_t_ns = birth_t_ns_[u];
    out.status = static_cast<std::int32_t>(status_[u]);
    out.class_id = most_likely_class(slot);
    out.birth_sensor = birth_sensor_[u];
    out.num_classes = C_;
    out.num_sensors = S_;
    out.confirmed_ever = confirmed_ever_[u];
    out.existence = existence_[u];
    out.llr = llr_[u];
    out.frames_since_birth = frames_since_birth_[u];
    out.consecutive_misses = consecutive_misses_[u];
    std::fill(out.box, out.box + 7, 0.0);
    std::fill(out.velocity, out.velocity + 3, 0.0);
    const double* xs = x_.data() + u * N;
    const double* Ps = P_.data() + u * N * N;
    std::copy(xs, xs + N, out.x);
    std::copy(Ps, Ps + N * N, out.P);
    constexpr int R = ImmTraits<Motion>::kModes;
    static_assert(R <= kMaxRecordModes, "an IMM motion with more modes than a TrackRecord holds");
    out.num_modes = R;
    for (int r = 0; r < kMaxRecordModes; ++r)
      out.mode_prob[r] = r < R ? aux_[u * static_cast<std::size_t>(kAux) + ImmTraits<Motion>::kMuOffset + r] : 0.0;
    const double* cp = class_prob_.data() + u * static_cast<std::size_t>(C_);
    for (int c = 0; c < kMaxRecordClasses; ++c) out.class_prob[c] = c < C_ ? cp[c] : 0.0;
    for (int k = 0; k < kMaxRecordSensors; ++k) {
      const bool used = k < S_;
      const SensorEvidence* e = used ? &evidence(slot, k) : nullptr;
      out.last_update_ns[k] = used ? e->last_update_ns : kNeverNs;
      out.hits[k] = used ? static_cast<std::int32_t>(e->hits) : 0;
      out.misses[k] = used ? static_cast<std::int32_t>(e->misses) : 0;
      out.score_sum[k] = used ? e->score_sum : 0.0;
      out.detection[k] = used ? e->detection : -1;
    }
  }

  // Writes the records of the occupied tracks in id order (deleted ones too if
  // include_deleted) into out[0 .. max_records), returning how many were written. Tracks
  // beyond max_records are not written (the return value says how many were).
  Index export_records(TrackRecord<N>* out, Index max_records, bool include_deleted = true) const {
    Index n = 0;
    for (Index s : order_) {
      if (n >= max_records) break;
      if (!include_deleted && status_[static_cast<std::size_t>(s)] == TrackStatus::kDeleted)
        continue;
      record(s, out[n++]);
    }
    return n;
  }

 private:
  std::size_t at(Index slot) const {
    assert(occupied(slot));
    return static_cast<std::size_t>(slot);
  }
  void check_sensor(int sensor, const char* where) const {
    if (sensor < 0 || sensor >= S_)
      throw ConfigurationError(std::string(where) + ": sensor index " + std::to_string(sensor) +
                               " out of range [0, " + std::to_string(S_) + ")");
  }
  void check_occupied(Index slot, const char* where) const {
    if (!occupied(slot))
      throw std::out_of_range(std::string(where) + ": slot " + std::to_string(slot) +
                              " holds no track");
  }

  Index capacity_;
  int C_, S_;
  std::int64_t next_id_ = 1;
  std::int64_t insert_failures_ = 0;
  Index num_deleted_ = 0;

  std::vector<std::int64_t> id_;
  std::vector<TimeNs> t_ns_, existence_t_ns_, birth_t_ns_, last_update_any_ns_;
  std::vector<TrackStatus> status_;
  std::vector<char> occupied_;
  std::vector<std::uint8_t> confirmed_ever_;
  std::vector<std::int32_t> frames_since_birth_, consecutive_misses_;
  std::vector<double> llr_;
  std::vector<int> birth_sensor_;
  std::vector<double> existence_, x_, P_, class_prob_, aux_;
  std::vector<SensorEvidence> evidence_;
  std::vector<HitHistory> window_;
  std::vector<Index> order_, free_;
};

}  // namespace fusion::track
