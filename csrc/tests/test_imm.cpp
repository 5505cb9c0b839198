// The IMM core (imm.hpp, imm_state_map.hpp, imm_bank.hpp): state maps against their
// definitions, identical models reducing to one Kalman filter, mode probabilities, the far-off
// measurement cases, configuration errors, and no heap allocation once a bank is constructed.
#include <cmath>
#include <limits>
#include <vector>

#include "fusion/filters/filter_bank.hpp"
#include "fusion/filters/imm_bank.hpp"
#include "alloc_counter.hpp"
#include "test_framework.hpp"

using namespace fusion;

namespace {

Mat<2, 2> markov2(double stay) {
  Mat<2, 2> M;
  M << stay, 1.0 - stay, 1.0 - stay, stay;
  return M;
}

}  // namespace

TEST_CASE("ImmStateMap: CV -> CTRV -> CV is the identity on the defined components") {
  const ImmMapOptions opt;
  Vec<4> x;
  x << 1.0, 2.0, 3.0, 4.0;
  Mat<4, 4> P = Mat<4, 4>::Zero();
  P.diagonal() << 1.0, 2.0, 0.3, 0.4;
  P(2, 3) = P(3, 2) = 0.05;
  const Vec<5> xt = Vec<5>::Constant(9.0);
  const Mat<5, 5> Pt = Mat<5, 5>::Identity() * 7.0;
  Vec<5> xm;
  Mat<5, 5> Pm;
  ImmStateMap<CV2D, CTRV>::apply(opt, x, P, xt, Pt, xm, Pm);
  CHECK_CLOSE(xm(2), 5.0, 1e-12);
  CHECK_CLOSE(xm(3), std::atan2(4.0, 3.0), 1e-12);
  CHECK(xm(4) == 9.0);  // yaw rate from the target, uncorrelated
  CHECK(Pm(4, 4) == 7.0 && Pm(4, 0) == 0.0 && Pm(2, 4) == 0.0);
  Vec<4> back;
  Mat<4, 4> Pb;
  ImmStateMap<CTRV, CV2D>::apply(opt, xm, Pm, Vec<4>::Zero(), Mat<4, 4>::Identity(), back, Pb);
  CHECK((back - x).cwiseAbs().maxCoeff() < 1e-12);
  CHECK((Pb - P).cwiseAbs().maxCoeff() < 1e-12);  // J_back J = I on the velocity block
  // below min_speed the heading (and its covariance) comes from the target
  x << 0.0, 0.0, 0.05, 0.0;
  ImmStateMap<CV2D, CTRV>::apply(opt, x, P, xt, Pt, xm, Pm);
  CHECK(xm(3) == 9.0 && Pm(3, 3) == 7.0 && Pm(3, 2) == 0.0);
}

TEST_CASE("ImmStateMap: CV <-> CA copies position and velocity, acceleration from the target") {
  const ImmMapOptions opt;
  Vec<4> x;
  x << 1.0, 2.0, 3.0, 4.0;
  const Mat<4, 4> P = Mat<4, 4>::Identity() * 2.0;
  Vec<6> xt;
  xt << 0, 0, 0, 0, 0.5, -0.5;
  const Mat<6, 6> Pt = Mat<6, 6>::Identity() * 3.0;
  Vec<6> xm;
  Mat<6, 6> Pm;
  ImmStateMap<CV2D, CA2D>::apply(opt, x, P, xt, Pt, xm, Pm);
  CHECK(xm.head<4>() == x && xm(4) == 0.5 && xm(5) == -0.5);
  CHECK(Pm.topLeftCorner<4, 4>() == P && Pm(4, 4) == 3.0 && Pm(0, 4) == 0.0);
  Vec<4> back;
  Mat<4, 4> Pb;
  ImmStateMap<CA2D, CV2D>::apply(opt, xm, Pm, x, P, back, Pb);
  CHECK(back == x && Pb == P);
}

