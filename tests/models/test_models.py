"""Motion and sensor models through the bindings: exact matrices, analytic Jacobians against
central finite differences (including turn rates around the series/closed-form switch),
hand-computed measurements, azimuth wrapping, the registries and shape errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusion.errors import ConfigurationError, ShapeError
from fusion.filters import ExtendedKalmanFilterBank, UnscentedKalmanFilterBank
from fusion.models import (
    CA2D,
    CA3D,
    CTRA,
    CTRV,
    CV2D,
    CV3D,
    MOTION_MODELS,
    SENSOR_MODELS,
    CameraPinhole,
    ConstantTurn,
    Position2D,
    Position3D,
    RadarPolar,
    make_motion,
    make_sensor,
)


def wrap(a):
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


# ------------------------------------------------------------------ exact matrices
def test_cv2d_F_and_Q_exact():
    m = CV2D(sigma_a=2.0)
    dt = 0.5
    F = np.array([[1, 0, 0.5, 0], [0, 1, 0, 0.5], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=float)
    np.testing.assert_array_equal(m.jacobian(np.zeros(4), dt), F)
    q = 4.0  # sigma_a^2
    a, b, c = dt**4 / 4 * q, dt**3 / 2 * q, dt**2 * q  # 0.0625, 0.25, 1.0
    Q = np.array([[a, 0, b, 0], [0, a, 0, b], [b, 0, c, 0], [0, b, 0, c]])
    np.testing.assert_allclose(m.Q(np.zeros(4), dt), Q, rtol=1e-15)
    np.testing.assert_array_equal(m.Q(np.zeros(4), dt), np.array(
        [[0.0625, 0, 0.25, 0], [0, 0.0625, 0, 0.25], [0.25, 0, 1.0, 0], [0, 0.25, 0, 1.0]]))
    x = np.array([1.0, 2.0, 3.0, -4.0])
    np.testing.assert_array_equal(m.f(x, dt), F @ x)


def test_ca2d_F_exact():
    dt = 0.2
    F = np.array([
        [1, 0, dt, 0, dt**2 / 2, 0],
        [0, 1, 0, dt, 0, dt**2 / 2],
        [0, 0, 1, 0, dt, 0],
        [0, 0, 0, 1, 0, dt],
        [0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 1],
    ])
    np.testing.assert_allclose(CA2D().jacobian(np.zeros(6), dt), F, rtol=1e-15, atol=0)
    x = np.arange(1.0, 7.0)
    np.testing.assert_allclose(CA2D().f(x, dt), F @ x, rtol=1e-15)
    # Q = G G^T sigma_j^2 with G = (dt^3/6, dt^2/2, dt) per axis
    g = np.array([dt**3 / 6, dt**2 / 2, dt])
    Q = CA2D(sigma_j=3.0).Q(np.zeros(6), dt)
    np.testing.assert_allclose(Q[np.ix_([0, 2, 4], [0, 2, 4])], 9.0 * np.outer(g, g), rtol=1e-14)
    np.testing.assert_array_equal(Q[np.ix_([0, 2, 4], [1, 3, 5])], 0.0)


# ------------------------------------------------------------------ Jacobians vs finite differences
ANGLE = {"CTRV": [3], "CTRA": [3]}


def fd_jacobian(model, x, dt, h=1e-5):
    # h = 1e-5: the closed forms of CTRA cancel ~4 digits just above the series switch, so a
    # smaller step lets round-off in f dominate the difference quotient
    n = x.size
    J = np.zeros((n, n))
    angles = ANGLE.get(type(model).__name__, [])
    for j in range(n):
        e = np.zeros(n)
        e[j] = h
        d = model.f(x + e, dt) - model.f(x - e, dt)
        d[angles] = wrap(d[angles])
        J[:, j] = d / (2 * h)
    return J


def _states(name, rng, yaw_rate=None):
    out = []
    for _ in range(4):
        if name in ("CTRV", "CTRA"):
            x = [rng.uniform(-50, 50), rng.uniform(-50, 50), rng.uniform(1, 20), rng.uniform(-np.pi, np.pi),
                 rng.uniform(-0.5, 0.5)] + ([rng.uniform(-3, 3)] if name == "CTRA" else [])
            x = np.array(x)
            if yaw_rate is not None:
                x[4] = yaw_rate
        elif name == "ConstantTurn":
            x = np.array([rng.uniform(-50, 50), rng.uniform(-50, 50), rng.uniform(-15, 15), rng.uniform(-15, 15),
                          rng.uniform(-0.5, 0.5) if yaw_rate is None else yaw_rate])
        else:
            x = rng.normal(0, 10, MOTION_MODELS[name.lower()].dim_x)
        out.append(x)
    return out


ALL_MOTIONS = [CV2D(), CV3D(), CA2D(), CA3D(), CTRV(), CTRA(), ConstantTurn()]


@pytest.mark.parametrize("model", ALL_MOTIONS, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("dt", [0.05, 0.1, 1.0])
def test_jacobian_matches_finite_differences(model, dt):
    rng = np.random.default_rng(0)
    for x in _states(type(model).__name__, rng):
        F = model.jacobian(x, dt)
        np.testing.assert_allclose(F, fd_jacobian(model, x, dt), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("model", [CTRV(), CTRA(), ConstantTurn()], ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("yaw_rate", [0.0, 1e-9, -1e-9, 1e-5, 0.009, -0.009, 0.011, -0.011])
def test_turn_models_near_zero_yaw_rate(model, yaw_rate):
    dt = 0.1
    rng = np.random.default_rng(1)
    for x in _states(type(model).__name__, rng, yaw_rate=yaw_rate):
        F = model.jacobian(x, dt)
        assert np.all(np.isfinite(F)) and np.all(np.isfinite(model.f(x, dt)))
        np.testing.assert_allclose(F, fd_jacobian(model, x, dt), rtol=1e-6, atol=1e-6)


def _ctrv_reference(x, dt):
    """CTRV with the well-conditioned form v/w (sin(p + wT) - sin p) = 2 v/w cos(p + wT/2) sin(wT/2)."""
    px, py, v, p, w = x
    if w == 0.0:
        return np.array([px + v * math.cos(p) * dt, py + v * math.sin(p) * dt, v, wrap(p), w])
    k = 2.0 * v / w * math.sin(w * dt / 2)
    return np.array([px + k * math.cos(p + w * dt / 2), py + k * math.sin(p + w * dt / 2), v, wrap(p + w * dt), w])


@pytest.mark.parametrize("yaw_rate", [0.0, 1e-9, 1e-5, 0.0099, 0.009, 0.011, 0.3])
def test_ctrv_f_accurate_on_both_sides_of_the_series_switch(yaw_rate):
    rng = np.random.default_rng(2)
    for x in _states("CTRV", rng, yaw_rate=yaw_rate):
        # the series branch (|w dt| < 1e-3) truncates at second order: error ~ v dt (w dt)^3 / 24
        np.testing.assert_allclose(CTRV().f(x, 0.1), _ctrv_reference(x, 0.1), rtol=1e-12, atol=2e-10)


@pytest.mark.parametrize("model", [CTRV(), CTRA(), ConstantTurn()], ids=lambda m: type(m).__name__)
def test_turn_models_continuous_across_the_series_switch(model):
    dt = 0.1
    rng = np.random.default_rng(3)
    for x in _states(type(model).__name__, rng):
        lo, hi = x.copy(), x.copy()
        lo[4], hi[4] = 0.99999e-2, 1.00001e-2  # |w dt| just below and above 1e-3
        np.testing.assert_allclose(model.f(lo, dt), model.f(hi, dt), rtol=0, atol=1e-6 * (1 + np.abs(x).max()))
        np.testing.assert_allclose(model.jacobian(lo, dt), model.jacobian(hi, dt), rtol=0,
                                   atol=1e-6 * (1 + np.abs(x).max()))


@pytest.mark.parametrize("model", ALL_MOTIONS, ids=lambda m: type(m).__name__)
def test_Q_symmetric_psd_and_kinematics_jacobian(model):
    rng = np.random.default_rng(4)
    for x in _states(type(model).__name__, rng):
        Q = model.Q(x, 0.1)
        np.testing.assert_array_equal(Q, Q.T)
        assert np.min(np.linalg.eigvalsh(Q)) > -1e-15 * np.max(np.abs(Q))
        k, J = model.kinematics(x)
        assert k.shape == (6,) and J.shape == (6, x.size)
        h = 1e-6
        Jfd = np.column_stack([(model.kinematics(x + h * e)[0] - model.kinematics(x - h * e)[0]) / (2 * h)
                               for e in np.eye(x.size)])
        np.testing.assert_allclose(J, Jfd, rtol=1e-6, atol=1e-7)


def test_ctrv_Q_hand_computed():
    x = np.array([0.0, 0.0, 5.0, 0.3, 0.1])
    dt, sa, sy = 0.2, 2.0, 0.5
    h = dt * dt / 2
    G = np.array([[h * math.cos(0.3), 0], [h * math.sin(0.3), 0], [dt, 0], [0, h], [0, dt]])
    np.testing.assert_allclose(CTRV(sigma_a=sa, sigma_yawdd=sy).Q(x, dt), G @ np.diag([sa**2, sy**2]) @ G.T,
                               rtol=1e-14, atol=1e-18)


# ------------------------------------------------------------------ sensors
def fd_sensor(sensor, k, h=1e-6):
    cols = []
    for e in np.eye(6):
        d = sensor.h(k + h * e)[0] - sensor.h(k - h * e)[0]
        if isinstance(sensor, RadarPolar):
            d[1] = wrap(d[1])
        cols.append(d / (2 * h))
    return np.column_stack(cols)


def test_radar_hand_computed_and_jacobian():
    radar = RadarPolar(x_m=1.0, y_m=2.0, yaw_rad=0.5)
    k = np.array([4.0, 6.0, 0.0, 3.0, -1.0, 0.0])  # dx = 3, dy = 4
    z, Hk = radar.h(k)
    np.testing.assert_allclose(z, [5.0, math.atan2(4, 3) - 0.5, (3 * 3 + 4 * -1) / 5.0], rtol=1e-15)
    np.testing.assert_allclose(Hk[0, :2], [0.6, 0.8], rtol=1e-15)
    np.testing.assert_allclose(Hk[1, :2], [-4 / 25, 3 / 25], rtol=1e-15)
    np.testing.assert_allclose(Hk, fd_sensor(radar, k), rtol=1e-7, atol=1e-9)
    rng = np.random.default_rng(5)
    for _ in range(20):
        k = np.r_[rng.uniform(-50, 50, 3), rng.uniform(-20, 20, 3)]
        np.testing.assert_allclose(radar.h(k)[1], fd_sensor(radar, k), rtol=1e-6, atol=1e-8)
    assert radar.h(np.array([1.0, 2.0, 0.0, 1.0, 1.0, 0.0])) is None  # at the radar: undefined
    assert RadarPolar.dim_z == 3 and list(RadarPolar.angle_mask) == [False, True, False]


def test_radar_azimuth_wraps_into_minus_pi_pi():
    radar = RadarPolar(yaw_rad=-0.5)  # boresight rotated: azimuth = atan2 + 0.5
    z, _ = radar.h(np.array([-10.0, 1.0, 0.0, 0.0, 0.0, 0.0]))  # atan2 ~ 3.04, + 0.5 > pi
    assert -math.pi <= z[1] < math.pi
    assert z[1] == pytest.approx(wrap(math.atan2(1.0, -10.0) + 0.5), abs=1e-15)


def test_camera_hand_computed_and_jacobian():
    R_cw = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])  # camera looks along world x
    cam = CameraPinhole(800.0, 700.0, 320.0, 240.0, R_cw, np.array([0.0, 1.5, 0.0]))
    k = np.array([10.0, 2.0, 1.0, 0.0, 0.0, 0.0])  # p_cam = (-2, -1 + 1.5, 10)
    z, Hk = cam.h(k)
    np.testing.assert_allclose(z, [800 * -0.2 + 320, 700 * 0.05 + 240], rtol=1e-15)
    np.testing.assert_allclose(Hk, fd_sensor(cam, k), rtol=1e-7, atol=1e-8)
    np.testing.assert_array_equal(Hk[:, 3:], 0.0)
    rng = np.random.default_rng(6)
    for _ in range(20):
        k = np.r_[rng.uniform(5, 50), rng.uniform(-10, 10, 2), rng.normal(0, 5, 3)]
        np.testing.assert_allclose(cam.h(k)[1], fd_sensor(cam, k), rtol=1e-6, atol=1e-6)
    assert cam.h(np.array([-5.0, 0.0, 0.0, 0.0, 0.0, 0.0])) is None  # behind the camera


def test_position_sensors():
    k = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    z, Hk = Position2D().h(k)
    np.testing.assert_array_equal(z, [1.0, 2.0])
    np.testing.assert_array_equal(Hk, np.eye(2, 6))
    z, Hk = Position3D().h(k)
    np.testing.assert_array_equal(z, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(Hk, np.eye(3, 6))


@pytest.mark.parametrize("bank_cls", [ExtendedKalmanFilterBank, UnscentedKalmanFilterBank])
@pytest.mark.parametrize("side", [1, -1])
def test_azimuth_residual_wraps_at_pi_in_filter_updates(bank_cls, side):
    """Target just across the +-pi azimuth cut from its prediction: the residual must be the
    short way round (a few mrad), not ~2 pi."""
    x0 = np.array([-20.0, side * 0.02, 0.0, 0.0])  # predicted azimuth ~ +-(pi - 0.001)
    bank = bank_cls(CV2D(), RadarPolar(), size=1, x=x0, P=np.diag([0.1, 0.1, 0.1, 0.1]),
                    R=np.diag([0.1**2, 0.01**2, 0.1**2]))
    z = np.array([[20.0, -side * (math.pi - 0.001), 0.0]])  # measured across the cut
    bank.update(z)
    assert bank.status[0] == 0
    assert bank.nis[0] < 20.0  # y_azimuth ~ 2 mrad: small. Unwrapped it would be ~ 4e5
    assert abs(bank.x[0, 1] - x0[1]) < 0.1 and abs(bank.x[0, 0] - x0[0]) < 0.1


# ------------------------------------------------------------------ registry and errors
def test_registries_build_models():
    m = make_motion("ctrv", sigma_a=2.0, sigma_yawdd=0.3)
    assert isinstance(m, CTRV) and m.sigma_a == 2.0 and m.sigma_yawdd == 0.3
    assert isinstance(make_motion("cv2d"), CV2D)
    s = make_sensor("radar", x_m=3.7)
    assert isinstance(s, RadarPolar) and s.x_m == 3.7 and s.y_m == 0.0
    assert set(MOTION_MODELS) == {"cv2d", "cv3d", "ca2d", "ca3d", "ctrv", "ctra", "constant_turn", "bicycle"}
    assert set(SENSOR_MODELS) == {"position2d", "position3d", "radar", "camera"}
    for key, cls in MOTION_MODELS.items():
        assert isinstance(make_motion(key), cls)


def test_unknown_registry_key_lists_known_keys():
    with pytest.raises(ConfigurationError) as info:
        make_motion("ctrvv")
    msg = str(info.value)
    assert "ctrvv" in msg and all(k in msg for k in MOTION_MODELS)
    with pytest.raises(ConfigurationError) as info:
        make_sensor("lidar")
    assert all(k in str(info.value) for k in SENSOR_MODELS)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("model", ALL_MOTIONS, ids=lambda m: type(m).__name__)
def test_wrong_length_x_raises_shape_error(model):
    n = model.dim_x
    for method in ("f", "jacobian", "Q"):
        with pytest.raises(ShapeError, match=str(n)):
            getattr(model, method)(np.zeros(n + 1), 0.1)
    with pytest.raises(ShapeError):
        model.kinematics(np.zeros(n - 1))
    with pytest.raises(ShapeError, match="6"):
        RadarPolar().h(np.zeros(4))


def test_bicycle_jacobian_and_yaw_rate():
    from fusion.models import KinematicBicycle

    bike = KinematicBicycle(wheelbase_m=2.5)
    x = np.array([1.0, 2.0, 8.0, 0.4, 0.2])
    y = bike.f(x, 0.1)
    assert y[3] == pytest.approx(0.4 + 0.1 * 8.0 * math.tan(0.2) / 2.5, abs=1e-12) and y[4] == 0.2
    F = bike.jacobian(x, 0.1)
    h = 1e-6
    Fd = np.column_stack([(bike.f(x + h * e, 0.1) - bike.f(x - h * e, 0.1)) / (2 * h) for e in np.eye(5)])
    np.testing.assert_allclose(F, Fd, atol=1e-7)
    with pytest.raises(ConfigurationError, match="wheelbase_m"):
        KinematicBicycle(wheelbase_m=0.0)
