"""Track-to-track fusion: track lists from several sources (a smart radar's or a camera's
object list, a roadside unit's list, the vehicle's own engine tracks) fused into one list with
covariance intersection under unknown correlation.

- :func:`covariance_intersection`: n Gaussian estimates fused, weights minimising the trace
  or the determinant of the fused covariance.
- :class:`TrackFuser`: the track-list fuser (frames, latency, association, id stability).
- :class:`TrackFuserConfig`, :class:`SourceConfig`: its configuration (TOML-loadable).

Example::

    from fusion.t2t import SourceConfig, TrackFuser, TrackFuserConfig

    fuser = TrackFuser(TrackFuserConfig(sources=[SourceConfig("car"),
                                                 SourceConfig("rsu", latency_s=0.1, pose=(-14.0, -14.0, 0.0))]))
    fuser.update("rsu", t_ns, ids, t, x, P)        # x (n, 4): x, y, vx, vy in the source frame
    fuser.update("car", t_ns, ids, t, x, P, pose=(ego_x, ego_y, ego_yaw))
    fused = fuser.tracks(confirmed_only=True)
"""

from fusion.errors import TrackListError
from fusion.t2t.ci import CRITERIA, covariance_intersection
from fusion.t2t.config import SourceConfig, TrackFuserConfig
from fusion.t2t.fuser import FUSED_TRACK_DTYPE, STATE, TrackFuser

__all__ = ["CRITERIA", "FUSED_TRACK_DTYPE", "STATE", "SourceConfig", "TrackFuser", "TrackFuserConfig",
           "TrackListError", "covariance_intersection"]
