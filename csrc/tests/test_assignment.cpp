// Linear assignment: hand-checked small problems, edge shapes, forbidden pairs and
// infeasibility, and random problems against a brute-force enumeration (dense, sparse and
// gated must all reach the brute-force optimum).
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "fusion/assoc/linear_assignment.hpp"
#include "fusion/core/errors.hpp"
#include "test_framework.hpp"

using namespace fusion;
using namespace fusion::assoc;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Out {
  AssignmentResult res;
  std::vector<Index> r2c, c2r;
};

Out dense(const std::vector<double>& c, Index rows, Index cols) {
  Out o;
  o.r2c.assign(static_cast<std::size_t>(rows), 99);
  o.c2r.assign(static_cast<std::size_t>(cols), 99);
  LinearAssignmentSolver s;
  o.res = s.solve_dense(c.data(), rows, cols, o.r2c.data(), o.c2r.data());
  return o;
}

// CSR of the finite entries of a dense matrix.
struct Csr {
  std::vector<Index> indptr{0}, indices;
  std::vector<double> costs;
};
Csr to_csr(const std::vector<double>& c, Index rows, Index cols) {
  Csr m;
  for (Index i = 0; i < rows; ++i) {
    for (Index j = 0; j < cols; ++j) {
      const double w = c[static_cast<std::size_t>(i * cols + j)];
      if (std::isfinite(w)) {
        m.indices.push_back(j);
        m.costs.push_back(w);
      }
    }
    m.indptr.push_back(static_cast<Index>(m.indices.size()));
  }
  return m;
}

Out sparse(const std::vector<double>& c, Index rows, Index cols) {
  const Csr m = to_csr(c, rows, cols);
  Out o;
  o.r2c.assign(static_cast<std::size_t>(rows), 99);
  o.c2r.assign(static_cast<std::size_t>(cols), 99);
  LinearAssignmentSolver s;
  o.res = s.solve_sparse(rows, cols, m.indptr.data(), m.indices.data(), m.costs.data(),
                         o.r2c.data(), o.c2r.data());
  return o;
}

// The assignment is a consistent partial matching and its cost equals the reported total.
bool consistent(const Out& o, const std::vector<double>& c, Index cols) {
  double total = 0.0;
  Index n = 0;
  for (std::size_t i = 0; i < o.r2c.size(); ++i) {
    const Index j = o.r2c[i];
    if (j == kUnassigned) continue;
    if (j < 0 || j >= cols || o.c2r[static_cast<std::size_t>(j)] != static_cast<Index>(i))
      return false;
    total += c[i * static_cast<std::size_t>(cols) + static_cast<std::size_t>(j)];
    ++n;
  }
  for (std::size_t j = 0; j < o.c2r.size(); ++j) {
    const Index i = o.c2r[j];
    if (i != kUnassigned && o.r2c[static_cast<std::size_t>(i)] != static_cast<Index>(j))
      return false;
  }
  return n == o.res.num_assigned && std::abs(total - o.res.total_cost) <= 1e-9 * (1 + std::abs(total));
}

// Brute force: minimum over assignments of every row of the smaller side (inf if none).
double brute_full(const std::vector<double>& c, Index rows, Index cols) {
  const bool t = rows > cols;
  const Index nr = t ? cols : rows, nc = t ? rows : cols;
  auto at = [&](Index i, Index j) {
    return t ? c[static_cast<std::size_t>(j * cols + i)] : c[static_cast<std::size_t>(i * cols + j)];
  };
  std::vector<char> used(static_cast<std::size_t>(nc), 0);
  double best = kInf;
  std::function<void(Index, double)> rec = [&](Index i, double acc) {
    if (i == nr) {
      best = std::min(best, acc);
      return;
    }
    for (Index j = 0; j < nc; ++j) {
      const double w = at(i, j);
      if (used[static_cast<std::size_t>(j)] || !(w < kInf)) continue;
      used[static_cast<std::size_t>(j)] = 1;
      rec(i + 1, acc + w);
      used[static_cast<std::size_t>(j)] = 0;
    }
  };
  rec(0, 0.0);
  return best;
}

