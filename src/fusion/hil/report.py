"""The timing report of a replay (a JSON object other tools read; keep the keys as they are).

Keys (:data:`REPORT_KEYS`)::

    frames_read        CAN frames (and stream frames) read
    frames_decoded     frames a decoder decoded (its DBC message, the right length)
    unknown_ids        {"0x123": n}: frames whose (bus, id) no decoder of the rig takes; ids spelt as
                       candump does: a standard id in up to 3 hex digits ("0x123"), an extended
                       (29-bit) id in 8 ("0x00000123"), so the two never share a key
    decode_errors      {"0x123": {"wrong_length": n, "error_frame": n, "remote_frame": n,
                        "fd_on_classic": n, "time_backwards": n, "time_jump": n,
                        "cut_cycle": n, "rejected_cycle": n, "bad_header_count": n,
                        "orphan_objects": n, "bad_timestamp": n, "out_of_range": n}}: bad frames
                        (out_of_range: a signal outside its DBC range, value kept; and cycles, under the id
                        of their last frame) per id, by kind (only kinds that occurred);
                        a sensor stream's skipped rows under "stream:FILE" ({"unknown_sensor": n, ...})
    cycles             engine frames processed (one decoded sensor measurement cycle each)
    tracks_published   track records published (sum over the cycles of confirmed + coasting tracks)
    latency_ms         {"p50", "p99", "max", "mean"} of the per-cycle latency: wall clock from reading
                       the last input frame of a cycle to its fused output (None without cycles)
    budget_ms          the deadline per cycle (rig [output] budget_ms)
    deadline_misses    cycles whose latency exceeded budget_ms
    send_error_ms      {"p50", "p99", "max"} send-time error in real-time mode, else None
    wall_s             wall-clock seconds of the run
    log_s              log seconds covered (last minus first frame time)
    realtime_factor    log_s / wall_s (100: a minute of log in 0.6 s)
    engine             the engine's counters (FusionEngine.stats())
    warnings           warnings logged (bounded: see fusion.hil.replay)

Thread safety: the functions are pure (no shared state).
"""

from __future__ import annotations

import array
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["EXTENDED_FLAG", "REPORT_KEYS", "LatencyHistogram", "format_summary", "hex_id", "id_key", "latency_summary",
           "write_report"]

REPORT_KEYS = ("frames_read", "frames_decoded", "unknown_ids", "decode_errors", "cycles", "tracks_published",
               "latency_ms", "budget_ms", "deadline_misses", "send_error_ms", "wall_s", "log_s", "realtime_factor",
               "engine", "warnings")


EXTENDED_FLAG = 1 << 31
"""Set in a report-internal id key for a 29-bit (extended) id, as Linux's ``CAN_EFF_FLAG``."""


def id_key(can_id: int, extended: bool) -> int:
    """The key a report counts a frame id under: the id, with :data:`EXTENDED_FLAG` set for an
    extended id (0x100 extended is another frame than 0x100 standard)."""
    return can_id | EXTENDED_FLAG if extended else can_id


def hex_id(key: int) -> str:
    """The report's spelling of a CAN id key (:func:`id_key`), as candump writes ids: a standard
    id in up to 3 hex digits (``0x1A3``), an extended one in 8 (``0x000001A3``)."""
    if key & EXTENDED_FLAG:
        return f"0x{key & 0x1FFFFFFF:08X}"
    return f"0x{key:X}"


class LatencyHistogram:
    """Per-cycle latencies in a fixed amount of memory, however long the run (a rig replaying for
    days must not grow): exact count, mean and maximum, and percentiles from a log-linear histogram
    (1 us bins below 2.048 ms, then 512 bins per doubling: within 1 us or 0.2 %, whichever is
    larger; latencies beyond 2**34 us, about 4.8 hours, count in the last bin).  The most recent
    ``keep`` latencies are also kept as they were (:meth:`recent_ns`).  The bins and the recent
    latencies are preallocated int64 arrays, touched once here: :meth:`add` makes no object that
    outlives it, so the process does not grow while the record fills (a deque of 65,536 Python
    ints grew by 2.5 MiB over the first 26 minutes of a replay, and by 9 MiB with tracemalloc's
    per-object overhead: the one-hour replay soak's growth, benchmarks/RESULTS.md "Soak").

    Thread safety: none of its own; the Replayer calls it under its lock."""

    _LINEAR = 2048  # exact 1 us bins below this many us
    _SUB_BITS = 9  # 512 bins per doubling above
    _TOP = 34  # octaves up to 2**34 us

    def __init__(self, keep: int = 65_536) -> None:
        self._bins = array.array("q", bytes(8 * (self._LINEAR + (self._TOP - 11) * (1 << self._SUB_BITS))))
        self.count = 0
        self.sum_ns = 0
        self.max_ns = 0
        self._keep = max(int(keep), 0)
        self._recent = array.array("q", bytes(8 * self._keep))  # a ring: the next slot is count % keep

    def _index(self, us: int) -> int:
        if us < self._LINEAR:
            return us
        k = us.bit_length() - 1  # 2**k <= us < 2**(k+1), k >= 11
        if k >= self._TOP:
            return len(self._bins) - 1
        sub = (us >> (k - self._SUB_BITS)) & ((1 << self._SUB_BITS) - 1)
        return self._LINEAR + (k - 11) * (1 << self._SUB_BITS) + sub

    def _value_ns(self, i: int) -> float:
        """The middle of bin ``i`` in ns."""
        if i < self._LINEAR:
            return (i + 0.5) * 1000.0
        k, sub = divmod(i - self._LINEAR, 1 << self._SUB_BITS)
        k += 11
        width = 1 << (k - self._SUB_BITS)
        return ((1 << k) + sub * width + width / 2) * 1000.0

    def add(self, ns: int) -> None:
        ns = min(max(int(ns), 0), (1 << 63) - 1)  # an int64 slot of the ring
        self._bins[self._index(ns // 1000)] += 1
        self.count += 1
        self.sum_ns += ns
        if ns > self.max_ns:
            self.max_ns = ns
        if self._keep:
            self._recent[(self.count - 1) % self._keep] = ns

    def copy(self) -> LatencyHistogram:
        other = LatencyHistogram(0)
        other._bins = array.array("q", self._bins)
        other.count, other.sum_ns, other.max_ns = self.count, self.sum_ns, self.max_ns
        other._keep, other._recent = self._keep, array.array("q", self._recent)
        return other

    def recent_ns(self) -> list[int]:
        """The most recent latencies (up to ``keep``), oldest first."""
        if not self._keep:
            return []
        if self.count <= self._keep:
            return self._recent[:self.count].tolist()
        i = self.count % self._keep
        return self._recent[i:].tolist() + self._recent[:i].tolist()

    def percentile_ns(self, q: float) -> float | None:
        """The ``q``-th percentile (nearest rank), never above the exact maximum; None if empty."""
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q / 100.0 * self.count))
        seen = 0
        for i, n in enumerate(self._bins):
            seen += n
            if seen >= rank:
                return min(self._value_ns(i), float(self.max_ns))
        return float(self.max_ns)

    def summary_ms(self) -> dict[str, float] | None:
        """``{"p50", "p99", "max", "mean"}`` in ms, as :func:`latency_summary` (None if empty)."""
        if self.count == 0:
            return None
        p50, p99 = self.percentile_ns(50.0), self.percentile_ns(99.0)
        assert p50 is not None and p99 is not None
        return {"p50": p50 / 1e6, "p99": p99 / 1e6, "max": self.max_ns / 1e6, "mean": self.sum_ns / self.count / 1e6}


