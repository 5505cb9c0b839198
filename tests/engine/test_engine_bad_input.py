"""Bad input (issue 7 §5), each with its typed error and a message naming the sensor, the
detection and the field; a failed call changes nothing; the lenient mode counts skips; late
frames; the C++ engine's own checks behind the Python ones; never a NaN in a track."""

from __future__ import annotations

import numpy as np
import pytest
from _engine_scene import config, frames, run

from fusion import _core
from fusion.engine import EngineConfig, FusionEngine, SensorConfig, TimestampError
from fusion.errors import ConfigurationError, NumericalError, ShapeError

BOX = [10.0, 1.0, -1.0, 0.1, 4.2, 1.8, 1.5]
IMG = [600.0, 300.0, 700.0, 380.0]


def engine(**kw) -> FusionEngine:
    eng = FusionEngine(config(**kw))
    run(eng, frames(0.5))  # some tracks, so "nothing changes" means something
    return eng


def snapshot(eng: FusionEngine) -> tuple:
    return eng.tracks().tobytes(), eng.image_tracks().tobytes(), eng.stats(), eng.time_ns


T = 1_000_000_000  # after the warm-up frames

BAD = [
    # (sensor, kwargs of process, error, message pattern)
    ("radar", {"z": [BOX]}, ConfigurationError, r"sensor: unknown sensor 'radar'; sensors: lidar, camera"),
    (5, {"z": [BOX]}, ConfigurationError, r"sensor: unknown sensor index 5; sensors: 0 lidar, 1 camera"),
    (1.0, {"z": [BOX]}, ConfigurationError, r"sensor: expected a sensor name or index, got 1\.0"),
    ("lidar", {"z": [BOX[:6]]}, ShapeError, r"sensor 'lidar' \(0\): z: expected shape \(n, 7\) \(lidar_box3d: x, y, z, "
                                            r"yaw, l, w, h\), got \(1, 6\)"),
    ("camera", {"z": [BOX]}, ShapeError, r"sensor 'camera' \(1\): z: expected shape \(n, 4\)"),
    ("lidar", {"z": [[str(v) for v in BOX]]}, ShapeError, r"sensor 'lidar' \(0\): z: expected numbers"),
    ("lidar", {"z": [BOX, BOX[:3]]}, ShapeError, r"sensor 'lidar' \(0\): z: not a rectangular array of numbers"),
    ("lidar", {"z": [BOX], "score": [[1.0], [1.0, 2.0]]}, ShapeError,
     r"sensor 'lidar' \(0\): score: not a rectangular array of numbers"),
    ("lidar", {"z": [BOX], "R": np.eye(7)}, ShapeError, r"sensor 'lidar' \(0\): R: expected shape \(1, 7, 7\)"),
    ("lidar", {"z": [BOX] * 3, "score": [1.0, 1.0]}, ShapeError, r"score: expected shape \(3,\), got \(2,\)"),
    ("lidar", {"z": [BOX], "class_scores": [[1.0]]}, ShapeError, r"class_scores: expected shape \(1, 2\)"),
    ("lidar", {"z": [BOX, [*BOX[:2], np.nan, *BOX[3:]]]}, NumericalError,
     r"sensor 'lidar' \(0\) detection 1: z: z is nan"),
    ("camera", {"z": [IMG, [IMG[0], IMG[1], np.inf, IMG[3]]]}, NumericalError,
     r"sensor 'camera' \(1\) detection 1: z: x2 is inf"),
    ("lidar", {"z": [BOX, BOX], "R": [np.eye(7), np.where(np.eye(7) > 0, np.inf, 0.0)]}, NumericalError,
     r"sensor 'lidar' \(0\) detection 1: R: every entry must be finite"),
    ("lidar", {"z": [BOX], "R": [np.diag([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1.0])]}, NumericalError,
     r"sensor 'lidar' \(0\) detection 0: R is not positive definite"),
    ("camera", {"z": [IMG], "R": [np.array([[1.0, 2.0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])]},
     NumericalError, r"sensor 'camera' \(1\) detection 0: R is not symmetric"),
    ("lidar", {"z": [BOX], "score": [np.nan]}, NumericalError, r"sensor 'lidar' \(0\) detection 0: score is nan"),
    ("camera", {"z": [IMG, [700.0, 300.0, 600.0, 380.0]]}, NumericalError,
     r"sensor 'camera' \(1\) detection 1: z: image box with x2 < x1 or y2 < y1"),
    ("camera", {"z": [[600.0, 380.0, 700.0, 300.0]]}, NumericalError,
     r"sensor 'camera' \(1\) detection 0: z: image box with x2 < x1 or y2 < y1"),
    ("lidar", {"z": [BOX] * 3, "class_id": [0, 1, 2]}, ShapeError,
     r"sensor 'lidar' \(0\) detection 2: class_id = 2 is out of range \[0, 2\)"),
    ("lidar", {"z": [BOX] * 9}, ShapeError, r"sensor 'lidar' \(0\): 9 detections in one frame, more than "
                                            r"max_detections = 8"),
]


@pytest.mark.parametrize("sensor, kw, err, pattern", BAD, ids=[p for *_, p in BAD])
def test_bad_detection_raises_a_typed_error_and_changes_nothing(sensor, kw, err, pattern):
    eng = engine(max_detections=8)
    before = snapshot(eng)
    with pytest.raises(err, match=pattern):
        eng.process(sensor, T, **kw)
    assert snapshot(eng) == before


@pytest.mark.parametrize("t, pattern", [
    (1.0e9, r"t_ns: expected an integer number of nanoseconds \(int64\), got float 1000000000\.0"),
    (np.float32(1.0), r"t_ns: expected an integer .* got float32"),
    (True, r"t_ns: expected an integer .* got bool True"),
    (2**63, r"t_ns: 9223372036854775808 is outside int64"),
    (-2**63, r"t_ns: -9223372036854775808 is outside int64 .*reserved"),  # INT64_MIN is 'never' in the records
])
def test_timestamps_that_are_not_int64_ns(t, pattern):
    eng = engine()
    before = snapshot(eng)
    with pytest.raises(TimestampError, match=pattern):
        eng.process("lidar", t, [BOX])
    assert snapshot(eng) == before


def test_int64_min_is_refused_by_the_core_too():
    e = FusionEngine(config())
    with pytest.raises(TimestampError, match=r"int64 min, reserved"):
        e._core.process(0, -2**63, np.array([BOX]), None, None, None, None)
    assert e.time_ns is None and e.stats()["frames"] == 0


@pytest.mark.parametrize("t0, t1", [(-2**62, 2**62), (-2**63 + 1, 2**63 - 1), (0, 2**63 - 1)])
def test_frames_further_apart_than_int64_holds_coast_the_track_out(t0, t1):
    # t1 - t0 overflows int64 in the first two cases: the elapsed time saturates instead of
    # wrapping to a negative gap (which kept the track alive and "updated" it backwards).
    eng = FusionEngine(config())
    eng.process("lidar", t0, [BOX])
    first = eng.tracks()["id"].tolist()
    eng.process("lidar", t1, [BOX])
    tr = eng.tracks()
    assert tr[tr["status"] == 3]["id"].tolist() == first  # coasted out (max_coast_s) and reported deleted
    live = tr[tr["status"] != 3]
    assert len(live) == 1 and live["id"][0] not in first and live["t_ns"][0] == t1
    assert eng.stats()["rejected_updates"] == 0
    assert np.isfinite(tr["x"]).all() and np.isfinite(tr["P"]).all()


BEYOND = 400_000_000  # ns: later than the default oosm_horizon_s = 0.3 s


def test_late_frames_are_dropped_and_counted_or_raise():
    eng = engine()  # a frame up to oosm_horizon_s late is fused instead (tests/engine/test_oosm.py)
    before = snapshot(eng)
    eng.process("lidar", eng.time_ns - BEYOND, [BOX, BOX])
    tr, im, st, t = snapshot(eng)
    assert (tr, im, t) == before[:2] + (before[3],)
    assert st["late_frames"] == 1 and st["late_detections"] == 2 and st["frames"] == before[2]["frames"]
    strict = engine(late_policy="raise")
    before = snapshot(strict)
    with pytest.raises(TimestampError, match=r"earlier than the engine's time"):
        strict.process("camera", strict.time_ns - BEYOND, [IMG])
    assert snapshot(strict) == before
    # the C++ check stands on its own (the Python one is only the clearer message)
    with pytest.raises(TimestampError):
        strict._core.process(1, strict.time_ns - BEYOND, np.array([IMG]), None, None, None, None)
    assert snapshot(strict) == before
    strict.process("camera", strict.time_ns, [IMG])  # the same time is not late


def test_a_batch_with_one_bad_frame_changes_nothing():
    from fusion.engine import MeasurementBatch
    eng = engine()
    before = snapshot(eng)
    batch = MeasurementBatch.from_frames([
        {"sensor": 0, "t_ns": T, "z": [BOX]},
        {"sensor": 1, "t_ns": T + 5, "z": [IMG]},
        {"sensor": 1, "t_ns": T + 10, "z": [[700.0, 300.0, 600.0, 380.0]]},  # x2 < x1, the last frame
    ])
    with pytest.raises(NumericalError, match=r"MeasurementBatch: sensor 'camera' \(1\) detection 2: z: image box"):
        eng.step(batch)
    assert snapshot(eng) == before


def _core_accepts_R(R: np.ndarray) -> bool:
    e = FusionEngine(config())
    try:
        e._core.process(0, T, np.array([BOX]), R[None], None, None, None)
    except NumericalError:
        return False
    return True


def test_python_R_check_is_the_core_check():
    # The Python checks are what step() relies on to process nothing of an invalid batch: an R
    # they pass must not fail in the core. Near-singular and slightly asymmetric covariances of
    # small scale are where an eigenvalue test / an absolute tolerance disagreed with the core.
    from fusion.engine.batch import prepare_frame
    cfg = config()
    rng = np.random.default_rng(0)
    small = 1e-6 * np.eye(7)
    small[0, 1] += 1e-13  # relative asymmetry 1e-7
    cases = [small, np.ones((7, 7)) + 1e-15 * np.eye(7), np.ones((7, 7)) + 1e-16 * np.eye(7)]
    for _ in range(300):
        B = rng.standard_normal((7, 6))
        cases.append(B @ B.T + rng.choice([0.0, 1e-16, 1e-15, 1e-14, 1e-13]) * np.eye(7))
    for R in cases:
        try:
            prepare_frame(cfg, 0, T, [BOX], R[None])
            python_ok = True
        except NumericalError:
            python_ok = False
        assert python_ok == _core_accepts_R(R), R.tolist()


def test_a_batch_whose_later_frame_has_a_small_asymmetric_R_changes_nothing():
    from fusion.engine import MeasurementBatch
    eng = engine()
    before = snapshot(eng)
    R = 1e-6 * np.eye(7)
    R[0, 1] += 1e-13
    batch = MeasurementBatch(np.array([0, 0]), np.array([T, T + 10]), np.array([BOX, BOX]),
                             R=np.stack([1e-2 * np.eye(7), R]))
    with pytest.raises(NumericalError, match=r"MeasurementBatch: sensor 'lidar' \(0\) detection 1: R is not symmetric"):
        eng.step(batch)
    assert snapshot(eng) == before


def test_lenient_mode_skips_and_counts_bad_detections():
    eng = engine(bad_detection="skip")
    before = eng.stats()
    z = np.array([BOX, [*BOX[:2], np.nan, *BOX[3:]], [30.0, -5.0, -1.0, 0.0, 4.2, 1.8, 1.5], BOX])
    z[3, 0] = 50.0
    eng.process("lidar", T, z, R=[np.eye(7), np.eye(7), np.eye(7), -np.eye(7)], class_id=[0, 0, 0, 0])
    st = eng.stats()
    assert st["skipped_detections"] - before["skipped_detections"] == 2
    assert st["frames"] == before["frames"] + 1 and st["detections"] == before["detections"] + 4
    eng.process("camera", T + 1, [IMG, [700.0, 300.0, 600.0, 380.0]], class_id=[0, 7])
    assert eng.stats()["skipped_detections"] - before["skipped_detections"] == 3
    # array-level mistakes still raise in lenient mode
    with pytest.raises(ShapeError, match=r"z: expected shape \(n, 4\)"):
        eng.process("camera", T + 2, [BOX])
    for name in ("x", "P", "box", "velocity"):
        assert np.all(np.isfinite(eng.tracks()[name]))


def test_the_core_checks_values_itself():
    """The C++ engine validates too (the Python checks give the clear message first): calling
    the binding directly with bad values raises typed errors naming detection, sensor, field."""
    eng = engine()
    core: _core.FusionEngine = eng._core
    before = snapshot(eng)
    z = np.array([BOX, BOX])
    z[1, 0] = np.nan
    with pytest.raises(NumericalError, match=r"(?s)(?=.*detection 1)(?=.*lidar)"):
        core.process(0, T, z, None, None, None, None)
    with pytest.raises(NumericalError, match=r"(?s)(?=.*detection 0)(?=.*camera)"):
        core.process(1, T, np.array([[700.0, 300.0, 600.0, 380.0]]), None, None, None, None)
    with pytest.raises(NumericalError, match=r"(?s)(?=.*detection 0)(?=.*lidar)"):
        core.process(0, T, np.array([BOX]), -np.eye(7)[None], None, None, None)
    with pytest.raises(ShapeError, match=r"(?s)(?=.*detection 0)(?=.*lidar)"):
        core.process(0, T, np.array([BOX]), None, None, np.array([5], np.int32), None)
    with pytest.raises((ShapeError, ConfigurationError)):
        core.process(7, T, np.array([BOX]), None, None, None, None)
    with pytest.raises(ShapeError):
        core.process(0, T, np.array([BOX[:6]]), None, None, None, None)
    assert snapshot(eng) == before


def test_configuration_errors_of_the_core():
    """A spec naming an unknown component or a mount that is not a rotation is refused by the
    core as well, listing the known keys."""
    spec = config().to_spec()
    for path, value, pattern in (
        (("motion",), "cv", r"cv_box, ctrv_box"),
        (("sensors", 0, "model"), "lidar", r"lidar_box3d, camera_box2d, radar, position3d"),
        (("sensors", 1, "cost"), "iou", r"giou_3d, giou_bev, iou_3d, iou_bev, iou_2d, giou_2d, mahalanobis"),
        (("sensors", 0, "associator"), "jpdaa", r"gnn"),
        (("sensors", 0, "mount_R"), np.diag([1.0, 1.0, -1.0]).tolist(), r"(?i)rotation|reflection|det"),
    ):
        bad = config().to_spec()
        target = bad
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = value
        with pytest.raises(ConfigurationError, match=pattern):
            _core.FusionEngine(bad)
    _core.FusionEngine(spec)  # the unmodified spec is fine


def test_never_a_nan_in_a_track():
    """Extreme but valid input: huge and tiny covariances, far boxes, degenerate sizes."""
    cfg = config()
    cfg.sensors[0].cost, cfg.sensors[0].gate = "distance", 1e6
    eng = FusionEngine(cfg)
    rng = np.random.default_rng(3)
    t = 0
    for k in range(60):
        t += 50_000_000
        n = 4
        z = np.tile(BOX, (n, 1))
        z[:, :2] += rng.normal(0, 10 ** rng.uniform(-3, 5), (n, 2))
        z[:, 4:] = 10 ** rng.uniform(-6, 2, (n, 3))
        scale = 10 ** rng.uniform(-12, 12, n)
        R = np.eye(7)[None] * scale[:, None, None]
        eng.process("lidar", t, z, R=R)
        eng.process("camera", t + 1, [IMG, [0.0, 0.0, 1e-9, 1e-9]], R=[np.eye(4) * 1e-12, np.eye(4) * 1e12])
        tr = eng.tracks()
        for name in ("x", "P", "box", "velocity", "existence", "class_prob"):
            assert np.all(np.isfinite(tr[name])), (k, name)
        assert np.all(np.isfinite(eng.image_tracks()["box"]))


def test_unknown_component_in_python_config_lists_known_keys():
    with pytest.raises(ConfigurationError, match=r"\[sensors\.r\] model: unknown key 'lidar3d'; known keys: "
                                                 r"lidar_box3d, camera_box2d, radar, position3d"):
        FusionEngine(EngineConfig(sensors=[SensorConfig(name="r", model="lidar3d")]))
    with pytest.raises(ConfigurationError, match=r"\[sensors\.r\] mount_R: is not a rotation"):
        FusionEngine(EngineConfig(sensors=[SensorConfig(name="r", mount_R=np.diag([1.0, -1.0, 1.0]))]))
    with pytest.raises(ConfigurationError, match=r"config: expected an EngineConfig or a TOML path, got dict"):
        FusionEngine({"motion": "cv_box"})  # type: ignore[arg-type]
