"""CameraPinhole's settable attributes (issue 10): every bad value gives a typed fusion.errors
error naming ``CameraPinhole.<attr>`` -- the same type the constructor gives for the same fault --
and leaves the camera unchanged (pybind11's def_readwrite took NaN, a zero focal length and any
3 x 3 matrix, and gave its TypeError for a string). Good values still work and change h()."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fusion.errors import ConfigurationError, NumericalError, ShapeError
from fusion.models import CameraPinhole


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _camera() -> CameraPinhole:
    return CameraPinhole(800.0, 700.0, 320.0, 240.0, _rot_z(0.3), np.array([0.1, -0.2, 0.5]))


def _state(c: CameraPinhole) -> tuple[Any, ...]:
    return (c.fx, c.fy, c.cx, c.cy, np.array(c.R_cw), np.array(c.t_cw))


def _assert_unchanged(c: CameraPinhole, before: tuple[Any, ...]) -> None:
    now = _state(c)
    assert now[:4] == before[:4]
    np.testing.assert_array_equal(now[4], before[4])
    np.testing.assert_array_equal(now[5], before[5])


NOT_A_NUMBER = ["800", None, True, 1 + 2j, [800.0], object()]
BAD_ROTATIONS = {
    "scaled": (2.0 * np.eye(3), ConfigurationError, "not a rotation"),
    "reflection": (np.diag([1.0, 1.0, -1.0]), ConfigurationError, "not a rotation"),
    "skewed": (np.array([[1.0, 0.1, 0], [0, 1, 0], [0, 0, 1]]), ConfigurationError, "not a rotation"),
    "nan": (np.full((3, 3), np.nan), NumericalError, "contains NaN or infinity"),
    "inf": (np.where(np.eye(3) > 0, np.inf, 0.0), NumericalError, "contains NaN or infinity"),
    "2x2": (np.eye(2), ShapeError, r"expected shape \(3, 3\)"),
    "flat9": (np.eye(3).ravel(), ShapeError, r"expected shape \(3, 3\)"),
    "string": ("identity", ConfigurationError, "expected an array of real numbers"),
    "none": (None, ConfigurationError, "expected an array of real numbers"),
    "bools": (np.eye(3, dtype=bool), ConfigurationError, "expected an array of real numbers"),
    "complex": (np.eye(3) * 1j, ConfigurationError, "expected an array of real numbers"),
    "ragged": ([[1.0, 0.0], [0.0, 1.0, 0.0]], ConfigurationError, "expected an array of real numbers"),
}
BAD_TRANSLATIONS = {
    "short": ([1.0, 2.0], ShapeError, r"expected shape \(3,\) or \(3, 1\)"),
    "3x3": (np.eye(3), ShapeError, r"expected shape \(3,\) or \(3, 1\)"),
    "nan": ([0.0, np.nan, 0.0], NumericalError, "contains NaN or infinity"),
    "inf": ([np.inf, 0.0, 0.0], NumericalError, "contains NaN or infinity"),
    "string": ("abc", ConfigurationError, "expected an array of real numbers"),
    "none": (None, ConfigurationError, "expected an array of real numbers"),
}


@pytest.mark.parametrize("attr", ["fx", "fy", "cx", "cy"])
@pytest.mark.parametrize("value", NOT_A_NUMBER, ids=["str", "None", "bool", "complex", "list", "object"])
def test_number_attributes_refuse_non_numbers(attr: str, value: Any) -> None:
    c = _camera()
    before = _state(c)
    with pytest.raises(ConfigurationError, match=rf"^CameraPinhole\.{attr}: expected a real number"):
        setattr(c, attr, value)
    _assert_unchanged(c, before)


@pytest.mark.parametrize("attr", ["fx", "fy"])
@pytest.mark.parametrize("value", [0.0, -1.0, 0, np.nan, np.inf, -np.inf])
def test_focal_lengths_must_be_finite_and_positive(attr: str, value: float) -> None:
    c = _camera()
    before = _state(c)
    with pytest.raises(ConfigurationError, match=rf"^CameraPinhole\.{attr} must be finite and > 0"):
        setattr(c, attr, value)
    _assert_unchanged(c, before)
    args = dict(fx=800.0, fy=700.0, cx=320.0, cy=240.0)
    args[attr] = value
    with pytest.raises(ConfigurationError, match=rf"^CameraPinhole\.{attr} must be finite and > 0"):
        CameraPinhole(**args)


@pytest.mark.parametrize("attr", ["cx", "cy"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_principal_point_must_be_finite(attr: str, value: float) -> None:
    c = _camera()
    before = _state(c)
    with pytest.raises(ConfigurationError, match=rf"^CameraPinhole\.{attr} must be finite"):
        setattr(c, attr, value)
    _assert_unchanged(c, before)


@pytest.mark.parametrize("case", list(BAD_ROTATIONS))
def test_R_cw_must_be_a_finite_3x3_rotation(case: str) -> None:
    value, error, message = BAD_ROTATIONS[case]
    c = _camera()
    before = _state(c)
    with pytest.raises(error, match=rf"^CameraPinhole\.R_cw: {message}"):
        c.R_cw = value
    _assert_unchanged(c, before)
    with pytest.raises(error, match=rf"^CameraPinhole\.R_cw: {message}"):  # same type from the constructor
        CameraPinhole(800.0, 700.0, 320.0, 240.0, value)


@pytest.mark.parametrize("case", list(BAD_TRANSLATIONS))
def test_t_cw_must_be_three_finite_numbers(case: str) -> None:
    value, error, message = BAD_TRANSLATIONS[case]
    c = _camera()
    before = _state(c)
    with pytest.raises(error, match=rf"^CameraPinhole\.t_cw: {message}"):
        c.t_cw = value
    _assert_unchanged(c, before)
    with pytest.raises(error, match=rf"^CameraPinhole\.t_cw: {message}"):
        CameraPinhole(800.0, 700.0, 320.0, 240.0, np.eye(3), value)


def test_good_values_are_taken_and_reach_h() -> None:
    """Assigned values are used by h exactly as constructor values are (hand-computed pixel)."""
    c = CameraPinhole(1.0, 1.0, 0.0, 0.0)
    R = _rot_z(0.7)
    c.fx, c.fy, c.cx, c.cy = 800, np.float32(700.0), np.int64(320), 240.5  # ints and numpy scalars
    c.R_cw = R.tolist()
    c.t_cw = np.array([[0.1], [-0.2], [0.5]])  # a column is taken
    twin = CameraPinhole(800.0, 700.0, 320.0, 240.5, R, np.array([0.1, -0.2, 0.5]))
    k = np.array([1.0, 2.0, 10.0, 0.0, 0.0, 0.0])
    pc = R @ k[:3] + np.array([0.1, -0.2, 0.5])
    z, Hk = c.h(k)
    np.testing.assert_allclose(z, [800 * pc[0] / pc[2] + 320, 700 * pc[1] / pc[2] + 240.5], rtol=1e-14)
    z2, Hk2 = twin.h(k)
    np.testing.assert_array_equal(z, z2)
    np.testing.assert_array_equal(Hk, Hk2)
    assert (c.fx, c.fy, c.cx, c.cy) == (800.0, 700.0, 320.0, 240.5)
    # a rotation accurate to float round-off (not exactly orthonormal) is a rotation
    c.R_cw = _rot_z(1e-3) @ _rot_z(2.0) @ _rot_z(-0.5)
    c.R_cw = R + 1e-9


def test_read_arrays_are_read_only_views() -> None:
    """R_cw and t_cw read back as read-only arrays, so an in-place edit cannot bypass the check."""
    c = _camera()
    for a in (c.R_cw, c.t_cw):
        assert not a.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            a[0] = np.nan
    assert np.all(np.isfinite(c.R_cw)) and np.all(np.isfinite(c.t_cw))
