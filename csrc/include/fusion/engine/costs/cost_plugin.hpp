// The engine's association-cost plug-in contract. A cost is ONE file in engine/costs/ that
// declares a struct (the descriptor) plus ONE line in engine/costs/registry.hpp (EngineCosts).
// The engine, the configuration check, the key list (kCostKeys) and the binding's registry
// listing all loop over EngineCosts; no engine branch names a cost.
//
// A descriptor `C` provides:
//   static constexpr const char* kKey;          registry key (SensorConfig::cost)
//   static constexpr CostForm kForm;            kDense or kSparseGated (below)
//   static constexpr bool kLikelihood;          a GNN hit gives the lifecycle the EKF update's
//                                               likelihood ratio (innovation costs); false: the
//                                               sensor's nominal ratio (overlap, distance)
//   static constexpr bool kChi2Gate;            `gate` is a gate probability (chi-square
//                                               quantile of M dof) and `gate_chi2` may replace it
//   static constexpr const char* kNeeds;        what it applies to, for the error message
//   template <class Motion, class Sensor> static constexpr bool applies();
//                                               which (motion, sensor model) pairs it serves;
//                                               a configuration pairing it with another model
//                                               is a ConfigurationError naming kNeeds
//   template <class Motion, class Sensor> class Impl;   built once per sensor:
//     Impl(const Motion&, const Sensor& model, const sensor::SensorMount& configured_mount,
//          const SensorConfig&, Index max_detections)   validates the gate (ConfigurationError;
//                                                       the engine prefixes "sensors[k] (name).gate: ")
//     double gate_max() const                  kDense: the GNN's gate on the cost (a pair with
//                                              cost > gate_max is forbidden; the unassigned cost)
//   kDense (a tracks x detections matrix):
//     void operator()(const DenseCostFrame<Motion, Sensor::M>&)   fills the matrix, kForbidden
//                                              (+inf) outside the gate; this frame's mount and
//                                              sensor motion come in the frame (ego motion)
//   kSparseGated (the engine's innovation gating, engine_impl.hpp gate_sparse, lists the pairs
//   with d2 = y^T S^-1 y <= gate_d2() as a CSR graph with d2 and the log likelihood ratio; the
//   cost plug-in decides what a pair costs):
//     double gate_d2() const                   the chi-square gate on d2
//     static double edge_cost(double d2, double log_det_S)    the pair's assignment cost
//     double lap_gate(double max_log_det_S) const             the GNN's unassigned cost for a
//                                              frame whose in-gate pairs have log det S at most
//                                              max_log_det_S (every in-gate pair must be <= it)
// Allocation: Impl may allocate in its constructor only (reserve max_detections there).
#pragma once
#include <type_traits>

#include "fusion/assoc/cost.hpp"
#include "fusion/assoc/gate.hpp"
#include "fusion/core/types.hpp"
#include "fusion/engine/config.hpp"
#include "fusion/geometry/box_overlap.hpp"
#include "fusion/sensor/all.hpp"
#include "fusion/track/track_table.hpp"

namespace fusion::engine::costs {

enum class CostForm : int { kDense = 0, kSparseGated = 1 };

// One frame's input of a dense cost.
template <class Motion, int M>
struct DenseCostFrame {
  const track::TrackTable<Motion>& tracks;
  track::SlotSpan rows;                 // row i: the track in slot rows[i]
  const assoc::DetectionBatch<M>& dets;  // the frame's columns
  const sensor::SensorMount& mount;     // this frame's sensor pose in the tracking frame
  const sensor::SensorMotion& motion;   // this frame's sensor velocity over ground
  double* cost;                         // rows.size() x dets.count, row-major
};

// ---------------------------------------------------------------- shared adapters
// The cost files below are descriptors over these adapters (the math is in assoc/cost.hpp).

// 3D / BEV box overlap of lidar boxes (assoc::BoxOverlapCost); gate = minimum overlap.
template <geometry::OverlapKind Kind>
struct BoxOverlapPlugin {
  static constexpr CostForm kForm = CostForm::kDense;
  static constexpr bool kLikelihood = false;
  static constexpr bool kChi2Gate = false;
  static constexpr const char* kNeeds = "a lidar_box3d sensor";
  template <class Motion, class Sensor>
  static constexpr bool applies() {
    return std::is_same_v<Sensor, sensor::LidarBox3D>;
  }
  template <class Motion, class Sensor>
  class Impl {
   public:
    Impl(const Motion& motion, const Sensor& /*model*/, const sensor::SensorMount& mount, const SensorConfig& cfg,
         Index max_detections)
        : fn_(motion, mount, Kind, cfg.gate) {
      fn_.reserve(max_detections);
    }
    double gate_max() const { return fn_.gate().max_cost; }
    void operator()(const DenseCostFrame<Motion, Sensor::M>& f) { fn_(f.tracks, f.rows, f.dets, f.cost, f.mount); }

