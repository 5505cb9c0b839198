// Track lifecycle in TIME and PER SENSOR, shared by every tracker (design review §3.2
// obstacle 6: the old lifecycle counted steps, per class, so with asynchronous sensors a target
// seen only by the camera accrued a miss on every radar frame).
//
// Evidence. Each sensor frame is one trial for a track only if the track's predicted position
// lies inside that sensor's field of view (SensorMount::in_fov; in_sensor_fov() below). A hit
// (the track was assigned a detection of that frame) or an in-FOV miss is recorded in the
// track's per-sensor history and, if the sensor counts for confirmation, in the combined
// window (track_table.hpp). A frame of a sensor that cannot see the track changes nothing.
//
// Existence: the integrated-PDA existence recursion (Musicki, Evans, Stankovic, "Integrated
// probabilistic data association", IEEE Trans. Autom. Control 39(6), 1994; in the form of
// Musicki & Evans, "Joint integrated probabilistic data association: JIPDA", IEEE Trans.
// Aerosp. Electron. Syst. 40(3), 2004, eqs. for delta_k), with the time step in seconds:
//
//   prediction   r-  = p_S(dt) r,        p_S(dt) = exp(-dt / mean_lifetime_s)
//                (Markov chain one: a track that does not exist does not come back)
//   update       r+  = (1 - delta) r- / (1 - delta r-)
//                delta = P_D P_G - P_D sum_j g_j / lambda
//   where, for the sensor of the frame,
//     P_D     = pd if the track is inside the sensor's FOV, else 0 (then r+ = r-);
//     P_G     = gate_probability: the probability mass of the gate (chi-square quantile);
//     g_j     = N(z_j; zhat, S), the likelihood of detection j in the track's gate;
//     lambda  = clutter_density: false alarms per unit volume of that sensor's measurement
//               space (the units of its z: m^-2 for Position2D, ...).
//   With Lambda = 1 - delta (the measurement likelihood ratio of the frame) this reads
//     r+ = Lambda r- / (1 - r- + Lambda r-),
//     miss (no detection): Lambda = 1 - P_D P_G        (< 1: existence decreases)
//     hit  (detection j):  Lambda = 1 - P_D P_G + P_D g_j / lambda
//   A tracker that assigns one detection per track (GNN) passes the assigned detection's
//   g_j / lambda (likelihood_ratio(), from the Kalman update's log-likelihood); an IPDA/JPDA
//   tracker passes the sum over its gated detections. When the association gives no
//   likelihood (IoU costs), the sensor's nominal_likelihood_ratio stands in for g_j / lambda.
//
// Status (TrackStatus, record.hpp):
//   tentative -> confirmed   when at least confirm_hits of the last confirm_window recorded
//                            frames of the combined window are hits (M of N), or when the
//                            existence reaches confirm_existence (if confirm_by_existence);
//   confirmed -> coasting    on an in-FOV miss; coasting -> confirmed on a hit;
//   any -> deleted           when the existence falls below delete_existence, or in
//                            advance(t) when t - (last update from any sensor that counts
//                            for coasting) exceeds max_coast_s (tentative_max_coast_s for a
//                            tentative track);
//   tentative -> deleted     when tentative_max_misses >= 0, the window holds confirm_window
//                            frames and more than tentative_max_misses of them are misses
//                            (N - M reproduces the old box tracker's M-of-N deletion).
//   The coast time is exact in integer nanoseconds: deleted when the gap is STRICTLY greater.
//
// Further rules, each off by default (the presets of the old trackers use them):
//   confirm_window = 0       (confirm_rule "last") M hits ever: every recorded frame counts;
//   confirm_rule "first"     confirmed once the combined window has confirm_hits hits among its
//                            FIRST confirm_window recorded frames (the birth counts; N may
//                            exceed kMaxHistory: only counts are kept); a tentative
//                            track is deleted as soon as hits + (N - frames) < M, i.e. when it
//                            can no longer get there (the old point tracker);
//   max_misses = K >= 1      deleted at its K-th CONSECUTIVE in-FOV miss, counted over the
//                            sensors with counts_for_coast (a hit of such a sensor resets it;
//                            checked on the miss, after the association: the old max_age);
//   miss_max_coast_s         deleted on an in-FOV miss (counts_for_coast sensor) when the time
//                            since its last update exceeds this, compared in seconds
//                            (ns_to_s(t - t_last) > miss_max_coast_s; the old box tracker's
//                            max_coast_s, checked after the association: a track matched in the
//                            frame survives, unlike max_coast_s which advance() checks first).
//
// existence_model "llr": Blackman's sequential log-likelihood-ratio track score (S. Blackman,
// R. Popoli, "Design and analysis of modern tracking systems", 1999, §6.2) replaces the IPDA
// recursion. Birth: llr = llr_init. A hit of sensor k whose update gave log N(y; 0, S):
//   llr += log(pd_k) + log N(y; 0, S) - log(clutter_density_k)   (nothing without a likelihood)
// an in-FOV miss of sensor k:  llr += log(1 - pd_k P_G,k);  then llr = min(llr, llr_max)
// (P_G,k = gate_probability_k; 1 gives Blackman's log(1 - pd)). An associator with its own
// frame likelihood ratio (JPDA) may pass the increment instead (on_hit/on_miss llr_increment).
// A tentative track is confirmed at llr >= llr_confirm (if confirm_by_existence), any track is
// deleted at llr < llr_delete, and the existence probability is 1 / (1 + exp(-llr)); time does
// not change the score (mean_lifetime_s, confirm/delete/birth_existence are not used).
//
// Nothing here allocates after construction (the policy is copied once).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "fusion/core/errors.hpp"
#include "fusion/core/types.hpp"
#include "fusion/motion/view_adapters.hpp"
#include "fusion/sensor/mount.hpp"
#include "fusion/state/object_view.hpp"
#include "fusion/track/track_table.hpp"