// Brute force of the gated objective: assigned costs (each <= gate) + gate per unassigned row.
double brute_gated(const std::vector<double>& c, Index rows, Index cols, double gate) {
  std::vector<char> used(static_cast<std::size_t>(cols), 0);
  double best = kInf;
  std::function<void(Index, double)> rec = [&](Index i, double acc) {
    if (i == rows) {
      best = std::min(best, acc);
      return;
    }
    rec(i + 1, acc + gate);
    for (Index j = 0; j < cols; ++j) {
      const double w = c[static_cast<std::size_t>(i * cols + j)];
      if (used[static_cast<std::size_t>(j)] || !(w <= gate)) continue;
      used[static_cast<std::size_t>(j)] = 1;
      rec(i + 1, acc + w);
      used[static_cast<std::size_t>(j)] = 0;
    }
  };
  rec(0, 0.0);
  return best;
}

}  // namespace

TEST_CASE("assignment: 3x3 hand-checked") {
  // scipy's docstring example: optimum 1 + 2 + 2 = 5 with rows -> cols 1, 0, 2.
  const std::vector<double> c{4, 1, 3, 2, 0, 5, 3, 2, 2};
  const Out o = dense(c, 3, 3);
  CHECK(o.res.feasible);
  CHECK_CLOSE(o.res.total_cost, 5.0, 0.0);
  CHECK(o.r2c == (std::vector<Index>{1, 0, 2}));
  CHECK(o.c2r == (std::vector<Index>{1, 0, 2}));
  CHECK(consistent(o, c, 3));
  const Out s = sparse(c, 3, 3);
  CHECK_CLOSE(s.res.total_cost, 5.0, 0.0);
  CHECK(consistent(s, c, 3));
}

TEST_CASE("assignment: 1x1, 0xN, Nx0") {
  const std::vector<double> one{7.5};
  const Out o = dense(one, 1, 1);
  CHECK(o.res.feasible && o.res.num_assigned == 1 && o.r2c[0] == 0 && o.c2r[0] == 0);
  CHECK_CLOSE(o.res.total_cost, 7.5, 0.0);

  const std::vector<double> none;
  const Out e = dense(none, 0, 4);
  CHECK(e.res.feasible && e.res.num_assigned == 0 && e.res.total_cost == 0.0);
  CHECK(e.c2r == (std::vector<Index>(4, kUnassigned)));
  const Out f = dense(none, 3, 0);
  CHECK(f.res.feasible && f.r2c == (std::vector<Index>(3, kUnassigned)));
  const Out g = sparse(none, 0, 4);
  CHECK(g.res.feasible && g.res.num_assigned == 0);
}

TEST_CASE("assignment: rectangular both ways") {
  // 2x4: row 0 wants col 3 (1), row 1 wants col 3 too (0) -> 0 + best other for row 0 (2).
  const std::vector<double> wide{5, 2, 9, 1, 7, 8, 3, 0};
  const Out w = dense(wide, 2, 4);
  CHECK_CLOSE(w.res.total_cost, 2.0, 0.0);
  CHECK(w.r2c == (std::vector<Index>{1, 3}));
  CHECK(w.c2r == (std::vector<Index>{kUnassigned, 0, kUnassigned, 1}));
  CHECK(consistent(w, wide, 4));

  // The transpose (4x2) has the same optimum, with the roles swapped.
  std::vector<double> tall(8);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j) tall[static_cast<std::size_t>(j * 2 + i)] = wide[static_cast<std::size_t>(i * 4 + j)];
  const Out t = dense(tall, 4, 2);
  CHECK_CLOSE(t.res.total_cost, 2.0, 0.0);
  CHECK(t.c2r == (std::vector<Index>{1, 3}));
  CHECK(consistent(t, tall, 2));
  const Out ts = sparse(tall, 4, 2);
  CHECK_CLOSE(ts.res.total_cost, 2.0, 0.0);
  CHECK(consistent(ts, tall, 2));
}

