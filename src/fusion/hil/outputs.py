"""Fused tracks to files: :class:`TrackWriter` (CSV, or Parquet with the ``parquet`` extra) and
:class:`McapWriter` (an MCAP file Foxglove opens, with the ``mcap`` extra); :func:`read_tracks`
reads a track file back.

Both writers take the replay's cycles (``fusion.hil.replay.Cycle``, duck-typed: ``index``,
``t_ns``, ``tracks`` (engine track records, odometry frame), ``tracks_vehicle`` (the same records
in the vehicle frame, same order) and, for MCAP, ``ego_pose`` ``(x, y, yaw)`` or None).

Track file: one row per track per cycle, columns :data:`TRACK_COLUMNS` in that order:
``t_ns`` (the cycle's output time, int64 ns), ``track_id``, ``x, y`` [m], ``vx, vy`` [m/s],
``yaw`` [rad], ``length, width`` [m], ``class`` (class index), ``existence`` ([0, 1]) in the
odometry frame, then ``x_vehicle, y_vehicle`` [m] (the centre in the vehicle frame). CSV floats
are written as Python's shortest round-trip repr (``repr(float)``: exact, and the same bytes for
the same values on every platform; NaN as ``nan``), so identical inputs give byte-identical
files; Parquet has int64 / float64 / int32 columns and one row group per 65536 rows.
"""

from __future__ import annotations

import csv
import importlib
import json
import math
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from fusion.errors import ConfigurationError, ShapeError, TimestampError
from fusion.hil.errors import MissingExtraError
from fusion.hil.publish import check_track_records

__all__ = ["TrackWriter", "McapWriter", "read_tracks", "TRACK_COLUMNS", "SCENE_UPDATE_SCHEMA",
           "FRAME_TRANSFORM_SCHEMA"]

#: Columns of a track file, in order.
TRACK_COLUMNS = ("t_ns", "track_id", "x", "y", "vx", "vy", "yaw", "length", "width", "class", "existence",
                 "x_vehicle", "y_vehicle")
_INT_COLUMNS = ("t_ns", "track_id", "class")
_ROW_GROUP = 65536


def _cycle_tracks(cycle: Any) -> tuple[int, npt.NDArray[Any], npt.NDArray[Any]]:
    """The cycle's time, odometry-frame and vehicle-frame records, checked (ShapeError /
    TimestampError naming ``cycle.<attribute>``)."""
    t_ns = getattr(cycle, "t_ns", None)
    if isinstance(t_ns, (bool, np.bool_)) or not isinstance(t_ns, (int, np.integer)):
        raise TimestampError(f"cycle.t_ns: expected an integer number of nanoseconds, got {t_ns!r}")
    tracks = check_track_records(getattr(cycle, "tracks", None), "cycle.tracks")
    vehicle = check_track_records(getattr(cycle, "tracks_vehicle", None), "cycle.tracks_vehicle")
    if len(vehicle) != len(tracks) or not np.array_equal(vehicle["id"], tracks["id"]):
        raise ShapeError(f"cycle.tracks_vehicle: expected the same tracks as cycle.tracks in the same order "
                         f"(ids {tracks['id'].tolist()[:10]}), got ids {vehicle['id'].tolist()[:10]}")
    return int(t_ns), tracks, vehicle


def _columns(t_ns: int, tracks: npt.NDArray[Any], vehicle: npt.NDArray[Any]) -> dict[str, npt.NDArray[Any]]:
    box = np.asarray(tracks["box"], dtype=np.float64)
    vel = np.asarray(tracks["velocity"], dtype=np.float64)
    vbox = np.asarray(vehicle["box"], dtype=np.float64)
    n = len(tracks)
    return {
        "t_ns": np.full(n, t_ns, dtype=np.int64), "track_id": np.asarray(tracks["id"], dtype=np.int64),
        "x": box[:, 0], "y": box[:, 1], "vx": vel[:, 0], "vy": vel[:, 1], "yaw": box[:, 3],
        "length": box[:, 4], "width": box[:, 5], "class": np.asarray(tracks["class_id"], dtype=np.int32),
        "existence": np.asarray(tracks["existence"], dtype=np.float64), "x_vehicle": vbox[:, 0],
        "y_vehicle": vbox[:, 1],
    }


