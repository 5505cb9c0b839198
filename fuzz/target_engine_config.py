"""Fuzz target: arbitrary bytes as an engine TOML configuration (fusion.engine.EngineConfig.from_toml),
then the engine built from it (fusion.engine.FusionEngine).

Documented: ConfigurationError (file, table, key). Checks: a configuration that loads round-trips
through to_toml and builds an engine."""

from __future__ import annotations

from fusion.engine import EngineConfig, FusionEngine

from fuzz_harness import Target, write_input


def run(data: bytes) -> None:
    cfg = EngineConfig.from_toml(write_input("engine.toml", data))
    again = EngineConfig.from_toml(write_input("engine2.toml", cfg.to_toml().encode()))
    assert again.to_dict() == cfg.to_dict()
    FusionEngine(cfg)


TARGET = Target("engine_config", run)
