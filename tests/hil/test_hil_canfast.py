"""The compiled CAN decoder (fusion.hil.canfast / _candecode) against cantools on the same frames."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from fusion.hil.canfast import UNKNOWN_ID, WRONG_LENGTH, CompiledDbc, pack_frames
from fusion.hil.dbc import load_dbc
from fusion.hil.errors import CanFrameError, DbcError

DBCS = [
    "toyota_adas.dbc", "toyota_tss2_adas.dbc", "master-7343a66/toyota_adas.dbc", "ESR.dbc", "FORD_CADS.dbc",
    "cadillac_ct6_object.dbc", "generated/hyundai_kia_mando_corner_radar_generated.dbc",  # 64-byte CAN FD
    "generated/tesla_radar_continental_generated.dbc", "generated/toyota_new_mc_pt_generated.dbc",
]


def _reference(db, frame_id: int, data: bytes) -> dict[str, float] | None:
    import cantools

    try:
        ref = db.decode_message(frame_id, data, decode_choices=False)
    except cantools.database.DecodeError:  # e.g. PCS_HUD's overlapping signals in the generated Toyota DBC
        return None
    return {k: float(v) for k, v in ref.items()}


@pytest.mark.parametrize("name", DBCS)
def test_every_message_matches_cantools_on_random_payloads(can_data: Path, name: str) -> None:
    db = load_dbc(can_data / "opendbc" / name)
    compiled = CompiledDbc(db)
    rng = np.random.default_rng(sum(map(ord, name)))
    compared = 0
    for msg in db.messages:
        # random bytes, plus all-ones and all-zeros (sign bits and 64-bit signals at their extremes)
        payloads = [rng.integers(0, 256, msg.length, dtype=np.uint8).tobytes() for _ in range(40)]
        payloads += [b"\xff" * msg.length, b"\x00" * msg.length]
        rows = np.frombuffer(b"".join(payloads), dtype=np.uint8).reshape(len(payloads), msg.length)
        batch = compiled.decode_batch(np.full(len(payloads), msg.frame_id), rows)
        names = compiled.signal_names(compiled.index(msg.frame_id))
        for i, data in enumerate(payloads):
            ref = _reference(db, msg.frame_id, data)
            if ref is None:
                continue
            assert compiled.decode(msg.frame_id, data) == ref, (msg.name, data.hex())
            assert dict(zip(names, batch.values[i, :len(names)].tolist())) == ref, (msg.name, data.hex())
            assert batch.status[i] == compiled.index(msg.frame_id)
            assert compiled.decode_scratch(msg.frame_id, data) == batch.status[i]
            assert dict(zip(names, compiled.scratch[:len(names)].tolist())) == ref
            compared += 1
    assert compared >= 40 * len(db.messages) * 0.9


def test_rav4_radar_frames_match_cantools(can_data: Path) -> None:
    from fusion.hil.logs import read_log

    db = load_dbc(can_data / "opendbc" / "toyota_adas.dbc")
    compiled = CompiledDbc(db)
    frames = [f for f in read_log(can_data / "comma2k19" / "derived" / "rav4_2018-08-02--08-34-47_seg40.blf")
              if f.channel == "1" and compiled.index(f.arbitration_id) >= 0]
    assert len(frames) == 32 * 1200  # TRACK_A/B_0..15 at 20 Hz for 60 s
    ids, data, lengths = pack_frames(frames)
    batch = compiled.decode_batch(ids, data, lengths)
    assert (batch.status >= 0).all()
    for i in range(0, len(frames), 7):  # every 7th frame through cantools (the whole set takes seconds)
        names = compiled.signal_names(int(batch.status[i]))
        ref = _reference(db, int(ids[i]), frames[i].data)
        assert ref is not None and dict(zip(names, batch.values[i, :len(names)].tolist())) == ref


def test_unknown_id_and_wrong_length_are_reported_never_read_past_the_payload(can_data: Path) -> None:
    db = load_dbc(can_data / "opendbc" / "toyota_adas.dbc")
    compiled = CompiledDbc(db, ["TRACK_A_0"])
    batch = compiled.decode_batch([0x210, 0x211, 0x210], np.zeros((3, 8), np.uint8), [8, 8, 5])
    assert batch.status.tolist() == [0, UNKNOWN_ID, WRONG_LENGTH]
    assert np.isfinite(batch.values[0]).all() and np.isnan(batch.values[1:]).all()
    assert compiled.decode_scratch(0x210, b"\x00" * 7) == WRONG_LENGTH
    assert compiled.decode_scratch(0x211, b"\x00" * 8) == UNKNOWN_ID
    with pytest.raises(CanFrameError, match=r"CAN id 0x210 at t_ns=5: TRACK_A_0: expected 8 data bytes, but got 5"):
        compiled.decode(0x210, b"\x00" * 5, t_ns=5)
    with pytest.raises(CanFrameError, match="0x211"):
        compiled.decode(0x211, b"\x00" * 8)
    with pytest.raises(DbcError, match="NOPE"):
        CompiledDbc(db, ["NOPE"])
    with pytest.raises(DbcError, match="signal 'X' is not in message TRACK_A_0"):
        compiled.column("TRACK_A_0", "X")


def test_multiplexed_message_is_refused_with_its_name(can_data: Path) -> None:
    db = load_dbc(can_data / "opendbc" / "generated" / "tesla_radar_bosch_generated.dbc")
    muxed = [m for m in db.messages if m.is_multiplexed()]
    assert muxed
    with pytest.raises(DbcError, match=f"message {muxed[0].name} .* is multiplexed"):
        CompiledDbc(db)
    plain = CompiledDbc(db, [m.name for m in db.messages if not m.is_multiplexed()])
    assert len(plain.messages) == len(db.messages) - len(muxed)


def test_decode_batch_from_many_threads_gives_the_serial_result(can_data: Path) -> None:
    """Concurrency contract: a CompiledDbc is immutable; concurrent decode_batch calls are safe."""
    db = load_dbc(can_data / "opendbc" / "toyota_adas.dbc")
    compiled = CompiledDbc(db)
    rng = np.random.default_rng(1)
    ids = rng.choice(compiled.frame_ids, 20000)
    data = rng.integers(0, 256, (20000, 8), dtype=np.uint8)
    expected = compiled.decode_batch(ids, data).values
    results: list[np.ndarray] = []

    def work() -> None:
        for _ in range(5):
            results.append(compiled.decode_batch(ids, data).values)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20
    for r in results:
        np.testing.assert_array_equal(r, expected)
