"""Many logs at once: :func:`replay_many` runs one :func:`fusion.hil.replay.replay` per
:class:`ReplayJob` in parallel processes on this machine or, with the ``dask`` extra, on a Dask
cluster, and :func:`jobs_from_folder` makes one job per CAN log under a folder (one output
folder per log, the relative path kept).  ``fusion replay DIR --rig R --out O`` is
:func:`replay_folder`.

Results are those of a serial run, whatever the backend: each job is a separate, deterministic
replay (its own rig, engine and output folder; nothing is shared between jobs), so the output
files are byte-identical and the reports equal except for the wall-clock fields
(:data:`WALL_CLOCK_KEYS`).  Results come back in job order, not completion order.

One failing log does not stop the others: the error is caught in the worker and returned in
that job's result as ``{"type", "module", "message", "file", "line", "frame_index", "can_id",
"t_ns"}`` (the attributes of the :mod:`fusion.hil.errors` classes; ``file`` is the file the
error names), and the summary lists it.  A worker process that dies (a crash in the extension)
is that job's error (``BrokenProcessPool``; on Dask ``KilledWorker``); the jobs that shared the
broken pool are re-run (see :func:`_run_pool`), so a crash costs only the crashing log.

Why "spawn" (or "forkserver") and never "fork": ``fork`` copies the parent with only the
forking thread alive.  The parent runs threads that hold locks (the engine's FIFO mutex and
thread-local buffers in ``_core``, python-can notifier threads, Dask's event-loop and
communication threads, BLAS thread pools); a lock held by another thread at the moment of the
fork stays locked for ever in the child, which then deadlocks on its first engine or logging
call.  A spawned worker starts a fresh interpreter and imports ``fusion`` itself, so it costs
an import per worker (not per job) and is safe on every platform (Python 3.14 stopped
defaulting to ``fork`` on Linux for this reason).  ``forkserver`` forks workers from a clean
single-threaded server process: also safe, POSIX only.

Dask: ``dask="local"`` starts a ``distributed.LocalCluster`` of worker processes (one thread
each, bound to 127.0.0.1, no dashboard) for the call and closes it afterwards;
``dask="tcp://host:port"`` connects to a running scheduler (the workers must see the log, rig
and output paths: a shared file system); a ``distributed.Client`` is used as it is.  Dask
re-runs a task whose worker died (up to ``distributed.scheduler.allowed-failures`` times, then
``KilledWorker``) and recomputes finished results held by a dead worker: a job may run twice,
rewriting the same files (deterministic, so the outcome is unchanged).  Without
the extra, :class:`~fusion.hil.errors.MissingExtraError` names it (``pip install 'fusion[dask]'``).

Thread safety: :class:`ReplayJob` is immutable and may be shared between threads;
:func:`replay_many`, :func:`replay_folder` and :func:`jobs_from_folder` keep no shared state,
so calls from several threads run concurrently and independently (each call has its own pool or
cluster; jobs of different calls must not write to the same output folder).
"""

from __future__ import annotations

import importlib
import json
import math
import multiprocessing
import os
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from fusion.errors import ConfigurationError, FusionError
from fusion.hil.errors import MissingExtraError
from fusion.hil.logs import supported_suffixes

__all__ = ["ReplayJob", "replay_many", "jobs_from_folder", "replay_folder", "summarize", "write_summary",
           "deterministic_report", "WALL_CLOCK_KEYS", "SUMMARY_NAME"]

#: Report keys (K5) that depend on the wall clock, not on the inputs: left out when results of
#: two runs are compared.  ``deadline_misses`` counts cycles whose wall-clock latency exceeded
#: the budget, so it is one of them.
WALL_CLOCK_KEYS = ("wall_s", "realtime_factor", "latency_ms", "deadline_misses", "send_error_ms")

#: The summary file :func:`replay_folder` writes in its output folder.
SUMMARY_NAME = "summary.json"

#: Keyword arguments of ``replay`` that the batch sets itself (or that make no sense in a batch:
#: real-time pacing and publishing on a bus are for one log at a time).
_RESERVED_OPTIONS = frozenset({"realtime", "speed", "to_bus", "progress", "streams", "report_path"})

