// Interacting multiple model (IMM) estimator for ONE track, templated on its motion models
// (each run as an extended Kalman filter; linear models reduce to the Kalman filter exactly).
// It owns no track storage: every call takes an ImmTrack, pointers to one track's per-model
// states, mode probabilities and combined estimate, wherever the caller keeps them (the IMM
// bank of imm_bank.hpp calls it once per track; a tracker can keep them in its track table).
//
// One cycle, as filterpy's IMMEstimator (Blom and Bar-Shalom), with r models and Markov
// matrix M (M(i, j) = P(mode j at k+1 | mode i at k), rows sum to 1):
//   mixing     cbar_j = sum_i M(i, j) mu_i,  omega(i, j) = M(i, j) mu_i / cbar_j
//              x0_j = sum_i omega(i, j) T_ij(x_i),  P0_j = sum_i omega(i, j) (P_ij + d d^T),
//              d = T_ij(x_i) - x0_j  (T_ij: the state map i -> j, imm_state_map.hpp)
//   predict    each model's EKF predict from (x0_j, P0_j)
//   update     each model's EKF update with z, log-likelihood l_j = log N(y_j; 0, S_j)
//   mode prob. mu_j = cbar_j exp(l_j) / sum_k cbar_k exp(l_k), evaluated in the log domain
//              (w_j = log cbar_j + l_j - max_k(...)), so it never underflows to 0/0
//   combined   x = sum_j mu_j T_jo(x_j), P = sum_j mu_j (P_jo + d d^T) in the output model o
//              (the model with the most states, the first of them on a tie).
// Angular components (Motion::kAngles, CTRV's yaw) are mixed as circular quantities: wrapped
// offsets from the first model's mapped mean. predict() leaves mu unchanged (filterpy's
// convention: the prior combined estimate uses the last posterior mu).
//
// Far-off measurements (the underflow case), defined:
//   - at least one model has a finite log-likelihood: mu is the exact posterior computed in the
//     log domain (finite, sums to 1), the models are updated; when every model's likelihood
//     is below the smallest normal double (where filterpy's linear-domain mu degenerates) the
//     status is kLikelihoodUnderflow, a flag only;
//   - no model has a finite log-likelihood (the NIS overflows): the measurement cannot weigh
//     the modes, so it is treated as no measurement: the models keep their predicted states,
//     mu becomes the predicted mode probabilities cbar, status kNoFiniteLikelihood.
// A model whose Kalman update fails (non-finite z, S not positive definite, sensor model
// undefined at its state) leaves the whole track unchanged and returns that status.
// Nothing here allocates: every temporary is a fixed-size Eigen object on the stack.
//
// predict()/update() run each model as an EKF of motion.hpp / measurement.hpp models;
// predict_with()/update_with() take the per-model step from the caller instead (a tracker with
// its own process noise or sensor models), keeping the mixing, the mode probabilities and the
// far-off measurement rules here.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <tuple>
#include <utility>

#include "fusion/core/errors.hpp"
#include "fusion/core/linalg.hpp"
#include "fusion/filters/ekf.hpp"
#include "fusion/filters/imm_state_map.hpp"

