// N independent IMM tracks of one set of motion models and one sensor model, stored
// contiguously so that Python sees numpy arrays without copies: model k's states (N, n_k) and
// covariances (N, n_k, n_k), the mode probabilities mu (N, r), the combined estimate x
// (N, n_out) and P (N, n_out, n_out), the models' last log-likelihoods (N, r) and a status per
// track. predict and update run the per-track Imm (imm.hpp) over every track in one call;
// nothing is allocated after construction.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "fusion/core/errors.hpp"
#include "fusion/filters/imm.hpp"

namespace fusion {

// Per-call outcome of ImmBank::update.
struct ImmBankUpdateSummary {
  Index updated = 0;   // tracks whose measurement was used (status kOk or kLikelihoodUnderflow)
  Index skipped = 0;   // masked-in tracks left unchanged (a model's update failed; see status)
  Index flagged = 0;   // tracks whose measurement carried no finite likelihood (kNoFiniteLikelihood)
  Index first_failure = -1;
  ImmStatus first_status = ImmStatus::kOk;
};

template <class Meas, class... Motions>
class ImmBank {
 public:
  using Filter = Imm<Motions...>;
  static constexpr int R = Filter::R;
  static constexpr int M = Meas::M;
  static constexpr int NOut = Filter::NOut;
  static constexpr std::array<int, R> kSizes{Motions::N...};
  using MeasVec = Vec<M>;
  using MeasMat = Mat<M, M>;
  using Track = typename Filter::Track;

  // Every track starts with x = 0, P = I in every model and mode probabilities mu0.
  ImmBank(const typename Filter::MotionTuple& motions, const Meas& meas, Index size,
          const typename Filter::Markov& markov, const Vec<R>& mu0, const ImmMapOptions& options = {})
      : imm_(motions, markov, options), meas_(meas), size_(size) {
    if (size < 0) throw ConfigurationError("ImmBank: size must be >= 0, got " + std::to_string(size));
    // Checked before any allocation: past this the element counts below overflow (a tiny
    // allocation, then writes past its end).
    if (size > max_size())
      throw ConfigurationError("ImmBank: size " + std::to_string(size) + " is more tracks than fit in memory (at most " +
                               std::to_string(max_size()) + ")");
    double s = 0.0;
    for (int j = 0; j < R; ++j) {
      if (!std::isfinite(mu0(j)) || mu0(j) < 0.0)
        throw ConfigurationError("ImmBank: mu must be finite and non-negative");
      s += mu0(j);
    }
    if (!(s > 0.0)) throw ConfigurationError("ImmBank: mu must have a positive sum");
    const auto n = static_cast<std::size_t>(size);
    for (std::size_t k = 0; k < static_cast<std::size_t>(R); ++k) {
      const auto nk = static_cast<std::size_t>(kSizes[k]);
      x_[k].assign(n * nk, 0.0);
      P_[k].assign(n * nk * nk, 0.0);
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t a = 0; a < nk; ++a) P_[k][i * nk * nk + a * nk + a] = 1.0;
    }
    mu_.resize(n * R);
    for (std::size_t i = 0; i < n; ++i)
      for (int j = 0; j < R; ++j) mu_[i * R + static_cast<std::size_t>(j)] = mu0(j) / s;
    x_out_.assign(n * NOut, 0.0);
    P_out_.assign(n * NOut * NOut, 0.0);
    loglik_.assign(n * R, 0.0);
    status_.assign(n, static_cast<std::int32_t>(ImmStatus::kNoMeasurement));
    snap_x_ = x_;
    snap_P_ = P_;
    snap_x_out_ = x_out_;
    snap_P_out_ = P_out_;
    snap_mu_ = mu_;
    snap_loglik_ = loglik_;
    refresh();
  }