TEST_CASE("assignment: ties and all-equal costs") {
  for (const Index n : {1, 2, 5, 9}) {
    for (const Index m : {1, 3, 9}) {
      const std::vector<double> c(static_cast<std::size_t>(n * m), 3.0);
      const Out o = dense(c, n, m);
      CHECK(o.res.feasible && o.res.num_assigned == std::min(n, m));
      CHECK_CLOSE(o.res.total_cost, 3.0 * static_cast<double>(std::min(n, m)), 0.0);
      CHECK(consistent(o, c, m));
      const Out s = sparse(c, n, m);
      CHECK_CLOSE(s.res.total_cost, 3.0 * static_cast<double>(std::min(n, m)), 0.0);
      CHECK(consistent(s, c, m));
    }
  }
  const std::vector<double> zeros(16, 0.0);
  CHECK(dense(zeros, 4, 4).res.total_cost == 0.0);
  // Two optimal assignments of cost 2: either is fine, the total is what matters.
  const std::vector<double> tie{1, 1, 1, 1};
  CHECK_CLOSE(dense(tie, 2, 2).res.total_cost, 2.0, 0.0);
}

TEST_CASE("assignment: forbidden entries (inf and NaN)") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Only the anti-diagonal is allowed (besides one expensive entry).
  const std::vector<double> c{kInf, 1, 100, nan};
  const Out o = dense(c, 2, 2);
  CHECK(o.res.feasible);
  CHECK_CLOSE(o.res.total_cost, 101.0, 0.0);
  CHECK(o.r2c == (std::vector<Index>{1, 0}));
  const Out s = sparse(c, 2, 2);
  CHECK_CLOSE(s.res.total_cost, 101.0, 0.0);
  // Stored inf/NaN entries in a CSR count as absent.
  const std::vector<Index> ip{0, 2, 4}, ix{0, 1, 0, 1};
  std::vector<Index> r2c(2), c2r(2);
  LinearAssignmentSolver solver;
  const auto rs = solver.solve_sparse(2, 2, ip.data(), ix.data(), c.data(), r2c.data(), c2r.data());
  CHECK(rs.feasible && r2c == (std::vector<Index>{1, 0}));
  CHECK_CLOSE(rs.total_cost, 101.0, 0.0);
}

TEST_CASE("assignment: infeasible") {
  // Both rows can only use column 0.
  const std::vector<double> c{1, kInf, 2, kInf};
  const Out o = dense(c, 2, 2);
  CHECK(!o.res.feasible);
  CHECK(!sparse(c, 2, 2).res.feasible);
  // A row with nothing allowed.
  const std::vector<double> r{kInf, kInf, kInf, 1, 2, 3};
  CHECK(!dense(r, 2, 3).res.feasible);
  CHECK(!sparse(r, 2, 3).res.feasible);
  // Tall: 3 rows, 2 cols, but column 1 is unreachable.
  const std::vector<double> tall{1, kInf, 2, kInf, 3, kInf};
  CHECK(!dense(tall, 3, 2).res.feasible);
  CHECK(!sparse(tall, 3, 2).res.feasible);
  // The solver stays usable after an infeasible problem.
  const std::vector<double> ok{4, 1, 3, 2, 0, 5, 3, 2, 2};
  LinearAssignmentSolver s;
  std::vector<Index> r2c(3), c2r(3);
  CHECK(!s.solve_dense(c.data(), 2, 2, r2c.data(), c2r.data()).feasible);
  CHECK_CLOSE(s.solve_dense(ok.data(), 3, 3, r2c.data(), c2r.data()).total_cost, 5.0, 0.0);
}

