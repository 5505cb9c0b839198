// 3D multi-object tracker: identity through crossings, coasting and recovery, deletion,
// heading flips, gating by class, time checks and determinism.
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "fusion/core/angles.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/tracking/tracker.hpp"
#include "alloc_counter.hpp"
#include "test_framework.hpp"

using namespace fusion;
using namespace fusion::tracking;

namespace {

constexpr TimeNs kFrame = 100'000'000;  // 10 Hz

TrackerConfig small_config(int min_hits = 3, int max_age = 2) {
  TrackerConfig cfg;
  cfg.default_class.min_hits = min_hits;
  cfg.default_class.max_age = max_age;
  cfg.default_class.r_pos = 0.05;
  cfg.default_class.q_vel = 2.0;
  cfg.max_tracks = 16;
  cfg.max_detections = 16;
  return cfg;
}

Detection car(double x, double y, double yaw = 0.0, std::int32_t cls = 2) {
  Detection d;
  d.box = {x, y, 0.8, yaw, 4.0, 1.8, 1.6};
  d.class_id = cls;
  d.score = 5.0;
  return d;
}

const TrackOutput* find(const std::vector<TrackOutput>& out, Index n, std::int64_t id) {
  for (Index i = 0; i < n; ++i)
    if (out[static_cast<std::size_t>(i)].track_id == id) return &out[static_cast<std::size_t>(i)];
  return nullptr;
}

}  // namespace

TEST_CASE("tracker: two crossing targets keep their ids") {
  Tracker trk(small_config());
  std::vector<TrackOutput> out(16);
  // A moves +x at 10 m/s along y = -0.5 t..., B moves -x; they pass 3 m apart laterally.
  std::int64_t id_a = -1, id_b = -1;
  for (int f = 0; f < 40; ++f) {
    const double t = 0.1 * f;
    Detection dets[2] = {car(-20.0 + 10.0 * t, -1.5), car(20.0 - 10.0 * t, 1.5)};
    dets[0].box.yaw = 0.0;
    dets[1].box.yaw = kPi;
    const Index n = trk.step(dets, 2, f * kFrame, out.data());
    CHECK(n == 2);
    for (Index i = 0; i < n; ++i) {
      const TrackOutput& o = out[static_cast<std::size_t>(i)];
      if (o.detection == 0) {
        if (id_a < 0) id_a = o.track_id;
        CHECK(o.track_id == id_a);
      } else if (o.detection == 1) {
        if (id_b < 0) id_b = o.track_id;
        CHECK(o.track_id == id_b);
      }
    }
  }
  CHECK(id_a == 1 && id_b == 2);
  const TrackOutput* a = find(out, 2, id_a);
  CHECK(a != nullptr);
  if (a) {
    CHECK_CLOSE(a->velocity[0], 10.0, 0.5);
    CHECK(a->status == static_cast<std::int32_t>(TrackStatus::kConfirmed));
    CHECK(a->hits == 40);
  }
}

TEST_CASE("tracker: a missed frame coasts, then the track recovers its id") {
  Tracker trk(small_config(3, 3));
  std::vector<TrackOutput> out(16);
  std::int64_t id = -1;
  for (int f = 0; f < 20; ++f) {
    Detection d = car(5.0 * 0.1 * f, 0.0);
    const bool miss = (f == 10 || f == 11);
    const Index n = trk.step(&d, miss ? 0 : 1, f * kFrame, out.data());
    CHECK(n == 1);
    if (n != 1) continue;
    if (id < 0) id = out[0].track_id;
    CHECK(out[0].track_id == id);
    if (f == 1) CHECK(out[0].status == static_cast<std::int32_t>(TrackStatus::kTentative));
    if (miss) {
      CHECK(out[0].status == static_cast<std::int32_t>(TrackStatus::kCoasting));
      CHECK(out[0].time_since_update == f - 9);
      CHECK(out[0].detection == -1);
      // predicted forward at the estimated velocity
      CHECK_CLOSE(out[0].box[0], 0.5 * f, 0.3);
    }
    if (f == 12) CHECK(out[0].status == static_cast<std::int32_t>(TrackStatus::kConfirmed));
  }
}

