// Motion and sensor models: analytic Jacobians against central finite differences, the
// straight-line limits of the turn models, and process noise symmetry.
#include <random>

#include "fusion/models/measurement.hpp"
#include "fusion/models/motion.hpp"
#include "test_framework.hpp"

using namespace fusion;

namespace {

template <class Motion>
double max_jacobian_error(const Motion& mo, const Vec<Motion::N>& x, double dt) {
  constexpr int N = Motion::N;
  const Mat<N, N> F = mo.jacobian(x, dt);
  double worst = 0.0;
  for (int j = 0; j < N; ++j) {
    const double h = 1e-6 * std::max(1.0, std::abs(x(j)));
    Vec<N> xp = x, xm = x;
    xp(j) += h;
    xm(j) -= h;
    Vec<N> d = mo.f(xp, dt) - mo.f(xm, dt);
    for (int i = 0; i < N; ++i)
      if (Motion::kAngles[static_cast<std::size_t>(i)]) d(i) = wrap_angle(d(i));
    d /= 2.0 * h;
    worst = std::max(worst, (d - F.col(j)).cwiseAbs().maxCoeff());
  }
  return worst;
}

template <class Motion>
void check_motion(const Motion& mo, double omega_index_scale) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-3.0, 3.0);
  for (int trial = 0; trial < 50; ++trial) {
    Vec<Motion::N> x;
    for (int i = 0; i < Motion::N; ++i) x(i) = u(rng);
    for (const double dt : {0.05, 0.1, 0.5}) {
      CHECK(max_jacobian_error(mo, x, dt) < 1e-6);
      const auto Q = mo.Q(x, dt);
      CHECK((Q - Q.transpose()).cwiseAbs().maxCoeff() < 1e-15);
    }
  }
  (void)omega_index_scale;
}

template <class Meas, class Motion>
double max_measurement_jacobian_error(const Motion& mo, const Meas& me, const Vec<Motion::N>& x) {
  constexpr int N = Motion::N, M = Meas::M;
  Vec<M> z;
  Mat<M, N> H;
  if (!predict_measurement(mo, me, x, z, H)) return 1e9;
  double worst = 0.0;
  for (int j = 0; j < N; ++j) {
    const double h = 1e-6 * std::max(1.0, std::abs(x(j)));
    Vec<N> xp = x, xm = x;
    xp(j) += h;
    xm(j) -= h;
    Vec<M> zp = Vec<M>::Zero(), zm = Vec<M>::Zero();
    Mat<M, N> Hd;
    predict_measurement(mo, me, xp, zp, Hd);
    predict_measurement(mo, me, xm, zm, Hd);
    const Vec<M> d = measurement_residual<Meas>(zp, zm) / (2.0 * h);
    worst = std::max(worst, ((d - H.col(j)).cwiseAbs().array() / (1.0 + H.col(j).cwiseAbs().array())).maxCoeff());
  }
  return worst;
}

}  // namespace

TEST_CASE("motion: Jacobians match finite differences") {
  check_motion(CV2D{}, 0);
  check_motion(CV3D{}, 0);
  check_motion(CA2D{}, 0);
  check_motion(CA3D{}, 0);
  check_motion(CTRV{}, 0);
  check_motion(CTRA{}, 0);
  check_motion(ConstantTurn{}, 0);
}

TEST_CASE("motion: bicycle turns with yaw rate v tan(steer) / wheelbase") {
  KinematicBicycle mo;
  mo.wheelbase_m = 2.5;
  Vec<5> x;
  x << 0, 0, 10.0, 0.0, 0.1;
  const Vec<5> y = mo.f(x, 0.1);
  CHECK_CLOSE(y(3), 0.1 * 10.0 * std::tan(0.1) / 2.5, 1e-12);
  CHECK_CLOSE(y(4), 0.1, 0.0);
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(-3.0, 3.0), st(-0.6, 0.6);
  for (const double steer : {0.0, 1e-7, 0.3, -0.4}) {
    x(4) = steer;
    CHECK(max_jacobian_error(mo, x, 0.1) < 1e-6);
  }
  for (int trial = 0; trial < 50; ++trial) {
    x << u(rng), u(rng), 3.0 * u(rng), u(rng), st(rng);
    CHECK(max_jacobian_error(mo, x, 0.1) < 1e-6);
    const auto Q = mo.Q(x, 0.1);
    CHECK((Q - Q.transpose()).cwiseAbs().maxCoeff() < 1e-15);
  }
}

