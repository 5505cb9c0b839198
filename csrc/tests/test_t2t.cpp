// Track-to-track fusion: covariance intersection (optimal weights, SPD, bounds) and the
// TrackFuser (frames, association, id stability, bad input, allocation-free updates).
#include <Eigen/Eigenvalues>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "alloc_counter.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/core/linalg.hpp"
#include "fusion/t2t/covariance_intersection.hpp"
#include "fusion/t2t/track_fuser.hpp"
#include "test_framework.hpp"

using namespace fusion;
using namespace fusion::t2t;

namespace {

Cov random_spd(std::mt19937& rng, double scale) {
  std::normal_distribution<double> nd;
  Cov A;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) A(i, j) = nd(rng);
  Cov P = scale * (A * A.transpose() + 0.1 * Cov::Identity());
  symmetrize(P);
  return P;
}

double objective(const std::vector<Cov>& Ps, const std::vector<double>& w, CiCriterion c) {
  Cov Y = Cov::Zero();
  for (std::size_t i = 0; i < Ps.size(); ++i) Y += w[i] * Ps[i].inverse();
  const Cov P = Y.inverse();
  return c == CiCriterion::Trace ? P.trace() : std::log(P.determinant());
}

SourceTrack make_track(std::int64_t id, TimeNs t, double x, double y, double vx, double vy, double pos_var = 0.25,
                       double vel_var = 0.5) {
  SourceTrack s;
  s.id = id;
  s.t_ns = t;
  s.x[0] = x; s.x[1] = y; s.x[2] = vx; s.x[3] = vy;
  for (double& p : s.P) p = 0.0;
  s.P[0] = pos_var; s.P[5] = pos_var; s.P[10] = vel_var; s.P[15] = vel_var;
  return s;
}

FuserConfig two_sources() {
  FuserConfig c;
  c.sources = {SourceConfig{"radar", 0.0, {}}, SourceConfig{"camera", 0.0, {}}};
  c.max_fused_tracks = 16;
  c.max_source_tracks = 8;
  c.confirm_updates = 2;
  return c;
}

constexpr TimeNs kMs = 1000000;

}  // namespace

TEST_CASE("ci: the weights minimise the objective over a grid of the simplex (2 and 3 estimates)") {
  std::mt19937 rng(3);
  for (const CiCriterion crit : {CiCriterion::Trace, CiCriterion::Determinant}) {
    for (int rep = 0; rep < 20; ++rep) {
      for (int n : {2, 3}) {
        std::vector<State> xs(static_cast<std::size_t>(n), State::Zero());
        std::vector<Cov> Ps;
        for (int i = 0; i < n; ++i) Ps.push_back(random_spd(rng, 1.0 + i));
        CiSolver<Cov> ci;
        ci.reserve(n, 4);
        std::vector<double> w(static_cast<std::size_t>(n));
        State x;
        Cov P;
        const CiResult r = ci.fuse(xs, Ps, n, crit, w.data(), x, P);
        double sum = 0.0;
        for (double v : w) {
          CHECK(v >= 0.0);
          sum += v;
        }
        CHECK_CLOSE(sum, 1.0, 1e-12);
        CHECK(is_spd(P));
        CHECK_CLOSE(r.objective, objective(Ps, w, crit), 1e-9 * (1.0 + std::abs(r.objective)));
        double best = 1e300;
        const int G = n == 2 ? 2000 : 120;
        for (int a = 0; a <= G; ++a)
          for (int b = 0; b <= (n == 2 ? 0 : G - a); ++b) {
            std::vector<double> g = n == 2 ? std::vector<double>{a / double(G), 1.0 - a / double(G)}
                                           : std::vector<double>{a / double(G), b / double(G), (G - a - b) / double(G)};
            best = std::min(best, objective(Ps, g, crit));
          }
        CHECK(r.objective <= best + 1e-9 * (1.0 + std::abs(best)));
      }
    }
  }
}

