// The lifecycle rules the tracker presets need (lifecycle.hpp "Further rules" and the "llr"
// existence model), each on its own against hand-computed values: consecutive-miss deletion,
// the miss-time coast rule, M hits ever (N = 0), M within the first N frames with the
// can-no-longer-reach deletion, Blackman's log-likelihood-ratio score, the record fields.
#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "alloc_counter.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/motion/with_extent.hpp"
#include "fusion/sensor/mount.hpp"
#include "fusion/track/lifecycle.hpp"
#include "fusion/track/track_table.hpp"
#include "test_framework.hpp"

using fusion::ConfigurationError;
using fusion::CVBox;
using fusion::Index;
using fusion::kPi;
using fusion::Mat;
using fusion::TimeNs;
using fusion::Vec;
using namespace fusion::track;  // NOLINT: the module under test

namespace {

using Table = TrackTable<CVBox>;
constexpr int N = CVBox::N;
constexpr TimeNs kFrame = 100000000;  // 0.1 s

Vec<N> box_at(double px) {
  Vec<N> x = Vec<N>::Zero();
  x(0) = px;
  x(CVBox::kLength) = 4.0;
  x(CVBox::kWidth) = 2.0;
  x(CVBox::kHeight) = 1.5;
  return x;
}
const Mat<N, N> kP = Mat<N, N>::Identity();

// One sensor (a second, non-coasting one where a test needs it); no existence decisions.
LifecyclePolicy counting_policy(int sensors = 1) {
  LifecyclePolicy p;
  p.sensors.resize(static_cast<std::size_t>(sensors));
  p.confirm_by_existence = false;
  p.delete_existence = 0.0;
  p.max_coast_s = std::numeric_limits<double>::infinity();
  p.tentative_max_coast_s = std::numeric_limits<double>::infinity();
  return p;
}

bool throws_naming(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
  } catch (const ConfigurationError& e) {
    return std::string(e.what()).find(needle) != std::string::npos;
  }
  return false;
}

}  // namespace

TEST_CASE("lifecycle rules: max_misses deletes at the K-th consecutive in-FOV miss of a coasting sensor") {
  LifecyclePolicy p = counting_policy(2);
  p.confirm_hits = 1;
  p.confirm_window = 1;
  p.max_misses = 3;
  p.sensors[1].counts_for_coast = false;  // a camera-like sensor: neither resets nor counts
  Lifecycle l(p);
  Table t(4, 0, 2);
  const Index s = l.birth(t, box_at(10.0), kP, 0, 0);
  l.on_miss(t, s, 0, 1 * kFrame, true);
  l.on_miss(t, s, 0, 2 * kFrame, true);
  CHECK(t.consecutive_misses(s) == 2 && t.status(s) == TrackStatus::kCoasting);
  l.on_hit(t, s, 1, 3 * kFrame);           // not a coasting sensor: no reset
  l.on_miss(t, s, 1, 3 * kFrame, true);    // ... and its miss does not count
  l.on_miss(t, s, 0, 4 * kFrame, false);   // out of view: not counted
  CHECK(t.consecutive_misses(s) == 2 && t.live(s));
  l.on_hit(t, s, 0, 5 * kFrame);           // a coasting sensor's hit resets
  CHECK(t.consecutive_misses(s) == 0);
  for (int k = 6; k <= 7; ++k) l.on_miss(t, s, 0, k * kFrame, true);
  CHECK(t.live(s));
  l.on_miss(t, s, 0, 8 * kFrame, true);    // the third in a row
  CHECK(t.status(s) == TrackStatus::kDeleted);
  TrackRecord<N> r{};
  t.record(s, r);
  CHECK(r.consecutive_misses == 3);
  p.max_misses = 0;
  CHECK(throws_naming([&] { Lifecycle bad(p); }, "max_misses"));
}

