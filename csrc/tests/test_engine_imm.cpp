// The IMM motion in the engine (motion/imm_motion.hpp, registry key imm_cv_ctrv_box): one track's
// predict/update against the standalone Imm core (filters/imm.hpp) on the same inputs, the box
// state maps, the mode probabilities through a turn and back, symmetric positive-definite
// covariances over a long run, no allocation in the steady state, copy_state_from / reset, and
// far-off measurements (every mode's likelihood underflows) without NaN.
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <tuple>
#include <vector>

#include "alloc_counter.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/engine/engine.hpp"
#include "fusion/engine/engine_impl.hpp"
#include "fusion/filters/imm.hpp"
#include "fusion/motion/imm_motion.hpp"
#include "fusion/track/record.hpp"
#include "test_framework.hpp"

// CHECK, then leave the test case if it failed (what follows depends on it).
#define REQUIRE(...)          \
  do {                        \
    const bool ok_ = (__VA_ARGS__); \
    CHECK(ok_);               \
    if (!ok_) return;         \
  } while (0)

using namespace fusion;          // NOLINT
using namespace fusion::engine;  // NOLINT

namespace {

constexpr TimeNs kMs = 1000000;
using Motion = ImmCvCtrvBox;
using Rec = track::TrackRecord<10>;

SensorConfig position_sensor(double r = 0.04) {
  SensorConfig s;
  s.name = "pos";
  s.model = "position3d";
  s.cost = "mahalanobis";
  s.gate_chi2 = 1e6;
  s.R = {r, 0, 0, 0, r, 0, 0, 0, r};
  return s;
}

SensorConfig lidar_sensor(double r_pos = 0.04, double r_yaw = 0.01) {
  SensorConfig s;
  s.name = "lidar";
  s.model = "lidar_box3d";
  s.cost = "mahalanobis";
  s.gate_chi2 = 1e6;
  s.R.assign(49, 0.0);
  const double d[7] = {r_pos, r_pos, r_pos, r_yaw, 0.01, 0.01, 0.01};
  for (int i = 0; i < 7; ++i) s.R[static_cast<std::size_t>(i * 8)] = d[i];
  return s;
}

EngineConfig imm_config(const SensorConfig& s) {
  EngineConfig c;
  c.motion = "imm_cv_ctrv_box";
  c.p0_diag = {0.1, 0.1, 0.1, 25, 25, 1, 0.1, 0.1, 0.1, 0.1};
  c.max_tracks = 8;
  c.max_detections = 8;
  c.max_image_tracks = 0;
  c.lifecycle.max_coast_s = 5.0;
  c.lifecycle.tentative_max_coast_s = 5.0;
  c.sensors = {s};
  return c;
}

Motion make_motion(double cv_accel = 0.5, double ctrv_accel = 0.5, double yaw_accel = 1.0) {
  CVBox cv;
  CTRVVzBox ctrv;
  cv.base.sigma_a = cv_accel;
  ctrv.base.sigma_a = ctrv_accel;
  ctrv.base.sigma_yawdd = yaw_accel;
  Motion::Markov M;
  M << 0.95, 0.05, 0.05, 0.95;
  return Motion(std::make_tuple(cv, ctrv), M, Motion::ModeVec(0.5, 0.5), 0.1);
}

// A car at 10 m/s: straight until t1, turning at omega until t2, straight after; (x, y, yaw).
struct Truth {
  double x = 0, y = 0, yaw = 0;
};
std::vector<Truth> drive(int frames, double dt, double t1, double t2, double omega) {
  std::vector<Truth> out;
  Truth s;
  const int sub = 100;
  for (int f = 0; f < frames; ++f) {
    out.push_back(s);
    for (int i = 0; i < sub; ++i) {
      const double t = (f + (i + 0.5) / sub) * dt;
      const double w = t >= t1 && t < t2 ? omega : 0.0;
      const double h = dt / sub;
      s.yaw += 0.5 * w * h;
      s.x += 10.0 * std::cos(s.yaw) * h;
      s.y += 10.0 * std::sin(s.yaw) * h;
      s.yaw += 0.5 * w * h;
    }
  }
  return out;
}

Frame frame(int sensor, TimeNs t, Index n, const double* z) {
  Frame f;
  f.sensor = sensor;
  f.t_ns = t;
  f.n = n;
  f.z = z;
  return f;
}

bool spd(const double* P, int n) {
  Eigen::Map<const Eigen::MatrixXd> A(P, n, n);
  if ((A - A.transpose()).cwiseAbs().maxCoeff() > 1e-9 * (1.0 + A.cwiseAbs().maxCoeff())) return false;
  return Eigen::LLT<Eigen::MatrixXd>(A).info() == Eigen::Success;
}

double max_abs_diff(const double* a, const double* b, int n) {
  double m = 0.0;
  for (int i = 0; i < n; ++i) m = std::max(m, std::abs(a[i] - b[i]) / (1.0 + std::abs(b[i])));
  return m;
}

}  // namespace

