// Association costs and gates: chi-square quantiles against the closed-form CDF, Mahalanobis
// against a direct computation written here, box and image overlaps against box_overlap and
// a hand projection, centre distance, the class gate, LAP compatibility, no allocation.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <Eigen/LU>

#include "alloc_counter.hpp"
#include "fusion/assoc/class_gate.hpp"
#include "fusion/assoc/cost.hpp"
#include "fusion/assoc/gate.hpp"
#include "fusion/assoc/linear_assignment.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/geometry/box_overlap.hpp"
#include "fusion/motion/with_extent.hpp"
#include "fusion/sensor/all.hpp"
#include "numdiff.hpp"
#include "test_framework.hpp"

using fusion::ConfigurationError;
using fusion::CVBox;
using fusion::Index;
using fusion::kPi;
using fusion::Mat;
using fusion::ShapeError;
using fusion::Vec;
using fusion::wrap_angle;
using namespace fusion::assoc;  // NOLINT: the module under test
using fusion::geometry::Box3;
using fusion::geometry::OverlapKind;
using fusion::sensor::CameraBox2D;
using fusion::sensor::FieldOfView;
using fusion::sensor::LidarBox3D;
using fusion::sensor::PinholeProjection;
using fusion::sensor::Position3D;
using fusion::sensor::RadarPolar;
using fusion::sensor::SensorMotion;
using fusion::sensor::SensorMount;
using fusion::track::TrackTable;

namespace {

using Table = TrackTable<CVBox>;
constexpr int N = CVBox::N;
constexpr double kInf = std::numeric_limits<double>::infinity();

// CVBox state: (x, y, z, vx, vy, vz, yaw, l, w, h).
Vec<N> box_state(double x, double y, double yaw, double vx = 0.0, double vy = 0.0) {
  Vec<N> s;
  s << x, y, 0.8, vx, vy, 0.0, yaw, 4.2, 1.8, 1.6;
  return s;
}

Mat<N, N> random_spd(std::mt19937& rng, double scale) {
  std::normal_distribution<double> g(0.0, 1.0);
  Mat<N, N> A;
  for (int i = 0; i < N; ++i)
    for (int j = 0; j < N; ++j) A(i, j) = g(rng);
  return scale * (A * A.transpose() / N + Mat<N, N>::Identity());
}

// Closed-form chi-square CDF for integer dof: even dof k = 2m:
//   F(x) = 1 - exp(-x/2) sum_{i<m} (x/2)^i / i!,
// odd dof k = 2m + 1:
//   F(x) = erf(sqrt(x/2)) - sqrt(2x/pi) exp(-x/2) sum_{i<m} x^i / (1*3*...*(2i+1)).
double chi2_cdf(double x, int k) {
  if (k % 2 == 0) {
    double term = 1.0, sum = 0.0;
    for (int i = 0; i < k / 2; ++i) {
      sum += term;
      term *= 0.5 * x / (i + 1);
    }
    return 1.0 - std::exp(-0.5 * x) * sum;
  }
  double term = 1.0, sum = 0.0;
  for (int i = 0; i < k / 2; ++i) {
    sum += term;
    term *= x / (2 * i + 3);
  }
  return std::erf(std::sqrt(0.5 * x)) - std::sqrt(2.0 * x / kPi) * std::exp(-0.5 * x) * sum;
}

Mat<3, 4> simple_P(double f, double cx, double cy) {
  Mat<3, 4> P;
  P << f, 0, cx, 0,  //
      0, f, cy, 0,   //
      0, 0, 1, 0;
  return P;
}

}  // namespace

TEST_CASE("gate: chi-square quantiles match the closed-form CDF") {
  for (std::size_t p = 0; p < kChiSquareProbabilities.size(); ++p)
    for (int k = 1; k <= kChiSquareMaxDof; ++k) {
      const double q = chi_square_quantile(k, kChiSquareProbabilities[p]);
      CHECK_CLOSE(chi2_cdf(q, k), kChiSquareProbabilities[p], 2e-9);
    }
  CHECK_CLOSE(chi_square_quantile(2, 0.99), -2.0 * std::log(0.01), 1e-9);
  CHECK_THROWS(chi_square_quantile(0, 0.99), ConfigurationError);
  CHECK_THROWS(chi_square_quantile(9, 0.99), ConfigurationError);
  CHECK_THROWS(chi_square_quantile(3, 0.9), ConfigurationError);
  CHECK(CostGate{1.0}.apply(std::numeric_limits<double>::quiet_NaN()) == kForbidden);
  CHECK_THROWS((MahalanobisCost<CVBox, Position3D>(CVBox{}, Position3D{}, SensorMount{}, CostGate{kInf})),
               ConfigurationError);
}

