"""Bad inputs of docs/robustness.md that no other test covered (issue 10): each gets its typed
fusion.errors error naming the argument, file and line or field, and a failed call changes
nothing; or a defined, finite result where the input is legal but extreme."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from fusion.assoc import gated_assignment
from fusion.engine import EngineConfig, FusionEngine
from fusion.errors import ConfigurationError, DecodeError, NumericalError, ShapeError, TimestampError
from fusion.filters import (
    IMMBank,
    IMMEstimator,
    KalmanFilter,
    KalmanFilterBank,
    UnscentedKalmanFilterBank,
)
from fusion.geometry import box_overlap, giou_3d, iou_3d, iou_bev
from fusion.hil.rig import load_rig
from fusion.kitti.fusion_track import load_fusion_config
from fusion.kitti.io import read_detections, read_labels
from fusion.models import CTRV, CV2D, ConstantTurn, KinematicBicycle, Position2D, RadarPolar
from fusion.t2t import TrackFuserConfig
from fusion.tracking import PointTracker, Tracker, TrackerConfig, jpda_marginals, make_detections

# ---------------------------------------------------------------- estimation API


def _kf() -> KalmanFilter:
    kf = KalmanFilter(dim_x=2, dim_z=1)
    kf.F = np.array([[1.0, 1.0], [0.0, 1.0]])
    kf.H = np.array([[1.0, 0.0]])
    kf.x = np.array([[1.0], [0.5]])
    return kf


def _kf_state(kf: KalmanFilter) -> tuple[bytes, ...]:
    return tuple(np.asarray(a, dtype=float).tobytes() for a in (kf.x, kf.P, kf.x_prior, kf.P_prior))


@pytest.mark.parametrize(("what", "P", "Q", "match"), [
    ("non-symmetric P", [[1.0, 0.5], [0.0, 1.0]], None, r"KalmanFilter.P: entry \[0, 1\] = 0.5 .* not symmetric"),
    ("negative-definite P", [[-1.0, 0.0], [0.0, -1.0]], None, r"KalmanFilter.P: diagonal entry \[0, 0\] = -1"),
    ("negative scalar P", -2.0, None, r"KalmanFilter.P: diagonal entry \[0, 0\] = -2"),
    ("NaN in P", [[np.nan, 0.0], [0.0, 1.0]], None, r"KalmanFilter.P: diagonal entry \[0, 0\] = nan"),
    ("negative Q matrix", None, -np.eye(2), r"KalmanFilter.Q: diagonal entry \[0, 0\] = -1"),
    ("negative scalar Q", None, -0.1, r"KalmanFilter.Q: diagonal entry \[0, 0\] = -0.1"),
    ("non-symmetric Q argument", None, [[1.0, 0.2], [0.0, 1.0]],
     r"KalmanFilter.predict: Q argument: entry \[0, 1\]"),
], ids=lambda v: v if isinstance(v, str) and " " in v else None)
def test_kalman_filter_refuses_bad_covariances_and_changes_nothing(what: str, P: object, Q: object,
                                                                  match: str) -> None:
    """An assigned P or Q is checked on assignment (Q also before the predict that uses it, as an
    argument); either way the filter keeps its state (filterpy propagated them silently)."""
    kf = _kf()
    kf.predict()
    before = _kf_state(kf)
    with pytest.raises(NumericalError, match=match):
        if P is not None:
            kf.P = P
        elif "argument" in what:
            kf.predict(Q=np.array(Q))
        else:
            kf.Q = Q
            kf.predict()
    assert _kf_state(kf) == before


def test_kalman_filter_accepts_semidefinite_and_round_off_asymmetric_covariances() -> None:
    """The check must not refuse what filterpy users legitimately pass: P = 0 (a known state),
    a rank-one P, a P with round-off asymmetry from computing F P F^T in numpy, and (as
    filterpy's own test_MMAE2 does) a Q with zero diagonal entries and non-zero off-diagonal ones."""
    kf = _kf()
    kf.P = 0.0
    kf.predict()
    kf.P = np.array([[1.0, 1.0], [1.0, 1.0]])  # rank one, perfectly correlated
    kf.predict()
    F = np.array([[1.0, 0.1], [0.0, 1.0]]) * 1.3
    kf.P = F @ np.array([[2.0, 0.3], [0.3, 0.7]]) @ F.T
    kf.P[0, 1] *= 1 + 1e-14
    kf.predict()
    kf.update(1.2)
    assert np.all(np.isfinite(kf.P)) and np.all(np.linalg.eigvalsh(kf.P) > 0)
    kf.Q = np.array([[0.0, 1e-4], [1e-4, 0.0]])
    kf.predict()
    assert np.all(np.isfinite(kf.P))


@pytest.mark.parametrize("value", [1 + 2j, np.ones((3, 2)) + 1j])
def test_filter_bank_refuses_complex_measurements_instead_of_casting(value: object) -> None:
    bank = KalmanFilterBank(CV2D(1.0), Position2D(), 3)
    before = (bank.x.copy(), bank.P.copy())
    with pytest.raises(ConfigurationError, match=r"update: z: expected real numbers, got complex128"):
        bank.update(np.broadcast_to(value, (3, 2)))
    with pytest.raises(ConfigurationError, match=r"^x: expected real numbers, got complex128"):
        bank.x = np.zeros((3, 4)) + 1j
    assert np.array_equal(bank.x, before[0]) and np.array_equal(bank.P, before[1])


@pytest.mark.parametrize(("model", "args", "match"), [
    (CV2D, (float("nan"),), r"CV2D: sigma_a must be finite and >= 0, got nan"),
    (CV2D, (-1.0,), r"CV2D: sigma_a must be finite and >= 0, got -1"),
    (CTRV, (1.0, float("inf")), r"CTRV: sigma_yawdd must be finite and >= 0, got inf"),
    (ConstantTurn, (-0.5, 0.1), r"ConstantTurn: sigma_a must be finite"),
    (KinematicBicycle, (1.0, -0.2, 2.7), r"KinematicBicycle: sigma_steer_rate must be finite"),
], ids=["cv2d-nan", "cv2d-negative", "ctrv-inf", "ct-negative", "bicycle-negative"])
def test_motion_model_noise_must_be_finite_and_non_negative(model: type, args: tuple[float, ...], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        model(*args)
    assert model(*[0.0 for _ in args[:2]]) is not None  # zero noise is legal


@pytest.mark.parametrize(("call", "match"), [
    (lambda: CV2D("a"), r"CV2D\(sigma_a: float = 1.0\): expected numbers, got \('a',\)"),
    (lambda: CTRV(sigma_a=None), r"CTRV\(sigma_a: float = 1.0, sigma_yawdd: float = 0.5\): expected numbers"),
    (lambda: RadarPolar([1.0]), r"RadarPolar\(x_m: float = 0.0, .*\): expected numbers, got \(\[1.0\],\)"),
    (lambda: Position2D(3), r"Position2D\(\): expected numbers, got \(3,\)"),
    (lambda: CV2D(sigma=1.0), r"CV2D\(sigma_a: float = 1.0\): expected numbers, got \(\) \{'sigma': 1.0\}"),
    (lambda: UnscentedKalmanFilterBank(CV2D(1.0), Position2D(), 2, alpha="x"),
     r"UnscentedKalmanFilterBank: alpha: expected a number, got 'x'"),
], ids=["cv2d-str", "ctrv-none", "radar-list", "position-arg", "unknown-keyword", "ukf-alpha-str"])
def test_model_and_bank_constructors_with_wrong_argument_types_are_configuration_errors(call: object,
                                                                                      match: str) -> None:
    """They raised pybind11's TypeError listing the constructor's signature."""
    with pytest.raises(ConfigurationError, match=match):
        call()  # type: ignore[operator]


def test_ukf_bank_predict_that_fails_for_one_filter_changes_nothing_strict_and_steps_the_rest_lenient() -> None:
    """Filter 1's covariance cannot be factorised. Strict (the default): NumericalError and no
    filter predicted (it used to step filter 0 and 2 and then raise). Lenient: filter 1 is
    left as it was, the others are predicted exactly as a healthy bank predicts them."""
    good_P = np.diag([1.0, 1.0, 4.0, 4.0, 0.1])
    bad_P = good_P.copy()
    bad_P[0, 0] = -1.0
    x = np.array([[0.0, 0.0, 5.0, 1.0, 0.2]] * 3)
    ref = UnscentedKalmanFilterBank(ConstantTurn(1.0, 0.5), Position2D(), 3, x=x, P=good_P)
    ref.predict(0.1)
    for mode in ("raise", "skip"):
        bank = UnscentedKalmanFilterBank(ConstantTurn(1.0, 0.5), Position2D(), 3, x=x, P=good_P, on_invalid=mode)
        bank.P[1] = bad_P  # through the view: the setter would refuse it
        before = (bank.x.copy(), bank.P.copy())
        if mode == "raise":
            with pytest.raises(NumericalError, match=r"predict: covariance not positive definite, or the "
                                                     r"prediction not finite; 1 filter"):
                bank.predict(0.1)
            assert np.array_equal(bank.x, before[0]) and np.array_equal(bank.P, before[1])
        else:
            with pytest.warns(RuntimeWarning, match="1 skipped"):
                bank.predict(0.1)
            assert np.array_equal(bank.x[1], before[0][1]) and np.array_equal(bank.P[1], before[1][1])
            for i in (0, 2):
                assert np.array_equal(bank.x[i], ref.x[i]) and np.array_equal(bank.P[i], ref.P[i])


def test_imm_bank_predict_that_overflows_one_track_changes_no_track_in_strict_mode() -> None:
    """Track 1's huge covariance overflows over the step; the strict bank restores every track
    (track 0 used to stay predicted); the lenient bank predicts track 0 as a healthy bank does."""
    M = [[0.9, 0.1], [0.1, 0.9]]
    P_huge = [np.diag([1e300, 1e300, 1e300, 1e300]), np.diag([1e300] * 5)]
    for mode in ("raise", "skip"):
        bank = IMMBank([CV2D(1.0), CTRV(1.0, 0.5)], Position2D(), 2, M=M, R=0.25, on_invalid=mode)
        ref = copy.copy(bank)
        for k in range(2):
            P = bank.mode_P(k).copy()
            P[1] = P_huge[k]
            bank.set_model_state(k, P=P)
        before = [a.copy() for a in (bank.x, bank.P, bank.mu, bank.mode_x(0), bank.mode_P(0), bank.mode_x(1),
                                     bank.mode_P(1))]
        if mode == "raise":
            with pytest.raises(NumericalError, match=r"predict.*not finite.*track 1.*1 track"):
                bank.predict(1e5)
            after = [bank.x, bank.P, bank.mu, bank.mode_x(0), bank.mode_P(0), bank.mode_x(1), bank.mode_P(1)]
            assert all(np.array_equal(a, b) for a, b in zip(after, before))
        else:
            with pytest.warns(RuntimeWarning, match="1 skipped"):
                bank.predict(1e5)
            ref.predict(1e5)
            assert np.array_equal(bank.x[0], ref.x[0]) and np.array_equal(bank.P[0], ref.P[0])
            assert np.array_equal(bank.P[1], before[1][1])
        assert list(bank.status) == [-1, -2]  # track 0 keeps "no update yet" (-1) in both modes


def test_imm_estimator_likelihood_underflow_in_every_model_keeps_mu_finite() -> None:
    """A measurement so far off that every model's likelihood is exactly 0 (log-likelihood
    -inf): mu becomes the predicted cbar (no evidence), as IMMBank does; it used to be NaN and
    then so were x and P."""
    def kf(q: float) -> KalmanFilter:
        f = KalmanFilter(dim_x=2, dim_z=1)
        f.F, f.H, f.R = np.array([[1.0, 1.0], [0.0, 1.0]]), np.array([[1.0, 0.0]]), 1e-300
        f.Q, f.P = q * np.eye(2), 1e-300 * np.eye(2)
        return f

    imm = IMMEstimator([kf(1e-300), kf(1e-290)], np.array([0.3, 0.7]), np.array([[0.9, 0.1], [0.2, 0.8]]))
    cbar = imm.cbar.copy()  # mu @ M = [0.41, 0.59]
    imm.update(np.array([1e100]))
    assert all(f.log_likelihood == -np.inf for f in imm.filters)
    assert np.allclose(imm.mu, cbar) and np.allclose(cbar, [0.41, 0.59])
    assert np.all(np.isfinite(imm.x)) and np.all(np.isfinite(imm.P))


def test_ukf_constant_turn_covariance_stays_positive_definite_and_radar_variances_positive() -> None:
    """The probe of issue 10: a UKF bank with constant-turn motion went negative definite after
    two predictions, and a radar update left a negative variance."""
    x = np.array([[10.0, 0.0, 10.0, 0.0, 3.0], [0.0, 0.0, 10.0, 0.0, 3.0]])
    bank = UnscentedKalmanFilterBank(ConstantTurn(1.0, 1.0), Position2D(), 2, x=x)
    for _ in range(2):
        bank.predict(1.0)
        assert np.all(np.linalg.eigvalsh(bank.P) > 0)
    radar = UnscentedKalmanFilterBank(ConstantTurn(1.0, 1.0), RadarPolar(), 2, x=x, R=np.diag([0.01, 1e-4, 0.01]))
    for _ in range(5):
        radar.predict(0.1)
        r = np.hypot(radar.x[:, 0], radar.x[:, 1])
        radar.update(np.stack([r, np.arctan2(radar.x[:, 1], radar.x[:, 0]), np.zeros(2)], axis=1) + [0.1, 0.0, 0.0])
        assert np.all(np.diagonal(radar.P, axis1=1, axis2=2) > 0) and np.all(np.linalg.eigvalsh(radar.P) > 0)


# ---------------------------------------------------------------- association and geometry


def test_iou_of_huge_boxes_is_exact_up_to_1e100_and_a_numerical_error_beyond() -> None:
    """Boxes of 1e200 m made the volume inf and 3D IoU 0 for identical boxes. Coordinates up to
    1e100 m give exact IoU (volumes up to 1e300 stay finite); larger ones are refused."""
    a = np.array([[0.0, 0.0, 0.0, 0.0, 1e100, 1e100, 1e100]])
    b = a.copy()
    b[0, 0] = 0.5e100  # half overlapping along x
    assert iou_3d(a, a)[0, 0] == 1.0 and iou_bev(a, a)[0, 0] == 1.0
    assert iou_3d(a, b)[0, 0] == pytest.approx(1 / 3) and iou_bev(a, b)[0, 0] == pytest.approx(1 / 3)
    assert np.isfinite(giou_3d(a, b)[0, 0])
    huge = np.array([[0.0, 0.0, 0.0, 0.0, 1e200, 1e200, 1e200]])
    with pytest.raises(NumericalError, match=r"iou_3d: box a\[0\] has a value beyond 1e100 m"):
        iou_3d(huge, a)
    with pytest.raises(NumericalError, match=r"iou_bev: box b\[0\] has a value beyond 1e100 m"):
        iou_bev(a, huge)


# ---------------------------------------------------------------- trackers and time


@pytest.mark.parametrize("t", [0.1, np.float64(1e9), True, 2**63, -2**63], ids=["float", "np-float", "bool",
                                                                              "2**63", "int64-min"])
def test_tracker_step_refuses_timestamps_that_are_not_int64_ns(t: object) -> None:
    """0.1 (seconds by mistake) used to be taken as 0 ns."""
    for tracker, empty in ((Tracker(), make_detections(np.zeros((0, 7)))), (PointTracker(), np.zeros((0, 2)))):
        with pytest.raises(TimestampError, match=r"\.step: t_ns: "):
            tracker.step(empty, t)  # type: ignore[arg-type]
        assert tracker.last_t_ns is None


def test_point_tracker_refuses_complex_measurements() -> None:
    pt = PointTracker()
    with pytest.raises(ShapeError, match=r"measurements: expected real numbers, got complex128"):
        pt.step(np.ones((1, 2)) + 1j, 0)
    assert pt.last_t_ns is None


def test_tracker_steps_from_int64_min_plus_one_to_int64_max() -> None:
    """The time difference 2**64 - 2 ns does not fit int64: the track is coasted, nothing overflows."""
    tr = Tracker()
    box = np.array([[5.0, 1.0, 0.0, 0.1, 4.0, 1.8, 1.5]])
    tr.step(make_detections(box), -2**63 + 1)
    out = tr.step(make_detections(box), 2**63 - 1)
    assert tr.last_t_ns == 2**63 - 1 and len(out) >= 1
    assert np.all(np.isfinite(out["box"])) and np.all(np.isfinite(out["velocity"]))


# ---------------------------------------------------------------- configuration files


def _write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(data, bytes):
        p.write_bytes(data)
    else:
        p.write_text(data, encoding="utf-8")
    return p


def test_tracker_toml_with_the_same_class_id_twice_is_refused(tmp_path: Path) -> None:
    """[classes.2] and [classes.02] are one class id: one table used to be dropped silently."""
    p = _write(tmp_path, "t.toml", "[classes.2]\nmin_hits = 3\n[classes.02]\nmin_hits = 5\n")
    with pytest.raises(ConfigurationError, match=r"t.toml: tracker config \[classes.02\]: class id 2 is already "
                                                 r"given by \[classes.2\]"):
        TrackerConfig.from_toml(p)
    ok = _write(tmp_path, "ok.toml", "[classes.2]\nmin_hits = 3\n[classes.3]\nmin_hits = 5\n")
    assert TrackerConfig.from_toml(ok).classes[3].min_hits == 5


@pytest.mark.parametrize("loader", [TrackerConfig.from_toml, EngineConfig.from_toml, TrackFuserConfig.from_toml,
                                    load_rig, load_fusion_config], ids=["tracker", "engine", "t2t", "rig", "kitti"])
@pytest.mark.parametrize(("content", "match"), [
    (b"\xff\xfe[x]\n", r"not UTF-8 text \(byte 0xFF at offset 0\)"),
    (("a = " + "[" * 5000 + "]" * 5000 + "\n").encode(), r"invalid TOML: arrays or inline tables nested too deeply"),
], ids=["not-utf8", "deep-nesting"])
def test_config_toml_that_is_not_utf8_or_nested_too_deeply_names_the_file(tmp_path: Path, loader: object,
                                                                         content: bytes, match: str) -> None:
    """They raised a bare UnicodeDecodeError (tracker) and RecursionError (all three)."""
    p = _write(tmp_path, "bad.toml", content)
    with pytest.raises(ConfigurationError, match=r"bad.toml: " + match):
        loader(p)  # type: ignore[operator]


@pytest.mark.parametrize("config", [{}, {"motion": "cv_box"}, None, 42], ids=["empty-dict", "dict", "none", "int"])
def test_fusion_engine_of_something_other_than_a_config_is_a_configuration_error(config: object) -> None:
    with pytest.raises(ConfigurationError, match=r"FusionEngine: config: expected an EngineConfig or a TOML path"):
        FusionEngine(config)  # type: ignore[arg-type]


# ---------------------------------------------------------------- KITTI labels

_ROW = "0 1 Car 0 0 -1.5 100 120 200 220 {h} {w} {l} 1.0 1.5 20.0 0.1"


@pytest.mark.parametrize(("h", "w", "l", "match"), [
    ("nan", "1.6", "3.9", r"h: expected a finite number, got nan"),
    ("1.5", "-1.6", "3.9", r"w: a Car box size must be >= 0 \(or h w l = -1 -1 -1: no 3D box\), got -1.6"),
    ("1.5", "1.6", "inf", r"l: expected a finite number, got inf"),
], ids=["h-nan", "w-negative", "l-inf"])
def test_kitti_label_with_a_nan_or_negative_size_names_file_and_line(tmp_path: Path, h: str, w: str, l: str,
                                                                     match: str) -> None:
    good = _ROW.format(h=1.5, w=1.6, l=3.9)
    p = _write(tmp_path, "0000.txt", good + "\n" + _ROW.format(h=h, w=w, l=l) + "\n")
    with pytest.raises(DecodeError, match=r"0000.txt:2: " + match):
        read_labels(p)


def test_kitti_dontcare_rows_and_2d_only_rows_keep_their_negative_placeholders(tmp_path: Path) -> None:
    """DontCare rows (any negative placeholders) and KITTI's "no 3D box" h w l = -1 -1 -1 (a
    camera-only track in a results file) are read as written."""
    rows = ["0 -1 DontCare -1 -1 -10 219.3 188.5 245.5 218.6 -1000 -1000 -1000 -10 -1 -1 -1",
            "0 4 Car 0 0 -10 100 120 200 220 -1 -1 -1 -1000 -1000 -1000 -10 0.8"]
    got = read_labels(_write(tmp_path, "0001.txt", "\n".join(rows) + "\n"))
    assert got.dims.tolist() == [[-1000.0, -1000.0, -1000.0], [-1.0, -1.0, -1.0]]
    assert got.type.tolist() == ["DontCare", "Car"]


def test_kitti_label_file_that_is_not_utf8_names_file_and_line(tmp_path: Path) -> None:
    good = _ROW.format(h=1.5, w=1.6, l=3.9)
    p = _write(tmp_path, "0002.txt", (good + "\n").encode() + b"\xff\xfe garbage\n")
    with pytest.raises(DecodeError, match=r"0002.txt:\d+: not UTF-8 text"):
        read_labels(p)


def test_nan_in_R_is_named_as_R_not_as_a_non_finite_measurement() -> None:
    """The probe: a NaN in R was reported as "non-finite measurement (z = [1])"."""
    R = np.array([[np.nan, 0.0], [0.0, 1.0]])
    banks = [KalmanFilterBank(CV2D(1.0), Position2D(), 2), UnscentedKalmanFilterBank(CV2D(1.0), Position2D(), 2),
             IMMBank([CV2D(1.0), CV2D(2.0)], Position2D(), 2, M=[[0.9, 0.1], [0.1, 0.9]])]
    for bank in banks:
        before = (bank.x.copy(), bank.P.copy())
        with pytest.raises(NumericalError, match=r"^R: contains NaN or infinity"):
            bank.update(np.ones((2, 2)), R=R)
        with pytest.raises(NumericalError, match=r"^R: contains NaN or infinity"):
            bank.R = np.stack([np.eye(2), R])
        assert np.array_equal(bank.x, before[0]) and np.array_equal(bank.P, before[1])


@pytest.mark.parametrize(("field", "value", "match"), [
    (7, "nan", r"h: expected a finite number, got nan"),
    (9, "-3.9", r"l: a box size must be >= 0, got -3.9"),
    (6, "inf", r"score: expected a finite number, got inf"),
], ids=["h-nan", "l-negative", "score-inf"])
def test_kitti_detection_with_a_nan_or_negative_size_names_file_and_line(tmp_path: Path, field: int, value: str,
                                                                         match: str) -> None:
    good = "0,2,298.3,165.1,458.2,293.4,8.29,1.96,1.81,4.75,-4.57,1.84,13.53,-2.11,-1.78"
    toks = good.split(",")
    toks[field] = value
    p = _write(tmp_path, "det.txt", good + "\n" + ",".join(toks) + "\n")
    with pytest.raises(DecodeError, match=r"det.txt:2: " + match):
        read_detections(p)


@pytest.mark.parametrize("dt", ["1", None, 1 + 1j, True, 10**400, float("nan"), -0.1],
                         ids=["str", "none", "complex", "bool", "10**400", "nan", "negative"])
def test_bank_predict_with_a_bad_time_step_is_a_configuration_error(dt: object) -> None:
    """A string, None or complex dt raised numpy's bare TypeError, 10**400 an OverflowError."""
    for bank in (KalmanFilterBank(CV2D(1.0), Position2D(), 2),
                 IMMBank([CV2D(1.0), CV2D(2.0)], Position2D(), 2, M=[[0.9, 0.1], [0.1, 0.9]])):
        before = (bank.x.copy(), bank.P.copy())
        with pytest.raises(ConfigurationError, match=r"predict: dt_s"):
            bank.predict(dt)  # type: ignore[arg-type]
        assert np.array_equal(bank.x, before[0]) and np.array_equal(bank.P, before[1])


@pytest.mark.parametrize(("call", "exc", "match"), [
    (lambda: box_overlap(5, np.zeros(7), np.zeros(7)), ConfigurationError,  # type: ignore[arg-type]
     r"box_overlap: kind: expected one of iou_bev"),
    (lambda: gated_assignment(np.ones((2, 2)), "x"), ConfigurationError, r"gate: expected a number, got 'x'"),
    (lambda: jpda_marginals("a", "b"), ShapeError, r"likelihood_ratios: expected real numbers"),
    (lambda: jpda_marginals(np.ones((2, 2)), [1 + 1j, 1]), ShapeError, r"miss_weights: expected real numbers"),
    (lambda: KalmanFilter(dim_x="2", dim_z=1), ConfigurationError, r"KalmanFilter: dim_x: expected an integer"),
    (lambda: KalmanFilter(dim_x=2**40, dim_z=1), ConfigurationError, r"GiB, more than this machine's"),
    (lambda: Tracker(1), ConfigurationError, r"config: expected a TrackerConfig, got int"),  # type: ignore[arg-type]
    (lambda: PointTracker(5), ConfigurationError, r"config: expected a PointTrackerConfig, got int"),
], ids=["box-overlap-kind", "gate-str", "jpda-str", "jpda-complex", "kf-dim-str", "kf-dim-huge", "tracker-config",
        "point-tracker-config"])
def test_wrong_argument_types_are_typed_errors_not_signature_dumps_or_bad_alloc(call: object, exc: type,
                                                                              match: str) -> None:
    """These raised pybind11's "incompatible function arguments" TypeError, numpy's bare
    ValueError, std::bad_alloc (MemoryError) or a bare TypeError."""
    with pytest.raises(exc, match=match):
        call()  # type: ignore[operator]
