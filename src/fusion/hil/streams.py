"""Non-CAN sensor streams: detections recorded as a table with timestamps (lidar boxes, camera
boxes, radar detections), read as frames for the replay (:func:`read_stream`) and written by
the sample drive (:func:`write_stream`).

File format (CSV, or Parquet with the ``parquet`` extra: the same columns), one row per
detection::

    t_ns,sensor,x,y,z,yaw,l,w,h,score,class_id
    1767225600000000000,lidar,12.5,-3.4,-0.95,0.01,4.6,1.8,1.5,0.93,0
    1767225600000000000,lidar,40.1,0.2,-1.0,0.0,4.4,1.9,1.6,0.88,0
    1767225600100000000,lidar,,,,,,,,,

- ``t_ns`` (first column): the frame's timestamp, integer nanoseconds (any epoch, the same as
  the CAN logs replayed with it); non-decreasing down the file.
- ``sensor`` (second column): the sensor's name (the rig's ``[sensors.NAME]`` with
  ``source = "stream"``).
- the component columns of the sensor's measurement model, by name and in the model's units
  (``lidar_box3d``: ``x, y, z, yaw, l, w, h`` in the sensor frame; ``camera_box2d``:
  ``x1, y1, x2, y2`` pixels; ``radar``: ``range, azimuth, range_rate``). One file may hold several
  sensors: it then has the union of their columns, and each sensor reads its own.
- ``score`` (optional column or empty value: 1.0) and ``class_id`` (optional: -1, unknown; an
  integer, or a float with an integral value).

Rows with the same ``(t_ns, sensor)`` form one frame (:class:`StreamFrame`); frames come out in
file (= time) order, and the frames of one ``t_ns`` in the order their sensor first appears.
A frame without detections (which still tells the tracker the sensor looked and saw nothing)
is a row with ``t_ns`` and ``sensor`` and every component empty. Parquet columns: ``t_ns``
int64, ``sensor`` string, components and ``score`` float64, ``class_id`` integer; null is
"empty". Numbers in CSV are anything Python's ``float`` reads (``t_ns`` and ``class_id``:
``int``); :func:`write_stream` writes the shortest text that reads back to the same double.

Bad rows: a value that is not a number, NaN or infinity, an empty component when others are
set, the wrong number of columns, an unknown sensor, a timestamp that goes backwards, a line
that is not UTF-8. With ``strict=True`` the first one raises
:class:`~fusion.hil.errors.StreamError` naming the file, line and column (the frames of the
rows before it are delivered first); with ``strict=False`` (the default, as the replay's) the row is skipped,
counted in ``stats`` and warned (:class:`StreamWarning`) for the first
:data:`MAX_WARNINGS` bad rows of a file, then once more to say the rest are counted only.
Problems with the file as a whole raise in both modes: it cannot be opened, its header lacks
``t_ns``/``sensor`` as the first two columns, repeats a column, or lacks a component column of a
sensor that appears in it.

Thread safety: functions only; a reader iterator is used by one thread at a time; reading and
writing distinct files concurrently is safe.
"""

from __future__ import annotations

import csv
import importlib
import math
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from fusion.errors import ConfigurationError, ShapeError
from fusion.hil.errors import MissingExtraError, StreamError

__all__ = ["MAX_WARNINGS", "StreamFrame", "StreamWarning", "is_stream_file", "read_stream", "write_stream"]

#: Bad rows warned about individually per file (lenient mode); the rest are only counted.
MAX_WARNINGS = 10
_SUFFIXES = (".csv", ".parquet")
_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1


class StreamWarning(UserWarning):
    """A bad row of a sensor stream file was skipped (lenient reading)."""


class StreamFrame(NamedTuple):
    """One frame of one sensor: ``z`` (n, M) in the model's components, ``score`` (n,),
    ``class_id`` (n,) int32 (-1: unknown); n may be 0.

    Thread safety: a tuple of fresh arrays per frame; any thread may read it (do not write the
    arrays while another thread reads them)."""

    t_ns: int
    sensor: str
    z: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]
    class_id: npt.NDArray[np.int32]


