"""``scripts/nees_breakdown.py`` (the README's ANEES diagnosis): its samples are the evaluation's
(the same average as :func:`fusion.scenarios.evaluate`), its splits partition them, and its
per-sensor residual check finds R on a short highway drive. About 3 s."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from fusion.datasets.driving import make_scenario
from fusion.scenarios import evaluate

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "nees_breakdown.py"


@pytest.fixture(scope="module")
def nb():
    spec = importlib.util.spec_from_file_location("nees_breakdown", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    try:
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
        yield mod
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def highway():
    return make_scenario("highway", seed=1, duration_s=25.0)


def test_breakdown_is_the_evaluation_split(nb, highway) -> None:
    b = nb.breakdown(highway, ["lidar", "radar"])
    row = evaluate(highway, ["lidar", "radar"])
    assert b["all"]["n"] == row["nees_samples"] > 500
    assert b["all"]["anees"] == pytest.approx(row["anees"], abs=1e-3)
    assert b["tracks"] == row["nees_tracks"]
    assert b["correlation"]["se_cluster"] == pytest.approx(row["nees_se_tracks"], abs=1e-4)
    n = b["all"]["n"]
    assert b["main_object"]["n"] + b["other_object"]["n"] == n
    main = b["main_object"]["n"]
    for keys in (("steady_cv", "manoeuvre_1.5s"), ("static", "moving"),
                 ("range_0-15m", "range_15-30m", "range_30-1e+09m"),
                 ("ego_stopped", "ego_straight", "ego_turning"),
                 ("class_car", "class_pedestrian", "class_cyclist")):
        assert sum(b[k]["n"] for k in keys) == main, keys
    # the highway's cars mostly drive straight at constant speed
    assert b["steady_cv"]["n"] > 0.8 * main


def test_measurement_check_finds_R(nb, highway) -> None:
    for name in ("lidar", "radar", "camera"):
        m = nb.measurement_nis(highway, name)
        lo, hi = m["band"]
        assert m["n"] > 300 and lo * 0.98 <= m["nis"] <= hi * 1.02, m
        assert np.allclose(m["per_component"], 1.0, atol=0.2), m


@pytest.mark.parametrize(("args", "what"), [(["--scenario", "nonexistent"], "unknown scenario 'nonexistent'"),
                                            (["--duration", "nan"], "duration")])
def test_bad_arguments_are_one_line_not_a_traceback(nb, capsys, args: list[str], what: str) -> None:  # type: ignore[no-untyped-def]
    """An unknown scenario used to end the script in a ConfigurationError traceback."""
    assert nb.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("nees_breakdown: ") and what in err and "Traceback" not in err, err
