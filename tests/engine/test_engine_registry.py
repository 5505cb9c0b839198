"""fusion.engine.registry mirrors the C++ registries: the same keys in the same order, the same
motion-noise keys and state sizes, the same measurement sizes, and the same sensor/cost
pairings (each checked against the compiled core, not against a copy of its lists)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fusion import _core
from fusion.engine import EngineConfig, FusionEngine, SensorConfig, registry
from fusion.errors import ConfigurationError, ShapeError

CAMERA_P = [[1000.0, 0.0, 640.0, 0.0], [0.0, 1000.0, 360.0, 0.0], [0.0, 0.0, 1.0, 0.0]]


def sensor(model: str) -> SensorConfig:
    if model == "camera_box2d":
        return SensorConfig.camera("s", projection=CAMERA_P, image_size=[1280, 720])
    return SensorConfig(name="s", model=model)


def spec(model: str = "lidar_box3d", motion: str = "cv_box") -> dict:
    return EngineConfig(sensors=[sensor(model)], motion=motion).to_spec()


def known_keys(bad_spec: dict) -> list[str]:
    with pytest.raises(ConfigurationError) as e:
        _core.FusionEngine(bad_spec)
    m = re.search(r"known(?: keys)?: ([^)]*)\)?", str(e.value))
    assert m, f"the core's error lists no known keys: {e.value}"
    return [k.strip() for k in m.group(1).rstrip(")").split(",")]


def test_the_core_registry_listing_agrees():
    core = _core.engine_registry()
    assert list(core["motion"]) == list(registry.MOTION_MODELS)
    assert dict(core["sensor"]) == {k: v.measurement_dim for k, v in registry.SENSOR_MODELS.items()}
    assert list(core["sensor"]) == list(registry.SENSOR_MODELS)
    assert list(core["cost"]) == list(registry.COSTS)
    assert list(core["associator"]) == list(registry.ASSOCIATORS)


def test_motion_keys_agree():
    s = spec()
    s["motion"] = "no_such_motion"
    assert known_keys(s) == list(registry.MOTION_MODELS)


def test_sensor_keys_agree():
    s = spec()
    s["sensors"][0]["model"] = "no_such_sensor"
    assert known_keys(s) == list(registry.SENSOR_MODELS)


def test_cost_keys_agree():
    s = spec()
    s["sensors"][0]["cost"] = "no_such_cost"
    assert known_keys(s) == list(registry.COSTS)


def test_associator_keys_agree():
    s = spec()
    s["sensors"][0]["associator"] = "no_such_associator"
    assert known_keys(s) == list(registry.ASSOCIATORS)


@pytest.mark.parametrize("motion", list(registry.MOTION_MODELS))
def test_motion_noise_keys_and_state_size_agree(motion):
    info = registry.MOTION_MODELS[motion]
    s = spec(motion=motion)
    s["motion_noise"] = {"no_such_noise": 1.0}
    assert known_keys(s) == list(info.noise)
    model = "lidar_box3d" if motion in registry.BOX_MOTION_MODELS else "position2d"  # point models: point sensors
    eng = FusionEngine(EngineConfig(sensors=[sensor(model)], motion=motion))
    assert eng.state_dim == info.state_dim and eng.track_dtype["x"].shape == (info.state_dim,)


@pytest.mark.parametrize("model", list(registry.SENSOR_MODELS))
def test_measurement_size_agrees(model):
    m = registry.SENSOR_MODELS[model].measurement_dim
    core = FusionEngine(EngineConfig(sensors=[sensor(model)]))._core
    z = np.array([[1.0, 0.1, 0.2, 0.1, 4.0, 1.8, 1.5][:m]]) if model != "camera_box2d" else \
        np.array([[600.0, 300.0, 700.0, 380.0]])
    core.process(0, 0, z, None, None, None, None)
    for wrong in (m - 1, m + 1):
        with pytest.raises(ShapeError):
            core.process(0, 1, np.ones((1, wrong)), None, None, None, None)


@pytest.mark.parametrize("model", list(registry.SENSOR_MODELS))
@pytest.mark.parametrize("cost", list(registry.COSTS))
def test_sensor_cost_pairings_agree(model, cost):
    s = spec(model)
    s["sensors"][0]["cost"] = cost
    s["sensors"][0]["gate"] = registry.COSTS[cost].default_gate
    allowed = cost in registry.SENSOR_MODELS[model].costs
    if allowed:
        _core.FusionEngine(s)
    else:
        with pytest.raises(ConfigurationError):
            _core.FusionEngine(s)


@pytest.mark.parametrize("model", list(registry.SENSOR_MODELS))
def test_births_need_an_inverse(model):
    """Python refuses births = true for a model without an inverse (a configuration mistake);
    the core ignores it: a camera never starts a 3D track."""
    s = spec(model)
    s["sensors"][0]["births"] = True
    core = _core.FusionEngine(s)
    if registry.SENSOR_MODELS[model].has_inverse:
        EngineConfig(sensors=[sensor(model)]).validate()
        return
    with pytest.raises(ConfigurationError, match="cannot start 3D tracks"):
        cfg = EngineConfig(sensors=[sensor(model)])
        cfg.sensors[0].births = True
        cfg.validate()
    for k in range(5):
        core.process(0, k * 100_000_000, np.array([[600.0, 300.0, 700.0, 380.0]]), None, None, None, None)
    assert len(core.tracks()) == 0 and core.stats()["births"] == 0


@pytest.mark.parametrize("associator", list(registry.ASSOCIATORS))
@pytest.mark.parametrize("cost", ["mahalanobis", "mahalanobis_loglik", "giou_3d", "distance"])
def test_associator_cost_pairings_agree(associator, cost):
    s = spec("lidar_box3d")
    s["sensors"][0].update(associator=associator, cost=cost, gate=registry.COSTS[cost].default_gate)
    allowed = registry.ASSOCIATORS[associator].costs
    if allowed is None or cost in allowed:
        _core.FusionEngine(s)
    else:
        with pytest.raises(ConfigurationError, match="associator"):
            _core.FusionEngine(s)


@pytest.mark.parametrize("gate", [0.9, 0.95, 0.99, 0.999, 0.9999])
def test_mahalanobis_gates_agree(gate):
    s = spec("radar")
    s["sensors"][0]["gate"] = gate
    if registry.COSTS["mahalanobis"].gate_ok(gate):
        _core.FusionEngine(s)
    else:
        with pytest.raises(ConfigurationError, match="gate"):
            _core.FusionEngine(s)
