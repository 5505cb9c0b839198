"""Drift-free real-time pacing: release events at the wall time their log timestamps say.

Every target is absolute, computed from one anchor taken at the first event:

    target_wall_ns = t0_wall_ns + (t_log_ns - t0_log_ns) / speed        (time.perf_counter_ns)

so an error never carries over to the next event (a player that sleeps "the gap to the next
frame" accumulates every oversleep; python-can's ``MessageSync`` is known to drift that way).
Waiting is two-stage: a coarse ``time.sleep`` until ``spin_ns`` before the target (the OS wakes
a sleeper late by tens of microseconds, more under load), then a short spin on the clock to the
target.  The spin either busy-waits (``spin="busy"``) or offers the core to other threads and
processes between clock reads (``spin="yield"``, the default: ``os.sched_yield``), which costs
the same when the machine is idle and less to others when it is not.  An event already late is
released at once and its lateness recorded; the anchor is not moved (up to ``max_wait_s``), so a late stretch is
caught up, not carried on.

A wait longer than ``max_wait_s`` (default 60 s of wall time: a timestamp that jumps hours
ahead, or a tiny speed factor) is not slept: the pacer re-anchors at that event (it is
released at once, as if the log had no gap there), counts it in :attr:`Pacer.reanchors` and
paces the following events from the new anchor.  A timestamp far in the past is released at
once and its lateness recorded, unless it is more than ``max_wait_s`` late: that re-anchors too.
Each re-anchor is logged (the 1st, 10th, 100th, ...).

The clock and the sleep are injectable (a fake clock makes the tests deterministic).

Thread safety: one thread calls :meth:`Pacer.wait_until` (and :meth:`Pacer.start`); the
statistics (:meth:`errors_ms`, :meth:`window_ms`, :meth:`samples`) may be read from any other
thread at the same time (they copy under a lock).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from array import array
from collections.abc import Callable
from typing import Any

import numpy as np

from fusion.errors import ConfigurationError

__all__ = ["Pacer", "error_stats_ms"]

log = logging.getLogger(__name__)

_SPIN_MODES = ("yield", "busy")
_MAX_NS = 9.2e18  # offsets beyond this saturate (int64 nanoseconds)


def error_stats_ms(errors_ns: Any) -> dict[str, float | None]:
    """``{"p50", "p99", "max"}`` in milliseconds of send-time errors given in nanoseconds
    (None for each when there are none)."""
    e = np.asarray(errors_ns, dtype=np.float64)
    if e.size == 0:
        return {"p50": None, "p99": None, "max": None}
    p50, p99 = np.percentile(e, [50.0, 99.0])
    return {"p50": float(p50) / 1e6, "p99": float(p99) / 1e6, "max": float(e.max()) / 1e6}


class Pacer:
    """Releases events at ``t0_wall + (t_log - t0_log) / speed`` and records how late each was.

    ``speed`` is the speed factor (2.0 plays twice as fast as recorded), ``spin_ns`` how long
    before a target the coarse sleep ends and the spin begins, ``spin`` ``"yield"`` or
    ``"busy"`` (see the module docstring).  ``clock`` returns integer nanoseconds of a
    monotonic clock (default ``time.perf_counter_ns``), ``sleep`` takes seconds.

    Thread safety: see the module docstring (one pacing thread; statistics from any thread).
    """

    def __init__(self, speed: float = 1.0, *, spin_ns: int = 1_000_000, spin: str = "yield",
                 clock: Callable[[], int] = time.perf_counter_ns,
                 sleep: Callable[[float], None] = time.sleep, max_wait_s: float = 60.0) -> None:
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not math.isfinite(speed) \
                or speed <= 0:
            raise ConfigurationError(f"speed: expected a finite number > 0 (1.0 = real time), but got {speed!r}")
        if isinstance(spin_ns, bool) or not isinstance(spin_ns, int) or spin_ns < 0:
            raise ConfigurationError(f"spin_ns: expected an integer >= 0 [ns], but got {spin_ns!r}")
        if isinstance(max_wait_s, bool) or not isinstance(max_wait_s, (int, float)) \
                or not 0 < max_wait_s <= 9.2e9:
            raise ConfigurationError(f"max_wait_s: expected seconds in (0, 9.2e9], but got {max_wait_s!r}")
        if spin not in _SPIN_MODES:
            raise ConfigurationError(f"spin: expected one of {', '.join(_SPIN_MODES)}, but got {spin!r}")
        self.speed = float(speed)
        self.spin_ns = spin_ns
        self.spin = spin
        self.max_wait_ns = round(max_wait_s * 1e9)
        self.reanchors = 0
        self._clock = clock
        self._sleep = sleep
        self._yield: Callable[[], None] | None = (getattr(os, "sched_yield", None) or (lambda: time.sleep(0))) \
            if spin == "yield" else None
        self._t0_wall: int | None = None
        self._t0_log = 0
        self._errors = array("q")
        self._t_log = array("q")
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        """Whether the anchor is set (by :meth:`start` or the first :meth:`wait_until`)."""
        return self._t0_wall is not None

    def start(self, t_log_ns: int, wall_ns: int | None = None) -> None:
        """Anchor log time ``t_log_ns`` at wall time ``wall_ns`` (default: now).  Called by the
        first :meth:`wait_until` when not called before; calling it again re-anchors."""
        self._t0_log = int(t_log_ns)
        self._t0_wall = self._clock() if wall_ns is None else int(wall_ns)

    def target_ns(self, t_log_ns: int) -> int:
        """The wall time (on the pacer's clock) at which ``t_log_ns`` is due."""
        if self._t0_wall is None:
            raise ConfigurationError("Pacer.target_ns: the pacer has no anchor yet (call start or wait_until)")
        delta = (t_log_ns - self._t0_log) / self.speed  # a float: inf for an absurd speed or time
        return self._t0_wall + (round(delta) if abs(delta) < _MAX_NS else int(math.copysign(_MAX_NS, delta)))

    def wait_until(self, t_log_ns: int) -> int:
        """Wait until ``t_log_ns`` is due; return the error in ns (actual - target, >= 0 unless
        the injected clock goes backwards).  The first call anchors and returns at once."""
        if self._t0_wall is None:
            self.start(t_log_ns)
        target = self.target_ns(t_log_ns)
        clock = self._clock
        now = clock()
        if abs(target - now) > self.max_wait_ns:  # hours ahead (or behind): re-anchor, do not sleep
            self.start(t_log_ns, now)
            self.reanchors += 1
            target = now
            if self.reanchors in (1, 10, 100, 1000) or self.reanchors % 10000 == 0:
                log.warning("pacing: log time %d ns is %s more than %g s of wall time: re-anchored there "
                            "(%d so far)", t_log_ns, "ahead by" if t_log_ns > self._t0_log else "behind by",
                            self.max_wait_ns / 1e9, self.reanchors)
        if target - now > self.spin_ns:
            self._sleep((target - now - self.spin_ns) / 1e9)
            now = clock()
        yield_ = self._yield
        while now < target:
            if yield_ is not None:
                yield_()
            now = clock()
        err = now - target
        with self._lock:
            self._errors.append(err)
            self._t_log.append(t_log_ns - self._t0_log)
        return err

    def __len__(self) -> int:
        return len(self._errors)

    def samples(self) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int64]]]:
        """Copies of (log time since the anchor [ns], send-time error [ns]) per event so far."""
        with self._lock:
            t = np.array(self._t_log, dtype=np.int64)
            e = np.array(self._errors, dtype=np.int64)
        return t, e

    def errors_ms(self) -> dict[str, float | None]:
        """Send-time error ``{"p50", "p99", "max"}`` in ms over every event so far."""
        return error_stats_ms(self.samples()[1])

    def window_ms(self, t_from_ns: int, t_to_ns: int) -> dict[str, float | None]:
        """Like :meth:`errors_ms` plus ``"mean"`` over the events whose log time since the anchor is
        in ``[t_from_ns, t_to_ns)`` (e.g. the first and last 10 s, to show there is no drift)."""
        t, e = self.samples()
        sel = e[(t >= t_from_ns) & (t < t_to_ns)]
        out = error_stats_ms(sel)
        out["mean"] = float(sel.mean()) / 1e6 if sel.size else None
        return out

    def drift_ms_per_min(self) -> float | None:
        """Slope of a least-squares line through (log time, error): how much later events get per
        minute of log (0 for drift-free pacing).  None with fewer than two events."""
        t, e = self.samples()
        if t.size < 2 or t[-1] == t[0]:
            return None
        slope = np.polyfit(t.astype(np.float64) / 60e9, e.astype(np.float64) / 1e6, 1)[0]
        return float(slope)
