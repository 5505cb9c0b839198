"""fusion.hil.live: bus specs, the bounded queue, run_live with a bus that goes away and comes
back (back-off observed, Replayer state kept, frames after the reconnect processed), queue
overflow counted, several buses merged in timestamp order, tracks published on a virtual bus.

A fake Replayer and a fake encoder stand in for K3/K4 here (the real ones are exercised by
test_hil_roundtrip.py); buses are in-process python-can ``virtual`` buses only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import can
import pytest

from fusion.errors import BusError, ConfigurationError
from fusion.hil.live import BoundedFrameQueue, BusSpec, open_bus, parse_bus_specs, run_live
from fusion.hil.logs import LogFrame

CYCLE_ID = 0x100  # the fake replayer emits one cycle per frame with this id


class FakeReplayer:
    """Records the frames fed; a frame with CYCLE_ID closes a "cycle" carrying the frame's data."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.frames: list[LogFrame] = []
        self.delay_s = delay_s
        self.flushed = 0

    def feed_frame(self, frame: LogFrame) -> list[Any]:
        if self.delay_s:
            time.sleep(self.delay_s)
        self.frames.append(frame)
        if frame.arbitration_id != CYCLE_ID:
            return []
        return [SimpleNamespace(index=len(self.frames), t_ns=frame.t_ns, tracks_vehicle=frame.data)]

    def flush(self) -> list[Any]:
        self.flushed += 1
        return []

    def report(self) -> dict[str, Any]:
        return {"frames_read": len(self.frames)}


class FakeEncoder:
    def encode(self, cycle_counter: int, t_ns: int, tracks_vehicle: Any) -> list[can.Message]:
        return [can.Message(arbitration_id=0x600, data=bytes(tracks_vehicle), timestamp=t_ns / 1e9),
                can.Message(arbitration_id=0x601, data=cycle_counter.to_bytes(2, "little"))]


def msg(t_s: float, can_id: int = 0x200, data: bytes = b"\x00") -> can.Message:
    return can.Message(timestamp=t_s, arbitration_id=can_id, data=data, is_extended_id=False)


# --- bus specs ----------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["vcan0", "virtual", "virtual:", ":can0", "  :  ", "nosuchbus:can0", ""])
def test_open_bus_rejects_malformed_specs(spec: str) -> None:
    with pytest.raises(ConfigurationError, match="INTERFACE:CHANNEL|unknown python-can interface"):
        open_bus(spec)


def test_open_bus_unknown_interface_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="socketcan.*virtual"):
        open_bus("vcan:0")


def test_open_bus_that_cannot_open_is_a_bus_error() -> None:
    # socketcan on a machine without the interface (or without SocketCAN at all): typed, named.
    with pytest.raises(BusError, match="socketcan:fusion-no-such-if"):
        open_bus("socketcan:fusion-no-such-if")


def test_open_bus_virtual_preserves_timestamps() -> None:
    with open_bus("virtual:test-live-ts") as tx, open_bus("virtual:test-live-ts") as rx:
        tx.send(msg(12.345678))
        got = rx.recv(timeout=1.0)
    assert got is not None and got.timestamp == 12.345678


def test_parse_bus_specs_names_and_errors() -> None:
    assert parse_bus_specs("radar=virtual:a, vehicle=socketcan:can0") == [
        BusSpec("radar", "virtual:a"), BusSpec("vehicle", "socketcan:can0")]
    assert parse_bus_specs("virtual:a") == [BusSpec(None, "virtual:a")]
    for bad in ("", "radar=", "=virtual:a", "a=virtual:x,a=virtual:y", "radar=vcan0"):
        with pytest.raises(ConfigurationError):
            parse_bus_specs(bad)


# --- bounded queue --------------------------------------------------------------------------------

def test_bounded_queue_drops_oldest_and_counts() -> None:
    q = BoundedFrameQueue(3)
    assert [q.put(i) for i in range(5)] == [True, True, True, False, False]
    assert q.dropped == 2 and q.high_water == 3
    assert [q.get(0), q.get(0), q.get(0), q.get(0)] == [2, 3, 4, None]


