"""``fusion replay`` and ``fusion live``: the HIL harness on the command line.

Errors in the input (a rig that does not validate, a DBC not found, a damaged log in strict
mode, a missing optional extra) print one line ``fusion replay: error: ...`` and exit with 2,
without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fusion.errors import FusionError

__all__ = ["replay_main", "live_main"]

_REPLAY_DESCRIPTION = """\
Replay recorded CAN logs (every format python-can reads: BLF, ASC, candump .log, TRC, CSV,
SQLite, MF4 with the mf4 extra; several merged by time) and sensor streams (CSV/Parquet files
with t_ns,sensor columns) through the fusion engine as a rig file describes, and write the fused
tracks (tracks.csv, tracks.blf on CAN, bev.png) and a timing report (report.json) into --out.
As fast as possible by default (deterministic: the same inputs give the same tracks.csv);
--realtime paces the frames on the wall clock.
"""

_REPLAY_EXAMPLES = """\
examples:
  # the RAV4 highway drive (run from the repository root)
  fusion replay ../shared/data/can/comma2k19/derived/rav4_2018-08-02--08-34-47_seg40.blf \\
      --rig hil/rigs/rav4_comma2k19.toml --out out/rav4 --report out/rav4/report.json

  # the project's sample drive (generated into out/sample/drive on first use), scored against truth
  fusion replay --sample --out out/sample

  # real time at 2x, fused tracks sent on a virtual bus
  fusion replay drive.blf --rig rig.toml --out out/rt --realtime --speed 2 --to-bus virtual:tracks

  # a folder of logs, 4 processes (one output folder per log)
  fusion replay logs/ --rig rig.toml --out out/batch --workers 4

exit status: 0 success, 2 bad input (rig, DBC, log, options)
"""

_LIVE_DESCRIPTION = """\
Read sensor frames live from a CAN bus (python-can: socketcan on a board, virtual in tests),
fuse them as the rig file describes and publish the fused tracks (on --to-bus, and into --out).
Runs until --duration seconds have passed or Ctrl-C.
"""

_LIVE_EXAMPLES = """\
examples:
  # a board with SocketCAN: sensors on can0, tracks out on can1
  fusion live --rig hil/board/rig.toml --bus socketcan:can0 --to-bus socketcan:can1

  # a test on python-can's in-process virtual bus for 10 s, outputs written to out/live
  fusion live --rig rig.toml --bus virtual:sensors --out out/live --duration 10

exit status: 0 success, 2 bad input (rig, DBC, bus, options)
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line and exit 2, as for every other bad input
        self.exit(2, f"{self.prog}: error: {message}\n")


def _replay_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fusion replay", description=_REPLAY_DESCRIPTION, epilog=_REPLAY_EXAMPLES,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("logs", nargs="*", metavar="LOG", help="CAN logs and stream files, or a folder of logs")
    p.add_argument("--rig", metavar="RIG.toml", help="the rig file (channels, DBCs, decoders, sensors, ego, output)")
    p.add_argument("--out", metavar="DIR", help="output folder (tracks.csv, tracks.blf, bev.png, report.json)")
    p.add_argument("--report", metavar="FILE", help="write the timing report here (default: DIR/report.json)")
    p.add_argument("--realtime", action="store_true", help="pace the frames on the wall clock")
    p.add_argument("--speed", type=float, default=1.0, metavar="X", help="real-time speed factor (default 1)")
    p.add_argument("--to-bus", metavar="INTERFACE:CHANNEL", help="also send the fused tracks on this bus")
    p.add_argument("--strict", action="store_true", help="stop at the first bad frame (default: count and warn)")
    p.add_argument("--dbc-dir", action="append", default=[], metavar="D", help="another folder to find DBCs in")
    p.add_argument("--sample", action="store_true", help="replay the project's sample drive and score it")
    p.add_argument("--workers", type=int, metavar="N", help="processes for several logs or a folder")
    p.add_argument("--dask", metavar="SCHED", help="run a folder on a Dask scheduler ('local' starts one)")
    p.add_argument("--no-progress", action="store_true", help="no progress line (default: on a terminal only)")
    return p


def _fail(prog: str, exc: BaseException) -> int:
    msg = str(exc).replace("\n", " ")
    sys.stderr.write(f"{prog}: error: {msg}\n")
    return 2