TEST_CASE("ci: symmetric inputs get equal weights; a useless estimate gets weight 0") {
  CiSolver<Cov> ci;
  ci.reserve(3, 4);
  std::vector<State> xs = {State(1, 0, 0, 0), State(-1, 0, 0, 0)};
  Cov P1 = Cov::Identity(), P2 = Cov::Identity();
  P1(0, 0) = 4.0;
  P2(1, 1) = 4.0;
  std::vector<Cov> Ps = {P1, P2};
  double w[3];
  State x;
  Cov P;
  ci.fuse(xs, Ps, 2, CiCriterion::Trace, w, x, P);
  CHECK_CLOSE(w[0], 0.5, 1e-9);
  CHECK_CLOSE(w[1], 0.5, 1e-9);
  CHECK_CLOSE(x(0), (0.5 * 0.25 * 1 - 0.5 * 1.0) / (0.5 * 0.25 + 0.5), 1e-9);  // information-weighted
  // a third estimate 1e6 times worse in every direction: no weight
  xs.push_back(State(100, 100, 0, 0));
  Ps.push_back(1e6 * Cov::Identity());
  ci.fuse(xs, Ps, 3, CiCriterion::Determinant, w, x, P);
  CHECK(w[2] < 1e-9);
  // one estimate dominating the other (P1 < P2): all the weight on it, P = P1
  std::vector<Cov> Pd = {Cov::Identity(), 2.0 * Cov::Identity()};
  ci.fuse(xs, Pd, 2, CiCriterion::Trace, w, x, P);
  CHECK_CLOSE(w[0], 1.0, 1e-12);
  CHECK_CLOSE(P(0, 0), 1.0, 1e-12);
}

TEST_CASE("ci: the fused covariance bounds the true error covariance for any correlation (Monte Carlo)") {
  std::mt19937 rng(11);
  std::normal_distribution<double> nd;
  for (const double rho : {-0.9, 0.0, 0.5, 0.95}) {
    // two 4D estimates of the same state with cross-covariance rho * sqrt(P1) sqrt(P2)^T
    const Cov P1 = random_spd(rng, 1.0), P2 = random_spd(rng, 2.0);
    const Cov L1 = P1.llt().matrixL(), L2 = P2.llt().matrixL();
    CiSolver<Cov> ci;
    ci.reserve(2, 4);
    std::vector<State> xs = {State::Zero(), State::Zero()};
    std::vector<Cov> Ps = {P1, P2};
    double w[2];
    State x;
    Cov P;
    ci.fuse(xs, Ps, 2, CiCriterion::Trace, w, x, P);
    const Cov Y1 = P1.inverse(), Y2 = P2.inverse();
    const Cov K1 = P * (w[0] * Y1), K2 = P * (w[1] * Y2);  // x = K1 x1 + K2 x2
    Cov E = Cov::Zero();
    const int N = 40000;
    for (int k = 0; k < N; ++k) {
      State u, v;
      for (int i = 0; i < 4; ++i) {
        u(i) = nd(rng);
        v(i) = rho * u(i) + std::sqrt(1.0 - rho * rho) * nd(rng);
      }
      const State e = K1 * (L1 * u) + K2 * (L2 * v);
      E += e * e.transpose();
    }
    E /= N;
    const Eigen::SelfAdjointEigenSolver<Cov> es(P - E);
    CHECK(es.eigenvalues().minCoeff() > -0.03 * P.trace());  // P - E >= 0 up to sampling error
  }
}