def test_bounded_queue_drops_newest_and_counts() -> None:
    q = BoundedFrameQueue(3, "newest")
    for i in range(5):
        q.put(i)
    assert q.dropped == 2 and len(q) == 3
    assert [q.get(0) for _ in range(3)] == [0, 1, 2]


def test_bounded_queue_rejects_bad_configuration() -> None:
    with pytest.raises(ConfigurationError, match="queue_size"):
        BoundedFrameQueue(0)
    with pytest.raises(ConfigurationError, match="drop policy"):
        BoundedFrameQueue(3, "random")


@pytest.mark.parametrize(("maxsize", "dropped"), [(10_000, 0), (100, 3_900)])
def test_bounded_queue_is_safe_with_concurrent_producers(maxsize: int, dropped: int) -> None:
    q = BoundedFrameQueue(maxsize)
    threads = [threading.Thread(target=lambda k=k: [q.put((k, i)) for i in range(1000)]) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert q.dropped == dropped and len(q) == 4000 - dropped
    items = [q.get(0) for _ in range(len(q))]
    for k in range(4):  # each producer's items stay in order
        mine = [i for (kk, i) in items if kk == k]
        assert mine == sorted(mine)


# --- run_live ---------------------------------------------------------------------------------------

class FlakyBus(can.BusABC):  # type: ignore[misc]
    """Delivers its script: a can.Message, an exception instance (raised by recv), or None (quiet)."""

    def __init__(self, script: Iterator[Any]) -> None:
        super().__init__(channel="flaky")
        self._script = script

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        item = next(self._script, None)
        if isinstance(item, BaseException):
            raise item
        if item is None and timeout:
            time.sleep(min(timeout, 0.005))
        return item, False

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        raise NotImplementedError


def test_run_live_reconnects_with_backoff_and_keeps_state() -> None:
    before = [msg(1.0 + i * 0.01, CYCLE_ID if i == 2 else 0x200, bytes([i])) for i in range(3)]
    after = [msg(2.0 + i * 0.01, CYCLE_ID if i == 1 else 0x201, bytes([10 + i])) for i in range(3)]
    opens: list[float] = []
    stop = threading.Event()

    def factory(spec: str) -> can.BusABC:
        opens.append(time.monotonic())
        n = len(opens)
        if n == 1:  # the first bus works, then goes away
            return FlakyBus(iter([*before, can.CanOperationError("bus off")]))
        if n in (2, 3):  # still gone: opening fails twice
            raise BusError(f"{spec}: no such device")
        return FlakyBus(iter([*after, *(None for _ in range(10**6))]))

    replayer = FakeReplayer()
    with can.Bus(interface="virtual", channel="test-live-out") as recorder:
        def stopper() -> None:  # stop once the frames after the reconnect are in
            while len(replayer.frames) < 6:
                time.sleep(0.01)
            stop.set()

        th = threading.Thread(target=stopper)
        th.start()
        report = run_live(None, "radar=virtual:ignored", to_bus="virtual:test-live-out", stop=stop,
                          replayer=replayer, encoder=FakeEncoder(), bus_factory=factory,
                          backoff_s=0.02, backoff_max_s=0.05, poll_s=0.01)
        th.join()
        published = [m for m in iter(lambda: recorder.recv(timeout=0), None)]
    live = report["live"]
    # reported: one recv failure and two open failures; one reconnect (the 4th open)
    assert live["bus_error_count"] == 3 and live["reconnects"] == 1
    assert [e["during"] for e in live["bus_errors"]] == ["recv", "open", "open"]
    assert "bus off" in live["bus_errors"][0]["error"]
    # exponential back-off, bounded: 0.02, 0.04, then capped at 0.05
    assert live["backoffs_s"] == [0.02, 0.04, 0.05]
    gaps = [b - a for a, b in zip(opens, opens[1:])]
    assert gaps[0] >= 0.02 and gaps[1] >= 0.04 and gaps[2] >= 0.05
    # state kept: one Replayer saw every frame, before and after, in order, with the bus name
    assert [f.data for f in replayer.frames] == [m.data for m in before + after]
    assert {f.channel for f in replayer.frames} == {"radar"}
    assert [f.t_ns for f in replayer.frames] == [round(m.timestamp * 1e9) for m in before + after]
    assert report["frames_read"] == 6 and replayer.flushed == 1
    # both cycles (one before, one after the reconnect) published: 2 frames each
    assert [(m.arbitration_id, bytes(m.data)) for m in published if m.arbitration_id == 0x600] == \
        [(0x600, b"\x02"), (0x600, b"\x0b")]
    assert live["cycles_published"] == 2 and live["frames_published"] == 4
    lat = live["bus_to_publish_ms"]  # read off the bus -> published, for both cycles
    assert lat["max"] is not None and 0.0 <= lat["p50"] <= lat["max"] < 5_000.0


def test_run_live_bounded_queue_overflow_is_counted() -> None:
    # 300 frames arrive at once; the fusion side is slow (1 ms a frame) and the queue holds 20.
    rx = can.Bus(interface="virtual", channel="test-live-ovf")
    with can.Bus(interface="virtual", channel="test-live-ovf") as tx:
        for i in range(300):
            tx.send(msg(i * 1e-3, 0x200, i.to_bytes(2, "little")))
    replayer = FakeReplayer(delay_s=0.001)
    stop = threading.Event()
    stop.set()  # drain what is there, then stop
    report = run_live(None, "virtual:x", stop=stop, replayer=replayer, bus_factory=lambda spec: rx,
                      queue_size=20)
    live = report["live"]
    assert live["frames_received"] == {"virtual:x": 300}
    assert live["queue_dropped"] > 0 and live["queue_high_water"] <= 20
    assert live["frames_fed"] + live["queue_dropped"] == 300 == len(replayer.frames) + live["queue_dropped"]
    # drop-oldest: the newest frame always gets through
    assert replayer.frames[-1].data == (299).to_bytes(2, "little")


def test_run_live_merges_buses_in_timestamp_order() -> None:
    # Bus "b" delivers all its frames before bus "a" does: the watermark merge still feeds the
    # Replayer in timestamp order (as the offline replay of the log would), ties in spec order.
    buses = {s: can.Bus(interface="virtual", channel=f"test-live-merge-{s}") for s in "ab"}
    with open_bus("virtual:test-live-merge-a") as ta, open_bus("virtual:test-live-merge-b") as tb:
        for t in (2, 4, 6, 7):
            tb.send(msg(t, 0x20 + t))
        for t in (1, 3, 5, 7):
            ta.send(msg(t, 0x20 + t))
    replayer = FakeReplayer()
    stop = threading.Event()
    stop.set()
    report = run_live(None, "ra=virtual:a,rb=virtual:b", stop=stop, replayer=replayer, reorder_s=10.0,
                      bus_factory=lambda spec: buses[spec[-1]])
    assert [(f.t_ns // 10**9, f.channel) for f in replayer.frames] == \
        [(1, "ra"), (2, "rb"), (3, "ra"), (4, "rb"), (5, "ra"), (6, "rb"), (7, "ra"), (7, "rb")]
    assert report["live"]["reordered_late"] == 0


def test_run_live_unnamed_bus_maps_the_channel_through_the_rig() -> None:
    rig = SimpleNamespace(channels={"test-live-rig": "vehicle"})
    rx = can.Bus(interface="virtual", channel="test-live-rig")
    with can.Bus(interface="virtual", channel="test-live-rig") as tx:
        tx.send(msg(1.0))
    replayer = FakeReplayer()
    stop = threading.Event()
    stop.set()
    run_live(rig, "virtual:test-live-rig", stop=stop, replayer=replayer, bus_factory=lambda spec: rx)
    assert [f.channel for f in replayer.frames] == ["vehicle"]


def test_run_live_duration_ends_the_run() -> None:
    rx = can.Bus(interface="virtual", channel="test-live-dur")
    t0 = time.monotonic()
    report = run_live(None, "virtual:d", duration_s=0.2, replayer=FakeReplayer(), bus_factory=lambda s: rx,
                      poll_s=0.01)
    assert 0.2 <= time.monotonic() - t0 < 2.0
    assert report["live"]["frames_fed"] == 0


@pytest.mark.parametrize(("kwargs", "match"), [({"reorder_s": -1.0}, "reorder_s"), ({"backoff_s": "x"}, "backoff_s"),
                                               ({"duration_s": -1}, "duration_s"), ({"queue_size": 0}, "queue_size")])
def test_run_live_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    factory: Callable[[str], can.BusABC] = lambda s: pytest.fail("no bus may be opened")  # noqa: E731
    with pytest.raises(ConfigurationError, match=match):
        run_live(None, "virtual:x", replayer=FakeReplayer(), bus_factory=factory, **kwargs)
    with pytest.raises(ConfigurationError, match="INTERFACE:CHANNEL"):
        run_live(None, "vcan0", replayer=FakeReplayer(), bus_factory=factory)


def test_run_live_calls_may_run_concurrently() -> None:
    # Two runs in two threads, each with its own buses and Replayer, do not mix their frames.
    results: dict[str, FakeReplayer] = {}

    def one(name: str) -> None:
        rx = can.Bus(interface="virtual", channel=f"test-live-conc-{name}")
        with can.Bus(interface="virtual", channel=f"test-live-conc-{name}") as tx:
            for i in range(50):
                tx.send(msg(i * 0.001, 0x300, name.encode()))
        stop = threading.Event()
        stop.set()
        results[name] = FakeReplayer()
        run_live(None, f"virtual:{name}", stop=stop, replayer=results[name], bus_factory=lambda s: rx)

    threads = [threading.Thread(target=one, args=(n,)) for n in ("p", "q")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, rep in results.items():
        assert len(rep.frames) == 50 and {f.data for f in rep.frames} == {name.encode()}


def test_run_live_keyboard_interrupt_stops_cleanly_with_a_report() -> None:
    # Ctrl-C (systemd stops the unit with SIGINT) arrives while a frame is being fused: the run
    # stops as if `stop` were set, fuses what was read and returns its report.
    class InterruptOnce(FakeReplayer):
        def feed_frame(self, frame: LogFrame) -> list[Any]:
            if len(self.frames) == 2 and not getattr(self, "fired", False):
                self.fired = True
                raise KeyboardInterrupt
            return super().feed_frame(frame)

    rx = can.Bus(interface="virtual", channel="test-live-int")
    with open_bus("virtual:test-live-int") as tx:
        for i in range(5):
            tx.send(msg(i * 0.01, 0x200, bytes([i])))
    replayer = InterruptOnce()
    report = run_live(None, "virtual:i", duration_s=30.0, replayer=replayer, bus_factory=lambda s: rx, poll_s=0.01)
    assert report["live"]["interrupted"] is True
    assert [f.data[0] for f in replayer.frames] == [0, 1, 3, 4]  # the interrupted frame is lost, no other
    assert replayer.flushed == 1 and report["live"]["wall_s"] < 10.0


def test_run_live_reader_defect_is_reported_not_raised_in_a_thread() -> None:
    def factory(spec: str) -> can.BusABC:
        raise RuntimeError("driver bug")

    report = run_live(None, "virtual:x", duration_s=0.1, replayer=FakeReplayer(), bus_factory=factory, poll_s=0.01)
    live = report["live"]
    assert live["readers_failed"] == 1
    assert live["bus_errors"][0]["during"] == "reader stopped" and "driver bug" in live["bus_errors"][0]["error"]


def test_run_live_bus_to_publish_latency_includes_the_fusion_step() -> None:
    # each frame takes the fake fusion 20 ms: the bus-to-publish latency of every cycle is >= 20 ms
    rx = can.Bus(interface="virtual", channel="test-live-lat")
    with open_bus("virtual:test-live-lat") as tx:
        for i in range(3):
            tx.send(msg(i * 0.01, CYCLE_ID, bytes([i])))
    stop = threading.Event()
    stop.set()
    with can.Bus(interface="virtual", channel="test-live-lat-out") as recorder:
        report = run_live(None, "virtual:l", to_bus="virtual:test-live-lat-out", stop=stop,
                          replayer=FakeReplayer(delay_s=0.02), encoder=FakeEncoder(), bus_factory=lambda s: rx)
        assert len(list(iter(lambda: recorder.recv(timeout=0), None))) == 6
    lat = report["live"]["bus_to_publish_ms"]
    assert report["live"]["cycles_published"] == 3
    assert 20.0 <= lat["p50"] <= lat["max"] < 5_000.0
