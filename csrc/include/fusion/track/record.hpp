// The track status shared by every tracker, and the TrackRecord POD a tracker outputs.
//
// TrackRecord<N> is one track at one time: identity, the estimate (x, P) at t_ns, status,
// existence probability, class probabilities and the per-sensor time of the last update. P
// is included because track-to-track association and covariance intersection need it (design
// review §3.2 obstacle 9). It is trivial and standard-layout, so an array of records maps
// onto a numpy structured array without conversion; the class and sensor arrays have fixed
// maxima (kMaxRecordClasses, kMaxRecordSensors) with the used counts stored in the record,
// and a TrackTable refuses, at construction, more classes or sensors than a record holds.
#pragma once
#include <cstdint>
#include <limits>
#include <type_traits>

#include "fusion/core/types.hpp"

namespace fusion::track {

// One status vocabulary for every tracker.
//   kTentative  born, not yet confirmed: usually not reported
//   kConfirmed  confirmed and updated at its last in-FOV sensor frame
//   kCoasting   confirmed, but missed at its last in-FOV sensor frame (predicted only)
//   kDeleted    removed from the table; its slot is released at the next compact()
enum class TrackStatus : std::int32_t { kTentative = 0, kConfirmed = 1, kCoasting = 2, kDeleted = 3 };

inline const char* to_string(TrackStatus s) {
  switch (s) {
    case TrackStatus::kTentative: return "tentative";
    case TrackStatus::kConfirmed: return "confirmed";
    case TrackStatus::kCoasting: return "coasting";
    case TrackStatus::kDeleted: return "deleted";
  }
  return "unknown";
}

// "Never" for a per-sensor last-update time: the sensor has not updated the track.
inline constexpr TimeNs kNeverNs = std::numeric_limits<TimeNs>::min();

// t - t0 [ns] for t >= t0, saturated at INT64_MAX: two valid int64 times can be further apart
// than int64 holds (t0 = -2^62, t = 2^62), and the plain difference would overflow (UB).
inline TimeNs elapsed_ns(TimeNs t, TimeNs t0) {
  const std::uint64_t d = static_cast<std::uint64_t>(t) - static_cast<std::uint64_t>(t0);
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<TimeNs>::max());
  return d > kMax ? std::numeric_limits<TimeNs>::max() : static_cast<TimeNs>(d);
}

inline constexpr int kMaxRecordClasses = 32;
inline constexpr int kMaxRecordSensors = 16;
// Most modes of an IMM motion (motion/imm_motion.hpp) whose probabilities a record carries.
inline constexpr int kMaxRecordModes = 4;

// No default member initialisers, so that the type stays trivial (a POD); TrackTable::record
// writes every field, including zeros in the unused class and sensor entries.
//
// The engine (engine/engine.hpp) exposes this record to numpy through a dtype with explicit
// byte offsets that shows only the used class and sensor entries (f8[C], i4[S], ...), so the
// unused tails are padding there. box and velocity are filled by a caller that has the motion
// model (the view needs it; TrackTable::record writes zeros); the per-sensor evidence arrays
// are the TrackTable's SensorEvidence of each sensor.
template <int N>
struct TrackRecord {
  static constexpr int kStateDim = N;
  std::int64_t id;                              // monotonic, never reused
  TimeNs t_ns;                                  // time of the estimate (x, P)
  TimeNs birth_t_ns;                            // time of the birth detection
  std::int32_t status;                          // TrackStatus
  std::int32_t class_id;                        // argmax of class_prob (-1 without classes)
  std::int32_t birth_sensor;                    // sensor index of the birth detection
  std::int32_t num_classes;                     // used entries of class_prob
  std::int32_t num_sensors;                     // used entries of the per-sensor arrays
  std::uint8_t confirmed_ever;                  // 1 once the track has been confirmed
  double existence;                             // existence probability in [0, 1]
  double llr;                                   // log-likelihood-ratio score ("llr" lifecycle; else 0)
  std::int32_t frames_since_birth;              // frames processed after the birth frame
  std::int32_t consecutive_misses;              // in-FOV misses since the last hit (coast sensors)
  double x[N];                                  // state
  double P[N * N];                              // covariance, row-major
  double box[7];                                // x, y, z, yaw, l, w, h of the view [m, rad]
  double velocity[3];                           // vx, vy, vz of the view [m/s]
  double class_prob[kMaxRecordClasses];         // sums to 1 over num_classes (if > 0)
  TimeNs last_update_ns[kMaxRecordSensors];     // kNeverNs if never updated by that sensor
  std::int32_t hits[kMaxRecordSensors];         // per sensor: hits (the birth counts)
  std::int32_t misses[kMaxRecordSensors];       // per sensor: in-FOV misses
  double score_sum[kMaxRecordSensors];          // per sensor: sum of the hits' detection scores
  std::int32_t detection[kMaxRecordSensors];    // per sensor: detection index that updated the
                                                // track in that sensor's latest frame, else -1
  std::int32_t num_modes;                       // IMM motion: its number of modes (else 0)
  double mode_prob[kMaxRecordModes];            // IMM motion: the mode probabilities mu (sum 1),
                                                // in the motion's mode order; unused entries 0
};

}  // namespace fusion::track
