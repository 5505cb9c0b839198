// Object view of every motion model, and WithExtent: analytic Jacobians against central
// finite differences, hand-computed values, the heading-less low-speed rule, the box tracker's
// CV box as WithExtent<CV3D>, and no heap allocation.
#include <Eigen/Eigenvalues>
#include <array>
#include <cmath>
#include <random>
#include <type_traits>

#include "alloc_counter.hpp"
#include "fusion/motion/view_adapters.hpp"
#include "fusion/motion/with_extent.hpp"
#include "fusion/state/object_view.hpp"
#include "numdiff.hpp"
#include "test_framework.hpp"

using fusion::CA2D;
using fusion::CA3D;
using fusion::ConstantTurn;
using fusion::CTRA;
using fusion::CTRV;
using fusion::CV2D;
using fusion::CV3D;
using fusion::CVBox;
using fusion::KinematicBicycle;
using fusion::Mat;
using fusion::ObjectView;
using fusion::Vec;
using fusion::ViewVec;
using fusion::WithExtent;
using fusion::testing::max_rel_error;
using fusion::testing::numeric_jacobian;
namespace view = fusion::view;

namespace {

constexpr double kTol = 1e-6;

// |d view / d x - finite differences|, relative.
template <class Motion>
double view_jacobian_error(const Motion& mo, const Vec<Motion::N>& x) {
  constexpr int N = Motion::N;
  const ObjectView<N> ov = object_view(mo, x);
  const auto f = [&](const Vec<N>& xx) { return fusion::view_vector(mo, xx); };
  return max_rel_error(ov.J, numeric_jacobian(f, x, view::kAngles));
}

// |F - finite differences of f|, relative, angles wrapped.
template <class Motion>
double motion_jacobian_error(const Motion& mo, const Vec<Motion::N>& x, double dt) {
  constexpr int N = Motion::N;
  const auto f = [&](const Vec<N>& xx) { return mo.f(xx, dt); };
  return max_rel_error(mo.jacobian(x, dt), numeric_jacobian(f, x, Motion::kAngles));
}

template <int N>
Vec<N> random_state(std::mt19937& rng, double scale = 3.0) {
  std::uniform_real_distribution<double> u(-scale, scale);
  Vec<N> x;
  for (int i = 0; i < N; ++i) x(i) = u(rng);
  return x;
}

// Random state whose ground-plane velocity (components ivx, ivy) is at least 1 m/s, well above
// kMinHeadingSpeed_mps, so that the heading-less models' yaw has its exact Jacobian.
template <int N>
Vec<N> random_moving_state(std::mt19937& rng, int ivx, int ivy) {
  Vec<N> x = random_state<N>(rng);
  while (std::hypot(x(ivx), x(ivy)) < 1.0) x = random_state<N>(rng);
  return x;
}

template <class Motion>
bool row_is_zero(const ObjectView<Motion::N>& ov, view::Idx row) {
  return ov.J.row(row).isZero(0.0);
}

}  // namespace

// ---------------------------------------------------------------- the bare motion models

TEST_CASE("object view: Jacobians of every motion model match finite differences") {
  std::mt19937 rng(21);
  for (int trial = 0; trial < 50; ++trial) {
    CHECK(view_jacobian_error(CV2D{}, random_moving_state<4>(rng, 2, 3)) < kTol);
    CHECK(view_jacobian_error(CV3D{}, random_moving_state<6>(rng, 3, 4)) < kTol);
    CHECK(view_jacobian_error(CA2D{}, random_moving_state<6>(rng, 2, 3)) < kTol);
    CHECK(view_jacobian_error(CA3D{}, random_moving_state<9>(rng, 3, 4)) < kTol);
    CHECK(view_jacobian_error(ConstantTurn{}, random_moving_state<5>(rng, 2, 3)) < kTol);
    // Heading models: any state (their yaw is a state component; speed may be ~0 or < 0).
    CHECK(view_jacobian_error(CTRV{}, random_state<5>(rng)) < kTol);
    CHECK(view_jacobian_error(CTRA{}, random_state<6>(rng)) < kTol);
    Vec<5> xb = random_state<5>(rng);
    xb(KinematicBicycle::STEER) *= 0.2;  // |steer| < 0.6 rad
    CHECK(view_jacobian_error(KinematicBicycle{}, xb) < kTol);
  }
}

