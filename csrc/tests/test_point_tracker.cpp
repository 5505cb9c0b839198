// 2D point tracker (GNN / JPDA) and the JPDA marginal solver: exact methods against brute
// force, LBP accuracy, a 50-target cluster, PDA covariance, zero allocation, errors.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <iostream>
#include <random>
#include <stdexcept>
#include <vector>

#include "fusion/core/errors.hpp"
#include "fusion/core/linalg.hpp"
#include "fusion/tracking/jpda.hpp"
#include "fusion/tracking/point_tracker.hpp"
#include "alloc_counter.hpp"
#include "test_framework.hpp"

using namespace fusion;
using namespace fusion::tracking;

namespace {

constexpr TimeNs kFrame = 100'000'000;  // 10 Hz

// A cluster as a dense K x m matrix of likelihood ratios (0: outside the gate).
struct Cluster {
  Index K = 0, m = 0;
  std::vector<double> W, miss;
  std::vector<Index> ptr, meas;
  std::vector<double> w;
  void to_csr() {
    ptr.assign(1, 0);
    meas.clear();
    w.clear();
    for (Index k = 0; k < K; ++k) {
      for (Index j = 0; j < m; ++j) {
        const double v = W[static_cast<std::size_t>(k * m + j)];
        if (v > 0.0) {
          meas.push_back(j);
          w.push_back(v);
        }
      }
      ptr.push_back(static_cast<Index>(meas.size()));
    }
  }
};

// Brute force: every joint event, written independently of the solver (dense, no pruning
// beyond feasibility). B is K x (m + 1), column m the miss probability.
void brute_force(const Cluster& c, std::vector<double>& B) {
  B.assign(static_cast<std::size_t>(c.K * (c.m + 1)), 0.0);
  std::vector<Index> pick(static_cast<std::size_t>(c.K), -1);
  std::vector<char> used(static_cast<std::size_t>(c.m), 0);
  double total = 0.0;
  std::function<void(Index, double)> rec = [&](Index k, double wt) {
    if (k == c.K) {
      total += wt;
      for (Index i = 0; i < c.K; ++i) {
        const Index j = pick[static_cast<std::size_t>(i)];
        B[static_cast<std::size_t>(i * (c.m + 1) + (j < 0 ? c.m : j))] += wt;
      }
      return;
    }
    pick[static_cast<std::size_t>(k)] = -1;
    rec(k + 1, wt * c.miss[static_cast<std::size_t>(k)]);
    for (Index j = 0; j < c.m; ++j) {
      const double v = c.W[static_cast<std::size_t>(k * c.m + j)];
      if (v <= 0.0 || used[static_cast<std::size_t>(j)]) continue;
      used[static_cast<std::size_t>(j)] = 1;
      pick[static_cast<std::size_t>(k)] = j;
      rec(k + 1, wt * v);
      used[static_cast<std::size_t>(j)] = 0;
    }
  };
  rec(0, 1.0);
  for (double& b : B) b /= total;
}

// Largest difference between the solver's output and the dense reference.
double max_diff(const Cluster& c, const std::vector<double>& B, const std::vector<double>& beta,
                const std::vector<double>& beta0) {
  double d = 0.0;
  for (Index k = 0; k < c.K; ++k) {
    d = std::max(d, std::abs(beta0[static_cast<std::size_t>(k)] -
                             B[static_cast<std::size_t>(k * (c.m + 1) + c.m)]));
    for (Index e = c.ptr[static_cast<std::size_t>(k)]; e < c.ptr[static_cast<std::size_t>(k + 1)]; ++e)
      d = std::max(d, std::abs(beta[static_cast<std::size_t>(e)] -
                               B[static_cast<std::size_t>(k * (c.m + 1) + c.meas[static_cast<std::size_t>(e)])]));
  }
  return d;
}

Cluster random_cluster(std::mt19937_64& rng, Index K, Index m, double p_gate) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Cluster c;
  c.K = K;
  c.m = m;
  c.W.assign(static_cast<std::size_t>(K * m), 0.0);
  c.miss.resize(static_cast<std::size_t>(K));
  for (Index k = 0; k < K; ++k) {
    c.miss[static_cast<std::size_t>(k)] = 0.02 + u(rng);
    for (Index j = 0; j < m; ++j)
      if (u(rng) < p_gate) c.W[static_cast<std::size_t>(k * m + j)] = std::exp(8.0 * u(rng) - 4.0);
  }
  c.to_csr();
  return c;
}

