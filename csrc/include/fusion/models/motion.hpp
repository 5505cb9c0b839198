// Motion models: state transition f(x, dt), its analytic Jacobian F = df/dx, and the
// discrete process noise Q(x, dt). Each model names its state components (enum) and lists
// which of them are angles (wrapped to [-pi, pi) after every step and in UKF means).
//
// Noise parameters are standard deviations of white noise driving the highest derivative,
// held constant over a step (piecewise-constant, "discrete white noise"):
//   CV:   sigma_a     [m/s^2]   acceleration
//   CA:   sigma_j     [m/s^3]   jerk
//   CTRV: sigma_a     [m/s^2]   longitudinal acceleration, sigma_yawdd [rad/s^2] yaw acceleration
//   CTRA: sigma_j     [m/s^3]   longitudinal jerk,         sigma_yawdd [rad/s^2] yaw acceleration
//   CT:   sigma_a     [m/s^2]   Cartesian acceleration,    sigma_yawdd [rad/s^2] turn-rate change
#pragma once
#include <array>
#include <cmath>

#include "fusion/core/angles.hpp"
#include "fusion/core/types.hpp"
#include "fusion/models/kinematics.hpp"

namespace fusion {

// Below this |omega * dt| the turn models use their series in omega (second order, error
// ~ (omega dt)^3); the closed forms divide by omega^3 and would lose precision there.
inline constexpr double kSmallTurn = 1e-3;

// ---------------------------------------------------------------- constant velocity
template <int D>
struct ConstantVelocity {
  static_assert(D == 2 || D == 3, "ConstantVelocity is 2D or 3D");
  static constexpr int N = 2 * D;
  static constexpr bool kLinear = true;
  static constexpr std::array<bool, N> kAngles{};  // no angular components
  double sigma_a = 1.0;                            // [m/s^2]

  // State: positions 0..D-1, velocities D..2D-1.
  static constexpr int pos(int axis) { return axis; }
  static constexpr int vel(int axis) { return D + axis; }

  Vec<N> f(const Vec<N>& x, double dt) const {
    Vec<N> out = x;
    for (int a = 0; a < D; ++a) out(pos(a)) += dt * x(vel(a));
    return out;
  }
  Mat<N, N> jacobian(const Vec<N>& /*x*/, double dt) const {
    Mat<N, N> F = Mat<N, N>::Identity();
    for (int a = 0; a < D; ++a) F(pos(a), vel(a)) = dt;
    return F;
  }
  Mat<N, N> Q(const Vec<N>& /*x*/, double dt) const {
    // G = [dt^2/2, dt] per axis, Q = G G^T sigma_a^2.
    const double q = sigma_a * sigma_a, g0 = 0.5 * dt * dt, g1 = dt;
    Mat<N, N> Qm = Mat<N, N>::Zero();
    for (int a = 0; a < D; ++a) {
      Qm(pos(a), pos(a)) = g0 * g0 * q;
      Qm(pos(a), vel(a)) = Qm(vel(a), pos(a)) = g0 * g1 * q;
      Qm(vel(a), vel(a)) = g1 * g1 * q;
    }
    return Qm;
  }
  // Kinematic point only (no Jacobian): what the UKF needs for each sigma point.
  KinVec kinematic_point(const Vec<N>& x) const {
    KinVec k = KinVec::Zero();
    for (int a = 0; a < D; ++a) {
      k(kPx + a) = x(pos(a));
      k(kVx + a) = x(vel(a));
    }
    return k;
  }
  Kinematics<N> kinematics(const Vec<N>& x) const {
    Kinematics<N> out;
    for (int a = 0; a < D; ++a) {
      out.k(kPx + a) = x(pos(a));
      out.k(kVx + a) = x(vel(a));
      out.J(kPx + a, pos(a)) = 1.0;
      out.J(kVx + a, vel(a)) = 1.0;
    }
    return out;
  }
};

// ---------------------------------------------------------------- constant acceleration
template <int D>
struct ConstantAcceleration {
  static_assert(D == 2 || D == 3, "ConstantAcceleration is 2D or 3D");
  static constexpr int N = 3 * D;
  static constexpr bool kLinear = true;
  static constexpr std::array<bool, N> kAngles{};
  double sigma_j = 1.0;  // [m/s^3]

  // State: positions 0..D-1, velocities D..2D-1, accelerations 2D..3D-1.
  static constexpr int pos(int axis) { return axis; }
  static constexpr int vel(int axis) { return D + axis; }
  static constexpr int acc(int axis) { return 2 * D + axis; }

