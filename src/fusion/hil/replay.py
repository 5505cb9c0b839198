"""Replay: CAN frames (and sensor-stream frames) of a rig through the fusion engine.

:class:`Replayer` is the per-frame core that replay, real time and live all share: it routes each
frame by ``(bus, CAN id)`` to the decoder of its sensor (one dict lookup), turns each decoded
measurement cycle into the engine's ``z`` rows (the columns the sensor model's ``components``
name, :data:`fusion.engine.registry.SENSOR_MODELS`; optional ``score`` and ``class_id`` fields),
gives ego samples to ``engine.ego_motion`` and emits one :class:`Cycle` per engine frame with the
confirmed and coasting tracks in the odometry and the vehicle frame.

Bad input (lenient, the default): frames with an id no decoder of the rig takes, the wrong
payload length, error and remote frames, CAN FD frames on a classic message, timestamps going
backwards by more than the engine's out-of-sequence horizon or jumping forward by more than
``max_time_jump_s`` are skipped and counted in the report (``unknown_ids``, ``decode_errors``).
They are logged on the ``fusion.hil.replay`` logger at a bounded rate: the first occurrence of
each kind and id and then its 10th, 100th, ... (at most :data:`MAX_WARNINGS` a run, then one
"suppressed" line; unknown ids: the first :data:`MAX_UNKNOWN_WARNINGS`, then one line).
``strict=True`` raises :class:`~fusion.hil.errors.CanFrameError` naming the
CAN id and the timestamp (and the log and frame index when known) instead.  A sensor cycle that
the engine rejects (e.g. beyond the ego-motion extrapolation) is counted as ``rejected_cycle``; a
cycle cut off half way (a slot repeated, a header early) is fused with the objects that arrived
and counted as ``cut_cycle`` (both under the CAN id of the cycle's last frame); a header + objects
list whose header count is not a count (``bad_header_count``, under the header's id) or objects
beyond the count (``orphan_objects``, under the objects' id) are counted from the decoder.

Ego motion: with an ``[ego]`` rig table, sensor cycles that come before the first ego sample
wait for it (at most ``ego_max_extrapolation_s`` of log time; then they are fused without ego
motion), so the odometry frame is the vehicle frame at the first ego sample.  Ego samples are
given to the engine in batches, just before the next sensor cycle.

Latency of a cycle: ``time.perf_counter_ns()`` from the moment :meth:`Replayer.feed_frame` took
the cycle's last frame to the moment the :class:`Cycle` (tracks in both frames) is ready, before
``on_cycle`` (the writers) runs.

:func:`replay` reads logs and streams merged by time, runs them through a Replayer (as fast as
possible, or paced on the wall clock), and writes the outputs.
"""

from __future__ import annotations

import heapq
import importlib
import importlib.util
import logging
import math
import os
import sys
import threading
import time
import types
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fusion.engine.engine import FusionEngine
from fusion.engine.registry import SENSOR_MODELS
from fusion.errors import ConcurrentUseError, ConfigurationError, DecodeError, FusionError, ShapeError
from fusion.hil.decoders import make_decoder
from fusion.hil.decoders.object_list import ObjectCycle
from fusion.hil.decoders.vehicle_motion import EgoSample
from fusion.hil.errors import CanFrameError, CanLogError, MissingExtraError
from fusion.hil.logs import LogFrame, read_log
from fusion.hil.report import REPORT_KEYS, LatencyHistogram, hex_id, id_key, write_report
from fusion.hil.rig import Rig, load_rig, rig_dbc

__all__ = ["Cycle", "Replayer", "replay", "merge_detections", "MAX_WARNINGS", "MAX_UNKNOWN_WARNINGS", "BAD_KINDS"]

log = logging.getLogger("fusion.hil.replay")

#: Warnings logged in one run at most (then one line saying the rest are only counted).
MAX_WARNINGS = 20
#: Unknown ids warned about one by one (a real bus carries many messages a rig does not use).
MAX_UNKNOWN_WARNINGS = 5
#: Kinds of bad frames in the report's ``decode_errors``.
BAD_KINDS = ("wrong_length", "error_frame", "remote_frame", "fd_on_classic", "time_backwards", "time_jump",
             "cut_cycle", "rejected_cycle", "bad_header_count", "orphan_objects", "bad_timestamp",
             "out_of_range")

_EGO = -1  # route kind of the ego decoder (sensor routes carry the sensor index)
_EGO_BATCH = 256  # ego samples held at most before they go to the engine without a sensor cycle


_CONCURRENT = ("Replayer.{what}: another call is feeding this Replayer (another thread, or its on_cycle "
               "callback): one thread feeds a Replayer; use one Replayer per thread")


class _Release:
    """Context manager releasing an already acquired lock on exit."""

    __slots__ = ("_lock",)

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


@dataclass
class Cycle:
    """One fused output: the engine processed one sensor frame.

    ``tracks`` / ``tracks_vehicle``: the confirmed and coasting track records
    (:attr:`FusionEngine.track_dtype`) with ``box`` and ``velocity`` in the odometry frame / in the
    vehicle frame at the engine's time; ``ego_pose``: the vehicle's ``(x, y, yaw)`` in the odometry
    frame at ``t_ns`` (None without ego motion); ``detections_xy``: the cycle's detections on the
    ground plane of the odometry frame (n, 2) (None for a model without a position, e.g. a camera;
    filled only with ``Replayer(keep_detections=True)``).

    Thread safety: a plain record made by one Replayer and not changed afterwards; readers in any
    thread (the writers, a publisher) may share it."""

    index: int
    t_ns: int
    sensor: str
    tracks: np.ndarray
    tracks_vehicle: np.ndarray
    latency_ns: int
    ego_pose: tuple[float, float, float] | None = None
    detections_xy: npt.NDArray[np.float64] | None = None


