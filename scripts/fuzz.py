"""Coverage-guided fuzzing of fusion's Python entry points with atheris (the `fuzz` extra).

    python scripts/fuzz.py --target NAME|all --seconds N [--out DIR] [--timeout S]
    python scripts/fuzz.py --target NAME --replay FILE...   # no atheris: re-run inputs

Targets are the modules fuzz/target_<NAME>.py (fuzz/README.md). Each target runs in its own
process for N seconds (``all``: N seconds each, one after the other) under libFuzzer, with the
fusion package instrumented for coverage, starting from the seed corpus fuzz/corpus/<NAME>/ (read
only; the inputs libFuzzer adds go to OUT/<NAME>/corpus). An input that raises one of the target's
documented errors is fine; any other exception, failed output check or unexpected warning is a
finding, saved once per distinct (type, innermost fusion frame) as OUT/<NAME>/findings/*.bin
with its traceback in *.txt, and fuzzing continues. A crash (signal) or an input running longer
than --timeout seconds (a hang) stops the process: libFuzzer writes it to OUT/<NAME>/artifacts/,
the runner records it and restarts the target for the time left. The summary (executions,
coverage, findings per target) is printed and written to OUT/summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FUZZ = REPO / "fuzz"
sys.path.insert(0, str(FUZZ))


# Third-party packages a target's entry point parses with, instrumented for coverage as well as
# fusion (python-can's log readers; the TOML parser).
_INSTRUMENT = {"can_logs": ("can",), "rig_toml": ("tomllib",), "engine_config": ("tomllib",), "rig_dbc": ("cantools",)}
# Longest input per target (libFuzzer -max_len): the binary formats' seeds are a few kB.
_MAX_LEN = {"mf4_logs": 16384, "parquet_streams": 8192}


def _child(name: str, seconds: int, timeout: int, out: Path) -> None:
    import importlib

    import atheris

    packages = ["fusion", *_INSTRUMENT.get(name, ())]
    with atheris.instrument_imports(include=packages):
        for pkg in packages[1:]:
            importlib.import_module(pkg)
        from fuzz_harness import load_target, run_one, save_finding

        target = load_target(name)
    findings = out / "findings"

    def one(data: bytes) -> None:
        f = run_one(target, data)
        if f is not None and save_finding(f, findings) is not None:
            print(f"FINDING {f.key}", file=sys.stderr, flush=True)

    corpus = out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    (out / "artifacts").mkdir(exist_ok=True)
    args = [sys.argv[0], f"-max_total_time={seconds}", f"-timeout={timeout}", "-rss_limit_mb=3072",
            f"-max_len={_MAX_LEN.get(name, 4096)}", f"-artifact_prefix={out / 'artifacts'}/", "-print_final_stats=1",
            str(corpus), str(FUZZ / "corpus" / name)]
    atheris.Setup(args, one)
    atheris.Fuzz()


_STAT = re.compile(r"stat::(\w+):\s+(\d+)")
_COV = re.compile(r"cov: (\d+) ft: (\d+)")


def _run_target(name: str, seconds: int, timeout: int, out: Path) -> dict[str, object]:
    tdir = out / name
    tdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(FUZZ), env.get("PYTHONPATH", "")])
    start = time.monotonic()
    runs, execs, cov, ft, stops = 0, 0, 0, 0, []
    while True:
        left = int(seconds - (time.monotonic() - start))
        if left < 5:
            break
        log = tdir / f"run{runs}.log"
        with open(log, "w") as fh:
            rc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--target", name, "--_child", name,
                                 "--seconds",
                                 str(left), "--timeout", str(timeout), "--out", str(tdir)],
                                stdout=fh, stderr=subprocess.STDOUT, env=env, check=False).returncode
        runs += 1
        text = log.read_text(errors="replace")
        stats = dict((k, int(v)) for k, v in _STAT.findall(text))
        execs += stats.get("number_of_executed_units", 0)
        if not stats:  # killed before the final stats: count the last status line's executions
            m = re.findall(r"#(\d+)\s", text)
            execs += int(m[-1]) if m else 0
        covs = _COV.findall(text)
        if covs:
            cov, ft = max(cov, int(covs[-1][0])), max(ft, int(covs[-1][1]))
        if rc != 0 and "#" not in text and not stats:
            raise SystemExit(f"[{name}] the fuzzer did not start (rc={rc}); see {log}:\n{text[-2000:]}")
        if rc != 0:
            kind = ("timeout" if "ERROR: libFuzzer: timeout" in text else
                    "oom" if "out-of-memory" in text else "crash")
            stops.append({"kind": kind, "rc": rc, "log": str(log)})
            print(f"[{name}] process stopped ({kind}, rc={rc}); see {log}", flush=True)
        else:
            break
    elapsed = time.monotonic() - start
    findings = sorted(p.read_text().splitlines()[0] for p in (tdir / "findings").glob("*.txt")) \
        if (tdir / "findings").is_dir() else []
    artifacts = sorted(p.name for p in (tdir / "artifacts").iterdir()) if (tdir / "artifacts").is_dir() else []
    return {"target": name, "seconds": round(elapsed, 1), "executions": execs, "coverage": cov, "features": ft,
            "corpus": len(list((tdir / "corpus").iterdir())) if (tdir / "corpus").is_dir() else 0,
            "findings": findings, "stops": stops, "artifacts": artifacts}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", required=True, help="target name or 'all'")
    ap.add_argument("--seconds", type=int, default=60, help="fuzzing time per target")
    ap.add_argument("--timeout", type=int, default=20, help="seconds one input may take before it is a hang")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "fuzz")
    ap.add_argument("--replay", nargs="*", type=Path, help="re-run these inputs without atheris")
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._child:
        _child(a._child, a.seconds, a.timeout, a.out)
        return 0
    from fuzz_harness import TARGET_NAMES, load_target, replay

    names = list(TARGET_NAMES) if a.target == "all" else [a.target]
    if a.replay is not None:
        bad = 0
        for n in names:
            for f in replay(load_target(n), a.replay):
                print(f"{n}: {f.key}\n{f.text}")
                bad += 1
        return 1 if bad else 0
    results = []
    for n in names:
        r = _run_target(n, a.seconds, a.timeout, a.out.resolve())
        print(json.dumps(r), flush=True)
        results.append(r)
    summary = a.out / "summary.json"
    old = json.loads(summary.read_text()) if summary.exists() else []
    summary.write_text(json.dumps(old + results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