  Vec<N> f(const Vec<N>& x, double dt) const { return jacobian(x, dt) * x; }
  Mat<N, N> jacobian(const Vec<N>& /*x*/, double dt) const {
    Mat<N, N> F = Mat<N, N>::Identity();
    for (int a = 0; a < D; ++a) {
      F(pos(a), vel(a)) = dt;
      F(pos(a), acc(a)) = 0.5 * dt * dt;
      F(vel(a), acc(a)) = dt;
    }
    return F;
  }
  Mat<N, N> Q(const Vec<N>& /*x*/, double dt) const {
    // G = [dt^3/6, dt^2/2, dt] per axis, Q = G G^T sigma_j^2.
    const double q = sigma_j * sigma_j;
    const double g[3] = {dt * dt * dt / 6.0, 0.5 * dt * dt, dt};
    Mat<N, N> Qm = Mat<N, N>::Zero();
    for (int a = 0; a < D; ++a) {
      const int idx[3] = {pos(a), vel(a), acc(a)};
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) Qm(idx[i], idx[j]) = g[i] * g[j] * q;
    }
    return Qm;
  }
  // Kinematic point only (no Jacobian): what the UKF needs for each sigma point.
  KinVec kinematic_point(const Vec<N>& x) const {
    KinVec k = KinVec::Zero();
    for (int a = 0; a < D; ++a) {
      k(kPx + a) = x(pos(a));
      k(kVx + a) = x(vel(a));
    }
    return k;
  }
  Kinematics<N> kinematics(const Vec<N>& x) const {
    Kinematics<N> out;
    for (int a = 0; a < D; ++a) {
      out.k(kPx + a) = x(pos(a));
      out.k(kVx + a) = x(vel(a));
      out.J(kPx + a, pos(a)) = 1.0;
      out.J(kVx + a, vel(a)) = 1.0;
    }
    return out;
  }
};

// ---------------------------------------------------------------- CTRV
// Constant turn rate and velocity (speed and heading form).
struct CTRV {
  enum Idx : int { X = 0, Y = 1, V = 2, YAW = 3, YAW_RATE = 4 };
  static constexpr int N = 5;
  static constexpr bool kLinear = false;
  static constexpr std::array<bool, N> kAngles{false, false, false, true, false};
  double sigma_a = 1.0;      // [m/s^2]
  double sigma_yawdd = 0.5;  // [rad/s^2]