JpdaMethod run(JpdaSolver& s, const Cluster& c, JpdaMethod method, std::vector<double>& beta,
               std::vector<double>& beta0) {
  beta.assign(c.w.size(), -1.0);
  beta0.assign(static_cast<std::size_t>(c.K), -1.0);
  return s.solve(c.K, c.m, c.ptr.data(), c.meas.data(), c.w.data(), c.miss.data(), beta.data(),
                 beta0.data(), method);
}

}  // namespace

TEST_CASE("jpda: enumeration and exact recursion match brute force to 1e-12") {
  std::mt19937_64 rng(7);
  JpdaSolver s;
  std::vector<double> B, beta, beta0;
  double worst_enum = 0.0, worst_exact = 0.0, worst_lbp = 0.0;
  for (int trial = 0; trial < 300; ++trial) {
    const Index K = 1 + static_cast<Index>(rng() % 7), m = 1 + static_cast<Index>(rng() % 7);
    const Cluster c = random_cluster(rng, K, m, 0.3 + 0.6 * static_cast<double>(rng() % 100) / 100.0);
    brute_force(c, B);
    CHECK(run(s, c, JpdaMethod::kEnumerate, beta, beta0) != JpdaMethod::kLbp);
    worst_enum = std::max(worst_enum, max_diff(c, B, beta, beta0));
    const JpdaMethod used = run(s, c, JpdaMethod::kExact, beta, beta0);
    CHECK(used == JpdaMethod::kExact || used == JpdaMethod::kSingle);
    worst_exact = std::max(worst_exact, max_diff(c, B, beta, beta0));
    run(s, c, JpdaMethod::kAuto, beta, beta0);
    worst_exact = std::max(worst_exact, max_diff(c, B, beta, beta0));
    run(s, c, JpdaMethod::kLbp, beta, beta0);
    worst_lbp = std::max(worst_lbp, max_diff(c, B, beta, beta0));
  }
  CHECK(worst_enum <= 1e-12);
  CHECK(worst_exact <= 1e-12);
  CHECK(worst_lbp < 0.2);  // approximate: reported, loosely bounded
  std::cout << "  jpda random dense clusters (K, m <= 7): max |exact - brute| = " << worst_exact
            << ", max |enumerate - brute| = " << worst_enum
            << ", max |lbp - brute| = " << worst_lbp << "\n";
}

TEST_CASE("jpda: exact recursion on chain clusters (row of close targets) matches brute force") {
  // Targets on a line: track k gates measurements k-1, k, k+1 (plus a clutter point now and
  // then), the shape of a row of close targets; brute force is still feasible at K = 10.
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  JpdaSolver s;
  std::vector<double> B, beta, beta0, bl, bl0;
  double worst = 0.0, worst_lbp = 0.0;
  for (int trial = 0; trial < 20; ++trial) {
    Cluster c;
    c.K = 10;
    c.m = 12;
    c.W.assign(static_cast<std::size_t>(c.K * c.m), 0.0);
    c.miss.assign(static_cast<std::size_t>(c.K), 0.1 + 0.2 * u(rng));
    for (Index k = 0; k < c.K; ++k)
      for (Index j = k; j <= k + 2; ++j)
        if (j == k + 1 || u(rng) < 0.7) c.W[static_cast<std::size_t>(k * c.m + j)] = std::exp(6.0 * u(rng) - 1.0);
    c.to_csr();
    brute_force(c, B);
    CHECK(run(s, c, JpdaMethod::kExact, beta, beta0) == JpdaMethod::kExact);
    worst = std::max(worst, max_diff(c, B, beta, beta0));
    run(s, c, JpdaMethod::kLbp, bl, bl0);
    worst_lbp = std::max(worst_lbp, max_diff(c, B, bl, bl0));
  }
  CHECK(worst <= 1e-12);
  std::cout << "  jpda chain clusters (K = 10): max |exact - brute| = " << worst
            << ", max |lbp - brute| = " << worst_lbp << "\n";
}

