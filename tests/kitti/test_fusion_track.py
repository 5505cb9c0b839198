"""Camera + lidar KITTI tracking (``fusion kitti track --camera-detections``): the camera reader,
the output policy, a synthetic scene (no shared data) and one real sequence per class."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fusion.errors import ConfigurationError, DecodeError
from fusion.geometry.projection import project_camera_boxes
from fusion.kitti.fusion_track import (
    DEFAULT_CAMERA_CONFIG,
    CameraParams,
    EngineCameraStage,
    OutputPolicy,
    TrackerCameraStage,
    camera_log_odds,
    camera_params,
    fused_box,
    load_camera_config,
    load_fusion_config,
    project_boxes,
    sequence_rows,
)
from fusion.kitti.io import CATEGORY_IDS, generic_to_camera_box, read_calib, read_camera_detections, read_labels
from fusion.kitti.metrics import evaluate_kitti
from fusion.kitti.track import KITTI_CONFIG, detections_by_frame, track_main

#: the camera stages of `fusion kitti track --camera-stage`
STAGES = ["engine", "tracker"]
P2 = np.array([[721.5377, 0.0, 609.5593, 44.85728], [0.0, 721.5377, 172.854, 0.2163791], [0.0, 0.0, 1.0, 0.002745884]])


# ---------------------------------------------------------------------------------------------
# reader


def test_camera_reader(tmp_path: Path) -> None:
    p = tmp_path / "0000.txt"
    p.write_text("2,10,20,30,40,0.5\n\n0,1.5,2,3.5,4,0.99\n2,5,5,6,6,0.1\n")
    d = read_camera_detections(p)
    assert len(d) == 3 and d.frame.tolist() == [2, 0, 2] and d.line.tolist() == [1, 3, 4]
    np.testing.assert_allclose(d.bbox[1], [1.5, 2, 3.5, 4])
    boxes, scores = d.by_frame(4)
    assert [len(b) for b in boxes] == [1, 0, 2, 0]
    assert scores[2].tolist() == [0.5, 0.1]  # file order within a frame
    assert len(read_camera_detections(_write(tmp_path / "e.txt", "")).by_frame(3)[0]) == 3


def test_camera_reader_stray_frame_number_and_binary_file(tmp_path: Path) -> None:
    # A frame past the sequence is an error naming the row (not a list of 10**12 frames, not a silent drop).
    d = read_camera_detections(_write(tmp_path / "f.txt", "1,1,2,3,4,0.5\n1000000000000,1,2,3,4,0.5\n"))
    with pytest.raises(DecodeError, match=r"f\.txt:2: frame 1000000000000 is past the sequence's last frame 2 "
                                          r"\(the seqmap gives 3 frames\)"):
        d.by_frame(3)
    boxes, _ = read_camera_detections(_write(tmp_path / "g.txt", "1,1,2,3,4,0.5\n")).by_frame(3)
    assert [len(b) for b in boxes] == [0, 1, 0]
    p = tmp_path / "b.txt"
    p.write_bytes(b"\xff\xfe0,1,2,3,4,0.5\n")
    with pytest.raises(DecodeError, match=r"b\.txt: not UTF-8 text"):
        read_camera_detections(p)


def _write(p: Path, text: str) -> Path:
    p.write_text(text)
    return p


@pytest.mark.parametrize("row, needle", [
    ("0,30,20,10,40,0.5", "x2 < x1"),
    ("0,10,40,30,20,0.5", "y2 < y1"),
    ("0,10,20,nan,40,0.5", "x2: expected a finite number"),
    ("0,10,20,30,40,inf", "score: expected a finite number"),
    ("0,10,20,30,40", "expected 6 comma separated fields"),
    ("0,10,20,30,40,0.5,7", "expected 6 comma separated fields"),
    ("0,10,a,30,40,0.5", "y1: expected a number"),
    ("1.5,10,20,30,40,0.5", "frame: expected an integer"),
    ("-1,10,20,30,40,0.5", "frame: expected >= 0"),
])
def test_camera_reader_errors_name_file_and_line(tmp_path: Path, row: str, needle: str) -> None:
    p = _write(tmp_path / "0003.txt", "0,1,2,3,4,0.5\n" + row + "\n")
    with pytest.raises(DecodeError, match=rf"0003\.txt:2: .*{needle}"):
        read_camera_detections(p)


# ---------------------------------------------------------------------------------------------
# parameters and the pure pieces of the policy


def test_shipped_camera_config() -> None:
    cams = load_camera_config(DEFAULT_CAMERA_CONFIG)
    assert set(cams) == {"car", "pedestrian"}
    w = cams["car"].weights()
    # the study's inverse-variance weights: car w_x 0.49 / 0.60 / 0.79, w_y 0.60 / 0.69 / 0.84
    np.testing.assert_allclose(w[:, 0], [0.49, 0.60, 0.78], atol=0.01)
    np.testing.assert_allclose(w[:, 1], [0.60, 0.69, 0.84], atol=0.01)
    assert w[0, 0] == w[0, 2] and w[0, 1] == w[0, 3]
    assert cams["pedestrian"].floor == 0.3 and cams["pedestrian"].weights()[0, 0] > 0.9


def test_engine_lidar_part_mirrors_the_lidar_config() -> None:
    """pointrcnn_rrc.toml's lidar settings are those of the shipped lidar-only pointrcnn.toml."""
    for cat, cid in CATEGORY_IDS.items():
        old = KITTI_CONFIG.for_class(cid)
        eng = load_fusion_config()[cat].engine
        lid, lc = eng["sensors"]["lidar"], eng["lifecycle"]
        assert (lid["cost"], lid["gate"], lid["birth_score_threshold"]) == (old.cost, old.gate,
                                                                             old.birth_score_threshold)
        assert np.allclose(lid["R"], np.diag([old.r_pos] * 3 + [old.r_yaw] + [old.r_size] * 3))
        # cv_box: x, y, z, vx, vy, vz, yaw, l, w, h
        assert eng["q_diag_per_s"] == [old.q_pos] * 3 + [old.q_vel] * 3 + [old.q_yaw] + [old.q_size] * 3
        assert eng["p0_diag"] == [old.p0_pos] * 3 + [old.p0_vel] * 3 + [old.p0_yaw] + [old.p0_size] * 3
        assert eng["min_size"] == old.min_size and eng["motion"] == "cv_box" and old.motion == "cv"
        # dropped after its max_age-th missed 0.1 s frame (where it may still match): the engine
        # deletes before association once the gap exceeds max_coast_s, tentative or not
        for k in ("max_coast_s", "tentative_max_coast_s"):
            assert old.max_age * 0.1 < lc[k] < (old.max_age + 1) * 0.1
        assert lc["confirm_hits"] == old.min_hits and not lc["confirm_by_existence"]
        assert lc["delete_existence"] == 0.0
        if old.confirm_window:
            assert lc["confirm_window"] == old.confirm_window
            assert lc["tentative_max_misses"] == old.confirm_window - old.min_hits
        else:  # every hit since birth: a window longer than a tentative track can live
            assert lc["confirm_window"] > old.max_age and lc.get("tentative_max_misses", -1) == -1