def _pyarrow(module: str = "pyarrow.parquet") -> Any:
    """``pyarrow.parquet`` (or another pyarrow module); MissingExtraError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError("Parquet sensor streams need pyarrow: pip install 'fusion[parquet]'") from None


def is_stream_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a sensor stream file: a ``.csv`` or ``.parquet`` whose first two
    columns are ``t_ns, sensor`` (python-can's CSV logs start with ``timestamp``). False when it
    cannot be read; a ``.parquet`` without pyarrow raises MissingExtraError (python-can reads no
    Parquet, so it can only be a stream)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        pq = _pyarrow()
        try:
            names = list(pq.read_schema(p).names)
        except (OSError, ValueError):
            return False
        return names[:2] == ["t_ns", "sensor"]
    if suffix != ".csv":
        return False
    try:
        with open(p, "rb") as fh:
            first = fh.readline(65536)
        text = first.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return False
    cols = [c.strip().strip('"').strip() for c in text.rstrip("\r\n").split(",")]
    return cols[:2] == ["t_ns", "sensor"]


# ---------------------------------------------------------------- reading

class _Bad(Exception):
    """A bad row: (kind for the stats, column or None, reason)."""

    def __init__(self, kind: str, column: str | None, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.column = column
        self.reason = reason


def _empty(v: object) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _float(v: object, column: str) -> float:
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _Bad("not_a_number", column, f"expected a number, got {v!r}") from None
    if not math.isfinite(x):
        raise _Bad("not_finite", column, f"expected a finite number, got {v!r}")
    return x


def _int(v: object, column: str, *, integral_float: bool = False) -> int:
    """An int64 from an int or its text; ``integral_float``: also 2.0 / "2.0" (a class id
    column that a dataframe library stored as float because of empty cells), never for t_ns
    (a double cannot hold every nanosecond timestamp)."""
    if isinstance(v, (bool, np.bool_)):
        raise _Bad("not_a_number", column, f"expected an integer, got {v!r}")
    if isinstance(v, (int, np.integer)):
        x = int(v)
    else:
        try:
            x = int(str(v).strip())
        except ValueError:
            f = _float(v, column) if integral_float else math.nan
            if not f.is_integer():
                raise _Bad("not_a_number", column, f"expected an integer, got {v!r}") from None
            x = int(f)
    if not _INT64_MIN < x <= _INT64_MAX:
        raise _Bad("not_a_number", column, f"{x} is outside the int64 range (or the reserved -2**63)")
    return x


class _Header:
    def __init__(self, path: Path, names: Sequence[str], components: Mapping[str, Sequence[str]]) -> None:
        names = [str(n).strip() for n in names]
        if names[:2] != ["t_ns", "sensor"]:
            raise StreamError(path, 1, f"expected the columns to start with t_ns,sensor, got {','.join(names[:2])!r} "
                                       "(see fusion.hil.streams for the format)")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise StreamError(path, 1, f"column(s) {dup} appear more than once")
        self.path = path
        self.names = names
        self.index = {n: i for i, n in enumerate(names)}
        self.components = {str(k): [str(c) for c in v] for k, v in components.items()}
        self._cols: dict[str, list[int]] = {}
        self.score = self.index.get("score")
        self.class_id = self.index.get("class_id")

    def columns_of(self, sensor: str) -> list[int]:
        cols = self._cols.get(sensor)
        if cols is None:
            missing = [c for c in self.components[sensor] if c not in self.index]
            if missing:
                raise StreamError(self.path, 1, f"sensor {sensor!r} needs component column(s) {missing} "
                                                f"(its model measures {', '.join(self.components[sensor])})",
                                  column=missing[0])
            cols = self._cols[sensor] = [self.index[c] for c in self.components[sensor]]
        return cols


class _Row(NamedTuple):
    t_ns: int
    sensor: str
    z: list[float] | None  # None: the empty-frame row
    score: float
    class_id: int


def _parse(h: _Header, values: Sequence[object]) -> _Row:
    if len(values) != len(h.names):
        raise _Bad("columns", None, f"expected {len(h.names)} columns ({','.join(h.names)}), got {len(values)}")
    t = _int(values[0], "t_ns")
    sensor = "" if values[1] is None else str(values[1]).strip()
    if sensor not in h.components:
        raise _Bad("unknown_sensor", "sensor",
                   f"unknown sensor {sensor!r}; stream sensors: {', '.join(h.components) or '(none)'}")
    cols = h.columns_of(sensor)
    raw = [values[j] for j in cols]
    empty = [_empty(v) for v in raw]
    if all(empty):
        return _Row(t, sensor, None, 1.0, -1)
    if any(empty):
        col = h.names[cols[empty.index(True)]]
        raise _Bad("empty", col, "empty where a number is required (a row with every component empty is an "
                                 "empty frame; a detection needs all of them)")
    z = [_float(v, h.names[j]) for v, j in zip(raw, cols)]
    score = 1.0
    if h.score is not None and not _empty(values[h.score]):
        score = _float(values[h.score], "score")
    cls = -1
    if h.class_id is not None and not _empty(values[h.class_id]):
        cls = _int(values[h.class_id], "class_id", integral_float=True)
        if not -(2 ** 31) <= cls < 2 ** 31:
            raise _Bad("not_a_number", "class_id", f"{cls} is outside the int32 range")
    return _Row(t, sensor, z, score, cls)


_RowIter = Iterator[tuple[Sequence[object], int, _Bad | None]]


def _csv_rows(path: Path) -> _RowIter:
    """(fields, line, problem) of each non-blank line; a line that is not UTF-8 or not CSV
    comes with its problem (decoded with replacement characters)."""
    line = [0]
    not_utf8: set[int] = set()

    def lines(fh: Any) -> Iterator[str]:
        for raw in fh:
            line[0] += 1
            try:
                text = raw.decode("utf-8-sig" if line[0] == 1 else "utf-8")
            except UnicodeDecodeError:
                not_utf8.add(line[0])
                text = raw.decode("utf-8", errors="replace")
            yield text

    with open(path, "rb") as fh:
        reader = csv.reader(lines(fh))
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # a NUL byte, an unterminated quote
                yield [], line[0], _Bad("csv", None, f"not a CSV line: {exc}")
                continue
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if line[0] in not_utf8:
                yield fields, line[0], _Bad("not_utf8", None, "the line is not UTF-8 text")
                continue
            yield fields, line[0], None


def _parquet_rows(path: Path) -> tuple[list[str], _RowIter]:
    pq = _pyarrow()
    # What pyarrow raises on a damaged file, found by the parquet_streams fuzz target: ArrowInvalid
    # (a ValueError), ArrowNotImplementedError (an unsupported encoding), OSError (a bad page,
    # decompression), UnicodeDecodeError (a string column that is not UTF-8).
    damaged = (OSError, ValueError, NotImplementedError, UnicodeDecodeError, _pyarrow("pyarrow").ArrowException)
    try:
        pf = pq.ParquetFile(path)
        names = list(pf.schema_arrow.names)
    except damaged as exc:
        raise StreamError(path, None, f"not a readable Parquet file: {type(exc).__name__}: {exc}") from None

    def rows() -> _RowIter:
        line = 1
        batches = pf.iter_batches(batch_size=65536)
        while True:
            try:
                batch = next(batches, None)
                if batch is None:
                    return
                cols = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            except damaged as exc:
                raise StreamError(path, line + 1, f"damaged Parquet data: {type(exc).__name__}: {exc}") from None
            for r in range(batch.num_rows):
                line += 1
                yield [c[r] for c in cols], line, None

    return names, rows()


def read_stream(path: str | os.PathLike[str], *, components: Mapping[str, Sequence[str]], strict: bool = False,
                stats: Counter[str] | None = None) -> Iterator[StreamFrame]:
    """Frames of a sensor stream file (module docstring: format, grouping, bad rows).

    Args:
        path: a ``.csv`` or ``.parquet`` file (Parquet needs the ``parquet`` extra).
        components: sensor name -> its measurement components (the model's
            ``SensorConfig.model_info().components``); rows of other sensors are bad rows.
        strict: raise StreamError at the first bad row (else skip, count and warn).
        stats: a Counter to add ``rows``, ``frames``, ``bad_rows`` and ``bad_rows.<kind>`` to.

    Raises StreamError (file, line, column), MissingExtraError("parquet"), OSError when the file
    cannot be opened."""
    p = Path(path)
    st: Counter[str] = Counter() if stats is None else stats
    rows: _RowIter
    if p.suffix.lower() == ".parquet":
        names, rows = _parquet_rows(p)
        header = _Header(p, names, components)
    else:
        rows = _csv_rows(p)
        first = next(rows, None)
        if first is None:
            raise StreamError(p, 1, "empty file: expected a header line t_ns,sensor,...")
        if first[2] is not None:
            raise StreamError(p, first[1], f"bad header line: {first[2].reason}")
        header = _Header(p, [str(x) for x in first[0]], components)
    warned = 0
    last_t: int | None = None
    block: dict[str, list[_Row]] = {}

    def emit() -> Iterator[StreamFrame]:
        for sensor, rs in block.items():
            dets = [r for r in rs if r.z is not None]
            m = len(header.components[sensor])
            z = np.array([r.z for r in dets], np.float64).reshape(len(dets), m)
            st["frames"] += 1
            yield StreamFrame(rs[0].t_ns, sensor, z, np.array([r.score for r in dets], np.float64),
                              np.array([r.class_id for r in dets], np.int32))
        block.clear()

    for values, line, problem in rows:
        st["rows"] += 1
        try:
            if problem is not None:
                raise problem
            row = _parse(header, values)
            if last_t is not None and row.t_ns < last_t:
                raise _Bad("backwards", "t_ns", f"timestamp goes backwards: {row.t_ns} after {last_t}")
        except _Bad as bad:
            st["bad_rows"] += 1
            st[f"bad_rows.{bad.kind}"] += 1
            if strict:  # the good rows before it are delivered first
                yield from emit()
                raise StreamError(p, line, bad.reason, column=bad.column) from None
            warned += 1
            if warned <= MAX_WARNINGS:
                msg = str(StreamError(p, line, bad.reason, column=bad.column))
                warnings.warn(f"{msg} (row skipped)", StreamWarning, stacklevel=2)
            elif warned == MAX_WARNINGS + 1:
                warnings.warn(f"{p}: more than {MAX_WARNINGS} bad rows; the rest are skipped and counted "
                              "without a warning each", StreamWarning, stacklevel=2)
            continue
        if last_t is not None and row.t_ns != last_t:
            yield from emit()
        last_t = row.t_ns
        block.setdefault(row.sensor, []).append(row)
    yield from emit()


# ---------------------------------------------------------------- writing

def _columns(components: Mapping[str, Sequence[str]]) -> list[str]:
    comp: list[str] = []
    for cs in components.values():
        comp += [str(c) for c in cs if str(c) not in comp]
    clash = {"t_ns", "sensor", "score", "class_id"} & set(comp)
    if clash:
        raise ConfigurationError(f"components: {sorted(clash)} name the format's own columns")
    return ["t_ns", "sensor", *comp, "score", "class_id"]


def _check_frames(frames: Iterable[StreamFrame], components: Mapping[str, Sequence[str]]) -> list[StreamFrame]:
    out: list[StreamFrame] = []
    last: int | None = None
    for k, f in enumerate(frames):
        if f.sensor not in components:
            raise ConfigurationError(f"frame {k}: unknown sensor {f.sensor!r}; components are given for "
                                     f"{', '.join(components)}")
        m = len(components[f.sensor])
        z = np.asarray(f.z, np.float64)
        n = z.shape[0] if z.ndim == 2 else -1
        if z.ndim != 2 or z.shape[1] != m or np.shape(f.score) != (n,) or np.shape(f.class_id) != (n,):
            raise ShapeError(f"frame {k} ({f.sensor}): expected z (n, {m}), score (n,), class_id (n,), got "
                             f"{z.shape}, {np.shape(f.score)}, {np.shape(f.class_id)}")
        if not (np.all(np.isfinite(z)) and np.all(np.isfinite(f.score))):
            raise ShapeError(f"frame {k} ({f.sensor}): z and score must be finite")
        if last is not None and f.t_ns < last:
            raise ShapeError(f"frame {k} ({f.sensor}): t_ns {f.t_ns} goes backwards (after {last})")
        last = int(f.t_ns)
        out.append(f)
    return out


def write_stream(path: str | os.PathLike[str], frames: Iterable[StreamFrame], *,
                 components: Mapping[str, Sequence[str]]) -> int:
    """Writes ``frames`` (time order) as a stream file, CSV or Parquet by the suffix (module
    docstring); an empty frame becomes one row with empty components. The file is written
    whole to a temporary name and then renamed, so a failed call leaves no file behind.
    Returns the number of rows. Deterministic: the same frames give the same bytes."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ConfigurationError(f"{p}: a stream file is .csv or .parquet")
    cols = _columns(components)
    fs = _check_frames(frames, components)
    index = {c: i for i, c in enumerate(cols)}
    tmp = p.with_name(p.name + ".tmp")
    try:
        if suffix == ".csv":
            n = _write_csv(tmp, cols, index, fs, components)
        else:
            n = _write_parquet(tmp, cols, index, fs, components)
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()
    return n


