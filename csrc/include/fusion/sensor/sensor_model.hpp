// The sensor-model contract, and the uniform calls an engine makes through it.
//
// A sensor model S reads only the object view (state/object_view.hpp) of a target, the
// sensor's mount (sensor/mount.hpp) and, if kUsesSensorMotion, the sensor's own velocity
// (sensor/ego_motion.hpp). It provides:
//
//   static constexpr int M;                              measurement dimension
//   enum Idx : int { ... };                              names of the M components
//   static constexpr std::array<bool, M> kAngles;        components whose residuals wrap
//   static constexpr bool kLinear;                       dz/dview constant for a fixed mount
//   static constexpr view::Mask kReads;                  view components a motion model must
//                                                        provide for h to make sense
//   static constexpr bool kUsesSensorMotion;             whether h takes a SensorMotion
//   static constexpr bool kHasInverse;                   whether inverse() exists
//
//   template <class Out>                                 value only (UKF sigma points); Out is
//   bool h(view, mount, [motion,] Out&& z) const;        a Vec<M> or a column block
//   bool h(view, mount, [motion,] Vec<M>& z,             value and Jacobian dz/dview
//          Mat<M, kViewDim>& H) const;
//   static Vec<M> residual(const Vec<M>& z,              z - zhat, angles wrapped (and any
//                          const Vec<M>& zhat);          model-specific ambiguity resolved)
//   PartialView inverse(z, mount, [motion]) const;       measurement -> view for track birth,
//                                                        with the components left unknown
//
// h returns false where the model is undefined (target at the radar origin, box corner behind
// the camera); z and H are then unspecified and the filter skips the update. h never tests the
// field of view, never throws and never allocates (fixed-size Eigen only).
//
// Why the optional motion argument rather than one signature for all: most models do not
// depend on the sensor's velocity, and their call should say so. sensor_h() below gives the
// engine the uniform call.
#pragma once
#include <array>
#include <cstddef>

#include "fusion/core/angles.hpp"
#include "fusion/core/types.hpp"
#include "fusion/sensor/ego_motion.hpp"
#include "fusion/sensor/mount.hpp"
#include "fusion/state/object_view.hpp"

namespace fusion::sensor {

// z - zhat with the components flagged in `angles` wrapped to [-pi, pi).
template <int M>
inline Vec<M> wrapped_residual(const Vec<M>& z, const Vec<M>& zhat,
                               const std::array<bool, M>& angles) {
  Vec<M> y = z - zhat;
  for (int i = 0; i < M; ++i)
    if (angles[static_cast<std::size_t>(i)]) y(i) = wrap_angle(y(i));
  return y;
}

// Uniform value-only call: passes the sensor motion only to the models that use it.
template <class Sensor, class Out>
inline bool sensor_h(const Sensor& s, const ViewVec& v, const SensorMount& mount,
                     const SensorMotion& motion, Out&& z) {
  if constexpr (Sensor::kUsesSensorMotion) {
    return s.h(v, mount, motion, z);
  } else {
    (void)motion;
    return s.h(v, mount, z);
  }
}

// Uniform value-and-Jacobian call.
template <class Sensor>
inline bool sensor_h(const Sensor& s, const ViewVec& v, const SensorMount& mount,
                     const SensorMotion& motion, Vec<Sensor::M>& z,
                     Mat<Sensor::M, kViewDim>& H) {
  if constexpr (Sensor::kUsesSensorMotion) {
    return s.h(v, mount, motion, z, H);
  } else {
    (void)motion;
    return s.h(v, mount, z, H);
  }
}

// Uniform inverse (track birth).
template <class Sensor>
inline PartialView sensor_inverse(const Sensor& s, const Vec<Sensor::M>& z,
                                  const SensorMount& mount, const SensorMotion& motion) {
  static_assert(Sensor::kHasInverse, "this sensor model has no inverse");
  if constexpr (Sensor::kUsesSensorMotion) {
    return s.inverse(z, mount, motion);
  } else {
    (void)motion;
    return s.inverse(z, mount);
  }
}

}  // namespace fusion::sensor
