"""The cost of the banks' strict mode (``on_invalid="raise"``: a call that fails for one filter
changes no filter) against the lenient mode (``"skip"``: only the failing filter is left
unchanged), same bank, same inputs, same run:

- ukf-predict-strict: UnscentedKalmanFilterBank (CTRV + radar, 1,000 filters) ``predict``.
- ukf-update-strict: the same bank's ``update``.
- kf-update-strict: KalmanFilterBank (CV + position, 10,000 filters) ``update``.
- kf-predict-strict: the same bank's ``predict`` (added by the session-7 review: the snapshot is
  a whole-bank copy on every strict call, and a linear predict does little else).
- imm-update-strict: IMMBank (CV + CTRV, position, 10,000 tracks) ``update``.

Run: pytest benchmarks/bench_strict.py --benchmark-enable --benchmark-only -p no:cacheprovider
Results: benchmarks/RESULTS.md, section "Fuzzing" (the strict-mode cost line)."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.filters import IMMBank, KalmanFilterBank, UnscentedKalmanFilterBank
from fusion.models import CTRV, CV2D, Position2D, RadarPolar

DT = 0.1
MODES = ["raise", "skip"]


def _ukf(mode: str) -> UnscentedKalmanFilterBank:
    x0 = np.array([30.0, 5.0, 12.0, 0.3, 0.05])
    return UnscentedKalmanFilterBank(CTRV(sigma_a=2.0, sigma_yawdd=0.5), RadarPolar(), 1_000, alpha=0.5,
                                     R=np.diag([0.25, 1e-4, 0.04]), x=x0, P=np.eye(5), on_invalid=mode)


@pytest.mark.benchmark(group="ukf-predict-strict")
@pytest.mark.parametrize("mode", MODES)
def test_ukf_bank_predict(benchmark, mode):
    bank = _ukf(mode)
    x0, P0 = bank.x.copy(), bank.P.copy()

    def setup():  # every round starts from the same state: the covariance does not grow
        bank.x, bank.P = x0, P0

    benchmark.pedantic(bank.predict, args=(DT,), setup=setup, rounds=300, warmup_rounds=10)
    assert np.isfinite(bank.P).all() and (bank.P[:, 0, 0] > 1.0).all()


@pytest.mark.benchmark(group="ukf-update-strict")
@pytest.mark.parametrize("mode", MODES)
def test_ukf_bank_update(benchmark, mode):
    bank = _ukf(mode)
    bank.predict(DT)
    x0, P0 = bank.x.copy(), bank.P.copy()
    z = np.tile([30.8, 0.2, 11.5], (len(bank), 1))

    def setup():
        bank.x, bank.P = x0, P0

    benchmark.pedantic(bank.update, args=(z,), setup=setup, rounds=300, warmup_rounds=10)
    assert (bank.status == 0).all()


@pytest.mark.benchmark(group="kf-update-strict")
@pytest.mark.parametrize("mode", MODES)
def test_kf_bank_update(benchmark, mode):
    n = 10_000
    bank = KalmanFilterBank(CV2D(1.0), Position2D(), n, R=0.25, P=np.eye(4) * 10.0, on_invalid=mode)
    z = np.random.default_rng(0).normal(0, 1, (n, 2))
    benchmark(bank.update, z)
    assert (bank.status == 0).all()


@pytest.mark.benchmark(group="kf-predict-strict")
@pytest.mark.parametrize("mode", MODES)
def test_kf_bank_predict(benchmark, mode):
    n = 10_000
    bank = KalmanFilterBank(CV2D(1.0), Position2D(), n, R=0.25, P=np.eye(4) * 10.0, on_invalid=mode)
    x0, P0 = bank.x.copy(), bank.P.copy()

    def setup():  # every round starts from the same state
        bank.x, bank.P = x0, P0

    benchmark.pedantic(bank.predict, args=(DT,), setup=setup, rounds=500, warmup_rounds=10)
    assert np.isfinite(bank.P).all() and (bank.P[:, 0, 0] > 10.0).all()


@pytest.mark.benchmark(group="imm-update-strict")
@pytest.mark.parametrize("mode", MODES)
def test_imm_bank_update(benchmark, mode):
    n = 10_000
    bank = IMMBank([CV2D(0.2), CTRV(0.5, 1.0)], Position2D(), n, M=[[0.95, 0.05], [0.05, 0.95]], R=0.25,
                   on_invalid=mode)
    z = np.random.default_rng(0).normal(0, 1, (n, 2))
    benchmark(bank.update, z)
    assert (bank.status == 0).all()