TEST_CASE("object view: Jacobians near zero yaw rate match finite differences") {
  for (const double w : {0.0, 1e-9, 1e-5, -1e-3}) {
    Vec<5> x;
    x << 1.0, 2.0, 10.0, 0.7, w;
    CHECK(view_jacobian_error(CTRV{}, x) < kTol);
    Vec<6> xa;
    xa << 1.0, 2.0, 10.0, 0.7, w, 1.5;
    CHECK(view_jacobian_error(CTRA{}, xa) < kTol);
    Vec<5> xc;
    xc << 1.0, 2.0, 8.0, -3.0, w;
    CHECK(view_jacobian_error(ConstantTurn{}, xc) < kTol);
    Vec<5> xb;  // steer ~ w: yaw rate ~ v w / L
    xb << 1.0, 2.0, 10.0, 0.7, w;
    CHECK(view_jacobian_error(KinematicBicycle{}, xb) < kTol);
    // CA: acceleration almost parallel to the velocity turns it at ~ w.
    Vec<6> xca;
    xca << 1.0, 2.0, 3.0, 4.0, 0.6 - 4.0 * w, 0.8 + 3.0 * w;
    CHECK(view_jacobian_error(CA2D{}, xca) < kTol);
  }
}

TEST_CASE("object view: hand-computed values and the components a model lacks") {
  {  // CTRV: velocity along the heading, height and extent 0 with zero rows
    Vec<5> x;
    x << 3.0, -4.0, 10.0, 0.3, 0.2;
    const ObjectView<5> ov = object_view(CTRV{}, x);
    CHECK_CLOSE(ov.v(view::PX), 3.0, 0.0);
    CHECK_CLOSE(ov.v(view::VX), 10.0 * std::cos(0.3), 1e-15);
    CHECK_CLOSE(ov.v(view::VY), 10.0 * std::sin(0.3), 1e-15);
    CHECK_CLOSE(ov.v(view::YAW), 0.3, 0.0);
    CHECK_CLOSE(ov.v(view::YAW_RATE), 0.2, 0.0);
    for (const view::Idx i : {view::PZ, view::VZ, view::LENGTH, view::WIDTH, view::HEIGHT}) {
      CHECK(ov.v(i) == 0.0);
      CHECK(row_is_zero<CTRV>(ov, i));
    }
  }
  {  // CV2D: yaw is the velocity direction, yaw rate 0
    Vec<4> x;
    x << 1.0, 2.0, -3.0, 3.0;
    const ObjectView<4> ov = object_view(CV2D{}, x);
    CHECK_CLOSE(ov.v(view::YAW), 0.75 * fusion::kPi, 1e-15);
    CHECK(ov.v(view::YAW_RATE) == 0.0 && row_is_zero<CV2D>(ov, view::YAW_RATE));
    CHECK_CLOSE(ov.J(view::YAW, 2), -3.0 / 18.0, 1e-15);  // -vy / s^2
    CHECK_CLOSE(ov.J(view::YAW, 3), -3.0 / 18.0, 1e-15);  //  vx / s^2
  }
  {  // CV3D carries height and vertical velocity
    Vec<6> x;
    x << 1, 2, 3, 4, 5, 6;
    const ObjectView<6> ov = object_view(CV3D{}, x);
    CHECK(ov.v(view::PZ) == 3.0 && ov.v(view::VZ) == 6.0);
    CHECK(ov.J(view::PZ, 2) == 1.0 && ov.J(view::VZ, 5) == 1.0);
  }
  {  // CA2D on a circle: centripetal acceleration a = w x v gives yaw rate w
    const double w = 0.4;
    Vec<6> x;
    x << 0, 0, 3.0, 4.0, -w * 4.0, w * 3.0;
    CHECK_CLOSE(object_view(CA2D{}, x).v(view::YAW_RATE), w, 1e-15);
  }
  {  // ConstantTurn: yaw rate is omega
    Vec<5> x;
    x << 0, 0, 5.0, 1.0, -0.25;
    CHECK_CLOSE(object_view(ConstantTurn{}, x).v(view::YAW_RATE), -0.25, 0.0);
  }
  {  // bicycle: yaw rate v tan(steer) / L
    KinematicBicycle bike;
    bike.wheelbase_m = 2.5;
    Vec<5> x;
    x << 0, 0, 10.0, 0.1, 0.2;
    CHECK_CLOSE(object_view(bike, x).v(view::YAW_RATE), 10.0 * std::tan(0.2) / 2.5, 1e-14);
  }
}

