"""FusionEngine on a synthetic lidar + camera scene with known ground truth (_engine_scene.py):
well-formed records (unique ids, SPD covariances, no NaN), tracks that follow the truth,
per-sensor evidence, class fusion, a camera-only target tracked in the image that keeps its id
when the lidar starts seeing it (JOIN), a 3D track continuing as an image track (LEAVE),
batches, reset, determinism and pickling."""

from __future__ import annotations

import copy
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
from _engine_scene import FRAME_NS, LIDAR_RANGE, config, frames, image_box, run, truth
from _isolated import run_isolated

from fusion.engine import (
    COASTING,
    CONFIRMED,
    DELETED,
    TENTATIVE,
    FusionEngine,
    MeasurementBatch,
    registry,
)
from fusion.geometry.box2d import iou_2d

LIDAR, CAMERA = 0, 1
C_LIDAR_FROM_S = 2.85  # C enters the lidar's range (hypot(62 - 8 t, 1) < 39 m)


@pytest.fixture(scope="module")
def scene():
    fr = frames()
    eng = FusionEngine(config())
    return eng, fr, run(eng, fr)


def near(tracks: np.ndarray, box: np.ndarray, tol: float = 1.5) -> np.ndarray:
    live = tracks[tracks["status"] != DELETED]
    d = np.hypot(live["box"][:, 0] - box[0], live["box"][:, 1] - box[1])
    return live[d < tol]


def iou(a, b) -> float:
    return float(iou_2d(a, b)[0, 0])


def t_s(f: dict) -> float:
    return f["t_ns"] * 1e-9


# ---------------------------------------------------------------- records

def test_record_layout_matches_the_spec(scene):
    eng, _, outs = scene
    n, C, S = registry.MOTION_MODELS["cv_box"].state_dim, 2, 2
    dt = eng.track_dtype
    shapes = {"id": (), "t_ns": (), "birth_t_ns": (), "status": (), "class_id": (), "birth_sensor": (),
              "existence": (), "confirmed_ever": (), "x": (n,), "P": (n, n), "box": (7,), "velocity": (3,),
              "class_prob": (C,), "last_update_ns": (S,), "hits": (S,), "misses": (S,), "score_sum": (S,),
              "detection": (S,), "llr": (), "frames_since_birth": (), "consecutive_misses": ()}
    assert set(dt.names) == set(shapes)
    for name, shape in shapes.items():
        assert dt[name].shape == shape, name
    assert dt["id"].base == np.int64 and dt["x"].base == np.float64 and dt["hits"].base == np.int32
    it = eng.image_track_dtype
    assert {name: it[name].shape for name in it.names} == {
        "id": (), "t_ns": (), "birth_t_ns": (), "status": (), "sensor": (), "box": (4,), "velocity": (2,),
        "hits": (), "misses": (), "score_sum": (), "detection": (), "class_id": ()}
    assert outs[-1][0].dtype == dt and outs[-1][1].dtype == it
    assert (eng.state_dim, eng.motion, eng.sensor_names) == (n, "cv_box", ["lidar", "camera"])


def test_every_output_is_well_formed(scene):
    _, fr, outs = scene
    for f, (tr, im) in zip(fr, outs):
        assert len(np.unique(tr["id"])) == len(tr) and np.all(np.diff(tr["id"]) > 0)
        assert len(np.unique(im["id"])) == len(im)
        live3, live2 = tr[tr["status"] != DELETED], im[im["status"] != DELETED]
        assert not set(live3["id"]) & set(live2["id"]), "one id space: a live id is either 3D or image"
        for name in ("x", "P", "box", "velocity", "existence", "class_prob"):
            assert np.all(np.isfinite(tr[name])), name
        assert np.all(np.isfinite(im["box"])) and np.all(np.isfinite(im["velocity"]))
        P = live3["P"]
        np.testing.assert_allclose(P, np.swapaxes(P, 1, 2), rtol=1e-9, atol=1e-9)
        if len(P):
            assert np.all(np.linalg.eigvalsh(P)[:, 0] > 0), "covariances must be positive definite"
        assert np.all((tr["existence"] >= 0) & (tr["existence"] <= 1))
        np.testing.assert_allclose(tr["class_prob"].sum(axis=1), 1.0, atol=1e-9)
        assert np.all(tr["t_ns"] <= f["t_ns"]) and np.all(tr["birth_t_ns"] <= tr["t_ns"])
        assert set(tr["status"]) <= {TENTATIVE, CONFIRMED, COASTING, DELETED}
        assert np.all(im["sensor"] == CAMERA)


