// Lifecycle in time and per sensor: the IPDA existence recursion by hand, FOV-aware misses,
// M-of-N and existence confirmation, coast deletion at the right nanosecond with irregular
// sensor timing, class fusion through confusion matrices, no allocation.
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "alloc_counter.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/motion/with_extent.hpp"
#include "fusion/sensor/mount.hpp"
#include "fusion/track/class_fusion.hpp"
#include "fusion/track/lifecycle.hpp"
#include "fusion/track/track_table.hpp"
#include "test_framework.hpp"

using fusion::ConfigurationError;
using fusion::CVBox;
using fusion::Index;
using fusion::kPi;
using fusion::Mat;
using fusion::ShapeError;
using fusion::TimeNs;
using fusion::Vec;
using fusion::sensor::FieldOfView;
using fusion::sensor::SensorMount;
using namespace fusion::track;  // NOLINT: the module under test

namespace {

using Table = TrackTable<CVBox>;
constexpr int N = CVBox::N;
constexpr TimeNs kMs = 1000000;

Vec<N> at(double px, double py) {
  Vec<N> x = Vec<N>::Zero();
  x(0) = px;
  x(1) = py;
  x(CVBox::kLength) = 4.0;
  x(CVBox::kWidth) = 2.0;
  x(CVBox::kHeight) = 1.5;
  return x;
}
const Mat<N, N> kP = Mat<N, N>::Identity();

LifecyclePolicy two_sensor_policy() {
  LifecyclePolicy p;
  p.sensors.resize(2);
  p.sensors[0].pd = 0.9;
  p.sensors[0].gate_probability = 1.0;
  p.sensors[1].pd = 0.8;
  p.sensors[1].gate_probability = 1.0;
  return p;
}

// A forward-looking sensor at the origin seeing +-45 degrees out to 100 m.
SensorMount front_sensor() {
  FieldOfView fov;
  fov.azimuth_half_rad = 0.25 * kPi;
  fov.max_range_m = 100.0;
  return SensorMount::from_yaw_pitch_roll(0.0, 0.0, 0.0, Vec<3>::Zero(), fov);
}

bool message_has(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
  } catch (const ConfigurationError& e) {
    return std::string(e.what()).find(needle) != std::string::npos;
  }
  return false;
}

}  // namespace

TEST_CASE("lifecycle: policy validation names the field") {
  CHECK(message_has([] { Lifecycle l(LifecyclePolicy{}); }, "LifecyclePolicy.sensors"));
  const auto bad = [](auto mutate) {
    LifecyclePolicy p = two_sensor_policy();
    mutate(p);
    Lifecycle l(p);
  };
  CHECK(message_has([&] { bad([](LifecyclePolicy& p) { p.sensors[1].pd = 1.5; }); },
                    "LifecyclePolicy.sensors[1].pd"));
  CHECK(message_has([&] { bad([](LifecyclePolicy& p) { p.sensors[0].clutter_density = 0.0; }); },
                    "sensors[0].clutter_density"));
  CHECK(message_has([&] { bad([](LifecyclePolicy& p) { p.sensors[0].gate_probability = 0.0; }); },
                    "sensors[0].gate_probability"));
  CHECK(message_has([&] { bad([](LifecyclePolicy& p) { p.max_coast_s = 0.0; }); }, "max_coast_s"));
  CHECK(message_has([&] { bad([](LifecyclePolicy& p) { p.tentative_max_coast_s = -1.0; }); },
                    "tentative_max_coast_s"));
  CHECK(message_has([&] { bad([](LifecyclePolicy& p) { p.confirm_window = 2; }); },
                    "confirm_window"));  // < confirm_hits = 3
  CHECK(message_has([&] { bad([](LifecyclePolicy& p) { p.delete_existence = 0.95; }); },
                    "delete_existence"));
  CHECK(message_has([&] { bad([](LifecyclePolicy& p) { p.mean_lifetime_s = 0.0; }); },
                    "mean_lifetime_s"));
  CHECK(message_has([&] { bad([](LifecyclePolicy& p) { p.birth_existence = 0.0; }); },
                    "birth_existence"));
  const LifecyclePolicy ok = two_sensor_policy();
  Lifecycle l(ok);
  Table wrong(4, 0, 3);
  CHECK_THROWS(l.check_table(wrong), ConfigurationError);
}

