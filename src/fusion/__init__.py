"""fusion: sensor fusion and multi-target tracking for automated vehicles.

The heavy work runs in a C++17 core (``fusion._core``); this package is its numpy-first API.

- :mod:`fusion.filters`: Kalman filters (KF, EKF, UKF, IMM) with a filterpy-compatible object
  API, and :class:`~fusion.filters.KalmanFilterBank` for many filters in one call.
- :mod:`fusion.models`: motion models (CV, CA, CTRV, CTRA, constant turn) and sensor models
  (position, radar, camera).
- :mod:`fusion.errors`: the exceptions fusion raises.
"""

from fusion import errors
from fusion.errors import ConfigurationError, FusionError, NumericalError, ShapeError

__version__ = "0.1.0"
__all__ = ["errors", "FusionError", "ShapeError", "NumericalError", "ConfigurationError", "__version__"]