TEST_CASE("assignment: invalid input throws") {
  const std::vector<double> c{1, -kInf, 2, 3};
  std::vector<Index> r2c(2), c2r(2);
  LinearAssignmentSolver s;
  CHECK_THROWS(s.solve_dense(c.data(), 2, 2, r2c.data(), c2r.data()), NumericalError);
  CHECK_THROWS(s.solve_dense(c.data(), -1, 2, r2c.data(), c2r.data()), ShapeError);
  CHECK_THROWS(s.solve_dense_gated(c.data(), 2, 2, kInf, r2c.data(), c2r.data()),
               ConfigurationError);
  const std::vector<Index> ip{0, 1, 2}, bad_ix{0, 5};
  const std::vector<double> w{1, 2};
  CHECK_THROWS(s.solve_sparse(2, 2, ip.data(), bad_ix.data(), w.data(), r2c.data(), c2r.data()),
               ShapeError);
  const std::vector<Index> bad_ip{0, 2, 1}, ix{0, 1};
  CHECK_THROWS(s.solve_sparse(2, 2, bad_ip.data(), ix.data(), w.data(), r2c.data(), c2r.data()),
               ShapeError);
}

TEST_CASE("assignment: gated hand-checked") {
  // Row 0 <-> col 0 (1) is inside the gate; row 1's only pair (9) is above it.
  const std::vector<double> c{1, 20, 30, 9};
  std::vector<Index> r2c(2), c2r(2);
  LinearAssignmentSolver s;
  const auto res = s.solve_dense_gated(c.data(), 2, 2, 5.0, r2c.data(), c2r.data());
  CHECK(res.feasible && res.num_assigned == 1);
  CHECK_CLOSE(res.total_cost, 1.0, 0.0);
  CHECK(r2c == (std::vector<Index>{0, kUnassigned}));
  CHECK(c2r == (std::vector<Index>{0, kUnassigned}));
  // Everything above the gate: nothing assigned, never infeasible.
  const auto none = s.solve_dense_gated(c.data(), 2, 2, 0.5, r2c.data(), c2r.data());
  CHECK(none.feasible && none.num_assigned == 0 && none.total_cost == 0.0);
  // Gating trades a pair for two unassigned ends: rows {0,1}, cols {0,1} with
  // c = [[1, 4], [4, 100]] and gate 5: (0,0)+(1,-) = 1 + 5 = 6 beats (0,1)+(1,0) = 8.
  const std::vector<double> d{1, 4, 4, 100};
  const auto tr = s.solve_dense_gated(d.data(), 2, 2, 5.0, r2c.data(), c2r.data());
  CHECK(tr.num_assigned == 1 && r2c[0] == 0);
  CHECK_CLOSE(tr.total_cost, 1.0, 0.0);
}

