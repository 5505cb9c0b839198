"""Rig descriptions (TOML): which channel carries which sensor, which DBC and decoder turn its
frames into detections, the sensor's engine configuration (mounting, noise, field of view), where
ego speed and yaw rate come from, and what the replay writes.

Layout (every table optional except ``[sensors.NAME]``; unknown keys are rejected listing the
known ones)::

    name = "rav4"
    dbc_paths = ["../../../shared/data/can"]     # extra DBC search folders, relative to this file
    [channels]                                   # log channel -> bus name
    "1" = "radar"
    [engine]                                     # EngineConfig keys except sensors (motion, lifecycle, ...)
    [sensors.NAME]                               # none: an ego-only rig (needs [ego])
    source = "can"                               # or "stream" (a file of detections, fusion.hil.streams)
    bus = "radar"; dbc = "opendbc/toyota_adas.dbc"; decoder = "dbc_object_list"
    [sensors.NAME.decoder_config]                # the decoder's table
    [sensors.NAME.engine]                        # a SensorConfig table (model, mount_t, fov, R, pd, ...)
    [sensors.NAME.merge]                         # optional: one detection per object (see SensorRig)
    distance_m = 1.0; range_rate_mps = 0.5
    [ego]                                        # bus, dbc, decoder = "vehicle_motion", [ego.decoder_config]
    [output]                                     # dbc = "fusion:tracks", fd, bus, budget_ms, tracks, mcap, bev

A relative DBC path is looked up, first hit wins, relative to the rig file's folder, in each
``dbc_paths`` entry, in each ancestor folder of each input log (the log's data folder), then in
each ``dbc_dirs`` folder (``fusion replay --dbc-dir``).  ``fusion:NAME`` is the package's
``dbc_files/fusion_NAME.dbc``.  Not found: :class:`~fusion.hil.errors.DbcError` listing the
places searched.

Every error is a :class:`~fusion.errors.ConfigurationError` (DbcError for DBC files) whose message
starts with the rig file and names the table and the key.

Thread safety: :func:`load_rig` and :func:`package_dbc` keep no shared state other than a cache
of parsed DBC files (guarded by a lock); a :class:`Rig` is immutable and may be shared.
"""

from __future__ import annotations

import importlib.resources
import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fusion._toml import read_toml
from fusion.engine.config import EngineConfig, SensorConfig
from fusion.errors import ConfigurationError
from fusion.hil.dbc import Database, load_dbc
from fusion.hil.errors import DbcError

__all__ = ["Rig", "SensorRig", "EgoRig", "OutputRig", "load_rig", "package_dbc", "rig_dbc", "EGO_ONLY_SENSOR"]

_TOP_KEYS = ("name", "dbc_paths", "channels", "engine", "sensors", "ego", "output")
_SENSOR_KEYS = ("source", "bus", "dbc", "decoder", "decoder_config", "engine", "merge")
_EGO_KEYS = ("bus", "dbc", "decoder", "decoder_config")
_OUTPUT_KEYS = ("dbc", "fd", "bus", "budget_ms", "tracks", "mcap", "bev")
SOURCES = ("can", "stream")
#: The engine's only sensor in a rig without sensors (ego only); it never receives a frame.
EGO_ONLY_SENSOR = "ego_only_placeholder"
TRACK_FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class SensorRig:
    """One sensor of the rig: where its frames come from and its engine configuration.
    Thread safety: immutable (frozen); share it between threads freely.

    ``merge`` (``[sensors.NAME.merge]``, optional): ``(distance_m, range_rate_mps)``: detections of
    one cycle closer than ``distance_m`` on the ground plane of the sensor frame (and, for a
    radar, with range rates closer than ``range_rate_mps``) are one object reported twice and are
    merged into their mean before the engine sees them.  Some radars report an object in two
    track slots (the RAV4's Denso radar does, 0.1 m apart); without merging each copy would
    become its own track."""

    name: str
    source: str  # "can" or "stream"
    bus: str | None
    dbc: Path | None
    decoder: str | None
    decoder_config: dict[str, Any]
    engine: SensorConfig
    merge: tuple[float, float] | None = None


@dataclass(frozen=True)
class EgoRig:
    """Where ego speed and yaw rate come from (a CAN decoder, e.g. ``vehicle_motion``).
    Thread safety: immutable (frozen); share it between threads freely."""

    bus: str
    dbc: Path
    decoder: str
    decoder_config: dict[str, Any]


@dataclass(frozen=True)
class OutputRig:
    """What the replay writes: the tracks DBC (CAN or CAN FD), the bus name of published frames,
    the per-cycle deadline, the tracks file format, MCAP and bird's-eye-view outputs.
    Thread safety: immutable (frozen); share it between threads freely."""

    dbc: Path
    fd: bool = False
    bus: str = "tracks"
    budget_ms: float = 50.0
    tracks: str = "csv"
    mcap: bool = False
    bev: bool = True


