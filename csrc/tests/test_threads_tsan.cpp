// Threads against the core's objects, the way the Python bindings share them (issue 10,
// ThreadSanitizer): each object sits in an owner with a FairMutex (csrc/bindings: PyEngine,
// PyTracker), every call that touches its state takes the mutex, and the few calls the bindings
// make WITHOUT it (immutable properties: state_dim, motion, config) must not touch what a step
// changes. Built and run under ThreadSanitizer by tests/test_cpp_core.py
// (FUSION_SANITIZE_THREAD=ON, target fusion_tsan_tests), and with the other unit tests under
// ASan/UBSan. Each case also checks what the other thread saw (whole steps, ids unique,
// counters monotone, copies equal to their source), so it fails without TSan too.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "fusion/engine/engine.hpp"
#include "fusion/track/record.hpp"
#include "fusion/tracking/fair_mutex.hpp"
#include "fusion/tracking/tracker.hpp"
#include "test_framework.hpp"

using fusion::Index;
using fusion::TimeNs;
using fusion::engine::EngineBase;
using fusion::engine::EngineConfig;
using fusion::engine::Frame;
using fusion::engine::SensorConfig;
using fusion::tracking::FairMutex;

namespace {

using Record = fusion::track::TrackRecord<10>;  // cv_box
constexpr TimeNs kFrame = 100000000;             // 10 Hz
constexpr int kTargets = 4;

// An owner as the bindings have: the object and the FairMutex that serialises its calls.
template <class T>
struct Owner {
  std::unique_ptr<T> obj;
  FairMutex mutex;
  template <class F>
  auto with(F&& f) {
    const std::lock_guard<FairMutex> lock(mutex);
    return f(*obj);
  }
};

EngineConfig lidar_config() {
  EngineConfig c;
  c.motion = "cv_box";
  c.max_tracks = 16;
  c.max_detections = 8;
  c.max_image_tracks = 0;
  c.p0_diag = {10, 10, 10, 1e4, 1e4, 1e4, 10, 10, 10, 10};
  c.lifecycle.confirm_hits = 1;
  c.lifecycle.confirm_window = 1;
  c.lifecycle.max_misses = 3;
  c.lifecycle.confirm_by_existence = false;
  c.lifecycle.delete_existence = 0.0;
  SensorConfig s;
  s.name = "lidar";
  s.model = "lidar_box3d";
  s.cost = "giou_3d";
  s.gate = -0.5;
  s.R.assign(49, 0.0);
  for (int i = 0; i < 7; ++i) s.R[static_cast<std::size_t>(i * 8)] = 0.1;
  c.sensors.push_back(s);
  return c;
}

// kTargets boxes 10 m apart moving +x at 1 m/s (0.1 m per frame), seen in frame k.
std::vector<double> boxes(int k) {
  std::vector<double> z;
  for (int i = 0; i < kTargets; ++i) {
    const double b[7] = {10.0 * i + 0.1 * k, 2.0 * (k % 3 == 0), 0.75, 0.0, 4.0, 1.8, 1.5};
    z.insert(z.end(), b, b + 7);
  }
  return z;
}

// The frame sequence the stepping thread feeds: in time order, except that every 4th pair
// arrives swapped (frame k+1 before frame k, 100 ms late: inside the 0.3 s out-of-sequence
// horizon, so the engine re-processes and swaps its live and spare engines).
std::vector<int> arrival_order(int frames) {
  std::vector<int> order;
  for (int k = 0; k < frames; ++k) order.push_back(k);
  for (int k = 1; k + 1 < frames; k += 4) std::swap(order[static_cast<std::size_t>(k)], order[static_cast<std::size_t>(k + 1)]);
  return order;
}

void feed(EngineBase& e, int k) {
  const std::vector<double> z = boxes(k);
  Frame f;
  f.t_ns = k * kFrame;
  f.n = kTargets;
  f.z = z.data();
  e.process(f);
}

std::vector<Record> tracks(const EngineBase& e) {
  std::vector<Record> out(16);
  out.resize(static_cast<std::size_t>(e.export_tracks(out.data(), 16, false)));
  return out;
}

bool ids_unique(const std::vector<Record>& r) {
  std::set<std::int64_t> ids;
  for (const Record& x : r) ids.insert(x.id);
  return ids.size() == r.size();
}

}  // namespace

TEST_CASE("threads: an engine stepped with late frames while another thread reads stats, exports, copies and resets") {
  Owner<EngineBase> eng{fusion::engine::make_engine(lidar_config()), {}};
  auto copy = fusion::engine::make_engine(lidar_config());  // the monitor's own (copy_state_from target)
  constexpr int kFrames = 240;
  std::atomic<bool> done{false};
  std::thread stepper([&] {
    for (int k : arrival_order(kFrames)) eng.with([&](EngineBase& e) { feed(e, k); });
    done = true;
  });
  int polls = 0, resets = 0, torn = 0, dup = 0, copies_differ = 0, immutables_wrong = 0;
  std::int64_t last_frames = 0;
  while (!done) {
    // the calls the binding makes without the lock (_core.FusionEngine.state_dim, .motion): they
    // must read only what no step changes
    if (eng.obj->state_dim() != 10 || eng.obj->motion() != "cv_box" || eng.obj->num_sensors() != 1)
      ++immutables_wrong;
    eng.with([&](EngineBase& e) {
      const auto s = e.stats();
      const auto live = tracks(e);
      // a whole number of frames: every frame before the latest was fused (counters are per frame)
      if (s.detections != s.frames * kTargets || s.frames < last_frames) ++torn;
      if (!ids_unique(live) || static_cast<Index>(live.size()) != e.num_tracks()) ++dup;
      last_frames = s.frames;
      if (polls % 7 == 3) {  // an atomic copy of the engine (the Tracker preset's copy())
        copy->copy_state_from(e);
        const auto a = tracks(e), b = tracks(*copy);
        if (a.size() != b.size() || (!a.empty() && std::memcmp(a.data(), b.data(), a.size() * sizeof(Record)) != 0))
          ++copies_differ;
      }
      if (polls % 50 == 49) {  // a reset racing the steps lands between two of them
        e.reset();
        last_frames = 0;
        ++resets;
      }
    });
    ++polls;
    std::this_thread::yield();
  }
  stepper.join();
  CHECK(polls > 0);
  CHECK(torn == 0);
  CHECK(dup == 0);
  CHECK(copies_differ == 0);
  CHECK(immutables_wrong == 0);
  const auto s = eng.with([](EngineBase& e) { return e.stats(); });
  CHECK(s.detections == s.frames * kTargets);
  CHECK(resets > 0 || s.frames == kFrames);  // without a reset every frame was fused
}