namespace fusion {

// Outcome of one track's IMM update (values 0-3 as UpdateStatus).
enum class ImmStatus : std::int32_t {
  kNoMeasurement = -1,         // update_missed (masked out): mu <- cbar, models as predicted
  kOk = 0,
  kNonFiniteMeasurement = 1,   // track unchanged
  kNotPositiveDefinite = 2,    // some model's S not positive definite: track unchanged
  kUndefined = 3,              // sensor model undefined at some model's state: track unchanged
  kLikelihoodUnderflow = 4,    // updated; every model's likelihood < DBL_MIN (flag only)
  kNoFiniteLikelihood = 5,     // no model's log-likelihood finite: treated as no measurement
};

// A model whose normalised innovation squared exceeds this does not take the measurement (its
// log-likelihood counts as -inf, as when the NIS overflows): the measurement lies more than 1e5
// standard deviations from the model's prediction, so its likelihood is zero to any precision,
// and taking it would move the model's state by up to 1e5 sigma. The mixture's covariance adds
// the squared spread of the models' states to their covariances, and in double precision
// (eps 2.2e-16) a spread d rounds every entry by about eps d^2: beyond ~1e8 sigma that exceeds
// the covariances themselves and the combined or mixed covariance is no longer positive
// definite (fuzz/open_findings, session 7). A gated tracker never comes near it (gates are NIS
// 10-30).
inline constexpr double kImmMaxNis = 1e10;

inline const char* to_string(ImmStatus s) {
  switch (s) {
    case ImmStatus::kNoMeasurement: return "no measurement";
    case ImmStatus::kOk: return "ok";
    case ImmStatus::kNonFiniteMeasurement: return "non-finite measurement";
    case ImmStatus::kNotPositiveDefinite:
      return "innovation covariance S = H P H^T + R of some model is not positive definite";
    case ImmStatus::kUndefined: return "measurement model undefined at some model's predicted state";
    case ImmStatus::kLikelihoodUnderflow: return "every model's likelihood underflows (mu from the log domain)";
    case ImmStatus::kNoFiniteLikelihood:
      return "no model has a finite log-likelihood (treated as no measurement)";
  }
  return "unknown";
}

// True for the statuses that leave a track unchanged (the update was refused).
inline bool imm_failed(ImmStatus s) {
  return s == ImmStatus::kNonFiniteMeasurement || s == ImmStatus::kNotPositiveDefinite ||
         s == ImmStatus::kUndefined;
}

// One track's storage, row-major doubles: model k's state x[k] (N_k) and covariance P[k]
// (N_k x N_k), the mode probabilities mu (r), the combined estimate x_out (N_o) and P_out
// (N_o x N_o), and the models' last log-likelihoods loglik (r; may be null).
template <int R>
struct ImmTrack {
  std::array<double*, R> x{};
  std::array<double*, R> P{};
  double* mu = nullptr;
  double* x_out = nullptr;
  double* P_out = nullptr;
  double* loglik = nullptr;
};

namespace imm_detail {

template <class F, std::size_t... Is>
inline void static_for_impl(F&& f, std::index_sequence<Is...>) {
  (f(std::integral_constant<std::size_t, Is>{}), ...);
}
// f(std::integral_constant<std::size_t, 0>{}), ..., f(<Count - 1>)
template <std::size_t Count, class F>
inline void static_for(F&& f) {
  static_for_impl(f, std::make_index_sequence<Count>{});
}

template <int... Ns>
constexpr std::size_t argmax_first() {
  constexpr int sizes[] = {Ns...};
  std::size_t best = 0;
  for (std::size_t i = 1; i < sizeof...(Ns); ++i)
    if (sizes[i] > sizes[best]) best = i;
  return best;
}

// Mean and covariance of the Gaussian mixture sum_i w_i N(xs[i], Ps[i]) with angular
// components (kAngles) averaged as wrapped offsets from xs[0] (Python's _moment_match).
template <class Motion, std::size_t R, class XOut, class POut>
inline void moment_match(const double* w, const std::array<Vec<Motion::N>, R>& xs,
                         const std::array<Mat<Motion::N, Motion::N>, R>& Ps, XOut&& x, POut&& P) {
  constexpr int N = Motion::N;
  const auto wrap_angles = [](Vec<N>& v) {
    for (int a = 0; a < N; ++a)
      if (Motion::kAngles[static_cast<std::size_t>(a)]) v(a) = wrap_angle(v(a));
  };
  Vec<N> mean = Vec<N>::Zero();
  for (std::size_t i = 0; i < R; ++i) {
    Vec<N> d = xs[i] - xs[0];
    wrap_angles(d);
    mean += w[i] * d;
  }
  mean += xs[0];
  wrap_angles(mean);
  Mat<N, N> cov = Mat<N, N>::Zero();
  for (std::size_t i = 0; i < R; ++i) {
    Vec<N> d = xs[i] - mean;
    wrap_angles(d);
    cov.noalias() += w[i] * (d * d.transpose());
    cov += w[i] * Ps[i];
  }
  symmetrize(cov);
  x = mean;
  P = cov;
}

}  // namespace imm_detail

template <class... Motions>
class Imm {
 public:
  static constexpr int R = static_cast<int>(sizeof...(Motions));
  static_assert(R >= 2, "an IMM needs at least two models");
  using MotionTuple = std::tuple<Motions...>;
  template <std::size_t K>
  using MotionAt = std::tuple_element_t<K, MotionTuple>;
  static constexpr std::array<int, R> kSizes{Motions::N...};
  // The combined estimate lives in the state space of this model (the largest, first on a tie).
  static constexpr std::size_t kOut = imm_detail::argmax_first<Motions::N...>();
  static constexpr int NOut = MotionAt<kOut>::N;
  using Track = ImmTrack<R>;
  using ModeVec = Vec<R>;
  using Markov = Mat<R, R>;