#: Attributes of the harness's typed errors copied into a failed job's result.
_ERROR_FIELDS = ("line", "frame_index", "can_id", "t_ns")

ReplayFn = Callable[..., Mapping[str, Any]]


@dataclass(frozen=True)
class ReplayJob:
    """One replay: ``logs`` (merged by time, as one ``fusion replay`` run) through ``rig`` into
    the folder ``out``.

    ``rig`` is a rig file (loaded in the worker with ``load_rig(rig, logs=logs, dbc_dirs=...)``
    so relative DBC paths resolve against the log's own data folder) or a loaded ``Rig``.
    ``streams`` are non-CAN sensor stream files (K2); ``options`` are further keyword arguments
    of ``replay`` (e.g. ``strict=True``); those the batch manages (``realtime``, ``speed``,
    ``to_bus``, ``progress``, ``streams``, ``report_path``) are refused.  The job's report is
    written to ``out/report.json``.  ``name`` labels the job in results and the summary
    (default: the first log's file name).

    Thread safety: immutable (frozen; the options are a private copy); share it freely.
    """

    logs: tuple[Path, ...]
    rig: Any  # Path to a rig TOML, or a fusion.hil.rig.Rig
    out: Path
    streams: tuple[Path, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    dbc_dirs: tuple[Path, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        logs = (self.logs,) if isinstance(self.logs, (str, os.PathLike)) else self.logs
        if not isinstance(logs, Iterable) or not logs:
            raise ConfigurationError(f"ReplayJob.logs: expected one or more log paths, got {self.logs!r}")
        object.__setattr__(self, "logs", tuple(Path(p) for p in logs))
        object.__setattr__(self, "streams", tuple(Path(p) for p in self.streams))
        object.__setattr__(self, "dbc_dirs", tuple(Path(p) for p in self.dbc_dirs))
        object.__setattr__(self, "out", Path(self.out))
        if isinstance(self.rig, (str, os.PathLike)):
            object.__setattr__(self, "rig", Path(self.rig))
        if not isinstance(self.options, Mapping) or not all(isinstance(k, str) for k in self.options):
            raise ConfigurationError(f"ReplayJob.options: expected a mapping of keyword names, got {self.options!r}")
        reserved = sorted(_RESERVED_OPTIONS & set(self.options))
        if reserved:
            raise ConfigurationError(f"ReplayJob.options: {reserved} are set by the batch itself "
                                     "(reports go to out/report.json; no real-time or bus output in a batch)")
        object.__setattr__(self, "options", dict(self.options))
        if not self.name:
            object.__setattr__(self, "name", self.logs[0].name)


# ---- worker side (module level: pickled by reference into spawned processes and Dask workers)


def _error_record(exc: BaseException) -> dict[str, Any]:
    path = getattr(exc, "path", None)
    record: dict[str, Any] = {"type": type(exc).__name__, "module": type(exc).__module__, "message": str(exc),
                              "file": str(path) if path is not None else None}
    for key in _ERROR_FIELDS:
        value = getattr(exc, key, None)
        record[key] = value if isinstance(value, (int, str)) else None
    if not isinstance(exc, FusionError):  # a bug, not bad input: keep where it happened
        record["traceback"] = "".join(traceback.format_exception(exc)[1:])
    return record


def _result(job: ReplayJob, report: Mapping[str, Any] | None, error: dict[str, Any] | None,
            wall_s: float) -> dict[str, Any]:
    return {"name": job.name, "logs": [str(p) for p in job.logs], "streams": [str(p) for p in job.streams],
            "out": str(job.out), "ok": error is None, "report": None if report is None else dict(report),
            "error": error, "job_wall_s": wall_s}


def _run_job(job: ReplayJob, replay_fn: ReplayFn | None) -> dict[str, Any]:
    """One job in a worker: never raises (the error goes into the result)."""
    t0 = time.perf_counter()
    try:
        job.out.mkdir(parents=True, exist_ok=True)
        rig = job.rig
        if replay_fn is None:
            replay_fn = importlib.import_module("fusion.hil.replay").replay  # K3
            if isinstance(rig, Path):
                rig = importlib.import_module("fusion.hil.rig").load_rig(rig, logs=job.logs, dbc_dirs=job.dbc_dirs)
        report = replay_fn(list(job.logs), rig, job.out, streams=list(job.streams),
                           report_path=job.out / "report.json", progress=False, **job.options)
        if not isinstance(report, Mapping):
            raise TypeError(f"replay returned {type(report).__name__}, expected the report dict")
        return _result(job, report, None, time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 -- the batch's contract: one failing job never stops the rest
        return _result(job, None, _error_record(exc), time.perf_counter() - t0)


def _lost_worker(job: ReplayJob, exc: BaseException) -> dict[str, Any]:
    error = _error_record(exc)
    error.pop("traceback", None)
    error["message"] = f"the worker process running this job died: {exc}"
    return _result(job, None, error, float("nan"))


# ---- progress


class _Progress:
    """Completed-job counter on stderr: a rewritten line on a terminal, one line per job otherwise
    (only when asked for); off by default when stderr is not a terminal."""

    def __init__(self, total: int, enabled: bool | None, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._enabled = tty if enabled is None else enabled
        self._tty = tty
        self._total, self._done, self._failed = total, 0, 0

    def update(self, result: Mapping[str, Any]) -> None:
        self._done += 1
        self._failed += not result["ok"]
        if not self._enabled:
            return
        status = "ok" if result["ok"] else f"FAILED ({result['error']['type']})"
        text = f"replay_many: {self._done}/{self._total} done, {self._failed} failed: {result['name']} {status}"
        if self._tty:
            self._stream.write("\r\x1b[K" + text + ("\n" if self._done == self._total else ""))
        else:
            self._stream.write(text + "\n")
        self._stream.flush()


# ---- backends


def _default_workers(n_jobs: int) -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, n_jobs))


def _run_pool(jobs: Sequence[ReplayJob], workers: int, replay_fn: ReplayFn | None, mp_context: str,
              progress: _Progress) -> list[dict[str, Any]]:
    """Jobs in a process pool, at most ``workers`` in flight (a sliding window), so when a worker
    process dies (the pool breaks) the jobs lost with it are exactly the ones that were running:
    each of those is re-run alone in a fresh process (only the job that kills its worker is
    reported as lost) and a new pool takes the rest."""
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    ctx = multiprocessing.get_context(mp_context)
    queue = deque(range(len(jobs)))
    while queue:
        suspects: list[int] = []
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            inflight: dict[Future[dict[str, Any]], int] = {}
            while queue or inflight:
                while queue and len(inflight) < workers:
                    i = queue.popleft()
                    inflight[pool.submit(_run_job, jobs[i], replay_fn)] = i
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = inflight.pop(fut)
                    try:
                        results[i] = fut.result()
                    except BrokenProcessPool:
                        suspects.append(i)
                        continue
                    progress.update(results[i])  # type: ignore[arg-type]
                if suspects:  # the pool is broken: every job still in it is lost
                    suspects.extend(inflight.values())
                    break
        for i in sorted(suspects):
            with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as solo:
                try:
                    results[i] = solo.submit(_run_job, jobs[i], replay_fn).result()
                except BrokenProcessPool as exc:
                    results[i] = _lost_worker(jobs[i], exc)
            progress.update(results[i])  # type: ignore[arg-type]
    return [r for r in results if r is not None]


def _dask_client(dask: Any, workers: int) -> tuple[Any, bool, Any]:
    """(client, whether this call made it (and closes it), cluster to close or None) for ``dask``."""
    try:
        distributed: Any = importlib.import_module("distributed")  # untyped optional extra
    except ImportError as exc:
        raise MissingExtraError("replay_many(dask=...) needs dask.distributed: pip install 'fusion[dask]'") from exc
    if isinstance(dask, distributed.Client):
        return dask, False, None
    if dask == "local":
        # loopback only; no dashboard, and the scheduler's health HTTP server on a free port
        # (its default 8787 may be taken: distributed would warn and move)
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=None,
                                           scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"})
        try:
            return distributed.Client(cluster), True, cluster
        except BaseException:
            cluster.close()
            raise
    if isinstance(dask, str) and "://" in dask:
        return distributed.Client(dask), True, None
    raise ConfigurationError(f"dask: expected 'local', a scheduler address such as 'tcp://host:8786' or a "
                             f"distributed.Client, got {dask!r}")


def _run_dask(jobs: Sequence[ReplayJob], dask: Any, workers: int, replay_fn: ReplayFn | None,
              progress: _Progress) -> list[dict[str, Any]]:
    client, own_client, cluster = _dask_client(dask, workers)
    dask_completed = importlib.import_module("distributed").as_completed

    try:
        # pure=False: a job writes files, so never reuse a cached result of an equal job
        futures = [client.submit(_run_job, job, replay_fn, pure=False, retries=0) for job in jobs]
        index = {fut.key: i for i, fut in enumerate(futures)}
        results: list[dict[str, Any] | None] = [None] * len(jobs)
        for fut in dask_completed(futures):
            i = index[fut.key]
            try:
                results[i] = fut.result()
            except Exception as exc:  # noqa: BLE001 -- KilledWorker, lost connection: that job's error
                results[i] = _lost_worker(jobs[i], exc)
            progress.update(results[i])  # type: ignore[arg-type]
        return [r for r in results if r is not None]
    finally:
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()


def replay_many(jobs: Sequence[ReplayJob], *, workers: int | None = None, dask: Any = None,
                progress: bool | None = None, summary_path: str | os.PathLike[str] | None = None,
                replay_fn: ReplayFn | None = None, mp_context: str = "spawn") -> list[dict[str, Any]]:
    """Runs every job; returns one result per job, in job order:
    ``{"name", "logs", "streams", "out", "ok", "report", "error", "job_wall_s"}`` (``report`` the
    K5 report dict of a successful job, ``error`` the typed error of a failed one).

    Args:
        jobs: the replays (their output folders must differ).
        workers: processes (or Dask workers for ``dask="local"``); None: one per CPU, at most one
            per job.  ``workers=1`` without ``dask`` runs the jobs serially in this process.
        dask: None (local processes), ``"local"`` (a LocalCluster for this call),
            ``"tcp://host:port"`` (a running scheduler) or a ``distributed.Client``.
        progress: a completed-jobs line on stderr; None: when stderr is a terminal.
        summary_path: also write :func:`summarize` of the results there (JSON).
        replay_fn: the replay function (default :func:`fusion.hil.replay.replay`, the rig loaded
            with :func:`fusion.hil.rig.load_rig`); a module-level function so it pickles.
        mp_context: ``"spawn"`` (default) or ``"forkserver"``; ``"fork"`` is refused (see the
            module docstring).

    Raises:
        ConfigurationError: no jobs, two jobs with one output folder, a bad ``workers``,
            ``dask`` or ``mp_context`` (before anything runs).
        MissingExtraError: ``dask`` given without the ``dask`` extra.
    """
    return _replay_many(jobs, workers=workers, dask=dask, progress=progress, summary_path=summary_path,
                        replay_fn=replay_fn, mp_context=mp_context)[0]


def _replay_many(jobs: Sequence[ReplayJob], *, workers: int | None = None, dask: Any = None,
                 progress: bool | None = None, summary_path: str | os.PathLike[str] | None = None,
                 replay_fn: ReplayFn | None = None,
                 mp_context: str = "spawn") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    jobs = list(jobs)
    if not jobs:
        raise ConfigurationError("replay_many: no jobs (an empty folder?)")
    if not all(isinstance(j, ReplayJob) for j in jobs):
        raise ConfigurationError("replay_many: every job must be a ReplayJob")
    outs = [j.out.resolve() for j in jobs]
    if len(set(outs)) != len(outs):
        dup = sorted({str(o) for o in outs if outs.count(o) > 1})
        raise ConfigurationError(f"replay_many: jobs share an output folder: {dup}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigurationError(f"workers: expected a positive integer or None, got {workers!r}")
    if mp_context not in ("spawn", "forkserver"):
        raise ConfigurationError(f"mp_context: expected 'spawn' or 'forkserver', got {mp_context!r} (fork copies "
                                 "locks held by the parent's threads: workers would deadlock)")
    n = workers if workers is not None else _default_workers(len(jobs))
    bar = _Progress(len(jobs), progress)
    t0 = time.perf_counter()
    if dask is not None:
        backend = "dask"
        results = _run_dask(jobs, dask, n, replay_fn, bar)
    elif n == 1:
        backend = "serial"
        results = []
        for job in jobs:
            results.append(_run_job(job, replay_fn))
            bar.update(results[-1])
    else:
        backend = "processes"
        results = _run_pool(jobs, min(n, len(jobs)), replay_fn, mp_context, bar)
    summary = summarize(results, backend=backend, workers=n, wall_s=time.perf_counter() - t0)
    if summary_path is not None:
        write_summary(summary, summary_path)
    return results, summary


# ---- summary


def deterministic_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """``report`` without the wall-clock fields (:data:`WALL_CLOCK_KEYS`): what two runs of the
    same inputs must agree on."""
    return {k: v for k, v in report.items() if k not in WALL_CLOCK_KEYS}


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def summarize(results: Sequence[Mapping[str, Any]], *, backend: str = "", workers: int | None = None,
              wall_s: float | None = None) -> dict[str, Any]:
    """The batch summary: ``{"jobs", "ok", "failed", "backend", "workers", "wall_s", "totals",
    "failures", "results"}``.  ``totals`` sums the reports of the successful jobs (frames read
    and decoded, cycles, tracks published, deadline misses, warnings, log time, unknown-id and
    decode-error frames) and takes the worst latency (``latency_ms_max``); ``failures`` lists
    ``{"name", "error"}``; ``results`` are the per-job results as :func:`replay_many` returns them."""
    reports = [r["report"] for r in results if r["ok"] and isinstance(r.get("report"), Mapping)]
    totals: dict[str, Any] = {}
    for key in ("frames_read", "frames_decoded", "cycles", "tracks_published", "deadline_misses", "warnings"):
        totals[key] = int(sum(_number(rep.get(key)) for rep in reports))
    totals["log_s"] = sum(_number(rep.get("log_s")) for rep in reports)
    totals["replay_wall_s"] = sum(_number(rep.get("wall_s")) for rep in reports)
    totals["unknown_id_frames"] = int(sum(_number(v) for rep in reports
                                          for v in (rep.get("unknown_ids") or {}).values()))
    totals["decode_error_frames"] = int(sum(_number(n) for rep in reports
                                            for per_id in (rep.get("decode_errors") or {}).values()
                                            for n in (per_id.values() if isinstance(per_id, Mapping) else [per_id])))
    maxima = [_number((rep.get("latency_ms") or {}).get("max")) for rep in reports
              if isinstance(rep.get("latency_ms"), Mapping)]
    totals["latency_ms_max"] = max(maxima) if maxima else None
    failures = [{"name": r["name"], "logs": r["logs"], "error": r["error"]} for r in results if not r["ok"]]
    return {"jobs": len(results), "ok": len(results) - len(failures), "failed": len(failures),
            "backend": backend, "workers": workers, "wall_s": wall_s, "totals": totals,
            "failures": failures, "results": [dict(r) for r in results]}


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars in engine stats
        return _json_safe(value.item())
    return value


def write_summary(summary: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Writes ``summary`` as JSON (non-finite numbers as null); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_json_safe(summary), indent=2, default=str) + "\n", encoding="utf-8")
    return path


# ---- folders


def _is_stream_file(path: Path) -> bool:
    """A K2 sensor-stream CSV (header ``t_ns,sensor,...``), not a python-can CSV log."""
    try:
        streams = importlib.import_module("fusion.hil.streams")  # K2
    except ImportError:
        streams = None
    if streams is not None and hasattr(streams, "is_stream_file"):
        return bool(streams.is_stream_file(path))
    with path.open("rb") as f:
        header = f.readline(4096).decode("utf-8", "replace").strip().split(",")
    return [h.strip() for h in header[:2]] == ["t_ns", "sensor"]


def _log_kind(path: Path, log_suffixes: frozenset[str]) -> str | None:
    """"log", "stream" or None (neither) for one file, by suffix (case-insensitive) and header."""
    suffixes = [s.lower() for s in path.suffixes]
    if not suffixes:
        return None
    last = suffixes[-1]
    if last == ".parquet":
        return "stream"
    if last == ".gz" and len(suffixes) >= 2 and suffixes[-2] in {".asc", ".log", ".trc", ".csv"}:
        return "log"
    if last not in log_suffixes:
        return None
    if last == ".csv" and _is_stream_file(path):
        return "stream"
    return "log"


def jobs_from_folder(folder: str | os.PathLike[str], rig: Any, out: str | os.PathLike[str], *,
                     options: Mapping[str, Any] | None = None,
                     dbc_dirs: Sequence[str | os.PathLike[str]] = ()) -> list[ReplayJob]:
    """One :class:`ReplayJob` per CAN log under ``folder`` (recursively, sorted by relative path).

    A log is a file with a suffix python-can reads (:func:`fusion.hil.logs.supported_suffixes`,
    case-insensitive: ``.MF4`` too; ``.asc.gz`` and other gzip text logs).  Its outputs go to
    ``out/<relative folder>/<log stem>/`` (``<log file name>`` when two logs of one folder share
    a stem).  Sensor-stream files (K2: ``.parquet``, or a ``.csv`` whose header starts
    ``t_ns,sensor``) are attached to the log of their folder when it holds exactly one log.
    Files under ``out`` are skipped when ``out`` lies inside ``folder`` (a re-run must not take
    its own ``tracks.blf`` for input).

    Raises:
        ConfigurationError: ``folder`` is not a folder; no log under it (the message lists the
            suffixes looked for); stream files in a folder with several logs (ambiguous: make
            the jobs yourself).
    """
    root = Path(folder)
    out_root = Path(out)
    if not root.is_dir():
        raise ConfigurationError(f"{root}: not a folder (expected a folder of CAN logs)")
    suffixes = frozenset(supported_suffixes())
    out_resolved = out_root.resolve()
    logs: dict[Path, list[Path]] = {}
    streams: dict[Path, list[Path]] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        resolved = path.resolve()
        if resolved == out_resolved or out_resolved in resolved.parents:
            continue
        kind = _log_kind(path, suffixes)
        rel = path.relative_to(root)
        if kind == "log":
            logs.setdefault(rel.parent, []).append(rel)
        elif kind == "stream":
            streams.setdefault(rel.parent, []).append(rel)
    if not logs:
        raise ConfigurationError(f"{root}: no CAN log in this folder or below (looked for "
                                 f"{', '.join('*' + s for s in sorted(suffixes))}, any case, and gzip text logs)")
    for parent, found in streams.items():
        if len(logs.get(parent, [])) > 1:
            raise ConfigurationError(f"{root / parent}: sensor streams {[p.name for p in found]} next to "
                                     f"{len(logs[parent])} logs: which log do they belong to? Put each drive in "
                                     "its own folder or make the ReplayJobs yourself")
    jobs = []
    for parent in sorted(logs):
        stems = [rel.name.split(".")[0] for rel in logs[parent]]
        for rel, stem in zip(logs[parent], stems):
            leaf = stem if stems.count(stem) == 1 else rel.name
            jobs.append(ReplayJob(logs=(root / rel,), rig=rig, out=out_root / parent / leaf,
                                  streams=tuple(root / s for s in streams.get(parent, [])),
                                  options=dict(options or {}), dbc_dirs=tuple(Path(d) for d in dbc_dirs),
                                  name=rel.as_posix()))
    jobs.sort(key=lambda j: j.name)
    return jobs


def replay_folder(folder: str | os.PathLike[str], rig: Any, out: str | os.PathLike[str], *,
                  workers: int | None = None, dask: Any = None, progress: bool | None = None,
                  options: Mapping[str, Any] | None = None, dbc_dirs: Sequence[str | os.PathLike[str]] = (),
                  replay_fn: ReplayFn | None = None) -> dict[str, Any]:
    """``fusion replay DIR --rig RIG --out OUT [--workers N] [--dask SCHEDULER]``: every log under
    ``folder`` (:func:`jobs_from_folder`) through :func:`replay_many`; writes ``OUT/summary.json``
    and returns the summary (:func:`summarize`)."""
    jobs = jobs_from_folder(folder, rig, out, options=options, dbc_dirs=dbc_dirs)
    _results, summary = _replay_many(jobs, workers=workers, dask=dask, progress=progress,
                                     summary_path=Path(out) / SUMMARY_NAME, replay_fn=replay_fn)
    return summary
