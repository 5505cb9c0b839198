"""Multi-target tracking.

- :class:`Tracker`: oriented 3D boxes (lidar detections), per-class motion models, GNN on
  box overlap or distance costs; see :mod:`fusion.tracking.tracker` for the array layouts.
- :class:`PointTracker`: 2D point targets (CV), Mahalanobis chi-square gating, GNN or JPDA;
  see :mod:`fusion.tracking.point_tracker`.
"""

from fusion.tracking.config import COST_KINDS, ClassConfig, TrackerConfig
from fusion.tracking.point_tracker import POINT_TRACK_DTYPE, PointTracker, PointTrackerConfig, jpda_marginals
from fusion.tracking.tracker import (
    COASTING,
    CONFIRMED,
    DETECTION_DTYPE,
    TENTATIVE,
    TRACK_DTYPE,
    TimestampError,
    Tracker,
    make_detections,
)

__all__ = ["COST_KINDS", "ClassConfig", "TrackerConfig", "Tracker", "TimestampError", "DETECTION_DTYPE",
           "TRACK_DTYPE", "TENTATIVE", "CONFIRMED", "COASTING", "make_detections",
           "PointTracker", "PointTrackerConfig", "POINT_TRACK_DTYPE", "jpda_marginals"]
