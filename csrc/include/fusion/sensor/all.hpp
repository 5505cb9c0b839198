// The registry of sensor models: adding a sensor is one file in sensor/ plus one entry here.
// An engine turns the list into a std::variant of models and a binding loops over it, so no
// (motion, sensor) pair is ever instantiated by hand.
#pragma once
#include <cstddef>
#include <variant>

#include "fusion/sensor/camera_box2d.hpp"
#include "fusion/sensor/camera_point.hpp"
#include "fusion/sensor/lidar_box3d.hpp"
#include "fusion/sensor/position.hpp"
#include "fusion/sensor/radar_polar.hpp"

namespace fusion::sensor {

// A compile-time list of types. (Kept here until a shared core/type_list.hpp exists.)
template <class... Ts>
struct TypeList {
  static constexpr std::size_t size = sizeof...(Ts);
};

// Calls fn(T*) (a null pointer of each type, to carry the type) for every T in the list.
template <class... Ts, class Fn>
constexpr void for_each_type(TypeList<Ts...> /*list*/, Fn&& fn) {
  (fn(static_cast<Ts*>(nullptr)), ...);
}

template <class List>
struct VariantOf;
template <class... Ts>
struct VariantOf<TypeList<Ts...>> {
  using type = std::variant<Ts...>;
};

using SensorModels =
    TypeList<Position2D, Position3D, RadarPolar, LidarBox3D, CameraBox2D, CameraPoint>;  // registry

using AnySensorModel = VariantOf<SensorModels>::type;

}  // namespace fusion::sensor
