// The engine's associator plug-in contract. An associator is ONE file in engine/associators/
// declaring a struct (the descriptor) plus ONE line in engine/associators/registry.hpp
// (EngineAssociators). The engine keeps one Impl of every registered associator (reserved only
// if a sensor uses it) and dispatches each frame by the sensor's key; no engine branch names one.
//
// Input: the frame's cost graph (CostGraph below), dense (a tracks x detections matrix, +inf
// outside the gate) or sparse (CSR by row of the in-gate pairs, each with its cost, d2 and log
// likelihood ratio), as the sensor's cost produces it (engine/costs/cost_plugin.hpp).
// Output, by kOutput:
//   kAssignment: a hard assignment, row_to_col[nr] and col_to_row[nc] (kUnassigned = -1); the
//     engine runs the EKF update, class fusion and lifecycle per assigned pair (GNN);
//   kMarginals: P(row i produced the detection of edge e) per sparse edge (edge_beta[E]) and the
//     no-detection probability per row (beta0[nr]), plus each column's total probability
//     (col_prob[nc]); the engine turns them into the PDA update, the lifecycle and births (JPDA).
//
// A descriptor `A` provides:
//   static constexpr const char* kKey;
//   static constexpr AssociatorOutput kOutput;
//   static constexpr bool kNeedsLikelihood;   needs a sparse-gated cost with log likelihood ratios
//                                             (ConfigurationError otherwise, at construction)
//   class Impl {
//     void reserve(const AssociatorSizes&);   at construction (allocates)
//     void grow_edges(Index E);               a frame with more in-gate pairs than reserved
//     kAssignment: void assign(const CostGraph&, const SensorConfig&, Index* row_to_col, Index* col_to_row);
//     kMarginals:  void marginals(const CostGraph&, const SensorConfig&, double* beta0, double* edge_beta,
//                                 double* col_prob, AssociationStats& stats);
//   };
// Allocation-free after reserve() (and grow_edges()).
#pragma once
#include "fusion/assoc/linear_assignment.hpp"
#include "fusion/core/types.hpp"
#include "fusion/engine/config.hpp"
#include "fusion/engine/engine.hpp"

namespace fusion::engine::associators {

enum class AssociatorOutput : int { kAssignment = 0, kMarginals = 1 };

// One in-gate pair of a sparse graph: column, squared Mahalanobis distance, log likelihood
// ratio log(pd N(y; 0, S) / clutter_density), and the cost the sensor's cost plug-in gives it.
struct GraphEdge {
  Index col;
  double d2;
  double log_lr;
  double cost;
};

// One frame's association problem: rows = the tracks (in id order), columns = the frame's
// detections that passed score_threshold.
struct CostGraph {
  Index nr = 0, nc = 0;
  bool sparse = false;
  const double* cost = nullptr;        // dense: nr x nc row-major, kForbidden outside the gate
  const Index* edge_ptr = nullptr;     // sparse: nr + 1 row offsets into the edge arrays
  const Index* edge_col = nullptr;     // sparse: E columns
  const double* edge_cost = nullptr;   // sparse: E costs
  const GraphEdge* edges = nullptr;    // sparse: E edges (d2, log likelihood ratio)
  double gate = 0.0;                   // the cost's GNN gate (unassigned cost)
  const double* col_score = nullptr;   // nc detection scores
};

// Construction sizes: tracks, detections, reserved sparse edges; whether any sensor with this
// associator has a dense / sparse cost, two_stage, and the JPDA table budget.
struct AssociatorSizes {
  Index tracks = 0, detections = 0, edges = 0;
  bool dense = false, sparse = false, two_stage = false;
  Index jpda_max_states = 0;
};

}  // namespace fusion::engine::associators
