"""Camera + lidar KITTI tracking: ``fusion kitti track --camera-detections DIR``.

Lidar (PointRCNN 3D boxes, logit scores) and camera (RRC 2D image boxes ``frame,x1,y1,x2,y2,score``,
in ``<name>_Car/<seq>.txt`` and ``<name>_Pedestrian/<seq>.txt``) are tracked together and written
as ``label_02`` rows with a 2D box and a score. The output policy is variant (g) of
``docs/camera_lidar_study.md``:

- **2D box**: the matched camera box; where the lidar also updated the track in this frame, the
  per-axis inverse-variance average of the camera box and the lidar detection's projected box,
  with the stated pixel noise per range bin (``[kitti.<category>.camera]`` in the config);
- **score**: the track's mean lidar score (logit) plus its mean camera log-odds over the frames it
  is in the image (``logit(clip(p, floor, p_max))`` for a matched box, ``logit(floor)`` for none);
  the lidar-only output threshold applies to this sum;
- **rows written**: the lidar-only rule (confirmed tracks; updated tentative tracks in the first
  ``min_hits`` frames), plus tentative tracks updated by the lidar AND matched by the camera
  (camera confirmation), plus confirmed tracks the lidar missed and the camera sees (coast fill,
  written with the camera box and the predicted 3D box);
- **camera-only tracks** (image-plane tracks started by camera boxes that no 3D track explains) are
  written with KITTI's "no 3D" values while the camera sees them, scored by their mean camera
  log-odds; identities are handed over both ways (a newborn 3D track that takes an image track's
  box takes its id; a confirmed 3D track deleted while the camera still saw it continues as an
  image track with its id). The camera evidence of a track is its own: a join hands over the id only.

The policy reads per-frame track records with the fields of the engine's
``track_dtype`` (per sensor ``hits``, ``score_sum``, ``detection``; ``status``, ``box``,
``birth_t_ns``) and image-track records with the fields of ``image_track_dtype``. They come from a
stage that tracks lidar and camera together (:class:`CameraStage`):

- :class:`EngineCameraStage` (default, ``--camera-stage engine``): the multi-sensor engine
  (:mod:`fusion.engine`) with the config ``configs/pointrcnn_rrc.toml``: per frame the lidar frame
  then the camera frame; the camera associates by image IoU with the projected 3D boxes, never
  updates the 3D state, starts no 3D track, neither confirms a 3D track nor keeps it alive, and
  feeds the engine's image tracks and identity handover (join / leave);
- :class:`TrackerCameraStage` (``--camera-stage tracker``): today's lidar ``Tracker`` (the shipped
  ``pointrcnn.toml``, unchanged) followed by a Python camera stage (2D IoU association with the
  lidar detection's box, image tracks, id handover), i.e. the camera works on the lidar tracker's
  output as in the study. It writes the same record fields.

The policy comes in two forms that write the same rows: :class:`OutputPolicy`, frame by frame (for
a stream), and :func:`sequence_rows`, over a whole sequence's records at once (vectorised; what
the command runs, so the policy costs little next to the engine).

Sensor indices in the records: 0 lidar, 1 camera. Timestamps: ``frame * 100 ms``.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fusion._toml import read_toml
from fusion.assoc import gated_assignment
from fusion.errors import ConfigurationError
from fusion.geometry.box2d import iou_2d
from fusion.geometry.projection import project_camera_boxes
from fusion.kitti.io import (
    CATEGORY_IDS,
    DETECTION_TYPES,
    TrackRows,
    generic_to_camera_box,
    read_calib,
    read_camera_detections,
    read_seqmap,
    write_results,
)
from fusion.tracking import COASTING, CONFIRMED, TENTATIVE, Tracker, TrackerConfig

__all__ = [
    "CAMERA",
    "DEFAULT_CAMERA_CONFIG",
    "DELETED",
    "IMAGE_RECORD_DTYPE",
    "LIDAR",
    "NO_3D",
    "REASONS",
    "STAGES",
    "TRACK_RECORD_DTYPE",
    "CameraParams",
    "CameraStage",
    "CategoryConfig",
    "EngineCameraStage",
    "OutputPolicy",
    "TrackerCameraStage",
    "camera_log_odds",
    "camera_params",
    "fused_box",
    "load_camera_config",
    "load_fusion_config",
    "project_boxes",
    "run_camera_tracking",
    "sequence_rows",
    "track_sequence_camera",
]

LIDAR, CAMERA = 0, 1
DELETED = 3
FRAME_NS = 100_000_000
IMAGE_SIZE = (1242, 375)
#: KITTI's "no 3D" values for 2D-only rows: h w l = -1, x y z = -1000, ry = -10 (camera box order)
NO_3D = np.array([-1.0, -1.0, -1.0, -1000.0, -1000.0, -1000.0, -10.0])
#: ids of image tracks born in the camera stage start here (lidar Tracker ids are small integers)
IMAGE_ID_BASE = 1_000_000
#: the shipped camera + lidar config
DEFAULT_CAMERA_CONFIG = Path(__file__).with_name("configs") / "pointrcnn_rrc.toml"

#: 3D track records: the fields of the engine's ``track_dtype`` the policy reads (S = 2 sensors)
TRACK_RECORD_DTYPE = np.dtype([
    ("id", np.int64), ("t_ns", np.int64), ("birth_t_ns", np.int64), ("status", np.int32),
    ("confirmed_ever", np.uint8), ("box", np.float64, (7,)), ("hits", np.int32, (2,)),
    ("misses", np.int32, (2,)), ("score_sum", np.float64, (2,)), ("detection", np.int32, (2,)),
])
#: image track records: the fields of the engine's ``image_track_dtype``
IMAGE_RECORD_DTYPE = np.dtype([
    ("id", np.int64), ("t_ns", np.int64), ("birth_t_ns", np.int64), ("status", np.int32), ("sensor", np.int32),
    ("box", np.float64, (4,)), ("velocity", np.float64, (2,)), ("hits", np.int32), ("misses", np.int32),
    ("score_sum", np.float64), ("detection", np.int32), ("class_id", np.int32),
])


# ----------------------------------------------------------------------------------------------
# parameters


@dataclass(frozen=True)
class CameraParams:
    """Camera parameters of one category (stated in the config, not searched).

    Attributes:
        match_iou: camera box <-> track 2D box association gate (minimum 2D IoU), also the image
            track gate.
        floor: the camera detector's reporting floor (its lowest score); no box counts as this.
        p_max: a camera frame counts for at most this probability.
        range_edges_m: depth edges (m, camera z) of the range bins of the box noise.
        sigma_camera_px, sigma_lidar_px: per range bin, (x, y) pixel noise of the camera box and of
            the lidar box projected (x: left/right edges, y: top/bottom edges).
        camera_only, coast_fill, box_fusion: the mechanisms (d), (e), (g) of the study.
    """

    match_iou: float = 0.3
    floor: float = 0.1
    p_max: float = 0.99
    range_edges_m: tuple[float, ...] = (20.0, 40.0)
    sigma_camera_px: tuple[tuple[float, float], ...] = ((1.0, 1.0), (1.0, 1.0), (1.0, 1.0))
    sigma_lidar_px: tuple[tuple[float, float], ...] = ((1.0, 1.0), (1.0, 1.0), (1.0, 1.0))
    camera_only: bool = True
    coast_fill: bool = True
    box_fusion: bool = True

    def validate(self, where: str) -> None:
        if not 0.0 < self.match_iou <= 1.0:
            raise ConfigurationError(f"{where} match_iou: expected in (0, 1], got {self.match_iou!r}")
        if not 0.0 < self.floor < self.p_max < 1.0:
            raise ConfigurationError(f"{where} floor, p_max: expected 0 < floor < p_max < 1, "
                                     f"got {self.floor!r}, {self.p_max!r}")
        nb = len(self.range_edges_m) + 1
        if list(self.range_edges_m) != sorted(self.range_edges_m):
            raise ConfigurationError(f"{where} range_edges_m: expected increasing, got {self.range_edges_m!r}")
        for name in ("sigma_camera_px", "sigma_lidar_px"):
            s = getattr(self, name)
            if len(s) != nb or any(len(p) != 2 or not all(math.isfinite(v) and v > 0 for v in p) for p in s):
                raise ConfigurationError(f"{where} {name}: expected {nb} pairs [x, y] of positive pixels, got {s!r}")

    def weights(self) -> np.ndarray:
        """(bins, 4) camera weight of the inverse-variance box per edge (x1, y1, x2, y2)."""
        c = np.asarray(self.sigma_camera_px, np.float64) ** 2
        lid = np.asarray(self.sigma_lidar_px, np.float64) ** 2
        w = lid / (lid + c)
        return w[:, [0, 1, 0, 1]]


_PARAM_KEYS = {f for f in CameraParams.__dataclass_fields__}


def camera_params(table: dict[str, Any], where: str) -> CameraParams:
    """:class:`CameraParams` from a TOML table; unknown keys are an error naming them and the known ones."""
    unknown = sorted(set(table) - _PARAM_KEYS)
    if unknown:
        raise ConfigurationError(f"{where} unknown key {unknown[0]!r}; known: {', '.join(sorted(_PARAM_KEYS))}")
    kw: dict[str, Any] = {}
    for k, v in table.items():
        if k in ("sigma_camera_px", "sigma_lidar_px"):
            kw[k] = tuple(tuple(float(x) for x in p) for p in v)
        elif k == "range_edges_m":
            kw[k] = tuple(float(x) for x in v)
        elif k in ("camera_only", "coast_fill", "box_fusion"):
            if not isinstance(v, bool):
                raise ConfigurationError(f"{where} {k}: expected true or false, got {v!r}")
            kw[k] = v
        else:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigurationError(f"{where} {k}: expected a number, got {v!r}")
            kw[k] = float(v)
    p = CameraParams(**kw)
    p.validate(where)
    return p


@dataclass
class CategoryConfig:
    """One category of the camera + lidar config: the engine settings (TOML-shaped, ``[engine]`` with
    ``[kitti.<category>.engine]`` merged over it; the camera projection is set per sequence) and the
    output policy's camera parameters (None: no camera for this category)."""

    engine: dict[str, Any]
    camera: CameraParams | None
    where: str

    @property
    def min_hits(self) -> int:
        return int(self.engine.get("lifecycle", {}).get("confirm_hits", 3))

    def engine_config(self, P2: np.ndarray | None, with_camera: bool = True) -> Any:
        """The :class:`fusion.engine.EngineConfig` for a sequence whose camera projects by ``P2``
        (``with_camera=False``: the lidar sensor alone, the engine's lidar-only preset)."""
        from fusion.engine import EngineConfig

        d = copy.deepcopy(self.engine)
        sensors = d.get("sensors", {})
        for name in [n for n, t in sensors.items() if t.get("model") == "camera_box2d"]:
            if not with_camera:
                del sensors[name]
            else:
                sensors[name]["projection"] = (_PLACEHOLDER_P if P2 is None else np.asarray(P2)).tolist()
        try:
            return EngineConfig.from_dict(d)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{self.where}: {exc}") from None