# ---------------------------------------------------------------- tracking quality

def test_tracks_follow_the_truth_without_id_switches(scene):
    _, fr, outs = scene
    ids: dict[str, set[int]] = {"A": set(), "B": set(), "C": set()}
    for f, (tr, _) in zip(fr, outs):
        if t_s(f) < 0.5:
            continue
        conf = tr[(tr["status"] == CONFIRMED) | (tr["status"] == COASTING)]
        for name in ("A", "B") + (("C",) if t_s(f) > C_LIDAR_FROM_S + 0.5 else ()):
            m = near(conf, truth(name, t_s(f)), 1.0)
            assert len(m) == 1, f"{name} at {t_s(f):.2f} s: {len(m)} confirmed tracks within 1 m"
            ids[name].add(int(m["id"][0]))
    assert all(len(v) == 1 for v in ids.values()), f"id switches: {ids}"
    assert len({next(iter(v)) for v in ids.values()}) == 3
    tr = outs[-1][0]
    t_end = t_s(fr[-1])
    for name, v in ids.items():
        (rec,) = tr[tr["id"] == next(iter(v))]
        gt = truth(name, t_end)
        assert np.hypot(*(rec["box"][:2] - gt[:2])) < 0.3, name
        np.testing.assert_allclose(rec["box"][4:], gt[4:], atol=0.3)
        vx = {"A": 3.0, "B": -2.0, "C": -8.0}[name]
        np.testing.assert_allclose(rec["velocity"][:2], [vx, 0.0], atol=0.7)


def test_per_sensor_evidence(scene):
    _, fr, outs = scene
    tr = outs[-1][0]
    last = {s: max((f for f in fr if f["sensor"] == s), key=lambda f: f["t_ns"]) for s in ("lidar", "camera")}
    t_end = t_s(fr[-1])
    for name in ("A", "B"):
        (rec,) = near(tr, truth(name, t_end), 1.0)
        assert rec["last_update_ns"][LIDAR] == last["lidar"]["t_ns"]
        assert rec["last_update_ns"][CAMERA] == last["camera"]["t_ns"]
        assert rec["detection"][LIDAR] == last["lidar"]["truth"].index(name)
        assert rec["detection"][CAMERA] == last["camera"]["truth"].index(name)
        assert rec["hits"][LIDAR] == 45 and rec["hits"][CAMERA] == 45  # every frame of 4.5 s at 10 Hz
        assert rec["misses"].tolist() == [0, 0]
        np.testing.assert_allclose(rec["score_sum"], 0.9 * rec["hits"])
        assert rec["birth_sensor"] == LIDAR and rec["birth_t_ns"] == 0 and rec["confirmed_ever"] == 1
        assert rec["class_id"] == 0 and rec["class_prob"][0] > 0.99  # both sensors report class 0


def test_stats_count_frames_detections_and_births(scene):
    eng, fr, _ = scene
    st = eng.stats()
    assert set(st) == {"frames", "detections", "late_frames", "late_detections", "skipped_detections",
                       "rejected_updates", "births", "deletions", "insert_failures", "image_births",
                       "imm_underflows", "reprocessed_frames", "ego_gaps"}
    assert st["frames"] == len(fr) and st["detections"] == sum(len(f["z"]) for f in fr)
    assert st["births"] == 3 and st["image_births"] == 1  # A, B, C in 3D; C in the image first
    assert (st["late_frames"], st["skipped_detections"], st["rejected_updates"], st["insert_failures"]) == (0, 0, 0, 0)
    assert eng.time_ns == fr[-1]["t_ns"] and eng.num_tracks == 3


# ---------------------------------------------------------------- camera-only target: image track, JOIN

