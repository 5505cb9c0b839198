// N independent filters of one (motion model, sensor model) pair, stored contiguously:
// x is (N, n) and P is (N, n, n), row-major, so Python sees them as numpy arrays without
// copies. predict and update run over every filter in one call; nothing is allocated after
// construction. With linear models (CV/CA with a position sensor) F, Q and H do not depend
// on the state and are computed once per call, not once per filter.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "fusion/core/errors.hpp"
#include "fusion/filters/ekf.hpp"
#include "fusion/filters/ukf.hpp"

namespace fusion {

enum class BankAlgorithm { kExtended, kUnscented };

// Per-call outcome of FilterBank::update.
struct BankUpdateSummary {
  Index updated = 0;             // filters whose state changed
  Index skipped = 0;             // masked-in filters left untouched (see status)
  Index first_failure = -1;      // index of the first skipped filter, -1 if none
  UpdateStatus first_status = UpdateStatus::kOk;
};

template <class Motion, class Meas, BankAlgorithm Algo>
class FilterBank {
 public:
  static constexpr int N = Motion::N;
  static constexpr int M = Meas::M;
  using StateVec = Vec<N>;
  using StateMat = Mat<N, N>;
  using MeasVec = Vec<M>;
  using MeasMat = Mat<M, M>;

  FilterBank(const Motion& motion, const Meas& meas, Index size, const MerweWeights& weights)
      : motion_(motion), meas_(meas), weights_(weights), size_(size) {
    if (size < 0) throw ConfigurationError("FilterBank: size must be >= 0, got " + std::to_string(size));
    // Checked before any allocation: past this, n * N * N overflows (a small allocation, then
    // writes past its end).
    if (size > max_size())
      throw ConfigurationError("FilterBank: size " + std::to_string(size) + " is more filters than fit in memory (at most " +
                               std::to_string(max_size()) + ")");
    const auto n = static_cast<std::size_t>(size);
    x_.assign(n * N, 0.0);
    P_.assign(n * N * N, 0.0);
    for (Index i = 0; i < size; ++i) P(i).setIdentity();
    nis_.assign(n, 0.0);
    loglik_.assign(n, 0.0);
    status_.assign(n, 0);
    snap_x_ = x_;
    snap_P_ = P_;
    snap_nis_ = nis_;
    snap_loglik_ = loglik_;
  }

  Index size() const { return size_; }
  // The largest size whose storage (x, P, nis, log-likelihood, status per filter, and the
  // strict mode's snapshot of x, P, nis, log-likelihood) can be addressed.
  static constexpr Index max_size() {
    return std::numeric_limits<Index>::max() / static_cast<Index>(sizeof(double)) / (2 * (N + N * N + 2) + 1);
  }
  const Motion& motion() const { return motion_; }
  const Meas& measurement() const { return meas_; }
  double* x_data() { return x_.data(); }
  double* P_data() { return P_.data(); }
  double* nis_data() { return nis_.data(); }
  double* log_likelihood_data() { return loglik_.data(); }
  std::int32_t* status_data() { return status_.data(); }

  Eigen::Map<StateVec> x(Index i) { return Eigen::Map<StateVec>(x_.data() + i * N); }
  Eigen::Map<StateMat> P(Index i) { return Eigen::Map<StateMat>(P_.data() + i * N * N); }

  // Predict every filter by dt seconds. Returns the number of filters that failed and were
  // left as they were: a covariance that could not be factorised (UKF), or a predicted state or
  // covariance that is not finite (an overflow: a huge dt or state; any algorithm).
  // all_or_nothing (the strict mode): when any filter fails (a covariance that cannot be
  // factorised, or a result that overflows), every filter is restored from a whole-bank
  // snapshot reserved at construction, so the call changes nothing; the count is returned as
  // before (a process noise that is not finite for this dt fails every filter up front).
  // Kept out of line: a whole-bank loop gains nothing from inlining into its caller.
  [[gnu::noinline]] Index predict(double dt, bool all_or_nothing = false) {
    if (!all_finite(motion_.Q(StateVec::Zero().eval(), dt))) return size_;  // dt too large for the model
    if (all_or_nothing) snapshot(false);
    const Index failures = predict_each(dt);
    if (all_or_nothing && failures > 0) snapshot(true);
    return failures;
  }

 private:
  Index predict_each(double dt) {
    Index failures = 0;
    if constexpr (Motion::kLinear && Algo == BankAlgorithm::kExtended) {
      const StateVec zero = StateVec::Zero();
      const StateMat F = motion_.jacobian(zero, dt);
      const StateMat Q = motion_.Q(zero, dt);
      if (!all_finite(F)) return size_;
      for (Index i = 0; i < size_; ++i) {
        StateVec xi = x(i);
        StateMat Pi = P(i);
        kalman_predict<N>(xi, Pi, F, Q);
        if (!all_finite(xi) || !all_finite(Pi)) {
          ++failures;  // left as it was
          continue;
        }
        x(i) = xi;
        P(i) = Pi;
      }
    } else {
      for (Index i = 0; i < size_; ++i) {
        if constexpr (Algo == BankAlgorithm::kExtended) {
          StateVec xi = x(i);
          StateMat Pi = P(i);
          ekf_predict(motion_, xi, Pi, dt);
          if (!all_finite(xi) || !all_finite(Pi)) {
            ++failures;  // left as it was
            continue;
          }
          x(i) = xi;
          P(i) = Pi;
        } else {
          // In place (left untouched on failure), see update.
          Eigen::Map<StateVec> xi = x(i);
          Eigen::Map<StateMat> Pi = P(i);
          if (!ukf_predict(motion_, weights_, xi, Pi, dt)) ++failures;
        }
      }
    }
    return failures;
  }