TEST_CASE("object view: heading-less models below kMinHeadingSpeed_mps have zero heading rows") {
  const double slow = 0.5 * fusion::kMinHeadingSpeed_mps;
  Vec<4> x;
  x << 1.0, 2.0, 0.6 * slow, 0.8 * slow;
  const ObjectView<4> ov = object_view(CV2D{}, x);
  CHECK_CLOSE(ov.v(view::YAW), std::atan2(0.8, 0.6), 1e-15);  // the value is still the direction
  CHECK(row_is_zero<CV2D>(ov, view::YAW));
  Vec<6> xa;
  xa << 0, 0, 0.6 * slow, 0.8 * slow, -1.0, 1.0;
  const ObjectView<6> oa = object_view(CA2D{}, xa);
  CHECK(oa.v(view::YAW_RATE) == 0.0);
  CHECK(row_is_zero<CA2D>(oa, view::YAW) && row_is_zero<CA2D>(oa, view::YAW_RATE));
  Vec<4> still = Vec<4>::Zero();
  CHECK(object_view(CV2D{}, still).v(view::YAW) == 0.0);  // atan2(0, 0)
  CHECK(object_view(CV2D{}, still).v.allFinite());
}

TEST_CASE("object view: masks say what each model estimates") {
  using fusion::MotionViewTraits;
  static_assert((MotionViewTraits<CTRV>::kProvides & view::kExtent) == 0);
  static_assert(!view::contains(MotionViewTraits<CV2D>::kProvides, view::PZ));
  static_assert(view::contains(MotionViewTraits<CV3D>::kProvides, view::PZ));
  static_assert(view::contains(MotionViewTraits<CA2D>::kProvides, view::YAW_RATE));
  static_assert(!view::contains(MotionViewTraits<CV2D>::kProvides, view::YAW_RATE));
  static_assert(MotionViewTraits<WithExtent<CTRV>>::kProvides ==
                (view::kPosition | view::kVelocityXY | view::kHeading | view::kYawRate |
                 view::kExtent));
  // an appended yaw is a random walk: the CA base's velocity-derived yaw rate is dropped
  static_assert(!view::contains(MotionViewTraits<WithExtent<CA2D>>::kProvides, view::YAW_RATE));
  CHECK(true);
}

// ---------------------------------------------------------------- WithExtent