class TrackWriter:
    """Tracks, one row per track per cycle, to ``path`` as CSV (``fmt="csv"``) or Parquet
    (``fmt="parquet"``, the ``parquet`` extra: pyarrow). The file is created (truncated) at
    construction; rows go out as they are written (Parquet: per row group and at :meth:`close`).

    Thread safety: ``write`` and ``close`` take an internal lock: several threads may write
    (each cycle's rows stay together, in call order); ``write`` after ``close`` raises
    ConfigurationError. A ``write`` whose cycle is invalid raises before writing anything."""

    def __init__(self, path: str | Path, fmt: str = "csv") -> None:
        self.path = Path(path)
        if fmt not in ("csv", "parquet"):
            raise ConfigurationError(f"fmt: expected 'csv' or 'parquet', got {fmt!r}")
        self.fmt = fmt
        self.rows = 0
        self._lock = threading.Lock()
        self._closed = False
        self._pq: Any = None
        self._pa: Any = None
        self._pq_writer: Any = None
        self._buffer: list[dict[str, npt.NDArray[Any]]] = []
        self._buffered = 0
        self._file: IO[str] | None = None
        if fmt == "parquet":
            try:
                pa: Any = importlib.import_module("pyarrow")
                pq: Any = importlib.import_module("pyarrow.parquet")
            except ImportError:
                raise MissingExtraError("Parquet track files need pyarrow: pip install 'fusion[parquet]'") from None
            self._pa, self._pq = pa, pq
            self._schema = pa.schema([(c, pa.int64() if c in ("t_ns", "track_id") else
                                       pa.int32() if c == "class" else pa.float64()) for c in TRACK_COLUMNS])
            self._pq_writer = pq.ParquetWriter(str(self.path), self._schema)
        else:
            self._file = open(self.path, "w", encoding="ascii", newline="")
            self._file.write(",".join(TRACK_COLUMNS) + "\n")

    def write(self, cycle: Any) -> None:
        """Append one row per track of ``cycle``."""
        t_ns, tracks, vehicle = _cycle_tracks(cycle)
        cols = _columns(t_ns, tracks, vehicle)
        n = len(tracks)
        with self._lock:
            if self._closed:
                raise ConfigurationError(f"{self.path}: write after close")
            if self._file is not None:
                if n:
                    lists = [cols[c].tolist() for c in TRACK_COLUMNS]
                    self._file.write("".join(",".join(map(repr, row)) + "\n" for row in zip(*lists)))
            else:
                self._buffer.append(cols)
                self._buffered += n
                if self._buffered >= _ROW_GROUP:
                    self._flush_parquet()
            self.rows += n

    def _flush_parquet(self) -> None:
        if not self._buffered:
            return
        arrays = [self._pa.array(np.concatenate([b[c] for b in self._buffer])) for c in TRACK_COLUMNS]
        self._pq_writer.write_table(self._pa.Table.from_arrays(arrays, schema=self._schema))
        self._buffer, self._buffered = [], 0

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._file is not None:
                self._file.close()
            else:
                self._flush_parquet()
                self._pq_writer.close()

    def __enter__(self) -> TrackWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def read_tracks(path: str | Path) -> dict[str, npt.NDArray[Any]]:
    """A track file (.csv, or .parquet with the ``parquet`` extra) as columns: int64 ``t_ns``,
    ``track_id``, int32 ``class``, float64 the others. ShapeError naming the file when the
    columns are not :data:`TRACK_COLUMNS`."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        try:
            pq: Any = importlib.import_module("pyarrow.parquet")
        except ImportError:
            raise MissingExtraError("Parquet track files need pyarrow: pip install 'fusion[parquet]'") from None
        table = pq.read_table(str(path))
        if tuple(table.column_names) != TRACK_COLUMNS:
            raise ShapeError(f"{path}: expected the columns {', '.join(TRACK_COLUMNS)}, got "
                             f"{', '.join(table.column_names)}")
        return {c: table.column(c).to_numpy() for c in TRACK_COLUMNS}
    with open(path, encoding="ascii", newline="") as f:
        reader = csv.reader(f)
        header = tuple(next(reader, ()))
        if header != TRACK_COLUMNS:
            raise ShapeError(f"{path}:1: expected the columns {', '.join(TRACK_COLUMNS)}, got {', '.join(header)}")
        rows = list(reader)
    out: dict[str, npt.NDArray[Any]] = {}
    for j, c in enumerate(TRACK_COLUMNS):
        values = [r[j] for r in rows]
        try:
            out[c] = (np.array([int(v) for v in values], dtype=np.int32 if c == "class" else np.int64)
                      if c in _INT_COLUMNS else np.array([float(v) for v in values], dtype=np.float64))
        except (ValueError, IndexError) as exc:
            raise ShapeError(f"{path}: column {c!r}: {exc}") from None
    return out


# -- MCAP --------------------------------------------------------------------------------------

def _obj(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": props}


_NUM = {"type": "number"}
_TIME = _obj({"sec": {"type": "integer"}, "nsec": {"type": "integer"}})
_VEC3 = _obj({"x": _NUM, "y": _NUM, "z": _NUM})
_QUAT = _obj({"x": _NUM, "y": _NUM, "z": _NUM, "w": _NUM})
_POSE = _obj({"position": _VEC3, "orientation": _QUAT})
_COLOR = _obj({"r": _NUM, "g": _NUM, "b": _NUM, "a": _NUM})
_ARRAY = {"type": "array", "items": {"type": "object"}}

#: JSON schema (the subset of foxglove.SceneUpdate this writer fills: entities with cubes and texts).
SCENE_UPDATE_SCHEMA: dict[str, Any] = {
    "title": "foxglove.SceneUpdate",
    "description": "An update to the entities displayed in a 3D scene",
    **_obj({
        "deletions": _ARRAY,
        "entities": {"type": "array", "items": _obj({
            "timestamp": _TIME, "frame_id": {"type": "string"}, "id": {"type": "string"},
            "lifetime": _TIME, "frame_locked": {"type": "boolean"}, "metadata": _ARRAY,
            "arrows": _ARRAY, "spheres": _ARRAY, "cylinders": _ARRAY, "lines": _ARRAY, "triangles": _ARRAY,
            "models": _ARRAY,
            "cubes": {"type": "array", "items": _obj({"pose": _POSE, "size": _VEC3, "color": _COLOR})},
            "texts": {"type": "array", "items": _obj({
                "pose": _POSE, "billboard": {"type": "boolean"}, "font_size": _NUM,
                "scale_invariant": {"type": "boolean"}, "color": _COLOR, "text": {"type": "string"}})},
        })},
    }),
}
#: JSON schema of foxglove.FrameTransform (the ego pose: odometry -> vehicle frame).
FRAME_TRANSFORM_SCHEMA: dict[str, Any] = {
    "title": "foxglove.FrameTransform",
    "description": "A transform between two reference frames in 3D space",
    **_obj({"timestamp": _TIME, "parent_frame_id": {"type": "string"}, "child_frame_id": {"type": "string"},
            "translation": _VEC3, "rotation": _QUAT}),
}


def _time(t_ns: int) -> dict[str, int]:
    return {"sec": t_ns // 1_000_000_000, "nsec": t_ns % 1_000_000_000}


def _yaw_quat(yaw: float) -> dict[str, float]:
    return {"x": 0.0, "y": 0.0, "z": math.sin(yaw / 2), "w": math.cos(yaw / 2)}


def _id_color(track_id: int) -> dict[str, float]:
    """A stable colour per id (golden-ratio hue steps)."""
    h = (track_id * 0.618033988749895) % 1.0
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    r, g, b = [(1, f, 0), (1 - f, 1, 0), (0, 1, f), (0, 1 - f, 1), (f, 0, 1), (1, 0, 1 - f)][i]
    return {"r": round(0.2 + 0.8 * r, 4), "g": round(0.2 + 0.8 * g, 4), "b": round(0.2 + 0.8 * b, 4), "a": 0.6}


def _finite(v: float, default: float) -> float:
    return float(v) if math.isfinite(v) else default


class McapWriter:
    """Tracks as an MCAP file Foxglove opens (the ``mcap`` extra). Per cycle one
    ``foxglove.SceneUpdate`` on ``topic`` (JSON, jsonschema): one entity ``"tracks"`` in
    ``frame_id`` (the odometry frame) holding a cube per track (centre, size ``l, w, h``, yaw,
    colour by id) and a text with the track id above it; the entity replaces the previous
    cycle's. When the cycle has an ``ego_pose`` ``(x, y, yaw)``, also a ``foxglove.FrameTransform``
    ``frame_id -> vehicle_frame_id`` on ``tf_topic``. Log and publish times are the cycle's
    ``t_ns`` (must be >= 0). Tracks with a non-finite centre are left out; non-finite sizes
    become 0.1 m. Identical cycles give byte-identical files.

    Thread safety: ``write`` and ``close`` take an internal lock: several threads may write;
    ``write`` after ``close`` raises ConfigurationError."""

    def __init__(self, path: str | Path, *, topic: str = "/tracks", tf_topic: str = "/tf",
                 frame_id: str = "odom", vehicle_frame_id: str = "base_link") -> None:
        try:
            from mcap.writer import Writer
        except ImportError:
            raise MissingExtraError("MCAP output needs mcap: pip install 'fusion[mcap]'") from None
        self.path = Path(path)
        self.frame_id = frame_id
        self.vehicle_frame_id = vehicle_frame_id
        self.messages = 0
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = open(self.path, "wb")
        self._writer: Any = Writer(self._file)
        self._writer.start(profile="", library="fusion")
        scene = self._writer.register_schema("foxglove.SceneUpdate", "jsonschema",
                                             json.dumps(SCENE_UPDATE_SCHEMA, sort_keys=True).encode())
        tf = self._writer.register_schema("foxglove.FrameTransform", "jsonschema",
                                          json.dumps(FRAME_TRANSFORM_SCHEMA, sort_keys=True).encode())
        self._scene_channel = self._writer.register_channel(topic, "json", scene)
        self._tf_channel = self._writer.register_channel(tf_topic, "json", tf)
        self._seq = 0

    def scene_update(self, cycle: Any) -> dict[str, Any]:
        """The SceneUpdate message of ``cycle`` (a dict; what :meth:`write` stores as JSON)."""
        t_ns, tracks, _ = _cycle_tracks(cycle)
        return self._scene(t_ns, tracks)

    def _scene(self, t_ns: int, tracks: npt.NDArray[Any]) -> dict[str, Any]:
        cubes, texts = [], []
        box = np.asarray(tracks["box"], dtype=np.float64)
        for tid, b in zip(tracks["id"].tolist(), box.tolist()):
            x, y, z, yaw, l, w, h = b
            if not (math.isfinite(x) and math.isfinite(y)):
                continue
            z = _finite(z, 0.0)
            yaw = _finite(yaw, 0.0)
            size = {"x": max(_finite(l, 0.1), 0.1), "y": max(_finite(w, 0.1), 0.1), "z": max(_finite(h, 0.1), 0.1)}
            color = _id_color(tid)
            cubes.append({"pose": {"position": {"x": x, "y": y, "z": z}, "orientation": _yaw_quat(yaw)},
                          "size": size, "color": color})
            texts.append({"pose": {"position": {"x": x, "y": y, "z": z + size["z"] / 2 + 0.5},
                                   "orientation": _yaw_quat(0.0)},
                          "billboard": True, "font_size": 14.0, "scale_invariant": True,
                          "color": {"r": 1.0, "g": 1.0, "b": 1.0, "a": 1.0}, "text": str(tid)})
        entity = {"timestamp": _time(t_ns), "frame_id": self.frame_id, "id": "tracks",
                  "lifetime": {"sec": 0, "nsec": 0}, "frame_locked": False, "metadata": [], "arrows": [],
                  "cubes": cubes, "spheres": [], "cylinders": [], "lines": [], "triangles": [], "texts": texts,
                  "models": []}
        return {"deletions": [], "entities": [entity]}

    def write(self, cycle: Any) -> None:
        """Append the cycle's SceneUpdate (and ego-pose FrameTransform)."""
        t_ns, tracks, _ = _cycle_tracks(cycle)
        if t_ns < 0:
            raise TimestampError(f"cycle.t_ns: MCAP log times are unsigned, got {t_ns}")
        scene = json.dumps(self._scene(t_ns, tracks), allow_nan=False, separators=(",", ":")).encode()
        tf: bytes | None = None
        pose = getattr(cycle, "ego_pose", None)
        if pose is not None:
            try:
                px, py, pyaw = (float(v) for v in pose)
            except (TypeError, ValueError):
                raise ShapeError(f"cycle.ego_pose: expected (x, y, yaw) or None, got {pose!r}") from None
            if all(math.isfinite(v) for v in (px, py, pyaw)):
                tf = json.dumps({"timestamp": _time(t_ns), "parent_frame_id": self.frame_id,
                                 "child_frame_id": self.vehicle_frame_id,
                                 "translation": {"x": px, "y": py, "z": 0.0}, "rotation": _yaw_quat(pyaw)},
                                separators=(",", ":")).encode()
        with self._lock:
            if self._file is None:
                raise ConfigurationError(f"{self.path}: write after close")
            if tf is not None:
                self._writer.add_message(self._tf_channel, t_ns, tf, t_ns, self._seq)
                self._seq += 1
                self.messages += 1
            self._writer.add_message(self._scene_channel, t_ns, scene, t_ns, self._seq)
            self._seq += 1
            self.messages += 1

    def close(self) -> None:
        """Write the summary and close the file (idempotent)."""
        with self._lock:
            if self._file is None:
                return
            self._writer.finish()
            self._file.close()
            self._file = None

    def __enter__(self) -> McapWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