namespace fusion::track {

struct SensorLifecyclePolicy {
  double pd = 0.9;                         // detection probability inside the FOV, [0, 1]
  double gate_probability = 0.99;          // P_G of the association gate, (0, 1]
  double clutter_density = 1e-3;           // lambda, per unit measurement volume, > 0
  double nominal_likelihood_ratio = 10.0;  // g / lambda for a hit without a likelihood, > 0
  bool counts_for_confirmation = true;     // its in-FOV frames enter the M-of-N window
  // A hit of this sensor resets the coast timer (the last update from any sensor that
  // max_coast_s is measured from). False for a sensor that does not update the state (a KITTI
  // camera), which must not keep a 3D track alive on its own.
  bool counts_for_coast = true;
};

// How M-of-N is judged (see the header): over the last N recorded frames, or the first N.
enum class ConfirmRule : int { kLast = 0, kFirst = 1 };
// The track score behind existence, confirmation by existence and deletion.
enum class ExistenceModel : int { kIpda = 0, kLlr = 1 };

inline ConfirmRule confirm_rule_from_string(const std::string& key) {
  if (key == "last") return ConfirmRule::kLast;
  if (key == "first") return ConfirmRule::kFirst;
  throw ConfigurationError("lifecycle confirm_rule: unknown rule '" + key + "' (known: last, first)");
}
inline const char* to_string(ConfirmRule r) { return r == ConfirmRule::kFirst ? "first" : "last"; }
inline ExistenceModel existence_model_from_string(const std::string& key) {
  if (key == "ipda") return ExistenceModel::kIpda;
  if (key == "llr") return ExistenceModel::kLlr;
  throw ConfigurationError("lifecycle existence_model: unknown model '" + key + "' (known: ipda, llr)");
}
inline const char* to_string(ExistenceModel m) { return m == ExistenceModel::kLlr ? "llr" : "ipda"; }

struct LifecyclePolicy {
  std::vector<SensorLifecyclePolicy> sensors;  // one per sensor index (size = S)
  int confirm_hits = 3;                   // M of the M-of-N rule; 0 disables it
  // N: in [max(M, 1), kMaxHistory] (rule "first": any N >= max(M, 1)), or 0 (rule "last"
  // only): M hits ever
  int confirm_window = 5;
  ConfirmRule confirm_rule = ConfirmRule::kLast;
  bool confirm_by_existence = true;
  double confirm_existence = 0.9;         // (0, 1]
  double delete_existence = 0.01;         // [0, confirm_existence)
  double birth_existence = 0.5;           // (delete_existence, 1]
  double max_coast_s = 2.0;               // > 0 (inf: never by time)
  double tentative_max_coast_s = 1.0;     // > 0 (inf: never by time)
  double mean_lifetime_s = std::numeric_limits<double>::infinity();  // > 0 (inf: no decay)
  // A tentative track is deleted once its confirmation window (the last confirm_window
  // recorded frames, judged once it holds confirm_window frames) has MORE misses than this,
  // i.e. M of N was not reached; -1 disables the rule. confirm_window - confirm_hits
  // reproduces the old box tracker (which judged a tentative track at the end of its first N
  // frames, and deleted it then if it had fewer than M hits).
  int tentative_max_misses = -1;          // -1 or in [0, confirm_window]
  int max_misses = -1;                    // -1 (off) or >= 1: consecutive in-FOV misses
  double miss_max_coast_s = std::numeric_limits<double>::infinity();  // > 0 (inf: off)
  ExistenceModel existence_model = ExistenceModel::kIpda;
  double llr_init = 0.0;                  // "llr": score of a newborn track
  double llr_confirm = 4.0;               // "llr": tentative -> confirmed at or above
  double llr_delete = -4.0;               // "llr": deleted below (-inf: never)
  double llr_max = 20.0;                  // "llr": clamp, so that a long track can still die
};

namespace detail {
[[noreturn]] inline void bad_field(const std::string& field, const std::string& rule, double got) {
  throw ConfigurationError("LifecyclePolicy." + field + " must be " + rule + ", got " +
                           std::to_string(got));
}
}  // namespace detail

// Throws ConfigurationError naming the first invalid field ("LifecyclePolicy.sensors[1].pd
// must be in [0, 1], got 1.5").
inline void validate(const LifecyclePolicy& p) {
  using detail::bad_field;
  if (p.sensors.empty() || p.sensors.size() > static_cast<std::size_t>(kMaxRecordSensors))
    bad_field("sensors", "1 to " + std::to_string(kMaxRecordSensors) + " entries",
              static_cast<double>(p.sensors.size()));
  for (std::size_t k = 0; k < p.sensors.size(); ++k) {
    const SensorLifecyclePolicy& s = p.sensors[k];
    const std::string f = "sensors[" + std::to_string(k) + "].";
    if (!(s.pd >= 0.0 && s.pd <= 1.0)) bad_field(f + "pd", "in [0, 1]", s.pd);
    if (!(s.gate_probability > 0.0 && s.gate_probability <= 1.0))
      bad_field(f + "gate_probability", "in (0, 1]", s.gate_probability);
    if (!(s.clutter_density > 0.0 && std::isfinite(s.clutter_density)))
      bad_field(f + "clutter_density", "finite and > 0", s.clutter_density);
    if (!(s.nominal_likelihood_ratio > 0.0 && std::isfinite(s.nominal_likelihood_ratio)))
      bad_field(f + "nominal_likelihood_ratio", "finite and > 0", s.nominal_likelihood_ratio);
  }
  if (p.confirm_hits < 0 || p.confirm_hits > kMaxHistory)
    bad_field("confirm_hits", "in [0, " + std::to_string(kMaxHistory) + "]", p.confirm_hits);
  const bool ever = p.confirm_window == 0 && p.confirm_rule == ConfirmRule::kLast;
  // rule "first" counts hits and frames only: any N >= max(M, 1)
  const int n_max = p.confirm_rule == ConfirmRule::kFirst ? std::numeric_limits<int>::max() : kMaxHistory;
  if (!ever && (p.confirm_window < std::max(p.confirm_hits, 1) || p.confirm_window > n_max))
    bad_field("confirm_window", "0 (rule 'last': hits ever) or in [max(confirm_hits, 1), " +
              std::to_string(kMaxHistory) + "] (rule 'first': any N >= max(confirm_hits, 1))", p.confirm_window);
  if (!(p.confirm_existence > 0.0 && p.confirm_existence <= 1.0))
    bad_field("confirm_existence", "in (0, 1]", p.confirm_existence);
  if (!(p.delete_existence >= 0.0 && p.delete_existence < p.confirm_existence))
    bad_field("delete_existence", "in [0, confirm_existence)", p.delete_existence);
  if (!(p.birth_existence > p.delete_existence && p.birth_existence <= 1.0))
    bad_field("birth_existence", "in (delete_existence, 1]", p.birth_existence);
  if (!(p.max_coast_s > 0.0)) bad_field("max_coast_s", "> 0", p.max_coast_s);
  if (!(p.tentative_max_coast_s > 0.0))
    bad_field("tentative_max_coast_s", "> 0", p.tentative_max_coast_s);
  if (!(p.mean_lifetime_s > 0.0)) bad_field("mean_lifetime_s", "> 0", p.mean_lifetime_s);
  if (p.tentative_max_misses < -1 || p.tentative_max_misses > p.confirm_window)
    bad_field("tentative_max_misses", "-1 (off) or in [0, confirm_window]", p.tentative_max_misses);
  if (p.tentative_max_misses >= 0 && (ever || p.confirm_rule != ConfirmRule::kLast))
    bad_field("tentative_max_misses", "-1 with confirm_window = 0 or confirm_rule 'first'",
              p.tentative_max_misses);
  if (p.max_misses == 0 || p.max_misses < -1) bad_field("max_misses", "-1 (off) or >= 1", p.max_misses);
  if (!(p.miss_max_coast_s > 0.0)) bad_field("miss_max_coast_s", "> 0", p.miss_max_coast_s);
  if (p.existence_model == ExistenceModel::kLlr) {
    if (!std::isfinite(p.llr_init)) bad_field("llr_init", "finite", p.llr_init);
    if (!std::isfinite(p.llr_confirm)) bad_field("llr_confirm", "finite", p.llr_confirm);
    if (std::isnan(p.llr_max)) bad_field("llr_max", "a number (inf: no clamp)", p.llr_max);
    if (!(p.llr_delete < p.llr_init) || std::isnan(p.llr_delete))
      bad_field("llr_delete", "< llr_init (-inf: never)", p.llr_delete);
    if (!(p.llr_init <= p.llr_max)) bad_field("llr_init", "<= llr_max", p.llr_init);
    if (!(p.llr_confirm <= p.llr_max)) bad_field("llr_confirm", "<= llr_max", p.llr_confirm);
    for (std::size_t k = 0; k < p.sensors.size(); ++k)
      if (!(p.sensors[k].pd > 0.0 && p.sensors[k].pd < 1.0))
        bad_field("sensors[" + std::to_string(k) + "].pd", "in (0, 1) for existence_model 'llr'",
                  p.sensors[k].pd);
  }
}

// The existence probability of a log-likelihood-ratio score: 1 / (1 + exp(-llr)).
inline double llr_existence(double llr) { return 1.0 / (1.0 + std::exp(-llr)); }

// ---- the existence recursion as free functions ----

// p_S(dt) = exp(-dt / mean_lifetime_s) (1 for dt <= 0 or an infinite lifetime).
inline double survival_probability(double dt_s, double mean_lifetime_s) {
  if (!(dt_s > 0.0) || std::isinf(mean_lifetime_s)) return 1.0;
  return std::exp(-dt_s / mean_lifetime_s);
}

// g / lambda from the log-likelihood log N(y; 0, S) of a detection (UpdateInfo::log_likelihood).
inline double likelihood_ratio(double log_likelihood, double clutter_density) {
  return std::exp(log_likelihood - std::log(clutter_density));
}

// r+ = Lambda r- / (1 - r- + Lambda r-), written as r- / (r- + (1 - r-) / Lambda) so that an
// overflowing Lambda (+inf) gives 1 and no intermediate overflows. Lambda = 0 gives 0.
inline double existence_update(double r_pred, double Lambda) {
  if (!(Lambda > 0.0)) return 0.0;
  if (!(r_pred > 0.0)) return 0.0;
  const double r = r_pred / (r_pred + (1.0 - r_pred) / Lambda);
  return r <= 1.0 ? r : 1.0;
}

// Lambda of a frame: 1 - P_D P_G + P_D sum_j g_j / lambda (ratio_sum = 0 for a miss).
inline double frame_likelihood_ratio(double pd, double gate_probability, double ratio_sum) {
  return 1.0 - pd * gate_probability + pd * ratio_sum;
}

// Whether the track's position (from its view) is in the sensor's field of view. The state x
// must already be predicted to the frame time, in the mount's parent frame.
template <class Motion>
inline bool in_sensor_fov(const Motion& motion, const Vec<Motion::N>& x,
                          const sensor::SensorMount& mount) {
  const ViewVec v = view_vector(motion, x);
  return mount.in_fov(Vec<3>(v.template segment<3>(view::PX)));
}

class Lifecycle {
 public:
  explicit Lifecycle(LifecyclePolicy policy) : p_(std::move(policy)) {
    validate(p_);
    max_coast_ns_ = to_ns(p_.max_coast_s);
    tentative_max_coast_ns_ = to_ns(p_.tentative_max_coast_s);
  }

