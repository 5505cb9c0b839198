// Association costs as functors over (tracks, detection batch), shared by every tracker
// (design review §3.2 obstacle 10: cost and gating lived inside each tracker).
//
// Every functor fills a caller-provided, row-major cost matrix `cost` of rows.size() x
// dets.count: row i is the track in slot rows[i] (normally table.slots()), column j detection
// j. A pair outside the functor's gate, a deleted row, or a track where the sensor model is
// undefined (h false: behind the camera, at the radar origin) gets kForbidden (+inf), which
// assoc/linear_assignment.hpp's solve_dense treats as forbidden; for solve_dense_gated pass
// gate().max_cost as its gate. No NaN is ever written. Lower cost = better match.
//
// Preconditions: every track's (x, P) has been predicted to the batch time, and is expressed
// in the parent frame of the sensor's mount (sensor/mount.hpp). The functors do not predict.
// Each functor keeps the mount it was built with; the overloads that take a mount (and a
// SensorMotion) use that frame's instead (a sensor on a moving vehicle: engine.hpp Frame ego).
//
//   MahalanobisCost<Motion, Sensor>  d^2 = y^T S^-1 y, y = Sensor::residual(z_j, h(x)) (angles
//                                    wrapped, lidar front/back folded), S = H P H^T + R_j with
//                                    H = dz/dx by the chain rule (sensor/predict.hpp). Gate:
//                                    d^2 <= chi2_M(P_G). Optionally cost = d^2 + ln det S (the
//                                    negative log-likelihood up to a constant; gate on d^2).
//   BoxOverlapCost<Motion>           1 - overlap, overlap = IoU/GIoU in 3D or BEV
//                                    (geometry/box_overlap.hpp) between the track's box
//                                    (box_of(view)) and the LidarBox3D detection taken to the
//                                    parent frame by LidarBox3D::inverse. Gate: overlap >=
//                                    min_overlap.
//   ImageBoxCost<Motion>             1 - IoU (or 1 - GIoU) in the image between the
//                                    CameraBox2D projection of the track's 3D box and the
//                                    detected (x1, y1, x2, y2). Gate: overlap >= min_overlap.
//   CenterDistanceCost<Motion,Sensor> Euclidean distance [m] (BEV or 3D) between the track's
//                                    position and the detection's, taken to the parent frame by
//                                    Sensor::inverse. Gate: distance <= max_distance_m.
//
// Allocation: MahalanobisCost and ImageBoxCost never allocate. BoxOverlapCost and
// CenterDistanceCost keep a workspace of converted detections: after reserve(n) no call with
// at most n detections allocates (a larger batch grows the workspace once).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "fusion/assoc/gate.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/core/linalg.hpp"
#include "fusion/core/types.hpp"
#include "fusion/geometry/box_overlap.hpp"
#include "fusion/motion/view_adapters.hpp"
#include "fusion/sensor/camera_box2d.hpp"
#include "fusion/sensor/ego_motion.hpp"
#include "fusion/sensor/lidar_box3d.hpp"
#include "fusion/sensor/mount.hpp"
#include "fusion/sensor/predict.hpp"
#include "fusion/sensor/sensor_model.hpp"
#include "fusion/state/object_view.hpp"
#include "fusion/track/track_table.hpp"

namespace fusion::assoc {

using track::SlotSpan;
using track::TrackStatus;
using track::TrackTable;

// One sensor frame's detections, non-owning, row-major (the measurement batch contract of
// design review §3.4 for a single sensor).
template <int M>
struct DetectionBatch {
  static constexpr int kDim = M;
  Index count = 0;
  const double* z = nullptr;               // count x M
  const double* R = nullptr;               // count x M x M (MahalanobisCost only)
  const std::int32_t* class_id = nullptr;  // count, -1 = no class (optional)

