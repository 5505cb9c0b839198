// The time layer (engine/oosm.hpp): out-of-sequence frames re-processed from the history give
// exactly the time-ordered result (lidar + radar + camera, shuffled arrival with latencies up to
// 300 ms); beyond the horizon / the history they follow late_policy; a failed late frame
// changes nothing; deferred births bypass the history; copies and resets; no allocation on the
// late-frame path once sized.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
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
using fusion::TimestampError;
using namespace fusion::engine;  // NOLINT: the module under test

namespace {

constexpr int N = 10;  // cv_box
using Record = fusion::track::TrackRecord<N>;
constexpr TimeNs kMs = 1000000;

SensorConfig lidar() {
  SensorConfig s;
  s.name = "lidar";
  s.model = "lidar_box3d";
  s.cost = "mahalanobis";
  s.gate = 0.99;
  s.R.assign(49, 0.0);
  for (int i = 0; i < 7; ++i) s.R[static_cast<std::size_t>(i * 8)] = 0.05;
  return s;
}

SensorConfig radar() {
  SensorConfig s;
  s.name = "radar";
  s.model = "radar";
  s.cost = "mahalanobis";
  s.gate = 0.99;
  s.R = {0.25, 0, 0, 0, 1e-4, 0, 0, 0, 0.04};
  s.births = false;
  s.counts_for_confirmation = false;
  return s;
}

SensorConfig camera() {
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
  s.births = false;
  s.counts_for_confirmation = false;
  s.counts_for_coast = false;
  s.image_tracks = true;
  s.fov.azimuth_half_rad = 0.7;
  return s;
}

EngineConfig three_sensor_config() {
  EngineConfig c;
  c.motion = "cv_box";
  c.q_diag_per_s = {1, 1, 0.1, 2, 2, 0.1, 0.1, 0.01, 0.01, 0.01};
  c.p0_diag = {1, 1, 1, 100, 100, 1, 1, 1, 1, 1};
  c.max_tracks = 32;
  c.max_detections = 32;
  c.max_image_tracks = 16;
  c.lifecycle.confirm_hits = 2;
  c.lifecycle.confirm_window = 3;
  c.lifecycle.confirm_by_existence = false;
  c.lifecycle.delete_existence = 0.0;
  c.lifecycle.max_coast_s = 0.5;
  c.lifecycle.tentative_max_coast_s = 0.3;
  c.sensors = {lidar(), radar(), camera()};
  return c;
}

struct Truth {
  double x, y, vx, vy;
};
const Truth kObjects[4] = {{12, 2, 3, 0}, {25, -3, -2, 0.5}, {40, 4, 1, -0.5}, {18, -6, 0, 1}};

// One recorded sensor frame (owning its arrays).
struct Rec {
  int sensor = 0;
  TimeNs t = 0;
  TimeNs arrival = 0;
  std::vector<double> z;
  Index n = 0;
  Frame frame() const {
    Frame f;
    f.sensor = sensor;
    f.t_ns = t;
    f.n = n;
    f.z = n > 0 ? z.data() : nullptr;
    return f;
  }
};

void camera_box(double cx, double cy, double* b) {
  double u0 = 1e9, v0 = 1e9, u1 = -1e9, v1 = -1e9;
  for (int k = 0; k < 8; ++k) {
    const double px = cx + ((k & 1) ? 2.0 : -2.0), py = cy + ((k & 2) ? 0.9 : -0.9);
    const double pz = 0.75 + ((k & 4) ? 0.75 : -0.75);
    const double u = 700.0 * (-py) / px + 621.0, v = 700.0 * (-pz) / px + 187.0;
    u0 = std::min(u0, u), u1 = std::max(u1, u), v0 = std::min(v0, v), v1 = std::max(v1, v);
  }
  b[0] = std::max(u0, 0.0), b[1] = std::max(v0, 0.0), b[2] = std::min(u1, 1242.0), b[3] = std::min(v1, 375.0);
}

// Lidar at 10 Hz, radar at 20 Hz (+7 ms), camera at 15 Hz (+13 ms), `seconds` long, noisy, each
// frame with a random latency in [0, max_latency_ms]; an object is missed with probability 0.1.
// aligned: no offsets (every lidar frame shares its time with a radar frame, every 0.2 s with a
// camera frame too); the frames then come in fusion order (time, then sensor).
std::vector<Rec> scene(double seconds, int max_latency_ms, unsigned seed, bool aligned = false) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  std::vector<Rec> out;
  const TimeNs end = static_cast<TimeNs>(seconds * 1000) * kMs;
  const TimeNs period[3] = {100 * kMs, 50 * kMs, 66 * kMs + 666666};
  const TimeNs offset[3] = {0, aligned ? 0 : 7 * kMs, aligned ? 0 : 13 * kMs};
  const TimeNs period_aligned[3] = {100 * kMs, 50 * kMs, 200 * kMs / 3};
  for (int k = 0; k < 3; ++k) {
    for (TimeNs t = offset[k]; t < end; t += aligned ? period_aligned[k] : period[k]) {
      Rec r;
      r.sensor = k;
      r.t = t;
      r.arrival = t + static_cast<TimeNs>(u01(rng) * max_latency_ms * 1e6);
      const double ts = static_cast<double>(t) * 1e-9;
      for (const Truth& o : kObjects) {
        if (u01(rng) < 0.1) continue;
        const double x = o.x + o.vx * ts, y = o.y + o.vy * ts;
        if (k == 0) {
          const double b[7] = {x + 0.2 * noise(rng), y + 0.2 * noise(rng), 0.75, 0.0, 4.0, 1.8, 1.5};
          r.z.insert(r.z.end(), b, b + 7);
        } else if (k == 1) {
          const double rr = std::hypot(x, y);
          const double b[3] = {rr + 0.4 * noise(rng), std::atan2(y, x) + 0.01 * noise(rng),
                               (x * o.vx + y * o.vy) / rr + 0.2 * noise(rng)};
          r.z.insert(r.z.end(), b, b + 3);
        } else {
          double b[4];
          camera_box(x, y, b);
          for (double& v : b) v += 2.0 * noise(rng);
          r.z.insert(r.z.end(), b, b + 4);
        }
        ++r.n;
      }
      out.push_back(r);
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Rec& a, const Rec& b) { return a.t < b.t; });
  return out;  // generated sensor by sensor: equal times in sensor order
}

