"""The HIL round trip, as a rig runs it: a player thread plays a slice of the RAV4 drive onto
virtual buses (one per log channel, as a rig wires them), ``run_live`` reads them and publishes
the fused tracks on another virtual bus, a recorder captures that bus; the recorded tracks equal
those of the offline replay (a K3 Replayer fed the same frames), frame for frame.

Equality holds because live mode uses the frames' own timestamps (the player sends the log time
in each message and ``open_bus`` virtual buses preserve it) and merges the buses in timestamp
order, ties in bus-spec order ("replay-from-bus"); see fusion.hil.live.  Played at 10x to keep the test short.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import can

from fusion.hil.live import open_bus, run_live
from fusion.hil.logs import read_log
from fusion.hil.player import play

REPO = Path(__file__).resolve().parents[2]
SLICE_S = 4.0
RAV4 = "rav4_2018-08-02--08-34-47_seg40"


def test_live_round_trip_equals_offline_replay(can_data: Path) -> None:
    import fusion.hil.publish as publish_mod
    import fusion.hil.replay as replay_mod
    import fusion.hil.rig as rig_mod

    blf = can_data / "comma2k19" / "derived" / f"{RAV4}.blf"
    rig: Any = rig_mod.load_rig(REPO / "hil" / "rigs" / "rav4_comma2k19.toml", logs=[blf])
    all_frames = read_log(blf, rig.channels)
    first = next(all_frames)
    frames = [first, *(f for f in all_frames if f.t_ns - first.t_ns < SLICE_S * 1e9)]
    channels = sorted({f.channel for f in frames})
    assert channels == ["radar", "vehicle"]

    # offline: the Replayer fed the same frames, its tracks encoded as live publishes them. The
    # log interleaves the two channels' frames of equal timestamps in file order, which two buses
    # cannot carry; live feeds such ties in bus-spec order (radar, vehicle), so the reference does.
    rank = {ch: i for i, ch in enumerate(channels)}
    ordered = sorted(frames, key=lambda f: (f.t_ns, rank[f.channel]))  # stable: order on a channel kept
    offline = replay_mod.Replayer(rig)
    cycles = [c for f in ordered for c in offline.feed_frame(f)] + offline.flush()
    encoder = publish_mod.TrackEncoder(rig.output.dbc, fd=rig.output.fd)
    expected = [m for c in cycles for m in encoder.encode(c.index, c.t_ns, c.tracks_vehicle)]
    assert cycles and expected

    # live: player -> A.<channel> buses -> run_live -> B -> recorder
    names = {ch: f"virtual:test-rt-A-{ch}" for ch in channels}
    opened = threading.Semaphore(0)

    def factory(spec: str) -> can.BusABC:
        bus = open_bus(spec)
        opened.release()
        return bus

    stop = threading.Event()
    result: dict[str, Any] = {}
    spec = ",".join(f"{ch}={s}" for ch, s in names.items())
    with can.Bus(interface="virtual", channel="test-rt-B") as recorder:
        live = threading.Thread(target=lambda: result.update(run_live(
            rig, spec, to_bus="virtual:test-rt-B", stop=stop, reorder_s=5.0, bus_factory=factory)))
        live.start()
        try:
            for _ in channels:  # the readers listen before the player sends
                assert opened.acquire(timeout=10.0)
            players = {ch: open_bus(s) for ch, s in names.items()}
            try:
                send_error = play(frames, players, speed=10.0)
            finally:
                for b in players.values():
                    b.shutdown()
        finally:
            stop.set()
            live.join(timeout=60.0)
        assert not live.is_alive()
        recorded = list(iter(lambda: recorder.recv(timeout=0), None))

    report = result
    assert report["live"]["frames_fed"] == len(frames)
    assert report["live"]["queue_dropped"] == 0 and report["live"]["reordered_late"] == 0
    assert report["live"]["bus_error_count"] == 0
    assert report["cycles"] == len(cycles)
    assert send_error["max"] is not None
    assert [(m.arbitration_id, bytes(m.data)) for m in recorded] == \
        [(m.arbitration_id, bytes(m.data)) for m in expected]
    assert encoder.decode(recorded) == encoder.decode(expected)
