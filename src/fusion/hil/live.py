"""Live mode: read sensor frames from python-can buses, fuse them, publish the tracks on a bus.

::

    bus reader thread(s) ──► bounded queue (drop-oldest, counted) ──► consumer (the caller's thread):
      recv, reopen with        of (bus index, can.Message)           reorder by timestamp (watermark
      exponential back-off                                            over the buses), LogFrame,
      when the bus goes away                                          Replayer.feed_frame (K3),
                                                                      TrackEncoder.encode (K4) ──► to_bus

Bus specs (:func:`open_bus`): ``INTERFACE:CHANNEL`` for any python-can interface, e.g.
``virtual:vcan0`` (in-process, used by the tests), ``socketcan:can0`` (a board).  ``run_live``
takes one spec or several separated by commas, each optionally named ``NAME=INTERFACE:CHANNEL``:
the name is the bus name the rig's sensors refer to (after channel remapping), e.g.
``radar=socketcan:can1,vehicle=socketcan:can0``.  An unnamed bus's frames take the message's
channel mapped through the rig's ``[channels]`` table (as a log's would).

Time (the "replay-from-bus" choice): a frame's time is the message's ``timestamp``, not the time
the reader got it.  On a board that is the driver's receive time; from
:func:`fusion.hil.player.play` onto buses opened here (``virtual`` buses preserve timestamps) it is
the frame's original log time, so live processing sees the frames and times of the offline
replay (the round-trip test relies on it).  One bus's frames are fed in the order read.  Frames
from several buses are merged by (timestamp, bus position in the spec, order on the bus): a frame
is fed once every bus has delivered a strictly later frame (a watermark, so the order does not
depend on the threads' timing) or once it has waited ``reorder_s`` of wall time (a silent bus must
not stall the others; ``reorder_s=0`` feeds in arrival order, the lowest latency).  Frames with
the same timestamp on different buses have no order a rig can observe; they go in spec order (a
multi-channel log file may interleave them otherwise: the offline replay equals the live run when
fed in this order, which the round-trip test does).  A frame older than one already fed is still
fed (the engine's out-of-sequence handling takes it) and counted as ``reordered_late``.

A bus that goes away (``recv`` or ``open`` raises ``can.CanError`` or ``OSError``) is reported
(``bus_errors``, ``reconnects``), shut down and reopened after an exponential back-off
(``backoff_s`` doubling up to ``backoff_max_s``; reset once frames flow again); the Replayer and so
the tracker state are kept throughout.  Any other exception in a reader (a defect) is reported
too (``readers_failed``) and ends that reader only.  A send error on ``to_bus`` is counted
(``publish_errors``) and that cycle's frames are lost.  The queue never grows past
``queue_size`` frames.

Thread safety: :func:`run_live` may run in several threads at once with different buses (each
call owns its threads, queue and Replayer); ``stop`` may be set from any thread.  The reader
threads share only the queue (a lock and a condition, held for O(1) work; the code inside is
pure Python, so no lock is held against a wait for the GIL).  :func:`open_bus` is thread safe.
"""

from __future__ import annotations

import heapq
import importlib
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import can

from fusion.errors import BusError, ConfigurationError
from fusion.hil.logs import LogFrame
from fusion.hil.pacing import error_stats_ms

__all__ = ["open_bus", "parse_bus_specs", "BusSpec", "BoundedFrameQueue", "run_live"]

_MAX_REPORTED_ERRORS = 20
_MAX_LATENCY_SAMPLES = 10_000_000
_DRAIN_S = 1.0  # on stop, how long a reader goes on taking what its bus already holds


def _split_spec(spec: str) -> tuple[str, str]:
    if not isinstance(spec, str):
        raise ConfigurationError(f"bus spec: expected a string INTERFACE:CHANNEL, but got {spec!r}")
    interface, sep, channel = spec.strip().partition(":")
    interface, channel = interface.strip(), channel.strip()
    if not sep or not interface or not channel:
        raise ConfigurationError(f"bus spec {spec!r}: expected INTERFACE:CHANNEL, e.g. 'virtual:vcan0' or "
                                 "'socketcan:can0'")
    if interface not in can.interfaces.VALID_INTERFACES:
        raise ConfigurationError(f"bus spec {spec!r}: unknown python-can interface {interface!r}; "
                                 f"expected one of {', '.join(sorted(can.interfaces.VALID_INTERFACES))}")
    return interface, channel


