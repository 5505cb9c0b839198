"""EngineConfig and its parts: defaults, to_spec (the binding's dict, engine_spec.md §2),
dict/TOML round trips, and errors that name the file, the table and the key."""

from __future__ import annotations

import math
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest

from fusion.engine import (
    EngineConfig,
    FieldOfView,
    ImageTrackConfig,
    LifecycleConfig,
    SensorConfig,
    registry,
    rotation_from_ypr,
)
from fusion.errors import ConfigurationError

SPEC_KEYS = {"motion", "q_diag_per_s", "motion_noise", "extent_noise", "p0_diag", "num_classes", "max_tracks",
             "max_detections", "max_image_tracks", "min_size", "late_policy", "bad_detection", "lifecycle",
             "image_track", "sensors", "oosm_horizon_s", "oosm_max_frames", "ego_max_gap_s",
             "ego_max_extrapolation_s"}
SENSOR_KEYS = {"name", "model", "mount_R", "mount_t", "fov", "projection", "image_size", "R", "cost", "gate",
               "associator", "jpda_method", "jpda_max_states", "jpda_birth_threshold", "jpda_miss_beta0",
               "update_state", "births", "birth_score_threshold", "score_threshold", "pd",
               "gate_probability", "clutter_density", "nominal_likelihood_ratio", "counts_for_confirmation",
               "counts_for_coast", "confusion", "image_tracks", "gate_chi2", "two_stage"}
FOV_KEYS = {"azimuth_half_rad", "elevation_half_rad", "min_range_m", "max_range_m"}
IMAGE_TRACK_KEYS = {"gate", "confirm_hits", "confirm_window", "max_coast_s", "tentative_max_coast_s", "q_pos",
                    "q_vel", "q_size", "r"}


def car(**kw) -> EngineConfig:
    return EngineConfig.car(num_classes=2, **kw)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "engine.toml"
    p.write_text(textwrap.dedent(text))
    return p


# ---------------------------------------------------------------- to_spec

def test_to_spec_has_exactly_the_binding_keys_with_defaults_resolved():
    spec = car().to_spec()
    assert set(spec) == SPEC_KEYS
    assert set(spec["image_track"]) == IMAGE_TRACK_KEYS
    assert set(spec["lifecycle"]) == {f for f in LifecycleConfig.__dataclass_fields__}
    assert set(spec["extent_noise"]) == set(registry.EXTENT_NOISE)
    assert set(spec["motion_noise"]) == set(registry.MOTION_MODELS["cv_box"].noise)
    n = registry.MOTION_MODELS["cv_box"].state_dim
    assert len(spec["p0_diag"]) == n and all(v > 0 for v in spec["p0_diag"])
    assert spec["q_diag_per_s"] is None
    lidar, camera, radar = spec["sensors"]
    for s in spec["sensors"]:
        assert set(s) == SENSOR_KEYS
        assert set(s["fov"]) == FOV_KEYS
        m = registry.SENSOR_MODELS[s["model"]].measurement_dim
        R = np.array(s["R"])
        assert R.shape == (m, m) and np.all(np.linalg.eigvalsh(R) > 0)
        assert np.array(s["mount_R"]).shape == (3, 3) and len(s["mount_t"]) == 3
        assert s["cost"] in registry.SENSOR_MODELS[s["model"]].costs
        assert registry.COSTS[s["cost"]].gate_ok(s["gate"])
    assert (lidar["model"], lidar["cost"], lidar["births"], lidar["projection"]) == ("lidar_box3d", "giou_3d", True,
                                                                                        None)
    assert (camera["model"], camera["cost"], camera["births"], camera["image_tracks"]) == ("camera_box2d", "iou_2d",
                                                                                          False, True)
    assert np.array(camera["projection"]).shape == (3, 4) and camera["image_size"] == [1280.0, 720.0]
    assert (radar["model"], radar["cost"], radar["gate"]) == ("radar", "mahalanobis", 0.99)
    # plain Python values only (the binding and json both take them)
    import json
    json.dumps(spec, allow_nan=True)


