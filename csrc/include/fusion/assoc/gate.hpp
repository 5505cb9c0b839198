// Gates for association costs.
//
// The chi-square gate: a detection is in a track's gate when its squared Mahalanobis distance
// d^2 = y^T S^-1 y is at most the chi-square quantile chi2_{m}(P_G) for the measurement
// dimension m; if the track is right and the noise Gaussian, d^2 ~ chi2(m), so the gate keeps
// the true detection with probability P_G (the gate_probability of track/lifecycle.hpp).
//
// The quantiles below are the inverse CDF of the chi-square distribution for 1..8 degrees of
// freedom at P_G = 0.95, 0.99, 0.999, to 9 decimals (the values of scipy.stats.chi2.ppf; the
// tests check them against the closed-form chi-square CDF for integer dof). dof 2 is exactly
// -2 ln(1 - P_G).
//
// Forbidden pairs. Every cost functor of assoc/cost.hpp writes kForbidden (+inf) for a pair
// outside its gate, which is what assoc/linear_assignment.hpp expects: solve_dense treats
// +inf as forbidden, and solve_dense_gated forbids any cost > gate (pass the same finite gate
// value, e.g. CostGate::max_cost). NaN is never written.
#pragma once
#include <array>
#include <cmath>
#include <limits>
#include <string>

#include "fusion/core/errors.hpp"

namespace fusion::assoc {

inline constexpr double kForbidden = std::numeric_limits<double>::infinity();

inline constexpr int kChiSquareMaxDof = 8;
inline constexpr std::array<double, 3> kChiSquareProbabilities{0.95, 0.99, 0.999};

// kChiSquareQuantiles[p][dof - 1], p indexing kChiSquareProbabilities.
inline constexpr std::array<std::array<double, kChiSquareMaxDof>, 3> kChiSquareQuantiles{{
    {3.841458821, 5.991464547, 7.814727903, 9.487729037, 11.070497694, 12.591587244,
     14.067140449, 15.507313056},
    {6.634896601, 9.210340372, 11.344866730, 13.276704136, 15.086272469, 16.811893830,
     18.475306907, 20.090235030},
    {10.827566171, 13.815510558, 16.266236196, 18.466826953, 20.515005652, 22.457744485,
     24.321886348, 26.124481558},
}};

// chi2_{dof}(probability). Throws ConfigurationError unless dof is in [1, 8] and probability is
// one of 0.95, 0.99, 0.999 (within 1e-12).
inline double chi_square_quantile(int dof, double probability) {
  if (dof < 1 || dof > kChiSquareMaxDof)
    throw ConfigurationError("chi_square_quantile: dof must be in [1, " +
                             std::to_string(kChiSquareMaxDof) + "], got " + std::to_string(dof));
  for (std::size_t i = 0; i < kChiSquareProbabilities.size(); ++i)
    if (std::abs(probability - kChiSquareProbabilities[i]) <= 1e-12)
      return kChiSquareQuantiles[i][static_cast<std::size_t>(dof - 1)];
  throw ConfigurationError("chi_square_quantile: probability must be 0.95, 0.99 or 0.999, got " +
                           std::to_string(probability));
}

// A gate on a cost: pairs with cost > max_cost become kForbidden. max_cost must be finite
// (the gated LAP needs a finite gate); ConfigurationError otherwise.
struct CostGate {
  double max_cost = std::numeric_limits<double>::max();

  static CostGate chi_square(int dof, double probability) {
    return CostGate{chi_square_quantile(dof, probability)};
  }
  void validate(const char* who) const {
    if (!std::isfinite(max_cost))
      throw ConfigurationError(std::string(who) + ": gate max_cost must be finite, got " +
                               std::to_string(max_cost));
  }
  // cost itself if within the gate, else kForbidden (NaN also becomes kForbidden).
  double apply(double cost) const { return cost <= max_cost ? cost : kForbidden; }
};

}  // namespace fusion::assoc