def _write_csv(tmp: Path, cols: list[str], index: dict[str, int], frames: list[StreamFrame],
               components: Mapping[str, Sequence[str]]) -> int:
    lines = [",".join(cols)]
    blank = [""] * len(cols)
    for f in frames:
        comp = [index[str(c)] for c in components[f.sensor]]
        z = np.asarray(f.z, np.float64)
        if len(z) == 0:
            row = list(blank)
            row[0], row[1] = str(int(f.t_ns)), f.sensor
            lines.append(",".join(row))
            continue
        for i in range(len(z)):
            row = list(blank)
            row[0], row[1] = str(int(f.t_ns)), f.sensor
            for j, v in zip(comp, z[i].tolist()):
                row[j] = repr(v)
            row[-2] = repr(float(f.score[i]))
            row[-1] = str(int(f.class_id[i]))
            lines.append(",".join(row))
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")
    return len(lines) - 1


def _write_parquet(tmp: Path, cols: list[str], index: dict[str, int], frames: list[StreamFrame],
                   components: Mapping[str, Sequence[str]]) -> int:
    pq = _pyarrow()
    pa = _pyarrow("pyarrow")

    data: list[list[Any]] = [[] for _ in cols]
    for f in frames:
        comp = {index[str(c)]: k for k, c in enumerate(components[f.sensor])}
        z = np.asarray(f.z, np.float64)
        n = len(z)
        for j in range(len(cols)):
            if j == 0:
                data[j] += [int(f.t_ns)] * max(n, 1)
            elif j == 1:
                data[j] += [f.sensor] * max(n, 1)
            elif j in comp:
                data[j] += z[:, comp[j]].tolist() if n else [None]
            elif j == len(cols) - 2:
                data[j] += np.asarray(f.score, np.float64).tolist() if n else [None]
            elif j == len(cols) - 1:
                data[j] += np.asarray(f.class_id, np.int64).tolist() if n else [None]
            else:
                data[j] += [None] * max(n, 1)
    types = [pa.int64(), pa.string()] + [pa.float64()] * (len(cols) - 4) + [pa.float64(), pa.int32()]
    table = pa.table({c: pa.array(v, type=t) for c, v, t in zip(cols, data, types)})
    pq.write_table(table, tmp)
    return int(table.num_rows)