  const LifecyclePolicy& policy() const { return p_; }
  int num_sensors() const { return static_cast<int>(p_.sensors.size()); }

  // Throws ConfigurationError unless the table has the policy's number of sensors.
  template <class Motion>
  void check_table(const TrackTable<Motion>& table) const {
    if (table.num_sensors() != num_sensors())
      throw ConfigurationError("Lifecycle: the table has " + std::to_string(table.num_sensors()) +
                               " sensors, the policy " + std::to_string(num_sensors()));
  }

  // Inserts a track born from a detection of `sensor` at t with birth_existence (the birth
  // detection is the sensor's first hit), and confirms it at once if the rules say so (M = 1,
  // or birth_existence >= confirm_existence). kNoSlot if the table is full (counted there).
  template <class Motion>
  Index birth(TrackTable<Motion>& table, const Vec<Motion::N>& x, const Mat<Motion::N, Motion::N>& P,
              TimeNs t, int sensor, const double* class_prob = nullptr) const {
    check_sensor(sensor);
    const SensorLifecyclePolicy& sp = p_.sensors[static_cast<std::size_t>(sensor)];
    const bool llr = p_.existence_model == ExistenceModel::kLlr;
    const Index s = table.insert(x, P, t, sensor, llr ? llr_existence(p_.llr_init) : p_.birth_existence,
                                 class_prob, sp.counts_for_confirmation, sp.counts_for_coast);
    if (s == kNoSlot) return s;
    if (llr) table.set_llr(s, p_.llr_init);
    update_status(table, s, /*hit=*/true, /*in_fov=*/true);
    return s;
  }