def test_to_spec_takes_explicit_values_over_defaults():
    cfg = car(motion="ctrv_box", motion_noise={"accel_std": 3.0}, q_diag_per_s=[0.5] * 9, p0_diag=[2.0] * 9)
    cfg.sensors[0].cost, cfg.sensors[0].gate, cfg.sensors[0].R = "distance", 3.0, np.diag([0.2] * 7)
    spec = cfg.to_spec()
    assert spec["motion"] == "ctrv_box"
    assert spec["motion_noise"] == {**registry.MOTION_MODELS["ctrv_box"].noise, "accel_std": 3.0}
    assert spec["q_diag_per_s"] == [0.5] * 9 and spec["p0_diag"] == [2.0] * 9
    assert (spec["sensors"][0]["cost"], spec["sensors"][0]["gate"]) == ("distance", 3.0)
    assert spec["sensors"][0]["R"] == np.diag([0.2] * 7).tolist()


def test_presets_are_valid_and_sane():
    cfg = car()
    cfg.validate()
    lidar, camera, radar = cfg.sensors
    assert lidar.fov.max_range_m == 100.0 and radar.fov.azimuth_half_rad == pytest.approx(math.radians(60))
    # the camera's field of view follows from its intrinsics: 640 px at f = 1000 px
    assert camera.fov.azimuth_half_rad == pytest.approx(math.atan2(640, 1000))
    assert camera.resolved_births() is False and lidar.resolved_births() is True


def test_rotation_from_ypr_is_a_rotation():
    R = np.array(rotation_from_ypr(0.3, -0.2, 0.1))
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(np.array(rotation_from_ypr(math.pi / 2)) @ [1, 0, 0], [0, 1, 0], atol=1e-12)


# ---------------------------------------------------------------- round trips

def test_dict_and_toml_round_trips(tmp_path):
    cfg = car(motion="ctrv_box", motion_noise={"yaw_accel_std": 0.3}, extent_noise={"z_m2_per_s": 0.1},
              q_diag_per_s=[1.0] * 9, late_policy="raise", bad_detection="skip",
              lifecycle=LifecycleConfig(confirm_hits=2, confirm_window=3, tentative_max_misses=1,
                                        max_coast_s=math.inf),
              image_track=ImageTrackConfig(gate=0.5))
    cfg.sensors[0].confusion = [[0.9, 0.1], [0.2, 0.8]]
    cfg.sensors[1].R = np.diag([4.0, 4.0, 9.0, 9.0])
    cfg.sensors[2].births = False
    cfg.validate()
    assert EngineConfig.from_dict(cfg.to_dict()) == cfg
    path = tmp_path / "rt.toml"
    path.write_text(cfg.to_toml())
    back = EngineConfig.from_toml(path)
    assert back == cfg
    assert back.to_spec() == cfg.to_spec()
    assert [s.name for s in back.sensors] == ["lidar", "camera", "radar"]  # table order = sensor index


def test_numpy_inputs_are_stored_as_plain_values():
    s = SensorConfig(name="l", mount_R=np.eye(3), mount_t=np.zeros(3))
    assert s.mount_R == np.eye(3).tolist() and s == SensorConfig(name="l")


def test_toml_example_of_the_module_docstring_loads(tmp_path):
    import fusion.engine.config as mod
    text = mod.__doc__.split("::")[1].split("Errors")[0]
    cfg = EngineConfig.from_toml(write(tmp_path, text))
    assert [s.name for s in cfg.sensors] == ["lidar", "camera"]
    assert cfg.sensors[0].fov.max_range_m == 80.0 and cfg.sensors[1].image_tracks


def test_array_of_tables_form(tmp_path):
    cfg = EngineConfig.from_toml(write(tmp_path, """
        [[sensors]]
        name = "front"
        model = "radar"
        [[sensors]]
        name = "roof"
    """))
    assert [(s.name, s.model) for s in cfg.sensors] == [("front", "radar"), ("roof", "lidar_box3d")]