  Index size() const { return size_; }
  // Doubles stored per track (model states and covariances, mu, combined x and P, the
  // log-likelihoods; the int32 status counted as one more) and the largest size whose storage
  // can be addressed.
  static constexpr Index doubles_per_track() {
    Index n = 0;
    for (int nk : kSizes) n += nk + nk * nk;
    return n + 2 * R + NOut + NOut * NOut + 1;
  }
  static constexpr Index max_size() {
    return std::numeric_limits<Index>::max() / static_cast<Index>(sizeof(double)) / (2 * doubles_per_track());  // + snapshot
  }
  const Filter& imm() const { return imm_; }
  const Meas& measurement() const { return meas_; }
  double* x_data(int model) { return x_[static_cast<std::size_t>(model)].data(); }
  double* P_data(int model) { return P_[static_cast<std::size_t>(model)].data(); }
  double* mu_data() { return mu_.data(); }
  double* x_out_data() { return x_out_.data(); }
  double* P_out_data() { return P_out_.data(); }
  double* log_likelihood_data() { return loglik_.data(); }
  std::int32_t* status_data() { return status_.data(); }

  // Pointers to track i's storage (what the per-track Imm works on).
  Track track(Index i) {
    Track t;
    const auto u = static_cast<std::size_t>(i);
    for (std::size_t k = 0; k < static_cast<std::size_t>(R); ++k) {
      const auto nk = static_cast<std::size_t>(kSizes[k]);
      t.x[k] = x_[k].data() + u * nk;
      t.P[k] = P_[k].data() + u * nk * nk;
    }
    t.mu = mu_.data() + u * R;
    t.x_out = x_out_.data() + u * NOut;
    t.P_out = P_out_.data() + u * NOut * NOut;
    t.loglik = loglik_.data() + u * R;
    return t;
  }

  // Recompute every track's combined estimate (after the models' states or mu were set).
  void refresh() {
    for (Index i = 0; i < size_; ++i) imm_.combine(track(i));
  }

  // The first track whose model states lie more than kImmMaxNis apart (Imm::max_spread_nis),
  // or -1; *nis (when given) receives that track's spread.
  Index first_spread_beyond_bound(double* nis = nullptr) {
    for (Index i = 0; i < size_; ++i) {
      const double s = imm_.max_spread_nis(track(i));
      if (s > kImmMaxNis) {
        if (nis != nullptr) *nis = s;
        return i;
      }
    }
    return -1;
  }

  // Mix and predict every track dt seconds. A track whose prediction is not finite (a dt so
  // large that F P F^T + Q overflows) is restored to its state before the call and its status
  // set to kPredictFailed; returns how many and the first one (-1: none); the caller raises or
  // counts them. Allocation-free: the per-track backup is one preallocated buffer.
  // all_or_nothing (the strict mode): when any track fails, every track is restored to its
  // state before the call (from a whole-bank snapshot reserved at construction), so the call
  // changes nothing but the failing tracks' status.
  [[gnu::noinline]] std::pair<Index, Index> predict(double dt, bool all_or_nothing = false) {
    Index failed = 0, first = -1;
    if (all_or_nothing) snapshot(false);
    for (Index i = 0; i < size_; ++i) {
      const Track t = track(i);
      save(t);
      imm_.predict(t, dt);
      if (!finite_track(t)) {
        restore(t);
        status_[static_cast<std::size_t>(i)] = kPredictFailed;
        if (failed++ == 0) first = i;
      }
    }
    if (all_or_nothing && failed > 0) snapshot(true);
    return {failed, first};
  }
  // status_ value of a track whose last predict failed (ImmStatus values are >= -1).
  static constexpr std::int32_t kPredictFailed = -2;

  // Update track i with row i of z (size x M) where mask[i] is nonzero (mask may be null: all
  // tracks); masked-out tracks get update_missed (mu <- cbar). R is one M x M matrix for all,
  // or size x M x M when per_track_R.
  // all_or_nothing (the strict mode): when any track's update fails, every track is restored
  // from the whole-bank snapshot (models, mu, combined estimate, log-likelihoods): the call
  // changes nothing but status (which says which tracks failed); summary.updated is 0.
  [[gnu::noinline]] ImmBankUpdateSummary update(const double* z, const std::uint8_t* mask, const double* Rz,
                                                bool per_track_R, bool all_or_nothing = false) {
    if (all_or_nothing) snapshot(false);
    ImmBankUpdateSummary summary = update_each(z, mask, Rz, per_track_R);
    if (all_or_nothing && summary.skipped > 0) {
      snapshot(true);
      summary.updated = 0;
      summary.flagged = 0;
    }
    return summary;
  }

