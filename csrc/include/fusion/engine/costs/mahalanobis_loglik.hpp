// Cost "mahalanobis_loglik": the negative log likelihood of the innovation up to a constant,
//     cost = d2 + ln det S      (d2 = y^T S^-1 y, S = H P H^T + R),
// the proper GNN cost when the innovation covariances differ between tracks: a pair with a
// loose track (large S) no longer wins a detection from a tight track on a smaller d2 alone.
// The gate is still on d2 (the chi-square gate of "mahalanobis": gate probability or gate_chi2).
// The GNN's unassigned cost is common to all tracks (a miss does not depend on S):
// gate + max ln det S over the frame's in-gate pairs, so every in-gate pair stays admissible.
// Any sensor; sparse; JPDA takes the same graph (its weights are likelihoods either way).
// Registered in costs/registry.hpp.
#pragma once
#include "fusion/engine/costs/cost_plugin.hpp"

namespace fusion::engine::costs {

struct MahalanobisLoglik : InnovationPlugin {
  static constexpr const char* kKey = "mahalanobis_loglik";
  template <class Motion, class Sensor>
  class Impl {
   public:
    Impl(const Motion& /*motion*/, const Sensor& /*model*/, const sensor::SensorMount& /*mount*/,
         const SensorConfig& cfg, Index /*max_detections*/)
        : q_(chi2_gate(Sensor::M, cfg)) {}
    double gate_d2() const { return q_; }
    double gate_max() const { return q_; }
    static double edge_cost(double d2, double log_det_S) { return d2 + log_det_S; }
    double lap_gate(double max_log_det_S) const { return q_ + max_log_det_S; }

   private:
    double q_;
  };
};

}  // namespace fusion::engine::costs