TEST_CASE("imm box maps: CV box -> CTRV box -> CV box keeps position, heading and velocity along it") {
  Vec<10> x;
  x << 3, -2, 0.7, 4, 3, 0.1, std::atan2(3.0, 4.0), 4.5, 1.9, 1.6;  // moving along its heading
  const Mat<10, 10> P = Mat<10, 10>::Identity() * 0.3;
  Vec<10> xt = Vec<10>::Zero();
  xt(4) = 0.25;  // the CTRV yaw rate the CV box cannot give
  const Mat<10, 10> Pt = Mat<10, 10>::Identity() * 0.05;
  Vec<10> xm, back;
  Mat<10, 10> Pm, Pb;
  ImmStateMap<CVBox, CTRVVzBox>::apply({}, x, P, xt, Pt, xm, Pm);
  CHECK_CLOSE(xm(2), 5.0, 1e-12);   // speed along the heading
  CHECK_CLOSE(xm(4), 0.25, 0.0);    // yaw rate from the target
  CHECK_CLOSE(Pm(4, 4), 0.05, 0.0);
  CHECK(Pm(4, 2) == 0.0 && Pm(2, 4) == 0.0);
  CHECK(xm(5) == x(2) && xm(6) == x(5) && xm(3) == x(6));
  ImmStateMap<CTRVVzBox, CVBox>::apply({}, xm, Pm, x, P, back, Pb);
  CHECK(max_abs_diff(back.data(), x.data(), 10) < 1e-12);
  // a lateral velocity is dropped by CV -> CTRV (the CTRV box moves along its heading)
  x(3) = 0.0, x(4) = 2.0, x(6) = 0.0;
  ImmStateMap<CVBox, CTRVVzBox>::apply({}, x, P, xt, Pt, xm, Pm);
  CHECK_CLOSE(xm(2), 0.0, 1e-15);
}

