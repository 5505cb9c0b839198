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


def test_ego_sample_at_int64_min_is_refused_and_adds_nothing() -> None:
    """-2**63 means 'never' in the track records; process() and ego_pose() refuse it, so
    ego_motion() does too (review: it was accepted)."""
    eng = FusionEngine(EngineConfig.car())
    with pytest.raises(TimestampError, match="reserved"):
        eng.ego_motion([I64_MIN, 0], [1.0, 1.0], [0.0, 0.0])
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


@pytest.mark.parametrize(("first", "latest"), [(I64_MIN + 1, I64_MAX), (-(2**62), 2**62 + 10)])
def test_a_frame_more_than_2_63_ns_late_follows_late_policy(first: int, latest: int) -> None:
    # latest - first does not fit int64: the wrapped age was negative, within the horizon, and
    # the frame was re-processed into the history instead of dropped
    eng = FusionEngine(EngineConfig.car())
    eng.process("lidar", first, BOX)
    eng.process("lidar", latest, BOX)
    before = eng.tracks().tobytes()
    eng.process("lidar", first, BOX)
    st = eng.stats()
    assert (st["late_frames"], st["reprocessed_frames"], st["frames"]) == (1, 0, 2)
    assert eng.tracks().tobytes() == before
    raising = FusionEngine(EngineConfig.car(late_policy="raise"))
    raising.process("lidar", first, BOX)
    raising.process("lidar", latest, BOX)
    with pytest.raises(TimestampError, match="beyond oosm_horizon_s"):  # the C++ check alone
        raising._core.process(0, first, BOX, None, None, None, None, None)


def test_frames_near_int64_min_keep_the_out_of_sequence_history() -> None:
    eng = FusionEngine(EngineConfig.car())
    t0 = I64_MIN + 1
    for k in (0, 2, 3):
        eng.process("lidar", t0 + k * 100_000_000, BOX)
    eng.process("lidar", t0 + 100_000_000, BOX)  # 0.2 s late: re-processed, not lost
    st = eng.stats()
    assert (st["reprocessed_frames"], st["late_frames"]) == (1, 0)


def test_ego_samples_more_than_2_63_ns_apart_integrate_forward() -> None:
    eng = FusionEngine(EngineConfig.car())
    eng.ego_motion([I64_MIN + 1, I64_MAX], [1.0, 1.0], [0.0, 0.0])
    # 1 m/s over the interval saturated at INT64_MAX ns; the wrapped interval was -2 ns
    assert eng.ego_pose(I64_MAX)["x_m"] == pytest.approx((2**63 - 1) * 1e-9, rel=1e-12)
    assert eng.ego_pose(0)["x_m"] == pytest.approx((2**63 - 1) * 1e-9, rel=1e-12)


@pytest.mark.parametrize("batch", [False, True])
def test_a_speed_whose_pose_overflows_is_refused_and_adds_nothing(batch: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("fusion.engine.engine.MAX_EGO_SPEED_MPS", float("inf"))  # the core's own check, past the bound
    eng = FusionEngine(EngineConfig.car(ego_max_extrapolation_s=5.0))
    eng.ego_motion(0, 1e308, 0.0)  # finite: fine until it is integrated
    if batch:  # the bad interval is the third sample's: the first two must not stay either
        with pytest.raises(NumericalError, match=r"sample 2 .*pose overflows"):
            eng.ego_motion([0, 10**9, 10**10], [1.0, 1e308, 1.0], [0.0, 0.0, 0.0])
        assert eng.ego_pose(0)["speed_mps"] == 1e308  # sample 0's replacement was not kept
    else:
        with pytest.raises(NumericalError, match="pose overflows"):
            eng.ego_motion(10**10, 1.0, 0.0)
    with pytest.raises(TimestampError, match="outside the odometry's samples"):
        eng.ego_pose(10**10)  # no sample was added
    with pytest.raises(NumericalError, match="overflows"):  # extrapolated 2 s: refused, was x = inf, y = NaN
        eng.ego_pose(2 * 10**9)
    eng.ego_motion(10**8, 1.0, 0.0)  # 1e308 m/s over 0.1 s: 1e307 m, finite
    assert eng.ego_pose(10**8)["x_m"] == pytest.approx(1e307)


def test_a_vehicle_pose_whose_boxes_overflow_is_a_numerical_error() -> None:
    eng = FusionEngine(EngineConfig.car())
    eng.process("lidar", 0, BOX)
    with pytest.raises(NumericalError, match="vehicle frame.*not finite"):
        eng.tracks(vehicle_pose=(1.7e308, 1.7e308, 0.78))  # was a box at -inf
    assert np.isfinite(eng.tracks(vehicle_pose=(1e300, 0.0, 0.78))["box"]).all()
