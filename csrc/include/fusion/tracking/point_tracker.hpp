// Multi-target tracker for 2D point measurements: GNN or JPDA association.
//
// Each track is a 2D constant-velocity Kalman filter, x = (px, py, vx, vy), observed through
// its position with isotropic noise sigma_meas. Every step:
//   1. predict all tracks to t_ns (ConstantVelocity<2>, white acceleration sigma_a);
//   2. gate: a (track, measurement) pair is admissible when its squared Mahalanobis distance
//      d2 = y^T S^-1 y <= gate_chi2. Measurements are bucketed in a uniform grid so that each
//      track only visits the cells under its gate ellipse's bounding box (no N x M scan);
//   3. associate:
//      - GNN: exact minimum-cost assignment over the in-gate pairs with cost d2 and cost
//        gate_chi2 for leaving a track unassigned (the sparse gated linear assignment solver);
//      - JPDA: the gated graph is split into connected clusters (union-find); in each cluster
//        the marginals beta_tj = P(track t produced measurement j) come from JpdaSolver
//        (enumeration, exact frontier recursion or loopy BP; see jpda.hpp), with likelihood
//        ratio Pd N(z; Hx, S) / clutter_density per pair and miss weight 1 - Pd Pg;
//   4. update: GNN: Kalman update with the assigned measurement. JPDA: the PDA update with the
//      combined innovation nu = sum_j beta_j nu_j:
//        x <- x + K nu
//        P <- beta_0 P + (1 - beta_0) P_c + K (sum_j beta_j nu_j nu_j^T - nu nu^T) K^T
//      with P_c the Joseph-form updated covariance; a convex combination of SPD matrices plus
//      a PSD spread term, so P stays SPD;
//   5. manage: a tentative track is confirmed once it has confirm_m hits within its first
//      confirm_n steps (birth counts as a hit) and deleted when it can no longer reach that;
//      any track is deleted after max_misses consecutive misses (JPDA: a miss is a step with
//      beta_0 > 0.5);
//   6. birth: a measurement not assigned (GNN), or whose total association probability is
//      below birth_threshold (JPDA), starts a tentative track at the measured position, zero
//      velocity and velocity standard deviation init_speed_sigma.
// Track ids are int64, unique and increasing; tracks are reported in id order. The result is
// deterministic (no hashing, no threads, fixed iteration orders).
//
// Memory: buffers are sized in the constructor from max_tracks, max_measurements and
// max_gated_pairs, so a steady-state step() allocates nothing. (A frame with more in-gate
// pairs than max_gated_pairs grows the pair buffers once, an allocation on that frame only.)
// Once max_tracks tracks are alive, further births are skipped (counted in stats()).
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "fusion/assoc/linear_assignment.hpp"
#include "fusion/core/types.hpp"
#include "fusion/tracking/jpda.hpp"

namespace fusion::tracking {

enum class PointAssociation : int { kGnn = 0, kJpda = 1 };
PointAssociation point_association_from_string(std::string_view name);  // "gnn", "jpda"
const char* to_string(PointAssociation a);

struct PointTrackerConfig {
  PointAssociation association = PointAssociation::kGnn;
  double gate_chi2 = 9.21;          // chi-square gate on d2 (9.21: 99% at 2 dof)
  double prob_detection = 0.9;      // Pd in (0, 1]
  double clutter_density = 1e-4;    // false measurements per m^2 per scan (> 0)
  double sigma_a = 1.0;             // white acceleration noise [m/s^2]
  double sigma_meas = 1.0;          // position measurement noise per axis [m]
  double init_speed_sigma = 10.0;   // velocity std of a new track per axis [m/s]
  std::int32_t confirm_m = 2;       // hits ...
  std::int32_t confirm_n = 3;       // ... within the first confirm_n steps confirm a track
  std::int32_t max_misses = 3;      // consecutive misses that delete a track
  Index max_tracks = 1024;
  Index max_measurements = 1024;
  Index max_gated_pairs = 0;        // in-gate pairs reserved; 0: 16 * max(tracks, measurements)
  double birth_threshold = 0.5;     // JPDA: births from measurements with sum_t beta < this
  JpdaMethod jpda_method = JpdaMethod::kAuto;
  Index jpda_max_states = Index{1} << 14;  // table budget of the exact JPDA recursion

