// ImmMotion<Modes...>: an interacting multiple model (filters/imm.hpp, the per-track core
// Imm<Modes...>) packaged as ONE motion model of the engine (engine_impl.hpp), so that a motion
// registry key (csrc/src/engine_motion_imm_cv_ctrv_box.cpp) runs it like any other motion.
//
// The track's x, P in the track table are the IMM's COMBINED estimate, in the layout of the
// output mode (Imm::kOut: the mode with the most states, the first of them on a tie); ImmMotion
// derives from that mode's model, so everything the engine does with a track's x (the views of
// the association costs, the field-of-view test, births, the export's box and velocity, a
// prediction for output) is that model's. Per track the engine also keeps, in the track
// table's auxiliary storage (track_table.hpp aux(slot), kAuxDoubles doubles):
//     x_k (N_k), P_k (N_k x N_k, row-major) for every mode k, then mu (R), then the modes'
//     last log-likelihoods (R).
// The engine calls (its hook points predict_track / update_track / birth):
//   init_track     birth: each mode's state is the output state carried by the state map
//                  ImmStateMap<Out, Mode_k> (imm_state_map.hpp, the box pairs below); the
//                  components the output layout lacks (CTRV's yaw rate) start at 0 with
//                  variance p0_undefined; mu = mu0; x, P = the combination.
//   predict_track  Imm::predict_with: mixing, then each mode's EKF predict with its own Q
//                  (the output mode's Q is diag(q_diag_per_s) |dt| when that is configured);
//                  x, P = the combination; mu unchanged.
//   update_track   Imm::update_with: each mode's EKF update through the engine's sensor model
//                  (sensor::predict_measurement: any sensor the engine supports), the mode
//                  probabilities from the modes' log-likelihoods (log domain), x, P = the
//                  combination. A miss calls nothing: mu is left unchanged (the next
//                  predict's mixing uses it as the posterior, as filterpy's IMMEstimator).
// Far-off measurements (every mode's likelihood below DBL_MIN, where a linear-domain mu is
// 0/0): with some finite log-likelihood the update runs and mu is the exact posterior from
// the log domain (finite, sums to 1), flagged `underflow`; with none finite (the NIS
// overflows) the measurement cannot weigh the modes: the modes keep their predicted states,
// mu is KEPT (not replaced by the predicted mu), the update counts as rejected and flagged
// `underflow`. A mode whose update fails (S not positive definite, the sensor undefined at
// its state, a non-positive variance after the update), or a result that is not finite (the
// mixture of a mode moved 1e150 m overflows), leaves the whole track unchanged (rejected).
//
// The Markov matrix is per prediction step (as filterpy's IMMEstimator): the engine predicts a
// track once per frame time it has not reached, so the switching rate per second depends on
// the frame rate of the sensors.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "fusion/core/errors.hpp"
#include "fusion/core/linalg.hpp"
#include "fusion/core/types.hpp"
#include "fusion/filters/imm.hpp"
#include "fusion/filters/imm_state_map.hpp"
#include "fusion/filters/kalman.hpp"
#include "fusion/motion/imm_traits.hpp"
#include "fusion/motion/view_adapters.hpp"
#include "fusion/motion/with_extent.hpp"
#include "fusion/motion/with_vertical_velocity.hpp"
#include "fusion/sensor/predict.hpp"