TEST_CASE("engine imm: one track's predict/update equals the standalone Imm core on the same inputs") {
  EngineConfig cfg = imm_config(position_sensor());
  const Motion motion = make_motion();
  Engine<Motion> e(cfg, motion);
  // the reference: the standalone core over its own copy of the modes
  using Core = Motion::Core;
  Core ref(motion.core.motions(), motion.core.markov());
  std::vector<double> aux(Motion::kAuxDoubles), xo(10), Po(100);
  const Core::Track t = Motion::track(aux.data(), xo.data(), Po.data());
  const auto truth = drive(60, 0.1, 1.5, 4.5, 0.4);
  std::mt19937 rng(7);
  std::normal_distribution<double> n01(0.0, 0.2);
  double worst = 0.0;
  for (int f = 0; f < 60; ++f) {
    const double z[3] = {truth[static_cast<std::size_t>(f)].x + n01(rng),
                         truth[static_cast<std::size_t>(f)].y + n01(rng), 0.5 + n01(rng)};
    e.process(frame(0, f * 100 * kMs, 1, z));
    REQUIRE(e.num_tracks() == 1);
    const Index s = e.table().slots()[0];
    if (f == 0) {  // birth: mode 0 is the output layout's initial state, mu = mu0
      std::copy(e.table().aux(s), e.table().aux(s) + Motion::kAuxDoubles, aux.begin());
      CHECK(aux[Motion::kMuOffset] == 0.5 && aux[Motion::kMuOffset + 1] == 0.5);
      CHECK(max_abs_diff(aux.data(), e.table().x(s).data(), 10) == 0.0);
      continue;
    }
    ref.predict(t, 0.1);
    const Vec<3> zv(z[0], z[1], z[2]);
    const Mat<3, 3> Rz = Mat<3, 3>::Identity() * 0.04;
    const ImmStatus st = ref.update_with(t, [&](auto K, auto& x, auto& P) {
      constexpr std::size_t k = decltype(K)::value;
      using Mk = Motion::ModeAt<k>;
      Mat<3, 10> H = Mat<3, 10>::Zero();
      H(0, 0) = H(1, 1) = 1.0;
      H(2, k == 0 ? 2 : 5) = 1.0;  // z: CV box index 2, CTRV box index 5
      const Vec<3> y = zv - H * x;
      Mat<3, 3> S;
      Mat<10, 3> Kg;
      const UpdateInfo info = kalman_update<10, 3>(x, P, y, H, Rz, S, Kg);
      if (info.status == UpdateStatus::kOk) wrap_state<Mk>(x);
      return info;
    });
    CHECK(st == ImmStatus::kOk);
    worst = std::max(worst, max_abs_diff(e.table().x(s).data(), xo.data(), 10));
    worst = std::max(worst, max_abs_diff(e.table().P(s).data(), Po.data(), 100));
    worst = std::max(worst, max_abs_diff(e.table().aux(s), aux.data(), Motion::kAuxDoubles));
  }
  CHECK(worst < 1e-9);
  // the record carries mu
  std::vector<Rec> rec(4);
  REQUIRE(e.export_tracks(rec.data(), 4, false) == 1);
  CHECK(rec[0].num_modes == 2);
  CHECK_CLOSE(rec[0].mode_prob[0], aux[Motion::kMuOffset], 1e-9);
  CHECK_CLOSE(rec[0].mode_prob[0] + rec[0].mode_prob[1], 1.0, 1e-12);
}

TEST_CASE("engine imm: mode probabilities switch to CTRV in a turn and back to CV on the straight; P stays SPD") {
  // 4 s straight, 4 s turning at 0.5 rad/s, 6 s straight, lidar boxes at 10 Hz. CV is the quiet
  // model, CTRV the manoeuvre model (a large yaw acceleration).
  auto e = make_engine([] {
    EngineConfig c = imm_config(lidar_sensor());
    c.motion_noise = {{"cv_accel_std", 0.5}, {"ctrv_accel_std", 1.5}, {"ctrv_yaw_accel_std", 3.0}};
    return c;
  }());
  const auto truth = drive(140, 0.1, 4.0, 8.0, 0.5);
  std::mt19937 rng(3);
  std::normal_distribution<double> n01(0.0, 1.0);
  std::vector<double> mu_ctrv;
  bool all_spd = true;
  std::vector<Rec> rec(4);
  for (int f = 0; f < 140; ++f) {
    const Truth& g = truth[static_cast<std::size_t>(f)];
    const double z[7] = {g.x + 0.2 * n01(rng), g.y + 0.2 * n01(rng), 0.75 + 0.2 * n01(rng),
                         g.yaw + 0.1 * n01(rng), 4.5, 1.9, 1.6};
    e->process(frame(0, f * 100 * kMs, 1, z));
    REQUIRE(e->export_tracks(rec.data(), 4, false) == 1);
    mu_ctrv.push_back(rec[0].mode_prob[1]);
    all_spd = all_spd && spd(rec[0].P, 10) && std::isfinite(rec[0].mode_prob[0]);
  }
  CHECK(all_spd);
  auto mean = [&](int a, int b) {
    double m = 0.0;
    for (int f = a; f < b; ++f) m += mu_ctrv[static_cast<std::size_t>(f)];
    return m / (b - a);
  };
  const double straight1 = mean(20, 40), turn = mean(55, 80), straight2 = mean(120, 140);
  CHECK(turn > 0.6);
  CHECK(straight1 < 0.45);
  CHECK(straight2 < 0.45);
  CHECK(turn > straight1 + 0.3 && turn > straight2 + 0.3);
}

