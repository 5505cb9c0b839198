"""A failed bank call changes nothing (issue 10, "A failed call changes nothing"), for the
filter banks' UPDATE and the per-filter overflow in predict: KalmanFilterBank,
ExtendedKalmanFilterBank, UnscentedKalmanFilterBank and IMMBank, one filter of three failing
half way through the call (filter 0 before it would be updated, filter 2 after it).

Strict (``on_invalid="raise"``): a typed NumericalError naming the failing filter, and every
filter's x, P, nis, log-likelihood (IMM: model states, mu, combined estimate) byte-identical to
before; only ``status`` says which filter failed. Lenient (``"skip"``): exactly that filter
unchanged and counted in ``skipped``, the others updated."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from fusion.errors import NumericalError
from fusion.filters import ExtendedKalmanFilterBank, IMMBank, KalmanFilterBank, UnscentedKalmanFilterBank
from fusion.models import CTRV, CV2D, Position2D, RadarPolar

Z_RADAR = np.array([[11.0, 0.46, 0.0], [21.0, -0.24, 0.0], [30.0, 0.03, 0.0]])
X_TRACKS = np.array([[10.0, 5.0, 1.0, 0.0], [20.0, -5.0, 0.0, 1.0], [30.0, 1.0, 1.0, 1.0]])


def _state(bank: Any) -> list[np.ndarray]:
    if isinstance(bank, IMMBank):
        out = [bank.x, bank.P, bank.mu, bank.log_likelihood]
        out += [bank.mode_x(k) for k in range(bank.n_models)] + [bank.mode_P(k) for k in range(bank.n_models)]
    else:
        out = [bank.x, bank.P, bank.nis, bank.log_likelihood]
    return [a.copy() for a in out]


def _set_x(bank: Any, x: np.ndarray) -> None:
    if isinstance(bank, IMMBank):
        for k in range(bank.n_models):
            xk = np.zeros((len(bank), bank.model_dims[k]))
            xk[:, :4] = x
            bank.set_model_state(k, x=xk)
    else:
        bank.x = x


def _kf_overflow(on: str) -> tuple[Any, np.ndarray, int]:
    """KF: filter 1's innovation z - Hx overflows to inf (x = -1e308, z = 1e308, both finite)."""
    bank = KalmanFilterBank(CV2D(1.0), Position2D(), 3, R=0.25, on_invalid=on)
    x = X_TRACKS.copy()
    x[1, 0] = -1e308
    bank.x = x
    z = X_TRACKS[:, :2] + 0.3
    z[1, 0] = 1e308
    return bank, z, 1  # status 1: non-finite measurement (innovation)


def _kf_huge_covariance(on: str) -> tuple[Any, np.ndarray, int]:
    """KF: filter 1's covariance 1e308 * I: S = P + R overflows to inf (not positive definite)."""
    bank = KalmanFilterBank(CV2D(1.0), Position2D(), 3, R=np.eye(2) * 1e308, on_invalid=on)
    bank.x = X_TRACKS
    P = np.array([np.eye(4)] * 3)
    P[1] *= 1.7e308
    bank.P = P
    bank.R = np.array([np.eye(2), np.eye(2) * 1e308, np.eye(2)])
    return bank, X_TRACKS[:, :2] + 0.3, 2


def _radar_origin(cls: Callable[..., Any]) -> Callable[[str], tuple[Any, np.ndarray, int]]:
    def make(on: str) -> tuple[Any, np.ndarray, int]:
        """EKF / UKF radar: filter 1 sits at the sensor's origin (the model is undefined)."""
        bank = cls(CV2D(1.0), RadarPolar(), 3, R=np.diag([0.25, 1e-4, 0.04]), on_invalid=on)
        x = X_TRACKS.copy()
        x[1] = 0.0  # at rest at the origin: predictions keep it there
        bank.x = x
        return bank, Z_RADAR, 3

    return make