std::vector<Rec> by_arrival(const std::vector<Rec>& frames) {
  std::vector<Rec> arrival = frames;
  std::stable_sort(arrival.begin(), arrival.end(), [](const Rec& a, const Rec& b) { return a.arrival < b.arrival; });
  return arrival;
}

// export_tracks_filtered_at / export_tracks_at of the time layer into records.
std::vector<Record> lagged(const EngineBase& e, TimeNs t) {
  std::vector<Record> out(64);
  out.resize(static_cast<std::size_t>(
      dynamic_cast<const OosmEngine&>(e).export_tracks_filtered_at(out.data(), 64, true, t, false)));
  return out;
}
std::vector<Record> predicted(const EngineBase& e, TimeNs t) {
  std::vector<Record> out(64);
  out.resize(static_cast<std::size_t>(dynamic_cast<const OosmEngine&>(e).export_tracks_at(out.data(), 64, true, t, false)));
  return out;
}
bool same_bytes(const std::vector<Record>& a, const std::vector<Record>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(Record)) == 0);
}

std::vector<Record> tracks_of(const EngineBase& e) {
  std::vector<Record> out(64);
  out.resize(static_cast<std::size_t>(e.export_tracks(out.data(), 64, true)));
  return out;
}

// Same ids, statuses and times; x and P within tol.
bool same_tracks(const EngineBase& a, const EngineBase& b, double tol) {
  const auto ta = tracks_of(a), tb = tracks_of(b);
  if (ta.size() != tb.size()) return false;
  for (std::size_t i = 0; i < ta.size(); ++i) {
    if (ta[i].id != tb[i].id || ta[i].status != tb[i].status || ta[i].t_ns != tb[i].t_ns) return false;
    for (int j = 0; j < N; ++j)
      if (!(std::abs(ta[i].x[j] - tb[i].x[j]) <= tol)) return false;
    for (int j = 0; j < N * N; ++j)
      if (!(std::abs(ta[i].P[j] - tb[i].P[j]) <= tol)) return false;
  }
  std::vector<ImageTrackRecord> ia(16), ib(16);
  const Index na = a.export_image_tracks(ia.data(), 16), nb = b.export_image_tracks(ib.data(), 16);
  if (na != nb) return false;
  for (Index i = 0; i < na; ++i)
    if (ia[static_cast<std::size_t>(i)].id != ib[static_cast<std::size_t>(i)].id) return false;
  return true;
}

}  // namespace

