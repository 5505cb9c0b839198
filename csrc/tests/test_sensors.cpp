// Sensor mount and sensor models: dz/dview of every model against central finite differences,
// hand-computed values, undefined cases, residuals (angle wrap, lidar front/back flip), track
// birth round trips h(inverse(z)) == z, the chain rule to the state, and no heap allocation.
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <variant>

#include "alloc_counter.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/motion/view_adapters.hpp"
#include "fusion/motion/with_extent.hpp"
#include "fusion/sensor/all.hpp"
#include "fusion/sensor/predict.hpp"
#include "numdiff.hpp"
#include "test_framework.hpp"

using namespace fusion::sensor;  // NOLINT: the models under test (not fusion::, whose old
                                 // RadarPolar / Position2D would be ambiguous)
using fusion::ConfigurationError;
using fusion::kPi;
using fusion::kViewDim;
using fusion::Mat;
using fusion::PartialView;
using fusion::Vec;
using fusion::ViewVec;
using fusion::testing::max_rel_error;
using fusion::testing::numeric_jacobian;
namespace view = fusion::view;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// KITTI-like intrinsics (round numbers, not a real calibration).
Mat<3, 4> kitti_like_P() {
  Mat<3, 4> P;
  P << 721.5, 0.0, 609.5, 0.0,  //
      0.0, 721.5, 172.8, 0.0,   //
      0.0, 0.0, 1.0, 0.0;
  return P;
}

std::string config_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigurationError& e) {
    return e.what();
  }
  return "<no ConfigurationError>";
}
bool mentions(const std::string& msg, const char* what) { return msg.find(what) != std::string::npos; }

SensorMount random_mount(std::mt19937& rng) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  return SensorMount::from_yaw_pitch_roll(0.5 * u(rng), 0.2 * u(rng), 0.1 * u(rng),
                                          Vec<3>(2.0 * u(rng), u(rng), 1.0 + 0.5 * u(rng)));
}

// A random box ahead of the sensor: at least min_x along its boresight, so that every corner of a
// box up to 5 m long is in front of a camera.
ViewVec random_view_ahead(std::mt19937& rng, const SensorMount& mount, double min_x = 8.0) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const double x = min_x + 30.0 * u(rng);
  ViewVec v;
  v.segment<3>(view::PX) =
      mount.point_to_parent(Vec<3>(x, 0.4 * x * (2.0 * u(rng) - 1.0), 2.0 * u(rng) - 1.0));
  v.segment<3>(view::VX) = Vec<3>(20.0 * u(rng) - 10.0, 20.0 * u(rng) - 10.0, u(rng) - 0.5);
  v(view::YAW) = kPi * (2.0 * u(rng) - 1.0);
  v(view::YAW_RATE) = u(rng) - 0.5;
  v(view::LENGTH) = 1.0 + 4.0 * u(rng);
  v(view::WIDTH) = 0.5 + 2.0 * u(rng);
  v(view::HEIGHT) = 1.0 + 1.5 * u(rng);
  return v;
}

// Relative error of dz/dview against finite differences; also checks that the value-only h
// gives the same z as the Jacobian h. 1e9 when h is undefined at v.
template <class Sensor>
double dz_dview_error(const Sensor& s, const ViewVec& v, const SensorMount& mount,
                      const SensorMotion& motion = {}) {
  constexpr int M = Sensor::M;
  Vec<M> z = Vec<M>::Zero(), z_value = Vec<M>::Zero();
  Mat<M, kViewDim> H = Mat<M, kViewDim>::Zero();
  if (!sensor_h(s, v, mount, motion, z, H)) return 1e9;
  if (!sensor_h(s, v, mount, motion, z_value) || z_value != z) return 1e9;
  const auto f = [&](const ViewVec& vv) {
    Vec<M> zz = Vec<M>::Constant(kNaN);
    sensor_h(s, vv, mount, motion, zz);
    return zz;
  };
  return max_rel_error(H, numeric_jacobian(f, v, Sensor::kAngles));
}

ViewVec view_at(double x, double y, double z) {
  ViewVec v = ViewVec::Zero();
  v(view::PX) = x;
  v(view::PY) = y;
  v(view::PZ) = z;
  return v;
}

}  // namespace

// ---------------------------------------------------------------- mount