def test_camera_only_target_is_an_image_track_that_keeps_its_id_in_3d(scene):
    _, fr, outs = scene
    image_id = None
    for f, (tr, im) in zip(fr, outs):
        ts = t_s(f)
        gt = truth("C", ts)
        if ts < C_LIDAR_FROM_S:
            assert len(near(tr, gt, 5.0)) == 0, "no 3D track for a target no range sensor saw"
            if ts > 0.6:
                conf = im[(im["status"] == CONFIRMED) | (im["status"] == COASTING)]
                ious = [iou(b, image_box(gt)) for b in conf["box"]]
                assert max(ious, default=0.0) > 0.5, f"no confirmed image track on C at {ts:.2f} s"
                cid = int(conf["id"][int(np.argmax(ious))])
                assert image_id in (None, cid), "the image track of C changed id"
                image_id = cid
    assert image_id is not None
    # The lidar's first detection of C starts a tentative 3D track (a new id); the next camera
    # frame assigns it C's camera box, and the track takes over the image track's id (JOIN).
    born = joined = None
    for f, (tr, im) in zip(fr, outs):
        if t_s(f) <= C_LIDAR_FROM_S or not len(m := near(tr, truth("C", t_s(f)), 1.5)):
            continue
        (rec,) = m
        if born is None:
            born = int(rec["id"])
            assert f["sensor"] == "lidar" and rec["status"] == TENTATIVE and born != image_id
            assert image_id in im["id"], "the image track lives until the join"
        elif joined is None:
            assert f["sensor"] == "camera" and int(rec["id"]) == image_id, "no JOIN at the next camera frame"
            assert image_id not in im["id"] and born not in tr["id"], "the image track is removed, not reported"
            joined = t_s(f)
        else:
            assert int(rec["id"]) == image_id
        if joined is not None:
            assert born not in tr["id"] and born not in im["id"], "an id is never reused"
    assert joined is not None and joined < C_LIDAR_FROM_S + 0.2
    tr, im = outs[-1]
    (rec,) = tr[tr["id"] == image_id]
    assert rec["status"] == CONFIRMED and rec["birth_sensor"] == LIDAR
    assert image_id not in im["id"][im["status"] != DELETED]


def test_a_3d_track_the_lidar_loses_continues_as_an_image_track():
    """LEAVE: with a camera that neither updates the state nor keeps tracks alive (KITTI), A
    occluded for the lidar after 2 s is deleted in 3D and continues in the image, same id."""
    cfg = config()
    cfg.sensors[CAMERA].update_state = False
    cfg.sensors[CAMERA].counts_for_coast = False
    eng = FusionEngine(cfg)
    fr = frames(3.5)
    for f in fr:
        if f["sensor"] == "lidar" and t_s(f) >= 2.0:
            keep = [i for i, n in enumerate(f["truth"]) if n != "A"]
            f["z"], f["truth"] = f["z"][keep], [f["truth"][i] for i in keep]
            f["score"], f["class_id"] = f["score"][keep], f["class_id"][keep]
    outs = run(eng, fr)
    a_id = int(near(outs[30][0], truth("A", 1.5), 1.0)["id"][0])  # frame 30: the lidar at 1.5 s
    deleted_at = None
    for f, (tr, im) in zip(fr, outs):
        if deleted_at is None and np.any((tr["id"] == a_id) & (tr["status"] == DELETED)):
            deleted_at = t_s(f)
        if deleted_at is not None and t_s(f) > deleted_at + 0.2:
            assert a_id not in tr["id"]
            (rec,) = im[im["id"] == a_id]
            assert rec["status"] in (CONFIRMED, COASTING, TENTATIVE)
            assert iou(rec["box"], image_box(truth("A", t_s(f)))) > 0.5
    assert deleted_at is not None and 2.4 < deleted_at < 2.8  # max_coast_s = 0.5 after the last lidar hit


# ---------------------------------------------------------------- batches, reset

def test_step_with_a_batch_equals_frame_by_frame_processing(scene):
    eng0, fr, outs = scene
    idx = {"lidar": LIDAR, "camera": CAMERA}
    rows = [{"sensor": idx[f["sensor"]], "t_ns": f["t_ns"], "z": f["z"], "score": f["score"],
             "class_id": f["class_id"]} for f in fr]
    order = np.random.default_rng(1).permutation(len(rows))  # the batch sorts frames by time, then sensor
    batch = MeasurementBatch.from_frames([rows[i] for i in order])
    eng = FusionEngine(config())
    out = eng.step(batch)
    assert out.tobytes() == outs[-1][0].tobytes()
    assert eng.image_tracks().tobytes() == outs[-1][1].tobytes()
    assert eng.stats() == eng0.stats()


def test_reset_drops_tracks_and_time_but_never_reuses_ids():
    eng = FusionEngine(config())
    run(eng, frames(1.0))
    top = int(max(eng.tracks()["id"].max(), eng.image_tracks()["id"].max(initial=0)))
    eng.reset()
    assert (eng.num_tracks, eng.time_ns, len(eng.tracks()), len(eng.image_tracks())) == (0, None, 0, 0)
    assert all(v == 0 for v in eng.stats().values())
    run(eng, frames(0.3))
    assert eng.tracks()["id"].min() > top


