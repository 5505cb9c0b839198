"""Run filterpy's own test suite against ``fusion.filters``.

filterpy's tests are not installed with its wheel, so this module takes them from filterpy's
source distribution on the package index (the version that is installed), by dependency:
nothing of filterpy is copied into this repository. In a scratch folder it rewrites only
the import statements of the test modules, so that every name ``fusion.filters`` provides
comes from fusion and everything else (``Saver``, ``Q_discrete_white_noise``, the other
filters) still comes from filterpy, then runs pytest on them in a subprocess.

A small pytest plugin records, for each test, whether it exercised fusion (constructed one
of fusion's filter objects or called one of its functions), so the caller can tell the
tests that prove compatibility from those that only test the rest of filterpy.

Usable from the command line too::

    python tests/peers/filterpy_suite.py [--pure] [-k EXPR]
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tarfile
import warnings
import zipfile
from pathlib import Path

# filterpy module -> names that fusion.filters provides in its place.
REDIRECTS: dict[str, set[str]] = {
    "filterpy.kalman": {
        "KalmanFilter",
        "ExtendedKalmanFilter",
        "UnscentedKalmanFilter",
        "MerweScaledSigmaPoints",
        "unscented_transform",
        "IMMEstimator",
        "predict",
        "update",
        "batch_filter",
        "rts_smoother",
    },
}
SUITE_DIRS = ("filterpy/kalman/tests", "filterpy/common/tests")
CACHE = Path(os.environ.get("FUSION_PEER_CACHE", Path.home() / ".cache" / "fusion-peers"))


class SuiteUnavailable(RuntimeError):
    """filterpy's source distribution could not be found or downloaded."""


def installed_filterpy_version() -> str:
    import filterpy

    return str(filterpy.__version__)


def fetch_sdist(version: str) -> Path:
    """Path of filterpy's sdist for `version`, downloaded with pip into a cache once."""
    dest = CACHE / f"filterpy-{version}"
    dest.mkdir(parents=True, exist_ok=True)
    found = sorted(p for p in dest.iterdir() if p.name.startswith("filterpy-") and p.suffix in (".gz", ".zip"))
    if found:
        return found[0]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), f"filterpy=={version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    found = sorted(p for p in dest.iterdir() if p.name.startswith("filterpy-") and p.suffix in (".gz", ".zip"))
    if proc.returncode != 0 or not found:
        raise SuiteUnavailable(f"could not download filterpy=={version}'s source distribution: "
                               f"{proc.stderr.strip()[-500:]}")
    return found[0]


def extract_suite(sdist: Path, out: Path) -> list[Path]:
    """Unpack the test folders of the sdist into `out`; returns the folders."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if sdist.suffix == ".zip":
        with zipfile.ZipFile(sdist) as zf:
            members = [(n, zf.read(n)) for n in zf.namelist() if not n.endswith("/")]
    else:
        with tarfile.open(sdist) as tf:
            members = []
            for m in tf.getmembers():
                if m.isfile():
                    f = tf.extractfile(m)
                    assert f is not None
                    members.append((m.name, f.read()))
    dirs: set[Path] = set()
    for name, data in members:
        rel = name.split("/", 1)[1] if "/" in name else name
        for d in SUITE_DIRS:
            if rel.startswith(d + "/") and rel.endswith(".py"):
                target = out / d.replace("/", "_") / Path(rel).name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                dirs.add(target.parent)
    if not dirs:
        raise SuiteUnavailable(f"{sdist.name} holds none of {SUITE_DIRS}")
    return sorted(dirs)


def rewrite_imports(source: str) -> tuple[str, list[str]]:
    """Redirect the names fusion provides; returns the new source and the names redirected."""
    with warnings.catch_warnings():  # filterpy's docstrings hold invalid escapes ('\k')
        warnings.simplefilter("ignore")
        tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []
    redirected: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.module not in REDIRECTS:
            continue
        ours = [a for a in node.names if a.name in REDIRECTS[node.module]]
        if not ours:
            continue
        theirs = [a for a in node.names if a.name not in REDIRECTS[node.module]]
        indent = " " * node.col_offset

        def fmt(aliases: list[ast.alias]) -> str:
            return ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in aliases)

        new = ""
        if theirs:
            new += f"{indent}from {node.module} import {fmt(theirs)}\n"
        new += f"{indent}from _fusion_redirect import {fmt(ours)}\n"
        redirected += [a.name for a in ours]
        assert node.end_lineno is not None
        edits.append((node.lineno - 1, node.end_lineno, new))
    for start, end, new in sorted(edits, reverse=True):
        lines[start:end] = [new]
    return "".join(lines), redirected


REDIRECT_MODULE = '''\
"""fusion.filters under filterpy's names, counting use per test (written by the harness)."""
import functools
import fusion.filters as _ff

USED = [False]