TEST_CASE("fuser: two sources on one target make one confirmed fused track, no worse than either") {
  TrackFuser fu(two_sources());
  FusedTrack out[16];
  for (int k = 0; k < 10; ++k) {
    const TimeNs t = k * 100 * kMs;
    const double x = 10.0 + 0.1 * k;
    SourceTrack a = make_track(7, t, x + 0.1, 2.0, 1.0, 0.0, 0.25, 0.5);
    SourceTrack b = make_track(42, t, x - 0.1, 2.0, 1.0, 0.0, 1.0, 0.1);
    CHECK(fu.update(0, t, &a, 1));
    CHECK(fu.update(1, t, &b, 1));
  }
  CHECK(fu.num_tracks(true) == 1);
  const Index n = fu.tracks(out, 16, true);
  CHECK(n == 1);
  CHECK(out[0].id == 1 && out[0].confirmed == 1 && out[0].source_mask == 3u);
  CHECK_CLOSE(out[0].x[0], 10.9, 0.2);
  const Eigen::Map<const Cov> P(out[0].P);
  CHECK(is_spd(P));
  CHECK(P.trace() <= std::min(0.25 * 2 + 0.5 * 2, 1.0 * 2 + 0.1 * 2) + 1e-9);  // at most either input's trace
  CHECK(P.trace() < 0.99 * (0.25 * 2 + 0.5 * 2));  // and better than the best one alone
  CHECK(fu.fused_id_of(0, 7) == 1 && fu.fused_id_of(1, 42) == 1 && fu.fused_id_of(1, 7) == 0);
  CHECK(fu.stats().births == 1 && fu.stats().updates == 20);
}

TEST_CASE("fuser: a source that re-numbers (or jumps) its ids keeps the fused id") {
  TrackFuser fu(two_sources());
  for (int k = 0; k < 30; ++k) {
    const TimeNs t = k * 100 * kMs;
    const std::int64_t id = k < 10 ? 5 : (k < 20 ? 105 : 1000000 + k);  // a jump, then a new id every list
    SourceTrack a[2] = {make_track(id, t, 0.5 * k, 0.0, 5.0, 0.0), make_track(id + 1, t, 0.5 * k, 20.0, 5.0, 0.0)};
    CHECK(fu.update(0, t, a, 2));
    CHECK(fu.fused_id_of(0, id) == 1);
    CHECK(fu.fused_id_of(0, id + 1) == 2);
  }
  CHECK(fu.stats().births == 2);
  // k = 10 and 20: both ids change; k > 20: every list re-numbers both, and the new id of the
  // first is the old id of the second (its link fails the gate and is re-made)
  CHECK(fu.stats().id_changes == 2 + 2 + 2 * 9);
  CHECK(fu.stats().gate_breaks == 9);
}

TEST_CASE("fuser: a source's pose maps its frame into the fusion frame") {
  FuserConfig c = two_sources();
  c.sources[1].pose = Pose2D{10.0, 5.0, M_PI / 2};  // a roadside unit
  TrackFuser fu(c);
  SourceTrack a = make_track(1, 0, 1.0, 0.0, 2.0, 0.0);  // 1 m ahead of the unit, moving along its x
  CHECK(fu.update(1, 0, &a, 1));
  FusedTrack out[4];
  CHECK(fu.tracks(out, 4) == 1);
  CHECK_CLOSE(out[0].x[0], 10.0, 1e-12);
  CHECK_CLOSE(out[0].x[1], 6.0, 1e-12);
  CHECK_CLOSE(out[0].x[2], 0.0, 1e-12);
  CHECK_CLOSE(out[0].x[3], 2.0, 1e-12);
  // a per-update pose (a moving vehicle) overrides the configured one
  const Pose2D moving{100.0, 0.0, 0.0};
  SourceTrack b = make_track(1, 0, 1.0, 0.0, 2.0, 0.0);
  CHECK(fu.update(0, 0, &b, 1, &moving));
  CHECK(fu.num_tracks() == 2);
  CHECK(fu.fused_id_of(0, 1) == 2);
}

