// Motion models of the tracked 3D boxes, with analytic Jacobians (header-only so that the
// unit tests can check them against finite differences).
//
// Both models share the 10-D state layout of the first seven components, so the
// measurement model (the box is observed directly) and the association costs are common:
//   CV   x = (x, y, z, yaw, l, w, h, vx, vy, vz)           constant velocity, yaw random walk
//   CTRV x = (x, y, z, yaw, l, w, h, v, yaw_rate, vz)      constant turn rate and speed in
//        the ground plane (speed along the heading), constant vertical velocity.
// CTRV is non-linear; the tracker runs it as an EKF with the Jacobian below.
#pragma once
#include <cmath>

#include "fusion/core/angles.hpp"
#include "fusion/core/types.hpp"

namespace fusion::tracking {

enum class MotionKind : int { kCv = 0, kCtrv = 1 };

using BoxState = Vec<10>;
using BoxStateMat = Mat<10, 10>;

// Predicts x by dt seconds in place and writes the Jacobian d f / d x into F.
inline void box_motion_predict(MotionKind kind, BoxState& x, BoxStateMat& F, double dt) {
  F.setIdentity();
  if (kind == MotionKind::kCv) {
    F(0, 7) = F(1, 8) = F(2, 9) = dt;
    x(0) += dt * x(7);
    x(1) += dt * x(8);
    x(2) += dt * x(9);
    return;
  }
  const double yaw = x(3), v = x(7), w = x(8);
  const double s0 = std::sin(yaw), c0 = std::cos(yaw);
  const double yaw1 = yaw + w * dt;
  const double s1 = std::sin(yaw1), c1 = std::cos(yaw1);
  // Below this turn rate the closed form v/w (sin - sin) loses all its digits to
  // cancellation; a second-order expansion in w is exact to O(w^2 dt^3).
  if (std::abs(w) > 1e-4) {
    const double iw = 1.0 / w;
    const double dx = v * iw * (s1 - s0), dy = v * iw * (c0 - c1);
    F(0, 3) = v * iw * (c1 - c0);
    F(1, 3) = v * iw * (s1 - s0);
    F(0, 7) = iw * (s1 - s0);
    F(1, 7) = iw * (c0 - c1);
    F(0, 8) = v * dt * iw * c1 - v * iw * iw * (s1 - s0);
    F(1, 8) = v * dt * iw * s1 - v * iw * iw * (c0 - c1);
    x(0) += dx;
    x(1) += dy;
  } else {
    const double h = 0.5 * dt * dt;
    x(0) += v * (c0 * dt - s0 * w * h);
    x(1) += v * (s0 * dt + c0 * w * h);
    F(0, 3) = -v * (s0 * dt + c0 * w * h);
    F(1, 3) = v * (c0 * dt - s0 * w * h);
    F(0, 7) = c0 * dt - s0 * w * h;
    F(1, 7) = s0 * dt + c0 * w * h;
    F(0, 8) = -v * s0 * h;
    F(1, 8) = v * c0 * h;
  }
  F(2, 9) = dt;
  F(3, 8) = dt;
  x(2) += dt * x(9);
  x(3) = yaw1;  // wrapped by the caller
}

// Ground-plane and vertical velocity (vx, vy, vz) of a state.
inline void box_velocity(MotionKind kind, const BoxState& x, double* v) {
  if (kind == MotionKind::kCv) {
    v[0] = x(7), v[1] = x(8), v[2] = x(9);
  } else {
    v[0] = x(7) * std::cos(x(3)), v[1] = x(7) * std::sin(x(3)), v[2] = x(9);
  }
}

}  // namespace fusion::tracking