def test_camera_params_errors() -> None:
    with pytest.raises(ConfigurationError, match=r"\[t\] unknown key 'gate'; known: .*match_iou"):
        camera_params({"gate": 0.3}, "[t]")
    with pytest.raises(ConfigurationError, match="floor, p_max"):
        camera_params({"floor": 0.995}, "[t]")
    with pytest.raises(ConfigurationError, match="sigma_camera_px: expected 3 pairs"):
        camera_params({"sigma_camera_px": [[1.0, 1.0]]}, "[t]")
    with pytest.raises(ConfigurationError, match="camera_only: expected true or false"):
        camera_params({"camera_only": 1}, "[t]")


def test_log_odds_and_fused_box() -> None:
    p = CameraParams(floor=0.1, p_max=0.99, sigma_camera_px=((1.0, 1.0), (1.0, 3.0), (1.0, 1.0)),
                     sigma_lidar_px=((1.0, 1.0), (1.0, 1.0), (3.0, 1.0)))
    ev = camera_log_odds(np.array([0.0, 0.5, 1.0]), p)
    np.testing.assert_allclose(ev, [math.log(0.1 / 0.9), 0.0, math.log(99.0)])
    cam = np.array([[0.0, 0.0, 10.0, 10.0]] * 3)
    lid = np.array([[10.0, 10.0, 20.0, 20.0]] * 3)
    out = fused_box(cam, lid, np.array([5.0, 30.0, 50.0]), p)
    np.testing.assert_allclose(out[0], [5, 5, 15, 15])  # equal noise: the midpoint
    np.testing.assert_allclose(out[1], [5, 9, 15, 19])  # camera y 3x noisier: weight 0.1
    np.testing.assert_allclose(out[2], [1, 5, 11, 15])  # lidar x 3x noisier: camera weight 0.9