TEST_CASE("lifecycle: the existence recursion, by hand") {
  // miss: Lambda = 1 - pd pg = 0.1;  r+ = 0.1 * 0.5 / (1 - 0.5 + 0.1 * 0.5) = 0.05 / 0.55
  CHECK_CLOSE(existence_update(0.5, frame_likelihood_ratio(0.9, 1.0, 0.0)), 0.05 / 0.55, 1e-15);
  // hit with g/lambda = 10: Lambda = 0.1 + 9 = 9.1;  r+ = 4.55 / 5.05
  CHECK_CLOSE(existence_update(0.5, frame_likelihood_ratio(0.9, 1.0, 10.0)), 4.55 / 5.05, 1e-15);
  // pg < 1: Lambda = 1 - 0.9 * 0.99 = 0.109
  CHECK_CLOSE(frame_likelihood_ratio(0.9, 0.99, 0.0), 0.109, 1e-15);
  // out of the FOV (P_D = 0): Lambda = 1, no change
  CHECK_CLOSE(existence_update(0.3, frame_likelihood_ratio(0.0, 1.0, 5.0)), 0.3, 1e-15);
  // extremes stay in [0, 1] without NaN
  CHECK(existence_update(1.0, 0.0) == 0.0);
  CHECK(existence_update(0.5, std::numeric_limits<double>::infinity()) == 1.0);
  CHECK(existence_update(0.0, 10.0) == 0.0);
  CHECK_CLOSE(likelihood_ratio(std::log(0.2), 0.01), 20.0, 1e-12);
  CHECK_CLOSE(survival_probability(2.0, 10.0), std::exp(-0.2), 1e-15);
  CHECK(survival_probability(2.0, std::numeric_limits<double>::infinity()) == 1.0);
  CHECK(survival_probability(-1.0, 10.0) == 1.0);

  LifecyclePolicy p = two_sensor_policy();
  p.confirm_hits = 0;
  p.confirm_by_existence = false;
  p.mean_lifetime_s = 10.0;
  Lifecycle l(p);
  Table t(4, 0, 2);
  const Index s = l.birth(t, at(10, 0), kP, 0, 0);
  CHECK_CLOSE(t.existence(s), 0.5, 0.0);
  l.on_hit(t, s, 0, 2000 * kMs, 10.0);  // 2 s later: r- = 0.5 exp(-0.2), then the hit
  const double rp = 0.5 * std::exp(-0.2), L = 1.0 - 0.9 + 0.9 * 10.0;
  CHECK_CLOSE(t.existence(s), L * rp / (1.0 - rp + L * rp), 1e-14);
  CHECK(t.existence_t_ns(s) == 2000 * kMs);
  const double r1 = t.existence(s);
  l.on_hit(t, s, 1, 2000 * kMs);  // same time, nominal ratio 10 of sensor 1 (pd 0.8)
  const double L1 = 1.0 - 0.8 + 0.8 * 10.0;
  CHECK_CLOSE(t.existence(s), L1 * r1 / (1.0 - r1 + L1 * r1), 1e-14);
}