def open_bus(spec: str, **kwargs: Any) -> can.BusABC:
    """Open a python-can bus from ``INTERFACE:CHANNEL`` (``virtual:vcan0``, ``socketcan:can0``,
    ``pcan:PCAN_USBBUS1``, ...).  ``virtual`` buses preserve the timestamps of the messages sent
    on them (a player's log times reach the reader).  ``kwargs`` go to ``can.Bus``.

    A malformed spec or unknown interface raises ``ConfigurationError``; a bus that cannot be
    opened raises ``fusion.errors.BusError`` naming the spec (python-can's error chained).

    Thread safety: safe to call from any thread."""
    interface, channel = _split_spec(spec)
    if interface == "virtual":
        kwargs.setdefault("preserve_timestamps", True)
    try:
        return can.Bus(interface=interface, channel=channel, **kwargs)
    except (can.CanError, OSError, ImportError) as exc:
        raise BusError(f"bus {spec!r}: cannot open: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class BusSpec:
    """One input bus of :func:`run_live`: the rig bus ``name`` its frames get (None: the message's
    channel through the rig's channel map) and the ``spec`` for :func:`open_bus`."""

    name: str | None
    spec: str


def parse_bus_specs(text: str) -> list[BusSpec]:
    """``"[NAME=]INTERFACE:CHANNEL[,...]"`` -> specs (checked; ConfigurationError naming the part)."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigurationError(f"bus spec: expected '[NAME=]INTERFACE:CHANNEL[,...]', but got {text!r}")
    out: list[BusSpec] = []
    for part in text.split(","):
        name: str | None = None
        if "=" in part:
            name, _, part = part.partition("=")
            name = name.strip()
            if not name:
                raise ConfigurationError(f"bus spec {text!r}: empty bus name before '='")
        _split_spec(part)
        out.append(BusSpec(name, part.strip()))
    names = [b.name for b in out if b.name is not None]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"bus spec {text!r}: a bus name appears twice")
    return out


class BoundedFrameQueue:
    """A FIFO of at most ``maxsize`` items that never blocks a producer: when full, ``put`` drops
    the oldest item (``policy="oldest"``, the default: fresh frames matter more to a tracker) or
    the new one (``policy="newest"``) and counts it in ``dropped``.  ``high_water`` is the largest
    length seen.

    Thread safety: ``put`` and ``get`` may be called from any number of threads at once (one lock;
    O(1) pure-Python work inside it)."""

    def __init__(self, maxsize: int, policy: str = "oldest") -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ConfigurationError(f"queue_size: expected an integer >= 1, but got {maxsize!r}")
        if policy not in ("oldest", "newest"):
            raise ConfigurationError(f"drop policy: expected 'oldest' or 'newest', but got {policy!r}")
        self.maxsize = maxsize
        self.policy = policy
        self.dropped = 0
        self.high_water = 0
        self._items: deque[Any] = deque()
        self._cond = threading.Condition(threading.Lock())

    def put(self, item: Any) -> bool:
        """Append ``item``; False when an item (the oldest, or this one) was dropped for room."""
        with self._cond:
            kept = True
            if len(self._items) >= self.maxsize:
                self.dropped += 1
                kept = False
                if self.policy == "newest":
                    return False
                self._items.popleft()
            self._items.append(item)
            self.high_water = max(self.high_water, len(self._items))
            self._cond.notify()
            return kept

    def get(self, timeout: float | None = None) -> Any | None:
        """The oldest item, waiting up to ``timeout`` s (None: forever); None when empty."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
                if not self._items:
                    return None
            return self._items.popleft()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class _ReplayerLike(Protocol):
    def feed_frame(self, frame: LogFrame) -> list[Any]: ...
    def flush(self) -> list[Any]: ...
    def report(self) -> dict[str, Any]: ...


class _EncoderLike(Protocol):
    def encode(self, cycle_counter: int, t_ns: int, tracks_vehicle: Any) -> list[can.Message]: ...


@dataclass
class _LiveStats:
    """Counters shared by the reader threads and the consumer (each field written under ``lock``)."""

    buses: list[str]
    frames_received: list[int]
    bus_errors: list[dict[str, Any]] = field(default_factory=list)
    bus_error_count: int = 0
    reconnects: int = 0
    readers_failed: int = 0
    backoffs_s: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, bus: str, where: str, exc: BaseException, backoff: float) -> None:
        with self.lock:
            self.bus_error_count += 1
            if len(self.bus_errors) < _MAX_REPORTED_ERRORS:
                self.bus_errors.append({"bus": bus, "during": where, "error": f"{type(exc).__name__}: {exc}",
                                        "wall_s": time.time(), "backoff_s": backoff})
            if len(self.backoffs_s) < 1000:
                self.backoffs_s.append(backoff)