TEST_CASE("mahalanobis: equals a direct y^T S^-1 y with a hand-written radar model") {
  std::mt19937 rng(5);
  // radar at (1.5, 0.3, 0.5), identity rotation, on a vehicle moving at 10 m/s
  const Vec<3> t_m(1.5, 0.3, 0.5);
  const SensorMount mount(Mat<3, 3>::Identity(), t_m);
  SensorMotion sm;
  sm.velocity_mps << 10.0, 0.0, 0.0;
  const CVBox motion;
  Table tracks(8, 0, 1);
  // one track straight behind the radar, so the predicted azimuth is near +-pi
  const Vec<N> xs[4] = {box_state(20, 5, 0.1, 12, 0), box_state(-30, 0.31, 0, 8, 0),
                        box_state(40, -10, 0, 9, 1), box_state(1.5, 0.3, 0)};  // last: at the radar
  for (const auto& x : xs) tracks.insert(x, random_spd(rng, 0.5), 0, 0, 0.5);
  tracks.remove(2);  // a deleted row

  // direct model: q = p - t, w = v - v_s (identity rotation), z = (|q|, atan2, q.w/|q|)
  const auto h_direct = [&](const Vec<N>& x) {
    const double qx = x(0) - t_m(0), qy = x(1) - t_m(1);
    const double wx = x(3) - 10.0, wy = x(4);
    const double r = std::hypot(qx, qy);
    Vec<3> z;
    z << r, std::atan2(qy, qx), (qx * wx + qy * wy) / r;
    return z;
  };
  constexpr int J = 5;
  double z[J * 3], R[J * 9];
  // near track 0 (twice), near track 1 on either side of +-pi, clutter
  const double zs[J][3] = {{21.0, 0.25, -1.0}, {31.5, 3.13, 1.5}, {31.0, -3.13, 2.0},
                           {19.2, 0.25, 1.9}, {5.0, -0.3, 0.0}};
  for (int j = 0; j < J; ++j) {
    for (int k = 0; k < 3; ++k) z[3 * j + k] = zs[j][k];
    Eigen::Map<Mat<3, 3>> Rj(R + 9 * j);
    Rj << 0.25, 0.0, 0.001, 0.0, 0.0004 * (j + 1), 0.0, 0.001, 0.0, 0.09;
  }
  DetectionBatch<3> dets;
  dets.count = J;
  dets.z = z;
  dets.R = R;

  const double gate = chi_square_quantile(3, 0.999);
  const MahalanobisCost<CVBox, RadarPolar> cost_fn(motion, RadarPolar{}, mount, CostGate{gate});
  const MahalanobisCost<CVBox, RadarPolar> nll_fn(motion, RadarPolar{}, mount, CostGate{gate}, true);
  std::vector<double> C(4 * J), L(4 * J);
  const CostStats st = cost_fn(tracks, tracks.slots(), dets, C.data(), sm);
  nll_fn(tracks, tracks.slots(), dets, L.data(), sm);
  CHECK(st.undefined_rows == 1);
  Index in_gate = 0, finite_direct = 0;
  for (Index i = 0; i < 4; ++i) {
    const Index s = tracks.slots()[i];
    for (Index j = 0; j < J; ++j) {
      const double c = C[static_cast<std::size_t>(i * J + j)];
      if (i == 2 || i == 3) {  // deleted, undefined
        CHECK(c == kForbidden);
        continue;
      }
      const Vec<N> x = tracks.x(s);
      const Mat<3, N> H = fusion::testing::numeric_jacobian(h_direct, x, RadarPolar::kAngles);
      const Mat<3, 3> S = H * tracks.P(s) * H.transpose() + dets.R_of(j);
      Vec<3> y = Vec<3>(dets.z_of(j)) - h_direct(x);
      y(1) = wrap_angle(y(1));
      const double d2 = y.dot(S.inverse() * y);
      if (d2 <= gate) {
        ++finite_direct;
        CHECK_CLOSE(c, d2, 1e-6 * (1.0 + d2));
        CHECK_CLOSE(L[static_cast<std::size_t>(i * J + j)], d2 + std::log(S.determinant()),
                    1e-6 * (1.0 + d2));
      } else {
        CHECK(c == kForbidden);
      }
      if (c != kForbidden) ++in_gate;
    }
  }
  CHECK(in_gate == st.gated_pairs && in_gate == finite_direct);
  // the track behind the radar (azimuth ~ pi) gates the detections at +-3.13 rad thanks to
  // the wrapped residual, and not the one at 0.25
  CHECK(C[1 * J + 1] < kForbidden && C[1 * J + 2] < kForbidden);
  CHECK(C[1 * J + 0] == kForbidden);
}

