// Odometry of the ego vehicle from what cars put on CAN: speed and yaw-rate samples integrated
// into the vehicle pose (x, y, yaw) in a fixed ODOMETRY frame (issue 8, "Ego motion").
//
// Frame: the odometry frame is the vehicle frame (x forward, y left, z up) at the time of the
// first sample: pose (0, 0, 0) there. z is not integrated (flat ground).
//
// Integration: between two samples the vehicle moves with the EARLIER sample's speed v and
// yaw rate w (zero-order hold), integrated exactly: the arc of a constant-curvature motion,
//     yaw(t + dt) = yaw + w dt,
//     (x, y)(t + dt) = (x, y) + v dt sinc(w dt / 2) (cos(yaw + w dt / 2), sin(yaw + w dt / 2)),
// which is the chord of the circle of radius v / w (the straight line when w = 0; sinc from its
// series for |w dt| < 2e-4, so w ~ 0 costs no precision). Yaw is wrapped to [-pi, pi).
//
// Bad input (each tested in csrc/tests/test_odometry.cpp):
//   - NaN or infinite speed / yaw rate: NumericalError naming the field and the time; nothing
//     changes;
//   - a sample OLDER than the newest one: TimestampError (samples come in time order; nothing
//     changes); a sample AT the newest time replaces that sample's speed and yaw rate (the
//     pose at that time is unchanged; a corrected CAN value);
//   - a gap longer than max_gap_s between two samples: integrated like any other interval (the
//     earlier sample's speed and yaw rate over the whole gap) and counted in gaps() (the
//     engine's stats()["ego_gaps"]): the pose after a gap is an extrapolation, and the caller
//     can see how often it happened.
//
// pose_at(t): the pose and the motion at any t from (oldest kept sample - max_extrapolation_s)
// to (newest sample + max_extrapolation_s): inside the kept samples the arc from the last sample
// at or before t; after the newest sample, extrapolated with its speed and yaw rate; before the
// oldest kept sample, extrapolated backwards with that sample's. Further out: TimestampError
// naming t and the covered interval.
//
// Storage: a ring of `capacity` samples (default 1024: about 10 s of a 100 Hz CAN signal),
// allocated in the constructor; the oldest sample is overwritten when full. add() and pose_at()
// allocate nothing. Not thread-safe (the engine's binding serialises calls).
#pragma once
#include <cstdint>
#include <vector>

#include "fusion/core/types.hpp"

namespace fusion::engine {

struct EgoPose {
  double x_m = 0.0, y_m = 0.0, yaw_rad = 0.0;  // vehicle pose in the odometry frame
  double speed_mps = 0.0, yaw_rate_rps = 0.0;  // vehicle motion (the held sample's)
};

struct OdometryConfig {
  Index capacity = 1024;             // samples kept, >= 2
  double max_gap_s = 0.5;            // a longer interval between samples counts in gaps()
  double max_extrapolation_s = 0.5;  // pose_at() reaches this far beyond the kept samples
};

class Odometry {
 public:
  // ConfigurationError unless capacity >= 2, max_gap_s > 0 and max_extrapolation_s >= 0 (both
  // finite), naming the engine's field (ego_max_gap_s, ego_max_extrapolation_s).
  explicit Odometry(const OdometryConfig& config = {});

  // Adds the sample (t_ns, speed [m/s], yaw rate [rad/s], counter-clockwise positive). See the
  // header comment for NaN, older and equal times and gaps.
  void add(TimeNs t_ns, double speed_mps, double yaw_rate_rps);

  bool empty() const { return count_ == 0; }
  Index size() const { return count_; }
  TimeNs oldest_ns() const;  // valid if !empty()
  TimeNs newest_ns() const;
  // Whether pose_at(t) answers (non-empty and t within the extrapolation limits).
  bool covers(TimeNs t_ns) const;
  // The pose and motion at t (TimestampError outside the covered interval, or when empty).
  EgoPose pose_at(TimeNs t_ns) const;
  // Intervals longer than max_gap_s integrated so far (since construction or clear()).
  std::int64_t gaps() const { return gaps_; }
  const OdometryConfig& config() const { return cfg_; }

  // No samples, gaps zero; keeps the ring (no allocation).
  void clear();
  // Takes other's samples and counters (equal capacities: allocation-free).
  void copy_from(const Odometry& other);

  // The exact constant-speed, constant-yaw-rate motion over dt seconds (negative dt: backwards),
  // applied to (x, y, yaw) in place.
  static void integrate(double speed_mps, double yaw_rate_rps, double dt_s, double& x, double& y, double& yaw);

 private:
  struct Sample {
    TimeNs t_ns;
    double v, w;       // speed, yaw rate from t_ns on
    double x, y, yaw;  // pose at t_ns
  };
  const Sample& at(Index i) const;  // i-th oldest kept sample
  Sample& at(Index i);

  OdometryConfig cfg_;
  TimeNs max_gap_ns_ = 0, max_extrapolation_ns_ = 0;
  std::vector<Sample> ring_;
  Index head_ = 0;   // index of the oldest sample in ring_
  Index count_ = 0;
  std::int64_t gaps_ = 0;
};

}  // namespace fusion::engine
