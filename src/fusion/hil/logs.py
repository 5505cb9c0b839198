"""Reading recorded CAN logs: every format python-can's ``can.LogReader`` reads (BLF, ASC, candump
``.log``, TRC, CSV, SQLite ``.db``, MF4 with the ``mf4`` extra, and gzip-compressed text logs),
one or several at once merged by timestamp, with channel remapping.

Each frame comes out as a :class:`LogFrame`: an integer nanosecond timestamp (``round(seconds *
1e9)`` of python-can's float seconds), the channel after remapping (a string: the sensor or bus
name, or the log's own channel as text), the id, flags, DLC and payload, and where it came from
(file index and frame index within that file).

Damage is reported, never a bare parser exception, a silently skipped line or a hang: a text log is read through a
line-counting reader, so :class:`CanLogError` names the file and the line; a binary log names the
file and the number of frames read before the damage.  Frames before the damage have been
delivered when the error is raised.  A frame whose timestamp is not finite or beyond the int64
nanosecond range (a NaN or 1e300 in a CSV log) is damage too.

Thread safety: logs may be read from several threads at once; each iterator belongs to one
consumer.  The only shared state, the TRC logger level raised to INFO while a TRC log is read
(to see the lines python-can drops), is reference-counted under a lock.
"""

from __future__ import annotations

import gzip
import heapq
import importlib.util
import logging
import math
import os
import sqlite3
import struct
import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple, cast

import can
from can.io.blf import BLFParseError
from can.io.player import MESSAGE_READERS

from fusion.errors import ConfigurationError
from fusion.hil.errors import CanLogError, MissingExtraError

__all__ = ["LogFrame", "read_log", "read_logs", "TEXT_FORMATS", "supported_suffixes"]

#: Suffixes python-can reads as text, read here through a line-counting wrapper.
TEXT_FORMATS = frozenset({".asc", ".log", ".trc", ".csv"})

# What python-can's readers raise on damaged input (checked on truncated and corrupted files of
# each format): parse errors, short binary reads, bad compression, bad SQLite pages.
# |timestamp| below this [s] gives a nanosecond time well inside int64 (about 292 years).
_MAX_TIMESTAMP_S = 9.2e9

_READ_ERRORS = (ValueError, IndexError, KeyError, TypeError, AttributeError, OverflowError, struct.error, zlib.error,
                EOFError, OSError, sqlite3.Error, can.CanError, BLFParseError)


class LogFrame(NamedTuple):
    """One frame of a log.  Ordered as merged: by ``t_ns``, then input file, then position."""

    t_ns: int
    source: int  # index of the log in read_logs' list (0 for read_log)
    frame_index: int  # 0-based frame index within its log
    channel: str  # after remapping
    arbitration_id: int
    is_extended_id: bool
    is_fd: bool
    is_error_frame: bool
    is_remote_frame: bool
    dlc: int
    data: bytes


def supported_suffixes() -> list[str]:
    """The log suffixes python-can can read here (plus ``.gz`` variants of text logs)."""
    return sorted(MESSAGE_READERS)


class _LineCountingText:
    """A text-file stand-in for python-can's text readers: decodes one line at a time so a decode
    error, or a parse error the reader raises, can be reported with its exact line number."""

    def __init__(self, raw: IO[bytes], path: Path, encoding: str) -> None:
        self._raw = raw
        self._path = path
        self._encoding = encoding
        self.line = 0
        self.frames = 0

    def __iter__(self) -> _LineCountingText:
        return self

    def __next__(self) -> str:
        text = self.readline()
        if not text:
            raise StopIteration
        return text

    def readline(self) -> str:
        raw = self._raw.readline()
        if not raw:
            return ""
        self.line += 1
        try:
            text = raw.decode(self._encoding)
        except UnicodeDecodeError as exc:
            raise CanLogError(self._path, f"not {self._encoding} text (byte 0x{raw[exc.start]:02X} at column "
                              f"{exc.start + 1}): corrupt or not a text log", line=self.line,
                              frame_index=self.frames) from None
        return text.replace("\r\n", "\n")

    @property
    def closed(self) -> bool:
        return bool(self._raw.closed)

    def close(self) -> None:
        self._raw.close()