  Vec<N> f(const Vec<N>& x, double dt) const {
    const double psi = x(YAW), w = x(YAW_RATE);
    Vec<N> out;
    f_trig(x, dt, std::sin(psi), std::cos(psi), std::sin(psi + w * dt), std::cos(psi + w * dt),
           out);
    return out;
  }
  // f given s0, c0 = sin, cos(yaw) and s1, c1 = sin, cos(yaw + yaw_rate dt): the UKF
  // obtains these for all sigma points from far fewer sin/cos calls (see ukf.hpp). Writes
  // straight into out (e.g. a column of the sigma-point matrix, which may be x itself: every
  // input is read first) to avoid a copy that would stall on store forwarding.
  template <class Out>
  void f_trig(const Vec<N>& x, double dt, double s0, double c0, double s1, double c1,
              Out&& out) const {
    const double v = x(V), psi = x(YAW), w = x(YAW_RATE);
    double px = x(X), py = x(Y);
    if (std::abs(w * dt) > kSmallTurn) {
      px += v / w * (s1 - s0);
      py += v / w * (c0 - c1);
    } else {  // second-order series in w
      const double T = dt, T2 = T * T, T3 = T2 * T;
      px += v * (c0 * T - s0 * w * T2 / 2.0 - c0 * w * w * T3 / 6.0);
      py += v * (s0 * T + c0 * w * T2 / 2.0 - s0 * w * w * T3 / 6.0);
    }
    out(X) = px;
    out(Y) = py;
    out(V) = v;
    out(YAW) = wrap_angle(psi + w * dt);
    out(YAW_RATE) = w;
  }
  Mat<N, N> jacobian(const Vec<N>& x, double dt) const {
    const double v = x(V), psi = x(YAW), w = x(YAW_RATE), T = dt;
    const double s0 = std::sin(psi), c0 = std::cos(psi);
    Mat<N, N> F = Mat<N, N>::Identity();
    if (std::abs(w * T) > kSmallTurn) {
      const double s1 = std::sin(psi + w * T), c1 = std::cos(psi + w * T);
      F(X, V) = (s1 - s0) / w;
      F(X, YAW) = v / w * (c1 - c0);
      F(X, YAW_RATE) = -v / (w * w) * (s1 - s0) + v / w * T * c1;
      F(Y, V) = (c0 - c1) / w;
      F(Y, YAW) = v / w * (s1 - s0);
      F(Y, YAW_RATE) = -v / (w * w) * (c0 - c1) + v / w * T * s1;
    } else {
      const double T2 = T * T, T3 = T2 * T, w2 = w * w;
      F(X, V) = c0 * T - s0 * w * T2 / 2.0 - c0 * w2 * T3 / 6.0;
      F(X, YAW) = v * (-s0 * T - c0 * w * T2 / 2.0 + s0 * w2 * T3 / 6.0);
      F(X, YAW_RATE) = v * (-s0 * T2 / 2.0 - c0 * w * T3 / 3.0);
      F(Y, V) = s0 * T + c0 * w * T2 / 2.0 - s0 * w2 * T3 / 6.0;
      F(Y, YAW) = v * (c0 * T - s0 * w * T2 / 2.0 - c0 * w2 * T3 / 6.0);
      F(Y, YAW_RATE) = v * (c0 * T2 / 2.0 - s0 * w * T3 / 3.0);
    }
    F(YAW, YAW_RATE) = T;
    return F;
  }
  Mat<N, N> Q(const Vec<N>& x, double dt) const {
    const double s0 = std::sin(x(YAW)), c0 = std::cos(x(YAW)), h = 0.5 * dt * dt;
    Mat<N, 2> G = Mat<N, 2>::Zero();
    G(X, 0) = h * c0;
    G(Y, 0) = h * s0;
    G(V, 0) = dt;
    G(YAW, 1) = h;
    G(YAW_RATE, 1) = dt;
    const Vec<2> q(sigma_a * sigma_a, sigma_yawdd * sigma_yawdd);
    return G * q.asDiagonal() * G.transpose();
  }
  KinVec kinematic_point(const Vec<N>& x) const {
    return kinematic_point_trig(x, std::sin(x(YAW)), std::cos(x(YAW)));
  }
  // Kinematic point given s, c = sin, cos(yaw).
  KinVec kinematic_point_trig(const Vec<N>& x, double s, double c) const {
    const double v = x(V);
    KinVec k;
    k << x(X), x(Y), 0.0, v * c, v * s, 0.0;
    return k;
  }
  Kinematics<N> kinematics(const Vec<N>& x) const {
    Kinematics<N> out;
    const double s = std::sin(x(YAW)), c = std::cos(x(YAW)), v = x(V);
    out.k(kPx) = x(X);
    out.k(kPy) = x(Y);
    out.k(kVx) = v * c;
    out.k(kVy) = v * s;
    out.J(kPx, X) = 1.0;
    out.J(kPy, Y) = 1.0;
    out.J(kVx, V) = c;
    out.J(kVx, YAW) = -v * s;
    out.J(kVy, V) = s;
    out.J(kVy, YAW) = v * c;
    return out;
  }
};

// ---------------------------------------------------------------- CTRA
// Constant turn rate and (longitudinal) acceleration.
struct CTRA {
  enum Idx : int { X = 0, Y = 1, V = 2, YAW = 3, YAW_RATE = 4, ACC = 5 };
  static constexpr int N = 6;
  static constexpr bool kLinear = false;
  static constexpr std::array<bool, N> kAngles{false, false, false, true, false, false};
  double sigma_j = 1.0;      // [m/s^3]
  double sigma_yawdd = 0.5;  // [rad/s^2]