_BUS_FAILURES = (can.CanError, OSError)


def _reader(index: int, spec: BusSpec, bus_factory: Callable[[str], can.BusABC], queue: BoundedFrameQueue,
            halt: threading.Event, stats: _LiveStats, poll_s: float, backoff_s: float,
            backoff_max_s: float) -> None:
    try:
        _read_bus(index, spec, bus_factory, queue, halt, stats, poll_s, backoff_s, backoff_max_s)
    except Exception as exc:  # noqa: BLE001  (a defect, not a bus going away: reported, ends this reader only)
        stats.error(stats.buses[index], "reader stopped", exc, 0.0)
        with stats.lock:
            stats.readers_failed += 1


def _read_bus(index: int, spec: BusSpec, bus_factory: Callable[[str], can.BusABC], queue: BoundedFrameQueue,
              halt: threading.Event, stats: _LiveStats, poll_s: float, backoff_s: float,
              backoff_max_s: float) -> None:
    label = stats.buses[index]
    backoff = backoff_s
    bus: can.BusABC | None = None
    failed = False
    while not halt.is_set():
        if bus is None:
            try:
                bus = bus_factory(spec.spec)
            except _BUS_FAILURES as exc:
                stats.error(label, "open", exc, backoff)
                halt.wait(backoff)
                backoff = min(2.0 * backoff, backoff_max_s)
                continue
            if failed:
                with stats.lock:
                    stats.reconnects += 1
        try:
            msg = bus.recv(timeout=poll_s)
        except _BUS_FAILURES as exc:
            stats.error(label, "recv", exc, backoff)
            failed = True
            _shutdown(bus)
            bus = None
            halt.wait(backoff)
            backoff = min(2.0 * backoff, backoff_max_s)
            continue
        if msg is None:
            continue
        backoff = backoff_s  # frames flow again
        queue.put((index, msg, time.monotonic()))
        with stats.lock:
            stats.frames_received[index] += 1
    if bus is None:
        return
    # Stopping: hand over what the bus already holds (a player that has finished sent it all),
    # for at most _DRAIN_S so a flooding bus cannot keep us here.
    drain_end = time.monotonic() + _DRAIN_S
    try:
        while time.monotonic() < drain_end:
            msg = bus.recv(timeout=0)
            if msg is None:
                break
            queue.put((index, msg, time.monotonic()))
            with stats.lock:
                stats.frames_received[index] += 1
    except _BUS_FAILURES:
        pass
    finally:
        _shutdown(bus)


def _shutdown(bus: can.BusABC) -> None:
    try:
        bus.shutdown()
    except _BUS_FAILURES:
        pass


def _contract(module: str) -> Any:
    """The module of another part of the harness (the rig, the Replayer, the track outputs),
    imported when first needed."""
    return importlib.import_module(module)