TEST_CASE("Imm: two identical models equal one Kalman filter") {
  ImmBank<Position2D, CV2D, CV2D> imm({CV2D{}, CV2D{}}, Position2D{}, 1, markov2(0.7), Vec<2>(0.3, 0.7));
  FilterBank<CV2D, Position2D, BankAlgorithm::kExtended> kf(CV2D{}, Position2D{}, 1, MerweWeights::make(4, 1, 2, 0));
  for (int k = 0; k < 2; ++k) Eigen::Map<Vec<4>>(imm.x_data(k)) << 1.0, 2.0, 3.0, 4.0;
  kf.x(0) << 1.0, 2.0, 3.0, 4.0;
  imm.refresh();
  const Mat<2, 2> R = Mat<2, 2>::Identity() * 0.5;
  for (int k = 0; k < 30; ++k) {
    const double z[2] = {1.0 + 0.3 * k + 0.1 * std::sin(k), 2.0 + 0.4 * k};
    imm.predict(0.1);
    imm.update(z, nullptr, R.data(), false);
    kf.predict(0.1);
    kf.update(z, nullptr, R.data(), false);
    const Eigen::Map<Vec<4>> x(imm.x_out_data());
    const Eigen::Map<Mat<4, 4>> P(imm.P_out_data());
    CHECK((x - kf.x(0)).cwiseAbs().maxCoeff() < 1e-9);
    CHECK((P - kf.P(0)).cwiseAbs().maxCoeff() < 1e-9);
    CHECK_CLOSE(imm.mu_data()[0] + imm.mu_data()[1], 1.0, 1e-14);
  }
}

TEST_CASE("Imm: mode probabilities follow Bayes' rule from the models' log-likelihoods") {
  ImmBank<Position2D, CV2D, CV2D> bank({CV2D{0.1}, CV2D{5.0}}, Position2D{}, 1, markov2(0.9), Vec<2>(0.6, 0.4));
  const Mat<2, 2> R = Mat<2, 2>::Identity();
  bank.predict(0.1);
  const double z[2] = {2.0, -1.0};
  CHECK(bank.update(z, nullptr, R.data(), false).updated == 1);
  const double* l = bank.log_likelihood_data();
  const double c0 = 0.9 * 0.6 + 0.1 * 0.4, c1 = 0.1 * 0.6 + 0.9 * 0.4;
  const double w0 = c0 * std::exp(l[0]), w1 = c1 * std::exp(l[1]);
  CHECK_CLOSE(bank.mu_data()[0], w0 / (w0 + w1), 1e-12);
  CHECK_CLOSE(bank.mu_data()[1], w1 / (w0 + w1), 1e-12);
  CHECK(bank.status_data()[0] == static_cast<int>(ImmStatus::kOk));
}