TEST_CASE("lifecycle rules: miss_max_coast_s is judged on a miss, in seconds, after the association") {
  LifecyclePolicy p = counting_policy();
  p.confirm_hits = 1;
  p.confirm_window = 1;
  p.miss_max_coast_s = 0.25;
  Lifecycle l(p);
  Table t(4, 0, 1);
  const Index s = l.birth(t, box_at(10.0), kP, 0, 0);
  l.on_miss(t, s, 0, 2 * kFrame, true);   // 0.2 s: kept
  CHECK(l.advance(t, 4 * kFrame) == 0);  // advance() does not apply this rule
  l.on_hit(t, s, 0, 4 * kFrame);          // 0.4 s since the update, but matched: survives
  CHECK(t.live(s));
  l.on_miss(t, s, 0, 6 * kFrame, true);   // 0.2 s
  CHECK(t.live(s));
  l.on_miss(t, s, 0, 7 * kFrame, true);   // 0.3 s > 0.25
  CHECK(t.status(s) == TrackStatus::kDeleted);
  // the comparison is ns_to_s(gap) > limit: a gap of exactly the limit keeps the track
  p.miss_max_coast_s = 0.3;
  Lifecycle l2(p);
  const Index u = l2.birth(t, box_at(10.0), kP, 0, 0);
  l2.on_miss(t, u, 0, 3 * kFrame, true);
  CHECK(t.live(u) == !(fusion::ns_to_s(3 * kFrame) > 0.3));
}

TEST_CASE("lifecycle rules: confirm_window = 0 confirms after M hits ever") {
  LifecyclePolicy p = counting_policy();
  p.confirm_hits = 4;
  p.confirm_window = 0;
  Lifecycle l(p);
  Table t(4, 0, 1);
  const Index s = l.birth(t, box_at(10.0), kP, 0, 0);  // hit 1
  for (int k = 1; k <= 40; ++k) l.on_miss(t, s, 0, k * kFrame, true);
  l.on_hit(t, s, 0, 41 * kFrame);
  l.on_hit(t, s, 0, 42 * kFrame);
  CHECK(t.status(s) == TrackStatus::kTentative && t.window(s).total_hits == 3);
  l.on_hit(t, s, 0, 43 * kFrame);  // the 4th hit, 43 frames after birth
  CHECK(t.status(s) == TrackStatus::kConfirmed);
  p.tentative_max_misses = 1;  // needs a window
  CHECK(throws_naming([&] { Lifecycle bad(p); }, "tentative_max_misses"));
}

TEST_CASE("lifecycle rules: M within the first N frames, deleted once out of reach") {
  LifecyclePolicy p = counting_policy();
  p.confirm_rule = ConfirmRule::kFirst;
  p.confirm_hits = 3;
  p.confirm_window = 5;
  Lifecycle l(p);
  Table t(8, 0, 1);
  // H M H M H: confirmed on its 5th frame
  const Index a = l.birth(t, box_at(1.0), kP, 0, 0);
  l.on_miss(t, a, 0, 1 * kFrame, true);
  l.on_hit(t, a, 0, 2 * kFrame);
  l.on_miss(t, a, 0, 3 * kFrame, true);
  CHECK(t.status(a) == TrackStatus::kTentative);
  l.on_hit(t, a, 0, 4 * kFrame);
  CHECK(t.status(a) == TrackStatus::kConfirmed);
  // H M M M: 1 + (5 - 4) < 3, deleted on its 4th frame (as soon as out of reach)
  const Index b = l.birth(t, box_at(2.0), kP, 0, 0);
  l.on_miss(t, b, 0, 1 * kFrame, true);
  l.on_miss(t, b, 0, 2 * kFrame, true);
  CHECK(t.live(b));  // 1 + (5 - 3) = 3: still reachable
  l.on_miss(t, b, 0, 3 * kFrame, true);
  CHECK(t.status(b) == TrackStatus::kDeleted);
  // out-of-view frames are not frames of the rule
  const Index c = l.birth(t, box_at(3.0), kP, 0, 0);
  for (int k = 1; k <= 10; ++k) l.on_miss(t, c, 0, k * kFrame, false);
  CHECK(t.status(c) == TrackStatus::kTentative && t.window(c).total_frames == 1);
  // M = 1: confirmed at birth
  p.confirm_hits = 1;
  Lifecycle l1(p);
  const Index d = l1.birth(t, box_at(4.0), kP, 0, 0);
  CHECK(t.status(d) == TrackStatus::kConfirmed);
}