TEST_CASE("lifecycle: a miss counts only inside the sensor's field of view") {
  LifecyclePolicy p = two_sensor_policy();
  Lifecycle l(p);
  Table t(4, 0, 2);
  const SensorMount mount = front_sensor();
  const CVBox motion;
  const Index inside = l.birth(t, at(10, 1), kP, 0, 1);
  const Index behind = l.birth(t, at(-10, 0), kP, 0, 1);
  const Index far = l.birth(t, at(150, 0), kP, 0, 1);
  CHECK(in_sensor_fov(motion, at(10, 1), mount));
  CHECK(!in_sensor_fov(motion, at(-10, 0), mount));
  CHECK(!in_sensor_fov(motion, at(150, 0), mount));
  const Index none[3] = {-1, -1, -1};
  l.process_frame(t, motion, mount, 0, 100 * kMs, none);
  CHECK_CLOSE(t.existence(inside), 0.05 / 0.55, 1e-15);  // penalised
  CHECK_CLOSE(t.existence(behind), 0.5, 0.0);             // not penalised
  CHECK_CLOSE(t.existence(far), 0.5, 0.0);
  CHECK(t.evidence(inside, 0).misses == 1 && t.evidence(inside, 0).history.frames == 1);
  CHECK(t.evidence(behind, 0).misses == 0 && t.evidence(behind, 0).history.frames == 0);
  CHECK(t.window(behind).frames == 1);  // only the birth hit
  CHECK(t.window(inside).frames == 2);
  // a hit is a hit wherever the track is predicted
  const Index hit_behind[3] = {-1, 0, -1};
  l.process_frame(t, motion, mount, 0, 200 * kMs, hit_behind);
  CHECK(t.evidence(behind, 0).hits == 1 && t.evidence(behind, 0).last_update_ns == 200 * kMs);
}

TEST_CASE("lifecycle: M-of-N confirmation over in-FOV frames only") {
  LifecyclePolicy p = two_sensor_policy();
  p.confirm_hits = 2;
  p.confirm_window = 3;
  p.confirm_by_existence = false;
  p.delete_existence = 0.0;
  Lifecycle l(p);
  Table t(4, 0, 2);
  const Index s = l.birth(t, at(10, 0), kP, 0, 0);  // window: H
  CHECK(t.status(s) == TrackStatus::kTentative);
  for (int k = 0; k < 5; ++k) l.on_miss(t, s, 1, (k + 1) * kMs, /*in_fov=*/false);
  CHECK(t.window(s).frames == 1 && t.status(s) == TrackStatus::kTentative);
  l.on_miss(t, s, 0, 10 * kMs, true);  // H M
  l.on_miss(t, s, 1, 11 * kMs, true);  // H M M
  l.on_hit(t, s, 0, 12 * kMs);         // H M M H: last 3 = M M H, 1 hit
  CHECK(t.status(s) == TrackStatus::kTentative);
  l.on_hit(t, s, 1, 13 * kMs);         // last 3 = M H H
  CHECK(t.status(s) == TrackStatus::kConfirmed);

  // a sensor that does not count for confirmation leaves the window alone
  p.sensors[1].counts_for_confirmation = false;
  Lifecycle l2(p);
  const Index u = l2.birth(t, at(10, 0), kP, 0, 0);
  l2.on_hit(t, u, 1, 20 * kMs);
  CHECK(t.status(u) == TrackStatus::kTentative && t.window(u).frames == 1);
  CHECK(t.evidence(u, 1).hits == 1);  // but its own evidence is recorded
  l2.on_hit(t, u, 0, 21 * kMs);
  CHECK(t.status(u) == TrackStatus::kConfirmed);
  // M = 1: confirmed at birth
  p.confirm_hits = 1;
  Lifecycle l3(p);
  CHECK(t.status(l3.birth(t, at(10, 0), kP, 0, 0)) == TrackStatus::kConfirmed);
}

TEST_CASE("lifecycle: confirmation by existence, coasting and recovery") {
  LifecyclePolicy p = two_sensor_policy();
  p.confirm_hits = 0;
  p.confirm_existence = 0.9;
  Lifecycle l(p);
  Table t(4, 0, 2);
  const Index s = l.birth(t, at(10, 0), kP, 0, 0);
  l.on_hit(t, s, 0, 10 * kMs, 10.0);  // 4.55 / 5.05 = 0.90099 >= 0.9
  CHECK(t.status(s) == TrackStatus::kConfirmed);
  l.on_miss(t, s, 1, 20 * kMs, false);  // unseen by sensor 1: unchanged
  CHECK(t.status(s) == TrackStatus::kConfirmed);
  l.on_miss(t, s, 1, 30 * kMs, true);
  CHECK(t.status(s) == TrackStatus::kCoasting);
  l.on_hit(t, s, 0, 40 * kMs, 10.0);
  CHECK(t.status(s) == TrackStatus::kConfirmed);
  // repeated in-FOV misses drive the existence below delete_existence: deleted on the miss
  TimeNs tt = 50 * kMs;
  while (t.status(s) != TrackStatus::kDeleted && tt < 1000 * kMs) l.on_miss(t, s, 0, tt += kMs, true);
  CHECK(t.status(s) == TrackStatus::kDeleted);
  CHECK(tt <= 55 * kMs);  // 0.94 -> 0.62 -> 0.14 -> 0.016 -> 0.0017 < 0.01: the 4th miss
}