@dataclass(frozen=True)
class Rig:
    """A loaded, validated rig.  ``sensors`` in rig-file order (= the engine's sensor indices).
    An ego-only rig (no ``[sensors.NAME]``, an ``[ego]``: the vehicle bus and the odometry) has
    ``sensors == ()`` and an engine with one placeholder sensor (:data:`EGO_ONLY_SENSOR`).
    Thread safety: frozen; ``engine`` is a configuration each :class:`~fusion.hil.replay.Replayer`
    copies (the engine deep-copies it), so one Rig may drive replays in several threads."""

    path: Path | None
    name: str
    channels: dict[str, str]
    sensors: tuple[SensorRig, ...]
    ego: EgoRig | None
    output: OutputRig
    engine: EngineConfig = field(compare=False)

    def sensor(self, name: str) -> SensorRig:
        for s in self.sensors:
            if s.name == name:
                return s
        raise ConfigurationError(f"rig {self.name!r}: no sensor {name!r}; sensors: "
                                 f"{', '.join(s.name for s in self.sensors)}")


def _package_dbc_path(name: str) -> Path:
    return Path(str(importlib.resources.files("fusion.hil") / "dbc_files" / f"fusion_{name}.dbc"))


def package_dbc(name: str) -> Path:
    """The path of the project's DBC ``fusion_NAME.dbc`` in the package (``"tracks"`` ->
    ``.../fusion/hil/dbc_files/fusion_tracks.dbc``); DbcError listing the shipped ones otherwise."""
    path = _package_dbc_path(name)
    if not path.is_file():
        folder = path.parent
        shipped = sorted(p.stem.removeprefix("fusion_") for p in folder.glob("fusion_*.dbc")) if folder.is_dir() else []
        raise DbcError(f"fusion:{name}: the package has no {path.name} (shipped: {', '.join(shipped) or 'none'})")
    return path


_DBC_CACHE: dict[tuple[str, int, int], Database] = {}
_DBC_LOCK = threading.Lock()


def rig_dbc(path: Path) -> Database:
    """The parsed DBC at ``path`` (cantools), cached by path, size and modification time: a rig
    validated by :func:`load_rig` and replayed afterwards parses each file once."""
    try:
        st = path.stat()
    except OSError as exc:
        raise DbcError(f"DBC file {path} cannot be read: {exc}") from None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _DBC_LOCK:
        db = _DBC_CACHE.get(key)
    if db is None:
        db = load_dbc(path)
        with _DBC_LOCK:
            _DBC_CACHE[key] = db
    return db


class _Ctx:
    def __init__(self, path: Path | None, search: list[tuple[str, Path]]) -> None:
        self.path = path
        self.search = search

    def err(self, table: str, key: str | None, msg: str) -> ConfigurationError:
        where = f"[{table}]" if table else "(top level)"
        if key is not None:
            where += f" {key}"
        return ConfigurationError(f"{self.path or '<rig>'}: {where}: {msg}")

    def table(self, table: str, key: str, v: object) -> dict[str, Any]:
        if not isinstance(v, Mapping):
            raise self.err(table, key, f"expected a table, got {v!r}")
        return dict(v)

    def unknown(self, table: str, d: Mapping[str, Any], known: Sequence[str]) -> None:
        extra = [k for k in d if k not in known]
        if extra:
            raise self.err(table, None, f"unknown key(s) {', '.join(map(repr, extra))}; known keys: "
                           f"{', '.join(known)}")

    def string(self, table: str, key: str, d: Mapping[str, Any], default: str | None = None) -> str:
        if key not in d:
            if default is None:
                raise self.err(table, key, "missing (a string)")
            return default
        v = d[key]
        if not isinstance(v, str) or not v:
            raise self.err(table, key, f"expected a non-empty string, got {v!r}")
        return v

    def boolean(self, table: str, key: str, d: Mapping[str, Any], default: bool) -> bool:
        v = d.get(key, default)
        if not isinstance(v, bool):
            raise self.err(table, key, f"expected true or false, got {v!r}")
        return v

    def dbc(self, table: str, key: str, d: Mapping[str, Any], *, parse: bool = True) -> Path:
        spec = self.string(table, key, d)
        if spec.startswith("fusion:"):
            try:
                path = package_dbc(spec.removeprefix("fusion:"))
            except DbcError as exc:
                raise DbcError(f"{self.path or '<rig>'}: [{table}] {key}: {exc}") from None
        else:
            path = self.resolve(table, key, spec)
        if parse:
            try:
                rig_dbc(path)
            except DbcError as exc:
                raise DbcError(f"{self.path or '<rig>'}: [{table}] {key}: {exc}") from None
        return path

    def resolve(self, table: str, key: str, spec: str) -> Path:
        p = Path(spec).expanduser()
        if p.is_absolute():
            if p.is_file():
                return p
            raise DbcError(f"{self.path or '<rig>'}: [{table}] {key}: DBC file {p} does not exist")
        tried: list[str] = []
        for what, folder in self.search:
            cand = folder / p
            if cand.is_file():
                return cand
            tried.append(f"{cand} ({what})")
        raise DbcError(f"{self.path or '<rig>'}: [{table}] {key}: DBC file {spec!r} not found; searched:\n  "
                       + "\n  ".join(tried or ["(no search folders: give the rig file, a log or --dbc-dir)"]))


