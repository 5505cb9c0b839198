// Odometry (engine/odometry.hpp): the arc against the circle's closed form and against a fine
// Euler integration of the same held inputs, yaw rate ~ 0, the ring, extrapolation limits, and
// bad input (NaN, older sample, gap).
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "alloc_counter.hpp"
#include "fusion/core/angles.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/engine/odometry.hpp"
#include "test_framework.hpp"

using fusion::NumericalError;
using fusion::TimeNs;
using fusion::TimestampError;
using fusion::wrap_angle;
using fusion::engine::EgoPose;
using fusion::engine::Odometry;
using fusion::engine::OdometryConfig;

namespace {
constexpr TimeNs kMs = 1000000;

double angle_diff(double a, double b) { return std::abs(wrap_angle(a - b)); }
}  // namespace

TEST_CASE("odometry: constant speed and yaw rate follow the circle exactly") {
  Odometry o;
  const double v = 10.0, w = 0.3, R = v / w;
  for (int i = 0; i <= 300; ++i) o.add(i * 10 * kMs, v, w);  // 100 Hz for 3 s
  for (TimeNs t : {TimeNs{0}, 5 * kMs, 1234 * kMs + 567, 2999 * kMs, 3000 * kMs, 3400 * kMs}) {
    const double s = static_cast<double>(t) * 1e-9;
    const EgoPose p = o.pose_at(t);
    CHECK_CLOSE(p.x_m, R * std::sin(w * s), 1e-9);
    CHECK_CLOSE(p.y_m, R * (1.0 - std::cos(w * s)), 1e-9);
    CHECK(angle_diff(p.yaw_rad, w * s) < 1e-12);
    CHECK(p.speed_mps == v && p.yaw_rate_rps == w);
  }
  // a full turn comes back to the start (2 pi / 0.5 s at 2 m/s: radius 4 m)
  Odometry full;
  const double period = 2.0 * fusion::kPi / 0.5;
  full.add(0, 2.0, 0.5);
  full.add(static_cast<TimeNs>(period * 1e9), 2.0, 0.5);
  const EgoPose back = full.pose_at(static_cast<TimeNs>(period * 1e9));
  CHECK_CLOSE(back.x_m, 0.0, 1e-8);
  CHECK_CLOSE(back.y_m, 0.0, 1e-8);
  CHECK(angle_diff(back.yaw_rad, 0.0) < 1e-8);
  const EgoPose half = full.pose_at(static_cast<TimeNs>(period * 0.5e9));
  CHECK_CLOSE(half.x_m, 0.0, 1e-8);
  CHECK_CLOSE(half.y_m, 8.0, 1e-8);
  CHECK(angle_diff(half.yaw_rad, fusion::kPi) < 1e-8);
}

TEST_CASE("odometry: yaw rate ~ 0 is the straight line, continuous in the yaw rate") {
  Odometry o;
  o.add(0, 5.0, 0.0);
  o.add(2000 * kMs, 5.0, 0.0);
  CHECK_CLOSE(o.pose_at(2000 * kMs).x_m, 10.0, 1e-12);
  CHECK(o.pose_at(2000 * kMs).y_m == 0.0);
  for (double w : {1e-15, 1e-9, 1e-5, 2e-4, 1e-3}) {  // both sides of the series switch
    Odometry a;
    a.add(0, 5.0, w);
    a.add(2000 * kMs, 5.0, w);
    const EgoPose p = a.pose_at(2000 * kMs);
    const double R = 5.0 / w;
    // closed form in a numerically safe shape: R sin(2w), R (1 - cos(2w)) = 2 R sin^2(w)
    CHECK_CLOSE(p.x_m, R * std::sin(2.0 * w), 1e-10);
    CHECK_CLOSE(p.y_m, 2.0 * R * std::sin(w) * std::sin(w), 1e-10);
  }
}

TEST_CASE("odometry: varying speed and yaw rate agree with a fine Euler integration") {
  // CAN at 50 Hz: speed 8 + 3 sin(0.7 t), yaw rate 0.4 sin(1.3 t); held between samples
  Odometry o;
  std::vector<double> ts, vs, ws;
  for (int i = 0; i <= 500; ++i) {
    const double t = 0.02 * i;
    ts.push_back(t), vs.push_back(8.0 + 3.0 * std::sin(0.7 * t)), ws.push_back(0.4 * std::sin(1.3 * t));
    o.add(i * 20 * kMs, vs.back(), ws.back());
  }
  // Euler with 2 us steps of the same held inputs
  double x = 0, y = 0, yaw = 0;
  const int sub = 10000;
  for (std::size_t i = 0; i + 1 < ts.size(); ++i) {
    const double h = 0.02 / sub;
    for (int k = 0; k < sub; ++k) {
      x += vs[i] * std::cos(yaw) * h;
      y += vs[i] * std::sin(yaw) * h;
      yaw += ws[i] * h;
    }
  }
  const EgoPose p = o.pose_at(10000 * kMs);
  CHECK(std::hypot(x, y) > 50.0);
  CHECK_CLOSE(p.x_m, x, 1e-4);  // Euler's own error: about v w h T / 2 = 3e-5 m over 10 s
  CHECK_CLOSE(p.y_m, y, 1e-4);
  CHECK(angle_diff(p.yaw_rad, yaw) < 1e-9);
}

