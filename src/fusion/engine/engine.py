"""Python face of the C++ multi-sensor engine (``fusion._core.FusionEngine``).

:class:`FusionEngine` takes an :class:`~fusion.engine.config.EngineConfig` and sensor frames,
one call per frame (:meth:`FusionEngine.process`) or a :class:`~fusion.engine.batch.MeasurementBatch`
of many (:meth:`FusionEngine.step`). Tracks come back as numpy structured arrays.

Track records (:attr:`FusionEngine.track_dtype`; units m, rad, m/s, s, ns; N the motion
model's state size, C the number of classes, S the number of sensors):

- ``id`` i8: unique, never reused (except that a late frame's re-processing gives the tracks born
  after its time the ids of the time-ordered run: csrc/include/fusion/engine/oosm.hpp, "Track ids
  under re-processing"); one id space with the image tracks (a 3D track that takes
  over an image track keeps its id; a confirmed 3D track lost by the range sensors but still
  seen by a camera continues as an image track with its id);
- ``t_ns`` i8: time of the estimate; ``birth_t_ns`` i8: time of the birth detection;
- ``status`` i4: :data:`TENTATIVE`, :data:`CONFIRMED`, :data:`COASTING` or :data:`DELETED`
  (deleted in the latest frame: reported once);
- ``class_id`` i4: most likely class (argmax of ``class_prob``); ``birth_sensor`` i4;
- ``existence`` f8: existence probability in [0, 1]; ``confirmed_ever`` u1;
- ``x`` f8[N], ``P`` f8[N, N]: state and covariance (order: ``registry.MOTION_MODELS[motion].state``);
- ``box`` f8[7]: ``x, y, z, yaw, l, w, h`` of the object (centre, heading, extent);
  ``velocity`` f8[3]: ``vx, vy, vz`` [m/s];
- ``class_prob`` f8[C];
- per sensor k: ``last_update_ns`` i8[S] (INT64_MIN: never), ``hits`` i4[S], ``misses`` i4[S]
  (in-view misses), ``score_sum`` f8[S] (sum of its hits' scores), ``detection`` i4[S] (index,
  in that sensor's latest frame, of the detection that updated the track; -1 if none);
- ``llr`` f8: the sequential log-likelihood-ratio score (``lifecycle.existence_model = "llr"``;
  0 otherwise); ``frames_since_birth`` i4: frames the engine processed after the birth frame
  (0 in it); ``consecutive_misses`` i4: in-view misses since the last hit (sensors with
  ``counts_for_coast``), the count ``lifecycle.max_misses`` tests.

Image-track records (:attr:`FusionEngine.image_track_dtype`): ``id``, ``t_ns``, ``birth_t_ns``,
``status``, ``sensor`` (camera index), ``box`` f8[4] (x1, y1, x2, y2 [px]), ``velocity`` f8[2]
[px/s], ``hits``, ``misses``, ``score_sum``, ``detection``, ``class_id``.

Time (``docs/ARCHITECTURE.md``, "The time layer"): frames may arrive out of sequence. A frame
older than the engine's latest time by at most ``config.oosm_horizon_s`` (default 0.3 s) is
fused by re-processing the recent frames from a bounded history, giving the tracks of the
time-ordered run (``stats()["reprocessed_frames"]``); older frames follow ``late_policy``
(dropped and counted in ``late_frames``, or TimestampError). Track ids after a re-processing are
those of the time-ordered run: a track born after the late frame's time may get another id than
the one already published. Ego motion: :meth:`FusionEngine.ego_motion` feeds the vehicle's speed
and yaw rate (CAN); from the first sample on, the sensor mounts move with the integrated vehicle
pose and the tracks live in a fixed odometry frame (the vehicle frame at the first sample).
:meth:`FusionEngine.ego_pose` gives that pose at any covered time.

Threads: every call releases the GIL and takes the engine's FIFO mutex, so calls from several
threads are serialised and each is atomic; ``stats()``, ``tracks()`` or ``reset()`` from one
thread while another steps neither deadlock nor see a half-processed frame.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import numpy as np
import numpy.typing as npt

from fusion import _core
from fusion.engine.batch import Frame, MeasurementBatch, check_timestamp, prepare_frame, real_values
from fusion.engine.config import EngineConfig
from fusion.errors import ConfigurationError, NumericalError, TimestampError

__all__ = ["FusionEngine", "TENTATIVE", "CONFIRMED", "COASTING", "DELETED"]

#: The largest ego speed [m/s] and yaw rate [rad/s] :meth:`FusionEngine.ego_motion` takes: far
#: beyond any vehicle, small enough that a pose integrated over int64 nanoseconds (292 years)
#: stays within 1e14 m, so the detections placed with it never overflow the box costs.
MAX_EGO_SPEED_MPS = 1e4
MAX_EGO_YAW_RATE_RPS = 1e3

#: Track status values (``status`` field of track and image-track records).
TENTATIVE, CONFIRMED, COASTING, DELETED = 0, 1, 2, 3


class FusionEngine:
    """One multi-sensor tracker: 3D tracks fused from every sensor, image tracks for targets
    only a camera sees, one id space for both.

    Args:
        config: an :class:`EngineConfig`, or the path of a TOML file for
            :meth:`EngineConfig.from_toml`. It is validated and copied: changing it afterwards
            does not change the engine.

    Raises:
        ConfigurationError: the configuration is invalid (the message names the table and the
            key; an unknown component key lists the known ones).
    """

    def __init__(self, config: EngineConfig | str | os.PathLike[str]) -> None:
        if isinstance(config, (str, os.PathLike)):
            config = EngineConfig.from_toml(config)
        if not isinstance(config, EngineConfig):
            raise ConfigurationError(f"FusionEngine: config: expected an EngineConfig or a TOML path, got "
                                     f"{type(config).__name__} (a dict: use EngineConfig.from_dict)")
        self._config = copy.deepcopy(config)
        self._core = _core.FusionEngine(self._config.to_spec())
        self._check_values = self._config.bad_detection == "raise"
        self._index: dict[str | int, int] = {s.name: k for k, s in enumerate(self._config.sensors)}
        self._index.update({k: k for k in range(len(self._config.sensors))})

    # ---- input

    def process(self, sensor: str | int, t_ns: int, z: npt.ArrayLike, R: npt.ArrayLike | None = None,
                score: npt.ArrayLike | None = None, class_id: npt.ArrayLike | None = None,
                class_scores: npt.ArrayLike | None = None,
                ego: tuple[float, float, float, float, float] | None = None) -> None:
        """Fuses one sensor frame: the n detections ``sensor`` reported at ``t_ns``.

        Args:
            sensor: sensor name or index.
            t_ns: frame time, int64 nanoseconds (not a float). Earlier than the engine's
                time by at most ``oosm_horizon_s``: fused by re-processing (module docstring);
                earlier still: dropped and counted, or TimestampError with
                ``late_policy = "raise"``.
            z: (n, M) measurements in the sensor model's units (n = 0 is a frame without
                detections: tracks in view take a miss).
            R: (n, M, M) covariances, or None for the sensor's default (a block that is all
                NaN: that detection takes the default).
            score: (n,) detection scores, or None (1).
            class_id: (n,) reported class ids in [0, C) (-1: none), or None.
            class_scores: (n, C) class scores, or None.
            ego: None (the sensor mounts are static in the tracking frame), or the vehicle's
                ``(x_m, y_m, yaw_rad, speed_mps, yaw_rate_rps)`` at ``t_ns``: its pose in the
                tracking frame (then a fixed odometry frame; the mounts are in the vehicle
                frame) and its motion (the sensors' own velocity, e.g. for radar range rate).

        Raises:
            ConfigurationError: unknown sensor.
            ShapeError: an array of the wrong shape or dtype; more than max_detections; a
                class id out of range.
            NumericalError: NaN/inf in z, R, score, class_scores or ego; R not symmetric positive
                definite; a camera box with x2 < x1 or y2 < y1; a lidar box with a negative
                size; negative class scores (with ``bad_detection =
                "skip"`` such a detection is skipped and counted instead).
            TimestampError: ``t_ns`` is not an int64 integer (or is int64 min, the records'
                "never"), or (late_policy "raise") earlier than the engine's time by more than
                the horizon (or than the history reaches); or, with ego motion given, more than
                ``ego_max_extrapolation_s`` outside the ego samples.

        A call that raises changes nothing.
        """
        k = self._index.get(sensor, -1) if isinstance(sensor, (str, int)) and not isinstance(sensor, bool) else -1
        if k < 0:
            k = self._config.sensor_index(sensor)  # numpy integers, or the error listing the sensors
        t = check_timestamp(t_ns, "t_ns")
        frame = prepare_frame(self._config, k, t, z, R, score, class_id, class_scores,
                              check_values=self._check_values, where="FusionEngine.process")
        self._check_late(frame.t_ns)
        self._send(frame, ego)

    def step(self, batch: MeasurementBatch) -> np.ndarray:
        """Fuses every frame of ``batch`` in time order (ties: sensor index), then returns
        :meth:`tracks`. All frames are checked before the first is processed, so an invalid
        batch changes nothing (another thread stepping the same engine meanwhile can still
        make a frame late). A batch has one row per detection, so it holds no empty frames
        (the misses of a sensor that saw nothing): give those to :meth:`process`."""
        if not isinstance(batch, MeasurementBatch):
            raise TypeError(f"batch: expected a MeasurementBatch, got {type(batch).__name__}")
        frames = batch.split(self._config, check_values=self._check_values)
        if frames:
            self._check_late(frames[0].t_ns)
        for f in frames:
            self._send(f)
        return self.tracks()

    def _send(self, f: Frame, ego: tuple[float, float, float, float, float] | None = None) -> None:
        self._core.process(f.sensor, f.t_ns, f.z, f.R, f.score, f.class_id, f.class_scores, ego)

    def _check_late(self, t: int) -> None:
        # Only a clearer message up front: the C++ check under the engine's lock is the one
        # that holds when another thread steps concurrently.
        if self._config.late_policy != "raise":
            return
        now = self._core.time_ns
        horizon_ns = round(self._config.oosm_horizon_s * 1e9)
        if now is not None and now - t > horizon_ns:
            raise TimestampError(f"t_ns: {t} is earlier than the engine's time {now} by more than oosm_horizon_s = "
                                 f"{self._config.oosm_horizon_s} s (late frame; late_policy = 'raise')")

    # ---- ego motion

    def ego_motion(self, t_ns: int | npt.ArrayLike, speed_mps: float | npt.ArrayLike,
                   yaw_rate_rps: float | npt.ArrayLike) -> None:
        """Adds ego-motion samples: the vehicle's speed [m/s] and yaw rate [rad/s,
        counter-clockwise] at ``t_ns`` (int64 ns), one sample or arrays of n, in time order.

        Between samples the vehicle moves with the earlier sample's speed and yaw rate (the exact
        arc). A sample at the newest sample's time replaces its speed and yaw rate; samples
        further apart than ``ego_max_gap_s`` are integrated the same way and counted in
        ``stats()["ego_gaps"]``. Frames processed after the first sample are placed with the
        vehicle pose at their time (the sensor mounts are in the vehicle frame), so the tracks
        live in the odometry frame. :meth:`reset` forgets the samples.

        Raises:
            NumericalError: a NaN or infinite speed or yaw rate (naming it and the sample).
            TimestampError: ``t_ns`` not integers, -2**63 (reserved), or a sample older than the
                one before it or than the newest sample already given.
            NumericalError: a sample whose integrated pose is not finite, a speed beyond
                :data:`MAX_EGO_SPEED_MPS` or a yaw rate beyond :data:`MAX_EGO_YAW_RATE_RPS` (an
                absurd sample: the fuzzer's 1e180 m/s put the next frame's boxes beyond 1e100 m).
            ShapeError: arrays of different lengths, or speeds / yaw rates that are not real
                numbers.

        A call that raises adds no sample; empty arrays add none.
        """
        try:
            t = np.asarray(t_ns)
        except (TypeError, ValueError) as exc:  # a ragged list
            raise TimestampError(f"ego_motion: t_ns must be int64 integers (nanoseconds): {exc}") from None
        if t.size == 0 and t.dtype.kind == "f":  # [] is float64 to numpy: no sample, nothing to check
            t = t.astype(np.int64)
        if t.dtype.kind not in "iu" or (t.size and t.dtype.kind == "u" and t.max() > np.iinfo(np.int64).max):
            raise TimestampError(f"ego_motion: t_ns must be int64 integers (nanoseconds), got {t.dtype} values")
        if t.size and t.dtype.kind == "i" and t.min() == np.iinfo(np.int64).min:
            raise TimestampError("ego_motion: t_ns = -2**63 is reserved (it means 'never' in the track records)")
        v, w = real_values(speed_mps, "ego_motion: speed_mps"), real_values(yaw_rate_rps, "ego_motion: yaw_rate_rps")
        for name, a, limit in (("speed_mps", v, MAX_EGO_SPEED_MPS), ("yaw_rate_rps", w, MAX_EGO_YAW_RATE_RPS)):
            big = np.isfinite(a) & (np.abs(a) > limit)  # NaN / inf: the core names them
            if np.any(big):
                i = int(np.argmax(np.atleast_1d(big)))
                raise NumericalError(f"ego_motion: {name}[{i}] = {np.atleast_1d(a)[i]:.6g} is beyond {limit:g} (not a "
                                     "vehicle's motion; integrated it would place the frames' detections so far out "
                                     "that their boxes overflow)")
        self._core.ego_motion(np.atleast_1d(t.astype(np.int64)), np.atleast_1d(v), np.atleast_1d(w))

    def ego_pose(self, t_ns: int) -> dict[str, float]:
        """The odometry's vehicle pose and motion at ``t_ns``: ``x_m``, ``y_m``, ``yaw_rad`` (in the
        odometry frame), ``speed_mps``, ``yaw_rate_rps``. TimestampError before any sample or
        more than ``ego_max_extrapolation_s`` outside the samples."""
        return {k: float(v) for k, v in self._core.ego_pose(check_timestamp(t_ns, "t_ns")).items()}

    # ---- output

    def tracks(self, confirmed_only: bool = False, include_deleted: bool = True, at_ns: int | None = None,
               vehicle_pose: tuple[float, float, float] | None = None, *, frame: str = "odometry",
               fixed_lag: bool = False) -> np.ndarray:
        """The 3D tracks in id order (a new array, :attr:`track_dtype`): live tracks and, with
        ``include_deleted``, those deleted in the latest frame (status :data:`DELETED`).
        ``confirmed_only`` keeps the CONFIRMED and COASTING ones. ``at_ns``: each track predicted
        to that time by the motion model (``x``, ``P``, ``box``, ``velocity``, ``t_ns``; the
        engine does not change; a track newer than ``at_ns`` as it is): the publish time.

        Frame of ``box`` and ``velocity`` (``x`` and ``P`` always stay in the tracking frame,
        the odometry frame once :meth:`ego_motion` has been given):
        ``frame = "odometry"`` (default): the tracking frame; ``frame = "vehicle"``: the vehicle
        frame of the odometry's pose at ``at_ns`` (default: the engine's time; before any ego
        sample the tracking frame is the vehicle frame), TimestampError when the odometry does
        not reach that time; ``vehicle_pose`` ``(x_m, y_m, yaw_rad)``: the frame of that pose,
        given in the tracking frame. The velocity stays over ground (only its axes change);
        NumericalError when a pose is so far from the tracks that their boxes overflow.

        ``fixed_lag=True`` (needs ``at_ns``): the tracks as they were after fusing exactly the
        frames stamped up to ``at_ns``, taken from the out-of-sequence history and predicted to
        ``at_ns`` (the frames newer than ``at_ns`` play no part). A frame that arrived late but
        within ``oosm_horizon_s`` is in that state as if it had come in time, so once every frame
        up to ``at_ns`` has arrived the result equals the in-order run's, whatever the arrival
        order: the fixed-lag output for a publish time ``at_ns`` up to ``oosm_horizon_s`` in the
        past. TimestampError when a frame newer than ``at_ns`` has already left the history
        (older than the horizon or ``oosm_max_frames`` reach, or a reset / deferred-birth frame
        since). Not with ``vehicle_pose``."""
        if frame not in ("odometry", "vehicle"):
            raise ConfigurationError(f"frame: expected 'odometry' or 'vehicle', got {frame!r}")
        for name, flag in (("confirmed_only", confirmed_only), ("include_deleted", include_deleted),
                           ("fixed_lag", fixed_lag)):
            if not isinstance(flag, (bool, np.bool_)):  # the core's signature dump otherwise
                raise ConfigurationError(f"tracks: {name}: expected a bool, got {flag!r}")
        include_deleted = bool(include_deleted)
        if fixed_lag:
            if at_ns is None:
                raise ConfigurationError("tracks: fixed_lag=True needs at_ns (the past time to read the tracks at)")
            if vehicle_pose is not None:
                raise ConfigurationError("tracks: fixed_lag=True takes frame='odometry' or 'vehicle', not vehicle_pose")
            out = self._core.tracks_at(check_timestamp(at_ns, "at_ns"), frame == "vehicle", include_deleted, True)
        elif frame == "vehicle":
            if vehicle_pose is not None:
                raise ConfigurationError("frame='vehicle' takes the odometry's pose: do not give vehicle_pose too")
            t = None if at_ns is None else check_timestamp(at_ns, "at_ns")
            out = self._core.tracks_at(t, True, include_deleted)
        else:
            out = self._core.tracks(include_deleted, at_ns, vehicle_pose)
        if (frame == "vehicle" or vehicle_pose is not None) and not (
                np.isfinite(out["box"]).all() and np.isfinite(out["velocity"]).all()):
            # a finite but absurd pose (1.7e308 m): the rotated boxes overflow to inf
            raise NumericalError(f"tracks: the boxes in the vehicle frame of pose {vehicle_pose or frame!r} are not "
                                 "finite (the pose is too far from the tracks)")
        if confirmed_only:
            out = out[(out["status"] == CONFIRMED) | (out["status"] == COASTING)]
        return out

    def image_tracks(self, confirmed_only: bool = False, at_ns: int | None = None) -> np.ndarray:
        """The image tracks (camera-only targets) in id order (:attr:`image_track_dtype`),
        including those deleted in the latest frame (status :data:`DELETED`). An image track
        that a 3D track took over (JOIN) is not reported: it lives on as that 3D track, same
        id. ``confirmed_only`` keeps CONFIRMED and COASTING. ``at_ns``: the fixed-lag image
        tracks, after exactly the frames stamped up to ``at_ns`` (as ``tracks(fixed_lag=True)``,
        not predicted; TimestampError when the out-of-sequence history no longer reaches it)."""
        out = self._core.image_tracks(None if at_ns is None else check_timestamp(at_ns, "at_ns"))
        if confirmed_only:
            out = out[(out["status"] == CONFIRMED) | (out["status"] == COASTING)]
        return out

    def stats(self) -> dict[str, int]:
        """Counters since construction or :meth:`reset`: frames (fused, late ones included),
        detections, late_frames and late_detections (dropped: beyond the out-of-sequence
        horizon), skipped_detections, rejected_updates, births, deletions, insert_failures,
        image_births, reprocessed_frames (late frames fused by re-processing), ego_gaps
        (ego-motion intervals longer than ``ego_max_gap_s``)."""
        return dict(self._core.stats())

    def reset(self) -> None:
        """Drops every track, the time, the out-of-sequence history and the ego-motion samples,
        zeroes the counters; ids keep counting (never reused)."""
        self._core.reset()

    # ---- properties

    @property
    def config(self) -> EngineConfig:
        """A copy of the engine's configuration."""
        return copy.deepcopy(self._config)

    @property
    def time_ns(self) -> int | None:
        """Time of the latest processed frame (int64 ns), None before the first."""
        t = self._core.time_ns
        return None if t is None else int(t)

    @property
    def num_tracks(self) -> int:
        """Number of live 3D tracks."""
        return int(self._core.num_tracks)

    @property
    def state_dim(self) -> int:
        """N, the motion model's state size."""
        return int(self._core.state_dim)

    @property
    def motion(self) -> str:
        """The motion model key."""
        return str(self._core.motion)

    @property
    def sensor_names(self) -> list[str]:
        """Sensor names in index order."""
        return list(self._core.sensor_names)

    @property
    def track_dtype(self) -> np.dtype:
        """numpy dtype of a track record (module docstring)."""
        return self._core.track_dtype

    @property
    def image_track_dtype(self) -> np.dtype:
        """numpy dtype of an image-track record (module docstring)."""
        return self._core.image_track_dtype

    def __repr__(self) -> str:
        return (f"FusionEngine(motion={self._config.motion!r}, sensors={[s.name for s in self._config.sensors]}, "
                f"tracks={self.num_tracks}, time_ns={self.time_ns})")

    # ---- copying and pickling

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("FusionEngine cannot be pickled: its tracks live in C++ and have no serialised form. "
                        "Save its config (EngineConfig.to_toml) and replay the frames.")

    def __copy__(self) -> FusionEngine:
        raise TypeError("FusionEngine cannot be copied (its tracks live in C++); build a new one from "
                        "engine.config and replay the frames")

    def __deepcopy__(self, memo: dict[int, Any]) -> FusionEngine:
        return self.__copy__()
