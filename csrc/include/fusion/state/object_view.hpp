// ObjectView: what any sensor model may read of a tracked object, whatever the motion model.
//
// Every motion model maps its own state x (N components) onto the same 11-vector
//
//     view = (px, py, pz, vx, vy, vz, yaw, yaw_rate, length, width, height)
//
// together with the Jacobian d view / d x (11 x N). A sensor model reads only the view, so a
// measurement Jacobian with respect to the state is the chain rule
//
//     H = d z / d x = (d z / d view) (d view / d x),
//
// and any sensor works with any motion model without a pairwise implementation. This widens
// the old kinematic point (position and velocity, models/kinematics.hpp), which could not
// express a box: lidar and camera box models need heading and extent.
//
// Frame and units: the tracking frame, right-handed, z up, yaw counter-clockwise from +x about
// +z (the Box3 convention of geometry/box_overlap.hpp). Position is the box CENTRE [m];
// velocity is over ground (not relative to the ego vehicle) [m/s]; yaw [rad] is the heading of
// the length axis; yaw_rate [rad/s]; length along the heading, width across it, height
// vertical [m].
//
// A motion model that lacks a component (a point model has no extent, a ground-plane model
// no height) gives it a constant value (0) and a zero Jacobian row, and says which components
// it really estimates in a mask (kProvides, see motion/view_adapters.hpp), so that an engine
// can refuse pairing, say, a lidar box sensor with a model that has no extent.
#pragma once
#include <array>
#include <cstdint>

#include "fusion/core/types.hpp"
#include "fusion/geometry/box_overlap.hpp"

namespace fusion {

namespace view {

// Component indices of the view vector. Use these names, never bare numbers.
enum Idx : int {
  PX = 0,
  PY = 1,
  PZ = 2,
  VX = 3,
  VY = 4,
  VZ = 5,
  YAW = 6,
  YAW_RATE = 7,
  LENGTH = 8,
  WIDTH = 9,
  HEIGHT = 10,
};
inline constexpr int kDim = 11;

// Which components are angles: their differences are wrapped to [-pi, pi).
inline constexpr std::array<bool, kDim> kAngles{false, false, false, false, false, false,
                                                true,  false, false, false, false};

// A set of view components, one bit per Idx.
using Mask = std::uint32_t;
constexpr Mask bit(Idx i) { return Mask{1} << static_cast<unsigned>(i); }
inline constexpr Mask kNone = 0;
inline constexpr Mask kPositionXY = bit(PX) | bit(PY);
inline constexpr Mask kPosition = kPositionXY | bit(PZ);
inline constexpr Mask kVelocityXY = bit(VX) | bit(VY);
inline constexpr Mask kVelocity = kVelocityXY | bit(VZ);
inline constexpr Mask kHeading = bit(YAW);
inline constexpr Mask kYawRate = bit(YAW_RATE);
inline constexpr Mask kExtent = bit(LENGTH) | bit(WIDTH) | bit(HEIGHT);
inline constexpr Mask kAll = (Mask{1} << kDim) - 1;
constexpr bool contains(Mask m, Idx i) { return (m & bit(i)) != 0; }

}  // namespace view

inline constexpr int kViewDim = view::kDim;
using ViewVec = Vec<kViewDim>;

// The view of a state and its Jacobian with respect to that state of N components.
template <int N>
struct ObjectView {
  ViewVec v = ViewVec::Zero();
  Mat<kViewDim, N> J = Mat<kViewDim, N>::Zero();
};

// A view reconstructed from one measurement, for track birth: the components in `known` are
// observed; the others hold a best guess (often 0) that the caller should replace by a prior
// with a large variance.
struct PartialView {
  ViewVec v = ViewVec::Zero();
  view::Mask known = view::kNone;
  view::Mask unknown() const { return view::kAll & ~known; }
};

// The 3D box of a view, in the Box3 convention (centre, yaw, l, w, h).
inline geometry::Box3 box_of(const ViewVec& v) {
  return {v(view::PX), v(view::PY), v(view::PZ), v(view::YAW),
          v(view::LENGTH), v(view::WIDTH), v(view::HEIGHT)};
}

}  // namespace fusion
