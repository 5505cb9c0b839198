"""Generic DBC object-list decoder (registry key ``dbc_object_list``): a radar or camera that sends
its objects as CAN messages, assembled into one measurement cycle of numpy arrays.

Two layouts, configured by message and signal names:

* fixed slots: ``slots = {messages = "TRACK_A_{i}", count = 16}`` (or ``messages = [names]``):
  one message per object slot.  A cycle ends when every slot has arrived, or when a slot
  arrives a second time (the rest of that cycle was not sent; it is emitted as incomplete).
* header + objects: ``header = {message = "OBJ_HDR", count = "NUM_OBJECTS"}`` and
  ``objects = {message = "OBJ"}``: a header frame announces N object frames of one message.  A
  cycle ends after N objects, or when the next header arrives first (emitted as cut off,
  ``stats["cut_cycles"]``).  Objects beyond N or without a header are counted and dropped.

``fields`` maps output names to signals: ``x = "LONG_DIST"`` or ``y = {signal = "LAT_DIST",
scale = -1.0, offset = 0.0, unit = "m"}`` (value * unit factor * scale + offset).  Typical outputs
are ``x``/``y`` (vehicle-frame metres, for an object list) or ``range``/``azimuth``/``range_rate``
(for a detection radar); ``polar_from_xy = true`` adds ``range`` and ``azimuth`` (rad, counter-
clockwise) computed from ``x``/``y``.  ``valid = "VALID"`` keeps only objects whose signal is
non-zero.  A cycle's ``t_ns`` is the time of its last frame (when it was complete).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fusion.errors import ConfigurationError, TimestampError
from fusion.hil.dbc import Database
from fusion.hil.decoders.base import Decoder, config_number, unit_scale

__all__ = ["ObjectCycle", "ObjectListDecoder"]


@dataclass
class ObjectCycle:
    """One assembled measurement cycle (valid objects only, in arrival order)."""

    t_ns: int
    fields: dict[str, npt.NDArray[np.float64]]
    frame_t_ns: npt.NDArray[np.int64]  # arrival time of each object's frame
    can_id: npt.NDArray[np.uint32]  # frame id of each object's frame
    slot: npt.NDArray[np.int32]  # slot index (fixed slots) or position after the header
    complete: bool = True  # False: cut off (a slot repeated, a header came early, end of input)
    expected: int | None = None  # the header's object count (header layout)
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.frame_t_ns.shape[0])


#: Largest ``max_objects`` (a header's object count is one CAN signal; 65536 covers 16 bits).
_MAX_OBJECTS = 65536


def _sig_spec(where: str, spec: Any) -> tuple[str, float, float]:
    if isinstance(spec, str):
        return spec, 1.0, 0.0
    if not isinstance(spec, Mapping) or not isinstance(spec.get("signal"), str):
        raise ConfigurationError(f"{where}: expected a signal name or {{signal = NAME, scale, offset, unit}}, "
                                 f"but got {spec!r}")
    unknown = set(spec) - {"signal", "scale", "offset", "unit"}
    if unknown:
        raise ConfigurationError(f"{where}: unknown key(s) {sorted(unknown)}; expected signal, scale, offset, unit")
    scale = config_number(f"{where}.scale", spec.get("scale", 1.0)) * unit_scale(where, spec.get("unit", "1"))
    return spec["signal"], scale, config_number(f"{where}.offset", spec.get("offset", 0.0))


class ObjectListDecoder(Decoder):
    """See the module docstring for the configuration."""

    def __init__(self, db: Database, config: Mapping[str, Any], *, strict: bool = False) -> None:
        known = {"slots", "header", "objects", "fields", "valid", "polar_from_xy", "max_objects", "check_ranges"}
        unknown = set(config) - known
        if unknown:
            raise ConfigurationError(f"dbc_object_list: unknown key(s) {sorted(unknown)}; expected {sorted(known)}")
        if ("slots" in config) == ("header" in config):
            raise ConfigurationError("dbc_object_list: give exactly one of 'slots' (fixed slots) or 'header' "
                                     "(+ 'objects')")
        if "slots" in config:
            slots = config["slots"]
            names = slots.get("messages") if isinstance(slots, Mapping) else None
            if isinstance(names, str):
                count = slots.get("count")
                # bounded by the DBC (each slot is one of its messages): 10**9 would build 10**9 names
                if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= len(db.messages):
                    raise ConfigurationError(f"dbc_object_list.slots.count: expected an integer in [1, "
                                             f"{len(db.messages)}] (the DBC's messages), got {count!r}")
                names = [names.format(i=i) for i in range(count)]
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                raise ConfigurationError("dbc_object_list.slots: expected {messages = \"NAME_{i}\", count = N} "
                                         f"or {{messages = [names]}}, got {slots!r}")
            self._object_messages: list[str] = names
            self._header: tuple[str, str] | None = None
            self._capacity = len(names)
        else:
            hdr, objs = config["header"], config.get("objects")
            if not isinstance(hdr, Mapping) or not isinstance(hdr.get("message"), str) or not isinstance(
                    hdr.get("count"), str):
                raise ConfigurationError("dbc_object_list.header: expected {message = NAME, count = SIGNAL}, "
                                         f"got {hdr!r}")
            if not isinstance(objs, Mapping) or not isinstance(objs.get("message"), str):
                raise ConfigurationError(f"dbc_object_list.objects: expected {{message = NAME}}, got {objs!r}")
            self._header = (hdr["message"], hdr["count"])
            self._object_messages = [objs["message"]]
            cap = config.get("max_objects", 256)
            if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= _MAX_OBJECTS:
                raise ConfigurationError(f"dbc_object_list.max_objects: expected an integer in [1, {_MAX_OBJECTS}], "
                                         f"got {cap!r}")
            self._capacity = cap
        fields = config.get("fields")
        if not isinstance(fields, Mapping) or not fields:
            raise ConfigurationError("dbc_object_list.fields: expected a table of output name -> signal")
        self._fields = [(str(k), *_sig_spec(f"dbc_object_list.fields.{k}", v)) for k, v in fields.items()]
        self._valid: str | None = config.get("valid")
        self._polar = bool(config.get("polar_from_xy", False))
        if self._polar and not {"x", "y"} <= {f[0] for f in self._fields}:
            raise ConfigurationError("dbc_object_list.polar_from_xy needs fields 'x' and 'y'")
        super().__init__(db, config, strict=strict)
        c = self._compiled
        # Per object message: the columns of the fields (and valid) in its decoded values.
        self._cols: dict[int, npt.NDArray[np.intp]] = {}
        self._slot_of: dict[int, int] = {}
        for k, name in enumerate(self._object_messages):
            sigs = [f[1] for f in self._fields] + ([self._valid] if self._valid else [])
            self._cols[c.index(self._frame_id(name))] = np.array(
                [c.column(name, s) for s in sigs], dtype=np.intp)
            self._slot_of[self._frame_id(name)] = k
        self._scale = np.array([f[2] for f in self._fields], dtype=np.float64)
        self._offset = np.array([f[3] for f in self._fields], dtype=np.float64)
        if self._header is not None:
            self._header_id = self._frame_id(self._header[0])
            self._count_col = c.column(self._header[0], self._header[1])
        ncol = len(self._fields) + (1 if self._valid else 0)
        self._rows = np.empty((self._capacity, ncol), dtype=np.float64)
        self._row_t = np.empty(self._capacity, dtype=np.int64)
        self._row_id = np.empty(self._capacity, dtype=np.uint32)
        self._row_slot = np.empty(self._capacity, dtype=np.int32)
        self._n = 0
        self._seen = np.zeros(self._capacity, dtype=bool)
        self._expected: int | None = None
        self._open = False  # a header has started a cycle (header layout)
        self._last_t = 0

    def _frame_id(self, name: str) -> int:
        return int(next(m.frame_id for m in self._compiled.messages if m.name == name))

    def message_names(self) -> Iterable[str]:
        return list(self._object_messages) + ([self._header[0]] if self._header else [])

    def _emit(self, t_ns: int, complete: bool) -> ObjectCycle:
        n = self._n
        rows = self._rows[:n]
        keep = rows[:, -1] != 0.0 if self._valid else np.ones(n, dtype=bool)
        nf = len(self._fields)
        vals = rows[keep, :nf] * self._scale + self._offset
        out = {name: vals[:, j].copy() for j, (name, *_rest) in enumerate(self._fields)}
        if self._polar:
            out["range"] = np.hypot(out["x"], out["y"])
            out["azimuth"] = np.arctan2(out["y"], out["x"])
        cycle = ObjectCycle(t_ns, out, self._row_t[:n][keep].copy(), self._row_id[:n][keep].copy(),
                            self._row_slot[:n][keep].copy(), complete, self._expected)
        self.stats["cycles"] += 1
        if not complete:
            self.stats["cut_cycles"] += 1
        self._n = 0
        self._seen[:] = False
        self._expected = None
        self._open = False
        return cycle

    def _append(self, t_ns: int, frame_id: int, m: int, slot: int) -> None:
        k = self._n
        self._rows[k] = self._buf[self._cols[m]]
        self._row_t[k] = t_ns
        self._row_id[k] = frame_id
        self._row_slot[k] = slot
        self._n = k + 1

    def feed(self, t_ns: int, frame_id: int, data: bytes) -> list[Any]:
        if not -(2 ** 63) <= t_ns < 2 ** 63:  # checked first: a refused frame changes nothing
            raise TimestampError(f"t_ns: {t_ns} is outside int64 (CAN id 0x{frame_id:X})")
        m = self._decode(t_ns, frame_id, data)
        if m < 0:
            return []
        cols = self._cols.get(m)
        if cols is None or not self._valid or self._buf[cols[-1]] != 0.0:  # a header, or a valid object
            self._check_range(t_ns, frame_id, m)
        out: list[Any] = []
        if self._header is None:  # fixed slots
            slot = self._slot_of[frame_id]
            if self._seen[slot]:  # the slot repeats: the previous cycle was cut short
                out.append(self._emit(self._last_t, complete=False))
            self._seen[slot] = True
            self._append(t_ns, frame_id, m, slot)
            self._last_t = t_ns
            if self._n == self._capacity:
                out.append(self._emit(t_ns, complete=True))
            return out
        if frame_id == self._header_id:
            if self._open:
                out.append(self._emit(self._last_t, complete=False))
            count = self._buf[self._count_col]
            if not (count >= 0 and count == math.floor(count) and count <= self._capacity):
                self.stats["bad_header_count"] += 1
                return out
            self._expected = int(count)
            self._open = True
            self._last_t = t_ns
            if self._expected == 0:
                out.append(self._emit(t_ns, complete=True))
            return out
        if not self._open or self._expected is None or self._n >= self._expected:
            self.stats["orphan_objects"] += 1
            return out
        self._append(t_ns, frame_id, m, self._n)
        self._last_t = t_ns
        if self._n == self._expected:
            out.append(self._emit(t_ns, complete=True))
        return out

    def flush(self) -> list[Any]:
        if self._n or self._open:
            return [self._emit(self._last_t, complete=False)]
        return []