#: TRC record types python-can skips on purpose (status, error counter, error frame, event and
#: version 1.x warning/error records); any other type it skips is a damaged line.
_TRC_SKIPPED_TYPES = frozenset({"ST", "EC", "ER", "EV", "Warng", "Error"})


class _DroppedLines(logging.Handler):
    """Catches the lines a python-can text reader drops with a log record instead of raising (the
    TRC reader logs "Failed to parse message" or "Unsupported type" and goes on): such a line is
    damage, and read_log reports it as CanLogError naming the line, like every other parse error.
    While one is installed the TRC logger passes INFO records (counted, so that concurrent readers
    restore the level only when the last one ends)."""

    _lock = threading.Lock()
    _active = 0
    _saved_level = logging.NOTSET

    def __init__(self, text: _LineCountingText) -> None:
        super().__init__(logging.INFO)
        self._text = text
        self.failure: tuple[int, str] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "Unsupported type" in message:
            kind = message.rpartition("'")[0].rpartition("'")[2]
            if kind in _TRC_SKIPPED_TYPES:
                return
        elif "Failed to parse" not in message:
            return
        if self.failure is None:
            self.failure = (self._text.line, message)

    def install(self) -> None:
        lg = logging.getLogger(_TRC_LOGGER)
        with _DroppedLines._lock:
            if _DroppedLines._active == 0:
                _DroppedLines._saved_level = lg.level
                if lg.getEffectiveLevel() > logging.INFO:
                    lg.setLevel(logging.INFO)
            _DroppedLines._active += 1
            lg.addHandler(self)

    def remove(self) -> None:
        lg = logging.getLogger(_TRC_LOGGER)
        with _DroppedLines._lock:
            lg.removeHandler(self)
            _DroppedLines._active -= 1
            if _DroppedLines._active == 0:
                lg.setLevel(_DroppedLines._saved_level)


_TRC_LOGGER = "can.io.trc"


def _mf4_errors(suffix: str) -> tuple[type[BaseException], ...]:
    if suffix != ".mf4":
        return _READ_ERRORS
    from asammdf.blocks.utils import MdfException

    # UnboundLocalError: asammdf's _finalize of an unfinalised file with damaged blocks (fuzzer)
    extra: tuple[type[BaseException], ...] = (MdfException, UnboundLocalError)
    try:  # asammdf decompresses with python-isal when it is installed (its own exception type)
        from isal.igzip_lib import IsalError

        extra = (*extra, cast(type[BaseException], IsalError))
    except ImportError:
        pass
    return (*_READ_ERRORS, *extra)


_MF4_MAX_INFLATE = 1100
"""The most an MF4 file's data can expand (deflate's limit is about 1032:1): a file declaring more
record bytes than its size times this is damaged (asammdf would try to allocate them)."""


def _defuse_mdf(exc: BaseException) -> None:
    """Closes the half-built asammdf objects in ``exc``'s traceback: asammdf's MDF4.__del__ calls
    close(), which on an object whose constructor failed part way raises AttributeError ('no
    attribute _file' / 'header') as an unraisable exception (printed on stderr; an error under
    pytest's strict settings) for every damaged file."""
    tb = exc.__traceback__
    while tb is not None:
        obj: Any = tb.tb_frame.f_locals.get("self")
        if type(obj).__name__ == "MDF4" and hasattr(obj, "_closed") and not obj._closed:
            for attr in ("_file", "header"):  # what close() touches and the failed constructor may lack
                if not hasattr(obj, attr):
                    setattr(obj, attr, None)
            try:
                obj.close()  # frees its temporary file now (else a ResourceWarning at collection)
            except Exception:  # noqa: BLE001 - a half-built object; whatever is left is closed below
                pass
            obj._closed = True
        tb = tb.tb_next