TEST_CASE("mount: yaw/pitch/roll composition and frame transforms") {
  const SensorMount m = SensorMount::from_yaw_pitch_roll(0.5 * kPi, 0.0, 0.0, Vec<3>(1, 2, 3));
  // yawed 90 degrees: the boresight (sensor x) points along parent +y
  CHECK((m.point_to_parent(Vec<3>(1, 0, 0)) - Vec<3>(1, 3, 3)).norm() < 1e-15);
  CHECK((m.point_to_sensor(Vec<3>(1, 3, 3)) - Vec<3>(1, 0, 0)).norm() < 1e-15);
  CHECK((m.vector_to_sensor(Vec<3>(0, 5, 0)) - Vec<3>(5, 0, 0)).norm() < 1e-15);  // no translation
  // positive pitch tilts the boresight down
  CHECK(SensorMount::from_yaw_pitch_roll(0, 0.1, 0, Vec<3>::Zero()).rotation()(2, 0) < 0.0);
  // R = Rz(yaw) Ry(pitch) Rx(roll)
  const double y = 0.3, p = -0.2, r = 0.1;
  const auto R = [](double a, double b, double c) {
    return SensorMount::from_yaw_pitch_roll(a, b, c, Vec<3>::Zero()).rotation();
  };
  CHECK((R(y, p, r) - R(y, 0, 0) * R(0, p, 0) * R(0, 0, r)).cwiseAbs().maxCoeff() < 1e-15);
  std::mt19937 rng(1);
  for (int k = 0; k < 20; ++k) {
    const SensorMount mk = random_mount(rng);
    const Vec<3> q(k, -2.0 * k, 0.5);
    CHECK((mk.point_to_parent(mk.point_to_sensor(q)) - q).norm() < 1e-12);
    CHECK((mk.vector_to_parent(mk.vector_to_sensor(q)) - q).norm() < 1e-12);
  }
}

TEST_CASE("mount: pose and extrinsic matrices describe the same mount") {
  const SensorMount m = SensorMount::from_yaw_pitch_roll(0.4, 0.1, -0.05, Vec<3>(1.5, -0.3, 1.7));
  Mat<3, 4> pose, extrinsic;
  pose << m.rotation(), m.translation_m();
  extrinsic << m.rotation().transpose(), -(m.rotation().transpose() * m.translation_m());
  const SensorMount a = SensorMount::from_pose_matrix(pose);
  const SensorMount b = SensorMount::from_extrinsic_matrix(extrinsic);
  CHECK((a.rotation() - m.rotation()).cwiseAbs().maxCoeff() == 0.0);
  CHECK((b.rotation() - m.rotation()).cwiseAbs().maxCoeff() < 1e-15);
  CHECK((b.translation_m() - m.translation_m()).norm() < 1e-15);
}

TEST_CASE("mount: rejects a non-rotation, naming what is wrong") {
  const Vec<3> t = Vec<3>::Zero();
  const Mat<3, 3> I = Mat<3, 3>::Identity();
  CHECK(mentions(config_error([&] { SensorMount(2.0 * I, t); }), "not orthonormal"));
  Mat<3, 3> reflect = I;
  reflect(2, 2) = -1.0;
  CHECK(mentions(config_error([&] { SensorMount(reflect, t); }), "reflection"));
  Mat<3, 3> nan = I;
  nan(1, 2) = kNaN;
  CHECK(mentions(config_error([&] { SensorMount(nan, t); }), "non-finite"));
  Mat<3, 3> sheared = I;
  sheared(0, 1) = 1e-5;  // beyond the 1e-6 tolerance
  CHECK(mentions(config_error([&] { SensorMount(sheared, t); }), "orthonormal"));
  sheared(0, 1) = 1e-8;  // a calibration rounded to 8 digits is accepted as is
  CHECK(SensorMount(sheared, t).rotation()(0, 1) == 1e-8);
  CHECK(mentions(config_error([&] { SensorMount(I, Vec<3>(0, kNaN, 0)); }), "translation"));
  Mat<3, 4> extrinsic;
  extrinsic << reflect, t;
  CHECK(mentions(config_error([&] { SensorMount::from_extrinsic_matrix(extrinsic); }),
                 "SensorMount extrinsic matrix: rotation is a reflection"));
  FieldOfView fov;
  fov.azimuth_half_rad = 0.0;
  CHECK(mentions(config_error([&] { SensorMount(I, t, fov); }), "azimuth_half_rad"));
  fov = {};
  fov.min_range_m = 5.0;
  fov.max_range_m = 1.0;
  CHECK(mentions(config_error([&] { SensorMount(I, t, fov); }), "max_range_m"));
}

TEST_CASE("mount: field of view in the sensor frame, bounds inclusive") {
  FieldOfView fov;
  fov.azimuth_half_rad = 0.5;
  fov.elevation_half_rad = 0.2;
  fov.min_range_m = 1.0;
  fov.max_range_m = 50.0;
  const SensorMount m = SensorMount::from_yaw_pitch_roll(0.3, 0.0, 0.0, Vec<3>(2, 1, 1), fov);
  const auto at = [&](double range, double az, double el) {  // a sensor-frame point, in parent
    return m.point_to_parent(range * Vec<3>(std::cos(el) * std::cos(az),
                                            std::cos(el) * std::sin(az), std::sin(el)));
  };
  CHECK(m.in_fov(at(10, 0, 0)));
  CHECK(m.in_fov(at(10, 0.49, 0)) && m.in_fov(at(10, -0.49, 0)));
  CHECK(!m.in_fov(at(10, 0.51, 0)) && !m.in_fov(at(10, -0.51, 0)));
  CHECK(m.in_fov(at(10, 0, 0.19)) && !m.in_fov(at(10, 0, -0.21)));
  CHECK(!m.in_fov(at(0.5, 0, 0)) && !m.in_fov(at(60, 0, 0)) && m.in_fov(at(49.9, 0, 0)));
  CHECK(!m.in_fov(at(10, kPi, 0)));  // behind
  CHECK(!m.in_fov(Vec<3>(kNaN, 0, 0)));
  CHECK(SensorMount().in_fov(Vec<3>(-5, 0, 0)));  // the default sees all around
}

