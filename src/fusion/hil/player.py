"""Play log frames onto python-can buses at their recorded times (drift-free, see
:mod:`fusion.hil.pacing`).

Each :class:`~fusion.hil.logs.LogFrame` becomes a ``can.Message`` whose ``timestamp`` is the
frame's log time in seconds (``t_ns / 1e9``; exact for logs with relative timestamps): a bus that
preserves timestamps (``open_bus("virtual:...")`` does) carries the log time to the reader, so
:func:`fusion.hil.live.run_live` can replay the frames with their original times.  The message
is built before the wait, so it goes out right after the pacer releases it.

Thread safety: :func:`play` holds no shared state; one call per thread, each with its own buses
(a python-can bus is not safe to send on from two threads unless its interface says so).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Mapping

import can

from fusion.errors import ConfigurationError
from fusion.hil.logs import LogFrame
from fusion.hil.pacing import Pacer

__all__ = ["play", "to_message"]


def to_message(frame: LogFrame) -> can.Message:
    """The ``can.Message`` of a log frame: same id, flags and payload; ``timestamp`` the log time
    in seconds; ``channel`` the frame's (remapped) channel."""
    return can.Message(timestamp=frame.t_ns / 1e9, arbitration_id=frame.arbitration_id,
                       is_extended_id=frame.is_extended_id, is_remote_frame=frame.is_remote_frame,
                       is_error_frame=frame.is_error_frame, is_fd=frame.is_fd, dlc=frame.dlc,
                       data=frame.data, channel=frame.channel, check=False)


def play(frames: Iterable[LogFrame], bus: can.BusABC | Mapping[str, can.BusABC], *, speed: float = 1.0,
         channel_filter: Collection[str] | Callable[[str], bool] | None = None, pacer: Pacer | None = None,
         stop: threading.Event | None = None) -> dict[str, float | None]:
    """Send ``frames`` (in the order given, normally time order) at their log times.

    ``bus`` is one bus for every frame, or a mapping channel -> bus (a log with several channels
    played onto one bus per channel, as a rig wires them); frames of a channel the mapping does
    not name are skipped, as are frames ``channel_filter`` (a set of channels or a predicate)
    rejects.  ``pacer`` (default ``Pacer(speed)``) can be passed to read more statistics
    afterwards (``window_ms``, ``drift_ms_per_min``); then ``speed`` must be left at 1.0 or match
    it.  ``stop`` ends the play early when set.  A bus's send error propagates.

    Returns the send-time error ``{"p50", "p99", "max"}`` in ms (the K5 report's
    ``send_error_ms``)."""
    if pacer is None:
        pacer = Pacer(speed)
    elif speed != 1.0 and speed != pacer.speed:
        raise ConfigurationError(f"speed: {speed!r} disagrees with the pacer's speed {pacer.speed!r}")
    if channel_filter is None:
        accept: Callable[[str], bool] | None = None
    elif callable(channel_filter):
        accept = channel_filter
    else:
        allowed = frozenset(channel_filter)
        accept = allowed.__contains__
    single = bus if isinstance(bus, can.BusABC) else None
    buses: Mapping[str, can.BusABC] = {} if single is not None else bus  # type: ignore[assignment]
    for frame in frames:
        if stop is not None and stop.is_set():
            break
        if accept is not None and not accept(frame.channel):
            continue
        target = single if single is not None else buses.get(frame.channel)
        if target is None:
            continue
        msg = to_message(frame)
        pacer.wait_until(frame.t_ns)
        target.send(msg)
    return pacer.errors_ms()