  Vec<N> f(const Vec<N>& x, double dt) const {
    const double v = x(V), psi = x(YAW), w = x(YAW_RATE), a = x(ACC), T = dt;
    const double s0 = std::sin(psi), c0 = std::cos(psi);
    Vec<N> out = x;
    if (std::abs(w * T) > kSmallTurn) {
      const double s1 = std::sin(psi + w * T), c1 = std::cos(psi + w * T), vT = v + a * T;
      out(X) += vT * s1 / w - v * s0 / w + a * (c1 - c0) / (w * w);
      out(Y) += -vT * c1 / w + v * c0 / w + a * (s1 - s0) / (w * w);
    } else {  // integral of (v + a t) cos(psi + w t) with cos expanded to second order in w
      const double T2 = T * T, T3 = T2 * T, T4 = T3 * T;
      const double d0 = v * T + a * T2 / 2.0, d1 = v * T2 / 2.0 + a * T3 / 3.0;
      const double d2 = v * T3 / 3.0 + a * T4 / 4.0;
      out(X) += c0 * d0 - w * s0 * d1 - 0.5 * w * w * c0 * d2;
      out(Y) += s0 * d0 + w * c0 * d1 - 0.5 * w * w * s0 * d2;
    }
    out(V) = v + a * T;
    out(YAW) = wrap_angle(psi + w * T);
    return out;
  }
  Mat<N, N> jacobian(const Vec<N>& x, double dt) const {
    const double v = x(V), psi = x(YAW), w = x(YAW_RATE), a = x(ACC), T = dt;
    const double s0 = std::sin(psi), c0 = std::cos(psi);
    Mat<N, N> F = Mat<N, N>::Identity();
    if (std::abs(w * T) > kSmallTurn) {
      const double s1 = std::sin(psi + w * T), c1 = std::cos(psi + w * T), vT = v + a * T;
      const double w2 = w * w, w3 = w2 * w;
      F(X, V) = (s1 - s0) / w;
      F(X, ACC) = T * s1 / w + (c1 - c0) / w2;
      F(X, YAW) = vT * c1 / w - v * c0 / w + a * (s0 - s1) / w2;
      F(X, YAW_RATE) = vT * (T * c1 / w - s1 / w2) + v * s0 / w2 - a * T * s1 / w2 -
                       2.0 * a * (c1 - c0) / w3;
      F(Y, V) = (c0 - c1) / w;
      F(Y, ACC) = -T * c1 / w + (s1 - s0) / w2;
      F(Y, YAW) = vT * s1 / w - v * s0 / w + a * (c1 - c0) / w2;
      F(Y, YAW_RATE) = vT * (T * s1 / w + c1 / w2) - v * c0 / w2 + a * T * c1 / w2 -
                       2.0 * a * (s1 - s0) / w3;
    } else {
      const double T2 = T * T, T3 = T2 * T, T4 = T3 * T;
      const double d0 = v * T + a * T2 / 2.0, d1 = v * T2 / 2.0 + a * T3 / 3.0;
      const double d2 = v * T3 / 3.0 + a * T4 / 4.0;
      const double h2 = 0.5 * w * w;
      F(X, V) = c0 * T - w * s0 * T2 / 2.0 - h2 * c0 * T3 / 3.0;
      F(X, ACC) = c0 * T2 / 2.0 - w * s0 * T3 / 3.0 - h2 * c0 * T4 / 4.0;
      F(X, YAW) = -s0 * d0 - w * c0 * d1 + h2 * s0 * d2;
      F(X, YAW_RATE) = -s0 * d1 - w * c0 * d2;
      F(Y, V) = s0 * T + w * c0 * T2 / 2.0 - h2 * s0 * T3 / 3.0;
      F(Y, ACC) = s0 * T2 / 2.0 + w * c0 * T3 / 3.0 - h2 * s0 * T4 / 4.0;
      F(Y, YAW) = c0 * d0 - w * s0 * d1 - h2 * c0 * d2;
      F(Y, YAW_RATE) = c0 * d1 - w * s0 * d2;
    }
    F(V, ACC) = T;
    F(YAW, YAW_RATE) = T;
    return F;
  }
  Mat<N, N> Q(const Vec<N>& x, double dt) const {
    const double s0 = std::sin(x(YAW)), c0 = std::cos(x(YAW));
    const double T = dt, T2 = T * T, T3 = T2 * T;
    Mat<N, 2> G = Mat<N, 2>::Zero();
    G(X, 0) = T3 / 6.0 * c0;
    G(Y, 0) = T3 / 6.0 * s0;
    G(V, 0) = T2 / 2.0;
    G(ACC, 0) = T;
    G(YAW, 1) = T2 / 2.0;
    G(YAW_RATE, 1) = T;
    const Vec<2> q(sigma_j * sigma_j, sigma_yawdd * sigma_yawdd);
    return G * q.asDiagonal() * G.transpose();
  }
  KinVec kinematic_point(const Vec<N>& x) const {
    const double s = std::sin(x(YAW)), c = std::cos(x(YAW)), v = x(V);
    KinVec k;
    k << x(X), x(Y), 0.0, v * c, v * s, 0.0;
    return k;
  }
  Kinematics<N> kinematics(const Vec<N>& x) const {
    Kinematics<N> out;
    const double s = std::sin(x(YAW)), c = std::cos(x(YAW)), v = x(V);
    out.k(kPx) = x(X);
    out.k(kPy) = x(Y);
    out.k(kVx) = v * c;
    out.k(kVy) = v * s;
    out.J(kPx, X) = 1.0;
    out.J(kPy, Y) = 1.0;
    out.J(kVx, V) = c;
    out.J(kVx, YAW) = -v * s;
    out.J(kVy, V) = s;
    out.J(kVy, YAW) = v * c;
    return out;
  }
};

