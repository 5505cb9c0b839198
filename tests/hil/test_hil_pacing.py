"""fusion.hil.pacing.Pacer and fusion.hil.player.play: drift-free targets (a fake clock makes it
exact), the speed factor, late events not carried over, real-clock accuracy with generous bounds
(the hard 1 ms / 5 ms target is measured by scripts/pacing_check.py), and play() onto a virtual
bus received by another."""

from __future__ import annotations

import threading
import time

import can
import numpy as np
import pytest

from fusion.errors import ConfigurationError
from fusion.hil.live import open_bus
from fusion.hil.logs import LogFrame
from fusion.hil.pacing import Pacer, error_stats_ms
from fusion.hil.player import play, to_message


class FakeClock:
    """A clock that advances ``tick_ns`` per read; ``sleep`` advances by the time asked plus
    ``oversleep_ns`` (an OS waking the sleeper late), or by ``stall_ns`` once when set."""

    def __init__(self, tick_ns: int = 1_000, oversleep_ns: int = 300_000) -> None:
        self.now = 10**12
        self.tick_ns = tick_ns
        self.oversleep_ns = oversleep_ns
        self.stall_ns = 0
        self.sleeps = 0

    def clock(self) -> int:
        self.now += self.tick_ns
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps += 1
        self.now += round(seconds * 1e9) + self.oversleep_ns + self.stall_ns
        self.stall_ns = 0


def frame(t_ns: int, can_id: int = 0x123, data: bytes = b"\x01\x02", channel: str = "radar") -> LogFrame:
    return LogFrame(t_ns, 0, 0, channel, can_id, False, False, False, False, len(data), data)


def test_targets_are_absolute_so_oversleeping_never_accumulates() -> None:
    # 10,000 events 1 ms apart over 10 s; every sleep wakes 0.3 ms late. A player that sleeps
    # "the gap" would end 3 s late; the pacer's error stays one clock tick, first to last.
    fc = FakeClock(tick_ns=1_000, oversleep_ns=300_000)
    pacer = Pacer(1.0, spin_ns=500_000, clock=fc.clock, sleep=fc.sleep)
    t_log = [i * 1_000_000 for i in range(10_000)]
    start = fc.now
    errors = [pacer.wait_until(t) for t in t_log]
    assert max(errors) <= 1_000
    assert fc.sleeps > 9_000  # it slept (coarse), it did not only spin
    assert fc.now - start == pytest.approx(t_log[-1], abs=2_000)
    first, last = pacer.window_ms(0, 1_000_000_000), pacer.window_ms(9_000_000_000, 10_000_000_000)
    assert first["mean"] == pytest.approx(last["mean"], abs=1e-3)
    assert abs(pacer.drift_ms_per_min() or 0.0) < 1e-3


def test_oversleep_beyond_spin_is_a_late_event_and_the_next_one_is_on_time() -> None:
    fc = FakeClock(tick_ns=1_000, oversleep_ns=0)
    pacer = Pacer(1.0, spin_ns=100_000, clock=fc.clock, sleep=fc.sleep)
    pacer.wait_until(0)
    fc.stall_ns = 7_000_000  # the next sleep wakes 7 ms late (preempted)
    late = pacer.wait_until(10_000_000)
    on_time = pacer.wait_until(20_000_000)
    assert 6_900_000 <= late <= 7_000_000
    assert on_time <= 1_000
    stats = pacer.errors_ms()
    assert stats["max"] == pytest.approx(late / 1e6)


@pytest.mark.parametrize("speed", [0.5, 1.0, 10.0])
def test_speed_factor_scales_the_targets(speed: float) -> None:
    fc = FakeClock()
    pacer = Pacer(speed, clock=fc.clock, sleep=fc.sleep)
    anchor = fc.now
    pacer.start(5_000_000_000, wall_ns=anchor)
    assert pacer.target_ns(5_000_000_000) == anchor
    assert pacer.target_ns(6_000_000_000) == anchor + round(1e9 / speed)
    err = pacer.wait_until(7_000_000_000)  # due 2 s / speed after the anchor
    assert fc.now - anchor == pytest.approx(2e9 / speed, abs=2_000)
    assert 0 <= err <= 1_000


def test_first_event_anchors_and_is_not_waited_for() -> None:
    fc = FakeClock()
    pacer = Pacer(clock=fc.clock, sleep=fc.sleep)
    assert not pacer.started
    assert pacer.wait_until(123_456_789) <= 1_000
    assert pacer.started and fc.sleeps == 0


@pytest.mark.parametrize("kwargs", [{"speed": 0.0}, {"speed": -1.0}, {"speed": float("nan")}, {"speed": float("inf")},
                                    {"speed": True}, {"spin_ns": -1}, {"spin_ns": 1.5}, {"spin": "hard"}])
def test_bad_arguments_are_configuration_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(kwargs))):
        Pacer(**kwargs)  # type: ignore[arg-type]


def test_target_before_anchor_is_an_error_and_empty_stats_are_none() -> None:
    pacer = Pacer()
    with pytest.raises(ConfigurationError, match="anchor"):
        pacer.target_ns(0)
    assert pacer.errors_ms() == {"p50": None, "p99": None, "max": None}
    assert error_stats_ms([1_000_000, 3_000_000]) == {"p50": 2.0, "p99": pytest.approx(2.98), "max": 3.0}


