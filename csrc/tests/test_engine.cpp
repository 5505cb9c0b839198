// The fusion engine (engine/engine.hpp): known-truth lidar scene, lidar + camera identity
// handover (JOIN and LEAVE), a sensor that cannot see a track does not penalise it, bad input
// changes nothing, late frames, and no allocation in the steady-state process() loop.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "alloc_counter.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/engine/engine.hpp"
#include "fusion/track/record.hpp"
#include "test_framework.hpp"

using fusion::ConfigurationError;
using fusion::Index;
using fusion::Mat;
using fusion::NumericalError;
using fusion::ShapeError;
using fusion::TimeNs;
using fusion::TimestampError;
using fusion::Vec;
using namespace fusion::engine;  // NOLINT: the module under test

namespace {

constexpr int N = 10;  // cv_box
using Record = fusion::track::TrackRecord<N>;
constexpr TimeNs kMs = 1000000;

SensorConfig lidar_sensor() {
  SensorConfig s;
  s.name = "lidar";
  s.model = "lidar_box3d";
  s.cost = "giou_3d";
  s.gate = -0.5;
  s.R = {0.1, 0, 0, 0, 0, 0, 0,  //
         0, 0.1, 0, 0, 0, 0, 0,  //
         0, 0, 0.1, 0, 0, 0, 0,  //
         0, 0, 0, 0.1, 0, 0, 0,  //
         0, 0, 0, 0, 0.1, 0, 0,  //
         0, 0, 0, 0, 0, 0.1, 0,  //
         0, 0, 0, 0, 0, 0, 0.1};
  return s;
}

// A camera at the origin looking along +x (body frame = tracking frame): K [I | 0] in the
// optical frame, 1242 x 375 px like KITTI.
SensorConfig camera_sensor() {
  SensorConfig s;
  s.name = "camera";
  s.model = "camera_box2d";
  s.cost = "iou_2d";
  s.gate = 0.3;
  s.has_projection = true;
  s.projection << 700, 0, 621, 0,  //
      0, 700, 187, 0,              //
      0, 0, 1, 0;
  s.image_width_px = 1242;
  s.image_height_px = 375;
  s.R = {16, 0, 0, 0, 0, 16, 0, 0, 0, 0, 16, 0, 0, 0, 0, 16};
  s.update_state = false;
  s.births = false;
  s.counts_for_confirmation = false;
  s.counts_for_coast = false;
  s.image_tracks = true;
  s.fov.azimuth_half_rad = 0.7;
  return s;
}

EngineConfig base_config() {
  EngineConfig c;
  c.motion = "cv_box";
  c.q_diag_per_s = {1, 1, 1, 1, 1, 1, 1, 0.1, 0.1, 0.1};
  c.p0_diag = {1, 1, 1, 100, 100, 100, 1, 1, 1, 1};
  c.num_classes = 2;
  c.max_tracks = 32;
  c.max_detections = 32;
  c.max_image_tracks = 16;
  c.lifecycle.confirm_hits = 2;
  c.lifecycle.confirm_window = 3;
  c.lifecycle.confirm_by_existence = false;
  c.lifecycle.delete_existence = 0.0;
  c.lifecycle.birth_existence = 0.5;
  c.lifecycle.max_coast_s = 0.35;
  c.lifecycle.tentative_max_coast_s = 0.35;
  c.image_track.confirm_hits = 2;
  c.image_track.confirm_window = 3;
  c.sensors = {lidar_sensor()};
  return c;
}

struct Truth {
  double x, y, vx, vy;
};

// Lidar box of a truth object at time t [s] (z centre 0.75, yaw along +x, 4 x 1.8 x 1.5 m).
void lidar_box(const Truth& o, double t, double* z) {
  const double b[7] = {o.x + o.vx * t, o.y + o.vy * t, 0.75, 0.0, 4.0, 1.8, 1.5};
  std::memcpy(z, b, sizeof(b));
}

// Its camera box: the projection of the same box's 8 corners (the camera model's h, by hand).
void camera_box(const Truth& o, double t, double* z) {
  const double cx = o.x + o.vx * t, cy = o.y + o.vy * t;
  double u0 = 1e9, v0 = 1e9, u1 = -1e9, v1 = -1e9;
  for (int k = 0; k < 8; ++k) {
    const double px = cx + ((k & 1) ? 2.0 : -2.0), py = cy + ((k & 2) ? 0.9 : -0.9);
    const double pz = 0.75 + ((k & 4) ? 0.75 : -0.75);
    // optical = (-y, -z, x); u = 700 (-y) / x + 621, v = 700 (-z) / x + 187
    const double u = 700.0 * (-py) / px + 621.0, v = 700.0 * (-pz) / px + 187.0;
    u0 = std::min(u0, u), u1 = std::max(u1, u), v0 = std::min(v0, v), v1 = std::max(v1, v);
  }
  const double b[4] = {std::max(u0, 0.0), std::max(v0, 0.0), std::min(u1, 1242.0), std::min(v1, 375.0)};
  std::memcpy(z, b, sizeof(b));
}

template <int Dim = N>
std::vector<fusion::track::TrackRecord<Dim>> tracks_of(const EngineBase& e, bool include_deleted = false) {
  std::vector<fusion::track::TrackRecord<Dim>> out(64);
  const Index n = e.export_tracks(out.data(), 64, include_deleted);
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::vector<ImageTrackRecord> image_tracks_of(const EngineBase& e) {
  std::vector<ImageTrackRecord> out(64);
  const Index n = e.export_image_tracks(out.data(), 64);
  out.resize(static_cast<std::size_t>(n));
  return out;
}

Frame frame(int sensor, TimeNs t, Index n, const double* z, const double* score = nullptr,
            const std::int32_t* cls = nullptr) {
  Frame f;
  f.sensor = sensor;
  f.t_ns = t;
  f.n = n;
  f.z = z;
  f.score = score;
  f.class_id = cls;
  return f;
}

}  // namespace

TEST_CASE("engine: lidar-only scene with known truth") {
  auto e = make_engine(base_config());
  const Truth objs[3] = {{10, 0, 5, 0}, {20, 8, -3, 1}, {-15, -6, 0, 2}};
  double z[3 * 7];
  for (int f = 0; f < 30; ++f) {
    const double t = 0.1 * f;
    for (int i = 0; i < 3; ++i) lidar_box(objs[i], t, z + 7 * i);
    e->process(frame(0, static_cast<TimeNs>(f) * 100 * kMs, 3, z));
  }
  const auto tr = tracks_of(*e);
  CHECK(tr.size() == 3);
  for (std::size_t i = 0; i < tr.size() && i < 3; ++i) {
    CHECK(tr[i].id == static_cast<std::int64_t>(i + 1));
    CHECK(tr[i].status == 1);
    CHECK(tr[i].confirmed_ever == 1);
    CHECK_CLOSE(tr[i].box[0], objs[i].x + objs[i].vx * 2.9, 0.05);
    CHECK_CLOSE(tr[i].box[1], objs[i].y + objs[i].vy * 2.9, 0.05);
    CHECK_CLOSE(tr[i].velocity[0], objs[i].vx, 0.1);
    CHECK_CLOSE(tr[i].velocity[1], objs[i].vy, 0.1);
    CHECK(tr[i].hits[0] == 30 && tr[i].misses[0] == 0);
    CHECK(tr[i].detection[0] == static_cast<std::int32_t>(i));
    CHECK_CLOSE(tr[i].score_sum[0], 30.0, 1e-12);
    CHECK(tr[i].last_update_ns[0] == 29 * 100 * kMs);
    CHECK(tr[i].birth_t_ns == 0);
    for (int a = 0; a < N; ++a) CHECK(tr[i].P[a * N + a] > 0.0);
  }
  const EngineStats st = e->stats();
  CHECK(st.frames == 30 && st.detections == 90 && st.births == 3 && st.deletions == 0);
  CHECK(e->num_tracks() == 3 && e->has_time() && e->time_ns() == 29 * 100 * kMs);
}

TEST_CASE("engine: a track outside a sensor's field of view is not penalised by its misses") {
  EngineConfig c = base_config();
  SensorConfig front = lidar_sensor();
  front.name = "front";
  front.fov.azimuth_half_rad = 0.5;  // sees only ahead
  front.births = false;
  c.sensors.push_back(front);
  auto e = make_engine(c);
  const Truth behind{-20, 0, 0, 0};
  double z[7];
  for (int f = 0; f < 10; ++f) {
    lidar_box(behind, 0.1 * f, z);
    e->process(frame(0, static_cast<TimeNs>(f) * 100 * kMs, 1, z));
    e->process(frame(1, static_cast<TimeNs>(f) * 100 * kMs + 50 * kMs, 0, nullptr));
  }
  const auto tr = tracks_of(*e);
  CHECK(tr.size() == 1);
  if (!tr.empty()) {
    CHECK(tr[0].status == 1);
    CHECK(tr[0].misses[1] == 0 && tr[0].hits[1] == 0 && tr[0].detection[1] == -1);
    CHECK(tr[0].last_update_ns[1] == fusion::track::kNeverNs);
  }
  // In view, the same misses count.
  const Truth ahead{20, 0, 0, 0};
  auto e2 = make_engine(c);
  for (int f = 0; f < 4; ++f) {
    lidar_box(ahead, 0.1 * f, z);
    e2->process(frame(0, static_cast<TimeNs>(f) * 100 * kMs, 1, z));
    e2->process(frame(1, static_cast<TimeNs>(f) * 100 * kMs + 50 * kMs, 0, nullptr));
  }
  const auto tr2 = tracks_of(*e2);
  CHECK(tr2.size() == 1 && tr2[0].misses[1] == 4);
}

TEST_CASE("engine: camera-only target gets an image track; JOIN gives the 3D track its id; LEAVE hands it back") {
  EngineConfig c = base_config();
  c.sensors.push_back(camera_sensor());
  auto e = make_engine(c);
  const Truth o{25, 1, 0, 0};
  double zl[7], zc[4];
  // camera only: an image track (id 1), confirmed at its second hit
  for (int f = 0; f < 3; ++f) {
    camera_box(o, 0.1 * f, zc);
    e->process(frame(1, static_cast<TimeNs>(f) * 100 * kMs, 1, zc));
  }
  auto it = image_tracks_of(*e);
  CHECK(it.size() == 1 && it[0].id == 1 && it[0].status == 1 && it[0].hits == 3);
  CHECK(e->num_tracks() == 0);
  // lidar sees it: a new tentative 3D track (id 2)
  lidar_box(o, 0.25, zl);
  e->process(frame(0, 250 * kMs, 1, zl));
  auto tr = tracks_of(*e);
  CHECK(tr.size() == 1 && tr[0].id == 2);
  // next camera frame: JOIN, the 3D track takes id 1, the image track is gone
  camera_box(o, 0.3, zc);
  e->process(frame(1, 300 * kMs, 1, zc));
  tr = tracks_of(*e);
  CHECK(tr.size() == 1 && tr[0].id == 1);
  CHECK(tr.size() == 1 && tr[0].detection[1] == 0 && tr[0].hits[1] == 1);
  CHECK(image_tracks_of(*e).empty());
  // lidar confirms it; then the lidar loses it while the camera keeps seeing it
  lidar_box(o, 0.35, zl);
  e->process(frame(0, 350 * kMs, 1, zl));
  tr = tracks_of(*e);
  CHECK(tr.size() == 1 && tr[0].id == 1 && tr[0].status == 1);
  for (int f = 4; f <= 9; ++f) {
    camera_box(o, 0.1 * f, zc);
    e->process(frame(0, static_cast<TimeNs>(f) * 100 * kMs - 50 * kMs, 0, nullptr));
    e->process(frame(1, static_cast<TimeNs>(f) * 100 * kMs, 1, zc));
  }
  // the 3D track was deleted by its coast time (the camera does not count for coasting) and
  // continues as an image track with the same id, updated by the camera since
  CHECK(e->num_tracks() == 0);
  it = image_tracks_of(*e);
  CHECK(it.size() == 1 && it[0].id == 1 && it[0].status == 1 && it[0].detection == 0);
  CHECK(e->stats().image_births == 1);
  // ids are never reused: a new target gets id 3
  const Truth o2{30, -3, 0, 0};
  lidar_box(o2, 1.0, zl);
  e->process(frame(0, 1000 * kMs, 1, zl));
  tr = tracks_of(*e);
  CHECK(tr.size() == 1 && tr[0].id == 3);
}

TEST_CASE("engine: bad input raises naming detection, sensor and field, and changes nothing") {
  EngineConfig c = base_config();
  c.sensors.push_back(camera_sensor());
  auto e = make_engine(c);
  const Truth o{10, 0, 5, 0};
  double z[7];
  for (int f = 0; f < 5; ++f) {
    lidar_box(o, 0.1 * f, z);
    e->process(frame(0, static_cast<TimeNs>(f) * 100 * kMs, 1, z));
  }
  const auto before = tracks_of(*e, true);
  const EngineStats s0 = e->stats();
  auto unchanged = [&] {
    const auto after = tracks_of(*e, true);
    CHECK(after.size() == before.size());
    if (after.size() == before.size())
      CHECK(std::memcmp(after.data(), before.data(), after.size() * sizeof(Record)) == 0);
    const EngineStats s1 = e->stats();
    CHECK(s1.frames == s0.frames && s1.detections == s0.detections && s1.births == s0.births);
  };
  double zz[14];
  lidar_box(o, 0.5, zz);
  lidar_box({30, 0, 0, 0}, 0.5, zz + 7);
  zz[7 + 2] = std::nan("");
  bool named = false;
  try {
    e->process(frame(0, 500 * kMs, 2, zz));
  } catch (const NumericalError& err) {
    const std::string m = err.what();
    named = m.find("detection 1") != std::string::npos && m.find("'lidar'") != std::string::npos &&
            m.find("z") != std::string::npos;
  }
  CHECK(named);
  unchanged();
  CHECK_THROWS(e->process(frame(5, 500 * kMs, 0, nullptr)), ConfigurationError);
  unchanged();
  std::vector<double> many(7 * 40, 1.0);
  CHECK_THROWS(e->process(frame(0, 500 * kMs, 40, many.data())), ShapeError);
  unchanged();
  const double inverted[4] = {100, 50, 90, 80};
  CHECK_THROWS(e->process(frame(1, 500 * kMs, 1, inverted)), NumericalError);
  unchanged();
  lidar_box(o, 0.5, zz);
  const std::int32_t bad_cls = 7;
  CHECK_THROWS(e->process(frame(0, 500 * kMs, 1, zz, nullptr, &bad_cls)), ShapeError);
  unchanged();
  const double bad_score = std::numeric_limits<double>::infinity();
  CHECK_THROWS(e->process(frame(0, 500 * kMs, 1, zz, &bad_score)), NumericalError);
  unchanged();
  Frame fr = frame(0, 500 * kMs, 1, zz);
  std::vector<double> R(49, 0.0);  // not positive definite
  fr.R = R.data();
  CHECK_THROWS(e->process(fr), NumericalError);
  unchanged();
  // lenient mode: the bad detection is skipped and counted; the good one is fused
  EngineConfig lc = c;
  lc.bad_detection = BadDetectionPolicy::kSkip;
  auto l = make_engine(lc);
  l->process(frame(0, 0, 2, zz));
  CHECK(l->stats().skipped_detections == 1 && l->num_tracks() == 1);
}

TEST_CASE("engine: late frames are dropped and counted, or raise") {
  EngineConfig c = base_config();
  c.oosm_horizon_s = 0.0;  // no re-processing (the time layer's own tests: test_oosm.cpp)
  auto e = make_engine(c);
  double z[7];
  lidar_box({10, 0, 0, 0}, 0, z);
  e->process(frame(0, 1000 * kMs, 1, z));
  e->process(frame(0, 900 * kMs, 1, z));
  CHECK(e->stats().late_frames == 1 && e->stats().late_detections == 1 && e->stats().frames == 1);
  CHECK(e->time_ns() == 1000 * kMs);
  e->process(frame(0, 1000 * kMs, 1, z));  // equal time is in sequence
  CHECK(e->stats().frames == 2);
  c.late_policy = LatePolicy::kRaise;
  auto r = make_engine(c);
  r->process(frame(0, 1000 * kMs, 1, z));
  CHECK_THROWS(r->process(frame(0, 999 * kMs, 1, z)), TimestampError);
  CHECK(r->stats().late_frames == 0 && r->stats().frames == 1);
}

TEST_CASE("engine: configuration errors name the field and list known keys") {
  EngineConfig c = base_config();
  c.motion = "warp";
  bool listed = false;
  try {
    make_engine(c);
  } catch (const ConfigurationError& e) {
    listed = std::string(e.what()).find("cv_box") != std::string::npos;
  }
  CHECK(listed);
  c = base_config();
  c.sensors[0].cost = "iou_2d";  // an image cost on a lidar
  CHECK_THROWS(make_engine(c), ConfigurationError);
  c = base_config();
  c.sensors[0].cost = "nope";
  CHECK_THROWS(make_engine(c), ConfigurationError);
  c = base_config();
  c.p0_diag.pop_back();
  CHECK_THROWS(make_engine(c), ConfigurationError);
  c = base_config();
  c.sensors[0].mount_R(0, 0) = -1.0;  // a reflection
  CHECK_THROWS(make_engine(c), ConfigurationError);
  c = base_config();
  c.motion_noise = {{"bogus", 1.0}};
  CHECK_THROWS(make_engine(c), ConfigurationError);
  c = base_config();
  c.sensors.push_back(camera_sensor());
  c.sensors[1].has_projection = false;
  CHECK_THROWS(make_engine(c), ConfigurationError);
}

TEST_CASE("engine: radar and position3d sensors with a Mahalanobis cost track a target") {
  EngineConfig c = base_config();
  c.motion = "ctrv_box";
  c.q_diag_per_s.clear();
  c.motion_noise = {{"accel_std", 1.0}};
  c.p0_diag = {1, 1, 100, 1, 1, 1, 1, 1, 1};
  SensorConfig pos;
  pos.name = "pos";
  pos.model = "position3d";
  pos.cost = "mahalanobis";
  pos.gate = 0.99;
  pos.R = {0.05, 0, 0, 0, 0.05, 0, 0, 0, 0.05};
  SensorConfig radar;
  radar.name = "radar";
  radar.model = "radar";
  radar.cost = "mahalanobis";
  radar.gate = 0.999;
  radar.births = false;
  radar.R = {0.1, 0, 0, 0, 0.0004, 0, 0, 0, 0.04};
  c.sensors = {pos, radar};
  auto e = make_engine(c);
  for (int f = 0; f < 40; ++f) {
    const double t = 0.05 * f, x = 20.0 + 4.0 * t, y = 5.0;
    if (f % 2 == 0) {
      const double z[3] = {x, y, 0.0};
      e->process(frame(0, static_cast<TimeNs>(f) * 50 * kMs, 1, z));
    } else {
      const double r = std::hypot(x, y);
      const double z[3] = {r, std::atan2(y, x), 4.0 * x / r};
      e->process(frame(1, static_cast<TimeNs>(f) * 50 * kMs, 1, z));
    }
  }
  CHECK(e->state_dim() == 9);
  const auto tr = tracks_of<9>(*e);
  CHECK(tr.size() == 1);
  if (tr.size() == 1) {
    CHECK(tr[0].status == 1);
    CHECK(tr[0].hits[1] >= 15);
    CHECK_CLOSE(tr[0].box[0], 20.0 + 4.0 * 1.95, 0.3);
    CHECK_CLOSE(tr[0].velocity[0], 4.0, 0.5);
  }
}

TEST_CASE("engine: steady-state process() of lidar + camera frames allocates nothing") {
  EngineConfig c = base_config();
  c.sensors.push_back(camera_sensor());
  c.sensors[0].cost = "giou_3d";
  auto e = make_engine(c);
  const Truth objs[3] = {{12, 2, 3, 0}, {25, -3, -2, 0}, {40, 4, 1, 0.5}};
  double zl[3 * 7], zc[4 * 4];
  std::vector<Record> out(64);
  std::vector<ImageTrackRecord> iout(64);
  auto step = [&](int f) {
    const double t = 0.1 * f;
    for (int i = 0; i < 3; ++i) lidar_box(objs[i], t, zl + 7 * i);
    for (int i = 0; i < 3; ++i) camera_box(objs[i], t + 0.05, zc + 4 * i);
    const double extra[4] = {100, 100, 160, 150};  // a camera-only clutter box: image track
    std::memcpy(zc + 12, extra, sizeof(extra));
    e->process(frame(0, static_cast<TimeNs>(f) * 100 * kMs, 3, zl));
    e->process(frame(1, static_cast<TimeNs>(f) * 100 * kMs + 50 * kMs, 4, zc));
    e->export_tracks(out.data(), 64, true);
    e->export_image_tracks(iout.data(), 64);
  };
  for (int f = 0; f < 5; ++f) step(f);
  const long before = g_allocations.load();
  for (int f = 5; f < 40; ++f) step(f);
  CHECK(g_allocations.load() == before);
  CHECK(e->num_tracks() == 3 && e->num_image_tracks() == 1);
}

TEST_CASE("engine: the jpda associator keeps two close targets apart in clutter") {
  EngineConfig c = base_config();
  c.q_diag_per_s = {0.1, 0.1, 0.1, 0.5, 0.5, 0.5, 0.01, 0.01, 0.01, 0.01};
  c.p0_diag = {0.1, 0.1, 0.1, 25, 25, 25, 1, 1, 1, 1};
  SensorConfig pos;
  pos.name = "pos";
  pos.model = "position3d";
  pos.cost = "mahalanobis";
  pos.associator = "jpda";
  pos.gate = 0.99;
  pos.clutter_density = 1e-3;
  pos.R = {0.04, 0, 0, 0, 0.04, 0, 0, 0, 0.04};
  c.sensors = {pos};
  auto e = make_engine(c);
  // two targets 2 m apart moving in parallel at 5 m/s, one clutter point far away per frame
  for (int f = 0; f < 40; ++f) {
    const double t = 0.1 * f;
    const double noise = 0.05 * std::sin(1.7 * f);
    const double z[9] = {5.0 * t, 0.0 + noise, 0.0, 5.0 * t, 2.0 - noise, 0.0, 50.0 - f, 30.0, 0.0};
    e->process(frame(0, static_cast<TimeNs>(f) * 100 * kMs, 3, z));
  }
  std::vector<Record> tr(64);
  tr.resize(static_cast<std::size_t>(e->export_tracks(tr.data(), 64, false)));
  int near_a = 0, near_b = 0;
  for (const Record& r : tr) {
    if (r.status != 1) continue;
    if (std::abs(r.box[0] - 19.5) < 0.5 && std::abs(r.box[1] - 0.0) < 0.3) ++near_a;
    if (std::abs(r.box[0] - 19.5) < 0.5 && std::abs(r.box[1] - 2.0) < 0.3) ++near_b;
    for (int a = 0; a < N; ++a) CHECK(std::isfinite(r.x[a]) && r.P[a * N + a] > 0.0);
  }
  CHECK(near_a == 1 && near_b == 1);
  EngineConfig bad = c;
  bad.sensors[0].cost = "distance";  // jpda needs likelihoods
  bad.sensors[0].gate = 2.0;
  CHECK_THROWS(make_engine(bad), ConfigurationError);
}
