"""One multi-sensor fusion cycle: fusion's FusionEngine next to Stone Soup in the same run
(issue 8 §4: 64 tracks, 200 detections from three sensors, target under 1 ms).

The scene (seeded, static ego, vehicle frame = tracking frame): 64 cars 12-115 m ahead of the
ego vehicle driving at 4.5-5.5 m/s, at least 6 m apart on the ground and 25 px apart in the
image, all inside the view of three sensors that report every car in every cycle (100 ms):

- ``lidar`` (t + 0 ms): 3D boxes x, y, z, yaw, l, w, h (mounted at the origin);
- ``radar`` (t + 10 ms): range, azimuth, range rate (planar, front bumper 3.7 m forward), one
  return per car plus 8 clutter returns (uniform in range, azimuth and range rate, at least 5 m
  from every car);
- ``camera`` (t + 20 ms): image boxes x1, y1, x2, y2 of the projected 3D box (pinhole, focal
  length 1000 px, 1280 x 720 image, 1.5 m up).

So one cycle is 64 + 72 + 64 = 200 detections in three sensor frames, each frame's detections
in a random order. The noise is Gaussian, truncated to the chi-square 0.95 ellipsoid of R, so
every car's detection is inside the gate and a wrong association is the tracker's fault. Both
trackers use the constant-velocity box state (x, y, z, vx, vy, vz and a random-walk yaw, l, w,
h), EKF updates with the three measurement models, a squared-Mahalanobis gate at probability
0.999 (the chi-square quantile with M degrees of freedom), the optimal (GNN) assignment per
sensor frame over the tracks in the sensor's view, births from unassigned lidar and radar
detections, and tentative tracks deleted when their existence (IPDA miss recursion, Pd 0.9)
falls below 0.01.

Cases (group ``fusion-cycle``):
- ``fusion``: one :class:`~fusion.engine.FusionEngine` with the three sensors, each frame through
  ``process`` (its Python checks included). The pedantic setup builds a new engine and runs
  WARMUP = 8 cycles (the 64 tracks confirmed, the clutter's tentative tracks living and dying);
  the timed call is the next cycle, three ``process`` calls. Every round repeats the same state
  and cycle.
- ``stonesoup``: Stone Soup doing the same tracking of the same cycle: an
  ``ExtendedKalmanPredictor`` (its ``ConstantVelocity`` and ``RandomWalk`` transition models;
  its CV noise is the continuous white-noise form, the engine's the discretised one, same
  ``accel_std``), one ``ExtendedKalmanUpdater`` per sensor with ``LinearGaussian`` (lidar box),
  ``CartesianToBearingRangeRate2D`` (the planar radar, with its mount offset) and
  :class:`PinholeBoxModel` (written here: a ``NonLinearGaussianMeasurement`` projecting the
  box's corners through the pinhole; Stone Soup differentiates it numerically), a
  ``DistanceHypothesiser`` with the ``Mahalanobis`` measure per sensor and
  ``GNNWith2DAssignment``; the births, field-of-view test and tentative-track deletion are thin
  code here mirroring the engine's. Its tracks are the engine's live tracks after the warm-up
  (same states, covariances, times and existences; the pedantic setup makes them afresh each
  round), so both start the timed cycle from the same 64 confirmed tracks plus the same
  tentative ones. Its timed cycle includes making the ``Detection`` objects.

Each case asserts its result after the timed cycle: every car keeps its confirmed track (the
same id), took its own detection from each of the three sensors, position error at most 0.3 m
(RMS over the cars under 0.1 m; both trackers give about 0.08 m), and the tracks born in the
cycle (at most the 8 clutter returns) are all more than 3 m from every car.

Group ``fusion-frame`` times each sensor frame of the same cycle alone (where the time goes).

Run:
    python -m pytest benchmarks/bench_fusion.py --benchmark-enable --benchmark-only \\
        --benchmark-columns=min,median,mean,rounds
With the repo default ``--benchmark-disable`` each case runs its cycle once as a test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pytest
from scipy.stats import chi2

from fusion.engine import COASTING, CONFIRMED, EngineConfig, FieldOfView, FusionEngine, SensorConfig

N_OBJ = 64
N_CLUTTER = 8
WARMUP = 8  # cycles before the timed one
CYCLE_NS = 100_000_000
OFFSET_NS = {"lidar": 0, "radar": 10_000_000, "camera": 20_000_000}
SENSORS = ("lidar", "radar", "camera")
GATE_P = 0.999  # gate probability (chi-square quantile, M degrees of freedom) of both trackers
ACCEL_STD = 2.0
POS_TOL_M, POS_RMS_M = 0.3, 0.1  # position error after the cycle: max and RMS over the cars
MIN_SEP_M, MIN_SEP_PX = 6.0, 25.0  # between cars: on the ground, and their image boxes (L2 of x1..y2)

# Mounts (vehicle frame, x forward, y left, z up; identity rotations).
RADAR_T = np.array([3.7, 0.0, 0.5])
CAMERA_T = np.array([0.0, 0.0, 1.5])
FOCAL, IMG_W, IMG_H = 1000.0, 1280.0, 720.0
PROJECTION = np.array([[FOCAL, 0.0, IMG_W / 2, 0.0], [0.0, FOCAL, IMG_H / 2, 0.0], [0.0, 0.0, 1.0, 0.0]])

# Measurement noise (also the sensors' default R in the engine).
R_LIDAR = np.diag([0.15, 0.15, 0.1, 0.05, 0.1, 0.05, 0.05]) ** 2
R_RADAR = np.diag([0.5, 0.01, 0.2]) ** 2  # range, azimuth, range rate
R_CAMERA = np.eye(4) * 3.0 ** 2

# Lifecycle of tentative tracks (the engine's defaults, mirrored by the Stone Soup runner).
PD, GATE_PD, BIRTH_EXISTENCE, DELETE_EXISTENCE = 0.9, 0.99, 0.5, 0.01

# Engine state order (cv_box) -> Stone Soup order (x, vx, y, vy, z, vz, yaw, l, w, h).
ENGINE_TO_SS = np.array([0, 3, 1, 4, 2, 5, 6, 7, 8, 9])
SS_BOX = (0, 2, 4, 6, 7, 8, 9)  # x, y, z, yaw, l, w, h in the Stone Soup state


# ---------------------------------------------------------------- geometry (truth and Stone Soup)
_SIGNS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)  # (8, 3)


def project_boxes(box: np.ndarray) -> np.ndarray:
    """Image boxes (k, 4) x1, y1, x2, y2 [px] of 3D boxes (k, 7) x, y, z, yaw, l, w, h in the
    vehicle frame, seen by the camera (mount CAMERA_T, boresight along x; optical frame x right,
    y down, z forward): the min/max of the eight projected corners."""
    x, y, z, yaw, ln, wd, ht = (box[:, i, None] for i in range(7))
    c, s = np.cos(yaw), np.sin(yaw)
    dx, dy, dz = _SIGNS[None, :, 0] * ln / 2, _SIGNS[None, :, 1] * wd / 2, _SIGNS[None, :, 2] * ht / 2
    cx = x + c * dx - s * dy - CAMERA_T[0]
    cy = y + s * dx + c * dy - CAMERA_T[1]
    cz = z + dz - CAMERA_T[2]
    ox, oy, oz = -cy, -cz, cx  # optical frame
    u = (PROJECTION[0, 0] * ox + PROJECTION[0, 1] * oy + PROJECTION[0, 2] * oz) / oz
    v = (PROJECTION[1, 0] * ox + PROJECTION[1, 1] * oy + PROJECTION[1, 2] * oz) / oz
    return np.stack([u.min(1), v.min(1), u.max(1), v.max(1)], axis=1)


def radar_polar(pos: np.ndarray, vel: np.ndarray) -> np.ndarray:
    """(k, 3) range, azimuth, range rate of targets at pos (k, >= 2) moving at vel (k, >= 2),
    seen by the static planar radar at RADAR_T."""
    q = pos[:, :2] - RADAR_T[:2]
    r = np.hypot(q[:, 0], q[:, 1])
    return np.stack([r, np.arctan2(q[:, 1], q[:, 0]), np.sum(q * vel[:, :2], axis=1) / r], axis=1)


def in_view(sensor: str, x: np.ndarray) -> bool:
    """Whether a Stone Soup state x (x, vx, y, vy, z, ...) is in the sensor's field of view as
    configured for the engine (lidar 0.5-150 m all round; radar +-60 degrees, 0.5-200 m from
    its mount; camera: the pinhole's half-angles, up to 150 m, and a box of non-zero size)."""
    p = np.array([x[0], x[2], x[4]])
    if sensor == "lidar":
        return 0.5 <= float(np.linalg.norm(p)) <= 150.0
    if sensor == "radar":
        q = p - RADAR_T
        return 0.5 <= float(np.linalg.norm(q)) <= 200.0 and abs(math.atan2(q[1], q[0])) <= math.radians(60.0)
    q = p - CAMERA_T
    if not (0.0 < float(np.linalg.norm(q)) <= 150.0 and abs(math.atan2(q[1], q[0])) <= math.atan2(IMG_W / 2, FOCAL)
            and abs(math.atan2(q[2], math.hypot(q[0], q[1]))) <= math.atan2(IMG_H / 2, FOCAL)):
        return False
    # The engine's camera model is undefined for a box of zero width or height in the image (a
    # radar-born track has no extent yet): such a track is not associated with camera boxes.
    img = project_boxes(x[None, list(SS_BOX)])[0]
    return bool(img[2] > img[0] and img[3] > img[1])


# ---------------------------------------------------------------- the scene
@dataclass
class Frame:
    sensor: str
    t_ns: int
    z: np.ndarray  # (n, M) in the sensor model's units, detections in random order
    obj_det: np.ndarray  # (N_OBJ,) index in z of each car's detection


@dataclass
class Scene:
    box0: np.ndarray  # (N_OBJ, 7) boxes at t = 0
    vel: np.ndarray  # (N_OBJ, 3)
    cycles: list[list[Frame]] = field(default_factory=list)

    def boxes(self, t_ns: int) -> np.ndarray:
        b = self.box0.copy()
        b[:, :3] += self.vel * (t_ns * 1e-9)
        return b


def _make_scene(seed: int = 8) -> Scene:
    rng = np.random.default_rng(seed)
    t_end = (WARMUP + 1) * CYCLE_NS + OFFSET_NS["camera"]
    boxes = np.zeros((0, 7))
    vels = np.zeros((0, 3))
    tries = 0
    while len(boxes) < N_OBJ:
        tries += 1
        assert tries < 100_000, "could not place the cars"
        x0 = rng.uniform(12.0, 110.0)
        v = np.array([rng.uniform(4.5, 5.5), rng.uniform(-0.2, 0.2), 0.0])
        ln, wd, ht = rng.uniform(3.8, 4.8), rng.uniform(1.7, 2.0), rng.uniform(1.4, 1.7)
        b = np.array([x0, rng.uniform(-0.5, 0.5) * x0, ht / 2, math.atan2(v[1], v[0]), ln, wd, ht])
        ok = True
        for t in (0.0, t_end * 1e-9):
            bt = b + np.r_[v * t, np.zeros(4)]
            others = boxes + np.c_[vels * t, np.zeros((len(boxes), 4))]
            img = project_boxes(bt[None])[0]
            # inside the image; apart on the ground and in the image (no car hidden in another's box)
            ok = (img[0] > 20 and img[2] < IMG_W - 20 and img[1] > 20 and img[3] < IMG_H - 20
                  and not np.any(np.hypot(*(others[:, :2] - bt[:2]).T) < MIN_SEP_M)
                  and not np.any(np.linalg.norm(project_boxes(others) - img, axis=1) < MIN_SEP_PX))
            if not ok:
                break
        if ok:
            boxes = np.vstack([boxes, b])
            vels = np.vstack([vels, v])
    scene = Scene(boxes, vels)
    for k in range(WARMUP + 1):
        frames = []
        for s in SENSORS:
            t = k * CYCLE_NS + OFFSET_NS[s]
            b = scene.boxes(t)
            if s == "lidar":
                z = b + _noise(rng, R_LIDAR)
            elif s == "radar":
                z = np.concatenate([radar_polar(b, scene.vel) + _noise(rng, R_RADAR), _clutter(rng, b)])
            else:
                img = project_boxes(b)
                z = img + _noise(rng, R_CAMERA)
                while np.any(flat := (z[:, 2] - z[:, 0] < 4.0) | (z[:, 3] - z[:, 1] < 4.0)):  # far cars: 15 px wide
                    z[flat] = img[flat] + _noise(rng, R_CAMERA)[: int(flat.sum())]
            order = rng.permutation(len(z))  # detection order is not the cars' order
            obj_det = np.argsort(order)[:N_OBJ]
            frames.append(Frame(s, t, np.ascontiguousarray(z[order]), obj_det))
        scene.cycles.append(frames)
    assert sum(len(f.z) for f in scene.cycles[WARMUP]) == 200
    return scene


def _noise(rng: np.random.Generator, R: np.ndarray) -> np.ndarray:
    """(N_OBJ, M) Gaussian noise with covariance R, truncated: a draw outside the chi-square
    0.95 ellipsoid of R is drawn again, so every car's detection is inside the trackers' gate
    (0.999 with the track's covariance added) and a missed association is the tracker's fault."""
    m = len(R)
    L = np.linalg.cholesky(R)
    out = rng.standard_normal((N_OBJ, m))
    while np.any(bad := np.sum(out ** 2, axis=1) > chi2.ppf(0.95, m)):
        out[bad] = rng.standard_normal((int(bad.sum()), m))
    return out @ L.T


def _clutter(rng: np.random.Generator, boxes: np.ndarray) -> np.ndarray:
    """N_CLUTTER radar returns uniform in range (5-120 m), azimuth (+-1 rad) and range rate
    (+-15 m/s), at least 5 m from every car (so that a birth near a car is the tracker's fault)."""
    out = np.zeros((0, 3))
    while len(out) < N_CLUTTER:
        r, az, rr = rng.uniform(5.0, 120.0), rng.uniform(-1.0, 1.0), rng.uniform(-15.0, 15.0)
        xy = RADAR_T[:2] + r * np.array([math.cos(az), math.sin(az)])
        if np.min(np.hypot(*(boxes[:, :2] - xy).T)) > 5.0:
            out = np.vstack([out, [r, az, rr]])
    return out


_CACHE: dict[str, object] = {}


def scene() -> Scene:
    if "scene" not in _CACHE:
        _CACHE["scene"] = _make_scene()
    return _CACHE["scene"]  # type: ignore[return-value]


# ---------------------------------------------------------------- fusion
def engine_config() -> EngineConfig:
    gate = {"cost": "mahalanobis", "gate": GATE_P, "associator": "gnn"}
    lidar = SensorConfig.lidar(mount_t=[0.0, 0.0, 0.0], fov=FieldOfView(min_range_m=0.5, max_range_m=150.0),
                               R=R_LIDAR, **gate)
    radar = SensorConfig.radar(mount_t=RADAR_T, R=R_RADAR, clutter_density=1e-3, **gate)
    camera = SensorConfig.camera(projection=PROJECTION, image_size=(IMG_W, IMG_H), mount_t=CAMERA_T, R=R_CAMERA,
                                 image_tracks=False, **gate)
    camera.fov.max_range_m = 150.0
    return EngineConfig(sensors=[lidar, radar, camera], motion="cv_box", motion_noise={"accel_std": ACCEL_STD},
                        max_tracks=256, max_detections=128)  # lifecycle: the defaults (3 of 5, existence)


def run_cycle(engine: FusionEngine, frames: list[Frame]) -> None:
    for f in frames:
        engine.process(f.sensor, f.t_ns, f.z)


def warm_engine(sc: Scene) -> FusionEngine:
    engine = FusionEngine(engine_config())
    for k in range(WARMUP):
        run_cycle(engine, sc.cycles[k])
    return engine


def truth_ids(sc: Scene, tracks: np.ndarray) -> np.ndarray:
    """Id of each car's track after the warm-up: the one confirmed track within 1 m."""
    truth = sc.boxes(int(tracks["t_ns"].max()))
    conf = tracks[tracks["status"] == CONFIRMED]
    assert len(conf) == N_OBJ, len(conf)
    d = np.hypot(conf["x"][None, :, 0] - truth[:, None, 0], conf["x"][None, :, 1] - truth[:, None, 1])
    near = d < 1.0
    assert np.all(near.sum(1) == 1) and np.all(near.sum(0) == 1), "every car has exactly one confirmed track"
    return conf["id"][np.argmax(near, axis=1)]


@dataclass
class CycleResult:
    """What a tracker did with the timed cycle, per car (in car order)."""

    pos: np.ndarray  # (N_OBJ, 2) estimated x, y after the cycle
    t_ns: int  # time of the estimate
    det: np.ndarray  # (N_OBJ, 3) detection index each car's track took per sensor (-1: none)
    kept: np.ndarray  # (N_OBJ,) the car's track is alive and confirmed after the cycle
    birth_xy: np.ndarray  # (b, 2) positions of the tracks born in the cycle


def check_result(sc: Scene, res: CycleResult) -> None:
    frames = sc.cycles[WARMUP]
    assert res.kept.all(), f"{np.sum(~res.kept)} cars lost their track"
    want = np.stack([f.obj_det for f in frames], axis=1)
    bad = np.argwhere(res.det != want)
    assert len(bad) == 0, f"{len(bad)} wrong or missing associations (car, sensor): {bad[:5].tolist()}"
    truth = sc.boxes(res.t_ns)
    err = np.hypot(*(res.pos - truth[:, :2]).T)
    assert err.max() < POS_TOL_M, err.max()
    assert np.sqrt(np.mean(err ** 2)) < POS_RMS_M, np.sqrt(np.mean(err ** 2))
    assert len(res.birth_xy) <= N_CLUTTER, len(res.birth_xy)
    if len(res.birth_xy):
        d = np.hypot(res.birth_xy[:, None, 0] - truth[None, :, 0], res.birth_xy[:, None, 1] - truth[None, :, 1])
        assert d.min() > 3.0, f"a track was born {d.min():.2f} m from a car"


def fusion_result(sc: Scene, engine: FusionEngine, ids: np.ndarray) -> CycleResult:
    tr = engine.tracks(include_deleted=False)
    t0 = sc.cycles[WARMUP][0].t_ns
    by_id = {int(i): k for k, i in enumerate(tr["id"])}
    rows = np.array([by_id.get(int(i), -1) for i in ids])
    kept = (rows >= 0) & (tr["status"][rows] == CONFIRMED)
    rec = tr[np.maximum(rows, 0)]
    born = tr[tr["birth_t_ns"] >= t0]
    return CycleResult(rec["x"][:, :2], int(tr["t_ns"].max()), np.where(kept[:, None], rec["detection"], -1), kept,
                       born["x"][:, :2])


# ---------------------------------------------------------------- Stone Soup
def _stonesoup_types():
    from stonesoup.base import Property
    from stonesoup.models.measurement.nonlinear import NonLinearGaussianMeasurement
    from stonesoup.types.array import StateVectors

    class PinholeBoxModel(NonLinearGaussianMeasurement):
        """Image box (x1, y1, x2, y2) [px] of the state's 3D box (components at ``mapping``:
        x, y, z, yaw, l, w, h) through the benchmark's pinhole camera; vectorised over state
        columns (Stone Soup's numerical Jacobian evaluates all perturbed states in one call)."""

        image_size: tuple = Property(default=(IMG_W, IMG_H), doc="(width, height) [px]")

        @property
        def ndim_meas(self) -> int:
            return 4

        def function(self, state, noise=False, **kwargs):
            sv = np.asarray(state.state_vector, np.float64)[list(self.mapping), :]
            out = project_boxes(sv.T).T
            if isinstance(noise, bool) or noise is None:
                noise = self.rvs(num_samples=out.shape[1], **kwargs) if noise else 0
            return StateVectors(out) + noise

    return PinholeBoxModel


class StoneSoupFusion:
    """Central multi-sensor EKF tracking with Stone Soup components (one GNN per sensor frame)."""

    def __init__(self, engine_tracks: np.ndarray):
        from stonesoup.dataassociator.neighbour import GNNWith2DAssignment
        from stonesoup.hypothesiser.distance import DistanceHypothesiser
        from stonesoup.measures import Mahalanobis
        from stonesoup.models.measurement.linear import LinearGaussian
        from stonesoup.models.measurement.nonlinear import CartesianToBearingRangeRate2D
        from stonesoup.models.transition.linear import (
            CombinedLinearGaussianTransitionModel,
            ConstantVelocity,
            RandomWalk,
        )
        from stonesoup.predictor.kalman import ExtendedKalmanPredictor
        from stonesoup.types.state import GaussianState
        from stonesoup.types.track import Track
        from stonesoup.updater.kalman import ExtendedKalmanUpdater

        from fusion.engine.registry import EXTENT_NOISE

        pinhole = _stonesoup_types()
        q = ACCEL_STD ** 2
        en = EXTENT_NOISE
        self.transition = CombinedLinearGaussianTransitionModel(
            [ConstantVelocity(q), ConstantVelocity(q), ConstantVelocity(q), RandomWalk(en["yaw_rad2_per_s"]),
             RandomWalk(en["length_m2_per_s"]), RandomWalk(en["width_m2_per_s"]), RandomWalk(en["height_m2_per_s"])])
        self.predictor = ExtendedKalmanPredictor(self.transition)
        perm = [1, 0, 2]  # radar: Stone Soup's (bearing, range, range rate) from ours (range, azimuth, rr)
        self.models = {
            "lidar": LinearGaussian(ndim_state=10, mapping=SS_BOX, noise_covar=R_LIDAR),
            "radar": CartesianToBearingRangeRate2D(ndim_state=10, mapping=(0, 2), velocity_mapping=(1, 3),
                                                   noise_covar=R_RADAR[np.ix_(perm, perm)],
                                                   translation_offset=np.array([[RADAR_T[0]], [RADAR_T[1]]])),
            "camera": pinhole(ndim_state=10, mapping=SS_BOX, noise_covar=R_CAMERA),
        }
        self.updaters = {s: ExtendedKalmanUpdater(m) for s, m in self.models.items()}
        self.assoc = {}
        for s, m in self.models.items():
            hyp = DistanceHypothesiser(self.predictor, self.updaters[s], measure=Mahalanobis(),
                                       missed_distance=float(np.sqrt(chi2.ppf(GATE_P, m.ndim_meas))))
            self.assoc[s] = GNNWith2DAssignment(hyp)
        self.t0 = datetime(2026, 1, 1)
        # The engine's live tracks, same state, covariance and time.
        self.tracks: dict = {}  # Track -> engine id (None: born here)
        self.existence: dict = {}  # tentative Track -> existence probability
        for rec in engine_tracks:
            x = rec["x"][ENGINE_TO_SS].reshape(10, 1)
            P = rec["P"][np.ix_(ENGINE_TO_SS, ENGINE_TO_SS)]
            track = Track([GaussianState(x, P, timestamp=self._ts(int(rec["t_ns"])))])
            self.tracks[track] = int(rec["id"])
            if rec["status"] != CONFIRMED and rec["status"] != COASTING:
                self.existence[track] = float(rec["existence"])
        self.hits: dict = {}  # (Track, sensor) -> detection index

    def _ts(self, t_ns: int) -> datetime:
        return self.t0 + timedelta(microseconds=t_ns // 1000)

    def process(self, f: Frame) -> None:
        from stonesoup.types.angle import Bearing
        from stonesoup.types.detection import Detection
        from stonesoup.types.state import GaussianState
        from stonesoup.types.track import Track

        ts = self._ts(f.t_ns)
        mm = self.models[f.sensor]
        if f.sensor == "radar":
            zs = [np.array([[Bearing(z[1])], [z[0]], [z[2]]], dtype=object) for z in f.z]
        else:
            zs = [z.reshape(-1, 1) for z in f.z]
        dets = [Detection(z, timestamp=ts, measurement_model=mm, metadata={"index": i}) for i, z in enumerate(zs)]
        used = set()
        # As the engine: only the tracks in the sensor's view are associated; a tentative
        # track's miss lowers its existence (the IPDA recursion), below DELETE_EXISTENCE it goes.
        visible = {t for t in self.tracks if in_view(f.sensor, np.asarray(t.state_vector, float).ravel())}
        for track, hyp in self.assoc[f.sensor].associate(visible, set(dets), ts).items():
            if hyp:
                track.append(self.updaters[f.sensor].update(hyp))
                used.add(hyp.measurement)
                self.hits[(track, f.sensor)] = hyp.measurement.metadata["index"]
            else:
                track.append(hyp.prediction)
                if track in self.existence:
                    e = self.existence[track]
                    e = e * (1.0 - PD * GATE_PD) / (1.0 - e * PD * GATE_PD)
                    self.existence[track] = e
                    if e < DELETE_EXISTENCE:
                        del self.tracks[track], self.existence[track]
        if f.sensor == "camera":
            return  # no range: no births
        for d in dets:
            if d in used:
                continue
            # The engine's births: the detection's components with their R, velocity 0 with
            # variance 100, the rest 0 with variance 1.
            x0 = np.zeros((10, 1))
            P0 = np.diag([1.0, 100.0, 1.0, 100.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
            if f.sensor == "lidar":
                x0[list(SS_BOX), 0] = np.asarray(d.state_vector, float).ravel()
                P0[np.ix_(SS_BOX, SS_BOX)] = R_LIDAR
            else:
                az, r = float(d.state_vector[0, 0]), float(d.state_vector[1, 0])
                x0[[0, 2], 0] = RADAR_T[0] + r * math.cos(az), RADAR_T[1] + r * math.sin(az)
                J = np.array([[math.cos(az), -r * math.sin(az)], [math.sin(az), r * math.cos(az)]])
                P0[np.ix_((0, 2), (0, 2))] = J @ R_RADAR[:2, :2] @ J.T
            track = Track([GaussianState(x0, P0, timestamp=ts)])
            self.tracks[track] = None
            self.existence[track] = BIRTH_EXISTENCE

    def result(self, sc: Scene, ids: np.ndarray) -> CycleResult:
        by_id = {i: t for t, i in self.tracks.items() if i is not None}
        pos, det = np.zeros((N_OBJ, 2)), np.full((N_OBJ, 3), -1)
        kept = np.zeros(N_OBJ, bool)
        t_ns = 0
        for k, i in enumerate(ids):
            t = by_id.get(int(i))
            if t is None:
                continue
            kept[k] = True
            sv = np.asarray(t.state_vector, float).ravel()
            pos[k] = sv[0], sv[2]
            t_ns = max(t_ns, int((t.timestamp - self.t0) / timedelta(microseconds=1)) * 1000)
            det[k] = [self.hits.get((t, s), -1) for s in SENSORS]
        born = [np.asarray(t.state_vector, float).ravel()[[0, 2]] for t, i in self.tracks.items() if i is None]
        return CycleResult(pos, t_ns, det, kept, np.array(born).reshape(-1, 2))


# ---------------------------------------------------------------- the benchmark
def _warm_snapshot() -> tuple[np.ndarray, np.ndarray]:
    """The engine's live tracks after the warm-up and each car's track id (computed once)."""
    if "snapshot" not in _CACHE:
        sc = scene()
        engine = warm_engine(sc)
        tracks = engine.tracks(include_deleted=False)
        _CACHE["snapshot"] = (tracks, truth_ids(sc, tracks))
    return _CACHE["snapshot"]  # type: ignore[return-value]


@pytest.mark.benchmark(group="fusion-cycle")
@pytest.mark.parametrize("impl", ["fusion", "stonesoup"])
def test_fusion_cycle(benchmark, impl):
    sc = scene()
    tracks0, ids = _warm_snapshot()
    frames = sc.cycles[WARMUP]
    state: dict = {}

    if impl == "fusion":
        def setup():
            engine = warm_engine(sc)
            state["engine"] = engine
            return (engine, frames), {}

        benchmark.pedantic(run_cycle, setup=setup, rounds=300, warmup_rounds=5)
        res = fusion_result(sc, state["engine"], ids)
        if benchmark.stats is not None:  # on a loaded machine the mean is mostly preemption
            data = np.asarray(benchmark.stats.stats.data)
            benchmark.extra_info["rounds_under_1ms"] = float(np.mean(data < 1e-3))
            print(f"\nfusion cycle: {np.mean(data < 1e-3):.0%} of {len(data)} rounds under 1 ms")
    else:
        def setup():
            tracker = StoneSoupFusion(tracks0)
            state["tracker"] = tracker
            return (tracker,), {}

        def cycle(tracker):
            for f in frames:
                tracker.process(f)

        benchmark.pedantic(cycle, setup=setup, rounds=5)
        res = state["tracker"].result(sc, ids)
    benchmark.extra_info["detections"] = int(sum(len(f.z) for f in frames))
    benchmark.extra_info["tracks_before_cycle"] = len(tracks0)
    check_result(sc, res)


@pytest.mark.benchmark(group="fusion-frame")
@pytest.mark.parametrize("sensor", SENSORS)
def test_fusion_frame(benchmark, sensor):
    """Where the fusion cycle's time goes: one sensor frame of the timed cycle (the frames
    before it in the cycle run in the setup). Asserts that frame's associations."""
    sc = scene()
    _, ids = _warm_snapshot()
    frames = sc.cycles[WARMUP]
    k = SENSORS.index(sensor)
    state: dict = {}

    def setup():
        engine = warm_engine(sc)
        run_cycle(engine, frames[:k])
        state["engine"] = engine
        return (engine, frames[k : k + 1]), {}

    benchmark.pedantic(run_cycle, setup=setup, rounds=300, warmup_rounds=5)
    tr = state["engine"].tracks(include_deleted=False)
    by_id = {int(i): r for i, r in zip(tr["id"], tr["detection"][:, k])}
    assert [by_id.get(int(i), -1) for i in ids] == frames[k].obj_det.tolist()


def test_fusion_cycle_scene_is_as_specified():
    """The cycle holds what the benchmark claims: 64 confirmed tracks, 200 detections."""
    sc = scene()
    tracks0, ids = _warm_snapshot()
    assert len(np.unique(ids)) == N_OBJ
    frames = sc.cycles[WARMUP]
    assert [f.sensor for f in frames] == list(SENSORS)
    assert [len(f.z) for f in frames] == [N_OBJ, N_OBJ + N_CLUTTER, N_OBJ]
