"""Tracker configuration: :class:`TrackerConfig` with per-class :class:`ClassConfig`.

A TOML file mirrors the dataclasses::

    max_tracks = 512
    max_detections = 512

    [default]            # parameters of every class without its own table
    cost = "giou_3d"
    gate = -0.5

    [classes.2]          # class id 2 (e.g. KITTI Car); unset keys inherit [default]
    motion = "ctrv"
    min_hits = 3
    confirm_window = 5   # 3-of-5 confirmation
    max_age = 2
    max_coast_s = 0.5

    [classes.1]
    logic = "llr"        # Blackman's sequential log-likelihood-ratio track logic
    llr_confirm = 4.0
    llr_delete = -3.0
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fusion._toml import read_toml
from fusion.errors import ConfigurationError

if TYPE_CHECKING:
    from fusion.engine import EngineConfig

__all__ = ["ClassConfig", "TrackerConfig", "COST_KINDS", "MOTION_KINDS", "TRACK_LOGICS"]

#: Association costs. Overlap kinds (gate = minimum overlap) and distance kinds (gate = maximum).
COST_KINDS = ("giou_3d", "giou_bev", "iou_3d", "iou_bev", "distance", "distance_bev", "mahalanobis")
_OVERLAP = COST_KINDS[:4]
#: Motion models of the 10-state box: constant velocity (linear), or the EKF models constant
#: turn rate and velocity, constant turn rate and acceleration, kinematic bicycle, or the
#: interacting multiple model of cv and ctrv (engine motion ``imm_cv_ctrv_box``).
MOTION_KINDS = ("cv", "ctrv", "ctra", "bicycle", "imm")
#: Track confirmation/deletion rules: hit counting (M-of-N) or the log-likelihood ratio.
TRACK_LOGICS = ("hits", "llr")
_STRINGS = {"cost": COST_KINDS, "motion": MOTION_KINDS, "logic": TRACK_LOGICS}
_INTS = ("min_hits", "max_age", "confirm_window")
_BOOLS = ("two_stage",)


@dataclass
class ClassConfig:
    """Parameters of one object class.

    Attributes:
        cost: association cost, one of :data:`COST_KINDS` (``giou_3d``: negative 3D generalised
            IoU; ``distance``: centre distance in metres; ``mahalanobis``: squared Mahalanobis
            distance of the 7-D box residual under the track's innovation covariance).
        gate: overlap kinds: a pair is admissible when overlap > gate (in [-1, 1));
            distance kinds: when distance < gate (metres, or chi-square units for mahalanobis).
        motion: ``"cv"`` (state x, y, z, yaw, l, w, h, vx, vy, vz), ``"ctrv"`` (..., speed,
            yaw rate, vz), ``"ctra"`` (..., speed, yaw rate, acceleration; z constant) or
            ``"bicycle"`` (..., speed, steering angle, vz; yaw rate = speed tan(steer) /
            ``wheelbase_m``); the last three are EKFs whose ground-plane motion follows the heading;
            ``"imm"``: an interacting multiple model per track of ``"cv"`` and ``"ctrv"`` (the
            engine's ``imm_cv_ctrv_box``; the cv ``q_*`` and ``p0_*`` give the CV mode's Q and
            both modes' P0, ``p0_yaw_rate`` the CTRV yaw rate's, the CTRV mode keeps its model Q).
        logic: ``"hits"`` (confirm after ``min_hits`` updates, M-of-N with ``confirm_window``)
            or ``"llr"`` (confirm when the track's log-likelihood ratio reaches ``llr_confirm``,
            delete when it falls below ``llr_delete``).
        min_hits: detections needed before a track is confirmed (status 1); M of M-of-N.
        confirm_window: N of M-of-N (frames, at most 64): confirm with ``min_hits`` hits among
            the last N steps, delete a tentative track whose first N steps fail that; 0 counts
            every hit since birth.
        max_age: consecutive missed steps after which a track is deleted.
        max_coast_s: seconds without an update after which a track is deleted (inf: never).
        pd, clutter_density: detection probability in (0, 1) and false-alarm density (> 0, per
            unit volume of the 7-D box space) of the log-likelihood ratio: each update adds
            ``log(pd * N(y; 0, S) / clutter_density)``, each miss ``log(1 - pd)``. The track's
            existence probability is ``1 / (1 + exp(-llr))``.
        llr_init, llr_confirm, llr_delete, llr_max: score of a newborn track, confirmation and
            deletion thresholds (logic ``"llr"``), and the clamp that keeps old tracks deletable.
        score_threshold: detections scoring below are ignored (same units as the scores).
        birth_score_threshold: unmatched detections scoring below do not start tracks.
        two_stage: associate the detections scoring >= ``birth_score_threshold`` first and
            only then the weaker ones with the tracks left over (ByteTrack-like), so a weak
            detection never takes a track from a confident one.
        score_coast_penalty: the reported track score (mean detection score) drops by this per
            missed step.
        r_pos, r_yaw, r_size: measurement noise variances (m^2, rad^2, m^2).
        q_pos, q_yaw, q_size, q_vel, q_yaw_rate: process noise, variance added per second of
            prediction (position m^2/s, yaw rad^2/s, size m^2/s, velocity or CTRV speed
            (m/s)^2/s, CTRV yaw rate (rad/s)^2/s).
        q_acc, q_steer: CTRA acceleration ((m/s^2)^2/s) and bicycle steering (rad^2/s) noise.
        p0_pos, p0_yaw, p0_size, p0_vel, p0_yaw_rate, p0_acc, p0_steer: initial variances of a
            new track.
        wheelbase_m: bicycle model wheelbase (m).
        min_size: lower bound on the filtered box sizes (m).
    """

    cost: str = "giou_3d"
    gate: float = -0.5
    motion: str = "cv"
    logic: str = "hits"
    min_hits: int = 3
    confirm_window: int = 0
    max_age: int = 2
    max_coast_s: float = math.inf
    pd: float = 0.9
    clutter_density: float = 1e-8
    llr_init: float = 0.0
    llr_confirm: float = 4.0
    llr_delete: float = -4.0
    llr_max: float = 20.0
    score_threshold: float = -math.inf
    birth_score_threshold: float = -math.inf
    two_stage: bool = False
    score_coast_penalty: float = 0.0
    r_pos: float = 1.0
    r_yaw: float = 1.0
    r_size: float = 1.0
    q_pos: float = 10.0
    q_yaw: float = 10.0
    q_size: float = 10.0
    q_vel: float = 10.0
    q_yaw_rate: float = 1.0
    p0_pos: float = 10.0
    p0_yaw: float = 10.0
    p0_size: float = 10.0
    p0_vel: float = 1.0e4
    p0_yaw_rate: float = 1.0
    q_acc: float = 1.0
    q_steer: float = 0.1
    p0_acc: float = 4.0
    p0_steer: float = 0.1
    wheelbase_m: float = 2.7
    min_size: float = 0.05

    def validate(self, where: str = "default") -> None:
        """Raise :class:`ConfigurationError` naming the class and the field."""
        pre = f"tracker config [{where}]"
        for name, allowed in _STRINGS.items():
            if getattr(self, name) not in allowed:
                raise ConfigurationError(
                    f"{pre}.{name}: expected one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name in _INTS:
            v = getattr(self, name)
            lo = 0 if name == "confirm_window" else 1
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ConfigurationError(f"{pre}.{name}: expected an integer >= {lo}, got {v!r}")
        for name in _BOOLS:
            if not isinstance(getattr(self, name), bool):
                raise ConfigurationError(f"{pre}.{name}: expected true or false, got {getattr(self, name)!r}")
        if self.confirm_window > 64:
            raise ConfigurationError(f"{pre}.confirm_window: at most 64 frames, got {self.confirm_window!r}")
        if self.confirm_window and self.min_hits > self.confirm_window:
            raise ConfigurationError(f"{pre}.min_hits: {self.min_hits} hits cannot fit in confirm_window = "
                                     f"{self.confirm_window} frames (M-of-N needs M <= N)")
        for f in dataclasses.fields(self):
            if f.name in _STRINGS or f.name in _INTS or f.name in _BOOLS:
                continue
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigurationError(f"{pre}.{f.name}: expected a number, got {v!r}")
            if math.isnan(v):
                raise ConfigurationError(f"{pre}.{f.name}: must not be NaN")
        g = self.gate
        if self.cost in _OVERLAP:
            if not -1.0 <= g < 1.0:
                raise ConfigurationError(
                    f"{pre}.gate: for cost {self.cost!r} the gate is a minimum overlap in [-1, 1), got {g!r}")
        elif not (0.0 < g < math.inf):
            raise ConfigurationError(
                f"{pre}.gate: for cost {self.cost!r} the gate is a maximum distance and must be > 0, got {g!r}")
        for name in ("r_pos", "r_yaw", "r_size", "p0_pos", "p0_yaw", "p0_size", "p0_vel", "p0_yaw_rate",
                     "p0_acc", "p0_steer", "wheelbase_m", "min_size", "clutter_density"):
            v = getattr(self, name)
            if not (0.0 < v < math.inf):
                raise ConfigurationError(f"{pre}.{name}: expected a finite variance > 0, got {v!r}")
        for name in ("q_pos", "q_yaw", "q_size", "q_vel", "q_yaw_rate", "q_acc", "q_steer", "score_coast_penalty"):
            v = getattr(self, name)
            if not (0.0 <= v < math.inf):
                raise ConfigurationError(f"{pre}.{name}: expected a finite value >= 0, got {v!r}")
        if not self.max_coast_s > 0.0:
            raise ConfigurationError(
                f"{pre}.max_coast_s: expected seconds > 0 (inf: no limit), got {self.max_coast_s!r}")
        if not 0.0 < self.pd < 1.0:
            raise ConfigurationError(f"{pre}.pd: expected a detection probability in (0, 1), got {self.pd!r}")
        for name in ("llr_init", "llr_confirm", "llr_delete", "llr_max"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigurationError(f"{pre}.{name}: expected a finite number, got {getattr(self, name)!r}")
        if not (self.llr_delete < self.llr_init <= self.llr_max and self.llr_confirm <= self.llr_max):
            raise ConfigurationError(
                f"{pre}.llr_*: expected llr_delete < llr_init <= llr_max and llr_confirm <= llr_max, got "
                f"llr_delete={self.llr_delete}, llr_init={self.llr_init}, llr_confirm={self.llr_confirm}, "
                f"llr_max={self.llr_max}")

    @classmethod
    def from_dict(cls, d: dict[str, Any], base: ClassConfig | None = None, where: str = "default") -> ClassConfig:
        """Build from a mapping; keys not given are taken from ``base`` (or the defaults)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigurationError(
                f"tracker config [{where}]: unknown key(s) {', '.join(unknown)}; "
                f"known keys: {', '.join(sorted(known))}")
        out = dataclasses.replace(base) if base is not None else cls()
        for k, v in d.items():
            setattr(out, k, float(v) if isinstance(v, int) and not isinstance(v, bool)
                    and k not in _INTS else v)
        out.validate(where)
        return out


@dataclass
class TrackerConfig:
    """Tracker parameters.

    Attributes:
        default: parameters of every class id without an entry in ``classes``.
        classes: per-class parameters, keyed by the (non-negative) ``class_id`` of the detections.
        max_tracks: capacity of live tracks (memory is reserved up front; births beyond it are
            skipped).
        max_detections: most detections accepted in one step (more raise ShapeError).
    """

    default: ClassConfig = field(default_factory=ClassConfig)
    classes: dict[int, ClassConfig] = field(default_factory=dict)
    max_tracks: int = 1024
    max_detections: int = 1024

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` with the offending field named."""
        for name in ("max_tracks", "max_detections"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1_000_000:
                raise ConfigurationError(f"tracker config {name}: expected an integer in [1, 1000000], got {v!r}")
        if not isinstance(self.default, ClassConfig):
            raise ConfigurationError(
                f"tracker config default: expected a ClassConfig, got {type(self.default).__name__}")
        self.default.validate("default")
        for cid, cc in self.classes.items():
            if isinstance(cid, bool) or not isinstance(cid, int) or not 0 <= cid <= 65535:
                raise ConfigurationError(
                    f"tracker config classes: class id must be an integer in [0, 65535], got {cid!r}")
            if not isinstance(cc, ClassConfig):
                raise ConfigurationError(
                    f"tracker config classes[{cid}]: expected a ClassConfig, got {type(cc).__name__}")
            cc.validate(f"classes.{cid}")

    def for_class(self, class_id: int) -> ClassConfig:
        """The parameters that apply to ``class_id``."""
        return self.classes.get(class_id, self.default)

    def engine_config(self, class_id: int) -> EngineConfig:
        """The engine preset that :class:`~fusion.tracking.Tracker` runs for ``class_id`` (its own
        parameters, else the default): a :class:`fusion.engine.EngineConfig` with one
        ``lidar_box3d`` sensor. The mapping is the C++ one (``engine_config_for`` in
        csrc/src/tracker.cpp, the table in docs/ARCHITECTURE.md); a
        :class:`fusion.engine.FusionEngine` built from it and fed the class's detections gives
        that class's tracks (ids aside: the Tracker numbers them across classes)."""
        from fusion import _core
        from fusion.engine import EngineConfig
        from fusion.tracking.tracker import _core_class

        self.validate()
        spec = _core.tracker_engine_spec(_core_class(self.for_class(class_id)), self.max_tracks,
                                         self.max_detections)
        return EngineConfig.from_dict(spec)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrackerConfig:
        """Build from a mapping shaped like the TOML file (see the module docstring)."""
        known = {"default", "classes", "max_tracks", "max_detections"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigurationError(f"tracker config: unknown key(s) {', '.join(unknown)}; known keys: "
                                     f"{', '.join(sorted(known))}")
        default_d = d.get("default", {})
        if not isinstance(default_d, dict):
            raise ConfigurationError("tracker config [default]: expected a table")
        default = ClassConfig.from_dict(default_d, where="default")
        classes: dict[int, ClassConfig] = {}
        classes_d = d.get("classes", {})
        if not isinstance(classes_d, dict):
            raise ConfigurationError("tracker config [classes]: expected a table of class-id tables")
        for key, sub in classes_d.items():
            try:
                cid = int(key)
            except (TypeError, ValueError):
                raise ConfigurationError(f"tracker config [classes.{key}]: class id must be an integer") from None
            if not isinstance(sub, dict):
                raise ConfigurationError(f"tracker config [classes.{key}]: expected a table")
            if cid in classes:  # [classes.2] and [classes.02]: one class, two tables
                first = next(k for k in classes_d if k != key and int(k) == cid)
                raise ConfigurationError(f"tracker config [classes.{key}]: class id {cid} is already given by "
                                         f"[classes.{first}]")
            classes[cid] = ClassConfig.from_dict(sub, base=default, where=f"classes.{key}")
        out = cls(default=default, classes=classes,
                  max_tracks=d.get("max_tracks", 1024), max_detections=d.get("max_detections", 1024))
        out.validate()
        return out

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> TrackerConfig:
        """Read a TOML file (see the module docstring). Errors name the file."""
        data = read_toml(path)
        try:
            return cls.from_dict(data)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{os.fspath(path)}: {exc}") from None
