"""Bird's-eye-view picture of a replay (the ``plot`` extra: matplotlib): the ego path, the
detections (grey points) and the tracks coloured by id, each id written at its last position.

Everything is drawn in one frame, the odometry frame of the track files (x forward at the first
ego sample, y left), with equal axis scales.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fusion.errors import ShapeError
from fusion.hil.errors import MissingExtraError

__all__ = ["draw_bev"]


def _xy(a: object, what: str) -> npt.NDArray[np.float64]:
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"{what}: expected an (n, 2) array of x, y [m]: {exc}") from None
    if arr.size == 0:
        return np.zeros((0, 2))
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise ShapeError(f"{what}: expected an (n, 2) array of x, y [m], got shape {arr.shape}")
    return arr[:, :2]


def draw_bev(path: str | Path, *, ego_xy: npt.ArrayLike,
             detections: Sequence[tuple[int, npt.ArrayLike]] = (),
             tracks: Mapping[str, npt.ArrayLike] | Sequence[Mapping[str, Any]] | str | Path | None = None,
             title: str = "",
             dpi: int = 120) -> None:
    """Write a PNG to ``path``.

    ``ego_xy``: (T, 2) ego positions; ``detections``: ``(t_ns, (n, 2) x, y)`` per sensor frame;
    ``tracks``: the rows of a track file (``fusion.hil.outputs.read_tracks`` columns, at least
    ``track_id``, ``x``, ``y``, in time order; or a list of row mappings) or the path of one. MissingExtraError("plot")
    without matplotlib; ShapeError naming the argument for malformed arrays.

    Thread safety: each call builds its own Figure (no pyplot state), so calls may run
    concurrently."""
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError("the bird's-eye view needs matplotlib: pip install 'fusion[plot]' (extra 'plot')") \
            from None
    del matplotlib
    ego = _xy(ego_xy, "ego_xy")
    dets = [_xy(d, f"detections[{i}]") for i, (_, d) in enumerate(detections)]
    det = np.concatenate(dets) if dets else np.zeros((0, 2))
    cols: Mapping[str, Any]
    if isinstance(tracks, (str, Path)):
        from fusion.hil.outputs import read_tracks

        cols = read_tracks(tracks)
    elif tracks is None:
        cols = {"track_id": np.zeros(0, np.int64), "x": np.zeros(0), "y": np.zeros(0)}
    elif isinstance(tracks, Mapping):
        cols = tracks
    else:  # a list of row mappings
        try:
            cols = {c: np.array([r[c] for r in tracks]) for c in ("track_id", "x", "y")}
        except (KeyError, TypeError, IndexError) as exc:
            raise ShapeError(f"tracks: expected rows with track_id, x, y: {exc!r}") from None
    try:
        ids = np.asarray(cols["track_id"], dtype=np.int64)
        tx = np.asarray(cols["x"], dtype=np.float64)
        ty = np.asarray(cols["y"], dtype=np.float64)
    except (KeyError, ValueError, TypeError) as exc:
        raise ShapeError(f"tracks: expected the columns track_id, x, y (a track file's rows): {exc!r}") from None
    if not (ids.shape == tx.shape == ty.shape) or ids.ndim != 1:
        raise ShapeError(f"tracks: track_id, x, y must be 1-D of one length, got {ids.shape}, {tx.shape}, {ty.shape}")

    fig = Figure(figsize=(9, 7))
    FigureCanvasAgg(fig)
    ax: Any = fig.add_subplot(1, 1, 1)
    if len(det):
        ax.plot(det[:, 0], det[:, 1], ".", ms=1.5, color="0.65", label="detections", zorder=1)
    if len(ego):
        ax.plot(ego[:, 0], ego[:, 1], "-", lw=2.0, color="black", label="ego", zorder=3)
        ax.plot(ego[-1, 0], ego[-1, 1], ">", ms=7, color="black", zorder=3)
    cmap = _colormap()
    for k, tid in enumerate(np.unique(ids)):
        sel = ids == tid
        color = cmap(int(tid) % 20)
        ax.plot(tx[sel], ty[sel], "-", lw=1.2, color=color, zorder=2, label="tracks" if k == 0 else None)
        fin = np.isfinite(tx[sel]) & np.isfinite(ty[sel])
        if fin.any():
            lx, ly = tx[sel][fin][-1], ty[sel][fin][-1]
            ax.plot(lx, ly, "o", ms=3, color=color, zorder=2)
            ax.annotate(str(int(tid)), (lx, ly), xytext=(3, 3), textcoords="offset points", fontsize=7, color=color)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x [m] (odometry frame)")
    ax.set_ylabel("y [m]")
    ax.grid(True, lw=0.3)
    if title:
        ax.set_title(title)
    if len(det) or len(ego) or len(ids):
        ax.legend(loc="best", fontsize=8)
    fig.savefig(str(path), dpi=dpi, metadata={"Software": None})


def _colormap() -> Any:
    """matplotlib's ``tab20`` colormap (20 distinct colours; ids cycle through it)."""
    from matplotlib import colormaps

    return colormaps["tab20"]
