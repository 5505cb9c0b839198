// Filter kernels: a hand-computed Kalman update, Joseph-form invariants, UKF sigma-point
// moments, and the rule that banks allocate nothing once constructed.
#include <atomic>
#include <cstdlib>
#include <limits>
#include <new>
#include <random>

#include <Eigen/LU>

#include "fusion/core/linalg.hpp"
#include "fusion/filters/filter_bank.hpp"
#include "fusion/filters/linear_kalman_filter.hpp"
#include "fusion/filters/rts_smoother.hpp"
#include "alloc_counter.hpp"
#include "test_framework.hpp"

// Count every heap allocation made by this test binary (declared in alloc_counter.hpp).
std::atomic<long> g_allocations{0};
void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// The nothrow forms too (std::stable_sort's temporary buffer uses them): otherwise they come from
// the runtime's allocator and are freed by the delete below (ASan: alloc-dealloc-mismatch).
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  ++g_allocations;
  return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  ++g_allocations;
  return std::malloc(n ? n : 1);
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace fusion;

TEST_CASE("kalman_update: scalar case by hand") {
  // x = 0, P = 4, z = 2, R = 1  ->  S = 5, K = 0.8, x = 1.6, P = (0.2)^2 4 + 0.8^2 = 0.8
  Vec<1> x(0.0), y(2.0);
  Mat<1, 1> P, H, R, S;
  P << 4.0;
  H << 1.0;
  R << 1.0;
  Mat<1, 1> K;
  const UpdateInfo info = kalman_update<1, 1>(x, P, y, H, R, S, K);
  CHECK(info.status == UpdateStatus::kOk);
  CHECK_CLOSE(x(0), 1.6, 1e-15);
  CHECK_CLOSE(P(0, 0), 0.8, 1e-15);
  CHECK_CLOSE(S(0, 0), 5.0, 1e-15);
  CHECK_CLOSE(info.nis, 4.0 / 5.0, 1e-15);
  CHECK_CLOSE(info.log_likelihood, -0.5 * (0.8 + std::log(5.0) + kLog2Pi), 1e-14);
}

TEST_CASE("kalman_update: non-finite and non-PD inputs leave the state untouched") {
  Vec<2> x(1.0, 2.0);
  Mat<2, 2> P = Mat<2, 2>::Identity(), R = Mat<2, 2>::Identity(), S;
  const Mat<2, 2> H = Mat<2, 2>::Identity();
  Mat<2, 2> K;
  Vec<2> y(std::nan(""), 0.0);
  CHECK(kalman_update<2, 2>(x, P, y, H, R, S, K).status == UpdateStatus::kNonFiniteMeasurement);
  R = -3.0 * Mat<2, 2>::Identity();
  y << 0.1, 0.1;
  CHECK(kalman_update<2, 2>(x, P, y, H, R, S, K).status == UpdateStatus::kNotPositiveDefinite);
  CHECK(x(0) == 1.0 && x(1) == 2.0 && P(0, 0) == 1.0);
}

TEST_CASE("LinearKalmanFilter: constructor validates dimensions") {
  CHECK_THROWS(LinearKalmanFilter(0, 1), ConfigurationError);
  CHECK_THROWS(LinearKalmanFilter(2, 0), ConfigurationError);
}