#: a projection to validate the camera sensor before a sequence's calibration is known
_PLACEHOLDER_P = np.array([[700.0, 0.0, 620.0, 0.0], [0.0, 700.0, 190.0, 0.0], [0.0, 0.0, 1.0, 0.0]])


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def load_fusion_config(path: str | os.PathLike[str] | None = None) -> dict[str, CategoryConfig]:
    """Per category the engine settings and camera parameters of a camera + lidar TOML (default: the
    shipped ``pointrcnn_rrc.toml``). Errors name the file and the table; every category's engine
    config is validated here (with a placeholder projection)."""
    path = DEFAULT_CAMERA_CONFIG if path is None else path
    where = os.fspath(path)
    data = read_toml(path)  # ConfigurationError naming the file: invalid TOML, not UTF-8, nested too deeply
    unknown = sorted(set(data) - {"engine", "kitti"})
    if unknown:
        raise ConfigurationError(f"{where}: unknown table [{unknown[0]}]; known: [engine], [kitti]")
    base = data.get("engine", {})
    out = {}
    for cat, table in data.get("kitti", {}).items():
        if cat not in CATEGORY_IDS:
            raise ConfigurationError(f"{where}: [kitti.{cat}] unknown category; known: {', '.join(CATEGORY_IDS)}")
        bad = sorted(set(table) - {"engine", "camera"})
        if bad:
            raise ConfigurationError(f"{where}: [kitti.{cat}] unknown key {bad[0]!r}; known: engine, camera")
        cam = camera_params(table["camera"], f"{where}: [kitti.{cat}.camera]") if "camera" in table else None
        cc = CategoryConfig(_merge(base, table.get("engine", {})), cam, f"{where} ([engine] + [kitti.{cat}.engine])")
        cc.engine_config(None, with_camera=cam is not None)
        out[cat] = cc
    return out


def load_camera_config(path: str | os.PathLike[str] | None = None) -> dict[str, CameraParams]:
    """Per category the camera parameters ``[kitti.<category>.camera]`` (default: the shipped config)."""
    return {c: cc.camera for c, cc in load_fusion_config(path).items() if cc.camera is not None}


# ----------------------------------------------------------------------------------------------
# small pure functions of the policy


def camera_log_odds(p: np.ndarray | float, params: CameraParams) -> np.ndarray:
    """Log-odds of camera frames: ``logit(clip(p, floor, p_max))``."""
    q = np.clip(np.asarray(p, np.float64), params.floor, params.p_max)
    return np.asarray(np.log(q / (1.0 - q)))


def fused_box(camera: np.ndarray, lidar: np.ndarray, depth_m: np.ndarray, params: CameraParams) -> np.ndarray:
    """(n, 4) per-edge inverse-variance average of camera and lidar-projected boxes, by range bin of ``depth_m``."""
    w = params.weights()[np.searchsorted(params.range_edges_m, depth_m, side="right")]
    return np.asarray(w * camera + (1.0 - w) * lidar)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """2D IoU matrix; a row or column with a non-finite box gets 0."""
    out = np.zeros((len(a), len(b)))
    fa, fb = np.isfinite(a).all(1), np.isfinite(b).all(1)
    if fa.any() and fb.any():
        out[np.ix_(fa, fb)] = iou_2d(a[fa], b[fb])
    return out


def associate_boxes(boxes: np.ndarray, cam: np.ndarray, gate: float) -> np.ndarray:
    """Box -> camera box index (-1 none): exact assignment maximising total IoU over pairs with IoU >= gate."""
    match = np.full(len(boxes), -1, np.int64)
    if len(boxes) and len(cam):
        m = _iou(boxes, cam)
        a = gated_assignment(-m, -gate)
        ok = m[a.row_ind, a.col_ind] >= gate
        match[a.row_ind[ok]] = a.col_ind[ok]
    return match