// ---------------------------------------------------------------- Cartesian constant turn
// Coordinated turn with Cartesian velocity and turn rate as the fifth component.
struct ConstantTurn {
  enum Idx : int { X = 0, Y = 1, VX = 2, VY = 3, OMEGA = 4 };
  static constexpr int N = 5;
  static constexpr bool kLinear = false;
  static constexpr std::array<bool, N> kAngles{};  // omega is a rate, not an angle
  double sigma_a = 1.0;      // [m/s^2]
  double sigma_yawdd = 0.1;  // [rad/s^2]

  // sin(wT)/w, (1-cos(wT))/w and their derivatives in w.
  struct Terms {
    double a, b, da, db, c, s;
  };
  static Terms terms(double w, double T) {
    Terms t{};
    t.c = std::cos(w * T);
    t.s = std::sin(w * T);
    if (std::abs(w * T) > kSmallTurn) {
      t.a = t.s / w;
      t.b = (1.0 - t.c) / w;
      t.da = (T * t.c * w - t.s) / (w * w);
      t.db = (T * t.s * w - (1.0 - t.c)) / (w * w);
    } else {
      const double T2 = T * T, T3 = T2 * T;
      t.a = T - w * w * T3 / 6.0;
      t.b = w * T2 / 2.0;
      t.da = -w * T3 / 3.0;
      t.db = T2 / 2.0;
    }
    return t;
  }
  Vec<N> f(const Vec<N>& x, double dt) const {
    const Terms t = terms(x(OMEGA), dt);
    Vec<N> out = x;
    out(X) += t.a * x(VX) - t.b * x(VY);
    out(Y) += t.b * x(VX) + t.a * x(VY);
    out(VX) = t.c * x(VX) - t.s * x(VY);
    out(VY) = t.s * x(VX) + t.c * x(VY);
    return out;
  }
  Mat<N, N> jacobian(const Vec<N>& x, double dt) const {
    const Terms t = terms(x(OMEGA), dt);
    const double vx = x(VX), vy = x(VY), T = dt;
    Mat<N, N> F = Mat<N, N>::Identity();
    F(X, VX) = t.a;
    F(X, VY) = -t.b;
    F(Y, VX) = t.b;
    F(Y, VY) = t.a;
    F(VX, VX) = t.c;
    F(VX, VY) = -t.s;
    F(VY, VX) = t.s;
    F(VY, VY) = t.c;
    F(X, OMEGA) = t.da * vx - t.db * vy;
    F(Y, OMEGA) = t.db * vx + t.da * vy;
    F(VX, OMEGA) = -T * t.s * vx - T * t.c * vy;
    F(VY, OMEGA) = T * t.c * vx - T * t.s * vy;
    return F;
  }
  Mat<N, N> Q(const Vec<N>& /*x*/, double dt) const {
    const double q = sigma_a * sigma_a, g0 = 0.5 * dt * dt, g1 = dt;
    Mat<N, N> Qm = Mat<N, N>::Zero();
    const int p[2] = {X, Y}, v[2] = {VX, VY};
    for (int a = 0; a < 2; ++a) {
      Qm(p[a], p[a]) = g0 * g0 * q;
      Qm(p[a], v[a]) = Qm(v[a], p[a]) = g0 * g1 * q;
      Qm(v[a], v[a]) = g1 * g1 * q;
    }
    Qm(OMEGA, OMEGA) = dt * dt * sigma_yawdd * sigma_yawdd;
    return Qm;
  }
  KinVec kinematic_point(const Vec<N>& x) const {
    KinVec k;
    k << x(X), x(Y), 0.0, x(VX), x(VY), 0.0;
    return k;
  }
  Kinematics<N> kinematics(const Vec<N>& x) const {
    Kinematics<N> out;
    out.k(kPx) = x(X);
    out.k(kPy) = x(Y);
    out.k(kVx) = x(VX);
    out.k(kVy) = x(VY);
    out.J(kPx, X) = out.J(kPy, Y) = out.J(kVx, VX) = out.J(kVy, VY) = 1.0;
    return out;
  }
};