namespace fusion {

// The box Tracker's CTRV (engine key ctrv_vz_box): (x, y, v, yaw, yaw_rate, z, vz, l, w, h).
using CTRVVzBox = WithExtent<WithVerticalVelocity<CTRV>>;

// ---------------------------------------------------------------- box state maps
// CVBox (x, y, z, vx, vy, vz, yaw, l, w, h) -> CTRVVzBox (x, y, v, yaw, yaw_rate, z, vz, l, w, h).
// The CTRV heading is the box heading (the CV box's yaw state, defined for a parked car too,
// unlike the velocity direction), its speed the velocity along it, v = vx cos(yaw) + vy
// sin(yaw) (signed: a reversing car has v < 0; the lateral velocity is dropped), covariance
// through the Jacobian; the yaw rate from the target (augment from the target).
template <>
struct ImmStateMap<CVBox, CTRVVzBox> {
  static void apply(const ImmMapOptions&, const Vec<10>& x, const Mat<10, 10>& P, const Vec<10>& xt,
                    const Mat<10, 10>& Pt, Vec<10>& xm, Mat<10, 10>& Pm) {
    const double vx = x(3), vy = x(4), yaw = x(CVBox::kYaw);
    const double c = std::cos(yaw), s = std::sin(yaw);
    Mat<10, 10> J = Mat<10, 10>::Zero();
    J(0, 0) = J(1, 1) = 1.0;                     // x, y
    J(2, 3) = c;                                 // v
    J(2, 4) = s;
    J(2, CVBox::kYaw) = -vx * s + vy * c;
    J(3, CVBox::kYaw) = 1.0;                     // yaw
    J(5, 2) = 1.0;                               // z
    J(6, 5) = 1.0;                               // vz
    J(7, 7) = J(8, 8) = J(9, 9) = 1.0;           // l, w, h
    xm << x(0), x(1), vx * c + vy * s, x(CVBox::kYaw), 0.0, x(2), x(5), x(7), x(8), x(9);
    const Mat<10, 10> JP = J * P;
    Pm.noalias() = JP * J.transpose();
    imm_detail::fill_from_target<10>({true, true, true, true, false, true, true, true, true, true}, xt, Pt, xm, Pm);
  }
};

// CTRVVzBox -> CVBox: vx = v cos(yaw), vy = v sin(yaw), the box yaw is the heading; every
// component defined.
template <>
struct ImmStateMap<CTRVVzBox, CVBox> {
  static void apply(const ImmMapOptions&, const Vec<10>& x, const Mat<10, 10>& P, const Vec<10>&,
                    const Mat<10, 10>&, Vec<10>& xm, Mat<10, 10>& Pm) {
    const double v = x(2), c = std::cos(x(3)), s = std::sin(x(3));
    Mat<10, 10> J = Mat<10, 10>::Zero();
    J(0, 0) = J(1, 1) = 1.0;        // x, y
    J(2, 5) = 1.0;                  // z
    J(3, 2) = c;                    // vx
    J(3, 3) = -v * s;
    J(4, 2) = s;                    // vy
    J(4, 3) = v * c;
    J(5, 6) = 1.0;                  // vz
    J(CVBox::kYaw, 3) = 1.0;        // yaw
    J(7, 7) = J(8, 8) = J(9, 9) = 1.0;
    xm << x(0), x(1), x(5), v * c, v * s, x(6), x(3), x(7), x(8), x(9);
    const Mat<10, 10> JP = J * P;
    Pm.noalias() = JP * J.transpose();
  }
};

// ---------------------------------------------------------------- the engine's motion
namespace imm_motion_detail {
template <class... Ms>
constexpr std::array<int, sizeof...(Ms)> block_offsets() {
  constexpr int sizes[] = {(Ms::N + Ms::N * Ms::N)...};
  std::array<int, sizeof...(Ms)> out{};
  int o = 0;
  for (std::size_t i = 0; i < sizeof...(Ms); ++i) {
    out[i] = o;
    o += sizes[i];
  }
  return out;
}
template <class... Ms>
constexpr int blocks_size() {
  return ((Ms::N + Ms::N * Ms::N) + ...);
}
template <class... Ms>
using OutOf = std::tuple_element_t<imm_detail::argmax_first<Ms::N...>(), std::tuple<Ms...>>;

// The box components' indices of a mode, if it has them (l, w, h floor after a lidar update).
template <class M, class = void>
struct HasLength : std::false_type {};
template <class M>
struct HasLength<M, std::void_t<decltype(M::kLength)>> : std::true_type {};
}  // namespace imm_motion_detail

// One update's outcome for the engine's counters.
struct ImmUpdateResult {
  double log_likelihood = std::numeric_limits<double>::quiet_NaN();  // log sum_j cbar_j N_j; NaN: rejected
  bool rejected = false;   // the track is unchanged (count as a rejected update)
  bool underflow = false;  // every mode's likelihood < DBL_MIN (see the header comment)
};

template <class... Modes>
struct ImmMotion : imm_motion_detail::OutOf<Modes...> {
  using Core = Imm<Modes...>;
  using Out = imm_motion_detail::OutOf<Modes...>;
  using Track = typename Core::Track;
  using ModeVec = typename Core::ModeVec;
  using Markov = typename Core::Markov;
  template <std::size_t K>
  using ModeAt = typename Core::template MotionAt<K>;
  static constexpr int R = Core::R;
  static constexpr int kImmModes = R;
  static_assert(std::is_same_v<Out, ModeAt<Core::kOut>>, "the output layout is Imm's kOut mode");
  static constexpr bool kLinear = false;  // the engine's F/Q cache is not used
  static constexpr std::array<int, R> kBlock = imm_motion_detail::block_offsets<Modes...>();
  static constexpr int kMuOffset = imm_motion_detail::blocks_size<Modes...>();
  static constexpr int kLogLikOffset = kMuOffset + R;
  static constexpr int kAuxDoubles = kLogLikOffset + R;

