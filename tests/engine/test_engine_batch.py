"""MeasurementBatch and the per-frame checks (pure Python: no engine needed): dtypes, frame
grouping, sensor-default covariances, and typed errors naming sensor, detection and field."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.engine import EngineConfig, MeasurementBatch, SensorConfig, TimestampError
from fusion.engine.batch import check_timestamp, prepare_frame
from fusion.errors import ConfigurationError, NumericalError, ShapeError
from fusion.tracking import TimestampError as TrackingTimestampError

BOX = [10.0, 1.0, -1.0, 0.1, 4.0, 1.8, 1.5]
IMG = [100.0, 200.0, 180.0, 260.0]


def cfg(**kw) -> EngineConfig:
    return EngineConfig(sensors=[SensorConfig.lidar(), SensorConfig.camera(), SensorConfig.radar()], num_classes=3,
                        **kw)


def test_one_timestamp_error_class():
    assert TimestampError is TrackingTimestampError
    assert issubclass(TimestampError, ValueError)


@pytest.mark.parametrize("t, pattern", [
    (1.5, r"t_ns: expected an integer number of nanoseconds \(int64\), got float 1\.5 \(a float"),
    (1e9, r"got float 1000000000\.0"),
    (np.float64(2.0), r"got float64 2\.0"),
    (True, r"got bool True"),
    ("5", r"got str '5'"),
    (2**63, r"t_ns: 9223372036854775808 is outside int64"),
    (-(2**63) - 1, r"is outside int64"),
])
def test_check_timestamp_rejects(t, pattern):
    with pytest.raises(TimestampError, match=pattern):
        check_timestamp(t)


def test_check_timestamp_accepts_integers():
    assert check_timestamp(np.int64(5)) == 5 and check_timestamp(np.uint32(7)) == 7
    assert check_timestamp(2**63 - 1) == 2**63 - 1 and check_timestamp(-3) == -3


def test_batch_converts_dtypes_and_rejects_float_times():
    b = MeasurementBatch(sensor=[0, 1], t_ns=np.array([5, 5], np.int32), z=[[1, 2, 3, 4, 5, 6, 7]] * 2)
    assert (b.sensor.dtype, b.t_ns.dtype, b.z.dtype) == (np.int32, np.int64, np.float64) and len(b) == 2
    with pytest.raises(TimestampError, match=r"MeasurementBatch\.t_ns: expected int64 nanoseconds, got an array of "
                                             r"dtype float64 \(floats: pass"):
        MeasurementBatch(sensor=[0], t_ns=[0.1], z=[BOX])
    with pytest.raises(TimestampError, match=r"dtype bool"):
        MeasurementBatch(sensor=[0], t_ns=[True], z=[BOX])
    with pytest.raises(TimestampError, match=r"outside int64"):
        MeasurementBatch(sensor=[0], t_ns=np.array([2**64 - 1], np.uint64), z=[BOX])


@pytest.mark.parametrize("kw, err, pattern", [
    ({"sensor": [0.0]}, ShapeError, r"MeasurementBatch\.sensor: expected integers, got an array of dtype float64"),
    ({"sensor": [0, 0]}, ShapeError, r"MeasurementBatch\.sensor: expected shape \(1,\) like t_ns, got \(2,\)"),
    ({"sensor": [-1]}, ConfigurationError, r"MeasurementBatch\.sensor: detection 0: sensor index -1 is negative"),
    ({"z": [1.0] * 7}, ShapeError, r"MeasurementBatch\.z: expected shape \(1, M_max\), got \(7,\)"),
    ({"z": [["a"] * 7]}, ShapeError, r"MeasurementBatch\.z: expected numbers"),
    ({"R": np.eye(7)}, ShapeError, r"MeasurementBatch\.R: expected shape \(1, 7, 7\), got \(7, 7\)"),
    ({"score": [1.0, 2.0]}, ShapeError, r"MeasurementBatch\.score: expected shape \(1,\), got \(2,\)"),
    ({"class_id": [0.0]}, ShapeError, r"MeasurementBatch\.class_id: expected integers"),
    ({"class_scores": [0.5, 0.5]}, ShapeError, r"MeasurementBatch\.class_scores: expected shape \(1, C\)"),
])
def test_batch_array_errors(kw, err, pattern):
    args = {"sensor": [0], "t_ns": [0], "z": [BOX], **kw}
    with pytest.raises(err, match=pattern):
        MeasurementBatch(**args)


def test_frames_are_grouped_by_time_then_sensor_keeping_row_order():
    c = cfg()
    z = np.full((6, 7), np.nan)
    z[:, :7] = BOX
    z[[1, 4], 4:] = np.nan
    z[1, :4] = IMG
    z[4, :4] = IMG
    z[5, :3] = [20.0, 0.1, -1.0]
    b = MeasurementBatch(sensor=[0, 1, 0, 0, 1, 2], t_ns=[200, 100, 100, 200, 100, 100], z=z,
                         score=[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    frames = b.split(c)
    assert [(f.t_ns, f.sensor, f.rows.tolist()) for f in frames] == [
        (100, 0, [2]), (100, 1, [1, 4]), (100, 2, [5]), (200, 0, [0, 3])]
    assert [f.z.shape for f in frames] == [(1, 7), (2, 4), (1, 3), (2, 7)]  # columns beyond M dropped
    assert frames[3].score.tolist() == [0.0, 3.0] and frames[1].score.tolist() == [1.0, 4.0]
    assert all(f.R is None for f in frames)


def test_all_nan_covariance_rows_take_the_sensor_default():
    c = cfg()
    R = np.full((3, 7, 7), np.nan)
    R[1] = np.eye(7) * 0.5
    b = MeasurementBatch(sensor=[0, 0, 0], t_ns=[0, 0, 0], z=[BOX] * 3, R=R)
    (f,) = b.split(c)
    np.testing.assert_array_equal(f.R[0], c.sensors[0].resolved_R())
    np.testing.assert_array_equal(f.R[1], np.eye(7) * 0.5)
    np.testing.assert_array_equal(f.R[2], c.sensors[0].resolved_R())
    only_default = MeasurementBatch(sensor=[0], t_ns=[0], z=[BOX], R=np.full((1, 7, 7), np.nan))
    assert only_default.split(c)[0].R is None


def test_batch_value_errors_name_the_batch_row_sensor_and_field():
    c = cfg()
    z = np.array([BOX, BOX, [*IMG, 0, 0, 0], [IMG[2], IMG[1], IMG[0], IMG[3], 0, 0, 0]])
    b = MeasurementBatch(sensor=[0, 0, 1, 1], t_ns=[0, 0, 0, 0], z=z)
    with pytest.raises(NumericalError, match=r"sensor 'camera' \(1\) detection 3: z: image box with x2 < x1"):
        b.split(c)
    z[1, 2] = np.nan
    with pytest.raises(NumericalError, match=r"sensor 'lidar' \(0\) detection 1: z: z is nan"):
        MeasurementBatch(sensor=[0, 0, 1, 1], t_ns=[0, 0, 0, 0], z=z).split(c)
    # without value checks (bad_detection = "skip": the engine skips and counts) only array errors raise
    assert len(MeasurementBatch(sensor=[0, 0, 1, 1], t_ns=[0, 0, 0, 0], z=z).split(c, check_values=False)) == 2
    with pytest.raises(ConfigurationError, match=r"detection 1: unknown sensor index 3; sensors: 0 lidar, 1 camera, "
                                                 r"2 radar"):
        MeasurementBatch(sensor=[0, 3], t_ns=[0, 0], z=[BOX, BOX]).split(c)
    narrow = MeasurementBatch(sensor=[1, 0], t_ns=[0, 1], z=[IMG, IMG])
    with pytest.raises(ShapeError, match=r"MeasurementBatch\.z: 4 columns, but sensor 'lidar' \(0\) measures 7"):
        narrow.split(c)


def test_from_frames_pads_and_fills_defaults():
    b = MeasurementBatch.from_frames([
        {"sensor": 0, "t_ns": 0, "z": [BOX, BOX], "score": [0.5, 0.6]},
        {"sensor": 1, "t_ns": 50, "z": [IMG], "R": [np.eye(4)], "class_id": [2]},
    ])
    assert b.z.shape == (3, 7) and np.isnan(b.z[2, 4:]).all()
    assert b.score.tolist() == [0.5, 0.6, 1.0] and b.class_id.tolist() == [-1, -1, 2]
    assert np.isnan(b.R[:2]).all() and np.array_equal(b.R[2, :4, :4], np.eye(4))
    frames = b.split(cfg())
    assert frames[0].R is None and frames[1].R.shape == (1, 4, 4)
    with pytest.raises(TimestampError, match=r"from_frames: frame 0: t_ns: expected an integer"):
        MeasurementBatch.from_frames([{"sensor": 0, "t_ns": 0.5, "z": [BOX]}])


def test_from_frames_takes_empty_frames():
    b = MeasurementBatch.from_frames([{"sensor": 0, "t_ns": 0, "z": []},
                                      {"sensor": 1, "t_ns": 5, "z": np.zeros((0, 4))},
                                      {"sensor": 0, "t_ns": 10, "z": [BOX]}])
    assert len(b) == 1 and b.t_ns.tolist() == [10]  # an empty frame has no row


@pytest.mark.parametrize("frame, err, pattern", [
    ({"sensor": 0, "t_ns": 0}, ShapeError, r"frame 0: needs the keys 'sensor', 't_ns' and 'z'"),
    ({"sensor": 0, "t_ns": 0, "z": [BOX], "scores": [1.0]}, ShapeError, r"frame 0: unknown key\(s\) 'scores'"),
    ({"sensor": "lidar", "t_ns": 0, "z": [BOX]}, ConfigurationError, r"frame 0: sensor: expected a sensor index"),
    ({"sensor": 0.7, "t_ns": 0, "z": [BOX]}, ConfigurationError, r"frame 0: sensor: expected a sensor index"),
    ({"sensor": 0, "t_ns": 0, "z": [BOX], "R": np.eye(3)}, ShapeError, r"frame 0: R: expected shape \(1, 7, 7\)"),
    ({"sensor": 0, "t_ns": 0, "z": [BOX, BOX[:3]]}, ShapeError, r"frame 0: z: not a rectangular array"),
    ({"sensor": 0, "t_ns": 0, "z": [BOX], "class_id": [0.5]}, ShapeError, r"frame 0: class_id: expected integers"),
])
def test_from_frames_errors_name_the_frame(frame, err, pattern):
    with pytest.raises(err, match=pattern):
        MeasurementBatch.from_frames([frame])


# ---------------------------------------------------------------- one frame (what FusionEngine.process checks)

def frame(sensor=0, z=(BOX,), **kw):
    return prepare_frame(cfg(max_detections=4), sensor, 0, np.array(z, dtype=float), **kw)


@pytest.mark.parametrize("sensor, z, kw, err, pattern", [
    (0, [BOX[:6]], {}, ShapeError, r"process: sensor 'lidar' \(0\): z: expected shape \(n, 7\) \(lidar_box3d: x, y, "
                                   r"z, yaw, l, w, h\), got \(1, 6\)"),
    (1, [BOX], {}, ShapeError, r"sensor 'camera' \(1\): z: expected shape \(n, 4\) \(camera_box2d: x1, y1, x2, y2\)"),
    (2, [[1.0, 2.0, 3.0]] * 5, {}, ShapeError, r"sensor 'radar' \(2\): 5 detections in one frame, more than "
                                               r"max_detections = 4"),
    (0, [BOX], {"R": np.eye(7)}, ShapeError, r"R: expected shape \(1, 7, 7\)"),
    (0, [BOX], {"score": [[1.0]]}, ShapeError, r"score: expected shape \(1,\)"),
    (0, [BOX], {"class_id": [1.0]}, ShapeError, r"class_id: expected integers, got an array of dtype float64"),
    (0, [BOX], {"class_scores": [[1.0, 0.0]]}, ShapeError,
     r"class_scores: expected shape \(1, 3\) \(num_classes = 3\)"),
    (0, [BOX, BOX], {"class_id": [0, 3]}, ShapeError, r"sensor 'lidar' \(0\) detection 1: class_id = 3 is out of "
                                                      r"range \[0, 3\)"),
    (0, [BOX], {"class_id": [-2]}, ShapeError, r"detection 0: class_id = -2 is out of range"),
    (0, [BOX, [*BOX[:6], np.inf]], {}, NumericalError, r"sensor 'lidar' \(0\) detection 1: z: h is inf"),
    (0, [BOX, [*BOX[:4], -0.1, 1.0, 1.0]], {}, NumericalError, r"detection 1: z: box sizes l, w, h must be >= 0"),
    (1, [IMG, [10.0, 50.0, 20.0, 40.0]], {}, NumericalError, r"sensor 'camera' \(1\) detection 1: z: image box with "
                                                             r"x2 < x1 or y2 < y1"),
    (2, [[10.0, 0.1, 1.0]], {"R": [np.diag([1.0, -1e-4, 1.0])]}, NumericalError,
     r"sensor 'radar' \(2\) detection 0: R is not positive definite"),
    (2, [[10.0, 0.1, 1.0]], {"R": [[[1.0, 0.5, 0], [0, 1, 0], [0, 0, 1]]]}, NumericalError,
     r"detection 0: R is not symmetric"),
    (2, [[10.0, 0.1, 1.0]], {"R": [np.diag([1.0, np.nan, 1.0])]}, NumericalError,
     r"detection 0: R: every entry must be finite"),
    (0, [BOX, BOX], {"score": [1.0, np.nan]}, NumericalError, r"detection 1: score is nan"),
    (0, [BOX], {"class_scores": [[0.5, -0.1, 0.6]]}, NumericalError,
     r"detection 0: class_scores must be finite and >= 0"),
    (0, [BOX], {"class_scores": [[0.5, np.nan, 0.6]]}, NumericalError, r"detection 0: class_scores must be finite"),
    (2, [[10.0, 0.1, 1.0]] * 2, {"R": [np.full((3, 3), np.nan), np.diag([1.0, 0.0, 1.0])]}, NumericalError,
     r"detection 1: R is not positive definite"),
])
def test_frame_errors(sensor, z, kw, err, pattern):
    with pytest.raises(err, match=pattern):
        frame(sensor, z, **kw)


def test_frame_conversions():
    f = frame(0, [BOX, BOX], class_id=np.array([2, 0], np.uint8), score=[1, 2])
    assert (f.class_id.dtype, f.score.dtype, f.z.flags.c_contiguous) == (np.int32, np.float64, True)
    empty = prepare_frame(cfg(), 1, 0, np.zeros(0))
    assert empty.z.shape == (0, 4) and len(empty) == 0
    # in lenient mode out-of-range class ids reach the core still out of range (to be skipped there)
    lenient = prepare_frame(cfg(), 0, 0, [BOX, BOX], class_id=np.array([2**40, -7]), check_values=False)
    assert lenient.class_id.tolist() == [3, -2]
