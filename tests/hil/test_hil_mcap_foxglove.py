"""McapWriter's messages against Foxglove's own schema definitions (issue 9: "an MCAP file that
Foxglove opens").

Foxglove renders a channel natively when its schema has one of the well-known names
(``foxglove.SceneUpdate``, ``foxglove.FrameTransform``) and its messages have that schema's fields;
for JSON encoding, time values are ``{"sec", "nsec"}`` objects. Foxglove publishes the same
schemas as protobuf (the ``foxglove-schemas-protobuf`` package, used here by dependency). Every
message the writer stores is parsed into Foxglove's protobuf message with unknown fields refused
and the result compared field by field; the writer's JSON schema is checked to name only fields
that Foxglove's schema has, with the same nesting."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _track_records import FakeCycle, cycles

fg_scene = pytest.importorskip("foxglove_schemas_protobuf.SceneUpdate_pb2",
                               reason="foxglove-schemas-protobuf (test extra) is not installed")
fg_tf = pytest.importorskip("foxglove_schemas_protobuf.FrameTransform_pb2",
                            reason="foxglove-schemas-protobuf (test extra) is not installed")
from google.protobuf import json_format  # noqa: E402  (installed with foxglove-schemas-protobuf)
from google.protobuf.descriptor import Descriptor, FieldDescriptor  # noqa: E402
from mcap.reader import make_reader  # noqa: E402

from fusion.hil.outputs import FRAME_TRANSFORM_SCHEMA, SCENE_UPDATE_SCHEMA, McapWriter  # noqa: E402

_TIME_TYPES = {"google.protobuf.Timestamp": "timestamp", "google.protobuf.Duration": "duration"}


def _to_proto_json(value: Any, desc: Descriptor) -> Any:
    """Foxglove's JSON form -> protobuf's JSON mapping: the only difference is time values
    (``{"sec", "nsec"}`` for JSON channels; RFC 3339 strings / "Ns" durations in protobuf JSON).
    Everything else is passed through unchanged, so an unknown or mistyped field still fails."""
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, v in value.items():
        field = desc.fields_by_name.get(key)
        if field is None or field.message_type is None:
            out[key] = v
            continue
        kind = _TIME_TYPES.get(field.message_type.full_name)
        if kind is not None and not isinstance(v, dict):
            out[key] = v  # not Foxglove's JSON time form: left for the parser to refuse
        elif kind is not None:
            assert set(v) == {"sec", "nsec"}, (key, v)
            sec, nsec = v["sec"], v["nsec"]
            # foxglove.Timestamp/Duration: uint32 sec (timestamps), nsec in [0, 1e9)
            assert isinstance(sec, int) and isinstance(nsec, int) and 0 <= nsec < 1_000_000_000, (key, v)
            assert 0 <= sec < 2**32, (key, v)
            out[key] = f"{sec}.{nsec:09d}s" if kind == "duration" else \
                np.datetime_as_string(np.datetime64(sec * 10**9 + nsec, "ns"), unit="ns") + "Z"
        elif field.is_repeated:
            out[key] = [_to_proto_json(item, field.message_type) for item in v]
        else:
            out[key] = _to_proto_json(v, field.message_type)
    return out


def _parse_strict(message: dict[str, Any], cls: Any) -> Any:
    pb = cls()
    json_format.ParseDict(_to_proto_json(message, cls.DESCRIPTOR), pb, ignore_unknown_fields=False)
    return pb


def _schema_fields_exist(schema: dict[str, Any], desc: Descriptor, where: str) -> int:
    """Every property of our JSON schema is a field of Foxglove's message, objects nested as
    messages and arrays as repeated fields. Returns how many fields were checked."""
    checked = 0
    for name, sub in schema.get("properties", {}).items():
        field = desc.fields_by_name.get(name)
        assert field is not None, f"{where}.{name}: not a field of {desc.full_name}"
        checked += 1
        if sub.get("type") == "array":
            assert field.is_repeated, f"{where}.{name}: not repeated in Foxglove's schema"
            items = sub.get("items", {})
            if items.get("properties"):
                assert field.message_type is not None
                checked += _schema_fields_exist(items, field.message_type, f"{where}.{name}[]")
        elif sub.get("type") == "object":
            assert field.message_type is not None, f"{where}.{name}: not a message in Foxglove's schema"
            if field.message_type.full_name not in _TIME_TYPES:
                checked += _schema_fields_exist(sub, field.message_type, f"{where}.{name}")
        else:
            assert not field.is_repeated and field.message_type is None, f"{where}.{name}"
            want = {"number": (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT),
                    "string": (FieldDescriptor.TYPE_STRING,), "boolean": (FieldDescriptor.TYPE_BOOL,),
                    "integer": (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_INT32,
                                FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_INT64)}[sub["type"]]
            assert field.type in want, f"{where}.{name}: {sub['type']} vs protobuf type {field.type}"
    return checked


def test_json_schemas_name_only_foxglove_fields() -> None:
    assert SCENE_UPDATE_SCHEMA["title"] == fg_scene.SceneUpdate.DESCRIPTOR.full_name
    assert FRAME_TRANSFORM_SCHEMA["title"] == fg_tf.FrameTransform.DESCRIPTOR.full_name
    n = _schema_fields_exist(SCENE_UPDATE_SCHEMA, fg_scene.SceneUpdate.DESCRIPTOR, "SceneUpdate")
    n += _schema_fields_exist(FRAME_TRANSFORM_SCHEMA, fg_tf.FrameTransform.DESCRIPTOR, "FrameTransform")
    assert n > 40  # the whole nested schema was walked, not just the top level


def test_a_misnamed_field_is_caught() -> None:
    """The check can fail: a cube with 'colour' instead of 'color', a time as float seconds."""
    good = {"entities": [{"id": "tracks", "cubes": [{"color": {"r": 1.0, "g": 0.0, "b": 0.0, "a": 1.0}}]}]}
    _parse_strict(good, fg_scene.SceneUpdate)
    with pytest.raises(json_format.ParseError, match="colour"):
        _parse_strict({"entities": [{"cubes": [{"colour": {"r": 1.0}}]}]}, fg_scene.SceneUpdate)
    with pytest.raises(json_format.ParseError):
        _parse_strict({"entities": [{"timestamp": 1.5}]}, fg_scene.SceneUpdate)
    bad_schema = {"properties": {"entities": {"type": "array", "items": {
        "type": "object", "properties": {"frame": {"type": "string"}}}}}}
    with pytest.raises(AssertionError, match="frame"):
        _schema_fields_exist(bad_schema, fg_scene.SceneUpdate.DESCRIPTOR, "SceneUpdate")


def _write(path: Path, cs: list[FakeCycle]) -> None:
    with McapWriter(path) as w:
        for c in cs:
            w.write(c)


def test_every_message_parses_into_foxglove_schemas(tmp_path: Path) -> None:
    cs = cycles(5, 40)
    cs[1].ego_pose = None
    big = next(c for c in cs[4:] if len(c.tracks) >= 3)
    big.tracks["box"][0, 4:7] = np.nan  # non-finite size: written as 0.1 m
    big.tracks["box"][1, 3] = 7.5  # yaw beyond pi
    path = tmp_path / "tracks.mcap"
    _write(path, cs)
    with open(path, "rb") as f:
        reader = make_reader(f)
        msgs = [(s.name, ch, m) for s, ch, m in reader.iter_messages() if s is not None]
    scenes = [(m, json.loads(m.data)) for name, _, m in msgs if name == "foxglove.SceneUpdate"]
    tfs = [(m, json.loads(m.data)) for name, _, m in msgs if name == "foxglove.FrameTransform"]
    assert len(scenes) == len(cs) and len(tfs) == len(cs) - 1
    n_cubes = 0
    for c, (m, scene) in zip(cs, scenes):
        pb = _parse_strict(scene, fg_scene.SceneUpdate)
        (entity,) = pb.entities
        assert entity.timestamp.seconds * 10**9 + entity.timestamp.nanos == c.t_ns == m.log_time
        assert entity.frame_id == "odom" and entity.id == "tracks"
        assert len(entity.cubes) == len(entity.texts) == len(scene["entities"][0]["cubes"])
        for cube, text, js in zip(entity.cubes, entity.texts, scene["entities"][0]["cubes"]):
            assert (cube.pose.position.x, cube.pose.position.y) == (js["pose"]["position"]["x"],
                                                                    js["pose"]["position"]["y"])
            q = cube.pose.orientation
            assert q.x ** 2 + q.y ** 2 + q.z ** 2 + q.w ** 2 == pytest.approx(1.0, abs=1e-12)
            assert min(cube.size.x, cube.size.y, cube.size.z) >= 0.1
            assert all(0.0 <= v <= 1.0 for v in (cube.color.r, cube.color.g, cube.color.b, cube.color.a))
            assert text.text.isdigit() and text.billboard
            n_cubes += 1
    assert n_cubes > 50
    for (_m, tf), c in zip(tfs, [c for c in cs if c.ego_pose is not None]):
        pb = _parse_strict(tf, fg_tf.FrameTransform)
        assert (pb.parent_frame_id, pb.child_frame_id) == ("odom", "base_link")
        x, y, yaw = c.ego_pose  # type: ignore[misc]
        assert (pb.translation.x, pb.translation.y) == (x, y)
        assert abs(math.remainder(2 * math.atan2(pb.rotation.z, pb.rotation.w) - yaw, 2 * math.pi)) < 1e-12