TEST_CASE("ego motion: the sensor's velocity includes the lever arm") {
  const SensorMount m = SensorMount::from_yaw_pitch_roll(0, 0, 0, Vec<3>(2.0, 1.0, 0.5));
  const SensorMotion s = SensorMotion::from_ego({10.0, 0.5}, m);
  CHECK((s.velocity_mps - Vec<3>(9.5, 1.0, 0.0)).norm() < 1e-15);  // (v - w t_y, w t_x, 0)
}

// ---------------------------------------------------------------- Jacobians

TEST_CASE("sensors: dz/dview of every model matches finite differences") {
  std::mt19937 rng(17);
  std::uniform_real_distribution<double> u(-10.0, 10.0);
  const CameraBox2D box2d{PinholeProjection(kitti_like_P())};
  const CameraPoint point2d{PinholeProjection(kitti_like_P())};
  for (int trial = 0; trial < 100; ++trial) {
    const SensorMount m = random_mount(rng);
    const ViewVec v = random_view_ahead(rng, m);
    SensorMotion motion;
    motion.velocity_mps << u(rng), 0.2 * u(rng), 0.0;
    CHECK(dz_dview_error(Position2D{}, v, m) < 1e-8);
    CHECK(dz_dview_error(Position3D{}, v, m) < 1e-8);
    CHECK(dz_dview_error(RadarPolar{}, v, m, motion) < 1e-6);
    CHECK(dz_dview_error(LidarBox3D{}, v, m) < 1e-6);
    CHECK(dz_dview_error(box2d, v, m) < 1e-6);
    CHECK(dz_dview_error(point2d, v, m) < 1e-6);
  }
}

TEST_CASE("sensors: lidar box yaw Jacobian under a tilted mount") {
  // Pitch and roll make d yaw_s / d yaw differ from 1; the FD check covers it.
  const SensorMount m = SensorMount::from_yaw_pitch_roll(0.2, 0.4, -0.3, Vec<3>(1, 0, 2));
  std::mt19937 rng(3);
  for (int k = 0; k < 20; ++k) {
    const ViewVec v = random_view_ahead(rng, m);
    CHECK(dz_dview_error(LidarBox3D{}, v, m) < 1e-6);
    Vec<7> z = Vec<7>::Zero();
    Mat<7, kViewDim> H = Mat<7, kViewDim>::Zero();
    CHECK(LidarBox3D{}.h(v, m, z, H));
    CHECK(std::abs(H(LidarBox3D::YAW, view::YAW) - 1.0) > 1e-3);
  }
}

TEST_CASE("sensors: camera box Jacobian at several camera poses, with and without clipping") {
  const CameraBox2D free_box{PinholeProjection(kitti_like_P())};
  const CameraBox2D clipped_box{PinholeProjection(kitti_like_P()), 1242.0, 375.0};
  std::mt19937 rng(9);
  int clipped_rows = 0;
  for (const double yaw : {0.0, 0.3, -0.6, 1.2})
    for (const double pitch : {-0.15, 0.0, 0.1})
      for (const double height : {1.65, 0.5}) {
        const SensorMount m =
            SensorMount::from_yaw_pitch_roll(yaw, pitch, 0.02, Vec<3>(0.3, -0.2, height));
        for (int k = 0; k < 10; ++k) {
          const ViewVec v = random_view_ahead(rng, m, 6.0);
          CHECK(dz_dview_error(free_box, v, m) < 1e-6);
          Vec<4> z = Vec<4>::Zero();
          Mat<4, kViewDim> H = Mat<4, kViewDim>::Zero();
          if (!clipped_box.h(v, m, z, H)) continue;  // entirely outside the image
          CHECK(dz_dview_error(clipped_box, v, m) < 1e-6);
          for (int i = 0; i < 4; ++i) clipped_rows += H.row(i).isZero(0.0) ? 1 : 0;
        }
      }
  CHECK(clipped_rows > 0);  // the poses above do clip some edges
}

// ---------------------------------------------------------------- radar

TEST_CASE("radar: hand-computed range, azimuth and range rate from a moving sensor") {
  const RadarPolar radar;
  const SensorMount at_origin;
  Vec<3> z = Vec<3>::Zero();
  // stationary target 20 m straight ahead, radar moving forward at 10 m/s
  SensorMotion forward;
  forward.velocity_mps << 10.0, 0.0, 0.0;
  CHECK(radar.h(view_at(20, 0, 0), at_origin, forward, z));
  CHECK_CLOSE(z(RadarPolar::RANGE), 20.0, 1e-12);
  CHECK_CLOSE(z(RadarPolar::AZIMUTH), 0.0, 1e-15);
  CHECK_CLOSE(z(RadarPolar::RANGE_RATE), -10.0, 1e-12);
  // a target at 90 degrees: azimuth pi/2, no Doppler
  CHECK(radar.h(view_at(0, 15, 0), at_origin, forward, z));
  CHECK_CLOSE(z(RadarPolar::AZIMUTH), 0.5 * kPi, 1e-15);
  CHECK_CLOSE(z(RadarPolar::RANGE_RATE), 0.0, 1e-12);
  // a target ahead driving at 5 m/s: closing at 5 m/s
  ViewVec v = view_at(20, 0, 0);
  v(view::VX) = 5.0;
  CHECK(radar.h(v, at_origin, forward, z));
  CHECK_CLOSE(z(RadarPolar::RANGE_RATE), -5.0, 1e-12);
  // a static radar sees the target's own radial speed
  CHECK(radar.h(v, at_origin, SensorMotion{}, z));
  CHECK_CLOSE(z(RadarPolar::RANGE_RATE), 5.0, 1e-12);
  // elevation is ignored: a target 3 m above the sensor plane has the planar range
  CHECK(radar.h(view_at(20, 0, 3), at_origin, forward, z));
  CHECK_CLOSE(z(RadarPolar::RANGE), 20.0, 1e-12);
}