TEST_CASE("mahalanobis: lidar front/back flip and the gated LAP consume the matrix") {
  const SensorMount mount = SensorMount::from_yaw_pitch_roll(0.3, 0.0, 0.0, Vec<3>(1.0, 0.0, 1.7));
  const CVBox motion;
  Table tracks(4, 0, 1);
  tracks.insert(box_state(15, 2, 0.2), Mat<N, N>::Identity() * 0.3, 0, 0, 0.5);
  tracks.insert(box_state(25, -4, 1.0), Mat<N, N>::Identity() * 0.3, 0, 0, 0.5);
  tracks.insert(box_state(60, 30, 0.0), Mat<N, N>::Identity() * 0.3, 0, 0, 0.5);  // nothing near
  const LidarBox3D lidar;
  // detections: track 1 exactly, track 0 flipped by pi (same d^2 as unflipped), clutter
  double z[3 * 7], R[3 * 49];
  const Vec<N> xs[2] = {box_state(25, -4, 1.0), box_state(15, 2, 0.2)};
  for (int j = 0; j < 2; ++j) {
    Vec<7> zj = Vec<7>::Zero();
    CHECK(lidar.h(fusion::view_vector(motion, xs[j]), mount, zj));
    if (j == 1) zj(3) += kPi;
    for (int k = 0; k < 7; ++k) z[7 * j + k] = zj(k);
  }
  const double clutter[7] = {5, -30, 0, 0, 4, 2, 1.5};
  for (int k = 0; k < 7; ++k) z[14 + k] = clutter[k];
  for (int j = 0; j < 3; ++j) Eigen::Map<Mat<7, 7>>(R + 49 * j) = Mat<7, 7>::Identity() * 0.1;
  const DetectionBatch<7> dets{3, z, R, nullptr};
  const MahalanobisCost<CVBox, LidarBox3D> fn(motion, lidar, mount, CostGate::chi_square(7, 0.99));
  double C[9];
  fn(tracks, tracks.slots(), dets, C);
  CHECK_CLOSE(C[0 * 3 + 1], 0.0, 1e-12);  // flipped detection: zero residual after folding
  CHECK_CLOSE(C[1 * 3 + 0], 0.0, 1e-12);
  CHECK(C[2 * 3 + 0] == kForbidden && C[2 * 3 + 2] == kForbidden);

  LinearAssignmentSolver lap;
  Index r2c[3], c2r[3];
  lap.solve_dense_gated(C, 3, 3, fn.gate().max_cost, r2c, c2r);
  CHECK(r2c[0] == 1 && r2c[1] == 0 && r2c[2] == kUnassigned && c2r[2] == kUnassigned);
  // solve_dense treats +inf as forbidden too (rows 0, 1 only: row 2 has no allowed pair)
  Index r2c2[2], c2r2[3];
  const AssignmentResult res = lap.solve_dense(C, 2, 3, r2c2, c2r2);
  CHECK(res.feasible && r2c2[0] == 1 && r2c2[1] == 0);
}

