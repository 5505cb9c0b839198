// WithVerticalVelocity<Base> (motion/with_vertical_velocity.hpp), the base of the ctrv_vz_box and
// bicycle_vz_box engine models: f, F and the view Jacobian against finite differences, the
// vertical motion by hand, and state_from_view(view(x)) = x on what a view holds.
#include <array>
#include <random>

#include "fusion/models/motion.hpp"
#include "fusion/motion/view_adapters.hpp"
#include "fusion/motion/with_extent.hpp"
#include "fusion/motion/with_vertical_velocity.hpp"
#include "numdiff.hpp"
#include "test_framework.hpp"

using namespace fusion;  // NOLINT

namespace {

template <class Model>
void check_model(const Model& mo, Vec<Model::N> x) {
  constexpr int N = Model::N;
  for (double dt : {0.1, 0.5}) {
    const Mat<N, N> F = mo.jacobian(x, dt);
    const Mat<N, N> Fn = testing::numeric_jacobian([&](const Vec<N>& s) { return Vec<N>(mo.f(s, dt)); }, x,
                                                   Model::kAngles);
    CHECK(testing::max_rel_error(F, Fn) < 1e-6);
    const Vec<N> x1 = mo.f(x, dt);
    CHECK_CLOSE(x1(Model::kZ), x(Model::kZ) + dt * x(Model::kVz), 1e-15);
    CHECK(x1(Model::kVz) == x(Model::kVz));
  }
  const ObjectView<N> ov = object_view(mo, x);
  const auto Jn = testing::numeric_jacobian([&](const Vec<N>& s) { return ViewVec(object_view(mo, s).v); }, x,
                                            view::kAngles);
  CHECK(testing::max_rel_error(ov.J, Jn) < 1e-6);
  CHECK(ov.v(view::PZ) == x(Model::kZ) && ov.v(view::VZ) == x(Model::kVz));
  const Vec<N> back = state_from_view(mo, ov.v);
  for (int i : {0, 1, Model::kZ, Model::kVz}) CHECK_CLOSE(back(i), x(i), 1e-12);
}

}  // namespace

TEST_CASE("with_vertical_velocity: CTRV and bicycle with a vertical velocity, Jacobians and views") {
  WithVerticalVelocity<CTRV> ctrv;
  Vec<7> x;
  x << 3.0, -2.0, 7.0, 0.6, 0.3, 0.8, -0.4;  // x y v yaw yaw_rate z vz
  check_model(ctrv, x);
  WithVerticalVelocity<KinematicBicycle> bike;
  bike.wheelbase_m = 2.5;
  x << 3.0, -2.0, 7.0, 0.6, 0.2, 0.8, 0.3;  // x y v yaw steer z vz
  check_model(bike, x);
  // as a box model: WithExtent appends l, w, h only (z and yaw are the base's)
  using Box = WithExtent<WithVerticalVelocity<CTRV>>;
  static_assert(Box::N == 10 && Box::kZ == 5 && Box::kYaw == 3 && Box::kLength == 7, "state layout");
  CHECK(Box::kAngles[3] && !Box::kAngles[5] && !Box::kAngles[6]);
}