  // Copies x, P, nis and the log-likelihoods into the snapshot (restore = false) or back from
  // it (restore = true); the snapshot has the live storage's sizes, nothing is allocated.
  void snapshot(bool restore) {
    const auto copy = [restore](std::vector<double>& live, std::vector<double>& snap) {
      if (restore)
        std::copy(snap.begin(), snap.end(), live.begin());
      else
        std::copy(live.begin(), live.end(), snap.begin());
    };
    copy(x_, snap_x_);
    copy(P_, snap_P_);
    copy(nis_, snap_nis_);
    copy(loglik_, snap_loglik_);
  }

 public:
  // Update filter i with row i of z (size x M) where mask[i] is nonzero (mask may be null:
  // all filters). R is one M x M matrix for all, or size x M x M when per_filter_R.
  // all_or_nothing (the strict mode): when any filter's update fails, every filter's x, P, nis
  // and log-likelihood are restored from the snapshot (the call changes nothing but status,
  // which says which filters failed) and summary.updated is 0.
  [[gnu::noinline]] BankUpdateSummary update(const double* z, const std::uint8_t* mask, const double* R,
                           bool per_filter_R, bool all_or_nothing = false) {
    if (all_or_nothing) snapshot(false);
    BankUpdateSummary summary = update_each(z, mask, R, per_filter_R);
    if (all_or_nothing && summary.skipped > 0) {
      snapshot(true);
      summary.updated = 0;
    }
    return summary;
  }

 private:
  BankUpdateSummary update_each(const double* z, const std::uint8_t* mask, const double* R, bool per_filter_R) {
    BankUpdateSummary summary;
    const Eigen::Map<const MeasMat> R_shared(R);
    // Linear pair under the EKF: H does not depend on the state, so build it once.
    constexpr bool kConstantH = Motion::kLinear && Meas::kLinear && Algo == BankAlgorithm::kExtended;
    Mat<M, N> H_const = Mat<M, N>::Zero();
    if constexpr (kConstantH) {
      MeasVec unused;
      predict_measurement(motion_, meas_, StateVec::Zero().eval(), unused, H_const);
    }
    // A shared R is copied and checked once per call, not once per filter.
    const MeasMat R_fixed = R_shared;
    const bool R_fixed_finite = all_finite(R_fixed);
    for (Index i = 0; i < size_; ++i) {
      const auto ui = static_cast<std::size_t>(i);
      if (mask != nullptr && mask[i] == 0) {
        status_[ui] = -1;  // not updated this call
        continue;
      }
      const Eigen::Map<const MeasVec> zi(z + i * M);
      const MeasMat Ri = per_filter_R ? MeasMat(Eigen::Map<const MeasMat>(R + i * M * M))
                                      : R_fixed;
      UpdateInfo info;
      if constexpr (kConstantH) {
        // In place on the bank's storage (x, P are written only on success): copying P back
        // right after the scalar stores of symmetrize would stall on store forwarding.
        Eigen::Map<StateVec> xi = x(i);
        Eigen::Map<StateMat> Pi = P(i);
        const MeasVec y = zi - H_const * xi;
        MeasMat S;
        Mat<N, M> K;
        // y finite implies z finite (and x finite, as kalman_update requires).
        const bool finite = all_finite(y) && (per_filter_R ? all_finite(Ri) : R_fixed_finite);
        info = finite ? kalman_update_finite<N, M>(xi, Pi, y, H_const, Ri, S, K)
                      : UpdateInfo{UpdateStatus::kNonFiniteMeasurement};
      } else if constexpr (Algo == BankAlgorithm::kExtended) {
        StateVec xi = x(i);
        StateMat Pi = P(i);
        info = ekf_update(motion_, meas_, xi, Pi, MeasVec(zi), Ri);
        if (info.status == UpdateStatus::kOk) {
          x(i) = xi;
          P(i) = Pi;
        }
      } else {
        Eigen::Map<StateVec> xi = x(i);  // in place, untouched on failure
        Eigen::Map<StateMat> Pi = P(i);
        info = ukf_update(motion_, meas_, weights_, xi, Pi, MeasVec(zi), Ri);
      }
      status_[ui] = static_cast<std::int32_t>(info.status);
      if (info.status == UpdateStatus::kOk) {
        nis_[ui] = info.nis;
        loglik_[ui] = info.log_likelihood;
        ++summary.updated;
      } else {
        if (summary.first_failure < 0) {
          summary.first_failure = i;
          summary.first_status = info.status;
        }
        ++summary.skipped;
      }
    }
    return summary;
  }

  Motion motion_;
  Meas meas_;
  MerweWeights weights_;
  Index size_;
  std::vector<double> x_, P_, nis_, loglik_;
  std::vector<std::int32_t> status_;
  std::vector<double> snap_x_, snap_P_, snap_nis_, snap_loglik_;  // the strict mode's snapshot
};

}  // namespace fusion
