// TrackTable: fixed capacity, ids, slots and order, full-table failures, records with P,
// no allocation after construction.
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "alloc_counter.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/motion/with_extent.hpp"
#include "fusion/track/record.hpp"
#include "fusion/track/track_table.hpp"
#include "test_framework.hpp"

using fusion::ConfigurationError;
using fusion::CVBox;
using fusion::Index;
using fusion::Mat;
using fusion::NumericalError;
using fusion::Vec;
using fusion::track::kMaxRecordClasses;
using fusion::track::kMaxRecordSensors;
using fusion::track::kNeverNs;
using fusion::track::kNoSlot;
using fusion::track::TrackRecord;
using fusion::track::TrackStatus;
using fusion::track::TrackTable;

namespace {

using Table = TrackTable<CVBox>;
constexpr int N = CVBox::N;

Vec<N> state(double px) {
  Vec<N> x = Vec<N>::Zero();
  x(0) = px;
  x(CVBox::kLength) = 4.0;
  x(CVBox::kWidth) = 2.0;
  x(CVBox::kHeight) = 1.5;
  return x;
}

Mat<N, N> cov(double scale) {
  Mat<N, N> P = Mat<N, N>::Identity() * scale;
  P(0, 1) = P(1, 0) = 0.25 * scale;  // off-diagonal, to check the row-major copy
  return P;
}

static_assert(std::is_trivial<TrackRecord<N>>::value, "TrackRecord must be a POD");
static_assert(std::is_standard_layout<TrackRecord<N>>::value, "TrackRecord must be a POD");

}  // namespace

TEST_CASE("track table: construction is validated") {
  CHECK_THROWS(Table(0, 3, 2), ConfigurationError);
  CHECK_THROWS(Table(4, -1, 2), ConfigurationError);
  CHECK_THROWS(Table(4, kMaxRecordClasses + 1, 2), ConfigurationError);
  CHECK_THROWS(Table(4, 3, 0), ConfigurationError);
  CHECK_THROWS(Table(4, 3, kMaxRecordSensors + 1), ConfigurationError);
  Table t(4, 0, 1);  // no classes is fine
  CHECK(t.capacity() == 4 && t.size() == 0 && t.num_live() == 0 && !t.full());
}

TEST_CASE("track table: insert fills the lowest free slot, ids monotonic from 1") {
  Table t(3, 2, 2);
  const Index a = t.insert(state(1), cov(1), 100, 0, 0.5);
  const Index b = t.insert(state(2), cov(2), 200, 1, 0.6);
  CHECK(a == 0 && b == 1);
  CHECK(t.id(a) == 1 && t.id(b) == 2);
  CHECK(t.status(a) == TrackStatus::kTentative);
  CHECK_CLOSE(t.x(b)(0), 2.0, 0.0);
  CHECK_CLOSE(t.P(b)(0, 1), 0.5, 0.0);
  CHECK(t.t_ns(b) == 200 && t.birth_t_ns(b) == 200 && t.birth_sensor(b) == 1);
  // uniform classes when none given; the birth detection is the birth sensor's first hit
  CHECK_CLOSE(t.class_prob(a)(0), 0.5, 0.0);
  CHECK(t.evidence(b, 1).hits == 1 && t.evidence(b, 1).last_update_ns == 200);
  CHECK(t.evidence(b, 0).hits == 0 && t.evidence(b, 0).last_update_ns == kNeverNs);
  CHECK(t.last_update_any_ns(b) == 200);
  CHECK(t.window(b).frames == 1 && t.window(b).hits_in_last(5) == 1);
  CHECK(t.find(2) == b && t.find(99) == kNoSlot);
}

TEST_CASE("track table: a full table fails the insert, counted, and recovers after compact") {
  Table t(2, 1, 1);
  CHECK(t.insert(state(1), cov(1), 0, 0, 0.5) == 0);
  CHECK(t.insert(state(2), cov(1), 0, 0, 0.5) == 1);
  CHECK(t.full());
  CHECK(t.insert(state(3), cov(1), 0, 0, 0.5) == kNoSlot);
  CHECK(t.insert(state(3), cov(1), 0, 0, 0.5) == kNoSlot);
  CHECK(t.insert_failures() == 2);
  CHECK(t.next_id() == 3);  // failed inserts consume no id
  t.remove(0);
  // deleted but not compacted: still occupies its slot
  CHECK(t.insert(state(3), cov(1), 0, 0, 0.5) == kNoSlot);
  CHECK(t.num_live() == 1 && t.size() == 2);
  CHECK(t.compact() == 1);
  const Index s = t.insert(state(3), cov(1), 0, 0, 0.5);
  CHECK(s == 0);           // the freed slot is reused ...
  CHECK(t.id(s) == 3);     // ... but not the id
  CHECK(t.insert_failures() == 3);
}

