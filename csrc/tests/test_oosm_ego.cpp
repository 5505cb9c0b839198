// The time layer's ego motion (engine/oosm.hpp with contract C1's Frame ego fields): a stationary
// object seen by a lidar and a radar on a car that drives an arc stays put in the odometry frame
// (position and zero velocity), and the publish-time export gives it in the vehicle frame of
// the odometry pose at that time.
#include <cmath>
#include <cstdint>
#include <vector>

#include "fusion/core/errors.hpp"
#include "fusion/engine/engine.hpp"
#include "fusion/engine/oosm.hpp"
#include "fusion/track/record.hpp"
#include "test_framework.hpp"

using fusion::Index;
using fusion::TimeNs;
using fusion::TimestampError;
using namespace fusion::engine;  // NOLINT: the module under test

namespace {

constexpr int N = 10;  // cv_box
using Record = fusion::track::TrackRecord<N>;
constexpr TimeNs kMs = 1000000;
constexpr double kV = 10.0, kW = 0.1;  // the car: 10 m/s on an arc of 100 m radius
const double kLidarT[3] = {1.5, 0.0, 1.8};
const double kRadarT[3] = {3.5, 0.0, 0.5};
const double kObjects[2][2] = {{40.0, 10.0}, {60.0, -5.0}};  // stationary, odometry frame

EngineConfig ego_config() {
  EngineConfig c;
  c.motion = "cv_box";
  c.q_diag_per_s = {0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.01, 0.001, 0.001, 0.001};
  c.p0_diag = {1, 1, 1, 100, 100, 1, 1, 1, 1, 1};
  c.max_tracks = 16;
  c.max_detections = 16;
  c.max_image_tracks = 0;
  c.lifecycle.confirm_hits = 2;
  c.lifecycle.confirm_window = 3;
  c.lifecycle.confirm_by_existence = false;
  c.lifecycle.delete_existence = 0.0;
  SensorConfig l;
  l.name = "lidar";
  l.model = "lidar_box3d";
  l.cost = "mahalanobis";
  l.gate = 0.999;
  l.mount_t << kLidarT[0], kLidarT[1], kLidarT[2];
  l.R.assign(49, 0.0);
  for (int i = 0; i < 7; ++i) l.R[static_cast<std::size_t>(i * 8)] = 0.01;
  SensorConfig r;
  r.name = "radar";
  r.model = "radar";
  r.cost = "mahalanobis";
  r.gate = 0.999;
  r.births = false;
  r.mount_t << kRadarT[0], kRadarT[1], kRadarT[2];
  r.R = {0.04, 0, 0, 0, 1e-5, 0, 0, 0, 0.01};
  c.sensors = {l, r};
  return c;
}

struct Pose {
  double x, y, yaw;
};
Pose truth_pose(double t) {  // the exact arc from the origin
  const double R = kV / kW;
  return {R * std::sin(kW * t), R * (1.0 - std::cos(kW * t)), kW * t};
}

// A point of the odometry frame in the vehicle frame of pose p.
void to_vehicle(const Pose& p, double x, double y, double& vx, double& vy) {
  const double c = std::cos(p.yaw), s = std::sin(p.yaw), dx = x - p.x, dy = y - p.y;
  vx = c * dx + s * dy;
  vy = -s * dx + c * dy;
}

std::vector<Record> tracks_of(const EngineBase& e) {
  std::vector<Record> out(16);
  out.resize(static_cast<std::size_t>(e.export_tracks(out.data(), 16, false)));
  return out;
}

}  // namespace

