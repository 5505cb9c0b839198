"""Base class of the CAN decoders: a decoder consumes the frames of its messages, in time order,
and emits outputs (a measurement cycle, an ego-motion sample) when they are complete.

A decoded signal outside its DBC [minimum, maximum] (half a scale step of slack) in a frame whose
values the decoder uses (an object list: valid objects only; an invalid slot's placeholder, such
as the RAV4 radar's 327.64 m, is not checked) is counted in ``stats["out_of_range"]`` and
``out_of_range[frame_id]`` with its value kept (lenient: opendbc ranges are not always what a
sensor sends), or raises :class:`CanFrameError` naming the message, signal, value and range
(``strict=True``).  A DBC range of [0|0] means none (the DBC convention); a DBC whose ranges are
wrong (opendbc's generated Toyota DBC gives raw ranges such as [0|65535] for a signed physical
value) is read with ``check_ranges = false`` in the decoder's configuration.

A decoder is configured by a mapping (a rig file's table) naming DBC messages and signals; its
signal layout is compiled once through :class:`fusion.hil.canfast.CompiledDbc`, so per frame it
does one compiled decode and a few array writes.  Bad frames are counted in ``stats`` (lenient,
the default) or raise :class:`CanFrameError` (``strict=True``).

Thread safety: a decoder holds the state of the cycle being assembled; feed one decoder from one
thread at a time (distinct decoders are independent).  ``feed`` or ``flush`` called while another
thread is inside one of them on the same decoder raises :class:`~fusion.errors.ConcurrentUseError`
and changes nothing (enforced for every subclass); ``stats`` and the counters may be read from any
thread (copy them with ``dict(...)``).
"""

from __future__ import annotations

import functools
import math
import threading
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fusion.errors import ConcurrentUseError, ConfigurationError
from fusion.hil.canfast import UNKNOWN_ID, WRONG_LENGTH, CompiledDbc
from fusion.hil.dbc import Database
from fusion.hil.errors import CanFrameError

__all__ = ["Decoder", "UNITS", "config_number", "unit_scale"]

#: Unit names a configuration may give for a signal, and the factor to SI (m/s, rad/s, m).
UNITS: dict[str, float] = {
    "m/s": 1.0, "km/h": 1.0 / 3.6, "mph": 0.44704, "rad/s": 1.0, "deg/s": math.pi / 180.0,
    "m": 1.0, "rad": 1.0, "deg": math.pi / 180.0, "1": 1.0,
}


def unit_scale(where: str, unit: Any) -> float:
    if unit not in UNITS:
        raise ConfigurationError(f"{where}: unknown unit {unit!r}; expected one of {', '.join(UNITS)}")
    return UNITS[unit]