TEST_CASE("track table: remove marks deleted until compact; order is by id and stable") {
  Table t(5, 1, 1);
  for (int k = 0; k < 5; ++k) t.insert(state(k), cov(1), k, 0, 0.5);
  t.remove(1);
  t.remove(3);
  t.remove(3);  // idempotent
  CHECK(t.num_live() == 3 && t.size() == 5);
  CHECK(t.status(1) == TrackStatus::kDeleted);
  std::vector<Index> live;
  t.for_each_live([&](Index s) { live.push_back(s); });
  CHECK((live == std::vector<Index>{0, 2, 4}));
  CHECK(t.slots().size() == 5);  // deleted tracks are still listed until compact
  CHECK(t.compact() == 2);
  CHECK(t.slots().size() == 3);
  // new tracks reuse slots 3 then 1 (most recently freed first) but come last in the order
  const Index a = t.insert(state(9), cov(1), 9, 0, 0.5);
  const Index b = t.insert(state(9), cov(1), 9, 0, 0.5);
  CHECK(a == 3 && b == 1);
  std::vector<std::int64_t> ids;
  for (Index s : t.slots()) ids.push_back(t.id(s));
  CHECK((ids == std::vector<std::int64_t>{1, 3, 5, 6, 7}));
  CHECK_THROWS(t.remove(-1), std::out_of_range);
  CHECK_THROWS(t.remove(5), std::out_of_range);
  t.remove(a);
  t.compact();
  CHECK_THROWS(t.remove(a), std::out_of_range);  // a freed slot holds no track
}

TEST_CASE("track table: ids are unique, increasing in order, never reused (random ops)") {
  std::mt19937 rng(7);
  Table t(16, 2, 3);
  std::set<std::int64_t> seen;
  std::int64_t last_issued = 0;
  for (int step = 0; step < 2000; ++step) {
    const int op = static_cast<int>(rng() % 4);
    if (op <= 1) {
      const Index s = t.insert(state(step), cov(1), step, static_cast<int>(rng() % 3), 0.5);
      if (s != kNoSlot) {
        CHECK(t.id(s) > last_issued);
        last_issued = t.id(s);
        CHECK(seen.insert(t.id(s)).second);  // never seen before
      }
    } else if (op == 2 && t.size() > 0) {
      t.remove(t.slots()[static_cast<Index>(rng() % static_cast<unsigned>(t.size()))]);
    } else if (op == 3) {
      t.compact();
    }
    if (step == 1000) t.clear();
    std::int64_t prev = 0;
    for (Index s : t.slots()) {
      CHECK(t.id(s) > prev);
      prev = t.id(s);
    }
  }
  CHECK(t.insert_failures() > 0);  // the table did fill up at times
}

TEST_CASE("track table: records carry P, classes and per-sensor last updates") {
  Table t(4, 3, 2);
  const double cp[3] = {1.0, 3.0, 0.0};  // normalised on insert
  const Index s = t.insert(state(5), cov(2), 1000, 1, 0.7, cp);
  t.record_frame(s, 0, 1500, true, true);
  t.record_frame(s, 1, 1700, false, true);
  t.set_status(s, TrackStatus::kConfirmed);
  TrackRecord<N> r;
  t.record(s, r);
  CHECK(r.id == 1 && r.t_ns == 1000 && r.status == 1 && r.birth_sensor == 1);
  CHECK_CLOSE(r.existence, 0.7, 0.0);
  CHECK(r.num_classes == 3 && r.num_sensors == 2);
  CHECK_CLOSE(r.class_prob[0], 0.25, 1e-15);
  CHECK_CLOSE(r.class_prob[1], 0.75, 1e-15);
  CHECK(r.class_prob[3] == 0.0);
  CHECK(r.last_update_ns[0] == 1500 && r.last_update_ns[1] == 1000);  // the miss is no update
  CHECK(r.last_update_ns[2] == kNeverNs);
  CHECK_CLOSE(r.x[0], 5.0, 0.0);
  CHECK_CLOSE(r.P[0 * N + 1], 0.5, 0.0);
  CHECK_CLOSE(r.P[1 * N + 0], 0.5, 0.0);
  CHECK_CLOSE(r.P[3 * N + 3], 2.0, 0.0);
  CHECK(t.last_update_any_ns(s) == 1500);
  CHECK(t.evidence(s, 1).misses == 1 && t.evidence(s, 1).history.hits_in_last(2) == 1);
  CHECK(t.most_likely_class(s) == 1);

  t.insert(state(6), cov(1), 1100, 0, 0.5);
  t.remove(s);
  TrackRecord<N> out[4];
  CHECK(t.export_records(out, 4) == 2);
  CHECK(out[0].id == 1 && out[0].status == static_cast<std::int32_t>(TrackStatus::kDeleted));
  CHECK(t.export_records(out, 4, /*include_deleted=*/false) == 1);
  CHECK(out[0].id == 2);
  CHECK(t.export_records(out, 0) == 0);
  CHECK_THROWS(t.record(3, r), std::out_of_range);
}

