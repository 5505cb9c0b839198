"""Fuzz target: a rig file with its own DBC file (fusion.hil.rig.load_rig: TOML, the DBC found
next to the rig and parsed by fusion.hil.dbc.load_dbc / cantools, the decoder tables checked
against the DBC's messages and signals).

Input: ``TOML \\0 DBC``; without a NUL byte the whole input is the DBC under a fixed one-radar rig
(``TEMPLATE``) that names messages and signals of the package's radar DBC.

Documented: ConfigurationError (file, table and key), DbcError (file)."""

from __future__ import annotations

from fusion.hil.rig import load_rig

from fuzz_harness import Target, write_input

TEMPLATE = b"""[channels]
"0" = "radar"
[engine]
motion = "cv_point2d"
[sensors.radar]
bus = "radar"
dbc = "user.dbc"
decoder = "dbc_object_list"
[sensors.radar.decoder_config]
header = { message = "RADAR_HEADER", count = "NUM_DETECTIONS" }
objects = { message = "RADAR_DETECTION" }
fields = { range = "RANGE", azimuth = "AZIMUTH", range_rate = "RANGE_RATE" }
[sensors.radar.engine]
model = "radar"
[output]
bev = false
"""


def run(data: bytes) -> None:
    toml, sep, dbc = data.partition(b"\0")
    if not sep:
        toml, dbc = TEMPLATE, data
    write_input("user.dbc", dbc)
    load_rig(write_input("rig.toml", toml))


TARGET = Target("rig_dbc", run)