class _SensorRoute:
    __slots__ = ("index", "name", "components", "model", "mount_R", "mount_t", "merge")

    def __init__(self, index: int, name: str, model: str, mount_R: Any, mount_t: Any,
                 merge: tuple[float, float] | None) -> None:
        self.index = index
        self.name = name
        self.model = model
        self.components = SENSOR_MODELS[model].components
        self.mount_R = np.asarray(mount_R, np.float64)
        self.mount_t = np.asarray(mount_t, np.float64)
        self.merge = merge if model in ("radar", "position2d", "position3d", "lidar_box3d") else None


def _decoder_outputs(decoder: str, config: dict[str, Any]) -> set[str] | None:
    """The field names a decoder's cycles carry, when the decoder is known here (else None)."""
    if decoder != "dbc_object_list":
        return None
    out = set(config.get("fields", {}))
    if config.get("polar_from_xy"):
        out |= {"range", "azimuth"}
    return out


class Replayer:
    """Feeds a rig's frames through one :class:`FusionEngine` (module docstring).

    Args:
        rig: the loaded rig (:func:`fusion.hil.rig.load_rig`).
        strict: raise :class:`CanFrameError` on a bad frame instead of counting it.
        on_cycle: called with each :class:`Cycle` as it is produced (e.g. the writers).
        sources: names of the inputs by ``LogFrame.source`` index, for error messages.
        max_time_jump_s: a frame later than the latest frame by more than this is bad input.
        keep_detections: fill :attr:`Cycle.detections_xy` (for the bird's-eye view).

    Thread safety: one thread feeds a Replayer (``feed_frame``, ``feed_stream``, ``flush``; a
    second thread calling one of them while another is inside is refused with
    :class:`~fusion.errors.ConcurrentUseError`, changing nothing);
    :meth:`report` and :meth:`stats` may be called from another thread at any time (they copy
    the counters under the Replayer's lock; the engine serialises its own calls).
    """

    def __init__(self, rig: Rig, *, strict: bool = False, on_cycle: Callable[[Cycle], None] | None = None,
                 sources: Sequence[str] = (), max_time_jump_s: float = 3600.0,
                 keep_detections: bool = False) -> None:
        if not (isinstance(max_time_jump_s, (int, float)) and 0 < max_time_jump_s <= 9.2e9):
            raise ConfigurationError(f"max_time_jump_s: expected a number of seconds in (0, 9.2e9] (int64 ns), "
                                     f"got {max_time_jump_s!r}")
        self.rig = rig
        self.strict = strict
        self.on_cycle = on_cycle
        self.sources = list(sources)
        self.keep_detections = keep_detections
        self.engine = FusionEngine(rig.engine)
        self._lock = threading.Lock()
        self._feeding = threading.Lock()  # held by the one feeding call (never waited on: refused)
        # (bus, frame id, extended) -> (decoder, route kind, FD allowed); an extended id is not the
        # standard id of the same number (0x100 extended is another frame than 0x100 standard)
        # (bus, id, ext) -> (decoder, route kind, FD allowed, the decoder's feed without its
        # one-feeder guard: this Replayer is its only feeder and has its own guard)
        self._routes: dict[tuple[str, int, bool], tuple[Any, int, bool, Callable[[int, int, bytes], list[Any]]]] = {}
        self._decoders: list[Any] = []
        self._list_ids: dict[int, tuple[int, int]] = {}
        self._extended: set[tuple[int, int]] = set()  # (id(decoder), frame id) of extended-id messages
        self._sensors: list[_SensorRoute] = []
        self._stream_sensors: dict[str, _SensorRoute] = {}
        for k, s in enumerate(rig.sensors):
            route = _SensorRoute(k, s.name, s.engine.model, s.engine.mount_R, s.engine.mount_t, s.merge)
            self._sensors.append(route)
            if s.source == "stream":
                self._stream_sensors[s.name] = route
                continue
            assert s.decoder is not None and s.dbc is not None and s.bus is not None
            have = _decoder_outputs(s.decoder, s.decoder_config)
            if have is not None and not set(route.components) <= have:
                missing = [c for c in route.components if c not in have]
                raise ConfigurationError(
                    f"{rig.path or rig.name}: [sensors.{s.name}.decoder_config] fields: the engine model "
                    f"{s.engine.model!r} needs {', '.join(route.components)}; missing {', '.join(missing)} "
                    f"(the decoder gives {', '.join(sorted(have))})")
            self._add_routes(s.bus, s.dbc, s.decoder, s.decoder_config, k)
        self._has_ego = rig.ego is not None
        if rig.ego is not None:
            self._add_routes(rig.ego.bus, rig.ego.dbc, rig.ego.decoder, rig.ego.decoder_config, _EGO)
        oosm_ns = round(rig.engine.oosm_horizon_s * 1e9)
        self._back_ns = oosm_ns
        self._jump_ns = round(max_time_jump_s * 1e9)
        self._extrap_ns = round(rig.engine.ego_max_extrapolation_s * 1e9)
        self._budget_ns = rig.output.budget_ms * 1e6
        self._last_t = -(1 << 64)  # latest frame time (the first frame "jumps": it sets _first_t)
        self._first_t: int | None = None
        # counters
        self._frames_read = 0
        self._stream_frames = 0
        self._unknown: dict[int, int] = {}
        self._bad: dict[int, dict[str, int]] = {}
        self._latency = LatencyHistogram()  # fixed memory: a rig may replay for days
        self._misses = 0
        self._published = 0
        self._cycles = 0
        self._warnings = 0
        self._suppressed = False
        self._wall0: int | None = None
        self._wall1: int | None = None
        # ego samples not yet given to the engine; sensor cycles waiting for the first ego sample
        self._ego_t: list[int] = []
        self._ego_v: list[float] = []
        self._ego_w: list[float] = []
        self._ego_started = False
        self._ego_given_up = False
        self._held: list[tuple[_SensorRoute, int, Any, int, int]] = []

    def _add_routes(self, bus: str, dbc: Path, key: str, config: dict[str, Any], kind: int) -> None:
        db = rig_dbc(dbc)
        dec = make_decoder(key, db, config, strict=self.strict)
        self._decoders.append(dec)
        if key == "dbc_object_list" and "header" in config:  # header + objects: where its counters go
            self._list_ids[id(dec)] = (int(db.get_message_by_name(config["header"]["message"]).frame_id),
                                       int(db.get_message_by_name(config["objects"]["message"]).frame_id))
        for fid in dec.frame_ids:
            msg = db.get_message_by_frame_id(fid)
            ext = bool(getattr(msg, "is_extended_frame", False))
            prev = self._routes.get((bus, fid, ext))
            if prev is not None:
                raise ConfigurationError(f"{self.rig.path or self.rig.name}: CAN id {hex_id(fid)} on bus {bus!r} is "
                                         "taken by two decoders of the rig")
            raw = getattr(type(dec).feed, "__wrapped__", None)  # decoders.base._one_feeder's functools.wraps
            feed = types.MethodType(raw, dec) if raw is not None else dec.feed
            self._routes[(bus, fid, ext)] = (dec, kind, bool(getattr(msg, "is_fd", False)), feed)
            if ext:
                self._extended.add((id(dec), fid))

    # ---- bad input

    def _where(self, f: LogFrame) -> str:
        name = self.sources[f.source] if 0 <= f.source < len(self.sources) else f"input {f.source}"
        return f"{name} frame {f.frame_index}"

    def _warn(self, kind: str, can_id: int, n: int, text: str) -> None:
        # bounded: the 1st, 10th, 100th, ... of each kind and id, MAX_WARNINGS a run
        if not _power_of_ten(n):
            return
        if self._warnings >= MAX_WARNINGS:
            if not self._suppressed:
                self._suppressed = True
                self._warnings += 1
                log.warning("more bad frames: further warnings suppressed (all are counted in the report)")
            return
        self._warnings += 1
        log.warning("%s (%s %s: %d so far)", text, kind, hex_id(can_id), n)

    def _bad_frame(self, f: LogFrame, kind: str, text: str) -> None:
        if self.strict:
            raise CanFrameError(f.arbitration_id, f.t_ns, f"{kind}: {text}", source=self._where(f))
        # an error frame's id is its error class, not a frame id: counted under the plain number
        key = id_key(f.arbitration_id, bool(f.is_extended_id) and not f.is_error_frame)
        kinds = self._bad.get(key)
        if kinds is None:
            with self._lock:
                kinds = self._bad.setdefault(key, {})
        with self._lock:
            n = kinds[kind] = kinds.get(kind, 0) + 1
        where = f"CAN id {hex_id(key)} at t_ns={f.t_ns} ({self._where(f)})" if f.source >= 0 else \
            f"t_ns={f.t_ns} (a stream frame or the end of input)"  # _fuse's stand-in frame: no CAN id, no file
        self._warn(kind, key, n, f"{where}: {text}")

    # ---- input

    def feed_frame(self, frame: LogFrame) -> list[Cycle]:
        """One CAN frame (time order; frames late by at most the engine's out-of-sequence horizon
        are decoded and fused by re-processing).  Returns the cycles it completed (often none).

        Raises:
            ConcurrentUseError: another thread is inside feed_frame/feed_stream/flush.
            ShapeError: ``frame`` is not a LogFrame (an 11-field tuple)."""
        if not self._feeding.acquire(blocking=False):
            raise ConcurrentUseError(_CONCURRENT.format(what="feed_frame"))
        try:
            return self._feed_frame(frame)
        except (TypeError, ValueError) as exc:
            if isinstance(frame, tuple) and len(frame) == 11:
                raise
            raise ShapeError(f"frame: expected a fusion.hil.logs.LogFrame, got {type(frame).__name__}") from exc
        finally:
            self._feeding.release()

    def _feed_frame(self, frame: LogFrame) -> list[Cycle]:
        # The per-frame path: one tuple unpack, two time comparisons, one dict lookup by
        # (bus, id), the decoder's compiled decode; no Python object is made unless the frame
        # completes an output (a returned empty list is the decoder's own).
        self._frames_read += 1
        t, _src, _idx, bus, fid, ext, fd, err, rtr, _dlc, data = frame
        last = self._last_t
        if t >= last:
            if t - last > self._jump_ns:
                if self._first_t is not None:
                    self._bad_time(frame)
                    return []
                self._first_t = t
                self._wall0 = time.perf_counter_ns()
            self._last_t = t
        elif not last - t <= self._back_ns:  # too late, or NaN (a LogFrame not from read_log)
            self._bad_time(frame)
            return []
        route = self._routes.get((bus, fid, ext))
        if route is None or err or rtr:
            if err:
                self._bad_frame(frame, "error_frame", "an error frame")
            elif rtr:
                self._bad_frame(frame, "remote_frame", "a remote frame")
            else:
                key = fid | 0x80000000 if ext else fid  # report.id_key, inlined on the per-frame path
                n = self._unknown.get(key)
                if n is None:
                    self._first_unknown(frame)
                else:
                    self._unknown[key] = n + 1
            return []
        t0 = time.perf_counter_ns()
        _dec, kind, fd_ok, feed = route
        if fd and not fd_ok:
            self._bad_frame(frame, "fd_on_classic", "a CAN FD frame for a classic CAN message")
            return []
        try:
            outs: list[Any] = feed(t, fid, data)
        except CanFrameError as exc:  # strict decoders: add where the frame came from
            if exc.source is None:
                raise CanFrameError(fid, t, str(exc).split(": ", 1)[-1], source=self._where(frame)) from None
            raise
        if not outs:
            return outs
        return self._outputs(outs, kind, t0, fid)

    def _first_unknown(self, frame: LogFrame) -> None:
        fid = frame.arbitration_id
        if self.strict:
            raise CanFrameError(fid, frame.t_ns, f"unknown id: no decoder of rig {self.rig.name!r} takes this id on "
                                f"bus {frame.channel!r}", source=self._where(frame))
        key = id_key(fid, bool(frame.is_extended_id))
        with self._lock:
            self._unknown[key] = 1
        if len(self._unknown) > MAX_UNKNOWN_WARNINGS:
            if len(self._unknown) == MAX_UNKNOWN_WARNINGS + 1 and self._warnings < MAX_WARNINGS:
                self._warnings += 1
                log.warning("more CAN ids no decoder of the rig takes: counted in the report (unknown_ids) only")
            return
        self._warn("unknown", key, 1, f"CAN id {hex_id(key)} at t_ns={frame.t_ns} on bus {frame.channel!r} "
                   f"({self._where(frame)}): no decoder of the rig takes it")

    def _bad_time(self, f: LogFrame) -> None:
        last = self._last_t
        t_ns: Any = f.t_ns  # an int from read_log; NaN from a hand-made LogFrame
        if t_ns != t_ns:
            self._bad_frame(f, "bad_timestamp", f"t_ns {f.t_ns!r} is not a number of nanoseconds")
        elif f.t_ns < last:
            self._bad_frame(f, "time_backwards", f"the timestamp goes back {(last - f.t_ns) / 1e9:.6f} s (more than "
                            f"the out-of-sequence horizon {self._back_ns / 1e9:g} s)")
        else:
            self._bad_frame(f, "time_jump", f"the timestamp jumps {(f.t_ns - last) / 1e9:.3f} s ahead (more than "
                            f"{self._jump_ns / 1e9:g} s)")

    def feed_stream(self, sf: Any) -> list[Cycle]:
        """One non-CAN sensor frame (:class:`fusion.hil.streams.StreamFrame`: ``t_ns``, ``sensor``,
        ``z`` (n, M), ``score``, ``class_id``) for a sensor with ``source = "stream"``.
        ConcurrentUseError while another thread feeds."""
        with self._feeder("feed_stream"):
            return self._feed_stream(sf)

    def _feeder(self, what: str) -> Any:
        if not self._feeding.acquire(blocking=False):
            raise ConcurrentUseError(_CONCURRENT.format(what=what))
        return _Release(self._feeding)

    def _feed_stream(self, sf: Any) -> list[Cycle]:
        t0 = time.perf_counter_ns()
        if self._wall0 is None:
            self._wall0 = t0
        self._stream_frames += 1
        route = self._stream_sensors.get(sf.sensor)
        if route is None:
            known = ", ".join(self._stream_sensors) or "none"
            raise ConfigurationError(f"stream frame of sensor {sf.sensor!r}: the rig has no sensor with source = "
                                     f"\"stream\" of that name (stream sensors: {known})")
        t = int(sf.t_ns)
        if self._first_t is None:
            self._first_t = t
        if t > self._last_t:
            self._last_t = t
        z = np.asarray(sf.z, np.float64).reshape(-1, len(route.components))
        score = getattr(sf, "score", None)
        cls = getattr(sf, "class_id", None)
        return self._sensor_cycle(route, t, z, score, cls, t0, -1)

    def flush(self) -> list[Cycle]:
        """End of input: the decoders' pending (cut-off) cycles, the held cycles and ego samples.
        ConcurrentUseError while another thread feeds."""
        with self._feeder("flush"):
            return self._flush()

    def _flush(self) -> list[Cycle]:
        t0 = time.perf_counter_ns()
        out: list[Cycle] = []
        for dec in self._decoders:
            kind = next(k for (dd, k, _fd, _feed) in self._routes.values() if dd is dec)
            outs = dec.flush()
            if outs:
                out += self._outputs(outs, kind, t0, -1)
        if self._held:
            self._ego_given_up = True
            out += self._release_held(t0)
        self._give_ego()
        self._wall1 = time.perf_counter_ns()
        return out

    # ---- decoded outputs -> engine

    def _outputs(self, outs: list[Any], kind: int, t0: int, fid: int) -> list[Cycle]:
        if kind == _EGO:
            for s in outs:
                assert isinstance(s, EgoSample)
                self._ego_t.append(s.t_ns)
                self._ego_v.append(s.speed_mps)
                self._ego_w.append(s.yaw_rate_rps)
            if not self._ego_started:
                self._ego_started = True
                return self._release_held(t0)
            if len(self._ego_t) >= _EGO_BATCH:  # no sensor cycle for a while (an ego-only rig): bounded
                self._give_ego()
            return []
        route = self._sensors[kind]
        cycles: list[Cycle] = []
        for oc in outs:
            assert isinstance(oc, ObjectCycle)
            fields = oc.fields
            comps = route.components
            n = len(oc)
            z = np.empty((n, len(comps)), np.float64)
            for j, c in enumerate(comps):
                z[:, j] = fields[c]
            score = fields.get("score")
            cls = fields.get("class_id")
            ids = oc.can_id
            cid = int(ids[-1]) if n else fid
            if not oc.complete:
                self._cut_cycle(route, oc, cid)
            cycles += self._sensor_cycle(route, oc.t_ns, z, score, cls, t0, cid)
        return cycles

    def _cut_cycle(self, route: _SensorRoute, oc: ObjectCycle, can_id: int) -> None:
        """A cycle cut off (a slot repeated, the next header early, the end of input): fused with
        what arrived (lenient) and counted as ``cut_cycle`` under the id of its last frame."""
        expected = f" of {oc.expected}" if oc.expected is not None else ""
        fake = LogFrame(oc.t_ns, -1, -1, "", max(can_id, 0), False, False, False, False, 0, b"")
        self._bad_frame(fake, "cut_cycle", f"sensor {route.name}: the measurement cycle was cut off after "
                        f"{len(oc)}{expected} objects")

    def _sensor_cycle(self, route: _SensorRoute, t: int, z: Any, score: Any, cls: Any, t0: int,
                      can_id: int) -> list[Cycle]:
        if self._has_ego and not self._ego_started and not self._ego_given_up:
            if self._held and t - self._held[0][1] > self._extrap_ns:
                self._ego_given_up = True  # no ego sample in time: fuse without ego motion
                log.warning("no ego-motion sample within %g s of the first sensor cycle: fusing without ego motion",
                            self._extrap_ns / 1e9)
                self._warnings += 1
                out = self._release_held(t0)
                return out + self._fuse(route, t, z, score, cls, t0, can_id)
            self._held.append((route, t, (z, score, cls), t0, can_id))
            return []
        return self._fuse(route, t, z, score, cls, t0, can_id)

    def _release_held(self, t0: int) -> list[Cycle]:
        held, self._held = self._held, []
        out: list[Cycle] = []
        for route, t, (z, score, cls), _t0, can_id in held:
            out += self._fuse(route, t, z, score, cls, t0, can_id)
        return out

    def _give_ego(self) -> None:
        if not self._ego_t:
            return
        t = np.array(self._ego_t, np.int64)
        v = np.array(self._ego_v, np.float64)
        w = np.array(self._ego_w, np.float64)
        self._ego_t.clear()
        self._ego_v.clear()
        self._ego_w.clear()
        try:
            self.engine.ego_motion(t, v, w)
        except FusionError:
            # a sample older than the newest, or not finite: give them one by one, skipping the bad
            for ti, vi, wi in zip(t.tolist(), v.tolist(), w.tolist()):
                try:
                    self.engine.ego_motion(ti, vi, wi)
                except FusionError as exc:
                    if self.strict:
                        raise
                    self._warnings += 1
                    log.warning("ego-motion sample at t_ns=%d rejected: %s", ti, exc)

    def _fuse(self, route: _SensorRoute, t: int, z: Any, score: Any, cls: Any, t0: int, can_id: int) -> list[Cycle]:
        self._give_ego()
        if route.merge is not None and len(z) > 1:
            z, score, cls = merge_detections(route.model, z, score, cls, *route.merge)
        eng = self.engine
        try:
            eng.process(route.index, t, z, score=score,
                        class_id=None if cls is None else np.asarray(cls).astype(np.int64))
        except FusionError as exc:
            if self.strict and can_id < 0:  # a stream frame (or a flushed cycle): no CAN id to name
                raise DecodeError(f"sensor {route.name} frame at t_ns={t}: the engine rejected the cycle: {exc}"
                                  ) from exc
            if self.strict:
                raise CanFrameError(can_id, t, f"sensor {route.name}: the engine rejected the cycle: {exc}"
                                    ) from exc
            fake = LogFrame(t, -1, -1, "", max(can_id, 0), False, False, False, False, 0, b"")
            self._bad_frame(fake, "rejected_cycle", f"sensor {route.name}: the engine rejected the cycle: {exc}")
            return []
        tracks = eng.tracks(confirmed_only=True, include_deleted=False)
        if self._ego_started:
            try:
                tv = eng.tracks(confirmed_only=True, include_deleted=False, frame="vehicle")
                p = eng.ego_pose(t)
                pose: tuple[float, float, float] | None = (p["x_m"], p["y_m"], p["yaw_rad"])
            except FusionError:
                tv, pose = tracks, None
        else:
            tv, pose = tracks, None
        det = _detections_xy(route, z, pose) if self.keep_detections else None
        t1 = time.perf_counter_ns()
        lat = t1 - t0
        with self._lock:
            index = self._cycles
            self._cycles += 1
            self._latency.add(lat)
            self._published += len(tracks)
            if lat > self._budget_ns:
                self._misses += 1
        self._wall1 = t1
        cycle = Cycle(index, t, route.name, tracks, tv, lat, pose, det)
        if self.on_cycle is not None:
            self.on_cycle(cycle)
        return [cycle]

    # ---- results

    def stats(self) -> dict[str, int]:
        """Quick counters: frames read, cycles, tracks published, unknown and bad frames."""
        with self._lock:
            return {"frames_read": self._frames_read + self._stream_frames, "cycles": self._cycles,
                    "tracks_published": self._published, "unknown": sum(self._unknown.values()),
                    "bad": sum(sum(k.values()) for k in self._bad.values())}

    def report(self) -> dict[str, Any]:
        """The timing report (:mod:`fusion.hil.report`, keys :data:`~fusion.hil.report.REPORT_KEYS`).
        ``wall_s`` here is from the first frame fed to the last output; :func:`replay` replaces it
        with its end-to-end time and sets ``send_error_ms`` in real-time mode."""
        with self._lock:
            unknown = {hex_id(k): v for k, v in sorted(self._unknown.items())}
            bad: dict[int, dict[str, int]] = {k: dict(v) for k, v in self._bad.items()}
            latency = self._latency.copy()
            cycles, published, misses = self._cycles, self._published, self._misses
        # the decoders count without the Replayer's lock: copy their counters first (dict() of a
        # Counter is one C call under the GIL; iterating it while the feeding thread adds an id raised)
        dec_stats = [(dec, dict(dec.wrong_length), dict(dec.stats), dict(dec.out_of_range)) for dec in self._decoders]
        for dec, wrong_length, dstats, out_of_range in dec_stats:  # counted by the decoders
            for kind, counts in (("wrong_length", wrong_length), ("out_of_range", out_of_range)):
                for fid, n in counts.items():
                    key = id_key(int(fid), (id(dec), int(fid)) in self._extended)
                    bad.setdefault(key, {})[kind] = bad.get(key, {}).get(kind, 0) + n
            ids = self._list_ids.get(id(dec))  # a header + objects list: its count disagreed
            if ids is not None:
                for kind, fid in (("bad_header_count", ids[0]), ("orphan_objects", ids[1])):
                    if dstats.get(kind):
                        bad.setdefault(id_key(fid, (id(dec), fid) in self._extended), {})[kind] = int(dstats[kind])
        decoded = sum(int(dstats.get("decoded", 0)) for _dec, _wl, dstats, _oor in dec_stats)
        wall = ((self._wall1 or 0) - (self._wall0 or 0)) / 1e9 if self._wall0 is not None else 0.0
        log_s = (self._last_t - self._first_t) / 1e9 if self._first_t is not None else 0.0
        out: dict[str, Any] = {
            "frames_read": self._frames_read + self._stream_frames,
            "frames_decoded": decoded + self._stream_frames,
            "unknown_ids": unknown,
            "decode_errors": {hex_id(k): dict(sorted(v.items())) for k, v in sorted(bad.items())},
            "cycles": cycles,
            "tracks_published": published,
            "latency_ms": latency.summary_ms(),
            "budget_ms": self.rig.output.budget_ms,
            "deadline_misses": misses,
            "send_error_ms": None,
            "wall_s": wall,
            "log_s": log_s,
            "realtime_factor": log_s / wall if wall > 0 else None,
            "engine": self.engine.stats(),
            "warnings": self._warnings,
        }
        assert tuple(out) == REPORT_KEYS
        return out

    def latencies_ns(self) -> list[int]:
        """The most recent per-cycle latencies (a copy; up to 65,536 of them: the report's
        ``latency_ms`` covers every cycle in a fixed-size histogram, :class:`LatencyHistogram`)."""
        with self._lock:
            return self._latency.recent_ns()