# ---------------------------------------------------------------- errors: file, table, key

def test_error_names_file_table_and_key(tmp_path):
    p = write(tmp_path, """
        [sensors.lidar]
        [sensors.camera]
        model = "camera_box2d"
        projection = [[700.0, 0.0, 600.0, 0.0], [0.0, 700.0, 180.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
        gate = "wide"
    """)
    with pytest.raises(ConfigurationError, match=r"engine\.toml: \[sensors\.camera\] gate: expected a number"):
        EngineConfig.from_toml(p)


def test_gate_out_of_range_names_cost_and_range(tmp_path):
    p = write(tmp_path, """
        [sensors.camera]
        model = "camera_box2d"
        projection = [[700.0, 0.0, 600.0, 0.0], [0.0, 700.0, 180.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
        gate = 1.5
    """)
    with pytest.raises(ConfigurationError, match=r"\[sensors\.camera\] gate: for cost 'iou_2d' .*\[0, 1\), got 1\.5"):
        EngineConfig.from_toml(p)


@pytest.mark.parametrize("text, pattern", [
    ("bogus = 1\n[sensors.l]\n", r"\[engine\]: unknown key\(s\) 'bogus'; known keys: motion, num_classes"),
    ("[sensors.l]\nmodle = 'radar'\n", r"\[sensors\.l\]: unknown key\(s\) 'modle'; known keys: name, model, mount_R"),
    ("[sensors.l.fov]\nmax_range = 3\n", r"\[sensors\.l\.fov\]: unknown key\(s\) 'max_range'; known keys: "
                                         r"azimuth_half_rad, elevation_half_rad, min_range_m, max_range_m"),
    ("[lifecycle]\nconfirm = 3\n[sensors.l]\n", r"\[lifecycle\]: unknown key\(s\) 'confirm'; known keys: confirm_hits"),
    ("[image_track]\ngates = 3\n[sensors.l]\n", r"\[image_track\]: unknown key\(s\) 'gates'; known keys: gate,"),
    ("[motion_noise]\naccel = 3.0\n[sensors.l]\n",
     r"\[motion_noise\]: unknown key\(s\) 'accel' for motion 'cv_box'; known keys: accel_std"),
    ("[extent_noise]\nz = 3.0\n[sensors.l]\n", r"\[extent_noise\]: unknown key\(s\) 'z'; known keys: z_m2_per_s"),
])
def test_unknown_keys_are_rejected_with_the_known_ones(tmp_path, text, pattern):
    with pytest.raises(ConfigurationError, match=pattern):
        EngineConfig.from_toml(write(tmp_path, text))