TEST_CASE("box overlap costs equal 1 - box_overlap of the parent-frame boxes") {
  const SensorMount mount = SensorMount::from_yaw_pitch_roll(-0.4, 0.0, 0.0, Vec<3>(1.2, -0.5, 1.8));
  const CVBox motion;
  Table tracks(4, 0, 1);
  const Vec<N> xs[3] = {box_state(10, 1, 0.3), box_state(14, -2, -0.5), box_state(30, 8, 1.2)};
  for (const auto& x : xs) tracks.insert(x, Mat<N, N>::Identity(), 0, 0, 0.5);
  // detections given in the sensor frame, made from parent-frame boxes
  const Box3 det_parent[4] = {{10.5, 1.2, 0.9, 0.25, 4.0, 1.9, 1.5},
                              {13.0, -2.5, 0.7, -0.2, 4.5, 2.0, 1.7},
                              {11.8, -0.5, 0.8, 1.5, 4.2, 1.8, 1.6},
                              {50, 50, 0.8, 0.0, 4.0, 2.0, 1.5}};
  double z[4 * 7];
  const LidarBox3D lidar;
  for (int j = 0; j < 4; ++j) {
    fusion::ViewVec v = fusion::ViewVec::Zero();
    v(0) = det_parent[j].x;
    v(1) = det_parent[j].y;
    v(2) = det_parent[j].z;
    v(6) = det_parent[j].yaw;
    v(8) = det_parent[j].l;
    v(9) = det_parent[j].w;
    v(10) = det_parent[j].h;
    Vec<7> zj = Vec<7>::Zero();
    CHECK(lidar.h(v, mount, zj));
    for (int k = 0; k < 7; ++k) z[7 * j + k] = zj(k);
  }
  const DetectionBatch<7> dets{4, z, nullptr, nullptr};
  for (OverlapKind kind : {OverlapKind::kIouBev, OverlapKind::kIou3d, OverlapKind::kGiouBev,
                           OverlapKind::kGiou3d}) {
    const double min_ov = fusion::geometry::is_giou(kind) ? -0.5 : 0.1;
    BoxOverlapCost<CVBox> fn(motion, mount, kind, min_ov);
    double C[3 * 4];
    const CostStats st = fn(tracks, tracks.slots(), dets, C);
    Index gated = 0;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) {
        const double ov = fusion::geometry::box_overlap(kind, fusion::box_of(fusion::view_vector(motion, xs[i])),
                                                        det_parent[j]);
        const double c = C[i * 4 + j];
        if (ov >= min_ov) {
          CHECK_CLOSE(c, 1.0 - ov, 1e-9);
          ++gated;
        } else {
          CHECK(c == kForbidden);
        }
      }
    CHECK(st.gated_pairs == gated);
    CHECK(gated >= 2);  // the test does exercise both branches
    CHECK(C[0 * 4 + 3] == kForbidden);
  }
  CHECK_THROWS(BoxOverlapCost<CVBox>(motion, mount, OverlapKind::kIouBev, -0.1), ConfigurationError);
  CHECK_THROWS(BoxOverlapCost<CVBox>(motion, mount, OverlapKind::kGiou3d, -1.1), ConfigurationError);
  // an invalid detection box is an error naming it
  double badz[7] = {1, 2, 0, 0, -4, 2, 1.5};
  BoxOverlapCost<CVBox> fn(motion, mount, OverlapKind::kIouBev, 0.1);
  double C1[3];
  CHECK_THROWS(fn(tracks, tracks.slots(), DetectionBatch<7>{1, badz, nullptr, nullptr}, C1),
               fusion::NumericalError);
}