def test_project_boxes_is_project_camera_boxes() -> None:
    rng = np.random.default_rng(3)
    n = 400
    boxes = np.column_stack([rng.uniform(-3, 60, n), rng.uniform(-20, 20, n), rng.uniform(-2, 1, n),
                             rng.uniform(-np.pi, np.pi, n), rng.uniform(0.5, 6, n), rng.uniform(0.5, 3, n),
                             rng.uniform(1, 3, n)])
    ref = project_camera_boxes(generic_to_camera_box(boxes), P2, (1242, 375))
    out = project_boxes(boxes, P2)
    assert np.isnan(ref).any() and (boxes[:, 0] < 2).sum() > 10  # boxes behind and straddling the camera
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-9)
    assert project_boxes(np.zeros((0, 7)), P2).shape == (0, 4)


# ---------------------------------------------------------------------------------------------
# a synthetic scene through the command (no shared data)


def _kitti_box(x: float, z: float) -> np.ndarray:
    """KITTI camera box (h, w, l, x, y, z, ry) of a car at lateral x and depth z (metres)."""
    return np.array([1.5, 1.6, 3.9, x, 1.7, z, -np.pi / 2])


def _scene(root: Path) -> tuple[Path, Path, Path, Path]:
    """40 frames, three objects:

    - A: a car at 15-25 m seen by lidar (logit 8) and camera (0.99) in frames 0-29; frames 30-39
      camera only (the lidar misses it: coast fill keeps writing it while it is confirmed);
    - B: a car at 60 m seen by the camera in every frame, by the lidar only from frame 20 on
      (a camera-only track first, which the 3D track joins keeping its id);
    - G: a lidar ghost (logit 3, above the lidar-only output threshold 2.0) in frames 0-39 that
      the camera never sees although it is in the image.
    """
    det, cam, cal, lab = root / "det" / "pointrcnn_Car", root / "det" / "rrc_Car", root / "calib", root / "labels"
    for d in (det, cam, cal, lab):
        d.mkdir(parents=True)
    (det.parent / "pointrcnn_Cyclist").mkdir()
    (det.parent / "pointrcnn_Cyclist" / "0000.txt").write_text(
        "".join(f"{f},3,600,150,640,250,5.0,1.7,0.6,1.8,1.0,1.6,{10 + 0.2 * f},-1.57,0\n" for f in range(40)))
    p2 = " ".join(f"{v:.12e}" for v in P2.reshape(-1))
    (cal / "0000.txt").write_text(f"P0: {p2}\nP1: {p2}\nP2: {p2}\nP3: {p2}\n")
    lid_rows, cam_rows, lab_rows = [], [], []
    for f in range(40):
        objs = {"A": _kitti_box(-2.0, 15.0 + 0.25 * f), "B": _kitti_box(4.0, 60.0), "G": _kitti_box(6.0, 30.0)}
        bb = {k: project_camera_boxes(v[None], P2, (1242, 375))[0] for k, v in objs.items()}
        for k, score in (("A", 8.0), ("B", 8.0), ("G", 3.0)):
            if (k == "A" and f >= 30) or (k == "B" and f < 20):
                continue
            b, c = bb[k], objs[k]
            lid_rows.append(f"{f},2,{b[0]:.3f},{b[1]:.3f},{b[2]:.3f},{b[3]:.3f},{score},"
                            + ",".join(f"{v:.4f}" for v in c) + ",0\n")
        for k in ("A", "B"):
            b = bb[k]
            cam_rows.append(f"{f},{b[0]:.3f},{b[1]:.3f},{b[2]:.3f},{b[3]:.3f},0.99\n")
            c = objs[k]
            lab_rows.append(f"{f} {'AB'.index(k)} Car 0 0 0 {b[0]:.3f} {b[1]:.3f} {b[2]:.3f} {b[3]:.3f} "
                            + " ".join(f"{v:.4f}" for v in c) + "\n")
    (det / "0000.txt").write_text("".join(lid_rows))
    (cam / "0000.txt").write_text("".join(cam_rows))
    (lab / "0000.txt").write_text("".join(lab_rows))
    seqmap = root / "seqmap"
    seqmap.write_text("0000 empty 000000 000040\n")
    return det.parent, cal, seqmap, lab