TEST_CASE("LinearKalmanFilter: one step by hand, the Joseph noise apart from S's, failures change nothing") {
  // 1-D random walk: x = 0, P = 4, Q = 1 -> prior P = 5; z = 2, R = 1 -> S = 6, K = 5/6.
  LinearKalmanFilter kf(1, 1);
  kf.P(0, 0) = 4.0;
  kf.F = MatX::Identity(1, 1);
  kf.Q = MatX::Identity(1, 1);
  kf.predict(false, 1.0);
  CHECK_CLOSE(kf.P_prior(0, 0), 5.0, 1e-15);
  kf.H = MatX::Identity(1, 1);
  kf.zm = VecX::Constant(1, 2.0);
  const MatX R = MatX::Identity(1, 1);
  CHECK(kf.update(R, R).status == UpdateStatus::kOk);
  CHECK_CLOSE(kf.x(0), 2.0 * 5.0 / 6.0, 1e-15);
  CHECK_CLOSE(kf.P(0, 0), 5.0 / 6.0, 1e-15);  // (1 - K)^2 5 + K^2 1 = 5/6
  CHECK_CLOSE(kf.S(0, 0), 6.0, 1e-15);
  CHECK_CLOSE(kf.nis, 4.0 / 6.0, 1e-15);

  // filterpy's scalar R = r with two measurements: r goes into every element of S but the
  // Joseph term is r K K^T. With P = H = I, r = 1: S = I + ones, K = S^-1,
  // P = (I - K)(I - K)^T + K K^T.
  LinearKalmanFilter k2(2, 2);
  k2.H = MatX::Identity(2, 2);
  k2.zm = VecX::Constant(2, 1.0);
  const MatX Rs = MatX::Constant(2, 2, 1.0), Rj = MatX::Identity(2, 2);
  CHECK(k2.update(Rs, Rj).status == UpdateStatus::kOk);
  const MatX S = MatX::Identity(2, 2) + Rs;
  const MatX K = S.inverse();
  const MatX IK = MatX::Identity(2, 2) - K;
  const MatX P = IK * IK.transpose() + K * Rj * K.transpose();
  CHECK((k2.P - P).cwiseAbs().maxCoeff() < 1e-14);
  CHECK((k2.S - S).cwiseAbs().maxCoeff() < 1e-15);

  // A NaN measurement or a non-positive-definite S changes nothing.
  const VecX x_before = k2.x;
  const MatX P_before = k2.P, S_before = k2.S;
  k2.zm(0) = std::nan("");
  CHECK(k2.update(Rj, Rj).status == UpdateStatus::kNonFiniteMeasurement);
  k2.zm(0) = 1.0;
  const MatX neg = -10.0 * MatX::Identity(2, 2);
  CHECK(k2.update(neg, neg).status == UpdateStatus::kNotPositiveDefinite);
  CHECK(k2.x == x_before);
  CHECK(k2.P == P_before);
  CHECK(k2.S == S_before);
}

TEST_CASE("LinearKalmanFilter: buffers of mismatched sizes are a ShapeError, never out-of-bounds memory") {
  // The bindings load F, Q, B, u, H, z and R into these buffers from Python objects; a
  // re-entrant or concurrent call during loading could leave sizes that do not fit.
  LinearKalmanFilter kf(4, 2);
  kf.F = MatX::Identity(4, 4);
  kf.Q = MatX::Identity(4, 4);
  kf.B = MatX::Ones(4, 3);
  kf.u = VecX::Ones(2);  // B has 3 columns
  CHECK_THROWS(kf.predict(true, 1.0), ShapeError);
  kf.Q = MatX::Identity(3, 3);
  CHECK_THROWS(kf.predict(false, 1.0), ShapeError);
  kf.Q = MatX::Identity(4, 4);
  kf.predict(false, 1.0);
  const VecX x_before = kf.x;
  const MatX P_before = kf.P;
  kf.H = MatX::Identity(40, 4);  // 40 rows, z and R of 2
  kf.zm = VecX::Ones(2);
  const MatX R2 = MatX::Identity(2, 2), R40 = MatX::Identity(40, 40);
  CHECK_THROWS(kf.update(R2, R2), ShapeError);
  kf.H = MatX::Identity(2, 4);
  CHECK_THROWS(kf.update(R40, R2), ShapeError);
  CHECK_THROWS(kf.update(R2, R40), ShapeError);
  kf.H = MatX::Identity(2, 3);
  CHECK_THROWS(kf.update(R2, R2), ShapeError);
  CHECK(kf.x == x_before);
  CHECK(kf.P == P_before);
  kf.H = MatX::Identity(2, 4);
  CHECK(kf.update(R2, R2).status == UpdateStatus::kOk);
}

TEST_CASE("EKF CTRV + radar: covariance stays symmetric positive definite over 2000 steps") {
  CTRV mo;
  RadarPolar radar;
  std::mt19937 rng(3);
  std::normal_distribution<double> n01(0.0, 1.0);
  Vec<5> truth;
  truth << 30.0, 5.0, 12.0, 0.3, 0.05;
  Vec<5> x = truth;
  x(0) += 2.0;
  Mat<5, 5> P = Mat<5, 5>::Identity() * 4.0;
  Mat<3, 3> R = Vec<3>(0.25, 1e-4, 0.04).asDiagonal();
  for (int k = 0; k < 2000; ++k) {
    truth = mo.f(truth, 0.05);
    ekf_predict(mo, x, P, 0.05);
    Vec<3> z = Vec<3>::Zero();
    Mat<3, kKinDim> Hk;
    radar.h(mo.kinematics(truth).k, z, Hk);
    z(0) += 0.5 * n01(rng);
    z(1) += 0.01 * n01(rng);
    z(2) += 0.2 * n01(rng);
    const UpdateInfo info = ekf_update(mo, radar, x, P, z, R);
    CHECK(info.status == UpdateStatus::kOk);
    CHECK((P - P.transpose()).cwiseAbs().maxCoeff() == 0.0);
    CHECK(Eigen::LLT<Mat<5, 5>>(P).info() == Eigen::Success);
  }
  CHECK((x.head<2>() - truth.head<2>()).norm() < 3.0);
}

