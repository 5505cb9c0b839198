"""Motion and sensor models, implemented in C++ and usable from Python.

Motion models (state transition ``f``, analytic Jacobian, process noise ``Q``):

==================  ==============================  ===========================
key                 state                           noise parameters
==================  ==============================  ===========================
``cv2d``            x, y, vx, vy                    ``sigma_a`` [m/s^2]
``cv3d``            x, y, z, vx, vy, vz             ``sigma_a`` [m/s^2]
``ca2d``            x, y, vx, vy, ax, ay            ``sigma_j`` [m/s^3]
``ca3d``            x, y, z, vx, vy, vz, ax, ay, az ``sigma_j`` [m/s^3]
``ctrv``            x, y, v, yaw, yaw_rate          ``sigma_a``, ``sigma_yawdd`` [rad/s^2]
``ctra``            x, y, v, yaw, yaw_rate, a       ``sigma_j``, ``sigma_yawdd``
``constant_turn``   x, y, vx, vy, omega             ``sigma_a``, ``sigma_yawdd``
``bicycle``         x, y, v, yaw, steer             ``sigma_a``, ``sigma_steer_rate`` [rad/s],
                                                    ``wheelbase_m``
==================  ==============================  ===========================

Sensor models read the kinematic point (position, velocity) of any motion model's state:
``position2d`` (x, y), ``position3d`` (x, y, z), ``radar`` (range [m], azimuth [rad],
range rate [m/s]) and ``camera`` (pinhole pixel u, v).

Configuration names models by key: :func:`make_motion` and :func:`make_sensor` build them,
and an unknown key raises :class:`~fusion.errors.ConfigurationError` listing the known ones.
"""

from __future__ import annotations

from typing import Any

from fusion._core import (
    CA2D,
    CA3D,
    CTRA,
    CTRV,
    CV2D,
    CV3D,
    CameraPinhole,
    ConstantTurn,
    KinematicBicycle,
    Position2D,
    Position3D,
    RadarPolar,
)
from fusion.errors import ConfigurationError

__all__ = [
    "CV2D", "CV3D", "CA2D", "CA3D", "CTRV", "CTRA", "ConstantTurn", "KinematicBicycle",
    "Position2D", "Position3D", "RadarPolar", "CameraPinhole",
    "MOTION_MODELS", "SENSOR_MODELS", "make_motion", "make_sensor",
]

#: Registry of motion models by configuration key.
MOTION_MODELS: dict[str, type] = {
    "cv2d": CV2D,
    "cv3d": CV3D,
    "ca2d": CA2D,
    "ca3d": CA3D,
    "ctrv": CTRV,
    "ctra": CTRA,
    "constant_turn": ConstantTurn,
    "bicycle": KinematicBicycle,
}

#: Registry of sensor (measurement) models by configuration key.
SENSOR_MODELS: dict[str, type] = {
    "position2d": Position2D,
    "position3d": Position3D,
    "radar": RadarPolar,
    "camera": CameraPinhole,
}


def _lookup(registry: dict[str, type], kind: str, key: str) -> type:
    try:
        return registry[key]
    except KeyError:
        known = ", ".join(sorted(registry))
        raise ConfigurationError(f"unknown {kind} model {key!r}; known: {known}") from None


def make_motion(key: str, **params: Any) -> Any:
    """Build a motion model from its registry key, e.g. ``make_motion("ctrv", sigma_a=2.0)``."""
    return _lookup(MOTION_MODELS, "motion", key)(**params)


def make_sensor(key: str, **params: Any) -> Any:
    """Build a sensor model from its registry key, e.g. ``make_sensor("radar", x_m=3.7)``."""
    return _lookup(SENSOR_MODELS, "sensor", key)(**params)
