"""The measurement-batch contract: :class:`MeasurementBatch`, detections of any sensors at any
times as a dataclass of arrays, and the per-frame checks behind ``FusionEngine.process``.

Per detection: the sensor (index), an int64 nanosecond timestamp, the measurement z in the
sensor model's units (:mod:`fusion.engine.registry`: a lidar box ``x, y, z, yaw, l, w, h``
[m, rad] in the sensor frame, a camera box ``x1, y1, x2, y2`` [px], a radar return ``range,
azimuth, range_rate`` [m, rad, m/s]), optionally its covariance, detection score, class id and
class scores.

Checks, and the error each raises (messages name the sensor, the detection index and the
field):

- ShapeError: an array of the wrong dtype, number of dimensions or width (z narrower than
  the sensor's M, R not (n, M, M), class_scores not (n, C)); more detections in one frame
  than ``max_detections``; a class id outside [-1, C) (the C++ engine's choice: the id does
  not fit the class-probability vector);
- TimestampError: timestamps that are not integers (floats, bools) or outside int64;
- ConfigurationError: an unknown sensor (name or index);
- NumericalError: NaN or infinite values in z, R, score or class_scores; R not symmetric
  positive definite (an all-NaN R block means the sensor's default); a camera box with
  x2 < x1 or y2 < y1; a lidar box with a negative size; negative class scores.

The engine repeats the value checks in C++; with ``bad_detection = "skip"`` it skips such a
detection and counts it instead, so the Python side then raises only for array-level mistakes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fusion.errors import ConfigurationError, NumericalError, ShapeError, TimestampError


def real_values(v: npt.ArrayLike, what: str) -> npt.NDArray[np.float64]:
    """``v`` as float64; ShapeError naming ``what`` for strings, complex numbers, bools or
    ragged lists (numpy's bare ValueError / TypeError / ComplexWarning otherwise)."""
    try:
        a = np.asarray(v)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"{what}: expected real numbers: {exc}") from None
    if a.size and a.dtype.kind not in "iuf":
        raise ShapeError(f"{what}: expected real numbers, got dtype {a.dtype}")
    return a.astype(np.float64, copy=False)


if TYPE_CHECKING:
    from fusion.engine.config import EngineConfig

__all__ = ["MeasurementBatch", "Frame", "check_timestamp", "real_values"]

_I64 = np.iinfo(np.int64)


def check_timestamp(t: object, name: str = "t_ns") -> int:
    """``t`` as a Python int of int64 nanoseconds, or TimestampError naming ``name``.

    Floats are rejected even when integral (``1e9`` is a float: a time in seconds by mistake
    is the usual cause); so are bools, values outside int64 and int64 min (the records'
    "never" value)."""
    if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer)):
        hint = " (a float: pass int(t_s * 1e9) for seconds)" if isinstance(t, (float, np.floating)) else ""
        shown = repr(t.item()) if isinstance(t, np.generic) else repr(t)
        raise TimestampError(f"{name}: expected an integer number of nanoseconds (int64), got "
                             f"{type(t).__name__} {shown}{hint}")
    v = int(t)
    if not _I64.min < v <= _I64.max:
        raise TimestampError(f"{name}: {v} is outside int64 ({_I64.min}, {_I64.max}] (int64 min is reserved: "
                             "it marks 'never' in the track records)")
    return v


def _numeric(name: str, a: object, kinds: str = "iuf") -> np.ndarray:
    try:
        arr = np.asarray(a)
    except ValueError as e:  # ragged nested lists
        raise ShapeError(f"{name}: not a rectangular array of numbers ({e})") from None
    if arr.dtype.kind not in kinds:
        want = {"iuf": "numbers", "iu": "integers"}.get(kinds, kinds)
        raise ShapeError(f"{name}: expected {want}, got an array of dtype {arr.dtype}")
    return arr


