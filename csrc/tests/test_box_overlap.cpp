// Oriented box overlap: hand-computed IoU/GIoU values, the robustness cases (identical,
// touching, nested, rotated, degenerate, far from the origin), input validation, and the
// batch function against the single-pair one.
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "fusion/core/angles.hpp"
#include "fusion/core/errors.hpp"
#include "fusion/geometry/box_overlap.hpp"
#include "test_framework.hpp"

using namespace fusion;
using namespace fusion::geometry;

namespace {

constexpr double kTol = 1e-12;
constexpr OverlapKind kAllKinds[] = {OverlapKind::kIouBev, OverlapKind::kIou3d,
                                     OverlapKind::kGiouBev, OverlapKind::kGiou3d};

Box3 unit_box(double x = 0.0, double y = 0.0, double z = 0.0, double yaw = 0.0) {
  return {x, y, z, yaw, 1.0, 1.0, 1.0};
}

Box3 random_box(std::mt19937& rng) {
  std::uniform_real_distribution<double> pos(-3.0, 3.0), size(0.2, 4.0), yaw(-kPi, kPi);
  return {pos(rng), pos(rng), 0.5 * pos(rng), yaw(rng), size(rng), size(rng), size(rng)};
}

}  // namespace

TEST_CASE("box_overlap: polygon area sign and value") {
  const Point2 ccw[4] = {{0, 0}, {1, 0}, {1, 1}, {0, 1}};
  const Point2 cw[4] = {{0, 0}, {0, 1}, {1, 1}, {1, 0}};
  CHECK_CLOSE(polygon_area(ccw, 4), 1.0, kTol);
  CHECK_CLOSE(polygon_area(cw, 4), -1.0, kTol);
  CHECK(polygon_area(ccw, 2) == 0.0);
}

TEST_CASE("box_overlap: bev corners are counter-clockwise and rotate with yaw") {
  const Box3 b{1.0, 2.0, 0.0, 0.5 * kPi, 4.0, 2.0, 1.0};
  const auto c = bev_corners(b);
  CHECK_CLOSE(polygon_area(c.data(), 4), 8.0, kTol);
  // Heading +y: the front-left corner is 2 m ahead (+y) and 1 m to the left (-x).
  CHECK_CLOSE(c[0].x, 0.0, kTol);
  CHECK_CLOSE(c[0].y, 4.0, kTol);
  const auto shifted = bev_corners(b, {1.0, 2.0});
  CHECK_CLOSE(shifted[0].x, -1.0, kTol);
  CHECK_CLOSE(shifted[0].y, 2.0, kTol);
}

TEST_CASE("box_overlap: clipping and convex hull of simple polygons") {
  const Point2 sq[4] = {{0, 0}, {2, 0}, {2, 2}, {0, 2}};
  const Point2 shifted[4] = {{1, 1}, {3, 1}, {3, 3}, {1, 3}};
  const Polygon p = clip_convex(sq, 4, shifted, 4);
  CHECK(p.n >= 4);
  CHECK_CLOSE(polygon_area(p.v.data(), p.n), 1.0, kTol);
  const Point2 far[4] = {{5, 5}, {6, 5}, {6, 6}, {5, 6}};
  CHECK(clip_convex(sq, 4, far, 4).n == 0);
  const Point2 cloud[8] = {{0, 0}, {2, 0}, {2, 2}, {0, 2}, {1, 1}, {0.5, 1.5}, {1, 0}, {2, 1}};
  CHECK_CLOSE(convex_hull_area(cloud, 8), 4.0, kTol);
  const Point2 line[3] = {{0, 0}, {1, 1}, {2, 2}};
  CHECK(convex_hull_area(line, 3) == 0.0);
}

TEST_CASE("box_overlap: identical boxes give exactly 1") {
  std::mt19937 rng(1);
  for (int t = 0; t < 50; ++t) {
    const Box3 b = random_box(rng);
    for (OverlapKind k : kAllKinds) CHECK(box_overlap(k, b, b) == 1.0);
  }
}