  // M: Markov matrix (r x r), finite, non-negative, every row summing to 1 (to 1e-9).
  Imm(const MotionTuple& motions, const Markov& M, const ImmMapOptions& options = {})
      : motions_(motions), M_(M), options_(options) {
    for (int i = 0; i < R; ++i) {
      double s = 0.0;
      for (int j = 0; j < R; ++j) {
        if (!std::isfinite(M(i, j)) || M(i, j) < 0.0)
          throw ConfigurationError("IMM: the Markov matrix M must be finite and non-negative; M[" +
                                   std::to_string(i) + ", " + std::to_string(j) + "] = " + std::to_string(M(i, j)));
        s += M(i, j);
      }
      if (std::abs(s - 1.0) > 1e-9)
        throw ConfigurationError("IMM: every row of the Markov matrix M must sum to 1; row " + std::to_string(i) +
                                 " sums to " + std::to_string(s));
    }
    if (!(options.min_speed_mps >= 0.0) || !std::isfinite(options.min_speed_mps))
      throw ConfigurationError("IMM: min_speed_mps must be finite and >= 0");
  }

  const MotionTuple& motions() const { return motions_; }
  const Markov& markov() const { return M_; }
  const ImmMapOptions& options() const { return options_; }

  // Predicted mode probabilities cbar = M^T mu.
  ModeVec predicted_mode_probabilities(const Track& t) const {
    return M_.transpose() * Eigen::Map<const ModeVec>(t.mu);
  }

  // The combined estimate (x_out, P_out) from the models and mu.
  void combine(const Track& t) const {
    std::array<Vec<NOut>, R> xs;
    std::array<Mat<NOut, NOut>, R> Ps;
    to_model<kOut>(t, xs, Ps);
    imm_detail::moment_match<MotionAt<kOut>, R>(t.mu, xs, Ps, Eigen::Map<Vec<NOut>>(t.x_out),
                                                Eigen::Map<Mat<NOut, NOut>>(t.P_out));
  }

  // The largest normalised squared distance between two of track t's model states,
  // (x_i - x_j)^T (P_i + P_j)^-1 (x_i - x_j), in the combined estimate's state space (angles
  // wrapped); +inf when some P_i + P_j is not positive definite or the distance is not finite.
  // Beyond kImmMaxNis the mixture of the models cannot be represented in double precision (see
  // kImmMaxNis): a bank refuses a model state set that far from the others.
  double max_spread_nis(const Track& t) const {
    using Out = MotionAt<kOut>;
    std::array<Vec<NOut>, R> xs;
    std::array<Mat<NOut, NOut>, R> Ps;
    to_model<kOut>(t, xs, Ps);
    double worst = 0.0;
    for (int i = 0; i < R; ++i)
      for (int j = i + 1; j < R; ++j) {
        const auto ui = static_cast<std::size_t>(i), uj = static_cast<std::size_t>(j);
        Vec<NOut> d = xs[ui] - xs[uj];
        for (int a = 0; a < NOut; ++a)
          if (Out::kAngles[static_cast<std::size_t>(a)]) d(a) = wrap_angle(d(a));
        const Eigen::LLT<Mat<NOut, NOut>> llt(Ps[ui] + Ps[uj]);
        if (llt.info() != Eigen::Success) return std::numeric_limits<double>::infinity();
        const double nis = d.dot(llt.solve(d));
        if (!std::isfinite(nis)) return std::numeric_limits<double>::infinity();
        worst = std::max(worst, nis);
      }
    return worst;
  }

