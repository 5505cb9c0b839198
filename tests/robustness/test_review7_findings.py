"""Regression tests for the session-7 review's findings (each test names its finding).

Cost: well under a second."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from fusion.errors import NumericalError
from fusion.filters import (
    ExtendedKalmanFilter,
    ExtendedKalmanFilterBank,
    IMMBank,
    KalmanFilter,
    MerweScaledSigmaPoints,
    UnscentedKalmanFilter,
)
from fusion.models import CTRV, CV2D, RadarPolar


def _rotated_isotropic(theta: float, s: float) -> np.ndarray:
    """R (s I) R^T computed as a user would: exactly s I, but with off-diagonal round-off of
    about 1e-17 where the exact value is 0 (and the two round-offs differ)."""
    c, n = np.cos(theta), np.sin(theta)
    R = np.array([[c, -n], [n, c]])
    return R @ np.diag([s, s]) @ R.T


def _filters() -> dict[str, Any]:
    ukf = UnscentedKalmanFilter(dim_x=2, dim_z=2, dt=0.1, hx=lambda x: x, fx=lambda x, dt: x,
                                points=MerweScaledSigmaPoints(2, 0.1, 2.0, 1.0))
    return {"KalmanFilter": KalmanFilter(dim_x=2, dim_z=2), "ExtendedKalmanFilter": ExtendedKalmanFilter(2, 2),
            "UnscentedKalmanFilter": ukf}


@pytest.mark.parametrize("name", ["KalmanFilter", "ExtendedKalmanFilter", "UnscentedKalmanFilter"])
@pytest.mark.parametrize("attr", ["P", "Q", "R"])
def test_rotated_covariance_with_round_off_is_accepted(name: str, attr: str) -> None:
    """Finding: a covariance moved into another frame (R P R^T of an isotropic P) was refused as
    "not symmetric" 1000 times in 1000 (its exactly-zero off-diagonal comes out as 5e-17 and
    4e-17; the tolerance was relative to those entries only). Now relative to sqrt(P_ii P_jj) too."""
    rng = np.random.default_rng(7)
    asymmetric = 0
    for _ in range(50):
        f = _filters()[name]
        A = _rotated_isotropic(rng.uniform(-np.pi, np.pi), rng.uniform(0.1, 10.0))
        asymmetric += not np.array_equal(A, A.T)
        setattr(f, attr, A)
        np.testing.assert_array_equal(np.asarray(getattr(f, attr)), A)
    assert asymmetric > 25  # the round-off case is what was exercised


@pytest.mark.parametrize("name", ["KalmanFilter", "ExtendedKalmanFilter", "UnscentedKalmanFilter"])
@pytest.mark.parametrize("attr", ["P", "Q", "R"])
def test_a_really_asymmetric_covariance_is_still_refused_and_changes_nothing(name: str, attr: str) -> None:
    f = _filters()[name]
    before = np.array(getattr(f, attr), dtype=float, copy=True)
    for bad in (np.array([[1.0, 0.5], [0.4, 1.0]]), np.array([[1.0, 1e-6], [0.0, 1.0]])):
        with pytest.raises(NumericalError, match=rf"{name}\.{attr}.*symmetric"):
            setattr(f, attr, bad)
        np.testing.assert_array_equal(np.asarray(getattr(f, attr)), before)


class _SwitchingCore:
    """The bank's core, with another thread's ``bank.on_invalid = ...`` landing while the C++
    call runs (made deterministic: the switch happens inside the call)."""

    def __init__(self, bank: Any, core: Any, to: str) -> None:
        self._bank, self._core, self._to = bank, core, to

    def __getattr__(self, name: str) -> Any:
        return getattr(self._core, name)

    def __len__(self) -> int:
        return len(self._core)

    def update(self, *args: Any) -> Any:
        out = self._core.update(*args)
        self._bank.on_invalid = self._to
        return out


def _radar_banks(on: str) -> list[Any]:
    x = np.array([[10.0, 5.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0], [30.0, 1.0, 1.0, 1.0]])  # filter 1 at the radar
    R = np.diag([0.25, 1e-4, 0.04])
    ekf = ExtendedKalmanFilterBank(CV2D(1.0), RadarPolar(), 3, R=R, on_invalid=on)
    ekf.x = x
    imm = IMMBank([CV2D(0.2), CTRV(0.5, 1.0)], RadarPolar(), 3, M=[[0.9, 0.1], [0.1, 0.9]], R=R, on_invalid=on)
    for k in range(2):
        xk = np.zeros((3, imm.model_dims[k]))
        xk[:, :4] = x
        imm.set_model_state(k, x=xk)
    return [ekf, imm]


@pytest.mark.parametrize("kind", ["ekf-bank", "imm-bank"])
def test_on_invalid_switched_during_a_call_reports_what_the_call_did(kind: str) -> None:
    """Finding: update() passed ``on_invalid`` to the core, then read it again to decide between
    raising ("N filter(s) failed, no filter changed") and counting. A lenient call whose mode was
    switched to "raise" meanwhile (another thread) raised "no filter changed" after the core had
    updated filters 0 and 2; a strict call switched to "skip" counted and warned although it had
    rolled every filter back. The mode is now read once per call."""
    z = np.array([[11.0, 0.46, 0.0], [21.0, -0.24, 0.0], [30.0, 0.03, 0.0]])
    # lenient call, switched to strict during it: the other filters were updated, so no raise
    bank = _radar_banks("skip")[kind == "imm-bank"]
    x0 = np.array(bank.x, copy=True)
    bank._core = _SwitchingCore(bank, bank._core, "raise")
    with pytest.warns(RuntimeWarning, match="1 skipped"):
        assert bank.update(z) == 2
    assert bank.skipped == 1 and not np.array_equal(bank.x[0], x0[0])
    # strict call, switched to lenient during it: nothing changed, so it raises and counts nothing
    bank = _radar_banks("raise")[kind == "imm-bank"]
    x0 = np.array(bank.x, copy=True)
    bank._core = _SwitchingCore(bank, bank._core, "skip")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(NumericalError, match="no (filter|track) changed"):
            bank.update(z)
    assert bank.skipped == 0
    np.testing.assert_array_equal(bank.x, x0)


def test_bank_models_are_copies_as_documented() -> None:
    """Finding (documented, not changed): ``bank.motion.sigma_a = 50`` was silently a no-op for
    the bank (the property returns a copy); the docstrings and the Known gaps now say so. A
    change of this behaviour must update them."""
    bank = ExtendedKalmanFilterBank(CV2D(1.0), RadarPolar(), 2)
    bank.motion.sigma_a = 50.0
    assert bank.motion.sigma_a == 1.0
    ref = ExtendedKalmanFilterBank(CV2D(1.0), RadarPolar(), 2)
    bank.predict(1.0)
    ref.predict(1.0)
    np.testing.assert_array_equal(bank.P, ref.P)
    imm = IMMBank([CV2D(0.2), CTRV(0.5, 1.0)], RadarPolar(), 2, M=[[0.9, 0.1], [0.1, 0.9]])
    imm.motions[0].sigma_a = 50.0
    assert imm.motions[0].sigma_a == 0.2
    assert "copy" in (type(bank).motion.__doc__ or "") and "copy" in (IMMBank.motions.__doc__ or "")


@pytest.mark.parametrize("kind", ["ekf-bank", "imm-bank"])
def test_a_skipped_reset_waits_for_the_counting_in_progress(kind: str) -> None:
    """Finding: ``bank.skipped = 0`` from a monitoring thread did not take the lock that a
    lenient call's ``skipped += n`` holds: landing between that read and write, the reset was
    lost (the counter went on from the old value). The setter now takes the same lock; here the
    lock is held as a call counting would hold it, and the reset waits for it."""
    import threading

    z = np.array([[11.0, 0.46, 0.0], [21.0, -0.24, 0.0], [30.0, 0.03, 0.0]])
    bank = _radar_banks("skip")[kind == "imm-bank"]
    with pytest.warns(RuntimeWarning, match="1 skipped, 1 in total"):
        bank.update(z)
    done = threading.Event()

    def reset() -> None:
        bank.skipped = 0
        done.set()

    with bank._skipped_lock:
        t = threading.Thread(target=reset)
        t.start()
        assert not done.wait(0.3)  # the counting "in progress" holds the lock: the reset waits
        assert bank.skipped == 1
    t.join(10)
    assert done.is_set() and bank.skipped == 0
    with pytest.warns(RuntimeWarning, match="1 skipped, 1 in total"):  # counts on from the reset
        bank.update(z)


class _ChangingArray:
    """A value whose conversion runs Python code and gives a good matrix the first time, NaN after."""

    def __init__(self, good: np.ndarray) -> None:
        self.good, self.conversions = good, 0

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        self.conversions += 1
        return self.good if self.conversions == 1 else np.full(self.good.shape, np.nan)


@pytest.mark.parametrize("attr", ["P", "Q", "R", "F", "H", "x"])
def test_kalman_filter_assignment_checks_the_value_it_stores(attr: str) -> None:
    """Finding: KalmanFilter's setters checked one conversion of the value and stored another
    (``keep`` converted it again): a value whose ``__array__`` changed between the two was stored
    unchecked (a NaN P, Q or R accepted). Now converted once; that object is checked and stored."""
    kf = KalmanFilter(dim_x=2, dim_z=2)
    good = np.array([[1.0], [2.0]]) if attr == "x" else np.eye(2)
    v = _ChangingArray(good)
    setattr(kf, attr, v)
    assert v.conversions == 1
    np.testing.assert_array_equal(np.asarray(getattr(kf, attr)), good)