  // r <- p_S(t - t_r) r, forward in time only (an older t leaves r as it is). "llr": no-op.
  template <class Motion>
  void predict_existence(TrackTable<Motion>& table, Index slot, TimeNs t) const {
    if (p_.existence_model == ExistenceModel::kLlr) return;
    const TimeNs t0 = table.existence_t_ns(slot);
    if (t <= t0) return;
    table.set_existence(slot, table.existence(slot) * survival_probability(ns_to_s(elapsed_ns(t, t0)), p_.mean_lifetime_s), t);
  }

  // The track was assigned a detection of `sensor`'s frame at t. ratio_sum: sum_j g_j / lambda
  // over the detections used (NaN: unknown, the sensor's nominal_likelihood_ratio is used).
  // log_likelihood: log N(y; 0, S) of the state update ("llr" model; NaN: none, the score
  // does not change). llr_increment: a finite value replaces the "llr" hit increment (an
  // associator with its own frame likelihood ratio, e.g. JPDA).
  template <class Motion>
  void on_hit(TrackTable<Motion>& table, Index slot, int sensor, TimeNs t,
              double ratio_sum = std::numeric_limits<double>::quiet_NaN(),
              double log_likelihood = std::numeric_limits<double>::quiet_NaN(),
              double llr_increment = std::numeric_limits<double>::quiet_NaN()) const {
    check_sensor(sensor);
    const SensorLifecyclePolicy& sp = p_.sensors[static_cast<std::size_t>(sensor)];
    if (p_.existence_model == ExistenceModel::kLlr) {
      double llr = table.llr(slot);
      if (std::isfinite(llr_increment))
        llr += llr_increment;
      else if (std::isfinite(log_likelihood))
        llr += std::log(sp.pd) + log_likelihood - std::log(sp.clutter_density);
      set_llr(table, slot, llr, t);
    } else {
      if (std::isnan(ratio_sum)) ratio_sum = sp.nominal_likelihood_ratio;
      predict_existence(table, slot, t);
      const double L = frame_likelihood_ratio(sp.pd, sp.gate_probability, ratio_sum);
      table.set_existence(slot, existence_update(table.existence(slot), L), t);
    }
    table.record_frame(slot, sensor, t, true, sp.counts_for_confirmation, sp.counts_for_coast);
    update_status(table, slot, true, true);
  }

