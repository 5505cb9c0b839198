"""The shipped rig file hil/rigs/rav4_comma2k19.toml: its channel map and decoder tables decode
the RAV4 drive from its BLF (both buses merged in one pass) into radar cycles equal to comma's
oracle and ego samples."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np

from fusion.hil.dbc import load_dbc
from fusion.hil.decoders import make_decoder
from fusion.hil.logs import read_logs

RIG = Path(__file__).resolve().parents[2] / "hil" / "rigs" / "rav4_comma2k19.toml"


def test_rig_decodes_the_blf(can_data: Path) -> None:
    rig = tomllib.loads(RIG.read_text())
    radar_cfg, ego_cfg = rig["sensors"]["front_radar"], rig["ego"]
    radar = make_decoder(radar_cfg["decoder"], load_dbc(can_data / radar_cfg["dbc"]), radar_cfg["decoder_config"])
    ego = make_decoder(ego_cfg["decoder"], load_dbc(can_data / ego_cfg["dbc"]), ego_cfg["decoder_config"])
    routes = {radar_cfg["bus"]: radar, ego_cfg["bus"]: ego}
    cycles, samples = [], []
    blf = can_data / "comma2k19" / "derived" / "rav4_2018-08-02--08-34-47_seg40.blf"
    for f in read_logs([blf], rig["channels"]):
        dec = routes.get(f.channel)
        if dec is not None and f.arbitration_id in dec.frame_ids:
            (cycles if dec is radar else samples).extend(dec.feed(f.t_ns, f.arbitration_id, f.data))
    cycles += radar.flush()
    assert len(cycles) == 1200 and sum(len(c) for c in cycles) == 10100
    oracle = np.load(can_data / "comma2k19" / "processed_log" / "CAN" / "radar" / "value")
    # the BLF keeps times relative to the first frame; values and ids are the candump log's
    x = np.sort(np.concatenate([c.fields["x"] for c in cycles]) + 2.7)
    np.testing.assert_allclose(x, np.sort(oracle[:, 0]), rtol=0, atol=1e-12)
    assert 2400 <= len(samples) <= 5000  # one per KINEMATICS frame once SPEED and WHEEL_SPEEDS were seen
    speeds = np.array([s.speed_mps for s in samples])
    assert 29.0 / 3.6 <= speeds.min() and speeds.max() <= 73.2 / 3.6  # the README's 29.4 .. 73.1 km/h
    assert all(len(s.wheel_speeds_mps) == 4 for s in samples)
