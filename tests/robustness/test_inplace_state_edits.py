"""In-place edits of the filterpy-compatible filters' state (issue 10): ``kf.P[0, 0] = nan`` or
the array ``ekf.P *= nan`` edited before its assignment is refused. Every predict/update (and the
KalmanFilter step methods written in Python) starts by checking that x and P are finite and
raises NumericalError naming the filter class and attribute, with the filter unchanged by that
call; assigning a valid P (or x) makes the next step work again, with the same result as a
filter that was never edited."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from fusion.errors import NumericalError
from fusion.filters import (
    ExtendedKalmanFilter,
    IMMEstimator,
    KalmanFilter,
    MerweScaledSigmaPoints,
    UnscentedKalmanFilter,
)

F4 = np.array([[1.0, 0, 0.1, 0], [0, 1, 0, 0.1], [0, 0, 1, 0], [0, 0, 0, 1]])
H4 = np.array([[1.0, 0, 0, 0], [0, 1, 0, 0]])
Z = np.array([[1.0], [2.0]])


def _kf() -> KalmanFilter:
    kf = KalmanFilter(4, 2)
    kf.F, kf.H, kf.Q, kf.R = F4.copy(), H4.copy(), np.eye(4) * 0.01, np.eye(2) * 0.5
    kf.x = np.array([[0.5], [1.0], [1.0], [0.0]])
    return kf


def _ekf() -> ExtendedKalmanFilter:
    ekf = ExtendedKalmanFilter(4, 2)
    ekf.F, ekf.Q, ekf.R = F4.copy(), np.eye(4) * 0.01, np.eye(2) * 0.5
    ekf.x = np.array([[0.5], [1.0], [1.0], [0.0]])
    return ekf


def _ukf() -> UnscentedKalmanFilter:
    pts = MerweScaledSigmaPoints(4, alpha=0.1, beta=2.0, kappa=-1.0)
    ukf = UnscentedKalmanFilter(4, 2, 0.1, hx=lambda x: x[:2], fx=lambda x, dt: F4 @ x, points=pts)
    ukf.Q, ukf.R = np.eye(4) * 0.01, np.eye(2) * 0.5
    ukf.x = np.array([0.5, 1.0, 1.0, 0.0])
    return ukf


def _ekf_update(f: Any, z: Any) -> None:
    f.update(z, lambda x: H4, lambda x: H4 @ x)


# (name, factory, predict, update with Z, update with None)
FILTERS: dict[str, tuple[Callable[[], Any], Callable[[Any], None], Callable[[Any], None], Callable[[Any], None]]] = {
    "KalmanFilter": (_kf, lambda f: f.predict(), lambda f: f.update(Z), lambda f: f.update(None)),
    "ExtendedKalmanFilter": (_ekf, lambda f: f.predict(), lambda f: _ekf_update(f, Z), lambda f: _ekf_update(f, None)),
    "UnscentedKalmanFilter": (_ukf, lambda f: f.predict(), lambda f: f.update(Z.ravel()), lambda f: f.update(None)),
}


def _snapshot(f: Any) -> dict[str, np.ndarray]:
    keys = ("x", "P", "x_prior", "P_prior", "x_post", "P_post", "K", "S")
    return {k: np.array(getattr(f, k), dtype=float) for k in keys}


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("name", list(FILTERS))
@pytest.mark.parametrize("attr", ["x", "P"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_in_place_edit_makes_every_step_raise_and_change_nothing(name: str, attr: str, bad: float) -> None:
    make, predict, update, skip = FILTERS[name]
    f = make()
    predict(f)
    update(f)
    arr = getattr(f, attr)
    arr[(1,) if arr.ndim == 1 else ((1, 0) if arr.shape[1] == 1 else (1, 1))] = bad  # in place: nothing checked it
    before = _snapshot(f)
    for step in (predict, update, skip):
        with pytest.raises(NumericalError) as info:
            step(f)
        assert str(info.value) == (f"{name}.{attr} contains NaN or infinity (edited in place?); "
                                   f"assign a valid {attr}")
        _assert_same(_snapshot(f), before)  # the refused step changed nothing
    # a valid value assigned: the filter steps again, exactly as one that was never edited
    ref = make()
    predict(ref)
    update(ref)
    setattr(f, attr, np.array(getattr(ref, attr)))
    predict(f)
    update(f)
    predict(ref)
    update(ref)
    np.testing.assert_allclose(np.ravel(f.x), np.ravel(ref.x), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(f.P, ref.P, rtol=1e-13, atol=1e-13)
    assert np.all(np.isfinite(f.P))


@pytest.mark.parametrize("name", list(FILTERS))
def test_augmented_assignment_refused_then_next_step_raises_until_valid_P(name: str) -> None:
    """``f.P *= nan``: the multiplication edits the array object in place, then the assignment
    check refuses it. What holds afterwards: the filter's P is that same, edited (NaN) array --
    the refused value is not "unchanged" -- and every step raises NumericalError (x, K, S, the
    priors and posteriors untouched) until a valid P is assigned."""
    make, predict, update, _ = FILTERS[name]
    f = make()
    predict(f)
    update(f)
    P_obj = f.P
    others = {k: v for k, v in _snapshot(f).items() if k != "P"}
    with pytest.raises(NumericalError, match=rf"^{name}\.P: "):
        f.P *= np.nan
    assert f.P is P_obj or name == "KalmanFilter"  # (KalmanFilter hands out its kept object too:)
    assert np.isnan(np.asarray(f.P)).all()
    for step in (predict, update):
        with pytest.raises(NumericalError, match=rf"^{name}\.P contains NaN or infinity \(edited in place\?\)"):
            step(f)
    assert np.isnan(np.asarray(f.P)).all()
    now = _snapshot(f)
    for k, v in others.items():
        np.testing.assert_array_equal(now[k], v, err_msg=k)
    f.P = np.eye(4)
    predict(f)
    update(f)
    assert np.all(np.isfinite(f.P)) and np.all(np.isfinite(f.x))


def test_negative_diagonal_from_a_step_is_still_accepted() -> None:
    """Only finiteness is checked at step time: filterpy's own suite predicts with an
    indefinite Q whose effect drives P's diagonal slightly negative, and it must keep running
    (an in-place negative diagonal is likewise not refused by a step)."""
    kf = KalmanFilter(2, 1)
    kf.H = np.array([[1.0, 0.0]])
    kf.P[1, 1] = -1e-9  # in place: not an assignment, not checked for sign
    kf.predict()
    kf.update([0.3])
    assert np.all(np.isfinite(kf.P))
    ekf = ExtendedKalmanFilter(2, 1)
    ekf.P[1, 1] = -1e-9
    ekf.predict()
    assert ekf.P[1, 1] == pytest.approx(1.0 - 1e-9)


@pytest.mark.parametrize(
    "method", ["predict_steadystate", "update_steadystate", "update_correlated", "update_sequential"])
def test_kalman_filter_python_step_methods_check_the_state(method: str) -> None:
    kf = _kf()
    kf.K = np.full((4, 2), 0.1)
    kf.P[2, 2] = np.nan
    before = _snapshot(kf)
    call = {
        "predict_steadystate": lambda: kf.predict_steadystate(),
        "update_steadystate": lambda: kf.update_steadystate(Z),
        "update_correlated": lambda: kf.update_correlated(Z),
        "update_sequential": lambda: kf.update_sequential(0, [1.0]),
    }[method]
    with pytest.raises(NumericalError, match=r"^KalmanFilter\.P contains NaN or infinity \(edited in place\?\)"):
        call()
    _assert_same(_snapshot(kf), before)
    kf.P = np.eye(4)
    call()
    assert np.all(np.isfinite(kf.x))


def test_kalman_filter_copies_keep_an_edited_state() -> None:
    """Copying and pickling do not step: a filter holding an in-place edited P deep-copies (the
    copy raises at its first step just as the original)."""
    kf = _kf()
    kf.P[0, 0] = np.nan
    twin = copy.deepcopy(kf)
    assert np.isnan(twin.P[0, 0])
    with pytest.raises(NumericalError, match=r"^KalmanFilter\.P contains NaN"):
        twin.predict()


def test_imm_checks_every_filter_before_stepping_any() -> None:
    """An IMM step starts by checking every mode filter's x and P: an edit of the second
    filter raises naming it, and neither filter nor the estimator has moved."""
    a, b = _kf(), _kf()
    b.Q = np.eye(4)
    imm = IMMEstimator([a, b], [0.5, 0.5], [[0.95, 0.05], [0.05, 0.95]])
    imm.predict()
    imm.update(Z)
    b.P[3, 3] = np.inf
    state = {k: np.array(getattr(imm, k)) for k in ("x", "P", "mu")}
    fa = _snapshot(a)
    for step in (imm.predict, lambda: imm.update(Z)):
        with pytest.raises(NumericalError, match=r"^IMMEstimator\.filters\[1\]\.P contains NaN or infinity"):
            step()
        _assert_same(_snapshot(a), fa)
        for k, v in state.items():
            np.testing.assert_array_equal(getattr(imm, k), v, err_msg=k)
    b.P = np.eye(4)
    imm.predict()
    imm.update(Z)
    assert np.all(np.isfinite(imm.P)) and np.isclose(imm.mu.sum(), 1.0)


# ---- session-8 review: overflows inside a step, the IMM's mixing arrays -----------------------
def _cv_ekf(P: float) -> ExtendedKalmanFilter:
    e = ExtendedKalmanFilter(dim_x=4, dim_z=2)
    e.F = np.eye(4)
    e.F[0, 2] = e.F[1, 3] = 1.0
    e.P = np.eye(4) * P
    return e


def test_ekf_predict_that_overflows_raises_and_changes_nothing() -> None:
    e = _cv_ekf(1e308)  # finite, taken; F P F^T overflows
    x0, P0 = e.x.copy(), e.P.copy()
    with pytest.raises(NumericalError, match=r"ExtendedKalmanFilter\.predict: the predicted P is not finite"):
        e.predict()
    np.testing.assert_array_equal(e.P, P0)
    np.testing.assert_array_equal(e.x, x0)
    e.P = np.eye(4)  # then it steps as usual, not blamed on an in-place edit
    e.predict()
    assert np.isfinite(e.P).all() and e.P[0, 0] == 3.0  # 1 + 1 (velocity) + Q = I


def test_ukf_predict_that_overflows_raises_and_changes_nothing() -> None:
    def fx(x: np.ndarray, dt: float) -> np.ndarray:
        return np.array([x[0] + dt * x[1], x[1]])

    u = UnscentedKalmanFilter(dim_x=2, dim_z=1, dt=0.1, fx=fx, hx=lambda x: x[:1],
                              points=MerweScaledSigmaPoints(2, 0.1, 2.0, 1.0))
    u.P = np.eye(2) * 1.5e308
    u.x = np.array([1e308, 1e308])
    x0, P0, s0 = u.x.copy(), u.P.copy(), u.sigmas_f.copy()
    with pytest.raises(NumericalError, match=r"UnscentedKalmanFilter\.predict: the predicted x is not finite"):
        u.predict()
    np.testing.assert_array_equal(u.x, x0)
    np.testing.assert_array_equal(u.P, P0)
    np.testing.assert_array_equal(u.sigmas_f, s0)


def _assert_filters_unchanged(filters: list[ExtendedKalmanFilter], before: list[tuple[Any, Any]]) -> None:
    for f, (x, P) in zip(filters, before):
        np.testing.assert_array_equal(f.x, x)
        np.testing.assert_array_equal(f.P, P)


@pytest.mark.parametrize("name", ["cbar", "omega", "mu", "M"])
def test_imm_estimator_refuses_nan_mixing_arrays_edited_in_place(name: str) -> None:
    filters = [_cv_ekf(1.0), _cv_ekf(2.0)]
    imm = IMMEstimator(filters, [0.5, 0.5], [[0.95, 0.05], [0.05, 0.95]])
    a = getattr(imm, name)
    a[(0, 1) if a.ndim == 2 else 0] = np.nan  # in place: no assignment check sees it
    before = [(f.x.copy(), f.P.copy()) for f in filters]
    with pytest.raises(NumericalError, match=rf"IMMEstimator\.{name} contains NaN or infinity"):
        imm.predict()
    _assert_filters_unchanged(filters, before)


def test_imm_estimator_predict_failing_in_a_later_filter_restores_every_filter() -> None:
    filters = [_cv_ekf(1.0), _cv_ekf(1e308)]  # the second filter's predict overflows
    imm = IMMEstimator(filters, [0.5, 0.5], [[1.0, 0.0], [0.0, 1.0]])  # no mixing: P stays 1e308
    before = [(f.x.copy(), f.P.copy()) for f in filters]
    with pytest.raises(NumericalError, match=r"ExtendedKalmanFilter\.predict: the predicted P is not finite"):
        imm.predict()
    _assert_filters_unchanged(filters, before)