  Eigen::Map<const Vec<M>> z_of(Index j) const { return Eigen::Map<const Vec<M>>(z + j * M); }
  Eigen::Map<const Mat<M, M>> R_of(Index j) const {
    return Eigen::Map<const Mat<M, M>>(R + j * M * M);
  }
};

// What a cost call found: pairs within the gate (nnz for LinearAssignmentSolver::reserve and
// the sparse solvers) and rows where the sensor model was undefined.
struct CostStats {
  Index gated_pairs = 0;
  Index undefined_rows = 0;
};

namespace detail {

inline void forbid_row(double* row, Index cols) { std::fill(row, row + cols, kForbidden); }

inline bool box_ok(const geometry::Box3& b) {
  return std::isfinite(b.x) && std::isfinite(b.y) && std::isfinite(b.z) && std::isfinite(b.yaw) &&
         std::isfinite(b.l) && std::isfinite(b.w) && std::isfinite(b.h) && b.l >= 0.0 &&
         b.w >= 0.0 && b.h >= 0.0;
}

// The footprints' circumscribed circles are disjoint (or touch): no common area.
inline bool footprints_disjoint(const geometry::Box3& a, const geometry::Box3& b) {
  const double r = 0.5 * (std::hypot(a.l, a.w) + std::hypot(b.l, b.w));
  const double dx = a.x - b.x, dy = a.y - b.y;
  return dx * dx + dy * dy >= r * r;
}

}  // namespace detail

// ---------------------------------------------------------------- image box overlap
// IoU of two image boxes (x1, y1, x2, y2) [px]; a box with x2 <= x1 or y2 <= y1 is empty
// (IoU 0). GIoU = IoU - (C - U) / C with C the enclosing axis-aligned box (0 if C is empty).
inline double image_box_iou(const double* a, const double* b) {
  const double aw = std::max(0.0, a[2] - a[0]), ah = std::max(0.0, a[3] - a[1]);
  const double bw = std::max(0.0, b[2] - b[0]), bh = std::max(0.0, b[3] - b[1]);
  const double iw = std::max(0.0, std::min(a[2], b[2]) - std::max(a[0], b[0]));
  const double ih = std::max(0.0, std::min(a[3], b[3]) - std::max(a[1], b[1]));
  const double inter = iw * ih, uni = aw * ah + bw * bh - inter;
  return uni > 0.0 ? inter / uni : 0.0;
}

inline double image_box_giou(const double* a, const double* b) {
  const double aw = std::max(0.0, a[2] - a[0]), ah = std::max(0.0, a[3] - a[1]);
  const double bw = std::max(0.0, b[2] - b[0]), bh = std::max(0.0, b[3] - b[1]);
  const double iw = std::max(0.0, std::min(a[2], b[2]) - std::max(a[0], b[0]));
  const double ih = std::max(0.0, std::min(a[3], b[3]) - std::max(a[1], b[1]));
  const double inter = iw * ih, uni = aw * ah + bw * bh - inter;
  const double cw = std::max(a[2], b[2]) - std::min(a[0], b[0]);
  const double ch = std::max(a[3], b[3]) - std::min(a[1], b[1]);
  const double enc = std::max(0.0, cw) * std::max(0.0, ch);
  if (!(enc > 0.0)) return 0.0;
  const double iou = uni > 0.0 ? inter / uni : 0.0;
  return iou - (enc - uni) / enc;
}

// ---------------------------------------------------------------- Mahalanobis
template <class Motion, class Sensor>
class MahalanobisCost {
 public:
  static constexpr int N = Motion::N;
  static constexpr int M = Sensor::M;

  // gate: usually CostGate::chi_square(Sensor::M, P_G). add_log_det: cost = d^2 + ln det S.
  MahalanobisCost(Motion motion, Sensor sensor, sensor::SensorMount mount, CostGate gate,
                  bool add_log_det = false)
      : motion_(std::move(motion)), sensor_(std::move(sensor)), mount_(std::move(mount)),
        gate_(gate), add_log_det_(add_log_det) {
    gate_.validate("MahalanobisCost");
  }

  const CostGate& gate() const { return gate_; }