TEST_CASE("lifecycle: coast deletion at the right nanosecond with irregular sensor timing") {
  LifecyclePolicy p = two_sensor_policy();
  p.confirm_hits = 1;  // confirmed at birth
  p.max_coast_s = 0.5;
  p.tentative_max_coast_s = 0.3;
  p.delete_existence = 0.0;
  Lifecycle l(p);
  Table t(4, 0, 2);
  const Index s = l.birth(t, at(10, 0), kP, 1000 * kMs, 0);
  // irregular frames: sensor 1 hits at 1.137 s; sensor 0 frames that cannot see it
  l.on_miss(t, s, 0, 1033 * kMs, false);
  l.on_hit(t, s, 1, 1137 * kMs);
  l.on_miss(t, s, 0, 1171 * kMs + 7, false);
  l.on_miss(t, s, 0, 1420 * kMs + 3, false);
  CHECK(t.last_update_any_ns(s) == 1137 * kMs);
  CHECK(l.advance(t, 1637 * kMs) == 0);  // exactly 0.5 s: kept
  CHECK(t.status(s) == TrackStatus::kConfirmed);
  CHECK(l.advance(t, 1637 * kMs + 1) == 1);  // 0.5 s + 1 ns: deleted
  CHECK(t.status(s) == TrackStatus::kDeleted);

  // a tentative track uses tentative_max_coast_s; a hit of ANY sensor refreshes it
  p.confirm_hits = 3;
  p.confirm_by_existence = false;
  Lifecycle lt(p);
  const Index u = lt.birth(t, at(10, 0), kP, 2000 * kMs, 1);
  lt.on_hit(t, u, 0, 2250 * kMs + 11);
  CHECK(lt.advance(t, 2550 * kMs + 11) == 0);
  CHECK(lt.advance(t, 2550 * kMs + 12) == 1);
  CHECK(t.status(u) == TrackStatus::kDeleted);
  t.compact();
  CHECK(t.size() == 0);
}

TEST_CASE("lifecycle: existence stays in [0, 1] under random evidence") {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> U(0.0, 1.0);
  LifecyclePolicy p = two_sensor_policy();
  p.sensors[1].pd = 1.0;
  p.delete_existence = 0.0;
  p.mean_lifetime_s = 0.7;
  Lifecycle l(p);
  Table t(4, 0, 2);
  const double ratios[] = {0.0, 1e-300, 1e-3, 1.0, 1e3, 1e300, std::numeric_limits<double>::infinity()};
  TimeNs now = 0;
  Index s = l.birth(t, at(10, 0), kP, now, 0);
  for (int k = 0; k < 5000; ++k) {
    now += static_cast<TimeNs>(U(rng) * 50.0 * static_cast<double>(kMs));
    const int sensor = static_cast<int>(rng() % 2);
    if (U(rng) < 0.5)
      l.on_hit(t, s, sensor, now, ratios[rng() % 7]);
    else
      l.on_miss(t, s, sensor, now, U(rng) < 0.7);
    const double r = t.existence(s);
    CHECK(r >= 0.0 && r <= 1.0);
    if (t.status(s) == TrackStatus::kDeleted) {
      t.compact();
      s = l.birth(t, at(10, 0), kP, now, 0);
    }
  }
}