TEST_CASE("motion: turn models near zero turn rate are continuous and differentiable") {
  for (const double w : {0.0, 1e-9, 1e-5, 0.009, 0.011, -0.011}) {
    Vec<5> x;
    x << 1.0, 2.0, 10.0, 0.7, w;
    CHECK(max_jacobian_error(CTRV{}, x, 0.1) < 1e-6);
    Vec<6> xa;
    xa << 1.0, 2.0, 10.0, 0.7, w, 1.5;
    CHECK(max_jacobian_error(CTRA{}, xa, 0.1) < 1e-6);
    Vec<5> xc;
    xc << 1.0, 2.0, 8.0, -3.0, w;
    CHECK(max_jacobian_error(ConstantTurn{}, xc, 0.1) < 1e-6);
  }
  // Across the series/closed-form switch the prediction changes by far less than a micrometre.
  Vec<5> a, b;
  a << 0, 0, 20, 0.3, 0.99e-2;
  b << 0, 0, 20, 0.3, 1.01e-2;
  const Vec<5> fa = CTRV{}.f(a, 0.1), fb = CTRV{}.f(b, 0.1);
  CHECK((fa - fb).head<2>().norm() < 1e-4);
}

TEST_CASE("motion: CTRV drives a circle of radius v / omega") {
  CTRV mo;
  Vec<5> x;
  x << 0, 0, 10.0, 0.0, 0.5;  // radius 20 m, centre (0, 20)
  for (int k = 0; k < 100; ++k) x = mo.f(x, 0.05);
  CHECK_CLOSE(std::hypot(x(0) - 0.0, x(1) - 20.0), 20.0, 1e-9);
}

TEST_CASE("sensors: Jacobians through the kinematic point match finite differences") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  RadarPolar radar;
  radar.x_m = 0.5;
  radar.y_m = -0.3;
  radar.yaw_rad = 0.2;
  CameraPinhole cam;
  cam.R_cw << 0, -1, 0, 0, 0, -1, 1, 0, 0;  // x forward, y left, z up -> camera z forward
  cam.t_cw << 0, 1.5, 0;
  for (int trial = 0; trial < 50; ++trial) {
    Vec<5> x;
    x << 10 + u(rng), 5 + u(rng), 8 + u(rng), u(rng), 0.3 * u(rng);
    CHECK(max_measurement_jacobian_error(CTRV{}, radar, x) < 1e-5);
    CHECK(max_measurement_jacobian_error(CTRV{}, cam, x) < 1e-5);
    Vec<6> x3;
    x3 << 10 + u(rng), u(rng), u(rng), u(rng), u(rng), u(rng);
    CHECK(max_measurement_jacobian_error(CV3D{}, cam, x3) < 1e-5);
    CHECK(max_measurement_jacobian_error(CV3D{}, Position3D{}, x3) < 1e-8);
    CHECK(max_measurement_jacobian_error(CTRA{}, radar, Vec<6>(x3)) < 1e-5);
  }
}

TEST_CASE("sensors: radar azimuth wraps across +-pi and is undefined at the origin") {
  RadarPolar radar;
  KinVec k = KinVec::Zero();
  Vec<3> z;
  Mat<3, kKinDim> Hk;
  k(kPx) = -10.0;
  k(kPy) = 1e-3;
  CHECK(radar.h(k, z, Hk));
  CHECK(z(1) > 3.14);
  Vec<3> meas(10.0, -3.14159, 0.0);
  const Vec<3> y = measurement_residual<RadarPolar>(meas, z);
  CHECK(std::abs(y(1)) < 1e-2);
  k.setZero();
  CHECK(!radar.h(k, z, Hk));
}
