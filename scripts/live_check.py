"""Live mode end to end, as a HIL rig runs it, in one process on python-can virtual buses: a player
plays a CAN log (default: the 60 s RAV4 drive) at a speed factor onto one virtual bus per log
channel, ``fusion.hil.live.run_live`` reads them, fuses them with the rig and publishes the tracks
on another virtual bus, a recorder counts what arrives.

    python scripts/live_check.py                          # RAV4, hil/rigs/rav4_comma2k19.toml, 1x
    python scripts/live_check.py --seconds 20 --speed 2 --json out/live.json

Prints and writes JSON: the player's send_error_ms, the live report's frames, cycles, latency_ms
(the fusion step), deadline misses, and bus_to_publish_ms (read off the bus -> tracks sent), queue
high water and drops, frames recorded, the load average.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import can

from fusion.hil.live import open_bus, run_live
from fusion.hil.logs import read_log
from fusion.hil.player import play
from fusion.hil.rig import load_rig

ROOT = Path(__file__).resolve().parents[1]
RAV4 = ROOT / "../shared/data/can/comma2k19/derived/rav4_2018-08-02--08-34-47_seg40.blf"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--log", type=Path, default=RAV4.resolve())
    ap.add_argument("--rig", type=Path, default=ROOT / "hil" / "rigs" / "rav4_comma2k19.toml")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=None, help="play only this many seconds of log time")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.getLogger("fusion.hil").setLevel(logging.ERROR)  # unknown ids of the log: counted in the report

    rig = load_rig(args.rig, logs=[args.log])
    frames = list(read_log(args.log, rig.channels))
    if args.seconds is not None:
        frames = [f for f in frames if f.t_ns - frames[0].t_ns < args.seconds * 1e9]
    channels = sorted({f.channel for f in frames})
    specs = {ch: f"virtual:live-check-{ch}" for ch in channels}
    opened = threading.Semaphore(0)

    def factory(spec: str) -> can.BusABC:
        bus = open_bus(spec)
        opened.release()
        return bus

    stop = threading.Event()
    result: dict[str, Any] = {}
    load_before = os.getloadavg()
    with can.Bus(interface="virtual", channel="live-check-tracks") as recorder:
        live = threading.Thread(target=lambda: result.update(run_live(
            rig, ",".join(f"{ch}={s}" for ch, s in specs.items()), to_bus="virtual:live-check-tracks", stop=stop,
            bus_factory=factory)))
        live.start()
        for _ in channels:
            opened.acquire()
        players = {ch: open_bus(s) for ch, s in specs.items()}
        try:
            send_error = play(frames, players, speed=args.speed)
        finally:
            time.sleep(0.2)  # the last cycle published
            stop.set()
            live.join()
            for b in players.values():
                b.shutdown()
        recorded = sum(1 for _ in iter(lambda: recorder.recv(timeout=0), None))
    rep, lv = result, result["live"]
    out = {"frames": len(frames), "speed": args.speed, "send_error_ms": send_error, "cycles": rep["cycles"],
           "latency_ms": rep["latency_ms"], "budget_ms": rep["budget_ms"], "deadline_misses": rep["deadline_misses"],
           "bus_to_publish_ms": lv["bus_to_publish_ms"], "frames_fed": lv["frames_fed"],
           "queue_high_water": lv["queue_high_water"], "queue_dropped": lv["queue_dropped"],
           "reordered_late": lv["reordered_late"], "frames_published": lv["frames_published"],
           "frames_recorded": recorded,
           "load_avg": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]}}
    text = json.dumps(out, indent=2)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
