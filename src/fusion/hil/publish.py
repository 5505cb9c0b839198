"""Fused tracks on CAN: :class:`TrackEncoder` (tracks -> frames with the project's own DBC, and
back) and :class:`CanLogSink` (frames -> a log file in any python-can writer format).

The DBCs ship in the package (``fusion/hil/dbc_files/``; layout table in docs/ARCHITECTURE.md,
"Track output on CAN"): ``fusion_tracks.dbc`` (classic CAN, 8-byte frames) and
``fusion_tracks_fd.dbc`` (CAN FD). One cycle is a header frame ``FUSION_TRACKS_HEADER`` (0x600:
cycle counter, timestamp, number of objects) followed by the objects in slots 0..n-1:

- classic: slot k is two frames, ``FUSION_TRACK_A_kk`` (0x610 + k: position and velocity) then
  ``FUSION_TRACK_B_kk`` (0x650 + k: id, length, width, heading, class, existence, status); each
  slot has its own fixed CAN ids (no multiplexer: any DBC tool, and fusion's compiled decode
  path, reads them), and a receiver pairs A and B by slot; 64 slots;
- CAN FD: slot k is one 64-byte frame ``FUSION_TRACK_kk`` (0x610 + k) with everything (plus z
  and height, a 32-bit id and a +-5 km position range); the header carries the full int64
  ``t_ns`` and the number of tracks dropped for lack of slots.

Values, all in the **vehicle frame** (the ``tracks_vehicle`` records): centre x, y [m], velocity
vx, vy [m/s], length, width [m], heading [deg, wrapped to [-180, 180)], class index, existence,
status, track id. Resolution 0.01 m, 0.01 m/s, 0.1 deg, 0.01 existence. Rules (encode never raises
mid-cycle once its arguments are valid):

- a value outside its signal's DBC range [minimum, maximum] is clamped to it and counted in
  ``stats()["clamped"][signal]``;
- NaN is sent as the signal's reserved raw value, named ``INVALID`` in the DBC's value table
  (signed signals: the most negative raw value, e.g. -327.68 m; unsigned: all ones, e.g.
  40.95 m); :meth:`TrackEncoder.decode` turns it back into NaN. Counted in ``stats()["invalid"]``;
- the track id is sent modulo 2**bits of ``TrackId`` (16 classic, 32 FD): engine ids are never
  reused, so a wrapped wire id stays unique for 65536 consecutive tracks; counted in
  ``stats()["id_wrapped"]``;
- the header timestamp: classic ``TimestampUs = (t_ns // 1000) mod 2**40`` (microseconds,
  wraps after 12.7 days), FD ``TimestampNs = t_ns``; the cycle counter is sent modulo 2**bits;
- more tracks than ``max_objects``: the ``max_objects`` nearest to the vehicle origin are sent
  (in their input order), the rest dropped and counted in ``stats()["dropped_objects"]`` (FD: also
  in the header's ``NumDropped``).

Frames are built with cantools' message objects (looked up once at construction: encode does the
scaling, clamping and NaN handling vectorised in numpy and hands cantools raw integers).
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import can
import numpy as np
import numpy.typing as npt

from fusion.errors import ConfigurationError, ShapeError, TimestampError
from fusion.hil.dbc import Message, get_message, load_dbc
from fusion.hil.errors import DbcError, MissingExtraError

__all__ = ["TrackEncoder", "CanLogSink", "package_dbc_path", "check_track_records", "HEADER", "WRITER_SUFFIXES"]

#: Name of the header message in the track DBCs.
HEADER = "FUSION_TRACKS_HEADER"

#: Suffixes :class:`CanLogSink` writes (python-can's ``can.Logger`` picks the writer).
WRITER_SUFFIXES = (".asc", ".blf", ".csv", ".db", ".log", ".mf4", ".trc", ".txt")

# DBC signal name -> role (a key of the per-track value table built in TrackEncoder._values).
_ROLES = {
    "TrackId": "id", "PosX": "x", "PosY": "y", "PosZ": "z", "VelX": "vx", "VelY": "vy",
    "Length": "length", "Width": "width", "Height": "height", "Heading": "heading",
    "Class": "class_id", "Existence": "existence", "Status": "status",
}
_REQUIRED_FIELDS = {"id": 0, "box": 7, "velocity": 2, "class_id": 0, "existence": 0}


def package_dbc_path(fd: bool = False) -> Path:
    """The track DBC shipped in the package: ``fusion_tracks.dbc`` or ``fusion_tracks_fd.dbc``."""
    return Path(__file__).resolve().parent / "dbc_files" / ("fusion_tracks_fd.dbc" if fd else "fusion_tracks.dbc")


def check_track_records(tracks: object, what: str) -> npt.NDArray[Any]:
    """``tracks`` as a 1-D structured array with the engine track-record fields this module reads
    (``id``, ``box`` f8[7], ``velocity`` f8[>=2], ``class_id``, ``existence``); ShapeError naming
    ``what`` otherwise."""
    if not isinstance(tracks, np.ndarray):
        raise ShapeError(f"{what}: expected a numpy structured array of track records "
                         f"(FusionEngine.track_dtype), got {type(tracks).__name__}")
    names = tracks.dtype.names
    if names is None:
        raise ShapeError(f"{what}: expected a structured array of track records (FusionEngine.track_dtype), "
                         f"got dtype {tracks.dtype}")
    if tracks.ndim != 1:
        raise ShapeError(f"{what}: expected a 1-D array of track records, got shape {tracks.shape}")
    for name, width in _REQUIRED_FIELDS.items():
        if name not in names:
            raise ShapeError(f"{what}: track records need the field {name!r} (fields: {', '.join(names)})")
        sub = tracks.dtype.fields[name][0]
        base, shape = sub.base, sub.shape
        numeric = base.kind in "iuf" if name != "id" else base.kind in "iu"
        if not numeric or (width and (len(shape) != 1 or shape[0] < width)) or (not width and shape != ()):
            want = f"a {width}-vector" if width else "a scalar"
            raise ShapeError(f"{what}: field {name!r} must be {want} of {'integers' if name == 'id' else 'numbers'}, "
                             f"got {sub}")
    return tracks


def _load_cached(path: Path) -> Any:
    """The parsed DBC (cantools, strict), shared between encoders of the same unchanged file:
    parsing the 129-message classic DBC takes ~0.3 s, and the encoders only read the database."""
    try:
        st = path.stat()
    except OSError:
        return load_dbc(path, strict=True)  # DbcError naming the file
    return _load_by_key(str(path.resolve()), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=16)
def _load_by_key(path: str, mtime_ns: int, size: int) -> Any:
    return load_dbc(path, strict=True)


@dataclass(frozen=True)
class _Codec:
    """One signal of one message: how a physical value becomes a raw integer."""

    name: str
    role: str
    scale: float
    offset: float
    raw_lo: int  # DBC minimum, as raw
    raw_hi: int  # DBC maximum, as raw
    invalid: int | None  # raw value named INVALID in the value table
    bits: int
    is_float: bool


def _codec(sig: Any, role: str) -> _Codec:
    scale = float(sig.scale)
    offset = float(sig.offset)
    signed = bool(sig.is_signed)
    full_lo = -(1 << (sig.length - 1)) if signed else 0
    full_hi = (1 << (sig.length - 1)) - 1 if signed else (1 << sig.length) - 1
    lo = full_lo if sig.minimum is None else max(full_lo, math.ceil(round((sig.minimum - offset) / scale, 6)))
    hi = full_hi if sig.maximum is None else min(full_hi, math.floor(round((sig.maximum - offset) / scale, 6)))
    invalid = None
    for raw, label in (sig.choices or {}).items():
        if str(label) == "INVALID":
            invalid = int(raw)
    return _Codec(sig.name, role, scale, offset, lo, hi, invalid, int(sig.length), bool(sig.is_float))


@dataclass(frozen=True)
class _Msg:
    frame_id: int
    name: str
    length: int
    extended: bool
    message: Message
    codecs: tuple[_Codec, ...]


def _compile(message: Message) -> _Msg:
    codecs = []
    for sig in message.signals:
        role = _ROLES.get(sig.name)
        if role is not None:
            codecs.append(_codec(sig, role))
    return _Msg(int(message.frame_id), str(message.name), int(message.length), bool(message.is_extended_frame),
                message, tuple(codecs))


class TrackEncoder:
    """Fused tracks -> CAN frames with the project's track DBC (cantools by dependency), and back.

    ``dbc``: a DBC with the layout of the shipped ones (same message and signal names, every
    object slot laid out alike; scales, ranges and bit positions may differ; None: the
    package's ``fusion_tracks.dbc`` or, with ``fd``, ``fusion_tracks_fd.dbc``). ``max_objects``:
    slots used per cycle (at most the DBC's slot count, 64).

    Thread safety: the message tables are immutable after construction and the counters are
    updated under a lock, so ``encode``, ``decode`` and ``stats`` may run concurrently from any
    number of threads (each ``encode`` returns its own list of new messages)."""

    def __init__(self, dbc: str | Path | None = None, *, fd: bool = False, max_objects: int = 64) -> None:
        path = Path(dbc) if dbc is not None else package_dbc_path(fd)
        db = _load_cached(path)
        self.path = path
        self.fd = bool(fd)
        header = get_message(db, HEADER)
        if bool(header.is_fd) != self.fd:
            raise DbcError(f"{path}: {HEADER} is {'' if header.is_fd else 'not '}a CAN FD frame, but fd={fd}")
        slots: list[tuple[_Msg, ...]] = []
        while True:
            k = len(slots)
            names = [f"FUSION_TRACK_{k:02d}"] if self.fd else [f"FUSION_TRACK_A_{k:02d}", f"FUSION_TRACK_B_{k:02d}"]
            try:
                msgs = [db.get_message_by_name(n) for n in names]
            except KeyError:
                break
            slots.append(tuple(_compile(m) for m in msgs))
        if not slots:
            raise DbcError(f"{path}: no object messages ({'FUSION_TRACK_00' if fd else 'FUSION_TRACK_A_00/B_00'})")
        for slot in slots[1:]:  # encode computes each signal once for all slots: one layout
            for m, m0 in zip(slot, slots[0]):
                if (m.length, m.codecs) != (m0.length, m0.codecs):
                    raise DbcError(f"{path}: {m.name} differs from {m0.name} (every object slot must have the "
                                   "same length and signals)")
        if isinstance(max_objects, bool) or not isinstance(max_objects, (int, np.integer)) \
                or not 1 <= max_objects <= len(slots):
            raise ConfigurationError(f"max_objects: expected an integer in [1, {len(slots)}] (the DBC's object "
                                     f"slots), got {max_objects!r}")
        self.max_objects = int(max_objects)
        self._header = _compile(header)
        self._slots = tuple(slots[: self.max_objects])
        self._by_id: dict[int, tuple[int, _Msg]] = {self._header.frame_id: (-1, self._header)}
        for k, msgs_k in enumerate(slots):
            for m in msgs_k:
                self._by_id[m.frame_id] = (k, m)
        self._lock = threading.Lock()
        self._stats: dict[str, Any] = {"cycles": 0, "frames": 0, "objects": 0, "dropped_objects": 0,
                                       "id_wrapped": 0, "clamped": {}, "invalid": {}}

    # -- encode ---------------------------------------------------------------------------------

    def encode(self, cycle_counter: int, t_ns: int, tracks_vehicle: npt.NDArray[Any]) -> list[can.Message]:
        """The frames of one cycle: the header, then each sent track's slot frames (classic: A
        then B). ``tracks_vehicle``: engine track records in the vehicle frame (``id``,
        ``box``, ``velocity``, ``class_id``, ``existence``, optional ``status``). The frames'
        ``timestamp`` is ``t_ns`` in seconds. ShapeError / TimestampError / ConfigurationError
        for bad arguments (nothing is counted then); values are clamped, never refused."""
        tracks = check_track_records(tracks_vehicle, "tracks_vehicle")
        if isinstance(t_ns, (bool, np.bool_)) or not isinstance(t_ns, (int, np.integer)):
            raise TimestampError(f"t_ns: expected an integer number of nanoseconds, got {type(t_ns).__name__} {t_ns!r}")
        if isinstance(cycle_counter, (bool, np.bool_)) or not isinstance(cycle_counter, (int, np.integer)) \
                or cycle_counter < 0:
            raise ConfigurationError(f"cycle_counter: expected a non-negative integer, got {cycle_counter!r}")
        t_ns = int(t_ns)
        n_all = len(tracks)
        if n_all > self.max_objects:
            # keep the nearest (NaN positions last), in input order
            d2 = tracks["box"][:, 0] ** 2 + tracks["box"][:, 1] ** 2
            d2 = np.where(np.isnan(d2), np.inf, d2)
            keep = np.sort(np.argsort(d2, kind="stable")[: self.max_objects])
            tracks = tracks[keep]
        n = len(tracks)
        dropped = n_all - n
        values = self._values(tracks)
        clamped: dict[str, int] = {}
        invalid: dict[str, int] = {}
        id_wrapped = 0
        stamp = t_ns * 1e-9
        out: list[can.Message] = []
        # header
        hdr_values = {"CycleCounter": int(cycle_counter), "NumObjects": n, "NumDropped": dropped,
                      "TimestampUs": t_ns // 1000, "TimestampNs": t_ns}
        raw_hdr: dict[str, int] = {}
        for sig in self._header.message.signals:
            v = hdr_values.get(sig.name, 0)
            if sig.name in ("CycleCounter", "TimestampUs"):
                v %= 1 << sig.length
            elif sig.name in ("NumObjects", "NumDropped"):
                v = min(v, (1 << sig.length) - 1)
            raw_hdr[sig.name] = v
        out.append(self._frame(self._header, raw_hdr, stamp))
        if n:
            per_msg: list[list[dict[str, int]]] = []
            for j in range(len(self._slots[0])):
                cols: dict[str, list[int]] = {}
                for c in self._slots[0][j].codecs:
                    raw, n_clamped, n_invalid, n_wrapped = self._raw(c, values[c.role])
                    cols[c.name] = raw
                    if n_clamped:
                        clamped[c.name] = clamped.get(c.name, 0) + n_clamped
                    if n_invalid:
                        invalid[c.name] = invalid.get(c.name, 0) + n_invalid
                    id_wrapped += n_wrapped
                names = list(cols)
                per_msg.append([dict(zip(names, row)) for row in zip(*cols.values())])
            for k in range(n):
                for j, m in enumerate(self._slots[k]):
                    out.append(self._frame(m, per_msg[j][k], stamp))
        with self._lock:
            s = self._stats
            s["cycles"] += 1
            s["frames"] += len(out)
            s["objects"] += n
            s["dropped_objects"] += dropped
            s["id_wrapped"] += id_wrapped
            for key, counts in (("clamped", clamped), ("invalid", invalid)):
                for name, c_ in counts.items():
                    s[key][name] = s[key].get(name, 0) + c_
        return out

    def _frame(self, m: _Msg, raw: dict[str, int], stamp: float) -> can.Message:
        data = m.message.encode(raw, scaling=False, padding=False, strict=False)
        return can.Message(timestamp=stamp, arbitration_id=m.frame_id, is_extended_id=m.extended, data=data,
                           is_fd=self.fd, bitrate_switch=self.fd, check=False)

    @staticmethod
    def _values(tracks: npt.NDArray[Any]) -> dict[str, npt.NDArray[Any]]:
        box = np.asarray(tracks["box"], dtype=np.float64)
        vel = np.asarray(tracks["velocity"], dtype=np.float64)
        yaw = box[:, 3]
        heading = np.degrees(np.mod(yaw + np.pi, 2 * np.pi) - np.pi)  # [-180, 180); NaN stays NaN
        names = tracks.dtype.names or ()
        status = tracks["status"] if "status" in names else np.ones(len(tracks), dtype=np.int64)
        return {"id": np.asarray(tracks["id"], dtype=np.int64), "x": box[:, 0], "y": box[:, 1], "z": box[:, 2],
                "vx": vel[:, 0], "vy": vel[:, 1], "heading": heading, "length": box[:, 4], "width": box[:, 5],
                "height": box[:, 6], "class_id": np.asarray(tracks["class_id"], dtype=np.float64),
                "existence": np.asarray(tracks["existence"], dtype=np.float64),
                "status": np.asarray(status, dtype=np.float64)}

    @staticmethod
    def _raw(c: _Codec, v: npt.NDArray[Any]) -> tuple[list[int], int, int, int]:
        """Raw integers of one signal for all tracks, and the counts (clamped, NaN, id wrapped)."""
        if c.role == "id":
            mod = 1 << c.bits
            wrapped = int(np.count_nonzero((v < 0) | (v >= mod)))
            return [int(x) % mod for x in v.tolist()], 0, 0, wrapped
        nan = np.isnan(v)
        with np.errstate(invalid="ignore"):
            r = np.rint((v - c.offset) / c.scale)
            over = (r < c.raw_lo) | (r > c.raw_hi)
        r = np.clip(np.where(nan, c.raw_lo, r), c.raw_lo, c.raw_hi)
        n_nan = int(np.count_nonzero(nan))
        if n_nan:
            r[nan] = c.invalid if c.invalid is not None else c.raw_lo
        return r.astype(np.int64).tolist(), int(np.count_nonzero(over & ~nan)), n_nan, 0

    # -- decode ---------------------------------------------------------------------------------

    def decode(self, msgs: Iterable[can.Message]) -> list[dict[str, Any]]:
        """Cycles back from frames (for tests and recorders), one dict per header frame:
        ``cycle_counter``, ``t_ns`` (classic: ``TimestampUs * 1000``, i.e. modulo 2**40 us),
        ``num_objects``, ``num_dropped`` (FD; None classic), ``complete`` (every slot below
        ``num_objects`` arrived whole, once), ``bad_frames`` (object frames of this cycle whose
        length is not the DBC's: skipped; a header of the wrong length is skipped uncounted)
        and ``tracks``: a list (slot order) of dicts ``id, x, y,
        vx, vy, yaw`` [rad] ``, length, width, class_id, existence, status`` (FD also ``z,
        height``), NaN where the frame carries the INVALID value. Frames of other ids, object
        frames before the first header and slots at or above ``num_objects`` are ignored."""
        cycles: list[dict[str, Any]] = []
        slots: dict[int, dict[str, Any]] = {}
        parts: dict[int, int] = {}
        per_slot = len(self._slots[0]) if self._slots else 1

        def finish() -> None:
            cyc = cycles[-1]
            n = cyc["num_objects"]
            cyc["tracks"] = [slots[k] for k in sorted(slots) if k < n]
            cyc["complete"] = all(parts.get(k, 0) == per_slot for k in range(n))

        for msg in msgs:
            hit = self._by_id.get(int(msg.arbitration_id))
            if hit is None:
                continue
            k, m = hit
            data = bytes(msg.data)
            if len(data) != m.length:
                if cycles and k >= 0:
                    cycles[-1]["bad_frames"] += 1
                continue
            raw = m.message.decode(data, decode_choices=False, scaling=False)
            if k < 0:
                if cycles:
                    finish()
                slots, parts = {}, {}
                t = int(raw["TimestampNs"]) if "TimestampNs" in raw else int(raw["TimestampUs"]) * 1000
                cycles.append({"cycle_counter": int(raw["CycleCounter"]), "t_ns": t,
                               "num_objects": int(raw["NumObjects"]),
                               "num_dropped": int(raw["NumDropped"]) if "NumDropped" in raw else None,
                               "bad_frames": 0})
                continue
            if not cycles:
                continue
            track = slots.setdefault(k, {})
            parts[k] = parts.get(k, 0) + 1
            for c in m.codecs:
                r = raw[c.name]
                if c.invalid is not None and r == c.invalid:
                    value: float | int = math.nan
                elif c.role in ("id", "class_id", "status"):
                    value = int(r)
                else:
                    value = r * c.scale + c.offset
                key = c.role
                if key == "heading":
                    key, value = "yaw", math.radians(value)
                track[key] = value
        if cycles:
            finish()
        return cycles

    def stats(self) -> dict[str, Any]:
        """A copy of the counters: ``cycles``, ``frames``, ``objects`` (sent), ``dropped_objects``,
        ``id_wrapped``, ``clamped`` and ``invalid`` (per signal name)."""
        with self._lock:
            s = dict(self._stats)
            s["clamped"] = dict(s["clamped"])
            s["invalid"] = dict(s["invalid"])
            return s

    @property
    def frame_ids(self) -> tuple[int, ...]:
        """CAN ids this encoder sends (header first, then the used slots' frames)."""
        return (self._header.frame_id,) + tuple(m.frame_id for slot in self._slots for m in slot)


class CanLogSink:
    """CAN frames -> a log file in any python-can writer format, picked by the suffix through
    ``can.Logger``: .asc, .blf, .csv, .db (SQLite), .log (candump), .trc, .txt (printer), .mf4
    (the ``mf4`` extra: asammdf). Use as a context manager or call :meth:`close`. Keyword
    arguments go to the writer. What survives a read back with ``can.LogReader``: ids, data and
    timestamps in every format (ASC: relative to the first frame); the CAN FD flag in .blf,
    .asc, .log and .mf4 only (.csv and .db keep the 64 data bytes but not the flag); .trc takes
    no FD frames. .blf, .log, .csv and .db files are byte-identical for identical frames (the
    deterministic replay's ``tracks.blf``); .asc, .trc and .mf4 headers carry the writing time.

    Thread safety: ``write`` and ``close`` take an internal lock, so several threads may write
    (frames of one ``write`` call stay together); after ``close`` a ``write`` raises
    :class:`ConfigurationError`."""

    def __init__(self, path: str | Path, **kwargs: Any) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in WRITER_SUFFIXES:
            raise ConfigurationError(f"{self.path}: unknown CAN log suffix {suffix!r}; known: "
                                     f"{', '.join(WRITER_SUFFIXES)}")
        if suffix == ".mf4":
            try:
                import asammdf  # noqa: F401
            except ImportError:
                raise MissingExtraError(f"{self.path}: MF4 logs need asammdf: pip install 'fusion[mf4]'") from None
        self._lock = threading.Lock()
        self._logger: Any = can.Logger(str(self.path), **kwargs)
        self.frames = 0

    def write(self, msgs: Sequence[can.Message] | Iterable[can.Message]) -> None:
        """Append ``msgs`` (in order). ConfigurationError, writing nothing, for CAN FD frames to
        a .trc file (python-can's TRC writer cannot log them)."""
        msgs = list(msgs)
        if self.path.suffix.lower() == ".trc":
            for m in msgs:
                if m.is_fd:
                    raise ConfigurationError(f"{self.path}: python-can's TRC writer cannot log CAN FD frames "
                                             f"(CAN id 0x{m.arbitration_id:X} at {m.timestamp:.6f} s); use .blf, "
                                             ".asc, .log or .mf4")
        with self._lock:
            if self._logger is None:
                raise ConfigurationError(f"{self.path}: write after close")
            for m in msgs:
                self._logger.on_message_received(m)
                self.frames += 1

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        with self._lock:
            if self._logger is not None:
                self._logger.stop()
                self._logger = None

    def __enter__(self) -> CanLogSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
