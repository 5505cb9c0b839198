"""Fuzz target: arbitrary bytes as a rig file (fusion.hil.rig.load_rig: TOML, DBC references to the
package DBCs, decoder tables, the [engine] table).

Documented: ConfigurationError (file, table and key), DbcError."""

from __future__ import annotations

from fusion.hil.rig import load_rig

from fuzz_harness import Target, write_input


def run(data: bytes) -> None:
    load_rig(write_input("rig.toml", data))


TARGET = Target("rig_toml", run)
