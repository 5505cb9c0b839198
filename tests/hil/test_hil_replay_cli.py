"""``fusion replay`` / ``fusion live`` on the command line: --help with examples, the summary,
one-line errors with exit status 2 (no traceback), and the dispatch to the helpers' functions
(sample drive, batch, live) through stand-ins of their contracts."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import can
import cantools
import pytest
from _one_radar_rig import DBC, RIG

from fusion.cli import main


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    (tmp_path / "sensors.dbc").write_text(DBC)
    (tmp_path / "rig.toml").write_text(RIG)
    db = cantools.database.load_string(DBC, database_format="dbc")
    with can.Logger(str(tmp_path / "drive.blf")) as w:
        for k in range(40):
            data = db.encode_message("OBJ_0", {"X": 30.0 - 0.1 * k, "Y": 1.0, "RR": -2.0})
            w.on_message_received(can.Message(timestamp=k * 0.05, arbitration_id=256, data=data, channel=0,
                                              is_extended_id=False))
    return tmp_path


@pytest.mark.parametrize("command", ["replay", "live"])
def test_help_shows_examples(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main([command, "--help"])
    assert ei.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: fusion {command}" in out and "examples:" in out and f"  fusion {command} " in out
    if command == "replay":
        assert "rav4_2018-08-02--08-34-47_seg40.blf" in out and "--sample" in out and "--workers" in out


def test_replay_prints_a_summary_and_writes_the_report(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["replay", str(setup / "drive.blf"), "--rig", str(setup / "rig.toml"), "--out", str(setup / "out")])
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads((setup / "out" / "report.json").read_text())
    assert report["cycles"] == 40 and report["frames_read"] == 40
    assert "cycles 40, tracks published" in out and "distinct track ids 1" in out
    assert "latency ms p50" in out and "frames read 40" in out and "x real time" in out


@pytest.mark.parametrize("args, message", [
    (["{d}/drive.blf", "--rig", "{d}/nope.toml", "--out", "{d}/o"], "nope.toml: rig file not found"),
    (["{d}/missing.blf", "--rig", "{d}/rig.toml", "--out", "{d}/o"], "missing.blf: no such file"),
    (["{d}/drive.blf", "--rig", "{d}/bad.toml", "--out", "{d}/o"], "[sensors.radar] dbc"),
    (["{d}/drive.blf", "--out", "{d}/o"], "--rig RIG.toml is required"),
    (["{d}/drive.blf", "--rig", "{d}/rig.toml", "--out", "{d}/o", "--speed", "0"], "--speed: expected a number > 0"),
    (["{d}/drive.blf", "--rig", "{d}/rig.toml", "--out", "{d}/o", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_errors_are_one_line_with_exit_2(setup: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                         message: str) -> None:
    (setup / "bad.toml").write_text(RIG.replace('dbc = "sensors.dbc"', 'dbc = "elsewhere.dbc"'))
    code: Any
    try:
        code = main(["replay", *[a.format(d=setup) for a in args]])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("fusion replay: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_strict_stops_at_a_bad_frame(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with can.Logger(str(setup / "bad.blf")) as w:
        w.on_message_received(can.Message(timestamp=0.0, arbitration_id=0x123, data=bytes(8), channel=0,
                                          is_extended_id=False))
    assert main(["replay", str(setup / "bad.blf"), "--rig", str(setup / "rig.toml"), "--out",
                 str(setup / "o")]) == 0
    capsys.readouterr()
    code = main(["replay", str(setup / "bad.blf"), "--rig", str(setup / "rig.toml"), "--out", str(setup / "o"),
                 "--strict"])
    err = capsys.readouterr().err
    assert code == 2 and "CAN id 0x123 at t_ns=0" in err and "unknown id" in err


def test_folder_and_workers_go_to_replay_many(setup: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # stand-ins of the batch contract (fusion.hil.batch: ReplayJob, jobs_from_folder, replay_many)
    calls: dict[str, Any] = {}

    class ReplayJob:
        def __init__(self, logs: tuple[Path, ...], rig: Path, out: Path, options: dict[str, Any],
                     dbc_dirs: tuple[Path, ...] = ()) -> None:
            self.logs, self.rig, self.out, self.options, self.name = logs, rig, out, options, logs[0].name

    def jobs_from_folder(folder: Path, rig: Path, out: Path, *, options: dict[str, Any],
                         dbc_dirs: tuple[Path, ...] = ()) -> list[ReplayJob]:
        return [ReplayJob((p,), rig, out / p.stem, options) for p in sorted(folder.glob("*.blf"))]

    def replay_many(jobs: list[ReplayJob], *, workers: int | None = None, dask: str | None = None,
                    summary_path: Path | None = None) -> list[dict[str, Any]]:
        calls.update(jobs=jobs, workers=workers, dask=dask, summary_path=summary_path)
        return [{"name": j.name, "ok": True, "report": {"cycles": 1, "tracks_published": 2, "latency_ms": {"p99": 0.5}},
                 "error": None} for j in jobs]

    mod = types.ModuleType("fusion.hil.batch")
    for name, value in (("ReplayJob", ReplayJob), ("jobs_from_folder", jobs_from_folder),
                        ("replay_many", replay_many), ("SUMMARY_NAME", "summary.json")):
        setattr(mod, name, value)
    monkeypatch.setitem(sys.modules, "fusion.hil.batch", mod)
    import fusion.hil

    monkeypatch.setattr(fusion.hil, "batch", mod, raising=False)
    logs = setup / "logs"
    logs.mkdir()
    for name in ("a.blf", "b.blf"):
        (logs / name).write_bytes((setup / "drive.blf").read_bytes())
    code = main(["replay", str(logs), "--rig", str(setup / "rig.toml"), "--out", str(setup / "batch"), "--workers",
                 "2", "--strict"])
    assert code == 0 and calls["workers"] == 2 and calls["dask"] is None
    assert calls["summary_path"] == setup / "batch" / "summary.json"
    assert [j.logs[0].name for j in calls["jobs"]] == ["a.blf", "b.blf"]
    assert [j.out for j in calls["jobs"]] == [setup / "batch" / "a", setup / "batch" / "b"]
    assert all(j.options == {"strict": True} for j in calls["jobs"])
    assert "2 logs (0 failed) in" in capsys.readouterr().out
    # several logs with --workers: one job per log
    code = main(["replay", str(logs / "a.blf"), str(logs / "b.blf"), "--rig", str(setup / "rig.toml"), "--out",
                 str(setup / "many"), "--workers", "2"])
    assert code == 0 and [j.out for j in calls["jobs"]] == [setup / "many" / "a", setup / "many" / "b"]


def test_live_calls_run_live(setup: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from fusion.hil.replay import Replayer
    from fusion.hil.rig import load_rig

    seen: dict[str, Any] = {}

    def run_live(rig: Any, bus_spec: str, *, to_bus: str | None, out: Path | None, duration_s: float | None,
                 stop: Any) -> dict[str, Any]:
        seen.update(rig=rig, bus=bus_spec, to_bus=to_bus, out=out, duration=duration_s)
        return Replayer(load_rig(setup / "rig.toml")).report()

    mod = types.ModuleType("fusion.hil.live")
    mod.run_live = run_live  # type: ignore[attr-defined]
    if "fusion.hil.live" in sys.modules and hasattr(sys.modules["fusion.hil.live"], "run_live"):
        monkeypatch.setattr(sys.modules["fusion.hil.live"], "run_live", run_live)
    else:
        monkeypatch.setitem(sys.modules, "fusion.hil.live", mod)
    code = main(["live", "--rig", str(setup / "rig.toml"), "--bus", "virtual:sensors", "--to-bus", "virtual:tracks",
                 "--duration", "0.5", "--report", str(setup / "live.json")])
    assert code == 0 and seen["bus"] == "virtual:sensors" and seen["to_bus"] == "virtual:tracks"
    assert seen["duration"] == 0.5 and seen["rig"].sensors[0].name == "radar"
    assert json.loads((setup / "live.json").read_text())["cycles"] == 0
    assert "cycles 0" in capsys.readouterr().out
    code = main(["live", "--rig", str(setup / "nope.toml"), "--bus", "virtual:x"])
    assert code == 2 and "rig file not found" in capsys.readouterr().err
