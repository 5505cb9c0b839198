// The bank registry: which motion and sensor models the filter banks are bound for, one line
// per model. Every compatible (motion, sensor) pair is bound for each algorithm as the Python
// class <Prefix>Bank_<Motion>_<Sensor> (EkfBank_CV2D_Position2D, ...), the name the Python
// registry (fusion.filters.bank) looks up. Adding a model to a bank is one line below (after its
// own file in csrc/include/fusion/models/ and its binding in register_models.cpp); nothing is
// written per pair.
#pragma once
#include <string>
#include <tuple>
#include <type_traits>

#include "banks.hpp"
#include "fusion/models/measurement.hpp"
#include "fusion/models/motion.hpp"

namespace fusion::bindings {

// A model type with the name Python knows it by (register_models.cpp).
template <class T>
struct Named {
  using type = T;
  const char* name;
};

// ---- the registry: one line per model ----
inline constexpr auto kBankMotions = std::make_tuple(
    Named<CV2D>{"CV2D"},
    Named<CV3D>{"CV3D"},
    Named<CA2D>{"CA2D"},
    Named<CA3D>{"CA3D"},
    Named<CTRV>{"CTRV"},
    Named<CTRA>{"CTRA"},
    Named<ConstantTurn>{"ConstantTurn"});
inline constexpr auto kBankSensors = std::make_tuple(
    Named<Position2D>{"Position2D"},
    Named<RadarPolar>{"RadarPolar"},
    Named<CameraPinhole>{"CameraPinhole"},
    Named<Position3D>{"Position3D"});

// Which pairs make sense. A Position3D measurement needs a height in the state: only the 3D
// Cartesian models (ConstantVelocity<3>, ConstantAcceleration<3>) have one; the planar models
// would report z = 0 forever and the filter could never correct it.
template <class Motion>
inline constexpr bool kHasHeight = false;
template <>
inline constexpr bool kHasHeight<CV3D> = true;
template <>
inline constexpr bool kHasHeight<CA3D> = true;

template <class Motion, class Sensor>
inline constexpr bool kBankPairSupported = !std::is_same_v<Sensor, Position3D> || kHasHeight<Motion>;

namespace detail {
template <BankAlgorithm Algo, class MoNamed, class SeNamed>
void bind_pair(py::module_& m, const std::string& prefix, const MoNamed& mo, const SeNamed& se) {
  using Mo = typename MoNamed::type;
  using Se = typename SeNamed::type;
  if constexpr (kBankPairSupported<Mo, Se>)
    bind_bank<Mo, Se, Algo>(m, prefix + "Bank_" + mo.name + "_" + se.name);
}

template <BankAlgorithm Algo, class MoNamed>
void bind_motion_row(py::module_& m, const std::string& prefix, const MoNamed& mo) {
  std::apply([&](const auto&... se) { (bind_pair<Algo>(m, prefix, mo, se), ...); }, kBankSensors);
}
}  // namespace detail

// Binds <prefix>Bank_<Motion>_<Sensor> for every supported pair of the registry.
template <BankAlgorithm Algo>
void bind_registered_banks(py::module_& m, const std::string& prefix) {
  std::apply([&](const auto&... mo) { (detail::bind_motion_row<Algo>(m, prefix, mo), ...); },
             kBankMotions);
}

}  // namespace fusion::bindings
