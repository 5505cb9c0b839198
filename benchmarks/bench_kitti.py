"""KITTI Car tracking speed: frames per second, lidar-only vs camera + lidar, in the same run.

The 10 KITTI tracking training sequences (4 100 frames), Car: PointRCNN lidar boxes and RRC camera
boxes, loaded before timing. One round = every sequence from a reset tracker. Frames per second =
4 100 / the round's time; the figure recorded is from the fastest round (``min``) and the mean.

- ``lidar_tracker``: today's ``Tracker.step`` (shipped ``pointrcnn.toml``), as ``fusion kitti track``;
- ``engine_lidar``: the engine's lidar-only preset (``pointrcnn_rrc.toml`` without the camera): per
  frame ``process`` (lidar) + ``tracks()``, through :class:`fusion.engine.FusionEngine`;
- ``engine_camera_lidar``: the camera + lidar engine, as ``fusion kitti track --camera-detections``
  runs it (:class:`fusion.kitti.fusion_track.EngineCameraStage`): per frame ``process`` (lidar),
  ``tracks()``, ``process`` (camera), ``tracks()``, ``image_tracks()`` -- the records the output
  policy reads; **this is the issue's "KITTI tracking with the camera" figure (target >= 5000 FPS)**;
- ``engine_camera_lidar_core``: the same two ``process`` calls and record exports straight on
  ``fusion._core.FusionEngine`` (no Python-side argument checks): the C++ engine's own speed;
- ``engine_camera_pipeline``: ``engine_camera_lidar`` plus the output policy in Python over the
  sequence's records (:func:`fusion.kitti.fusion_track.sequence_rows`, the rows written), as
  ``fusion kitti track --camera-detections`` runs it: the whole command without file input/output;
- ``tracker_camera_stage`` / ``tracker_camera_pipeline``: the fallback stage (lidar Tracker + the
  camera association, image tracks and id handover in Python,
  :class:`fusion.kitti.fusion_track.TrackerCameraStage`), without / with the output policy.

Needs the shared KITTI data (``$FUSION_SHARED_DATA`` or ``../shared/data`` beside the checkout);
skips without it. Each test checks its result (rows, tracks) before it is timed. Run::

    python -m pytest benchmarks/bench_kitti.py --benchmark-enable --benchmark-columns=min,mean,rounds
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fusion import _core
from fusion.engine import FusionEngine
from fusion.kitti.fusion_track import (
    FRAME_NS,
    EngineCameraStage,
    TrackerCameraStage,
    load_camera_config,
    load_fusion_config,
    sequence_rows,
)
from fusion.kitti.io import read_calib, read_camera_detections, read_seqmap
from fusion.kitti.track import KITTI_CONFIG, KITTI_OUTPUT, detections_by_frame
from fusion.tracking import Tracker

CAR = 2


def _kitti() -> Path:
    env = os.environ.get("FUSION_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    path = root / "kitti-train"
    if not (path / "detections" / "rrc_Car").is_dir():
        if os.environ.get("FUSION_REQUIRE_SHARED") == "1":
            pytest.fail(f"KITTI training data not found: {path}; FUSION_REQUIRE_SHARED=1 requires it")
        pytest.skip(f"KITTI training data not found: {path}")
    return path


@dataclass
class Seq:
    lidar: list[np.ndarray]
    lidar_bbox: list[np.ndarray]
    cam_bbox: list[np.ndarray]
    cam_score: list[np.ndarray]
    P2: np.ndarray


@pytest.fixture(scope="module")
def car_sequences() -> list[Seq]:
    k = _kitti()
    out = []
    for e in read_seqmap(k / "evaluate_tracking.seqmap.train"):
        dets, bbs = detections_by_frame(k / "detections" / "pointrcnn_Car" / f"{e.name}.txt", CAR, e.n_frames)
        cb, cs = read_camera_detections(k / "detections" / "rrc_Car" / f"{e.name}.txt").by_frame(len(dets))
        out.append(Seq(dets, bbs, cb, cs, read_calib(k / "calib" / f"{e.name}.txt").P2))
    return out


def _frames(seqs: list[Seq]) -> int:
    return sum(len(s.lidar) for s in seqs)


def _record(benchmark: Any, frames: int) -> None:
    benchmark.extra_info["frames"] = frames
    if benchmark.stats is not None:
        st = benchmark.stats.stats
        benchmark.extra_info["fps_min_time"] = frames / st.min
        benchmark.extra_info["fps_mean_time"] = frames / st.mean
        print(f"\n{benchmark.name}: {frames / st.min:.0f} FPS (fastest round), {frames / st.mean:.0f} FPS (mean)")


def test_lidar_tracker(benchmark: Any, car_sequences: list[Seq]) -> None:
    tracker = Tracker(KITTI_CONFIG)

    def run() -> int:
        n = 0
        for s in car_sequences:
            tracker.reset()
            for f, det in enumerate(s.lidar):
                n += len(tracker.step(det, f * FRAME_NS))
        return n

    assert run() > 20_000  # track-frames
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=0)
    _record(benchmark, _frames(car_sequences))


def test_engine_lidar(benchmark: Any, car_sequences: list[Seq]) -> None:
    cc = load_fusion_config()["car"]
    engines = [FusionEngine(cc.engine_config(None, with_camera=False)) for _ in car_sequences]

    def run() -> int:
        n = 0
        for s, eng in zip(car_sequences, engines):
            eng.reset()
            for f, det in enumerate(s.lidar):
                eng.process(0, f * FRAME_NS, det["box"], score=det["score"])
                n += len(eng.tracks())
        return n

    assert run() > 20_000
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=0)
    _record(benchmark, _frames(car_sequences))


def _engine_stages(car_sequences: list[Seq]) -> list[EngineCameraStage]:
    cc = load_fusion_config()["car"]
    stages = []
    for s in car_sequences:  # one engine per sequence (its camera's P2), built before timing
        st = EngineCameraStage(cc)
        st.process(0, s.lidar[0][:0], s.lidar_bbox[0][:0], s.cam_bbox[0][:0], s.cam_score[0][:0], s.P2)
        stages.append(st)
    return stages


def test_engine_camera_lidar(benchmark: Any, car_sequences: list[Seq]) -> None:
    stages = _engine_stages(car_sequences)

    def run() -> tuple[int, int]:
        n3 = n2 = 0
        for s, st in zip(car_sequences, stages):
            st.engine.reset()
            for f in range(len(s.lidar)):
                tr, im = st.process(f * FRAME_NS, s.lidar[f], s.lidar_bbox[f], s.cam_bbox[f], s.cam_score[f], s.P2)
                n3 += len(tr)
                n2 += len(im)
        return n3, n2

    n3, n2 = run()
    assert n3 > 20_000 and n2 > 1_000
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=0)
    _record(benchmark, _frames(car_sequences))


def test_engine_camera_lidar_core(benchmark: Any, car_sequences: list[Seq]) -> None:
    cc = load_fusion_config()["car"]
    cores = [_core.FusionEngine(cc.engine_config(s.P2).to_spec()) for s in car_sequences]
    frames = [[(np.ascontiguousarray(s.lidar[f]["box"]), np.ascontiguousarray(s.lidar[f]["score"]),
                np.ascontiguousarray(s.cam_bbox[f]), np.ascontiguousarray(s.cam_score[f]))
               for f in range(len(s.lidar))] for s in car_sequences]

    def run() -> int:
        n = 0
        for core, seq in zip(cores, frames):
            core.reset()
            for f, (z, sc, cz, cs) in enumerate(seq):
                t = f * FRAME_NS
                core.process(0, t, z, None, sc, None, None)
                core.tracks(True)
                core.process(1, t, cz, None, cs, None, None)
                n += len(core.tracks(True)) + len(core.image_tracks())
        return n

    assert run() > 20_000
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=0)
    _record(benchmark, _frames(car_sequences))


def test_engine_camera_pipeline(benchmark: Any, car_sequences: list[Seq]) -> None:
    cc = load_fusion_config()["car"]
    stages = _engine_stages(car_sequences)
    min_score = KITTI_OUTPUT["min_output_score"]["car"]

    def run() -> int:
        n = 0
        for s, st in zip(car_sequences, stages):
            st.engine.reset()
            records = [st.process(f * FRAME_NS, s.lidar[f], s.lidar_bbox[f], s.cam_bbox[f], s.cam_score[f], s.P2)
                       for f in range(len(s.lidar))]
            rows, _ = sequence_rows(cc.camera, cc.min_hits, min_score, records, s.lidar_bbox, s.cam_bbox,
                                    s.cam_score, s.P2, "Car")
            n += len(rows)
        return n

    assert run() > 15_000  # rows written
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=0)
    _record(benchmark, _frames(car_sequences))


def test_tracker_camera_stage(benchmark: Any, car_sequences: list[Seq]) -> None:
    stage = TrackerCameraStage(KITTI_CONFIG, CAR, load_camera_config()["car"])

    def run() -> tuple[int, int]:
        n3 = n2 = 0
        for s in car_sequences:
            stage.reset()
            for f in range(len(s.lidar)):
                tr, im = stage.process(f * FRAME_NS, s.lidar[f], s.lidar_bbox[f], s.cam_bbox[f], s.cam_score[f], s.P2)
                n3 += len(tr)
                n2 += len(im)
        return n3, n2

    n3, n2 = run()
    assert n3 > 20_000 and n2 > 1_000
    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=0)
    _record(benchmark, _frames(car_sequences))


def test_tracker_camera_pipeline(benchmark: Any, car_sequences: list[Seq]) -> None:
    params = load_camera_config()["car"]
    stage = TrackerCameraStage(KITTI_CONFIG, CAR, params)
    min_hits, min_score = KITTI_CONFIG.for_class(CAR).min_hits, KITTI_OUTPUT["min_output_score"]["car"]

    def run() -> int:
        n = 0
        for s in car_sequences:
            stage.reset()
            records = [stage.process(f * FRAME_NS, s.lidar[f], s.lidar_bbox[f], s.cam_bbox[f], s.cam_score[f], s.P2)
                       for f in range(len(s.lidar))]
            rows, _ = sequence_rows(params, min_hits, min_score, records, s.lidar_bbox, s.cam_bbox, s.cam_score,
                                    s.P2, "Car")
            n += len(rows)
        return n

    assert run() > 15_000  # rows written
    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=0)
    _record(benchmark, _frames(car_sequences))