def in_image(bb: np.ndarray) -> np.ndarray:
    """Boxes that are in the image: finite and more than 1 px wide and high."""
    return np.asarray(np.isfinite(bb).all(1) & (bb[:, 2] - bb[:, 0] > 1.0) & (bb[:, 3] - bb[:, 1] > 1.0))


#: corner signs (length, width, height axes) of a box's 8 corners
_CORNER_SIGNS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], np.float64).T


def project_boxes(boxes: np.ndarray, P: np.ndarray, image_size: tuple[int, int] = IMAGE_SIZE,
                  near: float = 0.1) -> np.ndarray:
    """(n, 4) image boxes of generic z-up boxes ``(x, y, z, yaw, l, w, h)`` through ``P`` (KITTI's P2),
    the same as ``project_camera_boxes(generic_to_camera_box(boxes), P, image_size, near)`` (which it
    calls for the boxes with a corner nearer than ``near``); faster for the few boxes of a frame."""
    b = np.asarray(boxes, np.float64)
    if not len(b):
        return np.zeros((0, 4))
    c, s = np.cos(b[:, 3:4]), np.sin(b[:, 3:4])
    dl = 0.5 * b[:, 4:5] * _CORNER_SIGNS[0]
    dw = 0.5 * b[:, 5:6] * _CORNER_SIGNS[1]
    X = b[:, 0:1] + c * dl - s * dw  # forward = camera z
    Y = b[:, 1:2] + s * dl + c * dw  # left = -camera x
    Z = b[:, 2:3] + 0.5 * b[:, 6:7] * _CORNER_SIGNS[2]  # up = -camera y
    u = P[0, 0] * -Y + P[0, 1] * -Z + P[0, 2] * X + P[0, 3]
    v = P[1, 0] * -Y + P[1, 1] * -Z + P[1, 2] * X + P[1, 3]
    w = P[2, 0] * -Y + P[2, 1] * -Z + P[2, 2] * X + P[2, 3]
    ahead = (X >= near).all(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        u, v = u / w, v / w
    out = np.column_stack([u.min(1), v.min(1), u.max(1), v.max(1)])
    if not ahead.all():
        behind = (X < near).all(1)
        out[behind] = np.nan
        cut = ~ahead & ~behind  # straddles the near plane: clip the edges
        if cut.any():
            out[cut] = project_camera_boxes(generic_to_camera_box(b[cut]), P, None, near)
    np.clip(out[:, 0::2], 0, image_size[0] - 1, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, image_size[1] - 1, out=out[:, 1::2])
    return out


def track_boxes_2d(tracks: np.ndarray, lidar_bbox: np.ndarray, P2: np.ndarray | None) -> np.ndarray:
    """(n, 4) 2D box of each 3D track: its lidar detection's box when the lidar updated it in this frame,
    else its 3D box projected by ``P2`` (NaN without calibration or behind the camera)."""
    li = tracks["detection"][:, LIDAR]
    hit = li >= 0
    if hit.all():
        return np.asarray(lidar_bbox[li])
    bb = np.full((len(tracks), 4), np.nan)
    bb[hit] = lidar_bbox[li[hit]]
    if P2 is not None:
        bb[~hit] = project_boxes(tracks["box"][~hit], P2)
    return bb


# ----------------------------------------------------------------------------------------------
# the stage that tracks lidar + camera and produces the records


class CameraStage(Protocol):
    """Lidar + camera tracking, one KITTI frame at a time, producing engine-layout records."""

    def reset(self) -> None: ...

    def process(self, t_ns: int, lidar: np.ndarray, lidar_bbox: np.ndarray, cam_bbox: np.ndarray,
                cam_score: np.ndarray, P2: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Returns (3D track records incl. tracks deleted in this frame, image track records)."""
        ...


@dataclass
class _ImageTrack:
    id: int
    box: np.ndarray
    vel: np.ndarray
    t_ns: int
    birth_t_ns: int
    hits: int
    misses: int = 0
    score_sum: float = 0.0
    detection: int = -1

    def predict(self, t_ns: int) -> np.ndarray:
        return np.asarray(self.box + self.vel * ((t_ns - self.t_ns) / FRAME_NS))


@dataclass
class _Camera3D:
    """Camera bookkeeping of one lidar Tracker track."""

    out_id: int
    birth_t_ns: int
    confirmed_ever: bool = False
    cam_hits: int = 0
    cam_misses: int = 0
    cam_score_sum: float = 0.0
    cam_box: np.ndarray | None = None
    cam_t: int = -1
    prev_box: np.ndarray | None = None
    prev_t: int = -1
    last: np.ndarray | None = None  # last record, shape (1,)


class TrackerCameraStage:
    """The lidar ``Tracker`` (unchanged) followed by a camera stage in Python, writing engine records.

    Per frame: the Tracker steps on the lidar detections; each live track's 2D box (its lidar
    detection's box, else its 3D box projected) is associated with the camera boxes (exact
    assignment, 2D IoU >= ``match_iou``); camera boxes no 3D track took follow image tracks
    (constant-velocity box, same gate, confirmed after ``min_hits`` hits, deleted after more than
    ``max_age`` consecutive misses) or start new ones. Handover: a 3D track never confirmed before
    this frame that takes camera box j takes the id of the image track best overlapping j (IoU >=
    gate; the image track ends); a confirmed 3D track the Tracker deletes whose camera box was
    matched in its last frame continues as a confirmed image track with its id.

    The camera never changes the 3D state, the 3D association, births or deletions (the engine's
    camera with ``update_state = false``, ``counts_for_confirmation = false``, ``counts_for_coast = false``).
    """

    def __init__(self, config: TrackerConfig, class_id: int, params: CameraParams) -> None:
        self.tracker = Tracker(config)
        self.params = params
        cc = config.for_class(class_id)
        self.min_hits, self.max_age = cc.min_hits, cc.max_age
        self.seconds_tracker = 0.0
        self.reset()

    def reset(self) -> None:
        self.tracker.reset()
        self._t3: dict[int, _Camera3D] = {}
        self._t2: list[_ImageTrack] = []
        self._next_image_id = IMAGE_ID_BASE
        self.joins = 0
        self.leaves = 0

    def process(self, t_ns: int, lidar: np.ndarray, lidar_bbox: np.ndarray, cam_bbox: np.ndarray,
                cam_score: np.ndarray, P2: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        tr = self.tracker.step(lidar, t_ns)
        self.seconds_tracker += time.perf_counter() - t0
        p = self.params
        n = len(tr)
        rec = np.zeros(n, TRACK_RECORD_DTYPE)
        rec["t_ns"] = t_ns
        rec["status"] = tr["status"]
        rec["box"] = tr["box"]
        rec["hits"][:, LIDAR] = tr["hits"]
        rec["score_sum"][:, LIDAR] = tr["score"] * tr["hits"]
        rec["detection"][:, LIDAR] = tr["detection"]
        rec["misses"][:, LIDAR] = tr["time_since_update"]
        bb = track_boxes_2d(rec, lidar_bbox, P2)
        match = associate_boxes(bb, cam_bbox, p.match_iou)
        view = in_image(bb)
        rec["detection"][:, CAMERA] = match
        ids = tr["track_id"].tolist()
        # tracks the Tracker deleted in this step: a deleted record each; leave as an image track
        live = set(ids)
        gone = [k for k in self._t3 if k not in live]
        deleted = np.zeros(len(gone), TRACK_RECORD_DTYPE)
        for k, tid in enumerate(gone):
            s = self._t3.pop(tid)
            assert s.last is not None
            deleted[k] = s.last[0]
            last_t = int(s.last["t_ns"][0])
            if s.confirmed_ever and s.cam_box is not None and s.cam_t == last_t:
                vel = ((s.cam_box - s.prev_box) / max((s.cam_t - s.prev_t) / FRAME_NS, 1.0)
                       if s.prev_box is not None else np.zeros(4))
                self._t2.append(_ImageTrack(s.out_id, s.cam_box, vel, s.cam_t, s.birth_t_ns,
                                            max(self.min_hits, 1)))
                self.leaves += 1
        # joins, then the camera bookkeeping of the live 3D tracks
        preds = np.array([t.predict(t_ns) for t in self._t2]).reshape(-1, 4)
        taken = np.zeros(len(self._t2), bool)
        for i, tid in enumerate(ids):
            if tid not in self._t3:
                self._t3[tid] = _Camera3D(out_id=int(tid), birth_t_ns=t_ns)
            s = self._t3[tid]
            j = int(match[i])
            if j >= 0 and not s.confirmed_ever and len(self._t2):
                o = _iou(preds, cam_bbox[j:j + 1])[:, 0]
                o[taken] = -1.0
                k = int(np.argmax(o))
                if o[k] >= p.match_iou:
                    s.out_id = self._t2[k].id
                    taken[k] = True
                    self.joins += 1
            if j >= 0:
                s.prev_box, s.prev_t = s.cam_box, s.cam_t
                s.cam_box, s.cam_t = cam_bbox[j], t_ns
                s.cam_hits += 1
                s.cam_score_sum += float(cam_score[j])
            elif view[i]:
                s.cam_misses += 1
            s.confirmed_ever = s.confirmed_ever or int(tr["status"][i]) != TENTATIVE
            rec["id"][i] = s.out_id
            rec["birth_t_ns"][i] = s.birth_t_ns
            rec["confirmed_ever"][i] = s.confirmed_ever
            rec["hits"][i, CAMERA] = s.cam_hits
            rec["misses"][i, CAMERA] = s.cam_misses
            rec["score_sum"][i, CAMERA] = s.cam_score_sum
            s.last = rec[i:i + 1].copy()
        if taken.any():
            self._t2 = [t for t, x in zip(self._t2, taken) if not x]
            preds = preds[~taken]
        # image tracks on the camera boxes no 3D track took
        free = np.ones(len(cam_bbox), bool)
        free[match[match >= 0]] = False
        fi = np.nonzero(free)[0]
        m2 = associate_boxes(preds, cam_bbox[fi], p.match_iou)
        keep: list[_ImageTrack] = []
        for k, t in enumerate(self._t2):
            if m2[k] >= 0:
                j = int(fi[m2[k]])
                box = cam_bbox[j]
                t.vel = (box - t.box) / max((t_ns - t.t_ns) / FRAME_NS, 1.0)
                t.box, t.t_ns = box, t_ns
                t.hits += 1
                t.misses = 0
                t.score_sum += float(cam_score[j])
                t.detection = j
                free[j] = False
            else:
                t.misses += 1
                t.detection = -1
                if t.misses > self.max_age:
                    continue
            keep.append(t)
        for j in np.nonzero(free)[0].tolist():
            keep.append(_ImageTrack(self._next_image_id, cam_bbox[j], np.zeros(4), t_ns, t_ns, 1,
                                    score_sum=float(cam_score[j]), detection=j))
            self._next_image_id += 1
        self._t2 = keep
        img = np.zeros(len(keep), IMAGE_RECORD_DTYPE)
        for k, t in enumerate(keep):
            confirmed = t.hits >= self.min_hits
            img[k] = (t.id, t_ns, t.birth_t_ns, (COASTING if t.misses else CONFIRMED) if confirmed else TENTATIVE,
                      CAMERA, t.predict(t_ns), t.vel[:2], t.hits, t.misses, t.score_sum, t.detection, 0)
        deleted["status"] = DELETED
        deleted["t_ns"] = t_ns
        out = np.concatenate([rec, deleted]) if len(deleted) else rec
        return out[np.argsort(out["id"], kind="stable")], img[np.argsort(img["id"], kind="stable")]


class EngineCameraStage:
    """The multi-sensor engine (:class:`fusion.engine.FusionEngine`) as the stage: per frame the lidar
    frame (sensor 0: generic boxes ``x, y, z, yaw, l, w, h`` and logit scores), then the camera frame
    (sensor 1: image boxes and scores) at the same time, then the records (3D tracks including those
    deleted in this frame, image tracks). A new engine is built when the projection changes (one per
    sequence). ``with_camera=False``: the lidar sensor alone (the engine's lidar-only preset)."""

    def __init__(self, config: CategoryConfig, with_camera: bool = True) -> None:
        from fusion.engine import FusionEngine

        self._factory = FusionEngine
        self.config = config
        self.with_camera = with_camera
        self._P2: np.ndarray | None = None
        self.engine: Any = None
        self._empty_img = np.zeros(0, IMAGE_RECORD_DTYPE)

    def reset(self) -> None:
        """A new engine (ids start again, as the lidar Tracker's do after its reset)."""
        self.engine = None

    def process(self, t_ns: int, lidar: np.ndarray, lidar_bbox: np.ndarray, cam_bbox: np.ndarray,
                cam_score: np.ndarray, P2: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        same = P2 is None and self._P2 is None or (
            P2 is not None and self._P2 is not None and bool(np.array_equal(P2, self._P2)))
        if self.engine is None or (self.with_camera and not same):
            if self.with_camera and P2 is None:
                raise ConfigurationError("camera + lidar tracking needs the camera calibration (--calib)")
            self.engine = self._factory(self.config.engine_config(P2, self.with_camera))
            self._P2 = None if P2 is None else np.array(P2)
        eng = self.engine
        eng.process(LIDAR, t_ns, lidar["box"], score=lidar["score"])
        after_lidar = eng.tracks(include_deleted=True)
        if not self.with_camera:
            return after_lidar, self._empty_img
        # tracks are deleted in the lidar frame (the camera neither confirms nor keeps a track alive);
        # the next frame, the camera's, compacts them away: their records come from the lidar frame
        eng.process(CAMERA, t_ns, cam_bbox, score=cam_score)
        tracks = eng.tracks(include_deleted=True)
        gone = after_lidar[after_lidar["status"] == DELETED]
        if len(gone):
            gone = gone[~np.isin(gone["id"], tracks["id"][tracks["status"] == DELETED])]
            if len(gone):
                tracks = np.concatenate([tracks, gone])
        return tracks, eng.image_tracks()


# ----------------------------------------------------------------------------------------------
# the output policy over the records

#: why a row was written (:attr:`OutputPolicy.reasons`)
REASONS = ("lidar", "tentative", "coast", "camera")
_LIDAR_ROW, _TENTATIVE_ROW, _COAST_ROW, _CAMERA_ROW = range(4)


class _Rows:
    """Rows written so far, as per-frame array chunks."""

    def __init__(self) -> None:
        self.frame: list[np.ndarray] = []
        self.id: list[np.ndarray] = []
        self.bbox: list[np.ndarray] = []
        self.box: list[np.ndarray] = []
        self.score: list[np.ndarray] = []
        self.reason: list[np.ndarray] = []
        self.count = 0

    def add(self, f: int, ids: np.ndarray, bbox: np.ndarray, box: np.ndarray, score: np.ndarray,
            reason: np.ndarray) -> None:
        if not len(ids):
            return
        self.frame.append(np.full(len(ids), f, np.int64))
        self.id.append(ids)
        self.bbox.append(bbox)
        self.box.append(box)
        self.score.append(score)
        self.reason.append(reason)
        self.count += len(ids)

    def rows(self, type_name: str) -> TrackRows:
        if not self.frame:
            e = np.zeros((0, 3))
            return TrackRows.create([], [], type_name, np.zeros((0, 4)), e, e, [], score=[])
        box = np.concatenate(self.box)
        return TrackRows.create(np.concatenate(self.frame), np.concatenate(self.id), type_name,
                                np.concatenate(self.bbox), box[:, 0:3], box[:, 3:6], box[:, 6],
                                score=np.concatenate(self.score))


class _Evidence:
    """Camera log-odds sum and frame count per track id (ids kept sorted, as the records come)."""

    def __init__(self) -> None:
        self.ids = np.zeros(0, np.int64)
        self.sum = np.zeros(0)
        self.n = np.zeros(0)

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sum, n, found) for sorted or unsorted ``ids`` (0 where unknown)."""
        if not len(self.ids):
            z = np.zeros(len(ids))
            return z, z.copy(), np.zeros(len(ids), bool)
        i = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
        found = self.ids[i] == ids
        return np.where(found, self.sum[i], 0.0), np.where(found, self.n[i], 0.0), found

    def set(self, ids: np.ndarray, s: np.ndarray, n: np.ndarray) -> None:
        order = np.argsort(ids, kind="stable")
        self.ids, self.sum, self.n = ids[order], s[order], n[order]


class OutputPolicy:
    """Variant (g) of the camera + lidar study over engine-layout records, frame by frame (see the
    module docstring; :func:`sequence_rows` writes the same rows for a whole sequence at once).

    ``min_hits``: the lidar class's ``min_hits`` (AB3DMOT's start-up rule writes updated tentative
    tracks in the first ``min_hits`` frames); ``min_score``: the output threshold on the fused score.
    ``params=None``: no camera, the lidar-only rule of ``fusion kitti track`` (confirmed tracks,
    updated tentative ones in the first ``min_hits`` frames; mean lidar score; the lidar box).
    :meth:`reasons` counts the rows by why they were written (:data:`REASONS`).
    """

    def __init__(self, params: CameraParams | None, min_hits: int, min_score: float) -> None:
        self.camera = params is not None
        self.params = params if params is not None else CameraParams()
        self.min_hits = min_hits
        self.min_score = min_score
        self.floor_ev = float(camera_log_odds(0.0, self.params))
        self._w = self.params.weights()
        self.reset()

    def reset(self) -> None:
        self._ev3 = _Evidence()  # 3D tracks
        self._ev2 = _Evidence()  # image tracks
        self._birth3: dict[int, int] = {}  # live 3D id -> birth_t_ns, to follow id handovers (joins)
        self.out = _Rows()

    def _handover(self, ids: np.ndarray, births: np.ndarray, gone: np.ndarray) -> None:
        """A 3D id that was an image track's id in the previous frame took it over (join); the 3D id
        that vanished without a deleted record is the same track, and keeps its own camera evidence
        (the study's id-only handover): pairs by equal birth time, else one-to-one."""
        _, _, known = self._ev3.lookup(ids)
        _, _, was_image = self._ev2.lookup(ids)
        joined = ~known & was_image
        if joined.any():
            vanished = {k: b for k, b in self._birth3.items()
                        if k not in set(ids.tolist()) and k not in set(gone.tolist())}
            jl = list(zip(ids[joined].tolist(), births[joined].tolist()))
            add_ids, add_s, add_n = [], [], []
            for tid, b in jl:
                old = [k for k, bk in vanished.items() if bk == b]
                if not old and len(jl) == 1 and len(vanished) == 1:
                    old = list(vanished)
                if len(old) == 1:
                    s_, n_, _ = self._ev3.lookup(np.array(old))
                    add_ids.append(tid)
                    add_s.append(float(s_[0]))
                    add_n.append(float(n_[0]))
                    del vanished[old[0]]
            keep2 = ~np.isin(self._ev2.ids, ids[joined])
            self._ev2.set(self._ev2.ids[keep2], self._ev2.sum[keep2], self._ev2.n[keep2])
            if add_ids:
                self._ev3.set(np.concatenate([self._ev3.ids, add_ids]), np.concatenate([self._ev3.sum, add_s]),
                              np.concatenate([self._ev3.n, add_n]))
        self._birth3 = dict(zip(ids.tolist(), births.tolist()))

    def frame(self, f: int, t_ns: int, tracks: np.ndarray, image_tracks: np.ndarray, lidar_bbox: np.ndarray,
              cam_bbox: np.ndarray, cam_score: np.ndarray, P2: np.ndarray | None) -> None:
        """Add the rows of frame ``f`` (deleted records in ``tracks`` / ``image_tracks`` are skipped,
        after handing a leaving track's evidence to its image track)."""
        if not self.camera:
            self._lidar_only(f, tracks, lidar_bbox, P2)
            return
        st3 = tracks["status"]
        deleted = st3 == DELETED
        gone = tracks["id"][deleted]
        if deleted.any():
            tracks = tracks[~deleted]
        ids = tracks["id"]
        # a deleted track's evidence goes to the image track it may continue as (leave); its id may
        # also be taken over in this frame by a newborn 3D track (leave, then join), which starts afresh
        gone_s, gone_n, gone_found = self._ev3.lookup(gone)
        if len(gone):
            keep = ~np.isin(self._ev3.ids, gone)
            self._ev3.set(self._ev3.ids[keep], self._ev3.sum[keep], self._ev3.n[keep])
        self._handover(ids, tracks["birth_t_ns"], gone)
        # 3D tracks: camera evidence over the frames they are in the image
        bb3 = track_boxes_2d(tracks, lidar_bbox, P2)
        view = in_image(bb3)
        li = tracks["detection"][:, LIDAR]
        cj = tracks["detection"][:, CAMERA]
        matched = cj >= 0
        ev = np.full(len(ids), self.floor_ev)
        if matched.any():
            ev[matched] = camera_log_odds(cam_score[cj[matched]], self.params)
        s3, n3, _ = self._ev3.lookup(ids)
        s3 = s3 + np.where(view, ev, 0.0)
        n3 = n3 + view
        self._ev3.set(ids, s3, n3)
        hits = tracks["hits"][:, LIDAR]
        score = np.where(hits > 0, tracks["score_sum"][:, LIDAR] / np.maximum(hits, 1), -np.inf)
        score = score + np.where(n3 > 0, s3 / np.maximum(n3, 1.0), 0.0)
        # the lidar decides: "confirmed" (ever; status is the engine's after the LATEST sensor frame,
        # here the camera's) and "updated by the lidar in this frame" (the old tracker's CONFIRMED)
        confirmed = tracks["status"] != TENTATIVE
        lid = li >= 0
        sel = confirmed & lid
        if f < self.min_hits:
            sel |= lid
        tent = ~confirmed & lid & matched & ~sel
        coast = confirmed & ~lid & matched if self.params.coast_fill else np.zeros(len(ids), bool)
        out_bb = bb3.copy()
        out_bb[matched] = cam_bbox[cj[matched]]
        sel = (sel | tent | coast) & (score >= self.min_score) & np.isfinite(out_bb).all(1)
        if sel.any():
            if self.params.box_fusion:
                both = sel & matched & lid
                if both.any():
                    out_bb[both] = fused_box(cam_bbox[cj[both]], bb3[both], tracks["box"][both, 0], self.params)
            reason = np.where(coast, _COAST_ROW, np.where(tent, _TENTATIVE_ROW, _LIDAR_ROW))
            self.out.add(f, ids[sel], out_bb[sel], generic_to_camera_box(tracks["box"][sel]), score[sel],
                         reason[sel])
        if not self.params.camera_only:
            return
        # image tracks (camera-only targets); a 3D track that left keeps its evidence
        image_tracks = image_tracks[image_tracks["status"] != DELETED]
        iid = image_tracks["id"]
        s2, n2, found = self._ev2.lookup(iid)
        if len(gone) and not found.all():
            lv = ~found & np.isin(iid, gone[gone_found])
            if lv.any():
                k = np.searchsorted(gone, iid[lv]) if np.all(np.diff(gone) > 0) else \
                    np.array([int(np.nonzero(gone == x)[0][0]) for x in iid[lv].tolist()])
                s2[lv], n2[lv] = gone_s[k], gone_n[k]
        dj = image_tracks["detection"]
        hit2 = dj >= 0
        ev2 = np.full(len(iid), self.floor_ev)
        if hit2.any():
            ev2[hit2] = camera_log_odds(cam_score[dj[hit2]], self.params)
        s2 = s2 + ev2
        n2 = n2 + 1.0
        self._ev2.set(iid, s2, n2)
        mean2 = s2 / n2
        w = hit2 & (mean2 >= self.min_score)
        if f >= self.min_hits:
            w &= image_tracks["status"] == CONFIRMED
        if w.any():
            nw = int(w.sum())
            self.out.add(f, iid[w], cam_bbox[dj[w]], np.tile(NO_3D, (nw, 1)), mean2[w],
                         np.full(nw, _CAMERA_ROW))

    def _lidar_only(self, f: int, tracks: np.ndarray, lidar_bbox: np.ndarray, P2: np.ndarray | None) -> None:
        tracks = tracks[tracks["status"] != DELETED]
        li = tracks["detection"][:, LIDAR]
        hits = tracks["hits"][:, LIDAR]
        score = np.where(hits > 0, tracks["score_sum"][:, LIDAR] / np.maximum(hits, 1), -np.inf)
        sel = (li >= 0) & ((tracks["status"] != TENTATIVE) | (f < self.min_hits))
        sel &= score >= self.min_score
        if not sel.any():
            return
        tracks, score = tracks[sel], score[sel]
        bb = track_boxes_2d(tracks, lidar_bbox, P2)
        ok = np.isfinite(bb).all(1)
        self.out.add(f, tracks["id"][ok], bb[ok], generic_to_camera_box(tracks["box"][ok]), score[ok],
                     np.full(int(ok.sum()), _LIDAR_ROW))

    def rows(self, type_name: str) -> TrackRows:
        """The rows written so far, in frame order (within a frame: 3D tracks, then image tracks)."""
        return self.out.rows(type_name)

    def reasons(self) -> dict[str, int]:
        r = np.concatenate(self.out.reason) if self.out.reason else np.zeros(0, np.int64)
        return {k: int((r == i).sum()) for i, k in enumerate(REASONS)}


def _cat(parts: list[np.ndarray], shape: tuple[int, ...], dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Concatenation of per-frame arrays and each frame's offset into it."""
    off = np.zeros(len(parts) + 1, np.int64)
    off[1:] = np.cumsum([len(p) for p in parts])
    return (np.concatenate(parts).reshape((-1,) + shape).astype(dtype, copy=False) if len(parts)
            else np.zeros((0,) + shape, dtype)), off


def _segmented_cumsum(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Inclusive running sum of ``values`` within runs of equal ``group`` (consecutive entries)."""
    cs = np.cumsum(values)
    if not len(values):
        return cs
    start = np.r_[True, group[1:] != group[:-1]]
    first = np.maximum.accumulate(np.where(start, np.arange(len(values)), 0))
    return np.asarray(cs - (cs - values)[first])


def sequence_rows(params: CameraParams | None, min_hits: int, min_score: float,
                  records: list[tuple[np.ndarray, np.ndarray]], lidar_bbox: list[np.ndarray],
                  cam_bbox: list[np.ndarray], cam_score: list[np.ndarray], P2: np.ndarray | None,
                  type_name: str) -> tuple[TrackRows, np.ndarray]:
    """The rows :class:`OutputPolicy` writes for a whole sequence, computed at once from every
    frame's records (``records[f] = (tracks, image_tracks)`` as a stage returns them): the same rows
    in the same order (scores equal up to rounding: the running sums are summed differently).
    Returns the rows and why each was written (indices into :data:`REASONS`)."""
    nf = len(records)
    cam = params is not None
    p = params if params is not None else CameraParams()
    floor_ev = float(camera_log_odds(0.0, p))
    t_all = np.concatenate([r[0] for r in records]) if nf else np.zeros(0, TRACK_RECORD_DTYPE)
    t_f = np.repeat(np.arange(nf), [len(r[0]) for r in records])
    dele = t_all["status"] == DELETED
    tr, f3 = t_all[~dele], t_f[~dele]
    LB, loff = _cat(lidar_bbox[:nf], (4,))
    span = nf + 2  # key = id * span + frame; key - 1 is the same id one frame earlier
    ids = tr["id"].astype(np.int64)
    key3 = ids * span + f3
    keyD = np.sort(t_all["id"][dele].astype(np.int64) * span + t_f[dele])
    li = tr["detection"][:, LIDAR].astype(np.int64)
    lid = li >= 0
    bb3 = np.full((len(tr), 4), np.nan)
    bb3[lid] = LB[loff[f3[lid]] + li[lid]]
    if P2 is not None and (~lid).any():
        bb3[~lid] = project_boxes(tr["box"][~lid], P2)
    hits = tr["hits"][:, LIDAR]
    score = np.where(hits > 0, tr["score_sum"][:, LIDAR] / np.maximum(hits, 1), -np.inf)
    confirmed = tr["status"] != TENTATIVE
    out_f: list[np.ndarray] = []
    out_kind: list[np.ndarray] = []
    out_id: list[np.ndarray] = []
    out_bb: list[np.ndarray] = []
    out_box: list[np.ndarray] = []
    out_score: list[np.ndarray] = []
    out_reason: list[np.ndarray] = []

    def emit(m: np.ndarray, f: np.ndarray, kind: int, i: np.ndarray, bb: np.ndarray, box: np.ndarray,
             sc: np.ndarray, reason: np.ndarray) -> None:
        out_f.append(f[m])
        out_kind.append(np.full(int(m.sum()), kind))
        out_id.append(i[m])
        out_bb.append(bb[m])
        out_box.append(box[m])
        out_score.append(sc[m])
        out_reason.append(reason[m])

    if not cam:
        sel = lid & (confirmed | (f3 < min_hits)) & (score >= min_score) & np.isfinite(bb3).all(1)
        if sel.any():
            emit(sel, f3, 0, ids, bb3, generic_to_camera_box(tr["box"]), score, np.full(len(tr), _LIDAR_ROW))
    else:
        CB, coff = _cat(cam_bbox[:nf], (4,))
        CS, _ = _cat(cam_score[:nf], ())
        img = np.concatenate([r[1] for r in records]) if nf else np.zeros(0, IMAGE_RECORD_DTYPE)
        i_f = np.repeat(np.arange(nf), [len(r[1]) for r in records])
        keep = img["status"] != DELETED
        img, i_f = img[keep], i_f[keep]
        iid = img["id"].astype(np.int64)
        keyI = np.sort(iid * span + i_f)
        s3k = np.sort(key3)
        # 3D track instances: a run of one id, or a newborn track taking over an id (leave then join in
        # one frame); a join continues the instance of the 3D id that vanished (id-only handover)
        start = ~_isin_sorted(key3 - 1, s3k) | _isin_sorted(key3, keyD)
        order = np.lexsort((f3, ids))
        base = np.empty(len(tr), np.int64)
        st_o = start[order]
        base[order] = order[np.maximum.accumulate(np.where(st_o, np.arange(len(order)), 0))] if len(order) else 0
        joined = start & _isin_sorted(key3 - 1, keyI)
        alias: dict[int, int] = {}

        def rep(x: int) -> int:
            while x in alias:
                x = alias[x]
            return x

        if joined.any():
            nxt = key3 + 1
            van = ~_isin_sorted(nxt, s3k) & ~_isin_sorted(nxt, keyD) & (f3 + 1 < nf)
            van_by_f: dict[int, dict[int, tuple[int, int]]] = {}
            for r in np.nonzero(van)[0].tolist():
                van_by_f.setdefault(int(f3[r]) + 1, {})[int(ids[r])] = (int(tr["birth_t_ns"][r]), r)
            jr = np.nonzero(joined)[0]
            for fr in np.unique(f3[jr]).tolist():
                vanished = van_by_f.get(fr, {})
                rows_j = jr[f3[jr] == fr]
                rows_j = rows_j[np.argsort(ids[rows_j], kind="stable")]
                for r in rows_j.tolist():
                    b = int(tr["birth_t_ns"][r])
                    old = [k for k, (bk, _) in vanished.items() if bk == b]
                    if not old and len(rows_j) == 1 and len(vanished) == 1:
                        old = list(vanished)
                    if len(old) == 1:
                        alias[int(base[r])] = rep(int(base[vanished[old[0]][1]]))
                        del vanished[old[0]]
        label = np.array([rep(x) for x in base.tolist()], np.int64) if alias else base
        cj = tr["detection"][:, CAMERA].astype(np.int64)
        matched = cj >= 0
        view = in_image(bb3)
        ev = np.full(len(tr), floor_ev)
        ev[matched] = camera_log_odds(CS[coff[f3[matched]] + cj[matched]], p)
        o3 = np.lexsort((f3, label))
        s3 = np.empty(len(tr))
        n3 = np.empty(len(tr))
        s3[o3] = _segmented_cumsum(np.where(view, ev, 0.0)[o3], label[o3])
        n3[o3] = _segmented_cumsum(view[o3].astype(np.float64), label[o3])
        score = score + np.where(n3 > 0, s3 / np.maximum(n3, 1.0), 0.0)
        sel = lid & (confirmed | (f3 < min_hits))
        tent = ~confirmed & lid & matched & ~sel
        coast = confirmed & ~lid & matched if p.coast_fill else np.zeros(len(tr), bool)
        obb = bb3.copy()
        obb[matched] = CB[coff[f3[matched]] + cj[matched]]
        sel = (sel | tent | coast) & (score >= min_score) & np.isfinite(obb).all(1)
        if p.box_fusion:
            both = sel & matched & lid
            if both.any():
                obb[both] = fused_box(obb[both], bb3[both], tr["box"][both, 0], p)
        if sel.any():
            reason = np.where(coast, _COAST_ROW, np.where(tent, _TENTATIVE_ROW, _LIDAR_ROW))
            emit(sel, f3, 0, ids, obb, generic_to_camera_box(tr["box"]), score, reason)
        if p.camera_only and len(img):
            # image tracks: a run of one id; one that starts as a 3D track is deleted (leave) starts
            # from that track's evidence up to the frame before
            keyi = iid * span + i_f
            starti = ~_isin_sorted(keyi - 1, keyI)
            dj = img["detection"].astype(np.int64)
            hit2 = dj >= 0
            ev2 = np.full(len(img), floor_ev)
            ev2[hit2] = camera_log_odds(CS[coff[i_f[hit2]] + dj[hit2]], p)
            init_s = np.zeros(len(img))
            init_n = np.zeros(len(img))
            lv = starti & _isin_sorted(keyi, keyD) & _isin_sorted(keyi - 1, s3k)
            if lv.any():
                k3 = np.argsort(key3)
                at = k3[np.searchsorted(key3[k3], keyi[lv] - 1)]
                init_s[lv], init_n[lv] = s3[at], n3[at]
            oi = np.lexsort((i_f, iid))
            grp = np.maximum.accumulate(np.where(starti[oi], np.arange(len(oi)), 0))
            s2 = np.empty(len(img))
            n2 = np.empty(len(img))
            s2[oi] = _segmented_cumsum(ev2[oi] + np.where(starti[oi], init_s[oi], 0.0), grp)
            n2[oi] = _segmented_cumsum(1.0 + np.where(starti[oi], init_n[oi], 0.0), grp)
            mean2 = s2 / n2
            w = hit2 & (mean2 >= min_score) & ((i_f < min_hits) | (img["status"] == CONFIRMED))
            if w.any():
                bb2 = np.zeros((len(img), 4))
                bb2[hit2] = CB[coff[i_f[hit2]] + dj[hit2]]
                emit(w, i_f, 1, iid, bb2, np.broadcast_to(NO_3D, (len(img), 7)), mean2,
                     np.full(len(img), _CAMERA_ROW))
    if not out_f:
        e = np.zeros((0, 3))
        return TrackRows.create([], [], type_name, np.zeros((0, 4)), e, e, [], score=[]), np.zeros(0, np.int64)
    F, K, I = np.concatenate(out_f), np.concatenate(out_kind), np.concatenate(out_id)
    o = np.lexsort((I, K, F))
    box = np.concatenate(out_box)[o]
    rows = TrackRows.create(F[o], I[o], type_name, np.concatenate(out_bb)[o], box[:, 0:3], box[:, 3:6], box[:, 6],
                            score=np.concatenate(out_score)[o])
    return rows, np.concatenate(out_reason)[o]


def _isin_sorted(x: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """``np.isin(x, sorted_keys)`` for a sorted key array."""
    if not len(sorted_keys):
        return np.zeros(len(x), bool)
    i = np.minimum(np.searchsorted(sorted_keys, x), len(sorted_keys) - 1)
    return np.asarray(sorted_keys[i] == x)


# ----------------------------------------------------------------------------------------------
# sequences and the command


def track_sequence_camera(stage: CameraStage, params: CameraParams | None, min_hits: int, min_score: float,
                          dets: list[np.ndarray], bboxes: list[np.ndarray], cam_bbox: list[np.ndarray],
                          cam_score: list[np.ndarray], P2: np.ndarray | None,
                          type_name: str = "Car") -> tuple[TrackRows, float, np.ndarray]:
    """Run one sequence through ``stage`` and write its rows by the output policy (:func:`sequence_rows`,
    ``params=None``: the lidar-only rule). Returns the rows, the seconds spent in ``stage.process``
    and why each row was written (indices into :data:`REASONS`)."""
    stage.reset()
    spent = 0.0
    n = len(dets)
    cb = [cam_bbox[f] if f < len(cam_bbox) else np.zeros((0, 4)) for f in range(n)]
    cs = [cam_score[f] if f < len(cam_score) else np.zeros(0) for f in range(n)]
    records = []
    for f in range(n):
        t0 = time.perf_counter()
        records.append(stage.process(f * FRAME_NS, dets[f], bboxes[f], cb[f], cs[f], P2))
        spent += time.perf_counter() - t0
    rows, reasons = sequence_rows(params, min_hits, min_score, records, bboxes, cb, cs, P2, type_name)
    return rows, spent, reasons


def _camera_columns(folder: Path) -> int | None:
    """Number of comma separated fields of the first non-empty line among the folder's ``*.txt`` files
    (None: no such line). Undecodable bytes are replaced here; the reader reports them with the file."""
    for f in sorted(folder.glob("*.txt")):
        with open(f, encoding="utf-8", errors="replace") as fh:
            for raw in fh:
                if raw.strip():
                    return len(raw.split(","))
    return None


def camera_dirs(cam_dir: Path, cats: list[str]) -> dict[str, Path]:
    """Category -> camera detection folder: among ``cam_dir``'s ``<name>_Car`` / ``<name>_Pedestrian`` ...
    folders, the one whose files have the 6 camera columns (the folder may also hold lidar detection
    folders, as KITTI's ``detections/`` does). Categories without one are left out (they run lidar-only),
    unless the only folder of that category holds no detection at all: that is an error naming it, not a
    silent lidar-only run."""
    found: dict[str, list[Path]] = {}
    empty: dict[str, list[Path]] = {}
    for p in sorted(cam_dir.iterdir()) if cam_dir.is_dir() else []:
        for cat in CATEGORY_IDS:
            if p.is_dir() and p.name.lower().endswith("_" + cat):
                cols = _camera_columns(p)
                if cols == 6:
                    found.setdefault(cat, []).append(p)
                elif cols is None:
                    empty.setdefault(cat, []).append(p)
    for cat in cats:
        if cat not in found and cat in empty:
            raise ConfigurationError(f"--camera-detections {cam_dir}: {', '.join(p.name for p in empty[cat])} holds no "
                                     f"detection (no *.txt file with a row); fill it, or remove it to track {cat} "
                                     "lidar-only")
    if not found:
        raise ConfigurationError(f"--camera-detections {cam_dir}: no <name>_Car / <name>_Pedestrian folder of "
                                 "camera detections (frame, x1, y1, x2, y2, score)")
    for cat, ps in found.items():
        if len(ps) > 1:
            raise ConfigurationError(f"--camera-detections {cam_dir}: several camera folders for {cat}: "
                                     f"{', '.join(p.name for p in ps)}")
    return {c: ps[0] for c, ps in found.items() if c in cats}


STAGES = ("engine", "tracker")


def run_camera_tracking(cfg: TrackerConfig, output: dict[str, Any], detections: str | os.PathLike[str],
                        camera: str | os.PathLike[str] | None, seqmap: str | os.PathLike[str],
                        out: str | os.PathLike[str], categories: list[str] | None = None, calib: str | None = None,
                        camera_config: str | None = None, stage: str = "engine",
                        quiet: bool = True) -> dict[str, tuple[int, float]]:
    """``fusion kitti track --camera-detections DIR``: camera + lidar for every category that has a
    camera folder and camera parameters, today's lidar-only tracker (``cfg``) for the others
    (cyclist: RRC has none), so those files are exactly the lidar-only ones.

    ``stage``: ``"engine"`` (the multi-sensor engine, :class:`EngineCameraStage`) or ``"tracker"``
    (the lidar Tracker plus the Python camera stage, :class:`TrackerCameraStage`). ``camera=None``
    with the engine: every category through the engine's lidar-only preset (``fusion kitti track
    --engine``), written by the lidar-only rule. ``output`` gives the output threshold
    (``min_output_score``). Returns category -> (frames, seconds spent in the tracking stage)."""
    from fusion.kitti.track import _category_dirs, _find_calib, detections_by_frame, track_sequence

    if stage not in STAGES:
        raise ConfigurationError(f"stage: expected one of {', '.join(STAGES)}, got {stage!r}")
    det_dir = Path(detections)
    cats, nested = _category_dirs(det_dir, categories)
    cam_dirs = camera_dirs(Path(camera), list(cats)) if camera is not None else {}
    fcfg = load_fusion_config(camera_config)
    entries = read_seqmap(seqmap)
    calib_dir = _find_calib(det_dir, calib)
    stats: dict[str, tuple[int, float]] = {}
    for cat, folder in cats.items():
        out_dir = Path(out) / cat if nested else Path(out)
        out_dir.mkdir(parents=True, exist_ok=True)
        cid = CATEGORY_IDS[cat]
        min_score = output["min_output_score"]
        if isinstance(min_score, dict):
            min_score = min_score.get(cat, -np.inf)
        cc = fcfg.get(cat)
        use_cam = cat in cam_dirs and cc is not None and cc.camera is not None
        st: CameraStage | None = None
        params: CameraParams | None = None
        min_hits = cfg.for_class(cid).min_hits
        mode = "lidar only"
        if use_cam and cc is not None and cc.camera is not None:
            st = EngineCameraStage(cc) if stage == "engine" else TrackerCameraStage(cfg, cid, cc.camera)
            params = cc.camera
            min_hits = cc.min_hits if stage == "engine" else min_hits
            mode = f"camera + lidar, {stage}"
        elif camera is None and stage == "engine":
            if cc is None:
                raise ConfigurationError(f"{camera_config or DEFAULT_CAMERA_CONFIG}: no [kitti.{cat}] table")
            st = EngineCameraStage(cc, with_camera=False)
            min_hits = cc.min_hits
            mode = "lidar only, engine"
        lidar_only = Tracker(cfg)
        frames, spent = 0, 0.0
        for entry in entries:
            n = entry.first_frame + entry.n_frames
            dets, bbs = detections_by_frame(folder / f"{entry.name}.txt", cid, n)
            P2 = None
            if calib_dir is not None and (calib_dir / f"{entry.name}.txt").is_file():
                P2 = read_calib(calib_dir / f"{entry.name}.txt").P2
            if st is not None:
                if cat in cam_dirs:
                    cb, cs = read_camera_detections(cam_dirs[cat] / f"{entry.name}.txt").by_frame(len(dets))
                else:
                    cb, cs = [], []
                rows, sec, _ = track_sequence_camera(st, params, min_hits, float(min_score), dets, bbs, cb, cs, P2,
                                                     DETECTION_TYPES[cid])
            else:
                rows, sec = track_sequence(lidar_only, dets, bbs, cid, P2, output)
            write_results(out_dir / f"{entry.name}.txt", rows)
            frames += len(dets)
            spent += sec
            if not quiet:
                print(f"{cat} {entry.name}: {len(dets)} frames, {len(np.unique(rows.track_id))} tracks, "
                      f"{len(dets) / max(sec, 1e-9):.0f} FPS ({mode})", flush=True)
        stats[cat] = (frames, spent)
        if not quiet:
            print(f"{cat}: {frames} frames in {spent:.3f} s of tracking = {frames / max(spent, 1e-9):.0f} FPS "
                  f"({mode}) -> {out_dir}", flush=True)
    return stats