def _check_label_02(path: Path) -> None:
    rows = read_labels(path)  # 18 fields, integers where KITTI has them, or a DecodeError
    assert np.isfinite(rows.score).all() and np.isfinite(rows.bbox).all()
    assert (rows.bbox[:, 2] >= rows.bbox[:, 0]).all() and (rows.bbox[:, 3] >= rows.bbox[:, 1]).all()
    no3d = rows.loc[:, 0] == -1000.0
    assert (rows.dims[no3d] == -1.0).all() and (rows.rotation_y[no3d] == -10.0).all()
    assert (rows.dims[~no3d] > 0).all()
    for f in np.unique(rows.frame):  # one row per id and frame
        ids = rows.track_id[rows.frame == f]
        assert len(ids) == len(set(ids.tolist()))


@pytest.mark.parametrize("stage", STAGES)
def test_synthetic_scene(tmp_path: Path, stage: str) -> None:
    det, cal, seqmap, _ = _scene(tmp_path)
    common = ["--detections", str(det), "--seqmap", str(seqmap), "--calib", str(cal), "--quiet"]
    assert track_main(common + ["--out", str(tmp_path / "lidar")]) == 0
    assert track_main(common + ["--out", str(tmp_path / "fused"), "--camera-detections", str(det),
                                "--camera-stage", stage]) == 0
    lidar = read_labels(tmp_path / "lidar" / "car" / "0000.txt")
    fused = read_labels(tmp_path / "fused" / "car" / "0000.txt")
    _check_label_02(tmp_path / "fused" / "car" / "0000.txt")
    # cyclist has no camera folder: exactly the lidar-only file (also when it is the only category)
    assert (tmp_path / "fused" / "cyclist" / "0000.txt").read_text() == \
        (tmp_path / "lidar" / "cyclist" / "0000.txt").read_text() != ""
    assert track_main(common + ["--out", str(tmp_path / "cyc"), "--camera-detections", str(det), "--category",
                                "cyclist"]) == 0
    assert (tmp_path / "cyc" / "cyclist" / "0000.txt").read_text() == \
        (tmp_path / "lidar" / "cyclist" / "0000.txt").read_text()
    lx = {k: lidar.loc[lidar.track_id == k, 0] for k in np.unique(lidar.track_id)}
    # the ghost (x = 6 m) is written by the lidar-only tracker and vetoed by the camera
    assert any(np.allclose(v, 6.0) for v in lx.values())
    assert not np.isclose(fused.loc[:, 0], 6.0).any()
    # A: written in every frame: lidar-missed frames 30-36 by coast fill (its predicted 3D box), and
    # after the lidar tracker deletes it (max_age) as an image track with the same id (no 3D values)
    a = fused.select(np.isclose(fused.loc[:, 0], -2.0, atol=0.5))
    assert len(np.unique(a.track_id)) == 1 and a.frame.min() == 0
    assert not (lidar.frame[np.isclose(lidar.loc[:, 0], -2.0, atol=0.5)] >= 30).any()
    a_all = fused.select(fused.track_id == a.track_id[0])
    assert sorted(a_all.frame.tolist()) == list(range(40))
    assert a.frame.max() >= 35 and (a_all.loc[a_all.frame > a.frame.max(), 0] == -1000.0).all()
    # B: a camera-only track (no 3D) in frames 0-19, the same id once the lidar sees it
    b_3d = fused.select(np.isclose(fused.loc[:, 0], 4.0, atol=0.5))
    assert b_3d.frame.min() == 20 and len(np.unique(b_3d.track_id)) == 1
    b_img = fused.select((fused.track_id == b_3d.track_id[0]) & (fused.loc[:, 0] == -1000.0))
    assert b_img.frame.max() < 20 and len(b_img) >= 17