@dataclass
class Frame:
    """One sensor frame, as ``FusionEngine.process`` passes it to the core: n detections of
    sensor ``sensor`` at ``t_ns``, arrays contiguous in the core's dtypes and widths.
    ``rows`` are the detections' indices in the batch they came from (``arange(n)`` for a
    frame given to ``process`` directly)."""

    sensor: int
    t_ns: int
    z: np.ndarray                      # f64[n, M]
    R: np.ndarray | None               # f64[n, M, M]
    score: np.ndarray | None           # f64[n]
    class_id: np.ndarray | None        # i32[n]
    class_scores: np.ndarray | None    # f64[n, C]
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return int(self.z.shape[0])


def prepare_frame(config: EngineConfig, sensor: int, t_ns: int, z: npt.ArrayLike, R: npt.ArrayLike | None = None,
                  score: npt.ArrayLike | None = None, class_id: npt.ArrayLike | None = None,
                  class_scores: npt.ArrayLike | None = None, *, check_values: bool = True,
                  rows: np.ndarray | None = None, where: str = "process") -> Frame:
    """Checks one frame against ``config`` and converts it to the core's dtypes.

    Array-level mistakes always raise; value mistakes (NaN, covariance, box order, class
    range) only with ``check_values``. ``rows`` maps detection indices to the caller's (for
    messages); ``where`` starts every message."""
    s = config.sensors[sensor]
    info = s.model_info()
    m, comps = info.measurement_dim, info.components
    C = config.num_classes
    pre = f"{where}: sensor {s.name!r} ({sensor})"
    z_a = _numeric(f"{pre}: z", z)
    if z_a.ndim == 1 and z_a.size == 0:
        z_a = z_a.reshape(0, m)
    if z_a.ndim != 2 or z_a.shape[1] != m:
        raise ShapeError(f"{pre}: z: expected shape (n, {m}) ({s.model}: {', '.join(comps)}), got {z_a.shape}")
    n = z_a.shape[0]
    idx = np.arange(n) if rows is None else rows  # detection indices for messages
    if n > config.max_detections:
        raise ShapeError(f"{pre}: {n} detections in one frame, more than max_detections = {config.max_detections}")
    zf = np.ascontiguousarray(z_a, np.float64)
    Rf = sf = cf = csf = None
    if R is not None:
        R_a = _numeric(f"{pre}: R", R)
        if R_a.shape != (n, m, m):
            raise ShapeError(f"{pre}: R: expected shape ({n}, {m}, {m}) (one {m}x{m} covariance per detection), "
                             f"got {R_a.shape}")
        Rf = np.ascontiguousarray(R_a, np.float64)
    if score is not None:
        s_a = _numeric(f"{pre}: score", score)
        if s_a.shape != (n,):
            raise ShapeError(f"{pre}: score: expected shape ({n},), got {s_a.shape}")
        sf = np.ascontiguousarray(s_a, np.float64)
    if class_id is not None:
        c_a = _numeric(f"{pre}: class_id", class_id, "iu")
        if c_a.shape != (n,):
            raise ShapeError(f"{pre}: class_id: expected shape ({n},), got {c_a.shape}")
        in_range = not n or (int(c_a.min()) >= -1 and int(c_a.max()) < C)
        if check_values and not in_range:
            i = _first((c_a < -1) | (c_a >= C))
            raise ShapeError(f"{pre} detection {int(idx[i])}: class_id = {int(c_a[i])} is out of range "
                             f"[0, {C}) (num_classes = {C}; -1: no class)")
        # Out-of-range ids stay out of range (for the core to skip in lenient mode) but fit int32.
        cf = np.ascontiguousarray(c_a if in_range else np.where(c_a >= C, C, np.where(c_a < -1, -2, c_a)),
                                  np.int32)
    if class_scores is not None:
        cs_a = _numeric(f"{pre}: class_scores", class_scores)
        if cs_a.shape != (n, C):
            raise ShapeError(f"{pre}: class_scores: expected shape ({n}, {C}) (num_classes = {C}), got {cs_a.shape}")
        csf = np.ascontiguousarray(cs_a, np.float64)
    if check_values and n:
        _check_values(pre, s.model, comps, idx, zf, Rf, sf, csf)
    return Frame(sensor, t_ns, zf, Rf, sf, cf, csf, idx)


def _first(mask: np.ndarray) -> int:
    return int(np.nonzero(mask)[0][0])