  // Mix, predict every model dt seconds (EKF predict with the model's own Q), recompute the
  // combined estimate. mu is unchanged.
  void predict(const Track& t, double dt) const {
    predict_with(t, [&](auto K, auto& x, auto& P) {
      ekf_predict(std::get<decltype(K)::value>(motions_), x, P, dt);
    });
  }

  // predict with the per-model prediction supplied by the caller (a tracker with its own
  // process noise): after mixing, step(std::integral_constant<std::size_t, k>, Vec<N_k>& x,
  // Mat<N_k, N_k>& P) is called once per model k and must predict (x, P) in place.
  template <class Step>
  void predict_with(const Track& t, Step&& step) const {
    const Eigen::Map<const ModeVec> mu(t.mu);
    const ModeVec cbar = M_.transpose() * mu;
    // omega(i, j) = M(i, j) mu_i / cbar_j; a mode nothing can reach (cbar_j = 0) keeps its state.
    Markov omega;
    for (int j = 0; j < R; ++j) {
      for (int i = 0; i < R; ++i)
        omega(i, j) = cbar(j) > 0.0 ? M_(i, j) * mu(i) / cbar(j) : (i == j ? 1.0 : 0.0);
    }
    // All mixed states first (each reads every model's current state), then write and predict.
    std::tuple<std::pair<Vec<Motions::N>, Mat<Motions::N, Motions::N>>...> mixed;
    imm_detail::static_for<R>([&](auto J) {
      constexpr std::size_t j = decltype(J)::value;
      constexpr int Nj = MotionAt<j>::N;
      std::array<Vec<Nj>, R> xs;
      std::array<Mat<Nj, Nj>, R> Ps;
      to_model<j>(t, xs, Ps);
      std::array<double, R> w;
      for (int i = 0; i < R; ++i) w[static_cast<std::size_t>(i)] = omega(i, static_cast<Index>(j));
      auto& out = std::get<j>(mixed);
      imm_detail::moment_match<MotionAt<j>, R>(w.data(), xs, Ps, out.first, out.second);
    });
    imm_detail::static_for<R>([&](auto J) {
      constexpr std::size_t j = decltype(J)::value;
      auto& [x, P] = std::get<j>(mixed);
      step(J, x, P);
      x_of<j>(t) = x;
      P_of<j>(t) = P;
    });
    combine(t);
  }

  // Update every model with measurement z (noise Rz) of sensor model `meas`, then mu and the
  // combined estimate. See the header comment for the far-off measurement cases.
  template <class Meas>
  ImmStatus update(const Track& t, const Meas& meas, const Vec<Meas::M>& z,
                   const Mat<Meas::M, Meas::M>& Rz) const {
    return update_with(t, [&](auto K, auto& x, auto& P) {
      return ekf_update(std::get<decltype(K)::value>(motions_), meas, x, P, z, Rz);
    });
  }

