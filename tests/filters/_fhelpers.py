"""Small helpers shared by the filter tests (imported as a plain module: pytest puts this
directory on sys.path)."""

from __future__ import annotations

import math

import numpy as np


def assert_close(actual, desired, rtol=1e-9, what=""):
    """Element-wise relative agreement, with an absolute floor scaled by the largest entry of
    `desired` (so that entries that are ~0 by cancellation do not demand impossible digits)."""
    actual = np.asarray(actual, dtype=float)
    desired = np.asarray(desired, dtype=float)
    assert actual.shape == desired.shape, f"{what}: shape {actual.shape} != {desired.shape}"
    scale = float(np.max(np.abs(desired))) if desired.size else 0.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=1e-12 + rtol * 1e-3 * scale, err_msg=what)


def random_spd(rng, n, scale=1.0):
    A = rng.standard_normal((n, n))
    return scale * (A @ A.T / n + 0.5 * np.eye(n))


def wrap(a):
    """Wrap to [-pi, pi) like fusion's C++ wrap_angle."""
    return (np.asarray(a) + math.pi) % (2.0 * math.pi) - math.pi


def assert_spd(P, what=""):
    P = np.asarray(P)
    scale = np.max(np.abs(P), axis=(-2, -1), keepdims=True)
    asym = np.max(np.abs(P - np.swapaxes(P, -1, -2)) / scale)
    assert asym <= 1e-12, f"{what}: asymmetry {asym:.3e}"
    np.linalg.cholesky(P)  # raises LinAlgError if not PD
    assert np.min(np.linalg.eigvalsh(P)) > 0, f"{what}: not positive definite"


# ---------------------------------------------------------------- independent Python models
# Re-implementations of the C++ CTRV motion model and RadarPolar sensor model, written from
# their equations, so that the C++ banks can be checked against filterpy running them.
_PI = 3.14159265358979323846


def wrap_angle(a: float) -> float:
    """Scalar wrap to [-pi, pi), bit-identical to fusion::wrap_angle (fast path included)."""
    if -_PI <= a < _PI:
        return a
    a = math.fmod(a + _PI, 2.0 * _PI)
    if a < 0.0:
        a += 2.0 * _PI
    return a - _PI


def ctrv_f(x, dt):
    px, py, v, psi, w = (float(c) for c in np.ravel(x))
    s0, c0 = math.sin(psi), math.cos(psi)
    if abs(w * dt) > 1e-3:
        px += v / w * (math.sin(psi + w * dt) - s0)
        py += v / w * (c0 - math.cos(psi + w * dt))
    else:  # second-order series in w
        px += v * (c0 * dt - s0 * w * dt**2 / 2.0 - c0 * w * w * dt**3 / 6.0)
        py += v * (s0 * dt + c0 * w * dt**2 / 2.0 - s0 * w * w * dt**3 / 6.0)
    return np.array([px, py, v, wrap_angle(psi + w * dt), w])


def ctrv_Q(x, dt, sigma_a, sigma_yawdd):
    psi = float(np.ravel(x)[3])
    h = 0.5 * dt * dt
    G = np.zeros((5, 2))
    G[0, 0], G[1, 0], G[2, 0] = h * math.cos(psi), h * math.sin(psi), dt
    G[3, 1], G[4, 1] = h, dt
    return G @ np.diag([sigma_a**2, sigma_yawdd**2]) @ G.T


def radar_h(x, radar_xy=(0.0, 0.0), radar_yaw=0.0):
    px, py, v, psi = (float(c) for c in np.ravel(x)[:4])
    dx, dy = px - radar_xy[0], py - radar_xy[1]
    vx, vy = v * math.cos(psi), v * math.sin(psi)
    r = math.hypot(dx, dy)
    return np.array([r, wrap_angle(math.atan2(dy, dx) - radar_yaw), (dx * vx + dy * vy) / r])


def circular_mean_fn(angle_index):
    """The C++ UKF's angular mean: wrapped offsets from the central sigma point,
    chi_0 + sum_{i>0} Wm_i wrap(chi_i - chi_0), wrapped."""

    def mean(sigmas, Wm):
        m = np.dot(Wm, sigmas)
        a = sigmas[:, angle_index]
        acc = sum(Wm[i] * wrap_angle(float(a[i] - a[0])) for i in range(1, len(a)))
        m[angle_index] = wrap_angle(float(a[0] + acc))
        return m

    return mean


def wrapped_residual_fn(angle_index):
    def residual(a, b):
        d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
        d = d.copy()
        flat = d.reshape(-1)  # a view: works for (m,) and (m, 1)
        flat[angle_index] = wrap_angle(float(flat[angle_index]))
        return d

    return residual


def simulate_ctrv_truth(x0, dt, steps, rng=None, sigma_a=0.0, sigma_yawdd=0.0):
    """CTRV trajectory, optionally with the model's own process noise sampled from Q."""
    xs = []
    x = np.asarray(x0, dtype=float)
    for _ in range(steps):
        x = ctrv_f(x, dt)
        if rng is not None and (sigma_a > 0 or sigma_yawdd > 0):
            # sample the two driving noises and map them through G (Q = G diag(q) G^T)
            a, yawdd = rng.normal(0, sigma_a), rng.normal(0, sigma_yawdd)
            h = 0.5 * dt * dt
            x = x + np.array([h * math.cos(x[3]) * a, h * math.sin(x[3]) * a, dt * a, h * yawdd, dt * yawdd])
            x[3] = wrap_angle(x[3])
        xs.append(x.copy())
    return np.array(xs)