// ---------------------------------------------------------------- kinematic bicycle
// Kinematic single-track model: speed v along the heading, front-wheel steering angle
// steer held constant over a step, yaw rate = v tan(steer) / wheelbase. Over one step this
// is a CTRV motion with that yaw rate, so f and F are the CTRV ones composed with the map
// (v, steer) -> yaw rate (chain rule, analytic).
struct KinematicBicycle {
  enum Idx : int { X = 0, Y = 1, V = 2, YAW = 3, STEER = 4 };
  static constexpr int N = 5;
  static constexpr bool kLinear = false;
  static constexpr std::array<bool, N> kAngles{false, false, false, true, false};
  double sigma_a = 1.0;          // [m/s^2]   longitudinal acceleration
  double sigma_steer_rate = 0.2;  // [rad/s]   steering-angle rate
  double wheelbase_m = 2.7;       // [m]

  double yaw_rate(const Vec<N>& x) const { return x(V) * std::tan(x(STEER)) / wheelbase_m; }
  CTRV as_ctrv() const {
    CTRV c;
    c.sigma_a = sigma_a;
    c.sigma_yawdd = 0.0;
    return c;
  }
  Vec<5> ctrv_state(const Vec<N>& x) const {
    Vec<5> c;
    c << x(X), x(Y), x(V), x(YAW), yaw_rate(x);
    return c;
  }

  Vec<N> f(const Vec<N>& x, double dt) const {
    Vec<N> out = as_ctrv().f(ctrv_state(x), dt);
    out(STEER) = x(STEER);
    return out;
  }
  Mat<N, N> jacobian(const Vec<N>& x, double dt) const {
    // F = J_ctrv(c(x)) * dc/dx, with c(x) = (x, y, v, yaw, v tan(steer) / L); the last row
    // is replaced by steer' = steer.
    Mat<N, N> C = Mat<N, N>::Identity();
    const double cs = std::cos(x(STEER));
    C(4, V) = std::tan(x(STEER)) / wheelbase_m;
    C(4, STEER) = x(V) / (wheelbase_m * cs * cs);
    Mat<N, N> F = as_ctrv().jacobian(ctrv_state(x), dt) * C;
    F.row(STEER).setZero();
    F(STEER, STEER) = 1.0;
    return F;
  }
  Mat<N, N> Q(const Vec<N>& x, double dt) const {
    // Acceleration noise as in CTRV; steering-rate noise moves steer by ~dt and yaw by the
    // resulting yaw-rate change integrated over the step.
    const double s0 = std::sin(x(YAW)), c0 = std::cos(x(YAW)), h = 0.5 * dt * dt;
    const double cs = std::cos(x(STEER));
    const double dyawrate_dsteer = x(V) / (wheelbase_m * cs * cs);
    Mat<N, 2> G = Mat<N, 2>::Zero();
    G(X, 0) = h * c0;
    G(Y, 0) = h * s0;
    G(V, 0) = dt;
    G(YAW, 1) = h * dyawrate_dsteer;
    G(STEER, 1) = dt;
    const Vec<2> q(sigma_a * sigma_a, sigma_steer_rate * sigma_steer_rate);
    return G * q.asDiagonal() * G.transpose();
  }
  KinVec kinematic_point(const Vec<N>& x) const { return as_ctrv().kinematic_point(ctrv_state(x)); }
  Kinematics<N> kinematics(const Vec<N>& x) const {
    const Kinematics<5> kc = as_ctrv().kinematics(ctrv_state(x));
    Kinematics<N> out;
    out.k = kc.k;
    out.J = kc.J;  // the kinematic point does not depend on the yaw rate, hence not on steer
    out.J.col(STEER).setZero();
    return out;
  }
};

using CV2D = ConstantVelocity<2>;
using CV3D = ConstantVelocity<3>;
using CA2D = ConstantAcceleration<2>;
using CA3D = ConstantAcceleration<3>;

// Wrap the angular components of a state in place.
template <class Motion, typename XV>
inline void wrap_state(XV& x) {
  for (int i = 0; i < Motion::N; ++i)
    if (Motion::kAngles[static_cast<std::size_t>(i)]) x(i) = wrap_angle(x(i));
}

}  // namespace fusion
