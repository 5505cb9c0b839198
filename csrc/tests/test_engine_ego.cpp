// Contract C1 of the engine (engine/engine.hpp): ego motion in Frame and ExportOptions.
//   - A stationary object seen by a radar (range, azimuth, range rate) from a car driving at
//     10 m/s while turning: with ego input its track stays put in the odometry frame with a
//     velocity near zero; the range rate the engine predicts is -v_sensor . u (by hand, u the
//     unit line of sight): a detection with that range rate is in a tight gate, one with the
//     static-sensor value (0 here) is not. The same measurements without ego input: the object
//     is tracked as moving (in the vehicle frame).
//   - Non-finite ego fields raise NumericalError naming the field and change nothing.
//   - export_tracks with at_time equals the hand prediction (F, Q of cv_box); vehicle_frame
//     equals the hand transform; the engine's state does not change; allocation-free.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "alloc_counter.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/engine/engine.hpp"
#include "fusion/track/record.hpp"
#include "test_framework.hpp"

using fusion::Index;
using fusion::NumericalError;
using fusion::TimeNs;
using namespace fusion::engine;  // NOLINT: the module under test

namespace {

constexpr int N = 10;  // cv_box: x, y, z, vx, vy, vz, yaw, l, w, h
using Record = fusion::track::TrackRecord<N>;
constexpr TimeNs kMs = 1000000;
constexpr double kV = 10.0, kOmega = 0.1;  // the car: speed [m/s], yaw rate [rad/s]
// The radar's mount in the vehicle frame: 3.5 m ahead, 0.4 m left, yawed 0.2 rad to the left.
constexpr double kMx = 3.5, kMy = 0.4, kMyaw = 0.2;
constexpr double kOx = 70.0, kOy = 12.0;  // the stationary object (odometry frame)

EngineConfig radar_config() {
  EngineConfig c;
  c.motion = "cv_box";
  c.q_diag_per_s = {0.01, 0.01, 0.01, 0.05, 0.05, 0.01, 0.01, 0.01, 0.01, 0.01};
  c.p0_diag = {1, 1, 1, 100, 100, 1, 1, 1, 1, 1};
  c.num_classes = 1;
  c.max_tracks = 8;
  c.max_detections = 8;
  c.max_image_tracks = 0;
  c.lifecycle.confirm_hits = 2;
  c.lifecycle.confirm_window = 3;
  c.lifecycle.confirm_by_existence = false;
  c.lifecycle.delete_existence = 0.0;
  SensorConfig r;
  r.name = "radar";
  r.model = "radar";
  r.cost = "mahalanobis";
  r.gate = 0.999;
  r.mount_R << std::cos(kMyaw), -std::sin(kMyaw), 0, std::sin(kMyaw), std::cos(kMyaw), 0, 0, 0, 1;
  r.mount_t << kMx, kMy, 0.5;
  r.R = {0.01, 0, 0, 0, 1e-5, 0, 0, 0, 0.01};
  c.sensors = {r};
  return c;
}

// The car's pose at t [s] on its circle (exact unicycle integration from the origin).
struct Pose {
  double x, y, yaw;
};
Pose ego_pose(double t) {
  const double yaw = kOmega * t;
  return {kV / kOmega * std::sin(yaw), kV / kOmega * (1.0 - std::cos(yaw)), yaw};
}

// By hand, without the radar model: the sensor's position and velocity in the odometry frame
// (rigid body: v_origin + omega x lever arm), the line of sight u from the sensor to the object,
// range, azimuth against the sensor's boresight (yaw + mount yaw), range rate = -v_sensor . u.
void radar_truth(double t, double* z) {
  const Pose p = ego_pose(t);
  const double c = std::cos(p.yaw), s = std::sin(p.yaw);
  const double sx = p.x + c * kMx - s * kMy, sy = p.y + s * kMx + c * kMy;
  // lever-arm velocity in the vehicle frame, then rotated into the odometry frame
  const double lvx = kV - kOmega * kMy, lvy = kOmega * kMx;
  const double vx = c * lvx - s * lvy, vy = s * lvx + c * lvy;
  const double dx = kOx - sx, dy = kOy - sy, r = std::hypot(dx, dy);
  double az = std::atan2(dy, dx) - (p.yaw + kMyaw);
  az = std::atan2(std::sin(az), std::cos(az));
  z[0] = r;
  z[1] = az;
  z[2] = -(vx * dx + vy * dy) / r;
}

Frame radar_frame(TimeNs t, Index n, const double* z, bool ego) {
  Frame f;
  f.sensor = 0;
  f.t_ns = t;
  f.n = n;
  f.z = z;
  if (ego) {
    const Pose p = ego_pose(static_cast<double>(t) * 1e-9);
    f.has_ego = true;
    f.ego_x_m = p.x;
    f.ego_y_m = p.y;
    f.ego_yaw_rad = p.yaw;
    f.ego_speed_mps = kV;
    f.ego_yaw_rate_rps = kOmega;
  }
  return f;
}

std::vector<Record> tracks_of(const EngineBase& e, const ExportOptions& opt = {}) {
  std::vector<Record> out(16);
  const Index n = e.export_tracks(out.data(), 16, opt);
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// 3 s at 20 Hz of the drive; returns the engine.
std::unique_ptr<EngineBase> drive(bool ego, int frames = 60) {
  auto e = make_engine(radar_config());
  for (int k = 0; k < frames; ++k) {
    double z[3];
    radar_truth(0.05 * k, z);
    e->process(radar_frame(static_cast<TimeNs>(k) * 50 * kMs, 1, z, ego));
  }
  return e;
}

}  // namespace

TEST_CASE("engine ego: a stationary object seen by radar from a turning car stays put, velocity ~0") {
  auto e = drive(true);
  const auto tr = tracks_of(*e);
  CHECK(tr.size() == 1);
  if (tr.size() != 1) return;
  CHECK(tr[0].status == 1);
  CHECK(tr[0].hits[0] == 60);
  CHECK_CLOSE(tr[0].x[0], kOx, 0.1);
  CHECK_CLOSE(tr[0].x[1], kOy, 0.1);
  CHECK(std::hypot(tr[0].x[3], tr[0].x[4]) < 0.05);
}

TEST_CASE("engine ego: the predicted range rate is -v_sensor . u (a tight gate takes it, not the static value)") {
  // A converged track, then one more frame with a tight chi-square gate on the three components:
  // the hand-computed range rate is a hit; the static-sensor range rate (0: the object does not
  // move) is 10 m/s off with sigma 0.1 m/s: a miss and a new track.
  for (const bool hand : {true, false}) {
    EngineConfig c = radar_config();
    c.sensors[0].gate_chi2 = 16.0;
    auto e = make_engine(c);
    double z[3];
    for (int k = 0; k < 40; ++k) {
      radar_truth(0.05 * k, z);
      e->process(radar_frame(static_cast<TimeNs>(k) * 50 * kMs, 1, z, true));
    }
    radar_truth(0.05 * 40, z);
    CHECK(z[2] < -9.0);  // mostly closing (the object is ahead, a little to the left)
    if (!hand) z[2] = 0.0;
    e->process(radar_frame(40 * 50 * kMs, 1, z, true));
    const auto tr = tracks_of(*e);
    CHECK(tr.size() == (hand ? 1u : 2u));
    if (tr.empty()) continue;
    CHECK(tr[0].hits[0] == (hand ? 41 : 40));
    CHECK(tr[0].detection[0] == (hand ? 0 : -1));
  }
}

TEST_CASE("engine ego: the same measurements without ego input track the object as moving") {
  auto e = drive(false);
  const auto tr = tracks_of(*e);
  CHECK(!tr.empty());
  if (tr.empty()) return;
  // The longest-lived track: in the vehicle frame the object comes at the car at about its
  // speed, and it is where the car sees it at t = 2.95 s, not at (kOx, kOy).
  std::size_t b = 0;
  for (std::size_t i = 1; i < tr.size(); ++i)
    if (tr[i].hits[0] > tr[b].hits[0]) b = i;
  CHECK(tr[b].hits[0] >= 20);
  CHECK(std::hypot(tr[b].x[3], tr[b].x[4]) > 8.0);
  CHECK(tr[b].x[3] < -8.0);
  CHECK(std::hypot(tr[b].x[0] - kOx, tr[b].x[1] - kOy) > 10.0);
}

TEST_CASE("engine ego: non-finite ego fields raise naming the field and change nothing") {
  auto e = drive(true, 10);
  const auto before = tracks_of(*e);
  const EngineStats s0 = e->stats();
  const char* names[] = {"ego_x_m", "ego_y_m", "ego_yaw_rad", "ego_speed_mps", "ego_yaw_rate_rps"};
  for (int i = 0; i < 5; ++i) {
    double z[3];
    radar_truth(0.5, z);
    Frame f = radar_frame(10 * 50 * kMs, 1, z, true);
    double* fields[] = {&f.ego_x_m, &f.ego_y_m, &f.ego_yaw_rad, &f.ego_speed_mps, &f.ego_yaw_rate_rps};
    *fields[i] = i % 2 ? std::numeric_limits<double>::infinity() : std::nan("");
    bool threw = false;
    try {
      e->process(f);
    } catch (const NumericalError& ex) {
      threw = std::string(ex.what()).find(names[i]) != std::string::npos;
    }
    CHECK(threw);
  }
  const auto after = tracks_of(*e);
  CHECK(after.size() == before.size());
  CHECK(e->stats().frames == s0.frames);
  CHECK(e->time_ns() == 9 * 50 * kMs);
  for (std::size_t i = 0; i < std::min(after.size(), before.size()); ++i)
    for (int a = 0; a < N; ++a) CHECK(after[i].x[a] == before[i].x[a]);
  // has_ego = false: the fields are ignored
  double z[3];
  radar_truth(0.5, z);
  Frame f = radar_frame(10 * 50 * kMs, 0, z, false);
  f.ego_x_m = std::nan("");
  e->process(f);
  CHECK(e->stats().frames == s0.frames + 1);
}

TEST_CASE("engine export: at_time equals the hand prediction; vehicle_frame the hand transform") {
  auto e = drive(true, 20);
  const auto now = tracks_of(*e);
  CHECK(now.size() == 1);
  if (now.size() != 1) return;
  const Record& r0 = now[0];
  const double dt = 0.4;
  ExportOptions opt;
  opt.at_time = true;
  opt.t_ns = r0.t_ns + 400 * kMs;
  const auto pr = tracks_of(*e, opt);
  CHECK(pr.size() == 1);
  if (pr.size() != 1) return;
  CHECK(pr[0].t_ns == opt.t_ns);
  // cv_box by hand: F = I + dt on (x, y, z) <- (vx, vy, vz); Q = diag(q) dt
  const double q[N] = {0.01, 0.01, 0.01, 0.05, 0.05, 0.01, 0.01, 0.01, 0.01, 0.01};
  double F[N][N] = {};
  for (int i = 0; i < N; ++i) F[i][i] = 1.0;
  for (int i = 0; i < 3; ++i) F[i][i + 3] = dt;
  for (int i = 0; i < N; ++i) {
    double xi = 0.0;
    for (int j = 0; j < N; ++j) xi += F[i][j] * r0.x[j];
    CHECK_CLOSE(pr[0].x[i], xi, 1e-12);
    for (int j = 0; j < N; ++j) {
      double pij = i == j ? q[i] * dt : 0.0;
      for (int a = 0; a < N; ++a)
        for (int b = 0; b < N; ++b) pij += F[i][a] * r0.P[a * N + b] * F[j][b];
      CHECK_CLOSE(pr[0].P[i * N + j], pij, 1e-10);
    }
  }
  CHECK_CLOSE(pr[0].box[0], r0.x[0] + dt * r0.x[3], 1e-12);
  CHECK_CLOSE(pr[0].box[1], r0.x[1] + dt * r0.x[4], 1e-12);
  // a time before the track's: reported as it is
  opt.t_ns = r0.t_ns - 100 * kMs;
  const auto old = tracks_of(*e, opt);
  CHECK(old.size() == 1 && old[0].t_ns == r0.t_ns && old[0].x[0] == r0.x[0] && old[0].P[3 * N + 3] == r0.P[3 * N + 3]);
  // the engine did not change
  const auto again = tracks_of(*e);
  CHECK(again.size() == 1 && again[0].x[0] == r0.x[0] && again[0].t_ns == r0.t_ns);

  // vehicle frame of pose (ex, ey, eyaw): p_v = Rz(-eyaw) (p - e), yaw - eyaw, v_v = Rz(-eyaw) v
  ExportOptions vf;
  vf.vehicle_frame = true;
  vf.ego_x_m = 5.0;
  vf.ego_y_m = -2.0;
  vf.ego_yaw_rad = 3.0;
  const auto v = tracks_of(*e, vf);
  CHECK(v.size() == 1);
  if (v.size() != 1) return;
  const double c = std::cos(3.0), s = std::sin(3.0);
  const double dx = r0.box[0] - 5.0, dy = r0.box[1] + 2.0;
  CHECK_CLOSE(v[0].box[0], c * dx + s * dy, 1e-12);
  CHECK_CLOSE(v[0].box[1], -s * dx + c * dy, 1e-12);
  CHECK_CLOSE(v[0].box[2], r0.box[2], 1e-12);
  double yaw = r0.box[3] - 3.0;
  yaw = std::atan2(std::sin(yaw), std::cos(yaw));
  CHECK_CLOSE(v[0].box[3], yaw, 1e-12);
  for (int a = 4; a < 7; ++a) CHECK(v[0].box[a] == r0.box[a]);
  CHECK_CLOSE(v[0].velocity[0], c * r0.velocity[0] + s * r0.velocity[1], 1e-12);
  CHECK_CLOSE(v[0].velocity[1], -s * r0.velocity[0] + c * r0.velocity[1], 1e-12);
  CHECK(v[0].velocity[2] == r0.velocity[2]);
  for (int a = 0; a < N; ++a) CHECK(v[0].x[a] == r0.x[a]);  // x stays in the tracking frame
  vf.ego_yaw_rad = std::nan("");
  CHECK_THROWS(tracks_of(*e, vf), NumericalError);
}

TEST_CASE("engine ego: steady-state process() with ego motion and export at_time allocate nothing") {
  auto e = make_engine(radar_config());
  std::vector<Record> out(16);
  ExportOptions opt;
  opt.at_time = true;
  opt.vehicle_frame = true;
  auto step = [&](int k) {
    double z[3];
    radar_truth(0.05 * k, z);
    e->process(radar_frame(static_cast<TimeNs>(k) * 50 * kMs, 1, z, true));
    opt.t_ns = static_cast<TimeNs>(k) * 50 * kMs + 20 * kMs;
    e->export_tracks(out.data(), 16, opt);
  };
  for (int k = 0; k < 10; ++k) step(k);  // warm-up: the time layer's history reaches its size (0.3 s)
  const long before = g_allocations.load();
  for (int k = 10; k < 40; ++k) step(k);
  CHECK(g_allocations.load() == before);
  CHECK(e->num_tracks() == 1);
}
