"""3D multi-object tracking over oriented boxes: :class:`Tracker` and its configuration.

See :mod:`fusion.tracking.tracker` for the detection and track array layouts.
"""

from fusion.tracking.config import COST_KINDS, ClassConfig, TrackerConfig
from fusion.tracking.tracker import (COASTING, CONFIRMED, DETECTION_DTYPE, TENTATIVE, TRACK_DTYPE,
                                     TimestampError, Tracker, make_detections)

__all__ = ["COST_KINDS", "ClassConfig", "TrackerConfig", "Tracker", "TimestampError", "DETECTION_DTYPE",
           "TRACK_DTYPE", "TENTATIVE", "CONFIRMED", "COASTING", "make_detections"]