  // update with the per-model measurement update supplied by the caller (a tracker's own
  // sensor models): step(std::integral_constant<std::size_t, k>, Vec<N_k>& x, Mat<N_k, N_k>& P)
  // is called once per model k on a copy of its state, updates it in place and returns the
  // UpdateInfo (status and log_likelihood). Mode probabilities, the far-off cases, atomicity
  // per track and the combined estimate are handled here exactly as in update().
  template <class Step>
  ImmStatus update_with(const Track& t, Step&& step) const {
    std::tuple<std::pair<Vec<Motions::N>, Mat<Motions::N, Motions::N>>...> upd;
    ModeVec logl;
    UpdateStatus failed = UpdateStatus::kOk;
    imm_detail::static_for<R>([&](auto J) {
      constexpr std::size_t j = decltype(J)::value;
      if (failed != UpdateStatus::kOk) return;
      auto& [x, P] = std::get<j>(upd);
      x = x_of<j>(t);
      P = P_of<j>(t);
      const UpdateInfo info = step(J, x, P);
      if (info.status != UpdateStatus::kOk) {
        failed = info.status;
        return;
      }
      logl(static_cast<Index>(j)) = info.log_likelihood;
      // A model does not take the measurement (keeps its state, mu = 0) when the update is not
      // finite, lies beyond kImmMaxNis, or leaves a covariance that is not positive definite
      // (a prior variance so much larger than R that the posterior drowns in rounding: a
      // variance of 1e266 set by the caller; the fuzz finding of session 8).
      if (!all_finite(x) || !all_finite(P) || info.nis > kImmMaxNis ||  // (a NaN nis: not reported)
          !SmallCholesky<MotionAt<j>::N>{}.compute(P))
        logl(static_cast<Index>(j)) = -std::numeric_limits<double>::infinity();
    });
    if (failed != UpdateStatus::kOk) return static_cast<ImmStatus>(static_cast<std::int32_t>(failed));
    if (t.loglik != nullptr) Eigen::Map<ModeVec>(t.loglik) = logl;
    Eigen::Map<ModeVec> mu(t.mu);
    const ModeVec cbar = M_.transpose() * mu;
    // w_j = log cbar_j + l_j, shifted by the largest so that exp never underflows to all zeros.
    ModeVec w;
    double wmax = -std::numeric_limits<double>::infinity();
    double lmax = -std::numeric_limits<double>::infinity();
    for (int j = 0; j < R; ++j) {
      const bool ok = std::isfinite(logl(j)) && cbar(j) > 0.0;
      w(j) = ok ? std::log(cbar(j)) + logl(j) : -std::numeric_limits<double>::infinity();
      if (w(j) > wmax) wmax = w(j);
      if (ok && logl(j) > lmax) lmax = logl(j);
    }
    if (!std::isfinite(wmax)) {  // nothing weighs the modes: as no measurement
      miss_with(t, cbar);
      return ImmStatus::kNoFiniteLikelihood;
    }
    double sum = 0.0;
    for (int j = 0; j < R; ++j) {
      w(j) = std::isfinite(w(j)) ? std::exp(w(j) - wmax) : 0.0;
      sum += w(j);
    }
    // A model without a finite likelihood gets mu = 0 and keeps its predicted state.
    imm_detail::static_for<R>([&](auto J) {
      constexpr std::size_t j = decltype(J)::value;
      if (w(static_cast<Index>(j)) == 0.0 && !std::isfinite(logl(static_cast<Index>(j)))) return;
      x_of<j>(t) = std::get<j>(upd).first;
      P_of<j>(t) = std::get<j>(upd).second;
    });
    mu = w / sum;
    combine(t);
    return lmax < std::log(std::numeric_limits<double>::min()) ? ImmStatus::kLikelihoodUnderflow : ImmStatus::kOk;
  }

  // No measurement this cycle: mu <- cbar (the predicted mode probabilities), the models keep
  // their predicted states, the combined estimate is recomputed.
  void update_missed(const Track& t) const { miss_with(t, predicted_mode_probabilities(t)); }

 private:
  template <std::size_t K>
  static Eigen::Map<Vec<MotionAt<K>::N>> x_of(const Track& t) {
    return Eigen::Map<Vec<MotionAt<K>::N>>(t.x[K]);
  }
  template <std::size_t K>
  static Eigen::Map<Mat<MotionAt<K>::N, MotionAt<K>::N>> P_of(const Track& t) {
    return Eigen::Map<Mat<MotionAt<K>::N, MotionAt<K>::N>>(t.P[K]);
  }

  // Every model's (x, P) in model J's state space; components a model lacks from model J.
  template <std::size_t J, int NJ = MotionAt<J>::N>
  void to_model(const Track& t, std::array<Vec<NJ>, R>& xs, std::array<Mat<NJ, NJ>, R>& Ps) const {
    const Vec<NJ> xj = x_of<J>(t);
    const Mat<NJ, NJ> Pj = P_of<J>(t);
    imm_detail::static_for<R>([&](auto I) {
      constexpr std::size_t i = decltype(I)::value;
      const Vec<MotionAt<i>::N> xi = x_of<i>(t);
      const Mat<MotionAt<i>::N, MotionAt<i>::N> Pi = P_of<i>(t);
      ImmStateMap<MotionAt<i>, MotionAt<J>>::apply(options_, xi, Pi, xj, Pj, xs[i], Ps[i]);
    });
  }

  void miss_with(const Track& t, const ModeVec& cbar) const {
    Eigen::Map<ModeVec>(t.mu) = cbar / cbar.sum();
    combine(t);
  }

  MotionTuple motions_;
  Markov M_;
  ImmMapOptions options_;
};

}  // namespace fusion