namespace {
// Targets on a rows x cols lattice 1 m apart; a track gates the measurements within
// sqrt(d2max) m. Every track shares measurements with its neighbours: one cluster.
Cluster lattice(Index rows, Index cols, double d2max) {
  Cluster c;
  c.K = c.m = rows * cols;
  c.W.assign(static_cast<std::size_t>(c.K * c.m), 0.0);
  c.miss.assign(static_cast<std::size_t>(c.K), 0.1);
  for (Index a = 0; a < c.K; ++a)
    for (Index b = 0; b < c.m; ++b) {
      const double dx = static_cast<double>(a % cols - b % cols), dy = static_cast<double>(a / cols - b / cols);
      const double d2 = dx * dx + dy * dy;
      if (d2 <= d2max) c.W[static_cast<std::size_t>(a * c.m + b)] = 100.0 * std::exp(-1.5 * d2);
    }
  c.to_csr();
  return c;
}
double worst_row_error(const Cluster& c, const std::vector<double>& beta, const std::vector<double>& beta0) {
  double worst = 0.0;
  for (Index k = 0; k < c.K; ++k) {
    double sum = beta0[static_cast<std::size_t>(k)];
    for (Index e = c.ptr[static_cast<std::size_t>(k)]; e < c.ptr[static_cast<std::size_t>(k + 1)]; ++e)
      sum += beta[static_cast<std::size_t>(e)];
    worst = std::max(worst, std::abs(sum - 1.0));
  }
  return worst;
}
}  // namespace

TEST_CASE("jpda: 50 close targets in one cluster (2 x 25 convoy: exact; 5 x 10 block: LBP)") {
  JpdaSolver s;
  std::vector<double> beta, beta0, bl, bl0;
  // Two lanes of 25 targets: the breadth-first frontier stays small, the recursion is exact.
  const Cluster convoy = lattice(2, 25, 2.0);
  s.reserve(50, 50, static_cast<Index>(convoy.w.size()), Index{1} << 14);
  CHECK(run(s, convoy, JpdaMethod::kAuto, beta, beta0) == JpdaMethod::kExact);
  CHECK(worst_row_error(convoy, beta, beta0) < 1e-12);
  CHECK(run(s, convoy, JpdaMethod::kLbp, bl, bl0) == JpdaMethod::kLbp);
  double lbp_err = 0.0;
  for (std::size_t e = 0; e < beta.size(); ++e) lbp_err = std::max(lbp_err, std::abs(bl[e] - beta[e]));
  for (std::size_t k = 0; k < beta0.size(); ++k) lbp_err = std::max(lbp_err, std::abs(bl0[k] - beta0[k]));
  CHECK(lbp_err < 0.25);
  std::cout << "  jpda 2 x 25 convoy: max |lbp - exact| = " << lbp_err << " ("
            << s.last_lbp_iterations() << " LBP iterations)\n";
  // A 5 x 10 block: the exact table would need ~2^24 entries, so auto runs LBP.
  const Cluster block = lattice(5, 10, 2.0);
  s.reserve(50, 50, static_cast<Index>(block.w.size()), Index{1} << 14);
  CHECK(run(s, block, JpdaMethod::kAuto, beta, beta0) == JpdaMethod::kLbp);
  CHECK(worst_row_error(block, beta, beta0) < 1e-12);
  // The steady state of a solver with reserved workspace allocates nothing.
  const long before = g_allocations.load();
  s.solve(convoy.K, convoy.m, convoy.ptr.data(), convoy.meas.data(), convoy.w.data(),
          convoy.miss.data(), beta.data(), beta0.data(), JpdaMethod::kAuto);
  s.solve(block.K, block.m, block.ptr.data(), block.meas.data(), block.w.data(), block.miss.data(),
          beta.data(), beta0.data(), JpdaMethod::kAuto);
  CHECK(g_allocations.load() == before);
}