  CostStats operator()(const TrackTable<Motion>& tracks, SlotSpan rows,
                       const DetectionBatch<M>& dets, double* cost,
                       const sensor::SensorMotion& sensor_motion = {}) const {
    return (*this)(tracks, rows, dets, cost, mount_, sensor_motion);
  }
  // With this frame's sensor pose (a moving vehicle's mount in the tracking frame).
  CostStats operator()(const TrackTable<Motion>& tracks, SlotSpan rows,
                       const DetectionBatch<M>& dets, double* cost, const sensor::SensorMount& mount,
                       const sensor::SensorMotion& sensor_motion) const {
    CostStats st;
    const Index cols = dets.count;
    for (Index i = 0; i < rows.size(); ++i) {
      double* row = cost + i * cols;
      const Index s = rows[i];
      if (tracks.status(s) == TrackStatus::kDeleted) {
        detail::forbid_row(row, cols);
        continue;
      }
      const Vec<N> x = tracks.x(s);
      Vec<M> zhat;
      Mat<M, N> H;
      if (!sensor::predict_measurement(motion_, sensor_, x, mount, sensor_motion, zhat, H)) {
        detail::forbid_row(row, cols);
        ++st.undefined_rows;
        continue;
      }
      const Mat<N, M> PHt = tracks.P(s) * H.transpose();
      const Mat<M, M> HPHt = H * PHt;
      SmallCholesky<M> chol;
      for (Index j = 0; j < cols; ++j) {
        const Mat<M, M> S = HPHt + dets.R_of(j);
        if (!chol.compute(S)) {
          row[j] = kForbidden;
          continue;
        }
        const Vec<M> y = Sensor::residual(Vec<M>(dets.z_of(j)), zhat);
        const double d2 = chol.inv_quad(y);
        if (d2 <= gate_.max_cost) {  // NaN fails
          row[j] = add_log_det_ ? d2 + chol.log_det() : d2;
          ++st.gated_pairs;
        } else {
          row[j] = kForbidden;
        }
      }
    }
    return st;
  }

 private:
  Motion motion_;
  Sensor sensor_;
  sensor::SensorMount mount_;
  CostGate gate_;
  bool add_log_det_;
};

// ---------------------------------------------------------------- 3D / BEV box overlap
template <class Motion>
class BoxOverlapCost {
 public:
  static constexpr int N = Motion::N;
  static constexpr int M = sensor::LidarBox3D::M;

  // min_overlap: in [0, 1] for IoU kinds, [-1, 1] for GIoU kinds (ConfigurationError).
  BoxOverlapCost(Motion motion, sensor::SensorMount mount, geometry::OverlapKind kind,
                 double min_overlap)
      : motion_(std::move(motion)), mount_(std::move(mount)), kind_(kind),
        gate_{1.0 - min_overlap} {
    const double lo = geometry::is_giou(kind) ? -1.0 : 0.0;
    if (!(min_overlap >= lo && min_overlap <= 1.0))
      throw ConfigurationError(std::string("BoxOverlapCost: min_overlap must be in [") +
                               (lo < 0.0 ? "-1" : "0") + ", 1] for " + geometry::to_string(kind) +
                               ", got " + std::to_string(min_overlap));
  }

  const CostGate& gate() const { return gate_; }
  void reserve(Index max_detections) { boxes_.reserve(static_cast<std::size_t>(max_detections)); }

  // Throws NumericalError naming the detection if a detection box is not finite or has a
  // negative size (nothing is written then). A track whose box is invalid gets a forbidden row.
  CostStats operator()(const TrackTable<Motion>& tracks, SlotSpan rows,
                       const DetectionBatch<M>& dets, double* cost) {
    return (*this)(tracks, rows, dets, cost, mount_);
  }
  // With this frame's sensor pose (a moving vehicle's mount in the tracking frame).
  CostStats operator()(const TrackTable<Motion>& tracks, SlotSpan rows,
                       const DetectionBatch<M>& dets, double* cost, const sensor::SensorMount& mount) {
    boxes_.resize(static_cast<std::size_t>(dets.count));
    const sensor::LidarBox3D lidar;
    for (Index j = 0; j < dets.count; ++j) {
      const PartialView pv = lidar.inverse(Vec<M>(dets.z_of(j)), mount);
      boxes_[static_cast<std::size_t>(j)] = box_of(pv.v);
      geometry::validate_box(boxes_[static_cast<std::size_t>(j)], "detection", j, "BoxOverlapCost");
    }
    CostStats st;
    const Index cols = dets.count;
    const bool iou = !geometry::is_giou(kind_);
    for (Index i = 0; i < rows.size(); ++i) {
      double* row = cost + i * cols;
      const Index s = rows[i];
      if (tracks.status(s) == TrackStatus::kDeleted) {
        detail::forbid_row(row, cols);
        continue;
      }
      const geometry::Box3 tb = box_of(view_vector(motion_, Vec<N>(tracks.x(s))));
      if (!detail::box_ok(tb)) {
        detail::forbid_row(row, cols);
        ++st.undefined_rows;
        continue;
      }
      for (Index j = 0; j < cols; ++j) {
        const geometry::Box3& db = boxes_[static_cast<std::size_t>(j)];
        const double ov = (iou && detail::footprints_disjoint(tb, db))
                              ? 0.0
                              : geometry::box_overlap_unchecked(kind_, tb, db);
        row[j] = gate_.apply(1.0 - ov);
        if (row[j] != kForbidden) ++st.gated_pairs;
      }
    }
    return st;
  }

