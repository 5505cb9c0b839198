"""Bad values assigned to the public attributes of the estimation API (issue 10, session 7):
the filterpy-compatible filters (KalmanFilter, ExtendedKalmanFilter, UnscentedKalmanFilter,
IMMEstimator), the banks (KF/EKF/UKF banks, IMMBank) and the motion / sensor model objects.

Each bad value (wrong shape, NaN/inf, a non-symmetric or negative-diagonal covariance, negative
noise, complex / string / None / bool / ragged, an int beyond double) gives a typed
fusion.errors error naming the attribute, and the object is unchanged; the values filterpy users
assign (a scalar R, an (n, 1) x, a zero P) keep working."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from fusion.errors import ConfigurationError, FusionError, NumericalError, ShapeError
from fusion.filters import (
    ExtendedKalmanFilter,
    ExtendedKalmanFilterBank,
    IMMBank,
    IMMEstimator,
    KalmanFilter,
    KalmanFilterBank,
    MerweScaledSigmaPoints,
    UnscentedKalmanFilter,
    UnscentedKalmanFilterBank,
)
from fusion.models import CA2D, CA3D, CTRA, CTRV, CV2D, CV3D, ConstantTurn, KinematicBicycle, Position2D, RadarPolar

NOT_NUMBERS = {"none": None, "string": "x", "complex": np.array([[1 + 2j]]), "ragged": [[1.0], [1.0, 2.0]],
               "bools": np.ones((2, 2), bool)}


def _ekf() -> ExtendedKalmanFilter:
    f = ExtendedKalmanFilter(dim_x=2, dim_z=1)
    f.x = np.array([[1.0], [2.0]])
    f.P = np.diag([2.0, 3.0])
    return f


def _ukf() -> UnscentedKalmanFilter:
    pts = MerweScaledSigmaPoints(2, 0.1, 2.0, 0.0)
    f = UnscentedKalmanFilter(dim_x=2, dim_z=1, dt=0.1, fx=lambda x, dt: x, hx=lambda x: x[:1], points=pts)
    f.x = np.array([1.0, 2.0])
    return f


def _imm() -> IMMEstimator:
    kfs = []
    for _ in range(2):
        k = KalmanFilter(dim_x=2, dim_z=1)
        k.H = np.array([[1.0, 0.0]])
        kfs.append(k)
    return IMMEstimator(kfs, [0.5, 0.5], [[0.9, 0.1], [0.1, 0.9]])


def _attrs(obj: Any, names: list[str]) -> list[Any]:
    return [copy.deepcopy(np.asarray(getattr(obj, n)).tolist()) for n in names]


# (factory, attribute, bad value, error type) for the Python filters
_BAD_COV = [("nan", np.array([[np.nan, 0.0], [0.0, 1.0]]), NumericalError),
            ("inf", np.array([[1.0, 0.0], [0.0, np.inf]]), NumericalError),
            ("negative-diagonal", np.diag([1.0, -1.0]), NumericalError),
            ("non-symmetric", np.array([[1.0, 0.5], [0.0, 1.0]]), NumericalError),
            ("negative-scalar", -1.0, NumericalError),
            ("wrong-shape", np.eye(3), ShapeError)]
CASES = []
for fname, make in (("EKF", _ekf), ("UKF", _ukf)):
    for attr in ("P", "Q"):
        CASES += [(fname, make, attr, v, e, label) for label, v, e in _BAD_COV]
    CASES += [(fname, make, "R", np.array([[np.nan]]), NumericalError, "nan"),
              (fname, make, "R", -0.5, NumericalError, "negative-scalar"),
              (fname, make, "R", np.eye(2), ShapeError, "wrong-shape"),
              (fname, make, "x", np.array([1.0, np.inf]), NumericalError, "inf"),
              (fname, make, "x", np.zeros(3), ShapeError, "wrong-size")]
    CASES += [(fname, make, attr, v, ShapeError, label) for attr in ("x", "P", "Q", "R")
              for label, v in NOT_NUMBERS.items()]
CASES += [("EKF", _ekf, "F", np.full((2, 2), np.nan), NumericalError, "nan"),
          ("EKF", _ekf, "F", np.eye(3), ShapeError, "wrong-shape"),
          ("IMM", _imm, "mu", [0.5, np.nan], NumericalError, "nan"),
          ("IMM", _imm, "mu", [1.5, -0.5], NumericalError, "negative"),
          ("IMM", _imm, "mu", [0.0, 0.0], NumericalError, "zero-sum"),
          ("IMM", _imm, "mu", [0.2, 0.3, 0.5], ShapeError, "wrong-size"),
          ("IMM", _imm, "mu", None, ShapeError, "none"),
          ("IMM", _imm, "M", [[0.9, 0.2], [0.1, 0.9]], NumericalError, "row-sum"),
          ("IMM", _imm, "M", [[1.1, -0.1], [0.1, 0.9]], NumericalError, "negative"),
          ("IMM", _imm, "M", np.eye(3), ShapeError, "wrong-shape"),
          ("IMM", _imm, "M", "x", ShapeError, "string")]


@pytest.mark.parametrize("fname, make, attr, value, error, label", CASES,
                         ids=[f"{c[0]}-{c[2]}-{c[5]}" for c in CASES])
def test_python_filter_attribute_bad_value_is_typed_and_changes_nothing(fname: str, make: Any, attr: str, value: Any,
                                                                        error: type[FusionError], label: str) -> None:
    f = make()
    names = ["x", "P", "Q", "R"] if fname != "IMM" else ["x", "P", "mu", "M"]
    before = _attrs(f, names)
    with pytest.raises(error, match=rf"{type(f).__name__}\.{attr}\b"):
        setattr(f, attr, value)
    assert _attrs(f, names) == before


def test_python_filters_still_take_what_filterpy_users_assign() -> None:
    """A scalar R or Q, an (n, 1) or (n,) x, a zero P, an integer array: accepted and used."""
    ekf = _ekf()
    ekf.R = 5.0
    ekf.Q = 0.0
    ekf.P = np.zeros((2, 2))
    ekf.x = np.array([1, 2])
    ekf.F = np.array([[1.0, 0.1], [0.0, 1.0]])
    ekf.P = np.eye(2)
    ekf.predict()
    ekf.update(np.array([[1.5]]), HJacobian=lambda x: np.array([[1.0, 0.0]]), Hx=lambda x: x[:1])
    assert np.isfinite(ekf.x).all()
    ukf = _ukf()
    ukf.R = 0.09
    ukf.x = np.array([[1.0], [2.0]]).ravel()
    ukf.predict()
    ukf.update(np.array([1.2]))
    assert np.isfinite(ukf.x).all() and np.isfinite(ukf.P).all()
    imm = _imm()
    imm.mu = np.array([0.3, 0.7])
    imm.M = np.array([[0.8, 0.2], [0.3, 0.7]])
    imm.predict()
    imm.update(np.array([[1.0]]))
    assert np.isclose(imm.mu.sum(), 1.0)


# ---- KalmanFilter (C++ class): Q and R are now checked on assignment, as P was

@pytest.mark.parametrize("attr", ["Q", "R"])
@pytest.mark.parametrize("label, value", [("nan", np.nan), ("inf", np.inf), ("negative", -1.0),
                                          ("negative-diagonal", "diag"), ("non-symmetric", "asym")])
def test_kalman_filter_Q_and_R_assignment_checked_like_P(attr: str, label: str, value: Any) -> None:
    kf = KalmanFilter(dim_x=2, dim_z=2)
    kf.H = np.eye(2)
    if isinstance(value, str):
        value = np.diag([1.0, -1.0]) if value == "diag" else np.array([[1.0, 0.5], [0.0, 1.0]])
    else:
        value = np.diag([value, 1.0]) if label != "negative" else -1.0
    before = getattr(kf, attr).copy()
    with pytest.raises(NumericalError, match=rf"KalmanFilter\.{attr}"):
        setattr(kf, attr, value)
    np.testing.assert_array_equal(getattr(kf, attr), before)
    setattr(kf, attr, 0.5)  # a non-negative scalar: accepted (filterpy broadcasts it)
    kf.predict()
    kf.update(np.array([1.0, 2.0]))


# ---- banks

BANKS = {
    "KF": lambda: KalmanFilterBank(CV2D(1.0), Position2D(), 3),
    "EKF": lambda: ExtendedKalmanFilterBank(CTRV(), RadarPolar(), 3),
    "UKF": lambda: UnscentedKalmanFilterBank(CTRV(), RadarPolar(), 3),
    "IMM": lambda: IMMBank([CV2D(0.2), CV2D(5.0)], Position2D(), 3, M=[[0.9, 0.1], [0.1, 0.9]]),
}


def _bank_state(b: Any) -> list[Any]:
    out = [b.x.copy(), b.P.copy(), b.R.copy(), b.on_invalid, b.skipped, b.dim_x, b.dim_z]
    return out + ([b.mu.copy()] if isinstance(b, IMMBank) else [])


@pytest.mark.parametrize("bank", BANKS)
@pytest.mark.parametrize("attr, value, error", [
    ("R", np.inf, NumericalError), ("R", np.nan, NumericalError), ("R", -1.0, NumericalError),
    ("R", None, FusionError), ("R", "x", FusionError), ("R", 1 + 1j, FusionError),
    ("on_invalid", "ignore", ConfigurationError), ("on_invalid", None, ConfigurationError),
    ("on_invalid", True, ConfigurationError),
    ("skipped", -1, ConfigurationError), ("skipped", 1.5, ConfigurationError), ("skipped", None, ConfigurationError),
    ("skipped", True, ConfigurationError),
    ("dim_x", 7, ConfigurationError), ("dim_z", 1, ConfigurationError),
    ("x", "nan-state", NumericalError), ("P", "negative-definite", NumericalError),
], ids=lambda v: repr(v)[:20])
def test_bank_attribute_bad_value_is_typed_names_it_and_changes_nothing(bank: str, attr: str, value: Any,
                                                                         error: type[FusionError]) -> None:
    b = BANKS[bank]()
    if bank == "IMM" and attr in ("x", "P"):  # the combined estimate: set_model_state sets the models
        error = ConfigurationError
    if value == "nan-state":
        value = np.full(b.dim_x, np.nan)
    elif value == "negative-definite":
        value = -np.eye(b.dim_x)
    before = _bank_state(b)
    with pytest.raises(error, match=attr if attr not in ("x", "P") else rf"\b{attr}\b"):
        setattr(b, attr, value)  # no warning either (pytest's settings make one an error)
    for a, c in zip(_bank_state(b), before):
        assert np.array_equal(a, c) if isinstance(a, np.ndarray) else a == c


@pytest.mark.parametrize("bank", BANKS)
def test_bank_settings_take_good_values(bank: str) -> None:
    b = BANKS[bank]()
    b.on_invalid = "skip"
    b.skipped = 0
    b.R = 0.5
    assert b.on_invalid == "skip" and b.skipped == 0 and np.allclose(b.R, 0.5 * np.eye(b.dim_z))


# ---- motion and sensor model objects (C++ classes): attributes checked as the constructors are

MODEL_ATTRS = [(CV2D, "sigma_a"), (CV3D, "sigma_a"), (CA2D, "sigma_j"), (CA3D, "sigma_j"), (CTRV, "sigma_a"),
               (CTRV, "sigma_yawdd"), (CTRA, "sigma_j"), (CTRA, "sigma_yawdd"), (ConstantTurn, "sigma_a"),
               (ConstantTurn, "sigma_yawdd"), (KinematicBicycle, "sigma_a"), (KinematicBicycle, "sigma_steer_rate"),
               (KinematicBicycle, "wheelbase_m"), (RadarPolar, "x_m"), (RadarPolar, "y_m"), (RadarPolar, "yaw_rad")]
_SIGNED = {"x_m", "y_m", "yaw_rad"}


@pytest.mark.parametrize("cls, attr", MODEL_ATTRS, ids=[f"{c.__name__}.{a}" for c, a in MODEL_ATTRS])
@pytest.mark.parametrize("value", [np.nan, np.inf, -1.0, None, "x", 1 + 2j, True, 10**400, [1.0]],
                         ids=["nan", "inf", "negative", "none", "string", "complex", "bool", "huge-int", "list"])
def test_model_attribute_bad_value_is_a_configuration_error_and_changes_nothing(cls: Any, attr: str,
                                                                                value: Any) -> None:
    m = cls()
    before = getattr(m, attr)
    if attr in _SIGNED and value == -1.0:
        setattr(m, attr, value)  # a mount offset or yaw may be negative
        assert getattr(m, attr) == -1.0
        return
    with pytest.raises(ConfigurationError, match=rf"{cls.__name__}[.:] ?{attr}"):
        setattr(m, attr, value)
    assert getattr(m, attr) == before


def test_model_attribute_good_value_is_used() -> None:
    m = CV2D(1.0)
    q1 = m.Q(np.zeros(4), 0.1)
    m.sigma_a = 2.0
    np.testing.assert_allclose(m.Q(np.zeros(4), 0.1), 4.0 * q1)
    m.sigma_a = np.float64(3)  # numpy scalars and ints are numbers
    m.sigma_a = 0
    assert m.sigma_a == 0.0
