"""The engine's component registries, by key, mirroring the C++ ones (``csrc/include/fusion/engine``).

A configuration names every component by key: the motion model (:data:`MOTION_MODELS`), each
sensor's measurement model (:data:`SENSOR_MODELS`), association cost (:data:`COSTS`) and
associator (:data:`ASSOCIATORS`). An unknown key is a :class:`~fusion.errors.ConfigurationError`
that lists the known ones (:func:`lookup`). Adding a component to the C++ engine is one file
plus one registry line there, and one entry here (``tests/engine/test_engine_registry.py``
checks that the two agree).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from fusion.errors import ConfigurationError

__all__ = ["MotionModelInfo", "SensorModelInfo", "CostInfo", "AssociatorInfo", "MOTION_MODELS",
           "SENSOR_MODELS", "COSTS", "ASSOCIATORS", "EXTENT_NOISE", "JPDA_METHODS", "BOX_MOTION_MODELS",
           "lookup"]


@dataclass(frozen=True)
class MotionModelInfo:
    """A motion model of the engine.

    Attributes:
        key: registry key.
        description: one line.
        state: names of the ``N`` state components, in state order (units in ``description``).
        noise: the model's own process-noise parameters (``EngineConfig.motion_noise`` keys)
            with their defaults: ``accel_std`` [m/s^2] (white-noise acceleration),
            ``yaw_accel_std`` [rad/s^2] (white-noise yaw acceleration of the turn-rate models).
        modes: an interacting multiple model's modes (motion keys, in mode order: the order of
            ``imm_transition``, ``imm_mu0`` and the track record's ``mode_prob``); empty for a
            single model.
    """

    key: str
    description: str
    state: tuple[str, ...]
    noise: Mapping[str, float] = field(default_factory=dict)
    modes: tuple[str, ...] = ()

    @property
    def state_dim(self) -> int:
        """N, the state dimension."""
        return len(self.state)


@dataclass(frozen=True)
class SensorModelInfo:
    """A sensor (measurement) model of the engine.

    Attributes:
        key: registry key.
        description: one line, with the units of z.
        components: names of the ``M`` measurement components, in order.
        costs: the cost keys this model can be associated with (:data:`COSTS`).
        default_cost: the cost used when a sensor's configuration names none.
        has_inverse: whether a detection determines a (partial) object state, so that it can
            start a 3D track (``births``). A camera box cannot (no range).
        default_R_diag: default measurement-noise variances (units of z squared), one per
            component, for a sensor whose configuration gives no ``R``.
    """

    key: str
    description: str
    components: tuple[str, ...]
    costs: tuple[str, ...]
    default_cost: str
    has_inverse: bool
    default_R_diag: tuple[float, ...]

    @property
    def measurement_dim(self) -> int:
        """M, the measurement dimension."""
        return len(self.components)


@dataclass(frozen=True)
class CostInfo:
    """An association cost.

    Attributes:
        key: registry key.
        description: one line.
        gate_kind: what the sensor's ``gate`` means: ``"min_overlap"`` (a pair is admissible
            when its overlap is at least the gate, in [-1, 1) for GIoU, [0, 1) for IoU),
            ``"probability"`` (gate probability 0.95, 0.99 or 0.999: the chi-square quantile
            with M degrees of freedom bounds the squared Mahalanobis distance) or ``"max_distance"``
            (metres, > 0).
        gate_range: (low, high) of the gate; ``low_open``/``high_open`` say whether each end
            is excluded.
        default_gate: the gate used when a sensor's configuration names none.
        gate_values: if not None, the only gates allowed (the chi-square quantiles the core
            tabulates for the mahalanobis gate probability).
    """

    key: str
    description: str
    gate_kind: str
    gate_range: tuple[float, float]
    low_open: bool
    high_open: bool
    default_gate: float
    gate_values: tuple[float, ...] | None = None

    def gate_ok(self, gate: float) -> bool:
        """Whether ``gate`` is in :attr:`gate_range` (and one of :attr:`gate_values` if set)."""
        lo, hi = self.gate_range
        if math.isnan(gate):
            return False
        if self.gate_values is not None:
            return gate in self.gate_values
        above = gate > lo if self.low_open else gate >= lo
        below = gate < hi if self.high_open else gate <= hi
        return above and below

    def gate_rule(self) -> str:
        """The gate range as text, e.g. ``[-1, 1)`` or ``{0.95, 0.99, 0.999}``."""
        if self.gate_values is not None:
            return "{" + ", ".join(f"{v:g}" for v in self.gate_values) + "}"
        lo, hi = self.gate_range
        return f"{'(' if self.low_open else '['}{lo:g}, {hi:g}{')' if self.high_open else ']'}"


@dataclass(frozen=True)
class AssociatorInfo:
    """An associator: how the gated cost matrix becomes track-detection pairs (or weights).

    Attributes:
        key: registry key.
        description: one line.
        costs: the cost keys it works with; None: any.
    """

    key: str
    description: str
    costs: tuple[str, ...] | None = None


_BOX = ("x", "y", "z", "yaw", "l", "w", "h")

#: Motion models (key -> info). The ``*_box`` models are box models: a base model plus the
#: random-walk box components it lacks (``motion/with_extent.hpp``); ``cv_point2d`` is a 2D point
#: (no extent, height or heading state: point sensors only). Units: m, m/s, rad, rad/s.
MOTION_MODELS: dict[str, MotionModelInfo] = {
    "cv_box": MotionModelInfo(
        "cv_box", "constant velocity in 3D (white-noise acceleration) with a random-walk heading "
        "and extent: x, y, z [m], vx, vy, vz [m/s], yaw [rad], l, w, h [m]",
        ("x", "y", "z", "vx", "vy", "vz", "yaw", "l", "w", "h"), {"accel_std": 1.0}),
    "ctrv_box": MotionModelInfo(
        "ctrv_box", "constant turn rate and velocity (EKF) with a random-walk height and extent: "
        "x, y [m], v [m/s], yaw [rad], yaw_rate [rad/s], z, l, w, h [m]",
        ("x", "y", "v", "yaw", "yaw_rate", "z", "l", "w", "h"), {"accel_std": 1.0, "yaw_accel_std": 0.5}),
    "ca_box": MotionModelInfo(
        "ca_box", "constant acceleration in 3D (white-noise jerk) with a random-walk heading and "
        "extent: x, y, z [m], vx, vy, vz [m/s], ax, ay, az [m/s^2], yaw [rad], l, w, h [m]",
        ("x", "y", "z", "vx", "vy", "vz", "ax", "ay", "az", "yaw", "l", "w", "h"), {"jerk_std": 1.0}),
    "ctra_box": MotionModelInfo(
        "ctra_box", "constant turn rate and acceleration (EKF) with a random-walk height and extent: "
        "x, y [m], v [m/s], yaw [rad], yaw_rate [rad/s], a [m/s^2], z, l, w, h [m]",
        ("x", "y", "v", "yaw", "yaw_rate", "a", "z", "l", "w", "h"), {"jerk_std": 1.0, "yaw_accel_std": 0.5}),
    "ct_box": MotionModelInfo(
        "ct_box", "Cartesian constant turn (EKF) with a random-walk height, heading and extent: "
        "x, y [m], vx, vy [m/s], omega [rad/s], z [m], yaw [rad], l, w, h [m]",
        ("x", "y", "vx", "vy", "omega", "z", "yaw", "l", "w", "h"), {"accel_std": 1.0, "yaw_accel_std": 0.1}),
    "bicycle_box": MotionModelInfo(
        "bicycle_box", "kinematic bicycle (EKF) with a random-walk height and extent: x, y [m], "
        "v [m/s], yaw [rad], steer [rad], z, l, w, h [m]; wheelbase_m [m]",
        ("x", "y", "v", "yaw", "steer", "z", "l", "w", "h"),
        {"accel_std": 1.0, "steer_rate_std": 0.2, "wheelbase_m": 2.7}),
    "ctrv_vz_box": MotionModelInfo(
        "ctrv_vz_box", "constant turn rate and velocity (EKF) with a constant-velocity height and a "
        "random-walk extent: x, y [m], v [m/s], yaw [rad], yaw_rate [rad/s], z [m], vz [m/s], l, w, h [m] "
        "(the box Tracker's ctrv)",
        ("x", "y", "v", "yaw", "yaw_rate", "z", "vz", "l", "w", "h"),
        {"accel_std": 1.0, "yaw_accel_std": 0.5, "vertical_accel_std": 0.5}),
    "bicycle_vz_box": MotionModelInfo(
        "bicycle_vz_box", "kinematic bicycle (EKF) with a constant-velocity height and a random-walk "
        "extent: x, y [m], v [m/s], yaw [rad], steer [rad], z [m], vz [m/s], l, w, h [m]; wheelbase_m [m] "
        "(the box Tracker's bicycle)",
        ("x", "y", "v", "yaw", "steer", "z", "vz", "l", "w", "h"),
        {"accel_std": 1.0, "steer_rate_std": 0.2, "wheelbase_m": 2.7, "vertical_accel_std": 0.5}),
    "cv_point2d": MotionModelInfo(
        "cv_point2d", "2D point with constant velocity (white-noise acceleration), no extent: x, y [m], "
        "vx, vy [m/s]; for point sensors (position2d, position3d, radar)",
        ("x", "y", "vx", "vy"), {"accel_std": 1.0}),
    "imm_cv_ctrv_box": MotionModelInfo(
        "imm_cv_ctrv_box", "interacting multiple model of cv_box and ctrv_vz_box per track (EKF modes mixed "
        "across their layouts); x, P are the combined estimate in the cv_box layout: x, y, z [m], vx, vy, vz "
        "[m/s], yaw [rad], l, w, h [m]; the track record's mode_prob gives the mode probabilities",
        ("x", "y", "z", "vx", "vy", "vz", "yaw", "l", "w", "h"),
        {"cv_accel_std": 1.0, "ctrv_accel_std": 1.0, "ctrv_yaw_accel_std": 0.5, "ctrv_vertical_accel_std": 0.5,
         "yaw_rate_p0": 0.1},
        ("cv_box", "ctrv_vz_box")),
}

#: Motion models with box extent (the others are point models).
BOX_MOTION_MODELS: tuple[str, ...] = tuple(k for k in MOTION_MODELS if k.endswith("_box"))

#: Random-walk variances per second of the appended box components (``ExtentNoise``), with
#: their defaults: ``EngineConfig.extent_noise`` keys.
EXTENT_NOISE: dict[str, float] = {
    "z_m2_per_s": 0.05, "yaw_rad2_per_s": 0.05, "length_m2_per_s": 0.01, "width_m2_per_s": 0.01,
    "height_m2_per_s": 0.01,
}

_OVERLAP_3D = ("giou_3d", "giou_bev", "iou_3d", "iou_bev")
_OVERLAP_2D = ("iou_2d", "giou_2d")
_DISTANCE = ("distance", "distance_bev")
_INNOVATION = ("mahalanobis", "mahalanobis_loglik")  # chi-square gated, sparse, with likelihoods

#: Sensor models (key -> info). z is in the sensor frame (x along the boresight, y left, z up;
#: a camera's boxes in pixels of its image).
SENSOR_MODELS: dict[str, SensorModelInfo] = {
    "lidar_box3d": SensorModelInfo(
        "lidar_box3d", "3D box x, y, z [m], yaw [rad], l, w, h [m] in the sensor frame", _BOX,
        (*_OVERLAP_3D, *_INNOVATION, *_DISTANCE), "giou_3d", True,
        (0.1, 0.1, 0.1, 0.05, 0.1, 0.1, 0.1)),
    "camera_box2d": SensorModelInfo(
        "camera_box2d", "image box x1, y1, x2, y2 [px] of the projected 3D box (no range: no 3D births)",
        ("x1", "y1", "x2", "y2"), (*_OVERLAP_2D, *_INNOVATION), "iou_2d", False,
        (25.0, 25.0, 25.0, 25.0)),
    "radar": SensorModelInfo(
        "radar", "polar radar: range [m], azimuth [rad] (counter-clockwise from boresight), "
        "range rate [m/s] (negative closing); no height, so no 3D distance cost",
        ("range", "azimuth", "range_rate"),
        (*_INNOVATION, "distance_bev"), "mahalanobis", True, (0.25, 1e-4, 0.04)),
    "position3d": SensorModelInfo(
        "position3d", "3D point x, y, z [m] in the sensor frame", ("x", "y", "z"),
        (*_INNOVATION, *_DISTANCE), "mahalanobis", True, (0.25, 0.25, 0.25)),
    "position2d": SensorModelInfo(
        "position2d", "2D point x, y [m] in the sensor frame (the sensor-frame height dropped; no 3D "
        "distance cost)", ("x", "y"), (*_INNOVATION, "distance_bev"), "mahalanobis", True, (0.25, 0.25)),
}

#: Association costs (key -> info).
COSTS: dict[str, CostInfo] = {
    "giou_3d": CostInfo("giou_3d", "generalised IoU of the 3D boxes", "min_overlap", (-1.0, 1.0), False, True, -0.2),
    "giou_bev": CostInfo("giou_bev", "generalised IoU of the bird's-eye-view boxes", "min_overlap", (-1.0, 1.0),
                         False, True, -0.2),
    "iou_3d": CostInfo("iou_3d", "IoU of the 3D boxes", "min_overlap", (0.0, 1.0), False, True, 0.01),
    "iou_bev": CostInfo("iou_bev", "IoU of the bird's-eye-view boxes", "min_overlap", (0.0, 1.0), False, True, 0.01),
    "iou_2d": CostInfo("iou_2d", "IoU of the image boxes (the track's projected box)", "min_overlap", (0.0, 1.0),
                       False, True, 0.3),
    "giou_2d": CostInfo("giou_2d", "generalised IoU of the image boxes", "min_overlap", (-1.0, 1.0), False, True,
                        0.0),
    "mahalanobis": CostInfo("mahalanobis", "squared Mahalanobis distance of the innovation (chi-square gate)",
                            "probability", (0.0, 1.0), True, True, 0.99, (0.95, 0.99, 0.999)),
    "distance": CostInfo("distance", "Euclidean distance of the centres [m]", "max_distance", (0.0, math.inf),
                         True, True, 2.0),
    "distance_bev": CostInfo("distance_bev", "ground-plane distance of the centres [m]", "max_distance",
                             (0.0, math.inf), True, True, 2.0),
    "mahalanobis_loglik": CostInfo("mahalanobis_loglik", "negative log likelihood of the innovation up to a constant, "
                                   "d^2 + ln det S (tracks with different covariances compete fairly); chi-square "
                                   "gate on d^2", "probability", (0.0, 1.0), True, True, 0.99, (0.95, 0.99, 0.999)),
}

#: Associators (key -> info).
ASSOCIATORS: dict[str, AssociatorInfo] = {
    "gnn": AssociatorInfo("gnn", "global nearest neighbour: the exact minimum-cost assignment of the gated "
                                 "cost matrix"),
    "jpda": AssociatorInfo("jpda", "joint probabilistic data association: marginal association probabilities "
                                   "and a mixture update (needs likelihoods: an innovation cost)", _INNOVATION),
}

#: Cluster solvers of the JPDA associator (``SensorConfig.jpda_method``).
JPDA_METHODS: tuple[str, ...] = ("auto", "enumerate", "exact", "lbp")

_T = TypeVar("_T")


def lookup(registry: Mapping[str, _T], key: object, what: str) -> _T:
    """``registry[key]``, or a ConfigurationError ``"<what>: unknown key 'x'; known keys: a, b"``."""
    if not isinstance(key, str) or key not in registry:
        raise ConfigurationError(f"{what}: unknown key {key!r}; known keys: {', '.join(registry)}")
    return registry[key]