  // The track got no detection of `sensor`'s frame at t. in_fov: whether its predicted
  // position was inside that sensor's field of view; if not, nothing changes but the
  // existence prediction to t.
  // llr_increment: a finite value replaces the "llr" miss increment log(1 - pd P_G).
  template <class Motion>
  void on_miss(TrackTable<Motion>& table, Index slot, int sensor, TimeNs t, bool in_fov,
               double llr_increment = std::numeric_limits<double>::quiet_NaN()) const {
    check_sensor(sensor);
    predict_existence(table, slot, t);
    if (!in_fov) {
      update_status(table, slot, false, false);  // a decayed existence may still delete it
      return;
    }
    const SensorLifecyclePolicy& sp = p_.sensors[static_cast<std::size_t>(sensor)];
    if (p_.existence_model == ExistenceModel::kLlr) {
      const double inc = std::isfinite(llr_increment) ? llr_increment : std::log1p(-sp.pd * sp.gate_probability);
      set_llr(table, slot, table.llr(slot) + inc, t);
    } else {
      const double L = frame_likelihood_ratio(sp.pd, sp.gate_probability, 0.0);
      table.set_existence(slot, existence_update(table.existence(slot), L), t);
    }
    table.record_frame(slot, sensor, t, false, sp.counts_for_confirmation, sp.counts_for_coast);
    update_status(table, slot, false, true);
    if (!sp.counts_for_coast || table.status(slot) == TrackStatus::kDeleted) return;
    // the miss rules (after the association: a track matched in this frame never gets here)
    const bool run_out = p_.max_misses >= 1 && table.consecutive_misses(slot) >= p_.max_misses;
    const TimeNs last = table.last_update_any_ns(slot);
    const bool stale = std::isfinite(p_.miss_max_coast_s) && last != kNeverNs && t > last &&
                       ns_to_s(elapsed_ns(t, last)) > p_.miss_max_coast_s;
    if (run_out || stale) table.remove(slot);
  }