TEST_CASE("UKF sigma points reproduce the mean and covariance") {
  Vec<4> x(1.0, -2.0, 3.0, 0.5);
  Mat<4, 4> A;
  A << 2, 0.3, 0, 0.1, 0.3, 1, 0.2, 0, 0, 0.2, 3, 0.4, 0.1, 0, 0.4, 0.5;
  const MerweWeights w = MerweWeights::make(4, 0.5, 2.0, 0.0);
  Eigen::Matrix<double, 4, 9> X;
  CHECK(merwe_sigma_points<4>(x, A, w, CV2D::kAngles, X));
  Vec<4> m = Vec<4>::Zero();
  for (int i = 0; i < 9; ++i) m += w.wm(i) * X.col(i);
  Mat<4, 4> C = Mat<4, 4>::Zero();
  for (int i = 0; i < 9; ++i) C += w.wc(i) * (X.col(i) - m) * (X.col(i) - m).transpose();
  CHECK((m - x).cwiseAbs().maxCoeff() < 1e-12);
  // Wc0 = Wm0 + (1 - alpha^2 + beta) adds (1 - alpha^2 + beta) * 0 for a centred point.
  CHECK((C - A).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("FilterBank: no heap allocation after construction") {
  FilterBank<CTRV, RadarPolar, BankAlgorithm::kUnscented> ukf(CTRV{}, RadarPolar{}, 64,
                                                              MerweWeights::make(5, 1e-3, 2, 0));
  FilterBank<CV2D, Position2D, BankAlgorithm::kExtended> kf(CV2D{}, Position2D{}, 64,
                                                           MerweWeights::make(4, 1e-3, 2, 0));
  std::vector<double> z3(64 * 3, 1.0), z2(64 * 2, 1.0);
  for (Index i = 0; i < 64; ++i) {
    ukf.x(i) << 10.0 + static_cast<double>(i), 1.0, 5.0, 0.1, 0.01;
    z3[static_cast<std::size_t>(3 * i)] = 10.0 + static_cast<double>(i);
    z3[static_cast<std::size_t>(3 * i + 1)] = 0.1;
  }
  const Mat<3, 3> R3 = Mat<3, 3>::Identity();
  const Mat<2, 2> R2 = Mat<2, 2>::Identity();
  std::vector<std::uint8_t> mask(64, 1);
  const long before = g_allocations.load();
  for (int k = 0; k < 20; ++k) {
    ukf.predict(0.1);
    ukf.update(z3.data(), mask.data(), R3.data(), false);
    kf.predict(0.1);
    kf.update(z2.data(), nullptr, R2.data(), false);
  }
  CHECK(g_allocations.load() == before);
}

TEST_CASE("FilterBank: a strict UKF predict with one unfactorisable covariance predicts no filter") {
  FilterBank<CTRV, RadarPolar, BankAlgorithm::kUnscented> ukf(CTRV{}, RadarPolar{}, 3,
                                                              MerweWeights::make(5, 1e-3, 2, 0));
  for (Index i = 0; i < 3; ++i) ukf.x(i) << 10.0, 1.0, 5.0, 0.1, 0.01;
  ukf.P(1)(0, 0) = -1.0;
  const std::vector<double> x0(ukf.x_data(), ukf.x_data() + 15), P0(ukf.P_data(), ukf.P_data() + 75);
  const long allocations = g_allocations.load();
  CHECK(ukf.predict(0.1, true) == 1);
  CHECK(g_allocations.load() == allocations);
  CHECK(std::vector<double>(ukf.x_data(), ukf.x_data() + 15) == x0);
  CHECK(std::vector<double>(ukf.P_data(), ukf.P_data() + 75) == P0);
  CHECK(ukf.predict(0.1, false) == 1);  // lenient: filters 0 and 2 are predicted, 1 is not
  CHECK(ukf.x(0)(0) != x0[0]);
  CHECK(ukf.x(1)(0) == x0[5]);
}

TEST_CASE("FilterBank: a strict update that fails in one filter restores every filter, allocation-free") {
  FilterBank<CTRV, RadarPolar, BankAlgorithm::kUnscented> ukf(CTRV{}, RadarPolar{}, 3,
                                                              MerweWeights::make(5, 1e-3, 2, 0));
  FilterBank<CV2D, RadarPolar, BankAlgorithm::kExtended> ekf(CV2D{}, RadarPolar{}, 3,
                                                            MerweWeights::make(4, 1e-3, 2, 0));
  for (Index i = 0; i < 3; ++i) {
    ukf.x(i) << 10.0, 1.0, 5.0, 0.1, 0.01;
    ekf.x(i) << 10.0, 1.0, 5.0, 0.1;
  }
  ukf.x(1).head<2>().setZero();  // the radar is undefined at its origin: filter 1 fails
  ekf.x(1).head<2>().setZero();
  const std::vector<double> z = {10.5, 0.1, 4.0, 10.5, 0.1, 4.0, 10.5, 0.1, 4.0};
  const Mat<3, 3> R = Mat<3, 3>::Identity();
  const std::vector<double> ux(ukf.x_data(), ukf.x_data() + 15), uP(ukf.P_data(), ukf.P_data() + 75);
  const std::vector<double> ex(ekf.x_data(), ekf.x_data() + 12), eP(ekf.P_data(), ekf.P_data() + 48);
  const long allocations = g_allocations.load();
  const BankUpdateSummary su = ukf.update(z.data(), nullptr, R.data(), false, true);
  const BankUpdateSummary se = ekf.update(z.data(), nullptr, R.data(), false, true);
  CHECK(g_allocations.load() == allocations);
  CHECK((su.updated == 0 && su.skipped == 1 && su.first_failure == 1));
  CHECK((se.updated == 0 && se.skipped == 1 && se.first_failure == 1));
  CHECK(std::vector<double>(ukf.x_data(), ukf.x_data() + 15) == ux);
  CHECK(std::vector<double>(ukf.P_data(), ukf.P_data() + 75) == uP);
  CHECK(std::vector<double>(ekf.x_data(), ekf.x_data() + 12) == ex);
  CHECK(std::vector<double>(ekf.P_data(), ekf.P_data() + 48) == eP);
  CHECK(ukf.update(z.data(), nullptr, R.data(), false, false).updated == 2);  // lenient: 0 and 2 updated
  CHECK(ukf.x(0)(0) != ux[0]);
  CHECK(ukf.x(1)(0) == ux[5]);
}

TEST_CASE("RTS smoother: a constant state is smoothed to the mean of its measurements") {
  // Random-walk-free scalar state observed 4 times: the smoothed estimate at every step is
  // the same, equal to the filtered estimate at the last step.
  const Index T = 4, n = 1;
  std::vector<double> xs(T), Ps(T), Fs(T, 1.0), Qs(T, 0.0), Ks(T), Pps(T);
  double x = 0.0, P = 1e6;
  const double zs[4] = {1.0, 2.0, 3.0, 2.0};
  for (Index k = 0; k < T; ++k) {
    const double K = P / (P + 1.0);
    x += K * (zs[k] - x);
    P *= (1.0 - K);
    xs[static_cast<std::size_t>(k)] = x;
    Ps[static_cast<std::size_t>(k)] = P;
  }
  rts_smooth(T, n, xs.data(), Ps.data(), Fs.data(), Qs.data(), Ks.data(), Pps.data());
  for (Index k = 0; k < T; ++k) CHECK_CLOSE(xs[static_cast<std::size_t>(k)], xs[3], 1e-5);
}

TEST_CASE("SmallCholesky: a denormal pivot (1/p overflows) or a NaN pivot is not positive definite") {
  Mat<3, 3> A = Mat<3, 3>::Identity();
  SmallCholesky<3> c;
  CHECK(c.compute(A));
  A(1, 1) = 1.2879e-309;  // 1/p = inf: its column would turn the next pivot into NaN
  CHECK(!c.compute(A));
  A(1, 1) = 1e-300;       // tiny but 1/p finite: still a factor
  CHECK(c.compute(A));
  A(2, 2) = std::numeric_limits<double>::quiet_NaN();
  CHECK(!c.compute(A));
}