TEST_CASE("image box cost: the 3D box projected by hand, then 2D IoU") {
  // camera 1.5 m up, looking along +x; pinhole f = 700, (cx, cy) = (640, 360)
  const SensorMount mount = SensorMount::from_yaw_pitch_roll(0.0, 0.0, 0.0, Vec<3>(0.0, 0.0, 1.5));
  const PinholeProjection proj(simple_P(700.0, 640.0, 360.0));
  const CameraBox2D camera(proj);
  const CVBox motion;
  Table tracks(4, 0, 1);
  const Vec<N> x0 = box_state(20, 2, 0.4), x1 = box_state(-10, 0, 0.0);  // x1 behind the camera
  tracks.insert(x0, Mat<N, N>::Identity(), 0, 0, 0.5);
  tracks.insert(x1, Mat<N, N>::Identity(), 0, 0, 0.5);
  // by hand: corners c = p + Rz(yaw)(+-l/2, +-w/2, 0) + (0, 0, +-h/2); optical (X, Y, Z) =
  // (-y, -(z - 1.5), x); u = 700 X / Z + 640, v = 700 Y / Z + 360
  double u_min = 1e9, u_max = -1e9, v_min = 1e9, v_max = -1e9;
  const double c = std::cos(0.4), s = std::sin(0.4);
  for (int k = 0; k < 8; ++k) {
    const double ox = ((k & 1) ? 0.5 : -0.5) * 4.2, oy = ((k & 2) ? 0.5 : -0.5) * 1.8;
    const double oz = ((k & 4) ? 0.5 : -0.5) * 1.6;
    const double px = 20 + c * ox - s * oy, py = 2 + s * ox + c * oy, pz = 0.8 + oz;
    const double u = 700.0 * (-py) / px + 640.0, v = 700.0 * (-(pz - 1.5)) / px + 360.0;
    u_min = std::min(u_min, u);
    u_max = std::max(u_max, u);
    v_min = std::min(v_min, v);
    v_max = std::max(v_max, v);
  }
  const double det[3 * 4] = {u_min + 5, v_min - 3, u_max + 8, v_max + 2,  // near track 0
                             u_max + 100, v_min, u_max + 200, v_max,    // disjoint
                             u_min, v_min, u_max, v_max};               // exact
  const auto iou = [](double a0, double a1, double a2, double a3, double b0, double b1, double b2,
                      double b3) {
    const double iw = std::max(0.0, std::min(a2, b2) - std::max(a0, b0));
    const double ih = std::max(0.0, std::min(a3, b3) - std::max(a1, b1));
    const double in = iw * ih;
    return in / ((a2 - a0) * (a3 - a1) + (b2 - b0) * (b3 - b1) - in);
  };
  const ImageBoxCost<CVBox> fn(motion, camera, mount, 0.3);
  double C[2 * 3];
  const CostStats st = fn(tracks, tracks.slots(), DetectionBatch<4>{3, det, nullptr, nullptr}, C);
  CHECK_CLOSE(C[0], 1.0 - iou(u_min, v_min, u_max, v_max, det[0], det[1], det[2], det[3]), 1e-9);
  CHECK(C[1] == kForbidden);
  CHECK_CLOSE(C[2], 0.0, 1e-9);
  CHECK(C[3] == kForbidden && C[4] == kForbidden && C[5] == kForbidden);  // behind the camera
  CHECK(st.undefined_rows == 1 && st.gated_pairs == 2);
  // GIoU of the disjoint pair is negative: allowed with a negative minimum
  const ImageBoxCost<CVBox> gfn(motion, camera, mount, -0.9, true);
  gfn(tracks, tracks.slots(), DetectionBatch<4>{3, det, nullptr, nullptr}, C);
  CHECK(C[1] > 1.0 && C[1] < kForbidden);
  // the 2D helpers by hand
  const double a[4] = {0, 0, 2, 2}, b[4] = {1, 1, 3, 3}, e[4] = {4, 0, 5, 1};
  CHECK_CLOSE(image_box_iou(a, b), 1.0 / 7.0, 1e-15);
  CHECK_CLOSE(image_box_giou(a, b), 1.0 / 7.0 - 2.0 / 9.0, 1e-15);
  CHECK_CLOSE(image_box_giou(a, e), 0.0 - (10.0 - 5.0) / 10.0, 1e-15);
  CHECK_THROWS(ImageBoxCost<CVBox>(motion, camera, mount, 1.5), ConfigurationError);
}