  // One associated sensor frame at t. Rows are the table's slots() at the call (the rows of
  // a cost matrix built over slots()); row_to_col[i] >= 0 means row i was assigned a
  // detection (the output of assoc::LinearAssignmentSolver), kUnassigned (-1) a miss.
  // ratio_sum_per_row: g/lambda of each hit row, or nullptr (nominal). Each track's state must
  // already be predicted to t (its FOV test uses it). Deleted rows are skipped.
  template <class Motion>
  void process_frame(TrackTable<Motion>& table, const Motion& motion,
                     const sensor::SensorMount& mount, int sensor, TimeNs t,
                     const Index* row_to_col, const double* ratio_sum_per_row = nullptr) const {
    const SlotSpan rows = table.slots();
    for (Index i = 0; i < rows.size(); ++i) {
      const Index s = rows[i];
      if (table.status(s) == TrackStatus::kDeleted) continue;
      if (row_to_col[i] >= 0) {
        on_hit(table, s, sensor, t,
               ratio_sum_per_row != nullptr ? ratio_sum_per_row[i]
                                            : std::numeric_limits<double>::quiet_NaN());
      } else {
        on_miss(table, s, sensor, t, in_sensor_fov(motion, Vec<Motion::N>(table.x(s)), mount));
      }
    }
  }

