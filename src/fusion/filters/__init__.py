"""State estimation: Kalman filters with filterpy's interface and C++ engines.

- :class:`KalmanFilter`, :class:`ExtendedKalmanFilter`, :class:`UnscentedKalmanFilter` with
  :class:`MerweScaledSigmaPoints`, and :class:`IMMEstimator`: drop-in for
  ``filterpy.kalman`` (change the import).
- :class:`KalmanFilterBank`, :class:`ExtendedKalmanFilterBank`,
  :class:`UnscentedKalmanFilterBank`: many filters of one built-in model pair in one call.
- :func:`predict`, :func:`update`, :func:`predict_steadystate`, :func:`update_steadystate`,
  :func:`batch_filter`, :func:`rts_smoother`: ``filterpy.kalman``'s module-level functions.
- :class:`IMMBank`: many IMM tracks (CV + CV, CV + CTRV, ...) in one C++ call.
- State maps (:class:`LinearStateMap`, :class:`CVToCTRV`, :class:`CTRVToCV`) let the IMM mix
  models whose states differ in size.
"""

from fusion.filters.bank import (
    ExtendedKalmanFilterBank,
    KalmanFilterBank,
    UnscentedKalmanFilterBank,
)
from fusion.filters.ekf import ExtendedKalmanFilter
from fusion.filters.imm import (
    CTRVToCV,
    CVToCTRV,
    IdentityMap,
    IMMEstimator,
    LinearStateMap,
    StateMap,
)
from fusion.filters.imm_bank import IMMBank
from fusion.filters.kalman_filter import KalmanFilter
from fusion.filters.procedural import (
    batch_filter,
    predict,
    predict_steadystate,
    rts_smoother,
    update,
    update_steadystate,
)
from fusion.filters.ukf import (
    MerweScaledSigmaPoints,
    UnscentedKalmanFilter,
    unscented_transform,
)

__all__ = [
    "CTRVToCV",
    "CVToCTRV",
    "ExtendedKalmanFilter",
    "ExtendedKalmanFilterBank",
    "IMMBank",
    "IMMEstimator",
    "IdentityMap",
    "KalmanFilter",
    "KalmanFilterBank",
    "LinearStateMap",
    "MerweScaledSigmaPoints",
    "StateMap",
    "UnscentedKalmanFilter",
    "UnscentedKalmanFilterBank",
    "batch_filter",
    "predict",
    "predict_steadystate",
    "rts_smoother",
    "unscented_transform",
    "update",
    "update_steadystate",
]
