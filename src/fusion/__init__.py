"""fusion: sensor fusion and multi-target tracking for automated vehicles.

The heavy work runs in a C++17 core (``fusion._core``); this package is its numpy-first API.

- :mod:`fusion.filters`: Kalman filters (KF, EKF, UKF, IMM) with a filterpy-compatible object
  API, and :class:`~fusion.filters.KalmanFilterBank` for many filters in one call.
- :mod:`fusion.models`: motion models (CV, CA, CTRV, CTRA, constant turn) and sensor models
  (position, radar, camera).
- :mod:`fusion.tracking`: the multi-target tracker (:class:`Tracker`, :class:`TrackerConfig`).
- :mod:`fusion.assoc`, :mod:`fusion.geometry`: assignment solvers and oriented box overlap.
- :mod:`fusion.kitti`: KITTI tracking readers, evaluation and the ``fusion kitti`` commands.
- :mod:`fusion.errors`: the exceptions fusion raises.
"""

from fusion import errors
from fusion.errors import ConfigurationError, FusionError, NumericalError, ShapeError

__version__ = "0.1.0"


def __getattr__(name: str):
    # The tracker pulls in the C++ core; load it on first use so `import fusion` stays light.
    if name in ("Tracker", "TrackerConfig", "ClassConfig"):
        from fusion import tracking

        return getattr(tracking, name)
    raise AttributeError(f"module 'fusion' has no attribute {name!r}")


__all__ = [
    "errors", "FusionError", "ShapeError", "NumericalError", "ConfigurationError",
    "Tracker", "TrackerConfig", "ClassConfig", "__version__",
]
