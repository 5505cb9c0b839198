"""Fuzz target: CAN frames (arbitrary ids, lengths, payloads, times) through the compiled decoder
(fusion.hil.canfast over fusion.hil._candecode) and the harness decoders of the package DBCs
(radar / camera object lists, vehicle motion), lenient and strict.

Checks: every decoded frame of a known id and the DBC's length gives cantools' values; the batch
decoder agrees with the one-frame decoder; decoders raise only CanFrameError (strict) and never
anything else; decoded object-list cycles hold arrays of one length."""

from __future__ import annotations

from typing import Any

import numpy as np

from fusion.hil.canfast import CompiledDbc
from fusion.hil.dbc import load_dbc
from fusion.hil.decoders import make_decoder
from fusion.hil.errors import CanFrameError
from fusion.hil.rig import package_dbc

from fuzz_harness import Bytes, Target

_RADAR = {"header": {"message": "RADAR_HEADER", "count": "NUM_DETECTIONS"}, "objects": {"message": "RADAR_DETECTION"},
          "fields": {"range": "RANGE", "azimuth": "AZIMUTH", "range_rate": "RANGE_RATE", "score": "SCORE"}}
_CAMERA = {"header": {"message": "CAMERA_HEADER", "count": "NUM_OBJECTS"}, "objects": {"message": "CAMERA_OBJECT"},
           "fields": {"x1": "X1", "y1": "Y1", "x2": "X2", "y2": "Y2", "class_id": "CLASS", "score": "SCORE"}}
_VEHICLE = {"speed": {"message": "VEHICLE_SPEED", "signal": "SPEED", "unit": "km/h"},
            "yaw_rate": {"message": "VEHICLE_YAW_RATE", "signal": "YAW_RATE", "unit": "deg/s"}, "emit_on": "yaw_rate"}
_SETUPS = [("radar", "dbc_object_list", _RADAR), ("camera", "dbc_object_list", _CAMERA),
           ("vehicle", "vehicle_motion", _VEHICLE)]
_DBS = {name: load_dbc(package_dbc(name)) for name, _, _ in _SETUPS}
_COMPILED = {name: CompiledDbc(db) for name, db in _DBS.items()}


def _check_outputs(outs: list[Any]) -> None:
    for o in outs:
        if hasattr(o, "fields"):
            n = len(o)
            assert all(v.shape == (n,) for v in o.fields.values()), o
            assert o.can_id.shape == (n,) and o.slot.shape == (n,)


def run(data: bytes) -> None:
    b = Bytes(data)
    name, key, config = _SETUPS[b.u8() % len(_SETUPS)]
    db, compiled = _DBS[name], _COMPILED[name]
    decoders = [make_decoder(key, db, config), make_decoder(key, db, config, strict=True)]
    ids = [int(m.frame_id) for m in db.messages]
    frames: list[tuple[int, bytes]] = []
    t_ns = b.sint(8)
    while b.left() > 0 and len(frames) < 64:
        sel = b.u8()
        fid = ids[sel % len(ids)] if sel < 224 else b.uint(4) & (0x1FFFFFFF if sel & 1 else 0x7FF)
        msg_len = next((m.length for m in db.messages if m.frame_id == fid), 8)
        n = msg_len if b.u8() < 200 else b.u8() % 65
        payload = b.take(n)
        t_ns += b.sint(2) * 1_000_000
        frames.append((fid, payload))
        known = fid in ids and len(payload) == msg_len
        if known:
            got = compiled.decode(fid, payload)
            ref = db.decode_message(fid, payload, decode_choices=False, scaling=True)
            assert got == {k: float(v) for k, v in ref.items()}, (hex(fid), payload.hex(), got, ref)
        else:
            try:
                compiled.decode(fid, payload)
            except CanFrameError:
                pass
            else:
                raise AssertionError(f"decode accepted id 0x{fid:X} with {len(payload)} bytes")
        for dec in decoders:
            try:
                _check_outputs(dec.feed(t_ns, fid, payload))
            except CanFrameError:
                assert dec.strict, "a lenient decoder raised"
    for dec in decoders:
        _check_outputs(dec.flush())
    if frames:
        width = max(8, max(len(p) for _, p in frames))
        arr = np.zeros((len(frames), width), np.uint8)
        for i, (_, p) in enumerate(frames):
            arr[i, :len(p)] = np.frombuffer(p, np.uint8)
        res = compiled.decode_batch(np.array([f for f, _ in frames], np.uint32), arr,
                                    np.array([len(p) for _, p in frames], np.int32))
        for i, (fid, p) in enumerate(frames):
            m = int(res.status[i])
            assert m == compiled.decode_scratch(fid, p), (hex(fid), p.hex())
            if m >= 0:
                names = compiled.signal_names(m)
                assert dict(zip(names, res.values[i, :len(names)].tolist())) == compiled.decode(fid, p)


TARGET = Target("can_decode", run)