  // Time-based rules at time t (call whenever the clock advances): predicts every live
  // track's existence to t, deletes tracks below delete_existence and tracks whose gap since
  // the last update from any sensor exceeds their max coast time. Returns the number deleted.
  template <class Motion>
  Index advance(TrackTable<Motion>& table, TimeNs t) const {
    Index deleted = 0;
    const SlotSpan rows = table.slots();
    for (Index i = 0; i < rows.size(); ++i) {
      const Index s = rows[i];
      const TrackStatus st = table.status(s);
      if (st == TrackStatus::kDeleted) continue;
      predict_existence(table, s, t);
      const TimeNs limit = st == TrackStatus::kTentative ? tentative_max_coast_ns_ : max_coast_ns_;
      const TimeNs last = table.last_update_any_ns(s);
      const bool too_old = last != kNeverNs && t > last && elapsed_ns(t, last) > limit;
      if (too_old || too_unlikely(table, s)) {
        table.remove(s);
        ++deleted;
      }
    }
    return deleted;
  }

 private:
  static TimeNs to_ns(double seconds) {
    if (!(seconds * kNsPerSecond < 9.0e18)) return std::numeric_limits<TimeNs>::max();
    return static_cast<TimeNs>(std::llround(seconds * kNsPerSecond));
  }

  void check_sensor(int sensor) const {
    if (sensor < 0 || sensor >= num_sensors())
      throw ConfigurationError("Lifecycle: sensor index " + std::to_string(sensor) +
                               " out of range [0, " + std::to_string(num_sensors()) + ")");
  }

  template <class Motion>
  void set_llr(TrackTable<Motion>& table, Index slot, double llr, TimeNs t) const {
    llr = std::min(llr, p_.llr_max);
    table.set_llr(slot, llr);
    table.set_existence(slot, llr_existence(llr), t);
  }

  // The deletion by score: existence below delete_existence, or ("llr") llr below llr_delete.
  template <class Motion>
  bool too_unlikely(const TrackTable<Motion>& table, Index slot) const {
    if (p_.existence_model == ExistenceModel::kLlr) return table.llr(slot) < p_.llr_delete;
    return table.existence(slot) < p_.delete_existence;
  }

  // Whether the M-of-N rule confirms the track now.
  bool m_of_n(const HitHistory& w) const {
    if (p_.confirm_hits <= 0) return false;
    if (p_.confirm_rule == ConfirmRule::kFirst || p_.confirm_window == 0)
      return w.total_hits >= p_.confirm_hits;  // "first": a track past its N frames is gone
    return w.hits_in_last(p_.confirm_window) >= p_.confirm_hits;
  }

  template <class Motion>
  void update_status(TrackTable<Motion>& table, Index slot, bool hit, bool in_fov) const {
    const TrackStatus st = table.status(slot);
    if (st == TrackStatus::kDeleted) return;
    if (too_unlikely(table, slot)) {
      table.remove(slot);
      return;
    }
    if (st == TrackStatus::kTentative) {
      const HitHistory& w = table.window(slot);
      const bool by_r = p_.confirm_by_existence &&
                        (p_.existence_model == ExistenceModel::kLlr ? table.llr(slot) >= p_.llr_confirm
                                                                     : table.existence(slot) >= p_.confirm_existence);
      if (m_of_n(w) || by_r) {
        table.set_status(slot, TrackStatus::kConfirmed);
      } else if (p_.confirm_rule == ConfirmRule::kFirst && p_.confirm_hits > 0) {
        // can it still get M hits within its first N frames?
        if (static_cast<std::int64_t>(w.total_hits) + p_.confirm_window - w.total_frames < p_.confirm_hits)
          table.remove(slot);
      } else if (p_.tentative_max_misses >= 0) {
        // Judged on a FULL window only (as the old box tracker did at the end of the track's
        // first N frames): a window still filling up is given its N frames.
        if (w.frames >= p_.confirm_window &&
            p_.confirm_window - w.hits_in_last(p_.confirm_window) > p_.tentative_max_misses)
          table.remove(slot);
      }
      return;
    }
    if (!in_fov) return;  // a sensor that cannot see the track says nothing about it
    table.set_status(slot, hit ? TrackStatus::kConfirmed : TrackStatus::kCoasting);
  }

  LifecyclePolicy p_;
  TimeNs max_coast_ns_ = 0, tentative_max_coast_ns_ = 0;
};

}  // namespace fusion::track