@pytest.mark.parametrize("where, key, value, pattern", [
    ("", "motion", "'cvbox'", r"motion: unknown key 'cvbox'; known keys: cv_box, ctrv_box"),
    ("sensors.l", "model", "'lidar'", r"\[sensors\.l\] model: unknown key 'lidar'; known keys: lidar_box3d, "
                                      r"camera_box2d, radar, position3d"),
    ("sensors.l", "cost", "'giou'", r"\[sensors\.l\] cost: unknown key 'giou'; known keys: giou_3d"),
    ("sensors.l", "associator", "'jpdaa'", r"\[sensors\.l\] associator: unknown key 'jpdaa'; known keys: gnn"),
    ("sensors.l", "associator", "'jpda'", r"\[sensors\.l\] associator: 'jpda' needs the cost 'mahalanobis' or "
                                          r"'mahalanobis_loglik', not "
                                          r"'giou_3d'"),
    ("sensors.l", "cost", "'iou_2d'", r"\[sensors\.l\] cost: 'iou_2d' does not apply to a lidar_box3d sensor; "
                                      r"costs for lidar_box3d: giou_3d"),
    ("sensors.l", "pd", "1.5", r"\[sensors\.l\] pd: expected a probability in \[0, 1\], got 1\.5"),
    ("sensors.l", "update_state", "1", r"\[sensors\.l\] update_state: expected true or false, got 1"),
    ("sensors.l", "mount_t", "[1.0, 2.0]", r"\[sensors\.l\] mount_t: expected a translation \[m\] of shape \(3,\)"),
    ("sensors.l", "R", "[[1.0, 2.0], [2.0, 1.0]]", r"\[sensors\.l\] R: expected a 7x7 covariance"),
    ("sensors.l", "births", "'yes'", r"\[sensors\.l\] births: expected true or false"),
    ("sensors.l", "projection", "[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]",
     r"\[sensors\.l\] projection: applies to camera_box2d sensors only"),
    ("sensors.l", "image_tracks", "true", r"\[sensors\.l\] image_tracks: applies to camera_box2d sensors only"),
    ("sensors.l", "confusion", "[[1.0]]", r"\[sensors\.l\] confusion: expected a confusion matrix \(num_classes = 2\) "
                                          r"of shape \(2, 2\)"),
    ("sensors.l", "confusion", "[[0.5, 0.4], [0.0, 1.0]]", r"\[sensors\.l\] confusion: row 0 \(true class\) must "
                                                           r"sum to 1"),
    ("sensors.l", "score_threshold", "inf", r"\[sensors\.l\] score_threshold: must be < inf"),
    ("sensors.l.fov", "max_range_m", "-1.0", r"\[sensors\.l\.fov\] max_range_m: expected metres > min_range_m"),
    ("lifecycle", "confirm_window", "2", r"\[lifecycle\] confirm_window: expected an integer in "
                                         r"\[max\(confirm_hits, 1\), 64\]"),
    ("lifecycle", "tentative_max_misses", "6", r"\[lifecycle\] tentative_max_misses: expected -1 \(off\) or an "
                                               r"integer in \[0, confirm_window = 5\]"),
    ("lifecycle", "confirm_hits", "2.0", r"\[lifecycle\] confirm_hits: expected an integer, got 2\.0"),
    ("image_track", "gate", "0.0", r"\[image_track\] gate: expected a minimum IoU in \(0, 1\]"),
    ("", "num_classes", "0", r"num_classes: expected an integer in \[1, 32\], got 0"),
    ("", "late_policy", "'retrodict'", r"late_policy: expected one of drop, raise, got 'retrodict'"),
    ("", "bad_detection", "'ignore'", r"bad_detection: expected one of raise, skip, got 'ignore'"),
    ("", "q_diag_per_s", "[1.0, 2.0]", r"q_diag_per_s: expected one variance rate per state component \(cv_box: x, "
                                       r"y, z, vx"),
    ("", "max_tracks", "0", r"max_tracks: expected an integer in \[1, 1000000\], got 0"),
])
def test_bad_values_name_table_and_key(where, key, value, pattern):
    d: dict = {"num_classes": 2, "sensors": {"l": {}}}
    table = d
    for part in filter(None, where.split(".")):
        table = table.setdefault(part, {})
    table[key] = tomllib.loads(f"v = {value}")["v"]
    with pytest.raises(ConfigurationError, match=pattern):
        EngineConfig.from_dict(d)


def test_mount_that_is_not_a_rotation():
    for R, why in ((np.diag([1.0, 1.0, -1.0]), "reflection"), (2 * np.eye(3), "not orthonormal")):
        cfg = car()
        cfg.sensors[1].mount_R = R
        with pytest.raises(ConfigurationError, match=rf"\[sensors\.camera\] mount_R: is not a rotation: .*{why}"):
            cfg.validate()