TEST_CASE("box_overlap: unit squares offset by half a side") {
  const Box3 a = unit_box(), b = unit_box(0.5);
  CHECK_CLOSE(iou_bev(a, b), 1.0 / 3.0, kTol);
  CHECK_CLOSE(iou_3d(a, b), 1.0 / 3.0, kTol);
  CHECK_CLOSE(giou_bev(a, b), 1.0 / 3.0, kTol);  // the hull is the union here
  CHECK_CLOSE(giou_3d(a, b), 1.0 / 3.0, kTol);
  // Also offset by 0.5 vertically: I = 0.25, U = 1.75, C = 1.5 * 1.5.
  const Box3 c = unit_box(0.5, 0.0, 0.5);
  CHECK_CLOSE(iou_bev(a, c), 1.0 / 3.0, kTol);
  CHECK_CLOSE(iou_3d(a, c), 1.0 / 7.0, kTol);
  CHECK_CLOSE(giou_3d(a, c), 1.0 / 7.0 - 0.5 / 2.25, kTol);
  // Diagonal offset (0.5, 0.5): I = 0.25, U = 1.75, hull = 2.25 - 2 * 0.125.
  const Box3 d = unit_box(0.5, 0.5);
  CHECK_CLOSE(iou_bev(a, d), 1.0 / 7.0, kTol);
  CHECK_CLOSE(giou_bev(a, d), 1.0 / 7.0 - 0.25 / 2.0, kTol);
}

TEST_CASE("box_overlap: touching and disjoint boxes") {
  const Box3 a = unit_box();
  const Box3 touching = unit_box(1.0), corner = unit_box(1.0, 1.0), apart = unit_box(2.0);
  for (const Box3& b : {touching, corner, apart}) {
    CHECK(iou_bev(a, b) == 0.0);
    CHECK(iou_3d(a, b) == 0.0);
  }
  CHECK_CLOSE(giou_bev(a, touching), 0.0, kTol);  // hull == union
  CHECK_CLOSE(giou_bev(a, apart), -1.0 / 3.0, kTol);
  CHECK_CLOSE(giou_3d(a, apart), -1.0 / 3.0, kTol);
  // Stacked: same footprint, touching faces.
  const Box3 above = unit_box(0.0, 0.0, 1.0);
  CHECK_CLOSE(iou_bev(a, above), 1.0, kTol);
  CHECK(iou_3d(a, above) == 0.0);
  CHECK_CLOSE(giou_3d(a, above), 0.0, kTol);
  // Far apart GIoU tends to -1.
  CHECK(giou_bev(a, unit_box(1e4)) < -0.999);
  CHECK(giou_bev(a, unit_box(1e4)) >= -1.0);
}

TEST_CASE("box_overlap: nested boxes") {
  const Box3 outer{0, 0, 0, 0.0, 2.0, 2.0, 2.0};
  const Box3 inner = unit_box(0.2, -0.2, 0.1, 0.25 * kPi);  // half-diagonal 0.71 fits
  CHECK_CLOSE(iou_bev(outer, inner), 0.25, kTol);
  CHECK_CLOSE(iou_3d(outer, inner), 0.125, kTol);
  CHECK_CLOSE(giou_bev(outer, inner), 0.25, kTol);
  CHECK_CLOSE(giou_3d(outer, inner), 0.125, kTol);
}

