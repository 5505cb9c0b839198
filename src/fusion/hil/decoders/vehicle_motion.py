"""Vehicle-motion decoder (registry key ``vehicle_motion``): ego speed and yaw rate from the
vehicle bus, as samples ``(t_ns, speed_mps, yaw_rate_rps)`` for the engine's ego-motion input.

Configuration (signals named in the DBC; ``unit`` converts to SI, ``scale``/``offset`` apply
after it)::

    speed = {message = "SPEED", signal = "SPEED", unit = "km/h"}
    yaw_rate = {message = "KINEMATICS", signal = "YAW_RATE", unit = "deg/s", scale = 1.0}
    wheel_speeds = {message = "WHEEL_SPEEDS", signals = ["WHEEL_SPEED_FL", ...], unit = "km/h"}  # optional
    emit_on = "yaw_rate"   # which input's frames produce a sample: "yaw_rate" (default), "speed"

Without ``speed``, the speed is the mean of the wheel speeds.  A sample is emitted on each frame
of the ``emit_on`` message once every input has been seen, with the latest value of each (sample
and hold); ``EgoSample.wheel_speeds_mps`` carries the wheel speeds when configured.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from fusion.errors import ConfigurationError, TimestampError
from fusion.hil.dbc import Database
from fusion.hil.decoders.base import Decoder, config_number, unit_scale

__all__ = ["EgoSample", "VehicleMotionDecoder"]


class EgoSample(NamedTuple):
    t_ns: int
    speed_mps: float
    yaw_rate_rps: float
    wheel_speeds_mps: tuple[float, ...] | None = None


def _input(where: str, spec: Any, *, many: bool = False) -> tuple[str, list[str], float, float]:
    key = "signals" if many else "signal"
    if not isinstance(spec, Mapping) or not isinstance(spec.get("message"), str):
        raise ConfigurationError(f"{where}: expected {{message = NAME, {key} = ..., unit = ...}}, got {spec!r}")
    unknown = set(spec) - {"message", key, "unit", "scale", "offset"}
    if unknown:
        raise ConfigurationError(f"{where}: unknown key(s) {sorted(unknown)}")
    sigs = spec.get(key)
    sigs = [sigs] if isinstance(sigs, str) and not many else sigs
    if not isinstance(sigs, list) or not sigs or not all(isinstance(s, str) for s in sigs):
        raise ConfigurationError(f"{where}.{key}: expected {'a list of signal names' if many else 'a signal name'}, "
                                 f"got {spec.get(key)!r}")
    scale = unit_scale(f"{where}.unit", spec.get("unit", "1")) * config_number(f"{where}.scale",
                                                                                 spec.get("scale", 1.0))
    return spec["message"], sigs, scale, config_number(f"{where}.offset", spec.get("offset", 0.0))


class VehicleMotionDecoder(Decoder):
    """See the module docstring for the configuration."""

    def __init__(self, db: Database, config: Mapping[str, Any], *, strict: bool = False) -> None:
        unknown = set(config) - {"speed", "yaw_rate", "wheel_speeds", "emit_on", "check_ranges"}
        if unknown:
            raise ConfigurationError(f"vehicle_motion: unknown key(s) {sorted(unknown)}")
        if "yaw_rate" not in config:
            raise ConfigurationError("vehicle_motion.yaw_rate: missing (a {message, signal, unit} table)")
        if "speed" not in config and "wheel_speeds" not in config:
            raise ConfigurationError("vehicle_motion: give 'speed' or 'wheel_speeds'")
        self._inputs: dict[str, tuple[str, list[str], float, float]] = {"yaw_rate": _input("vehicle_motion.yaw_rate",
                                                                                           config["yaw_rate"])}
        if "speed" in config:
            self._inputs["speed"] = _input("vehicle_motion.speed", config["speed"])
        if "wheel_speeds" in config:
            self._inputs["wheel_speeds"] = _input("vehicle_motion.wheel_speeds", config["wheel_speeds"], many=True)
        emit_on = config.get("emit_on", "yaw_rate")
        if emit_on not in self._inputs:
            raise ConfigurationError(f"vehicle_motion.emit_on: expected one of {sorted(self._inputs)}, got {emit_on!r}")
        super().__init__(db, config, strict=strict)
        c = self._compiled
        # frame id -> [(input name, columns)] (several inputs may share one message)
        self._by_id: dict[int, list[tuple[str, list[int]]]] = {}
        for name, (msg, sigs, _s, _o) in self._inputs.items():
            fid = int(next(m.frame_id for m in c.messages if m.name == msg))
            self._by_id.setdefault(fid, []).append((name, [c.column(msg, s) for s in sigs]))
        self._emit_id = int(next(m.frame_id for m in c.messages if m.name == self._inputs[emit_on][0]))
        self._emit_on = emit_on
        self._latest: dict[str, tuple[float, ...]] = {}

    def message_names(self) -> Iterable[str]:
        return sorted({spec[0] for spec in self._inputs.values()})

    def feed(self, t_ns: int, frame_id: int, data: bytes) -> list[Any]:
        if not -(2 ** 63) <= t_ns < 2 ** 63:  # as ObjectListDecoder: refused first, changes nothing
            raise TimestampError(f"t_ns: {t_ns} is outside int64 (CAN id 0x{frame_id:X})")
        m = self._decode(t_ns, frame_id, data)
        if m < 0:
            return []
        self._check_range(t_ns, frame_id, m)
        for name, cols in self._by_id[frame_id]:
            _msg, _sigs, scale, offset = self._inputs[name]
            self._latest[name] = tuple(float(self._buf[j]) * scale + offset for j in cols)
        if frame_id != self._emit_id or len(self._latest) != len(self._inputs):
            return []
        wheels = self._latest.get("wheel_speeds")
        speed = self._latest["speed"][0] if "speed" in self._latest else sum(wheels or ()) / len(wheels or (1,))
        self.stats["samples"] += 1
        return [EgoSample(t_ns, speed, self._latest["yaw_rate"][0], wheels)]