TEST_CASE("tracker: deletion after max_age consecutive misses") {
  Tracker trk(small_config(1, 3));
  std::vector<TrackOutput> out(16);
  Detection d = car(0.0, 0.0);
  CHECK(trk.step(&d, 1, 0, out.data()) == 1);
  CHECK(out[0].status == static_cast<std::int32_t>(TrackStatus::kConfirmed));
  CHECK(trk.step(nullptr, 0, 1 * kFrame, out.data()) == 1);
  CHECK(trk.step(nullptr, 0, 2 * kFrame, out.data()) == 1);
  CHECK(trk.step(nullptr, 0, 3 * kFrame, out.data()) == 0);
  CHECK(trk.num_tracks() == 0);
  // a new detection gets a new id, never a recycled one
  CHECK(trk.step(&d, 1, 4 * kFrame, out.data()) == 1);
  CHECK(out[0].track_id == 2);
}

TEST_CASE("tracker: a heading flip of the detection does not swing the box") {
  Tracker trk(small_config(1, 2));
  std::vector<TrackOutput> out(16);
  for (int f = 0; f < 10; ++f) {
    Detection d = car(0.0, 0.0, 0.3);
    if (f % 2 == 1) d.box.yaw = 0.3 - kPi;  // same box, front and back swapped
    CHECK(trk.step(&d, 1, f * kFrame, out.data()) == 1);
    CHECK(out[0].track_id == 1);
    CHECK_CLOSE(out[0].box[3], 0.3, 1e-9);
  }
  // near the +-pi seam the wrapped heading stays put as well
  Tracker trk2(small_config(1, 2));
  for (int f = 0; f < 6; ++f) {
    Detection d = car(0.0, 0.0, (f % 2) ? -kPi + 0.01 : kPi - 0.01);
    trk2.step(&d, 1, f * kFrame, out.data());
    CHECK(std::abs(wrap_angle(out[0].box[3] - (kPi - 0.01))) < 0.03);
  }
}

TEST_CASE("tracker: classes never associate with each other") {
  Tracker trk(small_config(1, 2));
  std::vector<TrackOutput> out(16);
  Detection d = car(0.0, 0.0, 0.0, 2);
  trk.step(&d, 1, 0, out.data());
  d.class_id = 1;  // same place, another class
  const Index n = trk.step(&d, 1, kFrame, out.data());
  CHECK(n == 2);
  CHECK(out[0].class_id == 2 && out[0].detection == -1);
  CHECK(out[1].class_id == 1 && out[1].detection == 0 && out[1].track_id == 2);
}

TEST_CASE("tracker: gate rejects far detections; every cost kind runs") {
  for (const char* kind : {"giou_3d", "giou_bev", "iou_3d", "iou_bev", "distance", "distance_bev",
                           "mahalanobis"}) {
    TrackerConfig cfg = small_config(1, 2);
    cfg.default_class.cost = cost_kind_from_string(kind);
    const bool overlap = is_overlap(cfg.default_class.cost);
    cfg.default_class.gate = overlap ? (std::string(kind).find("giou") == 0 ? -0.5 : 0.01)
                                     : (std::string(kind) == "mahalanobis" ? 11.0 : 2.0);
    Tracker trk(cfg);
    std::vector<TrackOutput> out(16);
    Detection d = car(0.0, 0.0);
    trk.step(&d, 1, 0, out.data());
    d.box.x = 0.3;
    CHECK(trk.step(&d, 1, kFrame, out.data()) == 1);
    CHECK(out[0].track_id == 1);
    d.box.x = 30.0;  // far away: a new track, the old one coasts
    CHECK(trk.step(&d, 1, 2 * kFrame, out.data()) == 2);
    CHECK(out[1].track_id == 2 && out[1].detection == 0);
  }
}

