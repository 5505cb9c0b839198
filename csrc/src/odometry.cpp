// Odometry from speed and yaw-rate samples (engine/odometry.hpp).
//
// Beyond the header's list of bad input: a sample whose integrated pose is not finite (a
// finite but absurd speed, 1e308 m/s over 10 s) is a NumericalError and changes nothing, and
// pose_at() likewise refuses a non-finite extrapolation. Times are any int64 values: intervals
// wider than 2^63 ns are computed without overflow (saturated at INT64_MAX ns), never wrapped.
#include "fusion/engine/odometry.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "fusion/core/angles.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/track/record.hpp"  // elapsed_ns: int64 time differences without overflow

namespace fusion::engine {

namespace {

TimeNs seconds_to_ns(double s) {
  const double ns = std::round(s * kNsPerSecond);
  return ns >= 9.0e18 ? std::numeric_limits<TimeNs>::max() : static_cast<TimeNs>(ns);
}

// (t - t0) [s] for any two int64 times (the plain difference overflows beyond 2^63 ns).
double seconds_between(TimeNs t, TimeNs t0) {
  return t >= t0 ? ns_to_s(track::elapsed_ns(t, t0)) : -ns_to_s(track::elapsed_ns(t0, t));
}

bool finite_pose(double x, double y, double yaw) { return std::isfinite(x) && std::isfinite(y) && std::isfinite(yaw); }

// sin(a) / a, from its series near 0 (error below a^6 / 5040).
double sinc(double a) {
  if (std::abs(a) < 1e-4) {
    const double a2 = a * a;
    return 1.0 - a2 / 6.0 + a2 * a2 / 120.0;
  }
  return std::sin(a) / a;
}

}  // namespace

Odometry::Odometry(const OdometryConfig& config) : cfg_(config) {
  if (cfg_.capacity < 2)
    throw ConfigurationError("odometry capacity must be >= 2, got " + std::to_string(cfg_.capacity));
  if (!(cfg_.max_gap_s > 0.0 && std::isfinite(cfg_.max_gap_s)))
    throw ConfigurationError("ego_max_gap_s must be finite and > 0, got " + std::to_string(cfg_.max_gap_s));
  if (!(cfg_.max_extrapolation_s >= 0.0 && std::isfinite(cfg_.max_extrapolation_s)))
    throw ConfigurationError("ego_max_extrapolation_s must be finite and >= 0, got " +
                             std::to_string(cfg_.max_extrapolation_s));
  max_gap_ns_ = seconds_to_ns(cfg_.max_gap_s);
  max_extrapolation_ns_ = seconds_to_ns(cfg_.max_extrapolation_s);
  ring_.assign(static_cast<std::size_t>(cfg_.capacity), Sample{0, 0.0, 0.0, 0.0, 0.0, 0.0});
}

const Odometry::Sample& Odometry::at(Index i) const {
  return ring_[static_cast<std::size_t>((head_ + i) % cfg_.capacity)];
}
Odometry::Sample& Odometry::at(Index i) { return ring_[static_cast<std::size_t>((head_ + i) % cfg_.capacity)]; }

TimeNs Odometry::oldest_ns() const { return at(0).t_ns; }
TimeNs Odometry::newest_ns() const { return at(count_ - 1).t_ns; }

void Odometry::integrate(double v, double w, double dt, double& x, double& y, double& yaw) {
  const double a = 0.5 * w * dt;
  const double chord = v * dt * sinc(a);
  x += chord * std::cos(yaw + a);
  y += chord * std::sin(yaw + a);
  yaw = wrap_angle(yaw + 2.0 * a);
}

void Odometry::add(TimeNs t, double v, double w) {
  if (!std::isfinite(v))
    throw NumericalError("add_ego_motion: speed_mps is " + std::to_string(v) + " at t_ns=" + std::to_string(t) +
                         " (must be finite)");
  if (!std::isfinite(w))
    throw NumericalError("add_ego_motion: yaw_rate_rps is " + std::to_string(w) + " at t_ns=" + std::to_string(t) +
                         " (must be finite)");
  if (count_ == 0) {
    at(0) = Sample{t, v, w, 0.0, 0.0, 0.0};
    count_ = 1;
    return;
  }
  Sample& last = at(count_ - 1);
  if (t < last.t_ns)
    throw TimestampError("add_ego_motion: sample at t_ns=" + std::to_string(t) +
                         " is older than the newest ego sample t_ns=" + std::to_string(last.t_ns) +
                         " (ego samples must come in time order)");
  if (t == last.t_ns) {  // a corrected value for the same instant: the pose there is unchanged
    last.v = v;
    last.w = w;
    return;
  }
  const TimeNs dt_ns = track::elapsed_ns(t, last.t_ns);  // t > last.t_ns; saturated, never wrapped
  Sample next{t, v, w, last.x, last.y, last.yaw};
  integrate(last.v, last.w, ns_to_s(dt_ns), next.x, next.y, next.yaw);
  if (!finite_pose(next.x, next.y, next.yaw))  // e.g. 1e308 m/s over 10 s: nothing changes
    throw NumericalError("add_ego_motion: sample at t_ns=" + std::to_string(t) + ": the integrated vehicle pose "
                         "overflows (speed " + std::to_string(last.v) + " m/s over " + std::to_string(ns_to_s(dt_ns)) +
                         " s)");
  if (dt_ns > max_gap_ns_) ++gaps_;
  if (count_ == cfg_.capacity) {
    head_ = (head_ + 1) % cfg_.capacity;  // overwrite the oldest
    --count_;
  }
  at(count_) = next;
  ++count_;
}

bool Odometry::covers(TimeNs t) const {
  if (count_ == 0) return false;
  // written as differences so that extreme times cannot overflow
  if (t < oldest_ns() && static_cast<double>(oldest_ns()) - static_cast<double>(t) > static_cast<double>(max_extrapolation_ns_))
    return false;
  if (t > newest_ns() && static_cast<double>(t) - static_cast<double>(newest_ns()) > static_cast<double>(max_extrapolation_ns_))
    return false;
  return true;
}

EgoPose Odometry::pose_at(TimeNs t) const {
  if (!covers(t)) {
    if (count_ == 0)
      throw TimestampError("ego pose at t_ns=" + std::to_string(t) + ": no ego-motion sample has been given");
    throw TimestampError("ego pose at t_ns=" + std::to_string(t) + ": outside the odometry's samples [" +
                         std::to_string(oldest_ns()) + ", " + std::to_string(newest_ns()) + "] ns extended by " +
                         "ego_max_extrapolation_s = " + std::to_string(cfg_.max_extrapolation_s) + " s");
  }
  // the last sample at or before t (binary search over the ring), or the oldest one
  Index lo = 0, hi = count_ - 1;
  if (t < at(0).t_ns) {
    hi = 0;
  } else {
    while (lo < hi) {  // invariant: at(lo).t_ns <= t
      const Index mid = (lo + hi + 1) / 2;
      if (at(mid).t_ns <= t) lo = mid; else hi = mid - 1;
    }
  }
  const Sample& s = at(hi);
  EgoPose p{s.x, s.y, s.yaw, s.v, s.w};
  if (t != s.t_ns) integrate(s.v, s.w, seconds_between(t, s.t_ns), p.x_m, p.y_m, p.yaw_rad);
  if (!finite_pose(p.x_m, p.y_m, p.yaw_rad))
    throw NumericalError("ego pose at t_ns=" + std::to_string(t) + ": the pose extrapolated from the sample at t_ns=" +
                         std::to_string(s.t_ns) + " overflows (speed " + std::to_string(s.v) + " m/s)");
  return p;
}

void Odometry::clear() {
  head_ = 0;
  count_ = 0;
  gaps_ = 0;
}

void Odometry::copy_from(const Odometry& other) {
  cfg_ = other.cfg_;
  max_gap_ns_ = other.max_gap_ns_;
  max_extrapolation_ns_ = other.max_extrapolation_ns_;
  ring_ = other.ring_;
  head_ = other.head_;
  count_ = other.count_;
  gaps_ = other.gaps_;
}

}  // namespace fusion::engine
