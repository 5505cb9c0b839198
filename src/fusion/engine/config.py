"""Engine configuration: :class:`EngineConfig` with one :class:`SensorConfig` per sensor, the
3D-track :class:`LifecycleConfig` and the :class:`ImageTrackConfig` of camera-only tracks.

Units throughout: metres, radians, seconds, pixels; timestamps are int64 nanoseconds.
Components are named by registry key (:mod:`fusion.engine.registry`). A TOML file mirrors the
dataclasses; sensors are tables under ``[sensors]``, in sensor-index order::

    motion = "cv_box"
    num_classes = 3
    max_tracks = 256
    oosm_horizon_s = 0.3       # late frames up to 300 ms are re-processed

    [motion_noise]
    accel_std = 2.0            # m/s^2

    [lifecycle]
    confirm_hits = 3
    confirm_window = 5
    max_coast_s = 1.0

    [sensors.lidar]            # sensor 0
    model = "lidar_box3d"
    mount_t = [0.0, 0.0, 1.73]
    cost = "giou_3d"
    gate = -0.2

    [sensors.lidar.fov]
    max_range_m = 80.0

    [sensors.camera]           # sensor 1
    model = "camera_box2d"
    projection = [[700.0, 0.0, 600.0, 0.0], [0.0, 700.0, 180.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
    image_size = [1242, 375]
    image_tracks = true

Errors (:class:`~fusion.errors.ConfigurationError`) name the file, the table and the key
(``cfg.toml: [sensors.camera] gate: ...``); unknown keys are rejected with the known ones listed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from fusion._toml import read_toml
from fusion.engine import registry
from fusion.errors import ConfigurationError

__all__ = ["EngineConfig", "SensorConfig", "FieldOfView", "LifecycleConfig", "ImageTrackConfig",
           "CONFIRM_RULES", "EXISTENCE_MODELS", "LATE_POLICIES", "BAD_DETECTION_POLICIES", "MAX_SENSORS",
           "MAX_CLASSES", "rotation_from_ypr"]

#: What happens to a sensor frame older than the engine's latest time: dropped and counted
#: (``stats()["late_frames"]``), or a :class:`~fusion.errors.TimestampError`.
LATE_POLICIES = ("drop", "raise")
#: What happens to an invalid detection (NaN, wrong covariance, inverted box, ...): a typed
#: error and nothing changes, or the detection is skipped and counted.
BAD_DETECTION_POLICIES = ("raise", "skip")
#: Limits of the C++ track record (``track/record.hpp``).
MAX_SENSORS = 16
MAX_CLASSES = 32
_MAX_HISTORY = 64  # longest M-of-N window (track_table.hpp kMaxHistory)
#: Lifecycle confirmation rules (``confirm_rule``) and track scores (``existence_model``).
CONFIRM_RULES = ("last", "first")
EXISTENCE_MODELS = ("ipda", "llr")
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_ARRAY_FIELDS = frozenset({"mount_R", "mount_t", "projection", "image_size", "R", "confusion", "q_diag_per_s",
                           "p0_diag", "imm_transition", "imm_mu0"})


def rotation_from_ypr(yaw_rad: float, pitch_rad: float = 0.0, roll_rad: float = 0.0) -> list[list[float]]:
    """R = Rz(yaw) Ry(pitch) Rx(roll) as nested lists (a mount_R): the sensor axes in the
    vehicle frame. Positive pitch tilts the boresight down (as ``SensorMount::from_yaw_pitch_roll``)."""
    cy, sy = math.cos(yaw_rad), math.sin(yaw_rad)
    cp, sp = math.cos(pitch_rad), math.sin(pitch_rad)
    cr, sr = math.cos(roll_rad), math.sin(roll_rad)
    rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
    out: list[list[float]] = (rz @ ry @ rx).tolist()
    return out


# ---------------------------------------------------------------- value checks shared by from_dict and validate

def _loc(table: str, key: str) -> str:
    return f"[{table}] {key}" if table else key


def _fail(table: str, key: str, msg: str) -> ConfigurationError:
    return ConfigurationError(f"{_loc(table, key)}: {msg}")


def _float(table: str, key: str, v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise _fail(table, key, f"expected a number, got {v!r}")
    f = float(v)
    if math.isnan(f):
        raise _fail(table, key, "must not be NaN")
    return f


def _int(table: str, key: str, v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise _fail(table, key, f"expected an integer, got {v!r}")
    return int(v)


def _bool(table: str, key: str, v: object) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise _fail(table, key, f"expected true or false, got {v!r}")
    return bool(v)


def _str(table: str, key: str, v: object) -> str:
    if not isinstance(v, str):
        raise _fail(table, key, f"expected a string, got {v!r}")
    return v


def _array(table: str, key: str, v: object, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A finite float array of exactly ``shape`` (bools and strings rejected)."""
    try:
        a = np.asarray(v)
    except (TypeError, ValueError):
        a = np.asarray(None)
    if a.dtype.kind not in "iuf" or a.shape != shape:
        got = f"shape {a.shape}" if a.dtype.kind in "iuf" else repr(v)
        raise _fail(table, key, f"expected {what} of shape {shape} (numbers), got {got}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise _fail(table, key, f"every entry must be finite, got {a.tolist()}")
    return a


def _in(table: str, key: str, v: float, lo: float, hi: float, rule: str) -> None:
    if not lo <= v <= hi:
        raise _fail(table, key, f"expected {rule}, got {v!r}")


def _positive(table: str, key: str, v: float, allow_inf: bool = False) -> None:
    if not (v > 0.0 and (allow_inf or math.isfinite(v))):
        raise _fail(table, key, f"expected a {'' if allow_inf else 'finite '}number > 0"
                    f"{' (inf: no limit)' if allow_inf else ''}, got {v!r}")


def _spd(table: str, key: str, a: np.ndarray) -> None:
    if not np.allclose(a, a.T, rtol=1e-9, atol=1e-12):
        raise _fail(table, key, f"must be symmetric, got {a.tolist()}")
    try:
        np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        raise _fail(table, key, f"must be positive definite (eigenvalues {np.linalg.eigvalsh(a).tolist()})") from None


def _to_plain(v: Any) -> Any:
    """Arrays and tuples to nested lists of Python numbers (configs compare and serialise as values)."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_to_plain(x) for x in v]
    return v


_KINDS = ("float", "int", "bool", "str")


def _typed(table: str, key: str, v: object, kind: str) -> Any:
    if kind == "float":
        return _float(table, key, v)
    if kind == "int":
        return _int(table, key, v)
    if kind == "bool":
        return _bool(table, key, v)
    if kind == "str":
        return _str(table, key, v)
    return _to_plain(v)  # arrays and optional values: checked by validate()


def _unknown(table: str, d: Mapping[str, Any], known: Sequence[str]) -> None:
    unknown = [k for k in d if k not in known]
    if unknown:
        raise ConfigurationError(f"[{table or 'engine'}]: unknown key(s) {', '.join(map(repr, unknown))}; "
                                 f"known keys: {', '.join(known)}")


def _table(table: str, v: object) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise ConfigurationError(f"[{table}]: expected a table, got {v!r}")
    return v


class _Section:
    """from_dict/validate machinery of a flat dataclass of scalars (kinds in ``_FIELD_KINDS``)."""

    _FIELD_KINDS: dict[str, str] = {}

    @classmethod
    def _from_mapping(cls, d: Mapping[str, Any], table: str) -> dict[str, Any]:
        known = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        _unknown(table, d, known)
        return {k: _typed(table, k, v, cls._FIELD_KINDS.get(k, "any")) for k, v in d.items()}

    def _check_kinds(self, table: str) -> None:
        for k, kind in self._FIELD_KINDS.items():
            _typed(table, k, getattr(self, k), kind)


class _FlatSection(_Section):
    """A section that is one TOML table of scalars: spec entries and from_dict come for free."""

    _TABLE = ""  # the TOML table name used in error messages

    def validate(self, table: str = "") -> None:
        raise NotImplementedError

    def to_spec(self) -> dict[str, Any]:
        """The spec-dict entries of this section (the keys of ``_FIELD_KINDS``)."""
        return {k: getattr(self, k) for k in self._FIELD_KINDS}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], table: str | None = None) -> Self:
        """Build from a mapping (unknown keys and wrong types name the table), then validate."""
        t = cls._TABLE if table is None else table
        out = cls(**cls._from_mapping(d, t))
        out.validate(t)
        return out


# ---------------------------------------------------------------- sections

@dataclass
class FieldOfView(_FlatSection):
    """Where a sensor can detect, in its own frame (x along the boresight, y left, z up).

    A track outside a sensor's field of view is not penalised by that sensor's miss. The
    default sees everything.

    Attributes:
        azimuth_half_rad: half the horizontal opening, radians in (0, pi].
        elevation_half_rad: half the vertical opening, radians in (0, pi/2].
        min_range_m, max_range_m: range limits in metres, 0 <= min < max (max may be inf).
    """

    _TABLE = "fov"
    _FIELD_KINDS = {"azimuth_half_rad": "float", "elevation_half_rad": "float", "min_range_m": "float",
                    "max_range_m": "float"}

    azimuth_half_rad: float = math.pi
    elevation_half_rad: float = 0.5 * math.pi
    min_range_m: float = 0.0
    max_range_m: float = math.inf

    def validate(self, table: str = "fov") -> None:
        """Raise ConfigurationError naming the table and the key."""
        self._check_kinds(table)
        if not 0.0 < self.azimuth_half_rad <= math.pi:
            raise _fail(table, "azimuth_half_rad", f"expected radians in (0, pi], got {self.azimuth_half_rad!r}")
        if not 0.0 < self.elevation_half_rad <= 0.5 * math.pi:
            raise _fail(table, "elevation_half_rad",
                        f"expected radians in (0, pi/2], got {self.elevation_half_rad!r}")
        if not 0.0 <= self.min_range_m < math.inf:
            raise _fail(table, "min_range_m", f"expected metres >= 0, got {self.min_range_m!r}")
        if not self.max_range_m > self.min_range_m:
            raise _fail(table, "max_range_m", f"expected metres > min_range_m = {self.min_range_m!r} "
                        f"(inf: no limit), got {self.max_range_m!r}")

    def to_spec(self) -> dict[str, Any]:
        return {k: float(getattr(self, k)) for k in self._FIELD_KINDS}


@dataclass
class LifecycleConfig(_FlatSection):
    """Confirmation and deletion of 3D tracks, in time and per sensor (``track/lifecycle.hpp``).

    Attributes:
        confirm_hits, confirm_window: M-of-N confirmation: a tentative track is confirmed once
            ``confirm_hits`` of the last ``confirm_window`` sensor frames that could see it
            (of sensors with ``counts_for_confirmation``) were hits. 0 hits: off.
            ``confirm_window = 0`` (rule ``"last"`` only): M hits ever (every frame since birth).
        confirm_rule: ``"last"`` (above) or ``"first"``: confirmed once it has M hits among its
            FIRST N such frames (the birth counts); a tentative track is deleted as soon as it
            can no longer get there (hits + (N - frames) < M).
        confirm_by_existence: also confirm when the existence probability reaches
            ``confirm_existence`` (``existence_model = "llr"``: when the score reaches
            ``llr_confirm``).
        confirm_existence: existence probability in (0, 1] that confirms.
        delete_existence: existence probability in [0, confirm_existence) below which a track
            is deleted.
        birth_existence: existence probability of a new track, in (delete_existence, 1].
        max_coast_s: seconds without an update (from a sensor with ``counts_for_coast``)
            after which a confirmed track is deleted (inf: never).
        tentative_max_coast_s: the same for a tentative track.
        mean_lifetime_s: mean target lifetime in seconds (existence decays as exp(-dt / this);
            inf: no decay).
        tentative_max_misses: a tentative track is deleted once its window holds more misses
            than this (M-of-N can no longer be reached); -1: off. ``confirm_window -
            confirm_hits`` reproduces the old box tracker's rule. Rule ``"last"`` with N > 0 only.
        max_misses: a track is deleted at its K-th consecutive in-FOV miss (misses of sensors
            with ``counts_for_coast``; a hit of such a sensor resets the count); -1: off.
        miss_max_coast_s: a track missed (in FOV, by a sensor with ``counts_for_coast``) whose
            last update is more than this many seconds old is deleted; checked after the
            association (a track matched in the frame survives), unlike ``max_coast_s``, which is
            checked before it. inf: off.
        existence_model: ``"ipda"`` (the IPDA existence recursion) or ``"llr"`` (Blackman's
            sequential log-likelihood ratio: ``llr_init`` at birth, ``+ log(pd N(y; 0, S) /
            clutter_density)`` per hit, ``+ log(1 - pd gate_probability)`` per in-FOV miss, clamped to
            ``llr_max``; confirmed at ``llr_confirm`` (with ``confirm_by_existence``), deleted
            below ``llr_delete``; existence = 1 / (1 + exp(-llr)); pd and clutter_density are
            the sensor's).
        llr_init, llr_confirm, llr_delete, llr_max: the ``"llr"`` thresholds (llr_delete may be
            -inf: never; llr_max inf: no clamp).
    """

    _TABLE = "lifecycle"
    _FIELD_KINDS = {"confirm_hits": "int", "confirm_window": "int", "confirm_by_existence": "bool",
                    "confirm_existence": "float", "delete_existence": "float", "birth_existence": "float",
                    "max_coast_s": "float", "tentative_max_coast_s": "float", "mean_lifetime_s": "float",
                    "tentative_max_misses": "int", "max_misses": "int", "miss_max_coast_s": "float",
                    "confirm_rule": "str", "existence_model": "str", "llr_init": "float",
                    "llr_confirm": "float", "llr_delete": "float", "llr_max": "float"}

    confirm_hits: int = 3
    confirm_window: int = 5
    confirm_by_existence: bool = False
    confirm_existence: float = 0.9
    delete_existence: float = 0.01
    birth_existence: float = 0.5
    max_coast_s: float = 1.0
    tentative_max_coast_s: float = 0.5
    mean_lifetime_s: float = math.inf
    tentative_max_misses: int = -1
    max_misses: int = -1
    miss_max_coast_s: float = math.inf
    confirm_rule: str = "last"
    existence_model: str = "ipda"
    llr_init: float = 0.0
    llr_confirm: float = 4.0
    llr_delete: float = -4.0
    llr_max: float = 20.0

    def validate(self, table: str = "lifecycle") -> None:
        """Raise ConfigurationError naming the table and the key."""
        self._check_kinds(table)
        for k, allowed in (("confirm_rule", CONFIRM_RULES), ("existence_model", EXISTENCE_MODELS)):
            if getattr(self, k) not in allowed:
                raise _fail(table, k, f"unknown value {getattr(self, k)!r} (known: {', '.join(allowed)})")
        if not 0 <= self.confirm_hits <= _MAX_HISTORY:
            raise _fail(table, "confirm_hits", f"expected an integer in [0, {_MAX_HISTORY}], got {self.confirm_hits}")
        ever = self.confirm_window == 0 and self.confirm_rule == "last"
        n_max = 2**31 - 1 if self.confirm_rule == "first" else _MAX_HISTORY
        if not ever and not max(self.confirm_hits, 1) <= self.confirm_window <= n_max:
            raise _fail(table, "confirm_window", f"expected an integer in [max(confirm_hits, 1), {_MAX_HISTORY}] "
                        f"(M-of-N needs M <= N), got {self.confirm_window}")
        _in(table, "confirm_existence", self.confirm_existence, 1e-300, 1.0, "a probability in (0, 1]")
        if not 0.0 <= self.delete_existence < self.confirm_existence:
            raise _fail(table, "delete_existence",
                        f"expected a probability in [0, confirm_existence = {self.confirm_existence}), "
                        f"got {self.delete_existence!r}")
        if not self.delete_existence < self.birth_existence <= 1.0:
            raise _fail(table, "birth_existence",
                        f"expected a probability in (delete_existence = {self.delete_existence}, 1], "
                        f"got {self.birth_existence!r}")
        for k in ("max_coast_s", "tentative_max_coast_s", "mean_lifetime_s"):
            _positive(table, k, getattr(self, k), allow_inf=True)
        if not -1 <= self.tentative_max_misses <= self.confirm_window:
            raise _fail(table, "tentative_max_misses", f"expected -1 (off) or an integer in [0, confirm_window = "
                        f"{self.confirm_window}], got {self.tentative_max_misses}")
        if self.tentative_max_misses >= 0 and (ever or self.confirm_rule != "last"):
            raise _fail(table, "tentative_max_misses", "must be -1 with confirm_window = 0 or confirm_rule 'first'")
        if self.max_misses == 0 or self.max_misses < -1:
            raise _fail(table, "max_misses", f"expected -1 (off) or an integer >= 1, got {self.max_misses}")
        _positive(table, "miss_max_coast_s", self.miss_max_coast_s, allow_inf=True)
        if self.existence_model == "llr":
            if math.isnan(self.llr_max):
                raise _fail(table, "llr_max", "expected a number (inf: no clamp), got nan")
            for k in ("llr_init", "llr_confirm"):
                if not math.isfinite(getattr(self, k)):
                    raise _fail(table, k, f"expected a finite number, got {getattr(self, k)!r}")
            if not (self.llr_delete < self.llr_init <= self.llr_max and self.llr_confirm <= self.llr_max):
                raise _fail(table, "llr_delete", "expected llr_delete < llr_init <= llr_max and llr_confirm <= "
                            f"llr_max, got llr_delete={self.llr_delete}, llr_init={self.llr_init}, "
                            f"llr_confirm={self.llr_confirm}, llr_max={self.llr_max}")



@dataclass
class ImageTrackConfig(_FlatSection):
    """Image tracks: camera detections that no 3D track explains, tracked in the image plane
    with a linear Kalman filter on (u, v, w, h, du, dv) (box centre and size [px], centre
    velocity [px/s]), associated by image IoU. They keep their id when a 3D track takes them
    over (join), and a confirmed 3D track that dies in view of a camera continues as one.

    Attributes:
        gate: minimum IoU of a detection with an image track's predicted box, in (0, 1]; also
            the IoU a 3D track's camera detection needs with an image track to take over its id.
        confirm_hits, confirm_window: M-of-N confirmation over the camera's frames.
        max_coast_s, tentative_max_coast_s: seconds without a detection after which a
            confirmed / tentative image track is deleted (> 0).
        q_pos: process noise of the centre (a random walk on top of the velocity), px^2 per second.
        q_vel: process noise of the centre velocity, (px/s)^2 per second.
        q_size: process noise of the width and height, px^2 per second.
        r: measurement variance of the box centre and size, px^2.
    """

    _TABLE = "image_track"
    _FIELD_KINDS = {"gate": "float", "confirm_hits": "int", "confirm_window": "int", "max_coast_s": "float",
                    "tentative_max_coast_s": "float", "q_pos": "float", "q_vel": "float", "q_size": "float",
                    "r": "float"}

    gate: float = 0.3
    confirm_hits: int = 3
    confirm_window: int = 5
    max_coast_s: float = 1.0
    tentative_max_coast_s: float = 0.5
    q_pos: float = 100.0
    q_vel: float = 1000.0
    q_size: float = 100.0
    r: float = 25.0

    def validate(self, table: str = "image_track") -> None:
        """Raise ConfigurationError naming the table and the key."""
        self._check_kinds(table)
        if not 0.0 < self.gate <= 1.0:
            raise _fail(table, "gate", f"expected a minimum IoU in (0, 1], got {self.gate!r}")
        if not 0 <= self.confirm_hits <= _MAX_HISTORY:
            raise _fail(table, "confirm_hits", f"expected an integer in [0, {_MAX_HISTORY}], got {self.confirm_hits}")
        if not max(self.confirm_hits, 1) <= self.confirm_window <= _MAX_HISTORY:
            raise _fail(table, "confirm_window", f"expected an integer in [max(confirm_hits, 1), {_MAX_HISTORY}] "
                        f"(M-of-N needs M <= N), got {self.confirm_window}")
        for k in ("max_coast_s", "tentative_max_coast_s"):
            _positive(table, k, getattr(self, k), allow_inf=True)
        for k in ("q_pos", "q_vel", "q_size"):
            v = getattr(self, k)
            if not 0.0 <= v < math.inf:
                raise _fail(table, k, f"expected a finite variance rate >= 0, got {v!r}")
        _positive(table, "r", self.r)



@dataclass
class SensorConfig(_Section):
    """One sensor: its measurement model, where it is mounted, how it associates and what its
    detections may do. Fields left ``None`` take the model's default (:mod:`fusion.engine.registry`).

    Attributes:
        name: unique name (letters, digits, ``_``, ``-``); ``process()`` accepts it in place
            of the sensor index.
        model: sensor model key (``lidar_box3d``, ``camera_box2d``, ``radar``, ``position3d``).
        mount_R: 3x3 rotation, the sensor axes (x boresight, y left, z up) in the vehicle
            frame (:func:`rotation_from_ypr`); must be a proper rotation.
        mount_t: the sensor origin in the vehicle frame, metres.
        fov: field of view (:class:`FieldOfView`).
        projection: camera only: 3x4 pinhole projection of the camera's optical frame (x right,
            y down, z forward) to pixels, e.g. ``K [I | 0]`` or KITTI's P2.
        image_size: camera only: ``(width, height)`` in pixels; predicted boxes are clipped to
            the image. None or (0, 0): no clipping.
        R: default MxM measurement covariance (units of z squared) used for detections
            without their own; None: the model's default diagonal.
        cost: association cost key; None: the model's default.
        gate: the cost's gate (min overlap, gate probability or max metres, see
            :class:`~fusion.engine.registry.CostInfo`); None: the cost's default.
        gate_chi2: ``mahalanobis`` and ``mahalanobis_loglik`` only: when > 0, the gate is
            ``d^2 <= gate_chi2`` (a chi-square value) and ``gate`` is not used; 0: unset.
        two_stage: GNN in two stages: detections scoring >= ``birth_score_threshold`` are
            associated first, then the rest with the tracks left over (a weak detection never
            takes a track from a confident one).
        associator: associator key (``gnn``; ``jpda`` with an innovation cost, ``mahalanobis`` or
            ``mahalanobis_loglik``).
        jpda_method: JPDA only: how each cluster's marginals are computed: ``"auto"``
            (enumeration for small clusters, the exact frontier recursion, loopy BP beyond
            ``jpda_max_states``), or force ``"enumerate"``, ``"exact"`` or ``"lbp"``.
        jpda_max_states: JPDA only: table budget of the exact recursion per cluster (>= 1).
        jpda_birth_threshold: JPDA only: < 0 (default -1): a detection starts a track only if it
            is in no track's gate; in [0, 1]: if its total association probability (the sum of
            its marginals over the tracks) is below this value.
        jpda_miss_beta0: JPDA only, in (0, 1]: a track's frame counts as a miss for the
            lifecycle when its gate is empty or, for a value below 1, when its no-detection
            probability beta_0 is >= this (0.5: the miss is the likelier hypothesis). 1
            (default): only an empty gate. The PDA state update runs either way.
        update_state: whether this sensor's detections update the 3D state (False: they only
            count as hits, fuse class evidence and feed the per-sensor record).
        births: whether unmatched detections start 3D tracks (needs a model with an inverse);
            None: True for models with an inverse.
        birth_score_threshold: unmatched detections scoring below this do not start tracks.
        score_threshold: detections scoring below this are ignored.
        pd: detection probability inside the field of view, [0, 1].
        gate_probability: probability mass of the gate, (0, 1] (existence update).
        clutter_density: false alarms per unit volume of the measurement space, > 0.
        nominal_likelihood_ratio: likelihood ratio of a hit without a Mahalanobis likelihood
            (overlap costs), > 0.
        counts_for_confirmation: whether this sensor's frames enter the M-of-N window.
        counts_for_coast: whether a hit of this sensor resets the coast timer.
        confusion: CxC confusion matrix (rows true class, columns reported class, rows sum to
            1); None: the sensor's class reports do not change class probabilities.
        image_tracks: camera only: unassigned detections feed image tracks.
    """

    _FIELD_KINDS = {"name": "str", "model": "str", "associator": "str", "jpda_method": "str",
                    "jpda_max_states": "int", "jpda_birth_threshold": "float", "jpda_miss_beta0": "float",
                    "update_state": "bool",
                    "birth_score_threshold": "float", "score_threshold": "float", "pd": "float",
                    "gate_probability": "float", "clutter_density": "float",
                    "nominal_likelihood_ratio": "float", "counts_for_confirmation": "bool",
                    "counts_for_coast": "bool", "image_tracks": "bool", "gate_chi2": "float",
                    "two_stage": "bool"}

    name: str
    model: str = "lidar_box3d"
    mount_R: npt.ArrayLike = field(default_factory=lambda: np.eye(3).tolist())
    mount_t: npt.ArrayLike = field(default_factory=lambda: [0.0, 0.0, 0.0])
    fov: FieldOfView = field(default_factory=FieldOfView)
    projection: npt.ArrayLike | None = None
    image_size: npt.ArrayLike | None = None
    R: npt.ArrayLike | None = None
    cost: str | None = None
    gate: float | None = None
    gate_chi2: float = 0.0
    two_stage: bool = False
    associator: str = "gnn"
    jpda_method: str = "auto"
    jpda_max_states: int = 1 << 16
    jpda_birth_threshold: float = -1.0
    jpda_miss_beta0: float = 1.0
    update_state: bool = True
    births: bool | None = None
    birth_score_threshold: float = -math.inf
    score_threshold: float = -math.inf
    pd: float = 0.9
    gate_probability: float = 0.99
    clutter_density: float = 1e-3
    nominal_likelihood_ratio: float = 10.0
    counts_for_confirmation: bool = True
    counts_for_coast: bool = True
    confusion: npt.ArrayLike | None = None
    image_tracks: bool = False

    def __setattr__(self, name: str, value: Any) -> None:
        # Arrays are stored as nested lists: configs compare, copy and serialise as values.
        super().__setattr__(name, _to_plain(value) if name in _ARRAY_FIELDS else value)

    # ---- presets for a car (vehicle frame: x forward, y left, z up, origin on the ground)

    @classmethod
    def lidar(cls, name: str = "lidar", **kw: Any) -> SensorConfig:
        """A roof lidar (1.8 m up, 360 degrees, 0.5-100 m) reporting 3D boxes, GIoU-3D association."""
        kw.setdefault("mount_t", [0.0, 0.0, 1.8])
        kw.setdefault("fov", FieldOfView(min_range_m=0.5, max_range_m=100.0))
        return cls(name=name, model="lidar_box3d", **kw)

    @classmethod
    def camera(cls, name: str = "camera", projection: npt.ArrayLike | None = None,
               image_size: npt.ArrayLike | None = (1280, 720), **kw: Any) -> SensorConfig:
        """A forward camera (1.5 m up) reporting image boxes: IoU association; it updates the
        state, starts no 3D tracks (no range) and keeps image tracks. Default projection: focal
        length 1000 px, principal point at the image centre; the field of view follows from it
        (80 m range)."""
        w, h = (1280.0, 720.0) if image_size is None else (float(np.asarray(image_size)[0]),
                                                          float(np.asarray(image_size)[1]))
        if projection is None:
            projection = [[1000.0, 0.0, w / 2, 0.0], [0.0, 1000.0, h / 2, 0.0], [0.0, 0.0, 1.0, 0.0]]
        P = np.asarray(projection, np.float64)
        if "fov" not in kw and P.shape == (3, 4) and w > 0 and h > 0 and P[0, 0] > 0 and P[1, 1] > 0:
            az = max(math.atan2(P[0, 2], P[0, 0]), math.atan2(w - P[0, 2], P[0, 0]))
            el = max(math.atan2(P[1, 2], P[1, 1]), math.atan2(h - P[1, 2], P[1, 1]))
            kw["fov"] = FieldOfView(azimuth_half_rad=min(az, math.pi), elevation_half_rad=min(el, 0.5 * math.pi),
                                    max_range_m=80.0)
        kw.setdefault("mount_t", [0.0, 0.0, 1.5])
        kw.setdefault("image_tracks", True)
        return cls(name=name, model="camera_box2d", projection=projection, image_size=image_size, **kw)

    @classmethod
    def radar(cls, name: str = "radar", **kw: Any) -> SensorConfig:
        """A front-bumper radar (3.7 m forward, 0.5 m up, +-60 degrees, 0.5-200 m) reporting
        range, azimuth and range rate: Mahalanobis association."""
        kw.setdefault("mount_t", [3.7, 0.0, 0.5])
        kw.setdefault("fov", FieldOfView(azimuth_half_rad=math.radians(60.0), min_range_m=0.5, max_range_m=200.0))
        return cls(name=name, model="radar", **kw)

    # ---- resolved defaults

    def model_info(self) -> registry.SensorModelInfo:
        """The registry entry of :attr:`model` (ConfigurationError listing the known keys)."""
        return registry.lookup(registry.SENSOR_MODELS, self.model, f"[sensors.{self.name}] model")

    def resolved_cost(self) -> str:
        return self.cost if self.cost is not None else self.model_info().default_cost

    def resolved_gate(self) -> float:
        if self.gate is not None:
            return float(self.gate)
        return registry.lookup(registry.COSTS, self.resolved_cost(), f"[sensors.{self.name}] cost").default_gate

    def resolved_births(self) -> bool:
        return self.births if self.births is not None else self.model_info().has_inverse

    def resolved_R(self) -> np.ndarray:
        if self.R is not None:
            return np.asarray(self.R, np.float64)
        return np.diag(self.model_info().default_R_diag)

    def validate(self, num_classes: int = 1, table: str | None = None) -> None:
        """Raise ConfigurationError naming the table (``[sensors.<name>]``) and the key."""
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise _fail(table or "sensors", "name",
                        f"expected a non-empty name of letters, digits, '_' and '-', got {self.name!r}")
        t = table or f"sensors.{self.name}"
        self._check_kinds(t)
        info = registry.lookup(registry.SENSOR_MODELS, self.model, f"[{t}] model")
        is_camera = self.model == "camera_box2d"
        R = _array(t, "mount_R", self.mount_R, (3, 3), "a rotation matrix")
        err = float(np.max(np.abs(R @ R.T - np.eye(3))))
        if err > 1e-6:
            raise _fail(t, "mount_R", f"is not a rotation: not orthonormal (max |R R^T - I| = {err:.3g} > 1e-6)")
        if np.linalg.det(R) < 0:
            raise _fail(t, "mount_R", "is not a rotation: it is a reflection (det = -1)")
        _array(t, "mount_t", self.mount_t, (3,), "a translation [m]")
        if not isinstance(self.fov, FieldOfView):
            raise _fail(t, "fov", f"expected a FieldOfView, got {type(self.fov).__name__}")
        self.fov.validate(f"{t}.fov")
        if is_camera:
            if self.projection is None:
                raise _fail(t, "projection", "a camera_box2d sensor needs its 3x4 projection matrix")
            P = _array(t, "projection", self.projection, (3, 4), "a projection matrix")
            if not np.linalg.det(P[:, :3]) > 0:
                raise _fail(t, "projection", "det(P[:, :3]) must be > 0 (points in front of the camera "
                            "must get a positive depth)")
            if self.image_size is not None:
                size = _array(t, "image_size", self.image_size, (2,), "[width, height] in pixels")
                if np.any(size < 0):
                    raise _fail(t, "image_size", f"expected pixels >= 0 (0: no clipping), got {size.tolist()}")
        else:
            for k in ("projection", "image_size", "image_tracks"):
                if getattr(self, k) not in (None, False):
                    raise _fail(t, k, f"applies to camera_box2d sensors only, not to model {self.model!r}")
        m = info.measurement_dim
        if self.R is not None:
            _spd(t, "R", _array(t, "R", self.R, (m, m), f"a {m}x{m} covariance ({self.model})"))
        cost = registry.lookup(registry.COSTS, self.resolved_cost(), f"[{t}] cost")
        if cost.key not in info.costs:
            raise _fail(t, "cost", f"{cost.key!r} does not apply to a {self.model} sensor; "
                        f"costs for {self.model}: {', '.join(info.costs)}")
        if self.gate is not None:
            g = _float(t, "gate", self.gate)
            if not cost.gate_ok(g):
                raise _fail(t, "gate", f"for cost {cost.key!r} the gate is a {cost.gate_kind.replace('_', ' ')} "
                            f"{'of' if cost.gate_values else 'in'} {cost.gate_rule()}, got {g!r}")
        if not 0.0 <= self.gate_chi2 < math.inf:
            raise _fail(t, "gate_chi2", f"expected a chi-square value >= 0 (0: unset), got {self.gate_chi2!r}")
        if self.gate_chi2 > 0.0 and cost.gate_kind != "probability":
            raise _fail(t, "gate_chi2", f"applies to the chi-square gated costs only, not {cost.key!r}")
        if self.two_stage and self.associator != "gnn":
            raise _fail(t, "two_stage", f"needs the 'gnn' associator, not {self.associator!r}")
        assoc = registry.lookup(registry.ASSOCIATORS, self.associator, f"[{t}] associator")
        if assoc.costs is not None and cost.key not in assoc.costs:
            raise _fail(t, "associator", f"{assoc.key!r} needs the cost {' or '.join(map(repr, assoc.costs))}, "
                        f"not {cost.key!r}")
        if self.jpda_method not in registry.JPDA_METHODS:
            raise _fail(t, "jpda_method",
                        f"unknown JPDA method {self.jpda_method!r}; known: {', '.join(registry.JPDA_METHODS)}")
        if self.jpda_max_states < 1:
            raise _fail(t, "jpda_max_states", f"expected an integer >= 1, got {self.jpda_max_states!r}")
        if not (self.jpda_birth_threshold < 0.0 or 0.0 <= self.jpda_birth_threshold <= 1.0):
            raise _fail(t, "jpda_birth_threshold", f"expected < 0 (off) or a probability in [0, 1], "
                        f"got {self.jpda_birth_threshold!r}")
        if not 0.0 < self.jpda_miss_beta0 <= 1.0:
            raise _fail(t, "jpda_miss_beta0", f"expected a probability in (0, 1], got {self.jpda_miss_beta0!r}")
        if self.births is not None:
            _bool(t, "births", self.births)
            if self.births and not info.has_inverse:
                raise _fail(t, "births", f"a {self.model} sensor cannot start 3D tracks (its measurement has no "
                            "inverse: no range); set births = false")
        for k in ("birth_score_threshold", "score_threshold"):
            if getattr(self, k) == math.inf:
                raise _fail(t, k, "must be < inf (inf would ignore every detection)")
        _in(t, "pd", self.pd, 0.0, 1.0, "a probability in [0, 1]")
        if not 0.0 < self.gate_probability <= 1.0:
            raise _fail(t, "gate_probability", f"expected a probability in (0, 1], got {self.gate_probability!r}")
        _positive(t, "clutter_density", self.clutter_density)
        _positive(t, "nominal_likelihood_ratio", self.nominal_likelihood_ratio)
        if self.confusion is not None:
            A = _array(t, "confusion", self.confusion, (num_classes, num_classes),
                       f"a confusion matrix (num_classes = {num_classes})")
            if np.any(A < 0) or np.any(A > 1):
                raise _fail(t, "confusion", "entries must be probabilities in [0, 1]")
            sums = A.sum(axis=1)
            bad = np.nonzero(np.abs(sums - 1.0) > 1e-6)[0]
            if len(bad):
                raise _fail(t, "confusion",
                            f"row {int(bad[0])} (true class) must sum to 1, got {float(sums[bad[0]])!r}")

    def to_spec(self) -> dict[str, Any]:
        """This sensor's entry of the engine spec (defaults resolved)."""
        is_camera = self.model == "camera_box2d"
        size = None if self.image_size is None else [float(x) for x in np.asarray(self.image_size).ravel()]
        return {
            "name": self.name,
            "model": self.model,
            "mount_R": np.asarray(self.mount_R, np.float64).tolist(),
            "mount_t": np.asarray(self.mount_t, np.float64).tolist(),
            "fov": self.fov.to_spec(),
            "projection": np.asarray(self.projection, np.float64).tolist() if is_camera else None,
            "image_size": (size if size is not None else [0.0, 0.0]) if is_camera else None,
            "R": self.resolved_R().tolist(),
            "cost": self.resolved_cost(),
            "gate": self.resolved_gate(),
            "gate_chi2": float(self.gate_chi2),
            "two_stage": bool(self.two_stage),
            "associator": self.associator,
            "jpda_method": self.jpda_method,
            "jpda_max_states": int(self.jpda_max_states),
            "jpda_birth_threshold": float(self.jpda_birth_threshold),
            "jpda_miss_beta0": float(self.jpda_miss_beta0),
            "update_state": self.update_state,
            "births": self.resolved_births(),
            "birth_score_threshold": float(self.birth_score_threshold),
            "score_threshold": float(self.score_threshold),
            "pd": float(self.pd),
            "gate_probability": float(self.gate_probability),
            "clutter_density": float(self.clutter_density),
            "nominal_likelihood_ratio": float(self.nominal_likelihood_ratio),
            "counts_for_confirmation": self.counts_for_confirmation,
            "counts_for_coast": self.counts_for_coast,
            "confusion": None if self.confusion is None else np.asarray(self.confusion, np.float64).tolist(),
            "image_tracks": bool(self.image_tracks),
        }

    def to_dict(self) -> dict[str, Any]:
        """The TOML-shaped table of this sensor (without its name; None fields omitted)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "name" or v is None:
                continue
            out[f.name] = dataclasses.asdict(v) if isinstance(v, FieldOfView) else _to_plain(v)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], name: str | None = None, num_classes: int = 1) -> SensorConfig:
        """Build from a table; ``name`` is the table key (``[sensors.<name>]``)."""
        d = dict(d)
        if name is not None:
            if "name" in d and d["name"] != name:
                raise _fail(f"sensors.{name}", "name", f"the table is [sensors.{name}] but name = {d['name']!r}")
            d["name"] = name
        t = f"sensors.{d.get('name', '?')}"
        fov_d = d.pop("fov", None)
        kw = cls._from_mapping(d, t)
        if "name" not in kw:
            raise _fail("sensors", "name", "every sensor needs a name")
        if "births" in kw and kw["births"] is not None:
            kw["births"] = _bool(t, "births", kw["births"])
        if "gate" in kw and kw["gate"] is not None:
            kw["gate"] = _float(t, "gate", kw["gate"])
        for k in ("cost",):
            if k in kw and kw[k] is not None:
                kw[k] = _str(t, k, kw[k])
        if fov_d is not None:
            kw["fov"] = FieldOfView.from_dict(_table(f"{t}.fov", fov_d), f"{t}.fov")
        out = cls(**kw)
        out.validate(num_classes, t)
        return out


@dataclass
class EngineConfig:
    """The multi-sensor engine: one motion model for every 3D track, any number of sensors
    (their index in :attr:`sensors` is the sensor index), track management and capacities.

    Attributes:
        sensors: the sensors, in sensor-index order (1 to 16).
        motion: motion model key (``cv_box``, ``ctrv_box``, ``ca_box``, ``ctra_box``, ``ct_box``,
            ``bicycle_box``; :data:`fusion.engine.registry.MOTION_MODELS`).
        motion_noise: the motion model's own process-noise parameters, values > 0, keys per
            model in ``MOTION_MODELS[key].noise`` (``accel_std`` m/s^2, ``jerk_std`` m/s^3,
            ``yaw_accel_std`` rad/s^2, ``steer_rate_std`` rad/s, ``wheelbase_m`` m); missing keys
            take the model's defaults.
        q_diag_per_s: if given, the process noise is ``Q = diag(q_diag_per_s) * |dt|`` (one
            variance rate per state component, units of the component squared per second),
            instead of the model's own Q (as the old box tracker did); ``motion_noise`` and
            ``extent_noise`` then do not apply.
        extent_noise: random-walk variance rates of the box components the model appends
            (``z_m2_per_s``, ``yaw_rad2_per_s``, ``length_m2_per_s``, ``width_m2_per_s``,
            ``height_m2_per_s``); missing keys take their defaults.
        p0_diag: initial state variances of a new 3D track (units of the state squared; the
            components a detection does not give, e.g. velocity, start at 0 with this
            variance); None: the model's default.
        imm_transition: an IMM motion only (``MOTION_MODELS[key].modes`` not empty): the Markov
            matrix R x R, ``P(mode j at the next prediction step | mode i)``, rows summing to 1
            (per prediction step, not per second); None: the motion's default
            (``[[0.95, 0.05], [0.05, 0.95]]``).
        imm_mu0: an IMM motion only: the mode probabilities of a new track (R values >= 0
            summing to 1); None: uniform.
        num_classes: number of object classes C (class ids 0 .. C-1), 1 to 32.
        max_tracks: capacity of 3D tracks (memory reserved up front; births beyond it are
            counted in ``stats()["insert_failures"]``).
        max_detections: most detections in one sensor frame.
        max_image_tracks: capacity of image tracks.
        min_size: lower bound on a box's l, w, h after a lidar update, metres.
        late_policy: ``"drop"`` (a frame older than the engine's time is dropped and counted)
            or ``"raise"`` (TimestampError).
        bad_detection: ``"raise"`` (a typed error; nothing changes) or ``"skip"`` (the
            invalid detection is skipped and counted in ``stats()["skipped_detections"]``).
        oosm_horizon_s: out-of-sequence horizon [s], finite and >= 0: a frame older than the
            engine's latest time by at most this much is fused by re-processing the recent
            frames (``stats()["reprocessed_frames"]``); older ones follow ``late_policy``.
            0 disables the re-processing (every late frame follows ``late_policy``).
        oosm_max_frames: the most frames the re-processing history keeps (>= 1); each kept
            frame holds a copy of the engine's state. A late frame older than the history
            reaches follows ``late_policy``.
        ego_max_gap_s: ego-motion samples further apart than this count in
            ``stats()["ego_gaps"]`` (the interval is still integrated with the earlier
            sample's speed and yaw rate), finite and > 0.
        ego_max_extrapolation_s: how far beyond its samples the odometry pose is given
            (extrapolated with the nearest sample's motion), finite and >= 0; a frame
            further out raises TimestampError.
        lifecycle: 3D-track confirmation and deletion (:class:`LifecycleConfig`).
        image_track: image tracks (:class:`ImageTrackConfig`).
    """

    sensors: list[SensorConfig] = field(default_factory=list)
    motion: str = "cv_box"
    motion_noise: dict[str, float] = field(default_factory=dict)
    q_diag_per_s: npt.ArrayLike | None = None
    extent_noise: dict[str, float] = field(default_factory=dict)
    p0_diag: npt.ArrayLike | None = None
    imm_transition: npt.ArrayLike | None = None
    imm_mu0: npt.ArrayLike | None = None
    num_classes: int = 1
    max_tracks: int = 256
    max_detections: int = 256
    max_image_tracks: int = 64
    min_size: float = 0.05
    late_policy: str = "drop"
    bad_detection: str = "raise"
    oosm_horizon_s: float = 0.3
    oosm_max_frames: int = 32
    ego_max_gap_s: float = 0.5
    ego_max_extrapolation_s: float = 0.5
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    image_track: ImageTrackConfig = field(default_factory=ImageTrackConfig)

    _SCALARS = {"motion": "str", "num_classes": "int", "max_tracks": "int", "max_detections": "int",
                "max_image_tracks": "int", "min_size": "float", "late_policy": "str", "bad_detection": "str",
                "oosm_horizon_s": "float", "oosm_max_frames": "int", "ego_max_gap_s": "float",
                "ego_max_extrapolation_s": "float"}

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _ARRAY_FIELDS:
            value = _to_plain(value)
        elif name == "sensors" and not isinstance(value, list):
            value = list(value)
        super().__setattr__(name, value)

    @classmethod
    def car(cls, num_classes: int = 1, **kw: Any) -> EngineConfig:
        """A car with a roof lidar, a forward camera and a front radar (the
        :class:`SensorConfig` presets), constant-velocity boxes."""
        return cls(sensors=[SensorConfig.lidar(), SensorConfig.camera(), SensorConfig.radar()],
                   num_classes=num_classes, **kw)

    # ---- lookups

    def motion_info(self) -> registry.MotionModelInfo:
        return registry.lookup(registry.MOTION_MODELS, self.motion, "motion")

    def sensor_index(self, sensor: str | int) -> int:
        """Index of a sensor given by name or index (ConfigurationError listing the sensors)."""
        names = [s.name for s in self.sensors]
        if isinstance(sensor, str):
            if sensor in names:
                return names.index(sensor)
            raise ConfigurationError(f"sensor: unknown sensor {sensor!r}; sensors: {', '.join(names)}")
        if isinstance(sensor, (bool, np.bool_)) or not isinstance(sensor, (int, np.integer)):
            raise ConfigurationError(f"sensor: expected a sensor name or index, got {sensor!r}")
        if not 0 <= int(sensor) < len(names):
            raise ConfigurationError(f"sensor: unknown sensor index {int(sensor)}; sensors: "
                                     + ", ".join(f"{i} {n}" for i, n in enumerate(names)))
        return int(sensor)

    def resolved_p0_diag(self) -> list[float]:
        if self.p0_diag is not None:
            return [float(x) for x in np.asarray(self.p0_diag, np.float64).ravel()]
        return _default_p0(self.motion_info())

    # ---- validation

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` naming the table and the key (e.g.
        ``[sensors.camera] gate: ...``); an unknown registry key lists the known ones."""
        for k, kind in self._SCALARS.items():
            _typed("", k, getattr(self, k), kind)
        info = registry.lookup(registry.MOTION_MODELS, self.motion, "motion")
        n = info.state_dim
        if not 1 <= self.num_classes <= MAX_CLASSES:
            raise _fail("", "num_classes", f"expected an integer in [1, {MAX_CLASSES}], got {self.num_classes}")
        for k in ("max_tracks", "max_detections", "max_image_tracks"):
            v = getattr(self, k)
            lo = 0 if k == "max_image_tracks" else 1
            if not lo <= v <= 1_000_000:
                raise _fail("", k, f"expected an integer in [{lo}, 1000000], got {v}")
        _positive("", "min_size", self.min_size)
        if self.late_policy not in LATE_POLICIES:
            raise _fail("", "late_policy", f"expected one of {', '.join(LATE_POLICIES)}, got {self.late_policy!r}")
        if not (math.isfinite(self.oosm_horizon_s) and self.oosm_horizon_s >= 0.0):
            raise _fail("", "oosm_horizon_s", f"expected a finite value >= 0, got {self.oosm_horizon_s!r}")
        if not 1 <= self.oosm_max_frames <= 100_000:
            raise _fail("", "oosm_max_frames", f"expected an integer in [1, 100000], got {self.oosm_max_frames}")
        if not (math.isfinite(self.ego_max_gap_s) and self.ego_max_gap_s > 0.0):
            raise _fail("", "ego_max_gap_s", f"expected a finite value > 0, got {self.ego_max_gap_s!r}")
        if not (math.isfinite(self.ego_max_extrapolation_s) and self.ego_max_extrapolation_s >= 0.0):
            raise _fail("", "ego_max_extrapolation_s",
                        f"expected a finite value >= 0, got {self.ego_max_extrapolation_s!r}")
        if self.bad_detection not in BAD_DETECTION_POLICIES:
            raise _fail("", "bad_detection",
                        f"expected one of {', '.join(BAD_DETECTION_POLICIES)}, got {self.bad_detection!r}")
        for table, given, known in (("motion_noise", self.motion_noise, info.noise),
                                    ("extent_noise", self.extent_noise, registry.EXTENT_NOISE)):
            if not isinstance(given, Mapping):
                raise _fail("", table, f"expected a table of numbers, got {given!r}")
            unknown = [k for k in given if k not in known]
            if unknown:
                raise ConfigurationError(
                    f"[{table}]: unknown key(s) {', '.join(map(repr, unknown))}"
                    + (f" for motion {self.motion!r}" if table == "motion_noise" else "")
                    + f"; known keys: {', '.join(known) or '(none)'}")
            for k, v in given.items():
                lo_ok = _float(table, k, v) > 0.0 if table == "motion_noise" else _float(table, k, v) >= 0.0
                if not (lo_ok and v < math.inf):
                    raise _fail(table, k, f"expected a finite value {'>' if table == 'motion_noise' else '>='} 0, "
                                f"got {v!r}")
        if self.q_diag_per_s is not None:
            q = _array("", "q_diag_per_s", self.q_diag_per_s, (n,), f"one variance rate per state component "
                       f"({self.motion}: {', '.join(info.state)})")
            if np.any(q < 0):
                raise _fail("", "q_diag_per_s", f"variance rates must be >= 0, got {q.tolist()}")
        if self.p0_diag is not None:
            p0 = _array("", "p0_diag", self.p0_diag, (n,), f"one variance per state component "
                        f"({self.motion}: {', '.join(info.state)})")
            if np.any(p0 <= 0):
                raise _fail("", "p0_diag", f"variances must be > 0, got {p0.tolist()}")
        self._validate_imm(info)
        if not isinstance(self.lifecycle, LifecycleConfig):
            raise _fail("", "lifecycle", f"expected a LifecycleConfig, got {type(self.lifecycle).__name__}")
        self.lifecycle.validate()
        if not isinstance(self.image_track, ImageTrackConfig):
            raise _fail("", "image_track", f"expected an ImageTrackConfig, got {type(self.image_track).__name__}")
        self.image_track.validate()
        if not 1 <= len(self.sensors) <= MAX_SENSORS:
            raise _fail("", "sensors", f"expected 1 to {MAX_SENSORS} sensors, got {len(self.sensors)}")
        seen: dict[str, str] = {}
        for i, s in enumerate(self.sensors):
            if not isinstance(s, SensorConfig):
                raise _fail("", f"sensors[{i}]", f"expected a SensorConfig, got {type(s).__name__}")
            s.validate(self.num_classes)
            folded = s.name.casefold().replace("-", "_")
            if folded in seen:
                raise _fail("sensors", s.name, f"duplicates sensor {seen[folded]!r} (names must differ other than "
                            "in case and '-' vs '_')")
            seen[folded] = s.name
        if any(s.image_tracks for s in self.sensors) and self.max_image_tracks < 1:
            raise _fail("", "max_image_tracks", "a sensor has image_tracks = true: need at least 1")

    def _validate_imm(self, info: registry.MotionModelInfo) -> None:
        r = len(info.modes)
        for k in ("imm_transition", "imm_mu0"):
            if getattr(self, k) is not None and r == 0:
                raise _fail("", k, f"only for an IMM motion (one with modes: "
                            f"{', '.join(m for m, i in registry.MOTION_MODELS.items() if i.modes)}), "
                            f"not {self.motion!r}")
        if self.imm_transition is not None:
            m = _array("", "imm_transition", self.imm_transition, (r, r),
                       f"the Markov matrix of the modes ({', '.join(info.modes)})")
            if np.any(m < 0) or np.any(np.abs(m.sum(axis=1) - 1.0) > 1e-9):
                raise _fail("", "imm_transition", f"entries must be >= 0 and every row must sum to 1, got {m.tolist()}")
        if self.imm_mu0 is not None:
            mu = _array("", "imm_mu0", self.imm_mu0, (r,), f"one probability per mode ({', '.join(info.modes)})")
            if np.any(mu < 0) or abs(float(mu.sum()) - 1.0) > 1e-9:
                raise _fail("", "imm_mu0", f"entries must be >= 0 and sum to 1, got {mu.tolist()}")

    # ---- the binding's spec

    def to_spec(self) -> dict[str, Any]:
        """The dict ``fusion._core.FusionEngine`` takes (engine_spec.md §2), every default
        resolved. Validates first."""
        self.validate()
        info = self.motion_info()
        return {
            "motion": self.motion,
            "q_diag_per_s": None if self.q_diag_per_s is None else
            [float(x) for x in np.asarray(self.q_diag_per_s, np.float64)],
            "motion_noise": {**info.noise, **{k: float(v) for k, v in self.motion_noise.items()}},
            "extent_noise": {**registry.EXTENT_NOISE, **{k: float(v) for k, v in self.extent_noise.items()}},
            "p0_diag": self.resolved_p0_diag(),
            **{k: np.asarray(getattr(self, k), np.float64).tolist() for k in ("imm_transition", "imm_mu0")
               if getattr(self, k) is not None},
            "num_classes": self.num_classes,
            "max_tracks": self.max_tracks,
            "max_detections": self.max_detections,
            "max_image_tracks": self.max_image_tracks,
            "min_size": float(self.min_size),
            "late_policy": self.late_policy,
            "bad_detection": self.bad_detection,
            "oosm_horizon_s": float(self.oosm_horizon_s),
            "oosm_max_frames": self.oosm_max_frames,
            "ego_max_gap_s": float(self.ego_max_gap_s),
            "ego_max_extrapolation_s": float(self.ego_max_extrapolation_s),
            "lifecycle": self.lifecycle.to_spec(),
            "image_track": self.image_track.to_spec(),
            "sensors": [s.to_spec() for s in self.sensors],
        }

    # ---- dict / TOML

    def to_dict(self) -> dict[str, Any]:
        """The TOML-shaped mapping (``from_dict(to_dict())`` gives an equal config)."""
        out: dict[str, Any] = {k: getattr(self, k) for k in self._SCALARS}
        for k in ("q_diag_per_s", "p0_diag", "imm_transition", "imm_mu0"):
            if getattr(self, k) is not None:
                out[k] = _to_plain(getattr(self, k))
        out["motion_noise"] = dict(self.motion_noise)
        out["extent_noise"] = dict(self.extent_noise)
        out["lifecycle"] = dataclasses.asdict(self.lifecycle)
        out["image_track"] = dataclasses.asdict(self.image_track)
        out["sensors"] = {s.name: s.to_dict() for s in self.sensors}
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EngineConfig:
        """Build from a mapping shaped like the TOML file (module docstring). Errors name the
        table and the key; unknown keys are listed with the known ones."""
        known = [*cls._SCALARS, "q_diag_per_s", "p0_diag", "imm_transition", "imm_mu0", "motion_noise",
                 "extent_noise", "lifecycle", "image_track", "sensors"]
        _unknown("", d, known)
        kw: dict[str, Any] = {k: _typed("", k, d[k], kind) for k, kind in cls._SCALARS.items() if k in d}
        for k in ("q_diag_per_s", "p0_diag", "imm_transition", "imm_mu0"):
            if k in d and d[k] is not None:
                kw[k] = _to_plain(d[k])
        for k in ("motion_noise", "extent_noise"):
            if k in d:
                kw[k] = {kk: _float(k, kk, vv) for kk, vv in _table(k, d[k]).items()}
        if "lifecycle" in d:
            kw["lifecycle"] = LifecycleConfig.from_dict(_table("lifecycle", d["lifecycle"]))
        if "image_track" in d:
            kw["image_track"] = ImageTrackConfig.from_dict(_table("image_track", d["image_track"]))
        num_classes = kw.get("num_classes", 1)
        sensors: list[SensorConfig] = []
        if "sensors" in d:
            tables = d["sensors"]
            if isinstance(tables, Sequence) and not isinstance(tables, str):  # [[sensors]] array of tables
                for i, sd in enumerate(tables):
                    sensors.append(SensorConfig.from_dict(_table(f"sensors[{i}]", sd), num_classes=num_classes))
            else:
                seen: dict[str, str] = {}
                for name, sd in _table("sensors", tables).items():
                    folded = str(name).casefold().replace("-", "_")
                    if folded in seen:
                        raise ConfigurationError(f"[sensors.{name}]: duplicates table [sensors.{seen[folded]}] "
                                                 "(sensor names must differ other than in case and '-' vs '_')")
                    seen[folded] = str(name)
                    sensors.append(SensorConfig.from_dict(_table(f"sensors.{name}", sd), name=str(name),
                                                          num_classes=num_classes))
        out = cls(sensors=sensors, **kw)
        out.validate()
        return out

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Self:
        """Read a TOML file (module docstring). Errors start with the file name."""
        data = read_toml(path)
        try:
            out = cls.from_dict(data)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{os.fspath(path)}: {exc}") from None
        assert isinstance(out, cls)
        return out

    def to_toml(self) -> str:
        """This configuration as TOML text (``from_toml`` of it gives an equal config)."""
        d = self.to_dict()
        lines: list[str] = []
        _emit_table(lines, "", {k: v for k, v in d.items() if k != "sensors"})
        for name, sd in d["sensors"].items():
            _emit_table(lines, f"sensors.{name}", sd)
        return "\n".join(lines) + "\n"


def _default_p0(info: registry.MotionModelInfo) -> list[float]:
    """Initial variances: 1 m^2 position and extent, 1 rad^2 heading, (10 m/s)^2 speed, 1 (rad/s)^2 turn rate."""
    by_name = {"vx": 100.0, "vy": 100.0, "vz": 1.0, "v": 100.0, "yaw_rate": 1.0}
    return [by_name.get(c, 1.0) for c in info.state]


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def _emit_table(lines: list[str], name: str, d: Mapping[str, Any]) -> None:
    scalars = {k: v for k, v in d.items() if not isinstance(v, Mapping)}
    if name and (scalars or not d):
        lines.append(f"\n[{name}]")
    for k, v in scalars.items():
        lines.append(f"{k} = {_toml_value(v)}")
    for k, v in d.items():
        if isinstance(v, Mapping):
            _emit_table(lines, f"{name}.{k}" if name else k, v)
