"""Hostile input to the engine's time layer and odometry (review of session 4): int64 time
extremes (frames and ego samples more than 2^63 ns apart), speeds whose integrated pose
overflows, non-real ego samples, a configuration file that is not UTF-8. Each is a typed
fusion.errors error or the documented late-frame policy, and a failed call changes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusion.engine import EngineConfig, FusionEngine
from fusion.errors import ConfigurationError, NumericalError, ShapeError, TimestampError

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
BOX = np.array([[10.0, 0.0, 0.0, 0.0, 4.0, 2.0, 1.5]])


@pytest.mark.parametrize(("speed", "yaw_rate"), [("fast", 0.0), (1 + 2j, 0.0), (1.0, [0.0, [1.0]]), (True, 0.0)])
def test_ego_samples_that_are_not_real_numbers_are_a_shape_error(speed: object, yaw_rate: object) -> None:
    eng = FusionEngine(EngineConfig.car())
    with pytest.raises(ShapeError, match="ego_motion: (speed_mps|yaw_rate_rps)"):
        eng.ego_motion(0, speed, yaw_rate)  # type: ignore[arg-type]
    with pytest.raises(TimestampError, match="no ego-motion sample"):
        eng.ego_pose(0)


def test_empty_ego_sample_arrays_add_nothing() -> None:
    eng = FusionEngine(EngineConfig.car())
    eng.ego_motion([], [], [])
    with pytest.raises(TimestampError, match="no ego-motion sample"):
        eng.ego_pose(0)


def test_engine_toml_that_is_not_utf8_is_a_configuration_error(tmp_path: Path) -> None:
    p = tmp_path / "e.toml"
    p.write_bytes(b"motion = \"cv_box\"\n# \xff\n")
    with pytest.raises(ConfigurationError, match="e.toml: not UTF-8"):
        EngineConfig.from_toml(p)


@pytest.mark.parametrize("frame", ["odometry", "vehicle"])
@pytest.mark.parametrize("kw", [{"include_deleted": "no"}, {"include_deleted": None}, {"confirmed_only": "x"}])
def test_tracks_flags_that_are_not_bools_are_a_configuration_error(frame: str, kw: dict[str, object]) -> None:
    eng = FusionEngine(EngineConfig.car())
    eng.process("lidar", 0, BOX)
    with pytest.raises(ConfigurationError, match="tracks: (include_deleted|confirmed_only): expected a bool"):
        eng.tracks(frame=frame, **kw)  # type: ignore[arg-type]
    assert len(eng.tracks(frame=frame, include_deleted=np.bool_(False))) == 1  # type: ignore[arg-type]


def test_a_vehicle_pose_whose_boxes_overflow_is_a_numerical_error() -> None:
    eng = FusionEngine(EngineConfig.car())
    eng.process("lidar", 0, BOX)
    with pytest.raises(NumericalError, match="vehicle frame.*not finite"):
        eng.tracks(vehicle_pose=(1.7e308, 1.7e308, 0.78))  # was a box at -inf
    assert np.isfinite(eng.tracks(vehicle_pose=(1e300, 0.0, 0.78))["box"]).all()
