// Small aliases shared by the whole core. Matrices are row-major so that a block of them
// maps onto a C-contiguous numpy array without copies; vectors are plain column vectors.
#pragma once
#include <Eigen/Core>
#include <cstdint>

namespace fusion {

using Index = Eigen::Index;
using TimeNs = std::int64_t;  // every timestamp at every interface is int64 nanoseconds

inline constexpr double kNsPerSecond = 1e9;
inline double ns_to_s(TimeNs dt_ns) { return static_cast<double>(dt_ns) / kNsPerSecond; }

template <int R, int C>
using Mat = Eigen::Matrix<double, R, C, (C == 1 && R != 1) ? Eigen::ColMajor : Eigen::RowMajor>;
template <int N>
using Vec = Eigen::Matrix<double, N, 1>;

using MatX = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using VecX = Eigen::VectorXd;

}  // namespace fusion