TEST_CASE("threads: two engines on two threads give the results of running each alone") {
  // Shared state between engines (a static cache, a registry written after start-up) would show
  // as a data race here, and as results that depend on the other thread.
  constexpr int kFrames = 120;
  std::vector<Record> alone;
  {
    auto e = fusion::engine::make_engine(lidar_config());
    for (int k : arrival_order(kFrames)) feed(*e, k);
    alone = tracks(*e);
  }
  std::vector<Record> got[2];
  std::vector<std::thread> ts;
  for (int w = 0; w < 2; ++w)
    ts.emplace_back([&, w] {
      auto e = fusion::engine::make_engine(lidar_config());  // constructed in the thread too
      for (int k : arrival_order(kFrames)) feed(*e, k);
      got[w] = tracks(*e);
    });
  for (auto& t : ts) t.join();
  CHECK(!alone.empty());
  for (const auto& g : got) {
    CHECK(g.size() == alone.size());
    CHECK(g.size() == alone.size() && std::memcmp(g.data(), alone.data(), g.size() * sizeof(Record)) == 0);
  }
}

namespace {

fusion::tracking::TrackerConfig tracker_config() {
  fusion::tracking::TrackerConfig cfg;
  cfg.default_class.min_hits = 2;
  cfg.default_class.max_age = 3;
  cfg.default_class.r_pos = 0.05;
  cfg.max_tracks = 16;
  cfg.max_detections = 16;
  return cfg;
}

// Two classes (two engines inside the preset): cars and pedestrians, moving +x.
std::vector<fusion::tracking::Detection> detections(int k) {
  std::vector<fusion::tracking::Detection> d;
  for (int i = 0; i < kTargets; ++i) {
    fusion::tracking::Detection x;
    x.box = {10.0 * i + 0.1 * k, 3.0 * (i % 2), 0.8, 0.0, 4.0, 1.8, 1.6};
    x.class_id = i % 2;
    x.score = 1.0;
    d.push_back(x);
  }
  return d;
}

}  // namespace

TEST_CASE("threads: a Tracker stepped while another thread polls, copies and resets it; two trackers in parallel") {
  using fusion::tracking::Tracker;
  using fusion::tracking::TrackOutput;
  Owner<Tracker> trk{std::make_unique<Tracker>(tracker_config()), {}};
  Tracker copy(tracker_config());
  constexpr int kFrames = 200;
  std::atomic<bool> done{false};
  std::thread stepper([&] {
    std::vector<TrackOutput> out(16);
    for (int k = 0; k < kFrames; ++k) {
      const auto d = detections(k);
      trk.with([&](Tracker& t) {
        // a reset may have happened in between: its time restarts, ours never goes back
        return t.step(d.data(), static_cast<Index>(d.size()), k * kFrame, out.data());
      });
    }
    done = true;
  });
  int polls = 0, bad = 0, copies_differ = 0;
  while (!done) {
    if (trk.obj->config().max_tracks != 16) ++bad;  // the binding reads the config unlocked
    trk.with([&](Tracker& t) {
      if (t.num_tracks() > kTargets) ++bad;
      if (polls % 5 == 2) {
        copy = t;  // TrackerCore.copy(): an atomic snapshot
        if (copy.num_tracks() != t.num_tracks() || copy.next_id() != t.next_id() || copy.last_time() != t.last_time())
          ++copies_differ;
      }
      if (polls % 40 == 39) t.reset();
    });
    ++polls;
    std::this_thread::yield();
  }
  stepper.join();
  CHECK(polls > 0);
  CHECK(bad == 0);
  CHECK(copies_differ == 0);

  // two trackers, one per thread, equal to one run alone
  auto run = [](Tracker& t, std::vector<TrackOutput>& out) {
    Index n = 0;
    for (int k = 0; k < 60; ++k) {
      const auto d = detections(k);
      n = t.step(d.data(), static_cast<Index>(d.size()), k * kFrame, out.data());
    }
    out.resize(static_cast<std::size_t>(n));
  };
  std::vector<TrackOutput> alone(16);
  {
    Tracker t(tracker_config());
    run(t, alone);
  }
  std::vector<TrackOutput> got[2] = {std::vector<TrackOutput>(16), std::vector<TrackOutput>(16)};
  std::vector<std::thread> ts;
  for (int w = 0; w < 2; ++w)
    ts.emplace_back([&, w] {
      Tracker t(tracker_config());
      run(t, got[w]);
    });
  for (auto& t : ts) t.join();
  CHECK(alone.size() == static_cast<std::size_t>(kTargets));
  for (const auto& g : got)
    CHECK(g.size() == alone.size() && std::memcmp(g.data(), alone.data(), g.size() * sizeof(TrackOutput)) == 0);
}