def _check_values(pre: str, model: str, comps: Sequence[str], idx: np.ndarray, z: np.ndarray,
                  R: np.ndarray | None, score: np.ndarray | None, cs: np.ndarray | None) -> None:
    if not np.isfinite(z).all():
        i, j = (int(v) for v in np.argwhere(~np.isfinite(z))[0])
        raise NumericalError(f"{pre} detection {int(idx[i])}: z: {comps[j]} is {z[i, j]} (every component must be "
                             f"finite; z = {z[i].tolist()})")
    if model == "camera_box2d" and ((z[:, 2] < z[:, 0]).any() or (z[:, 3] < z[:, 1]).any()):
        inv = (z[:, 2] < z[:, 0]) | (z[:, 3] < z[:, 1])
        if inv.any():
            i = _first(inv)
            raise NumericalError(f"{pre} detection {int(idx[i])}: z: image box with x2 < x1 or y2 < y1 "
                                 f"(x1, y1, x2, y2 = {z[i].tolist()}); expected x1 <= x2 and y1 <= y2")
    if model == "lidar_box3d" and z[:, 4:7].min() < 0:
        small = np.any(z[:, 4:7] < 0, axis=1)
        if small.any():
            i = _first(small)
            raise NumericalError(f"{pre} detection {int(idx[i])}: z: box sizes l, w, h must be >= 0, got "
                                 f"{z[i, 4:7].tolist()}")
    if R is not None:
        default = np.all(np.isnan(R), axis=(1, 2))  # all-NaN: the sensor's default R
        if default.any():
            keep = np.nonzero(~default)[0]
            R, idx_r = R[keep], idx[keep]
        else:
            idx_r = idx
        fin = ~np.all(np.isfinite(R), axis=(1, 2))
        if fin.any():
            i = _first(fin)
            raise NumericalError(f"{pre} detection {int(idx_r[i])}: R: every entry must be finite, got {R[i].tolist()}")
        asym, npd = _spd_check(R)
        if asym.any():
            i = _first(asym)
            raise NumericalError(f"{pre} detection {int(idx_r[i])}: R is not symmetric: {R[i].tolist()}")
        if npd.any():
            i = _first(npd)
            lo = float(np.linalg.eigvalsh(R[i])[0])
            raise NumericalError(f"{pre} detection {int(idx_r[i])}: R is not positive definite (Cholesky fails; "
                                 f"smallest eigenvalue {lo:.3g}): {R[i].tolist()}")
    if score is not None and not np.isfinite(score).all():
        fin = ~np.isfinite(score)
        if fin.any():
            i = _first(fin)
            raise NumericalError(f"{pre} detection {int(idx[i])}: score is {score[i]} (must be finite)")
    if cs is not None:
        badc = ~np.all(np.isfinite(cs) & (cs >= 0), axis=1)
        if badc.any():
            i = _first(badc)
            raise NumericalError(f"{pre} detection {int(idx[i])}: class_scores must be finite and >= 0, "
                                 f"got {cs[i].tolist()}")