TEST_CASE("box_overlap: rotations by 45, 90 and 180 degrees") {
  // A unit square and its 45-degree turn meet in a regular octagon: IoU = 1/sqrt(2).
  CHECK_CLOSE(iou_bev(unit_box(), unit_box(0, 0, 0, 0.25 * kPi)), 1.0 / std::sqrt(2.0), kTol);
  // A 2 x 1 box and its 90-degree turn: a 1 x 1 cross centre, U = 3, octagonal hull 3.5.
  const Box3 a{0, 0, 0, 0.0, 2.0, 1.0, 1.0};
  Box3 b = a;
  b.yaw = 0.5 * kPi;
  CHECK_CLOSE(iou_bev(a, b), 1.0 / 3.0, kTol);
  CHECK_CLOSE(iou_3d(a, b), 1.0 / 3.0, kTol);
  CHECK_CLOSE(giou_bev(a, b), 1.0 / 3.0 - 0.5 / 3.5, kTol);
  // Turning a box by 180 degrees (or a full turn) leaves the same box.
  std::mt19937 rng(2);
  for (int t = 0; t < 50; ++t) {
    const Box3 r = random_box(rng);
    for (const double turn : {kPi, -kPi, 2.0 * kPi}) {
      Box3 f = r;
      f.yaw += turn;
      for (OverlapKind k : kAllKinds) CHECK_CLOSE(box_overlap(k, r, f), 1.0, 1e-12);
    }
  }
}

TEST_CASE("box_overlap: degenerate boxes give 0 and never NaN") {
  const Box3 a = unit_box();
  const Box3 zero_l{0.2, 0.1, 0, 0.3, 0.0, 1.0, 1.0};
  const Box3 point{0.1, 0.1, 0, 0.0, 0.0, 0.0, 0.0};
  const Box3 flat{0, 0, 0, 0.0, 1.0, 1.0, 0.0};
  for (const Box3& d : {zero_l, point, flat}) {
    CHECK(iou_3d(a, d) == 0.0);
    CHECK(iou_3d(d, a) == 0.0);
    CHECK(iou_3d(d, d) == 0.0);
    for (OverlapKind k : kAllKinds) {
      CHECK(std::isfinite(box_overlap(k, a, d)));
      CHECK(std::isfinite(box_overlap(k, d, d)));
      CHECK(box_overlap(k, d, a) <= 0.0 || k == OverlapKind::kIouBev || k == OverlapKind::kGiouBev);
    }
  }
  CHECK(iou_bev(a, zero_l) == 0.0);
  CHECK(iou_bev(a, point) == 0.0);
  CHECK_CLOSE(iou_bev(a, flat), 1.0, kTol);  // a flat box still has a footprint
  CHECK(box_overlap(OverlapKind::kGiouBev, point, point) == 0.0);
  CHECK_CLOSE(giou_bev(a, point), 0.0, kTol);  // a point inside: the hull is the union
  // Two distinct points: no enclosing area, so 0 rather than 0/0.
  const Box3 other_point{3.0, 0.0, 0, 0.0, 0.0, 0.0, 0.0};
  CHECK(giou_bev(point, other_point) == 0.0);
  CHECK(giou_3d(point, other_point) == 0.0);
}

TEST_CASE("box_overlap: far from the origin") {
  for (const double x0 : {1e3, 1e5, 1e6}) {
    const Box3 a = unit_box(x0, -x0), b = unit_box(x0 + 0.5, -x0);
    CHECK_CLOSE(iou_bev(a, b), 1.0 / 3.0, 1e-9);
    CHECK_CLOSE(giou_3d(a, b), 1.0 / 3.0, 1e-9);
  }
}

TEST_CASE("box_overlap: symmetry, bounds and invariance on random pairs") {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> shift(-50.0, 50.0), turn(-kPi, kPi);
  for (int t = 0; t < 500; ++t) {
    const Box3 a = random_box(rng), b = random_box(rng);
    const double dx = shift(rng), dy = shift(rng), dz = shift(rng), th = turn(rng);
    const double c = std::cos(th), s = std::sin(th);
    auto moved = [&](const Box3& q) {
      return Box3{c * q.x - s * q.y + dx, s * q.x + c * q.y + dy, q.z + dz, q.yaw + th, q.l, q.w, q.h};
    };
    for (OverlapKind k : kAllKinds) {
      const double v = box_overlap(k, a, b);
      CHECK_CLOSE(v, box_overlap(k, b, a), 1e-12);
      CHECK(v <= 1.0);
      CHECK(v >= (is_giou(k) ? -1.0 : 0.0));
      CHECK_CLOSE(v, box_overlap(k, moved(a), moved(b)), 1e-9);
    }
  }
}