TEST_CASE("radar: mount pose and ego turn (lever arm) enter the measurement") {
  const RadarPolar radar;
  // a radar on the front bumper, looking left (yaw +90 degrees)
  const SensorMount m = SensorMount::from_yaw_pitch_roll(0.5 * kPi, 0, 0, Vec<3>(3.5, 0, 0.5));
  const SensorMotion motion = SensorMotion::from_ego({10.0, 0.2}, m);  // (10, 0.7, 0)
  Vec<3> z = Vec<3>::Zero();
  // stationary target 10 m to the left of the radar: straight along its boresight
  CHECK(radar.h(view_at(3.5, 10, 0), m, motion, z));
  CHECK_CLOSE(z(RadarPolar::RANGE), 10.0, 1e-12);
  CHECK_CLOSE(z(RadarPolar::AZIMUTH), 0.0, 1e-15);
  CHECK_CLOSE(z(RadarPolar::RANGE_RATE), -0.7, 1e-12);  // -(omega t_x): the bumper swings left
}

TEST_CASE("radar: undefined at the sensor, azimuth residual wraps across +-pi") {
  const RadarPolar radar;
  const SensorMount m = SensorMount::from_yaw_pitch_roll(0, 0, 0, Vec<3>(1, 2, 0));
  Vec<3> z = Vec<3>::Zero();
  Mat<3, kViewDim> H = Mat<3, kViewDim>::Zero();
  CHECK(!radar.h(view_at(1, 2, 5), m, SensorMotion{}, z, H));  // above it: planar range 0
  CHECK(!radar.h(view_at(1.05, 2, 0), m, SensorMotion{}, z));  // inside min_range_m
  CHECK(!radar.h(view_at(kNaN, 2, 0), m, SensorMotion{}, z));
  const Vec<3> y = RadarPolar::residual(Vec<3>(10, kPi - 0.01, 1), Vec<3>(9, -kPi + 0.01, 3));
  CHECK_CLOSE(y(0), 1.0, 1e-15);
  CHECK_CLOSE(y(1), -0.02, 1e-12);
  CHECK_CLOSE(y(2), -2.0, 1e-15);
}

// ---------------------------------------------------------------- lidar box