TEST_CASE("odometry: NaN, older samples and equal times") {
  Odometry o;
  o.add(0, 3.0, 0.1);
  o.add(100 * kMs, 3.0, 0.1);
  const EgoPose before = o.pose_at(150 * kMs);
  CHECK_THROWS(o.add(200 * kMs, std::nan(""), 0.0), NumericalError);
  CHECK_THROWS(o.add(200 * kMs, 1.0, INFINITY), NumericalError);
  try {
    o.add(200 * kMs, 1.0, std::nan(""));
  } catch (const NumericalError& e) {
    CHECK(std::string(e.what()).find("yaw_rate_rps") != std::string::npos);
  }
  CHECK_THROWS(o.add(50 * kMs, 3.0, 0.1), TimestampError);
  CHECK(o.size() == 2 && o.newest_ns() == 100 * kMs);
  const EgoPose after = o.pose_at(150 * kMs);
  CHECK(after.x_m == before.x_m && after.y_m == before.y_m && after.yaw_rad == before.yaw_rad);
  // the same time again: the motion from there on is replaced, the pose there is not
  const EgoPose at100 = o.pose_at(100 * kMs);
  o.add(100 * kMs, 0.0, 0.0);
  CHECK(o.size() == 2);
  CHECK(o.pose_at(100 * kMs).x_m == at100.x_m);
  CHECK(o.pose_at(150 * kMs).x_m == at100.x_m && o.pose_at(150 * kMs).speed_mps == 0.0);
}

TEST_CASE("odometry: a gap of seconds is integrated with the earlier sample and counted") {
  Odometry o;  // max_gap_s 0.5
  o.add(0, 4.0, 0.0);
  o.add(400 * kMs, 4.0, 0.0);
  CHECK(o.gaps() == 0);
  o.add(3400 * kMs, 0.0, 0.0);  // 3 s without CAN
  CHECK(o.gaps() == 1);
  CHECK_CLOSE(o.pose_at(3400 * kMs).x_m, 4.0 * 3.4, 1e-12);
  CHECK_CLOSE(o.pose_at(1400 * kMs).x_m, 4.0 * 1.4, 1e-12);
  o.clear();
  CHECK(o.gaps() == 0 && o.empty());
}

TEST_CASE("odometry: extrapolation limits, before the first sample, empty") {
  Odometry o;  // max_extrapolation_s 0.5
  CHECK_THROWS(o.pose_at(0), TimestampError);
  CHECK(!o.covers(0));
  o.add(1000 * kMs, 2.0, 0.0);
  o.add(1100 * kMs, 2.0, 0.0);
  CHECK_CLOSE(o.pose_at(1600 * kMs).x_m, 1.2, 1e-12);   // 0.5 s after the newest
  CHECK_THROWS(o.pose_at(1601 * kMs), TimestampError);
  CHECK_CLOSE(o.pose_at(600 * kMs).x_m, -0.8, 1e-12);   // 0.4 s before the oldest: backwards
  CHECK_THROWS(o.pose_at(499 * kMs), TimestampError);
  CHECK(o.covers(500 * kMs) && !o.covers(499 * kMs));
  CHECK(!o.covers(INT64_MIN + 1) && !o.covers(INT64_MAX));
}

TEST_CASE("odometry: the ring keeps the newest samples; add and pose_at allocate nothing") {
  OdometryConfig small;
  small.capacity = 4;
  Odometry ring(small), big;
  const long start = g_allocations.load();
  for (int i = 0; i < 40; ++i) {
    ring.add(i * 10 * kMs, 1.0 + 0.1 * i, 0.05 * i);
    big.add(i * 10 * kMs, 1.0 + 0.1 * i, 0.05 * i);
    (void)ring.pose_at(i * 10 * kMs - 5 * kMs);
  }
  CHECK(g_allocations.load() == start);
  CHECK(ring.size() == 4 && ring.oldest_ns() == 360 * kMs && ring.newest_ns() == 390 * kMs);
  for (TimeNs t : {360 * kMs, 377 * kMs, 390 * kMs, 500 * kMs}) {
    CHECK(ring.pose_at(t).x_m == big.pose_at(t).x_m && ring.pose_at(t).yaw_rad == big.pose_at(t).yaw_rad);
  }
  OdometryConfig bad;
  bad.max_gap_s = std::nan("");
  CHECK_THROWS(Odometry{bad}, fusion::ConfigurationError);
  bad.max_gap_s = 0.5;
  bad.max_extrapolation_s = -1.0;
  CHECK_THROWS(Odometry{bad}, fusion::ConfigurationError);
  bad.max_extrapolation_s = 0.5;
  bad.capacity = 1;
  CHECK_THROWS(Odometry{bad}, fusion::ConfigurationError);
}