def latency_summary(latency_ns: Sequence[int] | np.ndarray) -> dict[str, float] | None:
    """p50, p99, max and mean in milliseconds of per-cycle latencies in nanoseconds (None if empty)."""
    a = np.asarray(latency_ns, dtype=np.float64)
    if a.size == 0:
        return None
    ms = a / 1e6
    p50, p99 = np.percentile(ms, [50.0, 99.0])
    return {"p50": float(p50), "p99": float(p99), "max": float(ms.max()), "mean": float(ms.mean())}


def write_report(path: str | os.PathLike[str], report: Mapping[str, Any]) -> None:
    """Write the report as indented JSON (keys in :data:`REPORT_KEYS` order), creating the folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(dict(report), fh, indent=2)
        fh.write("\n")


def _ms(d: Mapping[str, Any] | None, key: str) -> str:
    if not d or d.get(key) is None:
        return "-"
    return f"{float(d[key]):.3f}"


def format_summary(report: Mapping[str, Any], *, tracks: int | None = None) -> str:
    """The few lines ``fusion replay`` prints at the end: cycles, tracks, latency, frames, time."""
    r = dict(report)
    lat = r.get("latency_ms")
    unknown_ids = r.get("unknown_ids") or {}
    unknown = sum(int(n) for n in unknown_ids.values())
    errors = sum(int(n) for kinds in (r.get("decode_errors") or {}).values() for n in kinds.values())
    lines = [
        f"cycles {r.get('cycles', 0)}, tracks published {r.get('tracks_published', 0)}"
        + (f", distinct track ids {tracks}" if tracks is not None else ""),
        f"latency ms p50 {_ms(lat, 'p50')}  p99 {_ms(lat, 'p99')}  max {_ms(lat, 'max')}  "
        f"(budget {float(r.get('budget_ms') or 0.0):g} ms, {r.get('deadline_misses', 0)} misses)",
        f"frames read {r.get('frames_read', 0)}, decoded {r.get('frames_decoded', 0)}, unknown ids {unknown} "
        f"({len(unknown_ids)} ids), errors {errors}, warnings {r.get('warnings', 0)}",
    ]
    send = r.get("send_error_ms")
    if send:
        lines.append(f"send error ms p50 {_ms(send, 'p50')}  p99 {_ms(send, 'p99')}  max {_ms(send, 'max')}")
    rtf = r.get("realtime_factor")
    rtf_s = f"{rtf:.1f}x real time" if isinstance(rtf, (int, float)) and math.isfinite(rtf) else "-"
    lines.append(f"wall {float(r.get('wall_s') or 0.0):.3f} s for {float(r.get('log_s') or 0.0):.3f} s of log "
                 f"({rtf_s})")
    live = r.get("live")
    if isinstance(live, Mapping):  # fusion live: say when the bus never delivered (it is retried quietly)
        received = sum(int(n) for n in (live.get("frames_received") or {}).values())
        errs = list(live.get("bus_errors") or [])
        last = f" (last: {errs[-1].get('bus')} {errs[-1].get('during')}: {errs[-1].get('error')})" \
            if errs and isinstance(errs[-1], Mapping) else ""
        lines.append(f"live: frames received {received}, bus errors {int(live.get('bus_error_count') or 0)}{last}, "
                     f"reconnects {int(live.get('reconnects') or 0)}, queue dropped "
                     f"{int(live.get('queue_dropped') or 0)}, publish errors {int(live.get('publish_errors') or 0)}")
    return "\n".join(lines)