TEST_CASE("Imm: far-off measurements never give NaN; no finite likelihood keeps the predicted mode probabilities") {
  ImmBank<Position2D, CV2D, CTRV> bank({CV2D{0.3}, CTRV{}}, Position2D{}, 3, markov2(0.95), Vec<2>(0.7, 0.3));
  const Mat<2, 2> R = Mat<2, 2>::Identity();
  bank.predict(0.1);
  const double z0[6] = {0.1, 0.0, 0.1, 0.0, 0.1, 0.0};
  bank.update(z0, nullptr, R.data(), false);
  bank.predict(0.1);
  std::vector<double> mu_before(bank.mu_data(), bank.mu_data() + 6);
  std::vector<double> x0_before(bank.x_data(0), bank.x_data(0) + 12);
  const double z[6] = {1e4, -1e4, 1e200, 1e200, 0.2, 0.0};  // track 0: NIS ~1e8, under kImmMaxNis
  const ImmBankUpdateSummary s = bank.update(z, nullptr, R.data(), false);
  CHECK(s.updated == 2 && s.flagged == 1 && s.skipped == 0);
  CHECK(bank.status_data()[0] == static_cast<int>(ImmStatus::kLikelihoodUnderflow));
  CHECK(bank.status_data()[1] == static_cast<int>(ImmStatus::kNoFiniteLikelihood));
  CHECK(bank.status_data()[2] == static_cast<int>(ImmStatus::kOk));
  // track 1: mu = M^T mu_before, model states as predicted
  const double c0 = 0.95 * mu_before[2] + 0.05 * mu_before[3];
  CHECK_CLOSE(bank.mu_data()[2], c0, 1e-14);
  for (int a = 0; a < 4; ++a) CHECK(bank.x_data(0)[4 + a] == x0_before[static_cast<std::size_t>(4 + a)]);
  for (int i = 0; i < 3 * 5; ++i) CHECK(std::isfinite(bank.x_out_data()[i]));
  for (int i = 0; i < 3 * 25; ++i) CHECK(std::isfinite(bank.P_out_data()[i]));
  for (int i = 0; i < 6; ++i) CHECK(std::isfinite(bank.mu_data()[i]));
  CHECK_CLOSE(bank.mu_data()[0] + bank.mu_data()[1], 1.0, 1e-14);
}

TEST_CASE("Imm: a model whose NIS exceeds kImmMaxNis keeps its state and gets mu = 0") {
  ImmBank<Position2D, CV2D, CV2D> bank({CV2D{0.1}, CV2D{0.1}}, Position2D{}, 1, markov2(0.9), Vec<2>(0.5, 0.5));
  Eigen::Map<Mat<4, 4>>(bank.P_data(0)) = Mat<4, 4>::Identity() * 1e-4;
  Eigen::Map<Mat<4, 4>>(bank.P_data(1)) = Mat<4, 4>::Identity() * 1e4;
  bank.refresh();
  const std::vector<double> x0(bank.x_data(0), bank.x_data(0) + 4);
  const Mat<2, 2> R = Mat<2, 2>::Identity();
  const double z[2] = {2e5, 0.0};  // model 0: NIS ~4e10 > 1e10; model 1: ~4e6
  const ImmBankUpdateSummary s = bank.update(z, nullptr, R.data(), false);
  CHECK(s.updated == 1 && s.skipped == 0);
  CHECK(bank.log_likelihood_data()[0] == -std::numeric_limits<double>::infinity());
  CHECK(std::isfinite(bank.log_likelihood_data()[1]));
  CHECK(bank.mu_data()[0] == 0.0 && bank.mu_data()[1] == 1.0);
  for (std::size_t a = 0; a < 4; ++a) CHECK(bank.x_data(0)[a] == x0[a]);
  CHECK(bank.x_data(1)[0] > 1e5);
  for (int a = 0; a < 4; ++a) CHECK(bank.x_out_data()[a] == bank.x_data(1)[a]);  // mu = (0, 1): model 1 exactly
}

TEST_CASE("Imm: max_spread_nis is the largest Mahalanobis distance between model states; the bank finds the first track beyond kImmMaxNis") {
  ImmBank<Position2D, CV2D, CV2D> bank({CV2D{}, CV2D{}}, Position2D{}, 3, markov2(0.9), Vec<2>(0.5, 0.5));
  for (int k = 0; k < 2; ++k)
    for (int i = 0; i < 3; ++i) Eigen::Map<Mat<4, 4>>(bank.P_data(k) + 16 * i) = Mat<4, 4>::Identity();
  bank.x_data(1)[4 + 0] = 10.0;   // track 1: 10 m apart, P_0 + P_1 = 2 I: NIS 50
  bank.x_data(1)[8 + 0] = 1e6;    // track 2: NIS 5e11
  bank.refresh();
  CHECK(bank.imm().max_spread_nis(bank.track(0)) == 0.0);
  CHECK_CLOSE(bank.imm().max_spread_nis(bank.track(1)), 50.0, 1e-9);
  double nis = 0.0;
  CHECK(bank.first_spread_beyond_bound(&nis) == 2);
  CHECK_CLOSE(nis, 5e11, 1.0);
  bank.x_data(1)[8 + 0] = 1e5;    // NIS 5e9: within the bound
  bank.refresh();
  CHECK(bank.first_spread_beyond_bound() == -1);
}

