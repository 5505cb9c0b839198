"""The compiled CAN decode fast path: a DBC's signal layouts compiled once into flat tables that
the Cython module ``fusion.hil._candecode`` decodes without touching Python objects.

Values equal cantools' ``Database.decode_message(frame_id, data, decode_choices=False)`` (scaling
on) bit for bit: the same bit positions, sign extension, IEEE float reinterpretation and the
same ``raw * scale + offset`` in double precision.  Signals longer than 53 bits lose precision
in float64 exactly as cantools' float result does; an integer-scaled signal above 2**53 (where
cantools keeps a Python int) is rounded to the nearest double.  Multiplexed messages are refused
with a :class:`DbcError` (not supported by the compiled path yet).

Thread safety: a CompiledDbc's tables are immutable after construction; ``decode``,
``decode_into`` and ``decode_batch`` may run concurrently from any number of threads
(decode_batch releases the GIL; each call writes only the arrays it is given or returns).
``decode_scratch`` writes the object's one scratch buffer: one thread at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fusion.hil import _candecode
from fusion.hil.dbc import Database, Message
from fusion.hil.errors import CanFrameError, DbcError

__all__ = ["CompiledDbc", "BatchResult", "pack_frames", "UNKNOWN_ID", "WRONG_LENGTH"]

UNKNOWN_ID: int = _candecode.UNKNOWN_ID
WRONG_LENGTH: int = _candecode.WRONG_LENGTH


@dataclass(frozen=True)
class BatchResult:
    """Output of :meth:`CompiledDbc.decode_batch`.

    ``values[i, :k]`` are frame i's signals in the order of ``CompiledDbc.signal_names(status[i])``
    (NaN after them and on failed frames); ``status[i]`` is the message index in the compiled
    table, or UNKNOWN_ID (-1) / WRONG_LENGTH (-2)."""

    values: npt.NDArray[np.float64]
    status: npt.NDArray[np.int32]


def _check_frame_id(frame_id: object) -> None:
    """CanFrameError unless ``frame_id`` is an integer in [0, 2**32) (the compiled table's range)."""
    if isinstance(frame_id, (bool, np.bool_)) or not isinstance(frame_id, (int, np.integer)):
        raise CanFrameError(0, None, f"frame id: expected an integer, got {frame_id!r}")
    if not 0 <= int(frame_id) < 2**32:
        raise CanFrameError(int(frame_id) & 0xFFFFFFFF, None, f"frame id {int(frame_id)} is outside [0, 2**32)")


def _exact(values: npt.ArrayLike, dtype: type[np.integer[Any]], what: str, kind: str) -> npt.NDArray[Any]:
    """``values`` as a contiguous ``dtype`` array; CanFrameError instead of a silent wrap or cut
    (a frame id of 2**32 + k decoded as k, a byte of 300 as 44, a byte of 1.7 as 1)."""
    try:
        a = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise CanFrameError(0, None, f"decode_batch: {what}: expected {kind}: {exc}") from None
    if a.size and a.dtype != dtype:
        info = np.iinfo(dtype)
        if a.dtype.kind not in "iu" or a.min() < info.min or a.max() > info.max:
            raise CanFrameError(0, None, f"decode_batch: {what}: expected {kind} (integers in [{info.min}, "
                                f"{info.max}]), got dtype {a.dtype}" + (
                                    f" with values in [{a.min()}, {a.max()}]" if a.dtype.kind in "iuf" else ""))
    return np.ascontiguousarray(a, dtype=dtype)


def _msb0(start: int) -> int:
    """DBC sawtooth start bit of a big-endian signal (its MSB) -> msb0 bit index."""
    return 8 * (start // 8) + (7 - start % 8)


class CompiledDbc:
    """The messages of a cantools database (all, or those named/with the given frame ids),
    compiled for :mod:`fusion.hil._candecode`."""

    def __init__(self, db: Database, messages: Iterable[str | int] | None = None) -> None:
        if messages is None:
            chosen: list[Message] = list(db.messages)
        else:
            chosen = []
            for key in messages:
                try:
                    chosen.append(db.get_message_by_frame_id(key) if isinstance(key, int)
                                  else db.get_message_by_name(key))
                except KeyError:
                    raise DbcError(f"message {key!r} is not in the DBC") from None
        chosen.sort(key=lambda m: m.frame_id)
        for a, b in zip(chosen, chosen[1:]):
            if a.frame_id == b.frame_id:
                raise DbcError(f"messages {a.name} and {b.name} share frame id 0x{a.frame_id:X} "
                               "(standard and extended): compile them separately")
        cols: dict[str, list[Any]] = {k: [] for k in ("start", "length", "big", "signed", "float", "scale", "offset",
                                                      "lo", "hi")}
        sig_begin = [0]
        self._names: list[tuple[str, ...]] = []
        for msg in chosen:
            if msg.is_multiplexed():
                raise DbcError(f"message {msg.name} (0x{msg.frame_id:X}) is multiplexed: the compiled "
                               "decoder does not support multiplexed signals; decode it with cantools")
            if not 0 < msg.length <= 64:
                raise DbcError(f"message {msg.name}: payload length {msg.length} is not in 1..64 bytes")
            for sig in msg.signals:
                big = sig.byte_order == "big_endian"
                if sig.is_float and sig.length not in (32, 64):
                    raise DbcError(f"{msg.name}.{sig.name}: float signal of {sig.length} bits")
                if not 0 < sig.length <= 64:
                    raise DbcError(f"{msg.name}.{sig.name}: {sig.length} bits is not in 1..64")
                cols["start"].append(_msb0(sig.start) if big else sig.start)
                cols["length"].append(sig.length)
                cols["big"].append(int(big))
                cols["signed"].append(int(sig.is_signed))
                cols["float"].append(int(sig.is_float))
                cols["scale"].append(float(sig.scale))
                cols["offset"].append(float(sig.offset))
                # the DBC's [minimum, maximum], widened by half a step so that a value at a bound
                # (raw * scale + offset rounds) is inside; none given: unbounded
                # ([0|0] is the DBC's "no range")
                half = 0.5 * abs(float(sig.scale))
                unset = sig.minimum in (None, 0) and sig.maximum in (None, 0)
                cols["lo"].append(-math.inf if unset or sig.minimum is None else float(sig.minimum) - half)
                cols["hi"].append(math.inf if unset or sig.maximum is None else float(sig.maximum) + half)
            sig_begin.append(len(cols["start"]))
            self._names.append(tuple(s.name for s in msg.signals))
        self.messages: tuple[Message, ...] = tuple(chosen)
        self.frame_ids = np.array([m.frame_id for m in chosen], dtype=np.uint32)
        self._index = {int(fid): i for i, fid in enumerate(self.frame_ids)}
        i32 = np.int32
        try:
            self._table = _candecode.SignalTable(
                self.frame_ids, np.array([m.length for m in chosen], dtype=i32), np.array(sig_begin, dtype=i32),
                np.array(cols["start"], dtype=i32), np.array(cols["length"], dtype=i32),
                np.array(cols["big"], dtype=i32), np.array(cols["signed"], dtype=i32),
                np.array(cols["float"], dtype=i32), np.array(cols["scale"], dtype=np.float64),
                np.array(cols["offset"], dtype=np.float64))
        except ValueError as exc:  # a signal outside its message's payload
            raise DbcError(f"DBC layout cannot be compiled: {exc}") from exc
        self._table.set_ranges(np.array(cols["lo"], dtype=np.float64), np.array(cols["hi"], dtype=np.float64))
        self.max_signals: int = max((len(n) for n in self._names), default=0)
        self.max_length: int = max((m.length for m in chosen), default=0)

    def index(self, frame_id: int) -> int:
        """Message index of ``frame_id`` in this table, or -1."""
        return self._index.get(frame_id, -1)

    def signal_names(self, index: int) -> tuple[str, ...]:
        """The signal names of message ``index``, in the order of the decoded values."""
        return self._names[index]

    def column(self, message: str | int, signal: str) -> int:
        """Column of ``signal`` in the decoded values of ``message`` (name or frame id)."""
        i = self._index.get(message, -1) if isinstance(message, int) else next(
            (k for k, m in enumerate(self.messages) if m.name == message), -1)
        if i < 0:
            raise DbcError(f"message {message!r} is not compiled here")
        try:
            return self._names[i].index(signal)
        except ValueError:
            raise DbcError(f"signal {signal!r} is not in message {self.messages[i].name} "
                           f"(signals: {', '.join(self._names[i])})") from None

    def decode_into(self, frame_id: int, data: bytes | bytearray | memoryview,
                    out: npt.NDArray[np.float64]) -> int:
        """Decode one frame into ``out`` (float64, at least max_signals long) without allocating;
        returns the message index, UNKNOWN_ID or WRONG_LENGTH.  A frame id that is not an integer
        in [0, 2**32) or a payload that is not bytes raises :class:`CanFrameError`."""
        _check_frame_id(frame_id)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise CanFrameError(frame_id, None, f"data: expected bytes, got {type(data).__name__}")
        if not (isinstance(out, np.ndarray) and out.dtype == np.float64 and out.ndim == 1
                and out.shape[0] >= self.max_signals):
            raise CanFrameError(frame_id, None, f"out: expected a 1-D float64 array of >= {self.max_signals} "
                                f"values, got {getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}")
        return int(self._table.decode_one(frame_id, np.frombuffer(data, dtype=np.uint8), out))

    @property
    def scratch(self) -> npt.NDArray[np.float64]:
        """The buffer :meth:`decode_scratch` writes (max_signals long; one per CompiledDbc)."""
        scratch: npt.NDArray[np.float64] = self._table.scratch
        return scratch

    def out_of_range(self, index: int) -> int:
        """After :meth:`decode_scratch` returned ``index``: the position (in :meth:`signal_names`
        order) of the first decoded signal outside its DBC [minimum, maximum] (half a scale step
        of slack), or -1."""
        return int(self._table.check_range(index))

    def signal_range(self, index: int, position: int) -> tuple[float | None, float | None]:
        """The DBC's [minimum, maximum] of a message's signal (None where the DBC gives none)."""
        sig = self.messages[index].signals[position]
        return sig.minimum, sig.maximum

    def decode_scratch(self, frame_id: int, data: bytes | bytearray | memoryview) -> int:
        """The fastest per-frame call: decode into :attr:`scratch` (shared: not for concurrent
        use on one CompiledDbc); returns the message index, UNKNOWN_ID or WRONG_LENGTH."""
        try:
            return int(self._table.decode_scratch(frame_id, data))  # type: ignore[arg-type]  # bytes only: see below
        except (OverflowError, TypeError):  # the checks cost nothing on the good path
            _check_frame_id(frame_id)
            if isinstance(data, (bytearray, memoryview)):  # python-can's Message.data is a bytearray
                return int(self._table.decode_scratch(frame_id, bytes(data)))
            raise CanFrameError(frame_id, None, f"data: expected bytes, got {type(data).__name__}") from None

    def decode(self, frame_id: int, data: bytes | bytearray | memoryview, *,
               t_ns: int | None = None) -> dict[str, float]:
        """Decode one frame into {signal: value}; like cantools ``decode_message`` (the same
        values, as floats).  An unknown id or a payload length other than the DBC's raises
        :class:`CanFrameError` naming the id (and ``t_ns`` when given)."""
        out = np.empty(max(self.max_signals, 1), dtype=np.float64)
        m = self.decode_into(frame_id, data, out)
        if m == UNKNOWN_ID:
            raise CanFrameError(frame_id, t_ns, "frame id is not in the compiled DBC")
        if m == WRONG_LENGTH:
            msg = self.messages[self._index[frame_id]]
            raise CanFrameError(frame_id, t_ns, f"{msg.name}: expected {msg.length} data bytes, but got {len(data)}")
        return dict(zip(self._names[m], out.tolist()))

    def decode_batch(self, frame_ids: npt.ArrayLike, data: npt.ArrayLike,
                     lengths: npt.ArrayLike | None = None) -> BatchResult:
        """Decode N frames at once (the GIL is released): ``frame_ids`` (N,), ``data`` (N, W) uint8
        with W >= the longest compiled message, ``lengths`` (N,) the payload lengths (default W).
        Unknown ids and wrong lengths are reported in ``status``, never raised; ids, bytes or
        lengths that do not fit their integer types (an id of 2**32 + k, a byte of 300 or 1.7)
        raise :class:`CanFrameError` instead of being wrapped."""
        ids = _exact(frame_ids, np.uint32, "frame_ids", "CAN frame ids")
        payload = _exact(data, np.uint8, "data", "bytes")
        if ids.ndim != 1 or payload.ndim != 2 or payload.shape[0] != ids.shape[0]:
            raise CanFrameError(0, None, f"decode_batch: expected frame_ids (N,) and data (N, W), but got "
                                f"{ids.shape} and {payload.shape}")
        n = ids.shape[0]
        lens = (np.full(n, payload.shape[1], dtype=np.int32) if lengths is None
                else _exact(lengths, np.int32, "lengths", "payload lengths"))
        if lens.shape != (n,):
            raise CanFrameError(0, None, f"decode_batch: expected lengths ({n},), but got {lens.shape}")
        if n and payload.shape[1] < self.max_length:
            pad = np.zeros((n, self.max_length), dtype=np.uint8)
            pad[:, :payload.shape[1]] = payload
            payload = pad
        values = np.empty((n, max(self.max_signals, 1)), dtype=np.float64)
        status = np.empty(n, dtype=np.int32)
        self._table.decode_batch(ids, payload, lens, values, status)
        return BatchResult(values, status)


def pack_frames(frames: Iterable[Any], width: int = 8) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint8],
                                                                npt.NDArray[np.int32]]:
    """(frame_ids, data (N, width) zero-padded, lengths) of frames with ``arbitration_id`` and
    ``data`` attributes (LogFrame, can.Message): the input of :meth:`CompiledDbc.decode_batch`.
    Payloads longer than ``width`` are cut to it (their length still says how long they were)."""
    frames = list(frames)
    n = len(frames)
    ids = np.fromiter((f.arbitration_id for f in frames), dtype=np.uint32, count=n)
    lengths = np.fromiter((len(f.data) for f in frames), dtype=np.int32, count=n)
    data = np.zeros((n, width), dtype=np.uint8)
    if n and (lengths == width).all():
        data[:] = np.frombuffer(b"".join(bytes(f.data) for f in frames), dtype=np.uint8).reshape(n, width)
    else:
        for i, f in enumerate(frames):
            payload = bytes(f.data)[:width]
            data[i, :len(payload)] = np.frombuffer(payload, dtype=np.uint8)
    return ids, data, lengths