TEST_CASE("with_extent: state layouts and angle masks") {
  static_assert(WithExtent<CV2D>::N == 9 && WithExtent<CV2D>::kZ == 4 &&
                WithExtent<CV2D>::kYaw == 5 && WithExtent<CV2D>::kLength == 6);
  static_assert(CVBox::N == 10 && CVBox::kZ == 2 && CVBox::kYaw == 6 && CVBox::kLength == 7 &&
                CVBox::kWidth == 8 && CVBox::kHeight == 9);
  static_assert(WithExtent<CA3D>::N == 13 && WithExtent<CA3D>::kYaw == 9);
  static_assert(WithExtent<CTRV>::N == 9 && WithExtent<CTRV>::kYaw == CTRV::YAW &&
                WithExtent<CTRV>::kZ == 5 && WithExtent<CTRV>::kLength == 6);
  static_assert(WithExtent<CTRA>::N == 10 && WithExtent<CTRA>::kZ == 6);
  static_assert(WithExtent<KinematicBicycle>::N == 9);
  static_assert(WithExtent<ConstantTurn>::N == 10 && WithExtent<ConstantTurn>::kYaw == 6);
  for (int i = 0; i < CVBox::N; ++i) CHECK(CVBox::kAngles[static_cast<std::size_t>(i)] == (i == 6));
  for (int i = 0; i < WithExtent<CTRV>::N; ++i)
    CHECK(WithExtent<CTRV>::kAngles[static_cast<std::size_t>(i)] == (i == CTRV::YAW));
}

namespace {

// The appended yaw replaces the velocity direction, so no speed condition is needed here.
template <class Base>
void check_with_extent(std::mt19937& rng) {
  using Model = WithExtent<Base>;
  constexpr int N = Model::N;
  Model mo;
  mo.noise.z_m2_per_s = 0.3;
  mo.noise.length_m2_per_s = 0.2;
  for (int trial = 0; trial < 30; ++trial) {
    Vec<N> x = random_state<N>(rng);
    if constexpr (std::is_same_v<Base, KinematicBicycle>) x(KinematicBicycle::STEER) *= 0.2;
    CHECK(view_jacobian_error(mo, x) < kTol);
    for (const double dt : {0.05, 0.5}) {
      CHECK(motion_jacobian_error(mo, x, dt) < kTol);
      const Mat<N, N> Q = mo.Q(x, dt);
      CHECK((Q - Q.transpose()).cwiseAbs().maxCoeff() < 1e-15);  // as the base's own Q
      CHECK(Eigen::SelfAdjointEigenSolver<Mat<N, N>>(Q).eigenvalues().minCoeff() > -1e-12);
      // block-diagonal: nothing couples the base to the appended components
      CHECK(Q.template topRightCorner<Model::kBaseN, N - Model::kBaseN>().isZero(0.0));
      CHECK_CLOSE(Q(Model::kLength, Model::kLength), 0.2 * dt, 1e-15);
      CHECK(Q.template topLeftCorner<Model::kBaseN, Model::kBaseN>() ==
            mo.base.Q(x.template head<Model::kBaseN>(), dt));
    }
    // extent passes through the prediction unchanged
    const Vec<N> y = mo.f(x, 0.1);
    CHECK(y(Model::kLength) == x(Model::kLength) && y(Model::kHeight) == x(Model::kHeight));
  }
}

}  // namespace

TEST_CASE("with_extent: f, F, Q and view of every base model") {
  std::mt19937 rng(8);
  check_with_extent<CV2D>(rng);
  check_with_extent<CV3D>(rng);
  check_with_extent<CA2D>(rng);
  check_with_extent<CA3D>(rng);
  check_with_extent<ConstantTurn>(rng);
  check_with_extent<CTRV>(rng);
  check_with_extent<CTRA>(rng);
  check_with_extent<KinematicBicycle>(rng);
}

TEST_CASE("with_extent: Q of a backward step is still positive semi-definite") {
  WithExtent<CTRV> mo;
  Vec<9> x = Vec<9>::Ones();
  const Mat<9, 9> Q = mo.Q(x, -0.2);
  CHECK_CLOSE(Q(WithExtent<CTRV>::kZ, WithExtent<CTRV>::kZ), mo.noise.z_m2_per_s * 0.2, 1e-15);
  CHECK(Eigen::SelfAdjointEigenSolver<Mat<9, 9>>(Q).eigenvalues().minCoeff() > -1e-12);
}