def _search_folders(path: Path | None, data: Mapping[str, Any], logs: Sequence[Path],
                    dbc_dirs: Sequence[Path], ctx: _Ctx) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    base = path.parent if path is not None else None
    if base is not None:
        out.append(("the rig file's folder", base))
    extra = data.get("dbc_paths", [])
    if not isinstance(extra, list) or not all(isinstance(x, str) and x for x in extra):
        raise ctx.err("", "dbc_paths", f"expected a list of folder names, got {extra!r}")
    for x in extra:
        p = Path(x).expanduser()
        out.append(("dbc_paths", p if p.is_absolute() or base is None else base / p))
    seen: set[Path] = set()
    for log in logs:
        for anc in Path(os.path.abspath(log)).parents:
            if anc not in seen:
                seen.add(anc)
                out.append((f"a folder of {Path(log).name}", anc))
    out.extend(("--dbc-dir", Path(d)) for d in dbc_dirs)
    return out


def _check_decoder(ctx: _Ctx, table: str, key: str, dbc: Path, config: Mapping[str, Any]) -> None:
    from fusion.hil.decoders import decoder_class, make_decoder

    try:
        decoder_class(key)
    except ConfigurationError as exc:
        raise ctx.err(table, "decoder", str(exc)) from None
    try:
        make_decoder(key, rig_dbc(dbc), config)
    except DbcError as exc:
        raise DbcError(f"{ctx.path or '<rig>'}: [{table}.decoder_config]: {exc}") from None
    except ConfigurationError as exc:
        raise ctx.err(f"{table}.decoder_config", None, str(exc)) from None


def _sensor(ctx: _Ctx, name: str, d: dict[str, Any], num_classes: int) -> SensorRig:
    t = f"sensors.{name}"
    ctx.unknown(t, d, _SENSOR_KEYS)
    source = ctx.string(t, "source", d, "can")
    if source not in SOURCES:
        raise ctx.err(t, "source", f"expected one of {', '.join(map(repr, SOURCES))}, got {source!r}")
    if "engine" not in d:
        raise ctx.err(t, "engine", f"missing: the sensor's engine configuration, a table [{t}.engine] "
                      "(model, mount_t, mount_R, fov, R, pd, clutter_density, ...)")
    try:
        eng = SensorConfig.from_dict(ctx.table(t, "engine", d["engine"]), name=name, num_classes=num_classes)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{ctx.path or '<rig>'}: [{t}.engine]: {exc}") from None
    merge = _merge(ctx, t, d.get("merge")) if "merge" in d else None
    if source == "stream":
        for k in ("bus", "dbc", "decoder", "decoder_config"):
            if k in d:
                raise ctx.err(t, k, "a sensor with source = \"stream\" takes its detections from a stream file, "
                              "not from CAN: remove this key")
        return SensorRig(name, source, None, None, None, {}, eng, merge)
    bus = ctx.string(t, "bus", d)
    decoder = ctx.string(t, "decoder", d)
    dbc = ctx.dbc(t, "dbc", d)
    config = ctx.table(t, "decoder_config", d.get("decoder_config", {}))
    _check_decoder(ctx, t, decoder, dbc, config)
    return SensorRig(name, source, bus, dbc, decoder, config, eng, merge)


def _merge(ctx: _Ctx, t: str, v: object) -> tuple[float, float]:
    d = ctx.table(t, "merge", v)
    ctx.unknown(f"{t}.merge", d, ("distance_m", "range_rate_mps"))
    out: list[float] = []
    for k, default in (("distance_m", None), ("range_rate_mps", math.inf)):
        x = d.get(k, default)
        if x is None:
            raise ctx.err(f"{t}.merge", k, "missing (metres > 0)")
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not x > 0 or math.isnan(x):
            raise ctx.err(f"{t}.merge", k, f"expected a number > 0, got {x!r}")
        out.append(float(x))
    return out[0], out[1]


