// build_engine<Motion>(config, noise keys): an Engine<Motion> with the model's own noise
// parameters set from config.motion_noise. Used by the motion registry's builders, one per
// translation unit (csrc/src/engine_motion_<key>.cpp), so that each Engine<Motion> compiles in
// parallel with the others.
#pragma once
#include <cmath>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "fusion/core/errors.hpp"
#include "fusion/engine/config.hpp"
#include "fusion/engine/engine.hpp"
#include "fusion/engine/engine_impl.hpp"
#include "fusion/models/motion.hpp"
#include "fusion/motion/with_extent.hpp"

namespace fusion::engine {

namespace detail {
// The model whose noise members motion_noise sets: Motion::Base for a box model
// (WithExtent<Base>, which also takes extent_noise), the model itself for a point model.
template <class Motion, class = void>
struct NoiseBase {
  using type = Motion;
  static type& of(Motion& m) { return m; }
  static void set_extent_noise(Motion& /*m*/, const ExtentNoise& /*n*/) {}
};
template <class Motion>
struct NoiseBase<Motion, std::void_t<typename Motion::Base>> {
  using type = typename Motion::Base;
  static type& of(Motion& m) { return m.base; }
  static void set_extent_noise(Motion& m, const ExtentNoise& n) { m.noise = n; }
};
}  // namespace detail

// keys: the model's motion_noise names and the (base-)model members they set. An unknown key or
// a value that is not finite and > 0 is a ConfigurationError naming it (and the known keys).
template <class Motion>
std::unique_ptr<EngineBase> build_engine(
    const EngineConfig& cfg,
    const std::vector<std::pair<std::string, double detail::NoiseBase<Motion>::type::*>>& keys) {
  Motion m;
  detail::NoiseBase<Motion>::set_extent_noise(m, cfg.extent_noise);
  for (const auto& [name, value] : cfg.motion_noise) {
    bool found = false;
    std::string known;
    for (const auto& [k, member] : keys) {
      known += (known.empty() ? "" : ", ") + k;
      if (k == name) {
        if (!(value > 0.0 && std::isfinite(value)))
          throw ConfigurationError("motion_noise." + name + " must be finite and > 0, got " +
                                   std::to_string(value));
        detail::NoiseBase<Motion>::of(m).*member = value;
        found = true;
      }
    }
    if (!found)
      throw ConfigurationError("motion_noise: unknown key '" + name + "' for motion '" + cfg.motion +
                               "' (known: " + known + ")");
  }
  return std::make_unique<Engine<Motion>>(cfg, m);
}

}  // namespace fusion::engine