TEST_CASE("lidar box: hand-computed box in a yawed sensor frame") {
  const SensorMount m = SensorMount::from_yaw_pitch_roll(0.5, 0, 0, Vec<3>(1, 0, 1.8));
  ViewVec v = view_at(1.0 + 10.0 * std::cos(0.5), 10.0 * std::sin(0.5), 0.8);
  v(view::YAW) = 0.7;
  v(view::LENGTH) = 4.2;
  v(view::WIDTH) = 1.8;
  v(view::HEIGHT) = 1.5;
  Vec<7> z = Vec<7>::Zero();
  CHECK(LidarBox3D{}.h(v, m, z));
  const Vec<7> expected = (Vec<7>() << 10.0, 0.0, -1.0, 0.2, 4.2, 1.8, 1.5).finished();
  CHECK((z - expected).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("lidar box: yaw residual wraps and folds a front/back flip to near 0") {
  const auto flip = [](double d) { return LidarBox3D::flip_aligned_yaw_residual(d); };
  CHECK_CLOSE(flip(0.1), 0.1, 1e-15);
  CHECK_CLOSE(flip(kPi - 0.1), -0.1, 1e-12);          // a flipped box, nearly aligned
  CHECK_CLOSE(flip(-(kPi - 0.1)), 0.1, 1e-12);
  CHECK_CLOSE(flip(2.0 * kPi + 0.1), 0.1, 1e-12);      // wrap first
  CHECK_CLOSE(flip(0.5 * kPi - 0.01), 0.5 * kPi - 0.01, 1e-15);  // up to 90 degrees: kept
  CHECK_CLOSE(flip(0.5 * kPi + 0.01), -(0.5 * kPi - 0.01), 1e-12);
  CHECK_CLOSE(flip(-0.5 * kPi - 0.01), 0.5 * kPi - 0.01, 1e-12);
  // full residual: the detector reports the track's box turned by pi
  Vec<7> z, zhat;
  z << 10.5, 2.0, 0.1, 0.05, 4.4, 1.9, 1.6;
  zhat << 10.0, 2.5, 0.0, kPi, 4.0, 1.8, 1.5;
  const Vec<7> y = LidarBox3D::residual(z, zhat);
  CHECK_CLOSE(y(LidarBox3D::YAW), 0.05, 1e-12);
  CHECK_CLOSE(y(LidarBox3D::X), 0.5, 1e-15);
  CHECK_CLOSE(y(LidarBox3D::Y), -0.5, 1e-15);
  CHECK_CLOSE(y(LidarBox3D::LENGTH), 0.4, 1e-15);  // a flip keeps the length axis
  // across +-pi without a flip: 3.1 vs -3.1 differ by -0.083, not 6.2
  zhat(LidarBox3D::YAW) = -3.1;
  z(LidarBox3D::YAW) = 3.1;
  CHECK_CLOSE(LidarBox3D::residual(z, zhat)(LidarBox3D::YAW), 6.2 - 2.0 * kPi, 1e-12);
}

TEST_CASE("lidar box: undefined when the heading is along the sensor's z axis") {
  // rolled by 90 degrees: sensor z = parent -y, so a box heading -y is seen end-on
  const SensorMount m = SensorMount::from_yaw_pitch_roll(0, 0, 0.5 * kPi, Vec<3>::Zero());
  ViewVec v = view_at(10, 0, 0);
  v(view::YAW) = -0.5 * kPi;
  Vec<7> z = Vec<7>::Zero();
  Mat<7, kViewDim> H = Mat<7, kViewDim>::Zero();
  CHECK(!LidarBox3D{}.h(v, m, z, H));
  v(view::YAW) = 0.0;
  CHECK(LidarBox3D{}.h(v, m, z, H));
}

// ---------------------------------------------------------------- cameras

TEST_CASE("camera box: a box straight ahead projects to the hand-computed pixel box") {
  const Mat<3, 4> P = kitti_like_P();
  const double f = P(0, 0), cx = P(0, 2), cy = P(1, 2);
  const CameraBox2D cam{PinholeProjection(P)};
  // camera at the vehicle origin looking along +x; a 4 x 2 x 1.5 m box centred 10 m ahead:
  // its near face is 8 m away, 1 m to each side and 0.75 m above and below the axis.
  ViewVec v = view_at(10, 0, 0);
  v(view::LENGTH) = 4.0;
  v(view::WIDTH) = 2.0;
  v(view::HEIGHT) = 1.5;
  Vec<4> z = Vec<4>::Zero();
  CHECK(cam.h(v, SensorMount(), z));
  CHECK_CLOSE(z(CameraBox2D::X1), cx - f * 1.0 / 8.0, 1e-9);
  CHECK_CLOSE(z(CameraBox2D::X2), cx + f * 1.0 / 8.0, 1e-9);
  CHECK_CLOSE(z(CameraBox2D::Y1), cy - f * 0.75 / 8.0, 1e-9);  // image y points down
  CHECK_CLOSE(z(CameraBox2D::Y2), cy + f * 0.75 / 8.0, 1e-9);
  // the same box seen from a camera 1.65 m up (KITTI's height) lies below the image centre,
  // 0.9 to 2.4 m below the axis: its top edge is the FAR top face, its bottom the near bottom
  const SensorMount high = SensorMount::from_yaw_pitch_roll(0, 0, 0, Vec<3>(0, 0, 1.65));
  CHECK(cam.h(v, high, z));
  CHECK_CLOSE(z(CameraBox2D::Y1), cy + f * (1.65 - 0.75) / 12.0, 1e-9);
  CHECK_CLOSE(z(CameraBox2D::Y2), cy + f * (1.65 + 0.75) / 8.0, 1e-9);
  // a common scale of P changes nothing
  const CameraBox2D scaled{PinholeProjection(3.0 * P)};
  Vec<4> zs = Vec<4>::Zero();
  CHECK(scaled.h(v, high, zs));
  CHECK((zs - z).cwiseAbs().maxCoeff() < 1e-9);
}

TEST_CASE("camera point: hand-computed pixel of the centre") {
  const Mat<3, 4> P = kitti_like_P();
  const CameraPoint cam{PinholeProjection(P)};
  Vec<2> z = Vec<2>::Zero();
  CHECK(cam.h(view_at(10, 1, 0.5), SensorMount(), z));
  CHECK_CLOSE(z(CameraPoint::U), P(0, 2) - P(0, 0) * 1.0 / 10.0, 1e-9);  // left of centre
  CHECK_CLOSE(z(CameraPoint::V), P(1, 2) - P(1, 1) * 0.5 / 10.0, 1e-9);  // above centre
}

TEST_CASE("cameras: KITTI semantics, P2 applied to R0_rect Tr_velo_to_cam p") {
  // A KITTI-like extrinsic (velodyne -> rectified camera 0): the axis swap, a small rotation
  // and the camera offset; and a P2 with the camera-2 baseline column.
  const Mat<3, 3> small =
      SensorMount::from_yaw_pitch_roll(0.01, -0.02, 0.005, Vec<3>::Zero()).rotation();
  Mat<3, 4> T;
  T << small * optical_from_body(), Vec<3>(0.0, -0.08, -0.27);
  Mat<3, 4> P2 = kitti_like_P();
  P2.col(3) << 44.9, 0.2, 0.003;
  const SensorMount m = camera_mount_from_optical_extrinsic(T);
  const CameraPoint point{PinholeProjection(P2)};
  const CameraBox2D box{PinholeProjection(P2)};
  const auto kitti_project = [&](const Vec<3>& p_velo) {
    const Vec<3> abc = P2 * (Vec<4>() << T * (Vec<4>() << p_velo, 1.0).finished(), 1.0).finished();
    return Vec<2>(abc(0) / abc(2), abc(1) / abc(2));
  };
  ViewVec v = view_at(15.0, 2.0, -0.9);
  v(view::YAW) = 0.4;
  v(view::LENGTH) = 4.0;
  v(view::WIDTH) = 1.7;
  v(view::HEIGHT) = 1.5;
  Vec<2> uv = Vec<2>::Zero();
  CHECK(point.h(v, m, uv));
  CHECK((uv - kitti_project(v.segment<3>(view::PX))).norm() < 1e-9);
  // the box: min/max over the 8 corners projected the KITTI way
  Vec<4> expected(1e9, 1e9, -1e9, -1e9);
  for (int k = 0; k < 8; ++k) {
    const double sx = (k & 1) ? 0.5 : -0.5, sy = (k & 2) ? 0.5 : -0.5, sz = (k & 4) ? 0.5 : -0.5;
    const Vec<3> c(15.0 + std::cos(0.4) * sx * 4.0 - std::sin(0.4) * sy * 1.7,
                   2.0 + std::sin(0.4) * sx * 4.0 + std::cos(0.4) * sy * 1.7, -0.9 + sz * 1.5);
    const Vec<2> q = kitti_project(c);
    expected << std::min(expected(0), q(0)), std::min(expected(1), q(1)),
        std::max(expected(2), q(0)), std::max(expected(3), q(1));
  }
  Vec<4> z = Vec<4>::Zero();
  CHECK(box.h(v, m, z));
  CHECK((z - expected).cwiseAbs().maxCoeff() < 1e-9);
}

TEST_CASE("cameras: undefined behind the camera and off the image") {
  const CameraBox2D cam{PinholeProjection(kitti_like_P())};
  const CameraBox2D clipped{PinholeProjection(kitti_like_P()), 1242.0, 375.0};
  const CameraPoint point{PinholeProjection(kitti_like_P())};
  Vec<4> z = Vec<4>::Zero();
  Mat<4, kViewDim> H = Mat<4, kViewDim>::Zero();
  ViewVec v = view_at(1.0, 0, 0);  // 4 m long, centred 1 m ahead: the rear corners are behind
  v(view::LENGTH) = 4.0;
  v(view::WIDTH) = 2.0;
  v(view::HEIGHT) = 1.5;
  CHECK(!cam.h(v, SensorMount(), z, H));
  Vec<2> uv = Vec<2>::Zero();
  CHECK(point.h(v, SensorMount(), uv));  // the centre itself is in front
  v(view::PX) = -10.0;
  CHECK(!cam.h(v, SensorMount(), z));
  CHECK(!point.h(v, SensorMount(), uv));
  // in front but far to the left of a 1242 x 375 image: only the clipping model refuses it
  v = view_at(10.0, 40.0, 0.0);
  v(view::LENGTH) = 4.0;
  v(view::WIDTH) = 2.0;
  v(view::HEIGHT) = 1.5;
  CHECK(cam.h(v, SensorMount(), z) && z(CameraBox2D::X2) < 0.0);
  CHECK(!clipped.h(v, SensorMount(), z, H));
  // partly off the left edge: x1 clamped to 0 with a zero row, the other edges free
  v(view::PY) = 8.5;
  CHECK(clipped.h(v, SensorMount(), z, H));
  CHECK(z(CameraBox2D::X1) == 0.0 && H.row(CameraBox2D::X1).isZero(0.0));
  CHECK(z(CameraBox2D::X2) > 0.0 && !H.row(CameraBox2D::X2).isZero(0.0));
}

TEST_CASE("cameras: invalid projection or image size is a ConfigurationError") {
  Mat<3, 4> P = kitti_like_P();
  CHECK(mentions(config_error([&] { PinholeProjection{-P}; }), "det"));
  Mat<3, 4> Pn = P;
  Pn(0, 0) = kNaN;
  CHECK(mentions(config_error([&] { PinholeProjection{Pn}; }), "non-finite"));
  Mat<3, 4> P0 = P;
  P0.row(2).setZero();
  CHECK(mentions(config_error([&] { PinholeProjection{P0}; }), "third row"));
  CHECK(mentions(config_error([&] { PinholeProjection(P, 0.0); }), "min_depth_m"));
  CHECK(mentions(config_error([&] { CameraBox2D(PinholeProjection(P), -1.0, 375.0); }), "width"));
}

// ---------------------------------------------------------------- track birth

TEST_CASE("inverse: h(inverse(z)) == z, and what each inverse leaves unknown") {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 30; ++trial) {
    const SensorMount m = random_mount(rng);  // includes pitch and roll
    const ViewVec v = random_view_ahead(rng, m);
    const SensorMotion motion = SensorMotion::from_ego({8.0, 0.3}, m);
    {
      Vec<3> z = Vec<3>::Zero(), z2 = Vec<3>::Zero();
      Position3D{}.h(v, m, z);
      const PartialView pv = Position3D{}.inverse(z, m);
      CHECK(Position3D{}.h(pv.v, m, z2) && (z2 - z).norm() < 1e-9);
      CHECK((pv.v.segment<3>(view::PX) - v.segment<3>(view::PX)).norm() < 1e-9);
      CHECK(pv.known == view::kPosition);
    }
    {
      Vec<2> z = Vec<2>::Zero(), z2 = Vec<2>::Zero();
      Position2D{}.h(v, m, z);
      const PartialView pv = Position2D{}.inverse(z, m);
      CHECK(Position2D{}.h(pv.v, m, z2) && (z2 - z).norm() < 1e-9);
      CHECK(view::contains(pv.unknown(), view::PZ));
    }
    {
      Vec<3> z = Vec<3>::Zero(), z2 = Vec<3>::Zero();
      CHECK(RadarPolar{}.h(v, m, motion, z));
      const PartialView pv = RadarPolar{}.inverse(z, m, motion);
      CHECK(RadarPolar{}.h(pv.v, m, motion, z2));
      CHECK(RadarPolar::residual(z2, z).cwiseAbs().maxCoeff() < 1e-9);
      CHECK(pv.known == view::kPositionXY);  // radial velocity only: velocity is "unknown"
      CHECK(view::contains(pv.unknown(), view::VX) && view::contains(pv.unknown(), view::PZ));
    }
    {
      Vec<7> z = Vec<7>::Zero(), z2 = Vec<7>::Zero();
      CHECK(LidarBox3D{}.h(v, m, z));
      const PartialView pv = LidarBox3D{}.inverse(z, m);
      CHECK(LidarBox3D{}.h(pv.v, m, z2));
      CHECK(LidarBox3D::residual(z2, z).cwiseAbs().maxCoeff() < 1e-9);
      CHECK(std::abs(fusion::wrap_angle(pv.v(view::YAW) - v(view::YAW))) < 1e-9);
      CHECK(pv.unknown() == (view::kVelocity | view::kYawRate));
    }
  }
  static_assert(!CameraBox2D::kHasInverse && !CameraPoint::kHasInverse);
}

// ---------------------------------------------------------------- motion model x sensor

namespace {

template <class Motion, class Sensor>
double dz_dx_error(const Motion& mo, const Sensor& s, const Vec<Motion::N>& x,
                   const SensorMount& m, const SensorMotion& motion = {}) {
  constexpr int N = Motion::N, M = Sensor::M;
  Vec<M> z = Vec<M>::Zero();
  Mat<M, N> H = Mat<M, N>::Zero();
  if (!predict_measurement(mo, s, x, m, motion, z, H)) return 1e9;
  const auto f = [&](const Vec<N>& xx) {
    Vec<M> zz = Vec<M>::Constant(kNaN);
    sensor_h(s, fusion::view_vector(mo, xx), m, motion, zz);
    return zz;
  };
  return max_rel_error(H, numeric_jacobian(f, x, Sensor::kAngles));
}

}  // namespace

TEST_CASE("predict_measurement: H = dz/dview dview/dx matches finite differences in the state") {
  using fusion::CTRV;
  using fusion::CV3D;
  using fusion::CVBox;
  using fusion::WithExtent;
  const SensorMount cam_mount = SensorMount::from_yaw_pitch_roll(0.1, 0.05, 0, Vec<3>(1, 0, 1.6));
  const SensorMount lidar_mount = SensorMount::from_yaw_pitch_roll(-0.2, 0, 0, Vec<3>(0, 0, 1.8));
  const CameraBox2D cam{PinholeProjection(kitti_like_P())};
  const SensorMotion motion = SensorMotion::from_ego({12.0, 0.1}, lidar_mount);
  std::mt19937 rng(12);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (int trial = 0; trial < 30; ++trial) {
    Vec<9> xb;  // WithExtent<CTRV>: x, y, v, yaw, yaw_rate, z, l, w, h
    xb << 20 + 5 * u(rng), 3 * u(rng), 8 * u(rng), kPi * u(rng), 0.3 * u(rng), 0.5 * u(rng),
        4 + u(rng), 1.8 + 0.3 * u(rng), 1.5 + 0.3 * u(rng);
    CHECK(dz_dx_error(WithExtent<CTRV>{}, cam, xb, cam_mount) < 1e-6);
    CHECK(dz_dx_error(WithExtent<CTRV>{}, LidarBox3D{}, xb, lidar_mount) < 1e-6);
    CHECK(dz_dx_error(WithExtent<CTRV>{}, RadarPolar{}, xb, lidar_mount, motion) < 1e-6);
    Vec<10> xc;  // CVBox: x, y, z, vx, vy, vz, yaw, l, w, h
    xc << 20 + 5 * u(rng), 3 * u(rng), 0.5 * u(rng), 5 * u(rng), 5 * u(rng), 0.1 * u(rng),
        kPi * u(rng), 4 + u(rng), 1.8, 1.5;
    CHECK(dz_dx_error(CVBox{}, cam, xc, cam_mount) < 1e-6);
    CHECK(dz_dx_error(CVBox{}, LidarBox3D{}, xc, lidar_mount) < 1e-6);
    CHECK(dz_dx_error(CV3D{}, Position3D{}, Vec<6>(xc.head<6>()), lidar_mount) < 1e-8);
    CHECK(dz_dx_error(CTRV{}, RadarPolar{}, Vec<5>(xb.head<5>()), lidar_mount, motion) < 1e-6);
  }
}

TEST_CASE("predict_measurement: pairings that miss view components are flagged at compile time") {
  using fusion::CTRV;
  using fusion::CV2D;
  using fusion::CV3D;
  using fusion::WithExtent;
  static_assert(missing_view_components<CTRV, LidarBox3D>() == (view::bit(view::PZ) | view::kExtent));
  static_assert(missing_view_components<WithExtent<CTRV>, LidarBox3D>() == view::kNone);
  static_assert(missing_view_components<WithExtent<CV2D>, CameraBox2D>() == view::kNone);
  static_assert(missing_view_components<CV3D, CameraBox2D>() == view::kExtent);
  static_assert(missing_view_components<CV2D, RadarPolar>() == view::kNone);
  static_assert(missing_view_components<CV2D, Position2D>() == view::kNone);
  static_assert(missing_view_components<CV2D, Position3D>() == view::bit(view::PZ));
  CHECK(true);
}

TEST_CASE("sensor registry: every listed model honours the contract") {
  static_assert(SensorModels::size == 6);
  int n = 0;
  for_each_type(SensorModels{}, [&](auto* tag) {
    using S = std::remove_pointer_t<decltype(tag)>;
    static_assert(S::kAngles.size() == static_cast<std::size_t>(S::M));
    static_assert((S::kReads & ~view::kAll) == 0);
    static_assert(std::is_same_v<decltype(S::residual(Vec<S::M>(), Vec<S::M>())), Vec<S::M>>);
    ++n;
  });
  CHECK(n == 6);
  AnySensorModel any = CameraPoint{PinholeProjection(kitti_like_P())};
  CHECK(std::visit([](const auto& s) { return std::decay_t<decltype(s)>::M; }, any) == 2);
}

// ---------------------------------------------------------------- allocation

TEST_CASE("sensors: h, Jacobians, residuals, inverses and predict_measurement do not allocate") {
  const SensorMount m = SensorMount::from_yaw_pitch_roll(0.1, 0.05, 0.01, Vec<3>(1, 0, 1.6));
  const SensorMotion motion = SensorMotion::from_ego({10.0, 0.1}, m);
  const CameraBox2D box{PinholeProjection(kitti_like_P()), 1242.0, 375.0};
  const CameraPoint point{PinholeProjection(kitti_like_P())};
  const fusion::WithExtent<fusion::CTRV> mo;
  std::mt19937 rng(6);
  const ViewVec v = random_view_ahead(rng, m);
  Vec<9> x;
  x << 20, 1, 8, 0.3, 0.1, 0.0, 4.0, 1.8, 1.5;
  Vec<2> z2 = Vec<2>::Zero();
  Vec<3> z3 = Vec<3>::Zero();
  Vec<4> z4 = Vec<4>::Zero();
  Vec<7> z7 = Vec<7>::Zero();
  Mat<2, kViewDim> H2 = Mat<2, kViewDim>::Zero();
  Mat<3, kViewDim> H3 = Mat<3, kViewDim>::Zero();
  Mat<4, kViewDim> H4 = Mat<4, kViewDim>::Zero();
  Mat<7, kViewDim> H7 = Mat<7, kViewDim>::Zero();
  Mat<4, 9> Hx = Mat<4, 9>::Zero();
  double sink = 0.0;
  const long before = g_allocations.load();
  for (int k = 0; k < 100; ++k) {
    Position2D{}.h(v, m, z2, H2);
    sink += z2.sum() + H2.sum() + Position2D{}.inverse(z2, m).v.sum();
    Position3D{}.h(v, m, z3, H3);
    sink += z3.sum() + H3.sum() + Position3D{}.inverse(z3, m).v.sum();
    RadarPolar{}.h(v, m, motion, z3, H3);
    sink += RadarPolar::residual(z3, z3).sum() + H3.sum() + RadarPolar{}.inverse(z3, m, motion).v.sum();
    RadarPolar{}.h(v, m, motion, z3);
    LidarBox3D{}.h(v, m, z7, H7);
    sink += LidarBox3D::residual(z7, z7).sum() + H7.sum() + LidarBox3D{}.inverse(z7, m).v.sum();
    box.h(v, m, z4, H4);
    box.h(v, m, z4);
    sink += CameraBox2D::residual(z4, z4).sum() + H4.sum();
    point.h(v, m, z2, H2);
    point.h(v, m, z2);
    sink += z2.sum() + H2.sum();
    predict_measurement(mo, box, x, m, motion, z4, Hx);
    sink += Hx.sum() + (m.in_fov(v.segment<3>(view::PX)) ? 1.0 : 0.0);
    sink += SensorMotion::from_ego({10.0, 0.1}, m).velocity_mps.sum();
  }
  CHECK(g_allocations.load() == before);
  CHECK(std::isfinite(sink));
}
