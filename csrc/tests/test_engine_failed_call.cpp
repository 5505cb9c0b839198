// Issue 10, "a failed call changes nothing", in the C++ API (no Python checks in front):
//   - a lidar box that passes the sensor-frame check (|z| <= 1e100) but lies beyond 1e100 m
//     once the frame's ego pose places it into the odometry frame (rotated by the ego yaw, or
//     translated by a pose integrated from a huge ego speed) is refused by process() BEFORE any
//     track is predicted: the tracks (every record byte), statistics, ids, time and the
//     out-of-sequence history are as before (shown by a twin engine that never saw the call:
//     the same later frames, a late one re-processed through the history, give byte-identical
//     records). It used to make the box cost throw after the tracks were predicted.
//   - bad_detection = skip: that detection is skipped and counted, the rest of the frame fused.
//   - an ego pose whose sensor position overflows: NumericalError, nothing changed.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "alloc_counter.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/engine/engine.hpp"
#include "fusion/engine/oosm.hpp"
#include "fusion/track/record.hpp"
#include "test_framework.hpp"

using fusion::Index;
using fusion::NumericalError;
using fusion::TimeNs;
using namespace fusion::engine;  // NOLINT: the module under test

namespace {

constexpr int kN = 10;  // cv_box
using Rec = fusion::track::TrackRecord<kN>;
constexpr TimeNs kStep = 100000000;  // 0.1 s

EngineConfig lidar_config(BadDetectionPolicy bad) {
  EngineConfig c;
  c.motion = "cv_box";
  c.q_diag_per_s = {0.1, 0.1, 0.1, 1, 1, 0.1, 0.01, 0.01, 0.01, 0.01};
  c.p0_diag = {1, 1, 1, 25, 25, 1, 1, 1, 1, 1};
  c.num_classes = 1;
  c.max_tracks = 16;
  c.max_detections = 8;
  c.max_image_tracks = 0;
  c.bad_detection = bad;
  c.oosm_horizon_s = 1.0;  // keep a history: a late frame is re-processed through it
  SensorConfig s;
  s.name = "lidar";
  s.model = "lidar_box3d";
  s.cost = "iou_bev";
  s.gate = 0.1;
  s.R.assign(49, 0.0);
  for (int i = 0; i < 7; ++i) s.R[static_cast<std::size_t>(i * 8)] = 0.05;
  s.mount_t << 1.0, 0.0, 1.8;
  c.sensors = {s};
  return c;
}

// Two cars driving along x; detection boxes (x, y, z, yaw, l, w, h) in the sensor frame.
void boxes_at(int k, std::vector<double>& z) {
  const double t = 0.1 * k;
  z = {10.0 + 5.0 * t, 2.0, -1.0, 0.0, 4.5, 1.8, 1.5,  //
       20.0 + 3.0 * t, -3.0, -1.0, 0.0, 4.0, 1.7, 1.4};
}

Frame frame_of(TimeNs t, const std::vector<double>& z, bool ego, double yaw) {
  Frame f;
  f.sensor = 0;
  f.t_ns = t;
  f.n = static_cast<Index>(z.size() / 7);
  f.z = z.data();
  f.has_ego = ego;
  f.ego_yaw_rad = yaw;
  return f;
}

// Every observable byte of the engine: the records (live and deleted in the latest frame),
// statistics, ids, time, counts.
struct Snapshot {
  std::vector<unsigned char> records;
  EngineStats stats;
  std::int64_t next_id = 0;
  bool has_time = false;
  TimeNs time = 0;
  Index tracks = 0, pending = 0;
};

Snapshot snap(const EngineBase& e) {
  Snapshot s;
  std::vector<Rec> out(32);
  std::memset(static_cast<void*>(out.data()), 0, out.size() * sizeof(Rec));
  const Index n = e.export_tracks(out.data(), 32, true);
  s.records.assign(reinterpret_cast<const unsigned char*>(out.data()),
                   reinterpret_cast<const unsigned char*>(out.data() + n));
  s.stats = e.stats();
  s.next_id = e.next_id();
  s.has_time = e.has_time();
  s.time = e.has_time() ? e.time_ns() : 0;
  s.tracks = e.num_tracks();
  s.pending = e.num_pending_births();
  return s;
}

bool same(const Snapshot& a, const Snapshot& b) {
  return a.records == b.records && std::memcmp(&a.stats, &b.stats, sizeof(EngineStats)) == 0 &&
         a.next_id == b.next_id && a.has_time == b.has_time && a.time == b.time && a.tracks == b.tracks &&
         a.pending == b.pending;
}

// k frames of the two cars, with ego (yaw 0.3 rad) or without.
void drive(EngineBase& e, int k0, int k1, bool ego) {
  std::vector<double> z;
  for (int k = k0; k < k1; ++k) {
    boxes_at(k, z);
    e.process(frame_of(k * kStep, z, ego, 0.3));
  }
}

}  // namespace