def _mark(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        USED[0] = True
        return fn(*args, **kwargs)
    return wrapper


for _cls in (_ff.KalmanFilter, _ff.ExtendedKalmanFilter, _ff.UnscentedKalmanFilter,
             _ff.MerweScaledSigmaPoints, _ff.IMMEstimator):
    if "__init__" in vars(_cls) and not getattr(_cls.__init__, "_fusion_marked", False):
        _cls.__init__ = _mark(_cls.__init__)
        _cls.__init__._fusion_marked = True

KalmanFilter = _ff.KalmanFilter
ExtendedKalmanFilter = _ff.ExtendedKalmanFilter
UnscentedKalmanFilter = _ff.UnscentedKalmanFilter
MerweScaledSigmaPoints = _ff.MerweScaledSigmaPoints
IMMEstimator = _ff.IMMEstimator


def _provided(name):
    fn = getattr(_ff, name, None)
    if fn is None:
        def fn(*args, **kwargs):
            raise AttributeError(f"fusion.filters has no {name}")
    return _mark(fn)


unscented_transform = _provided("unscented_transform")
predict = _provided("predict")
update = _provided("update")
batch_filter = _provided("batch_filter")
rts_smoother = _provided("rts_smoother")
'''

PURE_REDIRECT_MODULE = '''\
"""filterpy's own objects under the redirect module's name (the --pure control run)."""
from filterpy.kalman import (KalmanFilter, ExtendedKalmanFilter, UnscentedKalmanFilter,
                             MerweScaledSigmaPoints, IMMEstimator, unscented_transform,
                             predict, update, batch_filter, rts_smoother)
USED = [False]
'''

CONFTEST = '''\
"""Records per test: outcome and whether fusion was exercised (written by the harness)."""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
sys.path.insert(0, os.path.dirname(__file__))
import _fusion_redirect  # noqa: E402

RESULTS = {}


def pytest_runtest_setup(item):
    _fusion_redirect.USED[0] = False


def pytest_runtest_logreport(report):
    entry = RESULTS.setdefault(report.nodeid, {"outcome": "passed", "exercised": False, "message": ""})
    if report.failed:
        entry["outcome"] = "failed"
        entry["message"] = str(report.longrepr)[-3000:]
    elif report.skipped and report.when == "setup":
        entry["outcome"] = "skipped"
    if report.when == "call":
        entry["exercised"] = entry["exercised"] or _fusion_redirect.USED[0]
    if report.when == "teardown":
        entry["exercised"] = entry["exercised"] or _fusion_redirect.USED[0]


def pytest_sessionfinish(session):
    with open(os.environ["FILTERPY_SUITE_RESULTS"], "w") as f:
        json.dump(RESULTS, f, indent=1, sort_keys=True)
'''


def prepare(workdir: Path, pure: bool = False) -> list[Path]:
    """Lay out the rewritten suite in `workdir`; returns the test folders."""
    sdist = fetch_sdist(installed_filterpy_version())
    dirs = extract_suite(sdist, workdir)
    for d in dirs:
        for f in d.glob("*.py"):
            src, _ = rewrite_imports(f.read_text(encoding="utf-8"))
            f.write_text(src, encoding="utf-8")
    (workdir / "_fusion_redirect.py").write_text(PURE_REDIRECT_MODULE if pure else REDIRECT_MODULE)
    (workdir / "conftest.py").write_text(CONFTEST)
    return dirs


def run(workdir: Path, pure: bool = False, select: list[str] | None = None,
        timeout: float = 900) -> dict[str, dict[str, object]]:
    """Run the (rewritten) suite; returns {nodeid: {outcome, exercised, message}}."""
    dirs = prepare(workdir, pure)
    results = workdir / "results.json"
    import fusion

    # The subprocess tests the same fusion this process imported (a source tree or the
    # installed package), whatever its working directory.
    fusion_root = str(Path(fusion.__file__).resolve().parent.parent)
    paths = [fusion_root] + [str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = dict(os.environ, FILTERPY_SUITE_RESULTS=str(results), MPLBACKEND="Agg", PYTHONPATH=os.pathsep.join(paths))
    env.pop("PYTEST_ADDOPTS", None)
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
            "--rootdir", str(workdir), "-c", os.devnull, "-W", "ignore"]
    args += [str(workdir / s) for s in select] if select else [str(d) for d in dirs]
    proc = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    if not results.exists():
        raise RuntimeError(f"filterpy's suite did not report (exit {proc.returncode}):\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    data: dict[str, dict[str, object]] = json.loads(results.read_text())
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"filterpy's suite crashed (exit {proc.returncode}):\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return data


def main() -> int:
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pure", action="store_true", help="control run: filterpy's own classes")
    ap.add_argument("--keep", type=Path, help="folder to lay the suite out in (kept)")
    ap.add_argument("select", nargs="*", help="node ids relative to the suite folder")
    ns = ap.parse_args()
    workdir = ns.keep or Path(tempfile.mkdtemp(prefix="filterpy-suite-"))
    res = run(workdir, pure=ns.pure, select=ns.select or None)
    exercised = {k: v for k, v in res.items() if v["exercised"]}
    for k, v in sorted(res.items()):
        print(f"{v['outcome']:8s} {'fusion' if v['exercised'] else '      '} {k}")
    bad = [k for k, v in exercised.items() if v["outcome"] != "passed"]
    print(f"{len(exercised)} tests exercise fusion, {len(exercised) - len(bad)} pass; {len(res)} in all")
    for k in bad:
        print("\n==== " + k + "\n" + str(res[k]["message"])[-1500:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