TEST_CASE("centre distance: BEV and 3D through the sensor's inverse") {
  const SensorMount mount = SensorMount::from_yaw_pitch_roll(kPi / 2, 0.0, 0.0, Vec<3>(2.0, 1.0, 0.5));
  const CVBox motion;
  Table tracks(4, 0, 1);
  tracks.insert(box_state(3, 6, 0), Mat<N, N>::Identity(), 0, 0, 0.5);  // z = 0.8
  // a sensor-frame point (5, -1, 0.3): parent = t + Rz(90)(5, -1, 0.3) = (2 + 1, 1 + 5, 0.8)
  const double z[2 * 3] = {5, -1, 0.3, 5, -1, 2.3};
  CenterDistanceCost<CVBox, Position3D> bev(motion, Position3D{}, mount, 1.0);
  CenterDistanceCost<CVBox, Position3D> d3(motion, Position3D{}, mount, 1.0, false);
  double C[2];
  bev(tracks, tracks.slots(), DetectionBatch<3>{2, z, nullptr, nullptr}, C);
  CHECK_CLOSE(C[0], 0.0, 1e-12);
  CHECK_CLOSE(C[1], 0.0, 1e-12);  // height ignored in BEV
  d3(tracks, tracks.slots(), DetectionBatch<3>{2, z, nullptr, nullptr}, C);
  CHECK_CLOSE(C[0], 0.0, 1e-12);
  CHECK(C[1] == kForbidden);  // 2 m above: outside the 1 m gate
  CHECK_THROWS((CenterDistanceCost<CVBox, fusion::sensor::Position2D>(motion, {}, mount, 1.0, false)),
               ConfigurationError);
  CHECK_THROWS((CenterDistanceCost<CVBox, Position3D>(motion, {}, mount, 0.0)), ConfigurationError);
}

TEST_CASE("class gate: Autoware-style tables, unknown classes, per-pair distance") {
  // classes: 0 car, 1 truck, 2 pedestrian. A car track takes car or truck detections (a truck
  // within 2 m only); a truck track cars or trucks; a pedestrian only pedestrians.
  const std::int32_t can[9] = {1, 1, 0, 1, 1, 0, 0, 0, 1};
  const double maxd[9] = {kInf, 2.0, kInf, kInf, kInf, kInf, kInf, kInf, kInf};
  const ClassGate g = ClassGate::from_tables(3, 3, can, maxd);
  CHECK(g.allows(0, 0) && g.allows(0, 1, 1.9) && !g.allows(0, 1, 2.1) && !g.allows(0, 2));
  CHECK(g.allows(2, -1) && g.allows(-1, 0));  // unknown: allowed by default
  CHECK(g.has_distance_limits());
  double C[3 * 4];
  for (double& c : C) c = 1.0;
  C[11] = kForbidden;
  const std::int32_t tc[3] = {0, 2, 1};
  const std::int32_t dc[4] = {1, 2, -1, 0};
  const double txy[6] = {0, 0, 10, 10, 20, 0};
  const double dxy[8] = {3, 0, 10, 10, 50, 50, 1, 0};
  CHECK_THROWS(g.apply(C, 3, 4, tc, dc), ShapeError);
  const Index forbidden = g.apply(C, 3, 4, tc, dc, txy, dxy);
  // row 0 (car at 0,0): truck at 3 m > 2 m: forbidden; pedestrian: forbidden; unknown, car ok
  CHECK(C[0] == kForbidden && C[1] == kForbidden && C[2] == 1.0 && C[3] == 1.0);
  // row 1 (pedestrian): only the pedestrian and the unknown detection
  CHECK(C[4] == kForbidden && C[5] == 1.0 && C[6] == 1.0 && C[7] == kForbidden);
  // row 2 (truck): truck ok, pedestrian no, unknown ok, car already forbidden: not recounted
  CHECK(C[8] == 1.0 && C[9] == kForbidden && C[10] == 1.0 && C[11] == kForbidden);
  CHECK(forbidden == 5);
  ClassGate strict = ClassGate::same_class_only(3);
  strict.set_unknown(false);
  CHECK(!strict.allows(0, -1) && strict.allows(1, 1) && !strict.allows(1, 0));
  CHECK(!strict.has_distance_limits());
  double D[2] = {0.5, 0.5};
  const std::int32_t tc1[1] = {1};
  CHECK(strict.apply(D, 1, 2, tc1, nullptr) == 2);  // detections without classes, not allowed
  CHECK_THROWS(ClassGate(0, 3), ConfigurationError);
  ClassGate h(2, 2);
  CHECK_THROWS(h.set(2, 0, true), ConfigurationError);
  CHECK_THROWS(h.set(0, 0, true, 0.0), ConfigurationError);
  // class ids of the table's tracks
  Table tracks(2, 3, 1);
  const double cp[3] = {0.1, 0.7, 0.2};
  tracks.insert(box_state(0, 0, 0), Mat<N, N>::Identity(), 0, 0, 0.5, cp);
  std::int32_t out[1];
  track_classes(tracks, tracks.slots(), out);
  CHECK(out[0] == 1);
}