TEST_CASE("fuser: bad input raises, names source, id and field, and changes nothing") {
  TrackFuser fu(two_sources());
  SourceTrack ok = make_track(3, 0, 0.0, 0.0, 1.0, 0.0);
  CHECK(fu.update(0, 0, &ok, 1));
  const FuserStats before = fu.stats();
  auto message_of = [&](SourceTrack* t, Index n) -> std::string {
    try {
      fu.update(1, 100 * kMs, t, n);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  SourceTrack dup[2] = {make_track(9, 0, 0.0, 0.0, 1.0, 0.0), make_track(9, 0, 5.0, 0.0, 1.0, 0.0)};
  CHECK_THROWS(fu.update(1, 100 * kMs, dup, 2), TrackListError);
  CHECK(message_of(dup, 2).find("source 'camera': track id 9 appears more than once") != std::string::npos);
  SourceTrack nan = make_track(4, 0, NAN, 0.0, 1.0, 0.0);
  CHECK_THROWS(fu.update(1, 100 * kMs, &nan, 1), NumericalError);
  CHECK(message_of(&nan, 1).find("source 'camera' track id 4: state is not finite") != std::string::npos);
  SourceTrack bad = make_track(4, 0, 0.0, 0.0, 1.0, 0.0);
  bad.P[0] = -1.0;
  CHECK(message_of(&bad, 1).find("track id 4: covariance is not symmetric positive definite") != std::string::npos);
  bad.P[0] = 1.0;
  bad.P[1] = 0.5;  // not symmetric
  CHECK_THROWS(fu.update(1, 100 * kMs, &bad, 1), NumericalError);
  bad.P[1] = INFINITY;
  CHECK(message_of(&bad, 1).find("covariance is not finite") != std::string::npos);
  CHECK_THROWS(fu.update(2, 0, &ok, 1), ConfigurationError);
  const Pose2D nan_pose{0.0, NAN, 0.0};
  CHECK_THROWS(fu.update(0, 0, &ok, 1, &nan_pose), NumericalError);
  CHECK(fu.stats().updates == before.updates && fu.time_ns() == 0 && fu.num_tracks() == 1);
  CHECK_THROWS(TrackFuser(FuserConfig{}), ConfigurationError);
  FuserConfig neg = two_sources();
  neg.gate = -1.0;
  CHECK_THROWS(TrackFuser(neg), ConfigurationError);
}

TEST_CASE("fuser: a late list is fused at the fuser's time within max_delay_s, dropped beyond") {
  FuserConfig c = two_sources();
  c.max_delay_s = 0.3;
  c.sources[1].latency_s = 0.1;
  TrackFuser fu(c);
  SourceTrack a = make_track(1, 1000 * kMs, 10.0, 0.0, 1.0, 0.0);
  CHECK(fu.update(0, 1000 * kMs, &a, 1));
  SourceTrack b = make_track(2, 800 * kMs, 9.8, 0.0, 1.0, 0.0);  // arrives at 900 ms: 100 ms late
  CHECK(fu.update(1, 800 * kMs, &b, 1));
  CHECK(fu.stats().late_lists == 1 && fu.time_ns() == 1000 * kMs);
  CHECK(fu.num_tracks() == 1 && fu.fused_id_of(1, 2) == 1);  // predicted to 1 s: the same object
  SourceTrack old = make_track(2, 500 * kMs, 9.5, 0.0, 1.0, 0.0);  // arrives at 600 ms: 400 ms late
  CHECK(!fu.update(1, 500 * kMs, &old, 1));
  CHECK(fu.stats().dropped_lists == 1 && fu.stats().updates == 2);
}

TEST_CASE("fuser: a fused track is deleted when its sources drop it, or fall silent for delete_after_s") {
  FuserConfig c = two_sources();
  c.delete_after_s = 0.5;
  TrackFuser fu(c);
  SourceTrack a = make_track(1, 0, 0.0, 0.0, 1.0, 0.0);
  SourceTrack b = make_track(8, 0, 0.0, 0.0, 1.0, 0.0);
  CHECK(fu.update(0, 0, &a, 1));
  CHECK(fu.update(1, 0, &b, 1));
  // source 1 keeps reporting other things only (its lists never mention the track again) and
  // source 0 falls silent: the track lives on source 0's estimate until delete_after_s
  for (int k = 1; k <= 5; ++k) CHECK(fu.update(1, k * 100 * kMs, nullptr, 0));
  CHECK(fu.num_tracks() == 1);
  CHECK(fu.update(1, 600 * kMs, nullptr, 0));
  CHECK(fu.num_tracks() == 0 && fu.stats().deletions == 1);
  // a source's complete list without the track: deleted at once
  CHECK(fu.update(0, 700 * kMs, &a, 1));
  CHECK(fu.num_tracks() == 1);
  CHECK(fu.update(0, 800 * kMs, nullptr, 0));
  CHECK(fu.num_tracks() == 0 && fu.stats().deletions == 2);
  CHECK(fu.update(0, 900 * kMs, &a, 1));
  FusedTrack out[2];
  CHECK(fu.tracks(out, 2) == 1 && out[0].id == 3);  // ids are never reused
}

TEST_CASE("fuser: steady-state updates allocate nothing") {
  FuserConfig c = two_sources();
  c.max_fused_tracks = 64;
  c.max_source_tracks = 32;
  TrackFuser fu(c);
  std::vector<SourceTrack> list(32);
  FusedTrack out[64];
  auto step = [&](int k) {
    const TimeNs t = k * 50 * kMs;
    for (int i = 0; i < 32; ++i) list[static_cast<std::size_t>(i)] = make_track(i + (k > 20 ? 500 : 0), t, 3.0 * i + 0.2 * k, 0.0, 4.0, 0.0);
    fu.update(k % 2, t, list.data(), 32);
    fu.tracks(out, 64, true, true, t + 10 * kMs);
  };
  for (int k = 0; k < 5; ++k) step(k);
  const long before = g_allocations.load();
  for (int k = 5; k < 40; ++k) step(k);
  CHECK(g_allocations.load() == before);
  CHECK(fu.num_tracks(true) == 32);
}

TEST_CASE("fuser: a source without births only feeds existing fused tracks") {
  FuserConfig c = two_sources();
  c.sources[1].births = false;
  TrackFuser fu(c);
  SourceTrack b = make_track(9, 0, 0.0, 0.0, 1.0, 0.0);
  CHECK(fu.update(1, 0, &b, 1));
  CHECK(fu.num_tracks() == 0 && fu.stats().births == 0);
  SourceTrack a = make_track(1, 0, 0.1, 0.0, 1.0, 0.0);
  CHECK(fu.update(0, 0, &a, 1));
  CHECK(fu.update(1, 0, &b, 1));
  CHECK(fu.num_tracks() == 1 && fu.fused_id_of(1, 9) == 1);
}

TEST_CASE("fuser: an auxiliary source (no births) whose track drifts off the fused track loses its link") {
  FuserConfig c = two_sources();
  c.sources[1].births = false;
  TrackFuser fu(c);
  for (int k = 0; k < 20; ++k) {
    const TimeNs t = k * 100 * kMs;
    SourceTrack a = make_track(1, t, 1.0 * k * 0.1, 0.0, 1.0, 0.0, 0.04, 0.04);
    // source 1's track follows the object, then drifts away by 0.5 m per list (self-consistent)
    const double off = k < 10 ? 0.0 : 0.5 * (k - 9);
    SourceTrack b = make_track(9, t, 1.0 * k * 0.1 + off, 0.0, 1.0 + (k < 10 ? 0.0 : 5.0), 0.0, 0.04, 4.0);
    CHECK(fu.update(0, t, &a, 1));
    CHECK(fu.update(1, t, &b, 1));
  }
  CHECK(fu.fused_id_of(0, 1) == 1);
  CHECK(fu.fused_id_of(1, 9) == 0);  // broken by the fused-track gate, and it may not start a track
  CHECK(fu.stats().gate_breaks >= 1 && fu.num_tracks() == 1);
}

TEST_CASE("fuser: a track only auxiliary sources still report is deleted") {
  FuserConfig c = two_sources();
  c.sources[1].births = false;
  TrackFuser fu(c);
  SourceTrack a = make_track(1, 0, 0.0, 0.0, 1.0, 0.0);
  SourceTrack b = make_track(9, 0, 0.1, 0.0, 1.0, 0.0);
  CHECK(fu.update(0, 0, &a, 1));
  CHECK(fu.update(1, 0, &b, 1));
  CHECK(fu.num_tracks() == 1 && fu.fused_id_of(1, 9) == 1);
  CHECK(fu.update(0, 100 * kMs, nullptr, 0));  // the anchor drops it; source 1 still has it
  CHECK(fu.num_tracks() == 0 && fu.stats().deletions == 1);
}

namespace {

// Source 0 tracks a braking car right; source 1 (a constant-velocity roadside track) lags it
// by 1.5 m/s at first (too far for the gate: a second fused track starts) and converges by
// list 4. Returns the number of fused tracks after each list (two lists per step).
std::vector<Index> biased_start(TrackFuser& fu, int steps, std::int64_t id1 = 42) {
  std::vector<Index> n;
  for (int k = 0; k < steps; ++k) {
    const TimeNs t = k * 100 * kMs;
    const double x = 10.0 + 6.0 * 0.1 * k;
    const double lag = k < 4 ? 1.5 * (4 - k) / 4.0 : 0.0;
    SourceTrack a = make_track(7, t, x, 2.0, 6.0, 0.0, 0.04, 0.04);
    SourceTrack b = make_track(id1, t, x - 0.2 * lag, 2.0, 6.0 - lag, 0.0, 0.04, 0.04);
    fu.update(0, t, &a, 1);
    n.push_back(fu.num_tracks());
    fu.update(1, t, &b, 1);
    n.push_back(fu.num_tracks());
  }
  return n;
}

}  // namespace

TEST_CASE("fuser: two fused tracks of one object from different sources merge once they agree; the older id stays") {
  Index prev = -1;
  for (int after : {1, 2, 3}) {
    FuserConfig c = two_sources();
    c.merge_after = after;
    TrackFuser fu(c);
    const std::vector<Index> n = biased_start(fu, 12);
    CHECK(n[1] == 2);  // the lagging track started a second fused track
    // once the two fused tracks agree (the lag shrinks), each counts its own updates: the
    // merge comes at the merge_after-th agreeing update of one of them, and stays merged
    Index first_one = -1;
    for (std::size_t i = 2; i < n.size(); ++i)  // (n[0] == 1: the first list, one track so far)
      if (n[i] == 1 && first_one < 0) first_one = static_cast<Index>(i);
    CHECK(first_one > 1);
    for (std::size_t i = static_cast<std::size_t>(first_one); i < n.size(); ++i) CHECK(n[i] == 1);
    FusedTrack out[4];
    CHECK(fu.tracks(out, 4) == 1);
    CHECK(out[0].id == 1 && out[0].source_mask == 3u && out[0].confirmed == 1);
    CHECK_CLOSE(out[0].x[2], 6.0, 0.05);
    CHECK(fu.stats().merges == 1 && fu.stats().deletions == 0 && fu.stats().births == 2);
    CHECK(fu.fused_id_of(0, 7) == 1 && fu.fused_id_of(1, 42) == 1);
    // the merged track is the covariance intersection of both sources: no worse than either
    const Eigen::Map<const Cov> P(out[0].P);
    CHECK(is_spd(P));
    CHECK(P.trace() <= 0.04 * 4 + 1e-9);
    // a merge with merge_after = k comes later than with k - 1
    if (after > 1) CHECK(first_one > prev);
    prev = first_one;
    // ids are never reused: the next object gets id 3
    SourceTrack d = make_track(9, 1300 * kMs, 50.0, 50.0, 0.0, 0.0);
    SourceTrack a = make_track(7, 1300 * kMs, 10.0 + 6.0 * 1.3, 2.0, 6.0, 0.0, 0.04, 0.04);
    SourceTrack l[2] = {a, d};
    fu.update(0, 1300 * kMs, l, 2);
    CHECK(fu.fused_id_of(0, 9) == 3);
  }
}

TEST_CASE("fuser: merge_after = 0 never merges (the old behaviour)") {
  FuserConfig c = two_sources();
  c.merge_after = 0;
  TrackFuser fu(c);
  const std::vector<Index> n = biased_start(fu, 12);
  for (std::size_t i = 1; i < n.size(); ++i) CHECK(n[i] == 2);
  CHECK(fu.stats().merges == 0);
}

TEST_CASE("fuser: two tracks of one source never merge, however close") {
  TrackFuser fu(two_sources());
  for (int k = 0; k < 20; ++k) {
    const TimeNs t = k * 100 * kMs;
    // one source: two objects 0.3 m apart (well within the gate of each other)
    SourceTrack a[2] = {make_track(1, t, 0.5 * k, 0.0, 5.0, 0.0), make_track(2, t, 0.5 * k, 0.3, 5.0, 0.0)};
    fu.update(0, t, a, 2);
    // the other source sees only the first: the second fused track still shares source 0
    SourceTrack b = make_track(3, t, 0.5 * k, 0.05, 5.0, 0.0);
    fu.update(1, t, &b, 1);
    CHECK(fu.num_tracks() == 2);
  }
  CHECK(fu.stats().merges == 0);
  CHECK(fu.fused_id_of(0, 1) != fu.fused_id_of(0, 2));
}

TEST_CASE("fuser: two objects far apart, one per source, never merge") {
  TrackFuser fu(two_sources());
  for (int k = 0; k < 20; ++k) {
    const TimeNs t = k * 100 * kMs;
    SourceTrack a = make_track(1, t, 0.5 * k, 0.0, 5.0, 0.0);
    SourceTrack b = make_track(1, t, 0.5 * k, 8.0, 5.0, 0.0);
    fu.update(0, t, &a, 1);
    fu.update(1, t, &b, 1);
    CHECK(fu.num_tracks() == 2);
  }
  CHECK(fu.stats().merges == 0);
}

TEST_CASE("fuser: merging allocates nothing") {
  FuserConfig c = two_sources();
  c.max_fused_tracks = 64;
  c.max_source_tracks = 32;
  TrackFuser fu(c);
  std::vector<SourceTrack> la(8), lb(8);
  auto step = [&](int k, int base) {
    const TimeNs t = k * 100 * kMs;
    for (int i = 0; i < 8; ++i) {
      const double x = 10.0 * i + 0.6 * k;
      const int age = k - base;
      const double lag = age < 4 ? 1.5 * (4 - age) / 4.0 : 0.0;
      la[static_cast<std::size_t>(i)] = make_track(base * 100 + i, t, x, 2.0, 6.0, 0.0, 0.04, 0.04);
      lb[static_cast<std::size_t>(i)] = make_track(base * 100 + 50 + i, t, x - 0.2 * lag, 2.0, 6.0 - lag, 0.0, 0.04, 0.04);
    }
    fu.update(0, t, la.data(), 8);
    fu.update(1, t, lb.data(), 8);
  };
  for (int k = 0; k < 12; ++k) step(k, 0);
  CHECK(fu.stats().merges == 8 && fu.num_tracks() == 8);
  const long before = g_allocations.load();
  for (int k = 12; k < 30; ++k) step(k, 12);  // both sources re-number at once: 8 new pairs to merge
  CHECK(g_allocations.load() == before);
  CHECK(fu.stats().merges == 16 && fu.num_tracks() == 8);
}

namespace {

// Every observable byte of a fuser: all fused tracks (confirmed or not), statistics, time, and
// the fused id each source id feeds.
struct FuserSnapshot {
  std::vector<unsigned char> tracks;
  FuserStats stats;
  bool has_time = false;
  TimeNs time = 0;
  std::vector<std::int64_t> links;
};

FuserSnapshot snapshot_of(const TrackFuser& fu) {
  FuserSnapshot s;
  std::vector<FusedTrack> out(32);
  std::memset(static_cast<void*>(out.data()), 0, out.size() * sizeof(FusedTrack));
  const Index n = fu.tracks(out.data(), 32);
  s.tracks.assign(reinterpret_cast<const unsigned char*>(out.data()),
                  reinterpret_cast<const unsigned char*>(out.data() + n));
  s.stats = fu.stats();
  s.has_time = fu.has_time();
  s.time = fu.time_ns();
  for (Index src = 0; src < fu.num_sources(); ++src)
    for (std::int64_t id = 1; id < 10; ++id) s.links.push_back(fu.fused_id_of(src, id));
  return s;
}

bool same_state(const FuserSnapshot& a, const FuserSnapshot& b) {
  return a.tracks == b.tracks && std::memcmp(&a.stats, &b.stats, sizeof(FuserStats)) == 0 &&
         a.has_time == b.has_time && a.time == b.time && a.links == b.links;
}

}  // namespace

TEST_CASE("fuser: an update whose covariance intersection fails its factorisation changes nothing") {
  // A camera covariance diag(1, 1e-20, 1, 1) is SPD (the C++ API checks no condition number);
  // rotated by the camera's 45 degree pose its position block rounds to [[.5, .5], [.5, .5]],
  // singular: the covariance intersection with the radar's estimate fails ("covariance is not
  // SPD") after the fused tracks were predicted, the slots written and the counters moved.
  TrackFuser fu(two_sources());
  TrackFuser twin(two_sources());
  for (int k = 0; k < 4; ++k) {
    SourceTrack r[2] = {make_track(1, k * 100 * kMs, 10.0 + 0.1 * k, 0.0, 1.0, 0.0),
                        make_track(2, k * 100 * kMs, 30.0, 5.0 + 0.1 * k, 0.0, 1.0)};
    SourceTrack c = make_track(7, k * 100 * kMs, 30.0, 5.0 + 0.1 * k, 0.0, 1.0);
    for (TrackFuser* f : {&fu, &twin}) {
      CHECK(f->update(0, k * 100 * kMs, r, 2));
      CHECK(f->update(1, k * 100 * kMs + 10 * kMs, &c, 1));
    }
  }
  CHECK(fu.num_tracks() == 2);
  const FuserSnapshot before = snapshot_of(fu);
  const double h = std::sqrt(0.5);
  // the camera sees the radar's first object (10.4, 0) from a frame rotated by 45 degrees
  SourceTrack bad = make_track(3, 450 * kMs, h * 10.4, -h * 10.4, 0.0, 0.0, 1.0, 1.0);
  bad.P[5] = 1e-20;
  const Pose2D pose{0.0, 0.0, M_PI / 4};
  std::string msg;
  try {
    fu.update(1, 450 * kMs, &bad, 1, &pose);
  } catch (const NumericalError& e) {
    msg = e.what();
  }
  CHECK(msg.find("covariance intersection") != std::string::npos);
  CHECK(same_state(snapshot_of(fu), before));
  // and ordinary updates afterwards give the twin's bytes (the twin never saw the failing call)
  for (int k = 5; k < 8; ++k) {
    SourceTrack r[2] = {make_track(1, k * 100 * kMs, 10.0 + 0.1 * k, 0.0, 1.0, 0.0),
                        make_track(2, k * 100 * kMs, 30.0, 5.0 + 0.1 * k, 0.0, 1.0)};
    for (TrackFuser* f : {&fu, &twin}) CHECK(f->update(0, k * 100 * kMs, r, 2));
  }
  CHECK(same_state(snapshot_of(fu), snapshot_of(twin)));
}
