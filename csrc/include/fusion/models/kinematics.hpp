// The kinematic point of a state: position and velocity in the tracking frame. Every motion
// model maps its own state onto it (with the Jacobian), and every sensor model reads only it,
// so any sensor model works with any motion model without a pairwise implementation.
#pragma once
#include "fusion/core/types.hpp"

namespace fusion {

enum KinIndex : int { kPx = 0, kPy = 1, kPz = 2, kVx = 3, kVy = 4, kVz = 5 };
inline constexpr int kKinDim = 6;
using KinVec = Vec<kKinDim>;

// Kinematic point and its Jacobian with respect to a state of N components.
template <int N>
struct Kinematics {
  KinVec k = KinVec::Zero();
  Mat<kKinDim, N> J = Mat<kKinDim, N>::Zero();
};

}  // namespace fusion