TEST_CASE("class fusion: confusion matrices by hand, soft scores, validation") {
  const double A[4] = {0.8, 0.2, 0.3, 0.7};
  const ConfusionMatrix cm(2, A);
  double p[2] = {0.5, 0.5};
  CHECK(fuse_reported_class(p, 2, cm, 0));
  CHECK_CLOSE(p[0], 0.4 / 0.55, 1e-15);
  CHECK_CLOSE(p[1], 0.15 / 0.55, 1e-15);
  double q[2] = {0.5, 0.5};
  const double scores[2] = {6.0, 4.0};  // normalised to (0.6, 0.4)
  CHECK(fuse_class_scores(q, 2, cm, scores));
  // L = (0.8*0.6 + 0.2*0.4, 0.3*0.6 + 0.7*0.4) = (0.56, 0.46)
  CHECK_CLOSE(q[0], 0.56 / 1.02, 1e-15);
  CHECK_CLOSE(q[1], 0.46 / 1.02, 1e-15);
  // a one-hot soft report is the hard report
  double r1[2] = {0.3, 0.7}, r2[2] = {0.3, 0.7};
  const double onehot[2] = {0.0, 1.0};
  fuse_reported_class(r1, 2, cm, 1);
  fuse_class_scores(r2, 2, cm, onehot);
  CHECK_CLOSE(r1[0], r2[0], 1e-15);
  // out-of-range report, zero scores, impossible report: unchanged, false
  double u[2] = {1.0, 0.0};
  const double Z[4] = {1.0, 0.0, 0.0, 1.0};
  const double zero[2] = {0.0, 0.0};
  CHECK(!fuse_reported_class(u, 2, cm, 2));
  CHECK(!fuse_class_scores(u, 2, cm, zero));
  CHECK(!fuse_reported_class(u, 2, ConfusionMatrix(2, Z), 1));
  CHECK(u[0] == 1.0 && u[1] == 0.0);
  CHECK_THROWS(fuse_reported_class(u, 3, cm, 0), ShapeError);
  // rows must sum to 1, entries in [0, 1]
  const double badrow[4] = {0.8, 0.2, 0.3, 0.6};
  CHECK(message_has([&] { ConfusionMatrix m(2, badrow); }, "row 1"));
  const double neg[4] = {1.2, -0.2, 0.3, 0.7};
  CHECK_THROWS(ConfusionMatrix(2, neg), ConfigurationError);
  CHECK_THROWS(ConfusionMatrix::uniform_confusion(3, 1.5), ConfigurationError);
  const ConfusionMatrix uc = ConfusionMatrix::uniform_confusion(3, 0.7);
  CHECK_CLOSE(uc(0, 0), 0.7, 1e-15);
  CHECK_CLOSE(uc(2, 1), 0.15, 1e-15);
}

TEST_CASE("class fusion: per-sensor reports converge to the true class") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> U(0.0, 1.0);
  constexpr int C = 3, kTrue = 2;
  // camera: 70% right; lidar: 55% right, biased towards class 0; radar: no class
  const ConfusionMatrix camera = ConfusionMatrix::uniform_confusion(C, 0.7);
  const double L[9] = {0.8, 0.1, 0.1, 0.3, 0.6, 0.1, 0.35, 0.1, 0.55};
  const ConfusionMatrix lidar(C, L);
  const ClassFusion fusion_(C, {camera, lidar, ConfusionMatrix{}});
  CHECK(fusion_.reports_class(0) && !fusion_.reports_class(2) && !fusion_.reports_class(7));
  CHECK_THROWS(ClassFusion(2, {camera}), ConfigurationError);
  Table t(2, C, 3);
  const Index s = t.insert(at(10, 0), kP, 0, 0, 0.5);
  const auto draw = [&](const ConfusionMatrix& m) {
    const double u = U(rng);
    double acc = 0.0;
    for (int r = 0; r < C; ++r)
      if (u < (acc += m(kTrue, r))) return r;
    return C - 1;
  };
  for (int k = 0; k < 200; ++k) {
    fusion_.fuse(t, s, 0, draw(camera));
    fusion_.fuse(t, s, 1, draw(lidar));
    CHECK(!fusion_.fuse(t, s, 2, 1));  // radar: ignored
    CHECK_CLOSE(t.class_prob(s).sum(), 1.0, 1e-12);
  }
  CHECK(t.most_likely_class(s) == kTrue);
  CHECK(t.class_prob(s)(kTrue) > 0.99);
}