def _imm_radar_origin(on: str) -> tuple[Any, np.ndarray, int]:
    bank = IMMBank([CV2D(0.2), CTRV(0.5, 1.0)], RadarPolar(), 3, M=[[0.9, 0.1], [0.1, 0.9]],
                   R=np.diag([0.25, 1e-4, 0.04]), on_invalid=on)
    x = X_TRACKS.copy()
    x[1] = 0.0
    _set_x(bank, x)
    return bank, Z_RADAR, 3


CASES = {
    "kf-innovation-overflow": _kf_overflow,
    "kf-S-overflow": _kf_huge_covariance,
    "ekf-radar-undefined": _radar_origin(ExtendedKalmanFilterBank),
    "ukf-radar-undefined": _radar_origin(UnscentedKalmanFilterBank),
    "imm-radar-undefined": _imm_radar_origin,
}


@pytest.mark.parametrize("case", CASES)
def test_strict_update_failing_in_one_filter_changes_no_filter(case: str) -> None:
    bank, z, status = CASES[case]("raise")
    before = _state(bank)
    unit = "track" if isinstance(bank, IMMBank) else "filter"
    with pytest.raises(NumericalError, match=rf"update.*\(first: {unit} 1\); 1 {unit}\(s\) failed, no {unit} changed"):
        bank.update(z)
    for a, b in zip(_state(bank), before):
        np.testing.assert_array_equal(a, b)
    assert bank.status[1] == status
    # the same call without the failing filter goes through: the rollback is not a refusal of all
    mask = np.array([True, False, True])
    assert bank.update(z, mask=mask) == 2
    assert not np.array_equal(bank.x[0], before[0][0]) and np.array_equal(bank.x[1], before[0][1])


@pytest.mark.parametrize("case", CASES)
def test_lenient_update_skips_exactly_the_failing_filter(case: str) -> None:
    bank, z, status = CASES[case]("skip")
    before = _state(bank)
    with pytest.warns(RuntimeWarning, match="1 skipped, 1 in total"):
        assert bank.update(z) == 2
    assert bank.skipped == 1
    after = _state(bank)
    for a, b in zip(after, before):
        np.testing.assert_array_equal(a[1], b[1])  # filter 1: every array unchanged
    assert not np.array_equal(after[0][0], before[0][0]) and not np.array_equal(after[0][2], before[0][2])
    assert list(bank.status) == [0, status, 0]


@pytest.mark.parametrize("cls, motion", [(KalmanFilterBank, CV2D()), (ExtendedKalmanFilterBank, CTRV()),
                                         (UnscentedKalmanFilterBank, CTRV())], ids=["kf", "ekf", "ukf"])
def test_strict_predict_whose_one_filter_overflows_changes_no_filter(cls: Any, motion: Any) -> None:
    """Filter 1's prediction overflows while the model's matrices are finite (found only as it
    is predicted, after filter 0): strict restores filter 0 too."""
    bank = cls(motion, Position2D(), size=3, on_invalid="raise")
    x = np.ones((3, bank.dim_x))
    x[1, :] = 1e307
    bank.x = x
    x0, P0 = bank.x.copy(), bank.P.copy()
    with pytest.raises(NumericalError, match="predict: .*1 filter\\(s\\) failed, no filter changed"):
        bank.predict(100.0)
    np.testing.assert_array_equal(bank.x, x0)
    np.testing.assert_array_equal(bank.P, P0)


def test_strict_update_rollback_survives_many_calls_and_copies() -> None:
    """The snapshot is per bank: a copy's failed strict update does not touch the original,
    and alternating failed and good updates keeps the result of the good ones only."""
    import copy

    bank, z, _ = _radar_origin(UnscentedKalmanFilterBank)("raise")
    good = Z_RADAR.copy()
    mask = np.array([True, False, True])
    ref = copy.copy(bank)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(5):
            bank.predict(0.1)
            ref.predict(0.1)
            with pytest.raises(NumericalError):
                bank.update(z)
            bank.update(good, mask=mask)
            ref.update(good, mask=mask)
    for a, b in zip(_state(bank), _state(ref)):
        np.testing.assert_array_equal(a, b)