def config_number(where: str, value: Any) -> float:
    """A finite number from a configuration table; ConfigurationError naming ``where`` otherwise
    (a string, a bool, NaN or inf: a NaN scale would turn every decoded value into NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigurationError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _refuse(self: Decoder, what: str) -> ConcurrentUseError:
    return ConcurrentUseError(f"{type(self).__name__}.{what}: another thread is feeding this decoder; feed one "
                              "decoder from one thread (use one decoder per thread)")


def _one_feeder(fn: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
    """``fn`` (a decoder's feed or flush) refusing a second thread with ConcurrentUseError; the
    same thread may re-enter (a subclass's feed calling its parent's). Explicit signatures (no
    *args packing): this wraps the per-frame call of every replay."""
    if fn.__name__ == "feed":
        @functools.wraps(fn)
        def feed(self: Decoder, t_ns: int, frame_id: int, data: bytes) -> list[Any]:
            lock = self._feeding
            if not lock.acquire(False):
                raise _refuse(self, "feed")
            try:
                return fn(self, t_ns, frame_id, data)
            finally:
                lock.release()

        guarded = feed
    else:
        @functools.wraps(fn)
        def other(self: Decoder, *args: Any, **kwargs: Any) -> list[Any]:
            lock = self._feeding
            if not lock.acquire(False):
                raise _refuse(self, fn.__name__)
            try:
                return fn(self, *args, **kwargs)
            finally:
                lock.release()

        guarded = other
    guarded._one_feeder = True  # type: ignore[attr-defined]
    return guarded


class Decoder(ABC):
    """One decoder instance per sensor (or per vehicle bus).

    Thread safety: see the module docstring (one feeding thread, enforced)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("feed", "flush"):
            fn = cls.__dict__.get(name)
            if fn is not None and not getattr(fn, "_one_feeder", False):
                setattr(cls, name, _one_feeder(fn))

    def __init__(self, db: Database, config: Mapping[str, Any], *, strict: bool = False) -> None:
        self._feeding = threading.RLock()  # held by the one feeding call (never waited on: refused)
        self.config = dict(config)
        self.strict = strict
        self.stats: Counter[str] = Counter()
        self.wrong_length: Counter[int] = Counter()
        self.out_of_range: Counter[int] = Counter()  # frames with a signal outside its DBC range, by id
        check = self.config.get("check_ranges", True)
        if not isinstance(check, bool):
            raise ConfigurationError(f"{type(self).__name__} check_ranges: expected true or false, got {check!r}")
        self._check_ranges = check
        self._compiled = CompiledDbc(db, self.message_names())
        self._buf = self._compiled.scratch  # written by decode_scratch: one decoder, one thread

    @abstractmethod
    def message_names(self) -> Iterable[str]:
        """DBC message names this decoder consumes (read from its configuration)."""

    @property
    def frame_ids(self) -> frozenset[int]:
        return frozenset(int(i) for i in self._compiled.frame_ids)

    def _decode(self, t_ns: int, frame_id: int, data: bytes) -> int:
        """Decode into self._buf; returns the message index, or -1 when the frame is skipped."""
        self.stats["frames"] += 1
        m = self._compiled.decode_scratch(frame_id, data)  # CanFrameError for a bad id or payload type
        if m >= 0:
            self.stats["decoded"] += 1
            return m
        if m == UNKNOWN_ID:
            self.stats["unknown_id"] += 1
            if self.strict:
                raise CanFrameError(frame_id, t_ns, f"not a message of this {type(self).__name__}")
        elif m == WRONG_LENGTH:
            self.stats["wrong_length"] += 1
            self.wrong_length[frame_id] += 1
            if self.strict:
                msg = self._compiled.messages[self._compiled.index(frame_id)]
                raise CanFrameError(frame_id, t_ns,
                                    f"{msg.name}: expected {msg.length} data bytes, but got {len(data)}")
        return -1

    def _check_range(self, t_ns: int, frame_id: int, m: int) -> None:
        """After a successful _decode: a signal outside its DBC range is counted (the value is
        kept) or, strict, raises CanFrameError naming message, signal, value and range.  A
        decoder calls it for the frames whose values it uses (an object list: valid objects)."""
        if not self._check_ranges:
            return
        bad = self._compiled.out_of_range(m)
        if bad < 0:
            return
        self.stats["out_of_range"] += 1
        self.out_of_range[frame_id] += 1
        if self.strict:
            msg = self._compiled.messages[m]
            lo, hi = self._compiled.signal_range(m, bad)
            raise CanFrameError(frame_id, t_ns, f"{msg.name}.{msg.signals[bad].name} = {float(self._buf[bad])!r} "
                                f"is outside its DBC range [{lo}, {hi}]")

    @abstractmethod
    def feed(self, t_ns: int, frame_id: int, data: bytes) -> list[Any]:
        """Consume one frame (time order); returns the outputs it completes (often none)."""

    def flush(self) -> list[Any]:
        """End of input: the outputs still pending (e.g. the last, possibly cut-off cycle)."""
        return []