TEST_CASE("tracker: score threshold, coast penalty and mean score") {
  TrackerConfig cfg = small_config(1, 3);
  cfg.default_class.score_threshold = 0.0;
  cfg.default_class.score_coast_penalty = 1.0;
  Tracker trk(cfg);
  std::vector<TrackOutput> out(16);
  Detection d = car(0.0, 0.0);
  d.score = -1.0;
  CHECK(trk.step(&d, 1, 0, out.data()) == 0);
  d.score = 2.0;
  trk.step(&d, 1, kFrame, out.data());
  d.score = 4.0;
  trk.step(&d, 1, 2 * kFrame, out.data());
  CHECK_CLOSE(out[0].score, 3.0, 1e-12);
  trk.step(nullptr, 0, 3 * kFrame, out.data());
  CHECK_CLOSE(out[0].score, 2.0, 1e-12);
}

TEST_CASE("tracker: bad input throws and leaves the tracker untouched") {
  Tracker trk(small_config(1, 2));
  std::vector<TrackOutput> out(16);
  Detection d = car(0.0, 0.0);
  trk.step(&d, 1, 5 * kFrame, out.data());
  bool threw = false;
  try {
    trk.step(&d, 1, 4 * kFrame, out.data());
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("400000000") != std::string::npos &&
            std::string(e.what()).find("500000000") != std::string::npos;
  }
  CHECK(threw);
  d.box.x = std::nan("");
  threw = false;
  try {
    trk.step(&d, 1, 6 * kFrame, out.data());
  } catch (const NumericalError&) {
    threw = true;
  }
  CHECK(threw);
  CHECK(trk.last_time() == 5 * kFrame);
  std::vector<Detection> many(17, car(0.0, 0.0));
  threw = false;
  try {
    trk.step(many.data(), 17, 6 * kFrame, out.data());
  } catch (const ShapeError&) {
    threw = true;
  }
  CHECK(threw);
  TrackerConfig bad = small_config();
  bad.default_class.min_hits = 0;
  threw = false;
  try {
    Tracker t2(bad);
  } catch (const ConfigurationError&) {
    threw = true;
  }
  CHECK(threw);
}

TEST_CASE("tracker: max_tracks caps births; output is deterministic") {
  TrackerConfig cfg = small_config(1, 2);
  cfg.max_tracks = 3;
  auto run = [&]() {
    Tracker trk(cfg);
    std::vector<TrackOutput> out(3);
    std::vector<double> trace;
    for (int f = 0; f < 5; ++f) {
      Detection dets[5];
      for (int i = 0; i < 5; ++i) dets[i] = car(10.0 * i + 0.1 * f, 0.02 * f * i);
      const Index n = trk.step(dets, 5, f * kFrame, out.data());
      CHECK(n == 3);
      for (Index i = 0; i < n; ++i) {
        trace.push_back(static_cast<double>(out[static_cast<std::size_t>(i)].track_id));
        for (double v : out[static_cast<std::size_t>(i)].box) trace.push_back(v);
      }
    }
    return trace;
  };
  const auto a = run(), b = run();
  CHECK(a == b);
}

// The engines of configured class ids are built with the tracker; a class id first seen at run
// time gets its engine (an allocation) on that step. The allocation tests configure classes 1
// and 2 so that the whole run is steady state (test "a new class id allocates once" below).
void declare_classes_1_2(TrackerConfig& cfg) {
  cfg.class_ids = {1, 2};
  cfg.classes = {cfg.default_class, cfg.default_class};
}