TEST_CASE("with_extent: the view takes yaw from the appended state, not the velocity") {
  CVBox mo;
  Vec<10> x;
  x << 1, 2, 0.5, 5.0, 0.0, 0.0, 1.2, 4.5, 1.8, 1.5;  // moving along +x, heading 1.2 rad
  const ObjectView<10> ov = mo.view(x);
  CHECK(ov.v(view::YAW) == 1.2 && ov.J(view::YAW, CVBox::kYaw) == 1.0);
  CHECK(ov.J.row(view::YAW).sum() == 1.0);  // no velocity coupling
  CHECK(ov.v(view::YAW_RATE) == 0.0 && ov.J.row(view::YAW_RATE).isZero(0.0));
  CHECK(ov.v(view::PZ) == 0.5 && ov.v(view::LENGTH) == 4.5 && ov.v(view::HEIGHT) == 1.5);
  // the appended yaw is wrapped by f
  x(CVBox::kYaw) = 3.5;
  CHECK_CLOSE(mo.f(x, 0.1)(CVBox::kYaw), 3.5 - 2.0 * fusion::kPi, 1e-15);
}

TEST_CASE("with_extent: the box tracker's 10-state CV box is WithExtent<CV3D> permuted") {
  // the old box tracker's order (its deleted tracking/box_motion.hpp): x, y, z, yaw, l, w, h, vx, vy, vz.
  // tracker_to_box[i] is the CVBox index of the tracker's component i.
  constexpr std::array<int, 10> tracker_to_box{0, 1, 2, 6, 7, 8, 9, 3, 4, 5};
  const double dt = 0.1;
  // The tracker's CV prediction, written out (box_motion_predict, kCv): p += dt v, F(p, v) = dt.
  Mat<10, 10> F_tracker = Mat<10, 10>::Identity();
  F_tracker(0, 7) = F_tracker(1, 8) = F_tracker(2, 9) = dt;
  std::mt19937 rng(4);
  const Vec<10> xt = random_state<10>(rng);
  Vec<10> xb;
  for (int i = 0; i < 10; ++i) xb(tracker_to_box[static_cast<std::size_t>(i)]) = xt(i);
  const CVBox mo;
  const Vec<10> yb = mo.f(xb, dt), yt = F_tracker * xt;
  const Mat<10, 10> Fb = mo.jacobian(xb, dt);
  for (int i = 0; i < 10; ++i) {
    const int bi = tracker_to_box[static_cast<std::size_t>(i)];
    CHECK_CLOSE(yb(bi), yt(i), 1e-15);
    for (int j = 0; j < 10; ++j)
      CHECK(Fb(bi, tracker_to_box[static_cast<std::size_t>(j)]) == F_tracker(i, j));
  }
}

TEST_CASE("object view and with_extent: no heap allocation") {
  std::mt19937 rng(2);
  const Vec<10> x = random_state<10>(rng);
  const CVBox box;
  const WithExtent<CTRA> ctra;
  double sink = 0.0;
  const long before = g_allocations.load();
  for (int k = 0; k < 100; ++k) {
    sink += object_view(CV2D{}, Vec<4>(x.head<4>())).J.sum();
    sink += object_view(CA3D{}, Vec<9>(x.head<9>())).J.sum();
    sink += object_view(ConstantTurn{}, Vec<5>(x.head<5>())).J.sum();
    sink += object_view(CTRV{}, Vec<5>(x.head<5>())).J.sum();
    sink += object_view(KinematicBicycle{}, Vec<5>(x.head<5>())).J.sum();
    sink += box.view(x).J.sum() + box.f(x, 0.1).sum() + box.jacobian(x, 0.1).sum() +
            box.Q(x, 0.1).sum();
    sink += ctra.view(x).J.sum() + ctra.f(x, 0.1).sum() + ctra.jacobian(x, 0.1).sum() +
            ctra.Q(x, 0.1).sum();
  }
  CHECK(g_allocations.load() == before);
  CHECK(std::isfinite(sink));
}
