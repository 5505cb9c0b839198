// Motion registry entry "imm_cv_ctrv_box": an interacting multiple model per track
// (motion/imm_motion.hpp) of mode 0, the constant-velocity box (cv_box), and mode 1, the CTRV box
// with a vertical velocity (ctrv_vz_box). The track's x, P are the combined estimate in the
// cv_box layout (x, y, z, vx, vy, vz, yaw, l, w, h); p0_diag and q_diag_per_s are in that layout
// (q_diag_per_s, if given, replaces the CV mode's Q; the CTRV mode keeps its model Q).
//
// motion_noise keys: cv_accel_std (CV3D sigma_a), ctrv_accel_std, ctrv_yaw_accel_std,
// ctrv_vertical_accel_std (the CTRV mode's sigma_a, sigma_yawdd, vertical_accel_std),
// yaw_rate_p0 (the CTRV yaw rate's variance at birth, rad^2/s^2: the one component the cv_box
// layout lacks). extent_noise applies to both modes. imm_transition (2 x 2; default
// [[0.95, 0.05], [0.05, 0.95]] per prediction step), imm_mu0 (default [0.5, 0.5]).
#include <cmath>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "fusion/core/errors.hpp"
#include "fusion/engine/engine_impl.hpp"
#include "fusion/motion/imm_motion.hpp"

namespace fusion::engine {

std::unique_ptr<EngineBase> make_imm_cv_ctrv_box_engine(const EngineConfig& config) {
  using Motion = ImmCvCtrvBox;
  constexpr int R = Motion::R;
  CVBox cv;
  CTRVVzBox ctrv;
  cv.noise = ctrv.noise = config.extent_noise;
  double yaw_rate_p0 = 0.1;
  const std::pair<const char*, double*> keys[] = {
      {"cv_accel_std", &cv.base.sigma_a},
      {"ctrv_accel_std", &ctrv.base.sigma_a},
      {"ctrv_yaw_accel_std", &ctrv.base.sigma_yawdd},
      {"ctrv_vertical_accel_std", &ctrv.base.vertical_accel_std},
      {"yaw_rate_p0", &yaw_rate_p0},
  };
  for (const auto& [name, value] : config.motion_noise) {
    double* target = nullptr;
    std::string known;
    for (const auto& [k, member] : keys) {
      known += (known.empty() ? "" : ", ") + std::string(k);
      if (name == k) target = member;
    }
    if (target == nullptr)
      throw ConfigurationError("motion_noise: unknown key '" + name + "' for motion '" + config.motion +
                               "' (known: " + known + ")");
    if (!(value > 0.0 && std::isfinite(value)))
      throw ConfigurationError("motion_noise." + name + " must be finite and > 0, got " + std::to_string(value));
    *target = value;
  }
  Motion::Markov M;
  M << 0.95, 0.05, 0.05, 0.95;
  if (!config.imm_transition.empty()) {
    if (config.imm_transition.size() != static_cast<std::size_t>(R * R))
      throw ConfigurationError("imm_transition must be " + std::to_string(R) + " x " + std::to_string(R) +
                               " (motion '" + config.motion + "'), got " + std::to_string(config.imm_transition.size()) +
                               " values");
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < R; ++j) M(i, j) = config.imm_transition[static_cast<std::size_t>(i * R + j)];
  }
  Motion::ModeVec mu0 = Motion::ModeVec::Constant(1.0 / R);
  if (!config.imm_mu0.empty()) {
    if (config.imm_mu0.size() != static_cast<std::size_t>(R))
      throw ConfigurationError("imm_mu0 must have " + std::to_string(R) + " values (motion '" + config.motion +
                               "'), got " + std::to_string(config.imm_mu0.size()));
    for (int j = 0; j < R; ++j) mu0(j) = config.imm_mu0[static_cast<std::size_t>(j)];
  }
  try {
    return std::make_unique<Engine<Motion>>(config, Motion(std::make_tuple(cv, ctrv), M, mu0, yaw_rate_p0));
  } catch (const ConfigurationError& e) {
    const std::string what = e.what();
    if (what.rfind("IMM: ", 0) == 0) throw ConfigurationError("imm_transition: " + what.substr(5));
    throw;
  }
}

}  // namespace fusion::engine