 private:
  ImmBankUpdateSummary update_each(const double* z, const std::uint8_t* mask, const double* Rz, bool per_track_R) {
    ImmBankUpdateSummary summary;
    const MeasMat R_shared = Eigen::Map<const MeasMat>(Rz);
    for (Index i = 0; i < size_; ++i) {
      const auto u = static_cast<std::size_t>(i);
      const Track t = track(i);
      if (mask != nullptr && mask[i] == 0) {
        imm_.update_missed(t);
        status_[u] = static_cast<std::int32_t>(ImmStatus::kNoMeasurement);
        continue;
      }
      const Eigen::Map<const MeasVec> zi(z + i * M);
      const ImmStatus s = per_track_R
                              ? imm_.update(t, meas_, MeasVec(zi), MeasMat(Eigen::Map<const MeasMat>(Rz + i * M * M)))
                              : imm_.update(t, meas_, MeasVec(zi), R_shared);
      status_[u] = static_cast<std::int32_t>(s);
      if (imm_failed(s)) {
        if (summary.first_failure < 0) {
          summary.first_failure = i;
          summary.first_status = s;
        }
        ++summary.skipped;
      } else if (s == ImmStatus::kNoFiniteLikelihood) {
        ++summary.flagged;
      } else {
        ++summary.updated;
      }
    }
    return summary;
  }

  // The doubles predict() may change in one track: every model's x and P, the combined x, P.
  template <class F>
  void for_each_block(const Track& t, F&& f) const {
    for (std::size_t k = 0; k < static_cast<std::size_t>(R); ++k) {
      const auto nk = static_cast<std::size_t>(kSizes[k]);
      f(t.x[k], nk);
      f(t.P[k], nk * nk);
    }
    f(t.x_out, static_cast<std::size_t>(NOut));
    f(t.P_out, static_cast<std::size_t>(NOut * NOut));
  }
  // Copies what predict() and update() change (every model's x and P, the combined x and P,
  // mu, the log-likelihoods) into the snapshot (restore = false) or back from it (restore = true).
  void snapshot(bool restore) {
    const auto copy = [restore](std::vector<double>& live, std::vector<double>& snap) {
      if (restore)
        std::copy(snap.begin(), snap.end(), live.begin());
      else
        std::copy(live.begin(), live.end(), snap.begin());
    };
    for (std::size_t k = 0; k < static_cast<std::size_t>(R); ++k) {
      copy(x_[k], snap_x_[k]);
      copy(P_[k], snap_P_[k]);
    }
    copy(x_out_, snap_x_out_);
    copy(P_out_, snap_P_out_);
    copy(mu_, snap_mu_);
    copy(loglik_, snap_loglik_);
  }
  void save(const Track& t) {
    double* dst = backup_.data();
    for_each_block(t, [&](const double* p, std::size_t n) { dst = std::copy(p, p + n, dst); });
  }
  void restore(const Track& t) {
    const double* src = backup_.data();
    for_each_block(t, [&](double* p, std::size_t n) {
      std::copy(src, src + n, p);
      src += n;
    });
  }
  bool finite_track(const Track& t) const {
    bool ok = true;
    for_each_block(t, [&](const double* p, std::size_t n) {
      for (std::size_t a = 0; a < n; ++a) ok = ok && std::isfinite(p[a]);
    });
    return ok;
  }

  Filter imm_;
  Meas meas_;
  Index size_;
  std::array<std::vector<double>, static_cast<std::size_t>(R)> x_, P_;
  std::vector<double> mu_, x_out_, P_out_, loglik_;
  std::vector<std::int32_t> status_;
  std::vector<double> backup_ = std::vector<double>(static_cast<std::size_t>(doubles_per_track()));
  // predict(all_or_nothing)'s whole-bank snapshot (same sizes as the live storage).
  std::array<std::vector<double>, static_cast<std::size_t>(R)> snap_x_, snap_P_;
  std::vector<double> snap_x_out_, snap_P_out_, snap_mu_, snap_loglik_;
};

}  // namespace fusion
