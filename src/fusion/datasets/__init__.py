"""Data for examples, tests and benchmarks: deterministic simulated scenarios (here), and
loaders for recorded data (``fusion.kitti`` for KITTI tracking)."""

from fusion.datasets.scenarios import RadarScenario, simulate_radar_drive

__all__ = ["RadarScenario", "simulate_radar_drive"]
