// Marginal association probabilities of JPDA for one cluster of tracks and measurements.
//
// A cluster is given in CSR form over its K tracks: track k may take measurement meas[e]
// (cluster-local index in [0, m)) for e in [ptr[k], ptr[k+1]), with likelihood ratio w[e]
// (Pd N(z; z_hat, S) / clutter density), or be missed with weight miss[k] (1 - Pd Pg). A joint
// event gives every track at most one measurement and every measurement at most one track;
// its weight is the product of the chosen w (and miss for missed tracks). The outputs are
// beta[e] = P(track k took meas[e]) and beta0[k] = P(track k was missed), i.e. sums of event
// weights over all feasible events, normalised. Each track's row sums to 1.
//
// Methods:
//  - kEnumerate: depth-first enumeration of all feasible joint events (branches stop at a
//    used measurement). Exact; cost ~ number of events, so only for small clusters.
//  - kExact: forward-backward over the tracks in a bandwidth-reducing (breadth-first) order.
//    The state before track k is the set of already used measurements among those that a
//    later track can still take (the "frontier"); all events agreeing on it are summed
//    together, as in Maskell's fast mutual exclusion and the "efficient hypothesis
//    management" of Zhou & Bose. Exact; cost ~ sum_k 2^|frontier_k| * (degree + |frontier|),
//    i.e. linear in K for a spatially spread cluster (a column of close targets has a
//    frontier of a few measurements).
//  - kLbp: loopy belief propagation on the bipartite association graph (Williams & Lau 2014,
//    "Approximate evaluation of marginal association probabilities with belief
//    propagation"): O(edges) per iteration and always converges, but only approximate:
//    measured |LBP - exact| up to ~0.05 on a 2 x 2 cluster with strong likelihoods and
//    0.1-0.2 on dense lattices of close targets (mean per pair ~0.01; see
//    benchmarks/RESULTS_trackers.md). Used only when the exact table does not fit.
//  - kAuto: a single track in closed form; enumeration when the event count is small; the
//    exact frontier recursion when its state count fits max_states; else LBP.
// Scaling: weights are rescaled per track (which leaves the marginals unchanged) and the
// forward/backward tables per level, so no product under- or overflows.
//
// After reserve(), solve() does not allocate for clusters within the reserved sizes.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "fusion/core/types.hpp"

namespace fusion::tracking {

enum class JpdaMethod : int { kAuto = 0, kEnumerate = 1, kExact = 2, kLbp = 3, kSingle = 4 };

JpdaMethod jpda_method_from_string(std::string_view name);  // "auto", "enumerate", "exact", "lbp"
const char* to_string(JpdaMethod m);

class JpdaSolver {
 public:
  // Enumeration is used by kAuto while the event count bound prod_k (deg_k + 1) stays below
  // this; kEnumerate falls back to kExact (then kLbp) above kMaxEnumerateEvents.
  static constexpr double kAutoEnumerateEvents = 256.0;
  static constexpr double kMaxEnumerateEvents = 1e6;
  static constexpr int kMaxFrontierBits = 30;

  JpdaSolver() = default;
  // Sizes of the largest cluster (tracks, measurements, edges) and the exact method's table
  // budget (number of doubles per table; the exact method needs sum_k 2^|frontier_k| <= it).
  void reserve(Index max_tracks, Index max_meas, Index max_edges, Index max_states);

  // Returns the method actually used (kSingle for one track or no measurements). Forced
  // methods that cannot run within the budget fall back: kEnumerate -> kExact -> kLbp.
  JpdaMethod solve(Index K, Index m, const Index* ptr, const Index* meas, const double* w,
                   const double* miss, double* beta, double* beta0,
                   JpdaMethod method = JpdaMethod::kAuto);

  // LBP settings and the iteration count of the last LBP solve.
  double lbp_tolerance = 1e-10;  // max change of a message between iterations
  int lbp_max_iterations = 200;
  int last_lbp_iterations() const { return lbp_iterations_; }
  Index max_states() const { return max_states_; }

 private:
  void rescale(Index K, const Index* ptr, const double* w, const double* miss);
  void solve_single(Index K, const Index* ptr, double* beta, double* beta0) const;
  // Iterative (explicit stack): no recursion, whatever K.
  void enumerate(Index K, Index m, const Index* ptr, const Index* meas, double* beta,
                 double* beta0);
  // False (nothing written) when the frontier tables do not fit the budget.
  bool exact(Index K, Index m, const Index* ptr, const Index* meas, double* beta, double* beta0);
  void lbp(Index K, Index m, const Index* ptr, const Index* meas, double* beta, double* beta0);

  Index max_states_ = Index{1} << 16;
  int lbp_iterations_ = 0;
  // rescaled weights
  std::vector<double> w_, miss_;
  // enumeration
  std::vector<char> used_;
  std::vector<Index> choice_;  // edge chosen by each track, -1 for a miss
  std::vector<double> depth_w_;  // weight of the choices above each depth
  std::vector<double> acc_, acc0_;
  // exact: ordering and frontier bookkeeping
  std::vector<Index> by_degree_, deg_start_;  // tracks sorted by degree; counting-sort offsets
  std::vector<Index> order_, mptr_, mtracks_, mfill_, first_, last_, pos_a_, pos_b_;
  std::vector<Index> frontier_, size_, src_off_, src_, bit_cur_, bit_next_, table_off_;
  std::vector<char> seen_;
  std::vector<double> table_, alpha_, alpha_next_;
  // lbp
  std::vector<double> mu_, nu_, msum_;
};

}  // namespace fusion::tracking