TEST_CASE("box_overlap: invalid input throws with the box named") {
  const Box3 a = unit_box();
  Box3 bad = unit_box();
  bad.yaw = std::nan("");
  CHECK_THROWS(iou_bev(a, bad), NumericalError);
  CHECK_THROWS(giou_3d(bad, a), NumericalError);
  Box3 negative = unit_box();
  negative.w = -1.0;
  CHECK_THROWS(iou_3d(a, negative), NumericalError);
  try {
    iou_3d(a, bad);
    CHECK(false);
  } catch (const NumericalError& e) {
    CHECK(std::string(e.what()).find("box b") != std::string::npos);
  }
  std::vector<double> boxes_a(3 * kBoxDim, 1.0), boxes_b(2 * kBoxDim, 1.0), out(6, -5.0);
  boxes_a[2 * kBoxDim + 1] = std::numeric_limits<double>::infinity();
  try {
    pairwise_overlap(OverlapKind::kIou3d, boxes_a.data(), 3, boxes_b.data(), 2, out.data());
    CHECK(false);
  } catch (const NumericalError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("a[2]") != std::string::npos);
    CHECK(msg.find("iou_3d") != std::string::npos);
  }
  CHECK(out[0] == -5.0);  // validation happens before any output is written
  CHECK_THROWS(overlap_kind_from_string("iou_2d"), ConfigurationError);
  CHECK(overlap_kind_from_string("giou_3d") == OverlapKind::kGiou3d);
}

TEST_CASE("box_overlap: pairwise matches single pairs, with and without the circle pre-check") {
  std::mt19937 rng(4);
  const Index n = 23, m = 17;
  std::vector<double> a(static_cast<std::size_t>(n * kBoxDim)), b(static_cast<std::size_t>(m * kBoxDim));
  std::vector<Box3> ba, bb;
  for (Index i = 0; i < n; ++i) {
    const Box3 q = random_box(rng);
    ba.push_back(q);
    const double v[kBoxDim] = {q.x, q.y, q.z, q.yaw, q.l, q.w, q.h};
    std::copy(v, v + kBoxDim, a.begin() + i * kBoxDim);
  }
  for (Index j = 0; j < m; ++j) {
    const Box3 q = random_box(rng);
    bb.push_back(q);
    const double v[kBoxDim] = {q.x, q.y, q.z, q.yaw, q.l, q.w, q.h};
    std::copy(v, v + kBoxDim, b.begin() + j * kBoxDim);
  }
  std::vector<double> fast(static_cast<std::size_t>(n * m)), full(fast.size());
  int zeros = 0;
  for (OverlapKind k : kAllKinds) {
    pairwise_iou(to_string(k), a.data(), n, b.data(), m, fast.data(), true);
    pairwise_overlap(k, a.data(), n, b.data(), m, full.data(), false);
    for (Index i = 0; i < n; ++i) {
      for (Index j = 0; j < m; ++j) {
        const std::size_t ij = static_cast<std::size_t>(i * m + j);
        const double expect = box_overlap(k, ba[static_cast<std::size_t>(i)], bb[static_cast<std::size_t>(j)]);
        CHECK(fast[ij] == expect);
        CHECK(full[ij] == expect);
        zeros += (k == OverlapKind::kIouBev && expect == 0.0);
      }
    }
  }
  CHECK(zeros > 0);  // the random scene has disjoint pairs, so the pre-check was exercised
  CHECK(zeros < n * m);
  pairwise_overlap(OverlapKind::kIou3d, a.data(), 0, b.data(), m, fast.data());  // empty is fine
}