TEST_CASE("track table: invalid inserts throw and change nothing") {
  Table t(2, 2, 2);
  CHECK_THROWS(t.insert(state(0), cov(1), 0, 2, 0.5), ConfigurationError);
  CHECK_THROWS(t.insert(state(0), cov(1), 0, -1, 0.5), ConfigurationError);
  CHECK_THROWS(t.insert(state(0), cov(1), 0, 0, 1.5), ConfigurationError);
  Vec<N> bad = state(0);
  bad(2) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS(t.insert(bad, cov(1), 0, 0, 0.5), NumericalError);
  const double neg[2] = {-0.1, 1.1}, zero[2] = {0.0, 0.0};
  CHECK_THROWS(t.insert(state(0), cov(1), 0, 0, 0.5, neg), NumericalError);
  CHECK_THROWS(t.insert(state(0), cov(1), 0, 0, 0.5, zero), NumericalError);
  CHECK(t.size() == 0 && t.next_id() == 1);
}

TEST_CASE("track table: hit history counts the last n frames") {
  fusion::track::HitHistory h;
  for (bool b : {true, false, true, true, false}) h.push(b);  // latest last
  CHECK(h.frames == 5);
  CHECK(h.hits_in_last(1) == 0 && h.hits_in_last(2) == 1 && h.hits_in_last(3) == 2);
  CHECK(h.hits_in_last(5) == 3 && h.hits_in_last(32) == 3);
  for (int k = 0; k < 70; ++k) h.push(true);
  CHECK(h.frames == fusion::track::kMaxHistory && h.hits_in_last(fusion::track::kMaxHistory) == 64);
  CHECK(h.hits_in_last(32) == 32 && h.total_frames == 75 && h.total_hits == 73);
}

TEST_CASE("track table: no allocation after construction") {
  Table t(8, 3, 2);
  TrackRecord<N> out[8];
  const Vec<N> x = state(1);
  const Mat<N, N> P = cov(1);
  const long before = g_allocations.load();
  for (int cycle = 0; cycle < 50; ++cycle) {
    for (int k = 0; k < 10; ++k) t.insert(x, P, cycle, k % 2, 0.5);  // overfills: counted
    t.x(t.slots()[0])(0) += 1.0;
    t.record_frame(t.slots()[1], 1, cycle, cycle % 2 == 0, true);
    t.export_records(out, 8);
    t.remove(t.slots()[0]);
    t.remove(t.slots()[2]);
    t.compact();
    if (cycle % 10 == 9) t.clear();
  }
  CHECK(g_allocations.load() == before);
  CHECK(t.insert_failures() > 0);
}

TEST_CASE("track table: set_id keeps slots() ordered by id; allocate_id shares the id space") {
  Table t(6, 0, 1);
  const Index a = t.insert(state(1), cov(1.0), 0, 0, 0.5);  // id 1
  const std::int64_t img = t.allocate_id();               // id 2, held outside the table
  const Index b = t.insert(state(2), cov(1.0), 0, 0, 0.5);  // id 3
  const Index c = t.insert(state(3), cov(1.0), 0, 0, 0.5);  // id 4
  CHECK(img == 2 && t.id(b) == 3 && t.id(c) == 4 && t.next_id() == 5);
  const long before = g_allocations.load();
  t.set_id(c, img);  // the newest track continues the outside object: it moves before b
  CHECK(g_allocations.load() == before);
  const fusion::track::SlotSpan s = t.slots();
  CHECK(s.size() == 3 && s[0] == a && s[1] == c && s[2] == b);
  CHECK(t.id(c) == 2 && t.find(2) == c && t.find(4) == kNoSlot);
  CHECK_THROWS(t.set_id(a, 3), ConfigurationError);   // held by b
  CHECK_THROWS(t.set_id(a, 9), ConfigurationError);   // never allocated
  CHECK(t.id(a) == 1);
  // the record carries the new fields
  t.set_status(c, TrackStatus::kConfirmed);
  t.evidence(c, 0).score_sum = 2.5;
  t.evidence(c, 0).detection = 3;
  TrackRecord<N> r;
  t.record(c, r);
  CHECK(r.id == 2 && r.confirmed_ever == 1 && r.birth_t_ns == 0 && r.hits[0] == 1 && r.misses[0] == 0);
  CHECK(r.score_sum[0] == 2.5 && r.detection[0] == 3 && r.detection[1] == -1 && r.class_id == -1);
  CHECK(t.confirmed_ever(c) && !t.confirmed_ever(a));
}

TEST_CASE("track table: a hit that does not count for coasting leaves the last update from any sensor") {
  Table t(2, 0, 2);
  const Index s = t.insert(state(1), cov(1.0), 100, 0, 0.5);
  t.record_frame(s, 1, 200, true, false, /*counts_for_coast=*/false);
  CHECK(t.last_update_any_ns(s) == 100 && t.evidence(s, 1).last_update_ns == 200);
  t.record_frame(s, 0, 300, true, true);
  CHECK(t.last_update_any_ns(s) == 300);
}