TEST_CASE("jpda: a budget too small for the frontier falls back to LBP") {
  std::mt19937_64 rng(3);
  const Cluster c = random_cluster(rng, 12, 12, 0.9);
  JpdaSolver s;
  s.reserve(12, 12, 144, 64);
  std::vector<double> beta, beta0;
  CHECK(run(s, c, JpdaMethod::kExact, beta, beta0) == JpdaMethod::kLbp);
  for (double b : beta) CHECK(b >= 0.0 && b <= 1.0);
}

TEST_CASE("jpda: invalid clusters throw") {
  JpdaSolver s;
  const std::vector<Index> ptr{0, 2}, dup{0, 0}, out_of_range{0, 5};
  const std::vector<double> w{1.0, 1.0}, miss{0.5}, neg{-0.5};
  std::vector<double> beta(2), beta0(1);
  CHECK_THROWS(s.solve(1, 2, ptr.data(), dup.data(), w.data(), miss.data(), beta.data(), beta0.data()), ShapeError);
  CHECK_THROWS(s.solve(1, 2, ptr.data(), out_of_range.data(), w.data(), miss.data(), beta.data(), beta0.data()), ShapeError);
  const std::vector<Index> ok{0, 1};
  CHECK_THROWS(s.solve(1, 2, ptr.data(), ok.data(), w.data(), neg.data(), beta.data(), beta0.data()), NumericalError);
}

namespace {
PointTrackerConfig point_config(PointAssociation a) {
  PointTrackerConfig cfg;
  cfg.association = a;
  cfg.sigma_meas = 0.2;
  cfg.sigma_a = 0.5;
  cfg.init_speed_sigma = 5.0;
  cfg.max_tracks = 64;
  cfg.max_measurements = 64;
  return cfg;
}
}  // namespace

TEST_CASE("point tracker: two crossing-free targets are confirmed with stable ids") {
  for (PointAssociation a : {PointAssociation::kGnn, PointAssociation::kJpda}) {
    PointTracker trk(point_config(a));
    std::vector<PointTrackOutput> out(64);
    Index n_out = 0;
    for (int f = 0; f < 30; ++f) {
      const double t = 0.1 * f;
      const double z[4] = {1.0 * t, 0.0, 20.0 - 2.0 * t, 5.0};
      n_out = trk.step(z, 2, f * kFrame, out.data());
    }
    CHECK(n_out == 2);
    CHECK(out[0].track_id == 1 && out[1].track_id == 2);
    CHECK(out[0].status == 1 && out[1].status == 1);
    CHECK(std::abs(out[0].x[2] - 1.0) < 0.2 && std::abs(out[1].x[2] + 2.0) < 0.2);
    Eigen::Map<const Mat<4, 4>> P(out[0].P);
    CHECK(is_spd(Mat<4, 4>(P)));
  }
}

TEST_CASE("point tracker: JPDA keeps covariances SPD and counts clusters") {
  PointTrackerConfig cfg = point_config(PointAssociation::kJpda);
  cfg.sigma_meas = 0.5;
  PointTracker trk(cfg);
  std::vector<PointTrackOutput> out(64);
  std::mt19937_64 rng(5);
  std::normal_distribution<double> g(0.0, 0.5);
  for (int f = 0; f < 40; ++f) {
    std::vector<double> z;
    for (int i = 0; i < 6; ++i) {  // six targets 1 m apart: one cluster
      z.push_back(1.0 * i + g(rng));
      z.push_back(0.3 * f * 0.1 + g(rng));
    }
    const Index n_out = trk.step(z.data(), 6, f * kFrame, out.data());
    for (Index i = 0; i < n_out; ++i) {
      Eigen::Map<const Mat<4, 4>> P(out[static_cast<std::size_t>(i)].P);
      CHECK(is_spd(Mat<4, 4>(P)));
    }
  }
  CHECK(trk.stats().clusters >= 1);
  CHECK(trk.stats().largest_cluster_tracks >= 2);
}