TEST_CASE("engine failed call: a box beyond 1e100 m once rotated by the ego yaw changes nothing") {
  auto e = make_engine(lidar_config(BadDetectionPolicy::kRaise));
  auto twin = make_engine(lidar_config(BadDetectionPolicy::kRaise));
  drive(*e, 0, 6, true);
  drive(*twin, 0, 6, true);
  CHECK(e->num_tracks() == 2);
  const Snapshot before = snap(*e);
  // (1e100, 1e100) passes the sensor-frame check; rotated by pi/4 its y is 1.41e100.
  std::vector<double> z;
  boxes_at(6, z);
  z[7] = 1e100;
  z[8] = 1e100;
  bool threw = false;
  std::string msg;
  try {
    e->process(frame_of(6 * kStep, z, true, M_PI / 4));
  } catch (const NumericalError& ex) {
    threw = true;
    msg = ex.what();
  }
  CHECK(threw);
  CHECK(msg.find("detection 1") != std::string::npos);
  CHECK(msg.find("tracking frame") != std::string::npos);
  CHECK(same(snap(*e), before));
  // The history too: the same later frames (one late, re-processed) give the twin's bytes.
  drive(*e, 6, 9, true);
  drive(*twin, 6, 9, true);
  boxes_at(7, z);
  e->process(frame_of(7 * kStep + kStep / 2, z, true, 0.3));  // late: re-processed
  twin->process(frame_of(7 * kStep + kStep / 2, z, true, 0.3));
  CHECK(e->stats().reprocessed_frames == 1);
  CHECK(same(snap(*e), snap(*twin)));
}

TEST_CASE("engine failed call: a pose integrated from a huge ego speed refuses the frame, nothing changes") {
  auto e = make_engine(lidar_config(BadDetectionPolicy::kRaise));
  auto* layer = dynamic_cast<OosmEngine*>(e.get());
  CHECK(layer != nullptr);
  if (layer == nullptr) return;
  layer->add_ego_motion(0, 0.0, 0.0);
  drive(*e, 0, 5, false);  // poses from the odometry (at rest)
  CHECK(e->num_tracks() == 2);
  layer->add_ego_motion(5 * kStep, 1e180, 0.0);  // the C++ odometry takes it
  std::vector<double> z;
  boxes_at(6, z);
  const Snapshot before = snap(*e);
  bool threw = false;
  try {
    e->process(frame_of(6 * kStep, z, false, 0.0));  // pose 1e179 m away
  } catch (const NumericalError& ex) {
    threw = std::string(ex.what()).find("tracking frame") != std::string::npos;
  }
  CHECK(threw);
  CHECK(same(snap(*e), before));
}

TEST_CASE("engine failed call: bad_detection = skip skips and counts the misplaced box, fuses the rest") {
  auto e = make_engine(lidar_config(BadDetectionPolicy::kSkip));
  auto twin = make_engine(lidar_config(BadDetectionPolicy::kSkip));
  drive(*e, 0, 6, true);
  drive(*twin, 0, 6, true);
  std::vector<double> z, z1;
  boxes_at(6, z);
  z1 = z;  // the twin sees only the good boxes (detections 0 and 1 in both)
  z.insert(z.end(), {1e100, 1e100, 0.0, 0.0, 4.0, 1.8, 1.5});
  e->process(frame_of(6 * kStep, z, true, M_PI / 4));
  twin->process(frame_of(6 * kStep, z1, true, M_PI / 4));
  Snapshot a = snap(*e);
  const Snapshot b = snap(*twin);
  CHECK(a.stats.skipped_detections == 1);
  CHECK(a.stats.detections == b.stats.detections + 1);
  a.stats.skipped_detections = b.stats.skipped_detections;
  a.stats.detections = b.stats.detections;
  CHECK(same(a, b));  // otherwise the frame of the good boxes, byte for byte
}

TEST_CASE("engine failed call: an ego pose whose sensor position overflows is refused, nothing changes") {
  EngineConfig c = lidar_config(BadDetectionPolicy::kSkip);
  c.sensors[0].mount_t << 1e308, 0.0, 1.8;
  auto e = make_engine(c);
  std::vector<double> z;
  boxes_at(0, z);
  e->process(frame_of(0, z, true, 0.0));
  const Snapshot before = snap(*e);
  Frame f = frame_of(kStep, z, true, 0.0);
  f.ego_x_m = 1.7e308;  // 1e308 + 1.7e308 overflows
  bool threw = false;
  try {
    e->process(f);
  } catch (const NumericalError& ex) {
    threw = std::string(ex.what()).find("ego pose") != std::string::npos;
  }
  CHECK(threw);
  CHECK(same(snap(*e), before));
}

TEST_CASE("engine failed call: the placement check keeps the steady state allocation-free") {
  auto e = make_engine(lidar_config(BadDetectionPolicy::kSkip));
  drive(*e, 0, 40, true);  // warm-up: the history (1 s of 10 Hz frames) reaches its size
  std::vector<double> z;
  boxes_at(40, z);  // (the test's own buffer, allocated before counting)
  const long before = g_allocations.load();
  for (int k = 40; k < 70; ++k) {
    boxes_at(k, z);
    e->process(frame_of(k * kStep, z, true, 0.3));
  }
  CHECK(g_allocations.load() == before);
  CHECK(e->num_tracks() == 2);
}