TEST_CASE("lifecycle rules: the llr score by hand (Blackman)") {
  LifecyclePolicy p = counting_policy();
  p.existence_model = ExistenceModel::kLlr;
  p.confirm_hits = 0;
  p.confirm_by_existence = true;
  p.llr_init = 0.5;
  p.llr_confirm = 3.0;
  p.llr_delete = -1.0;
  p.llr_max = 4.0;
  p.sensors[0].pd = 0.8;
  p.sensors[0].clutter_density = 1e-3;
  p.sensors[0].gate_probability = 1.0;  // the miss term log(1 - pd P_G) is then Blackman's log(1 - pd)
  Lifecycle l(p);
  Table t(4, 0, 1);
  const Index s = l.birth(t, box_at(10.0), kP, 0, 0);
  CHECK(t.llr(s) == 0.5 && t.status(s) == TrackStatus::kTentative);
  CHECK(std::abs(t.existence(s) - 1.0 / (1.0 + std::exp(-0.5))) < 1e-15);
  const double ll = -4.0;  // log N(y; 0, S) of an update
  double want = 0.5 + std::log(0.8) + ll - std::log(1e-3);
  l.on_hit(t, s, 0, kFrame, std::numeric_limits<double>::quiet_NaN(), ll);
  CHECK(t.llr(s) == want && t.status(s) == TrackStatus::kConfirmed);  // 3.18 >= llr_confirm
  l.on_hit(t, s, 0, 2 * kFrame, std::numeric_limits<double>::quiet_NaN(), ll);
  CHECK(t.llr(s) == 4.0);  // clamped to llr_max
  l.on_hit(t, s, 0, 3 * kFrame);  // no likelihood (the update was rejected): unchanged
  CHECK(t.llr(s) == 4.0);
  CHECK(l.advance(t, 100 * kFrame) == 0 && t.llr(s) == 4.0);  // time alone changes nothing
  want = 4.0;
  for (int k = 0; k < 3; ++k) {
    l.on_miss(t, s, 0, (101 + k) * kFrame, true);
    want += std::log1p(-0.8);
    CHECK(t.llr(s) == want && t.live(s));
  }
  l.on_miss(t, s, 0, 104 * kFrame, false);  // out of view: no change
  CHECK(t.llr(s) == want);
  l.on_miss(t, s, 0, 105 * kFrame, true);   // 4 + 4 log(0.2) = -2.44 < -1
  CHECK(t.status(s) == TrackStatus::kDeleted);
  TrackRecord<N> r{};
  t.record(s, r);
  CHECK(r.llr == want + std::log1p(-0.8) && std::abs(r.existence - 1.0 / (1.0 + std::exp(-r.llr))) < 1e-15);
  // validation: llr_delete < llr_init, pd in (0, 1)
  p.llr_delete = 0.5;
  CHECK(throws_naming([&] { Lifecycle bad(p); }, "llr_delete"));
  p.llr_delete = -std::numeric_limits<double>::infinity();  // never: allowed
  Lifecycle never(p);
  p.sensors[0].pd = 1.0;
  CHECK(throws_naming([&] { Lifecycle bad(p); }, "pd"));
}

TEST_CASE("lifecycle rules: frames_since_birth, next id, no allocation") {
  LifecyclePolicy p = counting_policy();
  p.confirm_hits = 2;
  p.confirm_window = 0;
  p.max_misses = 2;
  p.existence_model = ExistenceModel::kLlr;
  Lifecycle l(p);
  Table t(8, 0, 1);
  t.set_next_id(41);
  const Index s = l.birth(t, box_at(1.0), kP, 0, 0);
  CHECK(t.id(s) == 41 && t.frames_since_birth(s) == 0);
  t.tick_frame();
  t.tick_frame();
  CHECK(t.frames_since_birth(s) == 2);
  CHECK_THROWS(t.set_next_id(0), ConfigurationError);
  const long before = g_allocations.load();
  for (int cycle = 0; cycle < 100; ++cycle) {
    t.tick_frame();
    const Index u = l.birth(t, box_at(cycle), kP, cycle * kFrame, 0);
    if (u != kNoSlot) l.on_hit(t, u, 0, cycle * kFrame + 1, std::numeric_limits<double>::quiet_NaN(), -3.0);
    t.for_each_live([&](Index v) {
      if (v != u) l.on_miss(t, v, 0, cycle * kFrame + 1, true);
    });
    t.compact();
  }
  CHECK(g_allocations.load() == before);
}
