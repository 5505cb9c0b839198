"""Track publishing on CAN: fusion.hil.publish.TrackEncoder against the plain cantools way
(``Database.encode_message`` with a dict of physical values per frame) on the same cycle.

Group ``track-encode``: one cycle of 64 tracks (engine records, values inside the DBC ranges)
into the classic DBC's 129 frames (header + A/B per slot). ``cantools`` builds each frame's
dict of physical values in Python and calls ``encode_message(..., strict=True)``; ``fusion``
calls ``TrackEncoder.encode`` (vectorised scaling and clamping, cantools packs raw integers,
python-can ``Message`` objects out). Both produce the same bytes (asserted). Case ``fusion-fd``:
the CAN FD DBC (65 frames of 64 bytes). Run::

    PYTHONPATH=src python -m pytest benchmarks/bench_publish.py --benchmark-enable --benchmark-group-by=group
"""

from __future__ import annotations

import functools
import math
from typing import Any

import cantools
import numpy as np
import pytest

from fusion.engine import EngineConfig, FusionEngine
from fusion.engine.config import SensorConfig
from fusion.hil.publish import TrackEncoder, package_dbc_path


@functools.cache
def _tracks() -> np.ndarray:
    dtype = FusionEngine(EngineConfig(sensors=[SensorConfig(name="lidar", model="lidar_box3d")])).track_dtype
    rng = np.random.default_rng(0)
    t = np.zeros(64, dtype)
    t["id"] = np.arange(64) * 7 + 100
    t["status"] = 1
    t["box"][:, 0:2] = rng.uniform(-150, 150, (64, 2))
    t["box"][:, 3] = rng.uniform(-3, 3, 64)
    t["box"][:, 4:6] = rng.uniform(0.5, 9.0, (64, 2))
    t["velocity"][:, 0:2] = rng.uniform(-40, 40, (64, 2))
    t["class_id"] = rng.integers(0, 4, 64)
    t["existence"] = rng.uniform(0, 1, 64)
    return t


def _cantools_encode(db: Any, t_ns: int, tracks: np.ndarray) -> list[bytes]:
    out = [db.encode_message(0x600, {"CycleCounter": 1, "NumObjects": len(tracks),
                                     "TimestampUs": (t_ns // 1000) % 2**40}, strict=True)]
    for k, r in enumerate(tracks):
        b, v = r["box"], r["velocity"]
        out.append(db.encode_message(0x610 + k, {"PosX": b[0], "PosY": b[1], "VelX": v[0], "VelY": v[1]}))
        heading = math.degrees(math.remainder(float(b[3]), 2 * math.pi))
        out.append(db.encode_message(0x650 + k, {"TrackId": int(r["id"]), "Length": b[4], "Width": b[5],
                                                 "Heading": heading, "Class": int(r["class_id"]),
                                                 "Existence": float(r["existence"]), "Status": int(r["status"])}))
    return out


@pytest.mark.benchmark(group="track-encode")
@pytest.mark.parametrize("case", ["cantools", "fusion", "fusion-fd"])
def test_track_encode(benchmark: Any, case: str) -> None:
    tracks = _tracks()
    t_ns = 1_234_567_890_123
    db = cantools.database.load_file(str(package_dbc_path(case == "fusion-fd")))
    reference = _cantools_encode(cantools.database.load_file(str(package_dbc_path())), t_ns, tracks)
    if case == "cantools":
        out = benchmark(_cantools_encode, db, t_ns, tracks)
        assert out == reference
        return
    enc = TrackEncoder(fd=case == "fusion-fd")
    msgs = benchmark(enc.encode, 1, t_ns, tracks)
    if case == "fusion":
        assert [bytes(m.data) for m in msgs] == reference
    else:
        assert len(msgs) == 65 and enc.decode(msgs)[0]["tracks"][5]["id"] == int(tracks["id"][5])
        assert enc.stats()["clamped"] == {}