  // modes: the mode models with their noise; transition: the Markov matrix (rows sum to 1);
  // mu0: the mode probabilities of a new track (>= 0, sum 1); p0_undefined: the variance at
  // birth of a mode's components the output layout lacks (> 0). ConfigurationError naming
  // the field otherwise.
  ImmMotion(const std::tuple<Modes...>& modes, const Markov& transition, const ModeVec& mu0_,
            double p0_undefined_, const ImmMapOptions& options = {})
      : Out(std::get<Core::kOut>(modes)), core(modes, transition, options), mu0(mu0_),
        p0_undefined(p0_undefined_) {
    double sum = 0.0;
    for (int j = 0; j < R; ++j) {
      if (!(mu0(j) >= 0.0 && std::isfinite(mu0(j))))
        throw ConfigurationError("imm_mu0[" + std::to_string(j) + "] must be finite and >= 0, got " +
                                 std::to_string(mu0(j)));
      sum += mu0(j);
    }
    if (std::abs(sum - 1.0) > 1e-9)
      throw ConfigurationError("imm_mu0 must sum to 1, sums to " + std::to_string(sum));
    if (!(p0_undefined > 0.0 && std::isfinite(p0_undefined)))
      throw ConfigurationError("the birth variance of the components the output mode lacks must be finite and > 0, got " +
                               std::to_string(p0_undefined));
  }

  Core core;
  ModeVec mu0;
  double p0_undefined;

  // One track's pointers into its auxiliary storage and its table x, P.
  static Track track(double* aux, double* x_out, double* P_out) {
    Track t;
    for (int k = 0; k < R; ++k) {
      const int n = Core::kSizes[static_cast<std::size_t>(k)];
      t.x[static_cast<std::size_t>(k)] = aux + kBlock[static_cast<std::size_t>(k)];
      t.P[static_cast<std::size_t>(k)] = aux + kBlock[static_cast<std::size_t>(k)] + n;
    }
    t.mu = aux + kMuOffset;
    t.loglik = aux + kLogLikOffset;
    t.x_out = x_out;
    t.P_out = P_out;
    return t;
  }
  static const double* mode_prob(const double* aux) { return aux + kMuOffset; }