TEST_CASE("lifecycle and class fusion: no allocation in steady state") {
  LifecyclePolicy p = two_sensor_policy();
  p.max_coast_s = 0.2;
  Lifecycle l(p);
  Table t(16, 3, 2);
  const ClassFusion cf(3, {ConfusionMatrix::uniform_confusion(3, 0.8), ConfusionMatrix{}});
  const SensorMount mount = front_sensor();
  const CVBox motion;
  Index row_to_col[16];
  const double scores[3] = {0.2, 0.5, 0.3};
  const long before = g_allocations.load();
  TimeNs now = 0;
  for (int cycle = 0; cycle < 200; ++cycle) {
    now += 33 * kMs + cycle;
    l.birth(t, at(5.0 + cycle % 20, (cycle % 3) - 1.0), kP, now, cycle % 2);
    for (Index i = 0; i < t.slots().size(); ++i) row_to_col[i] = (i + cycle) % 3 == 0 ? 0 : -1;
    l.process_frame(t, motion, mount, cycle % 2, now, row_to_col);
    t.for_each_live([&](Index s) {
      cf.fuse(t, s, 0, cycle % 3);
      cf.fuse_scores(t, s, 0, scores);
    });
    l.advance(t, now);
    t.compact();
  }
  CHECK(g_allocations.load() == before);
}

TEST_CASE("lifecycle: tentative_max_misses deletes a tentative track whose full window missed M of N") {
  LifecyclePolicy p = two_sensor_policy();
  p.confirm_hits = 3;
  p.confirm_window = 4;
  p.confirm_by_existence = false;
  p.delete_existence = 0.0;
  p.tentative_max_misses = 1;  // N - M: the old box tracker's rule
  Lifecycle l(p);
  Table t(4, 0, 2);
  const SensorMount front = front_sensor();
  const Index s = l.birth(t, at(10.0, 0.0), kP, 0, 0);  // window: H
  l.on_miss(t, s, 0, 100, true);                          // H M
  l.on_miss(t, s, 0, 200, true);                          // H M M: 3 of 4 out of reach, but the
  CHECK(t.status(s) == TrackStatus::kTentative);          // window is judged only when full
  l.on_hit(t, s, 0, 300);                                 // H M M H: 2 misses > 1
  CHECK(t.status(s) == TrackStatus::kDeleted);
  // a confirmed track is not affected; an out-of-FOV miss records nothing
  const Index u = l.birth(t, at(10.0, 0.0), kP, 300, 0);
  l.on_hit(t, u, 0, 400);
  l.on_miss(t, u, 0, 450, false);
  l.on_hit(t, u, 0, 500);
  CHECK(t.status(u) == TrackStatus::kConfirmed);
  l.on_miss(t, u, 0, 600, true);
  l.on_miss(t, u, 0, 700, true);
  CHECK(t.status(u) == TrackStatus::kCoasting);
  (void)front;
  p.tentative_max_misses = 5;  // > confirm_window
  CHECK(message_has([&] { Lifecycle bad(p); }, "tentative_max_misses"));
}

TEST_CASE("lifecycle: a sensor that does not count for coasting cannot keep a track alive") {
  LifecyclePolicy p = two_sensor_policy();
  p.sensors[1].counts_for_coast = false;
  p.max_coast_s = 0.5;
  p.tentative_max_coast_s = 0.5;
  Lifecycle l(p);
  Table t(4, 0, 2);
  const Index s = l.birth(t, at(10.0, 0.0), kP, 0, 0);
  for (TimeNs k = 1; k <= 5; ++k) l.on_hit(t, s, 1, k * 100000000);  // camera-like hits
  CHECK(l.advance(t, 500000000) == 0);
  CHECK(l.advance(t, 500000001) == 1);  // 0.5 s after the last counting hit (the birth)
  CHECK(t.status(s) == TrackStatus::kDeleted);
}
