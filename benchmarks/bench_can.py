"""CAN decode: fusion's compiled DBC decoder (fusion.hil.canfast, Cython) against cantools
``Database.decode_message`` on the same frames.

Group ``can-decode``: the 38,400 radar frames of the real RAV4 drive (comma2k19, bus 1: the
Denso radar's TRACK_A_0..15 and TRACK_B_0..15, 60 s at 20 Hz) decoded with opendbc's
``toyota_adas.dbc``.  ``cantools`` calls ``decode_message(id, data, decode_choices=False)`` per
frame (scaling on); ``fusion`` compiles the layout once (outside the timing) and decodes the
whole batch in one call (``CompiledDbc.decode_batch``: one array row per frame).  Each case
asserts its values equal cantools' on every frame (the reference is computed once, untimed).

Needs the shared CAN data (``$FUSION_SHARED_DATA`` or ``../shared/data`` beside the checkout);
skips without it (fails under FUSION_REQUIRE_SHARED=1).  Run::

    PYTHONPATH=src python -m pytest benchmarks/bench_can.py --benchmark-enable --benchmark-group-by=group
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fusion.hil.canfast import CompiledDbc, pack_frames
from fusion.hil.dbc import load_dbc
from fusion.hil.logs import read_log


def _can_data() -> Path:
    env = os.environ.get("FUSION_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    path = root / "can"
    if not (path / "comma2k19").is_dir():
        message = f"CAN data not found: {path}/comma2k19"
        if os.environ.get("FUSION_REQUIRE_SHARED") == "1":
            pytest.fail(message + "; FUSION_REQUIRE_SHARED=1 requires it")
        pytest.skip(message)
    return path


@functools.cache
def _problem(path: Path) -> tuple[Any, CompiledDbc, np.ndarray, np.ndarray, np.ndarray, list[bytes], np.ndarray]:
    db = load_dbc(path / "opendbc" / "toyota_adas.dbc")
    compiled = CompiledDbc(db)
    frames = [f for f in read_log(path / "comma2k19" / "derived" / "rav4_2018-08-02--08-34-47_seg40.blf")
              if f.channel == "1" and compiled.index(f.arbitration_id) >= 0]
    ids, data, lengths = pack_frames(frames)
    payloads = [f.data for f in frames]
    # the reference: cantools' values, laid out like decode_batch's rows (NaN past a message's signals)
    ref = np.full((len(frames), compiled.max_signals), np.nan)
    for i, (fid, payload) in enumerate(zip(ids.tolist(), payloads)):
        row = db.decode_message(fid, payload, decode_choices=False)
        names = compiled.signal_names(compiled.index(fid))
        ref[i, :len(names)] = [float(row[n]) for n in names]
    return db, compiled, ids, data, lengths, payloads, ref


@pytest.mark.parametrize("decoder", ["cantools", "fusion"])
def test_can_decode(benchmark, decoder: str) -> None:
    benchmark.group = "can-decode"
    db, compiled, ids, data, lengths, payloads, ref = _problem(_can_data())
    assert len(ids) == 38_400
    if decoder == "cantools":
        id_list = ids.tolist()

        def run() -> list[dict[str, Any]]:
            return [db.decode_message(fid, p, decode_choices=False) for fid, p in zip(id_list, payloads)]

        rows = benchmark(run)
        got = np.full_like(ref, np.nan)
        for i, (fid, row) in enumerate(zip(id_list, rows)):
            names = compiled.signal_names(compiled.index(fid))
            got[i, :len(names)] = [float(row[n]) for n in names]
    else:
        result = benchmark(compiled.decode_batch, ids, data, lengths)
        assert (result.status >= 0).all()
        got = result.values
    np.testing.assert_array_equal(got, ref)