  // Birth (see the header comment): x_out, P_out hold the output mode's initial estimate.
  void init_track(double* aux, double* x_out, double* P_out) const {
    const Track t = track(aux, x_out, P_out);
    const Vec<Out::N> xo = Eigen::Map<const Vec<Out::N>>(x_out);
    const Mat<Out::N, Out::N> Po = Eigen::Map<const Mat<Out::N, Out::N>>(P_out);
    imm_detail::static_for<R>([&](auto K) {
      constexpr std::size_t k = decltype(K)::value;
      using Mk = ModeAt<k>;
      const Vec<Mk::N> xt = Vec<Mk::N>::Zero();
      const Mat<Mk::N, Mk::N> Pt = p0_undefined * Mat<Mk::N, Mk::N>::Identity();
      Vec<Mk::N> xm;
      Mat<Mk::N, Mk::N> Pm;
      ImmStateMap<Out, Mk>::apply(core.options(), xo, Po, xt, Pt, xm, Pm);
      wrap_state<Mk>(xm);
      symmetrize(Pm);
      Eigen::Map<Vec<Mk::N>>(t.x[k]) = xm;
      Eigen::Map<Mat<Mk::N, Mk::N>>(t.P[k]) = Pm;
    });
    Eigen::Map<ModeVec>(t.mu) = mu0;
    Eigen::Map<ModeVec>(t.loglik).setZero();
    core.combine(t);
  }

  // Mixing and each mode's prediction over dt seconds; q_diag (empty or Out::N values): the
  // output mode's Q = diag(q_diag) |dt| instead of its model Q. False if any result is not
  // finite (the engine then ends the track).
  bool predict_track(double* aux, double* x_out, double* P_out, double dt, const std::vector<double>& q_diag) const {
    const Track t = track(aux, x_out, P_out);
    bool finite = true;
    core.predict_with(t, [&](auto K, auto& x, auto& P) {
      constexpr std::size_t k = decltype(K)::value;
      using Mk = ModeAt<k>;
      const Mk& m = std::get<k>(core.motions());
      if constexpr (k == Core::kOut) {
        if (!q_diag.empty()) {
          const Mat<Mk::N, Mk::N> F = m.jacobian(x, dt);
          Mat<Mk::N, Mk::N> Q = Mat<Mk::N, Mk::N>::Zero();
          for (int i = 0; i < Mk::N; ++i) Q(i, i) = q_diag[static_cast<std::size_t>(i)] * std::abs(dt);
          x = m.f(x, dt);
          const Mat<Mk::N, Mk::N> FP = F * P;
          P.noalias() = FP * F.transpose();
          P += Q;
          symmetrize(P);
        } else {
          ekf_predict(m, x, P, dt);
        }
      } else {
        ekf_predict(m, x, P, dt);
      }
      finite = finite && all_finite(x) && all_finite(P);
    });
    return finite && all_finite(Eigen::Map<const Vec<Out::N>>(x_out)) &&
           all_finite(Eigen::Map<const Mat<Out::N, Out::N>>(P_out));
  }

