// build_engine<Motion>(config, noise keys): an Engine<Motion> with the model's own noise
// parameters set from config.motion_noise. Used by the motion registry's builders, one per
// translation unit (csrc/src/engine_motion_<key>.cpp), so that each Engine<Motion> compiles in
// parallel with the others.
#pragma once
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fusion/core/errors.hpp"
#include "fusion/engine/config.hpp"
#include "fusion/engine/engine.hpp"
#include "fusion/engine/engine_impl.hpp"
#include "fusion/models/motion.hpp"
#include "fusion/motion/with_extent.hpp"

namespace fusion::engine {

// keys: the model's motion_noise names and the base-model members they set. An unknown key or
// a value that is not finite and > 0 is a ConfigurationError naming it (and the known keys).
template <class Motion>
std::unique_ptr<EngineBase> build_engine(
    const EngineConfig& cfg, const std::vector<std::pair<std::string, double Motion::Base::*>>& keys) {
  Motion m;
  m.noise = cfg.extent_noise;
  for (const auto& [name, value] : cfg.motion_noise) {
    bool found = false;
    std::string known;
    for (const auto& [k, member] : keys) {
      known += (known.empty() ? "" : ", ") + k;
      if (k == name) {
        if (!(value > 0.0 && std::isfinite(value)))
          throw ConfigurationError("motion_noise." + name + " must be finite and > 0, got " +
                                   std::to_string(value));
        m.base.*member = value;
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
