"""Errors of the HIL harness (CAN logs, DBC files, decoders, sensor stream files).

They derive from the :mod:`fusion.errors` classes (and so from the matching built-ins), and carry
where the problem is as attributes as well as in the message: the file and line (text logs) or
frame index (every log), the CAN id and the timestamp.  The core (``csrc/``, ``fusion.engine``)
never raises these: only the harness reads CAN.
"""

from __future__ import annotations

from pathlib import Path

from fusion.errors import ConfigurationError, DecodeError

__all__ = ["CanLogError", "CanFrameError", "DbcError", "MissingExtraError", "StreamError"]


class CanLogError(DecodeError):
    """A CAN log file cannot be read: unknown format, truncated or corrupt content.

    ``path`` is the file, ``line`` the 1-based line of a text log where reading failed (None for
    binary formats), ``frame_index`` the number of frames read from this file before the damage
    (those frames were delivered)."""

    def __init__(self, path: str | Path, reason: str, *, line: int | None = None,
                 frame_index: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.frame_index = frame_index
        where = str(self.path)
        if line is not None:
            where += f":{line}"
        if frame_index is not None:
            where += f" (after {frame_index} frames)"
        super().__init__(f"{where}: {reason}")


class CanFrameError(DecodeError):
    """One CAN frame cannot be decoded as its DBC says (e.g. a payload length other than the
    DBC's).  ``can_id`` and ``t_ns`` say which frame; ``source`` (optional) which log and frame."""

    def __init__(self, can_id: int, t_ns: int | None, reason: str, *, source: str | None = None) -> None:
        self.can_id = can_id
        self.t_ns = t_ns
        self.source = source
        where = f"CAN id 0x{can_id:X}"
        if t_ns is not None:
            where += f" at t_ns={t_ns}"
        if source:
            where += f" ({source})"
        super().__init__(f"{where}: {reason}")


class StreamError(DecodeError):
    """A row of a non-CAN sensor stream file (:mod:`fusion.hil.streams`) is bad: not a number,
    NaN where a number is required, the wrong number of columns, an unknown sensor, a timestamp
    that goes backwards; or the file itself cannot be read (a missing column, not UTF-8).

    ``path`` is the file, ``line`` the 1-based line (CSV: the header is line 1; Parquet: the
    row number + 1, so that the first data row is line 2 in both), ``column`` the column name
    (None when the whole row or file is meant)."""

    def __init__(self, path: str | Path, line: int | None, reason: str, *, column: str | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.column = column
        where = str(self.path)
        if line is not None:
            where += f":{line}"
        if column is not None:
            where += f": column {column!r}"
        super().__init__(f"{where}: {reason}")


class DbcError(ConfigurationError):
    """A DBC file does not parse, or a message or signal a decoder names is not in it."""


class MissingExtraError(ConfigurationError, ImportError):
    """An optional dependency is not installed; the message names the pip extra that brings it."""