TEST_CASE("point tracker: steady-state steps allocate nothing (GNN and JPDA)") {
  for (PointAssociation a : {PointAssociation::kGnn, PointAssociation::kJpda}) {
    PointTracker trk(point_config(a));
    std::vector<PointTrackOutput> out(64);
    std::vector<double> z(128);
    std::mt19937_64 rng(9);
    std::uniform_real_distribution<double> u(-30.0, 30.0);
    std::normal_distribution<double> g(0.0, 0.2);
    const long before = g_allocations.load();
    for (int f = 0; f < 60; ++f) {
      Index n = 0;
      for (int i = 0; i < 10; ++i) {
        if ((f + i) % 6 == 0 || (i >= 8 && f > 30)) continue;  // misses and disappearances
        z[static_cast<std::size_t>(2 * n)] = 3.0 * i + 0.1 * f + g(rng);
        z[static_cast<std::size_t>(2 * n + 1)] = 0.05 * f + g(rng);
        ++n;
      }
      for (int c = 0; c < 3; ++c) {  // clutter
        z[static_cast<std::size_t>(2 * n)] = u(rng);
        z[static_cast<std::size_t>(2 * n + 1)] = u(rng);
        ++n;
      }
      trk.step(z.data(), n, f * kFrame, out.data());
    }
    CHECK(g_allocations.load() == before);
    CHECK(trk.num_tracks() >= 8);
  }
}

TEST_CASE("point tracker: errors leave the state unchanged") {
  PointTracker trk(point_config(PointAssociation::kJpda));
  std::vector<PointTrackOutput> out(64);
  const double z[4] = {0.0, 0.0, 1.0, 1.0};
  trk.step(z, 2, 10 * kFrame, out.data());
  const double bad[4] = {0.0, std::nan(""), 1.0, 1.0};
  CHECK_THROWS(trk.step(bad, 2, 11 * kFrame, out.data()), NumericalError);
  CHECK_THROWS(trk.step(z, 2, 9 * kFrame, out.data()), std::invalid_argument);
  CHECK_THROWS(trk.step(z, 65, 11 * kFrame, out.data()), ShapeError);
  CHECK(trk.last_time() == 10 * kFrame);
  CHECK(trk.num_tracks() == 2);
  PointTrackerConfig cfg;
  cfg.prob_detection = 0.0;
  CHECK_THROWS(PointTracker{cfg}, ConfigurationError);
}

TEST_CASE("jpda: 150,000 tracks with one in-gate pair: every method, no recursion") {
  // Was a SIGSEGV: the enumeration recursed once per track (two events, 150,000 frames deep).
  const Index K = 150000;
  std::vector<Index> ptr(static_cast<std::size_t>(K + 1), 1), meas{0};
  ptr[0] = 0;
  const std::vector<double> w{2.0}, miss(static_cast<std::size_t>(K), 0.1);
  std::vector<double> beta(1), beta0(static_cast<std::size_t>(K));
  for (JpdaMethod want : {JpdaMethod::kAuto, JpdaMethod::kEnumerate, JpdaMethod::kExact, JpdaMethod::kLbp}) {
    JpdaSolver s;
    s.reserve(K, 1, 1, Index{1} << 20);  // the exact table needs K + 2 entries
    std::fill(beta0.begin(), beta0.end(), -1.0);
    beta[0] = -1.0;
    const JpdaMethod used = s.solve(K, 1, ptr.data(), meas.data(), w.data(), miss.data(),
                                    beta.data(), beta0.data(), want);
    CHECK(used == (want == JpdaMethod::kAuto ? JpdaMethod::kEnumerate : want));
    CHECK_CLOSE(beta[0], 2.0 / 2.1, 1e-12);
    CHECK_CLOSE(beta0[0], 0.1 / 2.1, 1e-12);
    bool rest_missed = true;
    for (Index k = 1; k < K; ++k) rest_missed = rest_missed && beta0[static_cast<std::size_t>(k)] == 1.0;
    CHECK(rest_missed);
  }
}