TEST_CASE("Imm: a failing model update leaves the whole track unchanged") {
  ImmBank<Position2D, CV2D, CV2D> bank({CV2D{}, CV2D{}}, Position2D{}, 2, markov2(0.9), Vec<2>(0.5, 0.5));
  const Mat<2, 2> R = Mat<2, 2>::Identity();
  const double z[4] = {1.0, 1.0, std::numeric_limits<double>::quiet_NaN(), 0.0};
  std::vector<double> x_before(bank.x_out_data(), bank.x_out_data() + 8);
  const ImmBankUpdateSummary s = bank.update(z, nullptr, R.data(), false);
  CHECK(s.updated == 1 && s.skipped == 1 && s.first_failure == 1);
  CHECK(s.first_status == ImmStatus::kNonFiniteMeasurement);
  for (int a = 0; a < 4; ++a) CHECK(bank.x_out_data()[4 + a] == x_before[static_cast<std::size_t>(4 + a)]);
  CHECK(bank.x_out_data()[0] != x_before[0]);
}

TEST_CASE("ImmBank: a prediction that overflows leaves the track as it was and is reported") {
  ImmBank<Position2D, CV2D, CV2D> bank({CV2D{}, CV2D{}}, Position2D{}, 2, markov2(0.9), Vec<2>(0.5, 0.5));
  bank.predict(0.1);
  std::vector<double> P_before(bank.P_out_data(), bank.P_out_data() + 32);
  std::vector<double> P0_before(bank.P_data(0), bank.P_data(0) + 32);
  const auto r = bank.predict(1e300);
  CHECK(r.first == 2 && r.second == 0);
  for (std::size_t a = 0; a < 32; ++a) {
    CHECK(bank.P_out_data()[a] == P_before[a]);
    CHECK(bank.P_data(0)[a] == P0_before[a]);
  }
  CHECK(bank.status_data()[0] == decltype(bank)::kPredictFailed);
  const auto ok = bank.predict(0.1);
  CHECK(ok.first == 0 && ok.second == -1);
}

TEST_CASE("ImmBank: a strict predict that overflows one track restores every track, allocation-free") {
  ImmBank<Position2D, CV2D, CV2D> bank({CV2D{}, CV2D{}}, Position2D{}, 3, markov2(0.9), Vec<2>(0.5, 0.5));
  bank.predict(0.1);
  for (int k = 0; k < 2; ++k) Eigen::Map<Mat<4, 4>>(bank.P_data(k) + 16).diagonal().setConstant(1e300);
  bank.refresh();
  const auto snap = [&bank] {
    std::vector<double> v(bank.x_out_data(), bank.x_out_data() + 12);
    v.insert(v.end(), bank.P_out_data(), bank.P_out_data() + 48);
    for (int k = 0; k < 2; ++k) {
      v.insert(v.end(), bank.x_data(k), bank.x_data(k) + 12);
      v.insert(v.end(), bank.P_data(k), bank.P_data(k) + 48);
    }
    return v;
  };
  const std::vector<double> before = snap();
  const long allocations = g_allocations.load();
  const auto r = bank.predict(1e5, true);  // track 1 overflows; tracks 0 and 2 would not
  CHECK(g_allocations.load() == allocations);
  CHECK(r.first == 1);
  CHECK(r.second == 1);
  CHECK(snap() == before);
  CHECK(bank.status_data()[1] == decltype(bank)::kPredictFailed);
  const auto lenient = bank.predict(1e5, false);  // only track 1 is left as it was
  CHECK(lenient.first == 1);
  CHECK(bank.P_out_data()[0] > before[12]);  // track 0 predicted: its variance grew
}

