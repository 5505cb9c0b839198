"""fusion.hil.bev.draw_bev: the PNG is written from a track file's rows; no matplotlib ->
MissingExtraError naming the plot extra; malformed arrays -> ShapeError naming the argument."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from _track_records import cycles

from fusion.errors import ShapeError
from fusion.hil.bev import draw_bev
from fusion.hil.errors import MissingExtraError
from fusion.hil.outputs import TrackWriter, read_tracks

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _inputs(tmp_path: Path) -> tuple[np.ndarray, list[tuple[int, np.ndarray]], Path]:
    cs = cycles(5, 40)
    with TrackWriter(tmp_path / "tracks.csv") as w:
        for c in cs:
            w.write(c)
    ego = np.array([c.ego_pose[:2] for c in cs if c.ego_pose is not None])
    rng = np.random.default_rng(0)
    dets = [(c.t_ns, c.tracks["box"][:, :2] + rng.normal(0, 0.3, (len(c.tracks), 2))) for c in cs]
    return ego, dets, tmp_path / "tracks.csv"


def test_draw_bev_writes_a_png(tmp_path: Path) -> None:
    ego, dets, tracks = _inputs(tmp_path)
    out = tmp_path / "bev.png"
    draw_bev(out, ego_xy=ego, detections=dets, tracks=read_tracks(tracks), title="sample")
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 20_000
    # a path to the track file works too; an empty picture is much smaller than the full one
    draw_bev(tmp_path / "bev2.png", ego_xy=ego, detections=dets, tracks=tracks)
    assert (tmp_path / "bev2.png").read_bytes()[:8] == PNG_MAGIC
    cols = read_tracks(tracks)
    rows = [{"track_id": i, "x": x, "y": y} for i, x, y in zip(cols["track_id"], cols["x"], cols["y"])]
    draw_bev(tmp_path / "rows.png", ego_xy=ego, detections=dets, tracks=rows)
    assert (tmp_path / "rows.png").read_bytes() == (tmp_path / "bev2.png").read_bytes()
    draw_bev(tmp_path / "empty.png", ego_xy=np.zeros((0, 2)))
    assert (tmp_path / "empty.png").stat().st_size < len(data)


def test_draw_bev_thread_safety(tmp_path: Path) -> None:
    """Concurrent calls (each builds its own Figure) write the same bytes as a serial call."""
    ego, dets, tracks = _inputs(tmp_path)
    cols = read_tracks(tracks)
    draw_bev(tmp_path / "serial.png", ego_xy=ego, detections=dets, tracks=cols)
    threads = [threading.Thread(target=draw_bev, args=(tmp_path / f"t{k}.png",),
                                kwargs={"ego_xy": ego, "detections": dets, "tracks": cols}) for k in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    serial = (tmp_path / "serial.png").read_bytes()
    assert all((tmp_path / f"t{k}.png").read_bytes() == serial for k in range(3))


def test_draw_bev_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtraError, match=r"fusion\[plot\]"):
        draw_bev(tmp_path / "x.png", ego_xy=np.zeros((2, 2)))
    assert not (tmp_path / "x.png").exists()


def test_draw_bev_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ShapeError, match="ego_xy"):
        draw_bev(tmp_path / "x.png", ego_xy=np.zeros(5))
    with pytest.raises(ShapeError, match=r"detections\[1\]"):
        draw_bev(tmp_path / "x.png", ego_xy=np.zeros((2, 2)), detections=[(0, np.zeros((1, 2))), (1, [1.0])])
    with pytest.raises(ShapeError, match="tracks"):
        draw_bev(tmp_path / "x.png", ego_xy=np.zeros((2, 2)), tracks={"x": np.zeros(2)})
    assert not (tmp_path / "x.png").exists()