  // Each mode's EKF update with measurement z (noise Rz) of the engine's sensor model S seen
  // through `mount` (sensor_motion: the sensor's own velocity); min_size > 0: l, w, h floor
  // of a lidar box update (0: none). See the header comment for the outcomes.
  template <class S>
  ImmUpdateResult update_track(double* aux, double* x_out, double* P_out, const S& model,
                               const sensor::SensorMount& mount, const sensor::SensorMotion& sensor_motion,
                               const double* zp, const double* Rp, double min_size) const {
    constexpr int M = S::M;
    const Track t = track(aux, x_out, P_out);
    // The track as it was: restored if the update's result is not finite (the whole track is
    // unchanged, as the single-model engine rejects a non-finite update). On the stack.
    std::array<double, kAuxDoubles> aux_before;
    std::copy(aux, aux + kAuxDoubles, aux_before.begin());
    const Vec<Out::N> x_before = Eigen::Map<const Vec<Out::N>>(x_out);
    const Mat<Out::N, Out::N> P_before = Eigen::Map<const Mat<Out::N, Out::N>>(P_out);
    const auto restore = [&] {
      std::copy(aux_before.begin(), aux_before.end(), aux);
      Eigen::Map<Vec<Out::N>> xo(x_out);
      Eigen::Map<Mat<Out::N, Out::N>> Po(P_out);
      xo = x_before;
      Po = P_before;
    };
    const Vec<M> z = Eigen::Map<const Vec<M>>(zp);
    const Mat<M, M> Rz = Eigen::Map<const Mat<M, M>>(Rp);
    const ModeVec mu_before = Eigen::Map<const ModeVec>(t.mu);
    const ModeVec cbar = core.predicted_mode_probabilities(t);
    const ImmStatus status = core.update_with(t, [&](auto K, auto& x, auto& P) -> UpdateInfo {
      constexpr std::size_t k = decltype(K)::value;
      using Mk = ModeAt<k>;
      constexpr int Nk = Mk::N;
      const Mk& m = std::get<k>(core.motions());
      Vec<M> zhat;
      Mat<M, Nk> H;
      if (!sensor::predict_measurement(m, model, Vec<Nk>(x), mount, sensor_motion, zhat, H))
        return UpdateInfo{UpdateStatus::kUndefined};
      const Vec<M> y = S::residual(z, zhat);
      Mat<M, M> Sm;
      Mat<Nk, M> Kg;
      const UpdateInfo info = kalman_update<Nk, M>(x, P, y, H, Rz, Sm, Kg);
      if (info.status != UpdateStatus::kOk) return info;
      wrap_state<Mk>(x);
      if constexpr (imm_motion_detail::HasLength<Mk>::value) {
        if (min_size > 0.0) {
          x(Mk::kLength) = std::max(x(Mk::kLength), min_size);
          x(Mk::kWidth) = std::max(x(Mk::kWidth), min_size);
          x(Mk::kHeight) = std::max(x(Mk::kHeight), min_size);
        }
      }
      for (int i = 0; i < Nk; ++i)
        if (!(P(i, i) > 0.0) && all_finite(P)) return UpdateInfo{UpdateStatus::kNotPositiveDefinite};
      return info;
    });
    ImmUpdateResult r;
    if (imm_failed(status)) {
      r.rejected = true;
      return r;
    }
    if (status == ImmStatus::kNoFiniteLikelihood) {  // keep mu; the modes kept their predictions
      restore();
      Eigen::Map<ModeVec>(t.mu) = mu_before;
      r.rejected = r.underflow = true;
      return r;
    }
    r.underflow = status == ImmStatus::kLikelihoodUnderflow;
    // A result that is not finite (a far-off measurement moves a mode so far that the mixture's
    // spread overflows) or a combined variance <= 0: the track is left as it was.
    bool ok = all_finite(Eigen::Map<const Eigen::Matrix<double, kAuxDoubles, 1>>(aux)) &&
              all_finite(Eigen::Map<const Vec<Out::N>>(x_out)) && all_finite(Eigen::Map<const Mat<Out::N, Out::N>>(P_out));
    for (int i = 0; i < Out::N && ok; ++i) ok = P_out[i * Out::N + i] > 0.0;
    if (!ok) {
      restore();
      r.rejected = true;
      return r;
    }
    // The measurement's likelihood under the IMM: log sum_j cbar_j exp(l_j), in the log domain.
    const Eigen::Map<const ModeVec> l(t.loglik);
    double wmax = -std::numeric_limits<double>::infinity();
    for (int j = 0; j < R; ++j)
      if (std::isfinite(l(j)) && cbar(j) > 0.0) wmax = std::max(wmax, std::log(cbar(j)) + l(j));
    double sum = 0.0;
    for (int j = 0; j < R; ++j)
      if (std::isfinite(l(j)) && cbar(j) > 0.0) sum += std::exp(std::log(cbar(j)) + l(j) - wmax);
    r.log_likelihood = wmax + std::log(sum);
    return r;
  }
};

template <class... Modes>
struct MotionViewTraits<ImmMotion<Modes...>> : MotionViewTraits<typename ImmMotion<Modes...>::Out> {};

// The engine key imm_cv_ctrv_box: modes (0) CV box, (1) CTRV box with vertical velocity; the
// combined estimate is in the CV box layout (x, y, z, vx, vy, vz, yaw, l, w, h).
using ImmCvCtrvBox = ImmMotion<CVBox, CTRVVzBox>;

}  // namespace fusion
