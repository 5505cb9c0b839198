// Class probabilities fused per sensor frame through each sensor's confusion matrix.
//
// A sensor's confusion matrix A (C x C) has rows = TRUE class, columns = REPORTED class:
// A[c][r] = P(sensor reports r | object is c); every row sums to 1. Bayes' rule on the track's
// class distribution p:
//
//   hard report r:        p(c) <- p(c) A[c][r] / sum_k p(k) A[k][r]
//   soft report s (the detector's class scores, normalised to sum 1; a report r drawn from s):
//                         p(c) <- p(c) L(c) / sum_k p(k) L(k),   L(c) = sum_r A[c][r] s(r)
//
// The soft form is the likelihood of a report whose identity is itself uncertain (the mixture
// of the hard likelihoods weighted by s); with a one-hot s it is the hard form. It treats the
// scores as probabilities, which detector scores only approximate: calibrate them first.
//
// A zero entry A[c][r] makes class c impossible forever after one report r. Prefer confusion
// matrices without zeros (e.g. uniform_confusion()). When the normaliser is 0 (the report is
// impossible under every class the track still allows) p is left unchanged and the call
// returns false.
#pragma once
#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "fusion/core/errors.hpp"
#include "fusion/track/track_table.hpp"

namespace fusion::track {

class ConfusionMatrix {
 public:
  ConfusionMatrix() = default;  // empty: a sensor that reports no class

  // rows_true_by_reported: C x C row-major. Throws ConfigurationError unless C >= 1, every
  // entry is finite in [0, 1] and every row sums to 1 within 1e-6 (the message names the row).
  ConfusionMatrix(int num_classes, const double* rows_true_by_reported) : C_(num_classes) {
    if (num_classes < 1)
      throw ConfigurationError("ConfusionMatrix: num_classes must be >= 1, got " +
                               std::to_string(num_classes));
    a_.assign(rows_true_by_reported,
              rows_true_by_reported + static_cast<std::size_t>(C_) * static_cast<std::size_t>(C_));
    for (int c = 0; c < C_; ++c) {
      double sum = 0.0;
      for (int r = 0; r < C_; ++r) {
        const double v = (*this)(c, r);
        if (!(v >= 0.0 && v <= 1.0))
          throw ConfigurationError("ConfusionMatrix: entry [" + std::to_string(c) + "][" +
                                   std::to_string(r) + "] must be in [0, 1], got " +
                                   std::to_string(v));
        sum += v;
      }
      if (!(std::abs(sum - 1.0) <= 1e-6))
        throw ConfigurationError("ConfusionMatrix: row " + std::to_string(c) +
                                 " (true class) must sum to 1, got " + std::to_string(sum));
    }
  }

  // p_correct on the diagonal, the rest spread evenly: (1 - p_correct) / (C - 1).
  static ConfusionMatrix uniform_confusion(int num_classes, double p_correct) {
    if (num_classes < 1)
      throw ConfigurationError("ConfusionMatrix: num_classes must be >= 1, got " +
                               std::to_string(num_classes));
    if (!(p_correct >= 0.0 && p_correct <= 1.0) || (num_classes == 1 && p_correct != 1.0))
      throw ConfigurationError("ConfusionMatrix: p_correct must be in [0, 1] (1 for one class), got " +
                               std::to_string(p_correct));
    const auto C = static_cast<std::size_t>(num_classes);
    std::vector<double> a(C * C, num_classes > 1 ? (1.0 - p_correct) / (num_classes - 1) : 0.0);
    for (std::size_t c = 0; c < C; ++c) a[c * C + c] = p_correct;
    return ConfusionMatrix(num_classes, a.data());
  }

  bool empty() const { return C_ == 0; }
  int num_classes() const { return C_; }
  double operator()(int true_class, int reported) const {
    return a_[static_cast<std::size_t>(true_class) * static_cast<std::size_t>(C_) +
              static_cast<std::size_t>(reported)];
  }