def _spd_check(R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(not symmetric, not positive definite) per finite (n, m, m) block: the C++ engine's own
    test (engine_impl.hpp ``small_spd``) operation for operation, so that a frame passing here
    never fails in the core (``step`` would otherwise have fused the frames before it):
    symmetric within 1e-9 of the largest |entry|, and an unpivoted Cholesky whose pivots are all
    > 0 (an eigenvalue test disagrees with it near singularity)."""
    n, m = R.shape[0], R.shape[1]
    scale = np.abs(R).max(axis=(1, 2)) if n else np.zeros(0)
    asym = np.abs(R - np.swapaxes(R, 1, 2)).max(axis=(1, 2)) > 1e-9 * scale if n else np.zeros(0, bool)
    npd = ~(scale > 0.0)
    L = np.zeros((n, m, m))
    for k in range(m):
        p = R[:, k, k].copy()
        for j in range(k):
            p -= L[:, k, j] * L[:, k, j]
        npd |= ~(p > 0.0)
        d = np.sqrt(np.where(p > 0.0, p, 1.0))
        L[:, k, k] = d
        for i in range(k + 1, m):
            v = R[:, i, k].copy()
            for j in range(k):
                v -= L[:, i, j] * L[:, k, j]
            L[:, i, k] = v / d
    return asym, npd & ~asym


@dataclass
class MeasurementBatch:
    """Detections of several sensors and times, one row per detection.

    Attributes:
        sensor: i32[n], sensor index (the position of its SensorConfig in ``EngineConfig.sensors``).
        t_ns: i64[n], the detection's frame time, integer nanoseconds. Detections with the same
            (t_ns, sensor) form one sensor frame.
        z: f64[n, M_max], the measurement in the sensor model's units; columns beyond the
            sensor's M are ignored (fill them with anything, e.g. NaN).
        R: f64[n, M_max, M_max] or None, per-detection covariance (the top-left MxM block is
            used); a row (detection) whose entries are all NaN takes the sensor's default R.
            None: every detection takes its sensor's default.
        score: f64[n] or None, detection score (any monotone confidence; None: 1).
        class_id: i32[n] or None, reported class in [0, C), -1 for none.
        class_scores: f64[n, C] or None, class scores (>= 0, normalised by the engine).

    Arrays are converted to these dtypes on construction (a float ``t_ns`` is a TimestampError).
    """

    sensor: np.ndarray
    t_ns: np.ndarray
    z: np.ndarray
    R: np.ndarray | None = None
    score: np.ndarray | None = None
    class_id: np.ndarray | None = None
    class_scores: np.ndarray | None = None

    def __post_init__(self) -> None:
        t = np.asarray(self.t_ns)
        if t.dtype.kind == "b" or t.dtype.kind not in "iu":
            raise TimestampError(f"MeasurementBatch.t_ns: expected int64 nanoseconds, got an array of dtype {t.dtype}"
                                 + (" (floats: pass (t_s * 1e9).astype(np.int64) for seconds)"
                                    if t.dtype.kind == "f" else ""))
        if t.dtype.kind == "u" and t.size and int(t.max()) > _I64.max:
            raise TimestampError(f"MeasurementBatch.t_ns: {int(t.max())} is outside int64")
        if t.dtype.kind == "i" and t.size and int(t.min()) <= _I64.min:
            raise TimestampError(f"MeasurementBatch.t_ns: {int(t.min())} is int64 min, reserved: it marks 'never' "
                                 "in the track records")
        self.t_ns = np.ascontiguousarray(t, np.int64).reshape(-1)
        n = len(self.t_ns)
        sen = _numeric("MeasurementBatch.sensor", self.sensor, "iu")
        if sen.shape != (n,):
            raise ShapeError(f"MeasurementBatch.sensor: expected shape ({n},) like t_ns, got {sen.shape}")
        if n and (int(sen.min()) < 0 or int(sen.max()) > np.iinfo(np.int32).max):
            i = _first((sen < 0) | (sen > np.iinfo(np.int32).max))
            raise ConfigurationError(f"MeasurementBatch.sensor: detection {i}: sensor index {int(sen[i])} is negative "
                                     "or too large")
        self.sensor = np.ascontiguousarray(sen, np.int32)
        z = _numeric("MeasurementBatch.z", self.z)
        if z.ndim != 2 or z.shape[0] != n:
            raise ShapeError(f"MeasurementBatch.z: expected shape ({n}, M_max), got {z.shape}")
        self.z = np.ascontiguousarray(z, np.float64)
        mmax = z.shape[1]
        if self.R is not None:
            R = _numeric("MeasurementBatch.R", self.R)
            if R.shape != (n, mmax, mmax):
                raise ShapeError(f"MeasurementBatch.R: expected shape ({n}, {mmax}, {mmax}), got {R.shape}")
            self.R = np.ascontiguousarray(R, np.float64)
        if self.score is not None:
            sc = _numeric("MeasurementBatch.score", self.score)
            if sc.shape != (n,):
                raise ShapeError(f"MeasurementBatch.score: expected shape ({n},), got {sc.shape}")
            self.score = np.ascontiguousarray(sc, np.float64)
        if self.class_id is not None:
            c = _numeric("MeasurementBatch.class_id", self.class_id, "iu")
            if c.shape != (n,):
                raise ShapeError(f"MeasurementBatch.class_id: expected shape ({n},), got {c.shape}")
            if n and (int(c.min()) < np.iinfo(np.int32).min or int(c.max()) > np.iinfo(np.int32).max):
                i = _first((c < np.iinfo(np.int32).min) | (c > np.iinfo(np.int32).max))
                raise ShapeError(f"MeasurementBatch.class_id: detection {i}: class id {int(c[i])} outside int32")
            self.class_id = np.ascontiguousarray(c, np.int32)
        if self.class_scores is not None:
            cs = _numeric("MeasurementBatch.class_scores", self.class_scores)
            if cs.ndim != 2 or cs.shape[0] != n:
                raise ShapeError(f"MeasurementBatch.class_scores: expected shape ({n}, C), got {cs.shape}")
            self.class_scores = np.ascontiguousarray(cs, np.float64)

    def __len__(self) -> int:
        return len(self.t_ns)

    @classmethod
    def from_frames(cls, frames: Sequence[dict[str, Any]]) -> MeasurementBatch:
        """One batch from frames given as dicts with keys ``sensor`` (index), ``t_ns``, ``z``
        (n, M) and optionally ``R``, ``score``, ``class_id``, ``class_scores``. z and R are
        padded with NaN to the widest sensor; optional arrays missing from some frames are
        filled with defaults (R: NaN = sensor default, score 1, class_id -1, class_scores uniform).

        A batch has one row per detection, so a frame without detections adds no row (and
        gives no misses): pass such a frame to ``FusionEngine.process`` instead. Each frame is
        checked here (keys, sensor index, t_ns, array shapes), with errors naming the frame."""
        known = ("sensor", "t_ns", "z", "R", "score", "class_id", "class_scores")
        zs: list[np.ndarray] = []
        for i, f in enumerate(frames):
            pre = f"MeasurementBatch.from_frames: frame {i}"
            if not isinstance(f, dict):
                raise ShapeError(f"{pre}: expected a dict, got {type(f).__name__}")
            unknown = sorted(set(f) - set(known), key=str)
            if unknown or "z" not in f or "sensor" not in f or "t_ns" not in f:
                raise ShapeError(f"{pre}: " + (f"unknown key(s) {', '.join(map(repr, unknown))}" if unknown else
                                               "needs the keys 'sensor', 't_ns' and 'z'")
                                 + f"; known keys: {', '.join(known)}")
            k = f["sensor"]
            if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or int(k) < 0:
                raise ConfigurationError(f"{pre}: sensor: expected a sensor index (int >= 0), got {k!r}")
            check_timestamp(f["t_ns"], f"{pre}: t_ns")
            z = _numeric(f"{pre}: z", f["z"])
            if z.size == 0 and z.ndim < 2:
                z = z.reshape(0, 0)
            if z.ndim != 2:
                raise ShapeError(f"{pre}: z: expected shape (n, M), got {z.shape}")
            n_i, m_i = z.shape
            for key, shape in (("R", (n_i, m_i, m_i)), ("score", (n_i,)), ("class_id", (n_i,))):
                if f.get(key) is not None:
                    a_ = _numeric(f"{pre}: {key}", f[key], "iu" if key == "class_id" else "iuf")
                    if a_.shape != shape:
                        raise ShapeError(f"{pre}: {key}: expected shape {shape}, got {a_.shape}")
            if f.get("class_scores") is not None:
                cs_ = _numeric(f"{pre}: class_scores", f["class_scores"])
                if cs_.ndim != 2 or cs_.shape[0] != n_i:
                    raise ShapeError(f"{pre}: class_scores: expected shape ({n_i}, C), got {cs_.shape}")
            zs.append(np.asarray(z, np.float64))
        mmax = max((z.shape[1] for z in zs), default=1)
        ns = [len(z) for z in zs]
        n = sum(ns)
        sensor = np.concatenate([np.full(k, int(f["sensor"]), np.int32) for k, f in zip(ns, frames)]) if n else \
            np.zeros(0, np.int32)
        t = np.concatenate([np.full(k, int(f["t_ns"]), np.int64) for k, f in zip(ns, frames)]) if n else \
            np.zeros(0, np.int64)
        z = np.full((n, mmax), np.nan)
        off = 0
        for k, zz in zip(ns, zs):
            z[off:off + k, :zz.shape[1]] = zz
            off += k
        kw: dict[str, Any] = {}
        if any(f.get("R") is not None for f in frames):
            R = np.full((n, mmax, mmax), np.nan)
            off = 0
            for k, f, zz in zip(ns, frames, zs):
                if f.get("R") is not None:
                    R[off:off + k, :zz.shape[1], :zz.shape[1]] = np.asarray(f["R"], np.float64)
                off += k
            kw["R"] = R
        for key, fill, dt in (("score", 1.0, np.float64), ("class_id", -1, np.int64)):
            if any(f.get(key) is not None for f in frames):
                kw[key] = np.concatenate([np.asarray(f[key], dt).reshape(k) if f.get(key) is not None
                                          else np.full(k, fill, dt) for k, f in zip(ns, frames)])
        if any(f.get("class_scores") is not None for f in frames):
            widths = {np.asarray(f["class_scores"]).shape[1] for f in frames if f.get("class_scores") is not None}
            if len(widths) > 1:
                raise ShapeError(f"MeasurementBatch.from_frames: class_scores of different widths {sorted(widths)}")
            C = widths.pop()
            kw["class_scores"] = np.concatenate(
                [np.asarray(f["class_scores"], np.float64).reshape(k, C) if f.get("class_scores") is not None
                 else np.full((k, C), 1.0 / C) for k, f in zip(ns, frames)]) if n else np.zeros((0, C))
        return cls(sensor, t, z, **kw)

    def frames(self, config: EngineConfig, *, check_values: bool = True) -> Iterator[Frame]:
        """The sensor frames of this batch in processing order: by time, then sensor index
        (a stable sort: detections keep their order within a frame). Checks every frame
        against ``config`` while iterating; :meth:`split` checks them all first."""
        n = len(self)
        order = np.lexsort((self.sensor, self.t_ns)) if n else np.zeros(0, np.int64)
        S = len(config.sensors)
        if n and int(self.sensor.max()) >= S:
            i = _first(self.sensor >= S)
            raise ConfigurationError(f"MeasurementBatch.sensor: detection {i}: unknown sensor index "
                                     f"{int(self.sensor[i])}; sensors: "
                                     + ", ".join(f"{k} {s.name}" for k, s in enumerate(config.sensors)))
        keys = np.stack([self.t_ns[order], self.sensor[order].astype(np.int64)], axis=1) if n else np.zeros((0, 2))
        starts = np.nonzero(np.any(np.diff(keys, axis=0) != 0, axis=1))[0] + 1 if n else np.zeros(0, np.int64)
        bounds = [0, *starts.tolist(), n] if n else [0]
        for a, b in zip(bounds[:-1], bounds[1:]):
            rows = order[a:b]
            k = int(self.sensor[rows[0]])
            s = config.sensors[k]
            m = s.model_info().measurement_dim
            if self.z.shape[1] < m:
                raise ShapeError(f"MeasurementBatch.z: {self.z.shape[1]} columns, but sensor {s.name!r} ({k}) "
                                 f"measures {m} ({s.model}: {', '.join(s.model_info().components)})")
            z = self.z[rows, :m]
            R = None
            if self.R is not None:
                Rr = self.R[rows, :m, :m]
                default = np.all(np.isnan(Rr), axis=(1, 2))
                if default.all():
                    R = None
                else:
                    R = np.where(default[:, None, None], s.resolved_R()[None], Rr)
            yield prepare_frame(config, k, int(self.t_ns[rows[0]]), z, R,
                                None if self.score is None else self.score[rows],
                                None if self.class_id is None else self.class_id[rows],
                                None if self.class_scores is None else self.class_scores[rows],
                                check_values=check_values, rows=rows, where="MeasurementBatch")

    def split(self, config: EngineConfig, *, check_values: bool = True) -> list[Frame]:
        """All frames of :meth:`frames`, every one checked before any is returned."""
        return list(self.frames(config, check_values=check_values))