TEST_CASE("oosm: shuffled arrival (latency up to 300 ms) gives the time-ordered tracks, ids, x and P") {
  for (unsigned seed : {1u, 2u, 3u}) {
    const std::vector<Rec> frames = scene(4.0, 300, seed);
    std::vector<Rec> arrival = frames;
    std::stable_sort(arrival.begin(), arrival.end(), [](const Rec& a, const Rec& b) { return a.arrival < b.arrival; });
    const EngineConfig c = three_sensor_config();
    auto ordered = make_engine(c), shuffled = make_engine(c);
    for (const Rec& r : frames) ordered->process(r.frame());
    Index out_of_order = 0;
    for (const Rec& r : arrival) {
      if (shuffled->has_time() && r.t < shuffled->time_ns()) ++out_of_order;
      shuffled->process(r.frame());
    }
    CHECK(out_of_order > 20);
    const EngineStats so = ordered->stats(), ss = shuffled->stats();
    CHECK(ss.reprocessed_frames == out_of_order && ss.late_frames == 0 && so.reprocessed_frames == 0);
    CHECK(ss.frames == so.frames && ss.detections == so.detections && ss.births == so.births &&
          ss.deletions == so.deletions && ss.image_births == so.image_births);
    CHECK(so.births >= 4 && ordered->num_tracks() >= 4);
    CHECK(same_tracks(*ordered, *shuffled, 1e-9));
    CHECK(same_tracks(*ordered, *shuffled, 0.0));  // the same operations on the same states
    CHECK(shuffled->time_ns() == ordered->time_ns());
  }
}

TEST_CASE("oosm: equal-time frames are fused in sensor order whatever their arrival order") {
  const std::vector<Rec> frames = scene(4.0, 300, 5, true);
  const std::vector<Rec> arrival = by_arrival(frames);
  Index ties = 0;
  for (std::size_t i = 1; i < frames.size(); ++i) ties += frames[i].t == frames[i - 1].t;
  CHECK(ties > 40);
  auto ordered = make_engine(three_sensor_config()), shuffled = make_engine(three_sensor_config());
  for (const Rec& r : frames) ordered->process(r.frame());
  // the reverse sensor order at every shared time: each lower-index frame is re-processed
  std::vector<Rec> reversed = frames;
  std::stable_sort(reversed.begin(), reversed.end(),
                   [](const Rec& a, const Rec& b) { return a.t < b.t || (a.t == b.t && a.sensor > b.sensor); });
  auto rev = make_engine(three_sensor_config());
  for (const Rec& r : reversed) rev->process(r.frame());
  CHECK(rev->stats().reprocessed_frames >= ties && rev->stats().late_frames == 0);
  for (const Rec& r : arrival) shuffled->process(r.frame());
  CHECK(ordered->num_tracks() >= 4);
  CHECK(same_tracks(*ordered, *rev, 0.0));
  CHECK(same_tracks(*ordered, *shuffled, 0.0));
}

