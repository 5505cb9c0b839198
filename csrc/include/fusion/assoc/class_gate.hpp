// Class compatibility as data: which track class may take which detection class, with an
// optional per-pair maximum distance (Autoware multi_object_tracker's can_assign_matrix and
// max_dist_matrix, data_association_matrix.param.yaml; design review §3.2 obstacle 7: the old
// tracker required equal class ids, which radar without classes and camera class
// probabilities cannot satisfy).
//
// Tables are row-major, rows = TRACK class, columns = DETECTION class (Autoware's layout: rows
// are the tracker's labels, columns the measurement's). A detection without a class (class id
// -1: radar) and a track without one (a table with no classes) are governed by the
// unknown-class policy: assignable to anything (the default) or to nothing, with an optional
// maximum distance.
//
// Applied as a gate on any cost matrix (assoc/cost.hpp): a pair that is not allowed, or whose
// BEV centre distance exceeds the pair's max distance, becomes kForbidden. Never allocates
// after construction.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "fusion/assoc/gate.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/core/types.hpp"

namespace fusion::assoc {

class ClassGate {
 public:
  static constexpr double kNoLimit = std::numeric_limits<double>::infinity();

  // Every pair allowed, no distance limit. Throws ConfigurationError unless both counts >= 1.
  ClassGate(int num_track_classes, int num_detection_classes)
      : Ct_(num_track_classes), Cd_(num_detection_classes) {
    if (Ct_ < 1 || Cd_ < 1)
      throw ConfigurationError("ClassGate: class counts must be >= 1, got " +
                               std::to_string(Ct_) + " x " + std::to_string(Cd_));
    const auto n = static_cast<std::size_t>(Ct_) * static_cast<std::size_t>(Cd_);
    allowed_.assign(n, 1);
    max_dist_.assign(n, kNoLimit);
  }

  // From Autoware-style tables: can_assign (Ct x Cd, non-zero = allowed) and optionally
  // max_distance_m (Ct x Cd, > 0, +inf = no limit; nullptr = no limits).
  static ClassGate from_tables(int num_track_classes, int num_detection_classes,
                               const std::int32_t* can_assign,
                               const double* max_distance_m = nullptr) {
    ClassGate g(num_track_classes, num_detection_classes);
    for (int t = 0; t < g.Ct_; ++t)
      for (int d = 0; d < g.Cd_; ++d) {
        const std::size_t k = g.index(t, d);
        g.set(t, d, can_assign[k] != 0, max_distance_m != nullptr ? max_distance_m[k] : kNoLimit);
      }
    return g;
  }

  // Only equal classes (the old tracker's rule), as a starting point.
  static ClassGate same_class_only(int num_classes) {
    ClassGate g(num_classes, num_classes);
    for (int t = 0; t < num_classes; ++t)
      for (int d = 0; d < num_classes; ++d) g.set(t, d, t == d);
    return g;
  }

  // Throws ConfigurationError for a class out of range or a max distance that is not > 0.
  void set(int track_class, int detection_class, bool allowed, double max_distance_m = kNoLimit) {
    check(track_class, detection_class);
    if (!(max_distance_m > 0.0))
      throw ConfigurationError("ClassGate: max_distance_m[" + std::to_string(track_class) + "][" +
                               std::to_string(detection_class) + "] must be > 0, got " +
                               std::to_string(max_distance_m));
    allowed_[index(track_class, detection_class)] = allowed ? 1 : 0;
    max_dist_[index(track_class, detection_class)] = max_distance_m;
  }

  // Pairs where either class is unknown (-1).
  void set_unknown(bool allowed, double max_distance_m = kNoLimit) {
    if (!(max_distance_m > 0.0))
      throw ConfigurationError("ClassGate: unknown-class max_distance_m must be > 0, got " +
                               std::to_string(max_distance_m));
    unknown_allowed_ = allowed;
    unknown_max_dist_ = max_distance_m;
  }

  int num_track_classes() const { return Ct_; }
  int num_detection_classes() const { return Cd_; }

  // Whether the pair may be assigned at BEV centre distance distance_m. Classes out of
  // [0, count) are unknown (-1 is the convention).
  bool allows(int track_class, int detection_class, double distance_m = 0.0) const {
    return distance_m <= max_distance_m(track_class, detection_class) &&
           allowed(track_class, detection_class);
  }
  bool allowed(int track_class, int detection_class) const {
    if (unknown(track_class, detection_class)) return unknown_allowed_;
    return allowed_[index(track_class, detection_class)] != 0;
  }
  double max_distance_m(int track_class, int detection_class) const {
    if (unknown(track_class, detection_class)) return unknown_max_dist_;
    return max_dist_[index(track_class, detection_class)];
  }
  bool has_distance_limits() const {
    if (unknown_max_dist_ != kNoLimit) return true;
    for (double d : max_dist_)
      if (d != kNoLimit) return true;
    return false;
  }

  // Forbids (kForbidden) the pairs of the rows x cols row-major cost matrix that the table
  // does not allow. track_class: rows entries; detection_class: cols entries, or nullptr (all
  // unknown). track_xy (rows x 2) and detection_xy (cols x 2) give the BEV positions for the
  // distance limits; required only if has_distance_limits() (ShapeError otherwise). Returns
  // the number of pairs it forbade (pairs already forbidden are not counted).
  Index apply(double* cost, Index rows, Index cols, const std::int32_t* track_class,
              const std::int32_t* detection_class, const double* track_xy = nullptr,
              const double* detection_xy = nullptr) const {
    const bool limits = has_distance_limits();
    if (limits && (track_xy == nullptr || detection_xy == nullptr))
      throw ShapeError("ClassGate::apply: the gate has distance limits; track_xy and "
                       "detection_xy are required");
    Index forbidden = 0;
    for (Index i = 0; i < rows; ++i) {
      double* row = cost + i * cols;
      const int tc = track_class != nullptr ? track_class[i] : -1;
      for (Index j = 0; j < cols; ++j) {
        if (row[j] == kForbidden) continue;
        const int dc = detection_class != nullptr ? detection_class[j] : -1;
        bool ok = allowed(tc, dc);
        if (ok && limits) {
          const double lim = max_distance_m(tc, dc);
          if (lim != kNoLimit) {
            const double dx = track_xy[2 * i] - detection_xy[2 * j];
            const double dy = track_xy[2 * i + 1] - detection_xy[2 * j + 1];
            ok = dx * dx + dy * dy <= lim * lim;
          }
        }
        if (!ok) {
          row[j] = kForbidden;
          ++forbidden;
        }
      }
    }
    return forbidden;
  }

 private:
  bool unknown(int t, int d) const { return t < 0 || t >= Ct_ || d < 0 || d >= Cd_; }
  std::size_t index(int t, int d) const {
    return static_cast<std::size_t>(t) * static_cast<std::size_t>(Cd_) + static_cast<std::size_t>(d);
  }
  void check(int t, int d) const {
    if (t < 0 || t >= Ct_ || d < 0 || d >= Cd_)
      throw ConfigurationError("ClassGate: class pair (" + std::to_string(t) + ", " +
                               std::to_string(d) + ") out of range " + std::to_string(Ct_) +
                               " x " + std::to_string(Cd_));
  }

  int Ct_, Cd_;
  std::vector<char> allowed_;
  std::vector<double> max_dist_;
  bool unknown_allowed_ = true;
  double unknown_max_dist_ = kNoLimit;
};

}  // namespace fusion::assoc
