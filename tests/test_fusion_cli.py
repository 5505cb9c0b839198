"""The ``fusion`` command line: help that teaches, and the demo (the main job) end to end."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fusion.cli import main
from fusion.datasets import simulate_radar_drive


def test_help_lists_commands(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "demo" in out and "kitti" in out and "--help" in out


def test_unknown_command_is_an_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_demo_tracks_better_than_raw_radar(capsys):
    assert main(["demo", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    raw = float(re.search(r"raw radar, converted to x/y\s+([\d.]+)", out).group(1))
    ekf = re.search(r"EKF bank, CTRV \+ radar\s+([\d.]+)\s+([\d.]+)", out)
    ukf = re.search(r"UKF bank, CTRV \+ radar\s+([\d.]+)\s+([\d.]+)", out)
    for m in (ekf, ukf):
        rmse, nees = float(m.group(1)), float(m.group(2))
        assert rmse < 0.5 * raw  # filtering at least halves the raw position error
        assert 1.0 < nees < 12.0  # and the covariance is roughly honest (5 states)


def test_scenario_is_deterministic():
    a, b = simulate_radar_drive(seed=5, n_steps=50), simulate_radar_drive(seed=5, n_steps=50)
    assert np.array_equal(a.z, b.z) and np.array_equal(a.truth, b.truth)
    assert a.t_ns.dtype == np.int64 and np.all(np.diff(a.t_ns) == 50_000_000)
    assert not np.array_equal(a.z, simulate_radar_drive(seed=6, n_steps=50).z)