TEST_CASE("oosm ego: stationary objects stay put in the odometry frame while the car drives an arc") {
  auto e = make_engine(ego_config());
  auto& t = dynamic_cast<OosmEngine&>(*e);
  for (int i = 0; i <= 600; ++i) t.add_ego_motion(i * 10 * kMs, kV, kW);  // 6 s of CAN at 100 Hz
  for (int f = 0; f < 50; ++f) {
    const TimeNs tl = f * 100 * kMs, tr = tl + 50 * kMs;
    const Pose pl = truth_pose(static_cast<double>(tl) * 1e-9), pr = truth_pose(static_cast<double>(tr) * 1e-9);
    double zl[2 * 7], zr[2 * 3];
    for (int o = 0; o < 2; ++o) {
      double vx, vy;
      to_vehicle(pl, kObjects[o][0], kObjects[o][1], vx, vy);
      const double b[7] = {vx - kLidarT[0], vy - kLidarT[1], 0.75 - kLidarT[2], -pl.yaw, 4.0, 1.8, 1.5};
      for (int j = 0; j < 7; ++j) zl[o * 7 + j] = b[j];
      to_vehicle(pr, kObjects[o][0], kObjects[o][1], vx, vy);
      const double sx = vx - kRadarT[0], sy = vy - kRadarT[1], sz = 0.75 - kRadarT[2];
      const double range = std::sqrt(sx * sx + sy * sy + sz * sz);
      // the radar's own velocity (vehicle frame): (v - w t_y, w t_x, 0); the object is still
      const double ux = kV - kW * kRadarT[1], uy = kW * kRadarT[0];
      zr[o * 3 + 0] = std::hypot(sx, sy);
      zr[o * 3 + 1] = std::atan2(sy, sx);
      zr[o * 3 + 2] = -(sx * ux + sy * uy) / range;
    }
    Frame fl;
    fl.sensor = 0, fl.t_ns = tl, fl.n = 2, fl.z = zl;
    e->process(fl);
    Frame fr;
    fr.sensor = 1, fr.t_ns = tr, fr.n = 2, fr.z = zr;
    e->process(fr);
  }
  const auto tr = tracks_of(*e);
  CHECK(tr.size() == 2);
  for (const Record& r : tr) {
    const int o = r.box[0] < 50.0 ? 0 : 1;
    CHECK_CLOSE(r.box[0], kObjects[o][0], 0.1);
    CHECK_CLOSE(r.box[1], kObjects[o][1], 0.1);
    CHECK(std::hypot(r.velocity[0], r.velocity[1]) < 0.1);
  }
  // publish time in the vehicle frame: the object where the car sees it at that time
  const TimeNs at = 5000 * kMs;
  const Pose p = truth_pose(5.0);
  const EgoPose ep = t.ego_pose_at(at);
  CHECK_CLOSE(ep.x_m, p.x, 1e-9);
  CHECK_CLOSE(ep.y_m, p.y, 1e-9);
  std::vector<Record> veh(16);
  veh.resize(static_cast<std::size_t>(t.export_tracks_at(veh.data(), 16, false, at, true)));
  CHECK(veh.size() == 2);
  for (const Record& r : veh) {
    const int o = r.id == tr[0].id ? (tr[0].box[0] < 50.0 ? 0 : 1) : (tr[1].box[0] < 50.0 ? 0 : 1);
    double vx, vy;
    to_vehicle(p, kObjects[o][0], kObjects[o][1], vx, vy);
    CHECK_CLOSE(r.box[0], vx, 0.15);
    CHECK_CLOSE(r.box[1], vy, 0.15);
    // the velocity stays over ground (only its axes change): still ~0
    CHECK(std::hypot(r.velocity[0], r.velocity[1]) < 0.1);
  }
  // the odometry frame at that time: the same as the live tracks (none of them moves)
  std::vector<Record> odo(16);
  odo.resize(static_cast<std::size_t>(t.export_tracks_at(odo.data(), 16, false, at, false)));
  for (std::size_t i = 0; i < odo.size(); ++i) CHECK_CLOSE(odo[i].box[0], tr[i].box[0], 0.05);
  // out of the odometry's reach
  CHECK_THROWS(t.export_tracks_at(odo.data(), 16, false, 7000 * kMs, true), TimestampError);
}

TEST_CASE("oosm ego: a frame whose time the odometry does not cover raises and changes nothing") {
  auto e = make_engine(ego_config());
  auto& t = dynamic_cast<OosmEngine&>(*e);
  t.add_ego_motion(0, kV, kW);
  t.add_ego_motion(100 * kMs, kV, kW);
  double z[7] = {20, 0, 0, 0, 4, 1.8, 1.5};
  Frame f;
  f.sensor = 0, f.t_ns = 700 * kMs, f.n = 1, f.z = z;  // 0.6 s after the newest sample
  CHECK_THROWS(e->process(f), TimestampError);
  CHECK(!e->has_time() && e->num_tracks() == 0);
  f.t_ns = 550 * kMs;
  e->process(f);
  CHECK(e->num_tracks() == 1);
  // a frame with its own ego fields is taken as given
  f.t_ns = 5000 * kMs;
  f.has_ego = true;
  e->process(f);
  CHECK(e->stats().frames == 2);
}