TEST_CASE("oosm: the fixed-lag output at t equals the in-order run's once every frame up to t arrived") {
  for (unsigned seed : {1u, 2u}) {
    const std::vector<Rec> frames = scene(4.0, 300, seed, true);  // ties too
    const std::vector<Rec> arrival = by_arrival(frames);
    auto ordered = make_engine(three_sensor_config()), shuffled = make_engine(three_sensor_config());
    auto upto = make_engine(three_sensor_config());  // fed only the frames stamped up to t
    std::size_t io = 0, ia = 0, iu = 0;
    int compared = 0, latest_differs = 0;
    for (TimeNs T = 200 * kMs; T < 3600 * kMs; T += 100 * kMs) {
      const TimeNs until = T + 300 * kMs;  // every frame stamped <= T has arrived (latency < 300 ms)
      while (io < frames.size() && frames[io].t <= until) ordered->process(frames[io++].frame());
      while (ia < arrival.size() && arrival[ia].arrival <= until) shuffled->process(arrival[ia++].frame());
      while (iu < frames.size() && frames[iu].t <= T) upto->process(frames[iu++].frame());
      const std::vector<Record> a = lagged(*ordered, T), b = lagged(*shuffled, T);
      CHECK(!a.empty());
      CHECK(same_bytes(a, b));
      CHECK(same_bytes(a, predicted(*upto, T)));  // the filtered state at T, predicted to T
      CHECK(same_bytes(a, lagged(*upto, T)));     // at or after the engine's time: the live state
      std::vector<ImageTrackRecord> img_a(16), img_b(16), iu2(16);
      const auto& to = dynamic_cast<const OosmEngine&>(*ordered);
      const auto& ts = dynamic_cast<const OosmEngine&>(*shuffled);
      const Index na = to.export_image_tracks_filtered_at(img_a.data(), 16, T);
      const Index nb = ts.export_image_tracks_filtered_at(img_b.data(), 16, T);
      const Index nu = upto->export_image_tracks(iu2.data(), 16);
      CHECK(na == nb && na == nu);
      CHECK(na == 0 || (std::memcmp(img_a.data(), img_b.data(), static_cast<std::size_t>(na) * sizeof(ImageTrackRecord)) == 0 &&
                        std::memcmp(img_a.data(), iu2.data(), static_cast<std::size_t>(na) * sizeof(ImageTrackRecord)) == 0));
      latest_differs += !same_bytes(predicted(*ordered, T), predicted(*shuffled, T));
      ++compared;
    }
    CHECK(compared == 34);
    CHECK(latest_differs > 10);  // the latest state predicted back depends on what has arrived
  }
}

TEST_CASE("oosm: the fixed-lag output raises beyond the history and allocates nothing") {
  const std::vector<Rec> frames = scene(3.0, 0, 6);
  auto e = make_engine(three_sensor_config());
  for (const Rec& r : frames) e->process(r.frame());
  const TimeNs now = e->time_ns();
  std::vector<Record> out(64);
  const auto& t = dynamic_cast<const OosmEngine&>(*e);
  const long before = g_allocations.load();
  for (TimeNs dt : {0 * kMs, 50 * kMs, 250 * kMs, 299 * kMs}) t.export_tracks_filtered_at(out.data(), 64, true, now - dt, false);
  CHECK(g_allocations.load() == before);
  CHECK_THROWS(t.export_tracks_filtered_at(out.data(), 64, true, now - 400 * kMs, false), TimestampError);
  CHECK(t.export_tracks_filtered_at(out.data(), 64, true, now + 100 * kMs, false) == e->num_tracks());
}

TEST_CASE("oosm: without the history (horizon 0) the shuffled run differs and drops frames") {
  const std::vector<Rec> frames = scene(4.0, 300, 1);
  std::vector<Rec> arrival = frames;
  std::stable_sort(arrival.begin(), arrival.end(), [](const Rec& a, const Rec& b) { return a.arrival < b.arrival; });
  EngineConfig c = three_sensor_config();
  c.oosm_horizon_s = 0.0;
  auto e = make_engine(c);
  for (const Rec& r : arrival) e->process(r.frame());
  CHECK(e->stats().late_frames > 20 && e->stats().reprocessed_frames == 0);
  auto ordered = make_engine(three_sensor_config());
  for (const Rec& r : frames) ordered->process(r.frame());
  CHECK(!same_tracks(*ordered, *e, 1e-9));
}