def test_confirmed_only_and_include_deleted_filters(scene):
    eng, _, _ = scene
    all_ = eng.tracks()
    conf = eng.tracks(confirmed_only=True)
    assert set(conf["status"]) <= {CONFIRMED, COASTING}
    assert len(conf) == np.isin(all_["status"], [CONFIRMED, COASTING]).sum()
    assert DELETED not in eng.tracks(include_deleted=False)["status"]


# ---------------------------------------------------------------- determinism, copying

def _digest(outs) -> str:
    h = hashlib.sha256()
    for tr, im in outs:
        h.update(tr.tobytes())
        h.update(im.tobytes())
    return h.hexdigest()


def test_runs_are_byte_identical(scene):
    _, fr, outs = scene
    again = run(FusionEngine(config()), frames())
    assert _digest(again) == _digest(outs)
    child = run_isolated("""
        import hashlib, json, sys
        sys.path.insert(0, HERE)
        from _engine_scene import config, frames, run
        from fusion.engine import FusionEngine
        h = hashlib.sha256()
        for tr, im in run(FusionEngine(config()), frames()):
            h.update(tr.tobytes()); h.update(im.tobytes())
        print(json.dumps(h.hexdigest()))
    """.replace("HERE", repr(str(Path(__file__).resolve().parent))))
    assert child == _digest(outs), "a fresh process gives different bytes"


def test_pickling_and_copying_are_refused_cleanly(scene):
    eng = scene[0]
    with pytest.raises(TypeError, match="FusionEngine cannot be pickled: its tracks live in C\\+\\+"):
        pickle.dumps(eng)
    with pytest.raises(TypeError, match="FusionEngine cannot be copied"):
        copy.deepcopy(eng)
    assert copy.deepcopy(eng.config) == eng.config and eng.config is not eng.config


def test_the_lidar_range_of_the_scene_is_what_the_test_assumes():
    # C is first seen by the lidar in the frame after C_LIDAR_FROM_S, no earlier
    first = min(t_s(f) for f in frames() if f["sensor"] == "lidar" and "C" in f["truth"])
    assert C_LIDAR_FROM_S <= first < C_LIDAR_FROM_S + FRAME_NS * 1e-9 and LIDAR_RANGE == 40.0


# ---------------------------------------------------------------- more sensors and the other associator

def radar_frame(t_ns: int, mount_t: np.ndarray, max_range: float, rng: np.random.Generator) -> np.ndarray:
    rows = []
    for name, (_, _, vx, vy) in sorted(__import__("_engine_scene").START.items()):
        q = truth(name, t_ns * 1e-9)[:2] - mount_t[:2]
        r = float(np.hypot(*q))
        if r > max_range:
            continue
        rows.append([r, np.arctan2(q[1], q[0]), (q[0] * vx + q[1] * vy) / r] + rng.normal(0, [0.3, 0.005, 0.1]))
    return np.array(rows).reshape(-1, 3)


def test_a_radar_joins_the_lidar_and_camera_tracks():
    from fusion.engine import FieldOfView, SensorConfig
    cfg = config()
    radar = SensorConfig.radar(fov=FieldOfView(azimuth_half_rad=1.0, min_range_m=0.5, max_range_m=30.0))
    cfg.sensors.append(radar)
    eng = FusionEngine(cfg)
    rng = np.random.default_rng(7)
    mount_t = np.array(radar.mount_t)
    events = [(f["t_ns"], 0, f) for f in frames(3.0)] + [(k * FRAME_NS + 25_000_000, 1, None) for k in range(30)]
    for t_ns, _, f in sorted(events, key=lambda e: (e[0], e[1])):
        if f is None:
            eng.process("radar", t_ns, radar_frame(t_ns, mount_t, 30.0, rng))
        else:
            eng.process(f["sensor"], f["t_ns"], f["z"], score=f["score"], class_id=f["class_id"])
    tr = eng.tracks(confirmed_only=True)
    t_end = eng.time_ns * 1e-9
    for name in ("A", "B"):
        (rec,) = near(tr, truth(name, t_end), 1.0)
        assert rec["hits"][2] >= 25, f"{name}: radar hits {rec['hits']}"
        assert rec["birth_sensor"] == LIDAR
        vx = {"A": 3.0, "B": -2.0}[name]
        assert abs(rec["velocity"][0] - vx) < 0.5
    # no radar-born duplicates: A, B and (at 2.9 s, from the lidar) C are the only births
    assert eng.stats()["births"] == 3 and set(eng.tracks()["birth_sensor"]) == {LIDAR} and len(tr) == 2