TEST_CASE("tracker: steady-state steps allocate nothing") {
  for (const char* kind : {"giou_3d", "iou_bev", "mahalanobis"}) {
    TrackerConfig cfg = small_config(2, 3);
    cfg.default_class.cost = cost_kind_from_string(kind);
    cfg.default_class.gate = std::string(kind) == "mahalanobis" ? 11.0 : (std::string(kind) == "iou_bev" ? 0.01 : -0.5);
    declare_classes_1_2(cfg);
    Tracker trk(cfg);
    std::vector<TrackOutput> out(16);
    std::vector<Detection> dets(16);
    const long before = g_allocations.load();
    for (int f = 0; f < 60; ++f) {
      Index n = 0;
      // targets appear, move, miss frames and disappear; births and deletions happen too
      for (int i = 0; i < 8; ++i) {
        if ((f + i) % 7 == 0 || (i >= 6 && f > 30)) continue;
        dets[static_cast<std::size_t>(n++)] = car(8.0 * i + 0.5 * f, 3.0 * (i % 3), 0.1 * i, 1 + i % 2);
      }
      if (f % 5 == 0) dets[static_cast<std::size_t>(n++)] = car(-50.0 + f, 40.0);  // clutter
      trk.step(dets.data(), n, f * kFrame, out.data());
    }
    CHECK(g_allocations.load() == before);
    CHECK(trk.num_tracks() > 0);
  }
}

// ---- motion models ----

// (The box-motion Jacobian test went with tracking/box_motion.hpp: the preset runs the engine's
// motion models, whose Jacobians test_models.cpp and test_object_view.cpp check.)

TEST_CASE("tracker: a turning target is tracked better with CTRV than with CV") {
  auto rms_error = [](MotionKind kind) {
    TrackerConfig cfg = small_config(1, 3);
    cfg.default_class.motion = kind;
    cfg.default_class.r_pos = 0.04;
    cfg.default_class.q_pos = 0.01;
    cfg.default_class.q_yaw = 0.01;
    cfg.default_class.r_yaw = 0.01;
    cfg.default_class.q_vel = 1.0;
    cfg.default_class.q_yaw_rate = 0.1;
    Tracker trk(cfg);
    std::vector<TrackOutput> out(16);
    // 10 m/s on a circle of radius 20 m, heading tangent; every third frame is missed
    const double v = 10.0, R = 20.0;
    double se = 0.0;
    int n_err = 0;
    for (int f = 0; f < 80; ++f) {
      const double a = v / R * 0.1 * f;
      const double x = R * std::sin(a), y = R - R * std::cos(a);
      Detection d = car(x, y, a);
      const Index n = trk.step(&d, f % 3 == 2 ? 0 : 1, f * kFrame, out.data());
      CHECK(n == 1);
      if (f >= 20 && n == 1) {
        se += (out[0].box[0] - x) * (out[0].box[0] - x) + (out[0].box[1] - y) * (out[0].box[1] - y);
        ++n_err;
      }
    }
    CHECK(trk.num_tracks() == 1);
    return std::sqrt(se / n_err);
  };
  const double cv = rms_error(MotionKind::kCv), ctrv = rms_error(MotionKind::kCtrv);
  CHECK(ctrv < 0.6 * cv);
  CHECK(ctrv < 0.15);
}

// ---- track management ----

TEST_CASE("tracker: M-of-N confirms with M hits in the last N frames, else deletes") {
  TrackerConfig cfg = small_config(2, 5);
  cfg.default_class.confirm_window = 3;  // 2 of 3
  {
    Tracker trk(cfg);
    std::vector<TrackOutput> out(16);
    Detection d = car(0.0, 0.0);
    trk.step(&d, 1, 0, out.data());
    CHECK(out[0].status == static_cast<std::int32_t>(TrackStatus::kTentative));
    trk.step(nullptr, 0, kFrame, out.data());  // hit, miss
    CHECK(out[0].status == static_cast<std::int32_t>(TrackStatus::kTentative));
    CHECK(trk.step(&d, 1, 2 * kFrame, out.data()) == 1);  // hit, miss, hit: 2 of 3
    CHECK(out[0].status == static_cast<std::int32_t>(TrackStatus::kConfirmed));
  }
  {
    Tracker trk(cfg);
    std::vector<TrackOutput> out(16);
    Detection d = car(0.0, 0.0);
    trk.step(&d, 1, 0, out.data());
    CHECK(trk.step(nullptr, 0, kFrame, out.data()) == 1);
    // hit, miss, miss: 1 of 3 fails the test although max_age (5) is not reached
    CHECK(trk.step(nullptr, 0, 2 * kFrame, out.data()) == 0);
  }
  TrackerConfig bad = cfg;
  bad.default_class.min_hits = 4;
  bool threw = false;
  try {
    Tracker t(bad);
  } catch (const ConfigurationError& e) {
    threw = std::string(e.what()).find("confirm_window") != std::string::npos;
  }
  CHECK(threw);
}