 private:
  int C_ = 0;
  std::vector<double> a_;
};

// Hard report. p: C probabilities, updated in place. False (p unchanged) if `reported` is out
// of range or the report is impossible under p. C must equal A's class count (checked:
// ShapeError).
inline bool fuse_reported_class(double* p, int C, const ConfusionMatrix& A, int reported) {
  if (C != A.num_classes())
    throw ShapeError("fuse_reported_class: " + std::to_string(C) + " track classes vs a " +
                     std::to_string(A.num_classes()) + "-class confusion matrix");
  if (reported < 0 || reported >= C) return false;
  double z = 0.0;
  for (int c = 0; c < C; ++c) z += p[c] * A(c, reported);
  if (!(z > 0.0)) return false;
  for (int c = 0; c < C; ++c) p[c] = p[c] * A(c, reported) / z;
  return true;
}

// Soft report: scores (C values >= 0, normalised here). False (p unchanged) if the scores are
// not finite, not >= 0, sum to 0, or the report is impossible under p.
inline bool fuse_class_scores(double* p, int C, const ConfusionMatrix& A, const double* scores) {
  if (C != A.num_classes())
    throw ShapeError("fuse_class_scores: " + std::to_string(C) + " track classes vs a " +
                     std::to_string(A.num_classes()) + "-class confusion matrix");
  double ssum = 0.0;
  for (int r = 0; r < C; ++r) {
    if (!(scores[r] >= 0.0 && std::isfinite(scores[r]))) return false;
    ssum += scores[r];
  }
  if (!(ssum > 0.0)) return false;
  // Two passes over the rows instead of a buffer for L(c): no allocation for any C.
  double z = 0.0;
  for (int c = 0; c < C; ++c) {
    double L = 0.0;
    for (int r = 0; r < C; ++r) L += A(c, r) * scores[r];
    z += p[c] * L / ssum;
  }
  if (!(z > 0.0)) return false;
  for (int c = 0; c < C; ++c) {
    double L = 0.0;
    for (int r = 0; r < C; ++r) L += A(c, r) * scores[r];
    p[c] = p[c] * (L / ssum) / z;
  }
  return true;
}

// The per-sensor confusion matrices of a tracker; a sensor with an empty matrix reports no
// class (radar) and its reports are ignored.
class ClassFusion {
 public:
  // One matrix per sensor; each non-empty one must have num_classes classes
  // (ConfigurationError otherwise).
  ClassFusion(int num_classes, std::vector<ConfusionMatrix> per_sensor)
      : C_(num_classes), m_(std::move(per_sensor)) {
    for (std::size_t k = 0; k < m_.size(); ++k)
      if (!m_[k].empty() && m_[k].num_classes() != C_)
        throw ConfigurationError("ClassFusion: sensor " + std::to_string(k) + " has a " +
                                 std::to_string(m_[k].num_classes()) +
                                 "-class confusion matrix, the tracker " + std::to_string(C_));
  }

  int num_sensors() const { return static_cast<int>(m_.size()); }
  bool reports_class(int sensor) const {
    return sensor >= 0 && sensor < num_sensors() && !m_[static_cast<std::size_t>(sensor)].empty();
  }

  // Fuse a hard report (class index, -1: none) of `sensor` into the track's class_prob.
  template <class Motion>
  bool fuse(TrackTable<Motion>& table, Index slot, int sensor, int reported) const {
    if (!reports_class(sensor) || table.num_classes() != C_) return false;
    return fuse_reported_class(table.class_prob(slot).data(), C_,
                               m_[static_cast<std::size_t>(sensor)], reported);
  }
  // Fuse soft scores (C values) of `sensor` into the track's class_prob.
  template <class Motion>
  bool fuse_scores(TrackTable<Motion>& table, Index slot, int sensor, const double* scores) const {
    if (!reports_class(sensor) || table.num_classes() != C_) return false;
    return fuse_class_scores(table.class_prob(slot).data(), C_,
                             m_[static_cast<std::size_t>(sensor)], scores);
  }

 private:
  int C_;
  std::vector<ConfusionMatrix> m_;
};

}  // namespace fusion::track