  // Throws ConfigurationError naming the field.
  void validate() const;
};

enum class PointTrackStatus : std::int32_t { kTentative = 0, kConfirmed = 1, kCoasting = 2 };

// Plain-old-data layout shared with the Python structured dtype (see the bindings).
struct PointTrackOutput {
  std::int64_t track_id;
  std::int32_t status;       // PointTrackStatus (coasting: confirmed but missed this step)
  std::int32_t hits;         // steps with a hit, birth included
  std::int32_t age;          // steps since birth (0 on the birth step)
  std::int32_t misses;       // consecutive missed steps
  std::int32_t measurement;  // GNN: assigned measurement; JPDA: most probable one; -1: none
  std::int32_t pad_;
  double x[4];               // px, py, vx, vy
  double P[16];              // row-major 4 x 4 covariance
  double score;              // cumulative log-likelihood ratio (target vs clutter)
};

// Counters of the last step.
struct PointTrackerStats {
  Index gated_pairs = 0;
  Index clusters = 0;         // JPDA clusters holding at least one measurement
  Index largest_cluster_tracks = 0;
  Index largest_cluster_measurements = 0;
  Index clusters_single = 0, clusters_enumerate = 0, clusters_exact = 0, clusters_lbp = 0;
  Index births = 0, births_skipped = 0, deaths = 0;
};

// One JPDA association probability of the last step (measurement -1: the miss hypothesis).
struct AssociationProbability {
  std::int64_t track_id;
  std::int64_t measurement;
  double probability;
};

class PointTracker {
 public:
  explicit PointTracker(PointTrackerConfig config);

  // Advances to t_ns with n measurements z (n x 2, row-major, metres) and writes the live
  // tracks into `out` (max_tracks entries). Returns the number written. Throws ShapeError
  // when n < 0 or n > max_measurements, NumericalError for a non-finite measurement (naming
  // its index), std::invalid_argument when t_ns is earlier than the previous step's time
  // (naming both). Nothing is changed when it throws.
  Index step(const double* z, Index n, TimeNs t_ns, PointTrackOutput* out);

  // JPDA: the association probabilities of the last step (tracks that existed before its
  // births), written into `out` (capacity entries at most). Returns the number available.
  Index association_probabilities(AssociationProbability* out, Index capacity) const;

  Index num_tracks() const { return static_cast<Index>(tracks_.size()); }
  const PointTrackerConfig& config() const { return config_; }
  const PointTrackerStats& stats() const { return stats_; }
  bool has_time() const { return has_time_; }
  TimeNs last_time() const { return last_t_; }
  void reset();

 private:
  struct Track {
    Vec<4> x;
    Mat<4, 4> P;
    std::int64_t id;
    std::int32_t hits, age, misses, measurement;
    bool confirmed;
    double score;
    // per step: innovation covariance inverse (upper triangle), log det, gate half-widths
    double si00, si01, si11, log_det_s, hw_x, hw_y;
  };
  struct Edge {
    Index meas;
    double d2;
    double log_lr;  // log(Pd N(y; 0, S) / clutter_density)
  };

  void gate(const double* z, Index n);
  void associate_gnn(const double* z, Index n);
  void associate_jpda(const double* z, Index n);
  void jpda_update(Track& t, const double* z, Index i, Index e0, Index e1);
  void kalman_point_update(Track& t, const double* zj);
  Index find(Index a);
  void write_output(PointTrackOutput* out) const;

  PointTrackerConfig config_;
  Mat<2, 2> R_;
  Mat<2, 4> H_;
  double log_miss_ = 0.0;    // log(1 - Pd Pg)
  double log_pd_over_lambda_ = 0.0;
  std::vector<Track> tracks_;  // in id order
  std::int64_t next_id_ = 1;
  bool has_time_ = false;
  TimeNs last_t_ = 0;
  PointTrackerStats stats_;

  // gating grid
  std::vector<Index> cell_start_, cell_items_, meas_cell_;
  std::vector<double> scratch_;
  // in-gate pairs, CSR by track
  std::vector<Index> edge_ptr_;
  std::vector<Edge> edges_;
  std::vector<Index> edge_meas_;
  std::vector<double> edge_cost_;
  std::vector<char> hit_;
  std::vector<char> meas_taken_;  // GNN: assigned; JPDA: association probability >= birth
  // GNN
  assoc::LinearAssignmentSolver solver_;
  std::vector<Index> row_to_col_, col_to_row_;
  // JPDA
  JpdaSolver jpda_;
  std::vector<Index> uf_parent_, label_, cl_track_ptr_, cl_tracks_, cl_fill_, meas_local_;
  std::vector<Index> loc_ptr_, loc_meas_;
  std::vector<double> loc_w_, loc_miss_, loc_beta_, loc_beta0_, edge_beta_, beta0_, meas_prob_;
  std::vector<std::int64_t> prob_track_ids_;  // ids of the tracks the probabilities refer to
  Index prob_tracks_ = 0;
};

}  // namespace fusion::tracking