TEST_CASE("jpda: a 100,000-track chain is solved exactly (linear ordering) and matches LBP") {
  // Track k gates measurements k and k + 1: a path graph, on which loopy BP is exact, so the
  // frontier recursion and LBP must agree. Ordering the tracks used to scan all of them once
  // per component (quadratic); now a counting sort by degree.
  const Index K = 100000, m = K + 1;
  std::vector<Index> ptr(static_cast<std::size_t>(K + 1)), meas;
  std::vector<double> w, miss(static_cast<std::size_t>(K));
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0.1, 5.0);
  for (Index k = 0; k < K; ++k) {
    ptr[static_cast<std::size_t>(k)] = 2 * k;
    meas.push_back(k);
    meas.push_back(k + 1);
    w.push_back(u(rng));
    w.push_back(u(rng));
    miss[static_cast<std::size_t>(k)] = 0.2;
  }
  ptr[static_cast<std::size_t>(K)] = 2 * K;
  JpdaSolver s;
  s.reserve(K, m, 2 * K, Index{1} << 19);
  std::vector<double> be(w.size()), be0(miss.size()), bl(w.size()), bl0(miss.size());
  CHECK(s.solve(K, m, ptr.data(), meas.data(), w.data(), miss.data(), be.data(), be0.data(),
                JpdaMethod::kExact) == JpdaMethod::kExact);
  CHECK(s.solve(K, m, ptr.data(), meas.data(), w.data(), miss.data(), bl.data(), bl0.data(),
                JpdaMethod::kLbp) == JpdaMethod::kLbp);
  double worst = 0.0, worst_row = 0.0;
  for (std::size_t e = 0; e < w.size(); ++e) worst = std::max(worst, std::abs(be[e] - bl[e]));
  for (Index k = 0; k < K; ++k) {
    const auto kk = static_cast<std::size_t>(k);
    worst = std::max(worst, std::abs(be0[kk] - bl0[kk]));
    worst_row = std::max(worst_row, std::abs(be0[kk] + be[2 * kk] + be[2 * kk + 1] - 1.0));
  }
  CHECK(worst < 1e-8);
  CHECK(worst_row < 1e-12);
}

TEST_CASE("point tracker: a copy-assigned tracker continues identically and allocates nothing") {
  // What PointTrackerCore.copy() does: a fresh tracker (buffers reserved from the config),
  // then the state copy-assigned into it.
  for (PointAssociation a : {PointAssociation::kGnn, PointAssociation::kJpda}) {
    PointTracker src(point_config(a));
    std::vector<PointTrackOutput> out_a(64), out_b(64);
    std::vector<double> z(64);
    auto frame = [&](int f) {
      Index n = 0;
      for (int i = 0; i < 8; ++i) {
        if ((f + i) % 5 == 0) continue;
        z[static_cast<std::size_t>(2 * n)] = 3.0 * i + 0.1 * f;
        z[static_cast<std::size_t>(2 * n + 1)] = 0.05 * f + 0.01 * ((f * 7 + i) % 3);
        ++n;
      }
      return n;
    };
    for (int f = 0; f < 20; ++f) src.step(z.data(), frame(f), f * kFrame, out_a.data());
    PointTracker copy(point_config(a));
    copy = src;
    const long before = g_allocations.load();
    for (int f = 20; f < 40; ++f) {
      const Index n = frame(f);
      const Index na = src.step(z.data(), n, f * kFrame, out_a.data());
      const Index nb = copy.step(z.data(), n, f * kFrame, out_b.data());
      CHECK(na == nb);
      CHECK(std::memcmp(out_a.data(), out_b.data(), static_cast<std::size_t>(na) * sizeof(PointTrackOutput)) == 0);
    }
    CHECK(g_allocations.load() == before);
  }
}