def merge_detections(model: str, z: npt.NDArray[np.float64], score: Any, cls: Any, distance_m: float,
                     range_rate_mps: float) -> tuple[npt.NDArray[np.float64], Any, Any]:
    """Detections of one cycle closer than ``distance_m`` on the sensor's ground plane (and, for
    a radar, ``range_rate_mps`` in range rate) merged into their mean: each detection joins the
    group of the earliest detection within both gates of it (transitively), groups in the order
    of their first member.  A group keeps its first member's class and the highest score.
    Vectorised, deterministic (no set or hash order)."""
    n = len(z)
    if model == "radar":
        px, py = z[:, 0] * np.cos(z[:, 1]), z[:, 0] * np.sin(z[:, 1])
    else:
        px, py = z[:, 0], z[:, 1]
    dx, dy = px[:, None] - px[None, :], py[:, None] - py[None, :]
    close = dx * dx + dy * dy < distance_m * distance_m
    if model == "radar":
        close &= np.abs(z[:, 2][:, None] - z[:, 2][None, :]) < range_rate_mps
    if int(close.sum()) == n:  # nothing close but each to itself
        return z, score, cls
    first = close.argmax(axis=1)  # the earliest detection within the gates (itself at worst)
    root = first
    while True:  # follow the chain to its start: first[root] == root
        nxt = first[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    seeds = np.flatnonzero(root == np.arange(n))  # groups in the order of their first member
    member = root[None, :] == seeds[:, None]  # (m, n) one-hot
    out = (member @ z) / member.sum(axis=1)[:, None]
    if score is not None:
        score = np.where(member, np.asarray(score, np.float64)[None, :], -np.inf).max(axis=1)
    if cls is not None:
        cls = np.asarray(cls)[seeds]
    return out, score, cls


def _power_of_ten(n: int) -> bool:
    while n >= 10 and n % 10 == 0:
        n //= 10
    return n == 1


def _detections_xy(route: _SensorRoute, z: Any, pose: tuple[float, float, float] | None
                   ) -> npt.NDArray[np.float64] | None:
    """Detections on the ground plane of the odometry frame (for the bird's-eye view)."""
    z = np.asarray(z, np.float64)
    if route.model == "radar":
        r = z[:, 0]
        sx, sy, sz = r * np.cos(z[:, 1]), r * np.sin(z[:, 1]), 0.0
    elif route.model == "position2d":
        sx, sy, sz = z[:, 0], z[:, 1], 0.0
    elif route.model in ("position3d", "lidar_box3d"):
        sx, sy, sz = z[:, 0], z[:, 1], z[:, 2]
    else:
        return None
    m, t = route.mount_R, route.mount_t
    vx = m[0, 0] * sx + m[0, 1] * sy + m[0, 2] * sz + t[0]
    vy = m[1, 0] * sx + m[1, 1] * sy + m[1, 2] * sz + t[1]
    out = np.empty((len(z), 2), np.float64)
    if pose is None:
        out[:, 0], out[:, 1] = vx, vy
        return out
    x, y, yaw = pose
    c, s = math.cos(yaw), math.sin(yaw)
    out[:, 0] = x + c * vx - s * vy
    out[:, 1] = y + s * vx + c * vy
    return out


# ---- replay of files


def _safe_log(path: Path, channels: Mapping[str | int, str], source: int, strict: bool,
              damaged: list[str]) -> Iterator[LogFrame]:
    """Frames of one log; lenient: a damaged log ends at the damage (the frames before it are
    delivered), the error is recorded in ``damaged``."""
    try:
        yield from read_log(path, channels, source=source)
    except CanLogError as exc:
        if strict:
            raise
        damaged.append(str(exc))
        log.warning("%s: the rest of this log is skipped", exc)


def _optional(module: str) -> Any:
    """``module`` imported, or None when that module itself is not there (another helper's
    part of the harness not merged yet); an import error inside it is raised."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


def _is_stream(path: Path) -> bool:
    if path.suffix.lower() not in (".csv", ".parquet"):
        return False
    streams = _optional("fusion.hil.streams")
    if streams is None:  # TODO(sample): fusion.hil.streams (issue 9 streams, helper C) not merged yet
        return False
    return bool(streams.is_stream_file(path))


def _stream_iter(paths: Sequence[Path], rig: Rig, strict: bool,
                 stats: Sequence[Counter[str]] | None = None) -> Iterator[Any]:
    read_stream = importlib.import_module("fusion.hil.streams").read_stream
    comps = {s.name: SENSOR_MODELS[s.engine.model].components for s in rig.sensors if s.source == "stream"}
    kw: dict[str, Any] = {"strict": True} if strict else {}  # lenient is read_stream's default
    its = [read_stream(p, components=comps, **kw, **({} if stats is None else {"stats": stats[i]}))
           for i, p in enumerate(paths)]
    return heapq.merge(*its, key=lambda sf: sf.t_ns)


class _Progress:
    """A one-line progress display on stderr (only for a terminal, only after a second)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.start = time.perf_counter()
        self.next = self.start + 1.0
        self.shown = False

    def update(self, frames: int, cycles: int, log_s: float) -> None:
        now = time.perf_counter()
        if not self.enabled or now < self.next:
            return
        self.next = now + 0.25
        self.shown = True
        spin = "|/-\\"[int(now * 4) % 4]
        sys.stderr.write(f"\rreplay {spin} {frames:,} frames, {cycles:,} cycles, {log_s:8.2f} s of log, "
                         f"{now - self.start:6.1f} s ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


class _Outputs:
    """The writers of a replay's output folder (helper B's fusion.hil.outputs / publish / bev)."""

    def __init__(self, out: Path | None, rig: Rig, *, encode: bool = False) -> None:
        self.out = out
        self.rig = rig
        self.track_writer: Any = None
        self.can_sink: Any = None
        self.encoder: Any = None
        self.mcap: Any = None
        self.ego_xy: list[tuple[float, float]] = []
        self.detections: list[tuple[int, npt.NDArray[np.float64]]] = []
        self.track_rows: dict[str, list[float]] = {"t_ns": [], "track_id": [], "x": [], "y": []}
        self.ids: set[int] = set()
        self.skipped: list[str] = []
        if out is None:
            if encode:
                publish = importlib.import_module("fusion.hil.publish")
                self.encoder = publish.TrackEncoder(rig.output.dbc if rig.output.dbc.is_file() else None,
                                                    fd=rig.output.fd)
            return
        out.mkdir(parents=True, exist_ok=True)
        outputs = _optional("fusion.hil.outputs")  # TODO(outputs): helper B's writers, until merged
        if outputs is None:
            self.skipped.append("tracks." + rig.output.tracks)
        else:
            self.track_writer = outputs.TrackWriter(out / f"tracks.{rig.output.tracks}", rig.output.tracks)
            if rig.output.mcap:  # MissingExtraError("mcap") from the writer when the extra is absent
                self.mcap = outputs.McapWriter(out / "tracks.mcap")
        publish = _optional("fusion.hil.publish")  # TODO(outputs): helper B's encoder, until merged
        if publish is None:
            self.skipped.append("tracks.blf")
        else:
            self.encoder = publish.TrackEncoder(rig.output.dbc if rig.output.dbc.is_file() else None,
                                                fd=rig.output.fd)
            self.can_sink = publish.CanLogSink(out / "tracks.blf")

    def encode(self, cycle: Cycle) -> list[Any]:
        if self.encoder is None:
            return []
        msgs: list[Any] = self.encoder.encode(cycle.index, cycle.t_ns, cycle.tracks_vehicle)
        return msgs

    def write(self, cycle: Cycle, msgs: list[Any]) -> None:
        if self.track_writer is not None:
            self.track_writer.write(cycle)
        if self.can_sink is not None and msgs:
            self.can_sink.write(msgs)
        if self.mcap is not None:
            self.mcap.write(cycle)
        if self.out is not None and self.rig.output.bev:
            if cycle.ego_pose is not None:
                self.ego_xy.append((cycle.ego_pose[0], cycle.ego_pose[1]))
            if cycle.detections_xy is not None:
                self.detections.append((cycle.t_ns, cycle.detections_xy))
            tr = cycle.tracks
            rows = self.track_rows
            rows["t_ns"] += [cycle.t_ns] * len(tr)
            rows["track_id"] += tr["id"].tolist()
            rows["x"] += tr["box"][:, 0].tolist()
            rows["y"] += tr["box"][:, 1].tolist()
        self.ids.update(cycle.tracks["id"].tolist())

    def close(self) -> None:
        for w in (self.track_writer, self.can_sink, self.mcap):
            if w is not None:
                w.close()
        if self.out is None or not self.rig.output.bev:
            return
        bev = _optional("fusion.hil.bev")  # TODO(outputs): helper B's bird's-eye view, until merged
        if bev is None or importlib.util.find_spec("matplotlib") is None:
            self._skip_bev("matplotlib is not installed: pip install 'fusion[plot]' (extra 'plot')")
            return
        ego = np.array(self.ego_xy, np.float64).reshape(-1, 2)
        tracks = {k: np.asarray(v) for k, v in self.track_rows.items()}
        try:
            bev.draw_bev(self.out / "bev.png", ego_xy=ego, detections=self.detections, tracks=tracks,
                         title=self.rig.name)
        except MissingExtraError as exc:  # matplotlib there but not importable
            self._skip_bev(str(exc))

    def _skip_bev(self, why: str) -> None:
        # the other outputs are written: a note, not an error ([output] bev = false silences it)
        self.skipped.append("bev.png")
        log.warning("%s: not written (%s); the other outputs are", self.out / "bev.png" if self.out else "bev.png", why)


def replay(logs: Sequence[str | os.PathLike[str]], rig: Rig | str | os.PathLike[str],
           out: str | os.PathLike[str] | None, *, streams: Sequence[str | os.PathLike[str]] = (),
           strict: bool = False, realtime: bool = False,
           speed: float = 1.0, to_bus: str | None = None, report_path: str | os.PathLike[str] | None = None,
           progress: bool | None = None, dbc_dirs: Sequence[str | os.PathLike[str]] = (),
           on_cycle: Callable[[Cycle], None] | None = None) -> dict[str, Any]:
    """Replay CAN ``logs`` (every python-can format, merged by time) and sensor ``streams``
    through ``rig``; write the outputs into ``out`` and return the report (:mod:`fusion.hil.report`).

    Outputs in ``out``: ``tracks.csv`` (or ``.parquet``, rig ``[output] tracks``), ``tracks.blf``
    (the tracks encoded on CAN with the rig's tracks DBC), ``tracks.mcap`` (``[output] mcap``),
    ``bev.png`` (``[output] bev``, with matplotlib), ``report.json`` (or ``report_path``).
    As fast as possible (the default), the same inputs give byte-identical ``tracks.csv``.
    ``realtime``: frames are taken when their timestamps say on the wall clock (``speed`` x), the
    report gets ``send_error_ms``; ``to_bus`` ("virtual:chan", "socketcan:can0"): the encoded
    tracks are also sent on that bus.  ``progress``: a progress line on stderr (None: when
    stderr is a terminal)."""
    wall0 = time.perf_counter_ns()
    log_paths = [Path(p) for p in logs]
    stream_paths = [Path(p) for p in streams]
    if not isinstance(speed, (int, float)) or isinstance(speed, bool) or not (math.isfinite(speed) and speed > 0):
        raise ConfigurationError(f"speed: expected a number > 0, got {speed!r}")
    if not isinstance(rig, Rig):
        rig = load_rig(rig, logs=[*log_paths, *stream_paths], dbc_dirs=[Path(d) for d in dbc_dirs])
    for p in [*log_paths, *stream_paths]:
        if not p.is_file():
            raise CanLogError(p, "no such file")
    seen: dict[Path, Path] = {}
    for p in [*log_paths, *stream_paths]:  # one file twice would fuse every frame twice
        first = seen.setdefault(p.resolve(), p)
        if first is not p:
            raise ConfigurationError(f"{p}: given twice (as {first} and {p}): each input file once")
    out_dir = None if out is None else Path(out)
    outputs = _Outputs(out_dir, rig, encode=to_bus is not None)
    bus: Any = None
    pacer: Any = None
    if realtime:
        pacer = importlib.import_module("fusion.hil.pacing").Pacer(speed)
    if to_bus is not None:
        bus = importlib.import_module("fusion.hil.live").open_bus(to_bus)

    def emit(cycle: Cycle) -> None:
        msgs = outputs.encode(cycle)
        if bus is not None:
            for m in msgs:
                bus.send(m)
        outputs.write(cycle, msgs)
        if on_cycle is not None:
            on_cycle(cycle)

    rep = Replayer(rig, strict=strict, on_cycle=emit, sources=[str(p) for p in log_paths],
                   keep_detections=out_dir is not None and rig.output.bev)
    damaged: list[str] = []
    channels: dict[str | int, str] = {k: v for k, v in rig.channels.items()}
    per_log = [_safe_log(p, channels, i, strict, damaged) for i, p in enumerate(log_paths)]
    stream_stats: list[Counter[str]] = [Counter() for _ in stream_paths]
    frames: Iterable[Any] = per_log[0] if len(per_log) == 1 else heapq.merge(*per_log)
    if stream_paths:
        frames = heapq.merge(frames, _stream_iter(stream_paths, rig, strict, stream_stats), key=lambda x: x.t_ns)
    show = sys.stderr.isatty() if progress is None else progress
    bar = _Progress(show)
    feed_frame, feed_stream = rep.feed_frame, rep.feed_stream
    try:
        if pacer is None and not stream_paths and not show:
            for frame in frames:  # the fast path: as fast as possible, CAN only, no progress line
                feed_frame(frame)
        else:
            n = 0
            for item in frames:
                if pacer is not None:
                    pacer.wait_until(item.t_ns)
                if type(item) is LogFrame:
                    feed_frame(item)
                else:
                    feed_stream(item)
                n += 1
                if not n & 0xFFF and show:
                    bar.update(n, rep._cycles, (rep._last_t - (rep._first_t or rep._last_t)) / 1e9)
        rep.flush()
    finally:
        bar.close()
        outputs.close()
        if bus is not None:
            bus.shutdown()
    report = rep.report()
    report["warnings"] += len(damaged)
    for p, st in zip(stream_paths, stream_stats):  # lenient: a stream's skipped rows, by kind
        bad_rows = {k.split(".", 1)[1]: int(n) for k, n in sorted(st.items()) if k.startswith("bad_rows.") and n}
        if bad_rows:
            report["decode_errors"][f"stream:{p.name}"] = bad_rows
    wall = (time.perf_counter_ns() - wall0) / 1e9
    report["wall_s"] = wall
    report["realtime_factor"] = report["log_s"] / wall if wall > 0 else None
    if pacer is not None:
        report["send_error_ms"] = pacer.errors_ms()
    if report_path is not None or out_dir is not None:
        write_report(Path(report_path) if report_path is not None else out_dir / "report.json",  # type: ignore[operator]
                     report)
    return report