TEST_CASE("oosm: a frame beyond the horizon is dropped and counted, or raises; nothing changes") {
  EngineConfig c = three_sensor_config();
  c.oosm_horizon_s = 0.2;
  const std::vector<Rec> frames = scene(1.0, 0, 4);
  for (LatePolicy policy : {LatePolicy::kDrop, LatePolicy::kRaise}) {
    c.late_policy = policy;
    auto e = make_engine(c), ref = make_engine(c);
    for (const Rec& r : frames) e->process(r.frame()), ref->process(r.frame());
    Rec late = frames.front();
    late.t = e->time_ns() - 201 * kMs;  // 1 ms beyond the horizon
    const EngineStats before = e->stats();
    if (policy == LatePolicy::kDrop) {
      e->process(late.frame());
      CHECK(e->stats().late_frames == 1 && e->stats().late_detections == late.n);
    } else {
      CHECK_THROWS(e->process(late.frame()), TimestampError);
      CHECK(e->stats().late_frames == 0);
    }
    CHECK(e->stats().frames == before.frames && e->stats().reprocessed_frames == 0);
    CHECK(same_tracks(*e, *ref, 0.0));
    // exactly at the horizon: fused
    late.t = e->time_ns() - 200 * kMs;
    e->process(late.frame());
    CHECK(e->stats().reprocessed_frames == 1 && e->stats().frames == before.frames + 1);
  }
}

TEST_CASE("oosm: an invalid late frame throws and changes nothing") {
  const EngineConfig c = three_sensor_config();
  const std::vector<Rec> frames = scene(1.0, 0, 5);
  auto e = make_engine(c), ref = make_engine(c);
  for (const Rec& r : frames) e->process(r.frame()), ref->process(r.frame());
  Rec bad = frames[frames.size() - 3];
  bad.t -= 1;
  bad.z[1] = std::nan("");
  const Index h = dynamic_cast<OosmEngine&>(*e).history_size();
  CHECK_THROWS(e->process(bad.frame()), NumericalError);
  CHECK(same_tracks(*e, *ref, 0.0));
  CHECK(dynamic_cast<OosmEngine&>(*e).history_size() == h);
  CHECK(e->stats().frames == ref->stats().frames && e->stats().reprocessed_frames == 0);
  // and the history still works: the same frame, valid, is fused
  bad.z[1] = frames[frames.size() - 3].z[1];
  e->process(bad.frame());
  CHECK(e->stats().reprocessed_frames == 1);
}

TEST_CASE("oosm: a history of oosm_max_frames frames; older late frames follow late_policy") {
  EngineConfig c = three_sensor_config();
  c.oosm_max_frames = 4;
  const std::vector<Rec> frames = scene(1.0, 0, 6);
  auto e = make_engine(c);
  for (const Rec& r : frames) e->process(r.frame());
  auto& t = dynamic_cast<OosmEngine&>(*e);
  CHECK(t.history_size() == 4 && t.history_engines() == 4);
  Rec late = frames[frames.size() - 6];  // older than the 4 kept frames, inside the horizon
  late.t -= 1;
  e->process(late.frame());
  CHECK(e->stats().late_frames == 1 && e->stats().reprocessed_frames == 0);
  late = frames[frames.size() - 2];  // between the kept frames
  late.t -= 1;
  e->process(late.frame());
  CHECK(e->stats().reprocessed_frames == 1 && t.history_size() == 4 && t.history_engines() == 5);
}