@pytest.mark.parametrize("spin", ["yield", "busy"])
def test_real_clock_short_schedule_is_accurate(spin: str) -> None:
    # 200 events over 0.4 s on the real clock. Never early, never much late: the upper bounds
    # only catch gross errors (a wrong unit, a lost anchor), because a loaded CI machine can delay
    # any wake-up by milliseconds (p50 2.1 ms seen at load 8); the timing target is
    # scripts/pacing_check.py's (benchmarks/RESULTS.md), not a unit test's.
    pacer = Pacer(1.0, spin=spin)
    t0 = time.perf_counter_ns()
    for i in range(200):
        pacer.wait_until(i * 2_000_000)
    wall = (time.perf_counter_ns() - t0) / 1e9
    assert 0.398 <= wall < 2.0
    stats = pacer.errors_ms()
    assert stats["p50"] is not None and stats["p50"] < 20.0
    _, e = pacer.samples()
    assert (e >= 0).all() and e.size == 200


@pytest.mark.parametrize(("speed", "log_s", "wall_s"), [(2.0, 0.6, 0.3), (0.5, 0.1, 0.2), (10.0, 1.0, 0.1)])
def test_real_clock_speed_factor(speed: float, log_s: float, wall_s: float) -> None:
    pacer = Pacer(speed)
    n = 50
    t0 = time.perf_counter()
    for i in range(n + 1):
        pacer.wait_until(round(i * log_s / n * 1e9))
    assert wall_s <= time.perf_counter() - t0 < wall_s + 1.0  # generous: a loaded CI machine


def test_statistics_may_be_read_while_another_thread_paces() -> None:
    pacer = Pacer(1.0, spin_ns=200_000)
    seen: list[int] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            t, e = pacer.samples()
            assert t.shape == e.shape
            seen.append(e.size)
            pacer.errors_ms()

    th = threading.Thread(target=reader)
    th.start()
    try:
        for i in range(300):
            pacer.wait_until(i * 500_000)
    finally:
        done.set()
        th.join()
    assert len(pacer) == 300 and seen and seen == sorted(seen)


def test_play_onto_a_virtual_bus_is_received_with_log_times() -> None:
    frames = [frame(1_000_000_000 + i * 3_000_000, 0x100 + i, bytes([i, i + 1, 0xFF])) for i in range(20)]
    frames.append(LogFrame(frames[-1].t_ns + 1_000_000, 0, 20, "radar", 0x1ABCDEF0, True, False, False, False, 8,
                           bytes(range(8))))
    with open_bus("virtual:test-play-a") as rx, open_bus("virtual:test-play-a") as tx:
        t0 = time.perf_counter()
        stats = play(frames, tx, speed=1.0)
        wall = time.perf_counter() - t0
        got = [rx.recv(timeout=1.0) for _ in frames]
        assert rx.recv(timeout=0) is None
    assert 0.058 <= wall < 0.5  # the log spans 58 ms
    assert stats["max"] is not None and stats["max"] < 50.0
    for f, m in zip(frames, got):
        assert m is not None
        assert (m.arbitration_id, m.is_extended_id, m.dlc, bytes(m.data)) == \
            (f.arbitration_id, f.is_extended_id, f.dlc, f.data)
        assert round(m.timestamp * 1e9) == f.t_ns
        assert m.equals(to_message(f), timestamp_delta=None, check_channel=False)


def test_play_routes_channels_to_buses_and_filters() -> None:
    frames = [frame(i * 100_000, 0x10 + i, channel=("radar" if i % 2 else "vehicle")) for i in range(10)]
    frames.append(frame(2_000_000, 0x99, channel="unwired"))
    with open_bus("virtual:test-play-r") as radar, open_bus("virtual:test-play-v") as vehicle, \
            can.Bus(interface="virtual", channel="test-play-r") as rx_r, \
            can.Bus(interface="virtual", channel="test-play-v") as rx_v:
        play(frames, {"radar": radar, "vehicle": vehicle}, speed=5.0)
        ids_r = [m.arbitration_id for m in iter(lambda: rx_r.recv(timeout=0), None)]
        ids_v = [m.arbitration_id for m in iter(lambda: rx_v.recv(timeout=0), None)]
        assert ids_r == [0x11, 0x13, 0x15, 0x17, 0x19] and ids_v == [0x10, 0x12, 0x14, 0x16, 0x18]
        play(frames, radar, speed=10.0, channel_filter={"vehicle"})
        assert [m.arbitration_id for m in iter(lambda: rx_r.recv(timeout=0), None)] == ids_v
        play(frames, radar, speed=10.0, channel_filter=lambda ch: ch == "unwired")
        assert [m.arbitration_id for m in iter(lambda: rx_r.recv(timeout=0), None)] == [0x99]


def test_play_stops_when_asked_and_checks_the_pacer_speed() -> None:
    stop = threading.Event()
    stop.set()
    with open_bus("virtual:test-play-s") as tx, can.Bus(interface="virtual", channel="test-play-s") as rx:
        assert play([frame(0), frame(1)], tx, stop=stop) == {"p50": None, "p99": None, "max": None}
        assert rx.recv(timeout=0) is None
        with pytest.raises(ConfigurationError, match="speed"):
            play([frame(0)], tx, speed=2.0, pacer=Pacer(3.0))
    assert np.isfinite(Pacer(2.0).speed)