def _check_mf4_links(path: Path) -> None:
    """CanLogError when a linked list of the MF4 file's blocks (data groups, channel groups,
    channels and their compositions, data lists) loops back on itself: asammdf follows the
    links without a visited set and never returns (two hangs found by the mf4_logs fuzz
    target). Reads only the block ids and first links (MDF 4 block: 4-byte id, 4 reserved,
    8-byte length, 8-byte link count, then the links), at the offsets asammdf reads them."""
    size = path.stat().st_size
    budget = [size // 24 + 16]  # no file holds more distinct blocks than this

    with path.open("rb") as fh:
        def links(addr: int) -> tuple[bytes, list[int]]:
            if not 0 < addr <= size - 24:
                return b"", []
            fh.seek(addr)
            head = fh.read(24)
            n = min(4, (size - addr - 24) // 8)  # the first links, read whatever the block claims (as asammdf does)
            return head[:4], list(struct.unpack(f"<{n}Q", fh.read(8 * n)))

        def chain(first: int, what: str, visit: Any = None) -> None:
            seen: set[int] = set()
            addr = first
            while addr:
                if addr in seen:
                    raise CanLogError(path, f"damaged MF4: the list of {what} loops back to the block at {addr:#x}",
                                      frame_index=0)
                budget[0] -= 1
                if budget[0] < 0:
                    raise CanLogError(path, f"damaged MF4: more linked blocks than a {size}-byte file holds",
                                      frame_index=0)
                seen.add(addr)
                kind, ls = links(addr)
                if visit is not None:
                    visit(kind, ls)
                addr = ls[0] if ls else 0

        def channel(kind: bytes, ls: list[int]) -> None:  # a composition is a nested channel list
            if kind == b"##CN" and len(ls) > 1 and ls[1]:
                ckind, _ = links(ls[1])
                if ckind == b"##CN":
                    chain(ls[1], "composed channels", channel)

        def data(first: int) -> None:
            kind, ls = links(first)
            if kind == b"##HL" and ls:
                first, kind = ls[0], links(ls[0])[0]
            if kind == b"##DL":
                chain(first, "data blocks")

        def group(kind: bytes, ls: list[int]) -> None:  # DG: next DG, first CG, data
            if len(ls) > 1:
                chain(ls[1], "channel groups", lambda k, cl: chain(cl[1], "channels", channel) if len(cl) > 1 else None)
            if len(ls) > 2 and ls[2]:
                data(ls[2])

        fh.seek(0)
        if fh.read(8) != b"MDF     ":
            return  # not MDF: asammdf's own error
        _, hd = links(64)
        if hd:
            chain(hd[0], "data groups", group)


def _check_mf4_layout(path: Path) -> None:
    """CanLogError when the MF4 file's blocks would make asammdf hang, run out of memory or read
    outside its buffers (each found by the mf4_logs fuzz target, each a damaged file):

    - a linked list of blocks that loops (:func:`_check_mf4_links`);
    - a channel lying outside its channel group's record: asammdf copies each channel's bytes
      out of the records in C (``get_channel_raw_bytes``) with the offset and size the file
      states, unchecked (a segfault);
    - records declaring more bytes than the file can hold even compressed (a MemoryError).

    The blocks are read here first without the bus-logging step that extracts the channels."""
    from asammdf import MDF

    _check_mf4_links(path)
    size = path.stat().st_size
    errors: tuple[type[BaseException], ...] = (*_mf4_errors(".mf4"), MemoryError, RecursionError)
    try:
        mdf = MDF(str(path), process_bus_logging=False)  # type: ignore[call-arg]  # a keyword of MDF4
    except errors as exc:
        _defuse_mdf(exc)
        raise CanLogError(path, f"cannot open as .mf4: {type(exc).__name__}: {exc}", frame_index=0) from exc
    try:
        for g, grp in enumerate(getattr(mdf, "groups", ())):
            cg = grp.channel_group
            record = int(cg.samples_byte_nr) + int(cg.invalidation_bytes_nr)
            if record * max(int(cg.cycles_nr), 1) > _MF4_MAX_INFLATE * size:
                raise CanLogError(path, f"damaged MF4: group {g} declares {int(cg.cycles_nr)} records of {record} "
                                  f"bytes, more than a {size}-byte file holds", frame_index=0)
            for ch in grp.channels:
                end = int(ch.byte_offset) + (int(ch.bit_offset) + int(ch.bit_count) + 7) // 8
                if int(ch.channel_type) in (0, 1, 2, 4, 5) and end > record:  # stored in the record
                    raise CanLogError(path, f"damaged MF4: channel {ch.name!r} of group {g} ends at byte {end} of "
                                      f"a {record}-byte record", frame_index=0)
        _check_mf4_vlsd(path, mdf, errors)
    finally:
        mdf.close()


def _check_mf4_vlsd(path: Path, mdf: Any, errors: tuple[type[BaseException], ...]) -> None:
    """CanLogError when a variable-length channel's offsets (the CAN payloads of a bus-logging
    MF4: ``CAN_DataFrame.DataBytes``) do not point at whole samples of its signal data. asammdf
    copies the samples out in C (``extract``, ``get_vlsd_max_sample_size``) from each record's
    offset and the 4-byte length found there, unchecked: one flipped byte in one record's offset
    of a real CANedge drive (312 -> 307, inside the previous payload) read a garbage length and
    segfaulted. A sample is 4 bytes of length then the bytes; the offsets must not decrease (the
    reader loads them in chunks, from a chunk's first offset to its last sample's end) and each
    sample must end before the next one starts and within the data."""
    import inspect

    import numpy as np

    inner = getattr(mdf, "_mdf", mdf)
    # asammdf's private reading calls (8.x): another version without them skips this check
    get, load = getattr(inner, "_get_scalar", None), getattr(inner, "_load_signal_data", None)
    if get is None or load is None or "skip_vlsd" not in inspect.signature(get).parameters:
        return
    for g, grp in enumerate(getattr(inner, "groups", ())):
        for i, ch in enumerate(grp.channels):
            if int(ch.channel_type) != 1 or not int(grp.channel_group.cycles_nr):  # 1: VLSD
                continue
            try:
                offs, *_ = get(ch, grp, g, i, grp.channel_dependencies[i], raster=None, data=None,
                               ignore_invalidation_bits=True, record_offset=0, record_count=None,
                               master_is_required=False, skip_vlsd=True)
                data = np.frombuffer(load(grp, i), np.uint8)
            except errors as exc:  # the MF4 read errors, MemoryError, RecursionError (_check_mf4_layout's)
                raise CanLogError(path, f"damaged MF4: channel {ch.name!r} of group {g}: {type(exc).__name__}: {exc}",
                                  frame_index=0) from exc
            o = np.asarray(offs).astype(np.uint64, copy=False)
            if not len(o):
                continue
            if np.any(o[1:] < o[:-1]):
                k = int(np.argmax(o[1:] < o[:-1])) + 1
                raise CanLogError(path, f"damaged MF4: channel {ch.name!r} of group {g}, record {k}: its offset "
                                  f"{int(o[k])} is before the previous record's ({int(o[k - 1])})", frame_index=0)
            u = np.unique(o)  # sorted; records with equal offsets share one sample
            n = len(data)
            if int(u[-1]) + 4 > n:
                k = int(np.argmax(o == u[-1]))
                raise CanLogError(path, f"damaged MF4: channel {ch.name!r} of group {g}, record {k}: offset "
                                  f"{int(u[-1])} is beyond its {n} bytes of data", frame_index=0)
            us = u.astype(np.int64)
            length = np.zeros(len(us), np.int64)
            for b in range(4):  # the little-endian uint32 length at each (unaligned) offset
                length |= data[us + b].astype(np.int64) << (8 * b)
            over = us + 4 + length > np.append(us[1:], n)  # past the next sample or the data's end
            if over.any():
                j = int(np.argmax(over))
                k = int(np.argmax(o == u[j]))
                raise CanLogError(path, f"damaged MF4: channel {ch.name!r} of group {g}, record {k}: the sample at "
                                  f"offset {int(u[j])} claims {int(length[j])} bytes, past the next sample or the "
                                  f"end of its {n} bytes of data", frame_index=0)


def _open_reader(path: Path, encoding: str, kwargs: Mapping[str, Any]) -> tuple[Any, _LineCountingText | None]:
    suffixes = [s.lower() for s in path.suffixes]
    suffix = suffixes[-1] if suffixes else ""
    gz = suffix == ".gz"
    if gz:
        suffix = suffixes[-2] if len(suffixes) >= 2 else ""
    if suffix not in MESSAGE_READERS:
        raise CanLogError(path, f"unknown log format {''.join(path.suffixes) or '(no suffix)'!r}: "
                          f"python-can reads {', '.join(supported_suffixes())} (and .gz text logs)")
    if suffix == ".mf4" and importlib.util.find_spec("asammdf") is None:
        raise MissingExtraError(f"{path}: MF4 logs need asammdf: pip install 'fusion[mf4]'")
    if not path.is_file():
        raise CanLogError(path, "no such file")
    reader_cls: Any = MESSAGE_READERS[suffix]
    if suffix in TEXT_FORMATS:
        raw = cast(IO[bytes], gzip.open(path, "rb") if gz else path.open("rb"))  # closed by the reader
        text = _LineCountingText(raw, path, encoding)
        try:
            return reader_cls(text, **kwargs), text
        except _READ_ERRORS as exc:
            raw.close()
            raise CanLogError(path, f"cannot read the header: {exc}", line=text.line, frame_index=0) from exc
    if gz:
        raise CanLogError(path, f"gzip is supported for text logs only, not {suffix}")
    if suffix == ".mf4":
        _check_mf4_layout(path)
    if suffix in (".mf4", ".blf"):  # opened here so the file is closed when the reader rejects it (they leak it)
        handle = path.open("rb")
        try:
            return reader_cls(handle, **kwargs), None
        except _mf4_errors(suffix) as exc:
            handle.close()
            _defuse_mdf(exc)
            raise CanLogError(path, f"cannot open as {suffix}: {exc}", frame_index=0) from exc
    try:
        return can.LogReader(path, **kwargs), None
    except _mf4_errors(suffix) as exc:
        raise CanLogError(path, f"cannot open as {suffix}: {exc}", frame_index=0) from exc


def read_log(path: str | Path, channel_map: Mapping[str | int, str] | None = None, *, source: int = 0,
             encoding: str = "utf-8", **reader_kwargs: Any) -> Iterator[LogFrame]:
    """Frames of one log in file order.

    ``channel_map`` maps the log's channel (python-can's value, matched as given or as text) to
    a sensor or bus name; unmapped channels keep their text.  ``reader_kwargs`` go to the
    python-can reader (e.g. ``relative_timestamp=False`` for ASC)."""
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigurationError(f"path: expected a log file path (str or os.PathLike), got {type(path).__name__}")
    path = Path(path)
    reader, text = _open_reader(path, encoding, reader_kwargs)
    dropped = _DroppedLines(text) if text is not None and path.suffix.lower() == ".trc" else None
    if dropped is not None:
        dropped.install()
    errors: tuple[type[BaseException], ...] = (*_READ_ERRORS, UnicodeDecodeError)
    if path.suffix.lower() == ".mf4":
        # asammdf is present (_open_reader checked the extra); MemoryError: a damaged size field that
        # the layout pre-check does not cover (one flipped byte of a real drive: np.zeros of 1.27 TiB)
        errors = (*errors, *_mf4_errors(".mf4"), MemoryError, RecursionError)
    mapping = {str(k): v for k, v in (channel_map or {}).items()}
    # candump marks an id extended by its digit count (3 standard, 8 extended); python-can reads a
    # 3-digit id above 7FF as a standard id, which no CAN frame has. Other formats carry a flag
    # (python-can's own BLF fixtures hold unflagged large ids that its reader accepts).
    candump = isinstance(reader, can.CanutilsLogReader)
    index = 0
    try:
        it = iter(reader)
        while True:
            try:
                msg = next(it)
            except StopIteration:
                msg = None
            except CanLogError:
                raise
            except errors as exc:
                raise CanLogError(path, f"{type(exc).__name__}: {exc}", line=text.line if text else None,
                                  frame_index=index) from exc
            if dropped is not None and dropped.failure is not None:
                line, why = dropped.failure
                raise CanLogError(path, f"damaged line: {why}", line=line, frame_index=index)
            if msg is None:
                break
            t_s = msg.timestamp
            if not (isinstance(t_s, (int, float)) and math.isfinite(t_s) and abs(t_s) < _MAX_TIMESTAMP_S):
                raise CanLogError(path, f"frame timestamp {t_s!r} s is not a finite time within the int64 "
                                  "nanosecond range", line=text.line if text else None, frame_index=index)
            if not (isinstance(msg.arbitration_id, int) and 0 <= msg.arbitration_id < 2 ** 29 and len(msg.data) <= 64):
                raise CanLogError(path, f"frame id {msg.arbitration_id!r} with {len(msg.data)} data bytes is not a CAN "
                                  "(FD) frame (ids have 11 or 29 bits, payloads at most 64 bytes)",
                                  line=text.line if text else None, frame_index=index)
            if candump and not msg.is_extended_id and not msg.is_error_frame and msg.arbitration_id > 0x7FF:
                raise CanLogError(path, f"standard (11-bit) frame id 0x{msg.arbitration_id:X} is above 0x7FF "
                                  "(candump writes an extended id with 8 hex digits)",
                                  line=text.line if text else None, frame_index=index)
            ch = "" if msg.channel is None else str(msg.channel)
            yield LogFrame(round(t_s * 1e9), source, index, mapping.get(ch, ch), msg.arbitration_id,
                           msg.is_extended_id, msg.is_fd, msg.is_error_frame, msg.is_remote_frame, msg.dlc,
                           bytes(msg.data))
            index += 1
            if text is not None:
                text.frames = index
        # python-can's BLF reader stops quietly at a cut-off container: compare the size the
        # header announces with the file's (a BLF written to its end has them equal).
        declared = getattr(reader, "file_size", None)
        if isinstance(reader, can.BLFReader) and isinstance(declared, int):
            actual = path.stat().st_size
            if declared != actual:
                raise CanLogError(path, f"truncated or corrupt BLF: the header says {declared} bytes, "
                                  f"but the file has {actual}", frame_index=index)
    finally:
        if dropped is not None:
            dropped.remove()
        reader.stop()


def read_logs(paths: Sequence[str | Path],
              channel_map: Mapping[str | int, str] | Sequence[Mapping[str | int, str] | None] | None = None,
              **reader_kwargs: Any) -> Iterator[LogFrame]:
    """Frames of several logs merged by timestamp (a heap merge: lazy, O(log k) per frame).

    Equal timestamps keep the order of ``paths``, then file order: the merge is stable, so the
    same inputs always give the same sequence.  ``channel_map`` is one mapping for every log or
    one per log (None for none).  Each log must be in time order itself (a log whose time goes
    backwards comes out merged as it is read)."""
    if channel_map is None or isinstance(channel_map, Mapping):
        maps: list[Mapping[str | int, str] | None] = [channel_map] * len(paths)
    else:
        maps = list(channel_map)
        if len(maps) != len(paths):
            raise ConfigurationError(f"channel_map: expected one mapping per log ({len(paths)}), "
                                     f"but got {len(maps)}")
    iters: list[Iterable[LogFrame]] = [read_log(p, m, source=i, **reader_kwargs)
                                       for i, (p, m) in enumerate(zip(paths, maps))]
    return heapq.merge(*iters)
