"""Data for examples, tests and benchmarks: deterministic simulated scenarios (here), and
loaders for recorded data (``fusion.kitti`` for KITTI tracking).

- :mod:`fusion.datasets.driving`: driving scenes (highway, urban intersection, stop-and-go,
  roadside unit) with ground truth, ego motion and simulated lidar, radar and camera
  (:func:`make_scenario`); :mod:`fusion.datasets.truth` and :mod:`fusion.datasets.sensors`
  are their ground truth and sensor simulation.
- :mod:`fusion.datasets.sample_drive`: a scenario written as a HIL rig records it (CAN log with
  the project's sensor DBCs, lidar stream, truth, rig) for ``fusion replay``, and its GOSPA score.
- :mod:`fusion.datasets.scenarios`: one vehicle seen by one radar (:func:`simulate_radar_drive`).
- :mod:`fusion.datasets.point_targets`: 2D point targets with clutter.
"""

from fusion.datasets.driving import SCENARIOS, DrivingScenario, make_scenario, scenario_names
from fusion.datasets.scenarios import RadarScenario, simulate_radar_drive

__all__ = ["SCENARIOS", "DrivingScenario", "RadarScenario", "make_scenario", "scenario_names",
           "simulate_radar_drive"]
