"""Loading DBC files (cantools does the parsing; no DBC parser lives here) and looking up messages
and signals by name with errors that list what exists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cantools
from cantools.database.errors import UnsupportedDatabaseFormatError

from fusion.hil.errors import DbcError

__all__ = ["load_dbc", "get_message", "get_signal"]

Database = Any  # cantools.database.can.Database (cantools ships no type information)
Message = Any  # cantools.database.can.Message
Signal = Any  # cantools.database.can.Signal


def load_dbc(path: str | Path, *, strict: bool = False) -> Database:
    """Parse a DBC file with cantools.  ``strict=False`` (the default) accepts the overlapping
    signals that real-world files such as opendbc's contain; a file that does not parse raises
    :class:`DbcError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise DbcError(f"DBC file {path} does not exist")
    try:
        return cantools.database.load_file(str(path), database_format="dbc", strict=strict)
    except (UnsupportedDatabaseFormatError, ValueError, KeyError, UnicodeDecodeError) as exc:
        raise DbcError(f"DBC file {path} does not parse: {exc}") from exc


def get_message(db: Database, name: str) -> Message:
    """The message called ``name``; :class:`DbcError` listing some known names otherwise."""
    try:
        return db.get_message_by_name(name)
    except KeyError:
        names = sorted(m.name for m in db.messages)
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        raise DbcError(f"message {name!r} is not in the DBC ({len(names)} messages: {shown})") from None


def get_signal(message: Message, name: str) -> Signal:
    """The signal ``name`` of ``message``; :class:`DbcError` listing the message's signals otherwise."""
    for sig in message.signals:
        if sig.name == name:
            return sig
    known = ", ".join(s.name for s in message.signals)
    raise DbcError(f"signal {name!r} is not in message {message.name} (signals: {known})")
