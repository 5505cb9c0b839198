"""`fusion scenarios`: the engine on simulated drives (:mod:`fusion.scenarios.evaluate`)."""

from fusion.scenarios.evaluate import ORDERS, SENSOR_SETS, evaluate

__all__ = ["ORDERS", "SENSOR_SETS", "evaluate"]