def _split_streams(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    from fusion.hil.replay import _is_stream

    logs: list[Path] = []
    streams: list[Path] = []
    for p in paths:
        (streams if p.is_file() and _is_stream(p) else logs).append(p)
    return logs, streams


def _print_summary(report: dict[str, Any], ids: int | None, extra: str = "") -> None:
    from fusion.hil.report import format_summary

    print(format_summary(report, tracks=ids))
    if extra:
        print(extra)


def _sample(args: argparse.Namespace) -> int:
    from fusion.hil.replay import replay

    sample = importlib.import_module("fusion.datasets.sample_drive")  # K7
    make_sample_drive, score = sample.make_sample_drive, sample.score
    out = Path(args.out or "out/sample")
    drive_dir = out / "drive"
    if (drive_dir / "rig.toml").is_file() and (drive_dir / "drive.blf").is_file():
        streams = sorted(drive_dir.glob("*.csv")) + sorted(drive_dir.glob("*.parquet"))
        can_log, rig, truth = drive_dir / "drive.blf", drive_dir / "rig.toml", drive_dir / "truth.npz"
    else:
        drive = make_sample_drive(drive_dir)
        can_log, streams, rig, truth = Path(drive.can_log), [Path(s) for s in drive.streams], Path(drive.rig), \
            Path(drive.truth)
    ids: set[int] = set()
    report = replay([can_log], rig, out, streams=streams, strict=args.strict, report_path=args.report,
                    progress=False if args.no_progress else None,
                    on_cycle=lambda c: ids.update(c.tracks["id"].tolist()))
    tracks_file = next((out / f"tracks.{x}" for x in ("csv", "parquet") if (out / f"tracks.{x}").is_file()), None)
    extra = ""
    if tracks_file is not None:
        s = score(tracks_file, truth)
        extra = (f"GOSPA vs truth {s['gospa']:.3f} m (localisation {s['gospa_loc']:.3f}, "
                 f"missed {s['gospa_missed']:.3f}, false {s['gospa_false']:.3f}); "
                 f"truth objects {s['num_truth']}, tracks {s['num_tracks']}")
    _print_summary(report, len(ids), extra)
    return 0


def _many(args: argparse.Namespace, folders: list[Path], logs: list[Path]) -> int:
    """A folder of logs, or several logs with --workers / --dask: one replay per log (the batch's
    replay_many, processes or a Dask cluster), one output folder per log."""
    batch = importlib.import_module("fusion.hil.batch")

    out = Path(args.out)
    options = {"strict": True} if args.strict else {}
    dbc_dirs = tuple(Path(d) for d in args.dbc_dir)
    jobs: list[Any] = []
    for folder in folders:
        jobs += batch.jobs_from_folder(folder, Path(args.rig), out / folder.name if len(folders) > 1 else out,
                                       options=options, dbc_dirs=dbc_dirs)
    jobs += [batch.ReplayJob(logs=(p,), rig=Path(args.rig), out=out / p.name.split(".")[0], options=options,
                             dbc_dirs=dbc_dirs) for p in logs]
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    results = batch.replay_many(jobs, workers=args.workers, dask=args.dask, summary_path=out / batch.SUMMARY_NAME)
    wall = time.perf_counter() - t0
    failed = 0
    for r in results:
        rep = r.get("report")
        if r.get("ok") and isinstance(rep, dict):
            p99 = (rep.get("latency_ms") or {}).get("p99")
            print(f"{r['name']}: cycles {rep['cycles']}, tracks published {rep['tracks_published']}, latency p99 "
                  f"{'-' if p99 is None else f'{p99:.3f}'} ms")
        else:
            failed += 1
            print(f"{r['name']}: FAILED: {(r.get('error') or {}).get('message', '?')}")
    print(f"{len(results)} logs ({failed} failed) in {wall:.3f} s; summary: {out / batch.SUMMARY_NAME}")
    return 2 if failed else 0


def replay_main(argv: Sequence[str] | None = None) -> int:
    """``fusion replay`` (``--help`` for the options)."""
    p = _replay_parser()
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    prog = p.prog
    try:
        if args.sample:
            return _sample(args)
        if not args.logs:
            p.error("give at least one LOG (or a folder), or --sample")
        if not args.rig:
            p.error("--rig RIG.toml is required")
        if args.out is None and args.report is None:
            p.error("give --out DIR (or at least --report FILE)")
        if not (args.speed > 0):
            p.error(f"--speed: expected a number > 0, got {args.speed}")
        folders = [Path(s) for s in args.logs if Path(s).is_dir()]
        logs, streams = _split_streams([Path(s) for s in args.logs if not Path(s).is_dir()])
        if folders or (args.workers is not None and len(logs) > 1) or args.dask:
            if args.out is None:
                p.error("a folder of logs (or --workers, --dask) needs --out DIR")
            if args.realtime or args.to_bus:
                p.error("--realtime and --to-bus replay one run, not a folder or a batch")
            return _many(args, folders, logs)
        from fusion.hil.replay import replay

        ids: set[int] = set()
        report = replay(logs, args.rig, args.out, streams=streams, strict=args.strict, realtime=args.realtime,
                        speed=args.speed, to_bus=args.to_bus, report_path=args.report,
                        progress=False if args.no_progress else None, dbc_dirs=args.dbc_dir,
                        on_cycle=lambda c: ids.update(c.tracks["id"].tolist()))
        _print_summary(report, len(ids))
        return 0
    except (FusionError, OSError) as exc:
        return _fail(prog, exc)
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return 130


def _live_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fusion live", description=_LIVE_DESCRIPTION, epilog=_LIVE_EXAMPLES,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rig", required=True, metavar="RIG.toml", help="the rig file")
    p.add_argument("--bus", required=True, metavar="INTERFACE:CHANNEL", help="where the sensor frames come from")
    p.add_argument("--to-bus", metavar="INTERFACE:CHANNEL", help="publish the fused tracks on this bus")
    p.add_argument("--out", metavar="DIR", help="also write tracks.csv, tracks.blf and report.json here")
    p.add_argument("--report", metavar="FILE", help="write the timing report here")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
    p.add_argument("--dbc-dir", action="append", default=[], metavar="D", help="another folder to find DBCs in")
    return p


def live_main(argv: Sequence[str] | None = None) -> int:
    """``fusion live`` (``--help`` for the options)."""
    p = _live_parser()
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    prog = p.prog
    if args.duration is not None and not args.duration > 0:
        p.error(f"--duration: expected seconds > 0, got {args.duration}")
    try:
        from fusion.hil.report import write_report
        from fusion.hil.rig import load_rig

        rig = load_rig(args.rig, dbc_dirs=args.dbc_dir)
        run_live = importlib.import_module("fusion.hil.live").run_live  # K6
        report = run_live(rig, args.bus, to_bus=args.to_bus, out=None if args.out is None else Path(args.out),
                          duration_s=args.duration, stop=None)
        if args.report:
            write_report(os.fspath(args.report), report)
        _print_summary(report, None)
        return 0
    except (FusionError, OSError) as exc:
        return _fail(prog, exc)
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return 130