TEST_CASE("tracker: LLR logic confirms on consistent hits, deletes on misses; existence rises") {
  TrackerConfig cfg = small_config(1, 100);
  cfg.default_class.logic = TrackLogic::kLlr;
  cfg.default_class.r_pos = 0.05;
  cfg.default_class.r_yaw = 0.05;
  cfg.default_class.r_size = 0.05;
  cfg.default_class.q_pos = 0.1;
  cfg.default_class.q_yaw = 0.1;
  cfg.default_class.q_size = 0.1;
  cfg.default_class.p0_vel = 4.0;
  // a small initial uncertainty: the first update's likelihood then already beats clutter
  cfg.default_class.p0_pos = 0.1;
  cfg.default_class.p0_yaw = 0.1;
  cfg.default_class.p0_size = 0.1;
  cfg.default_class.clutter_density = 1e-4;
  cfg.default_class.pd = 0.9;
  cfg.default_class.llr_confirm = 6.0;
  cfg.default_class.llr_delete = -2.0;
  cfg.default_class.llr_max = 10.0;
  Tracker trk(cfg);
  std::vector<TrackOutput> out(16);
  double prev = -1.0;
  int confirmed_at = -1;
  for (int f = 0; f < 12; ++f) {
    Detection d = car(1.0 * 0.1 * f, 0.0);
    CHECK(trk.step(&d, 1, f * kFrame, out.data()) == 1);
    CHECK(out[0].existence >= 0.0 && out[0].existence <= 1.0);
    CHECK(out[0].existence >= prev);  // every hit raises the score (until the clamp)
    prev = out[0].existence;
    if (f == 0) CHECK_CLOSE(out[0].existence, 0.5, 1e-12);
    if (confirmed_at < 0 && out[0].status == static_cast<std::int32_t>(TrackStatus::kConfirmed)) confirmed_at = f;
  }
  CHECK(confirmed_at >= 1 && confirmed_at <= 4);
  CHECK_CLOSE(out[0].llr, 10.0, 1e-12);  // clamped at llr_max
  // misses: log(0.1) = -2.3 each; from 10 the score falls below -2 on the 6th miss
  int alive = 0;
  for (int f = 12; f < 30; ++f) {
    const Index n = trk.step(nullptr, 0, f * kFrame, out.data());
    if (n == 1) {
      CHECK(out[0].existence < prev);
      prev = out[0].existence;
      ++alive;
    }
  }
  CHECK(alive == 5);
  CHECK(trk.num_tracks() == 0);
}

TEST_CASE("tracker: max_coast_s deletes after a time without update") {
  TrackerConfig cfg = small_config(1, 100);
  cfg.default_class.max_coast_s = 0.25;
  Tracker trk(cfg);
  std::vector<TrackOutput> out(16);
  Detection d = car(0.0, 0.0);
  trk.step(&d, 1, 0, out.data());
  CHECK(trk.step(nullptr, 0, 2 * kFrame, out.data()) == 1);  // 0.2 s
  CHECK(trk.step(nullptr, 0, 3 * kFrame, out.data()) == 0);  // 0.3 s > 0.25 s
  // a long gap in time deletes after one miss even though max_age is 100
  trk.step(&d, 1, 4 * kFrame, out.data());
  CHECK(trk.step(nullptr, 0, 10 * kFrame, out.data()) == 0);
}