def test_camera_needs_a_projection_and_cannot_start_3d_tracks():
    with pytest.raises(ConfigurationError, match=r"\[sensors\.cam\] projection: a camera_box2d sensor needs"):
        EngineConfig(sensors=[SensorConfig(name="cam", model="camera_box2d")]).validate()
    cfg = EngineConfig(sensors=[SensorConfig.camera("cam", births=True)])
    with pytest.raises(ConfigurationError, match=r"\[sensors\.cam\] births: a camera_box2d sensor cannot start 3D "
                                                 r"tracks"):
        cfg.validate()
    flipped = SensorConfig.camera("cam", projection=[[1000.0, 0, 640, 0], [0, 1000.0, 360, 0], [0, 0, -1.0, 0]])
    with pytest.raises(ConfigurationError, match=r"\[sensors\.cam\] projection: det\(P\[:, :3\]\) must be > 0"):
        EngineConfig(sensors=[flipped]).validate()


def test_covariance_must_be_spd():
    cfg = car()
    cfg.sensors[2].R = np.diag([1.0, -1.0, 1.0])
    with pytest.raises(ConfigurationError, match=r"\[sensors\.radar\] R: must be positive definite"):
        cfg.validate()
    cfg.sensors[2].R = [[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    with pytest.raises(ConfigurationError, match=r"\[sensors\.radar\] R: must be symmetric"):
        cfg.validate()
    cfg.sensors[2].R = np.diag([1.0, np.nan, 1.0])
    with pytest.raises(ConfigurationError, match=r"\[sensors\.radar\] R: every entry must be finite"):
        cfg.validate()


def test_duplicated_sensor_tables_are_an_error(tmp_path):
    with pytest.raises(ConfigurationError, match=r"\[sensors\.Lidar\]: duplicates table \[sensors\.lidar\]"):
        EngineConfig.from_toml(write(tmp_path, "[sensors.lidar]\n[sensors.Lidar]\n"))
    with pytest.raises(ConfigurationError, match=r"\[sensors\.front_cam\]: duplicates table \[sensors\.front-cam\]"):
        EngineConfig.from_toml(write(tmp_path, "[sensors.front-cam]\nmodel = 'radar'\n[sensors.front_cam]\n"
                                               "model = 'radar'\n"))
    cfg = EngineConfig(sensors=[SensorConfig.lidar("a"), SensorConfig.radar("A")])
    with pytest.raises(ConfigurationError, match=r"\[sensors\] A: duplicates sensor 'a'"):
        cfg.validate()
    with pytest.raises(ConfigurationError, match=r"\[sensors\.x\] name: the table is \[sensors\.x\] but name = 'y'"):
        EngineConfig.from_toml(write(tmp_path, "[sensors.x]\nname = 'y'\n"))


def test_invalid_toml_and_missing_sensors(tmp_path):
    with pytest.raises(ConfigurationError, match=r"engine\.toml: invalid TOML"):
        EngineConfig.from_toml(write(tmp_path, "[sensors.x\n"))
    with pytest.raises(ConfigurationError, match=r"engine\.toml: sensors: expected 1 to 16 sensors, got 0"):
        EngineConfig.from_toml(write(tmp_path, "motion = 'cv_box'\n"))
    with pytest.raises(ConfigurationError, match=r"\[sensors\] name: expected a non-empty name"):
        EngineConfig(sensors=[SensorConfig(name="a b")]).validate()


def test_field_of_view_validation():
    with pytest.raises(ConfigurationError, match=r"\[fov\] azimuth_half_rad: expected radians in \(0, pi\]"):
        FieldOfView(azimuth_half_rad=4.0).validate()
    with pytest.raises(ConfigurationError, match=r"\[fov\] min_range_m: must not be NaN"):
        FieldOfView(min_range_m=math.nan).validate()


def test_mahalanobis_gate_is_one_of_the_tabulated_probabilities():
    cfg = EngineConfig(sensors=[SensorConfig.radar(gate=0.9)])
    with pytest.raises(ConfigurationError, match=r"\[sensors\.radar\] gate: for cost 'mahalanobis' the gate is a "
                                                 r"probability of \{0\.95, 0\.99, 0\.999\}, got 0\.9"):
        cfg.validate()
    for g in (0.95, 0.99, 0.999):
        EngineConfig(sensors=[SensorConfig.radar(gate=g)]).validate()