   private:
    assoc::BoxOverlapCost<Motion> fn_;
  };
};

// Image box overlap of the track's projected box and a camera box (assoc::ImageBoxCost).
template <bool Giou>
struct ImageOverlapPlugin {
  static constexpr CostForm kForm = CostForm::kDense;
  static constexpr bool kLikelihood = false;
  static constexpr bool kChi2Gate = false;
  static constexpr const char* kNeeds = "a camera_box2d sensor";
  template <class Motion, class Sensor>
  static constexpr bool applies() {
    return std::is_same_v<Sensor, sensor::CameraBox2D>;
  }
  template <class Motion, class Sensor>
  class Impl {
   public:
    Impl(const Motion& motion, const Sensor& model, const sensor::SensorMount& mount, const SensorConfig& cfg,
         Index /*max_detections*/)
        : fn_(motion, model, mount, cfg.gate, Giou) {}
    double gate_max() const { return fn_.gate().max_cost; }
    void operator()(const DenseCostFrame<Motion, Sensor::M>& f) const { fn_(f.tracks, f.rows, f.dets, f.cost, f.mount); }

   private:
    assoc::ImageBoxCost<Motion> fn_;
  };
};

// Centre distance (3D or BEV) of the track and the detection's inverse
// (assoc::CenterDistanceCost); gate = maximum distance [m].
template <bool Bev>
struct DistancePlugin {
  static constexpr CostForm kForm = CostForm::kDense;
  static constexpr bool kLikelihood = false;
  static constexpr bool kChi2Gate = false;
  static constexpr const char* kNeeds = "a sensor with an inverse";
  template <class Motion, class Sensor>
  static constexpr bool applies() {
    return Sensor::kHasInverse;
  }
  template <class Motion, class Sensor>
  class Impl {
   public:
    Impl(const Motion& motion, const Sensor& model, const sensor::SensorMount& mount, const SensorConfig& cfg,
         Index max_detections)
        : fn_(motion, model, mount, cfg.gate, Bev) {
      fn_.reserve(max_detections);
    }
    double gate_max() const { return fn_.gate().max_cost; }
    void operator()(const DenseCostFrame<Motion, Sensor::M>& f) {
      fn_(f.tracks, f.rows, f.dets, f.cost, f.mount, f.motion);
    }

   private:
    assoc::CenterDistanceCost<Motion, Sensor> fn_;
  };
};

// The innovation costs: the engine's sparse gating (d2 <= chi-square gate) for any sensor
// model; `Cost` (the descriptor) gives edge_cost and lap_gate.
struct InnovationPlugin {
  static constexpr CostForm kForm = CostForm::kSparseGated;
  static constexpr bool kLikelihood = true;
  static constexpr bool kChi2Gate = true;
  static constexpr const char* kNeeds = "any sensor";
  template <class Motion, class Sensor>
  static constexpr bool applies() {
    return true;
  }
  // gate_chi2 > 0: the chi-square value itself; else the quantile of M dof at `gate`
  // (ConfigurationError for a probability the core does not tabulate).
  static double chi2_gate(int M, const SensorConfig& cfg) {
    return cfg.gate_chi2 > 0.0 ? cfg.gate_chi2 : assoc::chi_square_quantile(M, cfg.gate);
  }
};

}  // namespace fusion::engine::costs