TEST_CASE("oosm: frames with deferred births bypass the history") {
  const EngineConfig c = three_sensor_config();
  const std::vector<Rec> frames = scene(1.0, 0, 7);
  auto e = make_engine(c);
  for (const Rec& r : frames) {
    Frame f = r.frame();
    f.defer_births = true;
    e->process(f);
    for (Index i = 0; i < e->num_pending_births(); ++i) e->commit_birth(i);
  }
  auto& t = dynamic_cast<OosmEngine&>(*e);
  CHECK(t.history_size() == 0 && t.history_engines() == 0);
  CHECK(e->num_tracks() >= 3);
  Rec late = frames[frames.size() - 2];
  late.t -= 1;
  e->process(late.frame());
  CHECK(e->stats().late_frames == 1 && e->stats().reprocessed_frames == 0);
}

TEST_CASE("oosm: copy_state_from copies the history; reset clears it") {
  const EngineConfig c = three_sensor_config();
  const std::vector<Rec> frames = scene(2.0, 0, 8);
  auto a = make_engine(c), b = make_engine(c), ref = make_engine(c);
  for (std::size_t i = 0; i + 3 < frames.size(); ++i) a->process(frames[i].frame());
  b->copy_state_from(*a);
  CHECK(same_tracks(*a, *b, 0.0));
  // the last three frames arrive in reverse order at the copy: it re-processes from its history
  for (std::size_t i = frames.size(); i-- > frames.size() - 3;) b->process(frames[i].frame());
  for (const Rec& r : frames) ref->process(r.frame());
  CHECK(b->stats().reprocessed_frames == 2);
  CHECK(same_tracks(*b, *ref, 0.0));
  b->reset();
  CHECK(!b->has_time() && b->num_tracks() == 0 && dynamic_cast<OosmEngine&>(*b).history_size() == 0);
  CHECK(b->stats().reprocessed_frames == 0 && b->stats().frames == 0);
}

TEST_CASE("oosm: configuration errors name the field") {
  EngineConfig c = three_sensor_config();
  c.oosm_horizon_s = -0.1;
  CHECK_THROWS(make_engine(c), fusion::ConfigurationError);
  c.oosm_horizon_s = std::nan("");
  CHECK_THROWS(make_engine(c), fusion::ConfigurationError);
  c.oosm_horizon_s = 0.3;
  c.oosm_max_frames = 0;
  CHECK_THROWS(make_engine(c), fusion::ConfigurationError);
  c.oosm_max_frames = 8;
  c.ego_max_gap_s = 0.0;
  CHECK_THROWS(make_engine(c), fusion::ConfigurationError);
  try {
    c.ego_max_gap_s = 0.5;
    c.oosm_horizon_s = -1.0;
    make_engine(c);
  } catch (const fusion::ConfigurationError& e) {
    CHECK(std::string(e.what()).find("oosm_horizon_s") != std::string::npos);
  }
}

TEST_CASE("oosm: steady state with late frames (and ego motion) allocates nothing once sized") {
  const EngineConfig c = three_sensor_config();
  const std::vector<Rec> frames = scene(6.0, 250, 9);
  std::vector<Rec> arrival = frames;
  std::stable_sort(arrival.begin(), arrival.end(), [](const Rec& a, const Rec& b) { return a.arrival < b.arrival; });
  auto e = make_engine(c);
  auto& t = dynamic_cast<OosmEngine&>(*e);
  std::vector<Record> out(64);
  std::vector<ImageTrackRecord> iout(16);
  const std::size_t warm = arrival.size() / 2;
  long before = 0;
  std::int64_t late_before = 0;
  for (std::size_t i = 0; i < arrival.size(); ++i) {
    if (i == warm) {
      before = g_allocations.load();
      late_before = e->stats().reprocessed_frames;
    }
    t.add_ego_motion(arrival[i].arrival, 0.0, 0.0);
    e->process(arrival[i].frame());
    e->export_tracks(out.data(), 64, true);
    e->export_image_tracks(iout.data(), 16);
  }
  CHECK(g_allocations.load() == before);
  CHECK(e->stats().reprocessed_frames - late_before > 10);
}