TEST_CASE("costs: no allocation in steady state") {
  std::mt19937 rng(9);
  const CVBox motion;
  const SensorMount mount = SensorMount::from_yaw_pitch_roll(0.1, 0.0, 0.0, Vec<3>(1.0, 0.0, 1.6));
  const SensorMount cam_mount = SensorMount::from_yaw_pitch_roll(0.0, 0.0, 0.0, Vec<3>(0.0, 0.0, 1.5));
  Table tracks(32, 3, 2);
  for (int k = 0; k < 20; ++k)
    tracks.insert(box_state(5.0 + 2.0 * k, (k % 5) - 2.0, 0.1 * k, 5, 0), random_spd(rng, 0.3), 0,
                  0, 0.5);
  constexpr int J = 24;
  std::vector<double> zl(J * 7), Rl(J * 49), z3(J * 3), R3(J * 9), zc(J * 4), C(32 * J);
  std::vector<std::int32_t> dc(J), tc(32);
  std::vector<double> txy(64), dxy(2 * J);
  for (int j = 0; j < J; ++j) {
    const double lz[7] = {4.0 + 2.0 * j, (j % 5) - 2.0, -0.8, 0.1 * j, 4.2, 1.8, 1.6};
    for (int k = 0; k < 7; ++k) zl[7 * j + k] = lz[k];
    Eigen::Map<Mat<7, 7>>(Rl.data() + 49 * j) = Mat<7, 7>::Identity() * 0.2;
    z3[3 * j] = 4.0 + 2.0 * j;
    z3[3 * j + 1] = (j % 5) - 2.0;
    z3[3 * j + 2] = -0.8;
    Eigen::Map<Mat<3, 3>>(R3.data() + 9 * j) = Mat<3, 3>::Identity() * 0.2;
    const double cz[4] = {600.0 - j, 340.0, 680.0 + j, 400.0};
    for (int k = 0; k < 4; ++k) zc[4 * j + k] = cz[k];
    dc[j] = j % 4 - 1;
  }
  MahalanobisCost<CVBox, LidarBox3D> maha(motion, LidarBox3D{}, mount, CostGate::chi_square(7, 0.99));
  BoxOverlapCost<CVBox> giou(motion, mount, OverlapKind::kGiouBev, -0.5);
  ImageBoxCost<CVBox> img(motion, CameraBox2D(PinholeProjection(simple_P(700, 640, 360))), cam_mount, 0.1);
  CenterDistanceCost<CVBox, Position3D> dist(motion, Position3D{}, mount, 3.0);
  const ClassGate cg = ClassGate::same_class_only(3);
  giou.reserve(J);
  dist.reserve(J);
  LinearAssignmentSolver lap;
  lap.reserve(32, J, 32 * J);
  Index r2c[32], c2r[J];
  const DetectionBatch<7> dl{J, zl.data(), Rl.data(), dc.data()};
  const DetectionBatch<3> d3{J, z3.data(), R3.data(), dc.data()};
  const DetectionBatch<4> d4{J, zc.data(), nullptr, dc.data()};
  const long before = g_allocations.load();
  for (int cycle = 0; cycle < 20; ++cycle) {
    const auto rows = tracks.slots();
    maha(tracks, rows, dl, C.data());
    track_classes(tracks, rows, tc.data());
    track_positions_xy(motion, tracks, rows, txy.data());
    detection_positions_xy(Position3D{}, mount, d3, dxy.data());
    cg.apply(C.data(), rows.size(), J, tc.data(), dc.data(), txy.data(), dxy.data());
    lap.solve_dense_gated(C.data(), rows.size(), J, maha.gate().max_cost, r2c, c2r);
    giou(tracks, rows, dl, C.data());
    img(tracks, rows, d4, C.data());
    dist(tracks, rows, d3, C.data());
  }
  CHECK(g_allocations.load() == before);
}
