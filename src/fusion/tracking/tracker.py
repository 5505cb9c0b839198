"""Python face of the C++ 3D multi-object tracker.

Detections are a numpy structured array with :data:`DETECTION_DTYPE` fields:

- ``box``: (7,) float64 ``x, y, z, yaw, l, w, h`` in the generic convention (metres, radians,
  z up, (x, y, z) the box centre, yaw counter-clockwise from +x; see fusion.geometry);
- ``class_id``: int32 (>= 0); detections only associate with tracks of the same class;
- ``score``: float64 detector confidence (any monotone score: probability or logit);
- ``sensor_id``: int32, optional. The tracker ignores it (its output is the same with or
  without it); it is there for the caller's bookkeeping: an output row's ``detection`` is the
  index of the input row that updated the track, so ``det["sensor_id"][out["detection"]]``
  recovers it (where ``detection >= 0``).

``Tracker.step`` returns the live tracks as a structured array with :data:`TRACK_DTYPE`:
``track_id`` int64 (unique, increasing), ``class_id`` int32, ``status`` int32 (0 tentative,
1 confirmed, 2 coasting), ``box`` (7,) float64, ``velocity`` (3,) float64 (m/s),
``score`` float64 (mean detection score minus the coasting penalty), ``llr`` float64 (the
track's sequential log-likelihood ratio), ``existence`` float64 (existence probability
``1 / (1 + exp(-llr))``, in [0, 1]), ``hits``, ``age``,
``time_since_update`` int32 and ``detection`` int32 (index of the detection that updated the
track in this step, -1 if none). Rows are in track-id order. The returned array is the
caller's own copy: a later step never changes it.

Threads: calls on one tracker are serialised (each is atomic); see docs/threading.md.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Self

import numpy as np

from fusion import _core
from fusion.engine.batch import check_timestamp
from fusion.errors import ConfigurationError, ShapeError, TimestampError
from fusion.tracking.config import ClassConfig, TrackerConfig

__all__ = ["Tracker", "TimestampError", "DETECTION_DTYPE", "TRACK_DTYPE", "TENTATIVE", "CONFIRMED",
           "COASTING", "make_detections"]

TENTATIVE, CONFIRMED, COASTING = 0, 1, 2

DETECTION_DTYPE = np.dtype([("box", np.float64, (7,)), ("class_id", np.int32), ("score", np.float64),
                            ("sensor_id", np.int32)])


def _track_dtype() -> np.dtype:
    lay = _core.tracker_output_layout()
    fields = [("track_id", np.int64, ()), ("class_id", np.int32, ()), ("status", np.int32, ()),
              ("box", np.float64, (7,)), ("velocity", np.float64, (3,)), ("score", np.float64, ()),
              ("llr", np.float64, ()), ("existence", np.float64, ()), ("hits", np.int32, ()), ("age", np.int32, ()),
              ("time_since_update", np.int32, ()), ("detection", np.int32, ())]
    return np.dtype({
        "names": [f[0] for f in fields],
        "formats": [(f[1], f[2]) if f[2] else f[1] for f in fields],
        "offsets": [lay[f[0]] for f in fields],
        "itemsize": lay["itemsize"],
    })


TRACK_DTYPE = _track_dtype()


class CoreTracker:
    """What every tracker wrapping a C++ core (``self._core``) shares: live-track count, the
    last timestamp, reset, copying, and the timestamp check of ``step``.

    Every method of the core releases the GIL and then takes the tracker's own mutex, so calls
    on one tracker from several threads are serialised and each is atomic (docs/threading.md).
    """

    _core: _core.TrackerCore | _core.PointTrackerCore
    config: Any

    def __copy__(self) -> Self:
        """An independent tracker in the same state (tracks, ids, time), taken atomically."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.config = copy.deepcopy(self.config)
        new._core = self._core.copy()
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        new = self.__copy__()
        memo[id(self)] = new
        return new

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError(
            f"{type(self).__name__} cannot be pickled: its tracks live in C++ and have no "
            "serialised form. copy.copy / copy.deepcopy give an independent tracker in this "
            "process; to persist one, save its config and replay the frames.")

    def _checked_step(self, step: Callable[[], np.ndarray], t: int, name: str) -> np.ndarray:
        """Runs ``step()``; a timestamp earlier than the previous step's is a TimestampError.
        The C++ check is the authoritative one (another thread may step between a Python-side
        check and this call); it raises a plain ValueError, turned into TimestampError here."""
        last = self._core.last_t_ns
        if last is not None and t < last:
            raise TimestampError(f"{name}.step: t_ns={t} is earlier than the previous step's "
                                 f"t_ns={last} (timestamps must not go backwards)")
        try:
            return step()
        except ValueError as e:
            if type(e) is ValueError and "earlier than the previous step" in str(e):
                raise TimestampError(str(e)) from None
            raise

    @property
    def num_tracks(self) -> int:
        """Number of live tracks (any status)."""
        return int(self._core.num_tracks)

    @property
    def last_t_ns(self) -> int | None:
        """Timestamp of the last step (int64 ns), or None before the first."""
        return self._core.last_t_ns

    def reset(self) -> None:
        """Drop all tracks and the time; ids restart at 1."""
        self._core.reset()


