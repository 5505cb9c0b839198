// The engine's sensor registry: which sensor models (sensor/*.hpp) an engine can run, by key.
// Adding a sensor to the engine = its model file in sensor/ + one SensorKey specialisation
// + one entry in EngineSensorModels below (the engine, the config check and the binding loop
// over the list; no pair is written by hand).
#pragma once
#include <variant>

#include "fusion/sensor/all.hpp"

namespace fusion::engine {

template <class Sensor>
struct SensorKey;  // static constexpr const char* kKey

template <>
struct SensorKey<sensor::LidarBox3D> {
  static constexpr const char* kKey = "lidar_box3d";
};
template <>
struct SensorKey<sensor::CameraBox2D> {
  static constexpr const char* kKey = "camera_box2d";
};
template <>
struct SensorKey<sensor::RadarPolar> {
  static constexpr const char* kKey = "radar";
};
template <>
struct SensorKey<sensor::Position2D> {
  static constexpr const char* kKey = "position2d";
};
template <>
struct SensorKey<sensor::Position3D> {
  static constexpr const char* kKey = "position3d";
};

using EngineSensorModels =
    sensor::TypeList<sensor::LidarBox3D, sensor::CameraBox2D, sensor::RadarPolar, sensor::Position3D,
                     sensor::Position2D>;

// The cost and associator registries: engine/costs/registry.hpp (EngineCosts) and
// engine/associators/registry.hpp (EngineAssociators).

}  // namespace fusion::engine
