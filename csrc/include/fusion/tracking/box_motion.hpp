// Motion models of the tracked 3D boxes. The first seven state components are the box
// (x, y, z, yaw, l, w, h), so the measurement model (the box is observed directly) and the
// association costs are common to every model; the last three depend on the model:
//   CV       (vx, vy, vz)          constant velocity, yaw a random walk
//   CTRV     (v, yaw_rate, vz)     constant turn rate and speed along the heading
//   CTRA     (v, yaw_rate, a)      constant turn rate and longitudinal acceleration; z constant
//   BICYCLE  (v, steer, vz)        kinematic bicycle, yaw rate = v tan(steer) / wheelbase
// The ground-plane part of each non-linear model is the library's own motion model
// (fusion::CTRV, CTRA, KinematicBicycle in models/motion.hpp) applied to the box state's
// components through an index map, so the Jacobians are the same tested analytic ones.
#pragma once
#include <array>
#include <cmath>

#include "fusion/core/angles.hpp"
#include "fusion/core/types.hpp"
#include "fusion/models/motion.hpp"

namespace fusion::tracking {

enum class MotionKind : int { kCv = 0, kCtrv = 1, kCtra = 2, kBicycle = 3 };

using BoxState = Vec<10>;
using BoxStateMat = Mat<10, 10>;

namespace detail {

// x[idx] <- model.f(x[idx]) and F[idx, idx] <- model.jacobian(x[idx]) (F starts as I).
template <class Model>
inline void predict_components(const Model& model, const std::array<int, Model::N>& idx,
                               BoxState& x, BoxStateMat& F, double dt) {
  Vec<Model::N> s;
  for (int k = 0; k < Model::N; ++k) s(k) = x(idx[static_cast<std::size_t>(k)]);
  const Mat<Model::N, Model::N> J = model.jacobian(s, dt);
  const Vec<Model::N> s1 = model.f(s, dt);
  for (int a = 0; a < Model::N; ++a) {
    const int ia = idx[static_cast<std::size_t>(a)];
    x(ia) = s1(a);
    for (int b = 0; b < Model::N; ++b) F(ia, idx[static_cast<std::size_t>(b)]) = J(a, b);
  }
}

}  // namespace detail

// Predicts x by dt seconds in place and writes the Jacobian d f / d x into F.
// wheelbase_m is used by the bicycle model only.
inline void box_motion_predict(MotionKind kind, BoxState& x, BoxStateMat& F, double dt,
                               double wheelbase_m = 2.7) {
  F.setIdentity();
  switch (kind) {
    case MotionKind::kCv:
      F(0, 7) = F(1, 8) = F(2, 9) = dt;
      x(0) += dt * x(7);
      x(1) += dt * x(8);
      x(2) += dt * x(9);
      return;
    case MotionKind::kCtrv:  // (x, y, v, yaw, yaw_rate) = components 0, 1, 7, 3, 8
      detail::predict_components(CTRV{}, {0, 1, 7, 3, 8}, x, F, dt);
      break;
    case MotionKind::kCtra:  // (x, y, v, yaw, yaw_rate, a) = components 0, 1, 7, 3, 8, 9
      detail::predict_components(CTRA{}, {0, 1, 7, 3, 8, 9}, x, F, dt);
      return;  // z is constant: component 9 holds the acceleration
    case MotionKind::kBicycle: {  // (x, y, v, yaw, steer) = components 0, 1, 7, 3, 8
      KinematicBicycle bike;
      bike.wheelbase_m = wheelbase_m;
      detail::predict_components(bike, {0, 1, 7, 3, 8}, x, F, dt);
      break;
    }
  }
  F(2, 9) = dt;
  x(2) += dt * x(9);
}

// Ground-plane and vertical velocity (vx, vy, vz) of a state.
inline void box_velocity(MotionKind kind, const BoxState& x, double* v) {
  if (kind == MotionKind::kCv) {
    v[0] = x(7), v[1] = x(8), v[2] = x(9);
    return;
  }
  v[0] = x(7) * std::cos(x(3));
  v[1] = x(7) * std::sin(x(3));
  v[2] = kind == MotionKind::kCtra ? 0.0 : x(9);
}

}  // namespace fusion::tracking
