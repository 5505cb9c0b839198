"""Configuration of :class:`fusion.t2t.TrackFuser`: one :class:`SourceConfig` per source and
the fuser's :class:`TrackFuserConfig`. A TOML file mirrors the dataclasses; sources are tables
under ``[sources]``, in source-index order::

    criterion = "trace"        # or "det": what covariance intersection minimises
    gate = 18.47               # squared Mahalanobis distance (4 dof: x, y, vx, vy)
    accel_std = 2.0            # m/s^2, white-acceleration noise of the prediction
    confirm_updates = 2
    delete_after_s = 1.0
    max_delay_s = 0.5
    merge_after = 2            # agreeing updates before two fused tracks merge (0: never)

    [sources.car]              # source 0: the vehicle's own tracks (pose given per update)

    [sources.rsu]              # source 1: a roadside unit
    latency_s = 0.1
    pose = [-14.0, -14.0, 0.0] # x [m], y [m], yaw [rad] of its frame in the fusion frame
    births = true              # false: only feeds fused tracks that other sources started

Errors (:class:`~fusion.errors.ConfigurationError`) name the file and the key; unknown keys
are rejected with the known ones listed.

Thread safety: plain dataclasses; share them read-only.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np

from fusion._toml import read_toml
from fusion.errors import ConfigurationError

__all__ = ["SourceConfig", "TrackFuserConfig"]

_MAX_SOURCES = 64
_MAX_COST_CELLS = 2**24  # max_source_tracks x max_fused_tracks (C++ t2t::kMaxCostCells)
_MAX_ACCEL_STD = 1e4  # m/s^2: a thousand g, far beyond any vehicle, small enough to square
_MAX_GATE = 1e12  # squared Mahalanobis distance
_MAX_SECONDS = 1e12  # s: beyond int64 nanoseconds (292 years): "never"; finite as a double


def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_keys(d: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    for k in d:
        if k not in known:
            raise ConfigurationError(f"{where}: unknown key {k!r} (known: {', '.join(known)})")


@dataclass
class SourceConfig:
    """One track-list source.

    Attributes:
        name: unique name (error messages, stats, ``update(source=name)``).
        latency_s: time from a list's stamp to its arrival at the fuser [s]: the list is
            fused at ``t_ns + latency`` (its tracks predicted to that time).
        pose: (x [m], y [m], yaw [rad]) of the source's frame in the fusion frame: static
            (a roadside unit); ``update(..., pose=...)`` overrides it per list (a moving car).
        births: False: this source's tracks only feed fused tracks other sources started and
            keep alive (a source with many false tracks that should refine, not start).
    """

    name: str
    latency_s: float = 0.0
    pose: tuple[float, float, float] = (0.0, 0.0, 0.0)
    births: bool = True

    def validate(self, where: str = "source") -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigurationError(f"{where}.name: expected a non-empty string, got {self.name!r}")
        if not (_number(self.latency_s) and 0.0 <= self.latency_s < 60.0):
            raise ConfigurationError(f"{where}.latency_s: expected seconds in [0, 60), got {self.latency_s!r}")
        p = self.pose
        if (not isinstance(p, (tuple, list)) or len(p) != 3 or not all(_number(v) and math.isfinite(v) for v in p)):
            raise ConfigurationError(f"{where}.pose: expected (x, y, yaw) finite numbers, got {p!r}")
        if not isinstance(self.births, bool):
            raise ConfigurationError(f"{where}.births: expected a bool, got {self.births!r}")


@dataclass
class TrackFuserConfig:
    """Configuration of :class:`~fusion.t2t.TrackFuser` (the semantics of each field are in
    :mod:`fusion.t2t.fuser`).

    Attributes:
        sources: the sources, in source-index order (1 to 64, unique names).
        max_fused_tracks: capacity of fused tracks (a source track that finds no room is not fused).
        max_source_tracks: longest list one update may carry (``max_source_tracks x
            max_fused_tracks`` at most 2**24: the cost matrix is sized up front).
        accel_std: white-acceleration noise of the constant-velocity prediction [m/s^2].
        gate: squared Mahalanobis distance (4 dof) within which a source track may feed a fused track.
        criterion: ``"trace"`` or ``"det"``, what covariance intersection minimises.
        confirm_updates: source updates after which a fused track is confirmed.
        delete_after_s: a fused track no source has fed for this long is deleted [s] (one no
            source reports any more is deleted at once).
        max_delay_s: a list arriving older than the fuser's time by more is dropped [s].
        merge_after: two fused tracks fed by no common source whose states agree within
            ``gate`` in this many consecutive updates are merged (the older id stays); 0 never
            merges.
    """

    sources: list[SourceConfig] = field(default_factory=list)
    max_fused_tracks: int = 512
    max_source_tracks: int = 256
    accel_std: float = 2.0
    gate: float = 18.47
    criterion: str = "trace"
    confirm_updates: int = 2
    delete_after_s: float = 1.0
    max_delay_s: float = 0.5
    merge_after: int = 2

    def validate(self) -> None:
        """Raises ConfigurationError naming the first bad field."""
        if not isinstance(self.sources, (list, tuple)) or not 1 <= len(self.sources) <= _MAX_SOURCES:
            raise ConfigurationError(f"sources: expected 1 to {_MAX_SOURCES} SourceConfig, got {self.sources!r}")
        names: set[str] = set()
        for i, s in enumerate(self.sources):
            if not isinstance(s, SourceConfig):
                raise ConfigurationError(f"sources[{i}]: expected a SourceConfig, got {type(s).__name__}")
            s.validate(f"sources[{i}]")
            if s.name in names:
                raise ConfigurationError(f"sources[{i}].name: {s.name!r} is used twice")
            names.add(s.name)
        for k in ("max_fused_tracks", "max_source_tracks", "confirm_updates"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1_000_000:
                raise ConfigurationError(f"{k}: expected an integer in [1, 1000000], got {v!r}")
        v = self.merge_after
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 1_000_000:
            raise ConfigurationError(f"merge_after: expected an integer in [0, 1000000] (0: never merge), got {v!r}")
        if self.max_source_tracks * self.max_fused_tracks > _MAX_COST_CELLS:
            raise ConfigurationError(f"max_source_tracks: max_source_tracks x max_fused_tracks = "
                                     f"{self.max_source_tracks * self.max_fused_tracks} exceeds {_MAX_COST_CELLS} "
                                     "(the fuser sizes its cost matrix up front)")
        # Upper bounds keep the arithmetic finite: the prediction squares accel_std (1e200 gave an
        # infinite covariance) and times become int64 nanoseconds.
        for k, lo_open, hi in (("accel_std", False, _MAX_ACCEL_STD), ("gate", True, _MAX_GATE),
                               ("delete_after_s", True, _MAX_SECONDS), ("max_delay_s", False, _MAX_SECONDS)):
            v = getattr(self, k)
            if not (_number(v) and math.isfinite(v) and (v > 0 if lo_open else v >= 0) and v <= hi):
                raise ConfigurationError(f"{k}: expected a finite number {'> 0' if lo_open else '>= 0'} "
                                         f"and <= {hi:g}, got {v!r}")
        if self.criterion not in ("trace", "det"):
            raise ConfigurationError(f"criterion: expected 'trace' or 'det', got {self.criterion!r}")

    def source_index(self, source: int | str) -> int:
        """The index of source ``source`` (a name or an index); ConfigurationError if unknown."""
        if isinstance(source, str):
            for i, s in enumerate(self.sources):
                if s.name == source:
                    return i
            raise ConfigurationError(f"source: unknown source {source!r}; sources: "
                                     f"{', '.join(s.name for s in self.sources)}")
        if (isinstance(source, (bool, np.bool_)) or not isinstance(source, (int, np.integer))
                or not 0 <= source < len(self.sources)):
            raise ConfigurationError(f"source: expected a source name or an index in [0, {len(self.sources)}), "
                                     f"got {source!r}")
        return int(source)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "sources"}
        d["sources"] = {s.name: {"latency_s": s.latency_s, "pose": list(s.pose), "births": s.births}
                        for s in self.sources}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        """From a dict shaped like the TOML file (module docstring); validated."""
        if not isinstance(d, Mapping):
            raise ConfigurationError(f"expected a table, got {type(d).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        _check_keys(d, known, "track fuser")
        kw = {k: v for k, v in d.items() if k != "sources"}
        srcs = d.get("sources", {})
        if not isinstance(srcs, Mapping):
            raise ConfigurationError("sources: expected tables [sources.NAME]")
        sources: list[SourceConfig] = []
        for name, sd in srcs.items():
            if not isinstance(sd, Mapping):
                raise ConfigurationError(f"[sources.{name}]: expected a table")
            _check_keys(sd, ["latency_s", "pose", "births"], f"[sources.{name}]")
            pose = sd.get("pose", (0.0, 0.0, 0.0))
            sources.append(SourceConfig(str(name), sd.get("latency_s", 0.0),
                                        tuple(pose) if isinstance(pose, (list, tuple)) else pose,
                                        sd.get("births", True)))
        out = cls(sources=sources, **kw)
        out.validate()
        return out

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Self:
        """Reads a TOML file (module docstring). Errors start with the file name."""
        data = read_toml(path)
        try:
            return cls.from_dict(data)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{os.fspath(path)}: {exc}") from None

    def to_toml(self) -> str:
        """This configuration as TOML text (``from_toml`` of it gives an equal config)."""
        d = self.to_dict()
        lines = [f"{k} = {_toml(v)}" for k, v in d.items() if k != "sources"]
        for name, sd in d["sources"].items():
            lines.append(f"\n[sources.{_toml(name)}]")
            lines += [f"{k} = {_toml(v)}" for k, v in sd.items()]
        return "\n".join(lines) + "\n"


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, float):
        return repr(v)
    return str(v)
