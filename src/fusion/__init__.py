"""fusion: sensor fusion and multi-target tracking for automated vehicles.

The heavy work runs in a C++17 core (``fusion._core``); this package is its numpy-first API.

- :mod:`fusion.filters`: Kalman filters (KF, EKF, UKF, IMM) and filterpy's module functions,
  a drop-in for ``filterpy.kalman``, and :class:`~fusion.filters.KalmanFilterBank` for many
  filters in one call.
- :mod:`fusion.models`: motion models (CV, CA, CTRV, CTRA, constant turn, kinematic bicycle)
  and sensor models (position, radar, camera).
- :mod:`fusion.tracking`: the 3D box tracker (:class:`Tracker`, :class:`TrackerConfig`) and the
  point tracker (:class:`~fusion.tracking.PointTracker`, GNN or JPDA).
- :mod:`fusion.engine`: the multi-sensor engine (:class:`~fusion.engine.FusionEngine`: lidar,
  camera, radar and point detections fused into one set of 3D tracks, image tracks for
  camera-only targets), configured by :class:`~fusion.engine.EngineConfig` (dataclasses, TOML).
- :mod:`fusion.assoc`, :mod:`fusion.geometry`: assignment solvers and matching; oriented 3D box
  overlap, image-box overlap and pinhole projection.
- :mod:`fusion.metrics`: CLEAR, HOTA, IDF1, OSPA, GOSPA, NEES/NIS.
- :mod:`fusion.kitti`: the KITTI dataset adapter and the ``fusion kitti`` commands.
- :mod:`fusion.errors`: the exceptions fusion raises.
"""

from fusion import errors
from fusion.errors import ConfigurationError, FusionError, NumericalError, ShapeError

# The one place the version is written: pyproject.toml reads it from here at build time.
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The tracker pulls in the C++ core; load it on first use so `import fusion` stays light.
    if name in ("Tracker", "TrackerConfig", "ClassConfig"):
        from fusion import tracking

        return getattr(tracking, name)
    raise AttributeError(f"module 'fusion' has no attribute {name!r}")


__all__ = [
    "errors", "FusionError", "ShapeError", "NumericalError", "ConfigurationError",
    "Tracker", "TrackerConfig", "ClassConfig", "__version__",
]
