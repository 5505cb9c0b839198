"""fusion.hil.batch: many logs through replay in parallel processes or on a Dask cluster, with the
results of a serial run; a corrupt log among good ones; folders to jobs.

Most tests inject ``fake_replay`` (below: it reads the logs with fusion.hil.logs, so a corrupt
log raises the real CanLogError, and writes a tracks file and a report with wall-clock fields);
``test_real_replay_*`` runs fusion.hil.replay.replay itself on slices of the RAV4 drive.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import can
import pytest

from fusion.errors import ConfigurationError
from fusion.hil import batch
from fusion.hil.batch import (
    SUMMARY_NAME,
    ReplayJob,
    deterministic_report,
    jobs_from_folder,
    replay_folder,
    replay_many,
    summarize,
)
from fusion.hil.errors import CanLogError, MissingExtraError
from fusion.hil.logs import read_logs

REPO_ROOT = Path(__file__).resolve().parents[2]


def fake_replay(logs: Sequence[Path], rig: Any, out: Path, *, streams: Sequence[Path] = (),
                report_path: Path | None = None, progress: bool | None = None, strict: bool = False) -> dict[str, Any]:
    """A deterministic stand-in for fusion.hil.replay.replay (same signature): one tracks row per
    frame, a report with the K5 keys, wall-clock ones included."""
    t0 = time.perf_counter()
    rows = ["t_ns,channel,id,data"]
    channels: dict[str, int] = {}
    for f in read_logs(logs):
        rows.append(f"{f.t_ns},{f.channel},{f.arbitration_id:x},{f.data.hex()}")
        channels[f.channel] = channels.get(f.channel, 0) + 1
    (out / "tracks.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    wall = time.perf_counter() - t0
    report = {"frames_read": len(rows) - 1, "frames_decoded": len(rows) - 1, "unknown_ids": {}, "decode_errors": {},
              "cycles": len(channels), "tracks_published": len(rows) - 1,
              "latency_ms": {"p50": wall * 1e3, "p99": wall * 1e3, "max": wall * 1e3, "mean": wall * 1e3},
              "budget_ms": 50.0, "deadline_misses": 0, "send_error_ms": None, "wall_s": wall, "log_s": 1.0,
              "realtime_factor": 1.0 / max(wall, 1e-9), "engine": {"rig": str(Path(rig).name),
                                                                   "streams": [p.name for p in streams]},
              "warnings": 0}
    if report_path is not None:
        report_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


def failing_replay(logs: Sequence[Path], rig: Any, out: Path, **kwargs: Any) -> dict[str, Any]:
    raise RuntimeError("a bug in replay")


def crashing_replay(logs: Sequence[Path], rig: Any, out: Path, **kwargs: Any) -> dict[str, Any]:
    """fake_replay, except that a log named crash* kills its worker process (a segfault's stand-in)."""
    if Path(logs[0]).name.startswith("crash"):
        os._exit(3)
    return fake_replay(logs, rig, out, **kwargs)


def _messages(seed: int, n: int = 40) -> list[can.Message]:
    return [can.Message(timestamp=1.0 + 0.01 * i, arbitration_id=0x100 + (i + seed) % 7, is_extended_id=False,
                        data=bytes(((i * 13 + seed) % 256, seed % 256, i % 256)), channel=seed % 2)
            for i in range(n)]


def _write(path: Path, messages: list[can.Message]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with can.Logger(str(path)) as writer:
        for m in messages:
            writer.on_message_received(m)
    return path


@pytest.fixture
def log_folder(tmp_path: Path) -> Path:
    """A folder of good logs in three formats (two subfolders) plus one corrupt text log."""
    root = tmp_path / "logs"
    _write(root / "day1" / "drive_a.blf", _messages(1))
    _write(root / "day1" / "drive_b.asc", _messages(2))
    _write(root / "day2" / "drive_c.log", _messages(3))
    bad = root / "day2" / "broken.log"
    text = (root / "day2" / "drive_c.log").read_bytes().splitlines(keepends=True)
    bad.write_bytes(b"".join(text[:5]) + b"(1.5) can0 1\xff\xfe#zz\n" + b"".join(text[5:]))
    return root


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _comparable(result: Mapping[str, Any], out_root: Path) -> dict[str, Any]:
    """A job result without what legitimately differs between runs: wall-clock fields and the out root."""
    r = {k: v for k, v in result.items() if k != "job_wall_s"}
    r["out"] = Path(result["out"]).relative_to(out_root).as_posix()
    if r["report"] is not None:
        r["report"] = deterministic_report(r["report"])
    return r


def _assert_same_outputs(out1: Path, res1: list[dict[str, Any]], out2: Path, res2: list[dict[str, Any]]) -> None:
    t1, t2 = _tree(out1), _tree(out2)
    assert sorted(t1) == sorted(t2)
    for name in t1:
        if name.endswith(".json"):  # reports and summary: equal but for wall-clock fields
            continue
        assert t1[name] == t2[name], f"{name} differs"
    for name in (n for n in t1 if n.endswith("report.json")):
        assert deterministic_report(json.loads(t1[name])) == deterministic_report(json.loads(t2[name]))
    assert [_comparable(r, out1) for r in res1] == [_comparable(r, out2) for r in res2]


def _check_corrupt_result(results: list[dict[str, Any]]) -> None:
    by_name = {r["name"]: r for r in results}
    assert sorted(by_name) == ["day1/drive_a.blf", "day1/drive_b.asc", "day2/broken.log", "day2/drive_c.log"]
    bad = by_name["day2/broken.log"]
    assert not bad["ok"] and bad["report"] is None
    err = bad["error"]
    assert err["type"] == "CanLogError" and err["module"] == "fusion.hil.errors"
    assert err["file"].endswith("broken.log") and err["line"] == 6 and err["frame_index"] == 5
    assert "broken.log:6" in err["message"]
    for name in ("day1/drive_a.blf", "day1/drive_b.asc", "day2/drive_c.log"):
        assert by_name[name]["ok"] and by_name[name]["error"] is None
        assert by_name[name]["report"]["frames_read"] == 40


def test_jobs_from_folder_layout(log_folder: Path, tmp_path: Path) -> None:
    _write(log_folder / "day3" / "cap.ASC", _messages(4))  # suffix case does not matter
    with gzip.open(log_folder / "day3" / "zipped.asc.gz", "wb") as f:
        f.write((log_folder / "day1" / "drive_b.asc").read_bytes())
    (log_folder / "day3" / "notes.txt").write_text("not a log", encoding="utf-8")
    _write(log_folder / "day4" / "same.blf", _messages(5))
    _write(log_folder / "day4" / "same.asc", _messages(5))
    out = tmp_path / "out"
    jobs = jobs_from_folder(log_folder, tmp_path / "rig.toml", out, options={"strict": True})
    assert [j.name for j in jobs] == ["day1/drive_a.blf", "day1/drive_b.asc", "day2/broken.log", "day2/drive_c.log",
                                      "day3/cap.ASC", "day3/zipped.asc.gz", "day4/same.asc", "day4/same.blf"]
    assert [j.out.relative_to(out).as_posix() for j in jobs] == [
        "day1/drive_a", "day1/drive_b", "day2/broken", "day2/drive_c", "day3/cap", "day3/zipped",
        "day4/same.asc", "day4/same.blf"]
    assert all(j.logs == (log_folder / j.name,) and j.options == {"strict": True} for j in jobs)
    # a stream (not a log: K2 header) next to day3's two logs: which log it belongs to is ambiguous
    (log_folder / "day3" / "lidar.csv").write_text("t_ns,sensor,x,y\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"day3: sensor streams \['lidar.csv'\] next to 2 logs"):
        jobs_from_folder(log_folder, tmp_path / "rig.toml", out)


def test_jobs_from_folder_streams_and_own_output(tmp_path: Path) -> None:
    root = tmp_path / "drives"
    _write(root / "d1" / "drive.blf", _messages(1))
    (root / "d1" / "lidar.csv").write_text("t_ns,sensor,x,y,z\n1,lidar,1,2,3\n", encoding="utf-8")
    _write(root / "d2" / "drive.blf", _messages(2))
    _write(root / "out" / "d1" / "drive" / "tracks.blf", _messages(3))  # a previous run's output inside root
    jobs = jobs_from_folder(root, "rig.toml", root / "out")
    assert [(j.name, j.streams) for j in jobs] == [("d1/drive.blf", (root / "d1" / "lidar.csv",)),
                                                   ("d2/drive.blf", ())]
    assert all(j.rig == Path("rig.toml") for j in jobs)


def test_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"empty: no CAN log in this folder or below \(looked for "
                                                 r"\*\.asc, \*\.blf, .*\*\.mf4.*"):
        replay_folder(tmp_path / "empty", "rig.toml", tmp_path / "out", replay_fn=fake_replay)
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written
    with pytest.raises(ConfigurationError, match="not a folder"):
        jobs_from_folder(tmp_path / "missing", "rig.toml", tmp_path / "out")
    with pytest.raises(ConfigurationError, match="no jobs"):
        replay_many([])


def test_serial_and_process_pool_identical_with_a_corrupt_log(log_folder: Path, tmp_path: Path) -> None:
    s1 = replay_folder(log_folder, "rig.toml", tmp_path / "serial", workers=1, replay_fn=fake_replay)
    s2 = replay_folder(log_folder, "rig.toml", tmp_path / "pool", workers=2, replay_fn=fake_replay)
    assert (s1["backend"], s2["backend"]) == ("serial", "processes")
    _check_corrupt_result(s1["results"])
    _assert_same_outputs(tmp_path / "serial", s1["results"], tmp_path / "pool", s2["results"])
    # the summary on disk: per-log reports, totals over the good logs, the failure with its file
    on_disk = json.loads((tmp_path / "pool" / SUMMARY_NAME).read_text(encoding="utf-8"))
    assert (on_disk["jobs"], on_disk["ok"], on_disk["failed"]) == (4, 3, 1)
    assert on_disk["totals"]["frames_read"] == 120 and on_disk["totals"]["cycles"] == 3
    assert [f["name"] for f in on_disk["failures"]] == ["day2/broken.log"]
    assert on_disk["failures"][0]["error"]["type"] == "CanLogError"
    assert [r["name"] for r in on_disk["results"]] == [r["name"] for r in s1["results"]]
    # each good log's outputs are its own frames: the fake writes one row per frame
    rows = (tmp_path / "pool" / "day1" / "drive_a" / "tracks.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 41 and not (tmp_path / "pool" / "day2" / "broken" / "tracks.csv").exists()


def test_forkserver_context_and_fork_refused(log_folder: Path, tmp_path: Path) -> None:
    jobs = [j for j in jobs_from_folder(log_folder, "rig.toml", tmp_path / "fs") if "broken" not in j.name]
    res = replay_many(jobs, workers=2, replay_fn=fake_replay, mp_context="forkserver")
    assert all(r["ok"] for r in res)
    with pytest.raises(ConfigurationError, match="fork copies locks"):
        replay_many(jobs, workers=2, replay_fn=fake_replay, mp_context="fork")


def test_a_crashing_worker_costs_only_its_log(log_folder: Path, tmp_path: Path) -> None:
    (log_folder / "day2" / "broken.log").unlink()
    _write(log_folder / "day1" / "crash.blf", _messages(9))
    for k in range(3):
        _write(log_folder / "day3" / f"more_{k}.asc", _messages(10 + k))
    jobs = jobs_from_folder(log_folder, "rig.toml", tmp_path / "pool")
    good = [j for j in jobs if j.name != "day1/crash.blf"]
    ref = replay_many([ReplayJob(j.logs, j.rig, tmp_path / "serial" / j.out.relative_to(tmp_path / "pool"),
                                 name=j.name) for j in good], workers=1, replay_fn=fake_replay)
    res = replay_many(jobs, workers=2, replay_fn=crashing_replay)
    by_name = {r["name"]: r for r in res}
    crash = by_name.pop("day1/crash.blf")
    assert not crash["ok"] and crash["error"]["type"] == "BrokenProcessPool"
    assert "the worker process running this job died" in crash["error"]["message"]
    assert all(r["ok"] for r in by_name.values()) and len(by_name) == 6
    _assert_same_outputs(tmp_path / "serial", ref, tmp_path / "pool", [r for r in res if r["ok"]])


def test_bug_in_replay_is_that_jobs_error(log_folder: Path, tmp_path: Path) -> None:
    jobs = jobs_from_folder(log_folder, "rig.toml", tmp_path / "out")[:2]
    res = replay_many(jobs, workers=1, replay_fn=failing_replay)
    assert [r["ok"] for r in res] == [False, False]
    err = res[0]["error"]
    assert (err["type"], err["module"], err["file"]) == ("RuntimeError", "builtins", None)
    assert "a bug in replay" in err["traceback"] and "failing_replay" in err["traceback"]


def test_dask_local_cluster_identical_to_serial(log_folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason="the dask extra is not installed: pip install 'fusion[dask]'")
    s1 = replay_folder(log_folder, "rig.toml", tmp_path / "serial", workers=1, replay_fn=fake_replay)
    t0 = time.perf_counter()
    s2 = replay_folder(log_folder, "rig.toml", tmp_path / "dask", workers=2, dask="local", replay_fn=fake_replay)
    assert time.perf_counter() - t0 < 30.0
    assert s2["backend"] == "dask" and s2["workers"] == 2
    _check_corrupt_result(s2["results"])
    _assert_same_outputs(tmp_path / "serial", s1["results"], tmp_path / "dask", s2["results"])


def test_dask_scheduler_address_and_client(log_folder: Path, tmp_path: Path) -> None:
    """A running scheduler by address (what `--dask tcp://host:port` does) and a Client as it is,
    here an in-process cluster (processes=False: threads; loopback only)."""
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    ref = replay_folder(log_folder, "rig.toml", tmp_path / "serial", workers=1, replay_fn=fake_replay)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None,
                                  scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}) as cluster:
        by_address = replay_folder(log_folder, "rig.toml", tmp_path / "addr", dask=cluster.scheduler_address,
                                   replay_fn=fake_replay)
        with distributed.Client(cluster) as client:
            by_client = replay_folder(log_folder, "rig.toml", tmp_path / "client", dask=client, replay_fn=fake_replay)
            assert client.status == "running"  # a Client we were given is not closed
    for name, summary in (("addr", by_address), ("client", by_client)):
        _check_corrupt_result(summary["results"])
        _assert_same_outputs(tmp_path / "serial", ref["results"], tmp_path / name, summary["results"])


def test_dask_bad_scheduler_and_missing_extra(log_folder: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = jobs_from_folder(log_folder, "rig.toml", tmp_path / "out")
    if importlib.util.find_spec("distributed") is not None:
        with pytest.raises(ConfigurationError, match="dask: expected 'local', a scheduler address"):
            replay_many(jobs, dask="remote-please", replay_fn=fake_replay)
    real_import = batch.importlib.import_module

    def no_distributed(name: str, package: str | None = None) -> Any:
        if name == "distributed":
            raise ImportError("No module named 'distributed'")
        return real_import(name, package)

    monkeypatch.setattr(batch.importlib, "import_module", no_distributed)
    with pytest.raises(MissingExtraError, match=r"pip install 'fusion\[dask\]'"):
        replay_many(jobs, dask="local", replay_fn=fake_replay)
    assert not (tmp_path / "out").exists()


def test_job_validation(tmp_path: Path) -> None:
    job = ReplayJob(logs="a.blf", rig="rig.toml", out=tmp_path)  # type: ignore[arg-type]
    assert job.logs == (Path("a.blf"),) and job.rig == Path("rig.toml") and job.name == "a.blf"
    for bad in ("realtime", "to_bus", "report_path", "progress"):
        with pytest.raises(ConfigurationError, match="set by the batch itself"):
            ReplayJob(logs=(Path("a.blf"),), rig="r", out=tmp_path, options={bad: True})
    with pytest.raises(ConfigurationError, match="one or more log paths"):
        ReplayJob(logs=(), rig="r", out=tmp_path)
    jobs = [ReplayJob(logs=(Path("a.blf"),), rig="r", out=tmp_path / "o"),
            ReplayJob(logs=(Path("b.blf"),), rig="r", out=tmp_path / "o")]
    with pytest.raises(ConfigurationError, match="share an output folder"):
        replay_many(jobs, replay_fn=fake_replay)
    with pytest.raises(ConfigurationError, match="workers: expected a positive integer"):
        replay_many(jobs[:1], workers=0, replay_fn=fake_replay)


def test_progress_lines(log_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = jobs_from_folder(log_folder, "rig.toml", tmp_path / "out")
    replay_many(jobs, workers=1, replay_fn=fake_replay, progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1] == "replay_many: 4/4 done, 1 failed: day2/drive_c.log ok"
    assert "day2/broken.log FAILED (CanLogError)" in lines[2]
    replay_many(jobs, workers=1, replay_fn=fake_replay)  # default: off when stderr is not a terminal
    assert capsys.readouterr().err == ""
    bar = batch._Progress(1, None, io.StringIO())
    assert not bar._enabled


def test_thread_safety_concurrent_calls(log_folder: Path, tmp_path: Path) -> None:
    """Thread safety: replay_many calls from several threads at once, sharing ReplayJob objects'
    inputs, give the results of one call alone."""
    ref = replay_folder(log_folder, "rig.toml", tmp_path / "ref", workers=1, replay_fn=fake_replay)
    outs: dict[int, dict[str, Any]] = {}
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            outs[k] = replay_folder(log_folder, "rig.toml", tmp_path / f"t{k}", workers=1, replay_fn=fake_replay)
        except Exception as exc:  # noqa: BLE001 -- surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and sorted(outs) == [0, 1, 2, 3]
    for k, summary in outs.items():
        _assert_same_outputs(tmp_path / "ref", ref["results"], tmp_path / f"t{k}", summary["results"])


def test_summarize_totals() -> None:
    ok = {"name": "a", "logs": ["a"], "ok": True, "error": None,
          "report": {"frames_read": 10, "frames_decoded": 8, "cycles": 3, "tracks_published": 5,
                     "deadline_misses": 1, "warnings": 2, "log_s": 1.5, "wall_s": 0.1,
                     "unknown_ids": {"0x123": 2}, "decode_errors": {"0x1": {"wrong_length": 3, "range": 1}},
                     "latency_ms": {"p50": 1.0, "p99": 2.0, "max": 4.0}}}
    bad = {"name": "b", "logs": ["b"], "ok": False, "report": None, "error": {"type": "CanLogError"}}
    s = summarize([ok, ok, bad], backend="serial", workers=1, wall_s=0.5)
    assert (s["jobs"], s["ok"], s["failed"]) == (3, 2, 1)
    assert s["totals"] == {"frames_read": 20, "frames_decoded": 16, "cycles": 6, "tracks_published": 10,
                           "deadline_misses": 2, "warnings": 4, "log_s": 3.0, "replay_wall_s": 0.2,
                           "unknown_id_frames": 4, "decode_error_frames": 8, "latency_ms_max": 4.0}
    assert s["failures"] == [{"name": "b", "logs": ["b"], "error": {"type": "CanLogError"}}]


# ---- the real replay (fusion.hil.replay, helper A's K3) on slices of the RAV4 drive

@pytest.fixture
def rav4_slices(can_data: Path, tmp_path: Path) -> Path:
    """Two 4 s slices of the RAV4 drive as BLF logs, plus a truncated copy of one of them."""
    blf = can_data / "comma2k19" / "derived" / "rav4_2018-08-02--08-34-47_seg40.blf"
    root = tmp_path / "rav4"
    with can.LogReader(str(blf)) as reader:
        msgs = [m for m in reader if m.timestamp < 8.0]
    _write(root / "s0" / "first.blf", [m for m in msgs if m.timestamp < 4.0])
    _write(root / "s1" / "second.blf", [m for m in msgs if m.timestamp >= 4.0])
    data = (root / "s1" / "second.blf").read_bytes()
    (root / "s2").mkdir()
    (root / "s2" / "cut.blf").write_bytes(data[: len(data) // 2])
    return root


def test_real_replay_serial_vs_processes(rav4_slices: Path, can_data: Path, tmp_path: Path) -> None:
    rig = REPO_ROOT / "hil" / "rigs" / "rav4_comma2k19.toml"
    kw: dict[str, Any] = {"dbc_dirs": [can_data]}
    s1 = replay_folder(rav4_slices, rig, tmp_path / "serial", workers=1, **kw)
    s2 = replay_folder(rav4_slices, rig, tmp_path / "pool", workers=2, **kw)
    by_name = {r["name"]: r for r in s1["results"]}
    for name in ("s0/first.blf", "s1/second.blf"):
        assert by_name[name]["ok"], by_name[name]["error"]
        # 4 s of the drive's 2 258 frames/s
        assert by_name[name]["report"]["frames_read"] > 8_000 and by_name[name]["report"]["cycles"] > 0
    cut = by_name["s2/cut.blf"]  # a truncated log: a typed error naming it, or counted (lenient) with fewer frames
    if cut["ok"]:
        assert 0 < cut["report"]["frames_read"] < by_name["s1/second.blf"]["report"]["frames_read"]
        assert cut["report"]["warnings"] > 0
    else:
        assert cut["error"]["type"] == "CanLogError" and cut["error"]["file"].endswith("cut.blf")
    _assert_same_outputs(tmp_path / "serial", s1["results"], tmp_path / "pool", s2["results"])
    assert sorted(p.parent.name for p in (tmp_path / "serial").rglob("report.json")) == ["cut", "first", "second"]
    tracks = list((tmp_path / "serial").rglob("tracks.*"))
    assert len(tracks) >= 2 and all(p.stat().st_size > 0 for p in tracks)


def test_real_replay_raises_no_typeerror_from_a_missing_rig(rav4_slices: Path, tmp_path: Path) -> None:
    res = replay_many(jobs_from_folder(rav4_slices, tmp_path / "no_such_rig.toml", tmp_path / "out"), workers=1)
    assert all(not r["ok"] for r in res)
    assert {r["error"]["module"].split(".")[0] for r in res} == {"fusion"}
    assert all("no_such_rig.toml" in r["error"]["message"] for r in res)


def test_can_error_records_keep_position() -> None:
    rec = batch._error_record(CanLogError("x.blf", "truncated", frame_index=7))
    assert (rec["type"], rec["file"], rec["frame_index"], rec["line"]) == ("CanLogError", "x.blf", 7, None)
    assert "traceback" not in rec
