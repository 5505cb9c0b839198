"""The multi-sensor tracking engine: lidar, camera, radar and position detections fused into
one set of 3D tracks, with image tracks for targets only a camera sees (one id space).

- :class:`FusionEngine`: the engine (``process`` one sensor frame, ``step`` a batch,
  ``tracks``, ``image_tracks``, ``stats``, ``reset``, ``time_ns``); track-record layout in
  :mod:`fusion.engine.engine`.
- :class:`EngineConfig`, :class:`SensorConfig`, :class:`FieldOfView`, :class:`LifecycleConfig`,
  :class:`ImageTrackConfig`: configuration dataclasses (units in their docstrings), with
  ``validate()``, ``to_spec()`` (the dict the C++ core takes), ``from_dict``/``from_toml``
  and ``to_toml``.
- :class:`MeasurementBatch`: detections of several sensors and times as a dataclass of arrays.
- :mod:`fusion.engine.registry`: the component keys (motion models, sensor models, costs,
  associators).
- :data:`TENTATIVE`, :data:`CONFIRMED`, :data:`COASTING`, :data:`DELETED`: track status values.

Example::

    from fusion.engine import EngineConfig, FusionEngine, SensorConfig

    cfg = EngineConfig(sensors=[SensorConfig.lidar(), SensorConfig.camera()])
    engine = FusionEngine(cfg)
    engine.process("lidar", 0, [[10.0, 0.0, 0.0, 0.0, 4.0, 1.8, 1.5]])
    tracks = engine.tracks()
"""

from fusion.engine import registry
from fusion.engine.batch import MeasurementBatch
from fusion.engine.config import (
    EngineConfig,
    FieldOfView,
    ImageTrackConfig,
    LifecycleConfig,
    SensorConfig,
    rotation_from_ypr,
)
from fusion.engine.engine import COASTING, CONFIRMED, DELETED, TENTATIVE, FusionEngine
from fusion.errors import TimestampError

__all__ = ["FusionEngine", "EngineConfig", "SensorConfig", "FieldOfView", "LifecycleConfig", "ImageTrackConfig",
           "MeasurementBatch", "registry", "rotation_from_ypr", "TimestampError", "TENTATIVE", "CONFIRMED",
           "COASTING", "DELETED"]
