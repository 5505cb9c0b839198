// Cost "mahalanobis": the squared Mahalanobis distance of the innovation, d2 = y^T S^-1 y
// (S = H P H^T + R), any sensor. Sparse: the engine's gating lists the pairs with d2 <= the
// chi-square gate (gate = gate probability 0.95, 0.99 or 0.999 with M dof, or gate_chi2); the
// GNN leaves a track unassigned at cost gate. Registered in costs/registry.hpp.
#pragma once
#include "fusion/engine/costs/cost_plugin.hpp"

namespace fusion::engine::costs {

struct Mahalanobis : InnovationPlugin {
  static constexpr const char* kKey = "mahalanobis";
  template <class Motion, class Sensor>
  class Impl {
   public:
    Impl(const Motion& /*motion*/, const Sensor& /*model*/, const sensor::SensorMount& /*mount*/,
         const SensorConfig& cfg, Index /*max_detections*/)
        : q_(chi2_gate(Sensor::M, cfg)) {}
    double gate_d2() const { return q_; }
    double gate_max() const { return q_; }
    static double edge_cost(double d2, double /*log_det_S*/) { return d2; }
    double lap_gate(double /*max_log_det_S*/) const { return q_; }

   private:
    double q_;
  };
};

}  // namespace fusion::engine::costs