def run_live(rig: Any, bus_spec: str, *, to_bus: str | can.BusABC | None = None, out: Path | None = None,
             duration_s: float | None = None, stop: threading.Event | None = None, strict: bool = False,
             queue_size: int = 10_000, drop: str = "oldest", reorder_s: float = 0.02,
             backoff_s: float = 0.1, backoff_max_s: float = 5.0, poll_s: float = 0.05,
             replayer: _ReplayerLike | None = None, encoder: _EncoderLike | None = None,
             bus_factory: Callable[[str], can.BusABC] = open_bus) -> dict[str, Any]:
    """Fuse frames read live from ``bus_spec`` (see the module docstring) until ``stop`` is set or
    ``duration_s`` of wall time has passed; publish each cycle's tracks on ``to_bus``.

    ``rig`` is a :class:`fusion.hil.rig.Rig` or the path of a rig TOML (K1).  ``to_bus`` is a
    spec for :func:`open_bus` or an open bus (not shut down here); the tracks are encoded with
    :class:`fusion.hil.publish.TrackEncoder` on the rig's output DBC.  ``out``: a folder for the
    tracks table (``tracks.csv`` / ``.parquet`` as the rig's ``[output] tracks`` says) and
    ``report.json``.  ``queue_size``/``drop``: the bounded queue between readers and fusion;
    ``reorder_s``: the longest wall time a frame waits for the other buses (see the module
    docstring); ``backoff_s``/``backoff_max_s``: the reconnect back-off; ``poll_s``: how often the
    threads look at ``stop``.  ``replayer``, ``encoder``, ``bus_factory`` replace the defaults
    (the Replayer of the rig, the rig's TrackEncoder, :func:`open_bus`), e.g. in tests.

    Returns the Replayer's report (K5 keys) with a ``"live"`` entry: frames received per bus,
    queue size/high water/dropped, bus errors (first 20) and their count, reconnects, back-offs,
    frames reordered late, frames published, ``bus_to_publish_ms`` (``{"p50", "p99", "max"}``:
    wall time from reading a cycle's last frame off the bus to its tracks sent on ``to_bus``,
    queue and reordering included; the K5 ``latency_ms`` is the fusion step alone),
    ``interrupted``.  A ``KeyboardInterrupt`` (Ctrl-C, or SIGINT from systemd) stops the run like
    ``stop``: what was read is fused, the report returned (a second one aborts).

    Thread safety: see the module docstring."""
    specs = parse_bus_specs(bus_spec)
    for name, value in (("reorder_s", reorder_s), ("backoff_s", backoff_s), ("backoff_max_s", backoff_max_s),
                        ("poll_s", poll_s)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
            raise ConfigurationError(f"{name}: expected a number >= 0 [s], but got {value!r}")
    if duration_s is not None and not (isinstance(duration_s, (int, float)) and duration_s >= 0):
        raise ConfigurationError(f"duration_s: expected a number >= 0 [s] or None, but got {duration_s!r}")
    queue = BoundedFrameQueue(queue_size, drop)
    if rig is not None and not hasattr(rig, "channels"):
        rig = _contract("fusion.hil.rig").load_rig(Path(rig))  # K1
    channels: Mapping[str, str] = dict(getattr(rig, "channels", None) or {})
    if replayer is None:
        if rig is None:
            raise ConfigurationError("run_live: a rig (or a replayer) is needed")
        replayer = _contract("fusion.hil.replay").Replayer(rig, strict=strict)  # K3
    out_bus: can.BusABC | None = None
    own_out_bus = False
    if to_bus is not None:
        if encoder is None:
            output = getattr(rig, "output", None)
            encoder = _contract("fusion.hil.publish").TrackEncoder(  # K4
                getattr(output, "dbc", None), fd=bool(getattr(output, "fd", False)))
        if isinstance(to_bus, str):
            out_bus, own_out_bus = open_bus(to_bus), True
        else:
            out_bus = to_bus
    writer: Any = None
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        fmt = str(getattr(getattr(rig, "output", None), "tracks", "csv"))
        writer = _contract("fusion.hil.outputs").TrackWriter(out / f"tracks.{fmt}", fmt)

    labels = [s.name or s.spec for s in specs]
    stats = _LiveStats(buses=labels, frames_received=[0] * len(specs))
    halt = threading.Event()
    readers = [threading.Thread(target=_reader, name=f"fusion-live-reader-{label}", daemon=True,
                                args=(i, s, bus_factory, queue, halt, stats, poll_s, backoff_s, backoff_max_s))
               for i, (s, label) in enumerate(zip(specs, labels))]
    counters = {"frames_fed": 0, "reordered_late": 0, "cycles_published": 0, "frames_published": 0,
                "publish_errors": 0}
    publish_error_text: list[str] = []

    def publish(cycles: Iterable[Any], received: float | None = None) -> None:
        for cycle in cycles:
            if writer is not None:
                writer.write(cycle)
            if out_bus is None or encoder is None:
                continue
            msgs = encoder.encode(cycle.index, cycle.t_ns, cycle.tracks_vehicle)
            try:
                for m in msgs:
                    out_bus.send(m)
            except _BUS_FAILURES as exc:
                counters["publish_errors"] += 1
                if len(publish_error_text) < _MAX_REPORTED_ERRORS:
                    publish_error_text.append(f"{type(exc).__name__}: {exc}")
                continue
            counters["cycles_published"] += 1
            counters["frames_published"] += len(msgs)
            if received is not None and len(bus_to_publish_ns) < _MAX_LATENCY_SAMPLES:
                bus_to_publish_ns.append(round((time.monotonic() - received) * 1e9))

    per_bus_index = [0] * len(specs)
    last_t: list[int | None] = [None] * len(specs)  # newest timestamp delivered by each bus [ns]
    bus_to_publish_ns: list[int] = []  # per published cycle: its last frame read from the bus -> sent
    # heap of (t_ns, bus index, arrival seq, wall time read, frame): ties across buses in spec order
    pending: list[tuple[int, int, int, float, LogFrame]] = []
    single = len(specs) == 1
    seq = itertools.count()
    fed_t: int | None = None

    def admit(item: tuple[int, can.Message, float]) -> None:
        index, msg, received = item
        t_ns = round(float(msg.timestamp) * 1e9)
        name = specs[index].name
        if name is None:
            ch = "" if msg.channel is None else str(msg.channel)
            name = channels.get(ch, ch)
        frame = LogFrame(t_ns, index, per_bus_index[index], name, msg.arbitration_id, msg.is_extended_id,
                         msg.is_fd, msg.is_error_frame, msg.is_remote_frame, msg.dlc, bytes(msg.data))
        per_bus_index[index] += 1
        prev = last_t[index]
        last_t[index] = t_ns if prev is None else max(prev, t_ns)
        heapq.heappush(pending, (t_ns, index, next(seq), received, frame))

    def release(final: bool) -> None:
        nonlocal fed_t
        assert replayer is not None
        known: list[int] = [t for t in last_t if t is not None]
        watermark = min(known) if len(known) == len(last_t) else None
        now = time.monotonic()
        while pending:
            t_ns, _, _, wall_in, frame = pending[0]
            if not (single or final or (watermark is not None and t_ns < watermark)
                    or now - wall_in >= reorder_s):
                break
            heapq.heappop(pending)
            if fed_t is not None and t_ns < fed_t:
                counters["reordered_late"] += 1
            fed_t = t_ns if fed_t is None else max(fed_t, t_ns)
            counters["frames_fed"] += 1
            publish(replayer.feed_frame(frame), wall_in)

    def consume() -> None:
        while True:
            if not halt.is_set() and ((stop is not None and stop.is_set())
                                      or (deadline is not None and time.monotonic() >= deadline)):
                halt.set()
            if halt.is_set() and not any(t.is_alive() for t in readers) and not len(queue):
                return
            timeout = poll_s
            if pending:
                timeout = max(0.0, min(timeout, pending[0][3] + reorder_s - time.monotonic()))
            item = queue.get(timeout)
            while item is not None:
                admit(item)
                item = queue.get(0) if len(queue) else None
            release(final=False)

    wall0 = time.monotonic()
    deadline = None if duration_s is None else wall0 + float(duration_s)
    interrupted = False
    for t in readers:
        t.start()
    try:
        try:
            consume()
        except KeyboardInterrupt:  # Ctrl-C / systemd's SIGINT: stop as if `stop` were set, finish cleanly
            interrupted = True
            halt.set()
            consume()
        release(final=True)
        publish(replayer.flush())
    finally:
        halt.set()
        for t in readers:
            t.join()
        if writer is not None:
            writer.close()
        if own_out_bus and out_bus is not None:
            _shutdown(out_bus)

    report = dict(replayer.report())
    with stats.lock:
        report["live"] = {
            "buses": labels,
            "frames_received": dict(zip(labels, stats.frames_received)),
            "frames_fed": counters["frames_fed"],
            "queue_size": queue.maxsize,
            "queue_policy": f"drop-{queue.policy}",
            "queue_high_water": queue.high_water,
            "queue_dropped": queue.dropped,
            "reordered_late": counters["reordered_late"],
            "bus_error_count": stats.bus_error_count,
            "bus_errors": list(stats.bus_errors),
            "reconnects": stats.reconnects,
            "readers_failed": stats.readers_failed,
            "backoffs_s": list(stats.backoffs_s),
            "cycles_published": counters["cycles_published"],
            "frames_published": counters["frames_published"],
            "bus_to_publish_ms": error_stats_ms(bus_to_publish_ns),
            "publish_errors": counters["publish_errors"],
            "publish_error_messages": publish_error_text,
            "wall_s": time.monotonic() - wall0,
            "interrupted": interrupted,
        }
    if out is not None:
        (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report