TEST_CASE("engine imm: every mode's covariance stays symmetric positive definite over a long run") {
  EngineConfig cfg = imm_config(lidar_sensor());
  Engine<Motion> e(cfg, make_motion());
  const auto truth = drive(1500, 0.1, 20.0, 60.0, 0.15);
  std::mt19937 rng(11);
  std::normal_distribution<double> n01(0.0, 1.0);
  bool ok = true;
  for (int f = 0; f < 1500; ++f) {
    const Truth& g = truth[static_cast<std::size_t>(f)];
    const double z[7] = {g.x + 0.2 * n01(rng), g.y + 0.2 * n01(rng), 0.75, g.yaw + 0.05 * n01(rng), 4.5, 1.9, 1.6};
    e.process(frame(0, f * 100 * kMs, f % 7 == 3 ? 0 : 1, z));  // a miss every 7th frame
    REQUIRE(e.num_tracks() == 1);
    const Index s = e.table().slots()[0];
    const double* aux = e.table().aux(s);
    ok = ok && spd(e.table().P(s).data(), 10) && spd(aux + Motion::kBlock[0] + 10, 10) &&
         spd(aux + Motion::kBlock[1] + 10, 10);
    ok = ok && std::abs(aux[Motion::kMuOffset] + aux[Motion::kMuOffset + 1] - 1.0) < 1e-12;
  }
  CHECK(ok);
  CHECK(e.stats().rejected_updates == 0);
}

TEST_CASE("engine imm: steady-state process() allocates nothing") {
  auto e = make_engine(imm_config(lidar_sensor()));
  const auto truth = drive(60, 0.1, 1.0, 4.0, 0.3);
  std::vector<Rec> rec(8);
  auto step = [&](int f) {
    const Truth& g = truth[static_cast<std::size_t>(f)];
    const double z[14] = {g.x, g.y, 0.75, g.yaw, 4.5, 1.9, 1.6, g.x + 30.0, g.y - 20.0, 0.75, 0.0, 4.0, 1.8, 1.5};
    e->process(frame(0, f * 100 * kMs, 2, z));
    e->export_tracks(rec.data(), 8, true);
  };
  for (int f = 0; f < 5; ++f) step(f);
  const long before = g_allocations.load();
  for (int f = 5; f < 60; ++f) step(f);
  CHECK(g_allocations.load() == before);
  CHECK(e->num_tracks() == 2);
}

TEST_CASE("engine imm: copy_state_from carries the modes and mu; reset clears them") {
  const EngineConfig cfg = imm_config(lidar_sensor());
  auto a = make_engine(cfg);
  auto b = make_engine(cfg);
  const auto truth = drive(50, 0.1, 1.0, 3.0, 0.4);
  auto z_of = [&](int f, double* z) {
    const Truth& g = truth[static_cast<std::size_t>(f)];
    const double v[7] = {g.x, g.y, 0.75, g.yaw, 4.5, 1.9, 1.6};
    std::copy(v, v + 7, z);
  };
  double z[7];
  for (int f = 0; f < 25; ++f) {
    z_of(f, z);
    a->process(frame(0, f * 100 * kMs, 1, z));
  }
  b->copy_state_from(*a);
  for (int f = 25; f < 50; ++f) {
    z_of(f, z);
    a->process(frame(0, f * 100 * kMs, 1, z));
    b->process(frame(0, f * 100 * kMs, 1, z));
  }
  std::vector<Rec> ra(4), rb(4);
  REQUIRE(a->export_tracks(ra.data(), 4, false) == 1);
  REQUIRE(b->export_tracks(rb.data(), 4, false) == 1);
  CHECK(max_abs_diff(ra[0].x, rb[0].x, 10) == 0.0 && max_abs_diff(ra[0].P, rb[0].P, 100) == 0.0);
  CHECK(ra[0].mode_prob[1] == rb[0].mode_prob[1]);
  CHECK(ra[0].mode_prob[1] != 0.5);  // the turn moved it
  b->reset();
  CHECK(b->num_tracks() == 0);
  z_of(0, z);
  b->process(frame(0, 0, 1, z));
  REQUIRE(b->export_tracks(rb.data(), 4, false) == 1);
  CHECK(rb[0].mode_prob[0] == 0.5 && rb[0].mode_prob[1] == 0.5);  // born again at mu0
}