TEST_CASE("assignment: random problems against brute force") {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> small(0, 4);  // many ties
  std::uniform_real_distribution<double> real(-5.0, 50.0);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  int checked = 0;
  LinearAssignmentSolver reused;  // one object across all sizes and modes
  reused.reserve(7, 7, 49);
  for (int trial = 0; trial < 400; ++trial) {
    const Index rows = 1 + trial % 6, cols = 1 + (trial / 6) % 7;
    const double p_forbid = (trial % 3 == 0) ? 0.0 : 0.3;
    const bool ints = trial % 2 == 0;
    std::vector<double> c(static_cast<std::size_t>(rows * cols));
    for (auto& x : c) x = unit(rng) < p_forbid ? kInf : (ints ? small(rng) : real(rng));

    const double best = brute_full(c, rows, cols);
    std::vector<Index> r2c(static_cast<std::size_t>(rows)), c2r(static_cast<std::size_t>(cols));
    Out o;
    o.res = reused.solve_dense(c.data(), rows, cols, r2c.data(), c2r.data());
    o.r2c = r2c;
    o.c2r = c2r;
    const Out s = sparse(c, rows, cols);
    if (best == kInf) {
      CHECK(!o.res.feasible);
      CHECK(!s.res.feasible);
    } else {
      CHECK(o.res.feasible && s.res.feasible);
      CHECK_CLOSE(o.res.total_cost, best, 1e-9);
      CHECK_CLOSE(s.res.total_cost, best, 1e-9);
      CHECK(consistent(o, c, cols));
      CHECK(consistent(s, c, cols));
      CHECK(o.res.num_assigned == std::min(rows, cols));
    }

    const double gate = ints ? 2.0 : 20.0;
    const double gbest = brute_gated(c, rows, cols, gate);
    Out g;
    g.r2c.assign(static_cast<std::size_t>(rows), 0);
    g.c2r.assign(static_cast<std::size_t>(cols), 0);
    g.res = reused.solve_dense_gated(c.data(), rows, cols, gate, g.r2c.data(), g.c2r.data());
    CHECK(g.res.feasible);
    CHECK(consistent(g, c, cols));
    for (std::size_t i = 0; i < g.r2c.size(); ++i)
      if (g.r2c[i] != kUnassigned)
        CHECK(c[i * static_cast<std::size_t>(cols) + static_cast<std::size_t>(g.r2c[i])] <= gate);
    const double gobj =
        g.res.total_cost + gate * static_cast<double>(rows - g.res.num_assigned);
    CHECK_CLOSE(gobj, gbest, 1e-9);
    ++checked;
  }
  CHECK(checked == 400);
}

TEST_CASE("assignment: convenience function and large magnitudes") {
  const std::vector<double> c{1e15, 1e15 + 2, 3e15, 1e15 + 1};
  std::vector<Index> r2c(2), c2r(2);
  const auto res = linear_sum_assignment(c.data(), 2, 2, r2c.data(), c2r.data());
  CHECK(res.feasible && r2c == (std::vector<Index>{0, 1}));
  CHECK(res.total_cost == 1e15 + (1e15 + 1));
}

TEST_CASE("assignment: larger random sparse problems, sparse == dense") {
  std::mt19937 rng(99);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<int> small(1, 5);
  LinearAssignmentSolver a, b;
  for (int trial = 0; trial < 60; ++trial) {
    const Index rows = 20 + trial % 50, cols = 20 + (trial * 7) % 45;
    const double density = 0.05 + 0.3 * unit(rng);
    std::vector<double> c(static_cast<std::size_t>(rows * cols), kInf);
    for (auto& x : c)
      if (unit(rng) < density) x = trial % 2 ? small(rng) : 10.0 * unit(rng);
    for (Index k = 0; k < std::min(rows, cols); ++k)  // ensure a full matching exists
      c[static_cast<std::size_t>(k * cols + (cols - 1 - k))] = 3.0;
    const Csr m = to_csr(c, rows, cols);
    std::vector<Index> r1(static_cast<std::size_t>(rows)), c1(static_cast<std::size_t>(cols));
    std::vector<Index> r2(r1), c2(c1);
    const auto d = a.solve_dense(c.data(), rows, cols, r1.data(), c1.data());
    const auto s = b.solve_sparse(rows, cols, m.indptr.data(), m.indices.data(), m.costs.data(),
                                  r2.data(), c2.data());
    CHECK(d.feasible && s.feasible);
    CHECK_CLOSE(d.total_cost, s.total_cost, 1e-9);
    // gated: sparse on the CSR equals dense-gated (which builds its own CSR)
    const double gate = trial % 2 ? 2.0 : 4.0;
    const auto gd = a.solve_dense_gated(c.data(), rows, cols, gate, r1.data(), c1.data());
    const auto gs = b.solve_sparse_gated(rows, cols, m.indptr.data(), m.indices.data(),
                                         m.costs.data(), gate, r2.data(), c2.data());
    CHECK_CLOSE(gd.total_cost + gate * static_cast<double>(rows - gd.num_assigned),
                gs.total_cost + gate * static_cast<double>(rows - gs.num_assigned), 1e-9);
  }
}
