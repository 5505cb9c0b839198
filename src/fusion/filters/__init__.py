"""State estimation: Kalman filters with filterpy's interface and C++ engines.

- :class:`KalmanFilter`, :class:`ExtendedKalmanFilter`, :class:`UnscentedKalmanFilter` with
  :class:`MerweScaledSigmaPoints`, and :class:`IMMEstimator`: drop-in for
  ``filterpy.kalman`` (change the import).
- :class:`KalmanFilterBank`, :class:`ExtendedKalmanFilterBank`,
  :class:`UnscentedKalmanFilterBank`: many filters of one built-in model pair in one call.
- State maps (:class:`LinearStateMap`, :class:`CVToCTRV`, :class:`CTRVToCV`) let the IMM mix
  models whose states differ in size.
"""

from fusion.filters.bank import ExtendedKalmanFilterBank, KalmanFilterBank, UnscentedKalmanFilterBank
from fusion.filters.ekf import ExtendedKalmanFilter
from fusion.filters.imm import CTRVToCV, CVToCTRV, IdentityMap, IMMEstimator, LinearStateMap, StateMap
from fusion.filters.kalman_filter import KalmanFilter
from fusion.filters.ukf import MerweScaledSigmaPoints, UnscentedKalmanFilter, unscented_transform

__all__ = [
    "KalmanFilter",
    "ExtendedKalmanFilter",
    "UnscentedKalmanFilter",
    "MerweScaledSigmaPoints",
    "unscented_transform",
    "IMMEstimator",
    "StateMap",
    "IdentityMap",
    "LinearStateMap",
    "CVToCTRV",
    "CTRVToCV",
    "KalmanFilterBank",
    "ExtendedKalmanFilterBank",
    "UnscentedKalmanFilterBank",
]