def test_jpda_on_point_detections_with_clutter():
    from fusion.engine import EngineConfig, SensorConfig
    cfg = EngineConfig(sensors=[SensorConfig(name="points", model="position3d", associator="jpda", gate=0.999,
                                             R=np.diag([0.04, 0.04, 0.04]), clutter_density=1e-4)])
    eng = FusionEngine(cfg)
    rng = np.random.default_rng(11)
    starts = np.array([[10.0, 0.0, 1.0, 0.0], [10.0, 4.0, 1.0, -0.5], [30.0, -5.0, -1.0, 0.5]])
    for k in range(40):
        t = k * 0.1
        pos = starts[:, :2] + starts[:, 2:] * t
        z = np.column_stack([pos, np.zeros(3)]) + rng.normal(0, 0.2, (3, 3))
        clutter = np.column_stack([rng.uniform(-20, 50, (2, 2)), np.zeros(2)])
        eng.process("points", k * FRAME_NS, np.vstack([z, clutter])[rng.permutation(5)])
        tr = eng.tracks()
        assert np.all(np.isfinite(tr["P"])) and len(np.unique(tr["id"])) == len(tr)
    conf = eng.tracks(confirmed_only=True)
    end = starts[:, :2] + starts[:, 2:] * 3.9
    for p, v in zip(end, starts[:, 2:]):
        d = np.hypot(conf["box"][:, 0] - p[0], conf["box"][:, 1] - p[1])
        assert d.min() < 0.5, f"no confirmed track within 0.5 m of {p}"
        np.testing.assert_allclose(conf["velocity"][np.argmin(d), :2], v, atol=0.5)


def test_the_scene_with_the_turn_rate_motion_model(tmp_path):
    """ctrv_box, configured from a TOML file: the same targets followed, the same JOIN."""
    path = tmp_path / "engine.toml"
    path.write_text(config(motion="ctrv_box", motion_noise={"accel_std": 1.0, "yaw_accel_std": 0.3}).to_toml())
    eng = FusionEngine(path)
    fr = frames()
    outs = run(eng, fr)
    assert eng.state_dim == registry.MOTION_MODELS["ctrv_box"].state_dim == eng.track_dtype["x"].shape[0]
    tr, im = outs[-1]
    t_end = t_s(fr[-1])
    conf = tr[tr["status"] == CONFIRMED]
    for name, vx in (("A", 3.0), ("B", -2.0), ("C", -8.0)):
        (rec,) = near(conf, truth(name, t_end), 0.5)
        assert abs(rec["velocity"][0] - vx) < 0.7 and abs(rec["velocity"][1]) < 0.5
    assert eng.stats()["births"] == 3 and eng.stats()["image_births"] == 1
    assert len(im[im["status"] != DELETED]) == 0  # C's image track joined its 3D track
    for trk, _ in outs:
        assert len(np.unique(trk["id"])) == len(trk) and np.all(np.isfinite(trk["P"]))


@pytest.mark.parametrize("motion", sorted(registry.BOX_MOTION_MODELS))
def test_every_registered_motion_model_runs_the_scene(motion):
    """Every motion key of the registry builds an engine that follows the three targets from
    lidar + camera (positions within 0.5 m of the truth at the end), keeps ids unique and
    covariances symmetric positive definite, and reports its own state size."""
    eng = FusionEngine(config(motion=motion))
    info = registry.MOTION_MODELS[motion]
    assert eng.motion == motion and eng.state_dim == info.state_dim == eng.track_dtype["x"].shape[0]
    fr = frames()
    outs = run(eng, fr)
    conf = outs[-1][0][outs[-1][0]["status"] == CONFIRMED]
    for name in ("A", "B", "C"):
        assert len(near(conf, truth(name, t_s(fr[-1])), 0.5)) == 1, (motion, name)
    for trk, _ in outs:
        assert len(np.unique(trk["id"])) == len(trk)
        for P in trk["P"]:
            assert np.allclose(P, P.T, atol=1e-9) and np.linalg.eigvalsh(P).min() > 0.0
