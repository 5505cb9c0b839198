"""Properties of the filters under random valid models and measurements: after every call the
covariances are symmetric positive definite and the outputs finite, or a documented
fusion.errors exception was raised and what it left unchanged is unchanged (the whole
KalmanFilter; in a bank, the filters whose status reports the failure)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from fusion.errors import FusionError
from fusion.filters import (
    ExtendedKalmanFilterBank,
    IMMBank,
    KalmanFilter,
    KalmanFilterBank,
    UnscentedKalmanFilterBank,
)
from fusion.models import CA2D, CTRA, CTRV, CV2D, CV3D, ConstantTurn, Position2D, Position3D, RadarPolar

from _props import assert_spd, reals, spd

# ---------------------------------------------------------------- KalmanFilter (filterpy interface)


@st.composite
def kf_problem(draw: st.DrawFn) -> tuple[KalmanFilter, list[tuple[str, np.ndarray]]]:
    n = draw(st.integers(1, 4))
    m = draw(st.integers(1, 3))
    kf = KalmanFilter(dim_x=n, dim_z=m)
    dt = draw(reals(0.0, 1.0))
    A = np.array(draw(st.lists(reals(-1, 1), min_size=n * n, max_size=n * n))).reshape(n, n)
    kf.F = np.eye(n) + dt * A
    kf.H = np.array(draw(st.lists(reals(-2, 2), min_size=m * n, max_size=m * n))).reshape(m, n)
    kf.Q = draw(spd(n, 1e-4, 1.0))
    kf.R = draw(spd(m, 1e-3, 10.0))
    kf.P = draw(spd(n, 1e-3, 100.0))
    kf.x = np.array(draw(st.lists(reals(-100, 100), min_size=n, max_size=n))).reshape(n, 1)
    ops = draw(st.lists(st.one_of(
        st.just(("predict", np.zeros(0))),
        st.lists(reals(-1e3, 1e3), min_size=m, max_size=m).map(lambda z: ("update", np.array(z))),
        st.sampled_from([np.nan, np.inf]).map(lambda v: ("update", np.full(m, v))),
    ), min_size=1, max_size=12))
    return kf, ops


@given(kf_problem())
def test_kalman_filter_stays_spd_and_finite(problem: tuple[KalmanFilter, list[tuple[str, np.ndarray]]]) -> None:
    kf, ops = problem
    for op, z in ops:
        x0, P0 = np.copy(kf.x), np.copy(kf.P)
        try:
            kf.predict() if op == "predict" else kf.update(z.reshape(-1, 1))
        except FusionError:
            assert not np.isfinite(z).all(), "only a non-finite z may fail here"
            np.testing.assert_array_equal(kf.x, x0)
            np.testing.assert_array_equal(kf.P, P0)
            continue
        assert np.isfinite(z).all(), f"update accepted z = {z}"
        assert np.isfinite(kf.x).all(), kf.x
        assert_spd(kf.P)


# ---------------------------------------------------------------- banks

_MOTIONS_2D = [lambda a, b: CV2D(a), lambda a, b: CA2D(a), lambda a, b: CTRV(a, b), lambda a, b: CTRA(a, b),
               lambda a, b: ConstantTurn(a, b)]
_LINEAR = [(lambda a, b: CV2D(a), Position2D), (lambda a, b: CA2D(a), Position2D), (lambda a, b: CV3D(a), Position3D)]


@st.composite
def bank_problem(draw: st.DrawFn, kind: str) -> tuple[object, list[tuple[str, object]]]:
    a, b = draw(reals(0.05, 5.0)), draw(reals(0.01, 2.0))
    if kind == "kf":
        mk, sensor_cls = draw(st.sampled_from(_LINEAR))
        sensor = sensor_cls()
    else:
        mk = draw(st.sampled_from(_MOTIONS_2D))
        sensor = draw(st.sampled_from([Position2D(), RadarPolar()]))
    motion = mk(a, b)
    cls = {"kf": KalmanFilterBank, "ekf": ExtendedKalmanFilterBank, "ukf": UnscentedKalmanFilterBank}[kind]
    N = draw(st.integers(1, 4))
    bank = cls(motion, sensor, N)
    n, m = bank.dim_x, bank.dim_z
    x = np.array(draw(st.lists(reals(-50, 50), min_size=N * n, max_size=N * n))).reshape(N, n)
    if isinstance(sensor, RadarPolar):  # radar is undefined at its own position
        x[:, 0] = np.where(np.abs(x[:, 0]) < 1.0, 10.0, x[:, 0])
    bank.x = x
    bank.P = np.stack([draw(spd(n, 1e-3, 10.0)) for _ in range(N)])
    bank.R = draw(spd(m, 1e-4, 5.0))
    with np.printoptions(precision=17):
        note(f"{type(motion).__name__}(a={a!r}, b={b!r}), {type(sensor).__name__}\nx = {bank.x.tolist()}\n"
             f"P = {bank.P.tolist()}\nR = {bank.R.tolist()}")
    z_lo, z_hi = (-100.0, 100.0)
    ops = draw(st.lists(st.one_of(
        reals(0.0, 2.0).map(lambda dt: ("predict", dt)),
        st.tuples(st.lists(reals(z_lo, z_hi), min_size=N * m, max_size=N * m),
                  st.lists(st.booleans(), min_size=N, max_size=N)).map(
            lambda t: ("update", (np.array(t[0]).reshape(N, m), np.array(t[1])))),
    ), min_size=1, max_size=10))
    return bank, ops


def _run_bank(bank: object, ops: list[tuple[str, object]]) -> None:
    for op, arg in ops:
        x0, P0 = np.copy(bank.x), np.copy(bank.P)
        try:
            if op == "predict":
                bank.predict(arg)
            else:
                z, mask = arg
                bank.update(z, mask)
        except FusionError:
            bad = np.asarray(bank.status) != 0
            assert bad.any(), "an error was raised but no filter reports a failure"
            np.testing.assert_array_equal(bank.x[bad], x0[bad])
            np.testing.assert_array_equal(bank.P[bad], P0[bad])
            if op == "predict":  # a failed call changes nothing (predict has no per-filter result)
                np.testing.assert_array_equal(bank.x, x0)
                np.testing.assert_array_equal(bank.P, P0)
        assert np.isfinite(bank.x).all(), bank.x
        assert_spd(bank.P, f"{type(bank).__name__}.P after {op}")


@pytest.mark.parametrize("kind", ["kf", "ekf", "ukf"])
@given(data=st.data())
def test_bank_stays_spd_and_finite(kind: str, data: st.DataObject) -> None:
    bank, ops = data.draw(bank_problem(kind))
    _run_bank(bank, ops)


# ---------------------------------------------------------------- IMM bank

_IMM = [
    (lambda a, b: [CV2D(a), CV2D(10 * a)], Position2D),
    (lambda a, b: [CV2D(a), CA2D(a)], Position2D),
    (lambda a, b: [CV2D(a), CTRV(a, b)], Position2D),
    (lambda a, b: [CV2D(a), CTRV(a, b)], RadarPolar),
    (lambda a, b: [CV2D(a), CV2D(3 * a), CV2D(9 * a)], Position2D),
]


@st.composite
def imm_problem(draw: st.DrawFn) -> tuple[IMMBank, list[tuple[str, object]]]:
    mk, sensor_cls = draw(st.sampled_from(_IMM))
    motions = mk(draw(reals(0.05, 5.0)), draw(reals(0.01, 2.0)))
    r = len(motions)
    rows = [np.array(draw(st.lists(reals(0.01, 1.0), min_size=r, max_size=r))) for _ in range(r)]
    M = np.array([row / row.sum() for row in rows])
    M = M / M.sum(axis=1, keepdims=True)
    N = draw(st.integers(1, 3))
    bank = IMMBank(motions, sensor_cls(), N, M=M)
    m = bank.dim_z
    bank.R = draw(spd(m, 1e-3, 5.0))
    for k, n in enumerate(bank.model_dims):
        x = np.array(draw(st.lists(reals(-50, 50), min_size=N * n, max_size=N * n))).reshape(N, n)
        x[:, 0] = np.where(np.abs(x[:, 0]) < 1.0, 10.0, x[:, 0])
        bank.set_model_state(k, x=x, P=np.stack([draw(spd(n, 1e-3, 10.0)) for _ in range(N)]))
    ops = draw(st.lists(st.one_of(
        reals(0.0, 2.0).map(lambda dt: ("predict", dt)),
        # far-away measurements too: the likelihood underflows in every model
        st.tuples(st.lists(st.one_of(reals(-100, 100), reals(-1e6, 1e6)), min_size=N * m, max_size=N * m),
                  st.lists(st.booleans(), min_size=N, max_size=N)).map(
            lambda t: ("update", (np.array(t[0]).reshape(N, m), np.array(t[1])))),
    ), min_size=1, max_size=10))
    return bank, ops


@given(imm_problem())
def test_imm_bank_stays_spd_and_finite(problem: tuple[IMMBank, list[tuple[str, object]]]) -> None:
    bank, ops = problem
    for op, arg in ops:
        x0, P0, mu0 = np.copy(bank.x), np.copy(bank.P), np.copy(bank.mu)
        try:
            if op == "predict":
                bank.predict(arg)
            else:
                z, mask = arg
                bank.update(z, mask)
        except FusionError:
            bad = np.asarray(bank.status) != 0
            assert bad.any(), "an error was raised but no track reports a failure"
            np.testing.assert_array_equal(bank.x[bad], x0[bad])
            np.testing.assert_array_equal(bank.P[bad], P0[bad])
            np.testing.assert_array_equal(bank.mu[bad], mu0[bad])
        mu = bank.mu
        assert np.isfinite(mu).all() and (mu >= 0).all() and np.allclose(mu.sum(axis=1), 1.0), mu
        assert np.isfinite(bank.x).all(), bank.x
        assert_spd(bank.P, f"IMMBank.P after {op}")
        for k in range(bank.n_models):
            assert np.isfinite(bank.mode_x(k)).all()