 private:
  Motion motion_;
  sensor::SensorMount mount_;
  geometry::OverlapKind kind_;
  CostGate gate_;
  std::vector<geometry::Box3> boxes_;
};

// ---------------------------------------------------------------- image box IoU
template <class Motion>
class ImageBoxCost {
 public:
  static constexpr int N = Motion::N;
  static constexpr int M = sensor::CameraBox2D::M;

  // min_overlap in [0, 1] (IoU) or [-1, 1] (GIoU); ConfigurationError otherwise.
  ImageBoxCost(Motion motion, sensor::CameraBox2D camera, sensor::SensorMount mount,
               double min_overlap, bool giou = false)
      : motion_(std::move(motion)), camera_(std::move(camera)), mount_(std::move(mount)),
        giou_(giou), gate_{1.0 - min_overlap} {
    const double lo = giou ? -1.0 : 0.0;
    if (!(min_overlap >= lo && min_overlap <= 1.0))
      throw ConfigurationError(std::string("ImageBoxCost: min_overlap must be in [") +
                               (giou ? "-1" : "0") + ", 1], got " + std::to_string(min_overlap));
  }

  const CostGate& gate() const { return gate_; }

  CostStats operator()(const TrackTable<Motion>& tracks, SlotSpan rows,
                       const DetectionBatch<M>& dets, double* cost) const {
    return (*this)(tracks, rows, dets, cost, mount_);
  }
  // With this frame's sensor pose (a moving vehicle's mount in the tracking frame).
  CostStats operator()(const TrackTable<Motion>& tracks, SlotSpan rows,
                       const DetectionBatch<M>& dets, double* cost, const sensor::SensorMount& mount) const {
    CostStats st;
    const Index cols = dets.count;
    for (Index i = 0; i < rows.size(); ++i) {
      double* row = cost + i * cols;
      const Index s = rows[i];
      if (tracks.status(s) == TrackStatus::kDeleted) {
        detail::forbid_row(row, cols);
        continue;
      }
      const ViewVec v = view_vector(motion_, Vec<N>(tracks.x(s)));
      Vec<M> zhat;
      if (!camera_.h(v, mount, zhat)) {
        detail::forbid_row(row, cols);
        ++st.undefined_rows;
        continue;
      }
      for (Index j = 0; j < cols; ++j) {
        const double* zj = dets.z + j * M;
        const double ov = giou_ ? image_box_giou(zhat.data(), zj) : image_box_iou(zhat.data(), zj);
        row[j] = gate_.apply(1.0 - ov);
        if (row[j] != kForbidden) ++st.gated_pairs;
      }
    }
    return st;
  }

 private:
  Motion motion_;
  sensor::CameraBox2D camera_;
  sensor::SensorMount mount_;
  bool giou_;
  CostGate gate_;
};

// ---------------------------------------------------------------- centre distance
template <class Motion, class Sensor>
class CenterDistanceCost {
 public:
  static constexpr int N = Motion::N;
  static constexpr int M = Sensor::M;
  static_assert(Sensor::kHasInverse, "CenterDistanceCost needs a sensor model with an inverse");

  // max_distance_m > 0 and finite. bev = false (3D) needs a sensor that measures height
  // (Sensor::kReads has PZ); ConfigurationError otherwise.
  CenterDistanceCost(Motion motion, Sensor sensor, sensor::SensorMount mount,
                     double max_distance_m, bool bev = true)
      : motion_(std::move(motion)), sensor_(std::move(sensor)), mount_(std::move(mount)),
        bev_(bev), gate_{max_distance_m} {
    if (!(max_distance_m > 0.0 && std::isfinite(max_distance_m)))
      throw ConfigurationError("CenterDistanceCost: max_distance_m must be finite and > 0, got " +
                               std::to_string(max_distance_m));
    if (!bev && !view::contains(Sensor::kReads, view::PZ))
      throw ConfigurationError(
          "CenterDistanceCost: a 3D distance needs a sensor that measures height");
  }

