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

inline constexpr int kMaxRecordClasses = 32;
inline constexpr int kMaxRecordSensors = 16;

// No default member initialisers, so that the type stays trivial (a POD); TrackTable::record
// writes every field, including zeros in the unused class and sensor entries.
template <int N>
struct TrackRecord {
  static constexpr int kStateDim = N;
  std::int64_t id;                              // monotonic, never reused
  TimeNs t_ns;                                  // time of the estimate (x, P)
  std::int32_t status;                          // TrackStatus
  std::int32_t birth_sensor;                    // sensor index of the birth detection
  double existence;                             // existence probability in [0, 1]
  std::int32_t num_classes;                     // used entries of class_prob
  std::int32_t num_sensors;                     // used entries of last_update_ns
  double x[N];                                  // state
  double P[N * N];                              // covariance, row-major
  double class_prob[kMaxRecordClasses];         // sums to 1 over num_classes (if > 0)
  TimeNs last_update_ns[kMaxRecordSensors];     // kNeverNs if never updated by that sensor
};

}  // namespace fusion::track
