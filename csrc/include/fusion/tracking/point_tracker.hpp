// Multi-target tracker for 2D point measurements, GNN or JPDA: a PRESET of the multi-sensor
// engine (engine/engine.hpp). PointTracker owns one Engine<CV2D> (motion "cv_point2d") with one
// "position2d" sensor, configured by engine_config_for(PointTrackerConfig) (the one place of
// the mapping, docs/ARCHITECTURE.md "The PointTracker preset"); it has no filter, gating,
// association or lifecycle code of its own. What every step does (all of it in the engine):
//   1. predict all tracks to t_ns (ConstantVelocity<2>, white acceleration sigma_a; Q = 0 for
//      sigma_a = 0);
//   2. gate: a (track, measurement) pair is admissible when its squared Mahalanobis distance
//      d2 = y^T S^-1 y <= gate_chi2, the measurements bucketed in a uniform grid so that each
//      track only visits the cells under its gate ellipse's bounding box (no N x M scan);
//   3. associate:
//      - GNN: exact minimum-cost assignment over the in-gate pairs with cost d2 and cost
//        gate_chi2 for leaving a track unassigned (the sparse gated linear assignment solver);
//      - JPDA: the gated graph is split into connected clusters (union-find); in each cluster
//        the marginals beta_tj come from JpdaSolver (enumeration, exact frontier recursion or
//        loopy BP; see jpda.hpp), with likelihood ratio Pd N(z; Hx, S) / clutter_density per
//        pair and miss weight 1 - Pd Pg (Pg = 1 - exp(-gate_chi2 / 2));
//   4. update: GNN: Kalman update with the assigned measurement. JPDA: the PDA update with the
//      combined innovation nu = sum_j beta_j nu_j:
//        x <- x + K nu
//        P <- beta_0 P + (1 - beta_0) P_c + K (sum_j beta_j nu_j nu_j^T - nu nu^T) K^T
//      with P_c the Joseph-form updated covariance;
//   5. manage (lifecycle confirm_rule "first", max_misses): a tentative track is confirmed once
//      it has confirm_m hits within its first confirm_n steps (birth counts as a hit) and
//      deleted when it can no longer reach that; any track is deleted after max_misses
//      consecutive misses (JPDA: a miss is a step with beta_0 >= 0.5, jpda_miss_beta0);
//   6. birth: a measurement not assigned (GNN), or whose total association probability is
//      below birth_threshold (JPDA, jpda_birth_threshold), starts a tentative track at the
//      measured position, zero velocity and velocity standard deviation init_speed_sigma,
//      while fewer than max_tracks tracks are alive (the engine defers its births; the preset
//      releases the step's deleted tracks and commits the births in measurement order).
// The score is the engine record's llr (existence_model "llr"): the cumulative log likelihood
// ratio of target versus clutter (GNN: + log(Pd N(y; 0, S) / clutter) per hit, + log(1 - Pd Pg)
// per miss; JPDA: + log(1 - Pd Pg + sum_j Pd N_j / clutter) per step).
// Track ids are int64, unique and increasing from 1 (reset() restarts them at 1); tracks are
// reported in id order. The result is deterministic (no hashing, no threads, fixed orders).
//
// Memory: the engine's buffers are sized in the constructor from max_tracks and
// max_measurements, so a steady-state step() allocates nothing. (A frame with more in-gate
// pairs than 16 x max(max_tracks, max_measurements) grows the pair buffers once;
// max_gated_pairs is accepted for compatibility and only validated.)
// Once max_tracks tracks are alive, further births are skipped (counted in stats()).
#pragma once
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "fusion/core/types.hpp"
#include "fusion/engine/config.hpp"
#include "fusion/engine/engine.hpp"
#include "fusion/track/record.hpp"
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

// One JPDA association probability of the last step (track_id, detection: the measurement
// index, -1: the miss hypothesis; probability).
using AssociationProbability = engine::AssociationProbability;

// The preset: the engine configuration a (valid) PointTrackerConfig maps to.
engine::EngineConfig engine_config_for(const PointTrackerConfig& config);

class PointTracker {
 public:
  explicit PointTracker(PointTrackerConfig config);
  // A copy has its own engine with the same state (copy_state_from: no allocation).
  PointTracker(const PointTracker& other);
  PointTracker& operator=(const PointTracker& other);
  PointTracker(PointTracker&&) noexcept = default;
  PointTracker& operator=(PointTracker&&) noexcept = default;
  ~PointTracker() = default;

  // Advances to t_ns with n measurements z (n x 2, row-major, metres) and writes the live
  // tracks into `out` (max_tracks entries). Returns the number written. Throws ShapeError
  // when n < 0 or n > max_measurements, NumericalError for a non-finite measurement (naming
  // its index), std::invalid_argument when t_ns is earlier than the previous step's time
  // (naming both). Nothing is changed when it throws.
  Index step(const double* z, Index n, TimeNs t_ns, PointTrackOutput* out);

  // JPDA: the association probabilities of the last step (tracks that existed before its
  // births), written into `out` (capacity entries at most). Returns the number available.
  Index association_probabilities(AssociationProbability* out, Index capacity) const;

  Index num_tracks() const { return engine_->num_tracks(); }
  const PointTrackerConfig& config() const { return config_; }
  const PointTrackerStats& stats() const { return stats_; }
  bool has_time() const { return engine_->has_time(); }
  TimeNs last_time() const { return engine_->time_ns(); }
  void reset();
  // The engine this preset runs (for the tests and the docs).
  const engine::EngineBase& engine() const { return *engine_; }

 private:
  PointTrackerConfig config_;
  std::unique_ptr<engine::EngineBase> engine_;
  // export buffers (engine export_briefs), max_tracks entries: at most max_tracks tracks live
  std::vector<engine::TrackBrief> briefs_;
  std::vector<double> xs_, Ps_;
  PointTrackerStats stats_;
};

}  // namespace fusion::tracking