TEST_CASE("Imm: invalid Markov matrix or mode probabilities are configuration errors") {
  Mat<2, 2> bad;
  bad << 0.9, 0.2, 0.1, 0.9;
  CHECK_THROWS((ImmBank<Position2D, CV2D, CV2D>({CV2D{}, CV2D{}}, Position2D{}, 1, bad, Vec<2>(0.5, 0.5))),
               ConfigurationError);
  CHECK_THROWS((ImmBank<Position2D, CV2D, CV2D>({CV2D{}, CV2D{}}, Position2D{}, 1, markov2(0.9), Vec<2>(0.0, 0.0))),
               ConfigurationError);
  CHECK_THROWS((ImmBank<Position2D, CV2D, CV2D>({CV2D{}, CV2D{}}, Position2D{}, -1, markov2(0.9), Vec<2>(1.0, 0.0))),
               ConfigurationError);
}

TEST_CASE("ImmBank: a size whose storage cannot be addressed is refused before any allocation") {
  // Review: 2^62 tracks overflowed the element counts (a tiny allocation, then writes past it).
  using Bank = ImmBank<Position2D, CV2D, CTRV>;
  CHECK(Bank::doubles_per_track() == (4 + 16) + (5 + 25) + 2 * 2 + 5 + 25 + 1);
  CHECK(Bank::max_size() > 0);
  for (const Index size : {Bank::max_size() + 1, Index{1} << (8 * sizeof(Index) - 2), std::numeric_limits<Index>::max()})
    CHECK_THROWS((Bank({CV2D{}, CTRV{}}, Position2D{}, size, markov2(0.9), Vec<2>(0.5, 0.5))), ConfigurationError);
}

TEST_CASE("ImmBank: no heap allocation after construction") {
  constexpr Index n = 64;
  ImmBank<Position2D, CV2D, CV2D, CV2D> cv3({CV2D{0.1}, CV2D{1.0}, CV2D{5.0}}, Position2D{}, n,
                                            Mat<3, 3>::Constant(1.0 / 3.0), Vec<3>(0.3, 0.3, 0.4));
  ImmBank<RadarPolar, CV2D, CTRV> radar({CV2D{}, CTRV{}}, RadarPolar{}, n, markov2(0.95), Vec<2>(0.5, 0.5));
  std::vector<double> z2(n * 2, 1.0), z3(n * 3, 0.0);
  for (Index i = 0; i < n; ++i) {
    Eigen::Map<Vec<4>>(radar.x_data(0) + 4 * i) << 10.0 + static_cast<double>(i), 1.0, 5.0, 0.5;
    Eigen::Map<Vec<5>>(radar.x_data(1) + 5 * i) << 10.0 + static_cast<double>(i), 1.0, 5.0, 0.1, 0.01;
    z3[static_cast<std::size_t>(3 * i)] = 10.5 + static_cast<double>(i);
    z3[static_cast<std::size_t>(3 * i + 1)] = 0.1;
  }
  radar.refresh();
  std::vector<std::uint8_t> mask(n, 1);
  mask[3] = 0;
  const Mat<2, 2> R2 = Mat<2, 2>::Identity();
  Mat<3, 3> R3 = Mat<3, 3>::Identity();
  R3(1, 1) = 1e-4;
  const long before = g_allocations.load();
  for (int k = 0; k < 20; ++k) {
    cv3.predict(0.1);
    cv3.update(z2.data(), mask.data(), R2.data(), false);
    radar.predict(0.1);
    radar.update(z3.data(), nullptr, R3.data(), false);
  }
  CHECK(g_allocations.load() == before);
  for (Index i = 0; i < n; ++i) CHECK(radar.status_data()[i] == 0);
}