  const CostGate& gate() const { return gate_; }
  void reserve(Index max_detections) { pos_.reserve(static_cast<std::size_t>(max_detections)); }

  CostStats operator()(const TrackTable<Motion>& tracks, SlotSpan rows,
                       const DetectionBatch<M>& dets, double* cost,
                       const sensor::SensorMotion& sensor_motion = {}) {
    return (*this)(tracks, rows, dets, cost, mount_, sensor_motion);
  }
  // With this frame's sensor pose (a moving vehicle's mount in the tracking frame).
  CostStats operator()(const TrackTable<Motion>& tracks, SlotSpan rows,
                       const DetectionBatch<M>& dets, double* cost, const sensor::SensorMount& mount,
                       const sensor::SensorMotion& sensor_motion) {
    pos_.resize(static_cast<std::size_t>(dets.count));
    for (Index j = 0; j < dets.count; ++j) {
      const PartialView pv = sensor::sensor_inverse(sensor_, Vec<M>(dets.z_of(j)), mount, sensor_motion);
      pos_[static_cast<std::size_t>(j)] = pv.v.template segment<3>(view::PX);
    }
    CostStats st;
    const Index cols = dets.count;
    for (Index i = 0; i < rows.size(); ++i) {
      double* row = cost + i * cols;
      const Index s = rows[i];
      if (tracks.status(s) == TrackStatus::kDeleted) {
        detail::forbid_row(row, cols);
        continue;
      }
      const ViewVec v = view_vector(motion_, Vec<N>(tracks.x(s)));
      for (Index j = 0; j < cols; ++j) {
        const Vec<3>& p = pos_[static_cast<std::size_t>(j)];
        const double dx = v(view::PX) - p(0), dy = v(view::PY) - p(1);
        const double dz = bev_ ? 0.0 : v(view::PZ) - p(2);
        row[j] = gate_.apply(std::sqrt(dx * dx + dy * dy + dz * dz));
        if (row[j] != kForbidden) ++st.gated_pairs;
      }
    }
    return st;
  }

 private:
  Motion motion_;
  Sensor sensor_;
  sensor::SensorMount mount_;
  bool bev_;
  CostGate gate_;
  std::vector<Vec<3>> pos_;
};

// ---------------------------------------------------------------- helpers for the class gate
// The most likely class of each row's track (-1 for a deleted row or a table without classes).
template <class Motion>
inline void track_classes(const TrackTable<Motion>& tracks, SlotSpan rows, std::int32_t* out) {
  for (Index i = 0; i < rows.size(); ++i)
    out[i] = tracks.status(rows[i]) == TrackStatus::kDeleted ? -1 : tracks.most_likely_class(rows[i]);
}

// Each row's track position (x, y) in the tracking frame: rows.size() x 2, row-major.
template <class Motion>
inline void track_positions_xy(const Motion& motion, const TrackTable<Motion>& tracks,
                               SlotSpan rows, double* out_xy) {
  for (Index i = 0; i < rows.size(); ++i) {
    const ViewVec v = view_vector(motion, Vec<Motion::N>(tracks.x(rows[i])));
    out_xy[2 * i] = v(view::PX);
    out_xy[2 * i + 1] = v(view::PY);
  }
}

// Each detection's position (x, y) in the mount's parent frame, by Sensor::inverse:
// dets.count x 2, row-major.
template <class Sensor>
inline void detection_positions_xy(const Sensor& sensor_model, const sensor::SensorMount& mount,
                                   const DetectionBatch<Sensor::M>& dets, double* out_xy,
                                   const sensor::SensorMotion& sensor_motion = {}) {
  for (Index j = 0; j < dets.count; ++j) {
    const PartialView pv =
        sensor::sensor_inverse(sensor_model, Vec<Sensor::M>(dets.z_of(j)), mount, sensor_motion);
    out_xy[2 * j] = pv.v(view::PX);
    out_xy[2 * j + 1] = pv.v(view::PY);
  }
}

}  // namespace fusion::assoc