TEST_CASE("tracker: CTRV and LLR steps allocate nothing") {
  TrackerConfig cfg = small_config(2, 3);
  cfg.default_class.motion = MotionKind::kCtrv;
  cfg.default_class.logic = TrackLogic::kLlr;
  cfg.default_class.confirm_window = 4;
  declare_classes_1_2(cfg);
  Tracker trk(cfg);
  std::vector<TrackOutput> out(16);
  std::vector<Detection> dets(16);
  const long before = g_allocations.load();
  for (int f = 0; f < 60; ++f) {
    Index n = 0;
    for (int i = 0; i < 8; ++i) {
      if ((f + i) % 7 == 0 || (i >= 6 && f > 30)) continue;
      dets[static_cast<std::size_t>(n++)] = car(8.0 * i + 0.5 * f, 3.0 * (i % 3), 0.1 * i, 1 + i % 2);
    }
    trk.step(dets.data(), n, f * kFrame, out.data());
  }
  CHECK(g_allocations.load() == before);
  CHECK(trk.num_tracks() > 0);
}

TEST_CASE("tracker: a copy-assigned tracker continues identically and allocates nothing") {
  // What TrackerCore.copy() does: a fresh tracker (buffers reserved from the config), then
  // the state copy-assigned into it.
  TrackerConfig cfg = small_config(2, 3);
  Tracker src(cfg);
  std::vector<TrackOutput> out_a(16), out_b(16);
  std::vector<Detection> dets(16);
  auto frame = [&](int f) {
    Index n = 0;
    for (int i = 0; i < 6; ++i) {
      if ((f + i) % 7 == 0) continue;
      dets[static_cast<std::size_t>(n++)] = car(8.0 * i + 0.5 * f, 3.0 * (i % 3), 0.1 * i, 1 + i % 2);
    }
    return n;
  };
  for (int f = 0; f < 20; ++f) src.step(dets.data(), frame(f), f * kFrame, out_a.data());
  Tracker copy(cfg);
  copy = src;
  const long before = g_allocations.load();
  for (int f = 20; f < 40; ++f) {
    const Index n = frame(f);
    const Index na = src.step(dets.data(), n, f * kFrame, out_a.data());
    const Index nb = copy.step(dets.data(), n, f * kFrame, out_b.data());
    CHECK(na == nb);
    CHECK(na > 0);
    CHECK(std::memcmp(out_a.data(), out_b.data(), static_cast<std::size_t>(na) * sizeof(TrackOutput)) == 0);
  }
  CHECK(g_allocations.load() == before);
}

TEST_CASE("tracker: a new class id allocates its engine once, then steps allocate nothing") {
  TrackerConfig cfg = small_config(2, 3);
  Tracker trk(cfg);  // no class configured: classes 1 and 2 are new at run time
  std::vector<TrackOutput> out(16);
  std::vector<Detection> dets(16);
  CHECK(trk.engine_of(1) == nullptr && trk.engine_of(2) == nullptr);
  dets[0] = car(0.0, 0.0, 0.0, 1);
  dets[1] = car(10.0, 0.0, 0.0, 2);
  long before = g_allocations.load();
  trk.step(dets.data(), 2, 0, out.data());
  CHECK(g_allocations.load() > before);  // the two engines
  CHECK(trk.engine_of(1) != nullptr && trk.engine_of(2) != nullptr);
  CHECK(trk.engine_of(1)->config().motion == "cv_box");
  before = g_allocations.load();
  for (int f = 1; f < 30; ++f) {
    dets[0] = car(0.3 * f, 0.0, 0.0, 1);
    dets[1] = car(10.0 + 0.3 * f, 0.0, 0.0, 2);
    trk.step(dets.data(), f % 4 == 0 ? 1 : 2, f * kFrame, out.data());
  }
  CHECK(g_allocations.load() == before);
  CHECK(trk.num_tracks() == 2);
}
