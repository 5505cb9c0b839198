// The engine calls an owner of several engines uses (the Tracker preset): deferred births
// (Frame::defer_births, commit_birth), one id space (set_next_id), release_deleted and
// copy_state_from; deferred births give the same tracks as immediate ones; no allocation.
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "alloc_counter.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/engine/engine.hpp"
#include "fusion/track/record.hpp"
#include "test_framework.hpp"

using fusion::ConfigurationError;
using fusion::Index;
using fusion::TimeNs;
using namespace fusion::engine;  // NOLINT: the module under test

namespace {

using Record = fusion::track::TrackRecord<10>;  // cv_box
constexpr TimeNs kFrame = 100000000;

EngineConfig lidar_config(Index max_tracks = 8) {
  EngineConfig c;
  c.motion = "cv_box";
  c.max_tracks = max_tracks;
  c.max_detections = 8;
  c.max_image_tracks = 0;
  c.p0_diag = {10, 10, 10, 1e4, 1e4, 1e4, 10, 10, 10, 10};
  c.lifecycle.confirm_hits = 1;
  c.lifecycle.confirm_window = 1;
  c.lifecycle.max_misses = 2;
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

// n boxes in a row, 10 m apart, moving 1 m per frame along x.
std::vector<double> row(int n, int frame) {
  std::vector<double> z;
  for (int i = 0; i < n; ++i) {
    const double b[7] = {10.0 * i + 0.1 * frame, 0.0, 0.75, 0.0, 4.0, 1.8, 1.5};
    z.insert(z.end(), b, b + 7);
  }
  return z;
}

Frame frame(TimeNs t, Index n, const double* z, bool defer) {
  Frame f;
  f.t_ns = t;
  f.n = n;
  f.z = z;
  f.defer_births = defer;
  return f;
}

std::vector<Record> live(const EngineBase& e) {
  std::vector<Record> out(16);
  out.resize(static_cast<std::size_t>(e.export_tracks(out.data(), 16, false)));
  return out;
}

}  // namespace

TEST_CASE("engine owner API: deferred births, committed in any order with the owner's ids") {
  auto e = make_engine(lidar_config());
  const std::vector<double> z = row(3, 0);
  e->process(frame(0, 3, z.data(), true));
  CHECK(e->num_tracks() == 0 && e->num_pending_births() == 3);
  CHECK(e->pending_birth_detection(0) == 0 && e->pending_birth_detection(2) == 2);
  CHECK_THROWS(e->pending_birth_detection(3), std::out_of_range);
  e->set_next_id(7);
  CHECK(e->commit_birth(2));  // any candidate order
  e->set_next_id(100);
  CHECK(e->commit_birth(0));
  CHECK(!e->commit_birth(0));  // once only
  const std::vector<Record> r = live(*e);
  CHECK(r.size() == 2 && r[0].id == 7 && r[1].id == 100);  // id order
  CHECK(r[0].box[0] == 20.0 && r[1].box[0] == 0.0 && r[0].detection[0] == 2 && r[1].detection[0] == 0);
  CHECK(e->next_id() == 101);
  CHECK_THROWS(e->set_next_id(0), ConfigurationError);
  CHECK_THROWS(e->set_next_id(100), ConfigurationError);  // not above the ids held
  // the next frame drops what was not committed
  const std::vector<double> z1 = row(3, 1);
  e->process(frame(kFrame, 3, z1.data(), true));
  CHECK(e->num_tracks() == 2 && e->num_pending_births() == 1 && e->pending_birth_detection(0) == 1);
}

TEST_CASE("engine owner API: deferring and committing every birth equals immediate births") {
  auto a = make_engine(lidar_config());
  auto b = make_engine(lidar_config());
  for (int f = 0; f < 12; ++f) {
    const int n = f % 5 == 3 ? 1 : 3;  // misses delete (max_misses 2) and births follow
    const std::vector<double> z = row(n, f);
    a->process(frame(f * kFrame, n, z.data(), false));
    b->process(frame(f * kFrame, n, z.data(), true));
    for (Index p = 0; p < b->num_pending_births(); ++p) CHECK(b->commit_birth(p));
    const std::vector<Record> ra = live(*a), rb = live(*b);
    CHECK(ra.size() == rb.size());
    for (std::size_t i = 0; i < ra.size() && i < rb.size(); ++i)
      CHECK(std::memcmp(&ra[i], &rb[i], sizeof(Record)) == 0);
  }
}

TEST_CASE("engine owner API: release_deleted frees this frame's slots for births; copy_state_from") {
  auto e = make_engine(lidar_config(3));
  const std::vector<double> z = row(3, 0);
  e->process(frame(0, 3, z.data(), false));
  const std::vector<double> none;
  e->process(frame(kFrame, 0, none.data(), true));  // first miss
  std::vector<double> far = row(3, 2);
  for (std::size_t i = 0; i < far.size(); i += 7) far[i + 1] += 100.0;  // no track can take these
  e->process(frame(2 * kFrame, 3, far.data(), true));  // second miss: all three deleted now
  CHECK(e->num_tracks() == 0 && e->num_pending_births() == 3);
  CHECK(!e->commit_birth(0) && e->stats().insert_failures == 1);  // their slots are still taken
  e->release_deleted();
  CHECK(e->commit_birth(1) && e->commit_birth(2) && e->num_tracks() == 2);
  // copy: the same state, then identical futures; the copy itself allocates nothing
  auto c = make_engine(lidar_config(3));
  const long before = g_allocations.load();
  c->copy_state_from(*e);
  CHECK(g_allocations.load() == before);
  for (int f = 3; f < 8; ++f) {
    std::vector<double> zf = row(3, f);
    for (std::size_t i = 0; i < zf.size(); i += 7) zf[i + 1] += 100.0;
    e->process(frame(f * kFrame, 3, zf.data(), false));
    c->process(frame(f * kFrame, 3, zf.data(), false));
    const std::vector<Record> re = live(*e), rc = live(*c);
    CHECK(re.size() == rc.size() && !re.empty());
    CHECK(std::memcmp(re.data(), rc.data(), re.size() * sizeof(Record)) == 0);
  }
  EngineConfig other = lidar_config(3);
  other.motion = "ctrv_box";
  other.p0_diag.pop_back();
  auto o = make_engine(other);
  CHECK_THROWS(o->copy_state_from(*e), ConfigurationError);
  auto big = make_engine(lidar_config(4));
  CHECK_THROWS(big->copy_state_from(*e), ConfigurationError);
}