def test_engine_lidar_only_preset_is_the_tracker(tmp_path: Path) -> None:
    """``fusion kitti track --engine`` (pointrcnn_rrc.toml without its camera) writes the lidar-only files."""
    det, cal, seqmap, _ = _scene(tmp_path)
    common = ["--detections", str(det), "--seqmap", str(seqmap), "--calib", str(cal), "--quiet"]
    assert track_main(common + ["--out", str(tmp_path / "lidar")]) == 0
    assert track_main(common + ["--out", str(tmp_path / "engine"), "--engine"]) == 0
    for cat in ("car", "cyclist"):
        a = (tmp_path / "lidar" / cat / "0000.txt").read_text()
        assert a != "" and (tmp_path / "engine" / cat / "0000.txt").read_text() == a


def test_command_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    det, cal, seqmap, _ = _scene(tmp_path)
    common = ["--detections", str(det), "--seqmap", str(seqmap), "--calib", str(cal), "--out", str(tmp_path / "o")]
    assert track_main(common + ["--camera-detections", str(tmp_path / "calib")]) == 2
    assert "no <name>_Car / <name>_Pedestrian folder of camera detections" in capsys.readouterr().err
    (det / "rrc_Car" / "0000.txt").write_text("0,10,20,5,40,0.5\n")
    assert track_main(common + ["--camera-detections", str(det)]) == 2
    assert "rrc_Car/0000.txt:1: x2 < x1" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[kitti.car.camera]\nmatch_iou = 2.0\n")
    assert track_main(common + ["--camera-detections", str(det), "--camera-config", str(bad)]) == 2
    assert "bad.toml: [kitti.car.camera] match_iou: expected in (0, 1]" in capsys.readouterr().err
    bad.write_text("[engine.sensors.lidar]\nmodel = 'lidar_box3d'\ncost = 'nope'\n[kitti.car.camera]\n")
    assert track_main(common + ["--camera-detections", str(det), "--camera-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml ([engine] + [kitti.car.engine])" in err and "nope" in err and "giou_3d" in err
    assert track_main(common + ["--camera-detections", str(det), "--baseline", "ab3dmot"]) == 2
    assert "--baseline ab3dmot is the lidar-only Tracker" in capsys.readouterr().err
    (det / "rrc_Car" / "0000.txt").unlink()  # an empty camera folder is named, not a silent lidar-only run
    assert track_main(common + ["--camera-detections", str(det)]) == 2
    assert "rrc_Car holds no detection" in capsys.readouterr().err


def test_detection_frame_past_the_sequence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    det, cal, seqmap, _ = _scene(tmp_path)
    lid = det / "pointrcnn_Car" / "0000.txt"
    with pytest.raises(DecodeError, match=r"0000\.txt:\d+: frame 30 is past the sequence's last frame 29"):
        detections_by_frame(lid, 2, 30)
    assert len(detections_by_frame(lid, 2, 40)[0]) == 40
    lid.write_text(lid.read_text() + "1000000000000,2,1,1,2,2,8.0,1.5,1.6,3.9,0,1.7,20,-1.57,0\n")
    n_rows = len(lid.read_text().splitlines())
    common = ["--detections", str(det), "--seqmap", str(seqmap), "--calib", str(cal), "--out", str(tmp_path / "o")]
    assert track_main(common) == 2
    assert f"0000.txt:{n_rows}: frame 1000000000000 is past the sequence's last frame 39" in capsys.readouterr().err
    # Without a seqmap (n_frames=None) the same row is refused by the plausibility bound, before
    # 10**12 frame lists are built; a file within the bound gives its last frame + 1 frames.
    with pytest.raises(DecodeError, match=rf"0000\.txt:{n_rows}: frame 1000000000000 is implausibly large"):
        detections_by_frame(lid, 2, None)
    lid.write_text("\n".join(lid.read_text().splitlines()[:-1]) + "\n")
    assert len(detections_by_frame(lid, 2, None)[0]) == 40


# ---------------------------------------------------------------------------------------------
# real data: one sequence per class, camera + lidar does not fall below lidar-only


@pytest.mark.parametrize("stage", STAGES)
def test_kitti_sequence_camera_not_below_lidar_only(kitti_train: Path, tmp_path: Path, stage: str) -> None:
    seqmap = tmp_path / "seqmap"
    seqmap.write_text("0000 empty 000000 000154\n0017 empty 000000 000145\n")
    common = ["--detections", str(kitti_train / "detections"), "--seqmap", str(seqmap), "--calib",
              str(kitti_train / "calib"), "--category", "car", "--category", "pedestrian", "--quiet"]
    assert track_main(common + ["--out", str(tmp_path / "lidar")]) == 0
    assert track_main(common + ["--out", str(tmp_path / "fused"), "--camera-detections",
                                str(kitti_train / "detections"), "--camera-stage", stage]) == 0
    for cat in ("car", "pedestrian"):
        for seq in ("0000", "0017"):
            _check_label_02(tmp_path / "fused" / cat / f"{seq}.txt")
        lid, fus = (evaluate_kitti(kitti_train / "labels", tmp_path / w / cat, seqmap, [cat], metrics_3d=False)[cat]
                    for w in ("lidar", "fused"))
        for k in ("HOTA", "DetA", "AssA", "MOTA"):
            assert fus[k] >= lid[k], (cat, k, fus[k], lid[k])


def test_kitti_engine_lidar_only_preset_is_the_tracker(kitti_train: Path, tmp_path: Path) -> None:
    seqmap = tmp_path / "seqmap"
    seqmap.write_text("0000 empty 000000 000154\n0017 empty 000000 000145\n")
    common = ["--detections", str(kitti_train / "detections"), "--seqmap", str(seqmap), "--calib",
              str(kitti_train / "calib"), "--quiet", "--all-scores"]
    assert track_main(common + ["--out", str(tmp_path / "lidar")]) == 0
    assert track_main(common + ["--out", str(tmp_path / "engine"), "--engine"]) == 0
    for cat in ("car", "pedestrian", "cyclist"):
        for seq in ("0000", "0017"):
            a = (tmp_path / "lidar" / cat / f"{seq}.txt").read_text()
            assert (tmp_path / "engine" / cat / f"{seq}.txt").read_text() == a, (cat, seq)


# ---------------------------------------------------------------------------------------------
# the policy's two forms: per frame (OutputPolicy) and per sequence (sequence_rows, the command's)


def _both_forms(stage_name: str, cat: str, dets: list[np.ndarray], bbs: list[np.ndarray], cb: list[np.ndarray],
                cs: list[np.ndarray], P2: np.ndarray) -> tuple[int, int]:
    cid = CATEGORY_IDS[cat]
    fc = load_fusion_config()[cat]
    params = None if stage_name == "lidar" else fc.camera
    assert fc.camera is not None
    stage = (TrackerCameraStage(KITTI_CONFIG, cid, fc.camera) if stage_name == "tracker"
             else EngineCameraStage(fc, with_camera=stage_name != "lidar"))
    min_hits = KITTI_CONFIG.for_class(cid).min_hits if stage_name == "tracker" else fc.min_hits
    policy = OutputPolicy(params, min_hits, 2.0)
    records = []
    for f in range(len(dets)):
        tr, im = stage.process(f * 100_000_000, dets[f], bbs[f], cb[f], cs[f], P2)
        records.append((tr, im))
        policy.frame(f, f * 100_000_000, tr, im, bbs[f], cb[f], cs[f], P2)
    a = policy.rows("Car")
    b, reasons = sequence_rows(params, min_hits, 2.0, records, bbs, cb, cs, P2, "Car")
    assert len(a) == len(b) and len(reasons) == len(b)
    np.testing.assert_array_equal(a.frame, b.frame)
    np.testing.assert_array_equal(a.track_id, b.track_id)
    np.testing.assert_allclose(a.bbox, b.bbox, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.score, b.score, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(a.loc, b.loc)
    assert policy.reasons() == {k: int((reasons == i).sum()) for i, k in enumerate(policy.reasons())}
    return len(b), int((b.loc[:, 0] == -1000.0).sum())


@pytest.mark.parametrize("stage", ["engine", "tracker", "lidar"])
def test_policy_per_frame_equals_per_sequence_synthetic(tmp_path: Path, stage: str) -> None:
    det, cal, _, _ = _scene(tmp_path)
    dets, bbs = detections_by_frame(det / "pointrcnn_Car" / "0000.txt", 2, 40)
    cb, cs = read_camera_detections(det / "rrc_Car" / "0000.txt").by_frame(40)
    n, n_image = _both_forms(stage, "car", dets, bbs, cb, cs, read_calib(cal / "0000.txt").P2)
    assert n > 60 and (n_image > 10) == (stage != "lidar")


@pytest.mark.parametrize("stage", ["engine", "tracker"])
@pytest.mark.parametrize("cat, seq", [("car", "0004"), ("pedestrian", "0017")])
def test_policy_per_frame_equals_per_sequence_kitti(kitti_train: Path, stage: str, cat: str, seq: str) -> None:
    tname = {"car": "Car", "pedestrian": "Pedestrian"}[cat]
    dets, bbs = detections_by_frame(kitti_train / "detections" / f"pointrcnn_{tname}" / f"{seq}.txt",
                                    CATEGORY_IDS[cat], None)
    cb, cs = read_camera_detections(kitti_train / "detections" / f"rrc_{tname}" / f"{seq}.txt").by_frame(len(dets))
    n, _ = _both_forms(stage, cat, dets, bbs, cb, cs, read_calib(kitti_train / "calib" / f"{seq}.txt").P2)
    assert n > 300


def test_report_table_with_camera_rows() -> None:
    from fusion.kitti.report import format_comparison

    m = {"HOTA": 0.7361, "DetA": 0.6977, "AssA": 0.7781, "MOTA": 0.7865, "IDSW": 20, "sAMOTA": 0.8895,
         "AMOTA": 0.4124}
    cam = dict(m, HOTA=0.8109, IDSW=65)
    res = {"ours": {"car": m}, "baseline": {"car": m}, "camera": {"car": cam},
           "fps": {"ours": 1.0, "baseline": 2.0, "camera": 3.0}}
    lines = format_comparison(res).split("\n")
    assert lines[0].startswith("category   tracker         HOTA")
    assert lines[5] == "car        camera+lidar   81.09   69.77   77.81   78.65      65   88.95   41.24"
    assert lines[6] == "car        cam - ours     +7.48   +0.00   +0.00   +0.00     +45   +0.00   +0.00"
    assert lines[-1].endswith("camera+lidar 3 (the camera+lidar stage)")