def make_detections(boxes: np.ndarray, class_id: int | np.ndarray = 0, score: float | np.ndarray = 1.0,
                    sensor_id: int | np.ndarray = 0) -> np.ndarray:
    """Build a :data:`DETECTION_DTYPE` array from an (N, 7) box array and scalars or (N,) arrays."""
    b = np.asarray(boxes, np.float64).reshape(-1, 7)
    out = np.zeros(len(b), DETECTION_DTYPE)
    out["box"] = b
    out["class_id"] = class_id
    out["score"] = score
    out["sensor_id"] = sensor_id
    return out


def _core_class(c: ClassConfig) -> _core.TrackerClassConfig:
    cc = _core.TrackerClassConfig()
    for name in ClassConfig.__dataclass_fields__:
        setattr(cc, name, getattr(c, name))
    return cc


class Tracker(CoreTracker):
    """3D multi-object tracker over oriented boxes (constant-velocity Kalman filter or CTRV EKF
    per track, exact GNN association per class, tentative/confirmed/coasting track management
    by M-of-N hit counting or a sequential log-likelihood ratio).

    A preset of the multi-sensor engine: each class runs in its own engine with one lidar box
    sensor, configured as :meth:`TrackerConfig.engine_config` shows (docs/ARCHITECTURE.md,
    "The Tracker preset"); the Tracker numbers the tracks of all classes in one id space (in
    detection order) and shares ``max_tracks`` between them. A class id first seen at run time
    gets its engine on that step (the only allocation after construction).

    The whole step runs in C++ with the GIL released; the output is deterministic and is a
    new array owned by the caller. Thread safety: calls on one tracker are serialised, see
    docs/threading.md. ``copy.copy``/``copy.deepcopy`` give an independent tracker; pickling
    raises TypeError.
    """

    _core: _core.TrackerCore
    config: TrackerConfig

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config if config is not None else TrackerConfig()
        if not isinstance(self.config, TrackerConfig):
            raise ConfigurationError(f"config: expected a TrackerConfig, got {type(config).__name__}")
        self.config.validate()
        ids = sorted(self.config.classes)
        self._core = _core.TrackerCore(_core_class(self.config.default), ids,
                                       [_core_class(self.config.classes[i]) for i in ids],
                                       self.config.max_tracks, self.config.max_detections)

    def step(self, detections: np.ndarray, t_ns: int) -> np.ndarray:
        """Advance to ``t_ns`` (int64 nanoseconds) with the detections seen at that time.

        Raises:
            ShapeError: ``detections`` is not a structured array with fields ``box`` (7,),
                ``class_id`` and ``score`` (the message names the field), or holds more than
                ``max_detections`` rows.
            NumericalError: a box or score is not finite, or a size is negative.
            TimestampError: ``t_ns`` is not an int64 integer (a float, e.g. seconds by
                mistake; a bool; int64 min) or is earlier than the previous step's timestamp.
        """
        boxes, cls, score = _unpack(detections)
        t = check_timestamp(t_ns, "Tracker.step: t_ns")
        raw = self._checked_step(lambda: self._core.step(boxes, cls, score, t), t, "Tracker")
        return raw.view(TRACK_DTYPE)


def _unpack(det: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(det, np.ndarray) or det.dtype.names is None:
        raise ShapeError("detections: expected a numpy structured array with fields box (7,) float64, "
                         f"class_id int32, score float64; got {type(det).__name__}"
                         + (f" of dtype {det.dtype}" if isinstance(det, np.ndarray) else ""))
    if det.ndim != 1:
        raise ShapeError(f"detections: expected a 1-D structured array, got shape {det.shape}")
    names = det.dtype.names
    for name in ("box", "class_id", "score"):
        if name not in names:
            raise ShapeError(f"detections['{name}']: field is missing (fields present: {', '.join(names)})")
    fields = det.dtype.fields
    assert fields is not None  # a structured dtype: names is not None (checked above)
    box_t = fields["box"][0]
    if box_t.shape != (7,) or box_t.base.kind != "f":
        raise ShapeError(f"detections['box']: expected (7,) floats (x, y, z, yaw, l, w, h), got {box_t}")
    if fields["class_id"][0].kind not in "iu":
        raise ShapeError(f"detections['class_id']: expected integers, got {fields['class_id'][0]}")
    if fields["score"][0].kind not in "fiu" or fields["score"][0].shape != ():
        raise ShapeError(f"detections['score']: expected a float scalar per row, got {fields['score'][0]}")
    boxes = np.ascontiguousarray(det["box"], np.float64)
    cls = det["class_id"]
    if len(cls) and (cls.min() < 0 or cls.max() > np.iinfo(np.int32).max):
        raise ShapeError("detections['class_id']: class ids must be in [0, 2**31)")
    return boxes, np.ascontiguousarray(cls, np.int32), np.ascontiguousarray(det["score"], np.float64)
