// The bridge between a motion model and a sensor model: the predicted measurement of a state
// and its Jacobian with respect to that state, by the chain rule through the object view,
//
//     z = h(view(x)),     H = dz/dx = (dz/dview) (dview/dx),
//
// for any motion model with an object_view() adapter (motion/view_adapters.hpp,
// motion/with_extent.hpp) and any sensor model (sensor/sensor_model.hpp).
#pragma once
#include "fusion/core/types.hpp"
#include "fusion/motion/view_adapters.hpp"
#include "fusion/sensor/ego_motion.hpp"
#include "fusion/sensor/mount.hpp"
#include "fusion/sensor/sensor_model.hpp"
#include "fusion/state/object_view.hpp"

namespace fusion::sensor {

// False where the sensor model is undefined (z and H then unspecified).
template <class Motion, class Sensor>
inline bool predict_measurement(const Motion& motion, const Sensor& sensor,
                                const Vec<Motion::N>& x, const SensorMount& mount,
                                const SensorMotion& sensor_motion, Vec<Sensor::M>& z,
                                Mat<Sensor::M, Motion::N>& H) {
  const ObjectView<Motion::N> ov = object_view(motion, x);
  Mat<Sensor::M, kViewDim> Hv;
  if (!sensor_h(sensor, ov.v, mount, sensor_motion, z, Hv)) return false;
  H.noalias() = Hv * ov.J;
  return true;
}

// The view components the sensor reads that the motion model does not estimate (it gives
// them as constants, e.g. a zero extent). Non-zero means the pairing makes no sense, such as
// a lidar box sensor on a point model: an engine should reject it at configuration time.
template <class Motion, class Sensor>
constexpr view::Mask missing_view_components() {
  return Sensor::kReads & ~MotionViewTraits<Motion>::kProvides;
}

}  // namespace fusion::sensor