def _output(ctx: _Ctx, d: dict[str, Any]) -> OutputRig:
    t = "output"
    ctx.unknown(t, d, _OUTPUT_KEYS)
    fd = ctx.boolean(t, "fd", d, False)
    # default: the project's track DBC of the chosen frame format (classic 8-byte or CAN FD)
    default = "tracks_fd" if fd else "tracks"
    dbc = ctx.dbc(t, "dbc", d) if "dbc" in d and d["dbc"] != f"fusion:{default}" else _package_dbc_path(default)
    budget = d.get("budget_ms", 50.0)
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not (math.isfinite(budget) and budget > 0):
        raise ctx.err(t, "budget_ms", f"expected a finite number of milliseconds > 0, got {budget!r}")
    tracks = ctx.string(t, "tracks", d, "csv")
    if tracks not in TRACK_FORMATS:
        raise ctx.err(t, "tracks", f"expected one of {', '.join(map(repr, TRACK_FORMATS))}, got {tracks!r}")
    return OutputRig(dbc, fd, ctx.string(t, "bus", d, "tracks"), float(budget), tracks,
                     ctx.boolean(t, "mcap", d, False), ctx.boolean(t, "bev", d, True))


def load_rig(path: str | os.PathLike[str], *, logs: Sequence[str | os.PathLike[str]] = (),
             dbc_dirs: Sequence[str | os.PathLike[str]] = ()) -> Rig:
    """Read and validate a rig file (module docstring).  ``logs`` are the input logs (their
    folders are searched for DBC files), ``dbc_dirs`` further search folders.  Every DBC is
    parsed and every decoder built once, so a rig that loads replays.

    Raises:
        ConfigurationError: a missing, mistyped or unknown key (the message starts with the file
            and names the table and the key), invalid TOML, an unknown decoder (listing the known).
        DbcError: a DBC file not found (listing the places searched) or that does not parse.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigurationError(f"{p}: rig file not found")
    return rig_from_dict(read_toml(p), path=p, logs=logs, dbc_dirs=dbc_dirs)


def rig_from_dict(data: Mapping[str, Any], *, path: Path | None = None, logs: Sequence[str | os.PathLike[str]] = (),
                  dbc_dirs: Sequence[str | os.PathLike[str]] = ()) -> Rig:
    """:func:`load_rig` of an already parsed mapping (``path``: where relative paths start)."""
    ctx = _Ctx(path, [])
    ctx.unknown("", data, _TOP_KEYS)
    ctx.search = _search_folders(path, data, [Path(x) for x in logs], [Path(x) for x in dbc_dirs], ctx)
    name = ctx.string("", "name", data, path.stem if path is not None else "rig")
    channels_d = ctx.table("", "channels", data.get("channels", {}))
    channels: dict[str, str] = {}
    for k, v in channels_d.items():
        if not isinstance(v, str) or not v:
            raise ctx.err("channels", str(k), f"expected a bus name (a string), got {v!r}")
        channels[str(k)] = v
    engine_d = ctx.table("", "engine", data.get("engine", {}))
    if "sensors" in engine_d:
        raise ctx.err("engine", "sensors", "the sensors are the [sensors.NAME] tables (their engine settings in "
                      "[sensors.NAME.engine]), not a key of [engine]")
    nc = engine_d.get("num_classes", 1)
    num_classes = nc if isinstance(nc, int) and not isinstance(nc, bool) else 1
    sensors_d = ctx.table("", "sensors", data.get("sensors", {}))
    if not sensors_d and "ego" not in data:
        raise ctx.err("", "sensors", "missing: at least one [sensors.NAME] table (or, for an ego-only rig, [ego])")
    sensors = tuple(_sensor(ctx, str(n), ctx.table("sensors", str(n), sd), num_classes) for n, sd in sensors_d.items())
    # an ego-only rig (the vehicle bus and the odometry, no sensor) runs an engine with one
    # placeholder sensor that never gets a frame: the engine needs one to exist
    engine_sensors = {s.name: s.engine.to_dict() for s in sensors} or {EGO_ONLY_SENSOR: {"model": "position2d"}}
    try:
        engine = EngineConfig.from_dict({**engine_d, "sensors": engine_sensors})
    except ConfigurationError as exc:
        raise ConfigurationError(f"{path or '<rig>'}: [engine]: {exc}") from None
    ego: EgoRig | None = None
    if "ego" in data:
        ed = ctx.table("", "ego", data["ego"])
        ctx.unknown("ego", ed, _EGO_KEYS)
        bus = ctx.string("ego", "bus", ed)
        decoder = ctx.string("ego", "decoder", ed, "vehicle_motion")
        dbc = ctx.dbc("ego", "dbc", ed)
        cfg = ctx.table("ego", "decoder_config", ed.get("decoder_config", {}))
        _check_decoder(ctx, "ego", decoder, dbc, cfg)
        ego = EgoRig(bus, dbc, decoder, cfg)
    output = _output(ctx, ctx.table("", "output", data.get("output", {})))
    return Rig(path, name, channels, sensors, ego, output, engine)