TEST_CASE("engine imm: far-off measurements never give NaN; no finite likelihood keeps mu and counts") {
  SensorConfig s = position_sensor(1e-4);
  s.cost = "distance";  // a gate that lets the far-off detection reach the update
  s.gate = 1e300;
  s.gate_chi2 = 0.0;
  s.births = true;
  Engine<Motion> e(imm_config(s), make_motion());
  const double z0[3] = {10.0, 0.0, 0.5};
  e.process(frame(0, 0, 1, z0));
  const double z1[3] = {10.5, 0.1, 0.5};
  e.process(frame(0, 100 * kMs, 1, z1));
  const Index s0 = e.table().slots()[0];
  // every mode's likelihood underflows in the linear domain (log-likelihood ~ -1e13): the
  // log-domain posterior is finite
  const double z2[3] = {1e5, -1e5, 0.5};
  e.process(frame(0, 200 * kMs, 1, z2));
  REQUIRE(e.num_tracks() == 1);
  const double* aux = e.table().aux(s0);
  CHECK(e.stats().imm_underflows == 1);
  CHECK(std::isfinite(aux[Motion::kMuOffset]) && std::isfinite(aux[Motion::kMuOffset + 1]));
  CHECK_CLOSE(aux[Motion::kMuOffset] + aux[Motion::kMuOffset + 1], 1.0, 1e-12);
  CHECK(all_finite(e.table().x(s0)) && all_finite(e.table().P(s0)));
  // a detection so far off that the update's result is not finite (or no mode has a finite
  // log-likelihood): the track is unchanged, mu is kept, the update is counted as rejected
  const double mu_before[2] = {aux[Motion::kMuOffset], aux[Motion::kMuOffset + 1]};
  const std::int64_t rejected = e.stats().rejected_updates;
  // (|y| ~ 6e153: the distance gate's squared distance is still finite, the NIS y^T S^-1 y
  // with S ~ 1e-3 is not)
  const double z3[3] = {4e153, 4e153, 0.5};
  e.process(frame(0, 300 * kMs, 1, z3));
  REQUIRE(e.num_tracks() == 1);
  CHECK(e.stats().imm_underflows == 2);
  CHECK(e.stats().rejected_updates == rejected + 1);
  CHECK(aux[Motion::kMuOffset] == mu_before[0] && aux[Motion::kMuOffset + 1] == mu_before[1]);
  CHECK(all_finite(e.table().x(s0)) && all_finite(e.table().P(s0)));
  CHECK(spd(e.table().P(s0).data(), 10));
}

TEST_CASE("engine imm: configuration errors name the field") {
  EngineConfig c = imm_config(lidar_sensor());
  c.imm_transition = {0.9, 0.2, 0.1, 0.9};
  CHECK_THROWS(make_engine(c), ConfigurationError);
  c.imm_transition = {0.9, 0.1, 0.1};
  CHECK_THROWS(make_engine(c), ConfigurationError);
  c.imm_transition = {};
  c.imm_mu0 = {0.7, 0.7};
  CHECK_THROWS(make_engine(c), ConfigurationError);
  c.imm_mu0 = {};
  c.motion_noise = {{"accel_std", 1.0}};
  CHECK_THROWS(make_engine(c), ConfigurationError);
  c.motion_noise = {};
  c.sensors[0].associator = "jpda";
  CHECK_THROWS(make_engine(c), ConfigurationError);
  EngineConfig d = imm_config(lidar_sensor());
  d.motion = "cv_box";
  d.imm_mu0 = {0.5, 0.5};
  CHECK_THROWS(make_engine(d), ConfigurationError);
}
